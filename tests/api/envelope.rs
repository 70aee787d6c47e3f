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

/// A body over `server.max_json_bytes` to the endpoints that read raw bytes: 413 in the envelope
/// (was plain text).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_body_to_a_session_call_is_the_envelope() {
    let env = TestEnv::new(Backend::Sqlite).await;
    let app = TestApp::spawn_with(env, |s| s.server.max_json_bytes = 4096).await;
    let big = format!("{{\"session\": \"{}\"}}", "x".repeat(8192));
    for (method, path) in [
        (reqwest::Method::POST, "/api/v1/sessions/init/"),
        (reqwest::Method::POST, "/api/v1/sessions/logout/"),
        (reqwest::Method::POST, "/api/v1/sessions/restart/"),
        (reqwest::Method::DELETE, "/api/v1/sessions/"),
    ] {
        let resp = app
            .http
            .request(method.clone(), app.url(path))
            .header("Authorization", format!("ApiKey {}", app.admin_key))
            .header("Content-Type", "application/json")
            .body(big.clone())
            .send()
            .await
            .unwrap();
        let body = json(resp, 413).await;
        assert_error(&body, "PAYLOAD_TOO_LARGE");
        assert!(
            body["message"].as_str().unwrap().contains("4096"),
            "{method} {path}: the limit is named: {body}"
        );
    }
}

/// A method a path does not take: 405 with `Allow` listing the ones it does; an unknown path
/// stays 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_method_on_a_known_path_is_405_with_allow() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let auth = format!("ApiKey {}", app.admin_key);
    for (method, path, allow) in [
        ("PATCH", "/api/v1/webhook/", "GET, PUT, DELETE"),
        ("POST", "/api/v1/me", "GET"),
        ("PUT", "/api/v1/messages/12/", "GET, PATCH, DELETE"),
        ("GET", "/api/v1/messages/12/reaction/", "POST"),
        ("GET", "/api/v1/messages/send-text/", "POST"),
        ("GET", "/api/v1/sessions/init/", "POST"),
        ("DELETE", "/health", "GET"),
        ("POST", "/api/openapi.json", "GET"),
        ("PUT", "/admin/api/sessions", "GET, POST"),
    ] {
        let resp = app
            .http
            .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), app.url(path))
            .header("Authorization", &auth)
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.headers().get("allow").map(|v| v.to_str().unwrap().to_string()),
            Some(allow.to_string()),
            "{method} {path}"
        );
        let body = json(resp, 405).await;
        assert_error(&body, "METHOD_NOT_ALLOWED");
    }
    let resp = app.http.patch(app.url("/api/v1/nothing-here/")).send().await.unwrap();
    assert!(resp.headers().get("allow").is_none());
    assert_error(&json(resp, 404).await, "NOT_FOUND");
}

/// Answers of libraries below our handlers: Swagger UI's missing file, actix-files' refused
/// range, the Prometheus token check, a query string of the wrong type, a multipart body without
/// its boundary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn library_errors_are_the_envelope_too() {
    let env = TestEnv::new(Backend::Sqlite).await;
    let app = TestApp::spawn_with(env, |s| s.server.metrics_token = "scrape-me-please".into()).await;
    let auth = format!("ApiKey {}", app.admin_key);

    let resp = app.http.get(app.url("/docs/no-such-file.js")).send().await.unwrap();
    assert_error(&json(resp, 404).await, "NOT_FOUND");

    let resp = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.headers().get("www-authenticate").unwrap(), "Bearer");
    assert_error(&json(resp, 401).await, "UNAUTHORIZED");

    let resp = app.get("/api/v1/messages/?limit=many", &app.admin_key).await;
    assert_error(&json(resp, 400).await, "BAD_REQUEST");

    let resp = app
        .http
        .post(app.url("/api/v1/messages/send-media/"))
        .header("Authorization", &auth)
        .header("Content-Type", "multipart/form-data")
        .body("--x\r\n")
        .send()
        .await
        .unwrap();
    assert_error(&json(resp, 400).await, "BAD_REQUEST");

    // A stored file asked for a range past its end: actix-files answers 416.
    let media_dir = app.state.settings.media.dir.clone();
    std::fs::create_dir_all(media_dir.join("1")).unwrap();
    std::fs::write(media_dir.join("1/a.txt"), b"twelve bytes").unwrap();
    let row = app
        .state
        .db
        .insert_message(wagate::db::NewMessage {
            media_path: Some("1/a.txt".into()),
            media_mime: Some("text/plain".into()),
            msg_type: wagate::db::MessageKind::Document,
            ..message_row(None, "in", wagate::db::MessageStatus::Received)
        })
        .await
        .unwrap();
    let resp = app
        .http
        .get(app.url(&format!("/api/v1/messages/{}/media", row.id)))
        .header("Authorization", &auth)
        .header("Range", "bytes=100-200")
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("content-range").is_some(), "{:?}", resp.headers());
    assert_error(&json(resp, 416).await, "RANGE_NOT_SATISFIABLE");
}

/// Documents a limit that no application code can change: the HTTP/1 codec answers a request head
/// with more than 96 headers (or over 128 KiB) with 431 and an empty body before the request
/// reaches wagate. Kept as a test so a change of actix's behaviour is noticed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_request_head_is_431_from_the_codec() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn(Backend::Sqlite).await;
    let mut head = String::from("GET /health HTTP/1.1\r\nHost: x\r\n");
    for i in 0..100 {
        head.push_str(&format!("X-Filler-{i}: y\r\n"));
    }
    head.push_str("\r\n");
    let mut tcp = tokio::net::TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap();
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(10), tcp.read_to_end(&mut answer))
        .await
        .expect("the codec closes the connection")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    assert!(answer.contains("content-length: 0"), "an empty body: {answer}");
}
