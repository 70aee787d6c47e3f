use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::schema::{session_events, whatsapp_sessions as ws};
use super::{
    Database, DbError, DbResult, SessionEventRow, SessionRow, SessionStatusUpdate, dispatch, insert_event, now,
};

impl Database {
    /// The user's session row of this name, created (status `stopped`) when missing.
    pub async fn get_or_create_session(&self, user_id: i64, name: &str) -> DbResult<SessionRow> {
        let name = name.to_string();
        self.run_write(move |mut conn| async move {
            let t = now();
            dispatch!(&mut conn, |c| diesel::insert_into(ws::table)
                .values((
                    ws::user_id.eq(user_id),
                    ws::name.eq(&name),
                    ws::status.eq("stopped"),
                    ws::created_at.eq(t),
                    ws::updated_at.eq(t),
                ))
                .on_conflict((ws::user_id, ws::name))
                .do_nothing()
                .execute(c)
                .await)?;
            Ok(dispatch!(&mut conn, |c| ws::table
                .filter(ws::user_id.eq(user_id))
                .filter(ws::name.eq(&name))
                .select(SessionRow::as_select())
                .first(c)
                .await)?)
        })
        .await
    }

    pub async fn session_by_id(&self, id: i64) -> DbResult<Option<SessionRow>> {
        self.run(move |mut conn| async move {
            Ok(dispatch!(&mut conn, |c| ws::table
                .find(id)
                .select(SessionRow::as_select())
                .first(c)
                .await
                .optional())?)
        })
        .await
    }

    pub async fn session_by_name(&self, user_id: i64, name: &str) -> DbResult<Option<SessionRow>> {
        let name = name.to_string();
        self.run(move |mut conn| async move {
            Ok(dispatch!(&mut conn, |c| ws::table
                .filter(ws::user_id.eq(user_id))
                .filter(ws::name.eq(&name))
                .select(SessionRow::as_select())
                .first(c)
                .await
                .optional())?)
        })
        .await
    }

    pub async fn list_sessions(&self, user_id: Option<i64>) -> DbResult<Vec<SessionRow>> {
        self.run(move |mut conn| async move {
            Ok(dispatch!(&mut conn, |c| {
                let mut q = ws::table.select(SessionRow::as_select()).order(ws::id).into_boxed();
                if let Some(u) = user_id {
                    q = q.filter(ws::user_id.eq(u));
                }
                q.load(c).await
            })?)
        })
        .await
    }

    /// Sessions that were linked when the gateway last ran: restored at start, without a QR.
    pub async fn sessions_to_restore(&self) -> DbResult<Vec<SessionRow>> {
        self.run(move |mut conn| async move {
            Ok(dispatch!(&mut conn, |c| ws::table
                .filter(ws::status.eq_any(["connected", "syncing", "disconnected", "starting"]))
                .filter(ws::phone_number.is_not_null())
                .select(SessionRow::as_select())
                .order(ws::id)
                .load(c)
                .await)?)
        })
        .await
    }

    /// Records a transition: the row's status, a line of history and the `session.status` event,
    /// in one transaction.
    pub async fn record_session_state(&self, session_id: i64, update: SessionStatusUpdate) -> DbResult<()> {
        self.record_session_state_as(session_id, update, None).await
    }

    /// `record_session_state` by a cluster owner: refused with `DbError::Fenced` (nothing
    /// written) unless `fence` still holds the session's lease.
    pub async fn record_session_state_as(
        &self,
        session_id: i64,
        mut update: SessionStatusUpdate,
        fence: Option<super::cluster::Fence>,
    ) -> DbResult<()> {
        if update.make_storable() {
            tracing::warn!(
                session = session_id,
                "NUL characters from WhatsApp replaced with U+FFFD"
            );
        }
        let published = self
            .run_write(move |mut conn| async move {
                dispatch!(&mut conn, |c| c
                    .transaction::<_, DbError, _>(async |c| {
                        if let Some(f) = &fence {
                            super::BackendLocks::hold_lease(c, session_id, f).await?;
                        }
                        let row: SessionRow = diesel::update(ws::table.find(session_id))
                            .set(&update)
                            .returning(SessionRow::as_returning())
                            .get_result(c)
                            .await?;
                        diesel::insert_into(session_events::table)
                            .values((
                                session_events::session_id.eq(session_id),
                                session_events::state.eq(&update.status),
                                session_events::reason.eq(&update.status_reason),
                                session_events::created_at.eq(update.updated_at),
                            ))
                            .execute(c)
                            .await?;
                        let name = Some(row.name.clone());
                        Ok(insert_event!(c, Database::session_event(&row), name))
                    })
                    .await)
            })
            .await?;
        self.publish([published]);
        Ok(())
    }

    /// A `session.sync` event: the page's initial sync progress (0–100), `done` once synced.
    /// Refused with `DbError::Fenced` (nothing written) unless `fence` still holds the lease.
    pub async fn record_session_sync(
        &self,
        session_id: i64,
        progress: u32,
        done: bool,
        fence: Option<super::cluster::Fence>,
    ) -> DbResult<()> {
        let payload = move |name: &str| super::event_record::sync_payload(name, progress, done);
        self.record_session_event(session_id, super::EventKind::SessionSync, payload, fence)
            .await
    }

    /// A `presence.update` event for a subscribed chat's presence change (an event only: no
    /// message row).
    pub async fn record_presence(
        &self,
        session_id: i64,
        presence: &crate::browser::protocol::WaPresence,
    ) -> DbResult<()> {
        let payload = super::event_record::presence_payload(presence);
        self.record_session_event(session_id, super::EventKind::PresenceUpdate, |_| payload, None)
            .await
    }

    /// One event of the session (`kind`, its payload made from the session's name), no message
    /// row: written and published.
    /// Refused with `DbError::Fenced` (nothing written) unless `fence`, when given, still holds
    /// the session's lease.
    pub(super) async fn record_session_event(
        &self,
        session_id: i64,
        kind: super::EventKind,
        payload: impl FnOnce(&str) -> serde_json::Value + Send + 'static,
        fence: Option<super::cluster::Fence>,
    ) -> DbResult<()> {
        self.record_session_event_once(session_id, kind, None, payload, fence)
            .await
    }

    /// [`Database::record_session_event`], written once per `once` (what raised it, e.g. a call
    /// id): a second write of the same event (a spool replay after a commit whose answer was
    /// lost, a page reporting it again) is skipped.
    pub(super) async fn record_session_event_once(
        &self,
        session_id: i64,
        kind: super::EventKind,
        once: Option<&str>,
        payload: impl FnOnce(&str) -> serde_json::Value + Send + 'static,
        fence: Option<super::cluster::Fence>,
    ) -> DbResult<()> {
        let uid = once.map(|what| super::NewEvent::once_uid(kind, session_id, what));
        let published = self
            .run_write(move |mut conn| async move {
                dispatch!(&mut conn, |c| c
                    .transaction::<_, DbError, _>(async |c| {
                        if let Some(f) = &fence {
                            super::BackendLocks::hold_lease(c, session_id, f).await?;
                        }
                        let (user_id, name): (i64, String) = ws::table
                            .find(session_id)
                            .select((ws::user_id, ws::name))
                            .first(c)
                            .await?;
                        let session = Some((session_id, name.as_str()));
                        let event = match uid {
                            Some(uid) => {
                                let written: i64 = super::schema::events::table
                                    .filter(super::schema::events::uid.eq(&uid))
                                    .count()
                                    .get_result(c)
                                    .await?;
                                if written > 0 {
                                    return Ok(None);
                                }
                                super::NewEvent::with_uid(uid, kind, user_id, session, payload(&name))
                            }
                            None => super::NewEvent::new(kind, user_id, session, payload(&name)),
                        };
                        Ok(Some(insert_event!(c, event, Some(name))))
                    })
                    .await)
            })
            .await?;
        self.publish(published);
        Ok(())
    }

    pub async fn session_events(&self, session_id: i64, limit: i64) -> DbResult<Vec<SessionEventRow>> {
        self.run(move |mut conn| async move {
            Ok(dispatch!(&mut conn, |c| session_events::table
                .filter(session_events::session_id.eq(session_id))
                .order(session_events::id.desc())
                .limit(limit)
                .select(SessionEventRow::as_select())
                .load(c)
                .await)?)
        })
        .await
    }

    pub async fn delete_session(&self, session_id: i64) -> DbResult<bool> {
        self.run_write(move |mut conn| async move {
            let n = dispatch!(&mut conn, |c| diesel::delete(ws::table.find(session_id))
                .execute(c)
                .await)?;
            Ok(n == 1)
        })
        .await
    }
}
