//! The session selector, the same on every endpoint: `?session=` or a body field, default `default`.

use serde::Deserialize;

use super::error::ApiError;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SessionQuery {
    /// Session name (default `default`): 1 to 64 letters, digits, `-`, `_` or `.`. A body field
    /// `session`, where the call has a body, wins over it.
    #[param(pattern = "^[A-Za-z0-9._-]{1,64}$")]
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

/// The session an API call names ([`session_name`]), which its key must be allowed to use:
/// 403 `FORBIDDEN_SCOPE` for a key limited to other sessions (see `http::route_scope`).
pub fn session_for(
    principal: &crate::auth::Principal,
    query: &SessionQuery,
    body: Option<&str>,
) -> Result<String, ApiError> {
    let name = session_name(query, body)?;
    match crate::http::route_scope::session_refusal(&principal.grant, &name) {
        Some(why) => Err(ApiError::coded(crate::error_code::ErrorCode::ForbiddenScope, why)),
        None => Ok(name),
    }
}

pub use super::body::optional_json;
