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
use super::remote::{Mirror, unclaimed_info};
use super::state::{SessionInfo, SessionState};
use crate::browser::{WebDriver, procs};
use crate::cluster::Node;
use crate::config::Settings;
use crate::db::cluster::{Fence, LeaseRow};
use crate::db::{Database, SessionRow};

/// Room for bursts of page events while the consumer is busy; actors wait when it is full.
const SINK_CAPACITY: usize = 10_000;

#[derive(Clone)]
pub struct SessionManager {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Arc<Settings>,
    media: crate::media_files::MediaFiles,
    db: Database,
    driver: WebDriver,
    sink: mpsc::Sender<SessionEvent>,
    sessions: Mutex<HashMap<i64, SessionHandle>>,
    /// Actors run here (the main multi-thread runtime), never on an HTTP worker's runtime.
    runtime: tokio::runtime::Handle,
    /// Where sends are handed over; it wakes the workers and completes the waiting callers.
    outbox: Outbox,
    /// Cluster mode: this node, and the sessions other nodes own, seen from here.
    cluster: Option<Arc<Node>>,
    mirrors: Mutex<HashMap<i64, Mirror>>,
}

fn row_key(row: &SessionRow) -> SessionKey {
    SessionKey {
        id: row.id,
        user_id: row.user_id,
        name: row.name.clone(),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SessionManager {
    /// A manager and the receiving end of its event sink. Sweeps browsers orphaned by an earlier
    /// run (their `--user-data-dir` is under our data dir) before anything starts.
    pub fn new(settings: Arc<Settings>, db: Database) -> (Self, mpsc::Receiver<SessionEvent>) {
        Self::with_cluster(settings, db, None)
    }

    /// A manager of one cluster node (`node`), or of a single gateway (None).
    pub fn with_cluster(
        settings: Arc<Settings>,
        db: Database,
        node: Option<Arc<Node>>,
    ) -> (Self, mpsc::Receiver<SessionEvent>) {
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
                media: crate::media_files::MediaFiles::new(
                    settings.media.dir.clone(),
                    node.as_ref().map(|n| n.store.clone()),
                ),
                settings,
                db,
                driver,
                sink,
                sessions: Mutex::new(HashMap::new()),
                runtime: tokio::runtime::Handle::current(),
                cluster: node,
                mirrors: Mutex::new(HashMap::new()),
            }),
        };
        (manager, events)
    }

    pub fn driver(&self) -> &WebDriver {
        &self.inner.driver
    }

    /// This cluster node, in cluster mode.
    /// The media files: this node's, and the object store's in cluster mode.
    pub fn media(&self) -> &crate::media_files::MediaFiles {
        &self.inner.media
    }

    pub fn node(&self) -> Option<&Arc<Node>> {
        self.inner.cluster.as_ref()
    }

    pub(crate) fn profile_dir(&self, session_id: i64) -> PathBuf {
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

    /// The running session of this user and name (in cluster mode, also one another node owns).
    pub fn get(&self, user_id: i64, name: &str) -> Option<SessionHandle> {
        let found = lock(&self.inner.sessions)
            .values()
            .find(|h| h.key.user_id == user_id && h.key.name == name && h.is_running())
            .cloned();
        found.or_else(|| {
            lock(&self.inner.mirrors)
                .values()
                .map(|m| &m.handle)
                .find(|h| h.key.user_id == user_id && h.key.name == name && h.is_running())
                .cloned()
        })
    }

    /// The last handle (running or ended) of this user's session of this name.
    pub fn find(&self, user_id: i64, name: &str) -> Option<SessionHandle> {
        if let Some(h) = self.get(user_id, name) {
            return Some(h);
        }
        let map = lock(&self.inner.sessions);
        map.values()
            .filter(|h| h.key.user_id == user_id && h.key.name == name)
            .max_by_key(|h| h.is_running())
            .cloned()
    }

    /// The last known handle (running or ended) of a session row: its info survives the actor.
    pub fn last_handle(&self, session_id: i64) -> Option<SessionHandle> {
        if let Some(m) = lock(&self.inner.mirrors)
            .get(&session_id)
            .filter(|m| m.handle.is_running())
        {
            return Some(m.handle.clone());
        }
        lock(&self.inner.sessions).get(&session_id).cloned()
    }

    /// The session's actor on this node, if it runs here.
    pub fn local(&self, session_id: i64) -> Option<SessionHandle> {
        lock(&self.inner.sessions)
            .get(&session_id)
            .filter(|h| h.is_running())
            .cloned()
    }

    /// Starts the user's session (or returns the running one).
    pub async fn start(&self, user_id: i64, name: &str) -> Result<SessionHandle, SessionError> {
        if let Some(h) = self.get(user_id, name) {
            return Ok(h);
        }
        let row = self.inner.db.get_or_create_session(user_id, name).await?;
        match self.inner.cluster.clone() {
            None => self.start_row(row, None),
            Some(node) => self.start_clustered(&node, row).await,
        }
    }

    /// Cluster mode: the session should run; this node takes it when it is free and there is
    /// room here, else it is seen through a mirror of whichever node owns (or will own) it.
    async fn start_clustered(&self, node: &Arc<Node>, row: SessionRow) -> Result<SessionHandle, SessionError> {
        let db = &self.inner.db;
        let me = node.has_room().then_some(&*node.id);
        if let Some(adopted) = db.want_session(row.id, me, node.settings.lease_secs).await? {
            return self.adopt(node, row, adopted.generation).await;
        }
        let lease = db.lease(row.id).await?;
        let owner = lease.as_ref().and_then(|l| l.owner.clone());
        if owner.as_deref() == Some(&*node.id) {
            // Claimed by this node's claim round a moment ago: its actor is starting.
            for _ in 0..100 {
                if let Some(h) = self.local(row.id) {
                    return Ok(h);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        let lease = db.lease(row.id).await?;
        Ok(self.mirror(node, &row_key(&row), lease.as_ref()))
    }

    /// Starts the actor of a session this node just adopted: its profile restored from the
    /// store when another node archived a newer one, and the sends the previous owner left in
    /// flight put back in line (they are looked up by key id before any resend).
    pub async fn adopt(
        &self,
        node: &Arc<Node>,
        row: SessionRow,
        generation: i64,
    ) -> Result<SessionHandle, SessionError> {
        let fence = Fence {
            node: node.id.clone(),
            generation,
        };
        let profile = self.profile_dir(row.id);
        if let Err(e) = node.restore_profile(row.id, &profile).await {
            tracing::warn!(session = row.id, error = %e, "could not restore the session's profile; a QR may be needed");
        }
        match self.inner.db.requeue_session_pending(row.id).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                session = row.id,
                messages = n,
                "sends in flight at the previous owner: back in line"
            ),
            Err(e) => tracing::warn!(session = row.id, error = %e, "could not requeue the previous owner's sends"),
        }
        let id = row.id;
        lock(&self.inner.mirrors).remove(&id);
        node.hold(id, fence.clone());
        let handle = match self.start_row(row, Some(fence.clone())) {
            Ok(h) => h,
            Err(e) => {
                node.forget(id);
                let _ = self.inner.db.release_lease(id, &fence, true).await;
                return Err(e);
            }
        };
        node.watch_session(self.clone(), handle.clone(), fence);
        Ok(handle)
    }

    /// A mirror of a session another node owns (or none does yet), created or refreshed.
    pub(crate) fn mirror(&self, node: &Arc<Node>, key: &SessionKey, lease: Option<&LeaseRow>) -> SessionHandle {
        let info = lease
            .and_then(|l| l.info.as_deref())
            .and_then(|j| serde_json::from_str::<SessionInfo>(j).ok())
            .filter(|_| lease.is_some_and(|l| l.owner.is_some()))
            .unwrap_or_else(unclaimed_info);
        let mut mirrors = lock(&self.inner.mirrors);
        if let Some(m) = mirrors.get(&key.id).filter(|m| m.handle.is_running()) {
            m.update(info);
            return m.handle.clone();
        }
        let m = Mirror::new(key.clone(), info, node.clone());
        let handle = m.handle.clone();
        mirrors.insert(key.id, m);
        handle
    }

    /// A claim round: the mirror of a session another node owns (or none does yet).
    pub(crate) fn mirror_lease(&self, node: &Arc<Node>, lease: &LeaseRow) {
        if self.local(lease.session_id).is_some() {
            return;
        }
        let key = SessionKey {
            id: lease.session_id,
            user_id: lease.user_id,
            name: lease.name.clone(),
        };
        self.mirror(node, &key, Some(lease));
    }

    /// The handle of a local session whose actor ended (stopped, logged out, failed).
    pub(crate) fn ended(&self, session_id: i64) -> Option<SessionHandle> {
        lock(&self.inner.sessions)
            .get(&session_id)
            .filter(|h| !h.is_running())
            .cloned()
    }

    /// Refreshes the mirror of `session_id` from its lease, if there is one.
    pub(crate) fn refresh_mirror(&self, lease: &LeaseRow) {
        let Some(info) = lease
            .info
            .as_deref()
            .and_then(|j| serde_json::from_str::<SessionInfo>(j).ok())
        else {
            return;
        };
        if let Some(m) = lock(&self.inner.mirrors).get(&lease.session_id) {
            m.update(info);
        }
    }

    /// Mirrors of sessions that are no longer wanted, or that this node owns now, end.
    pub(crate) fn prune_mirrors(&self, keep: &dyn Fn(i64) -> bool) {
        lock(&self.inner.mirrors).retain(|id, m| keep(*id) || m.created.elapsed() < Duration::from_secs(10));
    }

    /// Ids of the sessions mirrored here.
    pub(crate) fn mirrored(&self) -> Vec<i64> {
        lock(&self.inner.mirrors).keys().copied().collect()
    }

    /// The lease of a local session was lost (expired, or another node adopted it): its
    /// browser is closed at once, nothing more is written for it.
    pub(crate) fn drop_local(&self, session_id: i64) {
        let handle = lock(&self.inner.sessions).remove(&session_id);
        if let Some(h) = handle {
            tracing::warn!(
                session = session_id,
                "lease lost: closing this node's browser for the session"
            );
            metrics::counter!("wagate_cluster_leases_lost_total").increment(1);
            self.inner.runtime.spawn(async move { h.shutdown().await });
        }
    }

    fn start_row(&self, row: SessionRow, fence: Option<Fence>) -> Result<SessionHandle, SessionError> {
        let mut map = self.inner.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = map.get(&row.id).filter(|h| h.is_running()) {
            return Ok(h.clone());
        }
        let running = map.values().filter(|h| h.is_running()).count();
        let max = match &self.inner.cluster {
            Some(node) => node.capacity,
            None => self.inner.settings.sessions.max_concurrent,
        };
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
            fence: fence.clone(),
            media: self.inner.media.clone(),
            outbox: self.inner.outbox.clone(),
        };
        self.inner.runtime.spawn(actor.run());
        let handle = SessionHandle { key, tx, info: info_rx };
        let worker = super::queue::QueueWorker {
            handle: handle.clone(),
            db: self.inner.db.clone(),
            settings: self.inner.settings.sending.clone(),
            media: self.inner.media.clone(),
            wake: self.inner.outbox.wake_of(row.id),
            outbox: self.inner.outbox.clone(),
            fence: fence.map(|f| (f, self.claim_margin())),
        };
        self.inner.runtime.spawn(worker.run());
        map.insert(row.id, handle.clone());
        Ok(handle)
    }

    /// Seconds of lease a send must have left to start: a third of the lease, so a healthy
    /// owner (renewing every third) always has it, and a node that stopped renewing stops
    /// sending well before another can adopt the session.
    fn claim_margin(&self) -> f64 {
        self.inner
            .cluster
            .as_ref()
            .map_or(0.0, |n| n.settings.lease_secs as f64 / 3.0)
    }

    /// Where sends are handed over (see [`Outbox::submit`]).
    pub fn outbox(&self) -> &Outbox {
        &self.inner.outbox
    }

    /// Stops a session; its row stays (`stopped`) and so does a linked profile. In cluster mode
    /// the session is no longer wanted anywhere; another node's session is stopped by its owner.
    pub async fn stop(&self, session_id: i64) -> Result<(), SessionError> {
        let Some(node) = self.inner.cluster.clone() else {
            return match self.last_handle(session_id) {
                Some(h) => h.stop().await,
                None => Ok(()),
            };
        };
        if let Some(h) = self.local(session_id) {
            h.stop().await?;
            if let Some(fence) = node.forget(session_id) {
                self.inner.db.release_lease(session_id, &fence, false).await?;
            }
            return Ok(());
        }
        match self.inner.db.lease(session_id).await? {
            Some(LeaseRow { owner: Some(_), .. }) => match self.last_handle(session_id) {
                Some(h) => h.stop().await,
                None => {
                    let row = self.inner.db.session_by_id(session_id).await?;
                    match row {
                        Some(row) => self.mirror(&node, &row_key(&row), None).stop().await,
                        None => Ok(()),
                    }
                }
            },
            _ => Ok(self.inner.db.set_wanted(session_id, false).await?),
        }
    }

    /// Stops a session and forgets it: its row, history and browser profile are deleted.
    pub async fn delete(&self, session_id: i64) -> Result<(), SessionError> {
        if let Some(node) = self.inner.cluster.clone() {
            let owner = self.inner.db.lease(session_id).await?.and_then(|l| l.owner);
            if owner.as_deref().is_some_and(|o| o != &*node.id) {
                // The owner deletes it (its browser, its profile); the row goes with it.
                let row = self.inner.db.session_by_id(session_id).await?;
                if let Some(row) = row {
                    let handle = self.mirror(&node, &row_key(&row), None);
                    match crate::cluster::remote_delete(&node, session_id).await {
                        Ok(()) => {}
                        Err(e) => return Err(e),
                    }
                    drop(handle);
                }
                lock(&self.inner.mirrors).remove(&session_id);
                return Ok(());
            }
            node.delete_archive(session_id).await;
        }
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
        if self.inner.cluster.is_some() {
            // In a cluster the claim rounds start them, spread over the nodes.
            return Ok(self.inner.db.ensure_leases(rows.iter().map(|r| r.id).collect()).await?);
        }
        let mut started = 0;
        for row in rows {
            if !self.profile_dir(row.id).exists() {
                continue;
            }
            match self.start_row(row, None) {
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
        if let Some(node) = self.inner.cluster.clone() {
            // Handed over: each session's browser closed, its profile archived, its lease
            // released, so other nodes adopt them at once (no lease to wait out).
            node.stopping();
            let ids: Vec<i64> = self.running().iter().map(|h| h.key.id).collect();
            futures_util::future::join_all(ids.into_iter().map(|id| node.hand_over(self, id))).await;
            lock(&self.inner.mirrors).clear();
            if let Err(e) = self.inner.db.mark_node_stopped(&node.id).await {
                tracing::warn!(error = %e, "could not record this node's stop");
            }
        }
        let handles = self.running();
        futures_util::future::join_all(handles.iter().map(|h| h.shutdown())).await;
        self.inner.driver.shutdown();
    }

    /// Browser memory (PSS, kB) of the running sessions, summed.
    pub fn browsers_pss_kb(&self) -> u64 {
        procs::profile_pss_kb(&self.inner.settings.data_dir.join("sessions"))
    }
}
