//! The session selector, the same on every endpoint: `?session=` or a body field, default `default`.

use serde::Deserialize;

use super::error::ApiError;

#[derive(Debug, Default, Deserialize)]
pub struct SessionQuery {
    pub session: Option<String>,
}

pub const DEFAULT_SESSION: &str = "default";

/// The body's value wins over the query's; both absent means `default`.
pub fn session_name(query: &SessionQuery, body: Option<&str>) -> Result<String, ApiError> {
    let name = body.or(query.session.as_deref()).unwrap_or(DEFAULT_SESSION).trim();
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(name.to_string())
    } else {
        Err(ApiError::validation(
            "session",
            "session must have 1 to 64 characters: letters, digits, '-', '_' or '.'",
        ))
    }
}

/// Parses an optional JSON body: empty means the default value; malformed JSON is a 400 with
/// the parser's reason.
pub fn optional_json<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("Malformed JSON: {e}")))
}
