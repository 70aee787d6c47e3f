//! The simulator itself, driven by fantoccini in real Chromium, with no bridge of wagate's: each
//! script below is what a WhatsApp Web client does with the page (wa-web-surface.md §2–§7).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use wagate_sim::{IncomingMessage, SimConfig, Simulator};

mod eras;

struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn chromedriver() -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("/usr/bin/chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver is installed");
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

async fn browser(driver: &Driver, profile: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({ "binary": "/usr/bin/chromium", "args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic",
            "--window-size=1280,900", format!("--user-data-dir={}", profile.display()),
        ]}),
    );
    ClientBuilder::rustls()
        .unwrap()
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a browser")
}

async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![])
        .await
        .unwrap_or_else(|e| panic!("{script}: {e}"))
}

async fn js_args(c: &Client, script: &str, args: Vec<Value>) -> Value {
    c.execute(script, args)
        .await
        .unwrap_or_else(|e| panic!("{script}: {e}"))
}

async fn wait_js(c: &Client, script: &str, secs: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let v = c.execute(script, vec![]).await.unwrap_or(Value::Null);
        if !v.is_null() && v != json!(false) {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {script}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Records every `Socket` state and `hasSynced` change in `window.__log` (what a client subscribes to).
const RECORD_STATES: &str = "
    const S = window.require('WAWebSocketModel').Socket;
    window.__log = [S.state];
    S.on('change:state', (_m, s) => window.__log.push(s));
    S.on('change:hasSynced', (_m, v) => window.__log.push('synced:' + v));
    return true;";

/// The QR payload exactly as the reference client composes it (§3.1).
const QR_PAYLOAD: &str = "
    const r = window.require, B = r('WABase64');
    const ref = r('WAWebConnModel').Conn.ref;
    if (!ref) return null;
    const noise = (await r('WAWebUserPrefsInfoStore').waNoiseInfo.get()).staticKeyPair.pubKey;
    const id = (await r('WAWebSignalStoreApi').waSignalStore.getRegistrationInfo()).identityKeyPair.pubKey;
    return [ref, B.encodeB64(noise), B.encodeB64(id), r('WAWebUserPrefsMultiDevice').getADVSecretKey(),
            r('WAWebCompanionRegClientUtils').DEVICE_PLATFORM].join(',');";

fn pss_kb(profile: &Path) -> u64 {
    let needle = format!("--user-data-dir={}", profile.display());
    let mut total = 0;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if !cmd.split(|b| *b == 0).any(|a| a == needle.as_bytes()) {
            continue;
        }
        if let Ok(s) = std::fs::read_to_string(entry.path().join("smaps_rollup")) {
            total += s
                .lines()
                .find(|l| l.starts_with("Pss:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    total
}

async fn sim(rotation_ms: u64, max_rotations: u32) -> Simulator {
    Simulator::start(SimConfig {
        qr_rotation: Duration::from_millis(rotation_ms),
        qr_max_rotations: max_rotations,
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

/// Boot: `Debug.VERSION` after a delay; OPENING → UNPAIRED; a five-field QR that rotates, goes
/// idle after N rotations and re-arms; unknown modules throw the exact message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boot_qr_rotation_idle_and_rearm() {
    let sim = sim(700, 2).await;
    let driver = chromedriver().await;
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path()).await;
    let started = Instant::now();
    c.goto(&sim.base_url()).await.unwrap();
    assert_eq!(
        js(&c, "return window.Debug === undefined").await,
        json!(true),
        "VERSION comes after a delay"
    );
    let version = wait_js(&c, "return window.Debug && window.Debug.VERSION", 10).await;
    eprintln!("page load -> Debug.VERSION: {:?}", started.elapsed());
    assert!(version.as_str().unwrap().starts_with("2.3000."), "{version}");

    let err = js(
        &c,
        "try { window.require('WAWebNoSuchModule'); return null } catch (e) { return e.message }",
    )
    .await;
    assert_eq!(err, json!("Requiring unknown module \"WAWebNoSuchModule\""));

    wait_js(
        &c,
        "return window.require('WAWebSocketModel').Socket.state === 'UNPAIRED'",
        10,
    )
    .await;
    js(&c, RECORD_STATES).await;
    let first = js(&c, QR_PAYLOAD).await;
    let first = first.as_str().unwrap().to_string();
    let fields: Vec<&str> = first.split(',').collect();
    assert_eq!(fields.len(), 5, "{first}");
    assert!(
        fields[0].starts_with("2@") && fields.iter().all(|f| !f.is_empty()),
        "{first}"
    );
    let pages = sim.control().pages().await;
    assert!(
        pages.iter().any(|p| p.qr.as_deref() == Some(first.as_str())),
        "the server knows the QR shown"
    );

    // Rotation through `change:ref (model, ref)`.
    js(&c, "window.__refs = []; window.require('WAWebConnModel').Conn.on('change:ref', (m, r) => window.__refs.push([m === window.require('WAWebConnModel').Conn, r])); return true").await;
    let refs = wait_js(&c, "return window.__refs.length >= 1 && window.__refs", 5).await;
    assert_eq!(refs[0][0], json!(true), "handlers get the model first");
    let second = js(&c, QR_PAYLOAD).await;
    let second = second.as_str().unwrap();
    assert_ne!(second.split(',').next(), Some(fields[0]), "the ref rotated");
    assert_eq!(
        second.split(',').skip(1).collect::<Vec<_>>(),
        fields[1..].to_vec(),
        "keys stay for the profile"
    );

    // Idle after the rotations, re-armed by refreshQR().
    wait_js(
        &c,
        "return window.require('WAWebSocketModel').Socket.state === 'UNPAIRED_IDLE'",
        10,
    )
    .await;
    let log = js(&c, "return window.__log").await;
    assert_eq!(log, json!(["UNPAIRED", "UNPAIRED_IDLE"]));
    js(&c, "window.require('WAWebLaunchSocketUtils').refreshQR(); return true").await;
    wait_js(
        &c,
        "return window.require('WAWebSocketModel').Socket.state === 'UNPAIRED'",
        5,
    )
    .await;
    let rearmed = js(&c, QR_PAYLOAD).await;
    assert!(rearmed.as_str().is_some_and(|q| q.split(',').count() == 5));
    eprintln!(
        "Chromium PSS for one simulator page: {} MiB",
        pss_kb(profile.path()) / 1024
    );
    c.close().await.unwrap();
}

/// Link by QR (a stale payload refused), send text and media through the module chain, receive,
/// restore the profile without a QR, and log out from the phone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_send_receive_restore_logout() {
    let sim = sim(1500, 5).await;
    let control = sim.control();
    let driver = chromedriver().await;
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path()).await;
    c.goto(&sim.base_url()).await.unwrap();
    wait_js(
        &c,
        "return window.Debug && window.require('WAWebSocketModel').Socket.state === 'UNPAIRED'",
        10,
    )
    .await;
    let stale = js(&c, QR_PAYLOAD).await.as_str().unwrap().to_string();
    wait_js(
        &c,
        &format!(
            "return window.require('WAWebConnModel').Conn.ref !== {:?}",
            stale.split(',').next().unwrap()
        ),
        5,
    )
    .await;
    // The page reports its new QR to the server asynchronously: wait until the server has it.
    for _ in 0..100 {
        if control
            .pages()
            .await
            .iter()
            .all(|p| p.qr.as_deref() != Some(stale.as_str()))
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        control.scan(&stale, Some("15550001234")).await.is_err(),
        "a stale QR is refused"
    );
    js(&c, RECORD_STATES).await;
    let current = js(&c, QR_PAYLOAD).await.as_str().unwrap().to_string();
    let device = control.scan(&current, Some("15550001234")).await.unwrap();
    assert_eq!(device.phone, "15550001234");
    wait_js(&c, "return window.require('WAWebSocketModel').Socket.hasSynced", 10).await;
    let log = js(&c, "return window.__log").await;
    assert_eq!(
        log,
        json!(["UNPAIRED", "PAIRING", "CONNECTED", "synced:true"]),
        "the linking sequence"
    );
    let me = js(
        &c,
        "return window.require('WAWebUserPrefsMeUser').getMaybeMePnUser()._serialized",
    )
    .await;
    assert_eq!(me, json!("15550001234@c.us"));
    assert_eq!(
        js(
            &c,
            "return window.require('WAWebOfflineHandler').OfflineMessageHandler.getOfflineDeliveryProgress()"
        )
        .await,
        json!(100)
    );

    // Text through §6.3: findOrCreateLatestChat, MsgKey, addAndSendMsgToChat → [added, sent].
    let sent = js(&c, "
        const r = window.require;
        const wid = r('WAWebWidFactory').createWid('15550002002@c.us');
        const chat = (await r('WAWebFindChatAction').findOrCreateLatestChat(wid)).chat;
        const from = r('WAWebUserPrefsMeUser').getMaybeMePnUser();
        const K = r('WAWebMsgKey');
        const id = await K.newId();
        const key = new K({ from, to: chat.id, id, selfDir: 'out' });
        window.__acks = [];
        r('WAWebCollections').Msg.on('change:ack', (m, a) => { if (m.id._serialized === key._serialized) window.__acks.push(a); });
        const [added, sent] = r('WAWebSendMsgChatAction').addAndSendMsgToChat(chat,
            { id: key, ack: 0, body: 'hello', from, to: chat.id, local: true, self: 'out', t: Math.floor(Date.now()/1000), isNewMsg: true, type: 'chat' });
        await added;
        const ackAtAdd = r('WAWebCollections').Msg.get(key._serialized).ack;
        await sent;
        return { id: key._serialized, hex: id, ackAtAdd };").await;
    let id = sent["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("true_15550002002@c.us_"), "{id}");
    let hex = sent["hex"].as_str().unwrap();
    assert!(
        hex.len() >= 16 && hex.len() <= 25 && hex.chars().all(|ch| ch.is_ascii_hexdigit() && !ch.is_ascii_lowercase()),
        "{hex}"
    );
    assert_eq!(sent["ackAtAdd"], json!(0));
    let acks = wait_js(&c, "return window.__acks.includes(3) && window.__acks", 10).await;
    assert_eq!(acks, json!([1, 2, 3]));
    let recorded = control.sent("15550001234").await;
    assert!(
        recorded
            .iter()
            .any(|r| r.id == id && r.body.as_deref() == Some("hello") && r.chat == "15550002002@c.us")
    );

    // Media through §6.4 with a 1 MB image.
    let image: Vec<u8> = b"\x89PNG\r\n\x1a\n"
        .iter()
        .copied()
        .chain((0..1_048_576u32).map(|i| (i * 7 % 256) as u8))
        .collect();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&image);
    let media = js_args(&c, "
        const r = window.require, [data, caption] = arguments;
        const bytes = Uint8Array.from(atob(data), ch => ch.charCodeAt(0));
        const file = new File([bytes], 'pic.png', { type: 'image/png' });
        const Opaque = r('WAWebMediaOpaqueData');
        const opaque = await Opaque.createFromData(file, 'image/png');
        const md = await r('WAWebPrepRawMedia').prepRawMedia(opaque, { asDocument: false, isPtt: false, asGif: false, asSticker: false }).waitForPrep();
        const mo = r('WAWebMediaStorage').getOrCreateMediaObject(md.filehash);
        const mediaType = r('WAWebMmsMediaTypes').msgToMediaType({ type: md.type, isGif: md.isGif });
        if (!(md.mediaBlob instanceof Opaque)) throw new Error('mediaBlob is not OpaqueData');
        mo.consolidate(md.toJSON());
        const { mediaEntry } = await r('WAWebMediaMmsV4Upload').uploadMedia({ mimetype: md.mimetype, mediaObject: mo, mediaType });
        md.set({ directPath: mediaEntry.directPath, mediaKey: mediaEntry.mediaKey, filehash: md.filehash });
        const wid = r('WAWebWidFactory').createWid('15550002002@c.us');
        const chat = (await r('WAWebFindChatAction').findOrCreateLatestChat(wid)).chat;
        const from = r('WAWebUserPrefsMeUser').getMaybeMePnUser();
        const K = r('WAWebMsgKey');
        const key = new K({ from, to: chat.id, id: await K.newId(), selfDir: 'out' });
        const [added, sent] = r('WAWebSendMsgChatAction').addAndSendMsgToChat(chat,
            { ...md.toJSON(), id: key, ack: 0, from, to: chat.id, self: 'out', t: 1, isNewMsg: true, caption, body: md.preview });
        await added; await sent;
        return { id: key._serialized, type: md.type };", vec![json!(b64), json!("a caption")]).await;
    assert_eq!(media["type"], json!("image"));
    let rec = control
        .sent("15550001234")
        .await
        .into_iter()
        .find(|r| r.id == media["id"].as_str().unwrap())
        .expect("recorded");
    assert_eq!(
        rec.sha256.as_deref(),
        Some(hex::encode(Sha256::digest(&image)).as_str()),
        "identical bytes"
    );
    assert_eq!(
        (rec.size, rec.msg_type.as_str(), rec.caption.as_deref()),
        (Some(image.len() as u64), "image", Some("a caption"))
    );

    // Incoming lands in Msg with isNewMsg.
    js(&c, "window.__in = []; window.require('WAWebCollections').Msg.on('add', m => { if (!m.id.fromMe) window.__in.push({ id: m.id._serialized, isNewMsg: m.isNewMsg, body: m.body, from: m.from._serialized, author: m.author ? String(m.author) : null }); }); return true").await;
    let id1 = control
        .deliver("15550001234", IncomingMessage::text("15550003003@c.us", "hi"))
        .await
        .unwrap();
    let mut group = IncomingMessage::text("120363000000000001@g.us", "hi group");
    group.author = Some("77788899900011@lid".into());
    let id2 = control.deliver("15550001234", group).await.unwrap();
    let got = wait_js(&c, "return window.__in.length >= 2 && window.__in", 10).await;
    assert_eq!(got[0]["id"], json!(id1));
    assert_eq!(
        (got[0]["isNewMsg"].clone(), got[0]["body"].clone()),
        (json!(true), json!("hi"))
    );
    assert_eq!(got[1]["id"], json!(id2));
    assert_eq!(id2.split('_').count(), 4, "group ids carry the author: {id2}");
    assert_eq!(got[1]["author"], json!("77788899900011@lid"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    c.close().await.unwrap();

    // The same profile boots OPENING → CONNECTED → synced, with no QR.
    let c = browser(&driver, profile.path()).await;
    c.goto(&sim.base_url()).await.unwrap();
    wait_js(&c, "return window.Debug && true", 10).await;
    js(&c, RECORD_STATES).await;
    wait_js(&c, "return window.require('WAWebSocketModel').Socket.hasSynced", 10).await;
    let log = js(&c, "return window.__log").await;
    assert!(
        !log.to_string().contains("UNPAIRED"),
        "no QR for a restored profile: {log}"
    );
    assert_eq!(
        js(&c, "return window.require('WAWebConnModel').Conn.ref").await,
        Value::Null
    );

    // Logout from the phone: Cmd logout, reload with post_logout=1, then unpaired.
    js(&c, "window.__logout = false; window.require('WAWebCmd').Cmd.on('logout', () => { sessionStorage.setItem('sawLogout', '1'); }); return true").await;
    control.logout_from_phone("15550001234").await.unwrap();
    wait_js(&c, "return location.search.includes('post_logout=1') && window.Debug && window.require('WAWebSocketModel').Socket.state === 'UNPAIRED'", 10).await;
    assert_eq!(js(&c, "return sessionStorage.getItem('sawLogout')").await, json!("1"));
    assert!(control.devices().await.is_empty());
    c.close().await.unwrap();
}

/// The pairing-code flow, and a module removed for the next load throws.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairing_code_and_removed_module() {
    let sim = sim(20_000, 5).await;
    let driver = chromedriver().await;
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path()).await;
    c.goto(&sim.base_url()).await.unwrap();
    wait_js(
        &c,
        "return window.Debug && window.require('WAWebSocketModel').Socket.state === 'UNPAIRED'",
        10,
    )
    .await;
    let code = js(
        &c,
        "
        const L = window.require('WAWebAltDeviceLinkingApi');
        L.setPairingType('ALT_DEVICE_LINKING');
        await L.initializeAltDeviceLinking();
        return await L.startAltLinkingFlow('15550005555', true);",
    )
    .await;
    let code = code.as_str().unwrap().to_string();
    assert_eq!(code.len(), 8);
    assert!(
        code.chars().all(|ch| ch.is_ascii_uppercase() || ch.is_ascii_digit()),
        "{code}"
    );
    assert_eq!(
        js(
            &c,
            "return window.require('WAWebUserPrefsMultiDevice').getADVSecretKey()"
        )
        .await,
        Value::Null,
        "no ADV secret in code mode"
    );
    assert!(sim.control().enter_pairing_code("ZZZZZZZZ").await.is_err());
    let device = sim.control().enter_pairing_code(&code).await.unwrap();
    assert_eq!(device.phone, "15550005555");
    wait_js(&c, "return window.require('WAWebSocketModel').Socket.hasSynced", 10).await;

    sim.control().remove_module("WAWebSendMsgChatAction").await;
    c.refresh().await.unwrap();
    wait_js(&c, "return window.Debug && true", 10).await;
    let err = js(
        &c,
        "try { window.require('WAWebSendMsgChatAction'); return null } catch (e) { return e.message }",
    )
    .await;
    assert_eq!(err, json!("Requiring unknown module \"WAWebSendMsgChatAction\""));
    assert_eq!(
        js(
            &c,
            "return typeof window.require('WAWebFindChatAction').findOrCreateLatestChat"
        )
        .await,
        json!("function")
    );
    sim.control().rename_module("WAWebCmd", "WAWebCmdRenamed").await;
    c.refresh().await.unwrap();
    wait_js(&c, "return window.Debug && true", 10).await;
    let renamed = js(&c, "try { window.require('WAWebCmd'); return 'present' } catch (e) { return typeof window.require('WAWebCmdRenamed').Cmd.on }").await;
    assert_eq!(renamed, json!("function"));
    c.close().await.unwrap();
}
