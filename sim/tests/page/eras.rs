//! The eras of WhatsApp Web (sim/README.md "Eras"): each change of 2026-09 as a client meets it,
//! and the fidelity points true of both eras.

use std::time::{Duration, Instant};

use fantoccini::Client;
use serde_json::{Value, json};
use wagate_sim::{Era, IncomingMedia, IncomingMessage, SimConfig, SimControl, Simulator};

use super::{QR_PAYLOAD, browser, chromedriver, js, js_args, wait_js};

async fn sim_in(era: Era) -> Simulator {
    Simulator::start(SimConfig {
        qr_rotation: Duration::from_secs(20),
        ..SimConfig::for_era(era)
    })
    .await
    .unwrap()
}

/// Scans the page's QR as `phone` and waits for `hasSynced`.
async fn link(c: &Client, control: &SimControl, phone: &str) {
    wait_js(
        c,
        "return window.Debug && window.require('WAWebSocketModel').Socket.state === 'UNPAIRED'",
        10,
    )
    .await;
    let qr = js(c, QR_PAYLOAD).await.as_str().unwrap().to_string();
    control.scan(&qr, Some(phone)).await.unwrap();
    wait_js(c, "return window.require('WAWebSocketModel').Socket.hasSynced", 15).await;
}

/// A text send through the §6.3 chain; the key's serialised form is read whatever its field.
const SEND_TEXT: &str = "
    const r = window.require, [to, body] = arguments;
    const chat = (await r('WAWebFindChatAction').findOrCreateLatestChat(r('WAWebWidFactory').createWid(to))).chat;
    const from = chat.id.isLid() ? r('WAWebUserPrefsMeUser').getMaybeMeLidUser() : r('WAWebUserPrefsMeUser').getMaybeMePnUser();
    const K = r('WAWebMsgKey');
    const key = new K({ from, to: chat.id, id: await K.newId(), selfDir: 'out' });
    const [added, sent] = r('WAWebSendMsgChatAction').addAndSendMsgToChat(chat,
        { id: key, ack: 0, body, from, to: chat.id, local: true, self: 'out', t: Math.floor(Date.now()/1000), isNewMsg: true, type: 'chat' });
    await added; await sent;
    return { serialized: key._serialized === undefined ? null : key._serialized, min: key.$1 === undefined ? null : key.$1,
             chat: chat.id._serialized, text: String(key), found: !!r('WAWebCollections').Msg.get(key) };";

/// Prepares an image as the reference client does (§6.4) and sends it; `normalise` deletes the
/// media model's private `__x_id` from the props first. Returns the error message or the key.
const SEND_MEDIA: &str = "
    const r = window.require, [to, normalise] = arguments;
    const file = new File([new Uint8Array([137, 80, 78, 71, 1, 2, 3])], 'p.png', { type: 'image/png' });
    const opaque = await r('WAWebMediaOpaqueData').createFromData(file, 'image/png');
    const md = await r('WAWebPrepRawMedia').prepRawMedia(opaque, {}).waitForPrep();
    const mo = r('WAWebMediaStorage').getOrCreateMediaObject(md.filehash);
    mo.consolidate(md.toJSON());
    const { mediaEntry } = await r('WAWebMediaMmsV4Upload').uploadMedia({ mimetype: md.mimetype, mediaObject: mo, mediaType: 'image' });
    md.set({ directPath: mediaEntry.directPath, mediaKey: mediaEntry.mediaKey });
    const chat = (await r('WAWebFindChatAction').findOrCreateLatestChat(r('WAWebWidFactory').createWid(to))).chat;
    const from = chat.id.isLid() ? r('WAWebUserPrefsMeUser').getMaybeMeLidUser() : r('WAWebUserPrefsMeUser').getMaybeMePnUser();
    const K = r('WAWebMsgKey');
    const key = new K({ from, to: chat.id, id: await K.newId(), selfDir: 'out' });
    const props = { ...md, ...md.toJSON(), id: key, ack: 0, from, to: chat.id, self: 'out', t: 1, isNewMsg: true, body: md.preview };
    if (normalise) delete props.__x_id;
    let avParams;
    try { avParams = md.avParams(); avParams = 'function'; } catch (e) { avParams = e.message; }
    try {
        const [added, sent] = r('WAWebSendMsgChatAction').addAndSendMsgToChat(chat, props);
        await added; await sent;
        return { ok: String(key), hasXId: '__x_id' in md, avParams, avParamsType: typeof md.avParams };
    } catch (e) {
        return { error: e.message, hasXId: '__x_id' in md, avParams, avParamsType: typeof md.avParams };
    }";

fn png() -> IncomingMedia {
    IncomingMedia {
        mimetype: "image/png".into(),
        filename: Some("in.png".into()),
        data: vec![137, 80, 78, 71, 9, 9, 9, 9],
    }
}

/// 2026-09 boot: `Debug.VERSION` comes before the module graph settles (half-registered
/// modules, a growing `__debug.modulesMap`); lazy modules throw until the Bootloader fetched their
/// component's bundle; a removed or unmapped lazy module stays absent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sep_late_registration_and_lazy_bundles() {
    let sim = sim_in(Era::Sep2026).await;
    let control = sim.control();
    control.remove_module("WAWebGroupCreateJob").await;
    control.unmap_lazy_module("WAWebSetPrivacyForOneCategoryAction").await;
    let driver = chromedriver().await;
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path()).await;
    c.goto(&sim.base_url()).await.unwrap();
    let version = wait_js(&c, "return window.Debug && window.Debug.VERSION", 10).await;
    assert_eq!(version, json!(Era::Sep2026.version()));
    // Watch the registry from the moment VERSION is seen, as an early injected script would.
    js(
        &c,
        "
        window.__seen = [];
        const snap = () => {
            let col = null;
            try { const m = window.require('WAWebCollections'); col = { msg: !!m.Msg, chat: !!m.Chat }; } catch (_) { col = 'missing'; }
            let send = true;
            try { window.require('WAWebSendMsgChatAction'); } catch (_) { send = false; }
            window.__seen.push({ n: Object.keys(window.require('__debug').modulesMap).length, col, send });
        };
        snap();
        window.__watch = setInterval(snap, 20);
        return true;",
    )
    .await;
    let auth = js(
        &c,
        "return typeof window.require('WAWebSocketModel').Socket.on === 'function' && typeof window.require('WAWebConnModel').Conn.on === 'function'",
    )
    .await;
    assert_eq!(auth, json!(true), "the auth stage is there with VERSION");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let seen = js(&c, "clearInterval(window.__watch); return window.__seen").await;
    let seen = seen.as_array().unwrap();
    let first = &seen[0];
    let last = seen.last().unwrap();
    assert_eq!(
        first["send"],
        json!(false),
        "send modules are not there at VERSION: {first}"
    );
    assert!(
        seen.iter().any(|s| s["col"] == json!({ "msg": true, "chat": false })),
        "WAWebCollections is seen half registered (Msg without Chat): {seen:?}"
    );
    assert_eq!(last["col"], json!({ "msg": true, "chat": true }));
    assert_eq!(last["send"], json!(true));
    assert!(
        last["n"].as_u64().unwrap() > first["n"].as_u64().unwrap(),
        "the module count grows, then settles"
    );

    // Lazy: absent, pre-declared null, loaded by the Bootloader.
    let before = js(
        &c,
        "
        const out = {};
        try { window.require('WAWebChatForwardMessage'); out.forward = 'present'; } catch (e) { out.forward = e.message; }
        out.community = window.require('WAWebGroupCommunityJob');
        const B = window.require('Bootloader');
        out.components = [...B.__debug.componentMap.keys()];
        try { B.loadModules(['WAWebNoSuchFlow.react'], () => {}, 'test'); out.unknown = null; } catch (e) { out.unknown = e.message; }
        return out;",
    )
    .await;
    assert_eq!(
        before["forward"],
        json!("Requiring unknown module \"WAWebChatForwardMessage\"")
    );
    assert_eq!(before["community"], Value::Null, "a pre-declared id answers null");
    let components: Vec<&str> = before["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(components.contains(&"WAWebMediaForwardMediaMsg"), "{components:?}");
    assert!(
        !components.contains(&"WAWebPrivacyVisibilityEditDrawer.react"),
        "an unmapped lazy module's components are gone: {components:?}"
    );
    assert!(before["unknown"].as_str().unwrap().contains("unknown component"));
    let after = js(
        &c,
        "
        const B = window.require('Bootloader');
        const n0 = Object.keys(window.require('__debug').modulesMap).length;
        await new Promise((res) => B.loadModules(['WAWebMediaForwardMediaMsg'], res, 'test'));
        await new Promise((res) => B.loadModules(['WAWebNewGroupFlow.react', 'WAWebGroupInviteLinkModal.react', 'WAWebEventsCreateEventModalFlow.react'], res, 'test'));
        const out = { added: Object.keys(window.require('__debug').modulesMap).length - n0 };
        out.forward = typeof window.require('WAWebChatForwardMessage').forwardMessages;
        out.toChats = typeof window.require('WAWebForwardMessagesToChat').forwardMessagesToChats;
        out.community = typeof window.require('WAWebGroupCommunityJob').deactivateCommunity;
        out.invite = typeof window.require('WAWebMexFetchGroupInviteCodeJob').fetchMexGroupInviteCode;
        out.event = typeof window.require('WAWebGenerateEventCallLink').createEventCallLink;
        try { window.require('WAWebGroupCreateJob'); out.create = 'present'; } catch (e) { out.create = e.message; }
        try { window.require('WAWebSetPrivacyForOneCategoryAction'); out.privacy = 'present'; } catch (e) { out.privacy = e.message; }
        return out;",
    )
    .await;
    assert_eq!(after["forward"], json!("function"), "{after}");
    assert_eq!(after["toChats"], json!("function"));
    assert_eq!(after["community"], json!("function"));
    assert_eq!(after["invite"], json!("function"));
    assert_eq!(after["event"], json!("function"));
    assert!(after["added"].as_u64().unwrap() >= 6, "{after}");
    assert_eq!(
        after["create"],
        json!("Requiring unknown module \"WAWebGroupCreateJob\""),
        "a removed lazy module stays absent after its bundle loads"
    );
    assert_eq!(
        after["privacy"],
        json!("Requiring unknown module \"WAWebSetPrivacyForOneCategoryAction\"")
    );
    c.close().await.unwrap();
}

/// 2026-09 after linking: message keys carry `$1` (no `_serialized`), Wids keep `_serialized`;
/// chats and senders are LIDs with the phone from WAWebApiContact; a media model's `__x_id`
/// breaks a send that does not drop it; `avParams` is data; a media message looked up by its
/// phone-form key is not found, and the download needs the mimetype.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sep_keys_lid_senders_and_media_models() {
    let sim = sim_in(Era::Sep2026).await;
    let control = sim.control();
    let driver = chromedriver().await;
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path()).await;
    c.goto(&sim.base_url()).await.unwrap();
    link(&c, &control, "15550007001").await;
    let peer_lid = format!("{}@lid", control.lid_for("15550007002").await);

    let text = js_args(&c, SEND_TEXT, vec![json!("15550007002@c.us"), json!("hi")]).await;
    assert_eq!(text["serialized"], Value::Null, "no cached _serialized: {text}");
    let min = text["min"].as_str().unwrap();
    assert!(min.starts_with(&format!("true_{peer_lid}_")), "{text}");
    assert_eq!(text["text"], json!(min), "String(key) is the same value");
    assert_eq!(
        text["chat"],
        json!(peer_lid),
        "Wids keep _serialized; the chat is the LID"
    );
    assert_eq!(text["found"], json!(true));
    let same = js_args(&c, SEND_TEXT, vec![json!(peer_lid), json!("again")]).await;
    assert_eq!(same["chat"], json!(peer_lid), "both forms reach the same chat");
    let rec = control
        .sent("15550007001")
        .await
        .into_iter()
        .find(|r| r.id == min)
        .expect("recorded");
    assert_eq!(rec.chat, peer_lid);
    assert_eq!(rec.chat_phone.as_deref(), Some("15550007002@c.us"));
    let ser = js(
        &c,
        "return window.require('WAWebCollections').Msg.getModelsArray().slice(-1)[0].serialize().id",
    )
    .await;
    assert!(ser.get("_serialized").is_none() && ser["$1"].is_string(), "{ser}");

    // Media: the naive spread fails, the normalised props send; avParams is data.
    let naive = js_args(&c, SEND_MEDIA, vec![json!("15550007002@c.us"), json!(false)]).await;
    assert_eq!(
        naive["error"],
        json!("Data passed to getter must include an id property (it's how we memoize)"),
        "{naive}"
    );
    assert_eq!(naive["hasXId"], json!(true));
    assert_eq!(naive["avParamsType"], json!("object"));
    assert!(
        naive["avParams"].as_str().unwrap().contains("is not a function"),
        "{naive}"
    );
    let fixed = js_args(&c, SEND_MEDIA, vec![json!("15550007002@c.us"), json!(true)]).await;
    let media_id = fixed["ok"].as_str().unwrap_or_else(|| panic!("{fixed}"));
    assert!(
        control
            .sent("15550007001")
            .await
            .iter()
            .any(|r| r.id == media_id && r.msg_type == "image" && r.size == Some(7))
    );

    // LID-first senders and the mapping.
    js(&c, "window.__in = []; window.require('WAWebCollections').Msg.on('add', m => { if (!m.id.fromMe) window.__in.push(m); }); return true").await;
    let id1 = control
        .deliver("15550007001", IncomingMessage::text("15550007003@c.us", "from a phone"))
        .await
        .unwrap();
    let lid3 = format!("{}@lid", control.lid_for("15550007003").await);
    assert!(id1.starts_with(&format!("false_{lid3}_")), "{id1}");
    let mut group = IncomingMessage::text("120363000000000002@g.us", "in a group");
    group.author = Some("15550007004@c.us".into());
    let id2 = control.deliver("15550007001", group).await.unwrap();
    let lid4 = format!("{}@lid", control.lid_for("15550007004").await);
    assert!(id2.ends_with(&format!("_{lid4}")), "{id2}");
    control.set_lid_mapping_known("15550007005", false).await;
    control
        .deliver("15550007001", IncomingMessage::text("15550007005@c.us", "hidden"))
        .await
        .unwrap();
    let got = wait_js(
        &c,
        "
        if (window.__in.length < 3) return null;
        const A = window.require('WAWebApiContact'), W = window.require('WAWebWidFactory');
        return window.__in.map(m => ({ id: m.id.$1, from: m.from._serialized, author: m.author ? m.author._serialized : null,
            phone: (A.getPhoneNumber(m.author || m.from) || { _serialized: null })._serialized }))
          .concat([{ lidOfPhone: (A.getCurrentLid(W.createWid('15550007003@c.us')) || {})._serialized }]);",
        10,
    )
    .await;
    assert_eq!(got[0]["id"], json!(id1));
    assert_eq!(got[0]["from"], json!(lid3));
    assert_eq!(got[0]["phone"], json!("15550007003@c.us"));
    assert_eq!(got[1]["author"], json!(lid4));
    assert_eq!(got[1]["phone"], json!("15550007004@c.us"));
    assert_eq!(got[2]["phone"], Value::Null, "a withheld mapping: no phone");
    assert_eq!(got[3]["lidOfPhone"], json!(lid3));

    // Media in a LID chat: found by its LID key only; the download needs the mimetype.
    let mut m = IncomingMessage::text("15550007003@c.us", "");
    m.body = None;
    m.media = Some(png());
    let mid = control.deliver("15550007001", m).await.unwrap();
    let phone_key = mid.replace(&lid3, "15550007003@c.us");
    let dl = wait_js(
        &c,
        &format!(
            "
        const Msg = window.require('WAWebCollections').Msg;
        const msg = Msg.get({mid:?});
        if (!msg) return null;
        const out = {{ byPhone: !!Msg.get({phone_key:?}), byPhoneStore: (await Msg.getMessagesById([{phone_key:?}])).messages.length,
                      avParams: typeof msg.avParams, stage: msg.mediaData.mediaStage }};
        const dm = window.require('WAWebDownloadManager').downloadManager;
        try {{ await dm.downloadAndMaybeDecrypt({{ directPath: msg.directPath, type: msg.type }}); out.noMime = 'ok'; }} catch (e) {{ out.noMime = e.message; }}
        out.bytes = new Uint8Array(await dm.downloadAndMaybeDecrypt({{ directPath: msg.directPath, type: msg.type, mimetype: msg.mimetype }})).length;
        return out;"
        ),
        10,
    )
    .await;
    assert_eq!(dl["byPhone"], json!(false), "{dl}");
    assert_eq!(dl["byPhoneStore"], json!(0));
    assert_eq!(dl["avParams"], json!("object"));
    assert_eq!(dl["stage"], json!("INIT"));
    assert!(
        dl["noMime"].as_str().unwrap().starts_with("InvalidMediaFileType"),
        "{dl}"
    );
    assert_eq!(dl["bytes"], json!(8));
    c.close().await.unwrap();
}

/// 2026-09 passkey prologue: a scan does not link until the passkey is approved; a denial
/// brings a fresh QR. The page says so through Cmd events and the Shortcake module.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sep_passkey_prologue_blocks_linking_until_approved() {
    let sim = sim_in(Era::Sep2026).await;
    let control = sim.control();
    control
        .set_passkey_required(Some("new device on this account".into()))
        .await;
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
    js(&c, "window.__pk = []; const C = window.require('WAWebCmd').Cmd;
        for (const ev of ['passkey_prologue_request', 'passkey_prologue_approved', 'passkey_prologue_denied']) C.on(ev, (req) => window.__pk.push([ev, req.rpId, req.userVerification, req.reason]));
        return true").await;
    let qr = js(&c, QR_PAYLOAD).await.as_str().unwrap().to_string();
    control.scan(&qr, Some("15550008001")).await.unwrap();
    let asked = wait_js(&c, "return window.__pk.length >= 1 && window.__pk", 10).await;
    assert_eq!(
        asked[0],
        json!([
            "passkey_prologue_request",
            "whatsapp.com",
            "required",
            "new device on this account"
        ])
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let waiting = js(&c, "const r = window.require; return { state: r('WAWebSocketModel').Socket.state, synced: r('WAWebSocketModel').Socket.hasSynced,
        pk: r('WAWebShortcakeLinkingHandlePasskeyPrologueRequest').getPasskeyPrologueState(), text: document.body.innerText }").await;
    assert_eq!(waiting["state"], json!("PAIRING"), "{waiting}");
    assert_eq!(waiting["synced"], json!(false), "linking waits for the passkey");
    assert_eq!(waiting["pk"], json!("PENDING"));
    assert!(waiting["text"].as_str().unwrap().contains("passkey"), "{waiting}");
    assert!(control.devices().await.is_empty(), "not linked yet");
    let pages = control.pages().await;
    assert_eq!(pages[0].passkey_pending_for.as_deref(), Some("15550008001"));

    // Denied: a fresh QR, nothing linked.
    control.deny_passkey("15550008001").await.unwrap();
    wait_js(
        &c,
        "return window.require('WAWebSocketModel').Socket.state === 'UNPAIRED' && window.__pk.length >= 2",
        10,
    )
    .await;
    assert_eq!(
        js(&c, "return window.__pk[1][0]").await,
        json!("passkey_prologue_denied")
    );
    assert!(control.devices().await.is_empty());
    assert!(control.approve_passkey("15550008001").await.is_err(), "nothing pending");

    // Approved: the link completes.
    let qr = wait_js(&c, QR_PAYLOAD, 10).await.as_str().unwrap().to_string();
    // The page reports its fresh QR to the server asynchronously.
    let deadline = Instant::now() + Duration::from_secs(5);
    while control.scan(&qr, Some("15550008001")).await.is_err() {
        assert!(Instant::now() < deadline, "the fresh QR is never scannable");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_js(&c, "return window.__pk.length >= 3", 10).await;
    let device = control.approve_passkey("15550008001").await.unwrap();
    assert_eq!(device.phone, "15550008001");
    wait_js(&c, "return window.require('WAWebSocketModel').Socket.hasSynced", 10).await;
    let end = js(&c, "return [window.__pk.map(e => e[0]), window.require('WAWebShortcakeLinkingHandlePasskeyPrologueRequest').getPasskeyPrologueState()]").await;
    assert_eq!(
        end,
        json!([
            [
                "passkey_prologue_request",
                "passkey_prologue_denied",
                "passkey_prologue_request",
                "passkey_prologue_approved"
            ],
            "APPROVED"
        ])
    );
    assert_eq!(control.devices().await.len(), 1);
    c.close().await.unwrap();
}

/// A wedged page keeps saying CONNECTED while its sends and exists queries never complete;
/// unwedged, the held send goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wedged_page_hangs_round_trips_while_connected() {
    let sim = sim_in(Era::Jan2026).await;
    let control = sim.control();
    let driver = chromedriver().await;
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver, profile.path()).await;
    c.goto(&sim.base_url()).await.unwrap();
    link(&c, &control, "15550009001").await;
    control.set_wedged("15550009001", true).await.unwrap();
    assert!(control.set_wedged("19999999999", true).await.is_err());
    js(
        &c,
        "
        const r = window.require;
        window.__w = { added: false, sent: false, exists: false };
        const chat = (await r('WAWebFindChatAction').findOrCreateLatestChat(r('WAWebWidFactory').createWid('15550009002@c.us'))).chat;
        const from = r('WAWebUserPrefsMeUser').getMaybeMePnUser();
        const K = r('WAWebMsgKey');
        const key = new K({ from, to: chat.id, id: await K.newId(), selfDir: 'out' });
        const [added, sent] = r('WAWebSendMsgChatAction').addAndSendMsgToChat(chat,
            { id: key, ack: 0, body: 'stuck?', from, to: chat.id, local: true, self: 'out', t: 1, isNewMsg: true, type: 'chat' });
        added.then(() => { window.__w.added = true; });
        sent.then(() => { window.__w.sent = true; });
        r('WAWebQueryExistsJob').queryWidExists(r('WAWebWidFactory').createWid('15550009003@c.us')).then(() => { window.__w.exists = true; });
        return true;",
    )
    .await;
    control
        .deliver("15550009001", IncomingMessage::text("15550009004@c.us", "held"))
        .await
        .unwrap();
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let w = js(&c, "const S = window.require('WAWebSocketModel').Socket; return { w: window.__w, state: S.state, synced: S.hasSynced,
        incoming: window.require('WAWebCollections').Msg.getModelsArray().filter(m => !m.id.fromMe).length }").await;
    assert_eq!(
        w,
        json!({ "w": { "added": true, "sent": false, "exists": false }, "state": "CONNECTED", "synced": true, "incoming": 0 }),
        "after {:?}",
        started.elapsed()
    );
    assert!(control.sent("15550009001").await.is_empty());
    control.set_wedged("15550009001", false).await.unwrap();
    let w = wait_js(&c, "return window.__w.sent && window.__w.exists && window.__w", 10).await;
    assert_eq!(w["sent"], json!(true));
    assert_eq!(control.sent("15550009001").await.len(), 1);
    wait_js(
        &c,
        "return window.require('WAWebCollections').Msg.getModelsArray().some(m => !m.id.fromMe && m.body === 'held')",
        25,
    )
    .await;
    c.close().await.unwrap();
}

/// True of the real page in both eras: plain-data models, `Conn.ref` kept while pairing, a
/// populated Contact collection with `find`, incoming media with `mediaData` and
/// `downloadMedia()`, `WAWebAdvSignatureApi` at the QR stage. Checked in 2026-01, then the era
/// is switched through the HTTP control API and the next load is a 2026-09 page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fidelity_points_and_era_switch() {
    let sim = sim_in(Era::Jan2026).await;
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
    let qr_stage = js(
        &c,
        "const r = window.require; return { adv: await r('WAWebAdvSignatureApi').getADVSecretKey(), md: r('WAWebUserPrefsMultiDevice').getADVSecretKey(),
            forward: typeof r('WAWebChatForwardMessage').forwardMessages, boot: typeof r('Bootloader').loadModules }",
    )
    .await;
    assert!(qr_stage["adv"].is_string(), "{qr_stage}");
    assert_eq!(qr_stage["adv"], qr_stage["md"]);
    assert_eq!(qr_stage["forward"], json!("function"), "2026-01: no lazy bundles");
    assert_eq!(qr_stage["boot"], json!("function"));

    js(&c, "window.__refs = []; const S = window.require('WAWebSocketModel').Socket, C = window.require('WAWebConnModel').Conn;
        S.on('change:state', (_m, s) => { if (s === 'PAIRING') window.__refs.push(C.ref); });
        C.on('change:ref', (_m, ref) => window.__refs.push('change:' + ref)); return true").await;
    let qr = js(&c, QR_PAYLOAD).await.as_str().unwrap().to_string();
    control.scan(&qr, Some("15550006001")).await.unwrap();
    wait_js(&c, "return window.require('WAWebSocketModel').Socket.hasSynced", 10).await;
    let refs = js(&c, "return [window.__refs, window.require('WAWebConnModel').Conn.ref]").await;
    let last_ref = qr.split(',').next().unwrap();
    assert_eq!(
        refs,
        json!([[last_ref], last_ref]),
        "Conn.ref keeps its value while pairing"
    );

    control
        .deliver("15550006001", IncomingMessage::text("15550006002@c.us", "hello"))
        .await
        .unwrap();
    let mut m = IncomingMessage::text("15550006002@c.us", "");
    m.media = Some(png());
    let mid = control.deliver("15550006001", m).await.unwrap();
    let got = wait_js(
        &c,
        &format!(
            "
        const r = window.require, Msg = r('WAWebCollections').Msg, msg = Msg.get({mid:?});
        if (!msg) return null;
        const text = Msg.getModelsArray().find(m => m.body === 'hello');
        const chat = r('WAWebCollections').Chat.get('15550006002@c.us');
        const Contact = r('WAWebCollections').Contact;
        const found = await Contact.find(r('WAWebWidFactory').createWid('15550006002@c.us'));
        const other = await Contact.find(r('WAWebWidFactory').createWid('15550006999@c.us'));
        const out = {{
            msgKeys: Object.keys({{ ...text }}), chatKeys: Object.keys({{ ...chat }}), socketKeys: Object.keys(r('WAWebSocketModel').Socket),
            json: JSON.stringify({{ ...text }}).length > 0,
            contacts: Contact.getModelsArray().map(c => c.id._serialized),
            found: found && found.id._serialized, foundName: found && found.pushname, other: other && other.id._serialized,
            key: {{ s: msg.id._serialized, min: msg.id.$1 === undefined }},
            stage: msg.mediaData.mediaStage, dl: typeof msg.downloadMedia, avParams: typeof msg.avParams,
        }};
        await msg.downloadMedia({{ downloadEvenIfExpensive: true, rmrReason: 1 }});
        out.after = msg.mediaData.mediaStage;
        return out;"
        ),
        10,
    )
    .await;
    let keys = |k: &str| -> Vec<String> {
        got[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    for k in ["msgKeys", "chatKeys", "socketKeys"] {
        let ks = keys(k);
        assert!(
            !ks.iter()
                .any(|n| ["_handlers", "_attrs", "collection", "trigger", "msgs", "_models"].contains(&n.as_str())),
            "{k}: {ks:?}"
        );
    }
    assert!(
        keys("msgKeys").contains(&"body".to_string()),
        "attributes stay enumerable"
    );
    assert!(keys("socketKeys").contains(&"state".to_string()));
    assert_eq!(got["json"], json!(true));
    let contacts = keys("contacts");
    assert!(
        contacts.contains(&"15550006001@c.us".to_string()) && contacts.contains(&"15550006002@c.us".to_string()),
        "{contacts:?}"
    );
    assert_eq!(got["found"], json!("15550006002@c.us"));
    assert_eq!(got["other"], json!("15550006999@c.us"), "find resolves any user");
    assert_eq!(
        got["key"],
        json!({ "s": mid, "min": true }),
        "2026-01 keys: _serialized"
    );
    assert_eq!(got["stage"], json!("INIT"));
    assert_eq!(got["dl"], json!("function"));
    assert_eq!(got["avParams"], json!("function"), "2026-01: avParams is a function");
    assert_eq!(got["after"], json!("RESOLVED"));

    // Switch the era through the HTTP control API: the next load is a 2026-09 page.
    let switched = js(
        &c,
        "const r = await fetch('/control/api/era', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ era: '2026-09' }) });
         return [r.status, await (await fetch('/control/api/era')).json()]",
    )
    .await;
    assert_eq!(switched, json!([200, { "era": "2026-09" }]));
    assert_eq!(control.era().await, Era::Sep2026);
    c.refresh().await.unwrap();
    wait_js(&c, "return window.require('WAWebSocketModel').Socket.hasSynced", 15).await;
    let sep = js(
        &c,
        "const r = window.require; let fwd; try { r('WAWebChatForwardMessage'); fwd = 'present'; } catch (e) { fwd = 'absent'; }
         return { v: window.Debug.VERSION, pk: typeof r('WAWebShortcakeLinkingHandlePasskeyPrologueRequest').getPasskeyPrologueState, fwd,
                  adv: typeof r('WAWebAdvSignatureApi').getADVSecretKey }",
    )
    .await;
    assert_eq!(
        sep,
        json!({ "v": Era::Sep2026.version(), "pk": "function", "fwd": "absent", "adv": "function" })
    );
    assert!(control.pages().await.iter().any(|p| p.era == Era::Sep2026));
    c.close().await.unwrap();
}

/// The reference client's call hook, as it installs it (wa-web-surface §7.2 `call`): the
/// collection's own Map, found by `instanceof`, its `set` wrapped.
const HOOK_CALLS: &str = "
    window.__calls = [];
    const C = window.require('WAWebCallCollection');
    if (!C || typeof C.on !== 'function') return 'calls disabled';
    const mapKey = Object.keys(C).find((k) => C[k] instanceof Map);
    const map = C[mapKey];
    const originalMapSet = map.set.bind(map);
    map.set = function (key, value) {
        window.__calls.push({ id: value.id, peerJid: value.peerJid, isVideo: value.isVideo, isGroup: value.isGroup,
            canHandleLocally: value.canHandleLocally, outgoing: value.outgoing,
            webClientShouldHandle: value.webClientShouldHandle, participants: value.participants });
        return originalMapSet(key, value);
    };
    return mapKey;";

/// The reference client's `rejectCall(peerJid, id)` (its WAWap / WADeprecatedSendIq path), with
/// `peerJid` as it comes back from the client: the serialised Wid object.
const REJECT_CALL: &str = "
    const r = window.require, [peerJid, id] = arguments;
    const me = r('WAWebUserPrefsMeUser').getMaybeMePnUser();
    const userId = me._serialized || me.$1;
    const stanza = r('WAWap').wap('call', { id: r('WAWap').generateId(), from: userId, to: peerJid },
        [r('WAWap').wap('reject', { 'call-id': id, 'call-creator': peerJid, count: '0' })]);
    await r('WADeprecatedSendIq').deprecatedCastStanza(stanza);
    return true;";

/// Calls in both eras: an offer from the phone side rings in `WAWebCallCollection` (the caller a
/// LID on 2026-09 pages, its phone known), the reference client's reject stanza declines it for
/// the caller and the call leaves the collection; an unanswered one is missed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_ring_in_the_collection_and_a_reject_stanza_declines_them() {
    let driver = chromedriver().await;
    for (era, device, caller) in [
        (Era::Jan2026, "15550008001", "15550008002"),
        (Era::Sep2026, "15550008101", "15550008102"),
    ] {
        let sim = sim_in(era).await;
        let control = sim.control();
        let profile = tempfile::tempdir().unwrap();
        let c = browser(&driver, profile.path()).await;
        c.goto(&sim.base_url()).await.unwrap();
        link(&c, &control, device).await;
        let key = js(&c, HOOK_CALLS).await;
        assert!(key.is_string(), "{era}: the collection holds a Map: {key}");

        let offer = |ring_secs| wagate_sim::CallOffer {
            from: format!("{caller}@c.us"),
            is_video: true,
            is_group: false,
            ring_secs,
        };
        let id = control.offer_call(device, offer(None)).await.unwrap();
        let seen = wait_js(&c, "return window.__calls.length ? window.__calls : null", 10).await;
        let call = &seen[0];
        let peer = match era {
            Era::Jan2026 => format!("{caller}@c.us"),
            Era::Sep2026 => format!("{}@lid", control.lid_for(caller).await),
        };
        assert_eq!(
            (call["id"].as_str(), call["peerJid"]["_serialized"].as_str()),
            (Some(id.as_str()), Some(peer.as_str())),
            "{era}: {call}"
        );
        assert_eq!(
            (
                call["isVideo"].as_bool(),
                call["isGroup"].as_bool(),
                call["outgoing"].as_bool()
            ),
            (Some(true), Some(false), Some(false)),
            "{era}: {call}"
        );
        if era == Era::Sep2026 {
            let pn = js_args(
                &c,
                "const r = window.require; const w = r('WAWebApiContact').getPhoneNumber(r('WAWebWidFactory').createWid(arguments[0])); return w && w._serialized",
                vec![json!(peer)],
            )
            .await;
            assert_eq!(pn, json!(format!("{caller}@c.us")), "the caller's phone is mapped");
        }

        js_args(&c, REJECT_CALL, vec![call["peerJid"].clone(), json!(id)]).await;
        let rec = control.calls(device).await.remove(0);
        assert_eq!(rec.state, wagate_sim::CallState::Rejected, "{era}");
        assert_eq!(rec.reject_stanza.unwrap()["call-creator"], json!(peer), "{era}");
        wait_js(
            &c,
            &format!("return !window.require('WAWebCallCollection').get({id:?})"),
            10,
        )
        .await;

        let missed = control.offer_call(device, offer(Some(1))).await.unwrap();
        wait_js(
            &c,
            &format!("return !!window.require('WAWebCallCollection').get({missed:?})"),
            10,
        )
        .await;
        wait_js(
            &c,
            &format!("return !window.require('WAWebCallCollection').get({missed:?})"),
            10,
        )
        .await;
        let rec = control.calls(device).await.remove(1);
        assert_eq!((rec.id, rec.state), (missed, wagate_sim::CallState::Missed), "{era}");
        c.close().await.unwrap();
        sim.stop().await;
    }
}

/// Forwarding as `WAWebChatForwardMessage.forwardMessages({chat, msgs, …})` does it (a copy keyed
/// anew, marked forwarded unless it copies one's own original, the count growing; revoked
/// messages refused by `canForwardMsg` and skipped), reached through the Bootloader in 2026-09;
/// and presence: only a subscribed chat gets it, into `WAWebPresenceCollection`'s model.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_and_presence_as_the_page_does() {
    const FORWARD: &str = "
        const r = window.require, [to, id] = arguments;
        if (!r('__debug').modulesMap.WAWebChatForwardMessage) {
            await new Promise((res) => r('Bootloader').loadModules(['WAWebForwardMessageFlow.react'], res, 'test'));
        }
        const Msg = r('WAWebCollections').Msg;
        const msg = Msg.get(id);
        const chat = (await r('WAWebFindChatAction').findOrCreateLatestChat(r('WAWebWidFactory').createWid(to))).chat;
        const before = chat.msgs.getModelsArray().length;
        const can = r('WAWebMsgActionCapability').canForwardMsg(msg);
        const failed = await r('WAWebChatForwardMessage').forwardMessages({ chat, msgs: [msg], multicast: false, includeCaption: true });
        const copies = chat.msgs.getModelsArray().slice(before);
        const copy = copies[0];
        return { can, failed: failed.length, copies: copies.length,
                 copy: copy ? { id: String(copy.id), fromMe: copy.id.fromMe, type: copy.type, body: copy.body,
                                isForwarded: copy.isForwarded, forwardingScore: copy.forwardingScore } : null };";
    const SUBSCRIBE: &str = "
        const r = window.require, [to] = arguments;
        const chat = (await r('WAWebFindChatAction').findOrCreateLatestChat(r('WAWebWidFactory').createWid(to))).chat;
        const bridge = r('WAWebContactPresenceBridge');
        await (bridge.subscribePresence || bridge.subscribeUserPresence)(chat.id);
        const p = await r('WAWebPresenceCollection').PresenceCollection.find(chat.id);
        return { chat: chat.id._serialized, split: typeof bridge.subscribePresence !== 'function',
                 group: typeof bridge.subscribeGroupPresence, subscribed: p.isSubscribed };";
    const PRESENCE: &str = "
        const p = window.require('WAWebPresenceCollection').PresenceCollection.get(arguments[0]);
        return p ? { isOnline: p.isOnline, type: p.chatstate.type, t: p.chatstate.t || null, hasData: p.hasData } : null;";
    for (era, device) in [(Era::Jan2026, "15550007101"), (Era::Sep2026, "15550007201")] {
        let sim = sim_in(era).await;
        let control = sim.control();
        let driver = chromedriver().await;
        let profile = tempfile::tempdir().unwrap();
        let c = browser(&driver, profile.path()).await;
        c.goto(&sim.base_url()).await.unwrap();
        link(&c, &control, device).await;
        let peer = format!("{}2@c.us", &device[..10]);
        let other = format!("{}3@c.us", &device[..10]);

        // Ours: a copy, not marked forwarded.
        let sent = js_args(&c, SEND_TEXT, vec![json!(peer), json!("mine")]).await;
        let own = js_args(&c, FORWARD, vec![json!(other), sent["text"].clone()]).await;
        assert_eq!(
            (own["can"].clone(), own["failed"].clone(), own["copies"].clone()),
            (json!(true), json!(0), json!(1)),
            "{era:?} {own}"
        );
        let copy = &own["copy"];
        assert_eq!(
            (copy["fromMe"].clone(), copy["type"].clone(), copy["body"].clone()),
            (json!(true), json!("chat"), json!("mine"))
        );
        assert_eq!(
            (copy["isForwarded"].clone(), copy["forwardingScore"].clone()),
            (json!(false), json!(0)),
            "{era:?} {copy}"
        );
        assert_ne!(copy["id"], sent["text"], "keyed anew");
        let rec = control
            .sent(device)
            .await
            .into_iter()
            .find(|r| json!(r.id) == copy["id"])
            .expect("on the server");
        assert_eq!(
            (rec.body.as_deref(), rec.is_forwarded, rec.forwarding_score),
            (Some("mine"), false, 0)
        );

        // Theirs, forwarded to them four times already: the copy says "many times".
        let theirs = control
            .deliver(
                device,
                IncomingMessage {
                    forwarding_score: Some(4),
                    ..IncomingMessage::text(&peer, "viral")
                },
            )
            .await
            .unwrap();
        wait_js(
            &c,
            &format!("return !!window.require('WAWebCollections').Msg.get('{theirs}')"),
            10,
        )
        .await;
        let fwd = js_args(&c, FORWARD, vec![json!(other), json!(theirs)]).await;
        assert_eq!(
            (
                fwd["copy"]["isForwarded"].clone(),
                fwd["copy"]["forwardingScore"].clone()
            ),
            (json!(true), json!(127)),
            "{era:?} {fwd}"
        );

        // Deleted for everyone: refused by the check, and forwarding it makes no copy.
        control.revoke_message(device, &theirs).await.unwrap();
        wait_js(
            &c,
            &format!("return window.require('WAWebCollections').Msg.get('{theirs}').type === 'revoked'"),
            10,
        )
        .await;
        let revoked = js_args(&c, FORWARD, vec![json!(other), json!(theirs)]).await;
        assert_eq!(
            (revoked["can"].clone(), revoked["copies"].clone()),
            (json!(false), json!(0)),
            "{era:?} {revoked}"
        );

        // Presence: the subscribed chat's model follows; another chat hears nothing.
        let sub = js_args(&c, SUBSCRIBE, vec![json!(peer)]).await;
        assert_eq!(sub["subscribed"], json!(true), "{sub}");
        assert_eq!(sub["split"], json!(era == Era::Sep2026), "{era:?}: {sub}");
        let presence = |state: &str, from: &str| wagate_sim::IncomingPresence {
            from: from.into(),
            state: state.into(),
            chat: None,
        };
        assert!(
            control
                .set_presence(device, presence("composing", &peer))
                .await
                .unwrap()
        );
        assert!(
            !control
                .set_presence(device, presence("composing", &other))
                .await
                .unwrap(),
            "not subscribed"
        );
        let chat = sub["chat"].as_str().unwrap().to_string();
        wait_js(&c, &format!("const p = window.require('WAWebPresenceCollection').PresenceCollection.get('{chat}'); return p.chatstate.type === 'typing'"), 10).await;
        assert!(
            control
                .set_presence(device, presence("unavailable", &peer))
                .await
                .unwrap()
        );
        wait_js(&c, &format!("const p = window.require('WAWebPresenceCollection').PresenceCollection.get('{chat}'); return p.chatstate.type === 'unavailable'"), 10).await;
        let now = js_args(&c, PRESENCE, vec![json!(chat)]).await;
        assert_eq!(
            (now["isOnline"].clone(), now["hasData"].clone()),
            (json!(false), json!(true)),
            "{now}"
        );
        assert!(now["t"].as_i64().is_some_and(|t| t > 1_700_000_000), "last seen: {now}");
        c.close().await.unwrap();
    }
}
