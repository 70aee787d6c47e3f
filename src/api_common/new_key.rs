//! The body that creates an API key, the same on the public API and the admin page.

use serde::Deserialize;

use super::error::ApiError;
use crate::auth::scope::Grant;

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// A name to tell keys apart, at most 100 characters.
    #[serde(default)]
    #[schema(max_length = 100)]
    pub label: String,
    /// Limit the key to these scopes (`read`, `send`, `manage`); absent: all of them.
    #[schema(example = json!(["read", "send"]))]
    pub scopes: Option<Vec<String>>,
    /// Limit the key to these sessions (1 to 100 names); absent: every session.
    #[schema(example = json!(["sales"]))]
    pub sessions: Option<Vec<String>>,
}

impl CreateKey {
    /// The trimmed label and the grant asked for; 400 naming `label`, `scopes` or `sessions`.
    pub fn validate(self) -> Result<(String, Grant), ApiError> {
        if self.label.chars().count() > 100 {
            return Err(ApiError::validation("label", "label must have at most 100 characters"));
        }
        let grant = Grant::parse(self.scopes.as_deref(), self.sessions.as_deref())
            .map_err(|(field, why)| ApiError::validation(field, why))?;
        Ok((self.label.trim().to_string(), grant))
    }
}
