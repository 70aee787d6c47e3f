//! The public REST API end to end: the real server, real Chromium, the simulator, both databases.

use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use wagate_sim::Simulator;

use crate::both_backends;
use crate::common::*;
use crate::support::*;

async fn app_with_sim(backend: Backend, sim: &Simulator) -> TestApp {
    let env = TestEnv::new(backend).await;
    TestApp::spawn_with(env, |s| {
        point_at(s, sim);
        s.media.max_upload_bytes = 2 * 1024 * 1024;
    })
    .await
}

impl TestApp {
    pub async fn post_json(&self, path: &str, key: &str, body: Value) -> reqwest::Response {
        self.send_json(reqwest::Method::POST, path, key, body).await
    }

    pub async fn send_json(&self, method: reqwest::Method, path: &str, key: &str, body: Value) -> reqwest::Response {
        self.http
            .request(method, self.url(path))
            .header("Authorization", format!("ApiKey {key}"))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// init → scan the returned QR via the simulator → wait for `connected`.
    pub async fn link(&self, sim: &Simulator, key: &str, session: &str, phone: &str) {
        let init = json(
            self.post_json("/api/v1/sessions/init/", key, json!({ "session": session }))
                .await,
            200,
        )
        .await;
        assert_eq!(init["data"]["status"], "qr_pending", "{init}");
        let payload = decode_qr_data_url(init["data"]["qrCode"].as_str().unwrap());
        scan_shown(sim, &payload, phone).await;
        for _ in 0..120 {
            let st = json(
                self.get(&format!("/api/v1/sessions/status/?session={session}"), key)
                    .await,
                200,
            )
            .await;
            if st["data"]["isReady"] == true {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!("session {session} did not connect");
    }
}

/// The seed's curl sequence: init → QR decodes to the simulator's payload → scan → status
/// connected → send-text → send-media → rows `sent` with WhatsApp ids; a failing send is stored
/// `failed` with its error.
async fn seed_flow(backend: Backend) {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let app = app_with_sim(backend, &sim).await;
    let key = app.admin_key.clone();

    let before = json(app.get("/api/v1/sessions/status/", &key).await, 404).await;
    assert_error(&before, "SESSION_NOT_FOUND");
    let refused = app
        .post_json(
            "/api/v1/messages/send-text/",
            &key,
            json!({ "recipient": "15550002002", "message": "hi" }),
        )
        .await;
    let refused = json(refused, 409).await;
    assert_error(&refused, "SESSION_NOT_CONNECTED");
    assert_eq!(refused["error"], "No active WhatsApp session. Please connect first.");

    let init = json(app.post_json("/api/v1/sessions/init/", &key, json!({})).await, 200).await;
    assert_eq!(init["data"]["sessionId"], "default");
    assert_eq!(
        init["data"]["message"],
        "Session initialized. Please scan the QR code with WhatsApp."
    );
    let qr_url = init["data"]["qrCode"].as_str().unwrap();
    let payload = decode_qr_data_url(qr_url);
    let pages = sim.control().pages().await;
    assert!(pages.iter().any(|p| p.qr.as_deref() == Some(payload.as_str())));

    let qr_json = json(app.get("/api/v1/sessions/qr/", &key).await, 200).await;
    assert_eq!(qr_json["data"]["raw"].as_str().unwrap().split(',').count(), 5);
    let png = app
        .http
        .get(app.url("/api/v1/sessions/qr/"))
        .header("Authorization", format!("ApiKey {key}"))
        .header("Accept", "image/png")
        .send()
        .await
        .unwrap();
    assert_eq!(png.headers()["content-type"], "image/png");
    let raw_from_png = decode_qr_png(&png.bytes().await.unwrap());
    assert_eq!(raw_from_png.split(',').count(), 5);

    scan_shown(&sim, &payload, "15550001234").await;
    let mut status = Value::Null;
    for _ in 0..120 {
        status = json(app.get("/api/v1/sessions/status/", &key).await, 200).await;
        if status["data"]["isReady"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(status["data"]["status"], "connected", "{status}");
    assert_eq!(status["data"]["phoneNumber"], "15550001234");
    let again = json(app.post_json("/api/v1/sessions/init/", &key, json!({})).await, 200).await;
    assert_eq!(again["data"]["status"], "connected");

    let sent = json(
        app.post_json(
            "/api/v1/messages/send-text/",
            &key,
            json!({ "recipient": "+15550002002", "message": "Hello from the seed flow" }),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(sent["data"]["message"], "Message sent successfully");
    let wa_id = sent["data"]["messageId"].as_str().unwrap().to_string();
    let peer = peer_id(&sim, "15550002002").await;
    assert!(wa_id.starts_with(&format!("true_{peer}_")), "{wa_id}");
    assert!(sent["data"]["timestamp"].as_i64().unwrap() > 1_700_000_000);
    let db_id = sent["data"]["dbId"].as_i64().unwrap();
    assert!(
        sim.control()
            .sent("15550001234")
            .await
            .iter()
            .any(|r| r.id == wa_id && r.body.as_deref() == Some("Hello from the seed flow"))
    );

    let image = png_bytes(300_000);
    let form = reqwest::multipart::Form::new()
        .text("recipient", "15550002002")
        .text("media_type", "image")
        .text("caption", "a picture")
        .part(
            "file",
            reqwest::multipart::Part::bytes(image.clone()).file_name("photo.png"),
        );
    let resp = app
        .http
        .post(app.url("/api/v1/messages/send-media/"))
        .header("Authorization", format!("ApiKey {key}"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let media = json(resp, 200).await;
    assert_eq!(media["data"]["message"], "Media sent successfully");
    let path = media["data"]["filePath"].as_str().unwrap();
    assert!(
        path.starts_with("whatsapp_media/1/") && path.ends_with("photo.png"),
        "{path}"
    );
    assert_eq!(
        std::fs::read(app.env.data_dir().join("media").join(path)).unwrap(),
        image
    );
    let media_id = media["data"]["messageId"].as_str().unwrap();
    let rec = sim.control().sent("15550001234").await;
    let rec = rec.iter().find(|r| r.id == media_id).expect("the image arrived");
    assert_eq!(
        rec.sha256.as_deref(),
        Some(hex::encode(Sha256::digest(&image)).as_str())
    );
    assert_eq!(rec.caption.as_deref(), Some("a picture"));

    // The rows: sent (or further along by now) with their WhatsApp ids.
    let row = json(app.get(&format!("/api/v1/messages/{db_id}/"), &key).await, 200).await;
    assert_eq!(row["data"]["messageId"], wa_id.as_str());
    assert!(
        ["sent", "delivered", "read"].contains(&row["data"]["status"].as_str().unwrap()),
        "{row}"
    );
    let listed = json(app.get("/api/v1/messages/?direction=out", &key).await, 200).await;
    assert_eq!(listed["data"]["messages"].as_array().unwrap().len(), 2);
    // Acks move the row to read.
    let mut status = String::new();
    for _ in 0..40 {
        let row = json(app.get(&format!("/api/v1/messages/{db_id}/"), &key).await, 200).await;
        status = row["data"]["status"].as_str().unwrap().to_string();
        if status == "read" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(status, "read");

    // A send the simulator fails: the row is `failed` with the error text.
    sim.control().fail_sends(Some("simulated server error".into())).await;
    let resp = app
        .post_json(
            "/api/v1/messages/send-text/",
            &key,
            json!({ "recipient": "15550002002", "message": "doomed" }),
        )
        .await;
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    assert!(status >= 500, "{status} {body}");
    sim.control().fail_sends(None).await;
    let failed = json(app.get("/api/v1/messages/?status=failed", &key).await, 200).await;
    let failed = failed["data"]["messages"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["body"], "doomed");
    assert!(failed[0]["error"].as_str().is_some_and(|e| !e.is_empty()), "{failed:?}");
    assert_eq!(
        json(app.get("/api/v1/messages/?status=pending", &key).await, 200).await["data"]["messages"],
        json!([])
    );

    let events = json(app.get("/api/v1/sessions/events/", &key).await, 200).await;
    let states: Vec<&str> = events["data"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["state"].as_str().unwrap())
        .collect();
    assert!(
        states.contains(&"qr_pending") && states.contains(&"connected"),
        "{states:?}"
    );
}
both_backends!(seed, seed_flow);

/// A multipart field: name, file bytes (None for a text field), and the text or file name.
type FormPart = (&'static str, Option<Vec<u8>>, &'static str);

/// Validation, tenant isolation and idempotency on one linked session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_isolation_and_idempotency() {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let app = app_with_sim(Backend::Sqlite, &sim).await;
    let key = app.admin_key.clone();
    app.link(&sim, &key, "default", "15550004321").await;

    let text = |body: Value| app.post_json("/api/v1/messages/send-text/", &key, body);
    for (body, field) in [
        (json!({ "recipient": "15550002002", "message": "" }), "message"),
        (json!({ "recipient": "15550002002", "message": "   " }), "message"),
        (
            json!({ "recipient": "15550002002", "message": "x".repeat(70_000) }),
            "message",
        ),
        (json!({ "recipient": "not-a-number", "message": "hi" }), "recipient"),
        (json!({ "message": "hi" }), "recipient"),
        (
            json!({ "recipient": "15550002002", "message": "hi", "session": "../x" }),
            "session",
        ),
    ] {
        let resp = json(text(body).await, 400).await;
        assert_error(&resp, "VALIDATION_ERROR");
        assert_eq!(resp["field"], field, "{resp}");
    }
    sim.control().set_number_exists("15550009876", false).await;
    assert_error(
        &json(text(json!({ "recipient": "15550009876", "message": "hi" })).await, 422).await,
        "RECIPIENT_NOT_ON_WHATSAPP",
    );

    let media = |parts: Vec<FormPart>| {
        let mut form = reqwest::multipart::Form::new();
        for (name, bytes, value) in parts {
            form = match bytes {
                Some(b) => form.part(name, reqwest::multipart::Part::bytes(b).file_name(value)),
                None => form.text(name, value),
            };
        }
        app.http
            .post(app.url("/api/v1/messages/send-media/"))
            .header("Authorization", format!("ApiKey {key}"))
            .multipart(form)
            .send()
    };
    let png = png_bytes(1000);
    let cases: Vec<(Vec<FormPart>, u16, &str)> = vec![
        (
            vec![
                ("recipient", None, "15550002002"),
                ("media_type", None, "sticker"),
                ("file", Some(png.clone()), "a.png"),
            ],
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            vec![
                ("recipient", None, "15550002002"),
                ("media_type", None, "gif"),
                ("file", Some(png.clone()), "a.png"),
            ],
            400,
            "VALIDATION_ERROR",
        ),
        (
            vec![("recipient", None, "15550002002"), ("media_type", None, "image")],
            400,
            "VALIDATION_ERROR",
        ),
        (
            vec![("media_type", None, "image"), ("file", Some(png.clone()), "a.png")],
            400,
            "VALIDATION_ERROR",
        ),
        (
            vec![
                ("recipient", None, "15550002002"),
                ("media_type", None, "image"),
                ("file", Some(b"%PDF-1.7 not an image".to_vec()), "fake.png"),
            ],
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            vec![
                ("recipient", None, "15550002002"),
                ("media_type", None, "image"),
                ("file", Some(png_bytes(3 * 1024 * 1024)), "big.png"),
            ],
            413,
            "MEDIA_TOO_LARGE",
        ),
    ];
    for (parts, status, code) in cases {
        let resp = json(media(parts).await.unwrap(), status).await;
        assert_error(&resp, code);
    }
    // A `../` name is stored under the user's folder with a safe name.
    let resp = media(vec![
        ("recipient", None, "15550002002"),
        ("media_type", None, "document"),
        ("file", Some(b"%PDF-1.7 doc".to_vec()), "../../escape.pdf"),
    ])
    .await
    .unwrap();
    let ok = json(resp, 200).await;
    let path = ok["data"]["filePath"].as_str().unwrap();
    assert!(path.starts_with("whatsapp_media/1/") && !path.contains(".."), "{path}");
    // Nothing half-stored: the refused uploads left no files behind.
    let stored: Vec<_> = std::fs::read_dir(app.env.data_dir().join("media/whatsapp_media/1"))
        .unwrap()
        .collect();
    assert_eq!(stored.len(), 1, "{stored:?}");

    // The JSON form, with base64 bytes.
    let pdf = b"%PDF-1.7 sent as JSON".to_vec();
    use base64::Engine;
    let body = json!({
        "recipient": "15550002002", "media_type": "document", "filename": "invoice.pdf",
        "base64": base64::engine::general_purpose::STANDARD.encode(&pdf), "caption": "your invoice",
    });
    let sent = json(app.post_json("/api/v1/messages/send-media/", &key, body).await, 200).await;
    let id = sent["data"]["messageId"].as_str().unwrap();
    let rec = sim.control().sent("15550004321").await;
    let rec = rec.iter().find(|r| r.id == id).expect("the document arrived");
    assert_eq!(rec.sha256.as_deref(), Some(hex::encode(Sha256::digest(&pdf)).as_str()));
    assert_eq!(
        (rec.msg_type.as_str(), rec.filename.as_deref()),
        ("document", Some("invoice.pdf"))
    );
    // A URL on this machine is refused by default…
    let png_url = format!("{}sim/qr.png?data=hello", sim.base_url());
    let body = json!({ "recipient": "15550002002", "media_type": "image", "url": png_url });
    let refused = json(
        app.post_json("/api/v1/messages/send-media/", &key, body.clone()).await,
        400,
    )
    .await;
    assert_eq!(refused["field"], "url", "{refused}");
    let bad = json!({ "recipient": "15550002002", "media_type": "document", "base64": "***" });
    assert_error(
        &json(app.post_json("/api/v1/messages/send-media/", &key, bad).await, 400).await,
        "VALIDATION_ERROR",
    );

    // An idempotent retry sends once.
    let retry = || {
        app.http
            .post(app.url("/api/v1/messages/send-text/"))
            .header("Authorization", format!("ApiKey {key}"))
            .header("Idempotency-Key", "order-42")
            .json(&json!({ "recipient": "15550002002", "message": "exactly once" }))
            .send()
    };
    let first = json(retry().await.unwrap(), 200).await;
    let second = json(retry().await.unwrap(), 200).await;
    assert_eq!(first["data"]["messageId"], second["data"]["messageId"]);
    assert_eq!(first["data"]["dbId"], second["data"]["dbId"]);
    let count = sim
        .control()
        .sent("15550004321")
        .await
        .iter()
        .filter(|r| r.body.as_deref() == Some("exactly once"))
        .count();
    assert_eq!(count, 1);

    // User B sees nothing of A's and cannot use A's session.
    let bob = app.state.db.create_user("bob", None, false).await.unwrap();
    let (_, bob_key) = app.state.auth.create_key_for(bob.id, "b").await.unwrap();
    assert_error(
        &json(app.get("/api/v1/sessions/status/", &bob_key).await, 404).await,
        "SESSION_NOT_FOUND",
    );
    assert_error(
        &json(app.get("/api/v1/messages/1/", &bob_key).await, 404).await,
        "MESSAGE_NOT_FOUND",
    );
    let listed = json(app.get("/api/v1/messages/", &bob_key).await, 200).await;
    assert_eq!(listed["data"]["messages"], json!([]));
    assert_eq!(
        json(app.get("/api/v1/sessions/", &bob_key).await, 200).await["data"],
        json!([])
    );
    let resp = app
        .post_json(
            "/api/v1/messages/send-text/",
            &bob_key,
            json!({ "recipient": "15550002002", "message": "hi" }),
        )
        .await;
    assert_error(&json(resp, 409).await, "SESSION_NOT_CONNECTED");
    let resp = app
        .http
        .delete(app.url("/api/v1/sessions/"))
        .header("Authorization", format!("ApiKey {bob_key}"))
        .send()
        .await
        .unwrap();
    assert_error(&json(resp, 404).await, "SESSION_NOT_FOUND");
    assert_eq!(
        json(app.get("/api/v1/sessions/status/", &key).await, 200).await["data"]["status"],
        "connected"
    );

    let check = json(app.get("/api/v1/contacts/check/?phone=15550009876", &key).await, 200).await;
    assert_eq!(check["data"]["exists"], false);
    let check = json(app.get("/api/v1/contacts/check/?phone=%2B15550001111", &key).await, 200).await;
    assert_eq!(
        (check["data"]["exists"].clone(), check["data"]["chatId"].clone()),
        (json!(true), json!("15550001111@c.us"))
    );
}

async fn wait_status(app: &TestApp, key: &str, session: &str, want: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..160 {
        last = json(
            app.get(&format!("/api/v1/sessions/status/?session={session}"), key)
                .await,
            200,
        )
        .await;
        if last["data"]["status"] == want {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("session {session} never reached {want}: {last}");
}

/// `send-media` with a JSON `url` (allowed to fetch from this machine here): the fetched bytes arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_from_a_url() {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let env = TestEnv::new(Backend::Sqlite).await;
    let app = TestApp::spawn_with(env, |s| {
        point_at(s, &sim);
        s.media.allow_private_urls = true;
    })
    .await;
    let key = app.admin_key.clone();
    app.link(&sim, &key, "default", "15550006543").await;
    let url = format!("{}sim/qr.png?data=from-a-url", sim.base_url());
    let expected = reqwest::get(&url).await.unwrap().bytes().await.unwrap();
    let body = json!({ "recipient": "15550002002", "media_type": "image", "url": url, "filename": "qr.png", "caption": "fetched" });
    let sent = json(app.post_json("/api/v1/messages/send-media/", &key, body).await, 200).await;
    let id = sent["data"]["messageId"].as_str().unwrap();
    let rec = sim.control().sent("15550006543").await;
    let rec = rec.iter().find(|r| r.id == id).expect("the image arrived");
    assert_eq!(
        rec.sha256.as_deref(),
        Some(hex::encode(Sha256::digest(&expected)).as_str())
    );
    assert_eq!(
        (rec.msg_type.as_str(), rec.caption.as_deref()),
        ("image", Some("fetched"))
    );
    let missing =
        json!({ "recipient": "15550002002", "media_type": "image", "url": format!("{}no-such-file", sim.base_url()) });
    let resp = json(app.post_json("/api/v1/messages/send-media/", &key, missing).await, 502).await;
    assert_error(&resp, "MEDIA_DOWNLOAD_FAILED");
}

/// The session endpoints over their life: pairing code through init, list, restart (no QR
/// again), logout (profile wiped), init again, delete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_lifecycle_over_http() {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let app = app_with_sim(Backend::Sqlite, &sim).await;
    let key = app.admin_key.clone();

    let bad = app
        .post_json(
            "/api/v1/sessions/init/",
            &key,
            json!({ "session": "shop", "phoneNumber": "12" }),
        )
        .await;
    assert_eq!(json(bad, 400).await["field"], "phoneNumber");
    let init = app
        .post_json(
            "/api/v1/sessions/init/",
            &key,
            json!({ "session": "shop", "phoneNumber": "+1 555 000 7777" }),
        )
        .await;
    let init = json(init, 200).await;
    let code = init["data"]["pairingCode"].as_str().unwrap().to_string();
    assert_eq!(code.len(), 8, "{init}");
    sim.control().enter_pairing_code(&code).await.unwrap();
    let st = wait_status(&app, &key, "shop", "connected").await;
    assert_eq!(st["data"]["phoneNumber"], "15550007777");

    let list = json(app.get("/api/v1/sessions/", &key).await, 200).await;
    let list = list["data"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(
        (list[0]["sessionId"].clone(), list[0]["status"].clone()),
        (json!("shop"), json!("connected"))
    );
    let qr = json(app.get("/api/v1/sessions/qr/?session=shop", &key).await, 404).await;
    assert_error(&qr, "QR_NOT_AVAILABLE");

    let before = st["data"]["since"].clone();
    let restart = app
        .post_json("/api/v1/sessions/restart/", &key, json!({ "session": "shop" }))
        .await;
    json(restart, 200).await;
    let mut st = wait_status(&app, &key, "shop", "connected").await;
    for _ in 0..160 {
        if st["data"]["since"] != before && st["data"]["status"] == "connected" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        st = json(app.get("/api/v1/sessions/status/?session=shop", &key).await, 200).await;
    }
    assert_ne!(st["data"]["since"], before, "the session went through a restart: {st}");
    assert_eq!(st["data"]["phoneNumber"], "15550007777", "back without a new link");

    json(
        app.post_json("/api/v1/sessions/logout/?session=shop", &key, json!({}))
            .await,
        200,
    )
    .await;
    let st = wait_status(&app, &key, "shop", "logged_out").await;
    assert!(st["data"]["phoneNumber"].is_null());
    assert!(
        sim.control().devices().await.is_empty(),
        "the phone no longer lists the device"
    );
    let sessions_dir = app.env.data_dir().join("sessions");
    let profiles: Vec<_> = std::fs::read_dir(&sessions_dir)
        .unwrap()
        .flatten()
        .filter(|d| d.path().join("profile").exists())
        .collect();
    assert!(profiles.is_empty(), "profile wiped");

    let again = json(
        app.post_json("/api/v1/sessions/init/", &key, json!({ "session": "shop" }))
            .await,
        200,
    )
    .await;
    assert_eq!(again["data"]["status"], "qr_pending");
    let resp = app
        .http
        .delete(app.url("/api/v1/sessions/?session=shop"))
        .header("Authorization", format!("ApiKey {key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(json(resp, 200).await["data"]["deleted"], true);
    assert_error(
        &json(app.get("/api/v1/sessions/status/?session=shop", &key).await, 404).await,
        "SESSION_NOT_FOUND",
    );
    assert_eq!(
        json(app.get("/api/v1/sessions/", &key).await, 200).await["data"],
        json!([])
    );
    assert!(!sessions_dir.join("1").exists(), "the session's directory is gone");
}
