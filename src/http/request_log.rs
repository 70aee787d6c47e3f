//! One log line per request: request id, method, path (never the query), status and latency.
//! The id is taken from `X-Request-Id` when the caller sent a sane one, and echoed back.
//!
//! Bounded, so a flood cannot fill the disk: paths are cut at [`MAX_LOGGED_PATH`] bytes, and
//! requests nobody should be making (no valid key: 401; no such route: 404/405; over a limit: 429)
//! are logged at most
//! [`NOISE_LINES_PER_SEC`] a second, with one line counting what was left out.

use std::sync::Mutex;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The longest path a log line carries (bytes; cut at a character boundary).
pub const MAX_LOGGED_PATH: usize = 256;
/// Lines a second for unauthenticated or unrouted requests.
pub const NOISE_LINES_PER_SEC: u32 = 10;

/// The current second and how many noise lines it logged and left out.
static NOISE: Mutex<(u64, u32, u64)> = Mutex::new((0, 0, 0));

/// Whether a noise line may be logged now; with the count left out since the last one logged.
fn noise_allowed() -> (bool, u64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let mut n = NOISE.lock().unwrap_or_else(|e| e.into_inner());
    if n.0 != now {
        n.0 = now;
        n.1 = 0;
    }
    if n.1 < NOISE_LINES_PER_SEC {
        n.1 += 1;
        (true, std::mem::take(&mut n.2))
    } else {
        n.2 += 1;
        (false, 0)
    }
}

/// `path` cut to [`MAX_LOGGED_PATH`] bytes, saying how much was cut.
fn logged_path(path: &str) -> String {
    if path.len() <= MAX_LOGGED_PATH {
        return path.to_string();
    }
    let mut end = MAX_LOGGED_PATH;
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…(+{} bytes)", &path[..end], path.len() - end)
}

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
    let path = logged_path(req.path());
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
    } else if matches!(status, 401 | 404 | 405 | 429) {
        let (allowed, left_out) = noise_allowed();
        if left_out > 0 {
            tracing::info!(
                left_out,
                "request lines left out (unauthenticated or unrouted, over {NOISE_LINES_PER_SEC}/s)"
            );
        }
        if allowed {
            tracing::info!(request_id = %id, %method, %path, status, latency_ms, "request");
        }
    } else {
        tracing::info!(request_id = %id, %method, %path, status, latency_ms, "request");
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_paths_are_cut_at_a_character_boundary() {
        assert_eq!(logged_path("/api/v1/me"), "/api/v1/me");
        let long = format!("/{}", "é".repeat(3000));
        let cut = logged_path(&long);
        assert!(cut.len() < MAX_LOGGED_PATH + 32, "{}", cut.len());
        assert!(cut.ends_with("bytes)"), "{cut}");
    }
}
