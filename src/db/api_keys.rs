use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::auth::scope::Grant;

use super::schema::{api_keys, server_secrets, users};
use super::{ApiKeyRow, Database, DbResult, NewApiKey, User, dispatch, now};

impl Database {
    /// A key with full rights.
    pub async fn insert_api_key(
        &self,
        user_id: i64,
        key_id: &str,
        secret_hash: String,
        label: &str,
    ) -> DbResult<ApiKeyRow> {
        self.insert_scoped_api_key(user_id, key_id, secret_hash, label, &Grant::full())
            .await
    }

    /// A key limited to `grant` (stored as its `scopes` / `sessions` columns).
    pub async fn insert_scoped_api_key(
        &self,
        user_id: i64,
        key_id: &str,
        secret_hash: String,
        label: &str,
        grant: &Grant,
    ) -> DbResult<ApiKeyRow> {
        let (scopes, sessions) = grant.columns();
        let new = NewApiKey {
            user_id,
            key_id: key_id.to_string(),
            secret_hash,
            label: label.to_string(),
            created_at: now(),
            scopes,
            sessions,
        };
        self.run(move |mut conn| async move {
            Ok(dispatch!(&mut conn, |c| diesel::insert_into(api_keys::table)
                .values(&new)
                .returning(ApiKeyRow::as_returning())
                .get_result(c)
                .await)?)
        })
        .await
    }

    /// The unrevoked key with this public id, with its user.
    pub async fn active_key(&self, key_id: &str) -> DbResult<Option<(ApiKeyRow, User)>> {
        let key_id = key_id.to_string();
        self.run(move |mut conn| async move {
            Ok(dispatch!(&mut conn, |c| api_keys::table
                .inner_join(users::table)
                .filter(api_keys::key_id.eq(&key_id))
                .filter(api_keys::revoked_at.is_null())
                .select((ApiKeyRow::as_select(), User::as_select()))
                .first(c)
                .await
                .optional())?)
        })
        .await
    }

    pub async fn list_keys(&self, user_id: i64) -> DbResult<Vec<ApiKeyRow>> {
        self.run(move |mut conn| async move {
            Ok(dispatch!(&mut conn, |c| api_keys::table
                .filter(api_keys::user_id.eq(user_id))
                .order(api_keys::id)
                .select(ApiKeyRow::as_select())
                .load(c)
                .await)?)
        })
        .await
    }

    pub async fn key_by_id(&self, id: i64) -> DbResult<Option<ApiKeyRow>> {
        self.run(move |mut conn| async move {
            Ok(dispatch!(&mut conn, |c| api_keys::table
                .find(id)
                .select(ApiKeyRow::as_select())
                .first(c)
                .await
                .optional())?)
        })
        .await
    }

    /// Marks a key revoked; returns its public id, or None when there is no such unrevoked key.
    pub async fn revoke_key(&self, id: i64) -> DbResult<Option<String>> {
        self.run(move |mut conn| async move {
            Ok(dispatch!(&mut conn, |c| diesel::update(
                api_keys::table.find(id).filter(api_keys::revoked_at.is_null())
            )
            .set(api_keys::revoked_at.eq(now()))
            .returning(api_keys::key_id)
            .get_result::<String>(c)
            .await
            .optional())?)
        })
        .await
    }

    /// Public ids of keys revoked at or after `since` (lets a server see revocations made by the CLI).
    pub async fn keys_revoked_since(&self, since: NaiveDateTime) -> DbResult<Vec<String>> {
        self.run(move |mut conn| async move {
            Ok(dispatch!(&mut conn, |c| api_keys::table
                .filter(api_keys::revoked_at.ge(since))
                .select(api_keys::key_id)
                .load(c)
                .await)?)
        })
        .await
    }

    /// Writes the `last_used_at` times collected in memory since the last flush.
    pub async fn touch_keys(&self, used: Vec<(String, NaiveDateTime)>) -> DbResult<()> {
        self.run(move |mut conn| async move {
            for (key_id, at) in &used {
                dispatch!(&mut conn, |c| diesel::update(
                    api_keys::table.filter(api_keys::key_id.eq(key_id))
                )
                .set(api_keys::last_used_at.eq(at))
                .execute(c)
                .await)?;
            }
            Ok(())
        })
        .await
    }

    /// Replaces a key's stored verifier, only if it is still `old` (compare-and-set: two processes
    /// upgrading the same legacy hash at once both succeed harmlessly). True when this call wrote it.
    pub async fn replace_key_hash(&self, id: i64, old: String, new: String) -> DbResult<bool> {
        self.run(move |mut conn| async move {
            let n = dispatch!(&mut conn, |c| diesel::update(
                api_keys::table.find(id).filter(api_keys::secret_hash.eq(&old))
            )
            .set(api_keys::secret_hash.eq(&new))
            .execute(c)
            .await)?;
            Ok(n == 1)
        })
        .await
    }

    /// The server secret called `name`, stored on first use as `fresh`. Every process on this
    /// database gets the same value: a concurrent first use keeps whichever insert came first.
    pub async fn server_secret(&self, name: &str, fresh: String) -> DbResult<String> {
        let name = name.to_string();
        self.run(move |mut conn| async move {
            dispatch!(&mut conn, |c| diesel::insert_into(server_secrets::table)
                .values((
                    server_secrets::name.eq(&name),
                    server_secrets::value.eq(&fresh),
                    server_secrets::created_at.eq(now()),
                ))
                .on_conflict_do_nothing()
                .execute(c)
                .await)?;
            Ok(dispatch!(&mut conn, |c| server_secrets::table
                .find(&name)
                .select(server_secrets::value)
                .first::<String>(c)
                .await)?)
        })
        .await
    }
}
