//! The session engine against the simulator in real Chromium through real chromedriver.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::sync::mpsc::Receiver;
use wagate::config::Settings;
use wagate::db::{Database, MessageKind};
use wagate::sessions::{
    ChatId, OutgoingMedia, SessionError, SessionEvent, SessionHandle, SessionManager, SessionState,
};
use wagate_sim::{IncomingMessage, Simulator};

use crate::common::*;
use crate::support::*;

struct Engine {
    _env: TestEnv,
    settings: Arc<Settings>,
    db: Database,
    manager: SessionManager,
    events: Receiver<SessionEvent>,
    user: i64,
}

async fn engine(sim: &Simulator, tweak: impl FnOnce(&mut Settings)) -> Engine {
    let env = TestEnv::new(Backend::Sqlite).await;
    let mut s = env.settings();
    point_at(&mut s, sim);
    tweak(&mut s);
    let settings = Arc::new(s);
    let db = Database::connect(&settings.database_url().unwrap(), 4).await.unwrap();
    let user = db.create_user("owner", None, false).await.unwrap().id;
    let (manager, events) = SessionManager::new(settings.clone(), db.clone());
    Engine {
        _env: env,
        settings,
        db,
        manager,
        events,
        user,
    }
}

impl Engine {
    /// The next event matching `pred`, skipping others.
    async fn next_event(&mut self, secs: u64, mut pred: impl FnMut(&SessionEvent) -> bool) -> SessionEvent {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(e)) if pred(&e) => return e,
                Ok(Some(_)) => continue,
                _ => panic!("no matching event within {secs} s"),
            }
        }
    }

    fn profile(&self, h: &SessionHandle) -> std::path::PathBuf {
        self.settings
            .data_dir
            .join("sessions")
            .join(h.key.id.to_string())
            .join("profile")
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn media(bytes: Vec<u8>, mimetype: &str, filename: Option<&str>, caption: Option<&str>) -> OutgoingMedia {
    OutgoingMedia {
        bytes: Arc::new(bytes),
        mimetype: mimetype.into(),
        filename: filename.map(str::to_string),
        caption: caption.map(str::to_string),
        kind: if mimetype.starts_with("image/") {
            MessageKind::Image
        } else {
            MessageKind::Document
        },
    }
}

/// QR equals the simulator's, rotates, scans to `connected`; text and media arrive byte for byte;
/// acks and incoming messages reach the event sink; number checks work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_send_and_receive() {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let mut e = engine(&sim, |_| {}).await;
    let started = Instant::now();
    let h = e.manager.start(e.user, "default").await.unwrap();
    let first = wait_qr(&h).await;
    eprintln!("start -> QR: {:?}", started.elapsed());
    let payload = first.qr.clone().unwrap();
    assert_eq!(payload.split(',').count(), 5, "{payload}");
    let pages = sim.control().pages().await;
    assert!(
        pages.iter().any(|p| p.qr.as_deref() == Some(payload.as_str())),
        "the simulator shows {payload}"
    );
    assert_eq!(decode_qr_data_url(first.qr_png.as_deref().unwrap()), payload);
    assert_eq!(first.state, SessionState::QrPending);

    let rotated = h
        .wait_for(Duration::from_secs(15), |i| {
            i.qr.as_deref().is_some_and(|q| q != payload)
        })
        .await
        .expect("the QR rotates");
    let (old_ref, new_ref) = (
        payload.split(',').next().unwrap(),
        rotated.qr.as_deref().unwrap().split(',').next().unwrap(),
    );
    assert_ne!(old_ref, new_ref);
    assert_eq!(
        payload.split(',').skip(1).collect::<Vec<_>>(),
        rotated.qr.as_deref().unwrap().split(',').skip(1).collect::<Vec<_>>(),
        "keys are stable per profile"
    );
    assert!(
        sim.control().scan(&payload, Some("15550009999")).await.is_err(),
        "a stale QR is refused"
    );

    let info = link(&sim, &h, "15550001001").await;
    assert_eq!(info.phone.as_deref(), Some("15550001001"));
    assert_eq!(info.wid.as_deref(), Some("15550001001@c.us"));
    let row = e.db.session_by_name(e.user, "default").await.unwrap().unwrap();
    assert_eq!(
        (row.status.as_str(), row.phone_number.as_deref()),
        ("connected", Some("15550001001"))
    );

    // Text.
    let to = ChatId::parse("+1 555 000 2002").unwrap();
    let sent = h.send_text(to.clone(), "hello from wagate".into()).await.unwrap();
    let peer = peer_id(&sim, "15550002002").await;
    assert!(sent.id.starts_with(&format!("true_{peer}_")), "{}", sent.id);
    assert_eq!(sent.chat_phone.as_deref(), Some("15550002002"));
    let acked = e
        .next_event(
            15,
            |ev| matches!(ev, SessionEvent::Ack { id, ack, .. } if *id == sent.id && *ack >= 3),
        )
        .await;
    assert!(matches!(acked, SessionEvent::Ack { ack: 3, .. }));
    let records = sim.control().sent("15550001001").await;
    let text = records
        .iter()
        .find(|r| r.id == sent.id)
        .expect("the simulator recorded the send");
    assert_eq!(text.body.as_deref(), Some("hello from wagate"));
    assert_eq!(text.chat, peer);

    // Media: an image over one chunk with a caption, a document, a voice note.
    let image: Vec<u8> = b"\x89PNG\r\n\x1a\n"
        .iter()
        .copied()
        .chain((0..1_500_000u32).map(|i| (i * 31 % 251) as u8))
        .collect();
    let mut doc = media(b"%PDF-1.7\nhello".to_vec(), "application/pdf", Some("report.pdf"), None);
    doc.kind = MessageKind::Document;
    let mut voice = media(
        b"OggS\0\x02voice-bytes".to_vec(),
        "audio/ogg; codecs=opus",
        Some("note.ogg"),
        None,
    );
    voice.kind = MessageKind::Ptt;
    let cases = [
        (
            media(image.clone(), "image/png", Some("pic.png"), Some("a caption")),
            "image",
        ),
        (doc, "document"),
        (voice, "ptt"),
    ];
    for (m, kind) in cases {
        let hash = sha256_hex(&m.bytes);
        let (size, caption) = (m.bytes.len() as u64, m.caption.clone());
        let sent = h
            .send_media(to.clone(), m)
            .await
            .unwrap_or_else(|err| panic!("{kind}: {err}"));
        let records = sim.control().sent("15550001001").await;
        let r = records
            .iter()
            .find(|r| r.id == sent.id)
            .unwrap_or_else(|| panic!("{kind} recorded"));
        assert_eq!(r.msg_type, kind);
        if kind == "ptt" {
            assert_eq!(r.mimetype.as_deref(), Some("audio/ogg; codecs=opus"));
        }
        assert_eq!(r.sha256.as_deref(), Some(hash.as_str()), "{kind}: identical bytes");
        assert_eq!(r.size, Some(size));
        if let Some(c) = caption {
            assert_eq!(r.caption.as_deref(), Some(c.as_str()));
        }
    }

    // A 16 MiB document: the bytes cross into the page in 1 MiB chunks.
    let big: Vec<u8> = b"%PDF-1.7\n"
        .iter()
        .copied()
        .chain((0..16 * 1024 * 1024u32).map(|i| (i ^ (i >> 7)) as u8))
        .collect();
    let mut doc = media(big.clone(), "application/pdf", Some("big.pdf"), None);
    doc.kind = MessageKind::Document;
    let started = Instant::now();
    let sent = h.send_media(to.clone(), doc).await.unwrap();
    eprintln!("16 MiB document sent in {:?}", started.elapsed());
    let records = sim.control().sent("15550001001").await;
    let r = records
        .iter()
        .find(|r| r.id == sent.id)
        .expect("the big document arrived");
    assert_eq!(r.sha256.as_deref(), Some(sha256_hex(&big).as_str()));

    // Incoming.
    let msg_id = sim
        .control()
        .deliver("15550001001", IncomingMessage::text("15550003003@c.us", "hi there"))
        .await
        .unwrap();
    let got = e.next_event(15, |ev| matches!(ev, SessionEvent::Incoming { .. })).await;
    let SessionEvent::Incoming { message, session, .. } = got else {
        unreachable!()
    };
    assert_eq!(
        (message.id.as_str(), message.body.as_deref()),
        (msg_id.as_str(), Some("hi there"))
    );
    assert_eq!(message.from, Some(peer_id(&sim, "15550003003").await));
    assert_eq!(message.author_phone.as_deref(), Some("15550003003"));
    assert_eq!(message.chat_phone.as_deref(), Some("15550003003"));
    assert!(!message.from_me);
    assert_eq!(session.id, h.key.id);

    // Number checks.
    sim.control().set_number_exists("15550004004", false).await;
    assert_eq!(
        h.check_number(ChatId::parse("15550004004").unwrap()).await.unwrap(),
        None
    );
    assert_eq!(
        h.check_number(ChatId::parse("15550005005").unwrap())
            .await
            .unwrap()
            .as_deref(),
        Some("15550005005@c.us")
    );
    e.manager.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairing_code_links() {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let e = engine(&sim, |_| {}).await;
    let h = e.manager.start(e.user, "default").await.unwrap();
    wait_qr(&h).await;
    let code = h.request_pairing_code("15550006006".into()).await.unwrap();
    assert_eq!(code.len(), 8, "{code}");
    assert_eq!(h.info().pairing_code.as_deref(), Some(code.as_str()));
    sim.control().enter_pairing_code(&code).await.unwrap();
    let info = wait_state(&h, SessionState::Connected, 60).await;
    assert_eq!(info.phone.as_deref(), Some("15550006006"));
    e.manager.shutdown().await;
}

/// A new manager on the same data dir (a gateway restart) restores linked sessions, no QR.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_restores_without_qr() {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let e = engine(&sim, |_| {}).await;
    let h = e.manager.start(e.user, "default").await.unwrap();
    link(&sim, &h, "15550007007").await;
    // Give the profile's storage a moment to reach the disk, as after any real link.
    tokio::time::sleep(Duration::from_secs(3)).await;
    e.manager.shutdown().await;
    assert_eq!(
        e.db.session_by_name(e.user, "default").await.unwrap().unwrap().status,
        "connected"
    );

    let (manager, _events) = SessionManager::new(e.settings.clone(), e.db.clone());
    let started = Instant::now();
    assert_eq!(manager.restore().await.unwrap(), 1);
    let h = manager.get(e.user, "default").expect("restored");
    let mut saw_qr = false;
    let info = h
        .wait_for(Duration::from_secs(60), |i| {
            saw_qr |= i.qr.is_some();
            i.state == SessionState::Connected
        })
        .await
        .expect("connected again");
    eprintln!("restore -> connected: {:?}", started.elapsed());
    assert!(!saw_qr, "a restored session shows no QR");
    assert_eq!(info.phone.as_deref(), Some("15550007007"));
    manager.shutdown().await;
}

async fn recovers_after(kill: impl FnOnce(&Engine, &SessionHandle)) {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let e = engine(&sim, |_| {}).await;
    let h = e.manager.start(e.user, "default").await.unwrap();
    link(&sim, &h, "15550008008").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    kill(&e, &h);
    wait_state(&h, SessionState::Disconnected, 30).await;
    let started = Instant::now();
    let mut saw_qr = false;
    let info = h
        .wait_for(Duration::from_secs(30), |i| {
            saw_qr |= i.qr.is_some();
            i.state == SessionState::Connected
        })
        .await
        .unwrap_or_else(|| panic!("not connected again within 30 s: {:?}", h.info()));
    eprintln!("recovered in {:?}", started.elapsed());
    assert!(!saw_qr);
    assert_eq!(info.phone.as_deref(), Some("15550008008"));
    let sent = h
        .send_text(ChatId::parse("15550002002").unwrap(), "after recovery".into())
        .await
        .unwrap();
    assert!(sim.control().sent("15550008008").await.iter().any(|r| r.id == sent.id));
    let history = e.db.session_events(h.key.id, 50).await.unwrap();
    assert!(
        history.iter().any(|ev| ev.state == "disconnected"),
        "the loss is in the history"
    );
    e.manager.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovers_after_chromium_is_killed() {
    recovers_after(|e, h| {
        let killed = wagate::browser::procs::kill_profile_processes(&e.profile(h));
        assert!(killed > 0, "found the session's Chromium");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovers_after_chromedriver_is_killed() {
    recovers_after(|e, _| {
        let pid = e.manager.driver().local_pid();
        assert!(pid > 0);
        unsafe { libc::kill(pid, libc::SIGKILL) };
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_from_the_phone_wipes_the_profile() {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let e = engine(&sim, |_| {}).await;
    let h = e.manager.start(e.user, "default").await.unwrap();
    link(&sim, &h, "15550009009").await;
    assert!(e.profile(&h).exists());
    sim.control().logout_from_phone("15550009009").await.unwrap();
    let info = wait_state(&h, SessionState::LoggedOut, 30).await;
    assert!(info.phone.is_none());
    assert!(!e.profile(&h).exists(), "profile wiped");
    let row = e.db.session_by_name(e.user, "default").await.unwrap().unwrap();
    assert_eq!(row.status, "logged_out");
    e.manager.shutdown().await;
}

/// WhatsApp renamed a module: the send fails at once with the module named, never hangs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_send_module_fails_fast() {
    let _b = browsers(1).await;
    let sim = simulator().await;
    sim.control().remove_module("WAWebSendMsgChatAction").await;
    let e = engine(&sim, |_| {}).await;
    let h = e.manager.start(e.user, "default").await.unwrap();
    link(&sim, &h, "15550001111").await;
    let started = Instant::now();
    let err = h
        .send_text(ChatId::parse("15550002002").unwrap(), "x".into())
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "failed fast: {:?}",
        started.elapsed()
    );
    match err {
        SessionError::Wa { code, .. } => assert_eq!(code, "WA_MODULE_MISSING:WAWebSendMsgChatAction"),
        other => panic!("{other:?}"),
    }
    assert_eq!(h.info().state, SessionState::Connected, "the session stays up");
    e.manager.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_limit_holds() {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let e = engine(&sim, |s| s.sessions.max_concurrent = 1).await;
    let a = e.manager.start(e.user, "a").await.unwrap();
    assert!(matches!(
        e.manager.start(e.user, "b").await,
        Err(SessionError::LimitReached(1))
    ));
    assert_eq!(
        e.manager.start(e.user, "a").await.unwrap().key.id,
        a.key.id,
        "the running one is returned"
    );
    a.stop().await.unwrap();
    let b = e.manager.start(e.user, "b").await.unwrap();
    assert!(b.is_running());
    e.manager.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_sessions_do_not_see_each_other() {
    let _b = browsers(2).await;
    let sim = simulator().await;
    let mut e = engine(&sim, |_| {}).await;
    let a = e.manager.start(e.user, "a").await.unwrap();
    let b = e.manager.start(e.user, "b").await.unwrap();
    let (ia, ib) = tokio::join!(link(&sim, &a, "15550000001"), link(&sim, &b, "15550000002"));
    assert_eq!(
        (ia.phone.unwrap(), ib.phone.unwrap()),
        ("15550000001".to_string(), "15550000002".to_string())
    );
    let to = ChatId::parse("15550002002").unwrap();
    let (sa, sb) = tokio::join!(
        a.send_text(to.clone(), "from a".into()),
        b.send_text(to.clone(), "from b".into())
    );
    let (sa, sb) = (sa.unwrap(), sb.unwrap());
    let (ra, rb) = (
        sim.control().sent("15550000001").await,
        sim.control().sent("15550000002").await,
    );
    assert!(ra.iter().any(|r| r.id == sa.id) && !ra.iter().any(|r| r.id == sb.id));
    assert!(rb.iter().any(|r| r.id == sb.id) && !rb.iter().any(|r| r.id == sa.id));

    sim.control()
        .deliver("15550000002", IncomingMessage::text("15550003003@c.us", "only for b"))
        .await
        .unwrap();
    let got = e.next_event(15, |ev| matches!(ev, SessionEvent::Incoming { .. })).await;
    let SessionEvent::Incoming { session, message, .. } = got else {
        unreachable!()
    };
    assert_eq!((session.id, message.body.as_deref()), (b.key.id, Some("only for b")));
    e.manager.shutdown().await;
}

/// Idle cleanup stops sessions nobody scanned; linked ones stay up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_never_linked_sessions_are_stopped() {
    let _b = browsers(2).await;
    let sim = simulator().await;
    let e = engine(&sim, |_| {}).await;
    let waiting = e.manager.start(e.user, "waiting").await.unwrap();
    let linked = e.manager.start(e.user, "linked").await.unwrap();
    wait_qr(&waiting).await;
    link(&sim, &linked, "15550002222").await;
    assert_eq!(
        e.manager.reap_idle(Duration::from_secs(3600)).await,
        0,
        "not idle long enough"
    );
    assert_eq!(e.manager.reap_idle(Duration::ZERO).await, 1);
    assert!(!waiting.is_running());
    assert_eq!(waiting.info().state, SessionState::Stopped);
    assert_eq!(linked.info().state, SessionState::Connected);
    e.manager.shutdown().await;
}

/// `browser.webdriver_url`: a WebDriver endpoint wagate does not start (chromedriver elsewhere,
/// or a Selenium Grid) drives the session just the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_webdriver_endpoint_works() {
    let _b = browsers(1).await;
    let sim = simulator().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut remote = std::process::Command::new("/usr/bin/chromedriver")
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let e = engine(&sim, |s| s.browser.webdriver_url = format!("http://127.0.0.1:{port}")).await;
    let h = e.manager.start(e.user, "default").await.unwrap();
    link(&sim, &h, "15550003333").await;
    assert_eq!(e.manager.driver().local_pid(), 0, "no local chromedriver was started");
    let sent = h
        .send_text(ChatId::parse("15550002002").unwrap(), "via remote".into())
        .await
        .unwrap();
    assert!(sim.control().sent("15550003333").await.iter().any(|r| r.id == sent.id));
    e.manager.shutdown().await;
    remote.kill().unwrap();
    let _ = remote.wait();
}
