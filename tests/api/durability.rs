//! What must hold when clients retry, the database misbehaves or uploads pile up: idempotency
//! keys bound to their request, and bounded memory for uploads.

use std::time::Duration;

use reqwest::multipart::{Form, Part};
use serde_json::json;
use wagate_sim::Simulator;

use crate::both_backends;
use crate::common::*;
use crate::support::*;

async fn linked(backend: Backend, sim: &Simulator, phone: &str, ttl_secs: u64) -> TestApp {
    let app = TestApp::spawn_with(TestEnv::new(backend).await, |s| {
        point_at(s, sim);
        s.sending.idempotency_ttl_secs = ttl_secs;
    })
    .await;
    app.link(sim, &app.admin_key.clone(), "default", phone).await;
    app
}

/// The bodies of the stored incoming messages (up to 100, newest first); None unless the API
/// answers 200.
async fn incoming_bodies(app: &TestApp) -> Option<Vec<String>> {
    let r = app
        .http
        .get(app.url("/api/v1/messages/?direction=in&limit=100"))
        .header("Authorization", format!("ApiKey {}", app.admin_key))
        .send()
        .await
        .ok()?;
    if r.status() != 200 {
        return None;
    }
    let listed: serde_json::Value = r.json().await.ok()?;
    let messages = listed["data"]["messages"].as_array()?;
    Some(
        messages
            .iter()
            .map(|m| m["body"].as_str().unwrap_or_default().to_string())
            .collect(),
    )
}

async fn send_text(app: &TestApp, key: &str, text: &str) -> reqwest::Response {
    app.http
        .post(app.url("/api/v1/messages/send-text/"))
        .header("Authorization", format!("ApiKey {}", app.admin_key))
        .header("Idempotency-Key", key)
        .json(&json!({ "recipient": "15550002002", "message": text }))
        .send()
        .await
        .unwrap()
}

/// The same key with the same request answers the first result; with another request, 422
/// `IDEMPOTENCY_KEY_REUSED` and nothing is sent; after `sending.idempotency_ttl_secs` the key is
/// free again. Media requests are fingerprinted by their file's bytes too.
async fn idempotency_keys(backend: Backend) {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let app = linked(backend, &sim, "15550001501", 3).await;
    let first = json(send_text(&app, "order-1", "the first").await, 200).await;
    let again = json(send_text(&app, "order-1", "the first").await, 200).await;
    assert_eq!(first["data"]["dbId"], again["data"]["dbId"]);
    let reused = json(send_text(&app, "order-1", "a different message").await, 422).await;
    assert_error(&reused, "IDEMPOTENCY_KEY_REUSED");
    assert!(
        reused["message"].as_str().unwrap().contains("different request"),
        "{reused}"
    );

    let media = |bytes: Vec<u8>| {
        let form = Form::new()
            .text("recipient", "15550002002")
            .text("media_type", "document")
            .part("file", Part::bytes(bytes).file_name("a.pdf"));
        app.http
            .post(app.url("/api/v1/messages/send-media/"))
            .header("Authorization", format!("ApiKey {}", app.admin_key))
            .header("Idempotency-Key", "upload-1")
            .multipart(form)
            .send()
    };
    let m1 = json(media(b"%PDF-1.7 one".to_vec()).await.unwrap(), 200).await;
    let m2 = json(media(b"%PDF-1.7 one".to_vec()).await.unwrap(), 200).await;
    assert_eq!(m1["data"]["dbId"], m2["data"]["dbId"]);
    let m3 = json(media(b"%PDF-1.7 two".to_vec()).await.unwrap(), 422).await;
    assert_error(&m3, "IDEMPOTENCY_KEY_REUSED");
    let files = std::fs::read_dir(app.env.data_dir().join("media/whatsapp_media/1"))
        .unwrap()
        .count();
    assert_eq!(files, 1, "the retries' copies were not kept");

    let sent = sim.control().sent("15550001501").await;
    assert_eq!(sent.len(), 2, "one text and one document: {sent:?}");

    tokio::time::sleep(Duration::from_secs(4)).await;
    let later = json(send_text(&app, "order-1", "a different message").await, 200).await;
    assert_ne!(later["data"]["dbId"], first["data"]["dbId"], "the key expired");
    assert_eq!(sim.control().sent("15550001501").await.len(), 3);
}
both_backends!(idempotency_keys_are_bound_to_their_request, idempotency_keys);

/// A flood of unauthenticated requests with 7 KB paths cannot fill the disk: paths are cut,
/// such lines are sampled (with a count of those left out), and a file stops at `log.max_bytes`
/// a day. Also stdout stays bounded. Runs the real binary (the log files are its own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_flood_cannot_fill_the_disk() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::{Command, Stdio};
    let env = TestEnv::new(Backend::Sqlite).await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_wagate"))
        .arg("serve")
        .envs(env.cli_env())
        .env("WAGATE__SERVER__PORT", "0")
        .env("WAGATE__LOG__MAX_BYTES", "200000")
        .current_dir(env.dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let base = loop {
        let mut line = String::new();
        assert!(out.read_line(&mut line).unwrap() > 0, "serve printed its address");
        if let Some(url) = line.trim().strip_prefix("wagate listening on ") {
            break url.to_string();
        }
    };
    let stdout = std::thread::spawn(move || {
        let mut all = Vec::new();
        out.read_to_end(&mut all).unwrap();
        all.len()
    });
    let http = reqwest::Client::new();
    let long = "a".repeat(7000);
    let started = std::time::Instant::now();
    let mut sent = 0;
    while started.elapsed() < Duration::from_secs(4) {
        let batch = (0..50).map(|i| {
            let url = if i % 2 == 0 {
                format!("{base}/{long}/{i}")
            } else {
                format!("{base}/api/v1/me/{long}")
            };
            http.get(url).header("Authorization", "ApiKey wag_nope_nope").send()
        });
        for r in futures_util::future::join_all(batch).await {
            assert!([401, 404, 405, 429].contains(&r.unwrap().status().as_u16()));
        }
        sent += 50;
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // One more after a quiet second: it carries the count of the lines left out.
    http.get(format!("{base}/nope")).send().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
    let stdout_bytes = stdout.join().unwrap();
    let logs = env.data_dir().join("logs");
    let combined = std::fs::read_dir(&logs)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("combined."))
        .expect("the combined log");
    let text = std::fs::read_to_string(combined.path()).unwrap();
    eprintln!(
        "{sent} flood requests of 7 KB paths: combined log {} bytes, stdout {stdout_bytes} bytes",
        text.len()
    );
    assert!(sent >= 500, "the flood ran: {sent}");
    assert!(text.len() <= 200_000 + 200, "capped by log.max_bytes: {}", text.len());
    assert!(text.contains("left out"), "says how many lines it left out");
    assert!(!text.contains(&"a".repeat(300)), "no 7 KB paths in the log");
    // Unsampled, every request would log a 7 KB path: that would be sent × 7 KB.
    assert!(
        stdout_bytes < sent * 1000,
        "stdout bounded too: {stdout_bytes} for {sent} requests"
    );
}

/// Stalled clients are let go: a request head that never completes is closed after
/// `server.head_timeout_secs`, a body that stalls mid-way answers 408 after
/// `server.body_idle_timeout_secs`, and the gateway keeps answering others meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_clients_are_let_go() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn_with(TestEnv::new(Backend::Sqlite).await, |s| {
        s.server.head_timeout_secs = 1;
        s.server.body_idle_timeout_secs = 2;
    })
    .await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let key = app.admin_key.clone();
    let mut stalled = Vec::new();
    for i in 0..60 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        if i % 2 == 0 {
            // Half a head.
            s.write_all(b"POST /api/v1/apikeys/ HTTP/1.1\r\nHost: x\r\n")
                .await
                .unwrap();
        } else {
            let head = format!(
                "POST /api/v1/apikeys/ HTTP/1.1\r\nHost: x\r\nAuthorization: ApiKey {key}\r\n\
                 Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"label\":"
            );
            s.write_all(head.as_bytes()).await.unwrap();
        }
        stalled.push((s, std::time::Instant::now()));
    }
    // Others are served meanwhile.
    json(app.get("/api/v1/me", &key).await, 200).await;
    let started = std::time::Instant::now();
    // Each connection read to its end at the same time: when did the server let it go?
    let closed = futures_util::future::join_all(stalled.into_iter().map(|(mut s, at)| async move {
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(15), s.read_to_end(&mut buf)).await;
        assert!(read.is_ok(), "a stalled connection was closed");
        (String::from_utf8_lossy(&buf).into_owned(), at.elapsed())
    }))
    .await;
    eprintln!("60 stalled connections closed within {:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(12));
    // The half heads go after head_timeout_secs (1 s here; actix's own default would be 5 s).
    let slowest_head = closed.iter().step_by(2).map(|c| c.1).max().unwrap();
    assert!(
        slowest_head < Duration::from_millis(3500),
        "half heads closed by the 1 s head timeout: {slowest_head:?}"
    );
    let answers: Vec<String> = closed.into_iter().map(|c| c.0).collect();
    let timed_out_bodies = answers.iter().filter(|a| a.starts_with("HTTP/1.1 408")).count();
    assert!(
        timed_out_bodies >= 30,
        "stalled bodies answer 408: {:?}",
        answers
            .iter()
            .map(|a| a.lines().next().unwrap_or("").to_string())
            .collect::<Vec<_>>()
    );
    assert!(
        answers.iter().any(|a| a.contains("REQUEST_TIMEOUT")),
        "in the error envelope"
    );
    let keys = json(app.get("/api/v1/apikeys/", &key).await, 200).await;
    assert_eq!(
        keys["data"].as_array().map(Vec::len),
        Some(1),
        "no half-made key: {keys}"
    );
}

/// PostgreSQL refuses connections for a while; messages the phone delivers meanwhile are spooled
/// and stored once it is back (each exactly once, each with its event); nothing is lost, a
/// subscribed chat's presence change of the moment included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incoming_messages_survive_a_database_outage() {
    use diesel_async::{AsyncConnection, SimpleAsyncConnection};
    let Some(base) = postgres_base_url() else {
        eprintln!("skipped: set WAGATE_TEST_POSTGRES_URL to run this PostgreSQL test");
        return;
    };
    let _b = browsers(1).await;
    let sim = simulator().await;
    let app = linked(Backend::Postgres, &sim, "15550001502", 86400).await;
    let key = app.admin_key.clone();
    json(
        app.post_json("/api/v1/chats/15550003005/presence/subscribe/", &key, json!({}))
            .await,
        200,
    )
    .await;
    let name = app.env.pg.as_ref().unwrap().url.rsplit('/').next().unwrap().to_string();
    let mut admin = diesel_async::AsyncPgConnection::establish(&base).await.unwrap();
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {name} ALLOW_CONNECTIONS false; \
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}';"
        ))
        .await
        .unwrap();
    let control = sim.control();
    for text in ["while down 1", "while down 2", "while down 3"] {
        control
            .deliver(
                "15550001502",
                wagate_sim::IncomingMessage::text("15550003005@c.us", text),
            )
            .await
            .unwrap();
    }
    let typing = wagate_sim::IncomingPresence {
        from: "15550003005@c.us".into(),
        state: "composing".into(),
        chat: None,
    };
    assert!(control.set_presence("15550001502", typing).await.unwrap());
    tokio::time::sleep(Duration::from_secs(4)).await;
    let spool = app.env.data_dir().join("spool/events.jsonl");
    assert!(spool.exists(), "the events wait in the spool");
    admin
        .batch_execute(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true;"))
        .await
        .unwrap();
    let mut bodies = Vec::new();
    for _ in 0..150 {
        // The API may still answer 503 while the pool reconnects.
        if let Some(b) = incoming_bodies(&app).await {
            bodies = b;
            if bodies.len() >= 3 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bodies.sort();
    assert_eq!(
        bodies,
        ["while down 1", "while down 2", "while down 3"],
        "each stored once"
    );
    let events = app.state.db.events_after(1, 0, 100).await.unwrap();
    assert_eq!(
        events.iter().filter(|e| e.event == "message").count(),
        3,
        "each with its event"
    );
    // The spool replays in order: the typing comes after the messages, a moment later.
    let is_typing = |e: &wagate::db::EventRow| {
        e.event == "presence.update"
            && serde_json::from_str::<serde_json::Value>(&e.body).unwrap()["payload"]["state"] == "composing"
    };
    let mut events = events;
    for _ in 0..100 {
        if events.iter().any(is_typing) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        events = app.state.db.events_after(1, 0, 100).await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let events = app.state.db.events_after(1, 0, 100).await.unwrap();
    assert_eq!(
        events.iter().filter(|e| is_typing(e)).count(),
        1,
        "the typing seen while the database was away, once: {events:?}"
    );
    for _ in 0..50 {
        if !spool.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!spool.exists(), "the spool is empty again");
}

/// An ack that comes while the gateway is down is read back from the page after the restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_missed_while_down_are_reconciled() {
    let _b = browsers(1).await;
    let sim = simulator().await;
    sim.control().set_auto_acks(false).await;
    let app = linked(Backend::Sqlite, &sim, "15550001503", 86400).await;
    let sent = json(send_text(&app, "ack-1", "read it later").await, 200).await;
    let (db_id, wa_id) = (
        sent["data"]["dbId"].as_i64().unwrap(),
        sent["data"]["messageId"].as_str().unwrap().to_string(),
    );
    let status = |app: &TestApp| {
        let url = app.url(&format!("/api/v1/messages/{db_id}/"));
        let req = app
            .http
            .get(url)
            .header("Authorization", format!("ApiKey {}", app.admin_key));
        async move { json(req.send().await.unwrap(), 200).await["data"]["status"].clone() }
    };
    let mut s = serde_json::Value::Null;
    for _ in 0..50 {
        s = status(&app).await;
        if s == "sent" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(s, "sent");
    // Nobody listens: the session's browser is closed (as when the gateway is down).
    let h = app.state.sessions.get(1, "default").unwrap();
    app.state.sessions.stop(h.key.id).await.unwrap();
    // The stopped page may still be polling for a moment: wait until the simulator forgot it.
    tokio::time::sleep(Duration::from_secs(1)).await;
    sim.control().set_ack(&wa_id, 3).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(status(&app).await, "sent", "the ack was not heard");
    app.state.sessions.start(1, "default").await.unwrap();
    for _ in 0..300 {
        if status(&app).await == "read" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("still {} after the session came back", status(&app).await);
}

/// Messages keep arriving while the session's Chromium is killed and comes back: each is stored
/// exactly once (those the dead page never handed over are read back from the new page's store).
async fn incoming_across_a_browser_crash(backend: Backend) {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let app = linked(backend, &sim, "15550001504", 86400).await;
    let control = sim.control();
    let mut sent = Vec::new();
    for i in 0..12 {
        let body = format!("flow {i}");
        control
            .deliver(
                "15550001504",
                wagate_sim::IncomingMessage::text("15550003007@c.us", &body),
            )
            .await
            .unwrap();
        sent.push(body);
        if i == 4 {
            let killed = wagate::browser::procs::kill_profile_processes(&app.env.data_dir().join("sessions"));
            assert!(killed > 0, "killed the session's Chromium");
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let mut bodies: Vec<String> = Vec::new();
    for _ in 0..300 {
        bodies = incoming_bodies(&app).await.expect("the API answers");
        if bodies.len() >= sent.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut bodies_after = incoming_bodies(&app).await.expect("the API answers");
    bodies_after.sort();
    sent.sort();
    assert_eq!(bodies_after, sent, "every message exactly once (had {bodies:?})");
    let events = app.state.db.events_after(1, 0, 500).await.unwrap();
    assert_eq!(events.iter().filter(|e| e.event == "message").count(), sent.len());
}
both_backends!(
    incoming_messages_survive_a_browser_crash,
    incoming_across_a_browser_crash
);
