//! Slow clients cannot hold the server. The request head must arrive within
//! `server.head_timeout_secs` (actix's client request timeout, set on the server); a body may not
//! stall for longer than `server.body_idle_timeout_secs` between two chunks (this middleware);
//! at most `server.max_connections` connections are open at once (set on the server).

use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};
use futures_util::StreamExt;

use crate::AppState;

/// Middleware: the request's body stream ends with a timed-out error when no bytes arrive for
/// `server.body_idle_timeout_secs`; readers turn that into 408 [`crate::api_common::body::body_error`].
pub async fn body_deadline(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let idle = req
        .app_data::<web::Data<AppState>>()
        .map(|s| Duration::from_secs(s.settings.server.body_idle_timeout_secs))
        .unwrap_or(Duration::from_secs(30));
    let payload = req.take_payload();
    let stream = futures_util::stream::unfold(Some(payload), move |payload| async move {
        let mut payload = payload?;
        match tokio::time::timeout(idle, payload.next()).await {
            Ok(Some(item)) => Some((item, Some(payload))),
            Ok(None) => None,
            Err(_) => {
                let e = std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no body bytes for {} s", idle.as_secs()),
                );
                Some((Err(PayloadError::Io(e)), None))
            }
        }
    });
    // Fused: readers such as the multipart parser poll again after the end.
    req.set_payload(Payload::Stream {
        payload: Box::pin(stream.fuse()),
    });
    next.call(req).await
}
