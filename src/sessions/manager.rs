//! The registry of running sessions: start (or return) one, enforce `max_concurrent`, restore
//! linked sessions at gateway start, stop never-linked idle ones, and close everything at shutdown.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::actor::Actor;
use super::events::{SessionEvent, SessionKey};
use super::handle::{SessionError, SessionHandle};
use super::outbox::Outbox;
use super::state::{SessionInfo, SessionState};
use crate::browser::{WebDriver, procs};
use crate::config::Settings;
use crate::db::{Database, SessionRow};

/// Room for bursts of page events while the consumer is busy; actors wait when it is full.
const SINK_CAPACITY: usize = 10_000;

#[derive(Clone)]
pub struct SessionManager {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Arc<Settings>,
    db: Database,
    driver: WebDriver,
    sink: mpsc::Sender<SessionEvent>,
    sessions: Mutex<HashMap<i64, SessionHandle>>,
    /// Actors run here (the main multi-thread runtime), never on an HTTP worker's runtime.
    runtime: tokio::runtime::Handle,
    /// Where sends are handed over; it wakes the workers and completes the waiting callers.
    outbox: Outbox,
}

impl SessionManager {
    /// A manager and the receiving end of its event sink. Sweeps browsers orphaned by an earlier
    /// run (their `--user-data-dir` is under our data dir) before anything starts.
    pub fn new(settings: Arc<Settings>, db: Database) -> (Self, mpsc::Receiver<SessionEvent>) {
        let (sink, events) = mpsc::channel(SINK_CAPACITY);
        let driver = WebDriver::new(
            settings.browser.chromedriver_path.clone(),
            &settings.browser.webdriver_url,
        );
        let sessions_dir = settings.data_dir.join("sessions");
        let killed = procs::kill_profile_processes(&sessions_dir);
        if killed > 0 {
            tracing::warn!(killed, "killed browsers left over from an earlier run");
        }
        let manager = SessionManager {
            inner: Arc::new(Inner {
                outbox: Outbox::new(db.clone(), settings.sending.queue_ttl_secs),
                settings,
                db,
                driver,
                sink,
                sessions: Mutex::new(HashMap::new()),
                runtime: tokio::runtime::Handle::current(),
            }),
        };
        (manager, events)
    }

    pub fn driver(&self) -> &WebDriver {
        &self.inner.driver
    }

    fn profile_dir(&self, session_id: i64) -> PathBuf {
        self.inner
            .settings
            .data_dir
            .join("sessions")
            .join(session_id.to_string())
            .join("profile")
    }

    /// Each running session's browser: processes, PSS and RSS (one read of /proc for all).
    pub fn browser_usage(&self) -> Vec<(SessionKey, procs::TreeUsage)> {
        let usage = procs::usage_by_profile(&self.inner.settings.data_dir.join("sessions"));
        self.running()
            .into_iter()
            .map(|h| {
                let u = usage.get(&self.profile_dir(h.key.id)).copied().unwrap_or_default();
                (h.key, u)
            })
            .collect()
    }

    /// How many running sessions are in each state.
    pub fn state_counts(&self) -> HashMap<SessionState, usize> {
        let mut counts = HashMap::new();
        for h in self.running() {
            *counts.entry(h.info().state).or_default() += 1;
        }
        counts
    }

    fn running(&self) -> Vec<SessionHandle> {
        let map = self.inner.sessions.lock().unwrap_or_else(|e| e.into_inner());
        map.values().filter(|h| h.is_running()).cloned().collect()
    }

    /// The running session of this user and name.
    pub fn get(&self, user_id: i64, name: &str) -> Option<SessionHandle> {
        let map = self.inner.sessions.lock().unwrap_or_else(|e| e.into_inner());
        map.values()
            .find(|h| h.key.user_id == user_id && h.key.name == name && h.is_running())
            .cloned()
    }

    /// The last handle (running or ended) of this user's session of this name.
    pub fn find(&self, user_id: i64, name: &str) -> Option<SessionHandle> {
        let map = self.inner.sessions.lock().unwrap_or_else(|e| e.into_inner());
        map.values()
            .filter(|h| h.key.user_id == user_id && h.key.name == name)
            .max_by_key(|h| h.is_running())
            .cloned()
    }

    /// The last known handle (running or ended) of a session row: its info survives the actor.
    pub fn last_handle(&self, session_id: i64) -> Option<SessionHandle> {
        let map = self.inner.sessions.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&session_id).cloned()
    }

    /// Starts the user's session (or returns the running one).
    pub async fn start(&self, user_id: i64, name: &str) -> Result<SessionHandle, SessionError> {
        if let Some(h) = self.get(user_id, name) {
            return Ok(h);
        }
        let row = self.inner.db.get_or_create_session(user_id, name).await?;
        self.start_row(row)
    }

    fn start_row(&self, row: SessionRow) -> Result<SessionHandle, SessionError> {
        let mut map = self.inner.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = map.get(&row.id).filter(|h| h.is_running()) {
            return Ok(h.clone());
        }
        let running = map.values().filter(|h| h.is_running()).count();
        let max = self.inner.settings.sessions.max_concurrent;
        if running >= max {
            return Err(SessionError::LimitReached(max));
        }
        let key = SessionKey {
            id: row.id,
            user_id: row.user_id,
            name: row.name.clone(),
        };
        let mut info = SessionInfo::new(SessionState::Starting, None);
        info.phone = row.phone_number.clone();
        info.wid = row.wid.clone();
        info.push_name = row.push_name.clone();
        let (info_tx, info_rx) = watch::channel(info);
        let (tx, rx) = mpsc::channel(64);
        let actor = Actor {
            key: key.clone(),
            settings: self.inner.settings.clone(),
            db: self.inner.db.clone(),
            driver: self.inner.driver.clone(),
            sink: self.inner.sink.clone(),
            rx,
            info: info_tx,
            profile: self.profile_dir(row.id),
            was_linked: row.phone_number.is_some() && row.status != "logged_out",
            connected_at: row.connected_at,
            page: None,
            doc: Default::default(),
        };
        self.inner.runtime.spawn(actor.run());
        let handle = SessionHandle { key, tx, info: info_rx };
        let worker = super::queue::QueueWorker {
            handle: handle.clone(),
            db: self.inner.db.clone(),
            settings: self.inner.settings.sending.clone(),
            media_dir: self.inner.settings.media.dir.clone(),
            wake: self.inner.outbox.wake_of(row.id),
            outbox: self.inner.outbox.clone(),
        };
        self.inner.runtime.spawn(worker.run());
        map.insert(row.id, handle.clone());
        Ok(handle)
    }

    /// Where sends are handed over (see [`Outbox::submit`]).
    pub fn outbox(&self) -> &Outbox {
        &self.inner.outbox
    }

    /// Stops a session; its row stays (`stopped`) and so does a linked profile.
    pub async fn stop(&self, session_id: i64) -> Result<(), SessionError> {
        match self.last_handle(session_id) {
            Some(h) => h.stop().await,
            None => Ok(()),
        }
    }

    /// Stops a session and forgets it: its row, history and browser profile are deleted.
    pub async fn delete(&self, session_id: i64) -> Result<(), SessionError> {
        self.stop(session_id).await?;
        self.inner
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&session_id);
        let dir = self
            .inner
            .settings
            .data_dir
            .join("sessions")
            .join(session_id.to_string());
        if let Err(e) = std::fs::remove_dir_all(&dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            return Err(SessionError::Invalid(format!(
                "could not delete {}: {e}",
                dir.display()
            )));
        }
        self.inner.db.delete_session(session_id).await?;
        Ok(())
    }

    /// Starts every session that was linked when the gateway last stopped; returns how many.
    pub async fn restore(&self) -> Result<usize, SessionError> {
        let rows = self.inner.db.sessions_to_restore().await?;
        let mut started = 0;
        for row in rows {
            if !self.profile_dir(row.id).exists() {
                continue;
            }
            match self.start_row(row) {
                Ok(_) => started += 1,
                Err(e) => {
                    tracing::warn!(error = %e, "could not restore a session");
                    break;
                }
            }
        }
        Ok(started)
    }

    /// Stops sessions that never linked and have shown a QR (or failed) for longer than
    /// `idle_timeout`. Linked sessions stay up: stopping them would delay incoming messages.
    pub async fn reap_idle(&self, idle_timeout: Duration) -> usize {
        let now = chrono::Utc::now();
        let mut stopped = 0;
        for h in self.running() {
            let info = h.info();
            let waiting = matches!(
                info.state,
                SessionState::QrPending | SessionState::Pairing | SessionState::PasskeyRequired
            ) && info.phone.is_none();
            let idle = (now - info.since).to_std().unwrap_or_default() >= idle_timeout;
            if waiting && idle && h.stop().await.is_ok() {
                tracing::info!(session = h.key.id, "stopped a session that was never linked");
                stopped += 1;
            }
        }
        stopped
    }

    /// Runs `reap_idle` every `period` (spawned by the application).
    pub async fn run_reaper(self, period: Duration) {
        let timeout = Duration::from_secs(self.inner.settings.sessions.idle_timeout_secs);
        let mut tick = tokio::time::interval(period);
        loop {
            tick.tick().await;
            self.reap_idle(timeout).await;
        }
    }

    /// Closes every browser (recorded states are kept, so linked sessions are restored at the
    /// next start), then chromedriver.
    pub async fn shutdown(&self) {
        let handles = self.running();
        futures_util::future::join_all(handles.iter().map(|h| h.shutdown())).await;
        self.inner.driver.shutdown();
    }

    /// Browser memory (PSS, kB) of the running sessions, summed.
    pub fn browsers_pss_kb(&self) -> u64 {
        procs::profile_pss_kb(&self.inner.settings.data_dir.join("sessions"))
    }
}
