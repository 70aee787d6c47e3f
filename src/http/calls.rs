//! `POST /api/v1/calls/{callId}/reject/`: turns down an incoming call that is still ringing (the
//! caller sees it declined), and records `call.rejected` (by `api`). Call ids come from the
//! `call.received` events. The session must be connected now: a call is live, nothing is queued.

use actix_web::{HttpResponse, post, web};

use super::body::optional_json;
use super::error::{ApiError, ok};
use super::extract::ApiKey;
use super::messages::connected_session;
use super::schemas::{CallView, Envelope, ErrorBody, SessionBody};
use super::selector::{SessionQuery, session_for};
use crate::AppState;
use crate::db::RejectedBy;

/// A call id as WhatsApp makes them (hex digits; letters, digits, `-`, `_`, `.` accepted), 1 to
/// 128 characters; 400 naming `callId` otherwise.
fn call_id(raw: &str) -> Result<String, ApiError> {
    let id = raw.trim();
    let shaped = (1..=128).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if shaped {
        Ok(id.to_string())
    } else {
        Err(ApiError::validation(
            "callId",
            "callId must be a call id as the call.received event gives it (letters and digits, at most 128)",
        ))
    }
}

/// `POST /api/v1/calls/{callId}/reject/`: rejects an incoming call that is still ringing.
#[utoipa::path(
    tag = "calls",
    operation_id = "reject_call",
    security(("api_key" = [])),
    params(
        ("callId" = String, Path, description = "The call's id, from its `call.received` event", example = "CB8A0A3F5E2D4C1B9A8F7E6D5C4B3A21"),
        SessionQuery
    ),
    request_body(content = Option<SessionBody>, description = "Optional: `{\"session\"}`"),
    responses(
        (status = 200, description = "Rejected: the caller sees the call declined (a `call.rejected` event follows)", body = Envelope<CallView>),
        (status = 400, description = "VALIDATION_ERROR (`callId`, `session`), BAD_REQUEST (malformed JSON, unknown field)", body = ErrorBody),
        (status = 404, description = "CALL_NOT_FOUND: no incoming call with this id is ringing (unknown, already rejected, answered elsewhere, or over)", body = ErrorBody),
        (status = 409, description = "SESSION_NOT_CONNECTED", body = ErrorBody),
        (status = 502, description = "`WA_*` codes from WhatsApp Web (e.g. WA_MODULE_MISSING)", body = ErrorBody),
        (status = 503, description = "BROWSER_UNAVAILABLE", body = ErrorBody),
        (status = 504, description = "SEND_TIMEOUT: WhatsApp did not answer in time", body = ErrorBody)
    )
)]
#[post("/api/v1/calls/{callId}/reject/")]
pub async fn reject(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    path: web::Path<String>,
    query: web::Query<SessionQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: SessionBody = optional_json(&body)?;
    let name = session_for(&p, &query, body.session.as_deref())?;
    let id = call_id(&path)?;
    let handle = connected_session(&state, &p, &name)?;
    let call = handle.reject_call(id).await?;
    let facts = call.facts();
    if let Err(e) = state
        .db
        .record_call(handle.key.id, facts.clone(), Some((RejectedBy::Api, None)), None)
        .await
    {
        // The call is rejected on WhatsApp; only its event is missing.
        tracing::warn!(session = handle.key.id, error = %e, "could not record call.rejected");
    }
    let mut data = facts.payload(Some((RejectedBy::Api, None)));
    data["state"] = "rejected".into();
    Ok(ok(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_ids_are_checked() {
        assert_eq!(call_id(" CB8A0A3F ").unwrap(), "CB8A0A3F");
        for bad in ["", "a b", "x/y", &"A".repeat(129)] {
            assert!(call_id(bad).is_err(), "{bad:?}");
        }
    }
}
