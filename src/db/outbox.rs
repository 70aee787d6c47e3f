//! The events outbox (table `events`): what the dispatcher delivers next, what a stream resumes
//! from, replay and purge.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::schema::events as ev;
use super::{Database, DbResult, EventStatus, dispatch, now};

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
    pub status: EventStatus,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub delivered_at: Option<NaiveDateTime>,
}

impl Database {
    /// Events no webhook wants (none configured, disabled, or filtered out).
    pub async fn skip_events(&self, ids: Vec<i64>) -> DbResult<()> {
        self.run_write(move |mut conn| async move {
            dispatch!(&mut conn, |c| diesel::update(ev::table.filter(ev::id.eq_any(&ids)))
                .set(ev::status.eq(EventStatus::Skipped))
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

    /// Puts an event back in line for delivery now; `None` if the user has no such event.
    pub async fn replay_event(&self, user_id: i64, id: i64) -> DbResult<Option<EventRow>> {
        let row = self
            .run_write(move |mut conn| async move {
                Ok(dispatch!(&mut conn, |c| diesel::update(
                    ev::table.filter(ev::id.eq(id)).filter(ev::user_id.eq(user_id))
                )
                .set((ev::status.eq(EventStatus::Pending), ev::next_attempt_at.eq(now())))
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
        self.run_write(move |mut conn| async move {
            Ok(dispatch!(&mut conn, |c| diesel::delete(
                ev::table
                    .filter(ev::created_at.lt(cutoff))
                    .filter(ev::status.ne(EventStatus::Pending))
            )
            .execute(c)
            .await)?)
        })
        .await
    }

    /// The first pending event of every (user, session): what the dispatcher may deliver next
    /// without breaking the per-session order.
    pub async fn pending_heads(&self) -> DbResult<Vec<EventRow>> {
        self.run(move |mut conn| async move {
            Ok(dispatch!(&mut conn, |c| {
                let heads: Vec<Option<i64>> = ev::table
                    .filter(ev::status.eq(EventStatus::Pending))
                    .group_by((ev::user_id, ev::session_id))
                    .select(diesel::dsl::min(ev::id))
                    .load(c)
                    .await?;
                let ids: Vec<i64> = heads.into_iter().flatten().collect();
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
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
                    .filter(ev::status.eq(EventStatus::Pending))
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
