//! Recipients: a phone number (digits, optional `+`) or a WhatsApp chat id, parsed once at the edge.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatId(String);

/// What is wrong with a recipient, phrased to follow the field's name ("recipient is empty: …")
/// and to say what would be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ChatIdError(pub String);

/// The accepted forms, for error messages.
const FORMS: &str = "a phone number in international format (15550001234 or +1 555 000 1234) or a chat id \
                     (15550001234@c.us, 120363012345678901@g.us, 123456789012345@lid)";

impl ChatId {
    /// Accepts `+15550001234`, `15550001234`, `<digits>@c.us` (also WhatsApp's protocol form
    /// `<digits>@s.whatsapp.net`), `<digits>@lid`, `<digits>@g.us` and `<digits>-<digits>@g.us`.
    /// Spaces, dashes, dots and parentheses in a phone number are ignored. A phone number has 7 to
    /// 15 digits without a leading 0 (ITU-T E.164).
    pub fn parse(input: &str) -> Result<ChatId, ChatIdError> {
        let err = |m: String| Err(ChatIdError(m));
        let s = input.trim();
        if s.is_empty() {
            return err(format!("is empty: give {FORMS}"));
        }
        if let Some((user, server)) = s.split_once('@') {
            let digits = |u: &str| !u.is_empty() && u.len() <= 32 && u.bytes().all(|b| b.is_ascii_digit());
            return match server {
                "c.us" | "s.whatsapp.net" if user.starts_with('+') => err(format!(
                    "{s} has a '+' before @{server}: a chat id is digits only; drop the '+' ({}@c.us)",
                    &user[1..]
                )),
                "c.us" | "s.whatsapp.net" if phone_ok(user) => Ok(ChatId(format!("{user}@c.us"))),
                "c.us" | "s.whatsapp.net" => err(format!(
                    "{s} is not a chat id: before @c.us comes a phone number in international format, 7 to 15 digits \
                     without a leading 0; a group id ends in @g.us"
                )),
                "lid" if digits(user) => Ok(ChatId(s.to_string())),
                "lid" => err(format!("{s} is not a chat id: before @lid come digits only")),
                "g.us" => match user.split_once('-') {
                    Some((a, b)) if digits(a) && digits(b) => Ok(ChatId(s.to_string())),
                    None if digits(user) => Ok(ChatId(s.to_string())),
                    _ => err(format!(
                        "{s} is not a group id: before @g.us come digits (120363012345678901@g.us) or \
                         digits-digits (15550001234-1600000000@g.us)"
                    )),
                },
                _ => err(format!(
                    "{s} has an unsupported server @{server}: use @c.us for people, @g.us for groups or @lid"
                )),
            };
        }
        if let Some(bad) = s
            .chars()
            .find(|c| !c.is_ascii_digit() && !matches!(c, '+' | ' ' | '-' | '(' | ')' | '.'))
        {
            return err(format!(
                "contains {bad:?}: give {FORMS}; spaces, dashes, dots, parentheses and a leading + are ignored"
            ));
        }
        let cleaned: String = s
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
            .collect();
        let digits = cleaned.strip_prefix('+').unwrap_or(&cleaned);
        if phone_ok(digits) {
            return Ok(ChatId(format!("{digits}@c.us")));
        }
        let n = digits.len();
        if digits.contains('+') {
            err(format!("has a '+' that is not at the start: give {FORMS}"))
        } else if n > 15 {
            err(format!(
                "has {n} digits, too many for a phone number (7 to 15); a group id ends in @g.us ({digits}@g.us)"
            ))
        } else if digits.starts_with('0') {
            err(
                "starts with 0: write the number in international format, country code first and without the \
                 trunk prefix 0 (e.g. 4915112345678, not 015112345678)"
                    .into(),
            )
        } else {
            err(format!(
                "has {n} digits; a phone number in international format has 7 to 15, country code included"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The phone number when this is a `@c.us` chat.
    pub fn phone(&self) -> Option<&str> {
        self.0.strip_suffix("@c.us")
    }

    pub fn is_group(&self) -> bool {
        self.0.ends_with("@g.us")
    }
}

fn phone_ok(d: &str) -> bool {
    (7..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0')
}

impl fmt::Display for ChatId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_forms() {
        for (input, want) in [
            ("+1 (555) 000-1234", "15550001234@c.us"),
            ("15550001234", "15550001234@c.us"),
            ("15550001234@c.us", "15550001234@c.us"),
            ("123456789012345@lid", "123456789012345@lid"),
            ("120363012345678901@g.us", "120363012345678901@g.us"),
            ("15550001234-1600000000@g.us", "15550001234-1600000000@g.us"),
            ("15550001234@s.whatsapp.net", "15550001234@c.us"),
        ] {
            assert_eq!(ChatId::parse(input).unwrap().as_str(), want, "{input}");
        }
        assert_eq!(ChatId::parse("15550001234").unwrap().phone(), Some("15550001234"));
        assert!(ChatId::parse("1@g.us").unwrap().is_group());
    }

    #[test]
    fn refused_forms() {
        for input in [
            "",
            "  ",
            "abc",
            "+",
            "123",
            "0123456789",
            "1234567890123456",
            "1555@c.us",
            "x@lid",
            "1@s.whatsapp.net",
            "123456789012345678",
            "1555 000 12x4",
            "1@newsletter",
            "a-b@g.us",
            "+1555000123@c.us",
        ] {
            assert!(ChatId::parse(input).is_err(), "{input:?} accepted");
        }
    }

    #[test]
    fn errors_say_what_would_be_accepted() {
        let e = |s: &str| ChatId::parse(s).unwrap_err().0;
        assert!(e("+15550001234@c.us").contains("drop the '+' (15550001234@c.us)"));
        assert!(e("120363012345678901").contains("120363012345678901@g.us"));
        assert!(e("").contains("is empty"));
        assert!(e("015112345678").contains("international format"));
        assert!(e("1555x").contains("'x'"));
        assert!(e("a-b@g.us").contains("digits-digits"));
    }
}
