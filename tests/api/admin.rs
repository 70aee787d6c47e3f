//! The admin page: its protections over plain HTTP, and the page itself in real Chromium driven by
//! fantoccini (screenshots of the main screens go to `target/test-output/admin/`).

use std::path::PathBuf;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::common::*;
use crate::support::*;

/// Logs in over HTTP; returns the cookie header value and the CSRF token.
async fn http_login(app: &TestApp, username: &str, password: &str) -> (u16, Option<String>, Value) {
    let resp = app
        .http
        .post(app.url("/admin/api/login"))
        .json(&json!({ "username": username, "password": password }))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let cookie = resp
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().to_string());
    (status, cookie, resp.json().await.unwrap())
}

async fn admin_call(
    app: &TestApp,
    method: Method,
    path: &str,
    cookie: &str,
    csrf: Option<&str>,
    body: Value,
) -> reqwest::Response {
    let mut req = app
        .http
        .request(method, app.url(path))
        .header("Cookie", cookie.split(';').next().unwrap().to_string())
        .json(&body);
    if let Some(t) = csrf {
        req = req.header("X-CSRF-Token", t);
    }
    req.send().await.unwrap()
}

/// Login refusals (wrong password, non-admin), the cookie's flags, CSRF on every change, logout,
/// and the login rate limit.
async fn admin_api_protections(backend: Backend) {
    // X-Forwarded-Proto is believed from trusted proxies only; this test is its own proxy.
    let env = TestEnv::new(backend).await;
    let app = TestApp::spawn_with(env, |s| s.server.trusted_proxies = vec!["127.0.0.1".into()]).await;
    let page = app.http.get(app.url("/admin/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert!(page.text().await.unwrap().contains("login-form"));
    let me = json(app.http.get(app.url("/admin/api/me")).send().await.unwrap(), 401).await;
    assert_error(&me, "ADMIN_LOGIN_REQUIRED");

    let (status, cookie, body) = http_login(&app, "admin", "not-the-password").await;
    assert_eq!((status, cookie.is_none()), (401, true));
    assert_error(&body, "LOGIN_FAILED");
    let hash = app.state.auth.hash_password("bob-password-1".into()).await.unwrap();
    app.state.db.create_user("bob", Some(hash), false).await.unwrap();
    let (status, _, body) = http_login(&app, "bob", "bob-password-1").await;
    assert_eq!(status, 401, "a non-admin cannot log in");
    assert_error(&body, "LOGIN_FAILED");

    let (status, cookie, body) = http_login(&app, "admin", &app.admin_password).await;
    assert_eq!(status, 200, "{body}");
    let cookie = cookie.expect("a session cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/admin"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP here: {cookie}");
    // Behind a TLS-terminating proxy the cookie is Secure.
    let proxied = app
        .http
        .post(app.url("/admin/api/login"))
        .header("X-Forwarded-Proto", "https")
        .json(&json!({ "username": "admin", "password": app.admin_password }))
        .send()
        .await
        .unwrap();
    let secure = proxied.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(secure.contains("Secure"), "{secure}");
    let csrf = body["data"]["csrfToken"].as_str().unwrap().to_string();
    let me = json(
        admin_call(&app, Method::GET, "/admin/api/me", &cookie, None, json!(null)).await,
        200,
    )
    .await;
    assert_eq!(me["data"]["user"]["username"], "admin");

    let new_user = json!({ "username": "carol", "password": "carol-password", "is_admin": false });
    for token in [None, Some("wrong-token")] {
        let r = json(
            admin_call(&app, Method::POST, "/admin/api/users", &cookie, token, new_user.clone()).await,
            403,
        )
        .await;
        assert_error(&r, "CSRF_FAILED");
    }
    assert!(
        app.state.db.user_by_name("carol").await.unwrap().is_none(),
        "nothing done without the token"
    );
    json(
        admin_call(&app, Method::POST, "/admin/api/users", &cookie, Some(&csrf), new_user).await,
        200,
    )
    .await;
    assert!(app.state.db.user_by_name("carol").await.unwrap().is_some());
    let short = json!({ "username": "dave", "password": "short", "is_admin": true });
    let r = json(
        admin_call(&app, Method::POST, "/admin/api/users", &cookie, Some(&csrf), short).await,
        400,
    )
    .await;
    assert_eq!(r["field"], "password");

    json(
        admin_call(&app, Method::POST, "/admin/api/logout", &cookie, Some(&csrf), json!({})).await,
        200,
    )
    .await;
    let r = json(
        admin_call(&app, Method::GET, "/admin/api/me", &cookie, None, json!(null)).await,
        401,
    )
    .await;
    assert_error(&r, "ADMIN_LOGIN_REQUIRED");

    // Five attempts per minute per address (four used above): then 429 with Retry-After.
    let mut last = 0;
    for _ in 0..3 {
        last = http_login(&app, "admin", "guessing").await.0;
    }
    assert_eq!(last, 429, "login attempts are rate-limited");
    let resp = app
        .http
        .post(app.url("/admin/api/login"))
        .json(&json!({ "username": "admin", "password": app.admin_password }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429, "even the right password waits");
    assert!(resp.headers().get("retry-after").is_some());
}
both_backends!(admin_protections, admin_api_protections);

fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("../test-output/admin");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).unwrap();
}

async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![])
        .await
        .unwrap_or_else(|e| panic!("{script}: {e}"))
}

/// Polls a JavaScript expression until it is truthy; returns its value.
async fn until(c: &Client, what: &str, expr: &str) -> Value {
    for _ in 0..150 {
        let v = js(c, &format!("return ({expr}) || null;")).await;
        if !v.is_null() && v != json!(false) && v != json!("") {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{what}: `{expr}` never held");
}

async fn fill(c: &Client, css: &str, text: &str) {
    let e = c.find(Locator::Css(css)).await.unwrap();
    e.clear().await.unwrap();
    e.send_keys(text).await.unwrap();
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css)).await.unwrap().click().await.unwrap();
}

async fn login(c: &Client, user: &str, password: &str) {
    fill(c, "#username", user).await;
    fill(c, "#password", password).await;
    click(c, "#login-btn").await;
}

/// Log in (after a wrong password and a non-admin are refused), create a key and see it exactly
/// once, revoke it and see the API refuse it, start a session and see a QR whose image decodes to
/// the simulator's current payload, scan it and watch the state turn connected with the number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_page_links_a_session_and_manages_keys() {
    let _b = browsers(2).await;
    let sim = simulator().await;
    let app = TestApp::spawn_with(TestEnv::new(Backend::Sqlite).await, |s| point_at(s, &sim)).await;
    let hash = app.state.auth.hash_password("bob-password-1".into()).await.unwrap();
    app.state.db.create_user("bob", Some(hash), false).await.unwrap();

    // The test's own browser, from the same chromedriver wagate supervises.
    let settings = app.env.settings();
    let driver = app.state.sessions.driver();
    let profile = tempfile::tempdir().unwrap();
    let c = ClientBuilder::rustls()
        .unwrap()
        .capabilities(wagate::browser::capabilities::capabilities(
            &settings.browser,
            profile.path(),
        ))
        .connect(&driver.url().await.unwrap())
        .await
        .expect("a browser for the admin page");
    c.goto(&app.url("/admin/")).await.unwrap();
    until(&c, "login form", "!document.querySelector('#login-view').hidden").await;
    shot(&c, "01-login").await;

    login(&c, "admin", "wrong-password").await;
    let err = until(&c, "login error", "document.querySelector('#login-error').textContent").await;
    assert!(err.as_str().unwrap().contains("Wrong username or password"), "{err}");
    login(&c, "bob", "bob-password-1").await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        js(&c, "return document.querySelector('#app-view').hidden;").await,
        true,
        "bob is no admin"
    );
    login(&c, "admin", &app.admin_password).await;
    until(
        &c,
        "the app",
        "!document.querySelector('#app-view').hidden && document.querySelector('#who').textContent",
    )
    .await;
    shot(&c, "02-sessions").await;

    // Keys: created, shown once, copied away, revoked.
    click(&c, "[data-tab=users]").await;
    until(
        &c,
        "users listed",
        "document.querySelectorAll('#users-table tbody tr').length >= 2",
    )
    .await;
    js(&c, "[...document.querySelectorAll('#users-table tbody tr')].find(r => r.children[1].textContent === 'admin').querySelector('button').click(); return 1;").await;
    until(&c, "keys card", "!document.querySelector('#keys-card').hidden").await;
    fill(&c, "#key-label", "from-the-page").await;
    click(&c, "#create-key-btn").await;
    let key = until(&c, "the new key", "document.querySelector('#new-key').textContent").await;
    let key = key.as_str().unwrap().to_string();
    assert!(key.starts_with("wag_"), "{key}");
    let html = c.source().await.unwrap();
    assert_eq!(html.matches(&key).count(), 1, "the key is on the page exactly once");
    shot(&c, "03-new-key").await;
    json(app.get("/api/v1/me", &key).await, 200).await;
    click(&c, "#dismiss-key").await;
    let html = c.source().await.unwrap();
    assert!(!html.contains(&key), "dismissed: the key is gone from the page");
    let key_id = key.split('_').nth(1).unwrap().to_string();
    until(
        &c,
        "key row",
        &format!("document.querySelector('#keys-table tr[data-key-id=\"{key_id}\"]')"),
    )
    .await;
    js(
        &c,
        &format!(
            "window.confirm = () => true; document.querySelector('#keys-table tr[data-key-id=\"{key_id}\"] button.revoke').click(); return 1;"
        ),
    )
    .await;
    until(
        &c,
        "revoked row",
        &format!("document.querySelector('#keys-table tr[data-key-id=\"{key_id}\"] td.revoked').textContent !== '—'"),
    )
    .await;
    assert_error(&json(app.get("/api/v1/me", &key).await, 401).await, "INVALID_API_KEY");

    // Link a session from the page.
    click(&c, "[data-tab=sessions]").await;
    fill(&c, "#new-session-name", "from-ui").await;
    click(&c, "#new-session-btn").await;
    let mut matched = None;
    for _ in 0..5 {
        let src = until(
            &c,
            "a QR image",
            "document.querySelector('#qr-img').getAttribute('src')",
        )
        .await;
        let payload = decode_qr_data_url(src.as_str().unwrap());
        let current: Vec<String> = sim.control().pages().await.into_iter().filter_map(|p| p.qr).collect();
        if current.contains(&payload) {
            matched = Some(payload);
            break;
        }
        // It rotated between the two reads: look again.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let payload = matched.expect("the page shows the simulator's current QR");
    shot(&c, "04-qr").await;
    scan_shown(&sim, &payload, "15550007777").await;
    let phone = until(
        &c,
        "connected with the number",
        "document.querySelector('#linked-phone').textContent",
    )
    .await;
    assert_eq!(phone, "+15550007777");
    assert_eq!(
        js(&c, "return document.querySelector('#link-state').textContent;").await,
        "connected"
    );
    assert_eq!(js(&c, "return document.querySelector('#qr-box').hidden;").await, true);
    until(
        &c,
        "history",
        "document.querySelectorAll('#link-history li').length >= 3",
    )
    .await;
    until(&c, "the list shows it connected", "[...document.querySelectorAll('#sessions-table tbody tr')].some(r => r.dataset.session === 'from-ui' && r.textContent.includes('connected'))").await;
    shot(&c, "05-connected").await;

    // Messages: one sent through the API shows up with its status.
    json(
        app.post_json(
            "/api/v1/messages/send-text/",
            &app.admin_key,
            json!({ "session": "from-ui", "recipient": "+15550008888", "message": "hello from the API" }),
        )
        .await,
        200,
    )
    .await;
    click(&c, "[data-tab=messages]").await;
    until(
        &c,
        "the message row",
        "document.querySelector('#messages-table tbody').textContent.includes('hello from the API')",
    )
    .await;
    shot(&c, "06-messages").await;
    click(&c, "[data-tab=webhooks]").await;
    shot(&c, "07-webhooks").await;
    // Every event a webhook can take is offered; "all" saves `*`, a choice saves the choice.
    let offered = js(
        &c,
        "return [...document.querySelectorAll('input[name=ev]')].map((c) => c.value);",
    )
    .await;
    for event in [
        "message",
        "message.any",
        "message.reaction",
        "poll.vote",
        "group.join",
        "session.sync",
    ] {
        assert!(
            offered.as_array().unwrap().contains(&json!(event)),
            "{event} in {offered}"
        );
    }
    js(
        &c,
        "const s = document.querySelector('#webhook-user'); s.value = [...s.options].find((o) => o.textContent === 'admin').value; s.dispatchEvent(new Event('change')); return 1;",
    )
    .await;
    until(
        &c,
        "the admin's webhook loaded",
        "document.querySelector('#webhook-secret').textContent.includes('generated')",
    )
    .await;
    fill(&c, "#webhook-url", "http://127.0.0.1:9/hook").await;
    click(&c, "#webhook-form button[type=submit]").await;
    let admin_key = app.admin_key.clone();
    let saved = |want: Value| {
        let app = &app;
        let admin_key = admin_key.clone();
        async move {
            for _ in 0..100 {
                let got = app.get("/api/v1/webhook/", &admin_key).await;
                if got.status() == 200 && json(got, 200).await["data"]["events"] == want {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("the webhook's events never became {want}");
        }
    };
    saved(json!(["*"])).await;
    click(&c, "#webhook-all").await;
    js(
        &c,
        "for (const b of document.querySelectorAll('input[name=ev]')) b.checked = b.value === 'poll.vote'; return 1;",
    )
    .await;
    click(&c, "#webhook-form button[type=submit]").await;
    saved(json!(["poll.vote"])).await;

    // A phone-sized screen.
    c.set_window_size(390, 844).await.unwrap();
    click(&c, "[data-tab=sessions]").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let overflow = js(
        &c,
        "return document.documentElement.scrollWidth <= window.innerWidth + 1;",
    )
    .await;
    assert_eq!(overflow, true, "no sideways scrolling on a phone");
    shot(&c, "08-phone-sessions").await;

    click(&c, "#logout-btn").await;
    until(&c, "logged out", "!document.querySelector('#login-view').hidden").await;
    c.close().await.unwrap();
}
