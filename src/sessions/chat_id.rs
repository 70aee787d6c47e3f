//! Recipients: a phone number (digits, optional `+`) or a WhatsApp chat id, parsed once at the edge.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ChatIdError(pub String);

impl ChatId {
    /// Accepts `+15550001234`, `15550001234`, `<digits>@c.us`, `<digits>@lid`,
    /// `<digits>@g.us` and `<digits>-<digits>@g.us`. Spaces, dashes and parentheses in a phone
    /// number are ignored.
    pub fn parse(input: &str) -> Result<ChatId, ChatIdError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(ChatIdError("recipient is empty".into()));
        }
        if let Some((user, server)) = s.split_once('@') {
            let digits = |u: &str| !u.is_empty() && u.len() <= 32 && u.bytes().all(|b| b.is_ascii_digit());
            let ok = match server {
                "c.us" => phone_ok(user),
                "lid" => digits(user),
                "g.us" => match user.split_once('-') {
                    Some((a, b)) => digits(a) && digits(b),
                    None => digits(user),
                },
                _ => {
                    return Err(ChatIdError(format!(
                        "unsupported chat id server @{server}: use @c.us, @g.us or @lid"
                    )));
                }
            };
            return if ok {
                Ok(ChatId(s.to_string()))
            } else {
                Err(ChatIdError(format!("malformed chat id {s}")))
            };
        }
        let cleaned: String = s
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
            .collect();
        let digits = cleaned.strip_prefix('+').unwrap_or(&cleaned);
        if phone_ok(digits) {
            Ok(ChatId(format!("{digits}@c.us")))
        } else {
            Err(ChatIdError(
                "recipient must be a phone number in international format (7 to 15 digits) or a chat id".into(),
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
            "1@newsletter",
            "a-b@g.us",
            "+1555000123@c.us",
        ] {
            assert!(ChatId::parse(input).is_err(), "{input:?} accepted");
        }
    }
}
