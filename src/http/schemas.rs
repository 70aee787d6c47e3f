//! The response shapes of the OpenAPI document. Handlers build their answers with `json!`; each
//! type here mirrors one of those answers field for field (camelCase names, `null` where the
//! handler writes `null`), and the schema-driven fuzzer (`tests/api/fuzz.rs`) checks every answer
//! it gets against them. Request bodies and query strings are documented by the handlers' own
//! types (`ToSchema`/`IntoParams` on the structs they deserialize).

#![allow(dead_code)] // Only their schemas are used.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::MessageStatus;
use crate::sessions::SessionState;

/// Every error: `error` repeats `message` (older clients read that field).
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// Always `false`.
    pub success: bool,
    /// What went wrong and what to do about it.
    pub message: String,
    pub error: String,
    /// Stable, UPPER_SNAKE: `VALIDATION_ERROR`, `SESSION_NOT_CONNECTED`, `WA_MODULE_MISSING`, …
    #[schema(pattern = "^[A-Z0-9_]+$")]
    pub error_code: String,
    /// With `VALIDATION_ERROR`: the field at fault, as the client wrote it (`contacts[1].name`).
    #[schema(nullable = false)]
    pub field: Option<String>,
    /// With `WA_*` codes: the bridge's full code (`WA_MODULE_MISSING:WAWebSendMsgChatAction`).
    #[schema(nullable = false)]
    pub detail: Option<String>,
}

/// Every success: `{"success": true, "data": …}`.
#[derive(Serialize, ToSchema)]
pub struct Envelope<T> {
    /// Always `true`.
    pub success: bool,
    pub data: T,
}

/// `GET /health`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `false` when the database does not answer.
    pub success: bool,
    /// `healthy` or `unhealthy`.
    #[schema(pattern = "^(healthy|unhealthy)$")]
    pub status: String,
    /// Seconds since start.
    pub uptime: u64,
    pub version: String,
    pub database: HealthDatabase,
}

#[derive(Serialize, ToSchema)]
pub struct HealthDatabase {
    /// `sqlite` or `postgres`.
    pub backend: String,
    pub ok: bool,
    /// `unreachable` or `timed out`; `null` when healthy.
    pub error: Option<String>,
    /// The database's own message, only for a caller whose API key was verified recently.
    #[schema(nullable = false)]
    pub detail: Option<String>,
}

/// `GET /api/v1/cluster/`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterView {
    pub enabled: bool,
    /// This node's id (null on a single gateway).
    pub node: Option<String>,
    pub lease_secs: Option<u64>,
    pub nodes: Vec<ClusterNode>,
    pub sessions: Vec<ClusterSession>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterNode {
    pub node_id: String,
    pub started_at: String,
    pub heartbeat_at: String,
    /// Seconds since the last heartbeat, on the database clock.
    pub heartbeat_age_secs: f64,
    pub capacity: i32,
    pub draining: bool,
    pub stopped: bool,
    pub alive: bool,
    pub version: String,
    pub owned: i64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSession {
    pub session_id: i64,
    pub user_id: i64,
    pub name: String,
    pub wanted: bool,
    /// The node holding an unexpired lease, if any.
    pub owner: Option<String>,
    /// The fencing token: raised at every adoption.
    pub generation: i64,
    pub archive_bytes: Option<i64>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Me {
    pub user: MeUser,
    pub api_key: MeKey,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeUser {
    pub id: i64,
    pub username: String,
    pub is_admin: bool,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeKey {
    pub id: i64,
    /// The public part of the key (`wag_<keyId>_…`).
    pub key_id: String,
    pub label: String,
    /// The scopes the key holds: `read`, `send`, `manage` (all three for a key without limits).
    #[schema(example = json!(["read", "send"]))]
    pub scopes: Vec<String>,
    /// The only sessions the key may use; null: every session of its user.
    #[schema(example = json!(["sales"]))]
    pub sessions: Option<Vec<String>>,
    /// True for a key without limits (every key made before scopes existed): only such a key
    /// may manage API keys.
    pub full_rights: bool,
}

/// An API key, never its secret.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyInfo {
    pub id: i64,
    pub key_id: String,
    pub label: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// The scopes the key holds: `read`, `send`, `manage` (all three for a key without limits).
    #[schema(example = json!(["read", "send"]))]
    pub scopes: Vec<String>,
    /// The only sessions the key may use; null: every session of its user.
    #[schema(example = json!(["sales"]))]
    pub sessions: Option<Vec<String>>,
    /// True for a key without limits (every key made before scopes existed): only such a key
    /// may manage API keys.
    pub full_rights: bool,
}

/// A new key: the key itself is in `key`, shown this once.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedApiKey {
    pub id: i64,
    pub key_id: String,
    pub label: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// The scopes the key holds: `read`, `send`, `manage` (all three for a key without limits).
    #[schema(example = json!(["read", "send"]))]
    pub scopes: Vec<String>,
    /// The only sessions the key may use; null: every session of its user.
    #[schema(example = json!(["sales"]))]
    pub sessions: Option<Vec<String>>,
    /// True for a key without limits (every key made before scopes existed): only such a key
    /// may manage API keys.
    pub full_rights: bool,
    /// `wag_<keyId>_<secret>`: the whole key, to send as `Authorization: ApiKey <key>`.
    pub key: String,
}

#[derive(Serialize, ToSchema)]
pub struct RevokedKey {
    pub id: i64,
    pub revoked: bool,
}

/// A session's state. Running sessions answer from their published state (with `loading`);
/// others from the database (with `ackTimeouts`); the list has both for running ones.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionStatus {
    pub session_id: String,
    pub status: SessionState,
    /// Why it is in this state (`failed`, `disconnected`, `logged_out`; for `passkey_required`
    /// what the account owner must do), else `null`.
    pub reason: Option<String>,
    /// Digits only, once linked.
    pub phone_number: Option<String>,
    pub push_name: Option<String>,
    pub is_ready: bool,
    /// When it entered this state.
    pub since: DateTime<Utc>,
    /// Loading progress 0–100 while syncing (running sessions only).
    #[schema(minimum = 0, maximum = 100)]
    pub loading: Option<u32>,
    /// Sends that never got a server ack (`ACK_TIMEOUT`): a sign of a sick session.
    #[schema(nullable = false)]
    pub ack_timeouts: Option<i64>,
}

/// `GET /api/v1/sessions/capabilities/`: what the bridge resolved on the session's live page.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionCapabilities {
    pub session_id: String,
    pub status: SessionState,
    /// WhatsApp Web's build (`window.Debug.VERSION`), once the page reported.
    pub wa_version: Option<String>,
    /// Every capability with how it resolved; `null` until the page's report was read (the
    /// browser is still starting).
    pub capabilities: Option<Vec<crate::browser::protocol::Capability>>,
    /// The error codes of capabilities wagate needs that did not resolve
    /// (`WA_MODULE_MISSING:<module>`, `WA_MEMBER_MISSING:<module>.<member>`).
    pub missing: Vec<String>,
    /// How many resolved through a fallback rather than their first choice.
    pub fallbacks: u32,
}

/// `GET /api/v1/contacts/lid/{lid}/` and `…/phone/{phone}/`: a LID ↔ phone pair.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactPair {
    /// `<digits>@lid`.
    pub lid: String,
    /// Digits only.
    pub phone: String,
    /// `<phone>@c.us`: sends to it or to `lid` reach the same chat.
    pub chat_id: String,
    /// The caller's session that saw the pair last.
    pub session: String,
    pub first_seen_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /api/v1/sessions/init/`: which fields are there depends on `status`: `qr_pending` has
/// `qrCode` (and `pairingCode` when a phone number was given), `connected` has `phoneNumber` and
/// `isReady`, a session still starting has `reason`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionInit {
    pub session_id: String,
    pub status: SessionState,
    pub message: String,
    /// `data:image/png;base64,…`
    pub qr_code: Option<String>,
    /// 8 characters to enter on the phone (Linked devices > Link with phone number).
    #[schema(nullable = false)]
    pub pairing_code: Option<String>,
    pub phone_number: Option<String>,
    #[schema(nullable = false)]
    pub is_ready: Option<bool>,
    pub reason: Option<String>,
}

/// `GET /api/v1/sessions/qr/` as JSON.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionQr {
    pub session_id: String,
    /// `data:image/png;base64,…`
    pub qr_code: Option<String>,
    /// The QR payload itself, to render yourself.
    pub raw: String,
}

/// Logout (`status: logged_out`) and restart (`status: starting`).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionAction {
    pub session_id: String,
    pub status: SessionState,
    pub message: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionDeleted {
    pub session_id: String,
    pub deleted: bool,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionHistory {
    pub session_id: String,
    /// Newest first, at most 200.
    pub events: Vec<SessionHistoryEntry>,
}

#[derive(Serialize, ToSchema)]
pub struct SessionHistoryEntry {
    pub state: SessionState,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

/// A stored message, sent or received.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    /// The `dbId`.
    pub id: i64,
    pub session_id: Option<i64>,
    /// `in` or `out`.
    #[schema(pattern = "^(in|out)$")]
    pub direction: String,
    pub chat_id: String,
    /// The author of an incoming message (`…@c.us` or `…@lid`).
    pub sender: Option<String>,
    /// WhatsApp's type: `chat`, `image`, `video`, `audio`, `ptt`, `document`, `sticker`,
    /// `location`, `reaction`, `vcard`, `multi_vcard`, `poll` (WhatsApp's `poll_creation`),
    /// `edit`, `revoke` (wagate's records of an edit or a delete it sent), `gp2` (a group
    /// notification: someone joined, left, or changed the group; see `group`), or another type
    /// received (`scheduled_event_creation`, …).
    #[serde(rename = "type")]
    pub kind: String,
    pub body: Option<String>,
    pub caption: Option<String>,
    /// The sender's phone number (digits) for an incoming message, whichever form `sender` has.
    pub sender_phone: Option<String>,
    /// The same as `senderPhone` (the name webhooks use).
    pub from_phone: Option<String>,
    /// The chat's phone number (digits) for a person's chat, whichever form `chatId` has
    /// (`…@c.us` or `…@lid`); `null` for groups and for a LID WhatsApp has not mapped.
    pub chat_phone: Option<String>,
    pub media: Option<MessageMedia>,
    pub status: MessageStatus,
    pub error: Option<String>,
    /// `WA_*`, `RECIPIENT_NOT_ON_WHATSAPP`, `ACK_TIMEOUT`, `EXPIRED`, `SEND_INTERRUPTED`.
    pub error_code: Option<String>,
    /// WhatsApp's id (`true_<chat>_<id>`).
    pub message_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    /// The WhatsApp id of the message this one replies to.
    pub quoted_message_id: Option<String>,
    /// A location message's place.
    pub location: Option<crate::db::Location>,
    /// A reaction's target: the WhatsApp id of the message reacted to (the emoji is `body`).
    pub reaction_to: Option<String>,
    /// An edit's or a delete's target: the WhatsApp id of the message changed.
    pub target_message_id: Option<String>,
    /// A contact card message's contacts.
    pub contacts: Option<Vec<crate::vcard::Contact>>,
    /// A group notification's change (type `gp2`).
    pub group: Option<crate::db::GroupChange>,
    /// A poll's question and options (its votes: `GET /api/v1/messages/{id}/votes/`).
    pub poll: Option<crate::db::Poll>,
    /// WhatsApp shows it as forwarded (WhatsApp Web's `isForwarded`; a forward of one's own
    /// original message is not).
    pub is_forwarded: bool,
    /// How many times WhatsApp counts it forwarded (`forwardingScore`; 127 and up: "forwarded
    /// many times"); 0 when not forwarded.
    pub forwarding_score: u32,
    /// A forward wagate sent: the WhatsApp id of the message it copies.
    pub forwarded_from: Option<String>,
    /// When it was last edited.
    pub edited_at: Option<DateTime<Utc>>,
    /// When it was deleted for everyone.
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageMedia {
    /// Relative to `media.dir`; `null` once retention deleted the file.
    pub path: Option<String>,
    /// `/api/v1/messages/{id}/media` while the file is kept.
    pub url: Option<String>,
    pub mimetype: Option<String>,
    pub filename: Option<String>,
    /// Bytes.
    pub size: Option<i64>,
    pub deleted_at: Option<DateTime<Utc>>,
}

/// `GET /api/v1/messages/`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessagePage {
    /// Newest first.
    pub messages: Vec<Message>,
    /// Pass as `before` for the next page; `null` on the last one.
    pub next_before: Option<i64>,
}

/// A send that went out (200).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendResult {
    /// WhatsApp's id (`true_<chat>_<id>`).
    pub message_id: Option<String>,
    /// Unix seconds of the send.
    pub timestamp: Option<i64>,
    pub db_id: i64,
    pub status: MessageStatus,
    /// `Message sent successfully` or `Media sent successfully`.
    pub message: String,
    /// Media: where the file is kept, relative to `media.dir`.
    #[schema(nullable = false)]
    pub file_path: Option<String>,
}

/// A send that waits in the session's queue (202): follow it with `GET /api/v1/messages/{dbId}/`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendQueued {
    pub db_id: i64,
    pub status: MessageStatus,
    /// When it fails with `EXPIRED` if not sent by then.
    pub expires_at: Option<DateTime<Utc>>,
    pub message: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactCheck {
    /// The number, digits only.
    pub phone: Option<String>,
    pub exists: bool,
    /// The chat id WhatsApp knows the number by; `null` when it is not on WhatsApp.
    pub chat_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    pub url: String,
    /// The HMAC key of `X-Wagate-Signature`.
    pub secret: String,
    /// Event names, or `["*"]`.
    pub events: Vec<String>,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatSignal {
    /// The chat as WhatsApp addresses it (`…@c.us`, `…@g.us`, `…@lid`).
    pub chat_id: String,
    /// `read`, or the presence shown: `composing`, `recording`, `paused`, `available`, `unavailable`.
    pub state: String,
}

/// A call, as `POST /api/v1/calls/{callId}/reject/` answers and the `call.received` /
/// `call.rejected` events carry it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallView {
    /// WhatsApp's call id.
    pub call_id: String,
    /// The caller: `<n>@c.us`, or `<n>@lid` where WhatsApp hides the number.
    pub from: Option<String>,
    /// The caller's phone number (digits), when known.
    pub from_phone: Option<String>,
    pub is_video: bool,
    /// A group call.
    pub is_group: bool,
    /// When the call was offered, unix seconds.
    pub timestamp: Option<i64>,
    /// `api` or `auto` (the session's `rejectCalls`).
    #[schema(pattern = "^(api|auto)$")]
    pub rejected_by: String,
    /// The stored reply text's `dbId` (automatic rejections with `callReplyText`), else null.
    pub reply_db_id: Option<i64>,
    /// `rejected`.
    pub state: String,
}

/// A session's settings (`GET` / `PATCH /api/v1/sessions/settings/`).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionSettingsView {
    /// The session's name.
    pub session: String,
    /// Incoming calls are rejected as soon as they ring (a `call.rejected` event with
    /// `rejectedBy: auto` follows each `call.received`).
    pub reject_calls: bool,
    /// Sent to the caller after an automatic rejection, through the session's queue (stored
    /// and reported like any send); null: nothing is sent.
    pub call_reply_text: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Deleted {
    pub deleted: bool,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookTest {
    pub delivered: bool,
    /// The receiver's HTTP status; `null` when there was no answer.
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    /// Why it was not delivered; `null` when it was.
    pub error: Option<String>,
}

/// An event of the outbox with its delivery attempts.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub id: i64,
    /// `evt_…`, the envelope's `id`.
    pub event_id: String,
    pub event: String,
    /// `pending`, `delivered`, `failed` (refused by the receiver) or `dead` (gave up).
    pub status: String,
    pub attempts: i32,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Only while `pending`.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// The envelope as delivered.
    pub body: serde_json::Value,
    pub log: Vec<DeliveryAttempt>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryAttempt {
    pub attempt: i32,
    pub url: String,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub latency_ms: i32,
    pub at: DateTime<Utc>,
}

/// `multipart/form-data` for `send-media`.
#[derive(ToSchema)]
pub struct MediaUpload {
    /// A phone number in international format or a chat id.
    #[schema(min_length = 1)]
    pub recipient: String,
    /// `image`, `video`, `audio`, `voice` (or `ptt`), `document` (or `file`), `sticker` (WebP; a PNG or
    /// JPEG is converted to a 512×512 WebP).
    #[schema(pattern = "^(image|video|audio|voice|ptt|document|file|sticker)$")]
    pub media_type: String,
    /// The file, at most `media.max_upload_bytes`.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
    pub caption: Option<String>,
    /// The name the recipient sees (else the part's `filename*`/`filename`).
    pub filename: Option<String>,
    pub session: Option<String>,
    /// `true` also marks the chat read when the file is sent (default `false`).
    #[schema(rename = "markRead", pattern = "^(true|false|1|0|yes|no)$")]
    pub mark_read: Option<String>,
    /// Reply to (quote) this message of the same chat: its `dbId` or WhatsApp id.
    #[schema(
        rename = "replyTo",
        pattern = "^([0-9]+|(true|false)_[^_\\s]+@[^_\\s]+_[0-9A-Za-z]+(_[^_\\s]+@[^_\\s]+)?)$"
    )]
    pub reply_to: Option<String>,
}

/// A message as WhatsApp Web holds it (`GET /api/v1/chats/…`).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PageMessage {
    /// WhatsApp's id: `true_<chat>_<id>` (ours) or `false_<chat>_<id>[_<author>]`.
    pub message_id: String,
    /// The chat as WhatsApp Web keys it (`…@c.us`, `…@lid`, `…@g.us`).
    pub chat_id: Option<String>,
    pub from_me: bool,
    /// The member who wrote, in groups.
    pub author: Option<String>,
    /// The sender's phone number (digits) when known.
    pub author_phone: Option<String>,
    /// WhatsApp's type: `chat`, `image`, `ptt`, `document`, …
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub body: Option<String>,
    pub caption: Option<String>,
    pub timestamp: Option<DateTime<Utc>>,
    /// -1 error, 0 pending, 1 server, 2 delivered, 3 read, 4 played (own messages).
    pub ack: Option<i32>,
    pub has_media: bool,
    pub mimetype: Option<String>,
    pub filename: Option<String>,
}

/// One chat of `GET /api/v1/chats/`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatSummary {
    /// `…@c.us`, `…@lid` or `…@g.us`: use it as `{chatId}`.
    pub id: String,
    /// The saved name or the group's subject (else what WhatsApp Web shows).
    pub name: Option<String>,
    /// `user` or `group`.
    #[schema(pattern = "^(user|group)$")]
    pub kind: String,
    /// The other side's phone number (digits) when known; `null` for groups.
    pub phone: Option<String>,
    pub unread_count: u32,
    pub archived: bool,
    pub last_activity_at: Option<DateTime<Utc>>,
    pub last_message: Option<PageMessage>,
}

/// `GET /api/v1/chats/`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatList {
    /// Newest activity first.
    pub chats: Vec<ChatSummary>,
    /// How many chats match the filters.
    pub total: usize,
    /// Pass as `offset` for the next page; `null` on the last one.
    pub next_offset: Option<usize>,
}

/// One message of `GET /api/v1/chats/{chatId}/messages/`: what WhatsApp Web holds, joined with
/// the row wagate stored for it (same WhatsApp id), if any.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatMessage {
    #[serde(flatten)]
    pub message: PageMessage,
    /// `page` (only WhatsApp Web has it), `stored` (only wagate's database) or `both`.
    #[schema(pattern = "^(page|stored|both)$")]
    pub source: String,
    /// wagate's row (as `GET /api/v1/messages/{id}/` gives it), when stored.
    pub stored: Option<Message>,
}

/// `GET /api/v1/chats/{chatId}/messages/`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatMessagePage {
    /// The chat as WhatsApp Web keys it.
    pub chat_id: String,
    /// Newest first.
    pub messages: Vec<ChatMessage>,
    /// Pass as `before` for the next (earlier) page; `null` when there is none.
    pub next_before: Option<String>,
}

/// A WhatsApp user (`GET /api/v1/contacts/…`).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    /// `…@c.us` or `…@lid`.
    pub id: String,
    /// The name saved in the phone's address book.
    pub name: Option<String>,
    /// The name the user gave themselves.
    pub push_name: Option<String>,
    pub is_business: bool,
    /// In the phone's address book.
    pub is_my_contact: bool,
    pub is_blocked: bool,
    /// Digits, when known.
    pub phone: Option<String>,
    /// `<digits>@lid`, when known.
    pub lid: Option<String>,
    /// Only on `GET /api/v1/contacts/{id}/`: the profile picture's URL (`null`: none, or hidden).
    pub profile_picture_url: Option<String>,
    /// Only on `GET /api/v1/contacts/{id}/`: the about text (`null`: none, or hidden).
    pub about: Option<String>,
}

/// `GET /api/v1/contacts/`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactList {
    /// By name, then id.
    pub contacts: Vec<Contact>,
    pub total: usize,
    /// Pass as `offset` for the next page; `null` on the last one.
    pub next_offset: Option<usize>,
}

/// A group member.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupParticipant {
    /// `…@c.us` or `…@lid`.
    pub id: String,
    /// Digits, when known.
    pub phone: Option<String>,
    pub is_admin: bool,
    /// The group's creator.
    pub is_super_admin: bool,
}

/// A WhatsApp group.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// `…@g.us`.
    pub id: String,
    pub subject: Option<String>,
    pub description: Option<String>,
    pub owner: Option<String>,
    /// Only admins send messages.
    pub announce: bool,
    /// Only admins edit the group's info.
    pub restrict: bool,
    /// The account is a participant.
    pub is_member: bool,
    pub participants: Vec<GroupParticipant>,
}

/// What one participant of a create or participants call came to.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantOutcome {
    pub id: String,
    /// Done.
    pub ok: bool,
    /// WhatsApp's code: 200 done; 403 their privacy settings (send the invite link); 404 not on
    /// WhatsApp (add) or not in the group; 408 left recently; 409 already in.
    pub code: u16,
    /// Why not, when not `ok`.
    pub reason: Option<String>,
}

/// A group after a create or a participants change.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupChangeResult {
    pub group: Group,
    pub participants: Vec<ParticipantOutcome>,
}

/// A group's invite link.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupInvite {
    pub group_id: String,
    pub code: String,
    /// `https://chat.whatsapp.com/<code>`.
    pub link: String,
}

/// An optional request body that only names the session: `{"session"}` (unknown fields are 400).
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionBody {
    /// Session name (default `default`); wins over `?session=`.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub session: Option<String>,
}
