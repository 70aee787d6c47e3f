//! The outbox: where every send is handed over. `submit` stores the message `queued` (its one
//! write before the send), wakes the session's queue worker, and gives the caller a one-shot
//! completion for that row. The worker alone checks the recipient, sends through the actor,
//! settles the row and completes the waiting caller: no broadcast, no re-read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, oneshot};

use super::handle::{SentMessage, SessionError};
use crate::db::{Database, DbError, MessageRow, MessageStatus, NewMessage};

/// How a send ended: what the page answered, or why it failed.
pub type SendResult = Result<SentMessage, SessionError>;

#[derive(Clone)]
pub struct Outbox {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    /// `sending.queue_ttl_secs`: a queued message not sent by then fails `EXPIRED`.
    queue_ttl_secs: u64,
    /// One per session: its worker waits on it between looks at the queue.
    wakes: Mutex<HashMap<i64, Arc<Notify>>>,
    /// Callers waiting for a row's send, by row id.
    waiting: Mutex<HashMap<i64, oneshot::Sender<SendResult>>>,
}

/// A stored send. `outcome` waits for it to finish.
pub struct Submitted {
    pub row: MessageRow,
    completion: Completion,
}

/// Removes its waiter when dropped, so a caller that stopped waiting leaves nothing behind.
struct Completion {
    id: i64,
    rx: oneshot::Receiver<SendResult>,
    outbox: Arc<Inner>,
}

impl Drop for Completion {
    fn drop(&mut self) {
        lock(&self.outbox.waiting).remove(&self.id);
    }
}

impl Submitted {
    /// The send's result once the worker settled the row, or None after `within` (the message
    /// still goes out; its row tells how it ended).
    pub async fn outcome(mut self, within: Duration) -> Option<SendResult> {
        tokio::time::timeout(within, &mut self.completion.rx).await.ok()?.ok()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Outbox {
    pub fn new(db: Database, queue_ttl_secs: u64) -> Self {
        Outbox {
            inner: Arc::new(Inner {
                db,
                queue_ttl_secs,
                wakes: Mutex::default(),
                waiting: Mutex::default(),
            }),
        }
    }

    /// Stores `row` as `queued` (expiring after `sending.queue_ttl_secs`) for its session's
    /// worker and wakes it. Errors: `DbError::Conflict` when its `Idempotency-Key` is taken (a
    /// retry raced the first request), other database errors as they come.
    pub async fn submit(&self, mut row: NewMessage) -> Result<Submitted, DbError> {
        let session_id = row.session_id.unwrap_or_default();
        row.status = MessageStatus::Queued;
        row.expires_at = Some(row.created_at + chrono::Duration::seconds(self.inner.queue_ttl_secs as i64));
        let storing = tokio::time::Instant::now();
        let stored = self.inner.db.insert_message(row).await?;
        super::queue::record_stage("store", storing);
        let (tx, rx) = oneshot::channel();
        lock(&self.inner.waiting).insert(stored.id, tx);
        self.wake(session_id);
        Ok(Submitted {
            completion: Completion {
                id: stored.id,
                rx,
                outbox: self.inner.clone(),
            },
            row: stored,
        })
    }

    /// The session's worker looks at its queue now rather than at its next tick.
    pub fn wake(&self, session_id: i64) {
        self.wake_of(session_id).notify_one();
    }

    pub(super) fn wake_of(&self, session_id: i64) -> Arc<Notify> {
        lock(&self.inner.wakes).entry(session_id).or_default().clone()
    }

    /// Cluster mode: another node's worker settled row `id` (`NOTIFY wagate_settled`); a caller
    /// waiting here gets the result as the row records it.
    pub async fn complete_from_db(&self, id: i64) {
        if !lock(&self.inner.waiting).contains_key(&id) {
            return;
        }
        let row = match self.inner.db.message_by_id(id).await {
            Ok(Some(row)) => row,
            Ok(None) => return,
            Err(e) => return tracing::warn!(id, error = %e, "could not read a settled send"),
        };
        let result = match (row.status, row.wa_message_id) {
            (MessageStatus::Failed, _) | (_, None) => Err(SessionError::Refused {
                code: row
                    .error_code
                    .as_deref()
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(crate::error_code::ErrorCode::SendFailed),
                message: row.error_message.unwrap_or_else(|| "the message was not sent".into()),
            }),
            (status, Some(wa_id)) => Ok(SentMessage {
                id: wa_id,
                t: row.sent_at.unwrap_or(row.updated_at).and_utc().timestamp(),
                ack: crate::db::event_record::ack_of(status).map_or(0, |(ack, _)| ack),
                chat: Some(row.chat_id),
                chat_phone: row.chat_phone,
                is_forwarded: None,
                forwarding_score: None,
            }),
        };
        self.complete(id, result);
    }

    /// The worker settled row `id`: its caller, if one still waits, gets the result.
    pub(crate) fn complete(&self, id: i64, result: SendResult) {
        if let Some(tx) = lock(&self.inner.waiting).remove(&id) {
            let _ = tx.send(result);
        }
    }
}
