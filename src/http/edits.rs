//! `PATCH /api/v1/messages/{id}/` (edit our text) and `DELETE /api/v1/messages/{id}/` (delete our
//! message for everyone). Each is sent through the session's queue like a text
//! (`Idempotency-Key`, `?async=true`) and recorded as a row of its own (`edit`, `revoke`); the
//! message's row gets the new text and `edited_at`, or `revoked_at`, when the page reports the
//! change (the same path as a change the sender made), with `message.edited` / `message.revoked`.

use actix_web::{HttpRequest, HttpResponse, delete, patch, web};
use serde::Deserialize;

use super::body::Json;
use super::error::ApiError;
use super::extract::ApiKey;
use super::messages::{
    Idempotency, MAX_TEXT_CHARS, SendMode, enqueue_and_answer, idempotency_key, new_message, replay, sending_session,
};
use super::schemas::{Envelope, ErrorBody, SendQueued, SendResult};
use crate::AppState;
use crate::auth::Principal;
use crate::db::{MessageDetails, MessageKind, MessageRow, MessageStatus};
use crate::error_code::ErrorCode;
use crate::sessions::ChatId;

/// WhatsApp lets a sender edit a text message for 15 minutes after sending it (WhatsApp blog,
/// "Now you can edit your messages", 2023-05-22).
pub const EDIT_WINDOW_SECS: i64 = 15 * 60;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditMessage {
    /// The new text, 1 to 65,536 characters.
    #[schema(required = true, nullable = false, min_length = 1, max_length = 65536)]
    message: Option<String>,
}

/// Our sent message `id` (another user's answers 404 like a missing one), with what acting on it
/// needs: its WhatsApp id, its session's name and its chat. 400 naming `id` when it is not ours,
/// not sent, already deleted, or itself a reaction, edit or delete.
async fn own_sent(state: &AppState, p: &Principal, id: i64) -> Result<(MessageRow, String, String, ChatId), ApiError> {
    let row = state
        .db
        .message_for_user(p.user_id, id)
        .await?
        .ok_or_else(|| ApiError::coded(ErrorCode::MessageNotFound, format!("No message {id}")))?;
    let refuse = |why: &str| ApiError::validation("id", format!("message {id} {why}"));
    if row.direction != "out" {
        return Err(refuse("was received: only our own messages can be changed"));
    }
    if row.msg_type.acts_on_message() {
        return Err(refuse(&format!("is a {} itself", row.msg_type)));
    }
    if row.revoked_at.is_some() {
        return Err(refuse("was deleted for everyone"));
    }
    let (Some(wa_id), Some(session_id)) = (row.wa_message_id.clone(), row.session_id) else {
        return Err(refuse("was not sent (yet)"));
    };
    if row.status == MessageStatus::Failed {
        return Err(refuse("failed to send"));
    }
    let session = state
        .db
        .session_by_id(session_id)
        .await?
        .ok_or_else(|| refuse("belongs to a session that is gone"))?;
    let chat = ChatId::parse(&row.chat_id).map_err(|e| ApiError::validation("id", e.0))?;
    Ok((row, wa_id, session.name, chat))
}

#[utoipa::path(
    tag = "messages",
    operation_id = "edit_message",
    security(("api_key" = [])),
    params(
        ("id" = i64, Path, description = "The `dbId` of our text message"),
        SendMode,
        ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~][ -~]{0,254}$", description = "1 to 255 printable ASCII characters: a retry with the same key returns the first result instead of sending again")
    ),
    request_body(content = EditMessage, example = json!({"message": "See you at 8, not 7"})),
    responses(
        (status = 200, description = "Sent: `message` is `Edit sent successfully`; `dbId` is the edit's own row. The message's row gets the text and `editedAt`", body = Envelope<SendResult>),
        (status = 202, description = "Queued; it still goes out", body = Envelope<SendQueued>),
        (status = 400, description = "VALIDATION_ERROR naming the field (message; id: not our sent text, deleted, or older than WhatsApp's 15-minute edit window), BAD_REQUEST (malformed JSON, unknown field)", body = ErrorBody),
        (status = 404, description = "MESSAGE_NOT_FOUND (also another user's message)", body = ErrorBody),
        (status = 409, description = "SESSION_NOT_CONNECTED, SEND_IN_PROGRESS", body = ErrorBody),
        (status = 422, description = "IDEMPOTENCY_KEY_REUSED", body = ErrorBody),
        (status = 502, description = "`WA_*` codes from WhatsApp Web, SEND_FAILED", body = ErrorBody),
        (status = 503, description = "BROWSER_UNAVAILABLE, SERVICE_UNAVAILABLE", body = ErrorBody),
        (status = 504, description = "SEND_TIMEOUT: WhatsApp did not answer in time", body = ErrorBody)
    )
)]
#[patch("/api/v1/messages/{id}/")]
pub async fn edit(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    req: HttpRequest,
    id: web::Path<i64>,
    mode: web::Query<SendMode>,
    body: Json<EditMessage>,
) -> Result<HttpResponse, ApiError> {
    const DONE: &str = "Edit sent successfully";
    let id = id.into_inner();
    let text = body.into_inner().message.unwrap_or_default();
    if text.trim().is_empty() {
        return Err(ApiError::validation("message", "message must not be empty"));
    }
    let chars = text.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(ApiError::validation(
            "message",
            format!("message has {chars} characters; WhatsApp allows at most {MAX_TEXT_CHARS}"),
        ));
    }
    let (row, wa_id, session, chat) = own_sent(&state, &p, id).await?;
    if row.msg_type != MessageKind::Chat {
        return Err(ApiError::validation(
            "id",
            format!("message {id} is a {}: only text messages can be edited", row.msg_type),
        ));
    }
    let age = crate::db::now() - row.sent_at.unwrap_or(row.created_at);
    if age.num_seconds() > EDIT_WINDOW_SECS {
        return Err(ApiError::validation(
            "id",
            format!(
                "message {id} was sent {} minutes ago: WhatsApp allows edits for 15 minutes",
                age.num_minutes()
            ),
        ));
    }
    let idem = idempotency_key(&req)?
        .map(|key| Idempotency::bind(key, "edit", &session, &[wa_id.as_bytes(), text.as_bytes()]));
    if let Some(answer) = replay(&state, &p, idem.as_ref(), DONE).await? {
        return Ok(answer);
    }
    let session_id = sending_session(&state, &p, &session).await?;
    let mut edit = new_message(&p, session_id, &chat, MessageKind::Edit, idem);
    edit.chat_phone = row.chat_phone.clone().or(edit.chat_phone);
    edit.body = Some(text);
    edit.details = MessageDetails {
        target_message_id: Some(wa_id),
        ..Default::default()
    }
    .to_column();
    enqueue_and_answer(&state, &p, edit, mode.into_inner().is_async(), DONE).await
}

#[utoipa::path(
    tag = "messages",
    operation_id = "delete_message_for_everyone",
    security(("api_key" = [])),
    params(
        ("id" = i64, Path, description = "The `dbId` of our message"),
        SendMode,
        ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~][ -~]{0,254}$", description = "1 to 255 printable ASCII characters: a retry with the same key returns the first result instead of sending again")
    ),
    responses(
        (status = 200, description = "Sent: `message` is `Delete sent successfully`; `dbId` is the delete's own row. The message's row gets `revokedAt`", body = Envelope<SendResult>),
        (status = 202, description = "Queued; it still goes out", body = Envelope<SendQueued>),
        (status = 400, description = "VALIDATION_ERROR naming the field (id: not our sent message, or deleted already; Idempotency-Key)", body = ErrorBody),
        (status = 404, description = "MESSAGE_NOT_FOUND (also another user's message)", body = ErrorBody),
        (status = 409, description = "SESSION_NOT_CONNECTED, SEND_IN_PROGRESS", body = ErrorBody),
        (status = 422, description = "IDEMPOTENCY_KEY_REUSED", body = ErrorBody),
        (status = 502, description = "`WA_*` codes from WhatsApp Web (WhatsApp refused: too old), SEND_FAILED", body = ErrorBody),
        (status = 503, description = "BROWSER_UNAVAILABLE, SERVICE_UNAVAILABLE", body = ErrorBody),
        (status = 504, description = "SEND_TIMEOUT: WhatsApp did not answer in time", body = ErrorBody)
    )
)]
#[delete("/api/v1/messages/{id}/")]
pub async fn revoke(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    req: HttpRequest,
    id: web::Path<i64>,
    mode: web::Query<SendMode>,
) -> Result<HttpResponse, ApiError> {
    const DONE: &str = "Delete sent successfully";
    let (row, wa_id, session, chat) = own_sent(&state, &p, id.into_inner()).await?;
    let idem = idempotency_key(&req)?.map(|key| Idempotency::bind(key, "revoke", &session, &[wa_id.as_bytes()]));
    if let Some(answer) = replay(&state, &p, idem.as_ref(), DONE).await? {
        return Ok(answer);
    }
    let session_id = sending_session(&state, &p, &session).await?;
    let mut revoke = new_message(&p, session_id, &chat, MessageKind::Revoke, idem);
    revoke.chat_phone = row.chat_phone.clone().or(revoke.chat_phone);
    revoke.details = MessageDetails {
        target_message_id: Some(wa_id),
        ..Default::default()
    }
    .to_column();
    enqueue_and_answer(&state, &p, revoke, mode.into_inner().is_async(), DONE).await
}
