//! What must hold when clients retry, the database misbehaves or uploads pile up: idempotency
//! keys bound to their request, and bounded memory for uploads.

use std::time::Duration;

use reqwest::multipart::{Form, Part};
use serde_json::json;
use wagate_sim::Simulator;

use crate::both_backends;
use crate::common::*;
use crate::support::*;

async fn linked(backend: Backend, sim: &Simulator, phone: &str, ttl_secs: u64) -> TestApp {
    let app = TestApp::spawn_with(TestEnv::new(backend).await, |s| {
        point_at(s, sim);
        s.sending.idempotency_ttl_secs = ttl_secs;
    })
    .await;
    app.link(sim, &app.admin_key.clone(), "default", phone).await;
    app
}

async fn send_text(app: &TestApp, key: &str, text: &str) -> reqwest::Response {
    app.http
        .post(app.url("/api/v1/messages/send-text/"))
        .header("Authorization", format!("ApiKey {}", app.admin_key))
        .header("Idempotency-Key", key)
        .json(&json!({ "recipient": "15550002002", "message": text }))
        .send()
        .await
        .unwrap()
}

/// The same key with the same request answers the first result; with another request, 422
/// `IDEMPOTENCY_KEY_REUSED` and nothing is sent; after `sending.idempotency_ttl_secs` the key is
/// free again. Media requests are fingerprinted by their file's bytes too.
async fn idempotency_keys(backend: Backend) {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let app = linked(backend, &sim, "15550001501", 3).await;
    let first = json(send_text(&app, "order-1", "the first").await, 200).await;
    let again = json(send_text(&app, "order-1", "the first").await, 200).await;
    assert_eq!(first["data"]["dbId"], again["data"]["dbId"]);
    let reused = json(send_text(&app, "order-1", "a different message").await, 422).await;
    assert_error(&reused, "IDEMPOTENCY_KEY_REUSED");
    assert!(
        reused["message"].as_str().unwrap().contains("different request"),
        "{reused}"
    );

    let media = |bytes: Vec<u8>| {
        let form = Form::new()
            .text("recipient", "15550002002")
            .text("media_type", "document")
            .part("file", Part::bytes(bytes).file_name("a.pdf"));
        app.http
            .post(app.url("/api/v1/messages/send-media/"))
            .header("Authorization", format!("ApiKey {}", app.admin_key))
            .header("Idempotency-Key", "upload-1")
            .multipart(form)
            .send()
    };
    let m1 = json(media(b"%PDF-1.7 one".to_vec()).await.unwrap(), 200).await;
    let m2 = json(media(b"%PDF-1.7 one".to_vec()).await.unwrap(), 200).await;
    assert_eq!(m1["data"]["dbId"], m2["data"]["dbId"]);
    let m3 = json(media(b"%PDF-1.7 two".to_vec()).await.unwrap(), 422).await;
    assert_error(&m3, "IDEMPOTENCY_KEY_REUSED");
    let files = std::fs::read_dir(app.env.data_dir().join("media/whatsapp_media/1"))
        .unwrap()
        .count();
    assert_eq!(files, 1, "the retries' copies were not kept");

    let sent = sim.control().sent("15550001501").await;
    assert_eq!(sent.len(), 2, "one text and one document: {sent:?}");

    tokio::time::sleep(Duration::from_secs(4)).await;
    let later = json(send_text(&app, "order-1", "a different message").await, 200).await;
    assert_ne!(later["data"]["dbId"], first["data"]["dbId"], "the key expired");
    assert_eq!(sim.control().sent("15550001501").await.len(), 3);
}
both_backends!(idempotency_keys_are_bound_to_their_request, idempotency_keys);
