//! `POST /api/v1/messages/{id}/forward/` `{recipient}`: a stored message (sent or received) copied
//! to another chat with WhatsApp's own forward, through the session that has the message and its
//! queue like a text (`Idempotency-Key`, `?async=true`). The new row keeps the original's type,
//! text and media description, with `forwardedFrom` (the original's WhatsApp id) and, once sent,
//! `isForwarded` / `forwardingScore` as WhatsApp Web set them on the copy.

use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::Deserialize;

use super::body::Json;
use super::error::ApiError;
use super::extract::ApiKey;
use super::messages::{
    Idempotency, SendMode, enqueue_and_answer, idempotency_key, new_message, recipient, replay, sending_session,
};
use super::schemas::{Envelope, ErrorBody, SendQueued, SendResult};
use crate::AppState;
use crate::db::{MessageDetails, MessageKind, MessageRow};
use crate::error_code::ErrorCode;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Forward {
    /// Where the copy goes: a phone number in international format (`+1 555 000 2002`) or a
    /// chat id (`…@c.us`, `…@g.us`, `…@lid`).
    #[schema(required = true, nullable = false, min_length = 1)]
    recipient: Option<String>,
}

/// Why WhatsApp would not forward this stored message, or None when it may: a deleted one has
/// nothing left; reactions, edits, deletes and group notifications are no messages of their own
/// to copy; a poll forwards as a results snapshot (another type), which wagate does not store.
fn not_forwardable(row: &MessageRow) -> Option<String> {
    if row.revoked_at.is_some() {
        return Some(format!(
            "message {} was deleted for everyone: nothing to forward",
            row.id
        ));
    }
    match row.msg_type {
        MessageKind::Reaction
        | MessageKind::Edit
        | MessageKind::Revoke
        | MessageKind::GroupNotification
        | MessageKind::Poll => Some(format!("a message of type {} cannot be forwarded", row.msg_type)),
        MessageKind::Other(ref t) if t == "revoked" => Some(format!(
            "message {} was deleted for everyone: nothing to forward",
            row.id
        )),
        _ => None,
    }
}

#[utoipa::path(
    tag = "messages",
    operation_id = "forward_message",
    security(("api_key" = [])),
    params(
        ("id" = i64, Path, description = "The `dbId` of the message to forward (sent or received)"),
        SendMode,
        ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~][ -~]{0,254}$", description = "1 to 255 printable ASCII characters: a retry with the same key returns the first result instead of sending again")
    ),
    request_body(content = Forward, example = json!({"recipient": "+15550002003"})),
    responses(
        (status = 200, description = "Forwarded: `message` is `Message forwarded successfully`; `dbId` is the copy's own row (the original's type, `forwardedFrom`, `isForwarded`, `forwardingScore`)", body = Envelope<SendResult>),
        (status = 202, description = "Queued (`?async=true`, a session that is away, or longer than `sending.wait_secs`); it still goes out", body = Envelope<SendQueued>),
        (status = 400, description = "VALIDATION_ERROR naming the field (recipient; id: a message without a WhatsApp id or session; Idempotency-Key), BAD_REQUEST (malformed JSON, unknown field)", body = ErrorBody),
        (status = 404, description = "MESSAGE_NOT_FOUND (also another user's message)", body = ErrorBody),
        (status = 409, description = "SESSION_NOT_CONNECTED, SEND_IN_PROGRESS", body = ErrorBody),
        (status = 422, description = "MESSAGE_NOT_FORWARDABLE (deleted for everyone; a reaction, an edit, a delete, a group notification or a poll; or WhatsApp Web's own check refused it), RECIPIENT_NOT_ON_WHATSAPP, IDEMPOTENCY_KEY_REUSED", body = ErrorBody),
        (status = 502, description = "`WA_*` codes from WhatsApp Web (WA_MESSAGE_NOT_FOUND: the page no longer has the message), SEND_FAILED", body = ErrorBody),
        (status = 503, description = "BROWSER_UNAVAILABLE, SERVICE_UNAVAILABLE", body = ErrorBody),
        (status = 504, description = "SEND_TIMEOUT: WhatsApp did not answer in time", body = ErrorBody)
    )
)]
#[post("/api/v1/messages/{id}/forward/")]
pub async fn forward(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    req: HttpRequest,
    id: web::Path<i64>,
    mode: web::Query<SendMode>,
    body: Json<Forward>,
) -> Result<HttpResponse, ApiError> {
    const DONE: &str = "Message forwarded successfully";
    let id = id.into_inner();
    let chat = recipient(body.into_inner().recipient.as_deref())?;
    let original = state
        .db
        .message_for_user(p.user_id, id)
        .await?
        .ok_or_else(|| ApiError::coded(ErrorCode::MessageNotFound, format!("No message {id}")))?;
    let (Some(wa_id), Some(session_id)) = (original.wa_message_id.clone(), original.session_id) else {
        return Err(ApiError::validation(
            "id",
            format!("message {id} has no WhatsApp id yet (not sent), or no session: nothing to forward"),
        ));
    };
    if let Some(why) = not_forwardable(&original) {
        return Err(ApiError::coded(ErrorCode::MessageNotForwardable, why));
    }
    let session = state
        .db
        .session_by_id(session_id)
        .await?
        .ok_or_else(|| ApiError::validation("id", format!("the session of message {id} is gone")))?;
    let idem = idempotency_key(&req)?.map(|key| {
        Idempotency::bind(
            key,
            "forward",
            &session.name,
            &[wa_id.as_bytes(), chat.as_str().as_bytes()],
        )
    });
    if let Some(answer) = replay(&state, &p, idem.as_ref(), DONE).await? {
        return Ok(answer);
    }
    let session_id = sending_session(&state, &p, &session.name).await?;
    let mut row = new_message(&p, session_id, &chat, original.msg_type.clone(), idem);
    row.body = original.body.clone();
    row.caption = original.caption.clone();
    // The media is described, not copied: WhatsApp forwards the file it has (no new upload).
    row.media_mime = original.media_mime.clone();
    row.media_filename = original.media_filename.clone();
    row.media_size = original.media_size;
    let kept = original.details();
    row.details = MessageDetails {
        forwarded_from: Some(wa_id),
        location: kept.location,
        contacts: kept.contacts,
        ..Default::default()
    }
    .to_column();
    enqueue_and_answer(&state, &p, row, mode.into_inner().is_async(), DONE).await
}
