//! The delivery log (table `webhook_deliveries`): each attempt to deliver an event, recorded with
//! the event's new state in one transaction.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::outbox::EventRow;
use super::schema::{events as ev, webhook_deliveries as wd};
use super::{Database, DbError, DbResult, EventStatus, dispatch};

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

impl Database {
    /// Records an attempt and its consequence in one transaction.
    pub async fn record_attempt(&self, delivery: DeliveryRow, outcome: AttemptOutcome) -> DbResult<()> {
        self.run(move |mut conn| async move {
            dispatch!(&mut conn, |c| c
                .transaction::<_, DbError, _>(async |c| {
                    diesel::insert_into(wd::table).values(&delivery).execute(c).await?;
                    let (status, next, delivered) = match outcome {
                        AttemptOutcome::Delivered => (EventStatus::Delivered, None, Some(delivery.created_at)),
                        AttemptOutcome::Refused => (EventStatus::Failed, None, None),
                        AttemptOutcome::Retry { at } => (EventStatus::Pending, Some(at), None),
                        AttemptOutcome::Dead => (EventStatus::Dead, None, None),
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

    /// The delivery log: the user's events, newest first, each with its attempts.
    pub async fn deliveries(
        &self,
        user_id: i64,
        status: Option<EventStatus>,
        before_id: Option<i64>,
        limit: i64,
    ) -> DbResult<Vec<(EventRow, Vec<DeliveryRow>)>> {
        self.run(move |mut conn| async move {
            dispatch!(&mut conn, |c| {
                let mut q = ev::table
                    .filter(ev::user_id.eq(user_id))
                    .filter(ev::status.ne(EventStatus::Skipped))
                    .select(EventRow::as_select())
                    .into_boxed();
                if let Some(s) = &status {
                    q = q.filter(ev::status.eq(*s));
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
}
