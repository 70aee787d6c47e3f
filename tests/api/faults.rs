//! Faults users of other gateways hit, each kind pinned: media kinds and their content rules,
//! file names and download headers, text a backend cannot store, validation messages, and
//! sends interrupted by a dying browser or a caller that stopped waiting.

use std::time::Duration;

use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use wagate_sim::{IncomingMedia, IncomingMessage, Simulator};

use crate::both_backends;
use crate::common::*;
use crate::support::*;

/// The first page of an Ogg stream whose first packet starts with `codec` (RFC 3533, RFC 7845).
fn ogg(codec: &[u8]) -> Vec<u8> {
    let mut v = b"OggS\0\x02".to_vec();
    v.extend_from_slice(&[0; 20]);
    v.extend_from_slice(&[1, 19]);
    v.extend_from_slice(codec);
    v.extend((0..4000u32).map(|i| (i % 251) as u8));
    v
}

async fn linked(backend: Backend, sim: &Simulator, phone: &str) -> TestApp {
    let app = TestApp::spawn_with(TestEnv::new(backend).await, |s| point_at(s, sim)).await;
    app.link(sim, &app.admin_key.clone(), "default", phone).await;
    app
}

async fn send_form(app: &TestApp, form: Form) -> reqwest::Response {
    app.http
        .post(app.url("/api/v1/messages/send-media/"))
        .header("Authorization", format!("ApiKey {}", app.admin_key))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

fn media_form(kind: &str, bytes: Vec<u8>, name: &str) -> Form {
    Form::new()
        .text("recipient", "15550002002")
        .text("media_type", kind.to_string())
        .part("file", Part::bytes(bytes).file_name(name.to_string()))
}

async fn out_rows(app: &TestApp) -> Vec<Value> {
    let listed = json(app.get("/api/v1/messages/?direction=out", &app.admin_key).await, 200).await;
    listed["data"]["messages"].as_array().unwrap().clone()
}

fn stored_files(app: &TestApp) -> usize {
    std::fs::read_dir(app.env.data_dir().join("media/whatsapp_media/1"))
        .map(|d| d.flatten().filter(|e| e.path().is_file()).count())
        .unwrap_or(0)
}

/// Voice notes go as voice notes (`ptt`, `audio/ogg; codecs=opus`); audio that is not Opus in Ogg
/// is refused for `voice` with 415 naming what is accepted; stickers are WebP; images JPEG/PNG.
async fn media_kinds(backend: Backend) {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let app = linked(backend, &sim, "15550001401").await;

    let voice = ogg(b"OpusHead\x01\x01\x38\x01");
    let sent = json(send_form(&app, media_form("voice", voice, "note.ogg")).await, 200).await;
    let id = sent["data"]["messageId"].as_str().unwrap().to_string();
    let rec = sim.control().sent("15550001401").await;
    let rec = rec.iter().find(|r| r.id == id).expect("the voice note arrived");
    assert_eq!(rec.msg_type, "ptt", "sent with WhatsApp's voice-note flag");
    assert_eq!(rec.mimetype.as_deref(), Some("audio/ogg; codecs=opus"));
    let row = json(
        app.get(&format!("/api/v1/messages/{}/", sent["data"]["dbId"]), &app.admin_key)
            .await,
        200,
    )
    .await;
    assert_eq!(row["data"]["type"], "ptt");
    assert_eq!(row["data"]["media"]["mimetype"], "audio/ogg; codecs=opus");

    let (rows_before, files_before) = (out_rows(&app).await.len(), stored_files(&app));
    let mp3 = b"ID3\x03\0\0\0\0\0\x21"
        .iter()
        .copied()
        .chain((0..2000u32).map(|i| (i % 200) as u8))
        .collect::<Vec<u8>>();
    let wav = b"RIFF\x24\0\0\0WAVEfmt "
        .iter()
        .copied()
        .chain(std::iter::repeat_n(0u8, 2000))
        .collect::<Vec<u8>>();
    let refused: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        ("voice", mp3.clone(), "a.mp3", "audio/mpeg"),
        ("voice", wav, "a.wav", "audio/x-wav"),
        ("voice", ogg(b"\x01vorbis"), "a.ogg", "Vorbis in Ogg"),
        ("sticker", png_bytes(500), "a.png", "image/png"),
        ("image", b"RIFF\x24\0\0\0WEBPVP8 ".to_vec(), "a.webp", "image/webp"),
    ];
    for (kind, bytes, name, named) in refused {
        let body = json(send_form(&app, media_form(kind, bytes, name)).await, 415).await;
        assert_error(&body, "UNSUPPORTED_MEDIA_TYPE");
        let msg = body["message"].as_str().unwrap();
        assert!(msg.contains(named) && msg.contains("takes"), "{kind}: {msg}");
    }
    assert_eq!(out_rows(&app).await.len(), rows_before, "nothing stored");
    assert_eq!(stored_files(&app), files_before, "no file left behind");

    // The same MP3 is fine as audio; a WebP as a sticker.
    let sent = json(send_form(&app, media_form("audio", mp3, "a.mp3")).await, 200).await;
    let audio_id = sent["data"]["messageId"].as_str().unwrap().to_string();
    let webp = b"RIFF\x24\0\0\0WEBPVP8 "
        .iter()
        .copied()
        .chain(std::iter::repeat_n(7u8, 300))
        .collect::<Vec<u8>>();
    let sent = json(send_form(&app, media_form("sticker", webp, "s.webp")).await, 200).await;
    let sticker_id = sent["data"]["messageId"].as_str().unwrap().to_string();
    let recs = sim.control().sent("15550001401").await;
    let kind_of = |id: &str| recs.iter().find(|r| r.id == id).map(|r| r.msg_type.clone());
    assert_eq!(kind_of(&audio_id).as_deref(), Some("audio"));
    assert_eq!(kind_of(&sticker_id).as_deref(), Some("sticker"));

    // A photo (PNG or JPEG) as a sticker goes as the 512×512 WebP WhatsApp shows.
    for (format, name) in [
        (image::ImageFormat::Png, "cat.png"),
        (image::ImageFormat::Jpeg, "cat.jpg"),
    ] {
        let photo = image::RgbImage::from_fn(300, 150, |x, y| image::Rgb([x as u8, y as u8, 90]));
        let mut bytes = std::io::Cursor::new(Vec::new());
        image::DynamicImage::ImageRgb8(photo)
            .write_to(&mut bytes, format)
            .unwrap();
        let sent = json(
            send_form(&app, media_form("sticker", bytes.into_inner(), name)).await,
            200,
        )
        .await;
        let id = sent["data"]["messageId"].as_str().unwrap().to_string();
        let recs = sim.control().sent("15550001401").await;
        let rec = recs.iter().find(|r| r.id == id).expect("the sticker arrived");
        assert_eq!(
            (rec.msg_type.as_str(), rec.mimetype.as_deref()),
            ("sticker", Some("image/webp"))
        );
        let file = app
            .get(
                &format!("/api/v1/messages/{}/media", sent["data"]["dbId"]),
                &app.admin_key,
            )
            .await;
        assert_eq!(file.status(), 200);
        assert_eq!(file.headers()["content-type"], "image/webp");
        let stored = file.bytes().await.unwrap();
        assert_eq!(rec.size, Some(stored.len() as u64), "the phone got the converted file");
        let webp = image::load_from_memory_with_format(&stored, image::ImageFormat::WebP).unwrap();
        assert_eq!((webp.width(), webp.height()), (512, 512), "{name}");
        let path = sent["data"]["filePath"].as_str().unwrap();
        assert!(path.ends_with("cat.webp"), "{path}");
    }
}
both_backends!(media_kinds_follow_whatsapps_rules, media_kinds);

/// One sanitiser for names: extensions survive shortening, any script is kept, `filename*` of a
/// multipart part is honoured, downloads carry RFC 6266 headers, and incoming names with control
/// characters or `../` are stored clean and download.
async fn file_names(backend: Backend) {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let app = linked(backend, &sim, "15550001402").await;
    let key = app.admin_key.clone();

    let long = format!("{}.pdf", "n".repeat(150));
    let sent = json(
        send_form(&app, media_form("document", b"%PDF-1.7 long".to_vec(), &long)).await,
        200,
    )
    .await;
    let row = json(
        app.get(&format!("/api/v1/messages/{}/", sent["data"]["dbId"]), &key)
            .await,
        200,
    )
    .await;
    let name = row["data"]["media"]["filename"].as_str().unwrap();
    assert!(name.ends_with(".pdf") && name.chars().count() == 100, "{name}");
    let recs = sim.control().sent("15550001402").await;
    let rec = recs
        .iter()
        .find(|r| Some(r.id.as_str()) == sent["data"]["messageId"].as_str());
    assert_eq!(
        rec.unwrap().filename.as_deref(),
        Some(name),
        "the page got the same name"
    );

    // A hand-made multipart body whose part names the file with `filename*` (RFC 8187).
    let boundary = "wagate-test-boundary";
    let mut body = Vec::new();
    for (field, value) in [("recipient", "15550002002"), ("media_type", "document")] {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"resume.pdf\"; \
             filename*=UTF-8''r%C3%A9sum%C3%A9%20_final_%20(1).pdf\r\nContent-Type: application/pdf\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(b"%PDF-1.7 accents\r\n");
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let resp = app
        .http
        .post(app.url("/api/v1/messages/send-media/"))
        .header("Authorization", format!("ApiKey {key}"))
        .header("Content-Type", format!("multipart/form-data; boundary={boundary}"))
        .body(body)
        .send()
        .await
        .unwrap();
    let sent = json(resp, 200).await;
    let db_id = sent["data"]["dbId"].as_i64().unwrap();
    let row = json(app.get(&format!("/api/v1/messages/{db_id}/"), &key).await, 200).await;
    assert_eq!(row["data"]["media"]["filename"], "résumé _final_ (1).pdf");
    let download = app.get(&format!("/api/v1/messages/{db_id}/media"), &key).await;
    assert_eq!(download.status(), 200);
    let cd = download.headers()["content-disposition"].as_bytes().to_vec();
    let cd = String::from_utf8(cd).unwrap();
    assert!(cd.is_ascii(), "no raw UTF-8 in a header: {cd}");
    assert!(cd.contains("filename=\"resume _final_ (1).pdf\""), "{cd}");
    assert!(cd.contains("filename*=UTF-8''r%C3%A9sum%C3%A9"), "{cd}");

    // Incoming: WhatsApp's name with CR LF and a path.
    sim.control()
        .deliver(
            "15550001402",
            IncomingMessage {
                media: Some(IncomingMedia {
                    mimetype: "application/pdf".into(),
                    filename: Some("../../etc/bad\r\nname.pdf".into()),
                    data: b"%PDF-1.7 incoming".to_vec(),
                }),
                ..IncomingMessage::text("15550003003@c.us", "")
            },
        )
        .await
        .unwrap();
    let mut incoming = Value::Null;
    for _ in 0..100 {
        let listed = json(app.get("/api/v1/messages/?direction=in", &key).await, 200).await;
        if let Some(m) = listed["data"]["messages"].as_array().unwrap().first() {
            incoming = m.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(incoming["media"]["filename"], "bad__name.pdf", "{incoming}");
    let download = app
        .get(&format!("/api/v1/messages/{}/media", incoming["id"]), &key)
        .await;
    assert_eq!(download.status(), 200);
    let cd = download.headers()["content-disposition"].to_str().unwrap().to_string();
    assert_eq!(cd, "attachment; filename=\"bad__name.pdf\"");
    assert_eq!(download.bytes().await.unwrap().as_ref(), b"%PDF-1.7 incoming");
}
both_backends!(file_names_are_sanitised_once_and_downloaded_per_rfc_6266, file_names);

/// NUL reaches neither backend: refused with 400 naming the field when a user sent it, replaced
/// (and the message kept, its event written) when WhatsApp sent it.
async fn nul_text(backend: Backend) {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let app = linked(backend, &sim, "15550001403").await;
    let key = app.admin_key.clone();
    let rows_before = out_rows(&app).await.len();

    let cases = [
        (json!({"recipient": "15550002002", "message": "a\u{0}b"}), "message"),
        (json!({"recipient": "1555000\u{0}2002", "message": "hi"}), "recipient"),
        (
            json!({"recipient": "15550002002", "message": "hi", "session": "de\u{0}fault"}),
            "session",
        ),
    ];
    for (body, field) in cases {
        let r = json(app.post_json("/api/v1/messages/send-text/", &key, body).await, 400).await;
        assert_error(&r, "VALIDATION_ERROR");
        assert_eq!(r["field"], field, "{r}");
        assert!(r["message"].as_str().unwrap().contains("NUL"), "{r}");
    }
    let r = json(app.get("/api/v1/messages/?recipient=1555%000002002", &key).await, 400).await;
    assert_eq!(r["field"], "recipient", "{r}");
    let r = json(app.get("/api/v1/sessions/status/?session=a%00", &key).await, 400).await;
    assert_eq!(r["field"], "session", "{r}");
    let form = media_form("document", b"%PDF-1.7".to_vec(), "a.pdf").text("caption", "x\u{0}y");
    let r = json(send_form(&app, form).await, 400).await;
    assert_eq!(r["field"], "caption", "{r}");
    let r = json(
        app.post_json("/api/v1/apikeys/", &key, json!({"label": "crm\u{0}"}))
            .await,
        400,
    )
    .await;
    assert_eq!(r["field"], "label", "{r}");
    let r = app
        .send_json(
            reqwest::Method::PUT,
            "/api/v1/webhook/",
            &key,
            json!({"url": "http://127.0.0.1:9/\u{0}"}),
        )
        .await;
    assert_eq!(json(r, 400).await["field"], "url");
    assert_eq!(out_rows(&app).await.len(), rows_before, "nothing stored");

    // From WhatsApp: stored with U+FFFD, and its event written.
    sim.control()
        .deliver(
            "15550001403",
            IncomingMessage {
                notify_name: Some("Ni\u{0}ck".into()),
                ..IncomingMessage::text("15550003004@c.us", "before\u{0}after")
            },
        )
        .await
        .unwrap();
    let mut body = Value::Null;
    for _ in 0..100 {
        let listed = json(app.get("/api/v1/messages/?direction=in", &key).await, 200).await;
        if let Some(m) = listed["data"]["messages"].as_array().unwrap().first() {
            body = m["body"].clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(body, "before\u{FFFD}after");
    let events = app.state.db.events_after(1, 0, 100).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.event == "message" && e.body.contains("before\u{FFFD}after")),
        "the message event was written"
    );
}
both_backends!(nul_is_refused_from_users_and_replaced_from_whatsapp, nul_text);

/// Every text column of the schema, on the real backend, is accounted for: fed by users (refused
/// at the edge), by WhatsApp (made storable), or by the gateway itself. A new column must be
/// added here, and WhatsApp-fed ones really store a NUL-bearing value on this backend.
async fn text_columns(backend: Backend) {
    use diesel_async::RunQueryDsl;
    let app = TestApp::spawn(backend).await;
    // (table, column): how it is fed.
    let known: &[(&str, &str, &str)] = &[
        ("users", "username", "user"),
        ("users", "password_hash", "gateway"),
        ("api_keys", "key_id", "gateway"),
        ("api_keys", "secret_hash", "gateway"),
        ("api_keys", "label", "user"),
        // Scopes and session names from the key's creator (refused with a NUL at the edge), kept
        // as comma-separated lists the gateway writes.
        ("api_keys", "scopes", "user"),
        ("api_keys", "sessions", "user"),
        ("whatsapp_sessions", "name", "user"),
        ("whatsapp_sessions", "status", "gateway"),
        ("whatsapp_sessions", "status_reason", "whatsapp"),
        ("whatsapp_sessions", "phone_number", "whatsapp"),
        ("whatsapp_sessions", "wid", "whatsapp"),
        ("whatsapp_sessions", "push_name", "whatsapp"),
        ("whatsapp_sessions", "last_error", "whatsapp"),
        // The reply text to rejected calls: from the API (a NUL is refused at the edge).
        ("whatsapp_sessions", "call_reply_text", "user"),
        ("session_events", "state", "gateway"),
        ("session_events", "reason", "whatsapp"),
        ("messages", "direction", "gateway"),
        ("messages", "chat_id", "whatsapp"),
        ("messages", "sender", "whatsapp"),
        ("messages", "msg_type", "whatsapp"),
        ("messages", "body", "whatsapp"),
        ("messages", "caption", "whatsapp"),
        ("messages", "media_path", "gateway"),
        ("messages", "media_mime", "whatsapp"),
        ("messages", "media_filename", "whatsapp"),
        ("messages", "status", "gateway"),
        ("messages", "error_message", "whatsapp"),
        ("messages", "wa_message_id", "whatsapp"),
        ("messages", "idempotency_key", "user"),
        ("messages", "sender_phone", "whatsapp"),
        ("messages", "error_code", "gateway"),
        ("messages", "wa_key_id", "gateway"),
        ("messages", "idempotency_fingerprint", "gateway"),
        ("messages", "chat_phone", "whatsapp"),
        // JSON the gateway writes from WhatsApp's fields: serde escapes a NUL as \u0000.
        ("messages", "details", "whatsapp"),
        // Chats as the API was given them (validated, a NUL refused at the edge).
        ("presence_subscriptions", "chat_id", "user"),
        ("lid_map", "lid", "whatsapp"),
        ("lid_map", "phone", "whatsapp"),
        ("events", "uid", "gateway"),
        ("events", "event", "gateway"),
        ("events", "body", "gateway"),
        ("events", "status", "gateway"),
        ("events", "last_error", "gateway"),
        ("webhook_deliveries", "url", "user"),
        ("webhook_deliveries", "error", "gateway"),
        ("webhooks", "url", "user"),
        ("webhooks", "secret", "user"),
        ("webhooks", "events", "user"),
        ("server_secrets", "name", "gateway"),
        ("server_secrets", "value", "gateway"),
        // Cluster mode (PostgreSQL): node ids from the configuration, JSON the gateway writes
        // (serde escapes any NUL from WhatsApp or a caller as \u0000), object store keys.
        ("cluster_nodes", "node_id", "gateway"),
        ("cluster_nodes", "version", "gateway"),
        ("session_leases", "node_id", "gateway"),
        ("session_leases", "info", "gateway"),
        ("session_leases", "archive_key", "gateway"),
        ("cluster_commands", "kind", "gateway"),
        ("cluster_commands", "args", "gateway"),
        ("cluster_commands", "status", "gateway"),
        ("cluster_commands", "node_id", "gateway"),
        ("cluster_commands", "result", "gateway"),
        ("cluster_claims", "name", "gateway"),
        ("cluster_claims", "node_id", "gateway"),
    ];
    #[derive(diesel::QueryableByName)]
    struct Col {
        #[diesel(sql_type = diesel::sql_types::Text)]
        t: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        c: String,
    }
    let cols: Vec<Col> = match backend {
        Backend::Postgres => {
            let mut c =
                <diesel_async::AsyncPgConnection as diesel_async::AsyncConnection>::establish(&app.env.database_url)
                    .await
                    .unwrap();
            diesel::sql_query(
                "SELECT table_name::text AS t, column_name::text AS c FROM information_schema.columns \
                 WHERE table_schema = 'public' AND data_type IN ('text', 'character varying') \
                 AND table_name <> '__diesel_schema_migrations'",
            )
            .load(&mut c)
            .await
            .unwrap()
        }
        Backend::Sqlite => {
            let path = app.env.database_url.trim_start_matches("sqlite://").to_string();
            let mut c = <diesel_async::sync_connection_wrapper::SyncConnectionWrapper<
                diesel::SqliteConnection,
            > as diesel_async::AsyncConnection>::establish(&path)
            .await
            .unwrap();
            diesel::sql_query(
                "SELECT m.name AS t, p.name AS c FROM sqlite_master m, pragma_table_info(m.name) p \
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '__diesel_schema_migrations' \
                 AND upper(p.type) IN ('TEXT', 'VARCHAR')",
            )
            .load(&mut c)
            .await
            .unwrap()
        }
    };
    assert!(cols.len() >= 30, "found the schema's text columns: {}", cols.len());
    let unknown: Vec<String> = cols
        .iter()
        .filter(|col| !known.iter().any(|k| k.0 == col.t && k.1 == col.c))
        .map(|col| format!("{}.{}", col.t, col.c))
        .collect();
    assert!(
        unknown.is_empty(),
        "text columns nobody accounted for (say how each is fed and test it): {unknown:?}"
    );

    // WhatsApp-fed message columns: a NUL in each still stores, on this backend.
    let nul = |s: &str| Some(format!("{s}\u{0}x"));
    let now = wagate::db::now();
    let session = app.state.db.get_or_create_session(1, "cols").await.unwrap();
    let stored = app
        .state
        .db
        .insert_incoming(wagate::db::NewMessage {
            chat_id: "15550001234@c.us\u{0}".into(),
            sender: nul("15550001234@c.us"),
            msg_type: wagate::db::MessageKind::parse("chat\u{0}"),
            body: nul("body"),
            caption: nul("caption"),
            media_mime: nul("image/png"),
            media_filename: nul("name.png"),
            error_message: nul("error"),
            wa_message_id: nul("false_15550001234@c.us_ABC"),
            sender_phone: nul("15550001234"),
            chat_phone: nul("15550001234"),
            details: wagate::db::MessageDetails {
                quoted_message_id: nul("true_15550001234@c.us_Q"),
                ..Default::default()
            }
            .to_column(),
            ..message_row(Some(session.id), "in", wagate::db::MessageStatus::Received)
        })
        .await
        .expect("stored on this backend")
        .expect("a new message");
    assert_eq!(stored.body.as_deref(), Some("body\u{FFFD}x"));
    assert_eq!(stored.chat_phone.as_deref(), Some("15550001234\u{FFFD}x"));
    assert_eq!(
        stored.details().quoted_message_id.as_deref(),
        Some("true_15550001234@c.us_Q\u{0}x"),
        "details keep the escaped NUL as JSON text"
    );
    // LID pairs from the page: only digits are kept (a NUL or anything else is not a pair).
    app.state
        .db
        .record_lid_pairs(
            1,
            session.id,
            vec![
                ("123\u{0}@lid".into(), "15550001234".into()),
                ("456@lid".into(), "1555\u{0}".into()),
                ("789@lid".into(), "15550009999".into()),
            ],
        )
        .await
        .unwrap();
    assert!(app.state.db.pair_by_phone(1, "15550001234").await.unwrap().is_none());
    assert!(app.state.db.pair_by_lid(1, "456@lid").await.unwrap().is_none());
    assert_eq!(
        app.state
            .db
            .pair_by_lid(1, "789@lid")
            .await
            .unwrap()
            .map(|p| p.phone)
            .as_deref(),
        Some("15550009999")
    );
    assert_eq!(stored.chat_id, "15550001234@c.us\u{FFFD}");
    let mut update = wagate::db::SessionStatusUpdate {
        status: "connected".into(),
        status_reason: nul("reason"),
        phone_number: nul("1555"),
        wid: nul("1555@c.us"),
        push_name: nul("Name"),
        last_error: nul("err"),
        updated_at: now,
        connected_at: Some(now),
    };
    update.status = "connected".into();
    app.state.db.record_session_state(session.id, update).await.unwrap();
    let row = app.state.db.session_by_name(1, "cols").await.unwrap().unwrap();
    assert_eq!(row.push_name.as_deref(), Some("Name\u{FFFD}x"));
}
both_backends!(every_text_column_is_accounted_for, text_columns);

/// Every `VALIDATION_ERROR` names its field and says what would be accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_messages_say_what_is_accepted() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let key = app.admin_key.clone();
    let cases = [
        ("+15550001234@c.us", "drop the '+' (15550001234@c.us)"),
        (
            "120363012345678901",
            "a group id ends in @g.us (120363012345678901@g.us)",
        ),
        ("015112345678", "country code first"),
        ("1555 000 12x4", "contains 'x'"),
        ("", "recipient is empty"),
    ];
    for (recipient, hint) in cases {
        let r = app
            .post_json(
                "/api/v1/messages/send-text/",
                &key,
                json!({"recipient": recipient, "message": "hi"}),
            )
            .await;
        let r = json(r, 400).await;
        assert_error(&r, "VALIDATION_ERROR");
        assert_eq!(r["field"], "recipient");
        assert!(r["message"].as_str().unwrap().contains(hint), "{recipient:?}: {r}");
    }
    let r = json(app.get("/api/v1/contacts/check/?phone=", &key).await, 400).await;
    assert_eq!(r["field"], "phone");
    assert!(r["message"].as_str().unwrap().starts_with("phone is empty"), "{r}");
    let resp = app
        .http
        .post(app.url("/api/v1/messages/send-text/"))
        .header("Authorization", format!("ApiKey {key}"))
        .header(
            "Idempotency-Key",
            reqwest::header::HeaderValue::from_bytes("commande-é".as_bytes()).unwrap(),
        )
        .json(&json!({"recipient": "15550001234", "message": "hi"}))
        .send()
        .await
        .unwrap();
    let r = json(resp, 400).await;
    assert_eq!(r["field"], "Idempotency-Key");
    assert!(r["message"].as_str().unwrap().contains("outside ASCII"), "{r}");
    let r = json(app.get("/api/v1/messages/?status=sending", &key).await, 400).await;
    assert!(r["message"].as_str().unwrap().contains("queued, pending"), "{r}");
}

/// Three queued sends with a slow network; the session's Chromium is killed while the first is
/// in flight. Each message reaches the phone exactly once and no row ends failed or pending: the
/// one in flight is settled by finding its key id on the reloaded page (or sent again with it).
async fn browser_crash_mid_send(backend: Backend) {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let app = linked(backend, &sim, "15550001404").await;
    let key = app.admin_key.clone();
    sim.control().set_send_latency(Duration::from_secs(3)).await;
    let mut ids = Vec::new();
    for text in ["c1", "c2", "c3"] {
        let r = app
            .post_json(
                "/api/v1/messages/send-text/?async=true",
                &key,
                json!({"recipient": "15550002002", "message": text}),
            )
            .await;
        ids.push(json(r, 202).await["data"]["dbId"].as_i64().unwrap());
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let killed = wagate::browser::procs::kill_profile_processes(&app.env.data_dir().join("sessions"));
    assert!(killed > 0, "killed the session's Chromium");
    let mut last = Vec::new();
    for _ in 0..240 {
        let listed = json(app.get("/api/v1/messages/?direction=out", &key).await, 200).await;
        last = listed["data"]["messages"].as_array().unwrap().clone();
        assert_eq!(last.len(), 3);
        if last
            .iter()
            .all(|m| ["sent", "delivered", "read"].contains(&m["status"].as_str().unwrap()))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for m in &last {
        assert!(
            ["sent", "delivered", "read"].contains(&m["status"].as_str().unwrap()),
            "every message went out: {m}"
        );
    }
    // Give a late duplicate time to show up, then count what the phone's server has.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let recs = sim.control().sent("15550001404").await;
    for text in ["c1", "c2", "c3"] {
        let n = recs.iter().filter(|r| r.body.as_deref() == Some(text)).count();
        assert_eq!(n, 1, "{text} reached WhatsApp exactly once: {recs:?}");
    }
    let ids_on_phone: Vec<&str> = recs.iter().map(|r| r.id.as_str()).collect();
    for m in &last {
        assert!(ids_on_phone.contains(&m["messageId"].as_str().unwrap()), "{m}");
    }
}
both_backends!(
    a_browser_crash_mid_send_loses_and_doubles_nothing,
    browser_crash_mid_send
);

/// A command whose caller stopped waiting while it sat in the actor's mailbox is not executed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_whose_caller_gave_up_is_not_executed() {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let app = linked(Backend::Sqlite, &sim, "15550001405").await;
    let h = app.state.sessions.get(1, "default").unwrap();
    sim.control().set_send_latency(Duration::from_secs(2)).await;
    let to = wagate::sessions::ChatId::parse("15550002002").unwrap();
    let busy = {
        let (h, to) = (h.clone(), to.clone());
        tokio::spawn(async move { h.send_text(to, "keeps the actor busy".into()).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let gave_up = tokio::time::timeout(Duration::from_millis(300), h.send_text(to, "abandoned".into())).await;
    assert!(gave_up.is_err(), "the caller stopped waiting");
    busy.await.unwrap().expect("the first send went out");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let recs = sim.control().sent("15550001405").await;
    assert_eq!(recs.len(), 1, "only the first send reached WhatsApp: {recs:?}");
    assert_eq!(recs[0].body.as_deref(), Some("keeps the actor busy"));
}

/// Failure updates name the state they change from: a row that moved on meanwhile keeps its state
/// (and its session's counters).
async fn failures_compare_and_set(backend: Backend) {
    use wagate::db::{MessageStatus, NewMessage};
    // The database alone: a running gateway's upkeep would expire these rows itself, racing the
    // calls under test.
    let env = TestEnv::new(backend).await;
    let url = env.settings().database_url().unwrap();
    wagate::db::migrate(&url).await.unwrap();
    let db = &wagate::db::Database::connect(&url, 2).await.unwrap();
    let user = db.create_user("cas", None, false).await.unwrap().id;
    let session = db.get_or_create_session(user, "cas").await.unwrap();
    let now = wagate::db::now();
    let row = |status: MessageStatus, wa: Option<&str>| NewMessage {
        wa_message_id: wa.map(str::to_string),
        sent_at: Some(now - chrono::Duration::seconds(3600)),
        expires_at: Some(now - chrono::Duration::seconds(10)),
        ..message_row(Some(session.id), "out", status)
    };
    let delivered = db
        .insert_message(row(MessageStatus::Delivered, Some("true_15550002002@c.us_A1")))
        .await
        .unwrap();
    let queued = db.insert_message(row(MessageStatus::Queued, None)).await.unwrap();
    // Expiry meant for queued rows does not touch a delivered one.
    let failed = db
        .fail_messages(
            vec![delivered.id, queued.id],
            &[MessageStatus::Queued],
            wagate::error_code::ErrorCode::Expired,
            "late".into(),
        )
        .await
        .unwrap();
    assert_eq!(failed.iter().map(|r| r.id).collect::<Vec<_>>(), vec![queued.id]);
    let still = db.message_for_user(user, delivered.id).await.unwrap().unwrap();
    assert_eq!(still.status, wagate::db::MessageStatus::Delivered);
    // An ack timeout meant for pending rows neither fails a delivered row nor counts it.
    let n = db.fail_unacked(vec![delivered.id], 1).await.unwrap();
    assert!(n.is_empty());
    let s = db.session_by_name(user, "cas").await.unwrap().unwrap();
    assert_eq!(s.ack_timeouts, 0);
    let pending = db
        .insert_message(row(MessageStatus::Pending, Some("true_15550002002@c.us_A2")))
        .await
        .unwrap();
    assert_eq!(db.expire_unacked(now, 1).await.unwrap(), 1);
    let s = db.session_by_name(user, "cas").await.unwrap().unwrap();
    assert_eq!(s.ack_timeouts, 1, "counted in the same change");
    let p = db.message_for_user(user, pending.id).await.unwrap().unwrap();
    assert_eq!(p.error_code.as_deref(), Some("ACK_TIMEOUT"));
}
both_backends!(failure_updates_compare_and_set, failures_compare_and_set);

/// Outbox ids are handed out in commit order: while another transaction holds an event it has not
/// committed, a later event waits, so a reader resuming after the highest id it saw misses nothing.
async fn outbox_commit_order(backend: Backend) {
    use diesel_async::{AsyncConnection, SimpleAsyncConnection};
    let app = TestApp::spawn(backend).await;
    let db = app.state.db.clone();
    let session = db.get_or_create_session(1, "order").await.unwrap();
    let insert = format!(
        "INSERT INTO events (uid, user_id, session_id, event, body, created_at, status, next_attempt_at, attempts) \
         VALUES ('evt_first', 1, {}, 'message', '{{}}', CURRENT_TIMESTAMP, 'pending', CURRENT_TIMESTAMP, 0)",
        session.id
    );
    // The first transaction: takes its event id and stays open.
    let (hold_tx, hold_rx) = tokio::sync::oneshot::channel::<()>();
    let (began_tx, began_rx) = tokio::sync::oneshot::channel::<()>();
    let url = app.env.database_url.clone();
    let first = tokio::spawn(async move {
        match backend {
            Backend::Postgres => {
                let mut c = diesel_async::AsyncPgConnection::establish(&url).await.unwrap();
                c.batch_execute(&format!(
                    "BEGIN; SELECT pg_advisory_xact_lock({}); {insert};",
                    0x7761_6761_7465i64
                ))
                .await
                .unwrap();
                began_tx.send(()).unwrap();
                hold_rx.await.unwrap();
                c.batch_execute("COMMIT").await.unwrap();
            }
            Backend::Sqlite => {
                let path = url.trim_start_matches("sqlite://").to_string();
                let mut c = diesel_async::sync_connection_wrapper::SyncConnectionWrapper::<diesel::SqliteConnection>::establish(&path)
                    .await
                    .unwrap();
                c.batch_execute(&format!("BEGIN IMMEDIATE; {insert};")).await.unwrap();
                began_tx.send(()).unwrap();
                hold_rx.await.unwrap();
                c.batch_execute("COMMIT").await.unwrap();
            }
        }
    });
    began_rx.await.unwrap();
    // The second: an incoming message and its event, through the gateway's own code.
    let second = {
        let db = db.clone();
        tokio::spawn(async move {
            db.insert_incoming(wagate::db::NewMessage {
                body: Some("second".into()),
                wa_message_id: Some("false_15550002002@c.us_B2".into()),
                ..message_row(Some(session.id), "in", wagate::db::MessageStatus::Received)
            })
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(700)).await;
    let seen = db.events_after(1, 0, 10).await.unwrap();
    assert!(
        seen.is_empty(),
        "no event is visible while an earlier one is uncommitted: {:?}",
        seen.iter().map(|e| (e.id, &e.uid)).collect::<Vec<_>>()
    );
    hold_tx.send(()).unwrap();
    first.await.unwrap();
    second.await.unwrap().unwrap().expect("stored");
    let seen = db.events_after(1, 0, 10).await.unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].uid, "evt_first", "the first to commit has the lower id");
    assert!(seen[0].id < seen[1].id);
}
both_backends!(outbox_ids_follow_commit_order, outbox_commit_order);
