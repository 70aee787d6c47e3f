//! The chats whose presence a session subscribed to (`presence_subscriptions`). WhatsApp's server
//! keeps a presence subscription for one connection; these are what the session's actor renews
//! each time its page connects.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::schema::presence_subscriptions as ps;
use super::{Database, DbResult, dispatch, now};

/// Subscriptions renewed per session at most (the oldest are kept: one renewal is one page call).
const MAX_PRESENCE_SUBSCRIPTIONS: i64 = 1000;

impl Database {
    /// Keeps `chat_id` (as the API was given it, validated) among the session's subscriptions;
    /// once per chat.
    pub async fn add_presence_subscription(&self, session_id: i64, chat_id: &str) -> DbResult<()> {
        let chat_id = chat_id.to_string();
        self.run_write(move |mut conn| async move {
            dispatch!(&mut conn, |c| diesel::insert_into(ps::table)
                .values((
                    ps::session_id.eq(session_id),
                    ps::chat_id.eq(&chat_id),
                    ps::created_at.eq(now()),
                ))
                .on_conflict_do_nothing()
                .execute(c)
                .await)?;
            Ok(())
        })
        .await
    }

    /// Forgets the session's subscriptions: its account logged out, and whoever links it next may
    /// be another account.
    pub async fn clear_presence_subscriptions(&self, session_id: i64) -> DbResult<()> {
        self.run_write(move |mut conn| async move {
            dispatch!(&mut conn, |c| diesel::delete(
                ps::table.filter(ps::session_id.eq(session_id))
            )
            .execute(c)
            .await)?;
            Ok(())
        })
        .await
    }

    /// The session's subscribed chats, oldest first (at most [`MAX_PRESENCE_SUBSCRIPTIONS`]).
    pub async fn presence_subscriptions(&self, session_id: i64) -> DbResult<Vec<String>> {
        self.run(move |mut conn| async move {
            Ok(dispatch!(&mut conn, |c| ps::table
                .filter(ps::session_id.eq(session_id))
                .order((ps::created_at.asc(), ps::chat_id.asc()))
                .limit(MAX_PRESENCE_SUBSCRIPTIONS)
                .select(ps::chat_id)
                .load::<String>(c)
                .await)?)
        })
        .await
    }
}
