//! The `ApiKey` extractor and the client address of a request.
//!
//! A key is read from `Authorization: ApiKey <key>`, `Authorization: Bearer wag_…` or `X-Api-Key`.
//! An `Authorization` header of another scheme (`Basic …` added by a proxy, a `Bearer` token that
//! is not a wagate key) is not ours and does not hide `X-Api-Key`. Two different keys in one
//! request are refused rather than guessing which one was meant.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use actix_web::http::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};

use super::error::ApiError;
use super::route_scope;
use crate::AppState;
pub use crate::api_common::client::{client_https, client_ip, retry_after};
use crate::auth::{AuthError, Principal, client};
use crate::error_code::ErrorCode;

/// An authenticated caller allowed to call this route. Any missing, malformed, unknown, wrong or
/// revoked key is a 401; a client address over `auth.failed_per_minute` gets 429 for any key not
/// verified recently; a key whose scopes or sessions do not cover the route (see
/// [`super::route_scope`]) gets 403 `FORBIDDEN_SCOPE`.
pub struct ApiKey(pub Principal);

/// What a request presents as an API key.
#[derive(Debug, PartialEq, Eq)]
enum Presented {
    Missing,
    Key(String),
    /// Two different wagate keys (say `Authorization` and `X-Api-Key`).
    Conflicting,
}

/// The key in an `Authorization` value, if the value is meant for us: scheme `ApiKey` (any
/// credentials, so a mistyped key is refused, not ignored) or `Bearer` with a `wag_` key.
fn ours(value: &HeaderValue) -> Option<String> {
    let value = value.to_str().ok()?.trim();
    let (scheme, credentials) = value.split_once(' ').unwrap_or((value, ""));
    let credentials = credentials.trim();
    let is_ours = scheme.eq_ignore_ascii_case("apikey")
        || (scheme.eq_ignore_ascii_case("bearer") && credentials.starts_with(crate::auth::api_key::PREFIX));
    is_ours.then(|| credentials.to_string())
}

/// Every place a key may be, in order of precedence: `Authorization` (each one, if there are
/// several), then `X-Api-Key`. The same key in several places is fine; different ones conflict.
fn presented_key(headers: &HeaderMap) -> Presented {
    let in_authorization = headers.get_all(AUTHORIZATION).filter_map(ours);
    let in_x_api_key = headers
        .get_all("x-api-key")
        // Bytes that are not text still count as a (wrong) key, never as "no key".
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string())
        .filter(|k| !k.is_empty());
    let mut found: Option<String> = None;
    for key in in_authorization.chain(in_x_api_key) {
        match &found {
            None => found = Some(key),
            Some(first) if *first == key => {}
            Some(_) => return Presented::Conflicting,
        }
    }
    found.map_or(Presented::Missing, Presented::Key)
}

/// Authenticates `req`. A key verified recently is let through from the cache at once; any
/// other key from a client address over its failed-authentication allowance gets 429 before it
/// is looked at; a refused key is charged to the address. Then the per-key rate limit applies.
pub async fn authenticate(state: &AppState, req: &HttpRequest) -> Result<Principal, ApiError> {
    let key = match presented_key(req.headers()) {
        Presented::Missing => return Err(ApiError::InvalidApiKey),
        Presented::Conflicting => None,
        Presented::Key(k) => Some(k),
    };
    let cached = match &key {
        Some(k) => state.auth.cached(k).await,
        None => None,
    };
    let principal = match cached {
        Some(p) => p,
        None => {
            let client = client::limit_key(client_ip(req));
            state.failed_auth.check(&client).map_err(retry_after)?;
            let verified = match &key {
                Some(k) => state.auth.verify(k).await,
                None => Err(AuthError::InvalidKey),
            };
            if matches!(verified, Err(AuthError::InvalidKey)) {
                state.failed_auth.failed(&client);
            }
            verified?
        }
    };
    state.rate_limit.check(&principal.key_id).map_err(retry_after)?;
    Ok(principal)
}

/// The caller, if the request carries exactly one key and that key is in the verification cache;
/// no database work and nothing charged (for answers that only add detail for known callers).
pub async fn recently_verified(state: &AppState, req: &HttpRequest) -> Option<Principal> {
    match presented_key(req.headers()) {
        Presented::Key(k) => state.auth.cached(&k).await,
        _ => None,
    }
}

impl FromRequest for ApiKey {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or_else(|| ApiError::Internal("app state missing".into()))?;
            let principal = authenticate(&state, &req).await?;
            let need = route_scope::need_of(req.method(), req.match_pattern().as_deref());
            let selector = web::Query::<HashMap<String, String>>::from_query(req.query_string())
                .ok()
                .and_then(|q| q.get("session").map(|s| s.trim().to_string()));
            if let Some(why) = route_scope::refusal(&principal.grant, need, selector.as_deref()) {
                return Err(ApiError::coded(ErrorCode::ForbiddenScope, why));
            }
            Ok(ApiKey(principal))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderName;

    const KEY: &str = "wag_abcdefghijkl_0123456789012345678901234567890123456789012";
    const OTHER: &str = "wag_mnopqrstuvwx_0123456789012345678901234567890123456789012";

    fn presented(pairs: &[(&'static str, &str)]) -> Presented {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(HeaderName::from_static(k), HeaderValue::from_str(v).unwrap());
        }
        presented_key(&map)
    }

    fn key(k: &str) -> Presented {
        Presented::Key(k.to_string())
    }

    #[test]
    fn our_forms_are_read() {
        assert_eq!(presented(&[("authorization", &format!("ApiKey {KEY}"))]), key(KEY));
        assert_eq!(presented(&[("authorization", &format!("bearer  {KEY} "))]), key(KEY));
        assert_eq!(presented(&[("x-api-key", &format!(" {KEY}"))]), key(KEY));
        assert_eq!(presented(&[]), Presented::Missing);
        assert_eq!(presented(&[("x-api-key", "")]), Presented::Missing);
    }

    #[test]
    fn a_foreign_authorization_does_not_hide_x_api_key() {
        for foreign in [
            "Basic dXNlcjpwYXNz",
            "Bearer eyJhbGciOi.jwt.token",
            "Digest username=\"x\"",
            "Negotiate",
        ] {
            let both = [("authorization", foreign), ("x-api-key", KEY)];
            assert_eq!(presented(&both), key(KEY), "{foreign}");
            assert_eq!(presented(&both[..1]), Presented::Missing, "{foreign}");
        }
        // Several Authorization headers: ours is found whichever comes first.
        let ours = format!("ApiKey {KEY}");
        let two = [
            ("authorization", "Basic dXNlcjpwYXNz"),
            ("authorization", ours.as_str()),
        ];
        assert_eq!(presented(&two), key(KEY));
    }

    #[test]
    fn ours_in_authorization_is_final_and_different_keys_conflict() {
        let mistyped = presented(&[("authorization", "ApiKey not-a-key"), ("x-api-key", KEY)]);
        assert_eq!(mistyped, Presented::Conflicting, "a wrong key is refused, not skipped");
        let bearer = format!("Bearer {KEY}");
        let differ = [("authorization", bearer.as_str()), ("x-api-key", OTHER)];
        assert_eq!(presented(&differ), Presented::Conflicting);
        let same = [("authorization", bearer.as_str()), ("x-api-key", KEY)];
        assert_eq!(presented(&same), key(KEY));
        assert_eq!(
            presented(&[("x-api-key", KEY), ("x-api-key", OTHER)]),
            Presented::Conflicting
        );
        assert_eq!(
            presented(&[("authorization", "ApiKey")]),
            key(""),
            "ours, empty: refused"
        );
    }
}
