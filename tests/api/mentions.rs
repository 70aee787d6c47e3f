//! `mentions` on text and media sends: the phone sees WhatsApp's `mentionedJidList`, the row and
//! events carry `mentions`, an incoming message's mentions arrive too; bad entries are 400 naming
//! `mentions[i]` with nothing stored.

use base64::Engine;
use serde_json::json;
use wagate_sim::IncomingMessage;

use crate::both_backends;
use crate::common::*;
use crate::receiver::Receiver;
use crate::support::*;

const DEVICE: &str = "15550001951";
const PEER: &str = "15550002952";

async fn mentions_round_trip(backend: Backend) {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let app = TestApp::spawn_with(TestEnv::new(backend).await, |s| point_at(s, &sim)).await;
    let key = app.admin_key.clone();
    let rx = Receiver::start().await;
    app.put_webhook(&key, json!({ "url": rx.url, "events": ["message"] }))
        .await;
    app.link(&sim, &key, "default", DEVICE).await;
    let control = sim.control();
    let wanted = json!(["15550002953@c.us", "15550002954@c.us"]);

    // A text: phones and ids, a duplicate dropped.
    let text = json(
        app.post_json(
            "/api/v1/messages/send-text/",
            &key,
            json!({ "recipient": PEER, "message": "@15550002953 @15550002954 look",
                    "mentions": ["+1 555 000 2953", "15550002954@c.us", "15550002953"] }),
        )
        .await,
        200,
    )
    .await;
    // A caption.
    let png = base64::engine::general_purpose::STANDARD.encode(png_bytes(64));
    let media = json(
        app.post_json(
            "/api/v1/messages/send-media/",
            &key,
            json!({ "recipient": PEER, "media_type": "image", "base64": png, "caption": "@15550002953 you",
                    "mentions": ["15550002953"] }),
        )
        .await,
        200,
    )
    .await;
    let sent = control.sent(DEVICE).await;
    let on_phone = sent.iter().find(|r| r.msg_type == "chat").unwrap();
    assert_eq!(json!(on_phone.mentions), wanted, "{on_phone:?}");
    let image = sent.iter().find(|r| r.msg_type == "image").unwrap();
    assert_eq!(json!(image.mentions), json!(["15550002953@c.us"]), "{image:?}");
    for (answer, expected) in [(&text, wanted.clone()), (&media, json!(["15550002953@c.us"]))] {
        let row = json(
            app.get(&format!("/api/v1/messages/{}/", answer["data"]["dbId"]), &key)
                .await,
            200,
        )
        .await;
        assert_eq!(row["data"]["mentions"], expected, "{row}");
    }

    // Someone mentions the account in a group.
    let me = format!("{DEVICE}@c.us");
    control
        .deliver(
            DEVICE,
            IncomingMessage {
                author: Some(format!("{PEER}@c.us")),
                mentions: Some(vec![me.clone()]),
                ..IncomingMessage::text("120363000000001952@g.us", "@15550001951 hello")
            },
        )
        .await
        .unwrap();
    let got = rx
        .wait_for(30, "the mention's message event", |g| {
            g.iter().any(|r| r.json()["payload"]["body"] == "@15550001951 hello")
        })
        .await;
    let event = got
        .iter()
        .map(|r| r.json())
        .find(|e| e["payload"]["body"] == "@15550001951 hello")
        .unwrap();
    let mentioned = event["payload"]["mentions"].as_array().cloned().unwrap_or_default();
    assert_eq!(mentioned.len(), 1, "{event}");
    // 2026-09 pages may report the account by its LID.
    let id = mentioned[0].as_str().unwrap();
    assert!(id == me || id.ends_with("@lid"), "{event}");

    // Bad entries: 400 naming the entry, nothing stored or sent.
    let before = stored_messages(&app, &key).await.len();
    let sent_before = control.sent(DEVICE).await.len();
    for (mentions, field) in [
        (json!(["15550002953", "120363000000001952@g.us"]), "mentions[1]"),
        (json!(["call me"]), "mentions[0]"),
    ] {
        let resp = json(
            app.post_json(
                "/api/v1/messages/send-text/",
                &key,
                json!({ "recipient": PEER, "message": "hi", "mentions": mentions }),
            )
            .await,
            400,
        )
        .await;
        assert_error(&resp, "VALIDATION_ERROR");
        assert_eq!(resp["field"], field, "{resp}");
    }
    assert_eq!(
        stored_messages(&app, &key).await.len(),
        before,
        "refused requests stored nothing"
    );
    assert_eq!(control.sent(DEVICE).await.len(), sent_before, "and sent nothing");
}
both_backends!(mentions_round_trip_on_texts_captions_and_incoming, mentions_round_trip);
