use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn framework_errors_use_the_envelope() {
    let env = TestEnv::new(Backend::Sqlite).await;
    let app = TestApp::spawn_with(env, |s| s.server.max_json_bytes = 4096).await;
    let auth = format!("ApiKey {}", app.admin_key);

    let body = json(app.get("/api/v1/no-such-thing", &app.admin_key).await, 404).await;
    assert_error(&body, "NOT_FOUND");

    let resp = app
        .http
        .post(app.url("/api/v1/apikeys/"))
        .header("Authorization", &auth)
        .header("Content-Type", "application/json")
        .body("{\"label\": ")
        .send()
        .await
        .unwrap();
    let body = json(resp, 400).await;
    assert_error(&body, "BAD_REQUEST");
    assert!(
        body["message"].as_str().unwrap().contains("EOF"),
        "the parser's reason: {body}"
    );

    let resp = app
        .http
        .post(app.url("/api/v1/apikeys/"))
        .header("Authorization", &auth)
        .header("Content-Type", "application/json")
        .body(format!("{{\"label\": \"{}\"}}", "x".repeat(8192)))
        .send()
        .await
        .unwrap();
    assert_error(&json(resp, 413).await, "PAYLOAD_TOO_LARGE");

    let resp = app
        .http
        .delete(app.url("/api/v1/apikeys/not-a-number/"))
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_error(&json(resp, 400).await, "BAD_REQUEST");

    // Nothing half-stored: the admin still has exactly the first-start key.
    let body = json(app.get("/api/v1/apikeys/", &app.admin_key).await, 200).await;
    assert_eq!(body["data"].as_array().unwrap().len(), 1, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_carry_a_request_id() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let resp = app.http.get(app.url("/health")).send().await.unwrap();
    let id = resp
        .headers()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(id.len(), 36, "a generated UUID: {id}");
    let resp = app
        .http
        .get(app.url("/health"))
        .header("X-Request-Id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers().get("x-request-id").unwrap(), "abc-123");
}
