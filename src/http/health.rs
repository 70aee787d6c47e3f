use std::time::Duration;

use actix_web::http::header::AUTHORIZATION;
use actix_web::{HttpRequest, HttpResponse, get, web};
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::http::schemas::{ErrorBody, Health};

/// Liveness plus a database round trip: 503 and `"unhealthy"` when the database does not answer.
/// `database.error` is one word for anyone (`"unreachable"`, `"timed out"`); the database's own
/// message (which can name hosts, users and file paths) goes to the log, and to callers with a
/// valid API key verified in the last `auth.cache_ttl_secs` (the database cannot vouch for any
/// other key while it is down).
#[utoipa::path(
    tag = "service",
    operation_id = "health",
    responses(
        (status = 200, description = "Healthy", body = Health),
        (status = 503, description = "The database does not answer: `status: unhealthy`, `database.error` is `unreachable` or `timed out`, plus `database.detail` for a caller with a valid API key", body = Health)
    )
)]
#[get("/health")]
pub async fn health(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let db = match tokio::time::timeout(Duration::from_secs(3), state.db.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(("unreachable", e.to_string())),
        Err(_) => Err(("timed out", "no answer within 3 s".to_string())),
    };
    let mut database = json!({ "backend": state.db.backend(), "ok": db.is_ok(), "error": null });
    if let Err((word, detail)) = &db {
        tracing::warn!(error = %detail, "health check: the database does not answer");
        database["error"] = json!(word);
        // With the database away only the cache can vouch for a key: no lookup that could hang.
        if crate::http::extract::recently_verified(&state, &req).await.is_some() {
            database["detail"] = json!(detail);
        }
    }
    let healthy = db.is_ok();
    let body = json!({
        "success": healthy,
        "status": if healthy { "healthy" } else { "unhealthy" },
        "uptime": state.started.elapsed().as_secs(),
        "version": env!("CARGO_PKG_VERSION"),
        "database": database,
    });
    if healthy {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// True when one of the request's `Authorization` headers is `Bearer <token>` (any case of the
/// scheme), compared in constant time: a proxy's own `Authorization` does not hide the token.
fn bearer_matches(req: &HttpRequest, token: &str) -> bool {
    req.headers().get_all(AUTHORIZATION).any(|v| {
        let v = v.to_str().unwrap_or_default().trim();
        let (scheme, presented) = v.split_once(' ').unwrap_or((v, ""));
        scheme.eq_ignore_ascii_case("bearer") && bool::from(presented.trim().as_bytes().ct_eq(token.as_bytes()))
    })
}

/// Prometheus text exposition. With `server.metrics_token` set, it needs `Authorization: Bearer <token>`.
#[utoipa::path(
    tag = "service",
    operation_id = "metrics",
    responses(
        (status = 200, description = "Prometheus text format", content_type = "text/plain", body = String),
        (status = 401, description = "UNAUTHORIZED: `server.metrics_token` is set and `Authorization: Bearer <token>` was not presented", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "`Bearer`")))
    )
)]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let token = &state.settings.server.metrics_token;
    if !token.is_empty() && !bearer_matches(&req, token) {
        return HttpResponse::Unauthorized()
            .insert_header(("WWW-Authenticate", "Bearer"))
            .body("metrics need the token of server.metrics_token\n");
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(crate::metrics::render(&state).await)
}
