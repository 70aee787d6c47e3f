//! Periodic housekeeping: outgoing messages WhatsApp never acknowledged become `failed`
//! (`ACK_TIMEOUT`), queued messages past their TTL fail with EXPIRED, and settled events older
//! than the webhook maximum age are forgotten.

use std::sync::Arc;
use std::time::Duration;

use crate::config::Settings;
use crate::db::{Database, MessageStatus};
use crate::error_code::ErrorCode;

const PURGE_EVERY: Duration = Duration::from_secs(3600);
/// A send still `pending` without a WhatsApp id this long after it was claimed had its outcome
/// lost (the longest a send may take is the handle's 120 s send timeout plus a 60 s look-up).
const STALE_SEND_SECS: i64 = 300;
/// How long past its TTL a tried row waits for its session's worker before upkeep fails it.
const TRIED_GRACE_SECS: i64 = 600;

/// Deletes media files older than `media.retention_days` and marks their messages; also removes
/// stray files (uploads no message kept) older than that. Returns how many messages were marked.
pub async fn purge_media(
    db: &Database,
    settings: &Settings,
    media: &crate::media_files::MediaFiles,
) -> Result<usize, crate::db::DbError> {
    let days = settings.media.retention_days;
    if days == 0 {
        return Ok(0);
    }
    let cutoff = crate::db::now() - chrono::Duration::days(days as i64);
    let mut marked = 0;
    loop {
        let batch = db.media_before(cutoff, 500).await?;
        if batch.is_empty() {
            break;
        }
        for (_, path) in &batch {
            // Here and, in cluster mode, in the object store (other nodes' cached copies are
            // strays their own upkeep removes by age).
            media.remove(path).await;
        }
        marked += db.mark_media_deleted(batch.into_iter().map(|b| b.0).collect()).await?;
    }
    let root = settings.media.dir.join("whatsapp_media");
    let age = Duration::from_secs(days * 86_400);
    tokio::task::spawn_blocking(move || remove_old_files(&root, age))
        .await
        .unwrap_or_default();
    Ok(marked)
}

fn remove_old_files(dir: &std::path::Path, age: Duration) -> usize {
    let mut removed = 0;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            removed += remove_old_files(&path, age);
        } else if meta
            .modified()
            .ok()
            .and_then(|m| m.elapsed().ok())
            .is_some_and(|e| e > age)
            && std::fs::remove_file(&path).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

/// Once at start: sends that were in flight when the last run ended go back to their queue with
/// their key id; the queue worker looks for that id on the page and settles them by what it finds
/// (sent, or sent now). Rows from before key ids were stored cannot be looked up: they fail with
/// `SEND_INTERRUPTED`.
pub async fn settle_interrupted(db: &Database) {
    let rows = match db.interrupted_sends().await {
        Ok(rows) => rows,
        Err(e) => return tracing::warn!(error = %e, "could not look for interrupted sends"),
    };
    let (keyed, unknown): (Vec<_>, Vec<_>) = rows.into_iter().partition(|r| r.1.is_some());
    let keyed: Vec<i64> = keyed.into_iter().map(|r| r.0).collect();
    if !keyed.is_empty() {
        tracing::warn!(
            messages = keyed.len(),
            "sends interrupted by the last stop: back in their queues to settle"
        );
        if let Err(e) = db.requeue(keyed).await {
            tracing::warn!(error = %e, "could not requeue interrupted sends");
        }
    }
    let msg = "the gateway stopped while this message was being sent; it may or may not have reached WhatsApp";
    let ids = unknown.into_iter().map(|r| r.0).collect();
    match db
        .fail_messages(ids, &[MessageStatus::Pending], ErrorCode::SendInterrupted, msg.into())
        .await
    {
        Ok(rows) if !rows.is_empty() => tracing::warn!(messages = rows.len(), "sends interrupted by the last stop"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not settle interrupted sends"),
    }
}

/// Queued messages past their TTL: `EXPIRED` when no send was tried; `SEND_INTERRUPTED` when one
/// was tried and the session never came back to confirm it (whether WhatsApp got it is unknown).
async fn expire(db: &Database, settings: &Settings, rows: Vec<(i64, Option<String>, Option<chrono::NaiveDateTime>)>) {
    let ttl = settings.sending.queue_ttl_secs;
    let (tried, untried): (Vec<_>, Vec<_>) = rows.into_iter().partition(|r| r.1.is_some());
    // A connected session's worker looks a tried row up on the page first (and fails it EXPIRED
    // only if it is not there); upkeep steps in only when that has not happened for a while.
    let grace = crate::db::now() - chrono::Duration::seconds(TRIED_GRACE_SECS);
    let tried: Vec<_> = tried.into_iter().filter(|r| r.2.is_some_and(|e| e < grace)).collect();
    let outcomes = [
        (
            untried,
            ErrorCode::Expired,
            format!("not sent within sending.queue_ttl_secs ({ttl} s)"),
        ),
        (
            tried,
            ErrorCode::SendInterrupted,
            format!(
                "a send was interrupted (browser lost or no answer) and the session did not come back within \
                 sending.queue_ttl_secs ({ttl} s) to confirm it; it may or may not have reached WhatsApp"
            ),
        ),
    ];
    for (rows, code, msg) in outcomes {
        let ids: Vec<i64> = rows.into_iter().map(|r| r.0).collect();
        match db.fail_messages(ids, &[MessageStatus::Queued], code, msg).await {
            Ok(rows) if !rows.is_empty() => {
                tracing::warn!(messages = rows.len(), code = code.as_str(), "queued messages failed")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not expire queued messages"),
        }
    }
}

/// Cluster mode: the node and its lease length. Upkeep runs on one node at a time (the holder
/// of the `upkeep` named lease), and each webhook line is delivered by one node at a time.
#[derive(Debug, Clone)]
pub struct Leader {
    pub node: Arc<str>,
    pub lease_secs: u64,
}

impl Leader {
    /// Takes or renews the named lease `name`; false when another node holds it.
    pub async fn claim(&self, db: &Database, name: &str) -> bool {
        match db.try_claim(name, &self.node, self.lease_secs as f64).await {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!(error = %e, name, "could not take a cluster claim");
                false
            }
        }
    }
}

pub async fn run(db: Database, settings: Arc<Settings>, media: crate::media_files::MediaFiles, leader: Option<Leader>) {
    let ack_deadline = Duration::from_secs(settings.sending.ack_timeout_secs);
    // Checked often enough that a message is late by at most half its deadline (and ≤ 5 s).
    let tick = (ack_deadline / 2).clamp(Duration::from_millis(500), Duration::from_secs(5));
    let mut last_purge: Option<tokio::time::Instant> = None;
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if let Some(l) = &leader
            && !l.claim(&db, "upkeep").await
        {
            continue;
        }
        let cutoff = crate::db::now() - chrono::Duration::from_std(ack_deadline).unwrap_or_default();
        match db.expire_unacked(cutoff, ack_deadline.as_secs()).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(messages = n, "outgoing messages failed with ACK_TIMEOUT"),
            Err(e) => tracing::warn!(error = %e, "could not check for unacknowledged messages"),
        }
        // A send whose outcome could not be recorded is not left `pending`: back in its queue, it
        // is settled by its key id. The cutoff is well past the longest a send may take.
        let stale_cutoff = crate::db::now() - chrono::Duration::seconds(STALE_SEND_SECS);
        match db.stale_sends(stale_cutoff).await {
            Ok(ids) if !ids.is_empty() => {
                tracing::warn!(
                    messages = ids.len(),
                    "sends with no recorded outcome: requeued to settle"
                );
                if let Err(e) = db.requeue(ids).await {
                    tracing::warn!(error = %e, "could not requeue stale sends");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not look for stale sends"),
        }
        match db.expired_queued(crate::db::now()).await {
            Ok(rows) if !rows.is_empty() => expire(&db, &settings, rows).await,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not look for expired queued messages"),
        }
        if last_purge.is_none_or(|t| t.elapsed() >= PURGE_EVERY) {
            last_purge = Some(tokio::time::Instant::now());
            match purge_media(&db, &settings, &media).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(messages = n, "media retention deleted old files"),
                Err(e) => tracing::warn!(error = %e, "media retention failed"),
            }
            let keep = chrono::Duration::seconds(settings.webhooks.max_age_secs as i64);
            match db.purge_events(crate::db::now() - keep).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(events = n, "purged settled events"),
                Err(e) => tracing::warn!(error = %e, "could not purge old events"),
            }
        }
    }
}
