//! Read receipts and presence (`/api/v1/chats/{chatId}/read/` and `…/presence/`), and `markRead`
//! on sends: each signal reaches the simulated WhatsApp server; bad input is 400 naming the field.

use std::time::Duration;

use serde_json::json;

use crate::both_backends;
use crate::common::*;
use crate::support::*;

const DEVICE: &str = "15550001701";

/// The signals (chat, state) the device sent, with `state` among `states`.
async fn signals(sim: &wagate_sim::Simulator, states: &[&str]) -> Vec<(String, String)> {
    sim.control()
        .chat_states(DEVICE)
        .await
        .into_iter()
        .filter(|r| states.contains(&r.state.as_str()))
        .map(|r| (r.chat, r.state))
        .collect()
}

/// The chat a receipt for 15550002002 names: its `@c.us` id, or (2026-09 pages) its LID.
fn is_peer_chat(chat: &str) -> bool {
    chat == "15550002002@c.us" || chat.ends_with("@lid")
}

async fn receipts_and_presence(backend: Backend) {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let app = TestApp::spawn_with(TestEnv::new(backend).await, |s| point_at(s, &sim)).await;
    let key = app.admin_key.clone();
    app.link(&sim, &key, "default", DEVICE).await;

    // A send no longer marks its chat read; with markRead it does, once.
    let sent = app
        .post_json(
            "/api/v1/messages/send-text/",
            &key,
            json!({ "recipient": "15550002002", "message": "no receipt" }),
        )
        .await;
    json(sent, 200).await;
    assert!(
        signals(&sim, &["seen"]).await.is_empty(),
        "a plain send sent a read receipt"
    );
    let sent = app
        .post_json(
            "/api/v1/messages/send-text/",
            &key,
            json!({ "recipient": "15550002002", "message": "read it", "markRead": true }),
        )
        .await;
    json(sent, 200).await;
    let seen = signals(&sim, &["seen"]).await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(is_peer_chat(&seen[0].0), "{seen:?}");

    // The chat marked read through its own endpoint.
    let read = json(
        app.post_json("/api/v1/chats/15550002002/read/", &key, json!({})).await,
        200,
    )
    .await;
    assert_eq!(read["data"]["state"], "read");
    assert_eq!(read["data"]["chatId"], "15550002002@c.us");
    assert_eq!(signals(&sim, &["seen"]).await.len(), 2);

    // Presence: in the chat, then for everyone (no chat).
    for state in ["composing", "recording", "paused", "available", "unavailable"] {
        let resp = app
            .post_json(
                "/api/v1/chats/15550002002@c.us/presence/",
                &key,
                json!({ "state": state }),
            )
            .await;
        assert_eq!(json(resp, 200).await["data"]["state"], state);
    }
    let shown = signals(&sim, &["composing", "recording", "paused", "available", "unavailable"]).await;
    let states: Vec<&str> = shown.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(states, ["composing", "recording", "paused", "available", "unavailable"]);
    assert!(shown[..3].iter().all(|(chat, _)| is_peer_chat(chat)), "{shown:?}");
    assert!(shown[3..].iter().all(|(chat, _)| chat.is_empty()), "{shown:?}");

    // Bad input: 400 naming the field, nothing sent.
    let before = sim.control().chat_states(DEVICE).await.len();
    for (path, body, field) in [
        (
            "/api/v1/chats/15550002002/presence/",
            json!({ "state": "dancing" }),
            "state",
        ),
        ("/api/v1/chats/15550002002/presence/", json!({}), "state"),
        (
            "/api/v1/chats/not-a-number/presence/",
            json!({ "state": "paused" }),
            "chatId",
        ),
        ("/api/v1/chats/not-a-number/read/", json!({}), "chatId"),
        (
            "/api/v1/chats/15550002002/read/",
            json!({ "session": "../x" }),
            "session",
        ),
    ] {
        let resp = json(app.post_json(path, &key, body).await, 400).await;
        assert_error(&resp, "VALIDATION_ERROR");
        assert_eq!(resp["field"], field, "{path}: {resp}");
    }
    let unknown = json(
        app.post_json(
            "/api/v1/chats/15550002002/presence/",
            &key,
            json!({ "state": "paused", "colour": "blue" }),
        )
        .await,
        400,
    )
    .await;
    assert_error(&unknown, "BAD_REQUEST");
    // A session that is not connected: 409, as for sends.
    let away = json(
        app.post_json("/api/v1/chats/15550002002/read/?session=other", &key, json!({}))
            .await,
        409,
    )
    .await;
    assert_error(&away, "SESSION_NOT_CONNECTED");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        sim.control().chat_states(DEVICE).await.len(),
        before,
        "refused calls sent nothing"
    );
}
both_backends!(read_receipts_and_presence_reach_whatsapp, receipts_and_presence);
