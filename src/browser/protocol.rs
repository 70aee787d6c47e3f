//! The bridge's wire protocol, typed: the calls the gateway makes into the page ([`Request`],
//! answered `{ok, value}` or `{ok:false, code, message}`) and the events the page queues
//! ([`PageEvent`], drained in sequence). `bridge.js` is the other half; each name here is a name
//! there (`api.<method>(params)`, `push(kind, data)`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A call into the page: `window.__wagate.call(method, params)`. Ids are serialised WhatsApp ids
/// (`15550002002@c.us`, `true_<chat>_<KEYID>`); key ids are WhatsApp's uppercase hex.
#[derive(Debug, Serialize)]
#[serde(tag = "method", content = "params", rename_all = "camelCase")]
pub enum Request<'a> {
    /// Re-arms an idle QR (`WAWebLaunchSocketUtils.refreshQR`). → `true`.
    RefreshQr,
    /// Links by an 8-character code instead of a QR. → the code.
    #[serde(rename_all = "camelCase")]
    RequestPairingCode { phone: &'a str },
    /// `WAWebQueryExistsJob.queryWidExists`. → the chat id WhatsApp knows, or null.
    #[serde(rename_all = "camelCase")]
    CheckNumber { chat_id: &'a str },
    /// Finds the chat, checks the recipient when `check_recipient` (page code
    /// `RECIPIENT_NOT_ON_WHATSAPP` if not on WhatsApp), builds and sends: one round trip.
    /// → [`SentMessage`].
    #[serde(rename_all = "camelCase")]
    SendText {
        chat_id: &'a str,
        body: &'a str,
        key_id: Option<&'a str>,
        check_recipient: bool,
        mark_read: bool,
        /// The WhatsApp id of the message replied to (page code `WA_MESSAGE_NOT_FOUND` when the
        /// page does not have it).
        quoted: Option<&'a str>,
        /// User ids mentioned in the text (`mentionedJidList`); left out when none.
        #[serde(skip_serializing_if = "<[String]>::is_empty")]
        mentions: &'a [String],
    },
    /// A location message (`type: location`, `lat`, `lng`, `loc`: the name and address on two
    /// lines). Otherwise as [`Request::SendText`]. → [`SentMessage`].
    #[serde(rename_all = "camelCase")]
    SendLocation {
        chat_id: &'a str,
        /// Degrees (WGS 84).
        latitude: f64,
        longitude: f64,
        description: Option<String>,
        key_id: Option<&'a str>,
        check_recipient: bool,
        mark_read: bool,
        quoted: Option<&'a str>,
    },
    /// A reaction (`WAWebSendReactionMsgAction.sendReactionToMsg`) on the message with this
    /// WhatsApp id; an empty emoji takes ours back. The page keys it itself: `key_id` only names
    /// the answer. → [`SentMessage`].
    #[serde(rename_all = "camelCase")]
    SendReaction {
        msg_id: &'a str,
        emoji: &'a str,
        key_id: Option<&'a str>,
    },
    /// Contact cards: one (`type: vcard`) or several (`multi_vcard`). Otherwise as
    /// [`Request::SendText`]. → [`SentMessage`].
    #[serde(rename_all = "camelCase")]
    SendContacts {
        chat_id: &'a str,
        cards: Vec<ContactCard<'a>>,
        key_id: Option<&'a str>,
        check_recipient: bool,
        mark_read: bool,
        quoted: Option<&'a str>,
    },
    /// A poll (`type: poll_creation`, `pollName`, `pollOptions` with their `localId`s,
    /// `pollSelectableOptionsCount` 0 for any number of answers or 1, a fresh `messageSecret`).
    /// Otherwise as [`Request::SendText`]. → [`SentMessage`].
    #[serde(rename_all = "camelCase")]
    SendPoll {
        chat_id: &'a str,
        question: &'a str,
        options: &'a [String],
        multiple: bool,
        key_id: Option<&'a str>,
        check_recipient: bool,
        mark_read: bool,
        quoted: Option<&'a str>,
    },
    /// Edits an own text message (`WAWebSendMessageEditAction.sendMessageEdit`). The page keys
    /// the edit itself: `key_id` only names the answer. → [`SentMessage`].
    #[serde(rename_all = "camelCase")]
    EditMessage {
        msg_id: &'a str,
        body: &'a str,
        key_id: Option<&'a str>,
    },
    /// Deletes an own message for everyone (`WAWebCmd.Cmd.sendRevokeMsgs`). → [`SentMessage`].
    #[serde(rename_all = "camelCase")]
    RevokeMessage { msg_id: &'a str, key_id: Option<&'a str> },
    /// Forwards the message with this WhatsApp id to a chat with WhatsApp's own forward
    /// (`WAWebChatForwardMessage`, an on-demand bundle since 2026-09; page code
    /// `MESSAGE_NOT_FORWARDABLE` for a revoked message or one the page's check refuses). The page
    /// keys the copy itself: `key_id` only lets `FindSent` find it again. → [`SentMessage`] with
    /// `is_forwarded` and `forwarding_score`.
    #[serde(rename_all = "camelCase")]
    ForwardMessage {
        msg_id: &'a str,
        chat_id: &'a str,
        key_id: Option<&'a str>,
        check_recipient: bool,
    },
    /// Hands media bytes over in parts (base64 of at most 1 MiB each), for large files. → parts so far.
    #[serde(rename_all = "camelCase")]
    PutChunk {
        upload_id: &'a str,
        index: usize,
        data: String,
    },
    /// Sends media: the bytes inline (`data`, base64) or put before under `upload_id`. → [`SentMessage`].
    SendMedia(SendMedia<'a>),
    /// The current ack of each of these own messages the page has. → `[[id, ack], …]`.
    #[serde(rename_all = "camelCase")]
    AcksOf { ids: &'a [String] },
    /// An own message by the key id chosen before sending (page code `WA_SEND_IN_FLIGHT` while
    /// that send is still running). → [`SentMessage`] or null.
    #[serde(rename_all = "camelCase")]
    FindSent { chat_id: &'a str, key_id: &'a str },
    /// Messages from others in the page's store since `since` (unix seconds), oldest first. → [`WaMessage`]s.
    #[serde(rename_all = "camelCase")]
    RecentIncoming { since: i64, limit: usize },
    /// Group notifications (`gp2`) in the page's store since `since` (unix seconds), oldest
    /// first. → [`WaGroupNote`]s.
    #[serde(rename_all = "camelCase")]
    RecentGroupNotes { since: i64, limit: usize },
    /// Messages in the page's store since `since` (unix seconds) that were deleted for everyone
    /// or edited (`latestEditMsgKey` set), as they are now, oldest first. → [`WaChange`]s.
    #[serde(rename_all = "camelCase")]
    RecentChanges { since: i64, limit: usize },
    /// `composing` (typing…), `recording` (recording audio…) or `paused` in a chat; `available` or
    /// `unavailable` (online / offline for everyone; the chat is ignored). → `true`.
    #[serde(rename_all = "camelCase")]
    ChatState { chat_id: &'a str, state: &'a str },
    /// Subscribes to a chat's presence (`WAWebContactPresenceBridge`, then the chat's model in
    /// `WAWebPresenceCollection`): WhatsApp's server sends it from then on, and the page reports
    /// every change as a `presence` event. → [`PresenceNow`].
    #[serde(rename_all = "camelCase")]
    SubscribePresence { chat_id: String },
    /// What the page knows of a chat's presence now. → [`PresenceNow`].
    #[serde(rename_all = "camelCase")]
    PresenceOf { chat_id: String },
    /// A read receipt for the chat (`WAWebUpdateUnreadChatAction.sendSeen`). → `true`.
    #[serde(rename_all = "camelCase")]
    MarkRead { chat_id: &'a str },
    /// An incoming message's media bytes. → [`Downloaded`].
    #[serde(rename_all = "camelCase")]
    DownloadMedia { msg_id: &'a str },
    /// Logs the device out (the page navigates away). → `true`.
    Logout,
    /// A real round trip through WhatsApp's server (the own number's exists query), bounded in
    /// the page by `timeout_ms` (page code `WA_PAGE_UNRESPONSIVE` past it). → [`Probe`].
    #[serde(rename_all = "camelCase")]
    Probe { timeout_ms: u64 },
    /// Every capability the bridge knows, resolved now (lazy ones through the page's
    /// `Bootloader`). → [`CapabilityReport`].
    Capabilities,
    /// Every chat the page has (`WAWebCollections.Chat`), newest activity first. → [`WaChat`]s.
    ListChats,
    /// A chat's messages before `before` (a serialised id; the newest when None), at most `limit`,
    /// oldest first; earlier ones are loaded from the phone (`WAWebChatLoadMessages`) as needed.
    /// `before_t` (unix seconds) places a `before` the page does not have. → [`ChatMessages`].
    #[serde(rename_all = "camelCase")]
    ChatMessages {
        chat_id: String,
        before: Option<String>,
        before_t: Option<i64>,
        limit: usize,
    },
    /// The users the page knows (`WAWebCollections.Contact`). → [`WaContact`]s.
    ListContacts,
    /// One user's contact, with the profile picture URL and the about text the server gives
    /// (page code `WA_CONTACT_NOT_FOUND`). → [`WaContact`].
    #[serde(rename_all = "camelCase")]
    ContactInfo { contact_id: String },
    /// Creates a group (`WAWebGroupCreateJob`, an on-demand bundle). → [`GroupChange`].
    #[serde(rename_all = "camelCase")]
    CreateGroup { subject: String, participants: Vec<String> },
    /// The groups the page has. → [`WaGroup`]s.
    ListGroups,
    /// One group, refreshed from the server (`WAWebGroupQueryJob`). → [`WaGroup`].
    #[serde(rename_all = "camelCase")]
    GetGroup { group_id: String },
    /// `add`, `remove`, `promote` or `demote` participants. → [`GroupChange`].
    #[serde(rename_all = "camelCase")]
    GroupParticipants {
        group_id: String,
        action: String,
        participants: Vec<String>,
    },
    /// Subject, description and settings (announce-only, edit-info admins-only); None: unchanged.
    /// → [`WaGroup`].
    #[serde(rename_all = "camelCase")]
    UpdateGroup {
        group_id: String,
        subject: Option<String>,
        description: Option<String>,
        announce: Option<bool>,
        restrict: Option<bool>,
    },
    /// The invite code (on-demand bundle), or a new one when `revoke`. → the code.
    #[serde(rename_all = "camelCase")]
    GroupInvite { group_id: String, revoke: bool },
    /// Sets the group's picture (`picture` 640×640 and `thumb` 96×96, JPEG data URLs), or removes
    /// it when both are None. → [`WaGroup`].
    #[serde(rename_all = "camelCase")]
    SetGroupPicture {
        group_id: String,
        picture: Option<String>,
        thumb: Option<String>,
    },
    /// Leaves the group. → [`WaGroup`].
    #[serde(rename_all = "camelCase")]
    LeaveGroup { group_id: String },
    /// Joins by an invite code (on-demand bundle). → [`WaGroup`].
    #[serde(rename_all = "camelCase")]
    JoinGroup { code: String },
    /// Blocks (or unblocks) a user (`WAWebBlockContactAction`). → [`WaContact`].
    #[serde(rename_all = "camelCase")]
    SetBlocked { contact_id: String, blocked: bool },
    /// Rejects an incoming call still ringing in `WAWebCallCollection` (page code
    /// `CALL_NOT_FOUND` when the page has no such call: unknown, or over), with the raw
    /// `<call><reject/></call>` stanza of the reference client. → [`WaCall`].
    #[serde(rename_all = "camelCase")]
    RejectCall { call_id: String },
}

impl Request<'_> {
    /// The method's name, for logs.
    pub fn method(&self) -> &'static str {
        match self {
            Request::RefreshQr => "refreshQr",
            Request::RequestPairingCode { .. } => "requestPairingCode",
            Request::CheckNumber { .. } => "checkNumber",
            Request::SendText { .. } => "sendText",
            Request::PutChunk { .. } => "putChunk",
            Request::SendMedia(_) => "sendMedia",
            Request::SendLocation { .. } => "sendLocation",
            Request::SendReaction { .. } => "sendReaction",
            Request::EditMessage { .. } => "editMessage",
            Request::SendContacts { .. } => "sendContacts",
            Request::SendPoll { .. } => "sendPoll",
            Request::RevokeMessage { .. } => "revokeMessage",
            Request::ForwardMessage { .. } => "forwardMessage",
            Request::AcksOf { .. } => "acksOf",
            Request::FindSent { .. } => "findSent",
            Request::RecentIncoming { .. } => "recentIncoming",
            Request::RecentGroupNotes { .. } => "recentGroupNotes",
            Request::RecentChanges { .. } => "recentChanges",
            Request::ChatState { .. } => "chatState",
            Request::MarkRead { .. } => "markRead",
            Request::SubscribePresence { .. } => "subscribePresence",
            Request::PresenceOf { .. } => "presenceOf",
            Request::DownloadMedia { .. } => "downloadMedia",
            Request::Logout => "logout",
            Request::Probe { .. } => "probe",
            Request::Capabilities => "capabilities",
            Request::ListChats => "listChats",
            Request::ChatMessages { .. } => "chatMessages",
            Request::ListContacts => "listContacts",
            Request::ContactInfo { .. } => "contactInfo",
            Request::CreateGroup { .. } => "createGroup",
            Request::ListGroups => "listGroups",
            Request::GetGroup { .. } => "getGroup",
            Request::GroupParticipants { .. } => "groupParticipants",
            Request::UpdateGroup { .. } => "updateGroup",
            Request::GroupInvite { .. } => "groupInvite",
            Request::SetGroupPicture { .. } => "setGroupPicture",
            Request::LeaveGroup { .. } => "leaveGroup",
            Request::JoinGroup { .. } => "joinGroup",
            Request::SetBlocked { .. } => "setBlocked",
            Request::RejectCall { .. } => "rejectCall",
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SendMedia<'a> {
    pub chat_id: &'a str,
    /// The bytes, base64, when they fit one call; else None and `upload_id` names the parts.
    pub data: Option<String>,
    pub upload_id: Option<&'a str>,
    pub mimetype: &'a str,
    pub filename: Option<&'a str>,
    pub caption: Option<&'a str>,
    pub as_document: bool,
    pub as_voice: bool,
    pub as_sticker: bool,
    pub key_id: Option<&'a str>,
    pub check_recipient: bool,
    pub mark_read: bool,
    pub quoted: Option<&'a str>,
    /// User ids mentioned in the caption (`mentionedJidList`); left out when none.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub mentions: &'a [String],
}

/// One contact card to send: the name shown and the vCard text.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactCard<'a> {
    pub display_name: &'a str,
    pub vcard: String,
}

/// What a send returns.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SentMessage {
    /// `true_<chat>_<HEXID>`.
    pub id: String,
    /// Unix seconds.
    pub t: i64,
    /// -1 error, 0 pending, 1 server, 2 delivered, 3 read, 4 played.
    pub ack: i32,
    /// The chat the page sent to (`<lid>@lid` for a phone number whose chat lives under its LID).
    #[serde(default)]
    pub chat: Option<String>,
    /// The chat's phone number (digits) when the page knows it; None for groups.
    #[serde(default)]
    pub chat_phone: Option<String>,
    /// A forward: whether WhatsApp shows the copy as forwarded (not for a forward of one's own
    /// original message), and how many times it counts it forwarded (127: "forwarded many
    /// times"). None for other sends.
    #[serde(default)]
    pub is_forwarded: Option<bool>,
    #[serde(default)]
    pub forwarding_score: Option<u32>,
}

/// A liveness probe's answer.
#[derive(Debug, Clone, Deserialize)]
pub struct Probe {
    /// How long the round trip took, milliseconds (0 when not linked: nothing to ask).
    pub ms: u64,
    /// Whether the page had an own number to ask about.
    pub linked: bool,
}

/// How one capability resolved on the live page.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Capability {
    /// The bridge's name for it, e.g. `sendMsg`, `advSecret`, `forwardMessages`.
    pub name: String,
    pub ok: bool,
    /// Nothing wagate does today needs it (reported for maintainers).
    #[serde(default)]
    pub optional: bool,
    /// The module and member it resolved to, e.g. `WAWebAdvSignatureApi.getADVSecretKey`.
    #[serde(default)]
    pub via: Option<String>,
    /// Which candidate answered: 0 the first choice, 1 the first fallback, …
    #[serde(default)]
    pub fallback: Option<u32>,
    /// The Bootloader component whose bundle had to be loaded first, if any.
    #[serde(default)]
    pub lazy: Option<String>,
    /// When not `ok`: `WA_MODULE_MISSING:<module>` or `WA_MEMBER_MISSING:<module>.<member>`.
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

/// What the bridge could resolve on the live page, and the page's WhatsApp Web build.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CapabilityReport {
    /// `window.Debug.VERSION`, e.g. `2.3000.1047780587`.
    pub version: Option<String>,
    pub capabilities: Vec<Capability>,
}

/// One LID ↔ phone pair the page knows.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LidPair {
    /// `<digits>@lid`.
    pub lid: String,
    /// Digits only.
    pub phone: String,
}

/// The passkey prologue of linking (WhatsApp asks the account owner to confirm with a passkey).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PasskeyPrompt {
    /// `PENDING`, `APPROVED` or `DENIED`.
    pub state: String,
    /// What WhatsApp said, when it said something.
    pub reason: Option<String>,
}

/// An incoming message's media, as `downloadMedia` returns it.
#[derive(Debug, Deserialize)]
pub struct Downloaded {
    /// Base64.
    pub data: String,
}

/// A message as the page reports it (`msg_add`: incoming; `msg_create`: our own, from any device).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WaMessage {
    pub id: String,
    pub from_me: bool,
    pub remote: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub author: Option<String>,
    /// The sender's phone number (digits): the id's own for `@c.us`, WhatsApp's mapping for a
    /// `@lid` when the page knows it.
    pub author_phone: Option<String>,
    /// The chat's phone number (digits), likewise; None for groups.
    #[serde(default)]
    pub chat_phone: Option<String>,
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
    /// The WhatsApp id of the message this one replies to.
    #[serde(default)]
    pub quoted_msg_id: Option<String>,
    /// The user ids the text or caption mentions (`mentionedJidList`).
    #[serde(default)]
    pub mentions: Option<Vec<String>>,
    /// A location's degrees and `loc` text (the name, then the address on a second line).
    #[serde(default)]
    pub lat: Option<f64>,
    #[serde(default)]
    pub lng: Option<f64>,
    #[serde(default)]
    pub loc: Option<String>,
    /// A contact card message's vCards (one for `vcard`, each for `multi_vcard`).
    #[serde(default)]
    pub vcards: Option<Vec<String>>,
    /// A poll's question and options (`poll_creation`).
    #[serde(default)]
    pub poll: Option<WaPoll>,
    /// Whether WhatsApp shows the message as forwarded, and how many times it counts it
    /// forwarded (`forwardingScore`; 127 and up: "forwarded many times").
    #[serde(default)]
    pub is_forwarded: bool,
    #[serde(default)]
    pub forwarding_score: u32,
    /// Where the actor saved the media bytes (relative to the media dir), if it could.
    #[serde(skip_deserializing)]
    pub saved_media: Option<String>,
}

/// A presence change of a subscribed chat, as the page reports it (`presence`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WaPresence {
    /// The chat as the page keys it (`…@c.us`, `…@lid`, `…@g.us`).
    pub chat: String,
    /// The chat's phone number (digits) when the page knows it; None for groups.
    #[serde(default)]
    pub chat_phone: Option<String>,
    /// In a group: the member whose state this is.
    #[serde(default)]
    pub participant: Option<String>,
    #[serde(default)]
    pub participant_phone: Option<String>,
    /// `available`, `unavailable`, `composing`, `recording` or `paused` (typing stopped).
    pub state: String,
    /// When an `unavailable` user was last online, unix seconds (None when hidden or unknown).
    #[serde(default)]
    pub last_seen: Option<i64>,
    /// When the page saw the change, unix seconds.
    pub t: i64,
}

/// A chat's presence as the page knows it now.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PresenceNow {
    /// The chat as WhatsApp keys it (`…@c.us`, `…@lid` on current WhatsApp Web, `…@g.us`).
    pub chat_id: String,
    /// The chat's phone number (digits); null for groups and unmapped LIDs.
    #[serde(default)]
    pub chat_phone: Option<String>,
    /// Whether the chat's presence is subscribed (updates arrive as `presence.update`).
    #[serde(default)]
    pub subscribed: bool,
    /// A person's chat: `available`, `unavailable`, `composing` or `recording`; null before
    /// WhatsApp told anything (or for a group: see `participants`).
    #[serde(default)]
    pub state: Option<String>,
    /// When an `unavailable` person was last online, unix seconds; null when hidden or unknown.
    #[serde(default)]
    pub last_seen: Option<i64>,
    /// A group: the members WhatsApp reported a state for.
    #[serde(default)]
    pub participants: Vec<PresenceParticipant>,
}

/// One group member's presence.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PresenceParticipant {
    pub id: String,
    #[serde(default)]
    pub phone: Option<String>,
    pub state: String,
}

/// A reaction as the page's reaction table records it (`WAWebAddonReactionTableMode`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WaReaction {
    /// The reaction's own key (`false_<chat>_<ID>[_<participant>]`).
    pub id: String,
    /// The WhatsApp id of the message reacted to.
    pub msg_id: String,
    /// The emoji; empty when the reaction was taken back.
    pub emoji: String,
    /// Who reacted (a user id).
    pub sender: Option<String>,
    /// Their phone number (digits), when the page knows it.
    pub sender_phone: Option<String>,
    /// The chat of the message reacted to.
    pub chat: Option<String>,
    #[serde(default)]
    pub chat_phone: Option<String>,
    #[serde(default)]
    pub from_me: bool,
    /// Unix seconds.
    pub t: Option<i64>,
}

/// A message as an edit or a delete for everyone left it (`recentChanges`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WaChange {
    /// The message's serialised key.
    pub id: String,
    /// Deleted for everyone (`type` `revoked`).
    pub revoked: bool,
    /// The text (or caption) now, when not deleted.
    #[serde(default)]
    pub body: Option<String>,
}

/// A group notification as the page shows it in the group's chat (a `gp2` message).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WaGroupNote {
    /// The notification's key (`false_<group>_<ID>_<author>`).
    pub id: String,
    #[serde(default)]
    pub from_me: bool,
    /// The group (`<id>@g.us`).
    pub chat: Option<String>,
    /// WhatsApp's action: `add`, `invite`, `remove`, `leave`, `promote`, `demote`, `subject`,
    /// `description`, `announce`, `restrict`, `picture`, …
    pub subtype: Option<String>,
    /// Who made the change.
    pub author: Option<String>,
    pub author_phone: Option<String>,
    /// Whom it concerns (added, removed, promoted, …).
    #[serde(default)]
    pub recipients: Vec<String>,
    /// Their phone numbers (digits), where the page knows them (same order).
    #[serde(default)]
    pub recipient_phones: Vec<Option<String>>,
    /// The new subject or description; `on` / `off` for a setting.
    pub body: Option<String>,
    /// Unix seconds.
    pub t: Option<i64>,
}

/// A poll as the page's poll creation message carries it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WaPoll {
    /// `pollName`.
    pub name: String,
    /// `pollOptions[].name`, ordered by `localId`.
    pub options: Vec<String>,
    /// `pollSelectableOptionsCount`: 0 for any number of answers, 1 for one.
    #[serde(default)]
    pub selectable_count: u32,
}

/// A vote as the page's poll vote table records it (`WAWebAddonPollVoteTableMode`): the voter's
/// whole current choice on one poll.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WaPollVote {
    /// The vote's own key.
    pub id: String,
    /// The WhatsApp id of the poll (`pollUpdateParentKey`).
    pub poll_id: String,
    /// Who voted (a user id).
    pub voter: Option<String>,
    /// Their phone number (digits), when the page knows it.
    #[serde(default)]
    pub voter_phone: Option<String>,
    /// The options picked, by text, when the page had the poll (else empty).
    #[serde(default)]
    pub selected_options: Vec<String>,
    /// The options picked, by WhatsApp's `localId` (`selectedOptionLocalIds`).
    #[serde(default)]
    pub selected_ids: Vec<u32>,
    #[serde(default)]
    pub from_me: bool,
    /// Unix seconds.
    pub t: Option<i64>,
}

/// A call as the page holds it in `WAWebCallCollection` (wa-web-surface §7.2 `call`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WaCall {
    /// WhatsApp's call id.
    pub id: String,
    /// The caller (`peerJid`): `<n>@c.us` or `<n>@lid`.
    pub from: Option<String>,
    /// The caller's phone number (digits), when the page knows it.
    #[serde(default)]
    pub from_phone: Option<String>,
    #[serde(default)]
    pub is_video: bool,
    #[serde(default)]
    pub is_group: bool,
    /// Placed by this account (the bridge reports incoming calls only).
    #[serde(default)]
    pub outgoing: bool,
    /// When the call was offered (`offerTime`), unix seconds.
    #[serde(default)]
    pub t: Option<i64>,
}

/// A chat as the page lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WaChat {
    /// `<n>@c.us`, `<n>@lid` or `<id>@g.us`.
    pub id: String,
    /// The saved name, the group's subject, or what WhatsApp Web shows (`formattedTitle`).
    pub name: Option<String>,
    #[serde(default)]
    pub is_group: bool,
    /// The other side's phone number (digits) when the page knows it; None for groups.
    pub phone: Option<String>,
    #[serde(default)]
    pub unread_count: u32,
    #[serde(default)]
    pub archived: bool,
    /// The last activity, unix seconds.
    pub t: Option<i64>,
    pub last_message: Option<WaMessage>,
}

/// A page of a chat's messages, oldest first.
#[derive(Debug, Clone, Deserialize)]
pub struct ChatMessages {
    pub chat: WaChat,
    pub messages: Vec<WaMessage>,
    /// Whether earlier messages exist (in the page or still on the phone).
    #[serde(default)]
    pub more: bool,
}

/// A user as the page knows them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WaContact {
    /// `<n>@c.us` or `<n>@lid`.
    pub id: String,
    /// The name saved in the phone's address book.
    pub name: Option<String>,
    /// The name the user gave themselves.
    pub pushname: Option<String>,
    #[serde(default)]
    pub is_business: bool,
    #[serde(default)]
    pub is_my_contact: bool,
    #[serde(default)]
    pub is_blocked: bool,
    /// Digits, when known.
    pub phone: Option<String>,
    /// `<n>@lid`, when known.
    pub lid: Option<String>,
    /// Only from `contactInfo`: the profile picture's URL (None when there is none or it is hidden).
    #[serde(default)]
    pub profile_picture_url: Option<String>,
    /// Only from `contactInfo`: the about text.
    #[serde(default)]
    pub about: Option<String>,
}

/// A group member.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WaParticipant {
    pub id: String,
    /// Digits, when known.
    pub phone: Option<String>,
    #[serde(default)]
    pub is_admin: bool,
    /// The group's creator.
    #[serde(default)]
    pub is_super_admin: bool,
}

/// A group as the page holds it (`chat.groupMetadata`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WaGroup {
    /// `<id>@g.us`.
    pub id: String,
    pub subject: Option<String>,
    pub description: Option<String>,
    pub owner: Option<String>,
    /// Only admins send messages.
    #[serde(default)]
    pub announce: bool,
    /// Only admins edit the group's info.
    #[serde(default)]
    pub restrict: bool,
    #[serde(default)]
    pub participants: Vec<WaParticipant>,
    /// The account is a participant.
    #[serde(default)]
    pub is_member: bool,
}

/// What one participant of a create or participants call came to: 200 done, else WhatsApp's
/// code (403 their privacy settings: an invite is needed; 404 not on WhatsApp, or not in the
/// group; 409 already in it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ParticipantCode {
    pub id: String,
    pub code: u16,
}

/// A group after a change, and what each participant asked for came to.
#[derive(Debug, Clone, Deserialize)]
pub struct GroupChange {
    pub group: WaGroup,
    pub participants: Vec<ParticipantCode>,
}

/// The linked account, as `WAWebUserPrefsMeUser` and `Conn` tell it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Me {
    pub wid: Option<String>,
    pub lid: Option<String>,
    pub pushname: Option<String>,
}

/// An event the page queued (`push(kind, data)` in bridge.js).
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum PageEvent {
    /// `Socket.state` changed (`OPENING`, `UNPAIRED`, `CONNECTED`, …).
    State(String),
    /// A new QR payload (`ref,noiseKey,identityKey,advSecret,platform`).
    Qr(String),
    /// A pairing code to show.
    Code(Option<String>),
    /// Offline delivery progress, 0–100.
    Loading(u32),
    /// `Socket.hasSynced` became true.
    Synced(Me),
    /// The device was logged out (`logout` or `logout_from_bridge`).
    Logout(String),
    /// A new message from someone else.
    MsgAdd(WaMessage),
    /// A new message of ours (sent by wagate, or from the phone).
    MsgCreate(WaMessage),
    MsgAck {
        id: String,
        ack: i32,
    },
    /// A reaction was set or taken back, by someone else or by us (from any device).
    Reaction(WaReaction),
    /// A group notification (`gp2`): someone joined, left, or changed the group.
    Group(WaGroupNote),
    /// Someone is calling the account (a new call in `WAWebCallCollection`).
    Call(WaCall),
    /// Someone voted on a poll (a new choice replaces their earlier one; empty: taken back).
    PollVote(WaPollVote),
    /// A message's type changed (a placeholder resolved; `revoked`: deleted for everyone).
    MsgType {
        id: String,
        #[serde(rename = "type", default)]
        kind: Option<String>,
    },
    /// A message's text was edited (ours from any device, or its sender's).
    MsgEdit {
        id: String,
        body: String,
    },
    /// A subscribed chat's presence changed (online, offline, typing, recording, stopped).
    Presence(WaPresence),
    /// LID ↔ phone pairs the page revealed (each reported once per document).
    LidPairs(Vec<LidPair>),
    /// The passkey prologue of linking started, was approved or denied.
    Passkey(PasskeyPrompt),
    /// Something the bridge could not do on its own (a subscription, the QR).
    Error(Value),
}

/// One queued event: its sequence number, and the event or why it could not be read.
#[derive(Debug)]
pub struct Queued {
    pub seq: u64,
    pub event: Result<PageEvent, String>,
}

impl<'de> Deserialize<'de> for Queued {
    /// An event this gateway cannot read is kept as an error with its sequence number, so one bad
    /// event never holds back the queue behind it.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            seq: u64,
            kind: String,
            #[serde(default)]
            data: Value,
        }
        let raw = Raw::deserialize(d)?;
        let event = serde_json::from_value(serde_json::json!({ "kind": raw.kind, "data": raw.data }))
            .map_err(|e| format!("{} event: {e}", raw.kind));
        Ok(Queued { seq: raw.seq, event })
    }
}

/// What the page's state looks like now, read with every drain.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub state: Option<String>,
    #[serde(default)]
    pub has_synced: bool,
    pub me: Option<Me>,
    pub loading: Option<u32>,
    /// A passkey prologue in progress or just decided (None when WhatsApp asked for none).
    #[serde(default)]
    pub passkey: Option<PasskeyPrompt>,
}

/// Events a ring of the doorbell carried (`bridge.js` `ring`): those queued since the previous
/// ring, in order, from the bridge of document `doc`. They stay queued on the page until a drain
/// acknowledges them.
#[derive(Debug, Deserialize)]
pub struct Pushed {
    pub doc: String,
    pub events: Vec<Queued>,
}

/// One drain of the page's queue: the events after the sequence number asked for.
#[derive(Debug, Deserialize)]
pub struct Drain {
    /// Which bridge answered: a random id per document (see [`Pushed`]). Absent from bridges
    /// before version 11.
    #[serde(default)]
    pub doc: Option<String>,
    /// The page's last sequence number.
    pub seq: u64,
    pub events: Vec<Queued>,
    /// Events the bounded queue dropped since the previous drain (some may have come with rings).
    #[serde(default)]
    pub dropped: u64,
    /// Subscriptions that could not be made yet (their module codes).
    #[serde(default)]
    pub missing: Vec<String>,
    #[serde(default)]
    pub snapshot: Snapshot,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_are_method_and_named_params() {
        let r = Request::SendText {
            chat_id: "15550002002@c.us",
            body: "hi",
            key_id: Some("3EB0AA"),
            check_recipient: true,
            mark_read: false,
            quoted: None,
            mentions: &[],
        };
        assert_eq!(r.method(), "sendText");
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({"method": "sendText", "params": {"chatId": "15550002002@c.us", "body": "hi", "keyId": "3EB0AA", "checkRecipient": true, "markRead": false, "quoted": null}})
        );
        assert_eq!(
            serde_json::to_value(Request::Logout).unwrap(),
            json!({"method": "logout"})
        );
    }

    #[test]
    fn events_are_typed_and_a_bad_one_keeps_its_place() {
        let d: Drain = serde_json::from_value(json!({
            "seq": 3,
            "events": [
                {"seq": 1, "kind": "state", "data": "CONNECTED"},
                {"seq": 2, "kind": "msg_ack", "data": {"id": "true_1@c.us_A", "ack": "oops"}},
                {"seq": 3, "kind": "msg_ack", "data": {"id": "true_1@c.us_A", "ack": 2}},
            ],
        }))
        .unwrap();
        assert!(matches!(&d.events[0].event, Ok(PageEvent::State(s)) if s == "CONNECTED"));
        assert_eq!(d.events[1].seq, 2);
        assert!(d.events[1].event.is_err());
        assert!(matches!(&d.events[2].event, Ok(PageEvent::MsgAck { ack: 2, .. })));
        assert_eq!(d.doc, None, "a bridge before version 11 names no document");
    }

    #[test]
    fn a_ring_carries_its_document_and_events() {
        // As bridge.js rings: JSON text with the queue's own entries (`ts` is not read).
        let text =
            r#"{"doc":"m1x2-abc","events":[{"seq":7,"kind":"msg_ack","data":{"id":"true_1@c.us_A","ack":3},"ts":1}]}"#;
        let p: Pushed = serde_json::from_str(text).unwrap();
        assert_eq!(p.doc, "m1x2-abc");
        assert_eq!(p.events[0].seq, 7);
        assert!(matches!(&p.events[0].event, Ok(PageEvent::MsgAck { ack: 3, .. })));
    }

    #[test]
    fn group_notifications_and_loading_read() {
        let d: Drain = serde_json::from_value(json!({
            "seq": 2,
            "events": [
                {"seq": 1, "kind": "loading", "data": 40},
                {"seq": 2, "kind": "group", "data": {
                    "id": "false_1203@g.us_3A5F_12345@lid", "fromMe": false, "chat": "1203@g.us",
                    "subtype": "add", "author": "12345@lid", "authorPhone": "15550002201",
                    "recipients": ["678@lid"], "recipientPhones": [null], "body": "", "t": 1764028800,
                }},
            ],
        }))
        .unwrap();
        assert!(matches!(&d.events[0].event, Ok(PageEvent::Loading(40))));
        match &d.events[1].event {
            Ok(PageEvent::Group(n)) => {
                assert_eq!(
                    (n.subtype.as_deref(), n.chat.as_deref(), n.author_phone.as_deref()),
                    (Some("add"), Some("1203@g.us"), Some("15550002201"))
                );
                assert_eq!(
                    (n.recipients.clone(), n.recipient_phones.clone()),
                    (vec!["678@lid".to_string()], vec![None])
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn calls_come_in_and_are_rejected_by_id() {
        let r = Request::RejectCall { call_id: "CB8A".into() };
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({"method": "rejectCall", "params": {"callId": "CB8A"}})
        );
        let d: Drain = serde_json::from_value(json!({
            "seq": 1,
            "events": [{"seq": 1, "kind": "call", "data": {
                "id": "CB8A", "from": "12345@lid", "fromPhone": "15550002002", "isVideo": true,
                "isGroup": false, "outgoing": false, "t": 1764028800}}],
        }))
        .unwrap();
        match &d.events[0].event {
            Ok(PageEvent::Call(c)) => assert_eq!(
                (c.id.as_str(), c.from_phone.as_deref(), c.is_video, c.t),
                ("CB8A", Some("15550002002"), true, Some(1764028800))
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn polls_go_out_and_votes_come_in() {
        let options = ["Tea".to_string(), "Coffee".to_string()];
        let r = Request::SendPoll {
            chat_id: "15550002002@c.us",
            question: "Drink?",
            options: &options,
            multiple: false,
            key_id: None,
            check_recipient: false,
            mark_read: false,
            quoted: None,
        };
        assert_eq!(r.method(), "sendPoll");
        assert_eq!(
            serde_json::to_value(&r).unwrap()["params"]["options"],
            json!(["Tea", "Coffee"])
        );
        let d: Drain = serde_json::from_value(json!({
            "seq": 1,
            "events": [{"seq": 1, "kind": "poll_vote", "data": {
                "id": "false_1@c.us_B", "pollId": "true_1@c.us_A", "voter": "1@c.us", "voterPhone": "1",
                "selectedOptions": ["Coffee"], "selectedIds": [1], "fromMe": false, "t": 1764028800}}],
        }))
        .unwrap();
        match &d.events[0].event {
            Ok(PageEvent::PollVote(v)) => {
                assert_eq!(
                    (v.poll_id.as_str(), v.selected_ids.as_slice()),
                    ("true_1@c.us_A", &[1][..])
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn lid_pairs_passkey_and_capabilities_read() {
        let d: Drain = serde_json::from_value(json!({
            "seq": 2,
            "events": [
                {"seq": 1, "kind": "lid_pairs", "data": [{"lid": "12345@lid", "phone": "15550002002"}]},
                {"seq": 2, "kind": "passkey", "data": {"state": "PENDING", "reason": "new device"}},
            ],
            "snapshot": {"state": "PAIRING", "hasSynced": false, "passkey": {"state": "PENDING", "reason": null}},
        }))
        .unwrap();
        match &d.events[0].event {
            Ok(PageEvent::LidPairs(p)) => assert_eq!(
                p,
                &[LidPair {
                    lid: "12345@lid".into(),
                    phone: "15550002002".into()
                }]
            ),
            other => panic!("{other:?}"),
        }
        assert!(matches!(&d.events[1].event, Ok(PageEvent::Passkey(p)) if p.reason.as_deref() == Some("new device")));
        assert_eq!(d.snapshot.passkey.unwrap().state, "PENDING");
        let report: CapabilityReport = serde_json::from_value(json!({
            "version": "2.3000.1",
            "capabilities": [
                {"name": "advSecret", "ok": true, "optional": false, "via": "WAWebAdvSignatureApi.getADVSecretKey", "fallback": 1, "lazy": null},
                {"name": "createGroup", "ok": false, "optional": true, "error": "WA_MODULE_MISSING:WAWebGroupCreateJob", "message": "…"},
            ],
        }))
        .unwrap();
        assert_eq!(report.capabilities[0].fallback, Some(1));
        assert_eq!(
            report.capabilities[1].error.as_deref(),
            Some("WA_MODULE_MISSING:WAWebGroupCreateJob")
        );
        let sent: SentMessage = serde_json::from_value(
            json!({"id": "true_1@lid_A", "t": 1, "ack": 1, "chat": "1@lid", "chatPhone": "1555"}),
        )
        .unwrap();
        assert_eq!(sent.chat_phone.as_deref(), Some("1555"));
    }
}
