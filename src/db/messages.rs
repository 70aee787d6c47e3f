use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::schema::messages as m;
use super::{Database, DbResult, MessageFilter, MessageRow, MessageStatus, NewMessage, dispatch};

impl Database {
    /// Inserts a message; `DbError::Conflict` when its idempotency key was used before,
    /// `DbError::KeyIdTaken` when the key id its client chose (`details.keyId`, outgoing) is
    /// taken in its session: checked
    /// and inserted under the session's key-id lock, so two requests with the same id cannot both
    /// pass (the API checks first, for a clearer answer).
    pub async fn insert_message(&self, new: NewMessage) -> DbResult<MessageRow> {
        let client_key = match (new.session_id, new.direction.as_str()) {
            (Some(session_id), "out") => super::MessageDetails::from_column(new.details.as_deref())
                .key_id
                .map(|k| (session_id, k)),
            _ => None,
        };
        self.run_write(move |mut conn| async move {
            dispatch!(&mut conn, |c| {
                let Some((session_id, key_id)) = &client_key else {
                    // No client-chosen id: one statement, no transaction (a send's hot path).
                    return Ok(diesel::insert_into(m::table)
                        .values(&new)
                        .returning(MessageRow::as_returning())
                        .get_result(c)
                        .await?);
                };
                c.transaction::<_, super::DbError, _>(async |c| {
                    super::BackendLocks::lock_key_ids(c, *session_id).await?;
                    if super::queue::key_id_taken!(c, *session_id, key_id)? {
                        return Err(super::DbError::KeyIdTaken);
                    }
                    Ok(diesel::insert_into(m::table)
                        .values(&new)
                        .returning(MessageRow::as_returning())
                        .get_result(c)
                        .await?)
                })
                .await
            })
        })
        .await
    }

    /// Frees `key` of rows created before `before` (its time to live is over): a new request with
    /// it is a new message.
    pub async fn forget_idempotency_key(&self, user_id: i64, key: &str, before: chrono::NaiveDateTime) -> DbResult<()> {
        let key = key.to_string();
        self.run_write(move |mut conn| async move {
            dispatch!(&mut conn, |c| diesel::update(
                m::table
                    .filter(m::user_id.eq(user_id))
                    .filter(m::idempotency_key.eq(&key))
                    .filter(m::created_at.lt(before))
            )
            .set(m::idempotency_key.eq(None::<String>))
            .execute(c)
            .await)?;
            Ok(())
        })
        .await
    }

    /// When the newest incoming message of a session was sent (WhatsApp's time), if any.
    pub async fn last_incoming_at(&self, session_id: i64) -> DbResult<Option<chrono::NaiveDateTime>> {
        self.run(move |mut conn| async move {
            Ok(dispatch!(&mut conn, |c| m::table
                .filter(m::session_id.eq(session_id))
                .filter(m::direction.eq("in"))
                .select(diesel::dsl::max(m::sent_at))
                .first::<Option<chrono::NaiveDateTime>>(c)
                .await)?)
        })
        .await
    }

    /// Which of these WhatsApp ids the session has stored already.
    pub async fn known_wa_ids(&self, session_id: i64, ids: Vec<String>) -> DbResult<std::collections::HashSet<String>> {
        self.run(move |mut conn| async move {
            let found: Vec<Option<String>> = dispatch!(&mut conn, |c| m::table
                .filter(m::session_id.eq(session_id))
                .filter(m::wa_message_id.eq_any(&ids))
                .select(m::wa_message_id)
                .load(c)
                .await)?;
            Ok(found.into_iter().flatten().collect())
        })
        .await
    }

    /// The session's stored messages with these WhatsApp ids.
    pub async fn messages_by_wa_ids(&self, session_id: i64, ids: Vec<String>) -> DbResult<Vec<MessageRow>> {
        self.run(move |mut conn| async move {
            Ok(dispatch!(&mut conn, |c| m::table
                .filter(m::session_id.eq(session_id))
                .filter(m::wa_message_id.eq_any(&ids))
                .select(MessageRow::as_select())
                .load(c)
                .await)?)
        })
        .await
    }

    /// The session's stored messages in one of `chats` that carry a WhatsApp id and were sent at
    /// or after `from` and before `to` (either bound open when None): newest first, at most `limit`.
    pub async fn chat_messages_between(
        &self,
        session_id: i64,
        chats: Vec<String>,
        from: Option<chrono::NaiveDateTime>,
        to: Option<chrono::NaiveDateTime>,
        limit: i64,
    ) -> DbResult<Vec<MessageRow>> {
        self.run(move |mut conn| async move {
            Ok(dispatch!(&mut conn, |c| {
                let mut q = m::table
                    .filter(m::session_id.eq(session_id))
                    .filter(m::chat_id.eq_any(&chats))
                    .filter(m::wa_message_id.is_not_null())
                    .select(MessageRow::as_select())
                    .into_boxed();
                if let Some(f) = from {
                    q = q.filter(m::sent_at.ge(f));
                }
                if let Some(t) = to {
                    q = q.filter(m::sent_at.lt(t));
                }
                q.order((m::sent_at.desc(), m::id.desc())).limit(limit).load(c).await
            })?)
        })
        .await
    }

    pub async fn message_by_idempotency_key(&self, user_id: i64, key: &str) -> DbResult<Option<MessageRow>> {
        let key = key.to_string();
        self.run(move |mut conn| async move {
            Ok(dispatch!(&mut conn, |c| m::table
                .filter(m::user_id.eq(user_id))
                .filter(m::idempotency_key.eq(&key))
                .select(MessageRow::as_select())
                .first(c)
                .await
                .optional())?)
        })
        .await
    }

    pub async fn message_for_user(&self, user_id: i64, id: i64) -> DbResult<Option<MessageRow>> {
        self.run(move |mut conn| async move {
            Ok(dispatch!(&mut conn, |c| m::table
                .filter(m::id.eq(id))
                .filter(m::user_id.eq(user_id))
                .select(MessageRow::as_select())
                .first(c)
                .await
                .optional())?)
        })
        .await
    }

    /// The user's messages (everyone's for `None`), newest first, paged by id.
    pub async fn list_messages(&self, user_id: Option<i64>, f: MessageFilter) -> DbResult<Vec<MessageRow>> {
        self.run(move |mut conn| async move {
            Ok(dispatch!(&mut conn, |c| {
                let mut q = m::table.select(MessageRow::as_select()).into_boxed();
                if let Some(u) = user_id {
                    q = q.filter(m::user_id.eq(u));
                }
                if let Some(s) = f.session_id {
                    q = q.filter(m::session_id.eq(s));
                }
                if let Some(s) = &f.status {
                    q = q.filter(m::status.eq(s.clone()));
                }
                if let Some(d) = &f.direction {
                    q = q.filter(m::direction.eq(d.clone()));
                }
                if let Some(ch) = &f.chat_id {
                    q = q.filter(m::chat_id.eq(ch.clone()));
                }
                if let Some(t) = f.since {
                    q = q.filter(m::created_at.ge(t));
                }
                if let Some(b) = f.before_id {
                    q = q.filter(m::id.lt(b));
                }
                q.order(m::id.desc()).limit(f.limit).load(c).await
            })?)
        })
        .await
    }
}

impl Database {
    pub async fn message_by_wa_id(&self, wa_id: &str) -> DbResult<Option<MessageRow>> {
        let wa_id = wa_id.to_string();
        self.run(move |mut conn| async move {
            Ok(dispatch!(&mut conn, |c| m::table
                .filter(m::wa_message_id.eq(&wa_id))
                .select(MessageRow::as_select())
                .first(c)
                .await
                .optional())?)
        })
        .await
    }

    /// The user's message with this WhatsApp id, newest first (a group message two of the
    /// user's sessions received is stored once per session).
    pub async fn message_by_wa_id_for(&self, user_id: i64, wa_id: &str) -> DbResult<Option<MessageRow>> {
        let wa_id = wa_id.to_string();
        self.run(move |mut conn| async move {
            Ok(dispatch!(&mut conn, |c| m::table
                .filter(m::user_id.eq(user_id))
                .filter(m::wa_message_id.eq(&wa_id))
                .order(m::id.desc())
                .select(MessageRow::as_select())
                .first(c)
                .await
                .optional())?)
        })
        .await
    }
}
