//! Contact cards as WhatsApp carries them: vCard 3.0 (RFC 2426) text, one card per contact, with
//! WhatsApp's `waid` parameter on the phone number (the number the app opens a chat with).
//!
//! Text values are escaped as RFC 6350 §3.4 says (and RFC 2426 §4 before it): backslash, comma,
//! semicolon and line breaks; lines are folded at 75 octets (RFC 6350 §3.2), never inside a UTF-8
//! character. Reading back takes what WhatsApp and phones write: `FN` and each `TEL` (its `waid`,
//! else the digits of its value).

/// One contact on a card.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Contact {
    /// The name shown (`FN`).
    pub name: String,
    /// The phone number, digits with the country code (`15550002002`).
    pub phone: String,
}

/// A text value escaped for a vCard property (RFC 6350 §3.4).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ',' => out.push_str("\\,"),
            ';' => out.push_str("\\;"),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// The inverse of [`escape`] (`\n` and `\N` are line breaks; other escapes keep the character).
pub fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n' | 'N') => out.push('\n'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// Folds a content line at 75 octets: CRLF and one space before each continuation.
fn fold(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + line.len() / 70 * 3);
    let mut width = 0;
    for c in line.chars() {
        if width + c.len_utf8() > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += c.len_utf8();
    }
    out
}

/// One contact's card: vCard 3.0, CRLF lines; WhatsApp shows the `TEL` value and opens a chat
/// with its `waid`.
pub fn card(contact: &Contact) -> String {
    let name = escape(&contact.name);
    let lines = [
        "BEGIN:VCARD".to_string(),
        "VERSION:3.0".to_string(),
        // N is required in 3.0: the whole name as the family name, the other parts empty.
        format!("N:{name};;;;"),
        format!("FN:{name}"),
        format!("TEL;type=CELL;type=VOICE;waid={0}:+{0}", contact.phone),
        "END:VCARD".to_string(),
    ];
    lines.iter().map(|l| fold(l) + "\r\n").collect()
}

/// The contacts of one card: its `FN` with each phone number (`waid`, else the value's digits).
/// Cards without a name or a number give what they have; a name alone gives nothing.
pub fn read(card: &str) -> Vec<Contact> {
    // Unfold first (RFC 6350 §3.2): a line break followed by a space or a tab continues a line.
    let unfolded = card
        .replace("\r\n ", "")
        .replace("\r\n\t", "")
        .replace("\n ", "")
        .replace("\n\t", "");
    let mut name = None;
    let mut phones = Vec::new();
    for line in unfolded.lines() {
        let Some((head, value)) = line.split_once(':') else {
            continue;
        };
        let mut params = head.split(';');
        // A property may carry a group prefix (`item1.TEL`).
        let prop = params.next().unwrap_or_default();
        let prop = prop.rsplit('.').next().unwrap_or(prop).to_ascii_uppercase();
        match prop.as_str() {
            "FN" => name = Some(unescape(value.trim())),
            "TEL" => {
                let waid = params.find_map(|p| {
                    p.split_once('=')
                        .filter(|(k, _)| k.eq_ignore_ascii_case("waid"))
                        .map(|(_, v)| v.to_string())
                });
                let digits: String = waid
                    .unwrap_or_else(|| value.to_string())
                    .chars()
                    .filter(char::is_ascii_digit)
                    .collect();
                if !digits.is_empty() {
                    phones.push(digits);
                }
            }
            _ => {}
        }
    }
    let name = name.unwrap_or_default();
    phones
        .into_iter()
        .map(|phone| Contact {
            name: name.clone(),
            phone,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_follows_rfc_6350() {
        assert_eq!(escape(r"Smith, Jane; Dr. \ A"), r"Smith\, Jane\; Dr. \\ A");
        assert_eq!(escape("two\r\nlines\nthree"), r"two\nlines\nthree");
        for s in [r"Smith, Jane; Dr. \ A", "a\nb", "plain", "ü,;\\"] {
            assert_eq!(unescape(&escape(s)), s);
        }
    }

    #[test]
    fn a_card_is_vcard_3_with_crlf_and_folded_lines() {
        let c = Contact {
            name: "Müller, Anna; GmbH".into(),
            phone: "4915112345678".into(),
        };
        let text = card(&c);
        assert!(text.starts_with("BEGIN:VCARD\r\nVERSION:3.0\r\n"), "{text}");
        assert!(text.contains("FN:Müller\\, Anna\\; GmbH\r\n"), "{text}");
        assert!(text.contains("TEL;type=CELL;type=VOICE;waid=4915112345678:+4915112345678\r\n"));
        assert!(text.ends_with("END:VCARD\r\n"));
        assert_eq!(read(&text), vec![c]);

        let long = Contact {
            name: "é".repeat(60),
            phone: "1555".into(),
        };
        let text = card(&long);
        assert!(text.split("\r\n").all(|l| l.len() <= 75), "{text}");
        assert_eq!(read(&text)[0].name, long.name, "unfolds without breaking a character");
    }

    #[test]
    fn cards_from_phones_read_by_waid_or_digits() {
        let text = "BEGIN:VCARD\nVERSION:3.0\nFN:Bob\nitem1.TEL:+1 (555) 000-2003\nTEL;waid=15550002004:+1 555-000-2004\nEND:VCARD";
        let got: Vec<String> = read(text).into_iter().map(|c| c.phone).collect();
        assert_eq!(got, ["15550002003", "15550002004"]);
        assert!(read("BEGIN:VCARD\nFN:No number\nEND:VCARD").is_empty());
    }
}
