//! The consumer of session events: incoming messages are stored (direction `in`, once per
//! WhatsApp id) and acks move outgoing messages forward (the highest ack wins); the database
//! writes the matching outbox events in the same transactions.
//!
//! Nothing the page reported is lost when the database is away: an event that cannot be stored
//! goes to the spool (`<data_dir>/spool/events.jsonl`, one JSON line each, synced to disk), and
//! the spool is replayed in order, with backoff, before anything newer is stored. Storing is
//! idempotent (messages by WhatsApp id; acks only move forward), so a replay after a crash
//! mid-replay is harmless.
//!
//! In cluster mode each event carries the lease its session's owner held when the page reported
//! it, and the write checks it in its transaction: a node that was paused past its lease cannot
//! record what its page queued meanwhile (refused, dropped; the adopting node records it).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::db::cluster::Fence;
use crate::db::{Database, DbError, GroupChange, MessageDetails, MessageKind, MessageStatus, NewMessage, RejectedBy};
use crate::sessions::{SessionEvent, SessionKey, WaCall, WaGroupNote, WaMessage, WaPollVote, WaPresence, WaReaction};

/// A spooled event still fails after this many replays while the database answers: it is moved
/// to `events.dead.jsonl` (and logged) so that it cannot hold back everything after it.
const MAX_REPLAYS: u32 = 20;
const RETRY_MIN: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(10);
/// A spooled presence change older than this (by the page's clock) is dropped at replay: presence
/// is a signal of the moment, and a late one would read as current. Younger ones are delivered
/// late, with their own timestamp, rather than lost to a database hiccup.
const PRESENCE_FRESH_SECS: i64 = 60;

/// A cluster owner's lease as the spool keeps it: (node, generation).
type SpooledFence = Option<(String, i64)>;

fn spool_fence(f: Option<Fence>) -> SpooledFence {
    f.map(|f| (f.node.to_string(), f.generation))
}

fn unspool_fence(f: SpooledFence) -> Option<Fence> {
    f.map(|(node, generation)| Fence {
        node: node.into(),
        generation,
    })
}

/// An event as the spool keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum Spooled {
    Incoming {
        session: SessionKey,
        message: WaMessage,
        /// The media file the actor saved (`WaMessage` never takes this from the page).
        saved_media: Option<String>,
        #[serde(default)]
        fence: SpooledFence,
    },
    OwnMessage {
        session: SessionKey,
        message: WaMessage,
        #[serde(default)]
        fence: SpooledFence,
    },
    Ack {
        session: SessionKey,
        id: String,
        ack: i32,
        #[serde(default)]
        fence: SpooledFence,
    },
    Reaction {
        session: SessionKey,
        reaction: WaReaction,
    },
    PollVote {
        session: SessionKey,
        vote: WaPollVote,
    },
    Edited {
        session: SessionKey,
        id: String,
        body: String,
    },
    Revoked {
        session: SessionKey,
        id: String,
    },
    Group {
        session: SessionKey,
        note: WaGroupNote,
        #[serde(default)]
        fence: SpooledFence,
    },
    Call {
        session: SessionKey,
        call: WaCall,
        rejected: Option<(RejectedBy, Option<i64>)>,
        #[serde(default)]
        fence: SpooledFence,
    },
    Presence {
        session: SessionKey,
        presence: WaPresence,
    },
}

impl Spooled {
    fn of(event: SessionEvent) -> Option<Spooled> {
        Some(match event {
            SessionEvent::Incoming {
                session,
                message,
                fence,
            } => Spooled::Incoming {
                session,
                saved_media: message.saved_media.clone(),
                message,
                fence: spool_fence(fence),
            },
            SessionEvent::OwnMessage {
                session,
                message,
                fence,
            } => Spooled::OwnMessage {
                session,
                message,
                fence: spool_fence(fence),
            },
            SessionEvent::Ack {
                session,
                id,
                ack,
                fence,
            } => Spooled::Ack {
                session,
                id,
                ack,
                fence: spool_fence(fence),
            },
            SessionEvent::Reaction { session, reaction } => Spooled::Reaction { session, reaction },
            SessionEvent::PollVote { session, vote } => Spooled::PollVote { session, vote },
            SessionEvent::Edited { session, id, body } => Spooled::Edited { session, id, body },
            SessionEvent::Revoked { session, id } => Spooled::Revoked { session, id },
            SessionEvent::Group { session, note, fence } => Spooled::Group {
                session,
                note,
                fence: spool_fence(fence),
            },
            SessionEvent::Call {
                session,
                call,
                rejected,
                fence,
            } => Spooled::Call {
                session,
                call,
                rejected,
                fence: spool_fence(fence),
            },
            SessionEvent::Presence { session, presence } => Spooled::Presence { session, presence },
            // The session's state is published again by its next change.
            SessionEvent::State { .. } => return None,
        })
    }

    fn into_event(self) -> SessionEvent {
        match self {
            Spooled::Incoming {
                session,
                mut message,
                saved_media,
                fence,
            } => {
                message.saved_media = saved_media;
                SessionEvent::Incoming {
                    session,
                    message,
                    fence: unspool_fence(fence),
                }
            }
            Spooled::OwnMessage {
                session,
                message,
                fence,
            } => SessionEvent::OwnMessage {
                session,
                message,
                fence: unspool_fence(fence),
            },
            Spooled::Ack {
                session,
                id,
                ack,
                fence,
            } => SessionEvent::Ack {
                session,
                id,
                ack,
                fence: unspool_fence(fence),
            },
            Spooled::Reaction { session, reaction } => SessionEvent::Reaction { session, reaction },
            Spooled::PollVote { session, vote } => SessionEvent::PollVote { session, vote },
            Spooled::Edited { session, id, body } => SessionEvent::Edited { session, id, body },
            Spooled::Revoked { session, id } => SessionEvent::Revoked { session, id },
            Spooled::Group { session, note, fence } => SessionEvent::Group {
                session,
                note,
                fence: unspool_fence(fence),
            },
            Spooled::Call {
                session,
                call,
                rejected,
                fence,
            } => SessionEvent::Call {
                session,
                call,
                rejected,
                fence: unspool_fence(fence),
            },
            Spooled::Presence { session, presence } => SessionEvent::Presence { session, presence },
        }
    }

    /// A presence change too old to report (see [`PRESENCE_FRESH_SECS`]).
    fn is_stale(&self) -> bool {
        matches!(self, Spooled::Presence { presence, .. }
            if chrono::Utc::now().timestamp() - presence.t > PRESENCE_FRESH_SECS)
    }
}

/// The events waiting for the database, in order, mirrored in a file.
struct Spool {
    path: PathBuf,
    waiting: VecDeque<(Spooled, u32)>,
}

impl Spool {
    /// Opens the spool and reads what an earlier run left in it.
    fn open(data_dir: &Path) -> Spool {
        let path = data_dir.join("spool").join("events.jsonl");
        let waiting = std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| match serde_json::from_str(l) {
                Ok(e) => Some((e, 0)),
                Err(e) => {
                    tracing::error!(error = %e, "unreadable line in the event spool; kept in the file only");
                    None
                }
            })
            .collect::<VecDeque<_>>();
        if !waiting.is_empty() {
            tracing::warn!(
                events = waiting.len(),
                "events spooled by an earlier run are stored first"
            );
        }
        Spool { path, waiting }
    }

    /// Appends one event (one line, synced): O(1) per event however long the outage.
    fn push(&mut self, e: Spooled) {
        let line = serde_json::to_string(&e).unwrap_or_default() + "\n";
        self.waiting.push_back((e, 0));
        let result = (|| -> std::io::Result<()> {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&self.path)?;
            std::io::Write::write_all(&mut f, line.as_bytes())?;
            f.sync_data()
        })();
        if let Err(e) = result {
            tracing::error!(error = %e, path = %self.path.display(), "could not write the event spool");
        }
    }

    /// Rewrites the file with what is waiting (removed when nothing is), synced to disk.
    fn persist(&self) {
        let result = (|| -> std::io::Result<()> {
            if self.waiting.is_empty() {
                return match std::fs::remove_file(&self.path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                    _ => Ok(()),
                };
            }
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = self.path.with_extension("jsonl.tmp");
            let mut text = String::new();
            for (e, _) in &self.waiting {
                text.push_str(&serde_json::to_string(e).map_err(std::io::Error::other)?);
                text.push('\n');
            }
            let f = std::fs::File::create(&tmp)?;
            std::io::Write::write_all(&mut &f, text.as_bytes())?;
            f.sync_data()?;
            std::fs::rename(&tmp, &self.path)
        })();
        if let Err(e) = result {
            tracing::error!(error = %e, path = %self.path.display(), "could not write the event spool");
        }
    }

    fn bury(&self, e: &Spooled, error: &DbError) {
        tracing::error!(event = ?e, %error, "a spooled event keeps failing; moved to events.dead.jsonl");
        let dead = self.path.with_file_name("events.dead.jsonl");
        let line = serde_json::to_string(e).unwrap_or_default() + "\n";
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dead)
            .and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));
    }

    /// Stores what is waiting, in order; stops at the first failure. True when it is empty.
    async fn replay(&mut self, db: &Database) -> bool {
        let before = self.waiting.len();
        // Stale presence anywhere in the queue goes now, not one by one as it reaches the front.
        self.waiting.retain(|(e, _)| !e.is_stale());
        if self.waiting.len() != before {
            tracing::debug!(
                dropped = before - self.waiting.len(),
                "spooled presence changes too old to report"
            );
        }
        while let Some((e, tries)) = self.waiting.front_mut() {
            match handle(db, &e.clone().into_event()).await {
                Ok(()) | Err(DbError::Fenced) => {
                    // Fenced: another node owns the session now and records it from its own page.
                    self.waiting.pop_front();
                }
                Err(err) => {
                    *tries += 1;
                    // Only a database that answers can tell a bad event from an outage.
                    if *tries >= MAX_REPLAYS && db.ping().await.is_ok() {
                        let (e, _) = self.waiting.pop_front().expect("front exists");
                        self.bury(&e, &err);
                        continue;
                    }
                    tracing::warn!(waiting = self.waiting.len(), error = %err, "event spool: the database is still away");
                    break;
                }
            }
        }
        if self.waiting.len() != before {
            self.persist();
            if self.waiting.is_empty() {
                tracing::info!(events = before, "event spool stored");
            }
        }
        self.waiting.is_empty()
    }
}

pub async fn consume(db: Database, data_dir: PathBuf, mut events: mpsc::Receiver<SessionEvent>) {
    let mut spool = Spool::open(&data_dir);
    let mut backoff = RETRY_MIN;
    let mut retry_at = tokio::time::Instant::now();
    loop {
        if spool.waiting.is_empty() {
            let Some(event) = events.recv().await else { return };
            match handle(&db, &event).await {
                Ok(()) => {}
                Err(DbError::Fenced) => fenced(&event),
                Err(e) => {
                    tracing::warn!(error = %e, "could not store a session event; spooled to retry");
                    if let Some(s) = Spooled::of(event) {
                        spool.push(s);
                    }
                    backoff = RETRY_MIN;
                    retry_at = tokio::time::Instant::now() + backoff;
                }
            }
            continue;
        }
        // Something waits: new events queue behind it (order kept) without touching the database,
        // so a database that hangs cannot slow the sessions that report to the sink; only the
        // backoff timer tries the database again.
        tokio::select! {
            e = events.recv() => match e {
                Some(event) => {
                    if let Some(s) = Spooled::of(event) {
                        spool.push(s);
                    }
                }
                None => return,
            },
            _ = tokio::time::sleep_until(retry_at) => {
                backoff = if spool.replay(&db).await { RETRY_MIN } else { (backoff * 2).min(RETRY_MAX) };
                retry_at = tokio::time::Instant::now() + backoff;
            }
        }
    }
}

/// A write refused because the reporting node lost the session's lease (it was paused or cut off
/// and another node adopted the session): dropped, not spooled. The new owner's page reports the
/// same messages and acks (they are the account's, not the browser's), and it records them.
fn fenced(event: &SessionEvent) {
    let (session, what) = match event {
        SessionEvent::Incoming { session, .. } => (session, "incoming message"),
        SessionEvent::OwnMessage { session, .. } => (session, "own message"),
        SessionEvent::Ack { session, .. } => (session, "ack"),
        SessionEvent::Reaction { session, .. } => (session, "reaction"),
        SessionEvent::PollVote { session, .. } => (session, "poll vote"),
        SessionEvent::Edited { session, .. } => (session, "edit"),
        SessionEvent::Revoked { session, .. } => (session, "revoke"),
        SessionEvent::Group { session, .. } => (session, "group notification"),
        SessionEvent::Call { session, .. } => (session, "call"),
        SessionEvent::State { session, .. } => (session, "state"),
        SessionEvent::Presence { session, .. } => (session, "presence"),
    };
    metrics::counter!("wagate_fenced_writes_total", "what" => what).increment(1);
    tracing::warn!(
        session = session.id,
        "lease lost: the {what} this node saw was not recorded (another node owns the session)"
    );
}

async fn handle(db: &Database, event: &SessionEvent) -> Result<(), DbError> {
    match event {
        SessionEvent::Incoming {
            session,
            message,
            fence,
        } => store_incoming(db, session, message, fence.clone(), false).await,
        SessionEvent::Ack {
            session,
            id,
            ack,
            fence,
            ..
        } => {
            let (ack, status) = (*ack, MessageStatus::from_ack(*ack));
            let owner = fence.clone().map(|f| (session.id, f));
            let changed = db.advance_message_status_as(id, status, owner.clone()).await?;
            record_ack_latency(&changed, ack);
            if changed.is_empty() && db.message_by_wa_id(id).await?.is_none() {
                // The ack overtook the send's own bookkeeping (the row gets its WhatsApp id when
                // the send returns): try again shortly rather than lose it.
                let (db, id) = (db.clone(), id.clone());
                tokio::spawn(async move {
                    for delay in [1, 3, 10] {
                        tokio::time::sleep(std::time::Duration::from_secs(delay)).await;
                        if let Ok(changed) = db.advance_message_status_as(&id, status, owner.clone()).await
                            && !changed.is_empty()
                        {
                            record_ack_latency(&changed, ack);
                            break;
                        }
                    }
                });
            }
            Ok(())
        }
        SessionEvent::OwnMessage {
            session,
            message,
            fence,
        } => {
            // A message this page created starts at ACK_PENDING (0): one of wagate's sends,
            // whose row the queue keeps. One relayed from the phone or another device has
            // reached the server already (ack 1 or more). So a send costs no write here.
            let Some(ack) = message.ack.filter(|a| *a > 0) else {
                return Ok(());
            };
            let owner = fence.clone().map(|f| (session.id, f));
            let ours = db
                .advance_message_status_as(&message.id, MessageStatus::from_ack(ack), owner)
                .await?;
            if !ours.is_empty() {
                return Ok(());
            }
            // Not a settled send of ours (one not settled yet is known by its key id, in the
            // insert's transaction): one the account sent from its phone or another device.
            if sent_elsewhere_is_kept(&MessageKind::parse(message.kind.as_deref().unwrap_or_default())) {
                store_incoming(db, session, message, fence.clone(), true).await?;
            }
            Ok(())
        }
        // Ours are stored when they are sent (as `reaction` rows of direction `out`).
        SessionEvent::Reaction { session, reaction } if !reaction.from_me => {
            store_reaction(db, session, reaction).await
        }
        SessionEvent::Reaction { .. } | SessionEvent::State { .. } => Ok(()),
        SessionEvent::PollVote { session, vote } => store_vote(db, session, vote).await,
        SessionEvent::Edited { session, id, body } => db.record_edit(session.id, id, body).await.map(drop),
        SessionEvent::Revoked { session, id } => db.record_revoke(session.id, id).await.map(drop),
        SessionEvent::Group { session, note, fence } => store_group_note(db, session, note, fence.clone()).await,
        SessionEvent::Call {
            session,
            call,
            rejected,
            fence,
        } => db.record_call(session.id, call.facts(), *rejected, fence.clone()).await,
        // An event only (no message row): presence churns, and only its latest state matters.
        SessionEvent::Presence { session, presence } => db.record_presence(session.id, presence).await,
    }
}

/// How long after the send each ack came (`wagate_ack_latency_seconds{ack}`).
fn record_ack_latency(rows: &[crate::db::MessageRow], ack: i32) {
    let now = crate::db::now();
    for sent_at in rows.iter().filter_map(|r| r.sent_at) {
        let secs = (now - sent_at).num_milliseconds().max(0) as f64 / 1000.0;
        metrics::histogram!("wagate_ack_latency_seconds", "ack" => ack.to_string()).record(secs);
    }
}

/// Whether a message of this kind that the account sent from another device is stored (and raises
/// `message.any`): what a person writes, not WhatsApp's notifications nor wagate's own records of
/// reactions, edits and deletes (a reaction from the phone is in the reaction table instead).
fn sent_elsewhere_is_kept(kind: &MessageKind) -> bool {
    !matches!(
        kind,
        MessageKind::Other(_)
            | MessageKind::Reaction
            | MessageKind::Edit
            | MessageKind::Revoke
            | MessageKind::GroupNotification
    )
}

/// Stores a message from the page with its event: someone's (`from_me` false: direction `in`,
/// `message`), or one the account sent from its phone or another device (`from_me`: direction
/// `out` with the status of its ack, `message.any`; its media is described, not downloaded).
async fn store_incoming(
    db: &Database,
    session: &SessionKey,
    m: &WaMessage,
    fence: Option<Fence>,
    from_me: bool,
) -> Result<(), DbError> {
    let now = crate::db::now();
    let chat = m.remote.clone().or(m.from.clone()).unwrap_or_default();
    let sent_at =
        m.t.and_then(|t| chrono::DateTime::from_timestamp(t, 0))
            .map(|t| t.naive_utc());
    let details = MessageDetails {
        quoted_message_id: m.quoted_msg_id.clone(),
        location: match (m.lat, m.lng) {
            (Some(lat), Some(lng)) => Some(crate::db::Location::from_description(lat, lng, m.loc.as_deref())),
            _ => None,
        },
        poll: m.poll.as_ref().map(|p| crate::db::Poll {
            question: p.name.clone(),
            options: p.options.clone(),
            multiple: p.selectable_count != 1,
        }),
        contacts: m
            .vcards
            .as_ref()
            .map(|cards| cards.iter().flat_map(|c| crate::vcard::read(c)).collect::<Vec<_>>())
            .filter(|c| !c.is_empty()),
        mentions: m.mentions.clone().filter(|ids| !ids.is_empty()),
        is_forwarded: m.is_forwarded,
        forwarding_score: m.forwarding_score,
        ..Default::default()
    };
    db.insert_incoming_as(
        NewMessage {
            user_id: session.user_id,
            session_id: Some(session.id),
            direction: if from_me { "out" } else { "in" }.into(),
            chat_id: chat,
            sender: if from_me {
                None
            } else {
                m.author.clone().or(m.from.clone())
            },
            msg_type: MessageKind::parse(m.kind.as_deref().unwrap_or_default()),
            body: m.body.clone(),
            caption: m.caption.clone(),
            media_path: m.saved_media.clone(),
            media_mime: m.mimetype.clone(),
            media_filename: m.filename.as_deref().map(crate::media::safe_filename),
            media_size: m.size,
            status: match (from_me, m.ack) {
                (false, _) => MessageStatus::Received,
                (true, ack) => MessageStatus::from_ack(ack.unwrap_or(1).max(1)),
            },
            error_message: None,
            wa_message_id: Some(m.id.clone()),
            created_at: now,
            updated_at: now,
            sent_at,
            idempotency_key: None,
            sender_phone: if from_me { None } else { m.author_phone.clone() },
            chat_phone: m.chat_phone.clone(),
            mark_read: false,
            error_code: None,
            expires_at: None,
            idempotency_fingerprint: None,
            details: details.to_column(),
        },
        fence,
    )
    .await?;
    Ok(())
}

/// Someone's reaction: a row of kind `reaction` (the emoji as its body, empty when taken back)
/// and its `message.reaction` event, once per reaction key.
async fn store_reaction(db: &Database, session: &SessionKey, r: &WaReaction) -> Result<(), DbError> {
    let now = crate::db::now();
    let sent_at =
        r.t.and_then(|t| chrono::DateTime::from_timestamp(t, 0))
            .map(|t| t.naive_utc());
    let details = MessageDetails {
        reaction_to: Some(r.msg_id.clone()),
        ..Default::default()
    };
    db.insert_incoming(NewMessage {
        user_id: session.user_id,
        session_id: Some(session.id),
        direction: "in".into(),
        chat_id: r.chat.clone().unwrap_or_default(),
        sender: r.sender.clone(),
        msg_type: MessageKind::Reaction,
        body: Some(r.emoji.clone()),
        caption: None,
        media_path: None,
        media_mime: None,
        media_filename: None,
        media_size: None,
        status: MessageStatus::Received,
        error_message: None,
        wa_message_id: Some(r.id.clone()),
        created_at: now,
        updated_at: now,
        sent_at,
        idempotency_key: None,
        sender_phone: r.sender_phone.clone(),
        chat_phone: r.chat_phone.clone(),
        mark_read: false,
        error_code: None,
        expires_at: None,
        idempotency_fingerprint: None,
        details: details.to_column(),
    })
    .await?;
    Ok(())
}

/// A group notification: a row of kind `gp2` (the change as `group` in its details, no body)
/// and its `group.join`, `group.leave` or `group.update` event, once per notification key.
async fn store_group_note(
    db: &Database,
    session: &SessionKey,
    n: &WaGroupNote,
    fence: Option<Fence>,
) -> Result<(), DbError> {
    let now = crate::db::now();
    let sent_at =
        n.t.and_then(|t| chrono::DateTime::from_timestamp(t, 0))
            .map(|t| t.naive_utc());
    let action = n.subtype.clone().unwrap_or_default();
    let body = n.body.clone();
    let mut phones = n.recipient_phones.clone();
    phones.resize(n.recipients.len(), None);
    let change = GroupChange {
        participants: n.recipients.clone(),
        participant_phones: phones,
        author: n.author.clone(),
        author_phone: n.author_phone.clone(),
        subject: (action == "subject").then(|| body.clone().unwrap_or_default()),
        description: (action == "description").then(|| body.clone().unwrap_or_default()),
        enabled: matches!(action.as_str(), "announce" | "restrict")
            .then(|| body.as_deref() == Some("on"))
            .filter(|_| matches!(body.as_deref(), Some("on" | "off"))),
        action,
    };
    let details = MessageDetails {
        group: Some(change),
        ..Default::default()
    };
    db.insert_incoming_as(
        NewMessage {
            user_id: session.user_id,
            session_id: Some(session.id),
            direction: "in".into(),
            chat_id: n.chat.clone().unwrap_or_default(),
            sender: n.author.clone(),
            msg_type: MessageKind::GroupNotification,
            body: None,
            caption: None,
            media_path: None,
            media_mime: None,
            media_filename: None,
            media_size: None,
            status: MessageStatus::Received,
            error_message: None,
            wa_message_id: Some(n.id.clone()),
            created_at: now,
            updated_at: now,
            sent_at,
            idempotency_key: None,
            sender_phone: n.author_phone.clone(),
            chat_phone: None,
            mark_read: false,
            error_code: None,
            expires_at: None,
            idempotency_fingerprint: None,
            details: details.to_column(),
        },
        fence,
    )
    .await?;
    Ok(())
}

/// A vote on a poll: the voter's current vote in the poll's row, with its `poll.vote` event.
/// A vote on a poll wagate did not store (sent before it was linked, or from another device) is
/// dropped.
async fn store_vote(db: &Database, session: &SessionKey, v: &WaPollVote) -> Result<(), DbError> {
    let Some(voter) = v.voter.clone() else {
        tracing::debug!(session = session.id, poll = %v.poll_id, "a poll vote without a voter; dropped");
        return Ok(());
    };
    let vote = crate::db::PollVote {
        voter,
        voter_phone: v.voter_phone.clone(),
        selected_options: v.selected_options.clone(),
        timestamp: v.t.unwrap_or_else(|| crate::db::now().and_utc().timestamp()),
    };
    let recorded = db
        .record_poll_vote(session.id, &v.poll_id, vote, v.selected_ids.clone())
        .await?;
    if recorded.is_none() {
        tracing::debug!(session = session.id, poll = %v.poll_id, "a vote on an unknown poll, or one recorded already");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn presence_at(t: i64) -> Spooled {
        Spooled::Presence {
            session: SessionKey {
                id: 1,
                user_id: 1,
                name: "default".into(),
            },
            presence: WaPresence {
                chat: "15550000001@c.us".into(),
                chat_phone: Some("15550000001".into()),
                participant: None,
                participant_phone: None,
                state: "composing".into(),
                last_seen: None,
                t,
            },
        }
    }

    #[test]
    fn a_spooled_presence_is_reported_while_fresh_only() {
        let now = chrono::Utc::now().timestamp();
        assert!(!presence_at(now - 5).is_stale());
        assert!(presence_at(now - PRESENCE_FRESH_SECS - 5).is_stale());
        let line = serde_json::to_string(&presence_at(now)).unwrap();
        let back: Spooled = serde_json::from_str(&line).unwrap();
        assert!(matches!(back.into_event(), SessionEvent::Presence { presence, .. } if presence.t == now));
    }
}
