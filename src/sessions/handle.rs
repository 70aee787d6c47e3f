//! The clonable handle that HTTP handlers hold: commands over mpsc with oneshot replies and
//! timeouts, and a `watch` of the session's info that never waits on the browser.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use super::chat_id::ChatId;
use super::events::SessionKey;
use super::state::SessionInfo;
use crate::browser::protocol::{ChatMessages, GroupChange, PresenceNow, Request, WaCall, WaChat, WaContact, WaGroup};
use crate::error_code::ErrorCode;

#[derive(Debug, Clone, thiserror::Error)]
pub enum SessionError {
    #[error("No active WhatsApp session. Please connect first.")]
    NotConnected,
    #[error("No active WhatsApp session. Please connect first.")]
    NotRunning,
    #[error("Session limit reached: {0} sessions are running")]
    LimitReached(usize),
    #[error("WhatsApp service unavailable: {0}")]
    BrowserUnavailable(String),
    #[error("WhatsApp did not answer within {} s", .0.as_secs())]
    Timeout(Duration),
    /// An error code from the page, e.g. `WA_MODULE_MISSING:WAWebSendMsgChatAction`.
    #[error("{code}: {message}")]
    Wa { code: String, message: String },
    /// A send the gateway refused or gave up on before or without the page (recipient not on
    /// WhatsApp, expired, its file gone).
    #[error("{message}")]
    Refused { code: ErrorCode, message: String },
    #[error("{0}")]
    Invalid(String),
    #[error("database: {0}")]
    Db(String),
}

impl SessionError {
    pub fn refused(code: ErrorCode, message: impl Into<String>) -> Self {
        SessionError::Refused {
            code,
            message: message.into(),
        }
    }

    /// The stable error code, stored on a failed message and answered by the API.
    pub fn code(&self) -> ErrorCode {
        match self {
            SessionError::NotConnected | SessionError::NotRunning => ErrorCode::SessionNotConnected,
            SessionError::LimitReached(_) => ErrorCode::SessionLimitReached,
            SessionError::BrowserUnavailable(_) => ErrorCode::BrowserUnavailable,
            SessionError::Timeout(_) => ErrorCode::SendTimeout,
            SessionError::Wa { code, .. } => ErrorCode::from_page(code),
            SessionError::Refused { code, .. } => *code,
            SessionError::Invalid(_) => ErrorCode::SessionState,
            SessionError::Db(_) => ErrorCode::InternalError,
        }
    }

    /// Whether a send that ended with this error may or may not have reached WhatsApp: the
    /// browser or the actor went away, or the answer did not come in time. Such a send is settled
    /// by evidence (its key id looked up on the page), never failed on a guess. Every other error
    /// is an answer from the page or a refusal before anything was sent.
    pub fn is_in_doubt(&self) -> bool {
        match self {
            SessionError::NotConnected
            | SessionError::NotRunning
            | SessionError::BrowserUnavailable(_)
            | SessionError::Timeout(_) => true,
            // The page is still sending an earlier try of the same key id.
            other => other.code() == ErrorCode::WaSendInFlight,
        }
    }
}

impl From<crate::db::DbError> for SessionError {
    fn from(e: crate::db::DbError) -> Self {
        SessionError::Db(e.to_string())
    }
}

pub use crate::browser::protocol::SentMessage;

/// A file to send.
#[derive(Debug, Clone)]
pub struct OutgoingMedia {
    pub bytes: std::sync::Arc<Vec<u8>>,
    pub mimetype: String,
    pub filename: Option<String>,
    pub caption: Option<String>,
    /// Image, video, audio, ptt (voice note), document or sticker: how the page sends the bytes.
    pub kind: crate::db::MessageKind,
}

impl SentMessage {
    /// Its row's status: ack 0 means WhatsApp took it but its server has not confirmed yet
    /// (`pending`); then `sent`, `delivered`, `read`, `played`.
    pub fn status(&self) -> crate::db::MessageStatus {
        crate::db::MessageStatus::from_ack(self.ack).max(crate::db::MessageStatus::Pending)
    }
}

/// A presence to show: in a chat (`composing` = typing…, `recording` = recording audio…,
/// `paused` = neither), or for everyone (`available` = online, `unavailable` = offline).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Presence {
    Composing,
    Recording,
    Paused,
    Available,
    Unavailable,
}

impl Presence {
    pub fn as_str(self) -> &'static str {
        match self {
            Presence::Composing => "composing",
            Presence::Recording => "recording",
            Presence::Paused => "paused",
            Presence::Available => "available",
            Presence::Unavailable => "unavailable",
        }
    }
}

/// How a send is made.
#[derive(Debug, Clone, Default)]
pub struct SendOptions {
    /// The message key id chosen (and stored) before sending, so an interrupted send can be found
    /// on the page; None: the page picks one. See [`new_key_id`].
    pub key_id: Option<String>,
    /// The page checks the recipient is on WhatsApp in the same call (refusing with
    /// `RECIPIENT_NOT_ON_WHATSAPP`); off when the worker confirmed the number lately.
    pub check_recipient: bool,
    /// Mark the chat read (blue ticks for the other side) before sending.
    pub mark_read: bool,
    /// The WhatsApp id of the message this one replies to (shown quoted above it).
    pub quoted: Option<String>,
    /// User ids (`<n>@c.us`, `<n>@lid`) mentioned in a text or a caption.
    pub mentions: Vec<String>,
}

/// A send that is neither a text nor a file.
#[derive(Debug, Clone)]
pub enum Content {
    /// A pin on a map.
    Location(crate::db::Location),
    /// An emoji on the message with this WhatsApp id; an empty emoji takes ours back.
    Reaction { msg_id: String, emoji: String },
    /// Contact cards.
    Contacts(Vec<crate::vcard::Contact>),
    /// A poll.
    Poll(crate::db::Poll),
    /// New text for our message with this WhatsApp id.
    Edit { msg_id: String, body: String },
    /// Delete our message with this WhatsApp id for everyone.
    Revoke { msg_id: String },
    /// Forward the message with this WhatsApp id (sent or received) to the send's chat.
    Forward { msg_id: String },
}

type Reply<T> = oneshot::Sender<Result<T, SessionError>>;

/// A new id for a message key as WhatsApp Web makes them: `3EB0` and 16 more uppercase hex
/// digits (20 in all; the page's own `WAWebMsgKey.newId()` gives 20 to 24).
pub fn new_key_id() -> String {
    use rand::Rng;
    let bytes: [u8; 8] = rand::rng().random();
    format!("3EB0{}", hex::encode_upper(bytes))
}

pub(super) enum Command {
    SendText {
        chat: ChatId,
        body: String,
        opts: SendOptions,
        reply: Reply<SentMessage>,
    },
    SendMedia {
        chat: ChatId,
        media: OutgoingMedia,
        opts: SendOptions,
        reply: Reply<SentMessage>,
    },
    SendContent {
        chat: ChatId,
        content: Content,
        opts: SendOptions,
        reply: Reply<SentMessage>,
    },
    /// The page's current ack of each of these messages (serialised ids) it has.
    AckStates {
        ids: Vec<String>,
        reply: Reply<Vec<(String, i32)>>,
    },
    /// A message this device sent, looked up by its key id on the page.
    FindSent {
        chat: ChatId,
        key_id: String,
        reply: Reply<Option<SentMessage>>,
    },
    CheckNumber {
        chat: ChatId,
        reply: Reply<Option<String>>,
    },
    ChatState {
        chat: ChatId,
        state: Presence,
        reply: Reply<()>,
    },
    MarkRead {
        chat: ChatId,
        reply: Reply<()>,
    },
    PairingCode {
        phone: String,
        reply: Reply<String>,
    },
    /// A read-or-manage call into the connected page (chats, contacts, groups…): the typed
    /// request, answered with the page's JSON value, decoded by the handle's typed method.
    Call {
        request: Request<'static>,
        reply: Reply<serde_json::Value>,
    },
    /// The same, as the JSON another cluster node forwarded (`{"method", "params"}`).
    CallJson {
        call: serde_json::Value,
        reply: Reply<serde_json::Value>,
    },
    Logout {
        reply: Reply<()>,
    },
    Restart {
        reply: Reply<()>,
    },
    Stop {
        reply: Reply<()>,
    },
    /// Gateway shutdown: close the browser but leave the recorded state, so it is restored.
    Shutdown {
        reply: Reply<()>,
    },
}

impl Command {
    /// A page call whose caller stopped waiting (it timed out or went away) while the command sat
    /// in the mailbox: it is dropped unexecuted, so a timed-out send is never delivered behind its
    /// caller's back. Lifecycle commands always run.
    pub(super) fn caller_gone(&self) -> bool {
        match self {
            Command::SendText { reply, .. } | Command::SendMedia { reply, .. } | Command::SendContent { reply, .. } => {
                reply.is_closed()
            }
            Command::FindSent { reply, .. } => reply.is_closed(),
            Command::AckStates { reply, .. } => reply.is_closed(),
            Command::CheckNumber { reply, .. } => reply.is_closed(),
            Command::ChatState { reply, .. } | Command::MarkRead { reply, .. } => reply.is_closed(),
            Command::PairingCode { reply, .. } => reply.is_closed(),
            Command::Call { reply, .. } | Command::CallJson { reply, .. } => reply.is_closed(),
            Command::Logout { .. } | Command::Restart { .. } | Command::Stop { .. } | Command::Shutdown { .. } => false,
        }
    }
}

#[derive(Clone)]
pub struct SessionHandle {
    pub key: SessionKey,
    pub(super) tx: mpsc::Sender<Command>,
    pub(super) info: watch::Receiver<SessionInfo>,
}

/// Sends can take a while on a slow network (media uploads); everything else is quick.
const SEND_TIMEOUT: Duration = Duration::from_secs(120);
const CONTROL_TIMEOUT: Duration = Duration::from_secs(60);

impl SessionHandle {
    pub fn info(&self) -> SessionInfo {
        self.info.borrow().clone()
    }

    /// A receiver to wait on state changes.
    pub fn watch(&self) -> watch::Receiver<SessionInfo> {
        self.info.clone()
    }

    /// Whether the actor is still running.
    pub fn is_running(&self) -> bool {
        !self.tx.is_closed()
    }

    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command, timeout: Duration) -> Result<T, SessionError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(make(reply)).await.map_err(|_| SessionError::NotRunning)?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(SessionError::NotRunning),
            Err(_) => Err(SessionError::Timeout(timeout)),
        }
    }

    /// A text to `chat`, sent as it is (the page picks the key id; no recipient check).
    pub async fn send_text(&self, chat: ChatId, body: String) -> Result<SentMessage, SessionError> {
        self.send_text_with(chat, body, SendOptions::default()).await
    }

    pub async fn send_text_with(
        &self,
        chat: ChatId,
        body: String,
        opts: SendOptions,
    ) -> Result<SentMessage, SessionError> {
        self.ask(
            |reply| Command::SendText {
                chat,
                body,
                opts,
                reply,
            },
            SEND_TIMEOUT,
        )
        .await
    }

    /// A location or a reaction to `chat`.
    pub async fn send_content_with(
        &self,
        chat: ChatId,
        content: Content,
        opts: SendOptions,
    ) -> Result<SentMessage, SessionError> {
        self.ask(
            |reply| Command::SendContent {
                chat,
                content,
                opts,
                reply,
            },
            SEND_TIMEOUT,
        )
        .await
    }

    pub async fn send_media(&self, chat: ChatId, media: OutgoingMedia) -> Result<SentMessage, SessionError> {
        self.send_media_with(chat, media, SendOptions::default()).await
    }

    pub async fn send_media_with(
        &self,
        chat: ChatId,
        media: OutgoingMedia,
        opts: SendOptions,
    ) -> Result<SentMessage, SessionError> {
        self.ask(
            |reply| Command::SendMedia {
                chat,
                media,
                opts,
                reply,
            },
            SEND_TIMEOUT,
        )
        .await
    }

    /// The page's current ack (-1 to 4) of each of these messages (`true_<chat>_<id>`) that it has.
    pub async fn ack_states(&self, ids: Vec<String>) -> Result<Vec<(String, i32)>, SessionError> {
        self.ask(|reply| Command::AckStates { ids, reply }, CONTROL_TIMEOUT)
            .await
    }

    /// The message this device sent to `chat` with key id `key_id`, if the page has it (its id,
    /// time and current ack); None when the page has no such message.
    pub async fn find_sent(&self, chat: ChatId, key_id: String) -> Result<Option<SentMessage>, SessionError> {
        self.ask(|reply| Command::FindSent { chat, key_id, reply }, CONTROL_TIMEOUT)
            .await
    }

    /// The chat id WhatsApp knows for a number, or None when it is not on WhatsApp.
    pub async fn check_number(&self, chat: ChatId) -> Result<Option<String>, SessionError> {
        self.ask(|reply| Command::CheckNumber { chat, reply }, CONTROL_TIMEOUT)
            .await
    }

    /// Shows a presence: "typing…" or "recording audio…" in the chat (or stops it), or online /
    /// offline for everyone.
    pub async fn chat_state(&self, chat: ChatId, state: Presence) -> Result<(), SessionError> {
        self.ask(|reply| Command::ChatState { chat, state, reply }, CONTROL_TIMEOUT)
            .await
    }

    /// Sends a read receipt for the chat: its messages show as read (blue ticks) to the sender.
    pub async fn mark_read(&self, chat: ChatId) -> Result<(), SessionError> {
        self.ask(|reply| Command::MarkRead { chat, reply }, CONTROL_TIMEOUT)
            .await
    }

    /// A page call another cluster node forwarded for this session (its JSON, `{"method",
    /// "params"}`), answered with the page's JSON value.
    pub async fn call_json(&self, call: serde_json::Value) -> Result<serde_json::Value, SessionError> {
        self.ask(|reply| Command::CallJson { call, reply }, CONTROL_TIMEOUT)
            .await
    }

    /// One read-or-manage call into the connected page, its answer decoded as `T`.
    async fn call<T: serde::de::DeserializeOwned>(&self, request: Request<'static>) -> Result<T, SessionError> {
        let method = request.method();
        let value = self
            .ask(|reply| Command::Call { request, reply }, CONTROL_TIMEOUT)
            .await?;
        serde_json::from_value(value).map_err(|e| SessionError::Wa {
            code: ErrorCode::BridgeBadAnswer.as_str().into(),
            message: format!("{method}: {e}"),
        })
    }

    /// Subscribes to a chat's presence; its changes arrive as `presence` page events. The
    /// presence the page knows now.
    pub async fn subscribe_presence(&self, chat: &ChatId) -> Result<PresenceNow, SessionError> {
        self.call(Request::SubscribePresence {
            chat_id: chat.to_string(),
        })
        .await
    }

    /// A chat's presence as the page knows it now.
    pub async fn presence_of(&self, chat: &ChatId) -> Result<PresenceNow, SessionError> {
        self.call(Request::PresenceOf {
            chat_id: chat.to_string(),
        })
        .await
    }

    /// Every chat the page has, newest activity first.
    pub async fn list_chats(&self) -> Result<Vec<WaChat>, SessionError> {
        self.call(Request::ListChats).await
    }

    /// Up to `limit` messages of `chat` before the one with WhatsApp id `before` (the newest when
    /// None), oldest first, loading earlier ones from the phone when needed. `before_t` (unix
    /// seconds) places a `before` that the page does not have.
    pub async fn chat_messages(
        &self,
        chat: &ChatId,
        before: Option<String>,
        before_t: Option<i64>,
        limit: usize,
    ) -> Result<ChatMessages, SessionError> {
        self.call(Request::ChatMessages {
            chat_id: chat.as_str().to_string(),
            before,
            before_t,
            limit,
        })
        .await
    }

    /// The users the page knows (address book, senders, chats).
    pub async fn list_contacts(&self) -> Result<Vec<WaContact>, SessionError> {
        self.call(Request::ListContacts).await
    }

    /// One user, with the profile picture URL and about text WhatsApp gives.
    pub async fn contact_info(&self, contact: &ChatId) -> Result<WaContact, SessionError> {
        self.call(Request::ContactInfo {
            contact_id: contact.as_str().to_string(),
        })
        .await
    }

    /// Creates a group with `participants` (user ids); says per participant whether they could be added.
    pub async fn create_group(&self, subject: String, participants: Vec<String>) -> Result<GroupChange, SessionError> {
        self.call(Request::CreateGroup { subject, participants }).await
    }

    pub async fn list_groups(&self) -> Result<Vec<WaGroup>, SessionError> {
        self.call(Request::ListGroups).await
    }

    pub async fn group(&self, group_id: String) -> Result<WaGroup, SessionError> {
        self.call(Request::GetGroup { group_id }).await
    }

    /// `action`: add, remove, promote or demote.
    pub async fn group_participants(
        &self,
        group_id: String,
        action: String,
        participants: Vec<String>,
    ) -> Result<GroupChange, SessionError> {
        self.call(Request::GroupParticipants {
            group_id,
            action,
            participants,
        })
        .await
    }

    /// Subject, description, announce-only and edit-info-admins-only (None: unchanged).
    pub async fn update_group(
        &self,
        group_id: String,
        subject: Option<String>,
        description: Option<String>,
        announce: Option<bool>,
        restrict: Option<bool>,
    ) -> Result<WaGroup, SessionError> {
        self.call(Request::UpdateGroup {
            group_id,
            subject,
            description,
            announce,
            restrict,
        })
        .await
    }

    /// The group's invite code; a new one (the old link stops working) when `revoke`.
    pub async fn group_invite(&self, group_id: String, revoke: bool) -> Result<String, SessionError> {
        self.call(Request::GroupInvite { group_id, revoke }).await
    }

    /// Sets the group's picture, or removes it (None).
    pub async fn set_group_picture(
        &self,
        group_id: String,
        picture: Option<crate::images::ProfilePicture>,
    ) -> Result<WaGroup, SessionError> {
        use base64::Engine as _;
        let data_url = |jpeg: &[u8]| {
            format!(
                "data:image/jpeg;base64,{}",
                base64::engine::general_purpose::STANDARD.encode(jpeg)
            )
        };
        self.call(Request::SetGroupPicture {
            group_id,
            picture: picture.as_ref().map(|p| data_url(&p.picture)),
            thumb: picture.as_ref().map(|p| data_url(&p.thumb)),
        })
        .await
    }

    pub async fn leave_group(&self, group_id: String) -> Result<WaGroup, SessionError> {
        self.call(Request::LeaveGroup { group_id }).await
    }

    /// Blocks (`true`) or unblocks a user.
    pub async fn set_blocked(&self, contact: &ChatId, blocked: bool) -> Result<WaContact, SessionError> {
        self.call(Request::SetBlocked {
            contact_id: contact.as_str().to_string(),
            blocked,
        })
        .await
    }

    /// Rejects an incoming call that is still ringing: the caller sees it declined. Errors:
    /// `CALL_NOT_FOUND` (404) when the page has no such call (unknown, or over).
    pub async fn reject_call(&self, call_id: String) -> Result<WaCall, SessionError> {
        self.call(Request::RejectCall { call_id }).await
    }

    pub async fn join_group(&self, code: String) -> Result<WaGroup, SessionError> {
        self.call(Request::JoinGroup { code }).await
    }

    /// An 8-character code to enter on the phone instead of scanning the QR.
    pub async fn request_pairing_code(&self, phone: String) -> Result<String, SessionError> {
        self.ask(|reply| Command::PairingCode { phone, reply }, CONTROL_TIMEOUT)
            .await
    }

    pub async fn logout(&self) -> Result<(), SessionError> {
        self.ask(|reply| Command::Logout { reply }, CONTROL_TIMEOUT).await
    }

    pub async fn restart(&self) -> Result<(), SessionError> {
        self.ask(|reply| Command::Restart { reply }, CONTROL_TIMEOUT).await
    }

    pub async fn stop(&self) -> Result<(), SessionError> {
        match self.ask(|reply| Command::Stop { reply }, CONTROL_TIMEOUT).await {
            Err(SessionError::NotRunning) => Ok(()),
            other => other,
        }
    }

    pub(super) async fn shutdown(&self) {
        let _ = self.ask(|reply| Command::Shutdown { reply }, CONTROL_TIMEOUT).await;
    }

    /// Cluster hand-over: closes the browser like a gateway shutdown (the recorded state stays,
    /// so the next owner restores the session).
    pub(crate) async fn shutdown_for_handover(&self) {
        self.shutdown().await
    }

    /// Waits until `pred` holds for the published info, or `timeout` passes.
    pub async fn wait_for(&self, timeout: Duration, mut pred: impl FnMut(&SessionInfo) -> bool) -> Option<SessionInfo> {
        let mut rx = self.info.clone();
        let fut = async {
            loop {
                {
                    let info = rx.borrow_and_update();
                    if pred(&info) {
                        return Some(info.clone());
                    }
                }
                if rx.changed().await.is_err() {
                    let info = rx.borrow();
                    return pred(&info).then(|| info.clone());
                }
            }
        };
        tokio::time::timeout(timeout, fut).await.ok().flatten()
    }
}
