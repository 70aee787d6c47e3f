//! `POST /api/v1/messages/{id}/reaction/`: an emoji on a stored message (sent or received), or
//! `""` to take ours back. Sent through the session's queue like a text (`Idempotency-Key`,
//! `?async=true`), by the session that has the message, and stored as a row of kind `reaction`.

use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::Deserialize;

use super::body::Json;
use super::error::ApiError;
use super::extract::ApiKey;
use super::messages::{
    Idempotency, SendMode, enqueue_and_answer, idempotency_key, new_message, replay, sending_session,
};
use super::schemas::{Envelope, ErrorBody, SendQueued, SendResult};
use crate::AppState;
use crate::db::{MessageDetails, MessageKind};
use crate::error_code::ErrorCode;
use crate::sessions::ChatId;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reaction {
    /// One emoji (`👍`, `❤️`, `👍🏽`, …), or `""` to take our reaction back.
    #[schema(required = true, nullable = false, max_length = 32)]
    emoji: Option<String>,
}

/// The emoji as WhatsApp takes it: one emoji of Unicode's list (with its skin tone, if any), or
/// empty; 400 naming `emoji` otherwise.
fn emoji_field(raw: Option<String>) -> Result<String, ApiError> {
    let raw = raw.ok_or_else(|| ApiError::validation("emoji", "emoji is required: one emoji, or \"\" to remove"))?;
    if raw.is_empty() || emojis::get(&raw).is_some() {
        return Ok(raw);
    }
    Err(ApiError::validation(
        "emoji",
        format!("emoji must be one emoji (like 👍 or ❤️), or \"\" to remove a reaction; {raw:?} is not"),
    ))
}

#[utoipa::path(
    tag = "messages",
    operation_id = "react_to_message",
    security(("api_key" = [])),
    params(
        ("id" = i64, Path, description = "The `dbId` of the message reacted to"),
        SendMode,
        ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~][ -~]{0,254}$", description = "1 to 255 printable ASCII characters: a retry with the same key returns the first result instead of sending again")
    ),
    request_body(content = Reaction, example = json!({"emoji": "👍"})),
    responses(
        (status = 200, description = "Sent: `message` is `Reaction sent successfully`; `dbId` is the reaction's own row", body = Envelope<SendResult>),
        (status = 202, description = "Queued (`?async=true`, a session that is away, or longer than `sending.wait_secs`); it still goes out", body = Envelope<SendQueued>),
        (status = 400, description = "VALIDATION_ERROR naming the field (emoji, id: a message without a WhatsApp id or session, Idempotency-Key), BAD_REQUEST (malformed JSON, unknown field)", body = ErrorBody),
        (status = 404, description = "MESSAGE_NOT_FOUND (also another user's message)", body = ErrorBody),
        (status = 409, description = "SESSION_NOT_CONNECTED, SEND_IN_PROGRESS", body = ErrorBody),
        (status = 422, description = "IDEMPOTENCY_KEY_REUSED", body = ErrorBody),
        (status = 502, description = "`WA_*` codes from WhatsApp Web (WA_MESSAGE_NOT_FOUND: the page no longer has the message), SEND_FAILED", body = ErrorBody),
        (status = 503, description = "BROWSER_UNAVAILABLE, SERVICE_UNAVAILABLE", body = ErrorBody),
        (status = 504, description = "SEND_TIMEOUT: WhatsApp did not answer in time", body = ErrorBody)
    )
)]
#[post("/api/v1/messages/{id}/reaction/")]
pub async fn react(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    req: HttpRequest,
    id: web::Path<i64>,
    mode: web::Query<SendMode>,
    body: Json<Reaction>,
) -> Result<HttpResponse, ApiError> {
    const DONE: &str = "Reaction sent successfully";
    let id = id.into_inner();
    let emoji = emoji_field(body.into_inner().emoji)?;
    let target = state
        .db
        .message_for_user(p.user_id, id)
        .await?
        .ok_or_else(|| ApiError::coded(ErrorCode::MessageNotFound, format!("No message {id}")))?;
    let (Some(wa_id), Some(session_id)) = (target.wa_message_id.clone(), target.session_id) else {
        return Err(ApiError::validation(
            "id",
            format!("message {id} has no WhatsApp id yet (not sent), or no session: nothing to react to"),
        ));
    };
    if target.msg_type == MessageKind::Reaction {
        return Err(ApiError::validation("id", format!("message {id} is a reaction itself")));
    }
    let session = state
        .db
        .session_by_id(session_id)
        .await?
        .ok_or_else(|| ApiError::validation("id", format!("the session of message {id} is gone")))?;
    let chat = ChatId::parse(&target.chat_id).map_err(|e| ApiError::validation("id", e.0))?;
    let idem = idempotency_key(&req)?
        .map(|key| Idempotency::bind(key, "reaction", &session.name, &[wa_id.as_bytes(), emoji.as_bytes()]));
    if let Some(answer) = replay(&state, &p, idem.as_ref(), DONE).await? {
        return Ok(answer);
    }
    let session_id = sending_session(&state, &p, &session.name).await?;
    let mut row = new_message(&p, session_id, &chat, MessageKind::Reaction, idem);
    row.chat_phone = target.chat_phone.clone().or(row.chat_phone);
    row.body = Some(emoji);
    row.details = MessageDetails {
        reaction_to: Some(wa_id),
        ..Default::default()
    }
    .to_column();
    enqueue_and_answer(&state, &p, row, mode.into_inner().is_async(), DONE).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_emoji_or_nothing() {
        for ok in ["👍", "❤️", "👍🏽", "😂", ""] {
            assert_eq!(emoji_field(Some(ok.into())).unwrap(), ok);
        }
        for bad in ["ok", "👍👍", " 👍", "a"] {
            assert!(emoji_field(Some(bad.into())).is_err(), "{bad:?}");
        }
        assert!(emoji_field(None).is_err());
    }
}
