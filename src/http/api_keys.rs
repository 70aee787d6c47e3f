//! The caller's own API keys: list, create (the key is shown once), revoke.

use crate::http::body::Json;
use actix_web::{HttpResponse, delete, get, post, web};
use serde::Deserialize;
use serde_json::json;

use super::error::{ApiError, ok};
use super::extract::ApiKey;
use crate::AppState;
use crate::db::ApiKeyRow;

pub(crate) fn key_json(k: &ApiKeyRow) -> serde_json::Value {
    json!({
        "id": k.id,
        "keyId": k.key_id,
        "label": k.label,
        "createdAt": k.created_at.and_utc(),
        "lastUsedAt": k.last_used_at.map(|t| t.and_utc()),
        "revokedAt": k.revoked_at.map(|t| t.and_utc()),
    })
}

#[utoipa::path(tag = "api keys", security(("api_key" = [])), responses((status = 200, description = "The caller's keys (never the secrets)")))]
#[get("/api/v1/apikeys/")]
pub async fn list(state: web::Data<AppState>, ApiKey(p): ApiKey) -> Result<HttpResponse, ApiError> {
    let keys = state.db.list_keys(p.user_id).await?;
    Ok(ok(keys.iter().map(key_json).collect::<Vec<_>>()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    #[serde(default)]
    label: String,
}

#[utoipa::path(tag = "api keys", security(("api_key" = [])), request_body(content = serde_json::Value, example = json!({"label": "crm"})), responses((status = 200, description = "The new key, shown once in `data.key`")))]
#[post("/api/v1/apikeys/")]
pub async fn create(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    body: Json<CreateKey>,
) -> Result<HttpResponse, ApiError> {
    let label = body.into_inner().label;
    if label.chars().count() > 100 {
        return Err(ApiError::validation("label", "label must have at most 100 characters"));
    }
    let (row, key) = state.auth.create_key_for(p.user_id, label.trim()).await?;
    let mut data = key_json(&row);
    data["key"] = json!(key);
    Ok(ok(data))
}

#[utoipa::path(tag = "api keys", security(("api_key" = [])), params(("id" = i64, Path, description = "Key id")), responses((status = 200, description = "Revoked"), (status = 404, description = "No such key of the caller's")))]
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
