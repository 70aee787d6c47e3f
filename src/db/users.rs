use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::schema::users;
use super::{Database, DbResult, NewUser, User, dispatch, now};

impl Database {
    /// Creates a user; `DbError::Conflict` when the name is taken.
    pub async fn create_user(&self, username: &str, password_hash: Option<String>, is_admin: bool) -> DbResult<User> {
        let new = NewUser {
            username: username.to_string(),
            password_hash,
            is_admin,
            created_at: now(),
        };
        self.run(move |mut conn| async move {
            Ok(dispatch!(&mut conn, |c| diesel::insert_into(users::table)
                .values(&new)
                .returning(User::as_returning())
                .get_result(c)
                .await)?)
        })
        .await
    }

    pub async fn user_by_name(&self, username: &str) -> DbResult<Option<User>> {
        let username = username.to_string();
        self.run(move |mut conn| async move {
            Ok(dispatch!(&mut conn, |c| users::table
                .filter(users::username.eq(&username))
                .select(User::as_select())
                .first(c)
                .await
                .optional())?)
        })
        .await
    }

    pub async fn user_by_id(&self, id: i64) -> DbResult<Option<User>> {
        self.run(move |mut conn| async move {
            Ok(dispatch!(&mut conn, |c| users::table
                .find(id)
                .select(User::as_select())
                .first(c)
                .await
                .optional())?)
        })
        .await
    }

    pub async fn list_users(&self) -> DbResult<Vec<User>> {
        self.run(move |mut conn| async move {
            Ok(dispatch!(&mut conn, |c| users::table
                .order(users::id)
                .select(User::as_select())
                .load(c)
                .await)?)
        })
        .await
    }

    pub async fn count_users(&self) -> DbResult<i64> {
        self.run(move |mut conn| async move { Ok(dispatch!(&mut conn, |c| users::table.count().get_result(c).await)?) })
            .await
    }

    pub async fn set_password(&self, user_id: i64, password_hash: String) -> DbResult<bool> {
        self.run(move |mut conn| async move {
            let n = dispatch!(&mut conn, |c| diesel::update(users::table.find(user_id))
                .set(users::password_hash.eq(&password_hash))
                .execute(c)
                .await)?;
            Ok(n == 1)
        })
        .await
    }
}
