//! HTTP: the WhatsApp Web page, the page's own API (`/sim/api/…`, what WhatsApp's servers would
//! be), and the control API (`/control/api/…`) with its hand-driven page at `/control`.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::http::StatusCode;
use actix_web::{App, HttpResponse, HttpServer, web};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Era;
use crate::control::{
    CallOffer, ChatSeed, ContactSeed, GroupChange, IncomingMessage, IncomingPresence, IncomingReaction, IncomingVote,
    Profile, SimControl, SimError,
};

const PAGE_JS: &str = include_str!("page.js");
const PAGE_CSS: &str = include_str!("page.css");
const CONTROL_HTML: &str = include_str!("control.html");

pub fn build(listener: TcpListener, control: SimControl) -> std::io::Result<Server> {
    let data = web::Data::new(control);
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::default().limit(128 * 1024 * 1024))
            .app_data(web::JsonConfig::default().limit(64 * 1024 * 1024))
            .route("/", web::get().to(page))
            .route("/sim/qr.png", web::get().to(qr_png))
            .service(
                web::scope("/sim/api")
                    .route("/hello", web::post().to(hello))
                    .route("/poll", web::get().to(poll))
                    .route("/qr", web::post().to(report_qr))
                    .route("/pairing-code", web::post().to(pairing_code))
                    .route("/exists", web::post().to(exists))
                    .route("/upload", web::post().to(upload))
                    .route("/media", web::get().to(media))
                    .route("/send", web::post().to(send))
                    .route("/chatstate", web::post().to(chat_state))
                    .route("/presence/subscribe", web::post().to(presence_subscribe))
                    .route("/logout", web::post().to(page_logout))
                    .route("/history", web::post().to(history))
                    .route("/profile", web::post().to(profile))
                    .route("/group", web::post().to(group))
                    .route("/block", web::post().to(block))
                    .route("/stanza", web::post().to(stanza)),
            )
            .route(
                "/control",
                web::get().to(|| async {
                    HttpResponse::Ok()
                        .content_type("text/html; charset=utf-8")
                        .body(CONTROL_HTML)
                }),
            )
            .service(
                web::scope("/control/api")
                    .route("/pages", web::get().to(c_pages))
                    .route("/devices", web::get().to(c_devices))
                    .route("/scan", web::post().to(c_scan))
                    .route("/pair", web::post().to(c_pair))
                    .route("/deliver", web::post().to(c_deliver))
                    .route("/send-from-phone", web::post().to(c_send_from_phone))
                    .route("/react", web::post().to(c_react))
                    .route("/presence", web::post().to(c_presence))
                    .route("/polls/vote", web::post().to(c_vote))
                    .route("/edit", web::post().to(c_edit))
                    .route("/revoke", web::post().to(c_revoke))
                    .route("/sent", web::get().to(c_sent))
                    .route("/ack", web::post().to(c_ack))
                    .route("/auto-acks", web::post().to(c_auto_acks))
                    .route("/latency", web::post().to(c_latency))
                    .route("/fail-sends", web::post().to(c_fail_sends))
                    .route("/logout", web::post().to(c_logout))
                    .route("/state", web::post().to(c_state))
                    .route("/numbers", web::post().to(c_numbers))
                    .route("/modules/remove", web::post().to(c_remove_module))
                    .route("/modules/rename", web::post().to(c_rename_module))
                    .route("/modules/restore", web::post().to(c_restore_modules))
                    .route("/modules/unmap", web::post().to(c_unmap_module))
                    .route("/era", web::get().to(c_get_era))
                    .route("/era", web::post().to(c_set_era))
                    .route("/passkey", web::post().to(c_passkey))
                    .route("/passkey/approve", web::post().to(c_passkey_approve))
                    .route("/passkey/deny", web::post().to(c_passkey_deny))
                    .route("/wedge", web::post().to(c_wedge))
                    .route("/lid", web::get().to(c_lid))
                    .route("/lid-mapping", web::post().to(c_lid_mapping))
                    .route("/chats", web::post().to(c_seed_chat))
                    .route("/contacts", web::post().to(c_seed_contact))
                    .route("/profiles", web::post().to(c_set_profile))
                    .route("/groups/change", web::post().to(c_change_group))
                    .route("/calls", web::get().to(c_calls))
                    .route("/calls/offer", web::post().to(c_offer_call))
                    .route("/calls/end", web::post().to(c_end_call)),
            )
    })
    .workers(2)
    .disable_signals()
    .listen(listener)?
    .run())
}

fn err(status: StatusCode, e: impl ToString) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "error": e.to_string() }))
}

fn sim_err(e: SimError) -> HttpResponse {
    let status = match e {
        SimError::StaleQr | SimError::UnknownCode => StatusCode::CONFLICT,
        SimError::UnknownDevice(_) | SimError::UnknownMessage(_) | SimError::UnknownCall(_) => StatusCode::NOT_FOUND,
        SimError::Invalid(_) => StatusCode::BAD_REQUEST,
    };
    err(status, e)
}

async fn page(c: web::Data<SimControl>) -> HttpResponse {
    let setup = c.page_setup();
    // Unless a test chose its own build, the page shows a build of its era.
    let version = if [Era::Jan2026, Era::Sep2026]
        .iter()
        .any(|e| e.version() == c.cfg.version)
    {
        setup.era.version().to_string()
    } else {
        c.cfg.version.clone()
    };
    let cfg = json!({
        "era": setup.era,
        "lateRegistrationMs": c.cfg.late_registration.as_millis() as u64,
        "unmappedModules": setup.unmapped,
        "qrRotationMs": c.cfg.qr_rotation.as_millis() as u64,
        "qrMaxRotations": c.cfg.qr_max_rotations,
        "versionDelayMs": c.cfg.version_delay.as_millis() as u64,
        "syncMs": c.cfg.sync_duration.as_millis() as u64,
        "version": version,
        "platform": c.cfg.platform,
        "removedModules": setup.removed,
        "renamedModules": setup.renamed.into_iter().collect::<std::collections::HashMap<_, _>>(),
    });
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>WhatsApp</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><style>{PAGE_CSS}</style></head>\
         <body><div id=\"app\"></div><script>window.__SIM_CONFIG = {cfg};</script><script>{PAGE_JS}</script></body></html>"
    );
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(html)
}

#[derive(Deserialize)]
struct QrQuery {
    data: String,
}

async fn qr_png(q: web::Query<QrQuery>) -> HttpResponse {
    let Ok(code) = qrcode::QrCode::new(q.data.as_bytes()) else {
        return err(StatusCode::BAD_REQUEST, "cannot encode");
    };
    let img = code.render::<image::Luma<u8>>().min_dimensions(264, 264).build();
    let mut out = std::io::Cursor::new(Vec::new());
    if img.write_to(&mut out, image::ImageFormat::Png).is_err() {
        return err(StatusCode::INTERNAL_SERVER_ERROR, "png");
    }
    HttpResponse::Ok().content_type("image/png").body(out.into_inner())
}

// --- the page's API ----------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Hello {
    device_id: String,
    page: Option<String>,
    era: Option<Era>,
}

async fn hello(c: web::Data<SimControl>, b: web::Json<Hello>) -> HttpResponse {
    HttpResponse::Ok().json(c.hello(&b.device_id, b.page.as_deref(), b.era.unwrap_or_default()))
}

#[derive(Deserialize)]
struct PageQuery {
    page: String,
}

async fn poll(c: web::Data<SimControl>, q: web::Query<PageQuery>) -> HttpResponse {
    match c.poll(&q.page, Duration::from_secs(20)).await {
        Some(cmds) => HttpResponse::Ok().json(cmds),
        None => err(StatusCode::GONE, "unknown page"),
    }
}

#[derive(Deserialize)]
struct QrReport {
    page: String,
    payload: Option<String>,
}

async fn report_qr(c: web::Data<SimControl>, b: web::Json<QrReport>) -> HttpResponse {
    let b = b.into_inner();
    c.report_qr(&b.page, b.payload);
    HttpResponse::Ok().json(json!({}))
}

#[derive(Deserialize)]
struct CodeRequest {
    page: String,
    phone: String,
}

async fn pairing_code(c: web::Data<SimControl>, b: web::Json<CodeRequest>) -> HttpResponse {
    match c.new_pairing_code(&b.page, &b.phone) {
        Ok(code) => HttpResponse::Ok().json(json!({ "code": code })),
        Err(e) => sim_err(e),
    }
}

#[derive(Deserialize)]
struct ExistsRequest {
    #[serde(default)]
    page: String,
    number: String,
    #[serde(default)]
    server: String,
}

async fn exists(c: web::Data<SimControl>, b: web::Json<ExistsRequest>) -> HttpResponse {
    c.wait_unwedged(&b.page).await;
    HttpResponse::Ok().json(c.exists(&b.page, &b.number, &b.server))
}

#[derive(Deserialize)]
struct UploadQuery {
    #[serde(default)]
    page: String,
}

async fn upload(c: web::Data<SimControl>, q: web::Query<UploadQuery>, body: web::Bytes) -> HttpResponse {
    c.wait_unwedged(&q.page).await;
    HttpResponse::Ok().json(c.store_upload(&body))
}

#[derive(Deserialize)]
struct MediaQuery {
    path: String,
    #[serde(default)]
    page: String,
}

async fn media(c: web::Data<SimControl>, q: web::Query<MediaQuery>) -> HttpResponse {
    c.wait_unwedged(&q.page).await;
    match c.media_bytes(&q.path) {
        Some(bytes) => HttpResponse::Ok().content_type("application/octet-stream").body(bytes),
        None => err(StatusCode::NOT_FOUND, "no such media"),
    }
}

async fn send(c: web::Data<SimControl>, b: web::Json<Value>) -> HttpResponse {
    let page = b.get("page").and_then(Value::as_str).unwrap_or_default().to_string();
    c.wait_unwedged(&page).await;
    match c.record_send(&page, &b).await {
        Ok(()) => HttpResponse::Ok().json(json!({ "ok": true })),
        Err(e) => err(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn chat_state(c: web::Data<SimControl>, b: web::Json<Value>) -> HttpResponse {
    let s = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    c.wait_unwedged(&s("page")).await;
    match c.record_chat_state(&s("page"), &s("chat"), &s("state")) {
        Ok(()) => HttpResponse::Ok().json(json!({ "ok": true })),
        Err(e) => err(StatusCode::BAD_REQUEST, e),
    }
}

async fn presence_subscribe(c: web::Data<SimControl>, b: web::Json<Value>) -> HttpResponse {
    let s = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    c.wait_unwedged(&s("page")).await;
    match c.subscribe_presence(&s("page"), &s("id")) {
        Ok(presence) => HttpResponse::Ok().json(json!({ "presence": presence })),
        Err(e) => err(StatusCode::BAD_REQUEST, e),
    }
}

async fn page_logout(c: web::Data<SimControl>, b: web::Json<PageQuery>) -> HttpResponse {
    c.remember_logout(&b.page);
    HttpResponse::Ok().json(json!({}))
}

#[derive(Deserialize)]
struct HistoryRequest {
    page: String,
    chat: String,
    #[serde(default)]
    before: String,
    count: usize,
}

async fn history(c: web::Data<SimControl>, b: web::Json<HistoryRequest>) -> HttpResponse {
    c.wait_unwedged(&b.page).await;
    match c.history(&b.page, &b.chat, &b.before, b.count.clamp(1, 200)) {
        Ok(v) => HttpResponse::Ok().json(v),
        Err(e) => err(StatusCode::BAD_REQUEST, e),
    }
}

#[derive(Deserialize)]
struct ProfileRequest {
    page: String,
    id: String,
}

async fn profile(c: web::Data<SimControl>, b: web::Json<ProfileRequest>) -> HttpResponse {
    c.wait_unwedged(&b.page).await;
    HttpResponse::Ok().json(c.profile(&b.id))
}

async fn group(c: web::Data<SimControl>, b: web::Json<Value>) -> HttpResponse {
    let page = b.get("page").and_then(Value::as_str).unwrap_or_default().to_string();
    c.wait_unwedged(&page).await;
    match c.group_op(&page, &b) {
        Ok(v) => HttpResponse::Ok().json(v),
        Err(e) => err(StatusCode::BAD_REQUEST, e),
    }
}

#[derive(Deserialize)]
struct BlockRequest {
    page: String,
    id: String,
    on: bool,
}

async fn block(c: web::Data<SimControl>, b: web::Json<BlockRequest>) -> HttpResponse {
    c.wait_unwedged(&b.page).await;
    match c.set_blocked(&b.page, &b.id, b.on) {
        Ok(()) => HttpResponse::Ok().json(json!({ "ok": true })),
        Err(e) => err(StatusCode::BAD_REQUEST, e),
    }
}

#[derive(Deserialize)]
struct StanzaRequest {
    page: String,
    stanza: Value,
}

/// A raw stanza the page cast (`WADeprecatedSendIq`): today a call's reject.
async fn stanza(c: web::Data<SimControl>, b: web::Json<StanzaRequest>) -> HttpResponse {
    c.wait_unwedged(&b.page).await;
    match c.cast_stanza(&b.page, &b.stanza) {
        Ok(()) => HttpResponse::Ok().json(json!({ "ok": true })),
        Err(e) => err(StatusCode::BAD_REQUEST, e),
    }
}

// --- the control API ---------------------------------------------------------------------------

fn done<T: serde::Serialize>(r: Result<T, SimError>) -> HttpResponse {
    match r {
        Ok(v) => HttpResponse::Ok().json(v),
        Err(e) => sim_err(e),
    }
}

async fn c_pages(c: web::Data<SimControl>) -> HttpResponse {
    HttpResponse::Ok().json(c.pages().await)
}

async fn c_devices(c: web::Data<SimControl>) -> HttpResponse {
    HttpResponse::Ok().json(c.devices().await)
}

#[derive(Deserialize)]
struct Scan {
    payload: String,
    phone: Option<String>,
}

async fn c_scan(c: web::Data<SimControl>, b: web::Json<Scan>) -> HttpResponse {
    done(c.scan(&b.payload, b.phone.as_deref().filter(|p| !p.is_empty())).await)
}

#[derive(Deserialize)]
struct Pair {
    code: String,
}

async fn c_pair(c: web::Data<SimControl>, b: web::Json<Pair>) -> HttpResponse {
    done(c.enter_pairing_code(&b.code).await)
}

#[derive(Deserialize)]
struct Deliver {
    phone: String,
    #[serde(flatten)]
    message: IncomingMessage,
}

async fn c_deliver(c: web::Data<SimControl>, b: web::Json<Deliver>) -> HttpResponse {
    let b = b.into_inner();
    done(c.deliver(&b.phone, b.message).await.map(|id| json!({ "id": id })))
}

#[derive(Deserialize)]
struct FromPhone {
    phone: String,
    to: String,
    body: String,
}

async fn c_send_from_phone(c: web::Data<SimControl>, b: web::Json<FromPhone>) -> HttpResponse {
    done(
        c.send_from_phone(&b.phone, &b.to, &b.body)
            .await
            .map(|id| json!({ "id": id })),
    )
}

#[derive(Deserialize)]
struct React {
    phone: String,
    reaction: IncomingReaction,
}

async fn c_react(c: web::Data<SimControl>, b: web::Json<React>) -> HttpResponse {
    let b = b.into_inner();
    done(
        c.deliver_reaction(&b.phone, b.reaction)
            .await
            .map(|id| json!({ "id": id })),
    )
}

#[derive(Deserialize)]
struct PresenceBody {
    phone: String,
    #[serde(flatten)]
    presence: IncomingPresence,
}

async fn c_presence(c: web::Data<SimControl>, b: web::Json<PresenceBody>) -> HttpResponse {
    let b = b.into_inner();
    done(
        c.set_presence(&b.phone, b.presence)
            .await
            .map(|delivered| json!({ "delivered": delivered })),
    )
}

#[derive(Deserialize)]
struct Vote {
    phone: String,
    #[serde(flatten)]
    vote: IncomingVote,
}

async fn c_vote(c: web::Data<SimControl>, b: web::Json<Vote>) -> HttpResponse {
    let b = b.into_inner();
    done(c.vote_poll(&b.phone, b.vote).await.map(|id| json!({ "id": id })))
}

#[derive(Deserialize)]
struct Change {
    phone: String,
    id: String,
    #[serde(default)]
    body: String,
}

async fn c_edit(c: web::Data<SimControl>, b: web::Json<Change>) -> HttpResponse {
    done(c.edit_message(&b.phone, &b.id, &b.body).await.map(|_| json!({})))
}

async fn c_revoke(c: web::Data<SimControl>, b: web::Json<Change>) -> HttpResponse {
    done(c.revoke_message(&b.phone, &b.id).await.map(|_| json!({})))
}

#[derive(Deserialize)]
struct PhoneQuery {
    phone: String,
}

async fn c_sent(c: web::Data<SimControl>, q: web::Query<PhoneQuery>) -> HttpResponse {
    HttpResponse::Ok().json(c.sent(&q.phone).await)
}

#[derive(Deserialize)]
struct Ack {
    id: String,
    ack: i8,
}

async fn c_ack(c: web::Data<SimControl>, b: web::Json<Ack>) -> HttpResponse {
    done(c.set_ack(&b.id, b.ack).await.map(|_| json!({})))
}

#[derive(Deserialize)]
struct OnOff {
    on: bool,
}

async fn c_auto_acks(c: web::Data<SimControl>, b: web::Json<OnOff>) -> HttpResponse {
    c.set_auto_acks(b.on).await;
    HttpResponse::Ok().json(json!({}))
}

#[derive(Deserialize)]
struct Latency {
    ms: u64,
}

async fn c_latency(c: web::Data<SimControl>, b: web::Json<Latency>) -> HttpResponse {
    c.set_send_latency(Duration::from_millis(b.ms)).await;
    HttpResponse::Ok().json(json!({}))
}

#[derive(Deserialize)]
struct FailSends {
    error: Option<String>,
}

async fn c_fail_sends(c: web::Data<SimControl>, b: web::Json<FailSends>) -> HttpResponse {
    c.fail_sends(b.into_inner().error).await;
    HttpResponse::Ok().json(json!({}))
}

async fn c_logout(c: web::Data<SimControl>, b: web::Json<PhoneQuery>) -> HttpResponse {
    done(c.logout_from_phone(&b.phone).await.map(|_| json!({})))
}

#[derive(Deserialize)]
struct ForceState {
    phone: String,
    state: String,
}

async fn c_state(c: web::Data<SimControl>, b: web::Json<ForceState>) -> HttpResponse {
    done(c.force_state(&b.phone, &b.state).await.map(|_| json!({})))
}

#[derive(Deserialize)]
struct Number {
    number: String,
    exists: bool,
}

async fn c_numbers(c: web::Data<SimControl>, b: web::Json<Number>) -> HttpResponse {
    c.set_number_exists(&b.number, b.exists).await;
    HttpResponse::Ok().json(json!({}))
}

#[derive(Deserialize)]
struct ModuleName {
    name: String,
}

async fn c_remove_module(c: web::Data<SimControl>, b: web::Json<ModuleName>) -> HttpResponse {
    c.remove_module(&b.name).await;
    HttpResponse::Ok().json(json!({}))
}

#[derive(Deserialize)]
struct Rename {
    from: String,
    to: String,
}

async fn c_rename_module(c: web::Data<SimControl>, b: web::Json<Rename>) -> HttpResponse {
    c.rename_module(&b.from, &b.to).await;
    HttpResponse::Ok().json(json!({}))
}

async fn c_restore_modules(c: web::Data<SimControl>) -> HttpResponse {
    c.restore_modules().await;
    HttpResponse::Ok().json(json!({}))
}

async fn c_unmap_module(c: web::Data<SimControl>, b: web::Json<ModuleName>) -> HttpResponse {
    c.unmap_lazy_module(&b.name).await;
    HttpResponse::Ok().json(json!({}))
}

#[derive(Deserialize)]
struct EraBody {
    era: Era,
}

async fn c_get_era(c: web::Data<SimControl>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "era": c.era().await }))
}

async fn c_set_era(c: web::Data<SimControl>, b: web::Json<EraBody>) -> HttpResponse {
    c.set_era(b.era).await;
    HttpResponse::Ok().json(json!({ "era": b.era }))
}

#[derive(Deserialize)]
struct Passkey {
    on: bool,
    reason: Option<String>,
}

async fn c_passkey(c: web::Data<SimControl>, b: web::Json<Passkey>) -> HttpResponse {
    let b = b.into_inner();
    let reason =
        b.on.then(|| b.reason.unwrap_or_else(|| "passkey_prologue_request".into()));
    c.set_passkey_required(reason).await;
    HttpResponse::Ok().json(json!({}))
}

async fn c_passkey_approve(c: web::Data<SimControl>, b: web::Json<PhoneQuery>) -> HttpResponse {
    done(c.approve_passkey(&b.phone).await)
}

async fn c_passkey_deny(c: web::Data<SimControl>, b: web::Json<PhoneQuery>) -> HttpResponse {
    done(c.deny_passkey(&b.phone).await.map(|_| json!({})))
}

#[derive(Deserialize)]
struct Wedge {
    phone: String,
    on: bool,
}

async fn c_wedge(c: web::Data<SimControl>, b: web::Json<Wedge>) -> HttpResponse {
    done(c.set_wedged(&b.phone, b.on).await.map(|_| json!({})))
}

async fn c_lid(c: web::Data<SimControl>, q: web::Query<PhoneQuery>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "lid": c.lid_for(&q.phone).await }))
}

#[derive(Deserialize)]
struct LidMapping {
    phone: String,
    known: bool,
}

async fn c_lid_mapping(c: web::Data<SimControl>, b: web::Json<LidMapping>) -> HttpResponse {
    c.set_lid_mapping_known(&b.phone, b.known).await;
    HttpResponse::Ok().json(json!({}))
}

#[derive(Deserialize)]
struct SeedChat {
    phone: String,
    #[serde(flatten)]
    chat: ChatSeed,
}

async fn c_seed_chat(c: web::Data<SimControl>, b: web::Json<SeedChat>) -> HttpResponse {
    let b = b.into_inner();
    done(c.seed_chat(&b.phone, b.chat).await.map(|ids| json!({ "ids": ids })))
}

#[derive(Deserialize)]
struct SeedContact {
    phone: String,
    #[serde(flatten)]
    contact: ContactSeed,
}

async fn c_seed_contact(c: web::Data<SimControl>, b: web::Json<SeedContact>) -> HttpResponse {
    let b = b.into_inner();
    done(c.seed_contact(&b.phone, b.contact).await.map(|_| json!({})))
}

#[derive(Deserialize)]
struct SetProfile {
    phone: String,
    #[serde(flatten)]
    profile: Profile,
}

async fn c_set_profile(c: web::Data<SimControl>, b: web::Json<SetProfile>) -> HttpResponse {
    let b = b.into_inner();
    c.set_profile(&b.phone, b.profile).await;
    HttpResponse::Ok().json(json!({}))
}

async fn c_change_group(c: web::Data<SimControl>, b: web::Json<GroupChange>) -> HttpResponse {
    done(
        c.change_group(b.into_inner())
            .await
            .map(|told| json!({ "notified": told })),
    )
}

async fn c_calls(c: web::Data<SimControl>, q: web::Query<PhoneQuery>) -> HttpResponse {
    HttpResponse::Ok().json(c.calls(&q.phone).await)
}

/// `{phone, from, is_video?, is_group?, ring_secs?}` (camelCase spellings too).
#[derive(Deserialize)]
struct OfferCall {
    phone: String,
    from: String,
    #[serde(default, alias = "isVideo")]
    is_video: bool,
    #[serde(default, alias = "isGroup")]
    is_group: bool,
    #[serde(default, alias = "ringSecs")]
    ring_secs: Option<u64>,
}

async fn c_offer_call(c: web::Data<SimControl>, b: web::Json<OfferCall>) -> HttpResponse {
    let b = b.into_inner();
    let offer = CallOffer {
        from: b.from,
        is_video: b.is_video,
        is_group: b.is_group,
        ring_secs: b.ring_secs,
    };
    done(c.offer_call(&b.phone, offer).await.map(|id| json!({ "id": id })))
}

#[derive(Deserialize)]
struct EndCall {
    id: String,
}

async fn c_end_call(c: web::Data<SimControl>, b: web::Json<EndCall>) -> HttpResponse {
    done(c.end_call(&b.id).await)
}
