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
    /// Comma-separated scopes (`read,send,manage`); None: every scope (see `auth::scope::Grant`).
    pub scopes: Option<String>,
    /// Comma-separated session names; None: every session of the user.
    pub sessions: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = api_keys)]
pub struct NewApiKey {
    pub user_id: i64,
    pub key_id: String,
    pub secret_hash: String,
    pub label: String,
    pub created_at: NaiveDateTime,
    pub scopes: Option<String>,
    pub sessions: Option<String>,
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
    /// Outgoing messages that never got a server ack (`ACK_TIMEOUT`): a sign of a sick session.
    pub ack_timeouts: i64,
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

use super::schema::messages;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = messages, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct MessageRow {
    pub id: i64,
    pub user_id: i64,
    pub session_id: Option<i64>,
    pub direction: String,
    pub chat_id: String,
    pub sender: Option<String>,
    pub msg_type: super::MessageKind,
    pub body: Option<String>,
    pub caption: Option<String>,
    pub media_path: Option<String>,
    pub media_mime: Option<String>,
    pub media_filename: Option<String>,
    pub media_size: Option<i64>,
    pub status: MessageStatus,
    pub error_message: Option<String>,
    pub wa_message_id: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub sent_at: Option<NaiveDateTime>,
    pub idempotency_key: Option<String>,
    pub sender_phone: Option<String>,
    pub error_code: Option<String>,
    /// A queued message not sent by then fails with EXPIRED.
    pub expires_at: Option<NaiveDateTime>,
    /// When media retention deleted the file (`media_path` is then empty).
    pub media_deleted_at: Option<NaiveDateTime>,
    /// The id part of the message's WhatsApp key (`3EB0…`), chosen before the send and stored
    /// first, so a send interrupted by a crash or a timeout is settled by finding it on the page.
    pub wa_key_id: Option<String>,
    /// Hex SHA-256 of the request its `idempotency_key` came with (endpoint, session, body).
    pub idempotency_fingerprint: Option<String>,
    /// The chat's phone number (digits) for a person's chat, whichever form `chat_id` has
    /// (`<digits>@c.us` or `<lid>@lid`); filled in later when the LID's phone becomes known.
    pub chat_phone: Option<String>,
    /// An outgoing message that also marks its chat read when it is sent (`markRead: true`).
    pub mark_read: bool,
    /// What its kind carries beyond text and media, JSON ([`super::MessageDetails`]; read it
    /// with [`MessageRow::details`]).
    pub details: Option<String>,
    /// When the message was last edited (by us through the API, or by its sender).
    pub edited_at: Option<NaiveDateTime>,
    /// When it was deleted for everyone (by us through the API, or by its sender).
    pub revoked_at: Option<NaiveDateTime>,
}

impl MessageRow {
    /// Its kind-specific data (empty when there is none).
    pub fn details(&self) -> super::MessageDetails {
        super::MessageDetails::from_column(self.details.as_deref())
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = messages)]
pub struct NewMessage {
    pub user_id: i64,
    pub session_id: Option<i64>,
    pub direction: String,
    pub chat_id: String,
    pub sender: Option<String>,
    pub msg_type: super::MessageKind,
    pub body: Option<String>,
    pub caption: Option<String>,
    pub media_path: Option<String>,
    pub media_mime: Option<String>,
    pub media_filename: Option<String>,
    pub media_size: Option<i64>,
    pub status: MessageStatus,
    pub error_message: Option<String>,
    pub wa_message_id: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub sent_at: Option<NaiveDateTime>,
    pub idempotency_key: Option<String>,
    pub sender_phone: Option<String>,
    pub error_code: Option<String>,
    /// A queued message not sent by then fails with EXPIRED.
    pub expires_at: Option<NaiveDateTime>,
    pub idempotency_fingerprint: Option<String>,
    /// See [`MessageRow::chat_phone`].
    pub chat_phone: Option<String>,
    /// See [`MessageRow::mark_read`].
    pub mark_read: bool,
    /// See [`MessageRow::details`]: [`super::MessageDetails::to_column`].
    pub details: Option<String>,
}

/// Text from WhatsApp made storable on every backend: PostgreSQL `text` refuses U+0000 (SQLite
/// keeps it), so a NUL becomes U+FFFD REPLACEMENT CHARACTER. Returns whether anything changed.
/// Text from API users is refused at the edge instead (`http::body`).
pub fn make_storable(text: &mut Option<String>) -> bool {
    match text {
        Some(t) if t.contains('\0') => {
            *t = t.replace('\0', "\u{FFFD}");
            true
        }
        _ => false,
    }
}

impl NewMessage {
    /// An outgoing message of `kind` to `chat_id` (its phone number, digits, when known) in a
    /// session, before its content: pending, stamped now, everything else empty.
    pub fn outgoing(
        user_id: i64,
        session_id: i64,
        chat_id: String,
        chat_phone: Option<String>,
        kind: super::MessageKind,
    ) -> NewMessage {
        let now = super::now();
        NewMessage {
            user_id,
            session_id: Some(session_id),
            direction: "out".into(),
            chat_id,
            sender: None,
            msg_type: kind,
            body: None,
            caption: None,
            media_path: None,
            media_mime: None,
            media_filename: None,
            media_size: None,
            status: super::MessageStatus::Pending,
            error_message: None,
            wa_message_id: None,
            created_at: now,
            updated_at: now,
            sent_at: None,
            idempotency_key: None,
            idempotency_fingerprint: None,
            sender_phone: None,
            chat_phone,
            mark_read: false,
            error_code: None,
            expires_at: None,
            details: None,
        }
    }

    /// [`make_storable`] on every text field; the names of the fields it changed.
    pub fn make_storable(&mut self) -> Vec<&'static str> {
        let mut chat = Some(std::mem::take(&mut self.chat_id));
        let mut changed = Vec::new();
        for (name, field) in [
            ("chatId", &mut chat),
            ("sender", &mut self.sender),
            ("body", &mut self.body),
            ("caption", &mut self.caption),
            ("mediaPath", &mut self.media_path),
            ("mimetype", &mut self.media_mime),
            ("filename", &mut self.media_filename),
            ("messageId", &mut self.wa_message_id),
            ("senderPhone", &mut self.sender_phone),
            ("chatPhone", &mut self.chat_phone),
            ("error", &mut self.error_message),
        ] {
            if make_storable(field) {
                changed.push(name);
            }
        }
        self.chat_id = chat.unwrap_or_default();
        if let super::MessageKind::Other(kind) = &self.msg_type {
            let mut kind = Some(kind.clone());
            if make_storable(&mut kind) {
                self.msg_type = super::MessageKind::Other(kind.unwrap_or_default());
                changed.push("type");
            }
        }
        changed
    }
}

impl SessionStatusUpdate {
    /// [`make_storable`] on the texts that come from the page (names, reasons, errors).
    pub fn make_storable(&mut self) -> bool {
        let mut status = Some(std::mem::take(&mut self.status));
        let mut changed = false;
        for field in [
            &mut status,
            &mut self.status_reason,
            &mut self.phone_number,
            &mut self.wid,
            &mut self.push_name,
            &mut self.last_error,
        ] {
            changed |= make_storable(field);
        }
        self.status = status.unwrap_or_default();
        changed
    }
}

/// Filters of the message listing; all optional.
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    pub session_id: Option<i64>,
    pub status: Option<String>,
    pub direction: Option<String>,
    pub chat_id: Option<String>,
    pub since: Option<NaiveDateTime>,
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// Where a message stands. Outgoing: pending → sent → delivered → read (→ played), or failed.
/// Stored as its spelling (`as_str`) in `messages.status`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    serde::Serialize,
    utoipa::ToSchema,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "lowercase")]
pub enum MessageStatus {
    /// Waiting in the session's outbound queue.
    Queued,
    Pending,
    Sent,
    Delivered,
    Read,
    Played,
    Failed,
    /// An incoming message, stored.
    Received,
}

impl MessageStatus {
    pub const ALL: [MessageStatus; 8] = [
        MessageStatus::Queued,
        MessageStatus::Pending,
        MessageStatus::Sent,
        MessageStatus::Delivered,
        MessageStatus::Read,
        MessageStatus::Played,
        MessageStatus::Failed,
        MessageStatus::Received,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Queued => "queued",
            MessageStatus::Pending => "pending",
            MessageStatus::Sent => "sent",
            MessageStatus::Delivered => "delivered",
            MessageStatus::Read => "read",
            MessageStatus::Played => "played",
            MessageStatus::Failed => "failed",
            MessageStatus::Received => "received",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// `status must be one of queued, pending, …`: the error for a status filter.
    pub fn unknown(s: &str) -> String {
        let all: Vec<&str> = Self::ALL.iter().map(|m| m.as_str()).collect();
        format!("status {s:?} is unknown: use one of {}", all.join(", "))
    }

    /// WhatsApp's ack values: -1 error, 0 pending, 1 server, 2 device, 3 read, 4 played.
    pub fn from_ack(ack: i32) -> Self {
        match ack {
            i32::MIN..=-1 => MessageStatus::Failed,
            0 => MessageStatus::Pending,
            1 => MessageStatus::Sent,
            2 => MessageStatus::Delivered,
            3 => MessageStatus::Read,
            _ => MessageStatus::Played,
        }
    }

    /// The statuses an ack to `self` may replace: the ones behind it (the highest ack wins).
    pub fn replaces(self) -> Vec<&'static str> {
        let order = [
            MessageStatus::Pending,
            MessageStatus::Sent,
            MessageStatus::Delivered,
            MessageStatus::Read,
            MessageStatus::Played,
        ];
        match self {
            // An error ack fails a message only before it was delivered.
            MessageStatus::Failed => vec!["pending", "sent"],
            s => order.iter().filter(|o| **o < s).map(|o| o.as_str()).collect(),
        }
    }
}

super::kind::text_column!(MessageStatus, |s| s.as_str(), |s| {
    MessageStatus::parse(s).ok_or_else(|| format!("unknown message status {s:?}"))
});

#[cfg(test)]
mod status_tests {
    use super::MessageStatus::{self, *};

    #[test]
    fn acks_only_move_forward() {
        assert_eq!(MessageStatus::from_ack(3), Read);
        assert_eq!(Read.replaces(), vec!["pending", "sent", "delivered"]);
        assert!(!Delivered.replaces().contains(&"read"));
        assert_eq!(Failed.replaces(), vec!["pending", "sent"]);
        assert_eq!(MessageStatus::parse("delivered"), Some(Delivered));
        assert_eq!(MessageStatus::parse("nope"), None);
    }
}
