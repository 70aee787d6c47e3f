//! What the admin page reads and changes: every user's sessions, users, keys, messages, webhooks.

use crate::api_common::body::Json;
use actix_web::{HttpResponse, delete, get, post, put, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::login::Admin;
use crate::AppState;
use crate::api_common::error::{ApiError, ok};
use crate::api_common::new_key::CreateKey;
use crate::api_common::selector::{SessionQuery, session_name};
use crate::api_common::views::{capabilities_json, key_json, message_json, row_json, status_json, webhook_json};
use crate::api_common::webhook_config::{PutWebhook, no_webhook, save_webhook};
use crate::db::{MessageFilter, MessageStatus, SessionRow};

fn session_json(state: &AppState, row: &SessionRow, owner: Option<&str>) -> Value {
    let mut j = match state.sessions.last_handle(row.id) {
        Some(h) => {
            let info = h.info();
            let mut j = status_json(&row.name, &info);
            j["qrCode"] = json!(info.qr_png);
            j["pairingCode"] = json!(info.pairing_code);
            j["capabilities"] = capabilities_json(&row.name, &info);
            j
        }
        None => row_json(row),
    };
    j["id"] = json!(row.id);
    j["userId"] = json!(row.user_id);
    j["owner"] = json!(owner);
    j["ackTimeouts"] = json!(row.ack_timeouts);
    j
}

async fn own_session(state: &AppState, id: i64) -> Result<SessionRow, ApiError> {
    state
        .db
        .session_by_id(id)
        .await?
        .ok_or_else(|| ApiError::session_not_found(&id.to_string()))
}

#[get("/admin/api/sessions")]
pub async fn sessions(state: web::Data<AppState>, _a: Admin) -> Result<HttpResponse, ApiError> {
    let people = state.db.list_users().await?;
    let rows = state.db.list_sessions(None).await?;
    let items: Vec<Value> = rows
        .iter()
        .map(|r| {
            let owner = people.iter().find(|u| u.id == r.user_id).map(|u| u.username.as_str());
            session_json(&state, r, owner)
        })
        .collect();
    Ok(ok(items))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartSession {
    user_id: i64,
    name: String,
}

/// Starts (or wakes) a session; the page then polls it for the QR.
#[post("/admin/api/sessions")]
pub async fn start_session(
    state: web::Data<AppState>,
    _a: Admin,
    body: Json<StartSession>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let name = session_name(&SessionQuery::default(), Some(&body.name))?;
    if state.db.user_by_id(body.user_id).await?.is_none() {
        return Err(ApiError::validation(
            "user_id",
            format!("no user with id {}", body.user_id),
        ));
    }
    let handle = state.sessions.start(body.user_id, &name).await?;
    let row = own_session(&state, handle.key.id).await?;
    Ok(ok(session_json(&state, &row, None)))
}

/// One session with its live state, QR image and state history.
#[get("/admin/api/sessions/{id}")]
pub async fn session(state: web::Data<AppState>, _a: Admin, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let row = own_session(&state, id.into_inner()).await?;
    let history = state.db.session_events(row.id, 30).await?;
    let mut j = session_json(&state, &row, None);
    j["history"] = history
        .iter()
        .map(|e| json!({ "state": e.state, "reason": e.reason, "at": e.created_at.and_utc() }))
        .collect();
    Ok(ok(j))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ActionBody {
    phone: Option<String>,
}

#[post("/admin/api/sessions/{id}/{action}")]
pub async fn session_action(
    state: web::Data<AppState>,
    _a: Admin,
    path: web::Path<(i64, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (id, action) = path.into_inner();
    let row = own_session(&state, id).await?;
    let body: ActionBody = crate::api_common::selector::optional_json(&body)?;
    let running = state.sessions.get(row.user_id, &row.name);
    let not_running = || ApiError::from(crate::sessions::SessionError::NotRunning);
    match action.as_str() {
        "logout" => running.ok_or_else(not_running)?.logout().await?,
        "restart" => match running {
            Some(h) => h.restart().await?,
            None => drop(state.sessions.start(row.user_id, &row.name).await?),
        },
        "pairing-code" => {
            let digits: String = body
                .phone
                .unwrap_or_default()
                .chars()
                .filter(char::is_ascii_digit)
                .collect();
            if !(7..=15).contains(&digits.len()) {
                return Err(ApiError::validation(
                    "phone",
                    "phone must be an international number of 7 to 15 digits",
                ));
            }
            let code = running.ok_or_else(not_running)?.request_pairing_code(digits).await?;
            return Ok(ok(json!({ "pairingCode": code })));
        }
        other => return Err(ApiError::NotFound(format!("No session action {other}"))),
    }
    let row = own_session(&state, id).await?;
    Ok(ok(session_json(&state, &row, None)))
}

#[delete("/admin/api/sessions/{id}")]
pub async fn delete_session(
    state: web::Data<AppState>,
    _a: Admin,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let row = own_session(&state, id.into_inner()).await?;
    state.sessions.delete(row.id).await?;
    Ok(ok(json!({ "id": row.id, "deleted": true })))
}

#[get("/admin/api/users")]
pub async fn users(state: web::Data<AppState>, _a: Admin) -> Result<HttpResponse, ApiError> {
    let people = state.db.list_users().await?;
    Ok(ok(people
        .iter()
        .map(|u| {
            json!({
                "id": u.id, "username": u.username, "isAdmin": u.is_admin,
                "hasPassword": u.password_hash.is_some(), "createdAt": u.created_at.and_utc(),
            })
        })
        .collect::<Vec<_>>()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    username: String,
    password: Option<String>,
    #[serde(default)]
    is_admin: bool,
}

#[post("/admin/api/users")]
pub async fn create_user(state: web::Data<AppState>, _a: Admin, body: Json<NewUser>) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let username = body.username.trim().to_string();
    let valid = !username.is_empty()
        && username.len() <= 64
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
    if !valid {
        return Err(ApiError::validation(
            "username",
            "username must have 1 to 64 characters: letters, digits, '-', '_', '.' or '@'",
        ));
    }
    let password = body.password.filter(|p| !p.is_empty());
    if body.is_admin && password.is_none() {
        return Err(ApiError::validation("password", "an admin needs a password to log in"));
    }
    if password.as_ref().is_some_and(|p| p.chars().count() < 8) {
        return Err(ApiError::validation(
            "password",
            "password must have at least 8 characters",
        ));
    }
    let hash = match password {
        Some(p) => Some(state.auth.hash_password(p).await?),
        None => None,
    };
    let user = state
        .db
        .create_user(&username, hash, body.is_admin)
        .await
        .map_err(|e| match e {
            crate::db::DbError::Conflict => ApiError::Conflict(format!("A user named {username} exists")),
            other => other.into(),
        })?;
    Ok(ok(
        json!({ "id": user.id, "username": user.username, "isAdmin": user.is_admin }),
    ))
}

#[get("/admin/api/users/{id}/keys")]
pub async fn keys(state: web::Data<AppState>, _a: Admin, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let keys = state.db.list_keys(id.into_inner()).await?;
    Ok(ok(keys.iter().map(key_json).collect::<Vec<_>>()))
}

/// The key is in the answer once; it cannot be shown again. `scopes` and `sessions` limit it, as
/// on `POST /api/v1/apikeys/`.
#[post("/admin/api/users/{id}/keys")]
pub async fn create_key(
    state: web::Data<AppState>,
    _a: Admin,
    id: web::Path<i64>,
    body: Json<CreateKey>,
) -> Result<HttpResponse, ApiError> {
    let user_id = id.into_inner();
    if state.db.user_by_id(user_id).await?.is_none() {
        return Err(ApiError::NotFound(format!("No user with id {user_id}")));
    }
    let (label, grant) = body.into_inner().validate()?;
    let (row, key) = state.auth.create_scoped_key(user_id, &label, &grant).await?;
    let mut data = key_json(&row);
    data["key"] = json!(key);
    Ok(ok(data))
}

#[delete("/admin/api/keys/{id}")]
pub async fn revoke_key(state: web::Data<AppState>, _a: Admin, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    if !state.auth.revoke(id).await? {
        return Err(ApiError::NotFound(format!("No active API key with id {id}")));
    }
    Ok(ok(json!({ "id": id, "revoked": true })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessagesQuery {
    session_id: Option<i64>,
    status: Option<String>,
    limit: Option<i64>,
}

#[get("/admin/api/messages")]
pub async fn messages(
    state: web::Data<AppState>,
    _a: Admin,
    q: web::Query<MessagesQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let status = q.status.filter(|s| !s.is_empty());
    if let Some(s) = status.as_deref()
        && MessageStatus::parse(s).is_none()
    {
        return Err(ApiError::validation("status", MessageStatus::unknown(s)));
    }
    let rows = state
        .db
        .list_messages(
            None,
            MessageFilter {
                session_id: q.session_id,
                status,
                limit: q.limit.unwrap_or(100).clamp(1, 500),
                ..MessageFilter::default()
            },
        )
        .await?;
    Ok(ok(rows.iter().map(message_json).collect::<Vec<_>>()))
}

#[get("/admin/api/users/{id}/webhook")]
pub async fn get_webhook(state: web::Data<AppState>, _a: Admin, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let hook = state.db.webhook(id.into_inner()).await?.ok_or_else(no_webhook)?;
    Ok(ok(webhook_json(&hook)))
}

#[put("/admin/api/users/{id}/webhook")]
pub async fn put_webhook(
    state: web::Data<AppState>,
    _a: Admin,
    id: web::Path<i64>,
    body: Json<PutWebhook>,
) -> Result<HttpResponse, ApiError> {
    let user_id = id.into_inner();
    if state.db.user_by_id(user_id).await?.is_none() {
        return Err(ApiError::NotFound(format!("No user with id {user_id}")));
    }
    let hook = save_webhook(&state, user_id, body.into_inner()).await?;
    Ok(ok(webhook_json(&hook)))
}
