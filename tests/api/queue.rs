//! The paced, persistent outbound queue: spacing between sends and per recipient, a restart with
//! queued messages, a disconnected session, the daily cap and the TTL.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wagate::config::Settings;
use wagate_sim::Simulator;

use crate::common::*;
use crate::support::*;

/// (body, chat, when the simulator's server had it), in arrival order.
type Seen = Arc<Mutex<Vec<(String, String, Instant)>>>;

/// Every message the simulator's server receives from `phone`, with when it arrived.
fn track_sends(sim: &Simulator, phone: &str) -> Seen {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (control, phone, out) = (sim.control(), phone.to_string(), seen.clone());
    tokio::spawn(async move {
        loop {
            let sent = control.sent(&phone).await;
            {
                let mut out = out.lock().unwrap();
                let at = Instant::now();
                let new: Vec<_> = sent.iter().skip(out.len()).collect();
                for r in new {
                    out.push((r.body.clone().unwrap_or_default(), r.chat.clone(), at));
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    seen
}

async fn wait_sent(seen: &Seen, n: usize, secs: u64) -> Vec<(String, String, Instant)> {
    for _ in 0..secs * 20 {
        let got = seen.lock().unwrap().clone();
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{n} sends not seen within {secs} s: {:?}", seen.lock().unwrap());
}

async fn send(app: &TestApp, query: &str, to: &str, text: &str) -> reqwest::Response {
    app.post_json(
        &format!("/api/v1/messages/send-text/{query}"),
        &app.admin_key,
        json!({ "session": "main", "recipient": to, "message": text }),
    )
    .await
}

async fn message(app: &TestApp, id: i64) -> Value {
    json(app.get(&format!("/api/v1/messages/{id}/"), &app.admin_key).await, 200).await["data"].clone()
}

async fn wait_status(app: &TestApp, id: i64, status: &str, secs: u64) -> Value {
    for _ in 0..secs * 10 {
        let m = message(app, id).await;
        if m["status"] == status {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("message {id} never became {status}: {}", message(app, id).await);
}

/// Waits until the message went out (sent, or an ack further).
async fn wait_out(app: &TestApp, id: i64, secs: u64) -> Value {
    for _ in 0..secs * 10 {
        let m = message(app, id).await;
        if ["sent", "delivered", "read"].contains(&m["status"].as_str().unwrap()) {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("message {id} never went out: {}", message(app, id).await);
}

async fn linked_app(sim: &Simulator, phone: &str, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let app = TestApp::spawn_with(TestEnv::new(Backend::Sqlite).await, |s| {
        point_at(s, sim);
        tweak(s);
    })
    .await;
    app.link(sim, &app.admin_key.clone(), "main", phone).await;
    app
}

/// Queued sends keep the minimum gap (plus jitter) between them and the per-recipient gap; a
/// synchronous send waits for its turn and answers `sent`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_sends_respect_the_gaps() {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let app = linked_app(&sim, "15550101010", |s| {
        s.sending.min_gap_ms = 600;
        s.sending.gap_jitter_ms = 200;
        s.sending.recipient_gap_ms = 2000;
    })
    .await;
    let seen = track_sends(&sim, "15550101010");
    let mut ids = Vec::new();
    for (to, text) in [
        ("+15550202020", "m1"),
        ("+15550303030", "m2"),
        ("+15550202020", "m3"),
        ("+15550303030", "m4"),
    ] {
        let r = json(send(&app, "?async=true", to, text).await, 202).await;
        assert_eq!(r["data"]["status"], "queued", "{r}");
        assert!(r["data"]["expiresAt"].is_string(), "{r}");
        ids.push(r["data"]["dbId"].as_i64().unwrap());
    }
    let got = wait_sent(&seen, 4, 30).await;
    let bodies: Vec<&str> = got.iter().map(|g| g.0.as_str()).collect();
    assert_eq!(bodies, ["m1", "m2", "m3", "m4"], "in order");
    let gaps: Vec<u128> = got.windows(2).map(|w| (w[1].2 - w[0].2).as_millis()).collect();
    let same_chat: Vec<u128> = [(0, 2), (1, 3)]
        .iter()
        .map(|(a, b)| (got[*b].2 - got[*a].2).as_millis())
        .collect();
    eprintln!("queue spacing: consecutive {gaps:?} ms, same recipient {same_chat:?} ms");
    // The gap is measured at the simulator's server, so a send's own jitter (a few ms) is allowed.
    assert!(gaps.iter().all(|g| *g >= 560), "min gap 600 ms: {gaps:?}");
    assert!(
        same_chat.iter().all(|g| *g >= 1960),
        "recipient gap 2000 ms: {same_chat:?}"
    );
    for id in ids {
        let m = wait_out(&app, id, 10).await;
        assert!(m["messageId"].as_str().unwrap().starts_with("true_"), "{m}");
    }

    // Synchronous: the answer comes when the message went out.
    let started = Instant::now();
    let r = json(send(&app, "", "+15550404040", "sync").await, 200).await;
    assert!(r["data"]["messageId"].is_string(), "{r}");
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "it waited for its turn"
    );
}

/// Queued messages survive a gateway restart: each is sent exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_sends_each_queued_message_exactly_once() {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let tweak = |s: &mut Settings| s.sending.min_gap_ms = 3000;
    let app = linked_app(&sim, "15550111111", tweak).await;
    let seen = track_sends(&sim, "15550111111");
    let mut ids = Vec::new();
    for text in ["r1", "r2", "r3"] {
        ids.push(
            json(send(&app, "?async=true", "+15550222222", text).await, 202).await["data"]["dbId"]
                .as_i64()
                .unwrap(),
        );
    }
    wait_sent(&seen, 1, 20).await;
    let app = app
        .restart_with(|s| {
            point_at(s, &sim);
            tweak(s);
        })
        .await;
    let got = wait_sent(&seen, 3, 60).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let got_after = seen.lock().unwrap().clone();
    assert_eq!(got_after.len(), 3, "nothing sent twice: {got_after:?}");
    let bodies: Vec<&str> = got.iter().map(|g| g.0.as_str()).collect();
    assert_eq!(bodies, ["r1", "r2", "r3"]);
    for id in ids {
        wait_out(&app, id, 10).await;
    }
}

/// A message sent while the session is disconnected waits in the queue and goes out when it is
/// back; a sync request that waits too long gets 202.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disconnected_session_sends_after_reconnecting() {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let app = linked_app(&sim, "15550121212", |s| s.sending.wait_secs = 1).await;
    let seen = track_sends(&sim, "15550121212");
    wagate::browser::procs::kill_profile_processes(&app.env.data_dir().join("sessions"));
    let h = app.state.sessions.get(1, "main").unwrap();
    for _ in 0..100 {
        if h.info().state != wagate::sessions::SessionState::Connected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_ne!(
        h.info().state,
        wagate::sessions::SessionState::Connected,
        "the browser is gone"
    );
    let r = json(send(&app, "", "+15550131313", "after the gap").await, 202).await;
    let id = r["data"]["dbId"].as_i64().unwrap();
    assert_eq!(seen.lock().unwrap().len(), 0);
    let got = wait_sent(&seen, 1, 60).await;
    assert_eq!(got[0].0, "after the gap");
    wait_out(&app, id, 10).await;

    // A stopped (but linked) session is started by a send, which then goes out.
    app.state.sessions.stop(h.key.id).await.unwrap();
    assert!(app.state.sessions.get(1, "main").is_none(), "stopped");
    let r = send(&app, "", "+15550131313", "wakes it up").await;
    assert!([200, 202].contains(&r.status().as_u16()), "{}", r.status());
    let got = wait_sent(&seen, 2, 60).await;
    assert_eq!(got[1].0, "wakes it up");
}

/// The daily cap holds a message back; one that waits past its TTL fails with EXPIRED.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_cap_holds_and_the_ttl_expires() {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let app = linked_app(&sim, "15550141414", |s| {
        s.sending.daily_cap = 1;
        s.sending.queue_ttl_secs = 2;
    })
    .await;
    let seen = track_sends(&sim, "15550141414");
    json(send(&app, "", "+15550151515", "first").await, 200).await;
    let r = json(send(&app, "?async=true", "+15550151515", "over the cap").await, 202).await;
    let id = r["data"]["dbId"].as_i64().unwrap();
    let m = wait_status(&app, id, "failed", 15).await;
    assert_eq!(m["errorCode"], "EXPIRED", "{m}");
    assert_eq!(seen.lock().unwrap().len(), 1, "the cap held the second one back");
}

/// With `sending.typing`, "typing…" shows in the chat before the text, for a time that grows
/// with its length.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_shows_before_the_text() {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let app = linked_app(&sim, "15550181818", |s| s.sending.typing = true).await;
    let seen = track_sends(&sim, "15550181818");
    let text = "x".repeat(40);
    let started = Instant::now();
    json(send(&app, "", "+15550191919", &text).await, 200).await;
    assert!(
        started.elapsed() >= Duration::from_millis(2000),
        "40 characters take 2 s to type"
    );
    let states = sim.control().chat_states("15550181818").await;
    assert_eq!(states.len(), 1, "{states:?}");
    assert_eq!(states[0].state, "composing");
    assert_eq!(states[0].chat, "15550191919@c.us");
    let got = wait_sent(&seen, 1, 5).await;
    assert_eq!(got[0].0, text);
}
