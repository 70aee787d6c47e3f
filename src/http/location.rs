//! `POST /api/v1/messages/send-location/`: a pin on a map, sent through the session's queue like
//! a text (`Idempotency-Key`, `?async=true`, `replyTo`, `markRead`).

use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::body::Json;
use super::error::ApiError;
use super::extract::ApiKey;
use super::messages::{
    Idempotency, SendMode, enqueue_and_answer, idempotency_key, new_message, recipient, replay, sending_session,
};
use super::reply_to::ReplyTo;
use super::schemas::{Envelope, ErrorBody, SendQueued, SendResult};
use super::selector::{SessionQuery, session_for};
use crate::AppState;
use crate::db::{Location, MessageDetails, MessageKind};

/// A name or an address: WhatsApp shows a line or two; this bounds what is stored.
const MAX_PLACE_CHARS: usize = 1024;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SendLocation {
    /// A phone number in international format or a chat id.
    #[schema(required = true, nullable = false, min_length = 1)]
    recipient: Option<String>,
    /// Degrees north, −90 to 90 (WGS 84).
    #[schema(value_type = f64, required = true, nullable = false, minimum = -90, maximum = 90)]
    latitude: Option<Value>,
    /// Degrees east, −180 to 180 (WGS 84).
    #[schema(value_type = f64, required = true, nullable = false, minimum = -180, maximum = 180)]
    longitude: Option<Value>,
    /// The place's name, one line (shown in bold).
    #[schema(max_length = 1024)]
    name: Option<String>,
    /// Its address (shown under the name).
    #[schema(max_length = 1024)]
    address: Option<String>,
    /// Session name (default `default`); wins over `?session=`.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    session: Option<String>,
    /// Also mark the chat read when it is sent. Default false.
    #[serde(rename = "markRead")]
    mark_read: Option<bool>,
    /// Reply to (quote) this message of the same chat: its `dbId` or WhatsApp id.
    #[serde(rename = "replyTo")]
    reply_to: Option<ReplyTo>,
    /// The message key id, chosen by the client: 16 to 32 uppercase hex digits, new in the
    /// session. The message's WhatsApp id becomes `true_<chat>_<id>`. Default: wagate picks one.
    #[schema(pattern = "^[0-9A-F]{16,32}$")]
    id: Option<String>,
}

/// A coordinate in degrees: a finite JSON number within `±limit`; 400 naming `field` otherwise.
fn degrees(field: &str, raw: Option<&Value>, limit: f64) -> Result<f64, ApiError> {
    let raw = raw.ok_or_else(|| ApiError::validation(field, format!("{field} is required: degrees, a number")))?;
    let v = raw
        .as_f64()
        .ok_or_else(|| ApiError::validation(field, format!("{field} must be a number of degrees, not {raw}")))?;
    if !v.is_finite() || !(-limit..=limit).contains(&v) {
        return Err(ApiError::validation(
            field,
            format!("{field} must be between -{limit} and {limit} degrees, not {v}"),
        ));
    }
    Ok(v)
}

/// An optional line of text: trimmed, empty is none, at most [`MAX_PLACE_CHARS`]; `one_line`
/// refuses line breaks (the name is the first line of WhatsApp's `loc` text).
fn place_text(field: &str, raw: Option<String>, one_line: bool) -> Result<Option<String>, ApiError> {
    let Some(text) = raw.map(|t| t.trim().to_string()).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > MAX_PLACE_CHARS {
        return Err(ApiError::validation(
            field,
            format!("{field} is too long: at most {MAX_PLACE_CHARS} characters"),
        ));
    }
    if one_line && text.contains(['\n', '\r']) {
        return Err(ApiError::validation(field, format!("{field} must be one line")));
    }
    Ok(Some(text))
}

#[utoipa::path(
    tag = "messages",
    operation_id = "send_location",
    security(("api_key" = [])),
    params(
        SessionQuery,
        SendMode,
        ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~][ -~]{0,254}$", description = "1 to 255 printable ASCII characters: a retry with the same key returns the first result instead of sending again")
    ),
    request_body(content = SendLocation, example = json!({"recipient": "+15550002002", "latitude": 52.5163, "longitude": 13.3777, "name": "Brandenburger Tor", "address": "Pariser Platz, 10117 Berlin"})),
    responses(
        (status = 200, description = "Sent: `message` is `Location sent successfully`", body = Envelope<SendResult>),
        (status = 202, description = "Queued (`?async=true`, a session that is away, or longer than `sending.wait_secs`); it still goes out", body = Envelope<SendQueued>),
        (status = 400, description = "VALIDATION_ERROR naming the field (recipient, latitude, longitude, name, address, replyTo, session, Idempotency-Key), BAD_REQUEST (malformed JSON)", body = ErrorBody),
        (status = 409, description = "SESSION_NOT_CONNECTED, SEND_IN_PROGRESS, CONFLICT (`id` already used in the session)", body = ErrorBody),
        (status = 422, description = "RECIPIENT_NOT_ON_WHATSAPP, IDEMPOTENCY_KEY_REUSED", body = ErrorBody),
        (status = 429, description = "SESSION_LIMIT_REACHED, RATE_LIMITED", body = ErrorBody),
        (status = 502, description = "`WA_*` codes from WhatsApp Web (with `detail`), SEND_FAILED", body = ErrorBody),
        (status = 503, description = "BROWSER_UNAVAILABLE, SERVICE_UNAVAILABLE", body = ErrorBody),
        (status = 504, description = "SEND_TIMEOUT: WhatsApp did not answer in time", body = ErrorBody)
    )
)]
#[post("/api/v1/messages/send-location/")]
pub async fn send_location(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    req: HttpRequest,
    query: web::Query<SessionQuery>,
    mode: web::Query<SendMode>,
    body: Json<SendLocation>,
) -> Result<HttpResponse, ApiError> {
    const DONE: &str = "Location sent successfully";
    let body = body.into_inner();
    let name = session_for(&p, &query, body.session.as_deref())?;
    let chat = recipient(body.recipient.as_deref())?;
    let place = Location {
        latitude: degrees("latitude", body.latitude.as_ref(), 90.0)?,
        longitude: degrees("longitude", body.longitude.as_ref(), 180.0)?,
        name: place_text("name", body.name, true)?,
        address: place_text("address", body.address, false)?,
    };
    let reply_to = body.reply_to.map(ReplyTo::checked).transpose()?;
    let client_id = super::client_id::checked(body.id)?;
    let idem = idempotency_key(&req)?.map(|key| {
        let place_json = json!(place).to_string();
        let reply = reply_to.as_ref().map(ReplyTo::fingerprint).unwrap_or_default();
        let mut fields: Vec<&[u8]> = vec![chat.as_str().as_bytes(), place_json.as_bytes(), reply.as_bytes()];
        // Only when given: a retry of a request from before client ids keeps its fingerprint.
        fields.extend(client_id.as_deref().map(str::as_bytes));
        Idempotency::bind(key, "send-location", &name, &fields)
    });
    if let Some(answer) = replay(&state, &p, idem.as_ref(), DONE).await? {
        return Ok(answer);
    }
    let session_id = sending_session(&state, &p, &name).await?;
    let base = super::messages::send_details(&state, &p, session_id, &chat, reply_to.as_ref(), client_id).await?;
    let mut row = new_message(&p, session_id, &chat, MessageKind::Location, idem);
    row.body = place.description();
    row.mark_read = body.mark_read.unwrap_or(false);
    row.details = MessageDetails {
        location: Some(place),
        ..base
    }
    .to_column();
    enqueue_and_answer(&state, &p, row, mode.into_inner().is_async(), DONE).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_are_finite_degrees_in_range() {
        assert_eq!(degrees("latitude", Some(&json!(-90)), 90.0).unwrap(), -90.0);
        assert_eq!(degrees("longitude", Some(&json!(179.5)), 180.0).unwrap(), 179.5);
        for bad in [json!(90.0001), json!("52.5"), json!(null), json!(-181)] {
            assert!(
                degrees(
                    "longitude",
                    Some(&bad),
                    if bad == json!(90.0001) { 90.0 } else { 180.0 }
                )
                .is_err(),
                "{bad}"
            );
        }
        assert!(degrees("latitude", None, 90.0).is_err());
        assert_eq!(place_text("name", Some("  ".into()), true).unwrap(), None);
        assert!(place_text("name", Some("a\nb".into()), true).is_err());
        assert_eq!(
            place_text("address", Some("a\nb".into()), false).unwrap().as_deref(),
            Some("a\nb")
        );
    }
}
