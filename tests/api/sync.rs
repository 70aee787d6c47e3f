//! History sync after linking, reported as `session.sync` events: the page's progress in steps
//! (0–100, never going back), then one `done`, before the session is `connected`.

use serde_json::{Value, json};

use crate::both_backends;
use crate::common::*;
use crate::receiver::Receiver;
use crate::support::*;

const DEVICE: &str = "15550001951";

async fn initial_sync(backend: Backend) {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let app = TestApp::spawn_with(TestEnv::new(backend).await, |s| point_at(s, &sim)).await;
    let key = app.admin_key.clone();
    let rx = Receiver::start().await;
    app.put_webhook(
        &key,
        json!({ "url": rx.url, "events": ["session.sync", "session.status"] }),
    )
    .await;
    app.link(&sim, &key, "default", DEVICE).await;

    let done = |e: &Value| e["event"] == "session.sync" && e["payload"]["done"] == true;
    rx.wait_for(30, "a session.sync event with done", |g| {
        g.iter().any(|r| done(&r.json()))
    })
    .await;
    // Anything late (a second `done`) would arrive within this.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let events: Vec<Value> = rx.received().iter().map(|r| r.json()).collect();
    let sync: Vec<&Value> = events.iter().filter(|e| e["event"] == "session.sync").collect();
    for e in &sync {
        assert_eq!(e["session"], "default", "{e}");
        let p = &e["payload"];
        assert_eq!(p["name"], "default", "{e}");
        assert!(p["progress"].as_u64().is_some_and(|v| v <= 100), "{e}");
        assert!(p["done"].is_boolean(), "{e}");
        assert_eq!(
            p.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["done", "name", "progress"],
            "the documented shape: {e}"
        );
    }
    let steps: Vec<u64> = sync
        .iter()
        .filter(|e| e["payload"]["done"] == false)
        .map(|e| e["payload"]["progress"].as_u64().unwrap())
        .collect();
    assert!(steps.len() >= 2, "the sync progressed in steps: {sync:#?}");
    assert!(
        steps.windows(2).all(|w| w[0] < w[1]),
        "progress only goes up: {steps:?}"
    );
    let last = sync.last().unwrap();
    assert!(done(last), "done comes last: {sync:#?}");
    assert_eq!(last["payload"]["progress"], 100);
    assert_eq!(sync.iter().filter(|e| done(e)).count(), 1, "one done: {sync:#?}");

    // The sync ends before the session is connected.
    let position = |pred: &dyn Fn(&Value) -> bool| events.iter().position(pred);
    let connected = position(&|e: &Value| e["event"] == "session.status" && e["payload"]["status"] == "connected")
        .expect("a session.status connected event");
    assert!(position(&done).unwrap() < connected, "{events:#?}");
    let first = position(&|e: &Value| e["event"] == "session.sync").unwrap();
    let syncing = position(&|e: &Value| e["event"] == "session.status" && e["payload"]["status"] == "syncing");
    if let Some(syncing) = syncing {
        assert!(syncing < first, "syncing is announced first: {events:#?}");
    }

    // The event stream takes the new name as a filter.
    let resp = app
        .get("/api/v1/events/stream?events=session.sync,group.join&since=0", &key)
        .await;
    assert_eq!(resp.status(), 200);
}
both_backends!(initial_sync_is_reported_as_session_sync, initial_sync);
