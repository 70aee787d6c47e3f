//! `/api/v1/messages/…` and `/api/v1/contacts/check/`.
//!
//! The seed's flow: the session must be connected; a row is created `pending`; the actor sends;
//! the row becomes `sent` with WhatsApp's id or `failed` with the error — never left `pending`,
//! even when the client hangs up mid-send (the send runs as a task of its own).

use crate::api_common::views::message_json;
use crate::error_code::ErrorCode;
use crate::http::body::Json;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::NaiveDateTime;
use serde::Deserialize;
use serde_json::json;

use super::error::{ApiError, ok};
use super::extract::ApiKey;
use super::reply_to::{ReplyTo, quoted_message};
use super::schemas::{ContactCheck, Envelope, ErrorBody, Message, MessagePage, SendQueued, SendResult};
use super::selector::{SessionQuery, session_for};
use crate::AppState;
use crate::auth::Principal;
use crate::db::{MessageDetails, MessageFilter, MessageKind, MessageRow, MessageStatus, NewMessage};
use crate::sessions::{ChatId, SessionError, SessionHandle, SessionState};

/// WhatsApp's own limit on a text message is 65,536 characters.
pub const MAX_TEXT_CHARS: usize = 65_536;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SendText {
    /// A phone number in international format (`+1 555 000 2002`) or a chat id (`…@c.us`, `…@g.us`, `…@lid`).
    #[schema(required = true, nullable = false, min_length = 1)]
    recipient: Option<String>,
    /// The text, 1 to 65,536 characters.
    #[schema(required = true, nullable = false, min_length = 1, max_length = 65536)]
    message: Option<String>,
    /// Session name (default `default`); wins over `?session=`.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    session: Option<String>,
    /// Also mark the chat read (a read receipt) when the message is sent. Default false.
    #[serde(rename = "markRead")]
    mark_read: Option<bool>,
    /// Reply to (quote) this message of the same chat: its `dbId` or WhatsApp id.
    #[serde(rename = "replyTo")]
    reply_to: Option<ReplyTo>,
    /// Users the text mentions (`@<number>` in the text shows them): phone numbers or user ids
    /// (`…@c.us`, `…@lid`), at most 1024.
    #[schema(max_items = 1024)]
    mentions: Option<Vec<String>>,
    /// The message key id, chosen by the client: 16 to 32 uppercase hex digits, new in the
    /// session. The message's WhatsApp id becomes `true_<chat>_<id>`. Default: wagate picks one.
    #[schema(pattern = "^[0-9A-F]{16,32}$")]
    id: Option<String>,
}

/// A yes/no form field: `true`/`1`/`yes` or `false`/`0`/`no` (any case); 400 naming the field otherwise.
pub fn flag_field(field: &str, raw: &str) -> Result<bool, ApiError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" | "" => Ok(false),
        _ => Err(ApiError::validation(field, format!("{field} must be true or false"))),
    }
}

pub fn recipient(raw: Option<&str>) -> Result<ChatId, ApiError> {
    chat_field("recipient", raw)
}

/// A chat id or phone number in `field`: 400 `VALIDATION_ERROR` naming the field and saying
/// what would be accepted.
pub fn chat_field(field: &str, raw: Option<&str>) -> Result<ChatId, ApiError> {
    let raw = raw.ok_or_else(|| {
        ApiError::validation(
            field,
            format!("{field} is required: a phone number in international format or a chat id"),
        )
    })?;
    ChatId::parse(raw).map_err(|e| ApiError::validation(field, format!("{field} {}", e.0)))
}

/// An `Idempotency-Key` bound to the request it came with: a retry of the same request gets the
/// first answer; the same key with another request is refused (422 `IDEMPOTENCY_KEY_REUSED`).
#[derive(Debug, Clone)]
pub struct Idempotency {
    pub key: String,
    /// Hex SHA-256 over the endpoint, the session and the request's fields, each length-prefixed
    /// (so `("ab","c")` and `("a","bc")` differ).
    pub fingerprint: String,
}

impl Idempotency {
    pub fn bind(key: String, endpoint: &str, session: &str, fields: &[&[u8]]) -> Self {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for part in [endpoint.as_bytes(), session.as_bytes()].iter().chain(fields) {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        Idempotency {
            key,
            fingerprint: hex::encode(h.finalize()),
        }
    }
}

pub fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    match req.headers().get("idempotency-key") {
        None => Ok(None),
        Some(v) => {
            const RULE: &str = "Idempotency-Key must be 1 to 255 printable ASCII characters (letters, digits, spaces and \
                                punctuation such as - _ . : /; a UUID is a good choice)";
            let Ok(k) = v.to_str() else {
                return Err(ApiError::validation(
                    "Idempotency-Key",
                    format!("Idempotency-Key has characters outside ASCII: {RULE}"),
                ));
            };
            let k = k.trim();
            if k.is_empty() || k.len() > 255 || !k.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
                Err(ApiError::validation("Idempotency-Key", RULE))
            } else {
                Ok(Some(k.to_string()))
            }
        }
    }
}

/// The session a send goes to: connected, or linked and away (the message waits in its queue; a
/// stopped session is started). A session that was never linked, or is logged out, answers the
/// seed's 409. The recipient is not checked here: the session's queue worker does that, once.
pub async fn sending_session(state: &AppState, p: &Principal, name: &str) -> Result<i64, ApiError> {
    if let Some(h) = state.sessions.get(p.user_id, name)
        && h.info().state == SessionState::Connected
    {
        return Ok(h.key.id);
    }
    let row = state.db.session_by_name(p.user_id, name).await?;
    match row {
        Some(r) if r.phone_number.is_some() && r.status != SessionState::LoggedOut.as_str() => {
            if state.sessions.get(p.user_id, name).is_none() {
                state.sessions.start(p.user_id, name).await?;
            }
            Ok(r.id)
        }
        _ => Err(SessionError::NotConnected.into()),
    }
}

/// The connected session, or the seed's 409 (for calls that need WhatsApp now).
pub fn connected_session(state: &AppState, p: &Principal, name: &str) -> Result<SessionHandle, ApiError> {
    state
        .sessions
        .get(p.user_id, name)
        .filter(|h| h.info().state == SessionState::Connected)
        .ok_or_else(|| SessionError::NotConnected.into())
}

/// The answer to a send, also what an idempotent retry gets again.
pub fn send_answer(row: &MessageRow, success_message: &str) -> Result<HttpResponse, ApiError> {
    match row.status {
        MessageStatus::Queued => Ok(accepted(row)),
        // Pending with a WhatsApp id: sent, the server ack has not come yet.
        MessageStatus::Pending if row.wa_message_id.is_none() => Err(ApiError::coded(
            ErrorCode::SendInProgress,
            "A send with this Idempotency-Key is still in progress",
        )),
        MessageStatus::Failed => Err(ApiError::coded(
            ErrorCode::SendFailed,
            format!(
                "Sending failed: {}",
                row.error_message.as_deref().unwrap_or("unknown error")
            ),
        )),
        _ => {
            let mut data = json!({
                "messageId": row.wa_message_id,
                "timestamp": row.sent_at.map(|t| t.and_utc().timestamp()),
                "dbId": row.id,
                "status": row.status,
                "message": success_message,
            });
            if let Some(path) = &row.media_path {
                data["filePath"] = json!(path);
            }
            Ok(ok(data))
        }
    }
}

/// Hands the row to the outbox; then answers at once (`async`), or when its send finished, or
/// with 202 when that takes longer than `sending.wait_secs`. The message goes out either way.
pub async fn enqueue_and_answer(
    state: &web::Data<AppState>,
    p: &Principal,
    row: NewMessage,
    run_async: bool,
    done: &str,
) -> Result<HttpResponse, ApiError> {
    let idem = row.idempotency_key.clone().map(|key| Idempotency {
        key,
        fingerprint: row.idempotency_fingerprint.clone().unwrap_or_default(),
    });
    let media = row.media_path.clone();
    let submitted = match state.sessions.outbox().submit(row).await {
        Err(crate::db::DbError::Conflict) if idem.is_some() => {
            // A retry raced the first request for its idempotency key: the first one's answer.
            if let Some(path) = media {
                state.sessions.media().remove(&path).await;
            }
            return replay(state, p, idem.as_ref(), done)
                .await?
                .ok_or_else(|| ApiError::Internal("idempotency".into()));
        }
        Err(e) => {
            // Nothing stored: the upload this row would have sent goes too.
            if let Some(path) = media {
                state.sessions.media().remove(&path).await;
            }
            return Err(e.into());
        }
        Ok(submitted) => submitted,
    };
    if run_async {
        return Ok(accepted(&submitted.row));
    }
    let mut row = submitted.row.clone();
    match submitted
        .outcome(Duration::from_secs(state.settings.sending.wait_secs))
        .await
    {
        Some(Ok(sent)) => {
            row.status = sent.status();
            row.sent_at = chrono::DateTime::from_timestamp(sent.t, 0).map(|t| t.naive_utc());
            row.wa_message_id = Some(sent.id);
            send_answer(&row, done)
        }
        Some(Err(e)) => Err(e.into()),
        // Still in line (or the worker took it before we listened): its row tells.
        None => {
            let row = state.db.message_for_user(p.user_id, row.id).await?.unwrap_or(row);
            if row.status == MessageStatus::Queued
                || (row.status == MessageStatus::Pending && row.wa_message_id.is_none())
            {
                return Ok(accepted(&row));
            }
            send_answer(&row, done)
        }
    }
}

/// 202: the message is in the session's queue (or being sent) and will go out.
pub fn accepted(row: &MessageRow) -> HttpResponse {
    HttpResponse::Accepted().json(json!({
        "success": true,
        "data": {
            "dbId": row.id,
            "status": row.status,
            "expiresAt": row.expires_at.map(|t| t.and_utc()),
            "message": "Message queued; follow it with GET /api/v1/messages/{dbId}/ or the events",
        }
    }))
}

pub fn new_message(
    p: &Principal,
    session_id: i64,
    chat: &ChatId,
    kind: MessageKind,
    idem: Option<Idempotency>,
) -> NewMessage {
    let mut row = NewMessage::outgoing(
        p.user_id,
        session_id,
        chat.to_string(),
        chat.phone().map(str::to_string),
        kind,
    );
    row.idempotency_key = idem.as_ref().map(|i| i.key.clone());
    row.idempotency_fingerprint = idem.map(|i| i.fingerprint);
    row
}

/// What every send stores beyond its content, checked against its session: the message it
/// quotes (`replyTo`: 400 or 404 as [`quoted_message`] says) and the key id its client chose
/// (`id`: 409 `CONFLICT` when the session has it already).
pub async fn send_details(
    state: &AppState,
    p: &Principal,
    session_id: i64,
    chat: &ChatId,
    reply_to: Option<&ReplyTo>,
    key_id: Option<String>,
) -> Result<MessageDetails, ApiError> {
    super::client_id::ensure_unused(state, session_id, key_id.as_deref()).await?;
    let quoted_message_id = match reply_to {
        Some(r) => Some(quoted_message(state, p, session_id, chat, r).await?),
        None => None,
    };
    Ok(MessageDetails {
        quoted_message_id,
        key_id,
        ..Default::default()
    })
}

/// An idempotent retry: the first request's answer, without sending again. A key older than
/// `sending.idempotency_ttl_secs` is forgotten first; a key used for another request is 422.
pub async fn replay(
    state: &AppState,
    p: &Principal,
    idem: Option<&Idempotency>,
    msg: &str,
) -> Result<Option<HttpResponse>, ApiError> {
    let Some(idem) = idem else { return Ok(None) };
    let ttl = chrono::Duration::seconds(state.settings.sending.idempotency_ttl_secs as i64);
    let cutoff = crate::db::now() - ttl;
    match state.db.message_by_idempotency_key(p.user_id, &idem.key).await? {
        // Its time to live is over: the key is freed (a write only then, not on every request).
        Some(row) if row.created_at < cutoff => {
            state.db.forget_idempotency_key(p.user_id, &idem.key, cutoff).await?;
            Ok(None)
        }
        // Rows from before fingerprints were stored match any request.
        Some(row)
            if row
                .idempotency_fingerprint
                .as_ref()
                .is_some_and(|f| *f != idem.fingerprint) =>
        {
            Err(ApiError::coded(
                ErrorCode::IdempotencyKeyReused,
                format!(
                    "This Idempotency-Key was used for a different request (message {}); a new message needs a new key",
                    row.id
                ),
            ))
        }
        Some(row) => send_answer(&row, msg).map(Some),
        None => Ok(None),
    }
}

#[utoipa::path(
    tag = "messages",
    operation_id = "send_text",
    security(("api_key" = [])),
    params(
        SessionQuery,
        SendMode,
        ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~][ -~]{0,254}$", description = "1 to 255 printable ASCII characters: a retry with the same key returns the first result instead of sending again")
    ),
    request_body(content = SendText, example = json!({"recipient": "+15550002002", "message": "Hello"})),
    responses(
        (status = 200, description = "Sent: `message` is `Message sent successfully`", body = Envelope<SendResult>),
        (status = 202, description = "Queued (`?async=true`, a session that is away, or longer than `sending.wait_secs`); it still goes out", body = Envelope<SendQueued>),
        (status = 400, description = "VALIDATION_ERROR naming the field (recipient, message, replyTo, mentions[i], id, session, Idempotency-Key), BAD_REQUEST (malformed JSON, not `application/json`)", body = ErrorBody),
        (status = 409, description = "SESSION_NOT_CONNECTED (the session was never linked, or is logged out), SEND_IN_PROGRESS (an `Idempotency-Key` whose first send has not finished), CONFLICT (`id` already used in the session)", body = ErrorBody),
        (status = 422, description = "RECIPIENT_NOT_ON_WHATSAPP, IDEMPOTENCY_KEY_REUSED (the key was used for a different request)", body = ErrorBody),
        (status = 429, description = "SESSION_LIMIT_REACHED (a linked stopped session could not be started), RATE_LIMITED", body = ErrorBody),
        (status = 502, description = "`WA_*` codes from WhatsApp Web (with `detail`), SEND_FAILED (an idempotent retry of a failed send)", body = ErrorBody),
        (status = 503, description = "BROWSER_UNAVAILABLE, SERVICE_UNAVAILABLE (database unreachable)", body = ErrorBody),
        (status = 504, description = "SEND_TIMEOUT: WhatsApp did not answer in time", body = ErrorBody)
    )
)]
#[post("/api/v1/messages/send-text/")]
pub async fn send_text(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    req: HttpRequest,
    query: web::Query<SessionQuery>,
    mode: web::Query<SendMode>,
    body: Json<SendText>,
) -> Result<HttpResponse, ApiError> {
    const DONE: &str = "Message sent successfully";
    let body = body.into_inner();
    let name = session_for(&p, &query, body.session.as_deref())?;
    let chat = recipient(body.recipient.as_deref())?;
    let text = body.message.unwrap_or_default();
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
    let reply_to = body.reply_to.map(ReplyTo::checked).transpose()?;
    let reply_print = reply_to.as_ref().map(ReplyTo::fingerprint);
    let mentions = super::mentions::checked(body.mentions)?;
    let mention_print = super::mentions::fingerprint(&mentions);
    let client_id = super::client_id::checked(body.id)?;
    let idem = idempotency_key(&req)?.map(|key| {
        let mut fields = vec![chat.as_str().as_bytes(), text.as_bytes()];
        // Only when given: a retry of a request from before replies keeps its fingerprint.
        fields.extend(reply_print.as_deref().map(str::as_bytes));
        fields.extend(mention_print.as_deref().map(str::as_bytes));
        fields.extend(client_id.as_deref().map(str::as_bytes));
        Idempotency::bind(key, "send-text", &name, &fields)
    });
    if let Some(answer) = replay(&state, &p, idem.as_ref(), DONE).await? {
        return Ok(answer);
    }
    let session_id = sending_session(&state, &p, &name).await?;
    let base = super::messages::send_details(&state, &p, session_id, &chat, reply_to.as_ref(), client_id).await?;
    let mut row = new_message(&p, session_id, &chat, MessageKind::Chat, idem);
    row.body = Some(text);
    row.mark_read = body.mark_read.unwrap_or(false);
    row.details = MessageDetails {
        mentions: super::mentions::stored(mentions),
        ..base
    }
    .to_column();
    enqueue_and_answer(&state, &p, row, mode.into_inner().is_async(), DONE).await
}

/// `?async=true`: answer 202 as soon as the message is queued.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SendMode {
    /// `true` (or `1`, `yes`): answer 202 as soon as the message is queued; anything else waits.
    #[serde(rename = "async")]
    #[param(rename = "async")]
    run_async: Option<String>,
}

impl SendMode {
    pub fn is_async(&self) -> bool {
        matches!(self.run_async.as_deref(), Some("true" | "1" | "yes"))
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this session's messages.
    #[param(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    session: Option<String>,
    /// queued, pending, sent, delivered, read, played, failed or received.
    #[param(pattern = "^(queued|pending|sent|delivered|read|played|failed|received)$")]
    status: Option<String>,
    /// `in` or `out`.
    #[param(pattern = "^(in|out)$")]
    direction: Option<String>,
    /// Only this chat (a phone number or chat id).
    #[param(min_length = 1)]
    recipient: Option<String>,
    /// Created at or after: RFC 3339 (`2026-11-29T12:00:00Z`) or unix seconds.
    #[param(
        pattern = "^([0-9]+|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2}))$"
    )]
    since: Option<String>,
    /// A page: ids below this (the previous page's `nextBefore`).
    before: Option<i64>,
    /// 1 to 500, default 50.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

/// `GET /api/v1/messages/`: newest first; page with `before=<id>` (the response's `nextBefore`).
#[utoipa::path(
    tag = "messages",
    operation_id = "list_messages",
    security(("api_key" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "Newest first, with `nextBefore` for the next page", body = Envelope<MessagePage>),
        (status = 400, description = "VALIDATION_ERROR naming the filter at fault, BAD_REQUEST (a query parameter of the wrong type)", body = ErrorBody),
        (status = 404, description = "SESSION_NOT_FOUND", body = ErrorBody)
    )
)]
#[get("/api/v1/messages/")]
pub async fn list(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::validation("limit", "limit must be between 1 and 500"));
    }
    let session_id = match q.session.as_deref() {
        Some(name) => Some(
            state
                .db
                .session_by_name(p.user_id, name)
                .await?
                .ok_or_else(|| ApiError::session_not_found(name))?
                .id,
        ),
        None => None,
    };
    if let Some(s) = q.status.as_deref()
        && MessageStatus::parse(s).is_none()
    {
        return Err(ApiError::validation("status", MessageStatus::unknown(s)));
    }
    if let Some(d) = q.direction.as_deref()
        && d != "in"
        && d != "out"
    {
        return Err(ApiError::validation("direction", "direction must be in or out"));
    }
    let since = match q.since.as_deref() {
        Some(s) => Some(parse_time(s).ok_or_else(|| {
            ApiError::validation(
                "since",
                "since must be an RFC 3339 time (2026-11-29T12:00:00Z) or unix seconds",
            )
        })?),
        None => None,
    };
    let chat_id = match q.recipient.as_deref() {
        Some(r) => Some(recipient(Some(r))?.to_string()),
        None => None,
    };
    let rows = state
        .db
        .list_messages(
            Some(p.user_id),
            MessageFilter {
                session_id,
                status: q.status,
                direction: q.direction,
                chat_id,
                since,
                before_id: q.before,
                limit,
            },
        )
        .await?;
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    Ok(ok(
        json!({ "messages": rows.iter().map(message_json).collect::<Vec<_>>(), "nextBefore": next }),
    ))
}

fn parse_time(s: &str) -> Option<NaiveDateTime> {
    if let Ok(secs) = s.parse::<i64>() {
        return chrono::DateTime::from_timestamp(secs, 0).map(|t| t.naive_utc());
    }
    chrono::DateTime::parse_from_rfc3339(s).ok().map(|t| t.naive_utc())
}

/// The caller's message with this id; another user's answers exactly like a missing one.
async fn own_message(state: &AppState, user_id: i64, id: i64) -> Result<MessageRow, ApiError> {
    state
        .db
        .message_for_user(user_id, id)
        .await?
        .ok_or_else(|| ApiError::coded(ErrorCode::MessageNotFound, format!("No message {id}")))
}

#[utoipa::path(
    tag = "messages",
    operation_id = "get_message",
    security(("api_key" = [])),
    params(("id" = i64, Path, description = "The message's `dbId`")),
    responses(
        (status = 200, description = "The message", body = Envelope<Message>),
        (status = 404, description = "MESSAGE_NOT_FOUND (also another user's message)", body = ErrorBody)
    )
)]
#[get("/api/v1/messages/{id}/")]
pub async fn get_one(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let row = own_message(&state, p.user_id, id).await?;
    Ok(ok(message_json(&row)))
}

/// `GET /api/v1/messages/{id}/media`: the stored file of a message (sent or received).
#[utoipa::path(
    tag = "messages",
    operation_id = "get_message_media",
    security(("api_key" = [])),
    params(
        ("id" = i64, Path, description = "The message's `dbId`"),
        ("Range" = Option<String>, Header, description = "`bytes=<from>-<to>`: part of the file")
    ),
    responses(
        (status = 200, description = "The file with its MIME type and `Content-Disposition: attachment` (RFC 6266)", content_type = "*/*", body = Vec<u8>),
        (status = 206, description = "The requested range", content_type = "*/*", body = Vec<u8>),
        (status = 404, description = "MESSAGE_NOT_FOUND, MEDIA_NOT_FOUND (no file, or deleted by retention)", body = ErrorBody),
        (status = 416, description = "RANGE_NOT_SATISFIABLE", body = ErrorBody)
    )
)]
#[get("/api/v1/messages/{id}/media")]
pub async fn media_file(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    id: web::Path<i64>,
    req: actix_web::HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let row = own_message(&state, p.user_id, id).await?;
    let missing = || ApiError::coded(ErrorCode::MediaNotFound, format!("Message {id} has no stored media"));
    let relative = row.media_path.as_deref().ok_or_else(missing)?;
    // This node's copy, or (cluster mode) the one the owner put in the store.
    let local = state.sessions.media().local(relative).await.ok_or_else(missing)?;
    let file = actix_files::NamedFile::open_async(local).await.map_err(|_| missing())?;
    let mime = row
        .media_mime
        .as_deref()
        .and_then(|m| m.parse::<mime_guess::mime::Mime>().ok())
        .unwrap_or(mime_guess::mime::APPLICATION_OCTET_STREAM);
    // Stored names may predate the sanitiser: `attachment` sanitises again.
    let name = row.media_filename.as_deref().unwrap_or(relative);
    Ok(file
        .set_content_type(mime)
        .set_content_disposition(crate::media::attachment(name))
        .into_response(&req))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CheckQuery {
    /// A phone number in international format.
    #[param(required = true, nullable = false, pattern = "^\\+?[1-9][0-9]{6,14}$")]
    phone: Option<String>,
    /// Session name (default `default`).
    #[param(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    session: Option<String>,
}

/// `GET /api/v1/contacts/check/?phone=` → `{exists, chatId}`.
#[utoipa::path(
    tag = "contacts",
    operation_id = "check_contact",
    security(("api_key" = [])),
    params(CheckQuery),
    responses(
        (status = 200, description = "Whether the number is on WhatsApp", body = Envelope<ContactCheck>),
        (status = 400, description = "VALIDATION_ERROR (`phone` missing or not a phone number, `session`)", body = ErrorBody),
        (status = 409, description = "SESSION_NOT_CONNECTED", body = ErrorBody),
        (status = 502, description = "`WA_*` codes from WhatsApp Web", body = ErrorBody),
        (status = 503, description = "BROWSER_UNAVAILABLE, SERVICE_UNAVAILABLE", body = ErrorBody),
        (status = 504, description = "SEND_TIMEOUT: WhatsApp did not answer in time", body = ErrorBody)
    )
)]
#[get("/api/v1/contacts/check/")]
pub async fn check(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    query: web::Query<CheckQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let name = session_for(&p, &SessionQuery { session: q.session }, None)?;
    let chat = chat_field("phone", q.phone.as_deref())?;
    if chat.phone().is_none() {
        return Err(ApiError::validation(
            "phone",
            "phone must be a phone number (or a …@c.us id), not a group or @lid id",
        ));
    }
    let handle = connected_session(&state, &p, &name)?;
    let found = handle.check_number(chat.clone()).await?;
    Ok(ok(
        json!({ "phone": chat.phone(), "exists": found.is_some(), "chatId": found }),
    ))
}
