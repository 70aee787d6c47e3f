//! The events outbox: every change that produces an event writes its row in the same transaction,
//! so an event is never lost nor sent for a change that did not happen.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::schema::{events as ev, messages as m, webhook_deliveries as wd, whatsapp_sessions as ws};
use super::{
    Database, DbError, DbResult, MessageRow, MessageStatus, NewMessage, SessionRow, dispatch, insert_event, now,
};
use crate::error_code::ErrorCode;
use crate::events::envelope::{message_payload, session_payload};
use crate::events::{EventKind, NewEvent};

/// A row of the outbox.
#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = ev)]
pub struct EventRow {
    pub id: i64,
    pub uid: String,
    pub user_id: i64,
    pub session_id: Option<i64>,
    pub event: String,
    pub body: String,
    pub created_at: NaiveDateTime,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub delivered_at: Option<NaiveDateTime>,
}

/// One attempt to deliver an event.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, serde::Serialize)]
#[diesel(table_name = wd)]
pub struct DeliveryRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub event_id: i64,
    pub attempt: i32,
    pub url: String,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub latency_ms: i32,
    pub created_at: NaiveDateTime,
}

/// Where an event stands after an attempt.
#[derive(Debug, Clone, Copy)]
pub enum AttemptOutcome {
    Delivered,
    /// Refused for good (a 3xx, a 4xx other than 408/425/429, or a URL the outbound policy
    /// refuses): not retried.
    Refused,
    Retry {
        at: NaiveDateTime,
    },
    /// Retried until the maximum age: given up.
    Dead,
}

/// Inside a transaction: the session's name and own WhatsApp id, for the envelope.
macro_rules! session_ident {
    ($c:expr, $sid:expr) => {
        match $sid {
            Some(sid) => ws::table
                .find(sid)
                .select((ws::name, ws::wid))
                .first::<(String, Option<String>)>($c)
                .await
                .optional()?,
            None => None,
        }
    };
}

fn message_event(kind: EventKind, row: &MessageRow, ident: Option<(String, Option<String>)>, url: &str) -> NewEvent {
    let (name, me) = ident.unzip();
    let payload = message_payload(row, me.flatten().as_deref(), url);
    let session = row.session_id.zip(name.as_deref());
    NewEvent::new(kind, row.user_id, session, payload)
}

impl Database {
    /// Stores an incoming message and its `message` event; `None` if its session has this WhatsApp
    /// id already.
    pub async fn insert_incoming(&self, mut new: NewMessage) -> DbResult<Option<MessageRow>> {
        let changed = new.make_storable();
        if !changed.is_empty() {
            // Never dropped for a character one backend cannot hold: stored with U+FFFD instead.
            tracing::warn!(message = ?new.wa_message_id, fields = ?changed, "NUL characters from WhatsApp replaced with U+FFFD");
            metrics::counter!("wagate_text_sanitized_total").increment(changed.len() as u64);
        }
        let url = self.public_url.clone();
        let stored = self
            .run(move |mut conn| async move {
                dispatch!(&mut conn, |c| c
                    .transaction::<_, DbError, _>(async |c| {
                        super::BackendLocks::take_writer(c).await?;
                        // Per session: two linked accounts in one group both receive its messages,
                        // with the same WhatsApp id.
                        let known = m::table
                            .filter(m::session_id.eq(new.session_id))
                            .filter(m::wa_message_id.eq(&new.wa_message_id))
                            .select(m::id)
                            .first::<i64>(c)
                            .await
                            .optional()?;
                        if known.is_some() {
                            return Ok(None);
                        }
                        let row = diesel::insert_into(m::table)
                            .values(&new)
                            .returning(MessageRow::as_returning())
                            .get_result(c)
                            .await?;
                        let ident = session_ident!(c, row.session_id);
                        let name = ident.as_ref().map(|i| i.0.clone());
                        let event = insert_event!(c, message_event(EventKind::Message, &row, ident, &url), name);
                        Ok(Some((row, event)))
                    })
                    .await)
            })
            .await?;
        Ok(stored.map(|(row, event)| {
            self.bus.published([event]);
            row
        }))
    }

    /// Applies `change` to the messages it selects and writes a `message.ack` event for each row
    /// it changed, in one transaction. Returns the changed rows.
    async fn change_messages(&self, change: MessageChange) -> DbResult<Vec<MessageRow>> {
        let url = self.public_url.clone();
        let (rows, events) = self
            .run(move |mut conn| async move {
                dispatch!(&mut conn, |c| c
                    .transaction::<_, DbError, _>(async |c| {
                        let rows: Vec<MessageRow> = match &change {
                            MessageChange::Sent {
                                id,
                                wa_id,
                                status,
                                sent_at,
                            } => {
                                diesel::update(
                                    m::table
                                        .find(*id)
                                        .filter(m::status.eq(MessageStatus::Pending.as_str()))
                                        .filter(m::wa_message_id.is_null()),
                                )
                                .set((
                                    m::status.eq(status.as_str()),
                                    m::wa_message_id.eq(wa_id),
                                    m::sent_at.eq(sent_at),
                                    m::updated_at.eq(now()),
                                    m::error_message.eq(None::<String>),
                                    m::error_code.eq(None::<String>),
                                ))
                                .returning(MessageRow::as_returning())
                                .get_results(c)
                                .await?
                            }
                            MessageChange::Failed {
                                ids,
                                from,
                                code,
                                message,
                                count_ack_timeout,
                            } => {
                                let rows: Vec<MessageRow> =
                                    diesel::update(m::table.filter(m::id.eq_any(ids)).filter(m::status.eq_any(from)))
                                        .set((
                                            m::status.eq(MessageStatus::Failed.as_str()),
                                            m::error_code.eq(code.as_str()),
                                            m::error_message.eq(message),
                                            m::updated_at.eq(now()),
                                        ))
                                        .returning(MessageRow::as_returning())
                                        .get_results(c)
                                        .await?;
                                if *count_ack_timeout {
                                    for session in rows.iter().filter_map(|r| r.session_id) {
                                        diesel::update(ws::table.find(session))
                                            .set(ws::ack_timeouts.eq(ws::ack_timeouts + 1))
                                            .execute(c)
                                            .await?;
                                    }
                                }
                                rows
                            }
                            MessageChange::Ack { wa_id, status } => {
                                // Incoming rows are `received`, which no ack replaces.
                                let q = diesel::update(
                                    m::table
                                        .filter(m::wa_message_id.eq(wa_id))
                                        .filter(m::status.eq_any(status.replaces())),
                                );
                                let failed = *status == MessageStatus::Failed;
                                q.set((
                                    m::status.eq(status.as_str()),
                                    m::updated_at.eq(now()),
                                    m::error_code.eq(failed.then_some(ErrorCode::WaSendFailed.as_str())),
                                    m::error_message.eq(failed.then_some("WhatsApp reported an error ack")),
                                ))
                                .returning(MessageRow::as_returning())
                                .get_results(c)
                                .await?
                            }
                        };
                        let mut events = Vec::new();
                        for row in &rows {
                            // A send answered with ack 0 is still `pending`: nothing to tell yet.
                            if row.status == MessageStatus::Pending.as_str() {
                                continue;
                            }
                            let ident = session_ident!(c, row.session_id);
                            let name = ident.as_ref().map(|i| i.0.clone());
                            events.push(insert_event!(
                                c,
                                message_event(EventKind::MessageAck, row, ident, &url),
                                name
                            ));
                        }
                        Ok((rows, events))
                    })
                    .await)
            })
            .await?;
        self.bus.published(events);
        Ok(rows)
    }

    /// A send returned: WhatsApp's id, and the status its ack means (`pending` until the server ack).
    pub async fn mark_message_sent(
        &self,
        id: i64,
        wa_id: String,
        status: MessageStatus,
        sent_at: NaiveDateTime,
    ) -> DbResult<()> {
        self.change_messages(MessageChange::Sent {
            id,
            wa_id,
            status,
            sent_at,
        })
        .await?;
        Ok(())
    }

    /// A send the page refused: `pending` → `failed`.
    pub async fn mark_message_failed(&self, id: i64, code: ErrorCode, message: String) -> DbResult<()> {
        self.fail_messages(vec![id], &[MessageStatus::Pending], code, message)
            .await?;
        Ok(())
    }

    /// Fails those of these messages that are still in one of `from` with a code (each gets its
    /// `message.ack` event). Returns the rows that changed.
    pub async fn fail_messages(
        &self,
        ids: Vec<i64>,
        from: &[MessageStatus],
        code: ErrorCode,
        message: String,
    ) -> DbResult<Vec<MessageRow>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.change_messages(MessageChange::Failed {
            ids,
            from: from.iter().map(|s| s.as_str()).collect(),
            code,
            message,
            count_ack_timeout: false,
        })
        .await
    }

    /// Fails these messages with `ACK_TIMEOUT` if they are still `pending` (an ack that came in
    /// between wins), each counted against its session in the same transaction. Returns the rows.
    pub async fn fail_unacked(&self, ids: Vec<i64>, deadline_secs: u64) -> DbResult<Vec<MessageRow>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.change_messages(MessageChange::Failed {
            ids,
            from: vec![MessageStatus::Pending.as_str()],
            code: ErrorCode::AckTimeout,
            message: format!("WhatsApp's server did not acknowledge the message within {deadline_secs} s"),
            count_ack_timeout: true,
        })
        .await
    }

    /// Moves the message with this WhatsApp id to `status` if that is further along (acks can
    /// arrive twice or out of order: the highest wins). Returns the rows it changed.
    pub async fn advance_message_status(&self, wa_id: &str, status: MessageStatus) -> DbResult<Vec<MessageRow>> {
        self.change_messages(MessageChange::Ack {
            wa_id: wa_id.into(),
            status,
        })
        .await
    }

    /// Outgoing messages that WhatsApp took (they have an id) but never acked by `cutoff` become
    /// `failed` with `ACK_TIMEOUT`, and count against their session. Returns how many.
    pub async fn expire_unacked(&self, cutoff: NaiveDateTime, deadline_secs: u64) -> DbResult<usize> {
        let stale: Vec<i64> = self
            .run(move |mut conn| async move {
                Ok(dispatch!(&mut conn, |c| m::table
                    .filter(m::direction.eq("out"))
                    .filter(m::status.eq(MessageStatus::Pending.as_str()))
                    .filter(m::wa_message_id.is_not_null())
                    .filter(m::sent_at.lt(cutoff))
                    .select(m::id)
                    .limit(500)
                    .load(c)
                    .await)?)
            })
            .await?;
        let rows = self.fail_unacked(stale, deadline_secs).await?;
        Ok(rows.len())
    }

    /// Inside `record_session_state`'s transaction: the `session.status` event.
    pub(super) fn session_event(row: &SessionRow) -> NewEvent {
        NewEvent::new(
            EventKind::SessionStatus,
            row.user_id,
            Some((row.id, &row.name)),
            session_payload(row),
        )
    }

    pub(super) fn publish(&self, events: impl IntoIterator<Item = crate::events::Published>) {
        self.bus.published(events)
    }

    /// Records an attempt and its consequence in one transaction.
    pub async fn record_attempt(&self, delivery: DeliveryRow, outcome: AttemptOutcome) -> DbResult<()> {
        self.run(move |mut conn| async move {
            dispatch!(&mut conn, |c| c
                .transaction::<_, DbError, _>(async |c| {
                    diesel::insert_into(wd::table).values(&delivery).execute(c).await?;
                    let (status, next, delivered) = match outcome {
                        AttemptOutcome::Delivered => ("delivered", None, Some(delivery.created_at)),
                        AttemptOutcome::Refused => ("failed", None, None),
                        AttemptOutcome::Retry { at } => ("pending", Some(at), None),
                        AttemptOutcome::Dead => ("dead", None, None),
                    };
                    let target = ev::table.find(delivery.event_id);
                    diesel::update(target)
                        .set((
                            ev::status.eq(status),
                            ev::attempts.eq(ev::attempts + 1),
                            ev::last_status_code.eq(delivery.status_code),
                            ev::last_error.eq(&delivery.error),
                            ev::delivered_at.eq(delivered),
                        ))
                        .execute(c)
                        .await?;
                    if let Some(at) = next {
                        diesel::update(target)
                            .set(ev::next_attempt_at.eq(at))
                            .execute(c)
                            .await?;
                    }
                    Ok(())
                })
                .await)
        })
        .await
    }

    /// Events no webhook wants (none configured, disabled, or filtered out).
    pub async fn skip_events(&self, ids: Vec<i64>) -> DbResult<()> {
        self.run(move |mut conn| async move {
            dispatch!(&mut conn, |c| diesel::update(ev::table.filter(ev::id.eq_any(&ids)))
                .set(ev::status.eq("skipped"))
                .execute(c)
                .await)?;
            Ok(())
        })
        .await
    }

    /// The user's events after `after_id`, oldest first (a stream resuming from `Last-Event-ID`).
    pub async fn events_after(&self, user_id: i64, after_id: i64, limit: i64) -> DbResult<Vec<EventRow>> {
        self.run(move |mut conn| async move {
            Ok(dispatch!(&mut conn, |c| ev::table
                .filter(ev::user_id.eq(user_id))
                .filter(ev::id.gt(after_id))
                .order(ev::id)
                .limit(limit)
                .select(EventRow::as_select())
                .load(c)
                .await)?)
        })
        .await
    }

    /// The delivery log: the user's events, newest first, each with its attempts.
    pub async fn deliveries(
        &self,
        user_id: i64,
        status: Option<String>,
        before_id: Option<i64>,
        limit: i64,
    ) -> DbResult<Vec<(EventRow, Vec<DeliveryRow>)>> {
        self.run(move |mut conn| async move {
            dispatch!(&mut conn, |c| {
                let mut q = ev::table
                    .filter(ev::user_id.eq(user_id))
                    .filter(ev::status.ne("skipped"))
                    .select(EventRow::as_select())
                    .into_boxed();
                if let Some(s) = &status {
                    q = q.filter(ev::status.eq(s.clone()));
                }
                if let Some(b) = before_id {
                    q = q.filter(ev::id.lt(b));
                }
                let events: Vec<EventRow> = q.order(ev::id.desc()).limit(limit).load(c).await?;
                let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
                let attempts: Vec<DeliveryRow> = wd::table
                    .filter(wd::event_id.eq_any(&ids))
                    .order(wd::id)
                    .select(DeliveryRow::as_select())
                    .load(c)
                    .await?;
                Ok(events
                    .into_iter()
                    .map(|e| {
                        let mine = attempts.iter().filter(|a| a.event_id == e.id).cloned().collect();
                        (e, mine)
                    })
                    .collect())
            })
        })
        .await
    }

    /// Puts an event back in line for delivery now; `None` if the user has no such event.
    pub async fn replay_event(&self, user_id: i64, id: i64) -> DbResult<Option<EventRow>> {
        let row = self
            .run(move |mut conn| async move {
                Ok(dispatch!(&mut conn, |c| diesel::update(
                    ev::table.filter(ev::id.eq(id)).filter(ev::user_id.eq(user_id))
                )
                .set((ev::status.eq("pending"), ev::next_attempt_at.eq(now())))
                .returning(EventRow::as_returning())
                .get_result(c)
                .await
                .optional())?)
            })
            .await?;
        if row.is_some() {
            self.bus.wake();
        }
        Ok(row)
    }

    /// Forgets settled events (and their attempts) created before `cutoff`.
    pub async fn purge_events(&self, cutoff: NaiveDateTime) -> DbResult<usize> {
        self.run(move |mut conn| async move {
            Ok(dispatch!(&mut conn, |c| diesel::delete(
                ev::table
                    .filter(ev::created_at.lt(cutoff))
                    .filter(ev::status.ne("pending"))
            )
            .execute(c)
            .await)?)
        })
        .await
    }
}

enum MessageChange {
    Sent {
        id: i64,
        wa_id: String,
        status: MessageStatus,
        sent_at: NaiveDateTime,
    },
    /// Only rows still in one of `from` change (compare-and-set): a row acked, claimed or sent
    /// in between keeps its newer state.
    Failed {
        ids: Vec<i64>,
        from: Vec<&'static str>,
        code: ErrorCode,
        message: String,
        /// `ACK_TIMEOUT`: each failed row counts against its session, in the same transaction.
        count_ack_timeout: bool,
    },
    Ack {
        wa_id: String,
        status: MessageStatus,
    },
}

impl Database {
    /// The first pending event of every (user, session): what the dispatcher may deliver next
    /// without breaking the per-session order.
    pub async fn pending_heads(&self) -> DbResult<Vec<EventRow>> {
        self.run(move |mut conn| async move {
            Ok(dispatch!(&mut conn, |c| {
                let heads: Vec<Option<i64>> = ev::table
                    .filter(ev::status.eq("pending"))
                    .group_by((ev::user_id, ev::session_id))
                    .select(diesel::dsl::min(ev::id))
                    .load(c)
                    .await?;
                let ids: Vec<i64> = heads.into_iter().flatten().collect();
                ev::table
                    .filter(ev::id.eq_any(ids))
                    .order(ev::id)
                    .select(EventRow::as_select())
                    .load(c)
                    .await
            })?)
        })
        .await
    }

    /// A (user, session)'s pending events in order, from `from_id` on.
    pub async fn pending_in_group(
        &self,
        user_id: i64,
        session_id: Option<i64>,
        from_id: i64,
        limit: i64,
    ) -> DbResult<Vec<EventRow>> {
        self.run(move |mut conn| async move {
            Ok(dispatch!(&mut conn, |c| {
                let mut q = ev::table
                    .filter(ev::status.eq("pending"))
                    .filter(ev::user_id.eq(user_id))
                    .filter(ev::id.ge(from_id))
                    .select(EventRow::as_select())
                    .into_boxed();
                q = match session_id {
                    Some(s) => q.filter(ev::session_id.eq(s)),
                    None => q.filter(ev::session_id.is_null()),
                };
                q.order(ev::id).limit(limit).load(c).await
            })?)
        })
        .await
    }
}
