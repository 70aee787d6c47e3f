//! What sessions report to the rest of the application (the event sink).

use serde::{Deserialize, Serialize};

use super::state::SessionInfo;

/// Which session an event came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SessionKey {
    /// The `whatsapp_sessions` row id.
    pub id: i64,
    pub user_id: i64,
    pub name: String,
}

/// A message as the page reported it (`msg_add`: incoming; `msg_create`: our own, from any device).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WaMessage {
    pub id: String,
    pub from_me: bool,
    pub remote: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub author: Option<String>,
    /// The sender's phone number when the sender is a `@lid` and WhatsApp knows the number.
    pub author_phone: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub body: Option<String>,
    pub caption: Option<String>,
    pub t: Option<i64>,
    pub ack: Option<i32>,
    #[serde(default)]
    pub has_media: bool,
    pub mimetype: Option<String>,
    pub filename: Option<String>,
    pub size: Option<i64>,
    pub notify_name: Option<String>,
    #[serde(default)]
    pub is_group: bool,
    /// Where the actor saved the media bytes (relative to the media dir), if it could.
    #[serde(skip_deserializing)]
    pub saved_media: Option<String>,
}

#[derive(Debug, Clone)]
pub enum SessionEvent {
    /// Every transition, with the full published info.
    State { session: SessionKey, info: SessionInfo },
    /// A new message from someone else.
    Incoming { session: SessionKey, message: WaMessage },
    /// A message of ours appeared (sent by wagate, or from the phone).
    OwnMessage { session: SessionKey, message: WaMessage },
    /// An ack changed: -1 error, 0 pending, 1 server, 2 delivered, 3 read, 4 played.
    Ack { session: SessionKey, id: String, ack: i32 },
}
