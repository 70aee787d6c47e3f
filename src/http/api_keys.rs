//! The caller's own API keys: list, create (the key is shown once, optionally limited to scopes
//! and sessions), revoke. Only a key without limits may call these (see `route_scope`).

use crate::api_common::views::key_json;
use crate::http::body::Json;
use actix_web::{HttpResponse, delete, get, post, web};
use serde_json::json;

use super::error::{ApiError, ok};
use super::extract::ApiKey;
use super::schemas::{ApiKeyInfo, CreatedApiKey, Envelope, ErrorBody, RevokedKey};
use crate::AppState;
use crate::api_common::new_key::CreateKey;

#[utoipa::path(
    tag = "api keys",
    operation_id = "list_api_keys",
    security(("api_key" = [])),
    responses((status = 200, description = "The caller's keys (never the secrets)", body = Envelope<Vec<ApiKeyInfo>>))
)]
#[get("/api/v1/apikeys/")]
pub async fn list(state: web::Data<AppState>, ApiKey(p): ApiKey) -> Result<HttpResponse, ApiError> {
    let keys = state.db.list_keys(p.user_id).await?;
    Ok(ok(keys.iter().map(key_json).collect::<Vec<_>>()))
}

#[utoipa::path(
    tag = "api keys",
    operation_id = "create_api_key",
    security(("api_key" = [])),
    request_body(content = CreateKey, example = json!({"label": "crm", "scopes": ["read", "send"], "sessions": ["sales"]})),
    responses(
        (status = 200, description = "The new key, shown once in `data.key`", body = Envelope<CreatedApiKey>),
        (status = 400, description = "VALIDATION_ERROR (`label` over 100 characters, `scopes` empty or unknown, `sessions` empty, too many or not session names), BAD_REQUEST (malformed JSON, unknown field, not `application/json`)", body = ErrorBody)
    )
)]
#[post("/api/v1/apikeys/")]
pub async fn create(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    body: Json<CreateKey>,
) -> Result<HttpResponse, ApiError> {
    let (label, grant) = body.into_inner().validate()?;
    let (row, key) = state.auth.create_scoped_key(p.user_id, &label, &grant).await?;
    let mut data = key_json(&row);
    data["key"] = json!(key);
    Ok(ok(data))
}

#[utoipa::path(
    tag = "api keys",
    operation_id = "revoke_api_key",
    security(("api_key" = [])),
    params(("id" = i64, Path, description = "The key's `id`")),
    responses(
        (status = 200, description = "Revoked", body = Envelope<RevokedKey>),
        (status = 404, description = "NOT_FOUND: no active key of the caller's with this id", body = ErrorBody)
    )
)]
#[delete("/api/v1/apikeys/{id}/")]
pub async fn revoke(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    // Another user's key answers exactly like a missing one.
    let owned = state.db.key_by_id(id).await?.filter(|k| k.user_id == p.user_id);
    if owned.is_none() || !state.auth.revoke(id).await? {
        return Err(ApiError::NotFound(format!("No active API key with id {id}")));
    }
    Ok(ok(json!({ "id": id, "revoked": true })))
}
