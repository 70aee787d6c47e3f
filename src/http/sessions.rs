//! `/api/v1/sessions/…`: the caller's WhatsApp sessions. A key only ever sees its own user's
//! sessions; another user's session answers exactly like a missing one.

use crate::api_common::views::{capabilities_json, row_json, status_json};
use crate::error_code::ErrorCode;
use std::time::Duration;

use actix_web::http::header::{ACCEPT, ContentType};
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ApiError, ok};
use super::extract::ApiKey;
use super::schemas::{
    Envelope, ErrorBody, SessionAction, SessionCapabilities, SessionDeleted, SessionHistory, SessionInit, SessionQr,
    SessionStatus,
};
use super::selector::{SessionQuery, optional_json, session_for};
use crate::AppState;
use crate::auth::Principal;
use crate::db::SessionRow;
use crate::sessions::{SessionHandle, SessionState, qr};

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct InitBody {
    /// Session name (default `default`).
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    session: Option<String>,
    /// Link with a pairing code instead of a QR: the phone's number in international format.
    #[schema(pattern = "^\\+?[1-9][0-9]{6,14}$")]
    phone_number: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
struct SessionBody {
    /// Session name (default `default`); wins over `?session=`.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    session: Option<String>,
}

/// The caller's session row of this name, or 404.
async fn own_row(state: &AppState, user_id: i64, name: &str) -> Result<SessionRow, ApiError> {
    state
        .db
        .session_by_name(user_id, name)
        .await?
        .ok_or_else(|| ApiError::session_not_found(name))
}

/// The session a control call names (query or body), which must be the caller's.
async fn selected_row(
    state: &AppState,
    p: &Principal,
    query: &SessionQuery,
    body: &[u8],
) -> Result<(String, SessionRow), ApiError> {
    let body: SessionBody = optional_json(body)?;
    let name = session_for(p, query, body.session.as_deref())?;
    let row = own_row(state, p.user_id, &name).await?;
    Ok((name, row))
}

/// `POST /api/v1/sessions/init/`: starts (or returns) the session and waits a bounded time for
/// the first QR code. With `phoneNumber`, a pairing code is requested instead.
#[utoipa::path(
    tag = "sessions",
    operation_id = "init_session",
    security(("api_key" = [])),
    params(SessionQuery),
    request_body(content = Option<InitBody>, description = "Optional", example = json!({"session": "default", "phoneNumber": "15550001234"})),
    responses(
        (status = 200, description = "`qr_pending` with `qrCode` (and a `pairingCode` when `phoneNumber` was given), `connected`, or still starting", body = Envelope<SessionInit>),
        (status = 400, description = "VALIDATION_ERROR (`session`, `phoneNumber`), BAD_REQUEST (malformed JSON)", body = ErrorBody),
        (status = 409, description = "SESSION_STATE, SESSION_NOT_CONNECTED: the pairing code could not be requested in this state", body = ErrorBody),
        (status = 429, description = "SESSION_LIMIT_REACHED (`sessions.max_concurrent`), RATE_LIMITED", body = ErrorBody),
        (status = 502, description = "SESSION_FAILED (with the reason), `WA_*` codes", body = ErrorBody),
        (status = 503, description = "BROWSER_UNAVAILABLE, SERVICE_UNAVAILABLE", body = ErrorBody),
        (status = 504, description = "SEND_TIMEOUT: the page did not answer in time", body = ErrorBody)
    )
)]
#[post("/api/v1/sessions/init/")]
pub async fn init(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    query: web::Query<SessionQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: InitBody = optional_json(&body)?;
    let name = session_for(&p, &query, body.session.as_deref())?;
    let phone = match body.phone_number.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(raw) => {
            let digits: String = raw
                .trim_start_matches('+')
                .chars()
                .filter(|c| !" -()".contains(*c))
                .collect();
            if !(7..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ApiError::validation(
                    "phoneNumber",
                    "phoneNumber must be an international number of 7 to 15 digits",
                ));
            }
            Some(digits)
        }
        None => None,
    };
    let handle = state.sessions.start(p.user_id, &name).await?;
    let wait = Duration::from_secs(state.settings.sessions.qr_wait_secs);
    let info = handle
        .wait_for(wait, |i| {
            i.qr_png.is_some() || i.state == SessionState::Connected || i.state.is_terminal()
        })
        .await
        .unwrap_or_else(|| handle.info());
    match info.state {
        SessionState::Connected => Ok(ok(json!({
            "sessionId": name,
            "status": "connected",
            "phoneNumber": info.phone,
            "isReady": true,
            "message": "Session already connected.",
        }))),
        SessionState::Failed | SessionState::LoggedOut | SessionState::Stopped => Err(ApiError::coded(
            ErrorCode::SessionFailed,
            format!("The session could not start: {}", info.reason.unwrap_or_default()),
        )),
        _ if info.qr_png.is_some() => match phone {
            Some(phone) => {
                let code = handle.request_pairing_code(phone).await?;
                Ok(ok(json!({
                    "sessionId": name,
                    "status": "qr_pending",
                    "pairingCode": code,
                    "qrCode": info.qr_png,
                    "message": "Session initialized. Enter the pairing code in WhatsApp: Linked devices > Link with phone number.",
                })))
            }
            None => Ok(ok(json!({
                "sessionId": name,
                "status": "qr_pending",
                "qrCode": info.qr_png,
                "message": "Session initialized. Please scan the QR code with WhatsApp.",
            }))),
        },
        state => Ok(ok(json!({
            "sessionId": name,
            "status": state,
            "reason": info.reason,
            "message": "Session is starting; poll /api/v1/sessions/status/ or call init again.",
        }))),
    }
}

/// `GET /api/v1/sessions/status/`: from the actor's watch, never a browser round trip.
#[utoipa::path(
    tag = "sessions",
    operation_id = "session_status",
    security(("api_key" = [])),
    params(SessionQuery),
    responses(
        (status = 200, description = "The session's state, from its published state (no browser round trip)", body = Envelope<SessionStatus>),
        (status = 404, description = "SESSION_NOT_FOUND (also another user's session)", body = ErrorBody)
    )
)]
#[get("/api/v1/sessions/status/")]
pub async fn status(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    query: web::Query<SessionQuery>,
) -> Result<HttpResponse, ApiError> {
    let name = session_for(&p, &query, None)?;
    if let Some(h) = state.sessions.find(p.user_id, &name) {
        return Ok(ok(status_json(&name, &h.info())));
    }
    let row = own_row(&state, p.user_id, &name).await?;
    Ok(ok(row_json(&row)))
}

/// `GET /api/v1/sessions/capabilities/`: which capabilities the bridge resolved on the live
/// page and through which fallback, with WhatsApp Web's build. Read after each page load and
/// each connect; no browser round trip.
#[utoipa::path(
    tag = "sessions",
    operation_id = "session_capabilities",
    security(("api_key" = [])),
    params(SessionQuery),
    responses(
        (status = 200, description = "The capability report of the live page (`capabilities: null` while the browser starts)", body = Envelope<SessionCapabilities>),
        (status = 404, description = "SESSION_NOT_FOUND (also another user's session)", body = ErrorBody),
        (status = 409, description = "SESSION_NOT_STARTED: no live page (call init first)", body = ErrorBody)
    )
)]
#[get("/api/v1/sessions/capabilities/")]
pub async fn capabilities(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    query: web::Query<SessionQuery>,
) -> Result<HttpResponse, ApiError> {
    let name = session_for(&p, &query, None)?;
    match running(&state, p.user_id, &name) {
        Some(h) => Ok(ok(capabilities_json(&name, &h.info()))),
        None => {
            own_row(&state, p.user_id, &name).await?;
            Err(ApiError::coded(
                ErrorCode::SessionNotStarted,
                "The session is not running, so there is no live page to report on: call POST /api/v1/sessions/init/ first",
            ))
        }
    }
}

fn running(state: &AppState, user_id: i64, name: &str) -> Option<SessionHandle> {
    state.sessions.get(user_id, name)
}

/// `GET /api/v1/sessions/qr/`: a PNG with `Accept: image/png`, else JSON `{qrCode, raw}`.
#[utoipa::path(
    tag = "sessions",
    operation_id = "session_qr",
    security(("api_key" = [])),
    params(SessionQuery),
    responses(
        (status = 200, description = "With `Accept: image/png` the PNG, else JSON", content(
            (Envelope<SessionQr> = "application/json"),
            (Vec<u8> = "image/png")
        )),
        (status = 404, description = "SESSION_NOT_FOUND, QR_NOT_AVAILABLE (not waiting for a scan)", body = ErrorBody),
        (status = 409, description = "SESSION_NOT_STARTED: call init first", body = ErrorBody)
    )
)]
#[get("/api/v1/sessions/qr/")]
pub async fn qr_code(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    query: web::Query<SessionQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let name = session_for(&p, &query, None)?;
    let handle = match running(&state, p.user_id, &name) {
        Some(h) => h,
        None => {
            own_row(&state, p.user_id, &name).await?;
            return Err(ApiError::coded(
                ErrorCode::SessionNotStarted,
                "The session is not running: call POST /api/v1/sessions/init/ first",
            ));
        }
    };
    let info = handle.info();
    let Some(raw) = info.qr.clone() else {
        return Err(ApiError::coded(
            ErrorCode::QrNotAvailable,
            format!("No QR code to show: the session is {}", info.state.as_str()),
        ));
    };
    let wants_png = req
        .headers()
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("image/png"));
    if wants_png {
        let png = qr::png(&raw).ok_or_else(|| ApiError::Internal("QR rendering failed".into()))?;
        return Ok(HttpResponse::Ok()
            .content_type(ContentType::png())
            .insert_header(("Cache-Control", "no-store"))
            .body(png));
    }
    Ok(ok(json!({ "sessionId": name, "qrCode": info.qr_png, "raw": raw })))
}

#[utoipa::path(
    tag = "sessions",
    operation_id = "logout_session",
    security(("api_key" = [])),
    params(SessionQuery),
    request_body(content = Option<SessionBody>, description = "Optional", example = json!({"session": "default"})),
    responses(
        (status = 200, description = "Unlinked; the profile is wiped (`status: logged_out`)", body = Envelope<SessionAction>),
        (status = 400, description = "VALIDATION_ERROR (`session`), BAD_REQUEST (malformed JSON)", body = ErrorBody),
        (status = 404, description = "SESSION_NOT_FOUND", body = ErrorBody),
        (status = 409, description = "SESSION_NOT_CONNECTED: the session is not running", body = ErrorBody),
        (status = 502, description = "`WA_*` codes from WhatsApp Web", body = ErrorBody),
        (status = 503, description = "BROWSER_UNAVAILABLE, SERVICE_UNAVAILABLE", body = ErrorBody),
        (status = 504, description = "SEND_TIMEOUT: the page did not answer in time", body = ErrorBody)
    )
)]
#[post("/api/v1/sessions/logout/")]
pub async fn logout(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    query: web::Query<SessionQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (name, _) = selected_row(&state, &p, &query, &body).await?;
    let handle =
        running(&state, p.user_id, &name).ok_or_else(|| ApiError::from(crate::sessions::SessionError::NotConnected))?;
    handle.logout().await?;
    Ok(ok(
        json!({ "sessionId": name, "status": "logged_out", "message": "Logged out; the device is unlinked." }),
    ))
}

#[utoipa::path(
    tag = "sessions",
    operation_id = "restart_session",
    security(("api_key" = [])),
    params(SessionQuery),
    request_body(content = Option<SessionBody>, description = "Optional", example = json!({"session": "default"})),
    responses(
        (status = 200, description = "Restarting (`status: starting`); a linked session comes back without a QR", body = Envelope<SessionAction>),
        (status = 400, description = "VALIDATION_ERROR (`session`), BAD_REQUEST (malformed JSON)", body = ErrorBody),
        (status = 404, description = "SESSION_NOT_FOUND", body = ErrorBody),
        (status = 409, description = "SESSION_NOT_CONNECTED, SESSION_STATE", body = ErrorBody),
        (status = 429, description = "SESSION_LIMIT_REACHED, RATE_LIMITED", body = ErrorBody),
        (status = 503, description = "BROWSER_UNAVAILABLE, SERVICE_UNAVAILABLE", body = ErrorBody),
        (status = 504, description = "SEND_TIMEOUT: the page did not answer in time", body = ErrorBody)
    )
)]
#[post("/api/v1/sessions/restart/")]
pub async fn restart(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    query: web::Query<SessionQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (name, _) = selected_row(&state, &p, &query, &body).await?;
    match running(&state, p.user_id, &name) {
        Some(h) => h.restart().await?,
        None => drop(state.sessions.start(p.user_id, &name).await?),
    }
    Ok(ok(
        json!({ "sessionId": name, "status": "starting", "message": "Session restarting." }),
    ))
}

/// `DELETE /api/v1/sessions/`: stop and forget: the browser profile and history are deleted.
#[utoipa::path(
    tag = "sessions",
    operation_id = "delete_session",
    security(("api_key" = [])),
    params(SessionQuery),
    request_body(content = Option<SessionBody>, description = "Optional", example = json!({"session": "default"})),
    responses(
        (status = 200, description = "Stopped and forgotten: profile and history deleted", body = Envelope<SessionDeleted>),
        (status = 400, description = "VALIDATION_ERROR (`session`), BAD_REQUEST (malformed JSON)", body = ErrorBody),
        (status = 404, description = "SESSION_NOT_FOUND", body = ErrorBody)
    )
)]
#[delete("/api/v1/sessions/")]
pub async fn remove(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    query: web::Query<SessionQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (name, row) = selected_row(&state, &p, &query, &body).await?;
    state.sessions.delete(row.id).await?;
    Ok(ok(json!({ "sessionId": name, "deleted": true })))
}

#[utoipa::path(
    tag = "sessions",
    operation_id = "list_sessions",
    security(("api_key" = [])),
    responses((status = 200, description = "The caller's sessions with their states", body = Envelope<Vec<SessionStatus>>))
)]
#[get("/api/v1/sessions/")]
pub async fn list(state: web::Data<AppState>, ApiKey(p): ApiKey) -> Result<HttpResponse, ApiError> {
    let rows = state.db.list_sessions(Some(p.user_id)).await?;
    let items: Vec<Value> = rows
        .iter()
        .map(|row| match state.sessions.last_handle(row.id) {
            Some(h) => {
                let mut j = status_json(&row.name, &h.info());
                j["ackTimeouts"] = json!(row.ack_timeouts);
                j
            }
            None => row_json(row),
        })
        .collect();
    Ok(ok(items))
}

/// `GET /api/v1/sessions/events/`: the state history with reasons, newest first.
#[utoipa::path(
    tag = "sessions",
    operation_id = "session_history",
    security(("api_key" = [])),
    params(SessionQuery),
    responses(
        (status = 200, description = "State history with reasons, newest first", body = Envelope<SessionHistory>),
        (status = 404, description = "SESSION_NOT_FOUND", body = ErrorBody)
    )
)]
#[get("/api/v1/sessions/events/")]
pub async fn events(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    query: web::Query<SessionQuery>,
) -> Result<HttpResponse, ApiError> {
    let name = session_for(&p, &query, None)?;
    let row = own_row(&state, p.user_id, &name).await?;
    let events = state.db.session_events(row.id, 200).await?;
    let items: Vec<Value> = events
        .iter()
        .map(|e| json!({ "state": e.state, "reason": e.reason, "at": e.created_at.and_utc() }))
        .collect();
    Ok(ok(json!({ "sessionId": name, "events": items })))
}
