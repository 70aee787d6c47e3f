//! Who the client is: its address (through trusted proxies) and whether it came over HTTPS.

use std::net::IpAddr;

use actix_web::{HttpRequest, web};

use super::error::ApiError;
use crate::AppState;

/// The client address of `req`: the peer, or what a trusted proxy (`server.trusted_proxies`)
/// forwarded. The one place this is decided; None only when the peer address is unknown.
pub fn client_ip(req: &HttpRequest) -> Option<IpAddr> {
    let peer = req.peer_addr().map(|a| a.ip());
    match req.app_data::<web::Data<AppState>>() {
        Some(state) => state.proxies.client_ip(peer, req.headers()),
        None => peer,
    }
}

/// True when the client reached us over HTTPS: our own TLS, or a trusted proxy's word for it.
pub fn client_https(req: &HttpRequest) -> bool {
    req.app_config().secure()
        || req.app_data::<web::Data<AppState>>().is_some_and(|s| {
            s.proxies
                .forwarded_https(req.peer_addr().map(|a| a.ip()), req.headers())
        })
}

/// 429 with `Retry-After` rounded up, so a client that waits that long is let through.
pub fn retry_after(wait: std::time::Duration) -> ApiError {
    ApiError::RateLimited(wait.as_secs_f64().ceil().max(1.0) as u64)
}
