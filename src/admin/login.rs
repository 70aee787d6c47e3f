//! Admin login: a random session token in an HttpOnly, SameSite=Strict cookie (Secure over TLS),
//! a CSRF token that every state-changing request repeats in `X-CSRF-Token`, and a rate limit on
//! login attempts per client address (through `server.trusted_proxies`).

use crate::api_common::body::Json;
use crate::error_code::ErrorCode;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::Method;
use actix_web::{FromRequest, HttpRequest, HttpResponse, get, post, web};
use rand::distr::{Alphanumeric, SampleString};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::api_common::client::{client_https, client_ip, retry_after};
use crate::api_common::error::{ApiError, ok};
use crate::auth::rate_limit::KeyRateLimit;

const COOKIE: &str = "wagate_admin";
const CSRF_HEADER: &str = "X-CSRF-Token";
/// A login lasts this long without use.
const IDLE: Duration = Duration::from_secs(8 * 3600);

#[derive(Debug, Clone)]
pub struct AdminSession {
    pub user_id: i64,
    pub username: String,
    csrf: String,
}

/// Logged-in admins (in memory: a restart logs everyone out) and the login rate limit.
#[derive(Clone)]
pub struct AdminSessions {
    live: moka::sync::Cache<String, AdminSession>,
    attempts: KeyRateLimit,
}

impl Default for AdminSessions {
    fn default() -> Self {
        AdminSessions {
            live: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_idle(IDLE)
                .build(),
            // Five tries, then one more every 12 s, per client address.
            attempts: KeyRateLimit::per_minute(5, 5),
        }
    }
}

fn token() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 43)
}

fn login_required() -> ApiError {
    ApiError::coded(ErrorCode::AdminLoginRequired, "Log in as an admin first")
}

/// An admin's request: the cookie names a live login, and anything but GET carries its CSRF token.
pub struct Admin(pub AdminSession);

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        // Every cookie of our name, not the first: a stale one (another path, another app on the
        // same host) must not hide the live login.
        let found = (|| {
            let state = req.app_data::<web::Data<AppState>>()?;
            let cookies = req.cookies().ok()?;
            cookies
                .iter()
                .filter(|c| c.name() == COOKIE)
                .find_map(|c| state.admin.live.get(c.value()))
        })();
        let csrf: Vec<Vec<u8>> = req
            .headers()
            .get_all(CSRF_HEADER)
            .map(|v| v.as_bytes().to_vec())
            .collect();
        let safe = matches!(*req.method(), Method::GET | Method::HEAD);
        Box::pin(async move {
            let session = found.ok_or_else(login_required)?;
            let csrf_ok = csrf
                .iter()
                .any(|c| bool::from(c.as_slice().ct_eq(session.csrf.as_bytes())));
            if !safe && !csrf_ok {
                return Err(ApiError::coded(
                    ErrorCode::CsrfFailed,
                    "Missing or wrong X-CSRF-Token: reload the page",
                ));
            }
            Ok(Admin(session))
        })
    }
}

fn cookie(req: &HttpRequest, value: String, max_age: actix_web::cookie::time::Duration) -> Cookie<'static> {
    Cookie::build(COOKIE, value)
        .path("/admin")
        .http_only(true)
        .same_site(SameSite::Strict)
        // Believes X-Forwarded-Proto / Forwarded only from server.trusted_proxies.
        .secure(client_https(req))
        .max_age(max_age)
        .finish()
}

fn session_json(s: &AdminSession) -> serde_json::Value {
    // The webhook form offers every event a webhook can take, from the one list the API checks.
    let events: Vec<&str> = crate::db::EventKind::SUBSCRIBABLE.iter().map(|k| k.as_str()).collect();
    json!({ "user": { "id": s.user_id, "username": s.username }, "csrfToken": s.csrf, "webhookEvents": events })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    username: String,
    password: String,
}

#[post("/admin/api/login")]
pub async fn login(state: web::Data<AppState>, req: HttpRequest, body: Json<Login>) -> Result<HttpResponse, ApiError> {
    // Per client, through trusted proxies: behind a proxy the peer is the same for everyone.
    let client = crate::auth::client::limit_key(client_ip(&req));
    state.admin.attempts.check(&client).map_err(retry_after)?;
    let Login { username, password } = body.into_inner();
    let user = state.auth.check_password(username.trim(), &password).await?;
    // A wrong password, an unknown name and a non-admin get the same answer.
    let user = user
        .filter(|u| u.is_admin)
        .ok_or_else(|| ApiError::coded(ErrorCode::LoginFailed, "Wrong username or password, or not an admin"))?;
    let session = AdminSession {
        user_id: user.id,
        username: user.username,
        csrf: token(),
    };
    let id = token();
    state.admin.live.insert(id.clone(), session.clone());
    let max_age = actix_web::cookie::time::Duration::seconds(IDLE.as_secs() as i64);
    let mut resp = ok(session_json(&session));
    resp.add_cookie(&cookie(&req, id, max_age))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(resp)
}

#[post("/admin/api/logout")]
pub async fn logout(state: web::Data<AppState>, req: HttpRequest, _admin: Admin) -> Result<HttpResponse, ApiError> {
    if let Some(c) = req.cookie(COOKIE) {
        state.admin.live.invalidate(c.value());
    }
    let mut resp = ok(json!({ "loggedOut": true }));
    resp.add_cookie(&cookie(&req, String::new(), actix_web::cookie::time::Duration::ZERO))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(resp)
}

/// Who is logged in (the page calls it on load), with the CSRF token to use.
#[get("/admin/api/me")]
pub async fn me(Admin(s): Admin) -> HttpResponse {
    ok(session_json(&s))
}
