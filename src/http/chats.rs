//! `/api/v1/chats/{chatId}/…`: what the account shows in a chat — read receipts and presence.
//! Both need the session connected now (they are signals, not messages: nothing is queued).
//! And `/api/v1/chats/` with `…/{chatId}/messages/`: the account's chats and their history, read
//! from WhatsApp Web (the session must be connected) and merged with what wagate stored.

use actix_web::{HttpResponse, get, post, web};
use serde::Deserialize;
use serde_json::json;

use super::body::{Json, optional_json};
use super::error::{ApiError, ok};
use super::extract::ApiKey;
use super::messages::{chat_field, connected_session};
use super::schemas::{ChatList, ChatMessagePage, ChatSignal, Envelope, ErrorBody, SessionBody};
use super::selector::{SessionQuery, session_for};
use crate::AppState;
use crate::api_common::views::message_json;
use crate::browser::protocol::{PresenceNow, WaChat, WaMessage};
use crate::sessions::Presence;

mod history;

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
    request_body(content = Option<SessionBody>, description = "Optional: `{\"session\"}`"),
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
    let body: SessionBody = optional_json(&body)?;
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

/// `POST /api/v1/chats/{chatId}/presence/subscribe/`: WhatsApp's server sends this chat's presence
/// from now on (online, offline with last seen, typing…, recording…; in a group, each member's),
/// and each change raises a `presence.update` event. Answers the presence known now.
#[utoipa::path(
    tag = "chats",
    operation_id = "subscribe_chat_presence",
    security(("api_key" = [])),
    params(
        ("chatId" = String, Path, description = "A phone number or a chat id (`…@c.us`, `…@g.us`, `…@lid`)", example = "15550002002@c.us"),
        SessionQuery
    ),
    request_body(content = Option<SessionBody>, description = "Optional: `{\"session\"}`"),
    responses(
        (status = 200, description = "Subscribed: the presence known now (`state` null until WhatsApp tells)", body = Envelope<PresenceNow>),
        (status = 400, description = "VALIDATION_ERROR (`chatId`, `session`), BAD_REQUEST (malformed JSON)", body = ErrorBody),
        (status = 409, description = "SESSION_NOT_CONNECTED", body = ErrorBody),
        (status = 502, description = "`WA_*` codes from WhatsApp Web (e.g. WA_MODULE_MISSING:WAWebContactPresenceBridge)", body = ErrorBody),
        (status = 503, description = "BROWSER_UNAVAILABLE", body = ErrorBody),
        (status = 504, description = "SEND_TIMEOUT: WhatsApp did not answer in time", body = ErrorBody)
    )
)]
#[post("/api/v1/chats/{chatId}/presence/subscribe/")]
pub async fn subscribe_presence(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    chat_id: web::Path<String>,
    query: web::Query<SessionQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: SessionBody = optional_json(&body)?;
    let name = session_for(&p, &query, body.session.as_deref())?;
    let chat = chat_field("chatId", Some(chat_id.as_str()))?;
    let handle = connected_session(&state, &p, &name)?;
    let now = handle.subscribe_presence(&chat).await?;
    // Kept, so that the session renews it whenever its page connects again.
    state.db.add_presence_subscription(handle.key.id, chat.as_str()).await?;
    Ok(ok(json!(now)))
}

/// `GET /api/v1/chats/{chatId}/presence/`: the chat's presence as WhatsApp Web knows it now.
#[utoipa::path(
    tag = "chats",
    operation_id = "get_chat_presence",
    security(("api_key" = [])),
    params(
        ("chatId" = String, Path, description = "A phone number or a chat id (`…@c.us`, `…@g.us`, `…@lid`)", example = "15550002002@c.us"),
        SessionQuery
    ),
    responses(
        (status = 200, description = "The presence known now: `subscribed` false and `state` null for a chat not subscribed (`POST …/presence/subscribe/`)", body = Envelope<PresenceNow>),
        (status = 400, description = "VALIDATION_ERROR (`chatId`, `session`)", body = ErrorBody),
        (status = 409, description = "SESSION_NOT_CONNECTED", body = ErrorBody),
        (status = 502, description = "`WA_*` codes from WhatsApp Web", body = ErrorBody),
        (status = 503, description = "BROWSER_UNAVAILABLE", body = ErrorBody),
        (status = 504, description = "SEND_TIMEOUT: WhatsApp did not answer in time", body = ErrorBody)
    )
)]
#[get("/api/v1/chats/{chatId}/presence/")]
pub async fn get_presence(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    chat_id: web::Path<String>,
    query: web::Query<SessionQuery>,
) -> Result<HttpResponse, ApiError> {
    let name = session_for(&p, &query, None)?;
    let chat = chat_field("chatId", Some(chat_id.as_str()))?;
    let handle = connected_session(&state, &p, &name)?;
    Ok(ok(json!(handle.presence_of(&chat).await?)))
}

// --- reading chats ---------------------------------------------------------------------------------

/// `true`/`false` (also `1`/`0`, `yes`/`no`) of a query filter, or 400 naming it.
fn flag(field: &str, raw: Option<&str>) -> Result<Option<bool>, ApiError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some("true" | "1" | "yes") => Ok(Some(true)),
        Some("false" | "0" | "no") => Ok(Some(false)),
        Some(_) => Err(ApiError::validation(field, format!("{field} must be true or false"))),
    }
}

/// A whole number in `range` (or `default` when absent), or 400 naming the field.
pub(crate) fn number_in(
    field: &str,
    raw: Option<&str>,
    range: std::ops::RangeInclusive<usize>,
    default: usize,
) -> Result<usize, ApiError> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(default);
    };
    raw.parse::<usize>().ok().filter(|n| range.contains(n)).ok_or_else(|| {
        ApiError::validation(
            field,
            format!(
                "{field} must be a whole number from {} to {}",
                range.start(),
                range.end()
            ),
        )
    })
}

fn unix_time(t: Option<i64>) -> Option<chrono::DateTime<chrono::Utc>> {
    t.and_then(|t| chrono::DateTime::from_timestamp(t, 0))
}

/// A message as WhatsApp Web holds it (`schemas::PageMessage`).
fn page_message_json(m: &WaMessage) -> serde_json::Value {
    json!({
        "messageId": m.id,
        "chatId": m.remote,
        "fromMe": m.from_me,
        "author": m.author,
        "authorPhone": m.author_phone,
        "type": m.kind,
        "body": m.body,
        "caption": m.caption,
        "timestamp": unix_time(m.t),
        "ack": m.ack,
        "hasMedia": m.has_media,
        "mimetype": m.mimetype,
        "filename": m.filename,
    })
}

fn chat_json(c: &WaChat) -> serde_json::Value {
    json!({
        "id": c.id,
        "name": c.name,
        "kind": if c.is_group { "group" } else { "user" },
        "phone": c.phone,
        "unreadCount": c.unread_count,
        "archived": c.archived,
        "lastActivityAt": unix_time(c.t),
        "lastMessage": c.last_message.as_ref().map(page_message_json),
    })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChatListQuery {
    /// Session name (default `default`).
    #[param(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    session: Option<String>,
    /// `true`: only chats with unread messages; `false`: only read ones.
    #[param(value_type = Option<bool>)]
    unread: Option<String>,
    /// `true`: only archived chats; `false`: only the others.
    #[param(value_type = Option<bool>)]
    archived: Option<String>,
    /// `user` (one-to-one chats) or `group`.
    #[param(pattern = "^(user|group)$")]
    kind: Option<String>,
    /// 1 to 500, default 50.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    limit: Option<String>,
    /// Chats to skip (the previous page's `nextOffset`), default 0.
    #[param(value_type = Option<u32>, minimum = 0)]
    offset: Option<String>,
}

/// `GET /api/v1/chats/`: the account's chats as WhatsApp Web lists them, newest activity first.
#[utoipa::path(
    tag = "chats",
    operation_id = "list_chats",
    security(("api_key" = [])),
    params(ChatListQuery),
    responses(
        (status = 200, description = "A page of chats, with `nextOffset` for the next", body = Envelope<ChatList>),
        (status = 400, description = "VALIDATION_ERROR naming the parameter (`unread`, `archived`, `kind`, `limit`, `offset`, `session`)", body = ErrorBody),
        (status = 409, description = "SESSION_NOT_CONNECTED", body = ErrorBody),
        (status = 502, description = "`WA_*` codes from WhatsApp Web", body = ErrorBody),
        (status = 503, description = "BROWSER_UNAVAILABLE", body = ErrorBody),
        (status = 504, description = "SEND_TIMEOUT: WhatsApp did not answer in time", body = ErrorBody)
    )
)]
#[get("/api/v1/chats/")]
pub async fn list(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    query: web::Query<ChatListQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let name = session_for(
        &p,
        &SessionQuery {
            session: q.session.clone(),
        },
        None,
    )?;
    let unread = flag("unread", q.unread.as_deref())?;
    let archived = flag("archived", q.archived.as_deref())?;
    let group = match q.kind.as_deref().map(str::trim) {
        None | Some("") => None,
        Some("user") => Some(false),
        Some("group") => Some(true),
        Some(_) => return Err(ApiError::validation("kind", "kind must be user or group")),
    };
    let limit = number_in("limit", q.limit.as_deref(), 1..=500, 50)?;
    let offset = number_in("offset", q.offset.as_deref(), 0..=usize::MAX, 0)?;
    let handle = connected_session(&state, &p, &name)?;
    let chats: Vec<WaChat> = handle
        .list_chats()
        .await?
        .into_iter()
        .filter(|c| unread.is_none_or(|u| (c.unread_count > 0) == u))
        .filter(|c| archived.is_none_or(|a| c.archived == a))
        .filter(|c| group.is_none_or(|g| c.is_group == g))
        .collect();
    let total = chats.len();
    let page: Vec<_> = chats.iter().skip(offset).take(limit).map(chat_json).collect();
    let next = (offset + page.len() < total).then_some(offset + page.len());
    Ok(ok(json!({ "chats": page, "total": total, "nextOffset": next })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChatMessagesQuery {
    /// Session name (default `default`).
    #[param(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    session: Option<String>,
    /// A WhatsApp message id of this chat (the previous page's `nextBefore`): only messages
    /// before it. Absent: the newest.
    before: Option<String>,
    /// 1 to 100, default 20.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
}

/// A WhatsApp message id: `true_…`/`false_…` with a chat id in it.
fn message_id_field(raw: &str) -> Result<String, ApiError> {
    let t = raw.trim();
    let shaped = (t.starts_with("true_") || t.starts_with("false_")) && t.contains('@') && t.len() <= 200;
    if shaped && !t.chars().any(char::is_whitespace) {
        Ok(t.to_string())
    } else {
        Err(ApiError::validation(
            "before",
            "before must be a WhatsApp message id of this chat (e.g. false_15550002002@c.us_3EB0…), as nextBefore gives it",
        ))
    }
}

/// `GET /api/v1/chats/{chatId}/messages/`: the chat's history, newest first, paged backwards
/// with `before`. Fetched from WhatsApp Web (which loads earlier messages from the phone when the
/// page asks for them) and merged with what wagate stored, one entry per WhatsApp id.
#[utoipa::path(
    tag = "chats",
    operation_id = "list_chat_messages",
    security(("api_key" = [])),
    params(
        ("chatId" = String, Path, description = "A phone number or a chat id (`…@c.us`, `…@g.us`, `…@lid`)", example = "15550002002@c.us"),
        ChatMessagesQuery
    ),
    responses(
        (status = 200, description = "Newest first, with `nextBefore` for the earlier page", body = Envelope<ChatMessagePage>),
        (status = 400, description = "VALIDATION_ERROR (`chatId`, `before`, `limit`, `session`)", body = ErrorBody),
        (status = 409, description = "SESSION_NOT_CONNECTED", body = ErrorBody),
        (status = 502, description = "`WA_*` codes from WhatsApp Web (WA_MESSAGE_NOT_FOUND: `before` is not in this chat)", body = ErrorBody),
        (status = 503, description = "BROWSER_UNAVAILABLE", body = ErrorBody),
        (status = 504, description = "SEND_TIMEOUT: WhatsApp did not answer in time", body = ErrorBody)
    )
)]
#[get("/api/v1/chats/{chatId}/messages/")]
pub async fn messages(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    chat_id: web::Path<String>,
    query: web::Query<ChatMessagesQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let name = session_for(
        &p,
        &SessionQuery {
            session: q.session.clone(),
        },
        None,
    )?;
    let chat = chat_field("chatId", Some(chat_id.as_str()))?;
    let before = q.before.as_deref().map(message_id_field).transpose()?;
    let limit = number_in("limit", q.limit.as_deref(), 1..=100, 20)?;
    let handle = connected_session(&state, &p, &name)?;
    let session_id = handle.key.id;
    // A cursor wagate stored but the page no longer has is placed by its time.
    let before_row = match &before {
        Some(id) => state.db.messages_by_wa_ids(session_id, vec![id.clone()]).await?.pop(),
        None => None,
    };
    let before_t = before_row
        .as_ref()
        .and_then(|r| r.sent_at)
        .map(|t| t.and_utc().timestamp());
    let fetched = handle.chat_messages(&chat, before.clone(), before_t, limit).await?;
    let merged = history::merge(
        &state.db,
        session_id,
        &chat,
        &fetched,
        before.as_deref(),
        before_t,
        limit,
    )
    .await?;
    Ok(ok(json!({
        "chatId": fetched.chat.id,
        "messages": merged.items.iter().map(|(m, row)| {
            let mut v = match m {
                Some(m) => page_message_json(m),
                None => row.as_ref().map(history::stored_as_page).unwrap_or_default(),
            };
            v["source"] = json!(match (m, row) { (Some(_), Some(_)) => "both", (Some(_), None) => "page", _ => "stored" });
            v["stored"] = row.as_ref().map(message_json).unwrap_or(serde_json::Value::Null);
            v
        }).collect::<Vec<_>>(),
        "nextBefore": merged.next_before,
    })))
}
