//! Incoming calls end to end, through the simulated phone and page: a call rings → `call.received`;
//! rejected through the API → the caller's side sees it declined, `call.rejected`; the session's
//! `rejectCalls` setting rejects on its own and answers with `callReplyText` through the queue;
//! an unanswered call is missed; bad input is 400 naming the field and changes nothing.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use wagate_sim::{CallOffer, CallState, Simulator};

use crate::both_backends;
use crate::common::*;
use crate::receiver::{Received, Receiver};
use crate::support::*;

const DEVICE: &str = "15550002301";
const ALICE: &str = "15550002302";
const BOB: &str = "15550002303";
const CAROL: &str = "15550002304";

fn call_from(phone: &str, is_video: bool, ring_secs: Option<u64>) -> CallOffer {
    CallOffer {
        from: format!("{phone}@c.us"),
        is_video,
        is_group: false,
        ring_secs,
    }
}

/// The webhook deliveries of `event` about the call `id`.
fn about(got: &[Received], event: &str, id: &str) -> Vec<Value> {
    got.iter()
        .map(Received::json)
        .filter(|e| e["event"] == event && e["payload"]["callId"] == id)
        .collect()
}

async fn wait_event(rx: &Receiver, event: &str, id: &str) -> Value {
    let got = rx
        .wait_for(30, &format!("{event} for {id}"), |g| !about(g, event, id).is_empty())
        .await;
    about(&got, event, id).remove(0)
}

/// The call as the simulated caller's side sees it.
async fn on_server(sim: &Simulator, id: &str) -> wagate_sim::CallRecord {
    sim.control()
        .calls(DEVICE)
        .await
        .into_iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no call {id} on the server"))
}

async fn settings(app: &TestApp, key: &str, body: Value, status: u16) -> Value {
    json(
        app.send_json(Method::PATCH, "/api/v1/sessions/settings/", key, body)
            .await,
        status,
    )
    .await
}

/// A rejection through the API of a call that is not ringing: 404 `CALL_NOT_FOUND`.
async fn not_found(app: &TestApp, key: &str, id: &str) {
    let body = json(
        app.post_json(&format!("/api/v1/calls/{id}/reject/"), key, json!({}))
            .await,
        404,
    )
    .await;
    assert_error(&body, "CALL_NOT_FOUND");
}

fn assert_call_shape(e: &Value, event: &str, caller: &str, phone: &str, video: bool) {
    let p = &e["payload"];
    assert_eq!(e["event"], event, "{e}");
    assert_eq!(e["session"], "default", "{e}");
    assert_eq!(p["from"], caller, "{e}");
    assert_eq!(p["fromPhone"], phone, "{e}");
    assert_eq!(
        (p["isVideo"].as_bool(), p["isGroup"].as_bool()),
        (Some(video), Some(false)),
        "{e}"
    );
    assert!(p["timestamp"].as_i64().is_some_and(|t| t > 1_700_000_000), "{e}");
}

async fn calls_ring_and_are_rejected(backend: Backend) {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let app = TestApp::spawn_with(TestEnv::new(backend).await, |s| point_at(s, &sim)).await;
    let key = app.admin_key.clone();
    let rx = Receiver::start().await;
    app.put_webhook(&key, json!({ "url": rx.url })).await;
    app.link(&sim, &key, "default", DEVICE).await;

    // Settings: off by default; bad input names the field and changes nothing.
    let initial = json(app.get("/api/v1/sessions/settings/", &key).await, 200).await;
    assert_eq!(
        initial["data"],
        json!({ "session": "default", "rejectCalls": false, "callReplyText": null })
    );
    for (bad, field) in [
        (json!({ "rejectCalls": "yes" }), "rejectCalls"),
        (json!({ "rejectCalls": true, "callReplyText": "" }), "callReplyText"),
        (json!({ "rejectCalls": true, "callReplyText": 42 }), "callReplyText"),
        (
            json!({ "rejectCalls": true, "callReplyText": "x".repeat(1001) }),
            "callReplyText",
        ),
        (json!({ "rejectCalls": true, "autoReject": true }), "autoReject"),
    ] {
        let body = settings(&app, &key, bad, 400).await;
        assert_error(&body, "VALIDATION_ERROR");
        assert_eq!(body["field"], field, "{body}");
    }
    let missing = json(
        app.send_json(
            Method::PATCH,
            "/api/v1/sessions/settings/?session=nope",
            &key,
            json!({ "rejectCalls": true }),
        )
        .await,
        404,
    )
    .await;
    assert_error(&missing, "SESSION_NOT_FOUND");
    let unchanged = json(app.get("/api/v1/sessions/settings/", &key).await, 200).await;
    assert_eq!(unchanged["data"], initial["data"], "a refused change changed nothing");

    // A video call from Alice rings: call.received with the documented shape.
    let alice = peer_id(&sim, ALICE).await;
    let id = sim
        .control()
        .offer_call(DEVICE, call_from(ALICE, true, None))
        .await
        .unwrap();
    let received = wait_event(&rx, "call.received", &id).await;
    assert_call_shape(&received, "call.received", &alice, ALICE, true);
    assert!(received["payload"].get("rejectedBy").is_none(), "{received}");

    // Bad and unknown call ids.
    let bad = json(
        app.post_json("/api/v1/calls/not%20an%20id/reject/", &key, json!({}))
            .await,
        400,
    )
    .await;
    assert_error(&bad, "VALIDATION_ERROR");
    assert_eq!(bad["field"], "callId");
    let unknown = json(
        app.post_json("/api/v1/calls/DEADBEEF00000000/reject/", &key, json!({}))
            .await,
        404,
    )
    .await;
    assert_error(&unknown, "CALL_NOT_FOUND");
    assert_eq!(on_server(&sim, &id).await.state, CallState::Ringing);

    // Rejected through the API: the caller's side sees the reject stanza, the event follows.
    let rejected = json(
        app.post_json(&format!("/api/v1/calls/{id}/reject/"), &key, json!({}))
            .await,
        200,
    )
    .await;
    assert_eq!(
        (
            rejected["data"]["callId"].as_str(),
            rejected["data"]["state"].as_str(),
            rejected["data"]["rejectedBy"].as_str()
        ),
        (Some(id.as_str()), Some("rejected"), Some("api")),
        "{rejected}"
    );
    let call = on_server(&sim, &id).await;
    assert_eq!(call.state, CallState::Rejected);
    let stanza = call.reject_stanza.expect("the page sent a reject stanza");
    assert_eq!(
        (stanza["call-creator"].as_str(), stanza["count"].as_str()),
        (Some(alice.as_str()), Some("0"))
    );
    let event = wait_event(&rx, "call.rejected", &id).await;
    assert_call_shape(&event, "call.rejected", &alice, ALICE, true);
    assert_eq!(event["payload"]["rejectedBy"], "api", "{event}");
    assert_eq!(event["payload"]["replyDbId"], Value::Null, "{event}");
    not_found(&app, &key, &id).await;
    assert_eq!(about(&rx.received(), "call.rejected", &id).len(), 1, "rejected once");

    // Automatic rejection with a reply text: the caller is turned down and gets the text, sent
    // through the queue and stored like any send.
    const REPLY: &str = "I can't take calls here \u{2014} please write.";
    let on = settings(&app, &key, json!({ "rejectCalls": true, "callReplyText": REPLY }), 200).await;
    assert_eq!(
        on["data"],
        json!({ "session": "default", "rejectCalls": true, "callReplyText": REPLY })
    );
    let bob = peer_id(&sim, BOB).await;
    let id = sim
        .control()
        .offer_call(DEVICE, call_from(BOB, false, None))
        .await
        .unwrap();
    let received = wait_event(&rx, "call.received", &id).await;
    assert_call_shape(&received, "call.received", &bob, BOB, false);
    let event = wait_event(&rx, "call.rejected", &id).await;
    assert_call_shape(&event, "call.rejected", &bob, BOB, false);
    assert_eq!(event["payload"]["rejectedBy"], "auto", "{event}");
    assert_eq!(on_server(&sim, &id).await.state, CallState::Rejected);
    not_found(&app, &key, &id).await;
    let db_id = event["payload"]["replyDbId"].as_i64().expect("the reply was queued");
    let mut row = Value::Null;
    for _ in 0..120 {
        row = json(app.get(&format!("/api/v1/messages/{db_id}/"), &key).await, 200).await["data"].clone();
        if row["messageId"].is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        (row["direction"].as_str(), row["body"].as_str()),
        (Some("out"), Some(REPLY)),
        "{row}"
    );
    assert_eq!(row["chatId"], format!("{BOB}@c.us"), "{row}");
    let sent = sim.control().sent(DEVICE).await;
    let to_bob: Vec<_> = sent
        .iter()
        .filter(|r| r.chat == format!("{BOB}@c.us") || r.chat_phone.as_deref() == Some(&format!("{BOB}@c.us")))
        .collect();
    assert_eq!(to_bob.len(), 1, "one reply: {sent:#?}");
    assert_eq!(to_bob[0].body.as_deref(), Some(REPLY));
    assert_eq!(Some(to_bob[0].id.as_str()), row["messageId"].as_str());

    // Off again: a call nobody answers is missed when its ring time is over; nothing rejects it.
    let off = settings(&app, &key, json!({ "rejectCalls": false, "callReplyText": null }), 200).await;
    assert_eq!(off["data"], initial["data"]);
    let id = sim
        .control()
        .offer_call(DEVICE, call_from(CAROL, false, Some(2)))
        .await
        .unwrap();
    wait_event(&rx, "call.received", &id).await;
    for _ in 0..40 {
        if on_server(&sim, &id).await.state != CallState::Ringing {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(on_server(&sim, &id).await.state, CallState::Missed);
    not_found(&app, &key, &id).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        about(&rx.received(), "call.rejected", &id).is_empty(),
        "a missed call is not rejected"
    );
    // Each call was reported once, and rejected at most once.
    let count = |event: &str| rx.received().iter().filter(|r| r.json()["event"] == event).count();
    assert_eq!((count("call.received"), count("call.rejected")), (3, 2));
}
both_backends!(calls_ring_and_are_rejected_or_missed, calls_ring_and_are_rejected);
