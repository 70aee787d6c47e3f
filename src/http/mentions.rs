//! `mentions` on text and media sends: the users a text or a caption mentions, as WhatsApp's
//! `mentionedJidList` (wa-web-surface §6.3: each id → `createWid`). Each entry is a phone number
//! in international format or a user id (`<n>@c.us`, `<n>@lid`); groups are not users. The text
//! shows a mention where it has `@<number>`; wagate passes the list as given, without requiring it.

use super::error::ApiError;
use crate::sessions::ChatId;

/// At most this many mentions (a group's member limit, 1024, as WhatsApp caps groups).
pub const MAX_MENTIONS: usize = 1024;

/// Checks each entry and returns the user ids, duplicates dropped, in the given order. 400
/// `VALIDATION_ERROR` naming `mentions[i]` for a bad entry, `mentions` for too many.
pub fn checked(raw: Option<Vec<String>>) -> Result<Vec<String>, ApiError> {
    let raw = raw.unwrap_or_default();
    if raw.len() > MAX_MENTIONS {
        return Err(ApiError::validation(
            "mentions",
            format!("mentions has {} entries; at most {MAX_MENTIONS}", raw.len()),
        ));
    }
    let mut ids: Vec<String> = Vec::with_capacity(raw.len());
    for (i, entry) in raw.iter().enumerate() {
        let field = format!("mentions[{i}]");
        let id = ChatId::parse(entry).map_err(|e| ApiError::validation(&field, format!("{field} {}", e.0)))?;
        if id.is_group() {
            return Err(ApiError::validation(
                &field,
                format!("{field} is a group; a mention names a user (a phone number, …@c.us or …@lid)"),
            ));
        }
        if !ids.iter().any(|known| known == id.as_str()) {
            ids.push(id.as_str().to_string());
        }
    }
    Ok(ids)
}

/// From a form field: entries separated by commas (`15550001,15550002@c.us`).
pub fn from_field(raw: &str) -> Result<Vec<String>, ApiError> {
    let entries: Vec<String> = raw
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_string)
        .collect();
    checked(Some(entries))
}

/// The part of an `Idempotency-Key` fingerprint the mentions add: None when there are none, so a
/// retry of a request made before mentions existed keeps its fingerprint.
pub fn fingerprint(ids: &[String]) -> Option<String> {
    (!ids.is_empty()).then(|| ids.join(","))
}

/// The stored form: None when there are none.
pub fn stored(ids: Vec<String>) -> Option<Vec<String>> {
    (!ids.is_empty()).then_some(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_and_user_ids_are_mentions_groups_are_not() {
        let ids = checked(Some(vec![
            "+1 555 000 2002".into(),
            "15550002002@c.us".into(),
            "123456789012345@lid".into(),
        ]))
        .unwrap();
        assert_eq!(ids, ["15550002002@c.us", "123456789012345@lid"]);
        let e = checked(Some(vec!["15550002002".into(), "1203@g.us".into()])).unwrap_err();
        assert!(e.to_string().contains("mentions[1]"), "{e}");
        let e = checked(Some(vec!["call me".into()])).unwrap_err();
        assert!(e.to_string().contains("mentions[0]"), "{e}");
        assert_eq!(from_field(" 15550002002 , ,15550002003").unwrap().len(), 2);
        assert!(checked(None).unwrap().is_empty());
    }
}
