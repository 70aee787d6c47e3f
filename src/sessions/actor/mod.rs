//! One actor per WhatsApp session. It alone owns its browser and drives it from one loop: commands
//! from the session's handle, and the page's events (pushed over WebDriver BiDi, or polled).
//! chromedriver runs one command per WebDriver session at a time, so every call is short.
//!
//! - `mod.rs`: the actor's state, its life (open → drive → reopen with backoff, or end);
//! - `browser.rs`: starting and closing the browser and its profile;
//! - `page_events.rs`: the loop, draining the page's queue and acting on each event;
//! - `commands.rs`: commands from the handle, as typed calls into the page;
//! - `calls.rs`: incoming calls, reported and (with the session's setting) rejected at once;
//! - `liveness.rs`: probing the page with a real round trip; the capability report;
//! - `publish.rs`: state transitions to the watch, the database and the event sink.

mod browser;
mod calls;
mod commands;
mod liveness;
mod page_events;
mod publish;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::events::{SessionEvent, SessionKey};
use super::handle::{Command, SessionError};
use super::state::{SessionInfo, SessionState};
use crate::browser::{Page, WebDriver};
use crate::config::Settings;
use crate::db::Database;

use commands::refuse;
pub(super) use commands::refuse as refuse_command;

/// Poll quickly after activity, backing off to `sessions.poll_max_ms` when the page is quiet.
const MIN_TICK: Duration = Duration::from_millis(100);
/// Incoming messages read back after a reconnect: how far before the newest stored one (clock
/// skew), and how many at most.
const RECONCILE_SLACK_SECS: i64 = 120;
const RECONCILE_MAX: usize = 500;
/// How old a message can be and still be deleted for everyone: 2 days and 12 hours (WhatsApp
/// extended it to that in August 2022). So a delete made after `since` targets a message sent
/// no earlier than `since` minus this; an edit (allowed for 15 minutes) likewise.
const REVOKE_WINDOW_SECS: i64 = 60 * 60 * 60;
/// With BiDi push, the page is still drained this often, in case a ring was lost.
const SAFETY_POLL: Duration = Duration::from_secs(30);
/// How long a page gets to show `window.Debug.VERSION` (the reference client waits 30 s).
const BOOT_TIMEOUT: Duration = Duration::from_secs(45);
/// After `Debug.VERSION`, how long the bridge waits for the module graph to settle (its boot
/// modules registered, the registry no longer growing) before it is installed anyway; what is
/// still missing then shows in the capability report and as named errors.
const BOOT_SETTLE: Duration = Duration::from_secs(30);
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

/// What belongs to one document of the page: reset whenever a new one is loaded (a reload, a
/// logout redirect, a new browser).
#[derive(Default)]
pub(super) struct Document {
    /// The bridge's last event sequence number taken.
    pub last_seq: u64,
    /// The bridge's document id (its drains tell it): pushed events of another document are
    /// drained instead of taken.
    pub bridge: Option<String>,
    /// Events taken from rings since the last drain (which acknowledges them to the page).
    pub unacked: u64,
    /// WhatsApp reported `hasSynced` in this document.
    pub synced: bool,
    /// When this document was first seen without a bridge (the settle wait's start).
    pub boot_started: Option<Instant>,
    /// The bridge was installed in this document (a drain without it means a new document).
    pub installed: bool,
    /// The last proof that the page reaches WhatsApp's server (a probe, a server-acked send);
    /// set when the document syncs. None: not probed (not connected).
    pub alive_at: Option<Instant>,
    /// The probe cannot run on this page (its module is missing): do not try again.
    pub probe_unavailable: bool,
    /// The last sync progress reported as `session.sync` in this document.
    pub sync_reported: Option<u32>,
}

impl Document {
    fn reset(&mut self) {
        *self = Document::default();
    }
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
    pub doc: Document,
    /// Cluster mode: the lease this node holds on the session; state writes carry it, and one
    /// refused as stale stops the actor (another node owns the session now).
    pub fence: Option<crate::db::cluster::Fence>,
    /// Where incoming media is saved (and, in cluster mode, published for the other nodes).
    pub media: crate::media_files::MediaFiles,
    /// Where sends are handed over: the reply text to an automatically rejected call.
    pub outbox: super::outbox::Outbox,
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
                    if let Err(e) = self.db.clear_presence_subscriptions(self.key.id).await {
                        tracing::warn!(session = self.key.id, error = %e, "could not forget the presence subscriptions");
                    }
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
}
