//! `id` on sends: the message key id a client chooses, so it can correlate the message (its
//! WhatsApp id will be `true_<chat>_<id>`, and so its events) before the answer comes. WhatsApp's
//! clients make these ids as uppercase hex: WhatsApp Web `3EB0` and 16 more, phones 32 (`new_key_id` in
//! `sessions/handle.rs`); wagate takes 16 to 32 uppercase hex digits. An id must be
//! new in its session: WhatsApp treats a second message with the same id as the same message.

use super::error::ApiError;
use crate::AppState;

/// Checks the shape: 400 `VALIDATION_ERROR` naming `id` unless 16 to 32 uppercase hex digits.
pub fn checked(raw: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(id) = raw else { return Ok(None) };
    let hex = id.bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b));
    if !(16..=32).contains(&id.len()) || !hex {
        return Err(ApiError::validation(
            "id",
            "id must be 16 to 32 uppercase hex digits, as WhatsApp makes message ids (e.g. 3EB0C431D5E3A7F1B2C4)",
        ));
    }
    Ok(Some(id))
}

/// 409 `CONFLICT` when a message of the session has this id already (sent, or waiting to be).
pub async fn ensure_unused(state: &AppState, session_id: i64, id: Option<&str>) -> Result<(), ApiError> {
    let Some(id) = id else { return Ok(()) };
    if state.db.key_id_in_use(session_id, id.to_string()).await? {
        return Err(ApiError::Conflict(format!(
            "id {id} is already used by a message of this session; choose a new one"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uppercase_hex_of_whatsapp_lengths() {
        assert_eq!(
            checked(Some("3EB0C431D5E3A7F1B2C4".into())).unwrap().as_deref(),
            Some("3EB0C431D5E3A7F1B2C4")
        );
        assert!(checked(Some("A".repeat(32))).is_ok());
        assert!(checked(None).unwrap().is_none());
        for bad in [
            "3eb0c431d5e3a7f1",
            "3EB0",
            &"A".repeat(33),
            "3EB0C431D5E3A7F1_X",
            "3EB0C431 D5E3A7F1",
        ] {
            assert!(checked(Some(bad.into())).is_err(), "{bad}");
        }
    }
}
