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

/// The default session's status (`data` of `GET /api/v1/sessions/status/`).
async fn status(app: &TestApp, key: &str) -> Value {
    json(app.get("/api/v1/sessions/status/", key).await, 200).await["data"].clone()
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

    // Subscriptions outlive the connection: after a gateway restart (a new browser, a new page
    // that subscribed to nothing) the session renews them, and the chat's typing is an event again.
    let seen = updates(&rx.received()).len();
    let before = status(&app, &key).await["since"].clone();
    let app = app.restart_with(|s| point_at(s, &sim)).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    // Connected again first: presence shown to the page that is going away is not news to the
    // next one.
    loop {
        let st = status(&app, &key).await;
        if st["status"] == "connected" && st["since"] != before {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not connected again: {st}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    while !control
        .set_presence(DEVICE, shows(PEER, "composing", None))
        .await
        .unwrap()
    {
        assert!(std::time::Instant::now() < deadline, "the subscription was not renewed");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let got = rx
        .wait_for(30, "typing after the restart", |g| {
            updates(g)[seen..].iter().any(|p| p["state"] == "composing")
        })
        .await;
    let p = updates(&got)[seen..]
        .iter()
        .find(|p| p["state"] == "composing")
        .unwrap()
        .clone();
    assert_eq!(
        (p["chatId"].as_str(), p["participant"].clone()),
        (Some(peer.as_str()), Value::Null),
        "{p}"
    );

    // A logout forgets them: whoever links the session next may be another account.
    let session = app.state.db.session_by_name(1, "default").await.unwrap().unwrap();
    assert_eq!(app.state.db.presence_subscriptions(session.id).await.unwrap().len(), 2);
    json(app.post_json("/api/v1/sessions/logout/", &key, json!({})).await, 200).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !app
        .state
        .db
        .presence_subscriptions(session.id)
        .await
        .unwrap()
        .is_empty()
    {
        assert!(std::time::Instant::now() < deadline, "still kept after the logout");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
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
