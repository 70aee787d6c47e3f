use actix_web::{HttpResponse, get};
use serde_json::json;

use super::error::ok;
use super::extract::ApiKey;
use super::schemas::{Envelope, Me};

/// The smallest authenticated call: who am I, and with which key (and its limits). Any valid key
/// may call it.
#[utoipa::path(
    tag = "service",
    operation_id = "me",
    security(("api_key" = [])),
    responses((status = 200, description = "The caller's user and key", body = Envelope<Me>))
)]
#[get("/api/v1/me")]
pub async fn me(ApiKey(p): ApiKey) -> HttpResponse {
    let mut key = p.grant.json();
    key["id"] = json!(p.key_db_id);
    key["keyId"] = json!(p.key_id);
    key["label"] = json!(p.key_label);
    ok(json!({
        "user": { "id": p.user_id, "username": p.username, "isAdmin": p.is_admin },
        "apiKey": key,
    }))
}
