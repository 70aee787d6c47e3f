//! One actor per WhatsApp session. It alone owns its browser: a `select!` over commands and an
//! adaptive poll of the page's event queue. chromedriver runs one command per WebDriver session
//! at a time, so every call is short and a send never waits behind more than one poll.

use base64::Engine as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::events::{SessionEvent, SessionKey, WaMessage};
use super::handle::{Command, OutgoingMedia, SentMessage, SessionError};
use super::qr;
use super::state::{SessionInfo, SessionState, map_wa_state};
use crate::browser::bidi::{self, Doorbell};
use crate::browser::bridge::{Me, PageEvent};
use crate::browser::{BridgeError, Page, WebDriver, capabilities, procs};
use crate::config::Settings;
use crate::db::{Database, MessageKind, SessionStatusUpdate};

/// Poll quickly after activity, backing off to `sessions.poll_max_ms` when the page is quiet.
const MIN_TICK: Duration = Duration::from_millis(100);
/// Incoming messages read back after a reconnect: how far before the newest stored one (clock
/// skew), and how many at most.
const RECONCILE_SLACK_SECS: i64 = 120;
const RECONCILE_MAX: usize = 500;
/// With BiDi push, the page is still drained this often, in case a ring was lost.
const SAFETY_POLL: Duration = Duration::from_secs(30);
/// How long a page gets to show `window.Debug.VERSION` (the reference client waits 30 s).
const BOOT_TIMEOUT: Duration = Duration::from_secs(45);
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
const SEND_TIMEOUT: Duration = Duration::from_secs(90);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

type Reply<T> = oneshot::Sender<Result<T, SessionError>>;

/// Why `drive` (or `open`) returned.
enum Outcome {
    /// Stop the actor. `record`: write `stopped` to the database (not at gateway shutdown, so the
    /// session is restored at the next start).
    Stop {
        reply: Option<Reply<()>>,
        record: bool,
    },
    Restart,
    /// The browser or chromedriver died: reopen on the same profile, with backoff.
    BrowserLost(String),
    LoggedOut(String),
    Failed(String),
}

/// What the bridge's `downloadMedia` returns.
#[derive(serde::Deserialize)]
struct Downloaded {
    data: String,
}

pub(super) struct Actor {
    pub key: SessionKey,
    pub settings: Arc<Settings>,
    pub db: Database,
    pub driver: WebDriver,
    pub sink: mpsc::Sender<SessionEvent>,
    pub rx: mpsc::Receiver<Command>,
    pub info: watch::Sender<SessionInfo>,
    pub profile: PathBuf,
    /// Linked before (a phone number is on record): a restored profile, no QR expected.
    pub was_linked: bool,
    pub connected_at: Option<chrono::NaiveDateTime>,
    pub page: Option<Page>,
    /// Per document: the bridge's last sequence number, WhatsApp's state, whether it synced.
    pub last_seq: u64,
    pub wa_state: Option<String>,
    pub synced: bool,
}

impl Actor {
    pub async fn run(mut self) {
        let mut backoff = Duration::from_secs(1);
        loop {
            let starting = if self.was_linked {
                "restoring linked profile"
            } else {
                "starting browser"
            };
            self.publish(SessionState::Starting, Some(starting.into())).await;
            let outcome = match self.open().await {
                Ok(bell) => self.drive(bell).await,
                Err(outcome) => outcome,
            };
            self.close_browser().await;
            match outcome {
                Outcome::Stop { reply, record } => {
                    if record {
                        self.publish(SessionState::Stopped, Some("stopped".into())).await;
                    } else {
                        self.info.send_modify(|i| i.state = SessionState::Stopped);
                    }
                    // Closed before answering: whoever hears "stopped" sees the handle not running.
                    self.rx.close();
                    if let Some(r) = reply {
                        let _ = r.send(Ok(()));
                    }
                    break;
                }
                Outcome::Restart => backoff = Duration::from_secs(1),
                Outcome::BrowserLost(reason) => {
                    tracing::warn!(session = self.key.id, %reason, "browser lost; reopening");
                    self.publish(SessionState::Disconnected, Some(reason)).await;
                    if let Some(stop) = self.wait_out(backoff).await {
                        if let Outcome::Stop { reply, record } = stop {
                            if record {
                                self.publish(SessionState::Stopped, Some("stopped".into())).await;
                            }
                            self.rx.close();
                            if let Some(r) = reply {
                                let _ = r.send(Ok(()));
                            }
                        }
                        break;
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                Outcome::LoggedOut(reason) => {
                    self.wipe_profile();
                    self.was_linked = false;
                    self.info.send_modify(|i| {
                        i.phone = None;
                        i.wid = None;
                        i.lid = None;
                        i.push_name = None;
                        i.qr = None;
                        i.qr_png = None;
                    });
                    self.rx.close();
                    self.publish(SessionState::LoggedOut, Some(reason)).await;
                    break;
                }
                Outcome::Failed(reason) => {
                    tracing::error!(session = self.key.id, %reason, "session failed");
                    self.info.send_modify(|i| i.last_error = Some(reason.clone()));
                    self.rx.close();
                    self.publish(SessionState::Failed, Some(reason)).await;
                    break;
                }
            }
        }
    }

    /// Sleeps through a backoff while still answering commands; Some(stop) when told to stop.
    async fn wait_out(&mut self, d: Duration) -> Option<Outcome> {
        let until = Instant::now() + d;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => return None,
                cmd = self.rx.recv() => match cmd {
                    None => return Some(Outcome::Stop { reply: None, record: false }),
                    Some(Command::Stop { reply }) => return Some(Outcome::Stop { reply: Some(reply), record: true }),
                    Some(Command::Shutdown { reply }) => return Some(Outcome::Stop { reply: Some(reply), record: false }),
                    Some(Command::Restart { reply }) => {
                        let _ = reply.send(Ok(()));
                        return None;
                    }
                    Some(other) => refuse(other, SessionError::BrowserUnavailable("the browser is restarting".into())),
                },
            }
        }
    }

    // --- browser lifecycle --------------------------------------------------------------------

    /// Starts the browser and loads WhatsApp Web; the doorbell when the driver speaks BiDi.
    async fn open(&mut self) -> Result<Option<Doorbell>, Outcome> {
        self.last_seq = 0;
        self.synced = false;
        self.wa_state = None;
        make_private_dir(&self.profile).map_err(|e| Outcome::Failed(format!("profile directory: {e}")))?;
        // A browser left over from a crash or a dead chromedriver would hold the profile's lock.
        if procs::kill_profile_processes(&self.profile) > 0 {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        procs::remove_stale_locks(&self.profile);

        let url = self.driver.url().await.map_err(|e| Outcome::Failed(e.to_string()))?;
        let caps = capabilities::capabilities(&self.settings.browser, &self.profile);
        let mut builder =
            fantoccini::ClientBuilder::rustls().map_err(|e| Outcome::Failed(format!("TLS setup: {e}")))?;
        let client = tokio::time::timeout(Duration::from_secs(60), builder.capabilities(caps).connect(&url))
            .await
            .map_err(|_| Outcome::BrowserLost("the browser did not start within 60 s".into()))?
            .map_err(|e| Outcome::BrowserLost(format!("could not start the browser: {e}")))?;
        // Before the page loads: the preload script must be there for its first document.
        let bell = match bidi::websocket_url(&client) {
            Some(url) => match bidi::connect(&url).await {
                Ok(bell) => Some(bell),
                Err(e) => {
                    tracing::warn!(session = self.key.id, error = %e, "no BiDi push; polling the page instead");
                    None
                }
            },
            None => None,
        };
        let page = Page::new(client);
        self.page = Some(page.clone());

        let wa_url = &self.settings.browser.whatsapp_url;
        if let Err(e) = page.client.goto(wa_url).await {
            let msg = format!("could not load {wa_url}: {e}");
            // A network error will not go away by retrying at once; a browser that died while
            // loading will (the session reopens with backoff).
            return Err(if msg.contains("net::ERR_") {
                Outcome::Failed(msg)
            } else {
                Outcome::BrowserLost(msg)
            });
        }
        let deadline = Instant::now() + BOOT_TIMEOUT;
        loop {
            match page.wa_version().await {
                Ok(Some(_)) => break,
                Ok(None) => {}
                Err(e) => return Err(Outcome::BrowserLost(e.to_string())),
            }
            let location = page.location().await.unwrap_or_default();
            if location.starts_with("chrome-error://") {
                return Err(Outcome::Failed(format!(
                    "could not reach {wa_url}: the browser shows a network error page (is the network up?)"
                )));
            }
            if Instant::now() > deadline {
                return Err(Outcome::Failed(format!(
                    "WhatsApp Web did not load: no window.Debug.VERSION after {}s at {wa_url}",
                    BOOT_TIMEOUT.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        page.install().await.map_err(|e| Outcome::BrowserLost(e.to_string()))?;
        Ok(bell)
    }

    async fn close_browser(&mut self) {
        if let Some(page) = self.page.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), page.client.close()).await;
        }
    }

    fn wipe_profile(&self) {
        // The profile's parent is the session's own directory (`sessions/<id>`).
        if let Err(e) = std::fs::remove_dir_all(&self.profile)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(session = self.key.id, error = %e, "could not wipe the browser profile");
        }
    }

    // --- the loop -------------------------------------------------------------------------------

    /// The session's loop. With a doorbell, the page's queue is drained when the page rings (and
    /// by a slow safety poll); without one, it is polled, faster after activity.
    async fn drive(&mut self, mut bell: Option<Doorbell>) -> Outcome {
        let mut tick = MIN_TICK;
        let polling_max = Duration::from_millis(self.settings.sessions.poll_max_ms).max(MIN_TICK);
        let mut max_tick = match bell {
            Some(_) => SAFETY_POLL,
            None => polling_max,
        };
        let mut next = Instant::now();
        let mut failures = 0u32;
        loop {
            tokio::select! {
                rang = async { match bell.as_mut() { Some(b) => b.ring().await, None => std::future::pending().await } } => {
                    if !rang {
                        tracing::warn!(session = self.key.id, "BiDi push lost; polling the page instead");
                        bell = None;
                        tick = MIN_TICK;
                        max_tick = polling_max;
                    }
                    next = Instant::now();
                }
                cmd = self.rx.recv() => {
                    let Some(cmd) = cmd else {
                        return Outcome::Stop { reply: None, record: false };
                    };
                    if let Some(outcome) = self.command(cmd).await {
                        return outcome;
                    }
                    tick = MIN_TICK;
                    next = Instant::now();
                }
                _ = tokio::time::sleep_until(next) => {
                    match self.poll().await {
                        Ok(active) => {
                            failures = 0;
                            tick = match (active, bell.is_some()) {
                                // Drain again soon after activity: a burst, or a new document
                                // whose bridge is not installed yet.
                                (true, _) => MIN_TICK,
                                // The page rings for anything new: only a safety poll.
                                (false, true) => max_tick,
                                (false, false) => (tick * 3 / 2).min(max_tick),
                            };
                        }
                        Err(PollError::Outcome(o)) => return o,
                        Err(PollError::Transient(e)) => {
                            failures += 1;
                            tracing::debug!(session = self.key.id, error = %e, failures, "poll failed");
                            if failures >= 3 && !self.browser_alive().await {
                                return Outcome::BrowserLost(format!("browser unreachable: {e}"));
                            }
                            if failures >= 50 {
                                return Outcome::BrowserLost(format!("the page stopped answering: {e}"));
                            }
                            tick = MIN_TICK * 2;
                        }
                    }
                    next = Instant::now() + tick;
                }
            }
        }
    }

    async fn browser_alive(&self) -> bool {
        let Some(page) = &self.page else { return false };
        matches!(
            tokio::time::timeout(Duration::from_secs(10), page.client.windows()).await,
            Ok(Ok(_))
        )
    }

    async fn poll(&mut self) -> Result<bool, PollError> {
        let page = self.page.clone().ok_or(PollError::Transient("no page".into()))?;
        let drain = match page.drain(self.last_seq).await {
            Ok(Some(d)) => d,
            Ok(None) => {
                // A new document (reload, logout redirect): re-install once WhatsApp's modules are up.
                self.last_seq = 0;
                self.synced = false;
                if page
                    .wa_version()
                    .await
                    .map_err(|e| PollError::Transient(e.to_string()))?
                    .is_some()
                {
                    page.install().await.map_err(|e| PollError::Transient(e.to_string()))?;
                }
                return Ok(true);
            }
            Err(e) => return Err(PollError::Transient(e.to_string())),
        };
        if drain.dropped > 0 {
            tracing::warn!(
                session = self.key.id,
                dropped = drain.dropped,
                "page event queue overflowed"
            );
        }
        let active = !drain.events.is_empty();
        for event in drain.events {
            self.last_seq = self.last_seq.max(event.seq);
            self.on_event(event).await?;
        }
        self.last_seq = self.last_seq.max(drain.seq);
        // Resynchronise from state, in case an event was lost in a reload gap.
        if drain.snapshot.has_synced && !self.synced && drain.snapshot.state.as_deref() == Some("CONNECTED") {
            self.on_synced(drain.snapshot.me.unwrap_or_default()).await;
        }
        Ok(active)
    }

    async fn on_event(&mut self, event: PageEvent) -> Result<(), PollError> {
        let data = event.data;
        match event.kind.as_str() {
            "state" => {
                let wa = data.as_str().unwrap_or_default().to_string();
                if wa.is_empty() {
                    return Ok(());
                }
                if wa != "CONNECTED" {
                    self.synced = false;
                }
                self.wa_state = Some(wa.clone());
                let (state, reason) = map_wa_state(&wa, self.synced, self.was_linked);
                match state {
                    SessionState::LoggedOut => {
                        return Err(PollError::Outcome(Outcome::LoggedOut(reason.unwrap_or_default())));
                    }
                    SessionState::Failed => {
                        return Err(PollError::Outcome(Outcome::Failed(reason.unwrap_or_default())));
                    }
                    SessionState::QrPending if self.info.borrow().qr.is_none() => {
                        // Keep `starting` until there is a QR to show.
                    }
                    SessionState::QrPending if self.current() == SessionState::QrPending => {
                        // Idle and re-armed QRs are the same wait: `since` keeps its start, so
                        // the idle reaper can tell how long nobody has scanned.
                    }
                    _ => self.publish(state, reason).await,
                }
                if wa == "UNPAIRED_IDLE" {
                    // WhatsApp stopped rotating the QR; re-arm it (wa-web-surface §3.3).
                    if let Some(page) = &self.page {
                        let _ = page.call::<bool>("refreshQr", vec![], CALL_TIMEOUT).await;
                    }
                }
            }
            "qr" => {
                if let Some(payload) = data.as_str() {
                    let png = qr::png_data_url(payload);
                    let set = |i: &mut SessionInfo| {
                        i.qr = Some(payload.to_string());
                        i.qr_png = png.clone();
                    };
                    if matches!(self.current(), SessionState::Pairing | SessionState::QrPending) {
                        self.info.send_modify(set);
                    } else {
                        // State and QR change together: whoever sees the QR sees `qr_pending`.
                        self.publish_with(
                            SessionState::QrPending,
                            Some("scan the QR code with WhatsApp".into()),
                            set,
                        )
                        .await;
                    }
                }
            }
            "code" => {
                let code = data.as_str().map(str::to_string);
                self.info.send_modify(|i| i.pairing_code = code);
            }
            "loading" => {
                let pct = data.as_u64().map(|p| p.min(100) as u32);
                self.info.send_modify(|i| i.loading = pct);
            }
            "synced" => {
                let me: Me = serde_json::from_value(data).unwrap_or_default();
                self.on_synced(me).await;
            }
            "logout" => {
                return Err(PollError::Outcome(Outcome::LoggedOut(format!(
                    "logged out ({})",
                    data.as_str().unwrap_or("logout")
                ))));
            }
            "msg_add" | "msg_create" => {
                if let Ok(mut message) = serde_json::from_value::<WaMessage>(data) {
                    let session = self.key.clone();
                    let event = if event.kind == "msg_add" {
                        if message.has_media {
                            message.saved_media = self.save_incoming_media(&message).await;
                        }
                        SessionEvent::Incoming { session, message }
                    } else {
                        SessionEvent::OwnMessage { session, message }
                    };
                    let _ = self.sink.send(event).await;
                }
            }
            "msg_ack" => {
                if let (Some(id), Some(ack)) = (data["id"].as_str(), data["ack"].as_i64()) {
                    let event = SessionEvent::Ack {
                        session: self.key.clone(),
                        id: id.to_string(),
                        ack: ack as i32,
                    };
                    let _ = self.sink.send(event).await;
                }
            }
            "error" => tracing::debug!(session = self.key.id, detail = %data, "bridge reported an error"),
            _ => {}
        }
        Ok(())
    }

    /// Downloads an incoming message's media through the page and saves it under the media dir.
    /// Returns the path relative to the media dir; on failure the message is kept without bytes.
    async fn save_incoming_media(&self, m: &WaMessage) -> Option<String> {
        let limit = self.settings.media.max_upload_bytes;
        if m.size.is_some_and(|s| s as u64 > limit) {
            tracing::info!(session = self.key.id, id = %m.id, "incoming media above media.max_upload_bytes: not downloaded");
            return None;
        }
        let fetched: Result<Downloaded, _> = self.call("downloadMedia", vec![json!(m.id)], CALL_TIMEOUT).await;
        let saved = async {
            let d = fetched.map_err(|e| e.to_string())?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(d.data)
                .map_err(|e| e.to_string())?;
            let name = crate::media::incoming_filename(m.filename.as_deref(), m.mimetype.as_deref(), m.kind.as_deref());
            let (path, relative) = crate::media::incoming_path(&self.settings.media.dir, self.key.user_id, &name);
            if let Some(dir) = path.parent() {
                tokio::fs::create_dir_all(dir).await.map_err(|e| e.to_string())?;
            }
            tokio::fs::write(&path, &bytes).await.map_err(|e| e.to_string())?;
            Ok::<_, String>(relative)
        }
        .await;
        saved
            .inspect_err(
                |e| tracing::warn!(session = self.key.id, id = %m.id, error = %e, "could not save incoming media"),
            )
            .ok()
    }

    async fn on_synced(&mut self, me: Me) {
        self.synced = true;
        self.was_linked = true;
        let phone = me.wid.as_deref().and_then(|w| w.split('@').next()).map(str::to_string);
        self.info.send_modify(|i| {
            i.phone = phone.clone().or(i.phone.take());
            i.wid = me.wid.clone().or(i.wid.take());
            i.lid = me.lid.clone();
            i.push_name = me.pushname.clone();
            i.qr = None;
            i.qr_png = None;
            i.pairing_code = None;
            i.loading = Some(100);
        });
        let previously = self.connected_at.replace(crate::db::now());
        self.publish(SessionState::Connected, None).await;
        self.reconcile_incoming(previously).await;
    }

    /// Messages that reached the page while nobody listened (before the bridge was installed in a
    /// new document, or while the browser was down and the phone's server redelivered them) are
    /// read back from the page's store and stored if they are new. The window starts at the
    /// newest stored incoming message, else at the session's previous connection; a session that
    /// was never connected before has no history imported.
    async fn reconcile_incoming(&mut self, previously_connected: Option<chrono::NaiveDateTime>) {
        let since = match self.db.last_incoming_at(self.key.id).await {
            Ok(Some(t)) => t.and_utc().timestamp() - RECONCILE_SLACK_SECS,
            Ok(None) => match previously_connected {
                Some(t) => t.and_utc().timestamp() - RECONCILE_SLACK_SECS,
                None => return,
            },
            Err(e) => {
                return tracing::warn!(session = self.key.id, error = %e, "could not read the last incoming message");
            }
        };
        let Some(page) = self.page.clone() else { return };
        let found: Vec<WaMessage> = match page
            .call("recentIncoming", vec![json!(since), json!(RECONCILE_MAX)], CALL_TIMEOUT)
            .await
        {
            Ok(found) => found,
            Err(e) => return tracing::warn!(session = self.key.id, error = %e, "could not read recent messages back"),
        };
        let ids = found.iter().map(|m| m.id.clone()).collect();
        let known = match self.db.known_wa_ids(self.key.id, ids).await {
            Ok(known) => known,
            Err(e) => return tracing::warn!(session = self.key.id, error = %e, "could not check recent messages"),
        };
        let mut stored = 0;
        for mut message in found.into_iter().filter(|m| !known.contains(&m.id)) {
            if message.has_media {
                message.saved_media = self.save_incoming_media(&message).await;
            }
            let session = self.key.clone();
            let _ = self.sink.send(SessionEvent::Incoming { session, message }).await;
            stored += 1;
        }
        if stored > 0 {
            tracing::info!(
                session = self.key.id,
                messages = stored,
                "messages missed while away were read back from the page"
            );
        }
    }

    fn current(&self) -> SessionState {
        self.info.borrow().state
    }

    /// Publishes a transition (when the state or reason changed) to the watch, the database and
    /// the event sink.
    async fn publish(&mut self, state: SessionState, reason: Option<String>) {
        self.publish_with(state, reason, |_| {}).await
    }

    /// `publish`, applying `also` to the info in the same update.
    async fn publish_with(&mut self, state: SessionState, reason: Option<String>, also: impl FnOnce(&mut SessionInfo)) {
        let changed = {
            let cur = self.info.borrow();
            cur.state != state || cur.reason != reason
        };
        if !changed {
            return;
        }
        // The database first: whoever sees the new state in the watch finds it recorded.
        let mut info = self.info.borrow().clone();
        info.state = state;
        info.reason = reason.clone();
        info.since = chrono::Utc::now();
        if state != SessionState::QrPending {
            info.qr = None;
            info.qr_png = None;
        }
        also(&mut info);
        tracing::info!(
            session = self.key.id,
            state = state.as_str(),
            reason = reason.as_deref().unwrap_or(""),
            "session state"
        );
        let update = SessionStatusUpdate {
            status: state.as_str().to_string(),
            status_reason: reason,
            phone_number: info.phone.clone(),
            wid: info.wid.clone(),
            push_name: info.push_name.clone(),
            last_error: info.last_error.clone(),
            updated_at: crate::db::now(),
            connected_at: self.connected_at,
        };
        metrics::counter!("wagate_session_state_changes_total", "state" => state.as_str()).increment(1);
        if let Err(e) = self.db.record_session_state(self.key.id, update).await {
            tracing::error!(session = self.key.id, error = %e, "could not record the session state");
        }
        self.info.send_replace(info.clone());
        let _ = self
            .sink
            .send(SessionEvent::State {
                session: self.key.clone(),
                info,
            })
            .await;
    }

    // --- commands -------------------------------------------------------------------------------

    async fn command(&mut self, cmd: Command) -> Option<Outcome> {
        if cmd.caller_gone() {
            tracing::debug!(session = self.key.id, "dropped a command whose caller stopped waiting");
            return None;
        }
        match cmd {
            Command::Stop { reply } => {
                return Some(Outcome::Stop {
                    reply: Some(reply),
                    record: true,
                });
            }
            Command::Shutdown { reply } => {
                return Some(Outcome::Stop {
                    reply: Some(reply),
                    record: false,
                });
            }
            Command::Restart { reply } => {
                let _ = reply.send(Ok(()));
                return Some(Outcome::Restart);
            }
            Command::Logout { reply } => {
                let result = match self.call::<bool>("logout", vec![], CALL_TIMEOUT).await {
                    // The page navigates away as it logs out: losing the call's answer is expected.
                    Err(SessionError::BrowserUnavailable(_)) => Ok(true),
                    other => other,
                };
                let _ = reply.send(result.map(|_| ()));
                return Some(Outcome::LoggedOut("logged out through the API".into()));
            }
            Command::SendText {
                chat,
                body,
                key_id,
                reply,
            } => {
                let result = match self.require_connected() {
                    Ok(()) => {
                        let args = vec![json!(chat.as_str()), json!(body), json!(key_id)];
                        self.call("sendText", args, SEND_TIMEOUT).await
                    }
                    Err(e) => Err(e),
                };
                let _ = reply.send(result);
            }
            Command::SendMedia {
                chat,
                media,
                key_id,
                reply,
            } => {
                let result = match self.require_connected() {
                    Ok(()) => self.send_media(chat.as_str(), media, key_id).await,
                    Err(e) => Err(e),
                };
                let _ = reply.send(result);
            }
            Command::AckStates { ids, reply } => {
                let result = match self.require_connected() {
                    Ok(()) => self.call("acksOf", vec![json!(ids)], CALL_TIMEOUT).await,
                    Err(e) => Err(e),
                };
                let _ = reply.send(result);
            }
            Command::FindSent { chat, key_id, reply } => {
                let result = match self.require_connected() {
                    Ok(()) => {
                        self.call("findSent", vec![json!(chat.as_str()), json!(key_id)], CALL_TIMEOUT)
                            .await
                    }
                    Err(e) => Err(e),
                };
                let _ = reply.send(result);
            }
            Command::CheckNumber { chat, reply } => {
                let result = match self.require_connected() {
                    Ok(()) => self.call("checkNumber", vec![json!(chat.as_str())], CALL_TIMEOUT).await,
                    Err(e) => Err(e),
                };
                let _ = reply.send(result);
            }
            Command::ChatState { chat, state, reply } => {
                let result = match self.require_connected() {
                    Ok(()) => self
                        .call::<bool>("chatState", vec![json!(chat.as_str()), json!(state)], CALL_TIMEOUT)
                        .await
                        .map(|_| ()),
                    Err(e) => Err(e),
                };
                let _ = reply.send(result);
            }
            Command::PairingCode { phone, reply } => {
                let result = if self.current() == SessionState::QrPending {
                    self.call::<String>("requestPairingCode", vec![json!(phone)], CALL_TIMEOUT)
                        .await
                } else {
                    Err(SessionError::Invalid(format!(
                        "a pairing code can only be requested while the session shows a QR code (it is {})",
                        self.current().as_str()
                    )))
                };
                if let Ok(code) = &result {
                    let code = code.clone();
                    self.info.send_modify(|i| i.pairing_code = Some(code));
                }
                let _ = reply.send(result);
            }
        }
        None
    }

    fn require_connected(&self) -> Result<(), SessionError> {
        if self.current() == SessionState::Connected {
            Ok(())
        } else {
            Err(SessionError::NotConnected)
        }
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
        args: Vec<serde_json::Value>,
        timeout: Duration,
    ) -> Result<T, SessionError> {
        let page = self.page.as_ref().ok_or(SessionError::NotConnected)?;
        match page.call(name, args.clone(), timeout).await {
            // The document was replaced since the last poll: install the bridge and try once more.
            Err(BridgeError::Page { code, .. }) if code == "BRIDGE_MISSING" => {
                page.install().await.map_err(bridge_error)?;
                page.call(name, args, timeout).await.map_err(bridge_error)
            }
            other => other.map_err(bridge_error),
        }
    }

    async fn send_media(
        &self,
        chat: &str,
        media: OutgoingMedia,
        key_id: Option<String>,
    ) -> Result<SentMessage, SessionError> {
        let page = self.page.as_ref().ok_or(SessionError::NotConnected)?;
        let upload_id = uuid::Uuid::new_v4().simple().to_string();
        page.upload(&upload_id, &media.bytes, CALL_TIMEOUT)
            .await
            .map_err(bridge_error)?;
        let args = json!({
            "uploadId": upload_id,
            "chatId": chat,
            "mimetype": media.mimetype,
            "filename": media.filename,
            "caption": media.caption,
            "asDocument": media.kind == MessageKind::Document,
            "asVoice": media.kind == MessageKind::Ptt,
            "asSticker": media.kind == MessageKind::Sticker,
            "keyId": key_id,
        });
        self.call("sendMedia", vec![args], SEND_TIMEOUT).await
    }
}

enum PollError {
    Outcome(Outcome),
    Transient(String),
}

fn bridge_error(e: BridgeError) -> SessionError {
    match e {
        BridgeError::Page { code, message } => SessionError::Wa { code, message },
        BridgeError::Timeout(d) => SessionError::Timeout(d),
        BridgeError::Driver(m) => SessionError::BrowserUnavailable(m),
    }
}

fn refuse(cmd: Command, err: SessionError) {
    match cmd {
        Command::SendText { reply, .. } | Command::SendMedia { reply, .. } => drop(reply.send(Err(err))),
        Command::CheckNumber { reply, .. } => drop(reply.send(Err(err))),
        Command::FindSent { reply, .. } => drop(reply.send(Err(err))),
        Command::AckStates { reply, .. } => drop(reply.send(Err(err))),
        Command::ChatState { reply, .. } => drop(reply.send(Err(err))),
        Command::PairingCode { reply, .. } => drop(reply.send(Err(err))),
        Command::Logout { reply }
        | Command::Restart { reply }
        | Command::Stop { reply }
        | Command::Shutdown { reply } => drop(reply.send(Err(err))),
    }
}

/// Creates `dir` (and parents) readable by us only: a profile holds the account's keys.
pub(super) fn make_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}
