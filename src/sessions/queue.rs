//! A session's outbound queue worker: takes the session's `queued` messages in order and sends
//! them through its actor, paced (a minimum gap plus jitter between sends, a gap per recipient,
//! a daily cap). It lives as long as the actor; the queue itself is in the database, so it
//! survives restarts and waits out disconnections.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::chat_id::ChatId;
use super::handle::{
    Content, OutgoingMedia, Presence, SendOptions, SentMessage, SessionError, SessionHandle, new_key_id,
};
use super::outbox::Outbox;
use super::state::SessionState;
use crate::config::SendingSettings;
use crate::db::{Database, DbError, MessageKind, MessageRow, MessageStatus};
use crate::error_code::ErrorCode;

/// How many queued rows are looked at to find one whose recipient is not cooling down.
const LOOKAHEAD: i64 = 50;
/// Typing speed for `sending.typing`, and its bounds.
const TYPING_MS_PER_CHAR: u64 = 50;
const TYPING_MIN_MS: u64 = 600;
const TYPING_MAX_MS: u64 = 4000;
/// After a send ended in doubt: a pause before the next attempt, so a session that is going away
/// is not spun on.
const IN_DOUBT_PAUSE: Duration = Duration::from_millis(500);
/// How far back, and how many, outgoing messages have their acks read back after a reconnect.
const RECONCILE_DAYS: i64 = 7;
const RECONCILE_MAX: i64 = 500;
/// A recipient confirmed on WhatsApp is not checked again for this long.
const RECIPIENT_TTL: Duration = Duration::from_secs(3600);

pub(super) struct QueueWorker {
    pub handle: SessionHandle,
    pub db: Database,
    pub settings: SendingSettings,
    pub media: crate::media_files::MediaFiles,
    pub wake: Arc<Notify>,
    /// Completes the caller waiting for a row, if any.
    pub outbox: Outbox,
    /// Cluster mode: the lease a send must still hold (with this many seconds left) to start.
    pub fence: Option<(crate::db::cluster::Fence, f64)>,
}

impl QueueWorker {
    pub async fn run(self) {
        let mut last_send: Option<Instant> = None;
        let mut gap = self.next_gap();
        let mut last_to: HashMap<String, Instant> = HashMap::new();
        let mut confirmed: HashMap<String, Instant> = HashMap::new();
        let mut watch = self.handle.watch();
        let mut reconciled = false;
        while self.handle.is_running() {
            if self.handle.info().state != SessionState::Connected {
                reconciled = false;
                tokio::select! {
                    _ = watch.changed() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                continue;
            }
            if !reconciled {
                reconciled = true;
                self.reconcile_acks().await;
            }
            let wait = match self.next(&mut last_send, &mut gap, &mut last_to, &mut confirmed).await {
                Ok(wait) => wait,
                Err(DbError::Fenced) => {
                    // Not the owner any more (the claim round closes the browser): a pause, so
                    // a renewal that was only late can let sending resume.
                    Some(Duration::from_secs(1))
                }
                Err(e) => {
                    tracing::warn!(session = self.handle.key.id, error = %e, "outbound queue: database error");
                    Some(Duration::from_secs(1))
                }
            };
            if let Some(wait) = wait {
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = watch.changed() => {}
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
    }

    /// Acks that came while nobody listened (the gateway was down, the browser restarting) are
    /// read back from the page's message store once the session is connected again.
    async fn reconcile_acks(&self) {
        let session = self.handle.key.id;
        let since = crate::db::now() - chrono::Duration::days(RECONCILE_DAYS);
        let ids = match self.db.unsettled_outgoing(session, since, RECONCILE_MAX).await {
            Ok(ids) if !ids.is_empty() => ids,
            Ok(_) => return,
            Err(e) => return tracing::warn!(session, error = %e, "could not list messages to reconcile"),
        };
        let acks = match self.handle.ack_states(ids).await {
            Ok(acks) => acks,
            Err(e) => return tracing::warn!(session, error = %e, "could not read acks back from the page"),
        };
        let mut moved = 0;
        let owner = self.fence.as_ref().map(|(f, _)| (session, f.clone()));
        for (id, ack) in acks.into_iter().filter(|(_, ack)| *ack != 0) {
            match self
                .db
                .advance_message_status_as(&id, MessageStatus::from_ack(ack), owner.clone())
                .await
            {
                Ok(rows) => moved += rows.len(),
                Err(DbError::Fenced) => {
                    return tracing::warn!(session, "lease lost: acks read back from the page not recorded");
                }
                Err(e) => tracing::warn!(session, error = %e, "could not record a reconciled ack"),
            }
        }
        if moved > 0 {
            tracing::info!(
                session,
                messages = moved,
                "acks missed while away were read back from the page"
            );
        }
    }

    fn next_gap(&self) -> Duration {
        let jitter = match self.settings.gap_jitter_ms {
            0 => 0,
            j => rand::rng().random_range(0..=j),
        };
        Duration::from_millis(self.settings.min_gap_ms + jitter)
    }

    /// Sends the next eligible message; `Some(wait)` when there is nothing to do for that long.
    async fn next(
        &self,
        last_send: &mut Option<Instant>,
        gap: &mut Duration,
        last_to: &mut HashMap<String, Instant>,
        confirmed: &mut HashMap<String, Instant>,
    ) -> Result<Option<Duration>, DbError> {
        let session = self.handle.key.id;
        let picking = Instant::now();
        let rows = self.db.next_queued(session, LOOKAHEAD).await?;
        if rows.is_empty() {
            return Ok(Some(Duration::from_secs(5)));
        }
        if let Some(due) = last_send.map(|t| t + *gap)
            && due > Instant::now()
        {
            return Ok(Some(due - Instant::now()));
        }
        if self.settings.daily_cap > 0 {
            let today = chrono::Utc::now().date_naive().and_hms_opt(0, 0, 0).unwrap_or_default();
            if self.db.sent_since(session, today).await? >= self.settings.daily_cap as i64 {
                return Ok(Some(Duration::from_secs(60)));
            }
        }
        let now = Instant::now();
        let cool = Duration::from_millis(self.settings.recipient_gap_ms);
        let ready = |r: &&MessageRow| last_to.get(&r.chat_id).is_none_or(|t| now.duration_since(*t) >= cool);
        let Some(row) = rows.iter().find(ready).cloned() else {
            let soonest = rows
                .iter()
                .filter_map(|r| {
                    last_to
                        .get(&r.chat_id)
                        .map(|t| cool.saturating_sub(now.duration_since(*t)))
                })
                .min()
                .unwrap_or(Duration::from_millis(100));
            return Ok(Some(soonest.max(Duration::from_millis(10))));
        };
        // A row that was tried before keeps its key id: the page is asked for it before a resend,
        // and a resend carries the same id (WhatsApp treats it as the same message).
        let tried_before = row.wa_key_id.is_some();
        let key_id = row
            .wa_key_id
            .clone()
            .or_else(|| row.details().key_id)
            .unwrap_or_else(new_key_id);
        let expired = row.expires_at.is_some_and(|e| e < crate::db::now());
        if expired && !tried_before {
            // Upkeep fails it with EXPIRED; meanwhile the next rows.
            return Ok(Some(Duration::from_millis(200)));
        }
        // An expired row that was tried is claimed all the same: the page is asked whether the
        // earlier try went out before it is failed.
        let claimed = match &self.fence {
            None => self.db.claim_queued(row.id, key_id.clone()).await?,
            Some((fence, margin)) => match self
                .db
                .claim_queued_fenced(row.id, key_id.clone(), fence, *margin)
                .await
            {
                Err(DbError::Fenced) => {
                    // The lease is gone or about to go: this node must not send for the
                    // session any more. The row stays queued for the next owner.
                    tracing::warn!(session, "lease lost: this node stops sending for the session");
                    return Err(DbError::Fenced);
                }
                other => other?,
            },
        };
        if !claimed {
            // Taken meanwhile (upkeep, another worker): look again.
            return Ok(None);
        }
        record_stage("claim", picking);
        let started = Instant::now();
        let result = self.attempt(&row, &key_id, tried_before, confirmed).await;
        let kind = row.msg_type.as_str().to_string();
        metrics::histogram!("wagate_send_duration_seconds", "type" => kind.clone())
            .record(started.elapsed().as_secs_f64());
        match &result {
            Ok(_) => metrics::counter!("wagate_messages_sent_total", "type" => kind).increment(1),
            Err(e) => metrics::counter!("wagate_messages_failed_total", "type" => kind, "code" => e.code().as_str())
                .increment(1),
        }
        *last_send = Some(Instant::now());
        *gap = self.next_gap();
        last_to.insert(row.chat_id.clone(), Instant::now());
        if let Err(e) = &result
            && e.is_in_doubt()
        {
            // The browser or the actor went away, or the answer did not come: the message waits
            // in line with its key id, and the next attempt (after a reconnect, if need be) finds
            // it on the page or sends it then. Never failed on a guess, never sent twice.
            tracing::info!(session, id = row.id, error = %e, "send interrupted; requeued to settle by its key id");
            self.db.requeue(vec![row.id]).await?;
            return Ok(Some(IN_DOUBT_PAUSE));
        }
        // The caller hears the outcome even if the database cannot record it yet: the row then
        // stays `pending` with its key id, and upkeep has it settled by evidence.
        let settling = Instant::now();
        let recorded = settle_with_retries(&self.db, row.id, &result).await;
        record_stage("settle", settling);
        self.outbox.complete(row.id, result);
        recorded?;
        Ok(None)
    }

    /// An earlier try of this row on the page, by its key id: its id, time and ack when it went
    /// out (an error ack fails the row).
    async fn find_earlier_try(
        &self,
        row: &MessageRow,
        chat: &ChatId,
        key_id: &str,
    ) -> Result<Option<SentMessage>, SessionError> {
        let Some(found) = self.handle.find_sent(chat.clone(), key_id.to_string()).await? else {
            return Ok(None);
        };
        tracing::info!(
            session = self.handle.key.id,
            id = row.id,
            ack = found.ack,
            "an interrupted send had reached WhatsApp"
        );
        if found.ack < 0 {
            return Err(SessionError::Wa {
                code: ErrorCode::WaSendFailed.as_str().into(),
                message: "WhatsApp refused the message".into(),
            });
        }
        Ok(Some(found))
    }

    /// Looks for an earlier try on the page first, then sends with `key_id`.
    async fn attempt(
        &self,
        row: &MessageRow,
        key_id: &str,
        tried_before: bool,
        confirmed: &mut HashMap<String, Instant>,
    ) -> Result<SentMessage, SessionError> {
        let chat = ChatId::parse(&row.chat_id).map_err(|e| SessionError::Invalid(e.0))?;
        // An earlier try is looked for before anything else can fail the row (the page resolves
        // the chat itself): a message that went out is never failed on a guess.
        if tried_before && let Some(found) = self.find_earlier_try(row, &chat, key_id).await? {
            return Ok(found);
        }
        if row.expires_at.is_some_and(|e| e < crate::db::now()) {
            // Expired while in doubt and not on the page: it never went out.
            return Err(SessionError::refused(
                ErrorCode::Expired,
                format!(
                    "not sent within sending.queue_ttl_secs ({} s)",
                    self.settings.queue_ttl_secs
                ),
            ));
        }
        // The recipient is checked here only, in the same page call as the send, unless this
        // session's page confirmed the number within the hour.
        // A reaction, an edit or a delete goes to a chat that has its message: nothing to check.
        let phone = chat.phone().map(str::to_string);
        let details = row.details();
        let opts = SendOptions {
            key_id: Some(key_id.to_string()),
            check_recipient: !row.msg_type.acts_on_message()
                && phone
                    .as_ref()
                    .is_some_and(|p| confirmed.get(p).is_none_or(|at| at.elapsed() >= RECIPIENT_TTL)),
            mark_read: row.mark_read,
            quoted: details.quoted_message_id,
            mentions: details.mentions.unwrap_or_default(),
        };
        let result = self.send(row, chat, opts).await;
        if let (Ok(_), Some(phone)) = (&result, phone) {
            confirmed.insert(phone, Instant::now());
        }
        result
    }

    async fn send(&self, row: &MessageRow, chat: ChatId, opts: SendOptions) -> Result<SentMessage, SessionError> {
        if let Some(content) = content_of(row)? {
            return self.handle.send_content_with(chat, content, opts).await;
        }
        match row.media_path.as_deref() {
            None => {
                let body = row.body.clone().unwrap_or_default();
                if self.settings.typing {
                    self.type_for(&chat, &body).await;
                }
                self.handle.send_text_with(chat, body, opts).await
            }
            Some(path) => {
                let gone =
                    |e: String| SessionError::refused(ErrorCode::MediaMissing, format!("the queued file is gone: {e}"));
                // Uploaded on this node, or (cluster mode) on another one: then from the store.
                let local = self.media.local(path).await.ok_or_else(|| gone(path.to_string()))?;
                let bytes = tokio::fs::read(local).await.map_err(|e| gone(e.to_string()))?;
                let media = OutgoingMedia {
                    bytes: Arc::new(bytes),
                    mimetype: row
                        .media_mime
                        .clone()
                        .unwrap_or_else(|| "application/octet-stream".into()),
                    filename: row.media_filename.clone(),
                    caption: row.caption.clone(),
                    kind: row.msg_type.clone(),
                };
                self.handle.send_media_with(chat, media, opts).await
            }
        }
    }

    /// "typing…" for a time proportional to the text. Best effort: a page without the chat-state
    /// module sends without it.
    async fn type_for(&self, chat: &ChatId, text: &str) {
        let ms = (text.chars().count() as u64 * TYPING_MS_PER_CHAR).clamp(TYPING_MIN_MS, TYPING_MAX_MS);
        match self.handle.chat_state(chat.clone(), Presence::Composing).await {
            Ok(()) => tokio::time::sleep(Duration::from_millis(ms)).await,
            Err(e) => tracing::debug!(session = self.handle.key.id, error = %e, "no typing indicator"),
        }
    }
}

/// `wagate_send_stage_seconds{stage}`: the gateway's own steps of a send around its page call
/// (`wagate_send_duration_seconds`): `store` (the row written, in the request), `claim` (the
/// worker reads its queue, and today's count when `sending.daily_cap` is set, and claims the
/// row), `settle` (the outcome written, retries included; not recorded for a send that ended
/// in doubt and was requeued). Seconds.
pub(super) fn record_stage(stage: &'static str, since: Instant) {
    metrics::histogram!("wagate_send_stage_seconds", "stage" => stage).record(since.elapsed().as_secs_f64());
}

/// What a row of a kind other than text and media sends, from its details; None for text and
/// media. A row whose details lack what its kind needs (never written so by the API) fails.
fn content_of(row: &MessageRow) -> Result<Option<Content>, SessionError> {
    let details = row.details();
    let incomplete = || {
        SessionError::refused(
            ErrorCode::SendFailed,
            format!("the stored {} lacks its details", row.msg_type),
        )
    };
    // A forward keeps the type of the message it copies: its details say what it is.
    if let Some(msg_id) = details.forwarded_from.clone() {
        return Ok(Some(Content::Forward { msg_id }));
    }
    Ok(Some(match row.msg_type {
        MessageKind::Location => Content::Location(details.location.ok_or_else(incomplete)?),
        MessageKind::Reaction => Content::Reaction {
            msg_id: details.reaction_to.ok_or_else(incomplete)?,
            emoji: row.body.clone().unwrap_or_default(),
        },
        MessageKind::Vcard | MessageKind::MultiVcard => Content::Contacts(details.contacts.ok_or_else(incomplete)?),
        MessageKind::Poll => Content::Poll(details.poll.ok_or_else(incomplete)?),
        MessageKind::Edit => Content::Edit {
            msg_id: details.target_message_id.ok_or_else(incomplete)?,
            body: row.body.clone().unwrap_or_default(),
        },
        MessageKind::Revoke => Content::Revoke {
            msg_id: details.target_message_id.ok_or_else(incomplete)?,
        },
        _ => return Ok(None),
    }))
}

/// Records a send's outcome, retrying a failing database with backoff (about 8 s in all): the
/// message may have reached WhatsApp, and its row must say so. Should every try fail, the row
/// stays `pending` with its key id, and upkeep requeues it to be settled by evidence.
async fn settle_with_retries(
    db: &Database,
    id: i64,
    result: &Result<SentMessage, SessionError>,
) -> Result<(), DbError> {
    let mut last = None;
    for pause_ms in [0, 200, 500, 1000, 2000, 4000] {
        // Not even a zero sleep on the first try: it waits for the timer's next tick (1 ms).
        if pause_ms > 0 {
            tokio::time::sleep(Duration::from_millis(pause_ms)).await;
        }
        match settle(db, id, result).await {
            Ok(()) => return Ok(()),
            Err(e) => {
                tracing::warn!(id, error = %e, "could not record a send's outcome; retrying");
                last = Some(e);
            }
        }
    }
    Err(last.unwrap_or(DbError::Pool("no attempt".into())))
}

/// Records a send's outcome on its row (and so its events).
pub async fn settle(db: &Database, id: i64, result: &Result<SentMessage, SessionError>) -> Result<(), DbError> {
    match result {
        Ok(sent) => {
            let status = sent.status();
            let at = chrono::DateTime::from_timestamp(sent.t, 0)
                .map(|t| t.naive_utc())
                .unwrap_or_else(crate::db::now);
            let forwarding = sent.is_forwarded.map(|f| (f, sent.forwarding_score.unwrap_or(0)));
            db.mark_message_sent(id, sent.id.clone(), status, at, forwarding).await
        }
        Err(e) => db.mark_message_failed(id, e.code(), e.to_string()).await,
    }
}
