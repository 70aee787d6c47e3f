//! `replyTo` on sends: the message a new one quotes. Either its `dbId` (a number, or digits in a
//! form field) or its WhatsApp id (`true_<chat>_<ID>`, `false_<chat>_<ID>[_<participant>]`). It
//! must be a message wagate stored, sent or received in the same chat by the same session (the
//! page quotes it from its own store), and have a WhatsApp id (an outgoing one that went out).

use serde::Deserialize;

use super::error::ApiError;
use crate::AppState;
use crate::auth::Principal;
use crate::db::MessageRow;
use crate::sessions::ChatId;

/// The message replied to, as a client names it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ReplyTo {
    /// The quoted message's `dbId`.
    Db(i64),
    /// Its WhatsApp id (`messageId`: `true_<chat>_<ID>` or `false_<chat>_<ID>[_<participant>]`),
    /// or its `dbId` as digits.
    Wa(String),
}

/// The shape of a WhatsApp message id: `<fromMe>_<chat>_<key id>[_<participant>]`.
fn is_wa_id(s: &str) -> bool {
    let mut parts = s.split('_');
    let from_me = parts.next();
    let chat = parts.next();
    let key = parts.next();
    let participant = parts.next();
    let wid = |p: &str| {
        p.split_once('@')
            .is_some_and(|(u, srv)| !u.is_empty() && !srv.is_empty())
    };
    matches!(from_me, Some("true" | "false"))
        && chat.is_some_and(wid)
        && key.is_some_and(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric()))
        && participant.is_none_or(wid)
        && parts.next().is_none()
        && !s.contains(char::is_whitespace)
}

impl ReplyTo {
    /// From a form field: digits are a `dbId`, anything else must be a WhatsApp id.
    pub fn from_field(raw: &str) -> Result<Option<ReplyTo>, ApiError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Ok(None);
        }
        ReplyTo::Wa(raw.to_string()).checked().map(Some)
    }

    /// Checks the shape; digits in a string become a `dbId`. 400 naming `replyTo` otherwise.
    pub fn checked(self) -> Result<ReplyTo, ApiError> {
        match self {
            ReplyTo::Db(id) if id > 0 => Ok(ReplyTo::Db(id)),
            ReplyTo::Wa(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s
                .parse()
                .ok()
                .filter(|id| *id > 0)
                .map(ReplyTo::Db)
                .ok_or_else(|| invalid("replyTo is not a message's dbId")),
            ReplyTo::Wa(s) if is_wa_id(&s) => Ok(ReplyTo::Wa(s)),
            _ => Err(invalid(
                "replyTo must be a message's dbId or its WhatsApp id (true_<chat>_<ID> or false_<chat>_<ID>)",
            )),
        }
    }

    /// For an `Idempotency-Key`'s fingerprint.
    pub fn fingerprint(&self) -> String {
        match self {
            ReplyTo::Db(id) => format!("db:{id}"),
            ReplyTo::Wa(s) => format!("wa:{s}"),
        }
    }
}

fn invalid(msg: impl Into<String>) -> ApiError {
    ApiError::validation("replyTo", msg)
}

/// The stored message `reply` names, checked to be quotable in `chat` by `session_id`: its
/// WhatsApp id. 400 naming `replyTo` when it is unknown (another user's included), in another
/// chat or session, or was never sent.
pub async fn quoted_message(
    state: &AppState,
    p: &Principal,
    session_id: i64,
    chat: &ChatId,
    reply: &ReplyTo,
) -> Result<String, ApiError> {
    let row: Option<MessageRow> = match reply {
        ReplyTo::Db(id) => state.db.message_for_user(p.user_id, *id).await?,
        ReplyTo::Wa(wa) => state.db.message_by_wa_id_for(p.user_id, wa).await?,
    };
    let row = row.ok_or_else(|| invalid("replyTo names no message wagate stored"))?;
    let same_chat =
        row.chat_id == chat.as_str() || (chat.phone().is_some() && row.chat_phone.as_deref() == chat.phone());
    if !same_chat || row.session_id != Some(session_id) {
        return Err(invalid(format!(
            "replyTo names message {} of another chat or session: a reply quotes a message of its own chat",
            row.id
        )));
    }
    row.wa_message_id
        .ok_or_else(|| invalid(format!("replyTo names message {}, which was not sent (yet)", row.id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whatsapp_ids_and_db_ids_are_told_apart() {
        assert_eq!(ReplyTo::from_field(" 42 ").unwrap(), Some(ReplyTo::Db(42)));
        assert_eq!(ReplyTo::from_field("").unwrap(), None);
        let wa = "false_15550002002@c.us_3EB0C431D5E3A7F1";
        assert_eq!(ReplyTo::from_field(wa).unwrap(), Some(ReplyTo::Wa(wa.into())));
        let group = "false_120363000000000001@g.us_ABCD_15550002002@c.us";
        assert!(ReplyTo::Wa(group.into()).checked().is_ok());
        for bad in [
            "maybe_1@c.us_A",
            "true_1@c.us",
            "true_1@c.us_A B",
            "true__A",
            "0",
            "true_1@c.us_A_B_C",
        ] {
            assert!(ReplyTo::Wa(bad.into()).checked().is_err(), "{bad}");
        }
        assert!(ReplyTo::Db(0).checked().is_err());
        assert_ne!(ReplyTo::Db(1).fingerprint(), ReplyTo::Wa("1".into()).fingerprint());
    }
}
