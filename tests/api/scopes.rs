//! Per-key scopes and sessions (issue 18): every route of the OpenAPI document, walked, refuses a
//! key outside its scope or limited to another session with 403 `FORBIDDEN_SCOPE`, and lets a key
//! inside them past the check; keys made before scopes existed keep full rights; a limited key
//! sends through the simulator only for its session.

use serde_json::{Value, json};
use wagate::auth::scope::Scope;
use wagate::http::route_scope::{Need, Reach, need_of};

use crate::both_backends;
use crate::common::*;
use crate::support::*;

/// A key of the admin user made through the API with these limits (None: no limit).
async fn key_with(app: &TestApp, label: &str, scopes: Option<&[&str]>, sessions: Option<&[&str]>) -> String {
    let mut body = json!({ "label": label });
    if let Some(s) = scopes {
        body["scopes"] = json!(s);
    }
    if let Some(s) = sessions {
        body["sessions"] = json!(s);
    }
    let created = json(app.post_json("/api/v1/apikeys/", &app.admin_key, body).await, 200).await;
    let key = created["data"]["key"].as_str().unwrap().to_string();
    // Verified once, so later calls are answered from the verification cache.
    json(app.get("/api/v1/me", &key).await, 200).await;
    key
}

/// One documented operation, called with `key`: path parameters filled with harmless values (ids
/// that do not exist), `?session=default` where the operation takes the selector, and `body`
/// where it takes one. Returns the status and the body when it is JSON.
async fn call(app: &TestApp, method: &str, path: &str, op: &Value, key: &str, body: &Value) -> (u16, Value) {
    call_with(app, method, path, op, key, body, true).await
}

/// `call`, with or without `?session=default` (without it, the handler's own selector applies:
/// the body's `session` field, else `default`).
async fn call_with(
    app: &TestApp,
    method: &str,
    path: &str,
    op: &Value,
    key: &str,
    body: &Value,
    selector: bool,
) -> (u16, Value) {
    let mut url = path
        .replace("{id}", "999999")
        .replace("{chatId}", "15550002002@c.us")
        .replace("{lid}", "123456789@lid")
        .replace("{phone}", "15550002002")
        .replace("{groupId}", "120363000000000001@g.us")
        .replace("{callId}", "CB8A0A3F5E2D4C1B9A8F7E6D5C4B3A21");
    assert!(!url.contains('{'), "a path parameter the test cannot fill: {path}");
    let params = op["parameters"].as_array().cloned().unwrap_or_default();
    if selector && params.iter().any(|p| p["name"] == "session" && p["in"] == "query") {
        url.push_str("?session=default");
    }
    let mut req = app
        .http
        .request(method.to_uppercase().parse().unwrap(), app.url(&url))
        .header("Authorization", format!("ApiKey {key}"));
    if op.get("requestBody").is_some() {
        req = req.json(body);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let is_json = resp
        .headers()
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap_or("").starts_with("application/json"));
    // An event stream answers 200 and never ends: its body is not read.
    let body = if is_json {
        resp.json().await.unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    (status, body)
}

fn refused(status: u16, body: &Value) -> bool {
    status == 403 && body["error_code"] == "FORBIDDEN_SCOPE"
}

async fn every_route_is_scoped(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let app = TestApp::spawn_with(env, |s| {
        s.auth.rate_limit_per_sec = 10_000;
        s.auth.rate_limit_burst = 10_000;
    })
    .await;
    let all = ["read", "send", "manage"];
    let mut without = std::collections::HashMap::new();
    for scope in all {
        let rest: Vec<&str> = all.iter().copied().filter(|s| *s != scope).collect();
        without.insert(scope, key_with(&app, &format!("no-{scope}"), Some(&rest), None).await);
    }
    let other_session = key_with(&app, "other-session", None, Some(&["other"])).await;
    let narrowest = key_with(&app, "narrowest", Some(&["read"]), Some(&["other"])).await;
    let mut only = std::collections::HashMap::new();
    let mut only_default = std::collections::HashMap::new();
    for scope in all {
        only.insert(
            scope,
            key_with(&app, &format!("only-{scope}"), Some(&[scope]), None).await,
        );
        let k = key_with(
            &app,
            &format!("only-{scope}-default"),
            Some(&[scope]),
            Some(&["default"]),
        )
        .await;
        only_default.insert(scope, k);
    }

    let doc = json(app.http.get(app.url("/api/openapi.json")).send().await.unwrap(), 200).await;
    // The refusal comes before the body is read: an empty object is enough. The controls that
    // must pass the check send a field no body has, so nothing is started or changed.
    let empty = json!({});
    let harmless = json!({ "notAField": true, "phoneNumber": "1" });
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
            if !secured {
                continue;
            }
            let name = format!("{method} {path}");
            let need = need_of(&method.to_uppercase().parse().unwrap(), Some(path));
            let documented = &op["responses"]["403"]["description"];
            match need {
                Need::AnyKey => {
                    let (status, body) = call(&app, method, path, op, &narrowest, &empty).await;
                    assert!(!refused(status, &body), "{name}: any key may call it: {body}");
                    continue;
                }
                Need::Full => {
                    for key in without.values().chain([&other_session]) {
                        let (status, body) = call(&app, method, path, op, key, &empty).await;
                        assert!(refused(status, &body), "{name}: a limited key got {status} {body}");
                    }
                    let (status, body) = call(&app, method, path, op, &app.admin_key, &harmless).await;
                    assert!(!refused(status, &body), "{name}: full rights refused: {body}");
                }
                Need::Scope(scope, reach) => {
                    let (status, body) = call(&app, method, path, op, &without[scope.as_str()], &empty).await;
                    assert!(
                        refused(status, &body),
                        "{name}: a key without `{scope:?}` got {status} {body}"
                    );
                    let (status, body) = call(&app, method, path, op, &other_session, &empty).await;
                    assert!(
                        refused(status, &body),
                        "{name}: a key limited to another session got {status} {body}"
                    );
                    // Without `?session=`, the session the handler settles on (`default`) is checked.
                    let (status, body) = call_with(&app, method, path, op, &other_session, &empty, false).await;
                    assert!(
                        refused(status, &body),
                        "{name}: without a selector, a key limited to another session got {status} {body}"
                    );
                    let inside = match reach {
                        Reach::Session => &only_default[scope.as_str()],
                        Reach::Account => &only[scope.as_str()],
                    };
                    let (status, body) = call(&app, method, path, op, inside, &harmless).await;
                    assert!(
                        !refused(status, &body),
                        "{name}: a key with `{scope:?}` refused: {body}"
                    );
                    if reach == Reach::Account {
                        let limited = &only_default[scope.as_str()];
                        let (status, body) = call(&app, method, path, op, limited, &empty).await;
                        assert!(
                            refused(status, &body),
                            "{name}: reaches every session, got {status} {body}"
                        );
                    }
                }
            }
            assert!(
                documented.as_str().is_some_and(|d| d.contains("FORBIDDEN_SCOPE")),
                "{name}: 403 FORBIDDEN_SCOPE undocumented"
            );
            checked += 1;
        }
    }
    assert!(checked >= 30, "only {checked} routes checked");
    // The walk covered the scopes the table uses.
    for scope in [Scope::Read, Scope::Send, Scope::Manage] {
        assert!(
            wagate::http::route_scope::ROUTES
                .iter()
                .any(|(_, _, n)| matches!(n, Need::Scope(s, _) if *s == scope))
        );
    }
}
both_backends!(route_walk, every_route_is_scoped);

/// Keys made before scopes keep full rights; limits are shown on `/me`, the key list and the
/// admin page's key list; bad limits get 400 naming the field; a limited key cannot make keys.
async fn limits_are_stored_shown_and_validated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let me = json(app.get("/api/v1/me", &app.admin_key).await, 200).await;
    assert_eq!(me["data"]["apiKey"]["fullRights"], true, "{me}");
    assert_eq!(me["data"]["apiKey"]["scopes"], json!(["read", "send", "manage"]));
    assert_eq!(me["data"]["apiKey"]["sessions"], Value::Null);

    for (body, field) in [
        (json!({ "scopes": [] }), "scopes"),
        (json!({ "scopes": ["admin"] }), "scopes"),
        (json!({ "sessions": [] }), "sessions"),
        (json!({ "sessions": ["no spaces"] }), "sessions"),
    ] {
        let resp = app.post_json("/api/v1/apikeys/", &app.admin_key, body.clone()).await;
        let err = json(resp, 400).await;
        assert_error(&err, "VALIDATION_ERROR");
        assert_eq!(err["field"], field, "{body}: {err}");
    }
    let before = app.state.db.list_keys(1).await.unwrap().len();

    let key = key_with(&app, "crm", Some(&["send", "read"]), Some(&["sales", "support"])).await;
    let me = json(app.get("/api/v1/me", &key).await, 200).await;
    assert_eq!(me["data"]["apiKey"]["scopes"], json!(["read", "send"]), "{me}");
    assert_eq!(me["data"]["apiKey"]["sessions"], json!(["sales", "support"]));
    assert_eq!(me["data"]["apiKey"]["fullRights"], false);
    assert_eq!(
        app.state.db.list_keys(1).await.unwrap().len(),
        before + 1,
        "nothing stored for the 400s"
    );

    let listed = json(app.get("/api/v1/apikeys/", &app.admin_key).await, 200).await;
    let row = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["label"] == "crm")
        .unwrap()
        .clone();
    assert_eq!(row["scopes"], json!(["read", "send"]), "{row}");
    assert_eq!(row["sessions"], json!(["sales", "support"]));

    // A limited key cannot give itself (or anyone) more.
    let escalate = app
        .post_json("/api/v1/apikeys/", &key, json!({ "label": "more" }))
        .await;
    assert_error(&json(escalate, 403).await, "FORBIDDEN_SCOPE");

    // The admin page makes and shows limited keys too.
    let cookie = admin_login(&app).await;
    let made = app
        .http
        .post(app.url("/admin/api/users/1/keys"))
        .header("Cookie", &cookie.0)
        .header("X-CSRF-Token", &cookie.1)
        .json(&json!({ "label": "ops", "scopes": ["manage"], "sessions": ["default"] }))
        .send()
        .await
        .unwrap();
    let made = json(made, 200).await;
    assert_eq!(made["data"]["scopes"], json!(["manage"]), "{made}");
    let ops_key = made["data"]["key"].as_str().unwrap();
    let refused = app.get("/api/v1/messages/", ops_key).await;
    assert_error(&json(refused, 403).await, "FORBIDDEN_SCOPE");
    let keys = app
        .http
        .get(app.url("/admin/api/users/1/keys"))
        .header("Cookie", &cookie.0)
        .send()
        .await
        .unwrap();
    let keys = json(keys, 200).await;
    let ops = keys["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["label"] == "ops")
        .unwrap();
    assert_eq!(ops["sessions"], json!(["default"]), "{ops}");
}
both_backends!(limits, limits_are_stored_shown_and_validated);

/// A key limited to `send` on session `default` sends through the simulator; the same request
/// naming another session in its body, or by the default, with a key of another session, is
/// refused and nothing is sent.
async fn a_session_key_sends_only_for_its_session(backend: Backend) {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let env = TestEnv::new(backend).await;
    let app = TestApp::spawn_with(env, |s| point_at(s, &sim)).await;
    app.link(&sim, &app.admin_key.clone(), "default", "15550003001").await;

    let sender = key_with(&app, "sender", Some(&["send"]), Some(&["default"])).await;
    let elsewhere = key_with(&app, "elsewhere", Some(&["send"]), Some(&["sales"])).await;
    let send = |key: String, body: Value| {
        let app = &app;
        async move { app.post_json("/api/v1/messages/send-text/", &key, body).await }
    };
    let sent = send(
        sender.clone(),
        json!({ "recipient": "15550002002", "message": "from a scoped key" }),
    )
    .await;
    let sent = json(sent, 200).await;
    assert_eq!(sent["success"], true, "{sent}");
    for body in [
        json!({ "recipient": "15550002002", "message": "by default" }),
        json!({ "session": "default", "recipient": "15550002002", "message": "named in the body" }),
    ] {
        let refused = json(send(elsewhere.clone(), body).await, 403).await;
        assert_error(&refused, "FORBIDDEN_SCOPE");
    }
    // Its own session named in the body passes the check (and is not linked: 404).
    let own = send(
        elsewhere.clone(),
        json!({ "session": "sales", "recipient": "15550002002", "message": "x" }),
    )
    .await;
    assert_ne!(own.status().as_u16(), 403);
    // A send key cannot read the status, nor log the session out.
    let status = app.get("/api/v1/sessions/status/", &sender).await;
    assert_error(&json(status, 403).await, "FORBIDDEN_SCOPE");

    let texts: Vec<String> = sim
        .control()
        .sent("15550003001")
        .await
        .into_iter()
        .map(|s| s.body.unwrap_or_default())
        .collect();
    assert_eq!(
        texts,
        vec!["from a scoped key".to_string()],
        "only the allowed send went out"
    );
}
both_backends!(session_send, a_session_key_sends_only_for_its_session);

/// Logs in to the admin page as the first-start admin: (the session cookie, the CSRF token).
async fn admin_login(app: &TestApp) -> (String, String) {
    let resp = app
        .http
        .post(app.url("/admin/api/login"))
        .json(&json!({ "username": "admin", "password": app.admin_password }))
        .send()
        .await
        .unwrap();
    let cookie = resp.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let body = json(resp, 200).await;
    (cookie, body["data"]["csrfToken"].as_str().unwrap().to_string())
}
