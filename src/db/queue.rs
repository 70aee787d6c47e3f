//! The per-session outbound queue: `queued` rows, taken in order by the session's queue worker.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::schema::messages as m;
use super::{Database, DbResult, MessageRow, MessageStatus, dispatch, now};

/// On a connection (`$c`, either backend): whether a message of session `$sid` already has (or,
/// queued, will have) the key id `$key` (`&str`, uppercase hex: the API checks, so `LIKE` needs no
/// escape). One that was claimed or sent carries it as `wa_key_id`, a queued one chosen by its
/// client in its details (`"keyId"`). A `QueryResult<bool>`.
macro_rules! key_id_taken {
    ($c:expr, $sid:expr, $key:expr) => {{
        let key: &str = $key;
        let pattern = format!("%\"keyId\":\"{key}\"%");
        m::table
            .filter(m::session_id.eq($sid))
            .filter(m::direction.eq("out"))
            .filter(
                m::wa_key_id.eq(key).or(m::status
                    .eq(MessageStatus::Queued.as_str())
                    .and(m::details.like(pattern))),
            )
            .count()
            .get_result::<i64>($c)
            .await
            .map(|n| n > 0)
    }};
}
pub(super) use key_id_taken;

impl Database {
    /// The session's oldest queued messages.
    pub async fn next_queued(&self, session_id: i64, limit: i64) -> DbResult<Vec<MessageRow>> {
        self.run(move |mut conn| async move {
            Ok(dispatch!(&mut conn, |c| m::table
                .filter(m::session_id.eq(session_id))
                .filter(m::status.eq(MessageStatus::Queued.as_str()))
                .order(m::id)
                .limit(limit)
                .select(MessageRow::as_select())
                .load(c)
                .await)?)
        })
        .await
    }

    /// `queued` → `pending` if still queued, storing the key id the send will carry (before the
    /// send, so a crash mid-send leaves the evidence to settle it): true when this caller may send.
    pub async fn claim_queued(&self, id: i64, key_id: String) -> DbResult<bool> {
        self.run_write(move |mut conn| async move {
            let n = dispatch!(&mut conn, |c| diesel::update(
                m::table.find(id).filter(m::status.eq(MessageStatus::Queued.as_str()))
            )
            .set((
                m::status.eq(MessageStatus::Pending.as_str()),
                m::wa_key_id.eq(key_id),
                m::updated_at.eq(now()),
            ))
            .execute(c)
            .await)?;
            Ok(n == 1)
        })
        .await
    }

    /// Back in line, keeping its key id: the send did not happen, or whether it did is unknown
    /// (the worker looks for the key id on the page before sending again).
    pub async fn requeue(&self, ids: Vec<i64>) -> DbResult<()> {
        self.run_write(move |mut conn| async move {
            dispatch!(&mut conn, |c| diesel::update(
                m::table
                    .filter(m::id.eq_any(&ids))
                    .filter(m::status.eq(MessageStatus::Pending.as_str()))
                    .filter(m::wa_message_id.is_null())
            )
            .set((m::status.eq(MessageStatus::Queued.as_str()), m::updated_at.eq(now())))
            .execute(c)
            .await)?;
            Ok(())
        })
        .await
    }

    /// Sends `pending` without a WhatsApp id since before `cutoff`: their outcome could not be
    /// recorded (a database outage outlasted the worker's retries). Returns the row ids.
    pub async fn stale_sends(&self, cutoff: NaiveDateTime) -> DbResult<Vec<i64>> {
        self.run(move |mut conn| async move {
            Ok(dispatch!(&mut conn, |c| m::table
                .filter(m::direction.eq("out"))
                .filter(m::status.eq(MessageStatus::Pending.as_str()))
                .filter(m::wa_message_id.is_null())
                .filter(m::wa_key_id.is_not_null())
                .filter(m::updated_at.lt(cutoff))
                .select(m::id)
                .limit(500)
                .load(c)
                .await)?)
        })
        .await
    }

    /// WhatsApp ids of the session's outgoing messages since `since` whose acks may still move
    /// (taken by WhatsApp, not yet read, played or failed), newest first.
    pub async fn unsettled_outgoing(&self, session_id: i64, since: NaiveDateTime, limit: i64) -> DbResult<Vec<String>> {
        self.run(move |mut conn| async move {
            let ids: Vec<Option<String>> = dispatch!(&mut conn, |c| m::table
                .filter(m::session_id.eq(session_id))
                .filter(m::direction.eq("out"))
                .filter(m::wa_message_id.is_not_null())
                .filter(m::status.eq_any([
                    MessageStatus::Pending.as_str(),
                    MessageStatus::Sent.as_str(),
                    MessageStatus::Delivered.as_str(),
                ]))
                .filter(m::created_at.ge(since))
                .order(m::id.desc())
                .limit(limit)
                .select(m::wa_message_id)
                .load(c)
                .await)?;
            Ok(ids.into_iter().flatten().collect())
        })
        .await
    }

    /// Messages the session handed to WhatsApp since `since` (the daily cap).
    pub async fn sent_since(&self, session_id: i64, since: NaiveDateTime) -> DbResult<i64> {
        self.run(move |mut conn| async move {
            Ok(dispatch!(&mut conn, |c| m::table
                .filter(m::session_id.eq(session_id))
                .filter(m::direction.eq("out"))
                .filter(m::wa_message_id.is_not_null())
                .filter(m::sent_at.ge(since))
                .count()
                .get_result(c)
                .await)?)
        })
        .await
    }

    /// Sends that were in flight when an earlier run stopped: (row id, key id). Whether WhatsApp
    /// got them is unknown until their key id is looked for on the page.
    pub async fn interrupted_sends(&self) -> DbResult<Vec<(i64, Option<String>)>> {
        self.run(move |mut conn| async move {
            Ok(dispatch!(&mut conn, |c| m::table
                .filter(m::direction.eq("out"))
                .filter(m::status.eq(MessageStatus::Pending.as_str()))
                .filter(m::wa_message_id.is_null())
                .select((m::id, m::wa_key_id))
                .load(c)
                .await)?)
        })
        .await
    }

    /// Whether a message of this session already has (or, queued, will have) this key id
    /// ([`key_id_taken`]).
    pub async fn key_id_in_use(&self, session_id: i64, key_id: String) -> DbResult<bool> {
        self.run(move |mut conn| async move { Ok(dispatch!(&mut conn, |c| key_id_taken!(c, session_id, &key_id))?) })
            .await
    }

    /// Messages waiting in queues, and events waiting for delivery (the metrics' depths).
    pub async fn depths(&self) -> DbResult<(i64, i64)> {
        use super::schema::events as ev;
        self.run(move |mut conn| async move {
            Ok(dispatch!(&mut conn, |c| {
                let queued: i64 = m::table
                    .filter(m::status.eq(MessageStatus::Queued.as_str()))
                    .count()
                    .get_result(c)
                    .await?;
                let outbox: i64 = ev::table
                    .filter(ev::status.eq(crate::db::EventStatus::Pending))
                    .count()
                    .get_result(c)
                    .await?;
                Ok::<_, diesel::result::Error>((queued, outbox))
            })?)
        })
        .await
    }

    /// Messages created before `cutoff` whose media file is still on disk: (id, path).
    pub async fn media_before(&self, cutoff: NaiveDateTime, limit: i64) -> DbResult<Vec<(i64, String)>> {
        self.run(move |mut conn| async move {
            let rows: Vec<(i64, Option<String>)> = dispatch!(&mut conn, |c| m::table
                .filter(m::created_at.lt(cutoff))
                .filter(m::media_path.is_not_null())
                .select((m::id, m::media_path))
                .order(m::id)
                .limit(limit)
                .load(c)
                .await)?;
            Ok(rows.into_iter().filter_map(|(id, p)| p.map(|p| (id, p))).collect())
        })
        .await
    }

    /// The files of these messages are gone: `media_path` cleared, `media_deleted_at` set.
    pub async fn mark_media_deleted(&self, ids: Vec<i64>) -> DbResult<usize> {
        self.run_write(move |mut conn| async move {
            Ok(dispatch!(&mut conn, |c| diesel::update(
                m::table.filter(m::id.eq_any(&ids))
            )
            .set((m::media_path.eq(None::<String>), m::media_deleted_at.eq(now())))
            .execute(c)
            .await)?)
        })
        .await
    }

    /// Queued messages past their `expires_at`: (row id, key id — set when a send was tried,
    /// `expires_at`).
    pub async fn expired_queued(
        &self,
        at: NaiveDateTime,
    ) -> DbResult<Vec<(i64, Option<String>, Option<NaiveDateTime>)>> {
        self.run(move |mut conn| async move {
            Ok(dispatch!(&mut conn, |c| m::table
                .filter(m::status.eq(MessageStatus::Queued.as_str()))
                .filter(m::expires_at.lt(at))
                .select((m::id, m::wa_key_id, m::expires_at))
                .limit(500)
                .load(c)
                .await)?)
        })
        .await
    }
}
