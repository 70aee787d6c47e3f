//! `GET /metrics` after a scripted send, and media retention.

use std::time::{Duration, SystemTime};

use serde_json::json;

use crate::common::*;
use crate::receiver::Receiver;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_expose_the_series_after_a_send() {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let app = TestApp::spawn_with(TestEnv::new(Backend::Sqlite).await, |s| {
        point_at(s, &sim);
        s.server.metrics_token = "scrape-me-please".into();
    })
    .await;
    let key = app.admin_key.clone();
    let rx = Receiver::start().await;
    json(
        app.send_json(reqwest::Method::PUT, "/api/v1/webhook/", &key, json!({ "url": rx.url }))
            .await,
        200,
    )
    .await;
    app.link(&sim, &key, "main", "15550161616").await;
    json(
        app.post_json(
            "/api/v1/messages/send-text/",
            &key,
            json!({ "session": "main", "recipient": "+15550171717", "message": "measured" }),
        )
        .await,
        200,
    )
    .await;
    rx.wait_for(10, "a delivered event", |g| !g.is_empty()).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let refused = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(refused.status(), 401, "the token is required");
    let text = app
        .http
        .get(app.url("/metrics"))
        .bearer_auth("scrape-me-please")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for series in [
        "wagate_sessions{state=\"connected\"} 1",
        "wagate_session_state_changes_total{state=\"connected\"}",
        "wagate_messages_sent_total{type=\"chat\"}",
        "wagate_send_duration_seconds_bucket{type=\"chat\"",
        "wagate_ack_latency_seconds_bucket{ack=\"",
        "wagate_webhook_deliveries_total{result=\"delivered\"}",
        "wagate_webhook_delivery_duration_seconds_bucket",
        "wagate_outbox_depth",
        "wagate_queue_depth",
        "wagate_chromium_pss_bytes{session=\"1\"}",
        "wagate_chromium_rss_bytes{session=\"1\"}",
        "wagate_chromium_processes{session=\"1\"}",
        "wagate_process_resident_memory_bytes",
        "wagate_db_statements_total{result=\"ok\"}",
        "route=\"/api/v1/messages/send-text/\"",
        "wagate_http_request_duration_seconds_bucket",
    ] {
        assert!(text.contains(series), "{series} missing in:\n{text}");
    }
    let http_line = text
        .lines()
        .find(|l| {
            l.starts_with("wagate_http_requests_total") && l.contains("send-text") && l.contains("status=\"200\"")
        })
        .expect("the send is counted by route and status");
    assert!(http_line.ends_with(" 1") || http_line.split(' ').next_back().unwrap().parse::<f64>().unwrap() >= 1.0);
    let pss: f64 = text
        .lines()
        .find(|l| l.starts_with("wagate_chromium_pss_bytes{session=\"1\"}"))
        .and_then(|l| l.split(' ').next_back())
        .unwrap()
        .parse()
        .unwrap();
    assert!(pss > 10.0 * 1024.0 * 1024.0, "a browser uses more than 10 MiB: {pss}");
}

/// Media older than `media.retention_days` is deleted and its message marked; newer media and the
/// rest of the row stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_retention_deletes_old_files_and_marks_their_messages() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let settings = app.env.settings();
    let dir = settings.media.dir.join("whatsapp_media/1");
    std::fs::create_dir_all(&dir).unwrap();
    let long_ago = SystemTime::now() - Duration::from_secs(40 * 86_400);
    let mut ids = Vec::new();
    for (name, age_days) in [("old.png", 40), ("new.png", 1)] {
        let path = dir.join(name);
        std::fs::write(&path, png_bytes(100)).unwrap();
        if age_days > 30 {
            std::fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(long_ago)
                .unwrap();
        }
        let at = wagate::db::now() - chrono::Duration::days(age_days);
        let row = app
            .state
            .db
            .insert_message(wagate::db::NewMessage {
                chat_id: "15550001111@c.us".into(),
                msg_type: wagate::db::MessageKind::Image,
                body: None,
                caption: Some(name.into()),
                media_path: Some(format!("whatsapp_media/1/{name}")),
                media_mime: Some("image/png".into()),
                media_size: Some(108),
                wa_message_id: Some(format!("false_x_{name}")),
                created_at: at,
                updated_at: at,
                ..message_row(None, "in", wagate::db::MessageStatus::Received)
            })
            .await
            .unwrap();
        ids.push(row.id);
    }
    let stray = dir.join("stray-upload.bin");
    std::fs::write(&stray, b"left behind").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&stray)
        .unwrap()
        .set_modified(long_ago)
        .unwrap();

    let marked = wagate::upkeep::purge_media(&app.state.db, &app.state.settings, app.state.sessions.media())
        .await
        .unwrap();
    assert_eq!(marked, 1);
    assert!(!dir.join("old.png").exists() && !stray.exists(), "old files deleted");
    assert!(dir.join("new.png").exists(), "recent media kept");
    let old = json(
        app.get(&format!("/api/v1/messages/{}/", ids[0]), &app.admin_key).await,
        200,
    )
    .await;
    assert!(old["data"]["media"]["deletedAt"].is_string(), "{old}");
    assert!(old["data"]["media"]["url"].is_null(), "{old}");
    assert_eq!(old["data"]["caption"], "old.png", "the message itself stays");
    let new = json(
        app.get(&format!("/api/v1/messages/{}/", ids[1]), &app.admin_key).await,
        200,
    )
    .await;
    assert!(new["data"]["media"]["deletedAt"].is_null(), "{new}");
    let file = app
        .get(&format!("/api/v1/messages/{}/media", ids[0]), &app.admin_key)
        .await;
    assert_eq!(file.status(), 404);
}
