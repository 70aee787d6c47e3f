//! The `ApiKey` extractor: `Authorization: ApiKey <key>`, `Authorization: Bearer <key>` or `X-Api-Key`.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header::{AUTHORIZATION, HeaderMap};
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};

use super::error::ApiError;
use crate::AppState;
use crate::auth::Principal;

/// An authenticated caller. Any missing, malformed, unknown, wrong or revoked key is a 401.
pub struct ApiKey(pub Principal);

fn presented_key(headers: &HeaderMap) -> Option<String> {
    if let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let (scheme, key) = value.trim().split_once(' ')?;
        let accepted = scheme.eq_ignore_ascii_case("apikey") || scheme.eq_ignore_ascii_case("bearer");
        return accepted.then(|| key.trim().to_string());
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(|k| k.trim().to_string())
}

impl FromRequest for ApiKey {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let key = presented_key(req.headers());
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let key = key.filter(|k| !k.is_empty()).ok_or(ApiError::InvalidApiKey)?;
            let state = state.ok_or_else(|| ApiError::Internal("app state missing".into()))?;
            let principal = state.auth.verify(&key).await?;
            state
                .rate_limit
                .check(&principal.key_id)
                .map_err(|wait| ApiError::RateLimited(wait.as_secs().max(1)))?;
            Ok(ApiKey(principal))
        })
    }
}
