//! Request bodies and URIs as the API reads them: JSON parsed once, and text refused at the edge
//! when a database backend could not store it.
//!
//! PostgreSQL `text` cannot hold U+0000 (SQLite can), so a NUL that reached a query would fail on
//! one backend only. Every user-supplied string is checked here instead: JSON bodies through
//! [`Json`] and [`parse_json`], query strings and paths through [`refuse_nul_in_uri`], multipart
//! fields through [`check_text`].

use std::future::Future;
use std::pin::Pin;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error_code::ErrorCode;

use super::error::ApiError;
use crate::AppState;

/// A JSON request body (`Content-Type: application/json` or `…+json`), at most
/// `server.max_json_bytes`, with no NUL in any string. Errors: 400 `BAD_REQUEST` (malformed, wrong
/// content type), 400 `VALIDATION_ERROR` naming the field that holds a NUL, 413 `PAYLOAD_TOO_LARGE`.
pub struct Json<T>(pub T);

impl<T> Json<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = req
            .mime_type()
            .ok()
            .flatten()
            .is_some_and(|m| m.subtype() == "json" || m.suffix().is_some_and(|s| s == "json"));
        let limit = req
            .app_data::<web::Data<AppState>>()
            .map(|s| s.settings.server.max_json_bytes)
            .unwrap_or(1 << 20);
        let mut payload = payload.take();
        Box::pin(async move {
            if !is_json {
                return Err(ApiError::BadRequest("Content-Type must be application/json".into()));
            }
            let mut body = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(body_error)?;
                if body.len() + chunk.len() > limit {
                    return Err(ApiError::PayloadTooLarge(format!(
                        "Request body is larger than {limit} bytes"
                    )));
                }
                body.extend_from_slice(&chunk);
            }
            parse_json(&body).map(Json)
        })
    }
}

/// Parses a JSON body: 400 `BAD_REQUEST` with the parser's reason when malformed, 400
/// `VALIDATION_ERROR` when a string holds a NUL.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("Malformed JSON: {e}")))?;
    check_json_text(&value, "")?;
    serde_json::from_value(value).map_err(|e| ApiError::BadRequest(format!("Malformed JSON: {e}")))
}

/// An optional JSON body: empty (or only whitespace) gives the default value.
pub fn optional_json<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    parse_json(body)
}

/// 400 `VALIDATION_ERROR` naming `field` when `text` cannot be stored by every backend.
pub fn check_text(field: &str, text: &str) -> Result<(), ApiError> {
    if text.contains('\0') {
        return Err(ApiError::validation(
            field,
            format!("{field} contains a NUL character (U+0000), which cannot be stored; remove it"),
        ));
    }
    Ok(())
}

/// Walks a JSON value; `path` is the field name as a client wrote it (`contacts[1].name`).
fn check_json_text(value: &Value, path: &str) -> Result<(), ApiError> {
    match value {
        Value::String(s) => check_text(if path.is_empty() { "body" } else { path }, s),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| check_json_text(v, &format!("{path}[{i}]"))),
        Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            let field = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            check_text(&field, k)?;
            check_json_text(v, &field)
        }),
        _ => Ok(()),
    }
}

/// Middleware: a NUL in the path or the query string (`%00`, the only way a URI can carry one)
/// is refused before any handler sees it, naming the query parameter when there is one.
pub async fn refuse_nul_in_uri(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<impl MessageBody>>, actix_web::Error> {
    let uri = req.uri();
    let field = if uri.path().contains("%00") {
        Some("path".to_string())
    } else {
        uri.query().filter(|q| q.to_ascii_lowercase().contains("%00")).map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, v)| k.contains('\0') || v.contains('\0'))
                .map(|(k, _)| k.replace('\0', ""))
                .unwrap_or_else(|| "query".into())
        })
    };
    match field {
        Some(field) => {
            let err = check_text(&field, "\0").unwrap_err();
            let resp = actix_web::ResponseError::error_response(&err);
            Ok(req.into_response(resp).map_into_right_body())
        }
        None => next.call(req).await.map(ServiceResponse::map_into_left_body),
    }
}

/// The whole request body, streamed; `too_large` is the answer once it passes `limit` bytes (the
/// rest is not read).
pub async fn read_limited(
    mut payload: web::Payload,
    limit: usize,
    too_large: impl Fn() -> ApiError,
) -> Result<web::BytesMut, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(body_error)?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A body that could not be read: 408 `REQUEST_TIMEOUT` when it stalled, else 400.
pub fn body_error(e: PayloadError) -> ApiError {
    match &e {
        PayloadError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
            ApiError::coded(ErrorCode::RequestTimeout, format!("The request body stalled: {io}"))
        }
        PayloadError::Overflow => ApiError::PayloadTooLarge("Request body is too large".into()),
        _ => ApiError::BadRequest(format!("Body interrupted: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nul_anywhere_names_its_field() {
        let err = parse_json::<Value>(br#"{"contacts":[{"name":"a"},{"name":"b\u0000"}]}"#).unwrap_err();
        match err {
            ApiError::Validation { field, .. } => assert_eq!(field, "contacts[1].name"),
            other => panic!("{other:?}"),
        }
        // An escaped backslash followed by the letters is no NUL.
        assert!(parse_json::<Value>(br#"{"message":"\\u0000"}"#).is_ok());
        assert!(matches!(
            parse_json::<Value>(b"{nope").unwrap_err(),
            ApiError::BadRequest(_)
        ));
    }
}
