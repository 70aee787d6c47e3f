use actix_web::HttpRequest;
use std::time::Duration;

use actix_web::{HttpResponse, get, web};
use serde_json::json;

use crate::AppState;

/// Liveness plus a database round trip: 503 and `"unhealthy"` when the database does not answer.
#[utoipa::path(tag = "service", responses((status = 200, description = "Healthy: `{success, status:\"healthy\", uptime, version, database}`"), (status = 503, description = "The database does not answer")))]
#[get("/health")]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let db = match tokio::time::timeout(Duration::from_secs(3), state.db.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".to_string()),
    };
    let healthy = db.is_ok();
    let body = json!({
        "success": healthy,
        "status": if healthy { "healthy" } else { "unhealthy" },
        "uptime": state.started.elapsed().as_secs(),
        "version": env!("CARGO_PKG_VERSION"),
        "database": {
            "backend": state.db.backend(),
            "ok": healthy,
            "error": db.err(),
        },
    });
    if healthy {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Prometheus text exposition. With `server.metrics_token` set, it needs `Authorization: Bearer <token>`.
#[utoipa::path(tag = "service", responses((status = 200, description = "Prometheus text format"), (status = 401, description = "server.metrics_token is set and was not presented")))]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let token = &state.settings.server.metrics_token;
    if !token.is_empty() {
        let presented = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !bool::from(subtle::ConstantTimeEq::ct_eq(presented.as_bytes(), token.as_bytes())) {
            return HttpResponse::Unauthorized()
                .insert_header(("WWW-Authenticate", "Bearer"))
                .body("metrics need the token of server.metrics_token\n");
        }
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(crate::metrics::render(&state).await)
}
