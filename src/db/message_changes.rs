//! Changes to message rows, each with its events written in the same transaction (so an event is
//! never lost nor sent for a change that did not happen): incoming messages, sends settled,
//! acks, failures.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::event_record::{EventKind, NewEvent, group_payload, message_payload, session_payload};
use super::schema::{messages as m, whatsapp_sessions as ws};
use super::{
    Database, DbError, DbResult, MessageRow, MessageStatus, NewMessage, SessionRow, dispatch, insert_event, now,
};
use crate::error_code::ErrorCode;

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

/// The id part of a serialized WhatsApp message key (`<fromMe>_<chat>_<ID>[_<participant>]`).
fn key_id_of(serialized: &str) -> Option<String> {
    serialized.split('_').nth(2).map(str::to_string)
}

fn message_event(kind: EventKind, row: &MessageRow, ident: Option<(String, Option<String>)>, url: &str) -> NewEvent {
    let (name, me) = ident.unzip();
    let payload = match kind.is_group() {
        true => group_payload(row),
        false => message_payload(row, me.flatten().as_deref(), url),
    };
    let session = row.session_id.zip(name.as_deref());
    NewEvent::new(kind, row.user_id, session, payload)
}

impl Database {
    /// Stores an incoming message and its `message` event (`message.any` for one of direction
    /// `out`: the account's, sent from another device); `None` if its session has this WhatsApp id
    /// already, or, for direction `out`, a send of ours with this key id.
    pub async fn insert_incoming(&self, new: NewMessage) -> DbResult<Option<MessageRow>> {
        self.insert_incoming_as(new, None).await
    }

    /// `insert_incoming` by a cluster owner: refused with `DbError::Fenced` (nothing written)
    /// unless `fence` still holds the lease of the message's session.
    pub async fn insert_incoming_as(
        &self,
        mut new: NewMessage,
        fence: Option<super::cluster::Fence>,
    ) -> DbResult<Option<MessageRow>> {
        let changed = new.make_storable();
        if !changed.is_empty() {
            // Never dropped for a character one backend cannot hold: stored with U+FFFD instead.
            tracing::warn!(message = ?new.wa_message_id, fields = ?changed, "NUL characters from WhatsApp replaced with U+FFFD");
            metrics::counter!("wagate_text_sanitized_total").increment(changed.len() as u64);
        }
        let url = self.public_url.clone();
        let stored = self
            .run_write(move |mut conn| async move {
                dispatch!(&mut conn, |c| c
                    .transaction::<_, DbError, _>(async |c| {
                        super::BackendLocks::take_writer(c).await?;
                        if let (Some(f), Some(session)) = (&fence, new.session_id) {
                            super::BackendLocks::hold_lease(c, session, f).await?;
                        }
                        // Per session: two linked accounts in one group both receive its messages,
                        // with the same WhatsApp id.
                        // One of ours (direction `out`) is known by its key id as soon as the
                        // queue claimed it, before the send settled and stored its WhatsApp id.
                        let own_key = (new.direction == "out")
                            .then(|| new.wa_message_id.as_deref().and_then(key_id_of))
                            .flatten();
                        let known = m::table
                            .filter(m::session_id.eq(new.session_id))
                            .filter(
                                m::wa_message_id
                                    .eq(&new.wa_message_id)
                                    .or(m::wa_key_id.eq(own_key).and(m::direction.eq("out"))),
                            )
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
                        let kind = match row.direction.as_str() {
                            "out" => EventKind::MessageAny,
                            _ => EventKind::of_incoming(&row),
                        };
                        let event = insert_event!(c, message_event(kind, &row, ident, &url), name);
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
        self.change_messages_as(change, None).await
    }

    /// `change_messages` by the cluster owner of a session: `owner` is (session id, its fence);
    /// `DbError::Fenced` and nothing changed when the fence no longer holds the lease.
    async fn change_messages_as(
        &self,
        change: MessageChange,
        owner: Option<(i64, super::cluster::Fence)>,
    ) -> DbResult<Vec<MessageRow>> {
        let url = self.public_url.clone();
        let (rows, events) = self
            .run_write(move |mut conn| async move {
                dispatch!(&mut conn, |c| c
                    .transaction::<_, DbError, _>(async |c| {
                        if let Some((session, f)) = &owner {
                            super::BackendLocks::hold_lease(c, *session, f).await?;
                        }
                        let rows: Vec<MessageRow> = match &change {
                            MessageChange::Sent {
                                id,
                                wa_id,
                                status,
                                sent_at,
                                forwarding,
                            } => {
                                if let Some((is_forwarded, score)) = forwarding {
                                    let raw: Option<String> = m::table
                                        .find(*id)
                                        .select(m::details)
                                        .first(c)
                                        .await
                                        .optional()?
                                        .flatten();
                                    let mut details = super::MessageDetails::from_column(raw.as_deref());
                                    details.is_forwarded = *is_forwarded;
                                    details.forwarding_score = *score;
                                    diesel::update(
                                        m::table
                                            .find(*id)
                                            .filter(m::status.eq(MessageStatus::Pending.as_str()))
                                            .filter(m::wa_message_id.is_null()),
                                    )
                                    .set(m::details.eq(details.to_column()))
                                    .execute(c)
                                    .await?;
                                }
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
                            if row.status == MessageStatus::Pending {
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

    /// A message of this session was edited (ours or incoming): its row takes the new text and
    /// `edited_at`, with a `message.edited` event, in one transaction. Only a change is recorded
    /// (the same text again, or a deleted message, changes nothing). Returns the changed rows.
    pub async fn record_edit(&self, session_id: i64, wa_id: &str, body: &str) -> DbResult<Vec<MessageRow>> {
        let mut body = Some(body.to_string());
        super::models::make_storable(&mut body);
        self.touch_message(session_id, wa_id.to_string(), Touch::Edited(body.unwrap_or_default()))
            .await
    }

    /// A message of this session was deleted for everyone (ours or incoming): its row gets
    /// `revoked_at` (its text and media are kept for the record), with a `message.revoked`
    /// event, once. Returns the changed rows.
    pub async fn record_revoke(&self, session_id: i64, wa_id: &str) -> DbResult<Vec<MessageRow>> {
        self.touch_message(session_id, wa_id.to_string(), Touch::Revoked).await
    }

    async fn touch_message(&self, session_id: i64, wa_id: String, touch: Touch) -> DbResult<Vec<MessageRow>> {
        let url = self.public_url.clone();
        let (rows, events) = self
            .run_write(move |mut conn| async move {
                dispatch!(&mut conn, |c| c
                    .transaction::<_, DbError, _>(async |c| {
                        let target = m::table
                            .filter(m::session_id.eq(session_id))
                            .filter(m::wa_message_id.eq(&wa_id))
                            .filter(m::revoked_at.is_null());
                        let (rows, kind): (Vec<MessageRow>, _) = match &touch {
                            Touch::Edited(body) => (
                                diesel::update(target.filter(m::body.ne(body).or(m::body.is_null())))
                                    .set((m::body.eq(body), m::edited_at.eq(now()), m::updated_at.eq(now())))
                                    .returning(MessageRow::as_returning())
                                    .get_results(c)
                                    .await?,
                                EventKind::MessageEdited,
                            ),
                            Touch::Revoked => (
                                diesel::update(target)
                                    .set((m::revoked_at.eq(now()), m::updated_at.eq(now())))
                                    .returning(MessageRow::as_returning())
                                    .get_results(c)
                                    .await?,
                                EventKind::MessageRevoked,
                            ),
                        };
                        let mut events = Vec::new();
                        for row in &rows {
                            let ident = session_ident!(c, row.session_id);
                            let name = ident.as_ref().map(|i| i.0.clone());
                            events.push(insert_event!(c, message_event(kind, row, ident, &url), name));
                        }
                        Ok((rows, events))
                    })
                    .await)
            })
            .await?;
        self.bus.published(events);
        Ok(rows)
    }

    /// A vote on a poll of this session (`poll_wa_id`, its WhatsApp id): it becomes the voter's
    /// current vote in the poll's details, with a `poll.vote` event, in one transaction. The
    /// options are read by text (`vote.selected_options`), else by `local_ids`. Nothing
    /// happens for a poll wagate did not store, or when the voter's stored vote is newer or the
    /// same (a replay). Returns the poll's row when the vote was recorded.
    pub async fn record_poll_vote(
        &self,
        session_id: i64,
        poll_wa_id: &str,
        vote: super::PollVote,
        local_ids: Vec<u32>,
    ) -> DbResult<Option<MessageRow>> {
        let poll_wa_id = poll_wa_id.to_string();
        let recorded = self
            .run_write(move |mut conn| async move {
                dispatch!(&mut conn, |c| c
                    .transaction::<_, DbError, _>(async |c| {
                        super::BackendLocks::take_writer(c).await?;
                        // Compare-and-set on the details: a concurrent vote on the same poll
                        // (another voter) makes the update miss, and the vote is applied again
                        // to what that one left.
                        for _ in 0..5 {
                            let Some(row) = m::table
                                .filter(m::session_id.eq(session_id))
                                .filter(m::wa_message_id.eq(&poll_wa_id))
                                .filter(m::msg_type.eq(super::MessageKind::Poll.as_str()))
                                .select(MessageRow::as_select())
                                .first::<MessageRow>(c)
                                .await
                                .optional()?
                            else {
                                return Ok(None);
                            };
                            let mut details = row.details();
                            let mut vote = vote.clone();
                            if let Some(poll) = &details.poll {
                                vote.selected_options = poll.picked(&vote.selected_options, &local_ids);
                            }
                            if !details.record_vote(vote.clone()) {
                                return Ok(None);
                            }
                            let target = m::table.find(row.id);
                            let updated: Option<MessageRow> = match &row.details {
                                Some(old) => diesel::update(target.filter(m::details.eq(old)))
                                    .set((m::details.eq(details.to_column()), m::updated_at.eq(now())))
                                    .returning(MessageRow::as_returning())
                                    .get_result(c)
                                    .await
                                    .optional()?,
                                None => diesel::update(target.filter(m::details.is_null()))
                                    .set((m::details.eq(details.to_column()), m::updated_at.eq(now())))
                                    .returning(MessageRow::as_returning())
                                    .get_result(c)
                                    .await
                                    .optional()?,
                            };
                            let Some(row) = updated else { continue };
                            let ident = session_ident!(c, row.session_id);
                            let name = ident.as_ref().map(|i| i.0.clone());
                            let session = row.session_id.zip(name.as_deref());
                            let new = NewEvent::new(
                                EventKind::PollVote,
                                row.user_id,
                                session,
                                super::event_record::vote_payload(&row, &vote),
                            );
                            let event = insert_event!(c, new, name);
                            return Ok(Some((row, event)));
                        }
                        Err(DbError::Conflict)
                    })
                    .await)
            })
            .await?;
        Ok(recorded.map(|(row, event)| {
            self.bus.published([event]);
            row
        }))
    }

    /// A send returned: WhatsApp's id, and the status its ack means (`pending` until the server ack).
    pub async fn mark_message_sent(
        &self,
        id: i64,
        wa_id: String,
        status: MessageStatus,
        sent_at: NaiveDateTime,
        forwarding: Option<(bool, u32)>,
    ) -> DbResult<()> {
        self.change_messages(MessageChange::Sent {
            id,
            wa_id,
            status,
            sent_at,
            forwarding,
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
        self.advance_message_status_as(wa_id, status, None).await
    }

    /// `advance_message_status` for an ack a cluster owner saw: `owner` is (the session it came
    /// from, the lease it held); `DbError::Fenced` and nothing changed once another node holds it.
    pub async fn advance_message_status_as(
        &self,
        wa_id: &str,
        status: MessageStatus,
        owner: Option<(i64, super::cluster::Fence)>,
    ) -> DbResult<Vec<MessageRow>> {
        self.change_messages_as(
            MessageChange::Ack {
                wa_id: wa_id.into(),
                status,
            },
            owner,
        )
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

    pub(super) fn publish(&self, events: impl IntoIterator<Item = super::Published>) {
        self.bus.published(events)
    }
}

enum MessageChange {
    Sent {
        id: i64,
        wa_id: String,
        status: MessageStatus,
        sent_at: NaiveDateTime,
        /// A forward: (isForwarded, forwardingScore) as the page gave the copy, kept in details.
        forwarding: Option<(bool, u32)>,
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

/// What happened to a message after it was stored.
enum Touch {
    /// Its text is now this.
    Edited(String),
    /// Deleted for everyone.
    Revoked,
}
