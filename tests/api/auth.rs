use crate::both_backends;
use crate::common::*;

async fn me(app: &TestApp, header: Option<(&str, String)>) -> reqwest::Response {
    let mut req = app.http.get(app.url("/api/v1/me"));
    if let Some((name, value)) = header {
        req = req.header(name, value);
    }
    req.send().await.unwrap()
}

async fn key_forms_and_refusals(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let key = app.admin_key.clone();
    assert!(key.starts_with("wag_"), "first start made a key");

    for header in [
        ("Authorization", format!("ApiKey {key}")),
        ("Authorization", format!("Bearer {key}")),
        ("Authorization", format!("apikey {key}")),
        ("X-Api-Key", key.clone()),
    ] {
        let body = json(me(&app, Some(header.clone())).await, 200).await;
        assert_eq!(body["data"]["user"]["username"], "admin", "{header:?}");
        assert_eq!(body["data"]["apiKey"]["label"], "first-start");
    }

    let (prefix, secret) = key.rsplit_once('_').unwrap();
    let mut wrong_secret = secret.to_string();
    wrong_secret.replace_range(0..1, if secret.starts_with('A') { "B" } else { "A" });
    let unknown_id = format!("wag_zzzzzzzzzzzz_{secret}");
    let refused = [
        None,
        Some(("Authorization", format!("ApiKey {prefix}_{wrong_secret}"))),
        Some(("Authorization", unknown_id.replace("wag_", "ApiKey wag_"))),
        Some(("Authorization", format!("Basic {key}"))),
        Some(("Authorization", "ApiKey".to_string())),
        Some(("Authorization", format!("ApiKey{key}"))),
        Some(("Authorization", "ApiKey not-a-key".to_string())),
        Some(("X-Api-Key", String::new())),
    ];
    for header in refused {
        let resp = me(&app, header.clone()).await;
        let body = json(resp, 401).await;
        assert_error(&body, "INVALID_API_KEY");
        assert_eq!(body["error"], "Invalid API key", "{header:?}");
    }
}
both_backends!(key_forms, key_forms_and_refusals);

async fn revoked_key_is_refused_at_once_even_when_cached(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_key.clone();
    let resp = app
        .http
        .post(app.url("/api/v1/apikeys/"))
        .header("Authorization", format!("ApiKey {admin}"))
        .json(&serde_json::json!({ "label": "worker" }))
        .send()
        .await
        .unwrap();
    let created = json(resp, 200).await;
    let new_key = created["data"]["key"].as_str().unwrap().to_string();
    let id = created["data"]["id"].as_i64().unwrap();

    // Twice: the second answer comes from the cache.
    for _ in 0..2 {
        json(app.get("/api/v1/me", &new_key).await, 200).await;
    }
    let listed = json(app.get("/api/v1/apikeys/", &admin).await, 200).await;
    assert!(
        listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k.get("key").is_none()),
        "secrets never listed"
    );

    let resp = app
        .http
        .delete(app.url(&format!("/api/v1/apikeys/{id}/")))
        .header("Authorization", format!("ApiKey {admin}"))
        .send()
        .await
        .unwrap();
    json(resp, 200).await;
    assert_error(
        &json(app.get("/api/v1/me", &new_key).await, 401).await,
        "INVALID_API_KEY",
    );
    json(app.get("/api/v1/me", &admin).await, 200).await;

    // last_used_at is recorded in batches, not per request.
    app.state.auth.flush_last_used().await.unwrap();
    let keys = app.state.db.list_keys(1).await.unwrap();
    assert!(keys.iter().all(|k| k.last_used_at.is_some()), "{keys:?}");
}
both_backends!(revocation, revoked_key_is_refused_at_once_even_when_cached);

async fn users_cannot_touch_each_others_keys(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let bob = app.state.db.create_user("bob", None, false).await.unwrap();
    let (_, bob_key) = app.state.auth.create_key_for(bob.id, "bob").await.unwrap();
    let resp = app
        .http
        .delete(app.url("/api/v1/apikeys/1/"))
        .header("Authorization", format!("ApiKey {bob_key}"))
        .send()
        .await
        .unwrap();
    assert_error(&json(resp, 404).await, "NOT_FOUND");
    json(app.get("/api/v1/me", &app.admin_key).await, 200).await;
    let body = json(app.get("/api/v1/me", &bob_key).await, 200).await;
    assert_eq!(body["data"]["user"]["isAdmin"], false);
}
both_backends!(key_isolation, users_cannot_touch_each_others_keys);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_over_its_rate_gets_429_with_retry_after() {
    let env = TestEnv::new(Backend::Sqlite).await;
    let app = TestApp::spawn_with(env, |s| {
        s.auth.rate_limit_per_sec = 1;
        s.auth.rate_limit_burst = 3;
    })
    .await;
    for _ in 0..3 {
        json(app.get("/api/v1/me", &app.admin_key).await, 200).await;
    }
    let resp = app.get("/api/v1/me", &app.admin_key).await;
    let retry: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    assert_error(&json(resp, 429).await, "RATE_LIMITED");
    let (_, other) = app.state.auth.create_key_for(1, "other").await.unwrap();
    json(app.get("/api/v1/me", &other).await, 200).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    json(app.get("/api/v1/me", &app.admin_key).await, 200).await;
}

async fn send(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = app.http.get(app.url(path));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.send().await.unwrap()
}

/// A key with a wrong secret and one with an unknown id, both well-formed.
fn bad_keys(key: &str) -> (String, String) {
    let (prefix, secret) = key.rsplit_once('_').unwrap();
    let flipped = if secret.starts_with('A') { "B" } else { "A" };
    (
        format!("{prefix}_{flipped}{}", &secret[1..]),
        format!("wag_zzzzzzzzzzzz_{secret}"),
    )
}

/// Issue 14 (6): an `Authorization` header that is not ours (a proxy's Basic, someone else's
/// Bearer token) does not hide `X-Api-Key`; ours in `Authorization` wins and two different keys
/// are refused.
async fn a_foreign_authorization_does_not_hide_x_api_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let key = app.admin_key.clone();
    let (wrong, _) = bad_keys(&key);
    let (_, other) = app.state.auth.create_key_for(1, "other").await.unwrap();
    let ours = format!("ApiKey {key}");
    let bearer = format!("Bearer {key}");
    let accepted: &[&[(&str, &str)]] = &[
        &[("Authorization", "Basic cHJveHk6c2VjcmV0"), ("X-Api-Key", &key)],
        &[
            ("Authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig"),
            ("X-Api-Key", &key),
        ],
        &[("Authorization", "Negotiate YIIB"), ("X-Api-Key", &key)],
        // The same key twice is one key.
        &[("Authorization", &ours), ("X-Api-Key", &key)],
        &[("Authorization", "Basic cHJveHk6c2VjcmV0"), ("Authorization", &bearer)],
    ];
    for headers in accepted {
        let body = json(send(&app, "/api/v1/me", headers).await, 200).await;
        assert_eq!(body["data"]["user"]["username"], "admin", "{headers:?}");
    }
    let mistyped = format!("ApiKey {wrong}");
    let refused: &[&[(&str, &str)]] = &[
        &[("Authorization", "Basic cHJveHk6c2VjcmV0"), ("X-Api-Key", &wrong)],
        &[("Authorization", "Basic cHJveHk6c2VjcmV0")],
        &[("Authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig")],
        // Ours in Authorization is final: a wrong one is not rescued by a right X-Api-Key.
        &[("Authorization", &mistyped), ("X-Api-Key", &key)],
        // Two different valid keys: which one was meant is not guessed.
        &[("Authorization", &ours), ("X-Api-Key", &other)],
        &[("X-Api-Key", &key), ("X-Api-Key", &other)],
    ];
    for headers in refused {
        let body = json(send(&app, "/api/v1/me", headers).await, 401).await;
        assert_error(&body, "INVALID_API_KEY");
    }
}
both_backends!(foreign_authorization, a_foreign_authorization_does_not_hide_x_api_key);

/// Issue 14 (also): keys are stored as HMAC-SHA256, and a key stored the old way (bcrypt) still
/// works, is rewritten on its first use, and keeps working after a restart (empty cache).
async fn a_bcrypt_key_is_upgraded_on_first_use(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let stored = |app: &TestApp, key_id: String| {
        let db = app.state.db.clone();
        async move { db.active_key(&key_id).await.unwrap().unwrap().0.secret_hash }
    };
    let admin_id = app.admin_key[4..16].to_string();
    assert!(
        stored(&app, admin_id).await.starts_with("hmac-sha256$"),
        "new keys are stored as HMAC"
    );

    let (id, secret, legacy) = wagate::auth::api_key::generate();
    let bcrypt_hash = wagate::auth::password::hash(secret, 4).await.unwrap();
    app.state
        .db
        .insert_api_key(1, &id, bcrypt_hash.clone(), "legacy")
        .await
        .unwrap();
    let (wrong, _) = bad_keys(&legacy);
    assert_error(&json(app.get("/api/v1/me", &wrong).await, 401).await, "INVALID_API_KEY");
    assert_eq!(
        stored(&app, id.clone()).await,
        bcrypt_hash,
        "a wrong secret changes nothing"
    );

    let body = json(app.get("/api/v1/me", &legacy).await, 200).await;
    assert_eq!(body["data"]["apiKey"]["label"], "legacy");
    let upgraded = stored(&app, id.clone()).await;
    assert!(upgraded.starts_with("hmac-sha256$"), "{upgraded}");

    let app = app.restart_with(|_| {}).await;
    json(app.get("/api/v1/me", &legacy).await, 200).await;
    assert_error(&json(app.get("/api/v1/me", &wrong).await, 401).await, "INVALID_API_KEY");
    assert_eq!(stored(&app, id).await, upgraded, "upgraded once");
}
both_backends!(bcrypt_upgrade, a_bcrypt_key_is_upgraded_on_first_use);

/// Issue 14 (also): refused keys are limited per client address. Over the limit a request with
/// a key not verified recently gets 429 before any verification (a correct bcrypt-era key is
/// not even checked, so not upgraded); a key verified recently keeps working; a valid new key
/// waits at most one refill.
async fn a_flood_of_bad_keys_gets_429(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let app = TestApp::spawn_with(env, |s| {
        s.auth.failed_per_minute = 60;
        s.auth.failed_burst = 3;
    })
    .await;
    let key = app.admin_key.clone();
    json(app.get("/api/v1/me", &key).await, 200).await;
    let (wrong, unknown) = bad_keys(&key);
    for bad in [&wrong, &unknown, "wag_malformed"] {
        assert_error(&json(app.get("/api/v1/me", bad).await, 401).await, "INVALID_API_KEY");
    }
    let (_, fresh) = app.state.auth.create_key_for(1, "fresh").await.unwrap();
    let (id, secret, legacy) = wagate::auth::api_key::generate();
    let bcrypt_hash = wagate::auth::password::hash(secret, 4).await.unwrap();
    app.state
        .db
        .insert_api_key(1, &id, bcrypt_hash.clone(), "legacy")
        .await
        .unwrap();
    for k in [wrong.as_str(), &unknown, &fresh, &legacy] {
        let resp = app.get("/api/v1/me", k).await;
        let retry: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert_eq!(retry, 1, "one refused key per second");
        assert_error(&json(resp, 429).await, "RATE_LIMITED");
    }
    let (row, _) = app.state.db.active_key(&id).await.unwrap().unwrap();
    assert_eq!(row.secret_hash, bcrypt_hash, "nothing was verified while limited");
    json(app.get("/api/v1/me", &key).await, 200).await;
    // A missing key costs nothing and is a plain 401.
    assert_error(&json(send(&app, "/api/v1/me", &[]).await, 401).await, "INVALID_API_KEY");

    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    json(app.get("/api/v1/me", &fresh).await, 200).await;
    json(app.get("/api/v1/me", &legacy).await, 200).await;
}
both_backends!(failed_auth_limit, a_flood_of_bad_keys_gets_429);

async fn login(app: &TestApp, password: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = app.http.post(app.url("/admin/api/login"));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.json(&serde_json::json!({ "username": "admin", "password": password }))
        .send()
        .await
        .unwrap()
}

/// Issue 14 (also): behind a trusted proxy every client has its own limits (login attempts and
/// refused keys), keyed on the right-most forwarded address that is not a proxy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_clients_are_limited_separately() {
    let env = TestEnv::new(Backend::Sqlite).await;
    let app = TestApp::spawn_with(env, |s| {
        s.server.trusted_proxies = vec!["127.0.0.0/8".into()];
        s.auth.failed_per_minute = 1;
        s.auth.failed_burst = 2;
    })
    .await;
    let a = [("X-Forwarded-For", "203.0.113.1")];
    // What a proxy sends when client A made up an X-Forwarded-For of its own.
    let a_spoofing = [("X-Forwarded-For", "203.0.113.2, 203.0.113.1")];
    let b = [("X-Forwarded-For", "203.0.113.2")];

    for _ in 0..5 {
        assert_eq!(login(&app, "guessing", &a).await.status(), 401);
    }
    assert_eq!(login(&app, &app.admin_password, &a).await.status(), 429);
    assert_eq!(login(&app, &app.admin_password, &a_spoofing).await.status(), 429);
    let resp = login(&app, &app.admin_password, &b).await;
    assert_eq!(resp.status(), 200, "another client behind the same proxy logs in");

    let (wrong, _) = bad_keys(&app.admin_key);
    let with_key = |h: &[(&'static str, &'static str)]| {
        let mut v: Vec<(&str, String)> = h.iter().map(|(k, v)| (*k, v.to_string())).collect();
        v.push(("X-Api-Key", wrong.clone()));
        v
    };
    let call = |headers: Vec<(&'static str, String)>| {
        let req = headers
            .into_iter()
            .fold(app.http.get(app.url("/api/v1/me")), |r, (k, v)| r.header(k, v));
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(call(with_key(&a)).await, 401);
    assert_eq!(call(with_key(&a)).await, 401);
    assert_eq!(call(with_key(&a)).await, 429);
    assert_eq!(
        call(with_key(&a_spoofing)).await,
        429,
        "a made-up left entry changes nothing"
    );
    assert_eq!(call(with_key(&b)).await, 401, "client B has its own allowance");
    assert_eq!(call(with_key(&[])).await, 401, "the proxy's own requests too");
}

/// Issue 14 (also): from a peer that is not a trusted proxy (here 10/8 is trusted, 127.0.0.1 not), forwarding
/// headers are ignored: they neither pick a fresh rate-limit bucket nor make the cookie Secure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_an_untrusted_peer_forwarding_headers_are_ignored() {
    let env = TestEnv::new(Backend::Sqlite).await;
    let app = TestApp::spawn_with(env, |s| {
        s.server.trusted_proxies = vec!["10.0.0.0/8".into()];
        s.auth.failed_per_minute = 1;
        s.auth.failed_burst = 2;
    })
    .await;
    let resp = login(
        &app,
        &app.admin_password,
        &[
            ("X-Forwarded-Proto", "https"),
            ("Forwarded", "for=192.0.2.1;proto=https"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        !cookie.contains("Secure"),
        "an untrusted peer cannot claim HTTPS: {cookie}"
    );
    for n in 0..4 {
        let xff = format!("198.51.100.{n}");
        let status = login(&app, "guessing", &[("X-Forwarded-For", &xff)]).await.status();
        assert_eq!(status, 401, "attempt {n}");
    }
    let status = login(&app, &app.admin_password, &[("X-Forwarded-For", "198.51.100.99")])
        .await
        .status();
    assert_eq!(status, 429, "every attempt counted against the peer");

    let (wrong, _) = bad_keys(&app.admin_key);
    let mut statuses = vec![];
    for n in 0..3 {
        let xff = format!("198.51.100.{n}");
        statuses.push(
            send(&app, "/api/v1/me", &[("X-Forwarded-For", &xff), ("X-Api-Key", &wrong)])
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, [401, 401, 429]);
}

/// Issue 14 (also): `/health` does not show the database's own error (hosts, users, file
/// paths) to anonymous callers; a caller with a recently verified key gets it.
async fn health_hides_database_errors_from_anonymous_callers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    json(app.get("/api/v1/me", &app.admin_key).await, 200).await;
    let (wrong, _) = bad_keys(&app.admin_key);
    let secret_bits = match &app.env.pg {
        Some(pg) => {
            let name = pg.url.rsplit('/').next().unwrap().to_string();
            pg.drop_now().await;
            name
        }
        None => {
            let path = app.env.dir.path().join("wagate.db");
            std::fs::remove_file(&path).unwrap();
            app.env.dir.path().display().to_string()
        }
    };
    for headers in [vec![], vec![("X-Api-Key", wrong.as_str())]] {
        let resp = send(&app, "/health", &headers).await;
        let text = resp.text().await.unwrap();
        let body: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["status"], "unhealthy", "{text}");
        let word = body["database"]["error"].as_str().unwrap();
        assert!(["unreachable", "timed out"].contains(&word), "{text}");
        assert!(body["database"].get("detail").is_none(), "{text}");
        assert!(!text.contains(&secret_bits), "{text}");
    }
    let resp = app.get("/health", &app.admin_key).await;
    let body = json(resp, 503).await;
    assert_eq!(body["database"]["error"], "unreachable");
    let detail = body["database"]["detail"].as_str().unwrap();
    if backend == Backend::Sqlite {
        assert!(detail.contains(&secret_bits), "the key holder sees the path: {detail}");
    } else {
        assert!(!detail.is_empty());
    }
}
both_backends!(health_detail, health_hides_database_errors_from_anonymous_callers);

/// Issue 14 (the same kind elsewhere): the metrics token and the admin cookie are found among
/// several headers/cookies, not only in the first one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_token_and_admin_cookie_are_not_hidden_by_others() {
    let env = TestEnv::new(Backend::Sqlite).await;
    let app = TestApp::spawn_with(env, |s| s.server.metrics_token = "scrape-token".into()).await;
    let ok: &[&[(&str, &str)]] = &[
        &[("Authorization", "Bearer scrape-token")],
        &[("Authorization", "bearer scrape-token")],
        &[
            ("Authorization", "Basic cHJveHk6c2VjcmV0"),
            ("Authorization", "Bearer scrape-token"),
        ],
    ];
    for headers in ok {
        assert_eq!(send(&app, "/metrics", headers).await.status(), 200, "{headers:?}");
    }
    for headers in [
        &[("Authorization", "Bearer wrong")][..],
        &[("Authorization", "Basic cHJveHk6c2VjcmV0")],
    ] {
        assert_eq!(send(&app, "/metrics", headers).await.status(), 401, "{headers:?}");
    }

    let resp = login(&app, &app.admin_password, &[]).await;
    let set = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    let live = set.split(';').next().unwrap().to_string();
    let both = format!("wagate_admin=stale-from-an-old-login; {live}");
    let body = json(send(&app, "/admin/api/me", &[("Cookie", &both)]).await, 200).await;
    assert_eq!(body["data"]["user"]["username"], "admin");
    let stale = [("Cookie", "wagate_admin=stale-from-an-old-login")];
    assert_error(
        &json(send(&app, "/admin/api/me", &stale).await, 401).await,
        "ADMIN_LOGIN_REQUIRED",
    );
}
