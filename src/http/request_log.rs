//! One log line per request: request id, method, path (never the query), status and latency.
//! The id is taken from `X-Request-Id` when the caller sent a sane one, and echoed back.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

pub async fn log_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let id = request_id(&req);
    let method = req.method().clone();
    let path = req.path().to_string();
    let mut res = next.call(req).await?;
    let status = res.status().as_u16();
    let elapsed = started.elapsed().as_secs_f64();
    let latency_ms = elapsed * 1000.0;
    // The route pattern, never the raw path: ids in paths would make the series unbounded.
    let route = res.request().match_pattern().unwrap_or_else(|| "unmatched".into());
    let labels = [("method", method.to_string()), ("route", route)];
    metrics::histogram!("wagate_http_request_duration_seconds", &labels).record(elapsed);
    let mut labels = labels.to_vec();
    labels.push(("status", status.to_string()));
    metrics::counter!("wagate_http_requests_total", &labels).increment(1);
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID, v);
    }
    if status >= 500 {
        tracing::error!(request_id = %id, %method, %path, status, latency_ms, "request");
    } else {
        tracing::info!(request_id = %id, %method, %path, status, latency_ms, "request");
    }
    Ok(res)
}
