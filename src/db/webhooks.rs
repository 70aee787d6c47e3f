//! Per-user webhook settings (one webhook per user).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::RunQueryDsl;

use super::schema::webhooks as wh;
use super::{Database, DbResult, dispatch};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = wh)]
pub struct WebhookRow {
    #[diesel(skip_insertion)]
    pub id: i64,
    pub user_id: i64,
    pub url: String,
    pub secret: String,
    /// Space-separated event names, or `*` for all.
    pub events: String,
    pub enabled: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl WebhookRow {
    pub fn wants(&self, event: &str) -> bool {
        self.enabled && self.events.split_whitespace().any(|e| e == "*" || e == event)
    }
}

impl Database {
    pub async fn webhook(&self, user_id: i64) -> DbResult<Option<WebhookRow>> {
        self.run(move |mut conn| async move {
            Ok(dispatch!(&mut conn, |c| wh::table
                .filter(wh::user_id.eq(user_id))
                .select(WebhookRow::as_select())
                .first(c)
                .await
                .optional())?)
        })
        .await
    }

    /// Creates or replaces the user's webhook (`created_at` of a replaced one is kept).
    pub async fn put_webhook(&self, row: WebhookRow) -> DbResult<WebhookRow> {
        let stored = self
            .run(move |mut conn| async move {
                Ok(dispatch!(&mut conn, |c| diesel::insert_into(wh::table)
                    .values(&row)
                    .on_conflict(wh::user_id)
                    .do_update()
                    .set((
                        wh::url.eq(excluded(wh::url)),
                        wh::secret.eq(excluded(wh::secret)),
                        wh::events.eq(excluded(wh::events)),
                        wh::enabled.eq(excluded(wh::enabled)),
                        wh::updated_at.eq(excluded(wh::updated_at)),
                    ))
                    .returning(WebhookRow::as_returning())
                    .get_result(c)
                    .await)?)
            })
            .await?;
        // Events held back for a disabled or missing webhook are not replayed, but new ones
        // should not wait for the next tick.
        self.events().wake();
        Ok(stored)
    }

    pub async fn delete_webhook(&self, user_id: i64) -> DbResult<bool> {
        self.run(move |mut conn| async move {
            let n = dispatch!(&mut conn, |c| diesel::delete(wh::table.filter(wh::user_id.eq(user_id)))
                .execute(c)
                .await)?;
            Ok(n == 1)
        })
        .await
    }
}
