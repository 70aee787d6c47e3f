//! The WhatsApp Web changes of July–September 2026 (issue 16; sim/README.md "Eras"), each
//! switched on in the simulator: the gateway keeps working through them, or fails at once with
//! the module named. The rest of the suite runs in both eras too (`WAGATE_TEST_SIM_ERA`).

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wagate::config::Settings;
use wagate_sim::{Era, IncomingMedia, IncomingMessage, SimConfig, Simulator};

use crate::both_backends;
use crate::common::*;
use crate::receiver::*;
use crate::support::*;

async fn app_for(sim: &Simulator, backend: Backend, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    TestApp::spawn_with(TestEnv::new(backend).await, |s| {
        point_at(s, sim);
        tweak(s);
    })
    .await
}

async fn status(app: &TestApp, session: &str) -> Value {
    let path = format!("/api/v1/sessions/status/?session={session}");
    json(app.get(&path, &app.admin_key).await, 200).await["data"].clone()
}

/// Polls the status endpoint until `pred` holds.
async fn wait_status(app: &TestApp, session: &str, secs: u64, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let st = status(app, session).await;
        if pred(&st) {
            return st;
        }
        assert!(
            Instant::now() < deadline,
            "status never matched within {secs} s; last: {st}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The capability report once the live page has answered.
async fn capabilities(app: &TestApp, session: &str) -> Value {
    let path = format!("/api/v1/sessions/capabilities/?session={session}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = json(app.get(&path, &app.admin_key).await, 200).await["data"].clone();
        if r["capabilities"].is_array() {
            return r;
        }
        assert!(Instant::now() < deadline, "no capability report: {r}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn capability<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no capability {name} in {report}"))
}

async fn message(app: &TestApp, id: i64) -> Value {
    json(app.get(&format!("/api/v1/messages/{id}/"), &app.admin_key).await, 200).await["data"].clone()
}

async fn wait_message(app: &TestApp, id: i64, secs: u64, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let m = message(app, id).await;
        if pred(&m) {
            return m;
        }
        assert!(
            Instant::now() < deadline,
            "message {id} never matched within {secs} s: {m}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn send_text(app: &TestApp, to: &str, text: &str) -> Value {
    let body = json!({ "session": "main", "recipient": to, "message": text });
    json(
        app.post_json("/api/v1/messages/send-text/", &app.admin_key, body).await,
        200,
    )
    .await["data"]
        .clone()
}

/// 2026-09: message keys carry `$1` (no `_serialized`), senders and chats are LIDs with the
/// phone behind `WAWebApiContact`, media models carry `__x_id` and `avParams` as data, and a
/// LID chat's media is found by its LID key only and downloads only with its mimetype. Sends,
/// acks, media both ways, phones in rows and webhooks, `lid_map` and its lookups all work.
async fn sep_ids_media_and_lids(backend: Backend) {
    let _b = browsers(1).await;
    let sim = simulator_in(Era::Sep2026).await;
    let control = sim.control();
    let app = app_for(&sim, backend, |_| {}).await;
    let key = app.admin_key.clone();
    let rx = Receiver::start().await;
    json(
        app.send_json(
            reqwest::Method::PUT,
            "/api/v1/webhook/",
            &key,
            json!({ "url": rx.url, "events": ["message"] }),
        )
        .await,
        200,
    )
    .await;
    app.link(&sim, &key, "main", "15550041001").await;
    let lid2 = format!("{}@lid", control.lid_for("15550041002").await);
    let lid3 = format!("{}@lid", control.lid_for("15550041003").await);

    // Keys under `$1`: the id comes back, and acks (matched by id) move the row to `read`.
    let sent = send_text(&app, "+15550041002", "to a phone number").await;
    let wa_id = sent["messageId"].as_str().unwrap().to_string();
    assert!(wa_id.starts_with(&format!("true_{lid2}_")), "{sent}");
    let db_id = sent["dbId"].as_i64().unwrap();
    let row = wait_message(&app, db_id, 20, |m| m["status"] == "read").await;
    assert_eq!(row["chatPhone"], "15550041002", "{row}");

    // Either form reaches the one chat; the LID row gets its phone.
    let by_lid = send_text(&app, &lid2, "to its LID").await;
    let records = control.sent("15550041001").await;
    let chats: Vec<&str> = records
        .iter()
        .filter(|r| r.id == wa_id || Some(r.id.as_str()) == by_lid["messageId"].as_str())
        .map(|r| r.chat.as_str())
        .collect();
    assert_eq!(chats, [lid2.as_str(), lid2.as_str()], "{records:?}");
    let lid_row = wait_message(&app, by_lid["dbId"].as_i64().unwrap(), 10, |m| {
        m["chatPhone"] == "15550041002"
    })
    .await;
    assert_eq!(lid_row["chatId"], lid2.as_str());

    // Media out: the media model's `__x_id` is dropped, `avParams` is data.
    let png = png_bytes(5_000);
    let form = reqwest::multipart::Form::new()
        .text("session", "main")
        .text("recipient", "15550041002")
        .text("media_type", "image")
        .part("file", reqwest::multipart::Part::bytes(png.clone()).file_name("p.png"));
    let resp = app
        .http
        .post(app.url("/api/v1/messages/send-media/"))
        .header("Authorization", format!("ApiKey {key}"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let media = json(resp, 200).await;
    let media_id = media["data"]["messageId"].as_str().unwrap().to_string();
    let rec = control
        .sent("15550041001")
        .await
        .into_iter()
        .find(|r| r.id == media_id)
        .expect("the image reached the simulator");
    assert_eq!((rec.msg_type.as_str(), rec.size), ("image", Some(png.len() as u64)));

    // Incoming from a LID: both ids and both phones in the webhook; media downloaded.
    control
        .deliver("15550041001", IncomingMessage::text("15550041003@c.us", "from a LID"))
        .await
        .unwrap();
    let pic = png_bytes(7_000);
    control
        .deliver(
            "15550041001",
            IncomingMessage {
                media: Some(IncomingMedia {
                    mimetype: "image/png".into(),
                    filename: Some("in.png".into()),
                    data: pic.clone(),
                }),
                ..IncomingMessage::text("15550041003@c.us", "")
            },
        )
        .await
        .unwrap();
    control.set_lid_mapping_known("15550041005", false).await;
    control
        .deliver("15550041001", IncomingMessage::text("15550041005@c.us", "hidden phone"))
        .await
        .unwrap();
    let got = rx
        .wait_for(30, "three incoming messages", |g| {
            g.iter().filter(|r| r.json()["payload"]["fromMe"] == false).count() >= 3
        })
        .await;
    let incoming: Vec<Value> = got
        .iter()
        .map(|r| r.json()["payload"].clone())
        .filter(|p| p["fromMe"] == false)
        .collect();
    let text = incoming.iter().find(|p| p["body"] == "from a LID").unwrap();
    assert_eq!(text["from"], lid3.as_str());
    assert_eq!(text["chatId"], lid3.as_str());
    assert_eq!(text["fromPhone"], "15550041003");
    assert_eq!(text["chatPhone"], "15550041003");
    assert!(
        text["id"].as_str().unwrap().starts_with(&format!("false_{lid3}_")),
        "{text}"
    );
    let image = incoming.iter().find(|p| p["type"] == "image").unwrap();
    assert_eq!(image["fromPhone"], "15550041003");
    let url = image["media"]["url"].as_str().expect("the image was downloaded");
    let bytes = app
        .http
        .get(app.url(url))
        .header("Authorization", format!("ApiKey {key}"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(bytes.as_ref(), pic.as_slice(), "the LID chat's media, byte for byte");
    let hidden = incoming.iter().find(|p| p["body"] == "hidden phone").unwrap();
    assert!(hidden["from"].as_str().unwrap().ends_with("@lid"), "{hidden}");
    assert_eq!(hidden["fromPhone"], Value::Null, "WhatsApp withheld the phone");
    assert_eq!(hidden["chatPhone"], Value::Null);

    // The pairs are stored and looked up either way, for this user only.
    let pair = json(app.get(&format!("/api/v1/contacts/lid/{lid3}/"), &key).await, 200).await;
    assert_eq!(
        (
            &pair["data"]["phone"],
            &pair["data"]["chatId"],
            &pair["data"]["session"]
        ),
        (&json!("15550041003"), &json!("15550041003@c.us"), &json!("main"))
    );
    let digits = lid3.trim_end_matches("@lid");
    let same = json(app.get(&format!("/api/v1/contacts/lid/{digits}/"), &key).await, 200).await;
    assert_eq!(same["data"]["phone"], "15550041003");
    let back = json(app.get("/api/v1/contacts/phone/+15550041002/", &key).await, 200).await;
    assert_eq!(back["data"]["lid"], lid2.as_str());
    let own = json(app.get("/api/v1/contacts/phone/15550041001/", &key).await, 200).await;
    assert!(
        own["data"]["lid"].as_str().unwrap().ends_with("@lid"),
        "the own pair: {own}"
    );
    let lid5 = hidden["from"].as_str().unwrap();
    assert_error(
        &json(app.get(&format!("/api/v1/contacts/lid/{lid5}/"), &key).await, 404).await,
        "CONTACT_NOT_FOUND",
    );
    assert_error(
        &json(app.get("/api/v1/contacts/phone/abc/", &key).await, 400).await,
        "VALIDATION_ERROR",
    );
    let bob = app.state.db.create_user("bob", None, false).await.unwrap();
    let (_, bob_key) = app.state.auth.create_key_for(bob.id, "b").await.unwrap();
    assert_error(
        &json(app.get(&format!("/api/v1/contacts/lid/{lid3}/"), &bob_key).await, 404).await,
        "CONTACT_NOT_FOUND",
    );
}

both_backends!(sep_ids_media_lids, sep_ids_media_and_lids);

/// 2026-09 boot: modules register up to 3 s after `Debug.VERSION`; the bridge waits for them
/// (its first report, read at once, has everything it needs). Lazy modules come through the
/// Bootloader; a removed or unmapped one is a named error in the report, read without a hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_registration_and_lazy_modules() {
    let _b = browsers(1).await;
    let sim = Simulator::start(SimConfig {
        late_registration: Duration::from_secs(3),
        qr_rotation: Duration::from_secs(20),
        ..SimConfig::for_era(Era::Sep2026)
    })
    .await
    .unwrap();
    let control = sim.control();
    control.remove_module("WAWebGroupCreateJob").await;
    let app = app_for(&sim, Backend::Sqlite, |_| {}).await;
    let key = app.admin_key.clone();
    let init = json(
        app.post_json("/api/v1/sessions/init/", &key, json!({ "session": "main" }))
            .await,
        200,
    )
    .await;
    assert_eq!(init["data"]["status"], "qr_pending", "{init}");
    let report = capabilities(&app, "main").await;
    assert_eq!(report["waVersion"], Era::Sep2026.version());
    assert_eq!(
        report["missing"],
        json!([]),
        "installed after the graph settled: {report}"
    );
    assert_eq!(capability(&report, "sendMsg")["ok"], true);
    assert_eq!(capability(&report, "chats")["ok"], true);
    let forward = capability(&report, "forwardMessages");
    assert_eq!(forward["ok"], true, "{forward}");
    assert_eq!(forward["via"], "WAWebChatForwardMessage.forwardMessages");
    assert!(
        forward["lazy"].as_str().unwrap().contains("Forward"),
        "loaded through the Bootloader: {forward}"
    );
    let create = capability(&report, "createGroup");
    assert_eq!(create["ok"], false);
    assert_eq!(create["error"], "WA_MODULE_MISSING:WAWebGroupCreateJob", "{create}");
    let passkey = capability(&report, "passkeyState");
    assert_eq!(passkey["ok"], true, "the Shortcake module is there in 2026-09");

    // The forwarding bundles leave the loader's map: a named error, at once.
    control.unmap_lazy_module("WAWebChatForwardMessage").await;
    json(
        app.post_json("/api/v1/sessions/restart/", &key, json!({ "session": "main" }))
            .await,
        200,
    )
    .await;
    let restarted = Instant::now();
    let report = capabilities(&app, "main").await;
    let forward = capability(&report, "forwardMessages");
    assert_eq!(forward["ok"], false, "{forward}");
    assert_eq!(forward["error"], "WA_MODULE_MISSING:WAWebChatForwardMessage");
    assert!(
        restarted.elapsed() < Duration::from_secs(30),
        "no hang: {:?}",
        restarted.elapsed()
    );
    // Exported for Prometheus: 1 = resolved through its first choice.
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.lines().any(|l| l.starts_with("wagate_wa_capability{")
            && l.contains("capability=\"sendMsg\"")
            && l.ends_with(" 1")),
        "the capability gauge: {}",
        metrics
            .lines()
            .filter(|l| l.contains("wagate_wa_"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// A renamed module with a fallback (the ADV secret's older home): linking works through the
/// fallback, and the report says which; a removed module with none fails sends at once with
/// its name (also in `a_missing_send_module_fails_fast`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renamed_module_resolves_through_its_fallback() {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let control = sim.control();
    control
        .rename_module("WAWebUserPrefsMultiDevice", "WAWebUserPrefsMultiDeviceV2")
        .await;
    control.remove_module("WAWebChatStateBridge").await;
    let app = app_for(&sim, Backend::Sqlite, |s| s.sending.typing = true).await;
    let key = app.admin_key.clone();
    app.link(&sim, &key, "main", "15550042001").await;
    let report = capabilities(&app, "main").await;
    let adv = capability(&report, "advSecret");
    assert_eq!(
        (&adv["ok"], &adv["via"], &adv["fallback"]),
        (&json!(true), &json!("WAWebAdvSignatureApi.getADVSecretKey"), &json!(1)),
        "{adv}"
    );
    // 2026-09 pages split the presence subscription (`subscribeUserPresence`): its fallback.
    let split_presence = sim_era() == Era::Sep2026;
    assert_eq!(report["fallbacks"], 1 + u64::from(split_presence), "{report}");
    assert_eq!(
        capability(&report, "subscribePresence")["fallback"],
        u64::from(split_presence)
    );
    assert_eq!(
        report["missing"],
        // Composing, paused and recording all live in the removed module.
        json!([
            "WA_MODULE_MISSING:WAWebChatStateBridge",
            "WA_MODULE_MISSING:WAWebChatStateBridge",
            "WA_MODULE_MISSING:WAWebChatStateBridge"
        ])
    );
    // Typing needs the removed module: the send still goes out (typing is best effort).
    let sent = send_text(&app, "+15550042002", "no typing, still sent").await;
    assert!(sent["messageId"].as_str().unwrap().starts_with("true_"), "{sent}");
}

/// 2026-09 linking with a passkey prologue: the session says `passkey_required` with the reason
/// (status endpoint, `session.status` webhook); declined, a fresh QR comes; approved, it links.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passkey_linking_is_visible_and_never_hangs() {
    let _b = browsers(1).await;
    let sim = simulator_in(Era::Sep2026).await;
    let control = sim.control();
    control
        .set_passkey_required(Some("new device on this account".into()))
        .await;
    let app = app_for(&sim, Backend::Sqlite, |_| {}).await;
    let key = app.admin_key.clone();
    let rx = Receiver::start().await;
    json(
        app.send_json(
            reqwest::Method::PUT,
            "/api/v1/webhook/",
            &key,
            json!({ "url": rx.url, "events": ["session.status"] }),
        )
        .await,
        200,
    )
    .await;
    let init = json(
        app.post_json("/api/v1/sessions/init/", &key, json!({ "session": "main" }))
            .await,
        200,
    )
    .await;
    let first = decode_qr_data_url(init["data"]["qrCode"].as_str().unwrap());
    control.scan(&first, Some("15550043001")).await.unwrap();
    let st = wait_status(&app, "main", 20, |s| s["status"] == "passkey_required").await;
    let reason = st["reason"].as_str().unwrap();
    assert!(
        reason.contains("passkey") && reason.contains("new device on this account"),
        "{st}"
    );
    rx.wait_for(20, "a session.status webhook with passkey_required", |g| {
        g.iter().any(|r| r.json()["payload"]["status"] == "passkey_required")
    })
    .await;

    // Declined: a fresh QR, nothing linked.
    control.deny_passkey("15550043001").await.unwrap();
    let st = wait_status(&app, "main", 20, |s| s["status"] == "qr_pending").await;
    assert_eq!(st["phoneNumber"], Value::Null);
    let qr = json(app.get("/api/v1/sessions/qr/?session=main", &key).await, 200).await;
    let fresh = qr["data"]["raw"].as_str().unwrap().to_string();
    assert_ne!(fresh, first, "a new QR after the denial");

    // Approved: linking completes.
    let deadline = Instant::now() + Duration::from_secs(10);
    while control.scan(&fresh, Some("15550043001")).await.is_err() {
        assert!(Instant::now() < deadline, "the fresh QR is never scannable");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_status(&app, "main", 20, |s| s["status"] == "passkey_required").await;
    control.approve_passkey("15550043001").await.unwrap();
    let st = wait_status(&app, "main", 30, |s| s["isReady"] == true).await;
    assert_eq!(st["phoneNumber"], "15550043001");
    let history = json(app.get("/api/v1/sessions/events/?session=main", &key).await, 200).await;
    let states: Vec<&str> = history["data"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|e| e["state"].as_str().unwrap())
        .collect();
    let passkeys = states.iter().filter(|s| **s == "passkey_required").count();
    assert!(passkeys >= 2, "asked twice (one denial recorded as such): {states:?}");
    assert_eq!(states.last(), Some(&"connected"), "{states:?}");
}

/// A page that keeps saying CONNECTED while its round trips hang (both eras): the liveness probe
/// finds it, the session goes `disconnected` and its browser restarts; a send made meanwhile
/// waits in the database and goes out once the page answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wedged_page_is_restarted_and_queued_sends_survive() {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let control = sim.control();
    let app = app_for(&sim, Backend::Sqlite, |s| {
        s.sessions.liveness_interval_secs = 2;
        s.sessions.liveness_timeout_secs = 2;
        s.sending.wait_secs = 1;
    })
    .await;
    let key = app.admin_key.clone();
    app.link(&sim, &key, "main", "15550044001").await;
    control.set_wedged("15550044001", true).await.unwrap();
    let st = wait_status(&app, "main", 30, |s| s["status"] == "disconnected").await;
    assert!(st["reason"].as_str().unwrap().contains("stopped answering"), "{st}");
    let body = json!({ "session": "main", "recipient": "+15550044002", "message": "after the wedge" });
    let queued = json(
        app.post_json("/api/v1/messages/send-text/?async=true", &key, body)
            .await,
        202,
    )
    .await;
    let id = queued["data"]["dbId"].as_i64().unwrap();
    assert!(
        control.sent("15550044001").await.is_empty(),
        "nothing reached the wedged page"
    );
    control.set_wedged("15550044001", false).await.unwrap();
    wait_status(&app, "main", 60, |s| s["isReady"] == true).await;
    let m = wait_message(&app, id, 60, |m| {
        ["sent", "delivered", "read"].contains(&m["status"].as_str().unwrap())
    })
    .await;
    let records = control.sent("15550044001").await;
    assert_eq!(records.len(), 1, "sent exactly once: {records:?}");
    assert_eq!(records[0].id, m["messageId"].as_str().unwrap());
    let history = json(app.get("/api/v1/sessions/events/?session=main", &key).await, 200).await;
    assert!(
        history["data"]["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["state"] == "disconnected"),
        "{history}"
    );
}
