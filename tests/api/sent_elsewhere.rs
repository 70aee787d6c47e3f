//! Messages the account sends from its phone (not through wagate): stored with `fromMe: true` and
//! raised as `message.any`; wagate's own sends are never stored twice nor raised as `message.any`.

use serde_json::{Value, json};

use crate::both_backends;
use crate::common::*;
use crate::receiver::Receiver;
use crate::support::*;

const DEVICE: &str = "15550001901";
const PEER: &str = "15550002902";

async fn phone_sends_are_message_any(backend: Backend) {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let app = TestApp::spawn_with(TestEnv::new(backend).await, |s| point_at(s, &sim)).await;
    let key = app.admin_key.clone();
    let rx = Receiver::start().await;
    app.put_webhook(&key, json!({ "url": rx.url, "events": ["message", "message.any"] }))
        .await;
    app.link(&sim, &key, "default", DEVICE).await;
    let peer = peer_id(&sim, PEER).await;

    // Through wagate: one row, no message.any (its msg_create arrives before the send settles).
    let ours = json(
        app.post_json(
            "/api/v1/messages/send-text/",
            &key,
            json!({ "recipient": PEER, "message": "through the gateway" }),
        )
        .await,
        200,
    )
    .await;
    let ours_id = ours["data"]["messageId"].as_str().unwrap().to_string();

    // From the phone: stored as ours, raised once as message.any.
    let phone_id = sim
        .control()
        .send_from_phone(DEVICE, &format!("{PEER}@c.us"), "typed on the phone")
        .await
        .unwrap();
    assert!(phone_id.starts_with("true_"), "{phone_id}");
    let got = rx
        .wait_for(30, "the phone's message.any", |g| {
            g.iter().any(|r| r.json()["event"] == "message.any")
        })
        .await;
    let any: Vec<Value> = got
        .iter()
        .map(|r| r.json())
        .filter(|e| e["event"] == "message.any")
        .collect();
    assert_eq!(any.len(), 1, "{any:?}");
    let p = &any[0]["payload"];
    assert_eq!(p["id"], phone_id.as_str());
    assert_eq!(p["fromMe"], true);
    assert_eq!(p["chatId"], peer.as_str());
    assert_eq!(p["chatPhone"], PEER);
    assert_eq!(p["body"], "typed on the phone");
    assert_eq!(p["type"], "chat");
    assert_eq!(p["to"], peer.as_str());

    // A moment for anything late, then: neither is a `message`, ours never a `message.any`.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let events: Vec<Value> = rx.received().iter().map(|r| r.json()).collect();
    assert!(
        events.iter().all(|e| e["event"] != "message"),
        "no `message` for the account's own: {events:?}"
    );
    assert_eq!(events.iter().filter(|e| e["event"] == "message.any").count(), 1);

    let rows = stored_messages(&app, &key).await;
    let by_id = |id: &str| rows.iter().filter(|r| r["messageId"] == id).count();
    assert_eq!(by_id(&ours_id), 1, "our send is one row: {rows:?}");
    let phone_rows: Vec<&Value> = rows.iter().filter(|r| r["body"] == "typed on the phone").collect();
    assert_eq!(phone_rows.len(), 1, "{rows:?}");
    assert_eq!(phone_rows[0]["fromMe"], true, "{:?}", phone_rows[0]);
    assert_eq!(phone_rows[0]["direction"], "out");
    assert_eq!(phone_rows[0]["messageId"], phone_id.as_str());
    assert_eq!(phone_rows[0]["status"], "sent");
    assert_eq!(rows.len(), 2, "{rows:?}");
}
both_backends!(phone_sends_are_stored_once_as_message_any, phone_sends_are_message_any);
