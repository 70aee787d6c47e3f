//! `/api/v1/chats/{chatId}/…`: what the account shows in a chat — read receipts and presence.
//! Both need the session connected now (they are signals, not messages: nothing is queued).

use actix_web::{HttpResponse, post, web};
use serde::Deserialize;
use serde_json::json;

use super::body::{Json, optional_json};
use super::error::{ApiError, ok};
use super::extract::ApiKey;
use super::messages::{chat_field, connected_session};
use super::schemas::{ChatSignal, Envelope, ErrorBody};
use super::selector::{SessionQuery, session_for};
use crate::AppState;
use crate::sessions::Presence;

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadBody {
    /// Session name (default `default`); wins over `?session=`.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    session: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PresenceBody {
    /// `composing` (typing…) or `recording` (recording audio…) in this chat, `paused` to stop;
    /// `available` / `unavailable`: online / offline for everyone.
    #[schema(required = true, nullable = false)]
    state: Option<String>,
    /// Session name (default `default`); wins over `?session=`.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    session: Option<String>,
}

/// `POST /api/v1/chats/{chatId}/read/`: a read receipt for the chat (the sender sees blue ticks).
#[utoipa::path(
    tag = "chats",
    operation_id = "mark_chat_read",
    security(("api_key" = [])),
    params(
        ("chatId" = String, Path, description = "A phone number or a chat id (`…@c.us`, `…@g.us`, `…@lid`)", example = "15550002002@c.us"),
        SessionQuery
    ),
    request_body(content = Option<ReadBody>, description = "Optional: `{\"session\"}`"),
    responses(
        (status = 200, description = "The receipt went out", body = Envelope<ChatSignal>),
        (status = 400, description = "VALIDATION_ERROR (`chatId`, `session`), BAD_REQUEST (malformed JSON)", body = ErrorBody),
        (status = 409, description = "SESSION_NOT_CONNECTED", body = ErrorBody),
        (status = 502, description = "`WA_*` codes from WhatsApp Web (e.g. WA_CHAT_NOT_FOUND)", body = ErrorBody),
        (status = 503, description = "BROWSER_UNAVAILABLE", body = ErrorBody),
        (status = 504, description = "SEND_TIMEOUT: WhatsApp did not answer in time", body = ErrorBody)
    )
)]
#[post("/api/v1/chats/{chatId}/read/")]
pub async fn mark_read(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    chat_id: web::Path<String>,
    query: web::Query<SessionQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: ReadBody = optional_json(&body)?;
    let name = session_for(&p, &query, body.session.as_deref())?;
    let chat = chat_field("chatId", Some(chat_id.as_str()))?;
    let handle = connected_session(&state, &p, &name)?;
    handle.mark_read(chat.clone()).await?;
    Ok(ok(json!({ "chatId": chat.as_str(), "state": "read" })))
}

/// `POST /api/v1/chats/{chatId}/presence/` `{state}`: typing…, recording…, paused, online, offline.
#[utoipa::path(
    tag = "chats",
    operation_id = "set_chat_presence",
    security(("api_key" = [])),
    params(
        ("chatId" = String, Path, description = "A phone number or a chat id (`…@c.us`, `…@g.us`, `…@lid`)", example = "15550002002@c.us"),
        SessionQuery
    ),
    request_body(content = PresenceBody, example = json!({"state": "composing"})),
    responses(
        (status = 200, description = "The presence was shown", body = Envelope<ChatSignal>),
        (status = 400, description = "VALIDATION_ERROR (`state`, `chatId`, `session`), BAD_REQUEST (malformed JSON, unknown field)", body = ErrorBody),
        (status = 409, description = "SESSION_NOT_CONNECTED", body = ErrorBody),
        (status = 502, description = "`WA_*` codes from WhatsApp Web (e.g. WA_MODULE_MISSING)", body = ErrorBody),
        (status = 503, description = "BROWSER_UNAVAILABLE", body = ErrorBody),
        (status = 504, description = "SEND_TIMEOUT: WhatsApp did not answer in time", body = ErrorBody)
    )
)]
#[post("/api/v1/chats/{chatId}/presence/")]
pub async fn presence(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    chat_id: web::Path<String>,
    query: web::Query<SessionQuery>,
    body: Json<PresenceBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let name = session_for(&p, &query, body.session.as_deref())?;
    let chat = chat_field("chatId", Some(chat_id.as_str()))?;
    const RULE: &str = "state must be one of composing, recording, paused, available, unavailable";
    let raw = body.state.ok_or_else(|| ApiError::validation("state", RULE))?;
    let presence: Presence =
        serde_json::from_value(json!(raw.trim())).map_err(|_| ApiError::validation("state", RULE))?;
    let handle = connected_session(&state, &p, &name)?;
    handle.chat_state(chat.clone(), presence).await?;
    Ok(ok(json!({ "chatId": chat.as_str(), "state": presence.as_str() })))
}
