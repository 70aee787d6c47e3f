//! Cluster mode: several wagate nodes on one PostgreSQL database. PostgreSQL is the only
//! coordinator — no consensus of our own:
//!
//! - **Registry**: each node upserts its row in `cluster_nodes` (heartbeat, capacity, draining).
//! - **Leases**: a session runs on the node holding its `session_leases` row, until
//!   `expires_at` (database clock). Each adoption raises the row's `generation`, the fencing
//!   token the owner's writes carry: sends are claimed only while the lease holds (with a margin),
//!   state writes lock the lease row, so a node that was paused or cut off cannot act for a
//!   session it lost; it closes that browser when it finds out.
//! - **Claim loop** ([`run`]): every `claim_interval` a node renews its leases, answers control
//!   commands, and adopts wanted sessions whose lease is free or expired (`FOR UPDATE SKIP
//!   LOCKED`), no more than its fair share so sessions spread over the nodes.
//! - **Any node answers**: the owner publishes each session's info in its lease row (`NOTIFY
//!   wagate_info`); other nodes keep a mirror handle of it ([`crate::sessions::remote`]). Sends
//!   are rows in the queue: a trigger's `NOTIFY wagate_queue` wakes the owner's worker, and
//!   `NOTIFY wagate_settled` completes the caller waiting on another node.
//! - **Portable profiles** ([`profile`]): the owner archives the profile's WhatsApp state to the
//!   object store ([`crate::storage`]); an adopting node restores it before Chromium starts.

pub mod profile;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::config::{ClusterSettings, Settings};
use crate::db::cluster::{CommandRow, Fence};
use crate::db::{Database, DbError};
use crate::sessions::remote::{self, encode_answer};
use crate::sessions::{SessionError, SessionHandle, SessionManager, SessionState};
use crate::storage::Store;

/// The channels a node listens on.
const CHANNELS: &[&str] = &[
    "wagate_queue",
    "wagate_settled",
    "wagate_info",
    "wagate_cmd",
    "wagate_cmd_done",
    "wagate_claim",
];
/// After a session connects, its profile is archived once this much later (Chromium writes
/// Local Storage lazily; IndexedDB commits are on disk at once).
const FIRST_ARCHIVE_DELAY: Duration = Duration::from_secs(3);
/// Info updates closer than this are published as one.
const PUBLISH_COALESCE: Duration = Duration::from_millis(150);
/// Answered commands are kept this long (for a late look by the node that asked).
const COMMAND_KEEP_SECS: u64 = 3600;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// This node of the cluster.
pub struct Node {
    pub id: Arc<str>,
    pub settings: ClusterSettings,
    /// Sessions this node may own (`cluster.capacity`, or `sessions.max_concurrent`).
    pub capacity: usize,
    pub db: Database,
    pub store: Store,
    db_url: String,
    /// The leases this node holds, by session id.
    fences: Mutex<HashMap<i64, Fence>>,
    /// Rung when any command was answered (`NOTIFY wagate_cmd_done`).
    pub(crate) cmd_done: Notify,
    claim_now: Notify,
    draining: AtomicBool,
    stopping: AtomicBool,
}

impl Node {
    /// The node of these settings. Errors: the object store's URL cannot be opened.
    pub fn new(settings: &Settings, db: Database) -> Result<Arc<Node>, crate::storage::StorageError> {
        let id = match settings.cluster.node_id.trim() {
            "" => default_node_id(),
            s => s.to_string(),
        };
        let capacity = match settings.cluster.capacity {
            0 => settings.sessions.max_concurrent,
            n => n,
        };
        Ok(Arc::new(Node {
            id: id.into(),
            settings: settings.cluster.clone(),
            capacity,
            db,
            store: Store::open(&settings.storage.url)?,
            db_url: settings.database.url.clone(),
            fences: Mutex::new(HashMap::new()),
            cmd_done: Notify::new(),
            claim_now: Notify::new(),
            draining: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
        }))
    }

    fn claim_interval(&self) -> Duration {
        match self.settings.claim_interval_ms {
            0 => Duration::from_millis(self.settings.lease_secs * 1000 / 3),
            ms => Duration::from_millis(ms),
        }
    }

    /// Sessions this node owns now.
    pub fn owned(&self) -> usize {
        lock(&self.fences).len()
    }

    /// Whether this node may adopt one more session.
    pub fn has_room(&self) -> bool {
        !self.draining.load(Ordering::Relaxed) && !self.stopping.load(Ordering::Relaxed) && self.owned() < self.capacity
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    pub(crate) fn hold(&self, session_id: i64, fence: Fence) {
        lock(&self.fences).insert(session_id, fence);
    }

    pub(crate) fn forget(&self, session_id: i64) -> Option<Fence> {
        lock(&self.fences).remove(&session_id)
    }

    /// The lease this node holds on a session.
    pub fn fence(&self, session_id: i64) -> Option<Fence> {
        lock(&self.fences).get(&session_id).cloned()
    }

    /// A graceful stop began: no more adoptions.
    pub(crate) fn stopping(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    fn archive_key_prefix(session_id: i64) -> String {
        format!("profiles/{session_id}/")
    }

    /// Before this node starts a session it adopted: its profile from the store, unless the
    /// local one already matches the latest archive (this node made it, or restored it before).
    pub async fn restore_profile(&self, session_id: i64, profile: &Path) -> Result<(), String> {
        let lease = self.db.lease(session_id).await.map_err(|e| e.to_string())?;
        let Some(key) = lease.and_then(|l| l.archive_key) else {
            return Ok(());
        };
        if profile::marked(profile).as_deref() == Some(key.as_str()) {
            return Ok(());
        }
        let started = Instant::now();
        let bytes = match self.store.get(&key).await.map_err(|e| e.to_string())? {
            Some(b) => b,
            None => return Err(format!("the archive {key} is missing from the store")),
        };
        let (dir, k) = (profile.to_path_buf(), key.clone());
        let files = tokio::task::spawn_blocking(move || profile::restore(&bytes, &dir, &k))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("unpacking {key}: {e}"))?;
        tracing::info!(
            session = session_id,
            files,
            ms = started.elapsed().as_millis() as u64,
            "profile restored from the store"
        );
        Ok(())
    }

    /// Archives the session's profile to the store and records it (by the lease holder only).
    /// Returns the archive's size in bytes.
    pub async fn archive_profile(&self, session_id: i64, fence: &Fence, profile: &Path) -> Result<u64, String> {
        let dir = profile.to_path_buf();
        let bytes = tokio::task::spawn_blocking(move || profile::archive(&dir))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("archiving the profile: {e}"))?;
        let size = bytes.len() as u64;
        let key = format!(
            "{}{}-{}.tar.zst",
            Self::archive_key_prefix(session_id),
            fence.generation,
            chrono::Utc::now().timestamp_millis()
        );
        let previous = self
            .db
            .lease(session_id)
            .await
            .ok()
            .flatten()
            .and_then(|l| l.archive_key);
        self.store.put(&key, bytes).await.map_err(|e| e.to_string())?;
        if let Err(e) = self
            .db
            .record_archive(session_id, fence, key.clone(), size as i64)
            .await
        {
            let _ = self.store.delete(&key).await;
            return Err(e.to_string());
        }
        let _ = profile::mark(profile, &key);
        if let Some(old) = previous.filter(|old| *old != key)
            && let Err(e) = self.store.delete(&old).await
        {
            tracing::debug!(session = session_id, error = %e, "could not delete an older archive");
        }
        metrics::gauge!("wagate_cluster_archive_bytes", "session" => session_id.to_string()).set(size as f64);
        tracing::debug!(session = session_id, bytes = size, "profile archived");
        Ok(size)
    }

    /// The session's archive is no longer valid (logged out, deleted).
    pub async fn delete_archive(&self, session_id: i64) {
        if let Ok(Some(key)) = self.db.lease(session_id).await.map(|l| l.and_then(|l| l.archive_key)) {
            let _ = self.store.delete(&key).await;
        }
        let _ = self.db.clear_archive(session_id).await;
    }

    /// For a session this node just started: publishes its info for the other nodes at every
    /// change, and archives its profile once connected and whenever WhatsApp's storage changed
    /// (at most every `cluster.archive_interval_secs`). Ends with the actor, or when the lease
    /// is lost (then the session is closed here).
    pub(crate) fn watch_session(self: &Arc<Self>, manager: SessionManager, handle: SessionHandle, fence: Fence) {
        let node = self.clone();
        tokio::spawn(async move {
            let id = handle.key.id;
            let profile = manager.profile_dir(id);
            let mut rx = handle.watch();
            let mut archived_fp: Option<u64> = None;
            let mut connected_since: Option<Instant> = None;
            let mut last_archive: Option<Instant> = None;
            let interval = Duration::from_secs(node.settings.archive_interval_secs.max(1));
            loop {
                if node.fence(id).as_ref() != Some(&fence) {
                    return; // handed over or lost: the new owner publishes
                }
                let info = rx.borrow_and_update().clone();
                let json = serde_json::to_string(&info).unwrap_or_default();
                match node.db.publish_info(id, &fence, json).await {
                    Ok(()) => {}
                    Err(DbError::Fenced) => {
                        if node.forget(id).is_some() {
                            manager.drop_local(id);
                        }
                        return;
                    }
                    Err(e) => tracing::warn!(session = id, error = %e, "could not publish the session's state"),
                }
                let connected = info.state == SessionState::Connected;
                connected_since = match (connected, connected_since) {
                    (true, None) => Some(Instant::now()),
                    (true, since) => since,
                    (false, _) => None,
                };
                // When to look at the profile next: shortly after connecting, then each interval.
                let archive_due = connected_since.map(|since| match last_archive {
                    None => since + FIRST_ARCHIVE_DELAY,
                    Some(at) => (at + interval).max(since + FIRST_ARCHIVE_DELAY),
                });
                tokio::select! {
                    changed = rx.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        tokio::time::sleep(PUBLISH_COALESCE).await;
                    }
                    _ = async {
                        match archive_due {
                            Some(at) => tokio::time::sleep_until(at).await,
                            None => std::future::pending().await,
                        }
                    } => {
                        last_archive = Some(Instant::now());
                        let fp = profile::fingerprint(&profile);
                        if archived_fp != Some(fp) {
                            match node.archive_profile(id, &fence, &profile).await {
                                Ok(_) => archived_fp = Some(fp),
                                Err(e) => tracing::warn!(session = id, error = %e, "could not archive the profile"),
                            }
                        }
                    }
                }
            }
        });
    }

    /// Hands a session over (graceful stop, drain): its browser closed, its profile archived
    /// (the most consistent copy: nothing writes it now), its lease released so another node
    /// adopts it at once.
    pub(crate) async fn hand_over(&self, manager: &SessionManager, session_id: i64) {
        let Some(fence) = self.forget(session_id) else { return };
        let linked = match manager.local(session_id) {
            Some(h) => {
                let linked = h.info().phone.is_some();
                h.shutdown_for_handover().await;
                linked
            }
            None => false,
        };
        let profile = manager.profile_dir(session_id);
        if linked && profile.exists() {
            match self.archive_profile(session_id, &fence, &profile).await {
                Ok(bytes) => tracing::info!(session = session_id, bytes, "profile archived for the next owner"),
                Err(e) => {
                    tracing::warn!(session = session_id, error = %e, "could not archive the profile at hand-over")
                }
            }
        }
        match self.db.release_lease(session_id, &fence, true).await {
            Ok(_) => tracing::info!(session = session_id, "session handed over"),
            Err(e) => tracing::warn!(session = session_id, error = %e, "could not release the lease; it expires"),
        }
    }
}

/// `<hostname>-<4 hex digits>`: unique enough for nodes started on the same host.
fn default_node_id() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let host = if ok {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        "wagate".into()
    };
    let suffix: u16 = rand::random();
    format!("{host}-{suffix:04x}")
}

/// Deletes another node's session through its owner (bounded wait).
pub async fn remote_delete(node: &Arc<Node>, session_id: i64) -> Result<(), SessionError> {
    remote::ask(node, session_id, "delete", json!({})).await.map(drop)
}

/// The node's claim loop, plus its `LISTEN` connection. Runs until the node stops.
pub async fn run(node: Arc<Node>, manager: SessionManager) {
    if let Err(e) = node
        .db
        .register_node(&node.id, node.capacity, env!("CARGO_PKG_VERSION"))
        .await
    {
        tracing::error!(error = %e, "could not register this cluster node");
    }
    tracing::info!(node = %node.id, capacity = node.capacity, lease_secs = node.settings.lease_secs, "cluster node up");
    metrics::gauge!("wagate_cluster_capacity").set(node.capacity as f64);
    tokio::spawn(listen(node.clone(), manager.clone()));
    tokio::spawn(keep_leases(node.clone()));
    let mut tick = tokio::time::interval(node.claim_interval());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_renewal = Instant::now();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = node.claim_now.notified() => {}
        }
        if node.stopping.load(Ordering::Relaxed) {
            return;
        }
        match round(&node, &manager).await {
            Ok(()) => last_renewal = Instant::now(),
            Err(e) => {
                tracing::warn!(error = %e, "cluster round failed");
                // Without the database no lease can be renewed: once ours must have expired,
                // another node may own these sessions; close them here.
                if last_renewal.elapsed() > Duration::from_secs(node.settings.lease_secs) {
                    let ids: Vec<i64> = lock(&node.fences).keys().copied().collect();
                    for id in ids {
                        node.forget(id);
                        manager.drop_local(id);
                    }
                }
            }
        }
    }
}

/// Heartbeat and lease renewal on a beat of their own: a round busy adopting (restoring
/// profiles, starting browsers) or handing sessions over must not let this node's leases lapse
/// and its live sessions move (seen under load with 6 s leases). A renewal extends only leases
/// this node still holds, so it races nothing the round does.
async fn keep_leases(node: Arc<Node>) {
    let mut tick = tokio::time::interval(node.claim_interval());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if node.stopping.load(Ordering::Relaxed) {
            return;
        }
        let renewed = match node.db.heartbeat(&node.id).await {
            Ok(_) => node.db.renew_leases(&node.id, node.settings.lease_secs).await.map(drop),
            Err(e) => Err(e),
        };
        if let Err(e) = renewed {
            tracing::warn!(error = %e, "lease renewal failed");
        }
    }
}

/// One round: heartbeat, renew, notice lost and ended sessions, answer commands, then drain or
/// adopt, and refresh the mirrors.
async fn round(node: &Arc<Node>, manager: &SessionManager) -> Result<(), DbError> {
    let db = &node.db;
    let draining = db.heartbeat(&node.id).await?;
    node.draining.store(draining, Ordering::Relaxed);

    let held: HashMap<i64, i64> = db
        .renew_leases(&node.id, node.settings.lease_secs)
        .await?
        .into_iter()
        .collect();
    let ours: Vec<(i64, Fence)> = lock(&node.fences).iter().map(|(k, v)| (*k, v.clone())).collect();
    for (id, fence) in &ours {
        if held.get(id) != Some(&fence.generation) {
            node.forget(*id);
            manager.drop_local(*id);
            continue;
        }
        // The actor ended here (stopped, logged out, failed): the session is not wanted any more.
        if let Some(h) = manager.ended(*id) {
            node.forget(*id);
            let state = h.info().state;
            if state == SessionState::LoggedOut {
                node.delete_archive(*id).await;
            }
            db.release_lease(*id, fence, false).await?;
            tracing::info!(
                session = id,
                state = state.as_str(),
                "session ended on this node; lease released"
            );
        }
    }
    metrics::gauge!("wagate_cluster_sessions_owned").set(node.owned() as f64);

    run_commands(node, manager).await?;

    if draining {
        let ids: Vec<i64> = lock(&node.fences).keys().copied().collect();
        if !ids.is_empty() {
            tracing::info!(sessions = ids.len(), "draining: handing sessions over");
            futures_util::future::join_all(ids.into_iter().map(|id| node.hand_over(manager, id))).await;
        }
    } else if node.has_room() {
        adopt(node, manager).await?;
    }

    // Mirrors: every session wanted or owned elsewhere, with the owner's latest info.
    let leases = db.leases(None).await?;
    let mut elsewhere = HashSet::new();
    for l in &leases {
        let mine = l.owner.as_deref() == Some(&*node.id);
        if !mine && (l.wanted || l.owner.is_some()) {
            elsewhere.insert(l.session_id);
            manager.mirror_lease(node, l);
        }
    }
    manager.prune_mirrors(&|id| elsewhere.contains(&id));
    db.purge_commands(COMMAND_KEEP_SECS).await?;
    Ok(())
}

/// Adopts unowned sessions, no more than this node's fair share: (owned by live nodes + waiting)
/// / live nodes. The least loaded node with room takes one even past it, so nothing waits when
/// the others are full.
async fn adopt(node: &Arc<Node>, manager: &SessionManager) -> Result<(), DbError> {
    let db = &node.db;
    let waiting = db.unowned_wanted().await?;
    if waiting == 0 {
        return Ok(());
    }
    let nodes = db.cluster_nodes(node.settings.lease_secs).await?;
    let live: Vec<_> = nodes.iter().filter(|n| n.alive && !n.draining).collect();
    let mine = node.owned() as i64;
    let room = node.capacity.saturating_sub(node.owned()) as i64;
    let total: i64 = live.iter().map(|n| n.owned).sum::<i64>() + waiting;
    let fair = (total + live.len().max(1) as i64 - 1) / live.len().max(1) as i64;
    let mut budget = (fair - mine).min(room);
    if budget <= 0 {
        let least = live
            .iter()
            .filter(|n| (n.owned as usize) < n.capacity as usize)
            .min_by(|a, b| {
                let load = |n: &&&crate::db::cluster::NodeRow| n.owned as f64 / n.capacity.max(1) as f64;
                load(a).total_cmp(&load(b)).then(a.node_id.cmp(&b.node_id))
            });
        budget = if least.is_some_and(|n| n.node_id == *node.id) {
            room.min(1)
        } else {
            0
        };
    }
    if budget <= 0 {
        return Ok(());
    }
    for adopted in db
        .claim_sessions(&node.id, budget, None, node.settings.lease_secs)
        .await?
    {
        let Some(row) = db.session_by_id(adopted.session_id).await? else {
            continue;
        };
        let started = Instant::now();
        match manager.adopt(node, row, adopted.generation).await {
            Ok(_) => {
                metrics::counter!("wagate_cluster_adoptions_total").increment(1);
                tracing::info!(
                    session = adopted.session_id,
                    generation = adopted.generation,
                    previous = adopted.previous.as_deref().unwrap_or("-"),
                    ms = started.elapsed().as_millis() as u64,
                    "session adopted"
                );
            }
            Err(e) => tracing::warn!(session = adopted.session_id, error = %e, "could not start an adopted session"),
        }
    }
    Ok(())
}

/// Takes the control commands for sessions this node owns and answers each.
async fn run_commands(node: &Arc<Node>, manager: &SessionManager) -> Result<(), DbError> {
    let owned: Vec<i64> = lock(&node.fences).keys().copied().collect();
    if owned.is_empty() {
        return Ok(());
    }
    for cmd in node.db.take_commands(&node.id, owned).await? {
        let (node, manager) = (node.clone(), manager.clone());
        tokio::spawn(async move {
            let id = cmd.id;
            let answer = encode_answer(execute(&manager, &cmd).await);
            if let Err(e) = node.db.finish_command(id, answer).await {
                tracing::warn!(command = id, error = %e, "could not record a command's answer");
            }
        });
    }
    Ok(())
}

async fn execute(manager: &SessionManager, cmd: &CommandRow) -> Result<Value, SessionError> {
    let args: Value = serde_json::from_str(&cmd.args).unwrap_or_default();
    let id = cmd.session_id;
    match cmd.kind.as_str() {
        "stop" => manager.stop(id).await.map(|_| Value::Null),
        "delete" => manager.delete(id).await.map(|_| Value::Null),
        kind => {
            let h = manager.local(id).ok_or(SessionError::NotConnected)?;
            match kind {
                "restart" => h.restart().await.map(|_| Value::Null),
                "logout" => h.logout().await.map(|_| Value::Null),
                "pairing_code" => {
                    let phone = args["phone"].as_str().unwrap_or_default().to_string();
                    h.request_pairing_code(phone).await.map(Value::from)
                }
                "check_number" => remote::check_number(&h, args["chat"].as_str().unwrap_or_default()).await,
                "page_call" => h.call_json(args).await,
                other => Err(SessionError::Invalid(format!("unknown cluster command {other}"))),
            }
        }
    }
}

/// The node's `LISTEN` connection: wakes queue workers, completes waiting senders, refreshes
/// mirrors, answers commands and starts claim rounds. Reconnects when the connection drops
/// (the claim rounds cover what was missed meanwhile).
async fn listen(node: Arc<Node>, manager: SessionManager) {
    let mut backoff = Duration::from_millis(500);
    loop {
        let mut conn = match crate::db::cluster::listener(&node.db_url, CHANNELS).await {
            Ok(c) => {
                backoff = Duration::from_millis(500);
                c
            }
            Err(e) => {
                tracing::warn!(error = %e, "cluster LISTEN connection failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        let mut stream = std::pin::pin!(conn.notifications_stream());
        while let Some(n) = stream.next().await {
            let n = match n {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "cluster LISTEN connection lost");
                    break;
                }
            };
            let id: i64 = n.payload.parse().unwrap_or_default();
            match n.channel.as_str() {
                "wagate_queue" if manager.local(id).is_some() => manager.outbox().wake(id),
                "wagate_settled" => {
                    let outbox = manager.outbox().clone();
                    tokio::spawn(async move { outbox.complete_from_db(id).await });
                }
                "wagate_info" if manager.mirrored().contains(&id) => {
                    let (db, manager) = (node.db.clone(), manager.clone());
                    tokio::spawn(async move {
                        if let Ok(Some(lease)) = db.lease(id).await {
                            manager.refresh_mirror(&lease);
                        }
                    });
                }
                "wagate_cmd" if node.fence(id).is_some() => {
                    let (node, manager) = (node.clone(), manager.clone());
                    tokio::spawn(async move {
                        if let Err(e) = run_commands(&node, &manager).await {
                            tracing::warn!(error = %e, "could not take cluster commands");
                        }
                    });
                }
                "wagate_cmd_done" => node.cmd_done.notify_waiters(),
                "wagate_claim" if node.has_room() => node.claim_now.notify_one(),
                _ => {}
            }
        }
    }
}
