//! Schema-driven fuzzing: schemathesis (from PyPI) reads the live `/api/openapi.json` and sends
//! generated requests, valid and invalid, to every operation; the run fails on any 5xx, on a
//! status the document does not list for the operation, on a body, header or `Content-Type` that
//! does not match the documented schema, on a method a path does not take answered with anything
//! but 405 and an `Allow` listing exactly the documented methods, on a request without the API key
//! that is not refused, and on a deleted resource that is still there.
//!
//! The gateway runs without a browser (a send answers 409 `SESSION_NOT_CONNECTED`, or 202 for the
//! linked session seeded below; `init` answers 502 `SESSION_FAILED`), and never reaches beyond
//! this machine: `tests/fuzz/hooks.py` points every `url` in a body at a closed loopback port.
//!
//! Ignored in a plain `cargo test` (it needs Python): `make test` installs schemathesis and runs
//! `cargo test --test api fuzz:: -- --ignored` with `WAGATE_SCHEMATHESIS` set.
//! `WAGATE_FUZZ_EXAMPLES` (default 40 per operation) and `WAGATE_FUZZ_SEED` tune a run.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;
use wagate::db::{MessageKind, SessionStatusUpdate};

use crate::common::*;

/// A run that takes longer has hung (a generous bound; a normal run takes well under a minute).
const RUN_LIMIT: Duration = Duration::from_secs(600);

fn schemathesis() -> PathBuf {
    let path = std::env::var("WAGATE_SCHEMATHESIS").unwrap_or_else(|_| {
        panic!("set WAGATE_SCHEMATHESIS to the schemathesis executable (`make test` installs it and sets it)")
    });
    let path = PathBuf::from(path);
    assert!(path.exists(), "WAGATE_SCHEMATHESIS={} does not exist", path.display());
    path
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Data for the fuzzer to find: a webhook (so deliveries and replays have rows), a linked but
/// stopped session (sends to it are queued), stored messages with and without media.
async fn seed(app: &TestApp, safe_url: &str) -> (i64, i64) {
    let me = json(app.get("/api/v1/me", &app.admin_key).await, 200).await;
    let user_id = me["data"]["user"]["id"].as_i64().unwrap();
    let resp = app
        .http
        .put(app.url("/api/v1/webhook/"))
        .header("Authorization", format!("ApiKey {}", app.admin_key))
        .json(&json!({ "url": safe_url }))
        .send()
        .await
        .unwrap();
    json(resp, 200).await;

    let db = &app.state.db;
    let session = db.get_or_create_session(user_id, "default").await.unwrap();
    let now = wagate::db::now();
    db.record_session_state(
        session.id,
        SessionStatusUpdate {
            status: "stopped".into(),
            status_reason: None,
            phone_number: Some("15550001111".into()),
            wid: Some("15550001111@c.us".into()),
            push_name: Some("Fuzz".into()),
            last_error: None,
            updated_at: now,
            connected_at: Some(now),
        },
    )
    .await
    .unwrap();

    let media_dir = app.state.settings.media.dir.join(user_id.to_string());
    std::fs::create_dir_all(&media_dir).unwrap();
    std::fs::write(media_dir.join("photo.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
    let base = || wagate::db::NewMessage {
        user_id,
        ..message_row(Some(session.id), "in", wagate::db::MessageStatus::Received)
    };
    db.insert_message(wagate::db::NewMessage {
        msg_type: MessageKind::Image,
        caption: Some("a picture".into()),
        media_path: Some(format!("{user_id}/photo.png")),
        media_mime: Some("image/png".into()),
        media_filename: Some("photo.png".into()),
        media_size: Some(18),
        sender: Some("15550002002@c.us".into()),
        sender_phone: Some("15550002002".into()),
        ..base()
    })
    .await
    .unwrap();
    db.insert_message(wagate::db::NewMessage {
        direction: "out".into(),
        status: wagate::db::MessageStatus::Failed,
        error_code: Some("RECIPIENT_NOT_ON_WHATSAPP".into()),
        error_message: Some("15550002002 is not on WhatsApp".into()),
        ..base()
    })
    .await
    .unwrap();
    db.insert_message(wagate::db::NewMessage {
        direction: "out".into(),
        status: wagate::db::MessageStatus::Delivered,
        wa_message_id: Some("true_15550002002@c.us_3EB0FUZZ".into()),
        sent_at: Some(now),
        ..base()
    })
    .await
    .unwrap();
    (user_id, me["data"]["apiKey"]["id"].as_i64().unwrap())
}

async fn fuzz(backend: Backend) {
    let schemathesis = schemathesis();
    let hooks = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/hooks.py");
    let safe_url = format!("http://127.0.0.1:{}/fuzz-hook", closed_port());
    let env = TestEnv::new(backend).await;
    let work_dir = env.dir.path().join("schemathesis");
    std::fs::create_dir_all(&work_dir).unwrap();
    let app = TestApp::spawn_with(env, |s| {
        s.server.workers = 2;
        // No browser: a session that starts fails at once, and never loads a page from outside.
        s.browser.chromedriver_path = "/nonexistent/chromedriver".into();
        s.browser.webdriver_url = String::new();
        s.browser.whatsapp_url = format!("http://127.0.0.1:{}/", closed_port());
        // The fuzzer is one client sending as fast as it can: rate limits would answer most of it.
        s.auth.rate_limit_per_sec = 1_000_000;
        s.auth.rate_limit_burst = 1_000_000;
        s.auth.failed_per_minute = 1_000_000;
        s.auth.failed_burst = 1_000_000;
        // A queued send answers 202 at once instead of waiting for a session that never comes.
        s.sending.wait_secs = 0;
        s.webhooks.allow_private_urls = true;
        s.media.allow_private_urls = false;
    })
    .await;
    let (user_id, own_key_id) = seed(&app, &safe_url).await;

    let examples = std::env::var("WAGATE_FUZZ_EXAMPLES").unwrap_or_else(|_| "40".into());
    let workers = std::env::var("WAGATE_FUZZ_WORKERS").unwrap_or_else(|_| "1".into());
    let mut cmd = tokio::process::Command::new(&schemathesis);
    cmd.current_dir(&work_dir)
        .arg("--no-color")
        .arg("run")
        .arg(app.url("/api/openapi.json"))
        .args(["-H", &format!("Authorization: ApiKey {}", app.admin_key)])
        // Server-Sent Events never end: a generated request would wait for events forever.
        .args(["--exclude-path", "/api/v1/events/stream"])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,\
             response_headers_conformance,unsupported_method,allow_header_conformance,ignored_auth,\
             missing_required_header,use_after_free,ensure_resource_availability",
        ])
        .args(["--max-examples", &examples])
        .args(["--workers", &workers])
        .args(["--request-timeout", "30"])
        .args(["--generation-database", "none"])
        .args(["--suppress-health-check", "all"])
        .env("SCHEMATHESIS_HOOKS", &hooks)
        .env("WAGATE_FUZZ_SAFE_URL", &safe_url)
        .env("WAGATE_FUZZ_KEEP_KEY_ID", own_key_id.to_string())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    if let Ok(seed) = std::env::var("WAGATE_FUZZ_SEED") {
        cmd.args(["--seed", &seed]);
    }
    let started = Instant::now();
    let out = tokio::time::timeout(RUN_LIMIT, cmd.output())
        .await
        .expect("schemathesis finishes within the limit")
        .expect("schemathesis runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}\n{stderr}");
    // The summary says `Test cases:` then `<n> generated, …`.
    let generated = stdout
        .lines()
        .filter(|l| l.contains(" generated"))
        .find_map(|l| l.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0);
    eprintln!(
        "fuzz {backend:?}: {generated} cases in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        out.status.success(),
        "schemathesis found failures on {backend:?} (exit {:?}); see the output above",
        out.status.code()
    );
    assert!(generated >= 500, "a real run, not an empty one: {generated} cases");

    // The fuzz run never made the gateway point anywhere but at the closed loopback port.
    if let Some(hook) = app.state.db.webhook(user_id).await.unwrap() {
        assert_eq!(hook.url, safe_url);
    }
    // And it is still healthy.
    let health = json(app.http.get(app.url("/health")).send().await.unwrap(), 200).await;
    assert_eq!(health["status"], "healthy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs schemathesis: run by `make test`"]
async fn schemathesis_sqlite() {
    fuzz(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs schemathesis: run by `make test`"]
async fn schemathesis_postgres() {
    if postgres_base_url().is_none() {
        eprintln!("skipped: set WAGATE_TEST_POSTGRES_URL to run the PostgreSQL variant");
        return;
    }
    fuzz(Backend::Postgres).await;
}
