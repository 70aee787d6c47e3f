//! Replies, reactions, locations, contact cards and polls, each round trip through the simulated WhatsApp: sent → the
//! phone sees the right type and fields; the phone sends one back → a stored row and a signed
//! webhook of the documented shape. Bad input is 400 naming the field, and nothing is stored.

use serde_json::{Value, json};
use wagate_sim::{IncomingLocation, IncomingMessage, IncomingPoll, IncomingReaction, IncomingVote, SentPoll};

use crate::both_backends;
use crate::common::*;
use crate::receiver::Receiver;
use crate::support::*;

const DEVICE: &str = "15550001801";
const PEER: &str = "15550002802";

async fn replies_reactions_and_locations(backend: Backend) {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let app = TestApp::spawn_with(TestEnv::new(backend).await, |s| point_at(s, &sim)).await;
    let key = app.admin_key.clone();
    let rx = Receiver::start().await;
    app.put_webhook(&key, json!({ "url": rx.url })).await;
    app.link(&sim, &key, "default", DEVICE).await;
    let control = sim.control();
    let peer = peer_id(&sim, PEER).await;

    // --- replies: ours quotes a stored message; the phone's reply names ours -------------------
    let first = json(
        app.post_json(
            "/api/v1/messages/send-text/",
            &key,
            json!({ "recipient": PEER, "message": "the original" }),
        )
        .await,
        200,
    )
    .await;
    let first_id = first["data"]["messageId"].as_str().unwrap().to_string();
    let first_db = first["data"]["dbId"].as_i64().unwrap();
    let reply = json(
        app.post_json(
            "/api/v1/messages/send-text/",
            &key,
            json!({ "recipient": PEER, "message": "a reply", "replyTo": first_db }),
        )
        .await,
        200,
    )
    .await;
    let sent = control.sent(DEVICE).await;
    let on_phone = sent.iter().find(|r| r.body.as_deref() == Some("a reply")).unwrap();
    let stanza = first_id.rsplit('_').next().unwrap();
    assert_eq!(on_phone.quoted_stanza_id.as_deref(), Some(stanza), "{on_phone:?}");
    let row = json(
        app.get(&format!("/api/v1/messages/{}/", reply["data"]["dbId"]), &key)
            .await,
        200,
    )
    .await;
    assert_eq!(row["data"]["quotedMessageId"], first_id.as_str());
    // The same by its WhatsApp id, with a caption-less image: send-media takes replyTo too.
    let media = json(
        app.post_json(
            "/api/v1/messages/send-media/",
            &key,
            json!({ "recipient": PEER, "media_type": "image", "base64": base64_of(&png_bytes(2000)), "replyTo": first_id }),
        )
        .await,
        200,
    )
    .await;
    assert!(media["data"]["messageId"].is_string(), "{media}");
    let sent = control.sent(DEVICE).await;
    assert!(
        sent.iter()
            .any(|r| r.msg_type == "image" && r.quoted_stanza_id.as_deref() == Some(stanza)),
        "{sent:?}"
    );

    // The phone replies to our message.
    control
        .deliver(
            DEVICE,
            IncomingMessage {
                quoted: Some(first_id.clone()),
                ..IncomingMessage::text(&format!("{PEER}@c.us"), "answering you")
            },
        )
        .await
        .unwrap();
    let got = rx
        .wait_for(30, "the reply's message event", |g| {
            g.iter().any(|r| r.json()["payload"]["body"] == "answering you")
        })
        .await;
    let event = got
        .iter()
        .map(|r| r.json())
        .find(|e| e["payload"]["body"] == "answering you")
        .unwrap();
    assert_eq!(event["event"], "message");
    assert_eq!(event["payload"]["quotedMessageId"], first_id.as_str(), "{event}");

    // --- reactions: ours on the phone's reply; the phone's on our message -------------------
    let incoming = stored_messages(&app, &key)
        .await
        .into_iter()
        .find(|m| m["body"] == "answering you")
        .unwrap();
    assert_eq!(incoming["quotedMessageId"], first_id.as_str());
    let reacted = json(
        app.post_json(
            &format!("/api/v1/messages/{}/reaction/", incoming["id"]),
            &key,
            json!({ "emoji": "👍" }),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(reacted["data"]["message"], "Reaction sent successfully");
    let sent = control.sent(DEVICE).await;
    let on_phone = sent.iter().find(|r| r.msg_type == "reaction").unwrap();
    assert_eq!(on_phone.body.as_deref(), Some("👍"));
    assert_eq!(
        on_phone.reaction_to.as_ref(),
        incoming["messageId"].as_str().map(str::to_string).as_ref()
    );
    let row = json(
        app.get(&format!("/api/v1/messages/{}/", reacted["data"]["dbId"]), &key)
            .await,
        200,
    )
    .await;
    assert_eq!(row["data"]["type"], "reaction");
    assert_eq!(row["data"]["reactionTo"], incoming["messageId"]);
    // Taken back: an empty emoji.
    json(
        app.post_json(
            &format!("/api/v1/messages/{}/reaction/", incoming["id"]),
            &key,
            json!({ "emoji": "" }),
        )
        .await,
        200,
    )
    .await;
    let sent = control.sent(DEVICE).await;
    assert_eq!(
        sent.iter()
            .filter(|r| r.msg_type == "reaction")
            .map(|r| r.body.clone().unwrap_or_default())
            .collect::<Vec<_>>(),
        ["👍", ""]
    );

    control
        .deliver_reaction(
            DEVICE,
            IncomingReaction {
                from: format!("{PEER}@c.us"),
                author: None,
                msg_id: first_id.clone(),
                emoji: "❤️".into(),
            },
        )
        .await
        .unwrap();
    let got = rx
        .wait_for(30, "a message.reaction event", |g| {
            g.iter().any(|r| r.json()["event"] == "message.reaction")
        })
        .await;
    let reactions: Vec<Value> = got
        .iter()
        .map(|r| r.json())
        .filter(|e| e["event"] == "message.reaction")
        .collect();
    assert_eq!(reactions.len(), 1, "ours are not reported as someone's: {reactions:#?}");
    let p = &reactions[0]["payload"];
    assert_eq!(p["type"], "reaction");
    assert_eq!(p["reaction"]["emoji"], "❤️");
    assert_eq!(p["reaction"]["messageId"], first_id.as_str());
    assert_eq!(p["fromMe"], false);
    assert_eq!(p["chatId"], peer.as_str());

    // --- locations ---------------------------------------------------------------------------
    let loc = json(
        app.post_json(
            "/api/v1/messages/send-location/",
            &key,
            json!({ "recipient": PEER, "latitude": 52.5163, "longitude": 13.3777,
                    "name": "Brandenburger Tor", "address": "Pariser Platz, Berlin" }),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(loc["data"]["message"], "Location sent successfully");
    let sent = control.sent(DEVICE).await;
    let on_phone = sent.iter().find(|r| r.msg_type == "location").unwrap();
    assert_eq!((on_phone.latitude, on_phone.longitude), (Some(52.5163), Some(13.3777)));
    assert_eq!(
        on_phone.loc.as_deref(),
        Some("Brandenburger Tor\nPariser Platz, Berlin")
    );

    control
        .deliver(
            DEVICE,
            IncomingMessage {
                location: Some(IncomingLocation {
                    latitude: -33.8568,
                    longitude: 151.2153,
                    description: Some("Sydney Opera House\nBennelong Point".into()),
                }),
                ..IncomingMessage::text(&format!("{PEER}@c.us"), "")
            },
        )
        .await
        .unwrap();
    let got = rx
        .wait_for(30, "the location's message event", |g| {
            g.iter()
                .any(|r| r.json()["event"] == "message" && r.json()["payload"]["type"] == "location")
        })
        .await;
    let event = got
        .iter()
        .map(|r| r.json())
        .find(|e| e["event"] == "message" && e["payload"]["type"] == "location")
        .unwrap();
    assert_eq!(event["payload"]["fromMe"], false);
    assert_eq!(
        event["payload"]["location"],
        json!({ "latitude": -33.8568, "longitude": 151.2153, "name": "Sydney Opera House", "address": "Bennelong Point" })
    );

    // --- bad input: 400 naming the field, nothing stored ------------------------------------------
    let react_path = format!("/api/v1/messages/{}/reaction/", incoming["id"]);
    let before = stored_messages(&app, &key).await.len();
    let sent_before = control.sent(DEVICE).await.len();
    let other_chat = json(
        app.post_json(
            "/api/v1/messages/send-text/",
            &key,
            json!({ "recipient": "15550002999", "message": "x", "replyTo": first_db }),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(other_chat["field"], "replyTo", "{other_chat}");
    for (path, body, field) in [
        (
            "/api/v1/messages/send-text/",
            json!({ "recipient": PEER, "message": "x", "replyTo": "nope" }),
            "replyTo",
        ),
        (
            "/api/v1/messages/send-text/",
            json!({ "recipient": PEER, "message": "x", "replyTo": 999999 }),
            "replyTo",
        ),
        (
            "/api/v1/messages/send-location/",
            json!({ "recipient": PEER, "latitude": 91, "longitude": 0 }),
            "latitude",
        ),
        (
            "/api/v1/messages/send-location/",
            json!({ "recipient": PEER, "latitude": 0, "longitude": -180.5 }),
            "longitude",
        ),
        (
            "/api/v1/messages/send-location/",
            json!({ "recipient": PEER, "latitude": "52", "longitude": 0 }),
            "latitude",
        ),
        (
            "/api/v1/messages/send-location/",
            json!({ "recipient": PEER, "longitude": 0 }),
            "latitude",
        ),
        (
            "/api/v1/messages/send-location/",
            json!({ "recipient": PEER, "latitude": 1, "longitude": 1, "name": "a\nb" }),
            "name",
        ),
        (react_path.as_str(), json!({ "emoji": "ok" }), "emoji"),
        (react_path.as_str(), json!({}), "emoji"),
    ] {
        let resp = json(app.post_json(path, &key, body.clone()).await, 400).await;
        assert_error(&resp, "VALIDATION_ERROR");
        assert_eq!(resp["field"], field, "{path} {body}: {resp}");
    }
    let missing = json(
        app.post_json("/api/v1/messages/999999/reaction/", &key, json!({ "emoji": "👍" }))
            .await,
        404,
    )
    .await;
    assert_error(&missing, "MESSAGE_NOT_FOUND");
    assert_eq!(
        stored_messages(&app, &key).await.len(),
        before,
        "refused requests stored nothing"
    );
    assert_eq!(control.sent(DEVICE).await.len(), sent_before, "and sent nothing");
}
both_backends!(
    replies_reactions_and_locations_round_trip,
    replies_reactions_and_locations
);

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Polls the stored message until `pred` holds (generous bound: the page reports the change).
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

async fn edits_and_deletes(backend: Backend) {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let app = TestApp::spawn_with(TestEnv::new(backend).await, |s| point_at(s, &sim)).await;
    let key = app.admin_key.clone();
    let rx = Receiver::start().await;
    app.put_webhook(
        &key,
        json!({ "url": rx.url, "events": ["message.edited", "message.revoked"] }),
    )
    .await;
    app.link(&sim, &key, "default", DEVICE).await;
    let control = sim.control();

    // --- ours: edit, then delete for everyone ---------------------------------------------------
    let sent = json(
        app.post_json(
            "/api/v1/messages/send-text/",
            &key,
            json!({ "recipient": PEER, "message": "first draft" }),
        )
        .await,
        200,
    )
    .await;
    let (db_id, wa_id) = (
        sent["data"]["dbId"].clone(),
        sent["data"]["messageId"].as_str().unwrap().to_string(),
    );
    let path = format!("/api/v1/messages/{db_id}/");
    let edited = json(
        app.send_json(reqwest::Method::PATCH, &path, &key, json!({ "message": "final text" }))
            .await,
        200,
    )
    .await;
    assert_eq!(edited["data"]["message"], "Edit sent successfully");
    let on_phone = control.sent(DEVICE).await;
    let edit = on_phone.iter().find(|r| r.msg_type == "edit").unwrap();
    assert_eq!(
        (edit.body.as_deref(), edit.target.as_deref()),
        (Some("final text"), Some(wa_id.as_str()))
    );
    let row = row_until(&app, &key, &db_id, "the edit", |r| r["editedAt"].is_string()).await;
    assert_eq!(row["body"], "final text");
    let edit_row = json(
        app.get(&format!("/api/v1/messages/{}/", edited["data"]["dbId"]), &key)
            .await,
        200,
    )
    .await;
    assert_eq!(edit_row["data"]["type"], "edit");
    assert_eq!(edit_row["data"]["targetMessageId"], wa_id.as_str());

    let deleted = json(
        app.send_json(reqwest::Method::DELETE, &path, &key, json!(null)).await,
        200,
    )
    .await;
    assert_eq!(deleted["data"]["message"], "Delete sent successfully");
    let on_phone = control.sent(DEVICE).await;
    assert!(
        on_phone
            .iter()
            .any(|r| r.msg_type == "revoke" && r.target.as_deref() == Some(wa_id.as_str())),
        "{on_phone:?}"
    );
    let row = row_until(&app, &key, &db_id, "the delete", |r| r["revokedAt"].is_string()).await;
    assert_eq!(row["body"], "final text", "the row keeps its text for the record");

    // --- theirs: the sender edits, then deletes --------------------------------------------------
    let theirs = control
        .deliver(DEVICE, IncomingMessage::text(&format!("{PEER}@c.us"), "teh typo"))
        .await
        .unwrap();
    let incoming = stored_by_wa_id(&app, &key, &theirs).await;
    control.edit_message(DEVICE, &theirs, "the typo, fixed").await.unwrap();
    let row = row_until(&app, &key, &incoming["id"], "their edit", |r| r["editedAt"].is_string()).await;
    assert_eq!(row["body"], "the typo, fixed");
    control.revoke_message(DEVICE, &theirs).await.unwrap();
    row_until(&app, &key, &incoming["id"], "their delete", |r| {
        r["revokedAt"].is_string()
    })
    .await;

    let got = rx.wait_for(30, "two edits and two deletes", |g| g.len() >= 4).await;
    let events: Vec<(String, String, bool)> = got
        .iter()
        .map(|r| r.json())
        .map(|e| {
            (
                e["event"].as_str().unwrap().to_string(),
                e["payload"]["id"].as_str().unwrap().to_string(),
                e["payload"]["fromMe"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            ("message.edited".to_string(), wa_id.clone(), true),
            ("message.revoked".to_string(), wa_id.clone(), true),
            ("message.edited".to_string(), theirs.clone(), false),
            ("message.revoked".to_string(), theirs.clone(), false),
        ]
    );
    let first = got[0].json();
    assert_eq!(first["payload"]["body"], "final text");
    assert!(first["payload"]["editedAt"].is_string(), "{first}");

    // --- refused: 400 naming the field, nothing stored or sent -----------------------------------------
    let session = app.state.db.session_by_name(1, "default").await.unwrap().unwrap();
    let stale = app
        .state
        .db
        .insert_message(wagate::db::NewMessage {
            wa_message_id: Some(format!("true_{PEER}@c.us_3EB0STALE0000000001")),
            sent_at: Some(wagate::db::now() - chrono::Duration::minutes(20)),
            ..message_row(Some(session.id), "out", wagate::db::MessageStatus::Read)
        })
        .await
        .unwrap();
    let before = stored_messages(&app, &key).await.len();
    let sent_before = control.sent(DEVICE).await.len();
    let patch = reqwest::Method::PATCH;
    for (method, id, body, field) in [
        (
            patch.clone(),
            incoming["id"].clone(),
            json!({ "message": "not mine" }),
            "id",
        ),
        (
            patch.clone(),
            db_id.clone(),
            json!({ "message": "deleted already" }),
            "id",
        ),
        (patch.clone(), json!(stale.id), json!({ "message": "too late" }), "id"),
        (patch.clone(), json!(stale.id), json!({ "message": " " }), "message"),
        (reqwest::Method::DELETE, db_id.clone(), json!(null), "id"),
        (reqwest::Method::DELETE, incoming["id"].clone(), json!(null), "id"),
    ] {
        let resp = json(
            app.send_json(method.clone(), &format!("/api/v1/messages/{id}/"), &key, body.clone())
                .await,
            400,
        )
        .await;
        assert_error(&resp, "VALIDATION_ERROR");
        assert_eq!(resp["field"], field, "{method} {id} {body}: {resp}");
    }
    let too_late = json(
        app.send_json(
            patch,
            &format!("/api/v1/messages/{}/", stale.id),
            &key,
            json!({ "message": "x" }),
        )
        .await,
        400,
    )
    .await;
    assert!(
        too_late["message"].as_str().unwrap().contains("15 minutes"),
        "{too_late}"
    );
    let missing = json(
        app.send_json(reqwest::Method::DELETE, "/api/v1/messages/999999/", &key, json!(null))
            .await,
        404,
    )
    .await;
    assert_error(&missing, "MESSAGE_NOT_FOUND");
    assert_eq!(
        stored_messages(&app, &key).await.len(),
        before,
        "refused requests stored nothing"
    );
    assert_eq!(control.sent(DEVICE).await.len(), sent_before, "and sent nothing");

    // --- made while the gateway is down: read back when it comes back, each event once -----------
    let mut rows = Vec::new();
    for text in ["edit me later", "delete me later"] {
        let id = control
            .deliver(DEVICE, IncomingMessage::text(&format!("{PEER}@c.us"), text))
            .await
            .unwrap();
        let row = stored_by_wa_id(&app, &key, &id).await;
        rows.push((id, row["id"].clone()));
    }
    let down = app.stop().await;
    control
        .edit_message(DEVICE, &rows[0].0, "edited while down")
        .await
        .unwrap();
    control.revoke_message(DEVICE, &rows[1].0).await.unwrap();
    let app = down.start_with(|s| point_at(s, &sim)).await;
    let row = row_until(&app, &key, &rows[0].1, "the edit made while down", |r| {
        r["editedAt"].is_string()
    })
    .await;
    assert_eq!(row["body"], "edited while down");
    row_until(&app, &key, &rows[1].1, "the delete made while down", |r| {
        r["revokedAt"].is_string()
    })
    .await;
    rx.wait_for(30, "the edit and the delete made while down", |g| g.len() >= 6)
        .await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let mut late: Vec<(String, String)> = rx.received()[4..]
        .iter()
        .map(|r| r.json())
        .map(|e| {
            (
                e["event"].as_str().unwrap().to_string(),
                e["payload"]["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    late.sort();
    assert_eq!(
        late,
        [
            ("message.edited".to_string(), rows[0].0.clone()),
            ("message.revoked".to_string(), rows[1].0.clone()),
        ],
        "once each"
    );
}
both_backends!(edits_and_deletes_for_everyone, edits_and_deletes);

async fn contact_cards(backend: Backend) {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let app = TestApp::spawn_with(TestEnv::new(backend).await, |s| point_at(s, &sim)).await;
    let key = app.admin_key.clone();
    let rx = Receiver::start().await;
    app.put_webhook(&key, json!({ "url": rx.url, "events": ["message"] }))
        .await;
    app.link(&sim, &key, "default", DEVICE).await;
    let control = sim.control();

    // One card, with characters vCard must escape; then two cards in one message.
    let one = json(
        app.post_json(
            "/api/v1/messages/send-contact/",
            &key,
            json!({ "recipient": PEER, "contacts": [{ "name": "Doe, Jane; Dr.", "phone": "+1 555 000 3003" }] }),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(one["data"]["message"], "Contact sent successfully");
    json(
        app.post_json(
            "/api/v1/messages/send-contact/",
            &key,
            json!({ "recipient": PEER, "contacts": [
                { "name": "Ann", "phone": "15550003004" }, { "name": "Bo", "phone": "15550003005" }] }),
        )
        .await,
        200,
    )
    .await;
    let sent = control.sent(DEVICE).await;
    let card = sent.iter().find(|r| r.msg_type == "vcard").unwrap();
    let text = &card.vcards.as_ref().unwrap()[0];
    assert!(text.starts_with("BEGIN:VCARD\r\nVERSION:3.0\r\n"), "{text}");
    assert!(text.contains("\r\nFN:Doe\\, Jane\\; Dr.\r\n"), "{text}");
    assert!(text.contains("waid=15550003003:+15550003003"), "{text}");
    let multi = sent.iter().find(|r| r.msg_type == "multi_vcard").unwrap();
    assert_eq!(multi.vcards.as_ref().unwrap().len(), 2);
    let row = json(
        app.get(&format!("/api/v1/messages/{}/", one["data"]["dbId"]), &key)
            .await,
        200,
    )
    .await;
    assert_eq!(row["data"]["type"], "vcard");
    assert_eq!(
        row["data"]["contacts"],
        json!([{ "name": "Doe, Jane; Dr.", "phone": "15550003003" }])
    );

    // A card from the phone, as phones write them (LF lines, a grouped TEL without waid).
    control
        .deliver(
            DEVICE,
            IncomingMessage {
                vcards: Some(vec![
                    "BEGIN:VCARD\nVERSION:3.0\nN:Lovelace;Ada;;;\nFN:Ada Lovelace\nitem1.TEL:+44 20 7946 0018\nEND:VCARD".into(),
                ]),
                ..IncomingMessage::text(&format!("{PEER}@c.us"), "")
            },
        )
        .await
        .unwrap();
    let got = rx
        .wait_for(30, "the card's message event", |g| {
            g.iter().any(|r| r.json()["payload"]["type"] == "vcard")
        })
        .await;
    let event = got
        .iter()
        .map(|r| r.json())
        .find(|e| e["payload"]["type"] == "vcard")
        .unwrap();
    assert_eq!(event["payload"]["fromMe"], false);
    assert_eq!(
        event["payload"]["contacts"],
        json!([{ "name": "Ada Lovelace", "phone": "442079460018" }])
    );

    // Bad input: 400 naming the field, nothing stored or sent.
    let before = stored_messages(&app, &key).await.len();
    let sent_before = control.sent(DEVICE).await.len();
    for (body, field) in [
        (json!({ "recipient": PEER, "contacts": [] }), "contacts"),
        (json!({ "recipient": PEER }), "contacts"),
        (
            json!({ "recipient": PEER, "contacts": [{ "name": " ", "phone": "15550003003" }] }),
            "contacts[0].name",
        ),
        (
            json!({ "recipient": PEER, "contacts": [{ "name": "A", "phone": "15550003003" }, { "name": "B", "phone": "call me" }] }),
            "contacts[1].phone",
        ),
        (
            json!({ "contacts": [{ "name": "A", "phone": "15550003003" }] }),
            "recipient",
        ),
    ] {
        let resp = json(
            app.post_json("/api/v1/messages/send-contact/", &key, body.clone())
                .await,
            400,
        )
        .await;
        assert_error(&resp, "VALIDATION_ERROR");
        assert_eq!(resp["field"], field, "{body}: {resp}");
    }
    assert_eq!(
        stored_messages(&app, &key).await.len(),
        before,
        "refused requests stored nothing"
    );
    assert_eq!(control.sent(DEVICE).await.len(), sent_before, "and sent nothing");
}
both_backends!(contact_cards_round_trip, contact_cards);

/// Events of one kind the receiver got so far.
fn events_of(got: &[crate::receiver::Received], event: &str) -> Vec<Value> {
    got.iter().map(|r| r.json()).filter(|e| e["event"] == event).collect()
}

async fn polls_and_votes(backend: Backend) {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let app = TestApp::spawn_with(TestEnv::new(backend).await, |s| point_at(s, &sim)).await;
    let key = app.admin_key.clone();
    let rx = Receiver::start().await;
    app.put_webhook(&key, json!({ "url": rx.url, "events": ["message", "poll.vote"] }))
        .await;
    app.link(&sim, &key, "default", DEVICE).await;
    let control = sim.control();
    let peer = peer_id(&sim, PEER).await;

    // --- our poll: the phone sees WhatsApp's poll creation message ---------------------------
    let sent = json(
        app.post_json(
            "/api/v1/messages/send-poll/",
            &key,
            json!({ "recipient": PEER, "question": "Lunch on Friday?", "options": ["Pizza", "Sushi", "Salad"], "multiple": true }),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(sent["data"]["message"], "Poll sent successfully", "{sent}");
    let poll_id = sent["data"]["messageId"].as_str().unwrap().to_string();
    let poll_db = sent["data"]["dbId"].clone();
    let on_phone = control
        .sent(DEVICE)
        .await
        .into_iter()
        .find(|r| r.id == poll_id)
        .unwrap();
    assert_eq!(on_phone.msg_type, "poll_creation");
    assert_eq!(
        on_phone.poll,
        Some(SentPoll {
            name: "Lunch on Friday?".into(),
            options: vec!["Pizza".into(), "Sushi".into(), "Salad".into()],
            selectable_count: 0,
        })
    );
    let row = json(app.get(&format!("/api/v1/messages/{poll_db}/"), &key).await, 200).await;
    assert_eq!(row["data"]["type"], "poll");
    assert_eq!(row["data"]["body"], "Lunch on Friday?");
    assert_eq!(
        row["data"]["poll"],
        json!({ "question": "Lunch on Friday?", "options": ["Pizza", "Sushi", "Salad"], "multiple": true })
    );
    let votes_path = format!("/api/v1/messages/{poll_db}/votes/");
    let none = json(app.get(&votes_path, &key).await, 200).await;
    assert_eq!(none["data"]["totalVoters"], 0, "{none}");

    // --- the phone votes: a poll.vote event and the tally -------------------------------------
    let vote = |options: &[&str]| IncomingVote {
        from: format!("{PEER}@c.us"),
        author: None,
        poll_id: poll_id.clone(),
        options: options.iter().map(|o| o.to_string()).collect(),
    };
    control.vote_poll(DEVICE, vote(&["Sushi"])).await.unwrap();
    let got = rx
        .wait_for(30, "a poll.vote event", |g| !events_of(g, "poll.vote").is_empty())
        .await;
    let first = &events_of(&got, "poll.vote")[0];
    assert_eq!(first["session"], "default");
    let p = &first["payload"];
    assert_eq!(p["pollMessageId"], poll_id.as_str(), "{first}");
    assert_eq!(p["pollDbId"], poll_db);
    assert_eq!(p["voter"], peer.as_str());
    assert_eq!(p["selectedOptions"], json!(["Sushi"]));
    assert!(
        p["timestamp"].as_i64().is_some_and(|t| t > 1_700_000_000),
        "unix seconds: {p}"
    );
    let tally = json(app.get(&votes_path, &key).await, 200).await["data"].clone();
    assert_eq!(tally["question"], "Lunch on Friday?");
    assert_eq!(tally["messageId"], poll_id.as_str());
    assert_eq!(
        tally["options"],
        json!([
            { "name": "Pizza", "votes": 0, "voters": [] },
            { "name": "Sushi", "votes": 1, "voters": [peer] },
            { "name": "Salad", "votes": 0, "voters": [] },
        ])
    );
    assert_eq!(tally["totalVoters"], 1);

    // A re-vote replaces the voter's earlier one.
    control.vote_poll(DEVICE, vote(&["Pizza", "Salad"])).await.unwrap();
    let got = rx
        .wait_for(30, "the re-vote's poll.vote event", |g| {
            events_of(g, "poll.vote").len() >= 2
        })
        .await;
    assert_eq!(
        events_of(&got, "poll.vote")[1]["payload"]["selectedOptions"],
        json!(["Pizza", "Salad"])
    );
    let tally = json(app.get(&votes_path, &key).await, 200).await["data"].clone();
    let counts: Vec<(String, i64)> = tally["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["name"].as_str().unwrap().to_string(), o["votes"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        counts,
        [
            ("Pizza".to_string(), 1),
            ("Sushi".to_string(), 0),
            ("Salad".to_string(), 1)
        ]
    );
    assert_eq!(tally["totalVoters"], 1, "one voter, one vote: {tally}");
    assert_eq!(tally["voters"][0]["voter"], peer.as_str());
    assert_eq!(tally["voters"][0]["selectedOptions"], json!(["Pizza", "Salad"]));

    // --- a poll from the phone: a message of type poll; votes on it count too ----------------
    control
        .deliver(
            DEVICE,
            IncomingMessage {
                poll: Some(IncomingPoll {
                    question: "Which day?".into(),
                    options: vec!["Mon".into(), "Tue".into()],
                    multiple: false,
                }),
                ..IncomingMessage::text(&format!("{PEER}@c.us"), "")
            },
        )
        .await
        .unwrap();
    let got = rx
        .wait_for(30, "the poll's message event", |g| {
            g.iter()
                .any(|r| r.json()["event"] == "message" && r.json()["payload"]["type"] == "poll")
        })
        .await;
    let theirs = events_of(&got, "message")
        .into_iter()
        .find(|e| e["payload"]["type"] == "poll")
        .unwrap();
    let tp = &theirs["payload"];
    assert_eq!(tp["fromMe"], false);
    assert_eq!(tp["body"], "Which day?");
    assert_eq!(
        tp["poll"],
        json!({ "question": "Which day?", "options": ["Mon", "Tue"], "multiple": false })
    );
    control
        .vote_poll(
            DEVICE,
            IncomingVote {
                poll_id: tp["id"].as_str().unwrap().to_string(),
                ..vote(&["Tue"])
            },
        )
        .await
        .unwrap();
    let got = rx
        .wait_for(30, "a vote on their poll", |g| events_of(g, "poll.vote").len() >= 3)
        .await;
    let third = &events_of(&got, "poll.vote")[2]["payload"];
    assert_eq!(third["pollMessageId"], tp["id"]);
    assert_eq!(third["selectedOptions"], json!(["Tue"]));
    let tally = json(
        app.get(&format!("/api/v1/messages/{}/votes/", tp["dbId"]), &key).await,
        200,
    )
    .await;
    assert_eq!(tally["data"]["options"][1]["votes"], 1, "{tally}");

    // --- bad input: 400 naming the field, nothing stored or sent -------------------------------
    let before = stored_messages(&app, &key).await.len();
    let sent_before = control.sent(DEVICE).await.len();
    let thirteen: Vec<String> = (1..=13).map(|i| format!("option {i}")).collect();
    for (body, field) in [
        (
            json!({ "recipient": PEER, "question": "", "options": ["a", "b"] }),
            "question",
        ),
        (json!({ "recipient": PEER, "options": ["a", "b"] }), "question"),
        (
            json!({ "recipient": PEER, "question": "q".repeat(256), "options": ["a", "b"] }),
            "question",
        ),
        (
            json!({ "recipient": PEER, "question": "q", "options": ["a"] }),
            "options",
        ),
        (
            json!({ "recipient": PEER, "question": "q", "options": thirteen }),
            "options",
        ),
        (json!({ "recipient": PEER, "question": "q" }), "options"),
        (
            json!({ "recipient": PEER, "question": "q", "options": ["a", "a"] }),
            "options[1]",
        ),
        (
            json!({ "recipient": PEER, "question": "q", "options": ["a", " "] }),
            "options[1]",
        ),
        (
            json!({ "recipient": PEER, "question": "q", "options": ["a", "b"], "multiple": "yes" }),
            "multiple",
        ),
        (json!({ "question": "q", "options": ["a", "b"] }), "recipient"),
    ] {
        let resp = json(
            app.post_json("/api/v1/messages/send-poll/", &key, body.clone()).await,
            400,
        )
        .await;
        assert_error(&resp, "VALIDATION_ERROR");
        assert_eq!(resp["field"], field, "{body}: {resp}");
    }
    let text = json(
        app.post_json(
            "/api/v1/messages/send-text/",
            &key,
            json!({ "recipient": PEER, "message": "hi" }),
        )
        .await,
        200,
    )
    .await;
    let not_poll = json(
        app.get(&format!("/api/v1/messages/{}/votes/", text["data"]["dbId"]), &key)
            .await,
        400,
    )
    .await;
    assert_eq!(not_poll["field"], "id", "{not_poll}");
    let missing = json(app.get("/api/v1/messages/999999/votes/", &key).await, 404).await;
    assert_error(&missing, "MESSAGE_NOT_FOUND");
    assert_eq!(
        stored_messages(&app, &key).await.len(),
        before + 1,
        "refused requests stored nothing (the one row is the text)"
    );
    assert_eq!(control.sent(DEVICE).await.len(), sent_before + 1, "and sent nothing");
}
both_backends!(polls_and_votes_round_trip, polls_and_votes);
