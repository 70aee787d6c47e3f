//! Others' presence: `POST /api/v1/chats/{chatId}/presence/subscribe/` subscribes a chat, after
//! which each change the phone side makes (online, typing…, recording…, stopped, offline with last
//! seen; in a group, per member) raises one `presence.update` event with the documented shape,
//! and `GET /api/v1/chats/{chatId}/presence/` shows the state now. An unsubscribed chat raises
//! nothing; presence stores no message rows; bad input is 400 naming the field.

use serde_json::{Value, json};
use wagate_sim::IncomingPresence;

use crate::both_backends;
use crate::common::*;
use crate::receiver::Receiver;
use crate::support::*;

const DEVICE: &str = "15550001981";
const PEER: &str = "15550002981";
const OTHER: &str = "15550002982";
const MEMBER: &str = "15550002983";
const GROUP: &str = "120363000000001981@g.us";

fn shows(from: &str, state: &str, chat: Option<&str>) -> IncomingPresence {
    IncomingPresence {
        from: format!("{from}@c.us"),
        state: state.into(),
        chat: chat.map(str::to_string),
    }
}

/// The `presence.update` payloads received so far, in order.
fn updates(got: &[crate::receiver::Received]) -> Vec<Value> {
    got.iter()
        .map(|r| r.json())
        .filter(|e| e["event"] == "presence.update")
        .map(|e| e["payload"].clone())
        .collect()
}

async fn presence_round_trip(backend: Backend) {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let app = TestApp::spawn_with(TestEnv::new(backend).await, |s| point_at(s, &sim)).await;
    let key = app.admin_key.clone();
    let rx = Receiver::start().await;
    app.put_webhook(&key, json!({ "url": rx.url, "events": ["presence.update"] }))
        .await;
    app.link(&sim, &key, "default", DEVICE).await;
    let control = sim.control();
    let peer = peer_id(&sim, PEER).await;
    let rows_before = stored_messages(&app, &key).await.len();

    let sub = json(
        app.post_json(&format!("/api/v1/chats/{PEER}/presence/subscribe/"), &key, json!({}))
            .await,
        200,
    )
    .await;
    assert_eq!(sub["data"]["chatId"], peer.as_str(), "{sub}");
    assert_eq!(sub["data"]["chatPhone"], PEER);
    assert_eq!(sub["data"]["subscribed"], true);
    assert_eq!(sub["data"]["state"], Value::Null, "nothing known yet: {sub}");

    // Someone not subscribed types: WhatsApp does not send it, nothing is raised.
    assert!(
        !control
            .set_presence(DEVICE, shows(OTHER, "composing", None))
            .await
            .unwrap()
    );

    let started = chrono::Utc::now().timestamp();
    let steps = ["available", "composing", "recording", "paused", "unavailable"];
    for (i, state) in steps.iter().enumerate() {
        assert!(
            control.set_presence(DEVICE, shows(PEER, state, None)).await.unwrap(),
            "a subscribed page is told {state}"
        );
        rx.wait_for(30, state, |g| updates(g).len() > i).await;
    }
    let got = updates(&rx.received());
    assert_eq!(
        got.iter().map(|p| p["state"].as_str().unwrap()).collect::<Vec<_>>(),
        steps,
        "one event per change, in order: {got:#?}"
    );
    for p in &got {
        assert_eq!(p["chatId"], peer.as_str(), "{p}");
        assert_eq!(p["chatPhone"], PEER, "{p}");
        assert_eq!(p["participant"], Value::Null, "{p}");
        assert!(p["timestamp"].as_i64().unwrap() >= started - 5, "{p}");
        let mut keys: Vec<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "chatId",
                "chatPhone",
                "lastSeen",
                "participant",
                "participantPhone",
                "state",
                "timestamp"
            ],
            "the documented shape: {p}"
        );
    }
    let offline = got.last().unwrap();
    let last_seen = offline["lastSeen"].as_i64().expect("offline carries last seen");
    assert!(
        (started - 5..=chrono::Utc::now().timestamp() + 5).contains(&last_seen),
        "{offline}"
    );
    assert!(got[..4].iter().all(|p| p["lastSeen"].is_null()), "online: no last seen");

    let now = json(app.get(&format!("/api/v1/chats/{PEER}/presence/"), &key).await, 200).await;
    assert_eq!(now["data"]["state"], "unavailable", "{now}");
    assert_eq!(now["data"]["lastSeen"], last_seen);
    assert_eq!(now["data"]["subscribed"], true);
    let other = json(app.get(&format!("/api/v1/chats/{OTHER}/presence/"), &key).await, 200).await;
    assert_eq!(other["data"]["subscribed"], false, "{other}");
    assert_eq!(other["data"]["state"], Value::Null, "{other}");

    // A group: each member's typing, with the member named.
    let member = peer_id(&sim, MEMBER).await;
    json(
        app.post_json(&format!("/api/v1/chats/{GROUP}/presence/subscribe/"), &key, json!({}))
            .await,
        200,
    )
    .await;
    assert!(
        control
            .set_presence(DEVICE, shows(MEMBER, "composing", Some(GROUP)))
            .await
            .unwrap()
    );
    let got = rx
        .wait_for(30, "the member's typing", |g| updates(g).len() > steps.len())
        .await;
    let p = updates(&got).pop().unwrap();
    assert_eq!(
        (
            p["chatId"].clone(),
            p["chatPhone"].clone(),
            p["participant"].clone(),
            p["state"].clone()
        ),
        (json!(GROUP), Value::Null, json!(member), json!("composing")),
        "{p}"
    );
    assert_eq!(p["participantPhone"], MEMBER, "{p}");
    let group = json(app.get(&format!("/api/v1/chats/{GROUP}/presence/"), &key).await, 200).await;
    assert_eq!(
        group["data"]["participants"],
        json!([{ "id": member, "phone": MEMBER, "state": "composing" }]),
        "{group}"
    );

    assert!(
        updates(&rx.received()).iter().all(|p| p["chatPhone"] != OTHER),
        "the unsubscribed chat raised nothing"
    );
    assert_eq!(
        stored_messages(&app, &key).await.len(),
        rows_before,
        "presence is events only: no message rows"
    );
}
both_backends!(presence_updates_for_subscribed_chats, presence_round_trip);

async fn presence_bad_input(backend: Backend) {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let app = TestApp::spawn_with(TestEnv::new(backend).await, |s| point_at(s, &sim)).await;
    let key = app.admin_key.clone();
    app.link(&sim, &key, "default", DEVICE).await;
    for (method, path, body, field) in [
        (
            "POST",
            "/api/v1/chats/not-a-chat/presence/subscribe/",
            json!({}),
            "chatId",
        ),
        ("GET", "/api/v1/chats/12/presence/", Value::Null, "chatId"),
        (
            "POST",
            &*format!("/api/v1/chats/{PEER}/presence/subscribe/"),
            json!({ "session": "no spaces please" }),
            "session",
        ),
        (
            "GET",
            &*format!("/api/v1/chats/{PEER}/presence/?session=a%20b"),
            Value::Null,
            "session",
        ),
    ] {
        let resp = match method {
            "GET" => app.get(path, &key).await,
            _ => app.post_json(path, &key, body).await,
        };
        let resp = json(resp, 400).await;
        assert_error(&resp, "VALIDATION_ERROR");
        assert_eq!(resp["field"], field, "{method} {path}: {resp}");
    }
    let unknown = json(
        app.post_json(
            &format!("/api/v1/chats/{PEER}/presence/subscribe/"),
            &key,
            json!({ "state": "composing" }),
        )
        .await,
        400,
    )
    .await;
    assert_error(&unknown, "BAD_REQUEST");
    let away = json(
        app.get(&format!("/api/v1/chats/{PEER}/presence/?session=elsewhere"), &key)
            .await,
        409,
    )
    .await;
    assert_error(&away, "SESSION_NOT_CONNECTED");
}
both_backends!(presence_refuses_bad_input, presence_bad_input);
