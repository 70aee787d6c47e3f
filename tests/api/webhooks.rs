//! Events end to end: the outbox, signed webhook deliveries with retries and replays, the SSE
//! stream, ack timeouts, and durability across a killed gateway.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use wagate::db::SessionStatusUpdate;
use wagate::events::signing::verify;
use wagate_sim::{IncomingMedia, IncomingMessage};

use crate::both_backends;
use crate::common::*;
use crate::receiver::*;
use crate::support::*;

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

fn assert_signed(r: &Received, secret: &str) {
    assert!(r.event_id.starts_with("evt_"), "{r:?}");
    assert_eq!(r.json()["id"], r.event_id.as_str());
    assert!(r.timestamp.parse::<i64>().is_ok(), "{r:?}");
    assert!(
        verify(secret, &r.signature, &r.body, now_secs(), 300),
        "signature verifies: {}",
        r.signature
    );
    assert!(
        !verify(
            "whsec_not-the-right-secret-at-all",
            &r.signature,
            &r.body,
            now_secs(),
            300
        ),
        "a wrong secret fails verification"
    );
}

impl TestApp {
    pub async fn put_webhook(&self, key: &str, body: Value) -> Value {
        json(self.send_json(Method::PUT, "/api/v1/webhook/", key, body).await, 200).await
    }

    async fn user_id(&self, key: &str) -> i64 {
        json(self.get("/api/v1/me", key).await, 200).await["data"]["user"]["id"]
            .as_i64()
            .unwrap()
    }
}

async fn set_state(app: &TestApp, session_id: i64, status: &str, reason: &str) {
    app.state
        .db
        .record_session_state(
            session_id,
            SessionStatusUpdate {
                status: status.into(),
                status_reason: Some(reason.into()),
                phone_number: None,
                wid: None,
                push_name: None,
                last_error: None,
                updated_at: wagate::db::now(),
                connected_at: None,
            },
        )
        .await
        .unwrap();
}

/// Reads SSE frames (`id`, `event`, `data`) until `n` arrived.
async fn read_frames(resp: reqwest::Response, n: usize) -> Vec<(i64, String, Value)> {
    let mut body = resp.bytes_stream();
    let mut buf = String::new();
    let mut frames = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while frames.len() < n {
        let chunk = tokio::time::timeout_at(deadline, body.next())
            .await
            .expect("SSE frames arrive in time")
            .expect("the stream stays open")
            .unwrap();
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let field = |name: &str| block.lines().find_map(|l| l.strip_prefix(name).map(str::to_string));
            if let (Some(id), Some(event), Some(data)) = (field("id: "), field("event: "), field("data: ")) {
                frames.push((id.parse().unwrap(), event, serde_json::from_str(&data).unwrap()));
            }
        }
    }
    frames
}

/// Webhook settings and their validation, a test delivery, retries (500, 500, 200), per-session
/// order, a 410 that is not retried, a replay, the delivery log, and the SSE stream with resume.
async fn retries_refusals_replays_and_the_stream(backend: Backend) {
    let app = TestApp::spawn_with(TestEnv::new(backend).await, |s| {
        s.webhooks.retry_initial_ms = 100;
        s.webhooks.retry_max_secs = 1;
    })
    .await;
    let key = app.admin_key.clone();
    let rx = Receiver::start().await;

    assert_error(
        &json(app.get("/api/v1/webhook/", &key).await, 404).await,
        "WEBHOOK_NOT_FOUND",
    );
    for (body, field) in [
        (json!({ "url": "ftp://example.com/x" }), "url"),
        (json!({}), "url"),
        (json!({ "url": rx.url, "events": ["message", "nope"] }), "events"),
        (json!({ "url": rx.url, "events": [] }), "events"),
        (json!({ "url": rx.url, "secret": "short" }), "secret"),
    ] {
        let resp = json(app.send_json(Method::PUT, "/api/v1/webhook/", &key, body).await, 400).await;
        assert_error(&resp, "VALIDATION_ERROR");
        assert_eq!(resp["field"], field, "{resp}");
    }
    assert_error(
        &json(app.get("/api/v1/webhook/", &key).await, 404).await,
        "WEBHOOK_NOT_FOUND",
    );

    let hook = app
        .put_webhook(&key, json!({ "url": rx.url, "events": ["session.status"] }))
        .await;
    let secret = hook["data"]["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{hook}");
    assert_eq!(hook["data"]["events"], json!(["session.status"]));
    // A second PUT without a secret keeps it.
    let again = app
        .put_webhook(
            &key,
            json!({ "url": rx.url, "events": ["session.status"], "enabled": true }),
        )
        .await;
    assert_eq!(again["data"]["secret"], secret.as_str());

    let test = json(app.post_json("/api/v1/webhook/test/", &key, json!({})).await, 200).await;
    assert_eq!(test["data"]["delivered"], true, "{test}");
    assert_eq!(test["data"]["statusCode"], 200);
    let got = rx.wait_for(5, "the test event", |g| !g.is_empty()).await;
    assert_eq!(got[0].json()["event"], "webhook.test");
    assert_signed(&got[0], &secret);

    // Retries: the first event is refused twice with 500; every later one waits behind it.
    let user_id = app.user_id(&key).await;
    let session = app.state.db.get_or_create_session(user_id, "line").await.unwrap();
    rx.answer(&[500, 500]);
    let steps = ["starting", "qr_pending", "connected", "disconnected", "stopped"];
    for (i, st) in steps.iter().enumerate() {
        set_state(&app, session.id, st, &format!("step {i}")).await;
    }
    let got = rx
        .wait_for(20, "five delivered state events", |g| {
            g.iter()
                .filter(|r| r.answered == 200 && r.json()["event"] == "session.status")
                .count()
                == 5
        })
        .await;
    let events: Vec<&Received> = got.iter().filter(|r| r.json()["event"] == "session.status").collect();
    assert_eq!(events.len(), 7, "three attempts for the first, one for each other");
    assert_eq!(
        events.iter().map(|r| r.answered).collect::<Vec<_>>(),
        [500, 500, 200, 200, 200, 200, 200]
    );
    assert!(events[..3].iter().all(|r| r.event_id == events[0].event_id));
    let order: Vec<String> = events[2..]
        .iter()
        .map(|r| r.json()["payload"]["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(order, steps, "delivered in the order they happened");
    for r in &events {
        assert_signed(r, &secret);
        let body = r.json();
        assert_eq!(body["session"], "line");
        assert!(body["timestamp"].as_i64().unwrap() > 1_700_000_000_000, "{body}");
    }

    let log = json(app.get("/api/v1/webhook/deliveries/?status=delivered", &key).await, 200).await;
    let first = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["eventId"] == events[0].event_id.as_str())
        .expect("the retried event is in the log")
        .clone();
    assert_eq!(first["attempts"], 3, "{first}");
    let codes: Vec<i64> = first["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["statusCode"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, [500, 500, 200]);
    assert!(
        first["log"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["latencyMs"].as_i64().is_some())
    );

    // 410 Gone: refused for good, not retried.
    rx.answer(&[410]);
    set_state(&app, session.id, "starting", "gone").await;
    let got = rx
        .wait_for(10, "the refused event", |g| g.iter().any(|r| r.answered == 410))
        .await;
    let gone = got.iter().find(|r| r.answered == 410).unwrap().event_id.clone();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        rx.received().iter().filter(|r| r.event_id == gone).count(),
        1,
        "a 410 is not retried"
    );
    let failed = json(app.get("/api/v1/webhook/deliveries/?status=failed", &key).await, 200).await;
    let row = failed["data"][0].clone();
    assert_eq!(row["eventId"], gone.as_str(), "{failed}");
    assert_eq!(row["attempts"], 1);
    assert_eq!(row["lastStatusCode"], 410);

    // Replay: delivered again, and the log shows both attempts.
    let id = row["id"].as_i64().unwrap();
    json(
        app.post_json(&format!("/api/v1/webhook/deliveries/{id}/replay/"), &key, json!({}))
            .await,
        200,
    )
    .await;
    rx.wait_for(10, "the replayed event", |g| {
        g.iter().filter(|r| r.event_id == gone && r.answered == 200).count() == 1
    })
    .await;
    let log = json(app.get("/api/v1/webhook/deliveries/?limit=1", &key).await, 200).await;
    assert_eq!(log["data"][0]["eventId"], gone.as_str());
    assert_eq!(log["data"][0]["status"], "delivered");
    assert_eq!(log["data"][0]["attempts"], 2);
    assert_error(
        &json(
            app.post_json("/api/v1/webhook/deliveries/999999/replay/", &key, json!({}))
                .await,
            404,
        )
        .await,
        "EVENT_NOT_FOUND",
    );
    assert_error(
        &json(app.get("/api/v1/webhook/deliveries/?status=weird", &key).await, 400).await,
        "VALIDATION_ERROR",
    );

    // The stream: live events, then a reconnect with Last-Event-ID replays what came after.
    let stream = app
        .http
        .get(app.url("/api/v1/events/stream?events=session.status"))
        .header("Authorization", format!("ApiKey {key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let reader = tokio::spawn(read_frames(stream, 3));
    tokio::time::sleep(Duration::from_millis(300)).await;
    for st in ["starting", "qr_pending", "connected"] {
        set_state(&app, session.id, st, "streamed").await;
    }
    let live = reader.await.unwrap();
    assert_eq!(
        live.iter()
            .map(|f| f.2["payload"]["status"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["starting", "qr_pending", "connected"]
    );
    assert!(live.iter().all(|f| f.1 == "session.status"));
    let resumed = app
        .http
        .get(app.url("/api/v1/events/stream"))
        .header("Authorization", format!("ApiKey {key}"))
        .header("Last-Event-ID", live[0].0.to_string())
        .send()
        .await
        .unwrap();
    let replayed = read_frames(resumed, 2).await;
    assert_eq!(
        replayed.iter().map(|f| f.0).collect::<Vec<_>>(),
        [live[1].0, live[2].0],
        "resumes right after the given id"
    );
    assert_eq!(replayed[1].2, live[2].2, "the same envelope");
    assert_error(
        &json(app.get("/api/v1/events/stream?events=bogus", &key).await, 400).await,
        "VALIDATION_ERROR",
    );
}
both_backends!(retries_and_stream, retries_refusals_replays_and_the_stream);

/// An incoming text and image → stored (the image's bytes too) and delivered signed; acks
/// 1 → 2 → 3 → the row ends `read` with three `message.ack` events, in order.
async fn incoming_messages_and_acks_reach_the_webhook(backend: Backend) {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let app = TestApp::spawn_with(TestEnv::new(backend).await, |s| point_at(s, &sim)).await;
    let key = app.admin_key.clone();
    let rx = Receiver::start().await;
    let secret = app.put_webhook(&key, json!({ "url": rx.url })).await["data"]["secret"]
        .as_str()
        .unwrap()
        .to_string();
    app.link(&sim, &key, "main", "15550001111").await;

    let png = png_bytes(40_000);
    let control = sim.control();
    control
        .deliver(
            "15550001111",
            IncomingMessage::text("15550002222@c.us", "hello gateway"),
        )
        .await
        .unwrap();
    control
        .deliver(
            "15550001111",
            IncomingMessage {
                caption: Some("a picture".into()),
                media: Some(IncomingMedia {
                    mimetype: "image/png".into(),
                    filename: None,
                    data: png.clone(),
                }),
                ..IncomingMessage::text("15550002222@c.us", "")
            },
        )
        .await
        .unwrap();
    let got = rx
        .wait_for(30, "two message events", |g| {
            g.iter().filter(|r| r.json()["event"] == "message").count() == 2
        })
        .await;
    let messages: Vec<Value> = got
        .iter()
        .filter(|r| r.json()["event"] == "message")
        .map(|r| r.json())
        .collect();
    let text = &messages[0]["payload"];
    assert_eq!(messages[0]["session"], "main");
    assert_eq!(text["body"], "hello gateway");
    assert_eq!(text["fromMe"], false);
    let peer = peer_id(&sim, "15550002222").await;
    assert_eq!(text["from"], peer.as_str());
    assert_eq!(text["chatId"], peer.as_str());
    assert_eq!(text["to"], "15550001111@c.us");
    assert_eq!(text["authorPhone"], "15550002222");
    assert_eq!(text["fromPhone"], "15550002222");
    assert_eq!(text["chatPhone"], "15550002222");
    assert_eq!(text["type"], "chat");
    assert_eq!(text["hasMedia"], false);
    assert!(
        text["id"].as_str().unwrap().starts_with(&format!("false_{peer}_")),
        "{text}"
    );
    let image = &messages[1]["payload"];
    assert_eq!(image["type"], "image");
    assert_eq!(image["hasMedia"], true);
    assert_eq!(image["caption"], "a picture");
    assert_eq!(image["media"]["mimetype"], "image/png");
    let url = image["media"]["url"].as_str().expect("media saved and linked");
    let file = app.get(url, &key).await;
    assert_eq!(file.status(), 200);
    assert_eq!(file.headers()["content-type"], "image/png");
    let bytes = file.bytes().await.unwrap();
    assert_eq!(Sha256::digest(&bytes), Sha256::digest(&png), "identical bytes");
    assert_eq!(
        app.get(url, "wag_nope_nope").await.status(),
        401,
        "media is behind the key"
    );
    for r in &got {
        assert_signed(r, &secret);
    }
    let stored = json(app.get("/api/v1/messages/?direction=in", &key).await, 200).await;
    let stored = stored["data"]["messages"].as_array().unwrap();
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert!(stored.iter().all(|m| m["status"] == "received"), "{stored:?}");
    assert_eq!(stored[0]["media"]["mimetype"], "image/png");

    // Acks, driven by hand.
    control.set_auto_acks(false).await;
    let sent = json(
        app.post_json(
            "/api/v1/messages/send-text/",
            &key,
            json!({ "session": "main", "recipient": "+15550002222", "message": "ack me" }),
        )
        .await,
        200,
    )
    .await;
    let wa_id = sent["data"]["messageId"].as_str().unwrap().to_string();
    let db_id = sent["data"]["dbId"].as_i64().unwrap();
    control.set_ack(&wa_id, 2).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    control.set_ack(&wa_id, 3).await.unwrap();
    let acks_of = |g: &[Received]| -> Vec<i64> {
        g.iter()
            .map(|r| r.json())
            .filter(|b| b["event"] == "message.ack" && b["payload"]["id"] == wa_id.as_str())
            .map(|b| b["payload"]["ack"].as_i64().unwrap())
            .collect()
    };
    let got = rx.wait_for(20, "three acks", |g| acks_of(g).len() == 3).await;
    assert_eq!(acks_of(&got), [1, 2, 3], "in order, one event per ack");
    let ack_names: Vec<String> = got
        .iter()
        .map(|r| r.json())
        .filter(|b| b["event"] == "message.ack")
        .map(|b| b["payload"]["ackName"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ack_names, ["SERVER", "DEVICE", "READ"]);
    let row = json(app.get(&format!("/api/v1/messages/{db_id}/"), &key).await, 200).await;
    assert_eq!(row["data"]["status"], "read");
    // A repeated ack changes nothing and sends nothing.
    control.set_ack(&wa_id, 2).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(acks_of(&rx.received()).len(), 3);

    // Per-session order: the session's events arrived in the order they were created.
    let states: Vec<String> = rx
        .received()
        .iter()
        .map(|r| r.json())
        .filter(|b| b["event"] == "session.status")
        .map(|b| b["payload"]["status"].as_str().unwrap().to_string())
        .collect();
    let pos = |s: &str| {
        states
            .iter()
            .position(|x| x == s)
            .unwrap_or_else(|| panic!("{s} in {states:?}"))
    };
    assert!(
        pos("starting") < pos("qr_pending") && pos("qr_pending") < pos("connected"),
        "{states:?}"
    );
    let stamps: Vec<i64> = rx
        .received()
        .iter()
        .map(|r| r.json()["timestamp"].as_i64().unwrap())
        .collect();
    assert!(stamps.windows(2).all(|w| w[0] <= w[1]), "{stamps:?}");
}
both_backends!(incoming_and_acks, incoming_messages_and_acks_reach_the_webhook);

/// A message WhatsApp's server never acknowledges ends `failed` with ACK_TIMEOUT (and an event),
/// and counts against the session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unacknowledged_message_fails_with_ack_timeout() {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let app = TestApp::spawn_with(TestEnv::new(Backend::Sqlite).await, |s| {
        point_at(s, &sim);
        s.sending.ack_timeout_secs = 1;
    })
    .await;
    let key = app.admin_key.clone();
    let rx = Receiver::start().await;
    app.put_webhook(&key, json!({ "url": rx.url, "events": ["message.ack"] }))
        .await;
    app.link(&sim, &key, "main", "15550003333").await;
    // The bridge stops waiting for the server ack after 10 s and reports ack 0.
    sim.control().set_send_latency(Duration::from_secs(12)).await;
    let sent = json(
        app.post_json(
            "/api/v1/messages/send-text/",
            &key,
            json!({ "session": "main", "recipient": "+15550004444", "message": "into the void" }),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(sent["data"]["status"], "pending", "{sent}");
    let db_id = sent["data"]["dbId"].as_i64().unwrap();
    let got = rx
        .wait_for(10, "the ACK_TIMEOUT event", |g| {
            g.iter().any(|r| r.json()["payload"]["errorCode"] == "ACK_TIMEOUT")
        })
        .await;
    let ev = got
        .iter()
        .find(|r| r.json()["payload"]["errorCode"] == "ACK_TIMEOUT")
        .unwrap()
        .json();
    assert_eq!(ev["payload"]["ackName"], "ERROR");
    assert_eq!(ev["payload"]["dbId"], db_id);
    let row = json(app.get(&format!("/api/v1/messages/{db_id}/"), &key).await, 200).await;
    assert_eq!(row["data"]["status"], "failed");
    assert_eq!(row["data"]["errorCode"], "ACK_TIMEOUT");
    let sessions = json(app.get("/api/v1/sessions/", &key).await, 200).await;
    assert_eq!(sessions["data"][0]["ackTimeouts"], 1, "{sessions}");
    // The late server ack does not resurrect it.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let row = json(app.get(&format!("/api/v1/messages/{db_id}/"), &key).await, 200).await;
    assert_eq!(row["data"]["status"], "failed");
}

/// The receiver is down, the gateway is killed (SIGKILL) and started again: every event that was
/// waiting is delivered after the restart, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_survive_a_killed_gateway() {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let env = TestEnv::new(Backend::Sqlite).await;
    let hook_port = free_port();
    let start = |env: &TestEnv| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wagate"))
            .arg("serve")
            .envs(env.cli_env())
            .env("WAGATE__SERVER__PORT", "0")
            .env("WAGATE__SERVER__WORKERS", "1")
            .env("WAGATE__BROWSER__WHATSAPP_URL", sim.base_url())
            .env("WAGATE__WEBHOOKS__RETRY_INITIAL_MS", "200")
            .env("WAGATE__WEBHOOKS__RETRY_MAX_SECS", "1")
            .current_dir(env.dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut banner = String::new();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let base = loop {
            let line = lines.next().expect("serve printed its address").unwrap();
            if let Some(url) = line.strip_prefix("wagate listening on ") {
                break url.to_string();
            }
            banner.push_str(&line);
            banner.push('\n');
        };
        // Keep draining stdout so the gateway never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let key = banner
            .lines()
            .find_map(|l| l.strip_prefix("API key:"))
            .map(|k| k.trim().to_string());
        (child, base, key)
    };
    let (mut first, base, key) = start(&env);
    let key = key.expect("first start prints a key");
    let http = reqwest::Client::new();
    let call = |method: Method, path: &str, body: Option<Value>| {
        let mut req = http
            .request(method, format!("{base}{path}"))
            .header("Authorization", format!("ApiKey {key}"));
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send()
    };
    json(
        call(
            Method::PUT,
            "/api/v1/webhook/",
            Some(json!({ "url": format!("http://127.0.0.1:{hook_port}/hook") })),
        )
        .await
        .unwrap(),
        200,
    )
    .await;
    let init = json(
        call(
            Method::POST,
            "/api/v1/sessions/init/",
            Some(json!({ "session": "durable" })),
        )
        .await
        .unwrap(),
        200,
    )
    .await;
    let payload = decode_qr_data_url(init["data"]["qrCode"].as_str().unwrap());
    scan_shown(&sim, &payload, "15550005555").await;
    let mut pending = Vec::new();
    for _ in 0..120 {
        let log = json(
            call(Method::GET, "/api/v1/webhook/deliveries/?status=pending", None)
                .await
                .unwrap(),
            200,
        )
        .await;
        pending = log["data"].as_array().unwrap().clone();
        if pending.iter().any(|e| e["body"]["payload"]["status"] == "connected") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    sim.control()
        .deliver("15550005555", IncomingMessage::text("15550006666@c.us", "while down"))
        .await
        .unwrap();
    let mut waiting: Vec<(i64, String)> = Vec::new();
    for _ in 0..80 {
        let log = json(
            call(Method::GET, "/api/v1/webhook/deliveries/?status=pending", None)
                .await
                .unwrap(),
            200,
        )
        .await;
        pending = log["data"].as_array().unwrap().clone();
        if pending.iter().any(|e| e["event"] == "message") {
            waiting = pending
                .iter()
                .map(|e| (e["id"].as_i64().unwrap(), e["eventId"].as_str().unwrap().to_string()))
                .collect();
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(waiting.len() >= 4, "state events and the message wait: {pending:#?}");
    assert!(
        pending
            .iter()
            .any(|e| e["attempts"].as_i64().unwrap() >= 1 && e["lastError"].is_string()),
        "delivery was tried and failed: {pending:#?}"
    );
    first.kill().unwrap();
    first.wait().unwrap();

    let rx = Receiver::start_on(hook_port).await;
    let (mut second, _, key_again) = start(&env);
    assert!(key_again.is_none(), "not a first start");
    waiting.sort();
    let expected: Vec<String> = waiting.iter().map(|w| w.1.clone()).collect();
    let got = rx
        .wait_for(30, "every waiting event", |g| {
            expected.iter().all(|id| g.iter().any(|r| &r.event_id == id))
        })
        .await;
    let first_seen: Vec<String> = {
        let mut seen = Vec::new();
        for r in &got {
            if expected.contains(&r.event_id) && !seen.contains(&r.event_id) {
                seen.push(r.event_id.clone());
            }
        }
        seen
    };
    assert_eq!(first_seen, expected, "delivered in the order they were written");
    unsafe { libc::kill(second.id() as i32, libc::SIGTERM) };
    second.wait().unwrap();
}

/// Waits until the delivery log has the event `uid` (or, without one, the newest event whose
/// reason is `reason`) with `status`; returns its row.
async fn wait_delivery(app: &TestApp, key: &str, reason: &str, status: &str) -> Value {
    for _ in 0..100 {
        let log = json(app.get("/api/v1/webhook/deliveries/?limit=200", key).await, 200).await;
        if let Some(row) = log["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["body"]["payload"]["reason"] == reason && e["status"] == status)
        {
            return row.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = json(app.get("/api/v1/webhook/deliveries/?limit=200", key).await, 200).await;
    panic!("no {status} event with reason {reason:?}: {log:#}");
}

/// A receiver that answers 301 or 308: the event is `failed` after one attempt, its `lastError`
/// names the redirect target, the target is never called, and the session's next event is
/// delivered. `webhook/test/` says the same. 425 is retried; a body with NUL is logged cleanly.
async fn redirects_and_permanent_answers_settle_at_once(backend: Backend) {
    let app = TestApp::spawn_with(TestEnv::new(backend).await, |s| {
        s.webhooks.retry_initial_ms = 100;
        s.webhooks.retry_max_secs = 1;
    })
    .await;
    let key = app.admin_key.clone();
    let rx = Receiver::start().await;
    app.put_webhook(&key, json!({ "url": rx.url, "events": ["session.status"] }))
        .await;

    let elsewhere = "https://hooks.example.net/new";
    rx.reply([Reply::redirect(308, elsewhere)]);
    let test = json(app.post_json("/api/v1/webhook/test/", &key, json!({})).await, 200).await;
    assert_eq!(test["data"]["delivered"], false, "{test}");
    assert_eq!(test["data"]["statusCode"], 308, "{test}");
    let why = test["data"]["error"].as_str().unwrap();
    assert!(why.contains(&format!("redirects to {elsewhere}")), "{why}");

    let user_id = app.user_id(&key).await;
    let session = app.state.db.get_or_create_session(user_id, "moved").await.unwrap();
    let moved = format!("{}/moved", rx.origin());
    for (status, location, target) in [(301, "/moved", moved.as_str()), (308, elsewhere, elsewhere)] {
        rx.reply([Reply::redirect(status, location)]);
        let (first, next) = (format!("redirected {status}"), format!("after {status}"));
        set_state(&app, session.id, "starting", &first).await;
        set_state(&app, session.id, "qr_pending", &next).await;
        let failed = wait_delivery(&app, &key, &first, "failed").await;
        assert_eq!(failed["attempts"], 1, "{failed}");
        assert_eq!(failed["lastStatusCode"], status, "{failed}");
        let error = failed["lastError"].as_str().unwrap();
        assert!(error.contains(&format!("redirects to {target}")), "{error}");
        let delivered = wait_delivery(&app, &key, &next, "delivered").await;
        assert_eq!(delivered["attempts"], 1, "the next event is not held back: {delivered}");
    }
    // Retries would have come within a second; none did, and no redirect was followed.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = rx.received();
    assert_eq!(got.iter().filter(|r| r.answered == 301 || r.answered == 308).count(), 3);
    assert!(got.iter().all(|r| r.path == "/hook"), "a redirect was followed");

    // 425 Too Early asks for a retry.
    rx.answer(&[425]);
    set_state(&app, session.id, "starting", "too early").await;
    let retried = wait_delivery(&app, &key, "too early", "delivered").await;
    assert_eq!(retried["attempts"], 2, "{retried}");

    // A receiver's answer with control characters (NUL breaks PostgreSQL) is logged cleaned.
    rx.reply([Reply {
        body: b"bad\0body\n".to_vec(),
        ..Reply::status(500)
    }]);
    set_state(&app, session.id, "qr_pending", "nul body").await;
    let row = wait_delivery(&app, &key, "nul body", "delivered").await;
    assert_eq!(row["attempts"], 2, "{row}");
    assert_eq!(row["log"][0]["error"], "HTTP 500 bad body", "{row}");
    assert_eq!(row["lastStatusCode"], 200, "{row}");
}
both_backends!(permanent_answers, redirects_and_permanent_answers_settle_at_once);

/// `webhooks.allow_private_urls = false`: internal URLs are refused when set (naming `url`), a
/// name that resolves to an internal address later fails its deliveries at once with the reason,
/// and a listed network (`webhooks.allowed_private_networks`) is delivered to.
async fn webhook_urls_follow_the_address_policy(backend: Backend) {
    let app = TestApp::spawn_with(TestEnv::new(backend).await, |s| {
        s.webhooks.allow_private_urls = false;
        s.webhooks.allowed_private_networks = vec!["127.0.0.2/32".parse().unwrap()];
        s.webhooks.retry_initial_ms = 100;
        s.webhooks.retry_max_secs = 1;
    })
    .await;
    let key = app.admin_key.clone();
    let internal = Receiver::start().await;
    let edge = Receiver::start_at("127.0.0.2", 0).await;
    let by_name = internal.url.replace("127.0.0.1", "localhost");
    for url in [
        internal.url.as_str(),
        by_name.as_str(),
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:10.0.0.1]/hook",
        "http://100.64.0.1/hook",
    ] {
        let resp = json(
            app.send_json(Method::PUT, "/api/v1/webhook/", &key, json!({ "url": url }))
                .await,
            400,
        )
        .await;
        assert_error(&resp, "VALIDATION_ERROR");
        assert_eq!(resp["field"], "url", "{resp}");
        let message = resp["message"].as_str().unwrap();
        assert!(
            message.contains("webhooks.allow_private_urls") && message.contains("webhooks.allowed_private_networks"),
            "{message}"
        );
    }
    assert_error(
        &json(app.get("/api/v1/webhook/", &key).await, 404).await,
        "WEBHOOK_NOT_FOUND",
    );

    app.put_webhook(&key, json!({ "url": edge.url, "events": ["session.status"] }))
        .await;
    let test = json(app.post_json("/api/v1/webhook/test/", &key, json!({})).await, 200).await;
    assert_eq!(test["data"]["delivered"], true, "{test}");

    // The name now resolves to loopback (as DNS can change after the URL was set): stored
    // directly, past the API's check. Deliveries refuse it on connect.
    let user_id = app.user_id(&key).await;
    let mut hook = app.state.db.webhook(user_id).await.unwrap().unwrap();
    hook.url = by_name.clone();
    app.state.db.put_webhook(hook.clone()).await.unwrap();
    let test = json(app.post_json("/api/v1/webhook/test/", &key, json!({})).await, 200).await;
    assert_eq!(test["data"]["delivered"], false, "{test}");
    assert_eq!(test["data"]["statusCode"], Value::Null, "{test}");
    let why = test["data"]["error"].as_str().unwrap();
    assert!(
        why.contains("localhost resolves to") && why.contains("webhooks.allow_private_urls"),
        "{why}"
    );

    let session = app.state.db.get_or_create_session(user_id, "closed").await.unwrap();
    set_state(&app, session.id, "starting", "to localhost").await;
    let failed = wait_delivery(&app, &key, "to localhost", "failed").await;
    assert_eq!(failed["attempts"], 1, "{failed}");
    assert_eq!(failed["lastStatusCode"], Value::Null, "{failed}");
    let error = failed["lastError"].as_str().unwrap();
    assert!(error.contains("localhost resolves to"), "{error}");

    // Back on the allowed network, the session's next event goes out.
    hook.url = edge.url.clone();
    app.state.db.put_webhook(hook).await.unwrap();
    set_state(&app, session.id, "qr_pending", "to the edge").await;
    wait_delivery(&app, &key, "to the edge", "delivered").await;
    assert!(
        internal.received().is_empty(),
        "the internal receiver was reached: {:?}",
        internal.received()
    );
}
both_backends!(closed_webhook_policy, webhook_urls_follow_the_address_policy);
