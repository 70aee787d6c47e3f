//! Committed events fan out from here: the dispatcher is woken, stream subscribers get a copy.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{Notify, broadcast};

/// An event row that is committed.
#[derive(Debug, Clone)]
pub struct Published {
    /// The outbox row id: the SSE `id:` and what `Last-Event-ID` resumes after.
    pub id: i64,
    pub user_id: i64,
    pub session: Option<String>,
    pub event: String,
    /// The envelope JSON, exactly as delivered to webhooks.
    pub body: Arc<str>,
}

#[derive(Clone)]
pub struct EventBus {
    stream: broadcast::Sender<Published>,
    wake: Arc<Notify>,
    /// Wake-ups so far: whoever read the outbox tells by it whether anything may have come since.
    wakes: Arc<AtomicU64>,
}

impl Default for EventBus {
    fn default() -> Self {
        // A slow subscriber that falls this far behind resumes from the database.
        let (stream, _) = broadcast::channel(1024);
        EventBus {
            stream,
            wake: Arc::new(Notify::new()),
            wakes: Arc::default(),
        }
    }
}

impl EventBus {
    /// Call after the transaction that wrote the rows committed.
    pub fn published(&self, events: impl IntoIterator<Item = Published>) {
        let mut any = false;
        for e in events {
            any = true;
            let _ = self.stream.send(e);
        }
        if any {
            self.wake();
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Published> {
        self.stream.subscribe()
    }

    /// Resolves when events were published since the last call (or one is pending).
    pub async fn woken(&self) {
        self.wake.notified().await
    }

    pub fn wake(&self) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// How many wake-ups there were so far (events published, replays, retries due).
    pub fn wakes(&self) -> u64 {
        self.wakes.load(Ordering::SeqCst)
    }
}
