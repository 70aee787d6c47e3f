//! `GET` and `PATCH /api/v1/sessions/settings/`: how a session behaves on its own. Today: incoming
//! calls (`rejectCalls`, `callReplyText`). Settings are columns of the session's row, so the
//! session must exist (made by `POST /api/v1/sessions/init/`); it need not be connected.

use actix_web::{HttpResponse, get, patch, web};
use serde_json::{Map, Value, json};

use super::body::Json;
use super::error::{ApiError, ok};
use super::extract::ApiKey;
use super::schemas::{Envelope, ErrorBody, SessionSettingsView};
use super::selector::{SessionQuery, session_for};
use crate::AppState;
use crate::db::{CallSettings, CallSettingsChange};

/// The longest reply text to a rejected call, in characters (a short answer, not a letter).
pub const MAX_CALL_REPLY_CHARS: usize = 1000;

/// `PATCH` body: every field optional; what is left out stays as it is.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // documents the body; the handler reads the JSON itself to name a bad field
pub struct SessionSettingsBody {
    /// Session name (default `default`); wins over `?session=`.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    session: Option<String>,
    /// Reject incoming calls as soon as they ring.
    reject_calls: Option<bool>,
    /// Sent to the caller after an automatic rejection: 1 to 1000 characters; null removes it.
    #[schema(min_length = 1, max_length = 1000)]
    call_reply_text: Option<String>,
}

fn view(name: &str, s: CallSettings) -> Value {
    json!({ "session": name, "rejectCalls": s.reject_calls, "callReplyText": s.call_reply_text })
}

/// The change a `PATCH` body asks for, checked field by field (400 naming the field).
fn change_of(body: &Map<String, Value>) -> Result<CallSettingsChange, ApiError> {
    let mut change = CallSettingsChange::default();
    for (field, value) in body {
        match field.as_str() {
            "session" => {}
            "rejectCalls" => {
                let on = value
                    .as_bool()
                    .ok_or_else(|| ApiError::validation("rejectCalls", "rejectCalls must be true or false"))?;
                change.reject_calls = Some(on);
            }
            "callReplyText" => change.call_reply_text = Some(reply_text(value)?),
            other => {
                return Err(ApiError::validation(
                    other,
                    format!("unknown setting {other:?}; known: rejectCalls, callReplyText"),
                ));
            }
        }
    }
    Ok(change)
}

fn reply_text(value: &Value) -> Result<Option<String>, ApiError> {
    const FIELD: &str = "callReplyText";
    let text = match value {
        Value::Null => return Ok(None),
        Value::String(s) => s,
        _ => {
            return Err(ApiError::validation(
                FIELD,
                "callReplyText must be a text, or null to remove it",
            ));
        }
    };
    if text.trim().is_empty() {
        return Err(ApiError::validation(
            FIELD,
            "callReplyText must not be blank (null removes it)",
        ));
    }
    let chars = text.chars().count();
    if chars > MAX_CALL_REPLY_CHARS {
        return Err(ApiError::validation(
            FIELD,
            format!("callReplyText has {chars} characters; at most {MAX_CALL_REPLY_CHARS}"),
        ));
    }
    Ok(Some(text.clone()))
}

async fn session_id(state: &AppState, user_id: i64, name: &str) -> Result<i64, ApiError> {
    match state.db.session_by_name(user_id, name).await? {
        Some(row) => Ok(row.id),
        None => Err(ApiError::session_not_found(name)),
    }
}

/// `GET /api/v1/sessions/settings/`: the session's settings.
#[utoipa::path(
    tag = "sessions",
    operation_id = "get_session_settings",
    security(("api_key" = [])),
    params(SessionQuery),
    responses(
        (status = 200, description = "The session's settings", body = Envelope<SessionSettingsView>),
        (status = 404, description = "SESSION_NOT_FOUND", body = ErrorBody)
    )
)]
#[get("/api/v1/sessions/settings/")]
pub async fn get_settings(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    query: web::Query<SessionQuery>,
) -> Result<HttpResponse, ApiError> {
    let name = session_for(&p, &query, None)?;
    let id = session_id(&state, p.user_id, &name).await?;
    let settings = state
        .db
        .call_settings(id)
        .await?
        .ok_or_else(|| ApiError::session_not_found(&name))?;
    Ok(ok(view(&name, settings)))
}

/// `PATCH /api/v1/sessions/settings/` `{rejectCalls?, callReplyText?}`: changes what is given.
#[utoipa::path(
    tag = "sessions",
    operation_id = "update_session_settings",
    security(("api_key" = [])),
    params(SessionQuery),
    request_body(content = SessionSettingsBody, example = json!({"rejectCalls": true, "callReplyText": "I can't take calls here; please write."})),
    responses(
        (status = 200, description = "The session's settings after the change", body = Envelope<SessionSettingsView>),
        (status = 400, description = "VALIDATION_ERROR naming the field (`rejectCalls`, `callReplyText`, `session`, an unknown setting), BAD_REQUEST (malformed JSON, not an object)", body = ErrorBody),
        (status = 404, description = "SESSION_NOT_FOUND", body = ErrorBody)
    )
)]
#[patch("/api/v1/sessions/settings/")]
pub async fn update_settings(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    query: web::Query<SessionQuery>,
    body: Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let Value::Object(body) = body.into_inner() else {
        return Err(ApiError::BadRequest("The body must be a JSON object".into()));
    };
    let session = match body.get("session") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return Err(ApiError::validation("session", "session must be a session name")),
    };
    let name = session_for(&p, &query, session)?;
    let change = change_of(&body)?;
    let id = session_id(&state, p.user_id, &name).await?;
    let settings = state
        .db
        .set_call_settings(id, change)
        .await?
        .ok_or_else(|| ApiError::session_not_found(&name))?;
    Ok(ok(view(&name, settings)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(e: ApiError) -> String {
        match e {
            ApiError::Validation { field, .. } => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn settings_are_checked_field_by_field() {
        let body = |v: Value| v.as_object().unwrap().clone();
        let c = change_of(&body(json!({"rejectCalls": true, "callReplyText": "busy"}))).unwrap();
        assert_eq!(
            (c.reject_calls, c.call_reply_text),
            (Some(true), Some(Some("busy".into())))
        );
        let c = change_of(&body(json!({"callReplyText": null, "session": "x"}))).unwrap();
        assert_eq!((c.reject_calls, c.call_reply_text), (None, Some(None)));
        for (bad, field) in [
            (json!({"rejectCalls": "yes"}), "rejectCalls"),
            (json!({"callReplyText": 5}), "callReplyText"),
            (json!({"callReplyText": "  "}), "callReplyText"),
            (
                json!({"callReplyText": "x".repeat(MAX_CALL_REPLY_CHARS + 1)}),
                "callReplyText",
            ),
            (json!({"autoReject": true}), "autoReject"),
        ] {
            assert_eq!(field_of(change_of(&body(bad)).unwrap_err()), field);
        }
    }
}
