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
