use actix_web::{HttpResponse, get};
use serde_json::json;

use super::error::ok;
use super::extract::ApiKey;
use super::schemas::{Envelope, Me};

/// The smallest authenticated call: who am I, and with which key.
#[utoipa::path(
    tag = "service",
    operation_id = "me",
    security(("api_key" = [])),
    responses((status = 200, description = "The caller's user and key", body = Envelope<Me>))
)]
#[get("/api/v1/me")]
pub async fn me(ApiKey(p): ApiKey) -> HttpResponse {
    ok(json!({
        "user": { "id": p.user_id, "username": p.username, "isAdmin": p.is_admin },
        "apiKey": { "id": p.key_db_id, "keyId": p.key_id, "label": p.key_label },
    }))
}
