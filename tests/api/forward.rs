//! `POST /api/v1/messages/{id}/forward/`: a stored message, sent or received, copied to another
//! chat with WhatsApp Web's own forward (an on-demand bundle in the 2026-09 era). The phone sees
//! the copy with the original's type and content and WhatsApp's forwarding marks; the copy's row
//! carries `forwardedFrom`, `isForwarded` and `forwardingScore`; incoming forwarded messages say
//! so in their `message` event. Bad requests are 400/404/422 with nothing stored or sent.

use serde_json::{Value, json};
use wagate_sim::{IncomingMessage, SentRecord};

use crate::both_backends;
use crate::common::*;
use crate::receiver::Receiver;
use crate::support::*;

const DEVICE: &str = "15550001971";
const PEER: &str = "15550002971";
const OTHER: &str = "15550002972";

/// The row behind a dbId once `pred` holds (the copy's forwarding marks come with its send).
async fn row_until(app: &TestApp, key: &str, id: &Value, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..150 {
        let row = json(app.get(&format!("/api/v1/messages/{id}/"), key).await, 200).await["data"].clone();
        if pred(&row) {
            return row;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("message {id}: {what} never came");
}

/// Forwards message `db_id` to OTHER and returns the answer's data (200).
async fn forward(app: &TestApp, key: &str, db_id: &Value) -> Value {
    json(
        app.post_json(
            &format!("/api/v1/messages/{db_id}/forward/"),
            key,
            json!({ "recipient": OTHER }),
        )
        .await,
        200,
    )
    .await["data"]
        .clone()
}

/// What the phone's server received under this WhatsApp id.
async fn on_phone(control: &wagate_sim::SimControl, id: &Value) -> SentRecord {
    let sent = control.sent(DEVICE).await;
    sent.iter()
        .find(|r| Some(r.id.as_str()) == id.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("{id} not on the phone: {sent:#?}"))
}

async fn forward_round_trip(backend: Backend) {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let app = TestApp::spawn_with(TestEnv::new(backend).await, |s| point_at(s, &sim)).await;
    let key = app.admin_key.clone();
    let rx = Receiver::start().await;
    app.put_webhook(&key, json!({ "url": rx.url, "events": ["message", "message.ack"] }))
        .await;
    app.link(&sim, &key, "default", DEVICE).await;
    let control = sim.control();
    let other_chat = peer_id(&sim, OTHER).await;

    // --- ours: a text, forwarded ------------------------------------------------------------------
    let text = json(
        app.post_json(
            "/api/v1/messages/send-text/",
            &key,
            json!({ "recipient": PEER, "message": "worth passing on" }),
        )
        .await,
        200,
    )
    .await;
    let fwd = forward(&app, &key, &text["data"]["dbId"]).await;
    assert_eq!(fwd["message"], "Message forwarded successfully", "{fwd}");
    assert_ne!(fwd["dbId"], text["data"]["dbId"], "the copy has its own row");
    let copy = on_phone(&control, &fwd["messageId"]).await;
    assert_eq!(copy.msg_type, "chat");
    assert_eq!(copy.body.as_deref(), Some("worth passing on"));
    assert_eq!(copy.chat, other_chat, "sent to the recipient's chat");
    // WhatsApp does not mark a forward of the account's own original (getShouldDisplayAsForwarded).
    assert_eq!((copy.is_forwarded, copy.forwarding_score), (false, 0), "{copy:?}");
    let row = row_until(&app, &key, &fwd["dbId"], "the forward's send", |r| {
        r["messageId"].is_string()
    })
    .await;
    assert_eq!(row["type"], "chat");
    assert_eq!(row["body"], "worth passing on");
    assert_eq!(row["forwardedFrom"], text["data"]["messageId"]);
    assert_eq!(
        (row["isForwarded"].clone(), row["forwardingScore"].clone()),
        (json!(false), json!(0))
    );
    assert_eq!(row["chatId"], format!("{OTHER}@c.us"));
    let acked = rx
        .wait_for(30, "the forward's message.ack", |g| {
            g.iter()
                .any(|r| r.json()["event"] == "message.ack" && r.json()["payload"]["dbId"] == fwd["dbId"])
        })
        .await;
    let ack = acked
        .iter()
        .map(|r| r.json())
        .find(|e| e["event"] == "message.ack" && e["payload"]["dbId"] == fwd["dbId"])
        .unwrap();
    assert_eq!(ack["payload"]["id"], fwd["messageId"]);
    assert_eq!(ack["payload"]["forwardedFrom"], text["data"]["messageId"], "{ack}");
    assert_eq!(ack["payload"]["type"], "chat");

    // --- ours: an image, forwarded without a new upload --------------------------------------------
    let image = json(
        app.post_json(
            "/api/v1/messages/send-media/",
            &key,
            json!({ "recipient": PEER, "media_type": "image", "caption": "the plan",
                    "base64": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, png_bytes(3000)) }),
        )
        .await,
        200,
    )
    .await;
    let original = on_phone(&control, &image["data"]["messageId"]).await;
    let fwd_image = forward(&app, &key, &image["data"]["dbId"]).await;
    let copy = on_phone(&control, &fwd_image["messageId"]).await;
    assert_eq!(copy.msg_type, "image");
    assert_eq!(copy.caption.as_deref(), Some("the plan"));
    assert_eq!(copy.mimetype.as_deref(), Some("image/png"));
    assert_eq!(copy.sha256, original.sha256, "the same file");
    assert!(copy.sha256.is_some());
    let row = row_until(&app, &key, &fwd_image["dbId"], "the image forward", |r| {
        r["messageId"].is_string()
    })
    .await;
    assert_eq!(row["type"], "image");
    assert_eq!(row["caption"], "the plan");
    assert_eq!(row["media"]["mimetype"], "image/png");

    // --- ours: a location -----------------------------------------------------------------------
    let place = json(
        app.post_json(
            "/api/v1/messages/send-location/",
            &key,
            json!({ "recipient": PEER, "latitude": 48.8584, "longitude": 2.2945, "name": "Tour Eiffel" }),
        )
        .await,
        200,
    )
    .await;
    let fwd_place = forward(&app, &key, &place["data"]["dbId"]).await;
    let copy = on_phone(&control, &fwd_place["messageId"]).await;
    assert_eq!(copy.msg_type, "location");
    assert_eq!((copy.latitude, copy.longitude), (Some(48.8584), Some(2.2945)));
    assert_eq!(copy.loc.as_deref(), Some("Tour Eiffel"));
    let row = json(
        app.get(&format!("/api/v1/messages/{}/", fwd_place["dbId"]), &key).await,
        200,
    )
    .await;
    assert_eq!(row["data"]["location"]["name"], "Tour Eiffel");

    // --- theirs: a plain message and one forwarded to us many times --------------------------------
    let plain = control
        .deliver(DEVICE, IncomingMessage::text(&format!("{PEER}@c.us"), "from my friend"))
        .await
        .unwrap();
    let viral = control
        .deliver(
            DEVICE,
            IncomingMessage {
                forwarding_score: Some(4),
                ..IncomingMessage::text(&format!("{PEER}@c.us"), "pass it on!")
            },
        )
        .await
        .unwrap();
    let got = rx
        .wait_for(30, "both incoming messages", |g| {
            g.iter().filter(|r| r.json()["event"] == "message").count() >= 2
        })
        .await;
    let event_of = |id: &str| {
        got.iter()
            .map(|r| r.json())
            .find(|e| e["event"] == "message" && e["payload"]["id"] == id)
            .unwrap_or_else(|| panic!("no message event for {id}"))
    };
    let p = &event_of(&plain)["payload"];
    assert_eq!(
        (p["isForwarded"].clone(), p["forwardingScore"].clone()),
        (json!(false), json!(0))
    );
    let p = &event_of(&viral)["payload"];
    assert_eq!(
        (p["isForwarded"].clone(), p["forwardingScore"].clone()),
        (json!(true), json!(4)),
        "{p}"
    );

    // Forwarding a received message marks the copy; a fifth forward is "forwarded many times".
    let plain_row = stored_by_wa_id(&app, &key, &plain).await;
    let fwd_plain = forward(&app, &key, &plain_row["id"]).await;
    let copy = on_phone(&control, &fwd_plain["messageId"]).await;
    assert_eq!(copy.body.as_deref(), Some("from my friend"));
    assert_eq!((copy.is_forwarded, copy.forwarding_score), (true, 1), "{copy:?}");
    let row = row_until(&app, &key, &fwd_plain["dbId"], "the forward's marks", |r| {
        r["isForwarded"] == true
    })
    .await;
    assert_eq!(row["forwardingScore"], 1);
    assert_eq!(row["forwardedFrom"], plain.as_str());

    let viral_row = stored_by_wa_id(&app, &key, &viral).await;
    let fwd_viral = forward(&app, &key, &viral_row["id"]).await;
    let copy = on_phone(&control, &fwd_viral["messageId"]).await;
    assert_eq!((copy.is_forwarded, copy.forwarding_score), (true, 127), "{copy:?}");
    let row = row_until(&app, &key, &fwd_viral["dbId"], "the forward's marks", |r| {
        r["isForwarded"] == true
    })
    .await;
    assert_eq!(row["forwardingScore"], 127);

    // A forward of our forwarded copy counts one more.
    let again = forward(&app, &key, &fwd_plain["dbId"]).await;
    let copy = on_phone(&control, &again["messageId"]).await;
    assert_eq!((copy.is_forwarded, copy.forwarding_score), (true, 2), "{copy:?}");

    // 2026-09: forwarding lives in an on-demand bundle; the bridge had the Bootloader fetch it.
    if sim_era() == wagate_sim::Era::Sep2026 {
        let report = json(app.get("/api/v1/sessions/capabilities/", &key).await, 200).await;
        let cap = report["data"]["capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "forwardMessages")
            .cloned()
            .unwrap();
        assert_eq!(cap["ok"], true, "{cap}");
        assert!(cap["lazy"].as_str().is_some_and(|c| c.contains("Forward")), "{cap}");
    }
}
both_backends!(forwards_round_trip, forward_round_trip);

async fn forward_refusals(backend: Backend) {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let app = TestApp::spawn_with(TestEnv::new(backend).await, |s| point_at(s, &sim)).await;
    let key = app.admin_key.clone();
    app.link(&sim, &key, "default", DEVICE).await;
    let control = sim.control();
    let text = json(
        app.post_json(
            "/api/v1/messages/send-text/",
            &key,
            json!({ "recipient": PEER, "message": "soon gone" }),
        )
        .await,
        200,
    )
    .await;
    let db_id = text["data"]["dbId"].clone();
    let reacted = json(
        app.post_json(
            &format!("/api/v1/messages/{db_id}/reaction/"),
            &key,
            json!({ "emoji": "👍" }),
        )
        .await,
        200,
    )
    .await;
    json(
        app.send_json(
            reqwest::Method::DELETE,
            &format!("/api/v1/messages/{db_id}/"),
            &key,
            json!(null),
        )
        .await,
        200,
    )
    .await;
    row_until(&app, &key, &db_id, "the delete", |r| r["revokedAt"].is_string()).await;

    let before = stored_messages(&app, &key).await.len();
    let sent_before = control.sent(DEVICE).await.len();
    let path = format!("/api/v1/messages/{db_id}/forward/");
    for (body, field) in [
        (json!({}), "recipient"),
        (json!({ "recipient": "" }), "recipient"),
        (json!({ "recipient": "not a number" }), "recipient"),
        (json!({ "recipient": 15550002972u64 }), ""),
    ] {
        let resp = app.post_json(&path, &key, body.clone()).await;
        let resp = json(resp, 400).await;
        if field.is_empty() {
            assert_error(&resp, "BAD_REQUEST");
        } else {
            assert_error(&resp, "VALIDATION_ERROR");
            assert_eq!(resp["field"], field, "{body}: {resp}");
        }
    }
    let unknown = json(
        app.post_json("/api/v1/messages/999999/forward/", &key, json!({ "recipient": OTHER }))
            .await,
        404,
    )
    .await;
    assert_error(&unknown, "MESSAGE_NOT_FOUND");
    let revoked = json(app.post_json(&path, &key, json!({ "recipient": OTHER })).await, 422).await;
    assert_error(&revoked, "MESSAGE_NOT_FORWARDABLE");
    assert!(revoked["message"].as_str().unwrap().contains("deleted"), "{revoked}");
    let reaction = json(
        app.post_json(
            &format!("/api/v1/messages/{}/forward/", reacted["data"]["dbId"]),
            &key,
            json!({ "recipient": OTHER }),
        )
        .await,
        422,
    )
    .await;
    assert_error(&reaction, "MESSAGE_NOT_FORWARDABLE");
    assert_eq!(stored_messages(&app, &key).await.len(), before, "nothing stored");
    assert_eq!(control.sent(DEVICE).await.len(), sent_before, "nothing sent");
}
both_backends!(forward_refusals_store_nothing, forward_refusals);
