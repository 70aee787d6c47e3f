//! Rows as they are read from and written to the database.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{api_keys, users};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct User {
    pub id: i64,
    pub username: String,
    pub password_hash: Option<String>,
    pub is_admin: bool,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser {
    pub username: String,
    pub password_hash: Option<String>,
    pub is_admin: bool,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_keys, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct ApiKeyRow {
    pub id: i64,
    pub user_id: i64,
    pub key_id: String,
    pub secret_hash: String,
    pub label: String,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = api_keys)]
pub struct NewApiKey {
    pub user_id: i64,
    pub key_id: String,
    pub secret_hash: String,
    pub label: String,
    pub created_at: NaiveDateTime,
}

use super::schema::{session_events, whatsapp_sessions};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = whatsapp_sessions, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct SessionRow {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub phone_number: Option<String>,
    pub wid: Option<String>,
    pub push_name: Option<String>,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub connected_at: Option<NaiveDateTime>,
}

/// A state transition to record: the row's current status and one history line.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = whatsapp_sessions, treat_none_as_null = true)]
pub struct SessionStatusUpdate {
    pub status: String,
    pub status_reason: Option<String>,
    pub phone_number: Option<String>,
    pub wid: Option<String>,
    pub push_name: Option<String>,
    pub last_error: Option<String>,
    pub updated_at: NaiveDateTime,
    pub connected_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = session_events, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct SessionEventRow {
    pub id: i64,
    pub session_id: i64,
    pub state: String,
    pub reason: Option<String>,
    pub created_at: NaiveDateTime,
}
