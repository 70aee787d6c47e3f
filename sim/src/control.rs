//! The simulator's state and the operations that play the phone and WhatsApp's servers. The
//! HTTP control API and the Rust handle both call these.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use crate::{Era, SimConfig};

mod calls;
pub use calls::{CallOffer, CallRecord, CallState};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    #[error("stale or unknown QR payload: no open page shows it")]
    StaleQr,
    #[error("unknown pairing code")]
    UnknownCode,
    #[error("no linked device with phone {0}")]
    UnknownDevice(String),
    #[error("no sent message {0}")]
    UnknownMessage(String),
    #[error("no call {0}")]
    UnknownCall(String),
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Serialize)]
pub struct PageInfo {
    pub page_id: String,
    pub device_id: String,
    pub state: String,
    pub qr: Option<String>,
    pub phone: Option<String>,
    pub pairing_code: Option<String>,
    pub last_seen_ms_ago: u64,
    /// The era the page was served in.
    pub era: Era,
    /// Set while the page waits for a passkey (the phone it will be linked as).
    pub passkey_pending_for: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceInfo {
    pub device_id: String,
    pub phone: String,
    pub lid: String,
    pub push_name: String,
    pub linked_at: u64,
    pub online: bool,
}

/// Media of an incoming message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IncomingMedia {
    pub mimetype: String,
    pub filename: Option<String>,
    #[serde(with = "b64")]
    pub data: Vec<u8>,
}

/// A message "someone" sends to a linked device.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IncomingMessage {
    /// The chat: `<n>@c.us`, `<n>@lid` or `<id>@g.us`.
    pub from: String,
    /// The member who wrote, for groups.
    #[serde(default)]
    pub author: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub caption: Option<String>,
    #[serde(default)]
    pub media: Option<IncomingMedia>,
    #[serde(default)]
    pub notify_name: Option<String>,
    /// The message this one replies to, by its id as the linked device knows it
    /// (`true_<chat>_<ID>` for one the device sent, `false_<chat>_<ID>[_<author>]` otherwise).
    #[serde(default)]
    pub quoted: Option<String>,
    /// A location message instead of text or media.
    #[serde(default)]
    pub location: Option<IncomingLocation>,
    /// Contact cards (vCard text) instead of text or media: one is a `vcard`, several a
    /// `multi_vcard`.
    #[serde(default)]
    pub vcards: Option<Vec<String>>,
    /// The users the text mentions (`mentionedJidList`): `<n>@c.us` or `<n>@lid` ids.
    #[serde(default)]
    pub mentions: Option<Vec<String>>,
    /// A poll (WhatsApp's `poll_creation`) instead of text or media.
    #[serde(default)]
    pub poll: Option<IncomingPoll>,
    /// Forwarded by its sender: how many times WhatsApp counts it forwarded (`forwardingScore`,
    /// 127 for "forwarded many times"); the page shows it with `isForwarded`. None or 0: not.
    #[serde(default)]
    pub forwarding_score: Option<u32>,
}

/// A poll "someone" sends.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IncomingPoll {
    pub question: String,
    pub options: Vec<String>,
    /// Whether a voter may pick several options (`pollSelectableOptionsCount` 0, else 1).
    #[serde(default)]
    pub multiple: bool,
}

/// A vote "someone" casts on a poll of a linked device's chat: their whole current choice (an
/// earlier vote of theirs is replaced; no options takes it back).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IncomingVote {
    /// The voter's chat: `<n>@c.us`, `<n>@lid` or `<id>@g.us`.
    pub from: String,
    /// The member who voted, for groups.
    #[serde(default)]
    pub author: Option<String>,
    /// The poll, by its id as the linked device knows it.
    pub poll_id: String,
    /// The options picked, by their text.
    #[serde(default)]
    pub options: Vec<String>,
}

/// A pin on a map "someone" sends.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IncomingLocation {
    pub latitude: f64,
    pub longitude: f64,
    /// WhatsApp's `loc` text: the name, then the address on a second line.
    #[serde(default)]
    pub description: Option<String>,
}

impl IncomingMessage {
    pub fn text(from: &str, body: &str) -> Self {
        IncomingMessage {
            from: from.into(),
            author: None,
            body: Some(body.into()),
            caption: None,
            media: None,
            notify_name: None,
            quoted: None,
            location: None,
            vcards: None,
            mentions: None,
            poll: None,
            forwarding_score: None,
        }
    }
}

/// A reaction "someone" sets (or, with an empty emoji, takes back) on a message of a linked
/// device's chat.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IncomingReaction {
    /// The chat: `<n>@c.us`, `<n>@lid` or `<id>@g.us`.
    pub from: String,
    /// The member who reacted, for groups.
    #[serde(default)]
    pub author: Option<String>,
    /// The message reacted to, by its id as the linked device knows it.
    pub msg_id: String,
    pub emoji: String,
}

/// A presence "someone" shows (their phone going online or offline, typing…, recording…), as
/// WhatsApp's server sends it to the linked devices that subscribed to it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IncomingPresence {
    /// The person: `<n>@c.us` or `<n>@lid`.
    pub from: String,
    /// `available` (online), `unavailable` (offline: last seen now), `composing` (typing…),
    /// `recording` (recording audio…) or `paused` (stopped typing).
    pub state: String,
    /// A group where they type or record (`<id>@g.us`); None: their own chat with the device.
    #[serde(default)]
    pub chat: Option<String>,
}

/// A "typing…" (or paused/recording) a linked device showed in a chat.
#[derive(Debug, Clone, Serialize)]
pub struct ChatStateRecord {
    pub phone: String,
    pub chat: String,
    pub state: String,
    /// Unix milliseconds.
    pub at_ms: u64,
}

/// How many of its own recent messages a reloaded page finds in its store.
const RECENT_OWN_MESSAGES: usize = 200;

/// What a linked device sent, as WhatsApp's servers received it.
#[derive(Debug, Clone, Serialize)]
pub struct SentRecord {
    pub id: String,
    pub phone: String,
    pub chat: String,
    pub msg_type: String,
    pub body: Option<String>,
    pub caption: Option<String>,
    pub mimetype: Option<String>,
    pub filename: Option<String>,
    pub size: Option<u64>,
    /// Hex SHA-256 of the uploaded bytes.
    pub sha256: Option<String>,
    pub t: i64,
    pub ack: i8,
    /// The chat as a phone id (`<n>@c.us`) when it was addressed by LID and the mapping is known.
    pub chat_phone: Option<String>,
    /// A reply: the key id (stanza id) of the message it quotes, and that message's author.
    pub quoted_stanza_id: Option<String>,
    pub quoted_participant: Option<String>,
    /// A reaction: the id of the message reacted to (the emoji is `body`).
    pub reaction_to: Option<String>,
    /// An edit (the new text is `body`) or a delete for everyone: the id of the message changed.
    pub target: Option<String>,
    /// A location: degrees and WhatsApp's `loc` text.
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub loc: Option<String>,
    /// Contact cards: the vCard text of each.
    pub vcards: Option<Vec<String>>,
    /// The user ids a text or a caption mentions (`mentionedJidList`).
    pub mentions: Option<Vec<String>>,
    /// A poll (`poll_creation`): `pollName`, the options' names by `localId`, and
    /// `pollSelectableOptionsCount`.
    pub poll: Option<SentPoll>,
    /// A forward: shown as forwarded (`isForwarded`), and how many times WhatsApp counts it
    /// forwarded (`forwardingScore`, 127 for "many times"); false and 0 for other messages.
    pub is_forwarded: bool,
    pub forwarding_score: u32,
}

/// A poll as a linked device sent it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SentPoll {
    pub name: String,
    pub options: Vec<String>,
    /// 0: any number of options; 1: one.
    pub selectable_count: u32,
}

struct Page {
    era: Era,
    device_id: String,
    state: String,
    qr: Option<String>,
    pairing: Option<(String, String)>,
    queue: Vec<Value>,
    notify: Arc<Notify>,
    last_seen: Instant,
    gone: bool,
}

struct Device {
    info: DeviceInfo,
    /// Messages for a device with no open page: delivered when it comes back.
    pending: Vec<Value>,
    /// The messages delivered to this device, newest last: what the real page keeps in its
    /// IndexedDB and finds again after a reload (at most `RECENT_OWN_MESSAGES`).
    received: Vec<Value>,
    /// The phone's chats with their whole history (oldest first), by chat id: what history sync
    /// and "load earlier messages" give the page.
    chats: Vec<StoredChat>,
    /// The phone's address book: contacts by id (`<n>@c.us` or `<n>@lid`).
    contacts: Vec<ContactSeed>,
}

/// A chat the phone has, with its history.
struct StoredChat {
    id: String,
    /// The chat's phone id (`<n>@c.us`) when it is keyed by LID and WhatsApp shares the mapping.
    pn: Option<String>,
    name: Option<String>,
    archived: bool,
    unread: u32,
    /// Page-shaped messages (`id` is the key id), oldest first.
    messages: Vec<Value>,
}

/// A chat on the phone for [`SimControl::seed_chat`]: what the account had before it was linked
/// (or got on another device), to be read through history sync and "load earlier messages".
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ChatSeed {
    /// `<n>@c.us`, `<n>@lid` or `<id>@g.us`. On a 2026-09 page a one-to-one chat given by phone is
    /// keyed by its LID, as WhatsApp Web keeps it.
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub archived: bool,
    /// How many of the newest messages are unread.
    #[serde(default)]
    pub unread: u32,
    /// Oldest first.
    #[serde(default)]
    pub messages: Vec<HistoryMessage>,
}

/// One message of a chat's history.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HistoryMessage {
    #[serde(default)]
    pub from_me: bool,
    pub body: String,
    /// Unix seconds.
    pub t: i64,
    /// The member who wrote, in groups.
    #[serde(default)]
    pub author: Option<String>,
}

/// A contact in the phone's address book, for [`SimControl::seed_contact`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ContactSeed {
    /// `<n>@c.us` or `<n>@lid`.
    pub id: String,
    /// The name saved in the address book.
    #[serde(default)]
    pub name: Option<String>,
    /// The name the person gave themselves.
    #[serde(default)]
    pub push_name: Option<String>,
    #[serde(default)]
    pub business: bool,
}

/// What WhatsApp's servers tell anyone about a user: the about text and the profile picture.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Profile {
    #[serde(default)]
    pub about: Option<String>,
    /// Whether the user has a profile picture (its URL is the simulator's).
    #[serde(default)]
    pub picture: bool,
}

/// Messages a page gets per chat at history sync; earlier ones come in batches when asked.
const SYNCED_PER_CHAT: usize = 5;

struct Upload {
    size: u64,
    sha256: String,
}

#[derive(Default)]
struct State {
    pages: HashMap<String, Page>,
    devices: HashMap<String, Device>,
    sent: Vec<SentRecord>,
    chat_states: Vec<ChatStateRecord>,
    uploads: HashMap<String, Upload>,
    incoming_media: HashMap<String, Vec<u8>>,
    codes: HashMap<String, String>,
    missing_numbers: HashSet<String>,
    send_latency: Duration,
    fail_sends: Option<String>,
    manual_acks: bool,
    removed_modules: Vec<String>,
    renamed_modules: Vec<(String, String)>,
    unmapped_modules: Vec<String>,
    next_phone: u64,
    era: Era,
    /// Linking asks for a passkey first (2026-09 pages), with this reason.
    passkey_required: Option<String>,
    /// Links waiting for the passkey, by page.
    passkey_pending: HashMap<String, DeviceInfo>,
    /// Phones whose pages are wedged: CONNECTED, but no round trip completes.
    wedged: HashSet<String>,
    /// phone -> LID, one per phone number the simulated WhatsApp has seen.
    lids: HashMap<String, String>,
    /// Phones whose LID mapping WhatsApp does not share with the page.
    hidden_lid_phones: HashSet<String>,
    /// User id (`<n>@c.us`) -> what the server tells about them.
    profiles: HashMap<String, Profile>,
    /// Groups WhatsApp's servers hold, by id.
    groups: HashMap<String, GroupInfo>,
    /// Phones whose privacy settings refuse being added to groups (an invite is needed).
    group_add_refused: HashSet<String>,
    /// (device phone, blocked user's phone id) pairs, as the server keeps the blocklist.
    blocked: HashSet<(String, String)>,
    /// Calls placed to linked accounts, oldest first.
    calls: Vec<CallRecord>,
    /// Chats (as each page keys them) whose presence a page subscribed to, by page: the server
    /// sends presence only to subscribers, and a new page subscribes anew.
    presence_subs: HashMap<String, HashSet<String>>,
    /// The last online state of each person (phone digits): the page's chat state type
    /// (`available` / `unavailable`) and, when offline, since when (unix seconds).
    presences: HashMap<String, (String, i64)>,
}

/// A group as WhatsApp's servers hold it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GroupInfo {
    pub id: String,
    pub subject: String,
    pub description: Option<String>,
    /// The creator's phone id.
    pub owner: String,
    /// Phone ids (`<n>@c.us`) and whether each is an admin.
    pub participants: Vec<(String, bool)>,
    /// Only admins send messages.
    pub announce: bool,
    /// Only admins edit the group's info.
    pub restrict: bool,
    pub invite_code: String,
    /// The group's picture and its thumbnail as the page sent them (`data:image/jpeg;base64,…`);
    /// None: no picture.
    #[serde(default)]
    pub picture: Option<String>,
    #[serde(default)]
    pub picture_thumb: Option<String>,
}

/// The clonable handle on a running simulator: all operations are async and shared with the
/// HTTP control API.
#[derive(Clone)]
pub struct SimControl {
    pub(crate) cfg: Arc<SimConfig>,
    state: Arc<Mutex<State>>,
    /// Rung when a page is unwedged.
    unwedged: Arc<Notify>,
}

/// What the page config needs from the control state, for the next page load.
pub(crate) struct PageSetup {
    pub era: Era,
    pub removed: Vec<String>,
    pub renamed: Vec<(String, String)>,
    pub unmapped: Vec<String>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

fn hex_id(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rng().fill(&mut b[..]);
    hex::encode_upper(b)
}

impl SimControl {
    pub(crate) fn new(cfg: SimConfig) -> Self {
        let state = State {
            manual_acks: !cfg.auto_acks,
            next_phone: 15_550_100_000,
            era: cfg.era,
            ..State::default()
        };
        SimControl {
            cfg: Arc::new(cfg),
            state: Arc::new(Mutex::new(state)),
            unwedged: Arc::new(Notify::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(st: &mut State, page_id: &str, cmd: Value) -> bool {
        match st.pages.get_mut(page_id).filter(|p| !p.gone) {
            Some(p) => {
                p.queue.push(cmd);
                p.notify.notify_one();
                true
            }
            None => false,
        }
    }

    /// The newest open page of a device.
    fn page_of(st: &State, device_id: &str) -> Option<String> {
        st.pages
            .iter()
            .filter(|(_, p)| p.device_id == device_id && !p.gone)
            .max_by_key(|(_, p)| p.last_seen)
            .map(|(id, _)| id.clone())
    }

    fn device_by_phone<'a>(st: &'a State, phone: &str) -> Option<&'a Device> {
        let phone = phone.trim_start_matches('+');
        st.devices.values().find(|d| d.info.phone == phone)
    }

    /// Sends to a device's page, or keeps it for when the device comes back.
    fn remember_received(st: &mut State, device_id: &str, message: &Value) {
        if let Some(d) = st.devices.get_mut(device_id) {
            d.received.push(message.clone());
            let over = d.received.len().saturating_sub(RECENT_OWN_MESSAGES);
            d.received.drain(..over);
        }
    }

    fn to_device(st: &mut State, device_id: &str, cmd: Value) {
        match Self::page_of(st, device_id) {
            Some(page) => {
                Self::push(st, &page, cmd);
            }
            None => {
                if let Some(d) = st.devices.get_mut(device_id) {
                    d.pending.push(cmd);
                }
            }
        }
    }

    /// The LID the simulated WhatsApp gives a phone number (stable for the simulator's life).
    fn lid_of(st: &mut State, phone: &str) -> String {
        if let Some(l) = st.lids.get(phone) {
            return l.clone();
        }
        let lid: String = {
            let mut rng = rand::rng();
            (0..15)
                .map(|i| {
                    char::from(
                        b'0' + if i == 0 {
                            rng.random_range(1..10)
                        } else {
                            rng.random_range(0..10)
                        },
                    )
                })
                .collect()
        };
        st.lids.insert(phone.to_string(), lid.clone());
        lid
    }

    fn phone_of_lid(st: &State, lid: &str) -> Option<String> {
        st.lids.iter().find(|(_, l)| *l == lid).map(|(p, _)| p.clone())
    }

    /// `<n>@c.us` for a `<lid>@lid` (or a `@c.us` itself) when the mapping may be shared.
    fn shared_pn(st: &State, id: &str) -> Option<String> {
        let (user, server) = id.split_once('@')?;
        let phone = match server {
            "c.us" => user.to_string(),
            "lid" => Self::phone_of_lid(st, user)?,
            _ => return None,
        };
        (!st.hidden_lid_phones.contains(&phone)).then(|| format!("{phone}@c.us"))
    }

    /// The era of a device's newest page (the configured era when it has none open).
    fn device_era(st: &State, device_id: &str) -> Era {
        Self::page_of(st, device_id)
            .and_then(|p| st.pages.get(&p).map(|p| p.era))
            .unwrap_or(st.era)
    }

    fn page_wedged(st: &State, page_id: &str) -> bool {
        !st.wedged.is_empty()
            && st
                .pages
                .get(page_id)
                .and_then(|p| st.devices.get(&p.device_id))
                .is_some_and(|d| st.wedged.contains(&d.info.phone))
    }

    /// A wedged page's round trips never complete: they wait here until the page is unwedged.
    pub(crate) async fn wait_unwedged(&self, page_id: &str) {
        loop {
            let notified = self.unwedged.notified();
            if !Self::page_wedged(&self.lock(), page_id) {
                return;
            }
            let _ = tokio::time::timeout(Duration::from_millis(500), notified).await;
        }
    }

    pub(crate) fn page_setup(&self) -> PageSetup {
        let st = self.lock();
        PageSetup {
            era: st.era,
            removed: st.removed_modules.clone(),
            renamed: st.renamed_modules.clone(),
            unmapped: st.unmapped_modules.clone(),
        }
    }

    // --- page side --------------------------------------------------------------------------------

    pub(crate) fn hello(&self, device_id: &str, page: Option<&str>, era: Era) -> Value {
        let mut st = self.lock();
        let page_id = match page {
            Some(p) if st.pages.contains_key(p) => {
                if let Some(pg) = st.pages.get_mut(p) {
                    pg.device_id = device_id.to_string();
                    pg.era = era;
                }
                p.to_string()
            }
            _ => {
                let id = uuid_like();
                st.pages.insert(
                    id.clone(),
                    Page {
                        era,
                        device_id: device_id.to_string(),
                        state: "OPENING".into(),
                        qr: None,
                        pairing: None,
                        queue: Vec::new(),
                        notify: Arc::new(Notify::new()),
                        last_seen: Instant::now(),
                        gone: false,
                    },
                );
                id
            }
        };
        // WhatsApp keeps one connection per linked device: a new document replaces the older
        // ones (a reload, or the same profile opened elsewhere). Their polls may still be in
        // flight, so they are marked gone rather than trusted by when they were last seen. What
        // the server had for the device and they had not read yet goes to the new page, as new;
        // what was for that connection only (its pairing, states, presence) does not.
        const DEVICE_KINDS: [&str; 7] = [
            "incoming",
            "ack",
            "reaction",
            "poll_vote",
            "edit",
            "revoke",
            "group_notification",
        ];
        let mut unread = Vec::new();
        for (id, p) in st.pages.iter_mut() {
            if *id != page_id && p.device_id == device_id && !p.gone {
                p.gone = true;
                unread.extend(
                    std::mem::take(&mut p.queue)
                        .into_iter()
                        .filter(|c| c["type"].as_str().is_some_and(|k| DEVICE_KINDS.contains(&k))),
                );
            }
        }
        // Pages not seen for a while were closed.
        st.pages.retain(|_, p| p.last_seen.elapsed() < Duration::from_secs(120));
        let pending = st
            .devices
            .get_mut(device_id)
            .map(|d| std::mem::take(&mut d.pending))
            .unwrap_or_default();
        // What the new page finds in its store: what earlier pages received, not what waits (an
        // unread message was kept when it was pushed, and comes again as new).
        let unread_ids: Vec<(&Value, &Value)> = unread
            .iter()
            .filter(|c| c["type"] == "incoming")
            .map(|c| (&c["message"]["remote"], &c["message"]["id"]))
            .collect();
        let received: Vec<Value> = st
            .devices
            .get(device_id)
            .map(|d| {
                d.received
                    .iter()
                    .filter(|m| !unread_ids.contains(&(&m["remote"], &m["id"])))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        for cmd in unread {
            Self::push(&mut st, &page_id, cmd);
        }
        for cmd in pending {
            if cmd["type"] == "incoming" {
                Self::remember_received(&mut st, device_id, &cmd["message"]);
            }
            Self::push(&mut st, &page_id, cmd);
        }
        match st.devices.get(device_id) {
            Some(d) => {
                let info = d.info.clone();
                if let Some(p) = st.pages.get_mut(&page_id) {
                    p.state = "CONNECTED".into();
                }
                // The real page keeps its messages in IndexedDB and has them again after a reload;
                // this page keeps none, so the server hands back the device's recent own messages.
                let recent: Vec<Value> = st
                    .sent
                    .iter()
                    .filter(|r| r.phone == info.phone)
                    .rev()
                    .take(RECENT_OWN_MESSAGES)
                    .map(|r| json!({ "id": r.id, "chat": r.chat, "type": r.msg_type, "body": r.body, "t": r.t, "ack": r.ack, "poll": r.poll }))
                    .collect();
                let (chats, contacts) = Self::synced(&st, device_id);
                json!({ "page": page_id, "linked": true, "phone": info.phone, "lid": info.lid, "pushname": info.push_name, "recent": recent, "received": received, "chats": chats, "contacts": contacts })
            }
            None => json!({ "page": page_id, "linked": false }),
        }
    }

    /// The page's queue, waiting up to `wait` for something. None: the page is unknown.
    pub(crate) async fn poll(&self, page_id: &str, wait: Duration) -> Option<Vec<Value>> {
        if Self::page_wedged(&self.lock(), page_id) {
            // Nothing reaches a wedged page; it is not forgotten either.
            let _ = tokio::time::timeout(wait, self.wait_unwedged(page_id)).await;
            let mut st = self.lock();
            st.pages.get_mut(page_id)?.last_seen = Instant::now();
            return Some(Vec::new());
        }
        let notify = {
            let mut st = self.lock();
            let p = st.pages.get_mut(page_id)?;
            p.last_seen = Instant::now();
            if !p.queue.is_empty() {
                return Some(std::mem::take(&mut p.queue));
            }
            p.notify.clone()
        };
        let _ = tokio::time::timeout(wait, notify.notified()).await;
        let mut st = self.lock();
        let wedged = Self::page_wedged(&st, page_id);
        let p = st.pages.get_mut(page_id)?;
        p.last_seen = Instant::now();
        if wedged {
            return Some(Vec::new());
        }
        Some(std::mem::take(&mut p.queue))
    }

    pub(crate) fn report_qr(&self, page_id: &str, payload: Option<String>) {
        let mut st = self.lock();
        if let Some(p) = st.pages.get_mut(page_id) {
            p.state = if payload.is_some() { "UNPAIRED" } else { "UNPAIRED_IDLE" }.into();
            p.qr = payload;
            p.last_seen = Instant::now();
        }
    }

    pub(crate) fn new_pairing_code(&self, page_id: &str, phone: &str) -> Result<String, SimError> {
        let phone: String = phone.chars().filter(char::is_ascii_digit).collect();
        if !(7..=15).contains(&phone.len()) {
            return Err(SimError::Invalid("the phone number must have 7 to 15 digits".into()));
        }
        const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTVWXYZ23456789";
        let mut rng = rand::rng();
        let code: String = (0..8)
            .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
            .collect();
        let mut st = self.lock();
        let p = st
            .pages
            .get_mut(page_id)
            .ok_or(SimError::Invalid("unknown page".into()))?;
        p.pairing = Some((code.clone(), phone));
        st.codes.insert(code.clone(), page_id.to_string());
        Ok(code)
    }

    /// The exists query: whether the number is on WhatsApp and, for a 2026-09 page, the other
    /// half of its LID <-> phone pair (unless WhatsApp withholds it).
    pub(crate) fn exists(&self, page_id: &str, user: &str, server: &str) -> Value {
        let mut st = self.lock();
        let sep = st.pages.get(page_id).is_some_and(|p| p.era == Era::Sep2026);
        if server == "lid" {
            let pn = Self::shared_pn(&st, &format!("{user}@lid"));
            let exists = Self::phone_of_lid(&st, user).is_none_or(|p| !st.missing_numbers.contains(&p));
            return json!({ "exists": exists, "pn": if sep { pn } else { None } });
        }
        let exists = !st.missing_numbers.contains(user);
        let lid = (sep && exists && !st.hidden_lid_phones.contains(user))
            .then(|| format!("{}@lid", Self::lid_of(&mut st, user)));
        json!({ "exists": exists, "lid": lid })
    }

    pub(crate) fn store_upload(&self, bytes: &[u8]) -> Value {
        let id = hex_id(16);
        let sha = hex::encode(Sha256::digest(bytes));
        self.lock().uploads.insert(
            id.clone(),
            Upload {
                size: bytes.len() as u64,
                sha256: sha.clone(),
            },
        );
        json!({ "directPath": format!("/v/t62.sim/{id}"), "mediaKey": hex_id(16), "encFilehash": sha })
    }

    pub(crate) fn media_bytes(&self, direct_path: &str) -> Option<Vec<u8>> {
        let id = direct_path.rsplit('/').next()?;
        self.lock().incoming_media.get(id).cloned()
    }

    /// A page sends a message: latency, injected failure, then the record and the acks.
    pub(crate) async fn record_send(&self, page_id: &str, m: &Value) -> Result<(), String> {
        let (latency, failure) = {
            let st = self.lock();
            (st.send_latency, st.fail_sends.clone())
        };
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        if let Some(error) = failure {
            return Err(error);
        }
        let s = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
        let id = s("id").ok_or("the message has no id")?;
        let mut st = self.lock();
        let phone = Self::linked_phone(&st, page_id)?;
        // WhatsApp's servers key a message by its id: a resend of the same id is the same message.
        if st.sent.iter().any(|r| r.id == id && r.phone == phone) {
            return Ok(());
        }
        let chat = s("chat").unwrap_or_default();
        let chat_phone = Self::shared_pn(&st, &chat);
        let upload = s("directPath")
            .and_then(|p| p.rsplit('/').next().map(str::to_string))
            .and_then(|uid| st.uploads.get(&uid).map(|u| (u.size, u.sha256.clone())));
        st.sent.push(SentRecord {
            id: id.clone(),
            phone,
            chat,
            chat_phone,
            msg_type: s("type").unwrap_or_else(|| "chat".into()),
            body: s("body"),
            caption: s("caption"),
            mimetype: s("mimetype"),
            filename: s("filename"),
            size: upload.as_ref().map(|u| u.0),
            sha256: upload.map(|u| u.1),
            t: m.get("t").and_then(Value::as_i64).unwrap_or(now_secs() as i64),
            ack: 1,
            quoted_stanza_id: s("quotedStanzaID"),
            quoted_participant: s("quotedParticipant"),
            reaction_to: s("reactionTo"),
            target: s("target"),
            latitude: m.get("lat").and_then(Value::as_f64),
            longitude: m.get("lng").and_then(Value::as_f64),
            loc: s("loc"),
            vcards: m.get("vcards").and_then(|v| serde_json::from_value(v.clone()).ok()),
            mentions: m.get("mentions").and_then(|v| serde_json::from_value(v.clone()).ok()),
            poll: m.get("poll").and_then(|v| serde_json::from_value(v.clone()).ok()),
            is_forwarded: m.get("isForwarded").and_then(Value::as_bool).unwrap_or(false),
            forwarding_score: m.get("forwardingScore").and_then(Value::as_u64).unwrap_or(0) as u32,
        });
        // Reactions, edits and deletes are not messages with acks of their own.
        if matches!(
            m.get("type").and_then(Value::as_str),
            Some("reaction" | "edit" | "revoke")
        ) {
            return Ok(());
        }
        let manual = st.manual_acks;
        drop(st);
        if !manual {
            let me = self.clone();
            tokio::spawn(async move {
                for ack in [2, 3] {
                    tokio::time::sleep(Duration::from_millis(150)).await;
                    let _ = me.set_ack(&id, ack).await;
                }
            });
        }
        Ok(())
    }

    pub(crate) fn remember_logout(&self, page_id: &str) {
        let mut st = self.lock();
        if let Some(device) = st.pages.get(page_id).map(|p| p.device_id.clone()) {
            st.devices.remove(&device);
        }
    }

    // --- the phone and the servers (the control API) ----------------------------------------------

    pub async fn pages(&self) -> Vec<PageInfo> {
        let st = self.lock();
        let mut pages: Vec<PageInfo> = st
            .pages
            .iter()
            .filter(|(_, p)| !p.gone)
            .map(|(id, p)| PageInfo {
                page_id: id.clone(),
                device_id: p.device_id.clone(),
                state: p.state.clone(),
                qr: p.qr.clone(),
                phone: st.devices.get(&p.device_id).map(|d| d.info.phone.clone()),
                pairing_code: p.pairing.as_ref().map(|(c, _)| c.clone()),
                last_seen_ms_ago: p.last_seen.elapsed().as_millis() as u64,
                era: p.era,
                passkey_pending_for: st.passkey_pending.get(id).map(|i| i.phone.clone()),
            })
            .collect();
        pages.sort_by_key(|p| p.last_seen_ms_ago);
        pages
    }

    pub async fn devices(&self) -> Vec<DeviceInfo> {
        let st = self.lock();
        st.devices
            .values()
            .map(|d| {
                let mut info = d.info.clone();
                info.online = Self::page_of(&st, &d.info.device_id).is_some();
                info
            })
            .collect()
    }

    fn link_page(&self, st: &mut State, page_id: &str, phone: Option<&str>) -> Result<DeviceInfo, SimError> {
        let phone = match phone {
            Some(p) => {
                let digits: String = p.chars().filter(char::is_ascii_digit).collect();
                if !(7..=15).contains(&digits.len()) {
                    return Err(SimError::Invalid("the phone number must have 7 to 15 digits".into()));
                }
                digits
            }
            None => {
                st.next_phone += 1;
                st.next_phone.to_string()
            }
        };
        if Self::device_by_phone(st, &phone).is_some() {
            // One phone, one linked device here: the newest link replaces the older one.
            let old: Vec<String> = st
                .devices
                .values()
                .filter(|d| d.info.phone == phone)
                .map(|d| d.info.device_id.clone())
                .collect();
            for id in old {
                st.devices.remove(&id);
            }
        }
        let device_id = st
            .pages
            .get(page_id)
            .map(|p| p.device_id.clone())
            .ok_or(SimError::StaleQr)?;
        let lid = Self::lid_of(st, &phone);
        let info = DeviceInfo {
            device_id: device_id.clone(),
            phone: phone.clone(),
            lid: lid.clone(),
            push_name: format!("Sim {phone}"),
            linked_at: now_secs(),
            online: true,
        };
        let sep = st.pages.get(page_id).is_some_and(|p| p.era == Era::Sep2026);
        if let (true, Some(reason)) = (sep, st.passkey_required.clone()) {
            // 2026-09: the server asks for a passkey before the link completes (anchors §3.2).
            if let Some(p) = st.pages.get_mut(page_id) {
                p.qr = None;
                p.pairing = None;
                p.state = "PAIRING".into();
            }
            st.passkey_pending.insert(page_id.to_string(), info.clone());
            Self::push(
                st,
                page_id,
                json!({ "type": "passkey_prologue_request", "reason": reason, "challenge": hex_id(32) }),
            );
            return Ok(info);
        }
        Self::complete_link(st, page_id, info.clone());
        Ok(info)
    }

    fn complete_link(st: &mut State, page_id: &str, info: DeviceInfo) {
        let device_id = info.device_id.clone();
        let (phone, lid) = (info.phone.clone(), info.lid.clone());
        st.devices.insert(
            device_id,
            Device {
                received: Vec::new(),
                chats: Vec::new(),
                contacts: Vec::new(),
                info: info.clone(),
                pending: Vec::new(),
            },
        );
        if let Some(p) = st.pages.get_mut(page_id) {
            p.qr = None;
            p.pairing = None;
            p.state = "PAIRING".into();
        }
        Self::push(
            st,
            page_id,
            json!({ "type": "paired", "phone": phone, "lid": lid, "pushname": info.push_name }),
        );
    }

    /// Scans a QR code: the exact current payload of an open page, as the real server demands.
    pub async fn scan(&self, qr_payload: &str, phone: Option<&str>) -> Result<DeviceInfo, SimError> {
        let mut st = self.lock();
        let page_id = st
            .pages
            .iter()
            .find(|(_, p)| !p.gone && p.qr.as_deref() == Some(qr_payload))
            .map(|(id, _)| id.clone())
            .ok_or(SimError::StaleQr)?;
        self.link_page(&mut st, &page_id, phone)
    }

    /// Enters a pairing code on "the phone" whose number the page asked the code for.
    pub async fn enter_pairing_code(&self, code: &str) -> Result<DeviceInfo, SimError> {
        let code = code.trim().to_ascii_uppercase().replace('-', "");
        let mut st = self.lock();
        let page_id = st.codes.remove(&code).ok_or(SimError::UnknownCode)?;
        let phone = st
            .pages
            .get(&page_id)
            .and_then(|p| p.pairing.as_ref())
            .filter(|(c, _)| *c == code)
            .map(|(_, phone)| phone.clone())
            .ok_or(SimError::UnknownCode)?;
        self.link_page(&mut st, &page_id, Some(&phone))
    }

    /// Delivers a message to the device linked to `device_phone`; returns its serialized id.
    pub async fn deliver(&self, device_phone: &str, msg: IncomingMessage) -> Result<String, SimError> {
        let server_ok = ["@c.us", "@lid", "@g.us"].iter().any(|s| msg.from.ends_with(s));
        if !server_ok {
            return Err(SimError::Invalid("from must be a @c.us, @lid or @g.us id".into()));
        }
        if msg.from.ends_with("@g.us") && msg.author.is_none() {
            return Err(SimError::Invalid("a group message needs an author".into()));
        }
        let mut st = self.lock();
        let device_id = Self::device_by_phone(&st, device_phone)
            .map(|d| d.info.device_id.clone())
            .ok_or_else(|| SimError::UnknownDevice(device_phone.into()))?;
        let mut msg = msg;
        let (mut sender_pn, mut author_pn) = (None, None);
        if Self::device_era(&st, &device_id) == Era::Sep2026 {
            // 2026-09: LID-first. A sender given by phone arrives as its LID; the stanza's
            // sender_pn carries the phone when WhatsApp shares the mapping.
            let to_lid = |st: &mut State, id: &str| match id.strip_suffix("@c.us") {
                Some(phone) => format!("{}@lid", Self::lid_of(st, phone)),
                None => id.to_string(),
            };
            if msg.from.ends_with("@c.us") {
                sender_pn = Self::shared_pn(&st, &msg.from);
                msg.from = to_lid(&mut st, &msg.from);
            } else if msg.from.ends_with("@lid") {
                sender_pn = Self::shared_pn(&st, &msg.from);
            }
            if let Some(a) = msg.author.take() {
                author_pn = Self::shared_pn(&st, &a);
                msg.author = Some(to_lid(&mut st, &a));
            }
        }
        let id = hex_id(16);
        let mut serialized = format!("false_{}_{}", msg.from, id);
        if let Some(a) = &msg.author {
            serialized.push('_');
            serialized.push_str(a);
        }
        let media = msg.media.as_ref().map(|m| {
            let media_id = hex_id(16);
            st.incoming_media.insert(media_id.clone(), m.data.clone());
            json!({ "id": media_id, "mimetype": m.mimetype, "filename": m.filename, "size": m.data.len() })
        });
        let kind = match &msg.media {
            None if msg.location.is_some() => "location".to_string(),
            None if msg.vcards.as_ref().is_some_and(|v| v.len() > 1) => "multi_vcard".to_string(),
            None if msg.vcards.is_some() => "vcard".to_string(),
            None if msg.poll.is_some() => "poll_creation".to_string(),
            None => "chat".to_string(),
            Some(m) if m.mimetype.starts_with("image/") => "image".into(),
            Some(m) if m.mimetype.starts_with("video/") => "video".into(),
            Some(m) if m.mimetype.starts_with("audio/ogg") => "ptt".into(),
            Some(m) if m.mimetype.starts_with("audio/") => "audio".into(),
            Some(_) => "document".into(),
        };
        let message = json!({
            "id": id, "remote": msg.from, "author": msg.author, "type": kind, "body": msg.body,
            "caption": msg.caption, "t": now_secs(), "notifyName": msg.notify_name, "media": media,
            "senderPn": sender_pn, "authorPn": author_pn,
            "quoted": msg.quoted.as_deref().map(Self::quoted_of),
            "vcards": msg.vcards,
            "mentions": msg.mentions,
            "forwardingScore": msg.forwarding_score.filter(|n| *n > 0),
            "poll": msg.poll.as_ref().map(|p| json!({ "name": p.question, "options": p.options, "selectableCount": if p.multiple { 0 } else { 1 } })),
            "location": msg.location.as_ref().map(|l| json!({ "lat": l.latitude, "lng": l.longitude, "loc": l.description })),
        });
        // Kept in the device's store once a page received it (a pending one is delivered as new).
        if Self::page_of(&st, &device_id).is_some() {
            Self::remember_received(&mut st, &device_id, &message);
        }
        Self::to_device(&mut st, &device_id, json!({ "type": "incoming", "message": message }));
        Ok(serialized)
    }

    /// A text the account's own phone sends to `to` (`<n>@c.us`, `<n>@lid` or a group), not the
    /// linked page: WhatsApp relays it to every linked device as a message of ours
    /// (`true_<chat>_<ID>`, ack 1). Returns its id as the device knows it.
    pub async fn send_from_phone(&self, device_phone: &str, to: &str, body: &str) -> Result<String, SimError> {
        if !["@c.us", "@lid", "@g.us"].iter().any(|s| to.ends_with(s)) {
            return Err(SimError::Invalid("to must be a @c.us, @lid or @g.us id".into()));
        }
        let mut st = self.lock();
        let device =
            Self::device_by_phone(&st, device_phone).ok_or_else(|| SimError::UnknownDevice(device_phone.into()))?;
        let device_id = device.info.device_id.clone();
        let mut chat = to.to_string();
        let chat_pn = Self::shared_pn(&st, to);
        if Self::device_era(&st, &device_id) == Era::Sep2026
            && let Some(phone) = to.strip_suffix("@c.us")
        {
            // LID-first, as for messages from others.
            chat = format!("{}@lid", Self::lid_of(&mut st, phone));
        }
        let id = hex_id(16);
        let message = json!({
            "id": id, "remote": chat, "fromMe": true, "type": "chat", "body": body, "t": now_secs(),
            "senderPn": chat_pn,
        });
        if Self::page_of(&st, &device_id).is_some() {
            Self::remember_received(&mut st, &device_id, &message);
        }
        Self::to_device(&mut st, &device_id, json!({ "type": "incoming", "message": message }));
        Ok(format!("true_{chat}_{id}"))
    }

    /// Someone's stanza (a reaction, a vote) as a linked device sees it: the chat and the author
    /// (LID-first on 2026-09 pages), the sender's phone when WhatsApp shares it, a fresh id, and
    /// the key `false_<chat>_<ID>[_<author>]`.
    fn someones_key(
        st: &mut State,
        device_id: &str,
        from: &str,
        author: Option<String>,
    ) -> (String, Option<String>, Option<String>, String, String) {
        let (mut from, mut author, mut sender_pn) = (from.to_string(), author, None);
        if Self::device_era(st, device_id) == Era::Sep2026 {
            let to_lid = |st: &mut State, id: &str| match id.strip_suffix("@c.us") {
                Some(phone) => format!("{}@lid", Self::lid_of(st, phone)),
                None => id.to_string(),
            };
            sender_pn = Self::shared_pn(st, author.as_deref().unwrap_or(&from));
            from = to_lid(st, &from);
            author = author.map(|a| to_lid(st, &a));
        }
        let id = hex_id(16);
        let mut key = format!("false_{from}_{id}");
        if let Some(a) = &author {
            key.push('_');
            key.push_str(a);
        }
        (from, author, sender_pn, id, key)
    }

    /// A quoted message's context as the stanza carries it: its key id, whether the linked
    /// device sent it, and its author (the chat, or a group's participant) when not.
    fn quoted_of(id: &str) -> Value {
        let mut parts = id.splitn(4, '_');
        let from_me = parts.next() == Some("true");
        let chat = parts.next().unwrap_or_default();
        let stanza = parts.next().unwrap_or_default();
        let author = parts.next().unwrap_or(chat);
        json!({ "stanzaId": stanza, "fromMe": from_me, "participant": (!from_me).then_some(author) })
    }

    /// A reaction on a message of a linked device's chat (WhatsApp writes it to the page's
    /// reaction table); returns the reaction's own id.
    pub async fn deliver_reaction(&self, device_phone: &str, r: IncomingReaction) -> Result<String, SimError> {
        if !["@c.us", "@lid", "@g.us"].iter().any(|s| r.from.ends_with(s)) {
            return Err(SimError::Invalid("from must be a @c.us, @lid or @g.us id".into()));
        }
        if r.from.ends_with("@g.us") && r.author.is_none() {
            return Err(SimError::Invalid("a group reaction needs an author".into()));
        }
        let mut st = self.lock();
        let device_id = Self::device_by_phone(&st, device_phone)
            .map(|d| d.info.device_id.clone())
            .ok_or_else(|| SimError::UnknownDevice(device_phone.into()))?;
        let (from, author, sender_pn, _id, key) = Self::someones_key(&mut st, &device_id, &r.from, r.author.clone());
        let reaction = json!({
            "key": key, "remote": from, "sender": author.as_deref().unwrap_or(&from), "senderPn": sender_pn,
            "parent": r.msg_id, "emoji": r.emoji, "t": now_secs(),
        });
        Self::to_device(&mut st, &device_id, json!({ "type": "reaction", "reaction": reaction }));
        Ok(key)
    }

    /// A vote on a poll of a linked device's chat (WhatsApp writes it to the page's poll vote
    /// table, as the library's `vote_update` reads it); returns the vote's own id. The poll must
    /// be one the device sent or received; each option must be one of its options.
    pub async fn vote_poll(&self, device_phone: &str, v: IncomingVote) -> Result<String, SimError> {
        if !["@c.us", "@lid", "@g.us"].iter().any(|s| v.from.ends_with(s)) {
            return Err(SimError::Invalid("from must be a @c.us, @lid or @g.us id".into()));
        }
        if v.from.ends_with("@g.us") && v.author.is_none() {
            return Err(SimError::Invalid("a group vote needs an author".into()));
        }
        let mut st = self.lock();
        let device =
            Self::device_by_phone(&st, device_phone).ok_or_else(|| SimError::UnknownDevice(device_phone.into()))?;
        let device_id = device.info.device_id.clone();
        let sent = st
            .sent
            .iter()
            .find(|r| r.id == v.poll_id && r.phone == device.info.phone)
            .and_then(|r| r.poll.as_ref().map(|p| (p.options.clone(), p.selectable_count)));
        let received = || {
            device.received.iter().find_map(|m| {
                let mut id = format!("false_{}_{}", m["remote"].as_str()?, m["id"].as_str()?);
                if let Some(a) = m["author"].as_str() {
                    id = format!("{id}_{a}");
                }
                let p = m.get("poll").filter(|p| !p.is_null())?;
                let options: Vec<String> = serde_json::from_value(p["options"].clone()).ok()?;
                (id == v.poll_id).then(|| (options, p["selectableCount"].as_u64().unwrap_or(0) as u32))
            })
        };
        let (options, selectable) = sent
            .or_else(received)
            .ok_or_else(|| SimError::Invalid(format!("no poll {} on this device", v.poll_id)))?;
        let mut local_ids = Vec::new();
        for o in &v.options {
            let i = options
                .iter()
                .position(|x| x == o)
                .ok_or_else(|| SimError::Invalid(format!("{o:?} is not an option of the poll")))?;
            if !local_ids.contains(&i) {
                local_ids.push(i);
            }
        }
        if selectable == 1 && local_ids.len() > 1 {
            return Err(SimError::Invalid("this poll takes one option".into()));
        }
        let (from, author, sender_pn, id, key) = Self::someones_key(&mut st, &device_id, &v.from, v.author.clone());
        let vote = json!({
            "id": id, "key": key, "remote": from, "author": author, "senderPn": sender_pn,
            "parent": v.poll_id, "selected": local_ids, "t": now_secs(),
        });
        Self::to_device(&mut st, &device_id, json!({ "type": "poll_vote", "vote": vote }));
        Ok(key)
    }

    /// The message `msg_id` (as the linked device knows it) was edited to `body` by its sender
    /// (someone else, or the account on its phone).
    /// A received message's copy in the device's store has the edit too (its text, or a media
    /// message's caption; `edited`, unix ms), as the real page's IndexedDB has it after a reload,
    /// and a page that was closed gets the edit when it comes back.
    pub async fn edit_message(&self, device_phone: &str, msg_id: &str, body: &str) -> Result<(), SimError> {
        let t_ms = now_secs() * 1000;
        self.change_stored(device_phone, msg_id, |m| {
            if m["type"] != "revoked" {
                let field = if m.get("media").is_some_and(|v| !v.is_null()) {
                    "caption"
                } else {
                    "body"
                };
                m[field] = json!(body);
                m["edited"] = json!(t_ms);
            }
        })?;
        self.to_linked(
            device_phone,
            json!({ "type": "edit", "id": msg_id, "body": body, "t": t_ms }),
        )
    }

    /// The message `msg_id` (as the linked device knows it) was deleted for everyone by its sender.
    /// A received message's copy in the device's store is deleted too: a `revoked` message with
    /// no content left.
    pub async fn revoke_message(&self, device_phone: &str, msg_id: &str) -> Result<(), SimError> {
        self.change_stored(device_phone, msg_id, |m| {
            if let Some(o) = m.as_object_mut() {
                for content in ["media", "caption", "poll", "location", "vcards", "quoted", "edited"] {
                    o.remove(content);
                }
            }
            m["type"] = json!("revoked");
            m["body"] = json!("");
        })?;
        self.to_linked(device_phone, json!({ "type": "revoke", "id": msg_id }))
    }

    /// Changes the device's stored copy of a received message (`msg_id` serialised as the page
    /// keys it: `<fromMe>_<chat>_<id>[_<author>]`), when it has one.
    fn change_stored(&self, device_phone: &str, msg_id: &str, change: impl FnOnce(&mut Value)) -> Result<(), SimError> {
        let mut st = self.lock();
        let device_id = Self::device_by_phone(&st, device_phone)
            .map(|d| d.info.device_id.clone())
            .ok_or_else(|| SimError::UnknownDevice(device_phone.into()))?;
        let stored = st.devices.get_mut(&device_id).and_then(|d| {
            d.received.iter_mut().find(|m| {
                let (Some(chat), Some(id)) = (m["remote"].as_str(), m["id"].as_str()) else {
                    return false;
                };
                let key = format!("{}_{chat}_{id}", m["fromMe"].as_bool().unwrap_or(false));
                msg_id == key || msg_id.strip_prefix(&key).is_some_and(|rest| rest.starts_with('_'))
            })
        });
        if let Some(m) = stored {
            change(m);
        }
        Ok(())
    }

    fn to_linked(&self, device_phone: &str, cmd: Value) -> Result<(), SimError> {
        let mut st = self.lock();
        let device_id = Self::device_by_phone(&st, device_phone)
            .map(|d| d.info.device_id.clone())
            .ok_or_else(|| SimError::UnknownDevice(device_phone.into()))?;
        Self::to_device(&mut st, &device_id, cmd);
        Ok(())
    }

    /// A page subscribes to a chat's presence (`WAWebContactPresenceBridge`); the answer is the
    /// person's last known online state (`{type, t}`), as the server sends it on a subscription.
    pub(crate) fn subscribe_presence(&self, page_id: &str, chat: &str) -> Result<Value, String> {
        let mut st = self.lock();
        Self::linked_phone(&st, page_id)?;
        st.presence_subs
            .entry(page_id.to_string())
            .or_default()
            .insert(chat.to_string());
        let phone = match chat.split_once('@') {
            Some((user, "c.us")) => Some(user.to_string()),
            Some((lid, "lid")) => Self::phone_of_lid(&st, lid),
            _ => None,
        };
        let known = phone.and_then(|p| st.presences.get(&p).cloned());
        Ok(match known {
            Some((kind, t)) => json!({ "type": kind, "t": t }),
            None => Value::Null,
        })
    }

    /// Someone's presence reaches the device linked to `device_phone` when its page subscribed to
    /// the chat (the person's own, or the group named): their phone going online (`available`)
    /// or offline (`unavailable`, last seen now), typing (`composing`), recording (`recording`) or
    /// stopping (`paused`). On 2026-09 pages the person is their LID (with the phone mapping).
    /// True when a subscribed page was told.
    pub async fn set_presence(&self, device_phone: &str, p: IncomingPresence) -> Result<bool, SimError> {
        let Some(phone) = p.from.strip_suffix("@c.us").map(str::to_string).or_else(|| {
            let st = self.lock();
            p.from.strip_suffix("@lid").and_then(|l| Self::phone_of_lid(&st, l))
        }) else {
            return Err(SimError::Invalid("from must be a @c.us id or a known @lid".into()));
        };
        // WhatsApp's chat state types (WAWebChangePresenceHandlerAction).
        let kind = match p.state.as_str() {
            "available" => "available",
            "unavailable" => "unavailable",
            "composing" => "typing",
            "recording" => "recording_audio",
            "paused" => "idle",
            other => {
                return Err(SimError::Invalid(format!(
                    "state {other:?}: available, unavailable, composing, recording or paused"
                )));
            }
        };
        if p.chat.as_deref().is_some_and(|c| !c.ends_with("@g.us")) {
            return Err(SimError::Invalid("chat must be a group (@g.us)".into()));
        }
        let t = now_secs() as i64;
        let mut st = self.lock();
        if matches!(kind, "available" | "unavailable") {
            st.presences.insert(phone.clone(), (kind.to_string(), t));
        }
        let device_id = Self::device_by_phone(&st, device_phone)
            .map(|d| d.info.device_id.clone())
            .ok_or_else(|| SimError::UnknownDevice(device_phone.into()))?;
        let Some(page) = Self::page_of(&st, &device_id) else {
            return Ok(false);
        };
        let user = match Self::device_era(&st, &device_id) {
            Era::Sep2026 => format!("{}@lid", Self::lid_of(&mut st, &phone)),
            Era::Jan2026 => format!("{phone}@c.us"),
        };
        let chat = p.chat.clone().unwrap_or_else(|| user.clone());
        let subscribed = st.presence_subs.get(&page).is_some_and(|s| s.contains(&chat));
        if !subscribed {
            return Ok(false);
        }
        let sender_pn = Self::shared_pn(&st, &user);
        let presence = json!({
            "id": chat, "participant": p.chat.is_some().then_some(&user), "type": kind, "t": t,
            "user": user, "senderPn": sender_pn,
        });
        Ok(Self::push(
            &mut st,
            &page,
            json!({ "type": "presence", "presence": presence }),
        ))
    }

    /// The phone number of the device a page is linked as.
    fn linked_phone(st: &State, page_id: &str) -> Result<String, String> {
        let device_id = st
            .pages
            .get(page_id)
            .map(|p| p.device_id.clone())
            .ok_or("unknown page")?;
        st.devices
            .get(&device_id)
            .map(|d| d.info.phone.clone())
            .ok_or_else(|| "the device is not linked".to_string())
    }

    pub(crate) fn record_chat_state(&self, page_id: &str, chat: &str, state: &str) -> Result<(), String> {
        let mut st = self.lock();
        let phone = Self::linked_phone(&st, page_id)?;
        let at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        st.chat_states.push(ChatStateRecord {
            phone,
            chat: chat.into(),
            state: state.into(),
            at_ms,
        });
        Ok(())
    }

    /// The signals a linked device sent, oldest first: chat states (`composing`, `recording`,
    /// `paused`), read receipts (`seen`, per chat) and presence (`available`, `unavailable`,
    /// with an empty chat).
    pub async fn chat_states(&self, device_phone: &str) -> Vec<ChatStateRecord> {
        let phone = device_phone.trim_start_matches('+');
        self.lock()
            .chat_states
            .iter()
            .filter(|r| r.phone == phone)
            .cloned()
            .collect()
    }

    pub async fn sent(&self, device_phone: &str) -> Vec<SentRecord> {
        let phone = device_phone.trim_start_matches('+');
        self.lock().sent.iter().filter(|r| r.phone == phone).cloned().collect()
    }

    /// Moves a sent message's ack (−1 fails it).
    pub async fn set_ack(&self, msg_id: &str, ack: i8) -> Result<(), SimError> {
        if !(-1..=4).contains(&ack) {
            return Err(SimError::Invalid("ack is -1 to 4".into()));
        }
        let mut st = self.lock();
        let rec = st
            .sent
            .iter_mut()
            .find(|r| r.id == msg_id)
            .ok_or_else(|| SimError::UnknownMessage(msg_id.into()))?;
        rec.ack = ack;
        let phone = rec.phone.clone();
        let device_id = Self::device_by_phone(&st, &phone).map(|d| d.info.device_id.clone());
        if let Some(device_id) = device_id {
            Self::to_device(&mut st, &device_id, json!({ "type": "ack", "id": msg_id, "ack": ack }));
        }
        Ok(())
    }

    pub async fn set_auto_acks(&self, on: bool) {
        self.lock().manual_acks = !on;
    }

    pub async fn set_send_latency(&self, d: Duration) {
        self.lock().send_latency = d;
    }

    pub async fn fail_sends(&self, error: Option<String>) {
        self.lock().fail_sends = error;
    }

    /// "Linked devices → Log out" on the phone: the device is forgotten and its page logged out.
    pub async fn logout_from_phone(&self, device_phone: &str) -> Result<(), SimError> {
        let mut st = self.lock();
        let device_id = Self::device_by_phone(&st, device_phone)
            .map(|d| d.info.device_id.clone())
            .ok_or_else(|| SimError::UnknownDevice(device_phone.into()))?;
        st.devices.remove(&device_id);
        if let Some(page) = Self::page_of(&st, &device_id) {
            Self::push(&mut st, &page, json!({ "type": "logout" }));
        }
        Ok(())
    }

    /// Puts a linked device's page into a WhatsApp state: CONFLICT, UNPAIRED (unlinked after
    /// ready: the device is forgotten), TOS_BLOCK, TIMEOUT, DEPRECATED_VERSION, CONNECTED…
    pub async fn force_state(&self, device_phone: &str, state: &str) -> Result<(), SimError> {
        let mut st = self.lock();
        let device_id = Self::device_by_phone(&st, device_phone)
            .map(|d| d.info.device_id.clone())
            .ok_or_else(|| SimError::UnknownDevice(device_phone.into()))?;
        if state == "UNPAIRED" {
            st.devices.remove(&device_id);
        }
        if let Some(page) = Self::page_of(&st, &device_id) {
            Self::push(&mut st, &page, json!({ "type": "state", "state": state }));
        }
        Ok(())
    }

    /// Every number exists unless marked missing here.
    pub async fn set_number_exists(&self, number: &str, exists: bool) {
        let n: String = number.chars().filter(char::is_ascii_digit).collect();
        let mut st = self.lock();
        if exists {
            st.missing_numbers.remove(&n);
        } else {
            st.missing_numbers.insert(n);
        }
    }

    /// Takes effect on the next page load.
    pub async fn remove_module(&self, name: &str) {
        self.lock().removed_modules.push(name.to_string());
    }

    pub async fn rename_module(&self, from: &str, to: &str) {
        self.lock().renamed_modules.push((from.to_string(), to.to_string()));
    }

    pub async fn restore_modules(&self) {
        let mut st = self.lock();
        st.removed_modules.clear();
        st.renamed_modules.clear();
        st.unmapped_modules.clear();
    }

    /// Takes a lazy module out of the Bootloader's component map (the components whose bundle
    /// carries it are no longer known), for the next page load. `remove_module` also takes it
    /// out of its bundle.
    pub async fn unmap_lazy_module(&self, name: &str) {
        self.lock().unmapped_modules.push(name.to_string());
    }

    /// The era served from the next page load on.
    pub async fn set_era(&self, era: Era) {
        self.lock().era = era;
    }

    pub async fn era(&self) -> Era {
        self.lock().era
    }

    /// Linking of a 2026-09 page asks for a passkey first (`Some(reason)`), or not (`None`).
    pub async fn set_passkey_required(&self, reason: Option<String>) {
        self.lock().passkey_required = reason;
    }

    fn pending_passkey_page(st: &State, device_phone: &str) -> Result<String, SimError> {
        let phone = device_phone.trim_start_matches('+');
        st.passkey_pending
            .iter()
            .find(|(_, info)| info.phone == phone)
            .map(|(page, _)| page.clone())
            .ok_or_else(|| SimError::UnknownDevice(phone.into()))
    }

    /// The account owner confirmed with the passkey: the link waiting on it completes.
    pub async fn approve_passkey(&self, device_phone: &str) -> Result<DeviceInfo, SimError> {
        let mut st = self.lock();
        let page = Self::pending_passkey_page(&st, device_phone)?;
        let info = st.passkey_pending.remove(&page).ok_or(SimError::StaleQr)?;
        Self::push(&mut st, &page, json!({ "type": "passkey_result", "approved": true }));
        Self::complete_link(&mut st, &page, info.clone());
        Ok(info)
    }

    /// The passkey was refused (or cancelled): no link; the page offers a fresh QR.
    pub async fn deny_passkey(&self, device_phone: &str) -> Result<(), SimError> {
        let mut st = self.lock();
        let page = Self::pending_passkey_page(&st, device_phone)?;
        st.passkey_pending.remove(&page);
        Self::push(&mut st, &page, json!({ "type": "passkey_result", "approved": false }));
        Ok(())
    }

    /// Wedges (or frees) the page of the device linked to `device_phone`: it keeps reporting
    /// CONNECTED, but sends, uploads, downloads, exists queries and incoming deliveries hang.
    pub async fn set_wedged(&self, device_phone: &str, on: bool) -> Result<(), SimError> {
        let phone = device_phone.trim_start_matches('+').to_string();
        let mut st = self.lock();
        if Self::device_by_phone(&st, &phone).is_none() {
            return Err(SimError::UnknownDevice(phone));
        }
        if on {
            st.wedged.insert(phone);
        } else {
            st.wedged.remove(&phone);
            self.unwedged.notify_waiters();
        }
        Ok(())
    }

    /// The LID WhatsApp gives this phone number (`<digits>`, no server part).
    pub async fn lid_for(&self, phone: &str) -> String {
        let phone: String = phone.chars().filter(char::is_ascii_digit).collect();
        Self::lid_of(&mut self.lock(), &phone)
    }

    /// Whether WhatsApp shares this phone's LID mapping with pages (default: yes). Withheld, an
    /// incoming message carries no sender_pn and the exists query no LID.
    pub async fn set_lid_mapping_known(&self, phone: &str, known: bool) {
        let phone: String = phone.chars().filter(char::is_ascii_digit).collect();
        let mut st = self.lock();
        if known {
            st.hidden_lid_phones.remove(&phone);
        } else {
            st.hidden_lid_phones.insert(phone);
        }
    }
}

fn uuid_like() -> String {
    hex_id(12).to_ascii_lowercase()
}

// --- the phone's chats, contacts and profiles (history sync, "load earlier", contact info) ---------

impl SimControl {
    /// A chat as history sync hands it to a page: its newest messages, and whether there are more.
    fn chat_for_page(c: &StoredChat) -> Value {
        let from = c.messages.len().saturating_sub(SYNCED_PER_CHAT);
        json!({
            "id": c.id, "pn": c.pn, "name": c.name, "archived": c.archived, "unread": c.unread,
            "messages": c.messages[from..], "more": from > 0,
        })
    }

    /// What history sync gives a linked device's page: its chats and its address book.
    fn synced(st: &State, device_id: &str) -> (Vec<Value>, Vec<Value>) {
        let Some(d) = st.devices.get(device_id) else {
            return (Vec::new(), Vec::new());
        };
        let chats = d.chats.iter().map(Self::chat_for_page).collect();
        let contacts = d.contacts.iter().map(|c| json!(c)).collect();
        (chats, contacts)
    }

    /// A user id as a 2026-09 page sees it: by LID (a phone id is mapped), with the phone id
    /// alongside when WhatsApp shares it. Other eras and groups: as given.
    fn as_page_sees(st: &mut State, sep: bool, id: &str) -> (String, Option<String>) {
        if !sep {
            return (id.to_string(), None);
        }
        let lid_id = match id.strip_suffix("@c.us") {
            Some(phone) => format!("{}@lid", Self::lid_of(st, phone)),
            None => id.to_string(),
        };
        let pn = Self::shared_pn(st, &lid_id);
        (lid_id, pn)
    }

    /// Puts a chat with its history on the phone of `device_phone` (replacing one with the same
    /// id). An open page gets it at once, as the real page does through a history-sync chunk; a
    /// page opened later gets it at boot. Returns the messages' serialised ids, oldest first.
    pub async fn seed_chat(&self, device_phone: &str, seed: ChatSeed) -> Result<Vec<String>, SimError> {
        let group = seed.id.ends_with("@g.us");
        if !["@c.us", "@lid", "@g.us"].iter().any(|s| seed.id.ends_with(s)) {
            return Err(SimError::Invalid("id must be a @c.us, @lid or @g.us id".into()));
        }
        if group && seed.messages.iter().any(|m| !m.from_me && m.author.is_none()) {
            return Err(SimError::Invalid(
                "a group message from someone else needs an author".into(),
            ));
        }
        let mut st = self.lock();
        let device_id = Self::device_by_phone(&st, device_phone)
            .map(|d| d.info.device_id.clone())
            .ok_or_else(|| SimError::UnknownDevice(device_phone.into()))?;
        let sep = Self::device_era(&st, &device_id) == Era::Sep2026;
        let (id, pn) = if group {
            (seed.id.clone(), None)
        } else {
            Self::as_page_sees(&mut st, sep, &seed.id)
        };
        let mut ids = Vec::new();
        let mut messages = Vec::new();
        for m in &seed.messages {
            let key = hex_id(10);
            let author = match (&m.author, m.from_me) {
                (Some(a), false) => Some(Self::as_page_sees(&mut st, sep, a)),
                _ => None,
            };
            let mut serialized = format!("{}_{}_{}", m.from_me, id, key);
            if let Some((a, _)) = &author {
                serialized.push('_');
                serialized.push_str(a);
            }
            ids.push(serialized);
            messages.push(json!({
                "id": key, "fromMe": m.from_me, "body": m.body, "t": m.t,
                "author": author.as_ref().map(|a| a.0.clone()), "authorPn": author.and_then(|a| a.1),
            }));
        }
        let chat = StoredChat {
            id: id.clone(),
            pn,
            name: seed.name,
            archived: seed.archived,
            unread: seed.unread,
            messages,
        };
        let for_page = Self::chat_for_page(&chat);
        if let Some(d) = st.devices.get_mut(&device_id) {
            d.chats.retain(|c| c.id != id);
            d.chats.push(chat);
        }
        if let Some(page) = Self::page_of(&st, &device_id) {
            Self::push(&mut st, &page, json!({ "type": "chat", "chat": for_page }));
        }
        Ok(ids)
    }

    /// Puts a contact in the address book of the phone of `device_phone` (replacing one with the
    /// same id); an open page gets it at once.
    pub async fn seed_contact(&self, device_phone: &str, contact: ContactSeed) -> Result<(), SimError> {
        if !["@c.us", "@lid"].iter().any(|s| contact.id.ends_with(s)) {
            return Err(SimError::Invalid("id must be a @c.us or @lid id".into()));
        }
        let mut st = self.lock();
        let device_id = Self::device_by_phone(&st, device_phone)
            .map(|d| d.info.device_id.clone())
            .ok_or_else(|| SimError::UnknownDevice(device_phone.into()))?;
        if let Some(d) = st.devices.get_mut(&device_id) {
            d.contacts.retain(|c| c.id != contact.id);
            d.contacts.push(contact.clone());
        }
        if let Some(page) = Self::page_of(&st, &device_id) {
            Self::push(&mut st, &page, json!({ "type": "contact", "contact": contact }));
        }
        Ok(())
    }

    /// What WhatsApp's servers tell about the user with this phone number (digits).
    pub async fn set_profile(&self, phone: &str, profile: Profile) {
        let phone = phone.trim_start_matches('+');
        self.lock().profiles.insert(format!("{phone}@c.us"), profile);
    }

    /// A page asks for messages of `chat` older than the one with key id `before`: at most
    /// `count`, oldest first, and whether there are more before them.
    pub(crate) fn history(&self, page_id: &str, chat: &str, before: &str, count: usize) -> Result<Value, String> {
        let st = self.lock();
        let device_id = st
            .pages
            .get(page_id)
            .map(|p| p.device_id.clone())
            .ok_or("unknown page")?;
        let device = st.devices.get(&device_id).ok_or("the device is not linked")?;
        let Some(c) = device
            .chats
            .iter()
            .find(|c| c.id == chat || c.pn.as_deref() == Some(chat))
        else {
            return Ok(json!({ "messages": [], "more": false }));
        };
        let end = c
            .messages
            .iter()
            .position(|m| m["id"] == before)
            .unwrap_or(c.messages.len());
        let start = end.saturating_sub(count);
        Ok(json!({ "messages": c.messages[start..end], "more": start > 0 }))
    }

    /// A page asks about a user (`<n>@c.us` or `<n>@lid`): about text and picture URL, if any.
    pub(crate) fn profile(&self, id: &str) -> Value {
        let st = self.lock();
        if let Some(g) = st.groups.get(id) {
            let url = g.picture.as_ref().map(|_| {
                format!(
                    "https://pps.whatsapp.net/v/t61.sim/{}.jpg",
                    id.split('@').next().unwrap_or_default()
                )
            });
            return json!({ "about": null, "picture": url });
        }
        let pn = Self::shared_pn(&st, id).unwrap_or_else(|| id.to_string());
        match st.profiles.get(&pn) {
            Some(p) => json!({
                "about": p.about,
                "picture": p.picture.then(|| format!("https://pps.whatsapp.net/v/t61.sim/{}.jpg", pn.split('@').next().unwrap_or_default())),
            }),
            None => json!({ "about": null, "picture": null }),
        }
    }
}

// --- groups (WhatsApp's servers' side) -------------------------------------------------------------

impl SimControl {
    /// A group as WhatsApp's servers hold it.
    pub async fn group(&self, id: &str) -> Option<GroupInfo> {
        self.lock().groups.get(id).cloned()
    }

    /// Whether `phone`'s privacy settings let others add them to groups (refused: 403, an
    /// invite is needed).
    pub async fn set_group_add_allowed(&self, phone: &str, allowed: bool) {
        let phone = phone.trim_start_matches('+').to_string();
        let mut st = self.lock();
        if allowed {
            st.group_add_refused.remove(&phone);
        } else {
            st.group_add_refused.insert(phone);
        }
    }

    /// A user id as a phone id, when it is one or WhatsApp knows its phone.
    fn phone_id(st: &State, id: &str) -> Option<String> {
        let (user, server) = id.split_once('@')?;
        match server {
            "c.us" => Some(id.to_string()),
            "lid" => Self::phone_of_lid(st, user).map(|p| format!("{p}@c.us")),
            _ => None,
        }
    }

    /// Per participant: added (200), or why not — 404 not on WhatsApp, 403 their privacy settings
    /// (an invite is needed), 409 already in the group.
    fn add_to(st: &mut State, gid: &str, ids: &[String]) -> Vec<Value> {
        let mut out = Vec::new();
        for id in ids {
            let code = match Self::phone_id(st, id) {
                None => 404,
                Some(pn) => {
                    let phone = pn.trim_end_matches("@c.us").to_string();
                    let g = st.groups.get(gid);
                    if st.missing_numbers.contains(&phone) {
                        404
                    } else if g.is_some_and(|g| g.participants.iter().any(|(p, _)| *p == pn)) {
                        409
                    } else if st.group_add_refused.contains(&phone) {
                        403
                    } else {
                        if let Some(g) = st.groups.get_mut(gid) {
                            g.participants.push((pn, false));
                        }
                        200
                    }
                }
            };
            out.push(json!({ "id": id, "code": code }));
        }
        out
    }

    /// A page's group operation (`op`: create, add, remove, promote, demote, subject, description,
    /// picture, property, invite, revoke, leave, join, query). Answers `{group, results?}` or an error.
    pub(crate) fn group_op(&self, page_id: &str, b: &Value) -> Result<Value, String> {
        let mut st = self.lock();
        let phone = Self::linked_phone(&st, page_id)?;
        let me = format!("{phone}@c.us");
        let s = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        let ids: Vec<String> = b
            .get("participants")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        let op = s("op");
        let mut results = Value::Null;
        let gid = match op.as_str() {
            "create" => {
                let gid = format!("120363{:012}@g.us", rand::rng().random_range(0..1_000_000_000_000u64));
                st.groups.insert(
                    gid.clone(),
                    GroupInfo {
                        id: gid.clone(),
                        subject: s("subject"),
                        description: None,
                        owner: me.clone(),
                        participants: vec![(me.clone(), true)],
                        announce: false,
                        restrict: false,
                        invite_code: hex_id(11),
                        ..Default::default()
                    },
                );
                results = json!(Self::add_to(&mut st, &gid, &ids));
                gid
            }
            "join" => {
                let code = s("code");
                let gid = st
                    .groups
                    .values()
                    .find(|g| g.invite_code == code)
                    .map(|g| g.id.clone())
                    .ok_or("the invite link was revoked or never existed (404)")?;
                let g = st.groups.get_mut(&gid).ok_or("no such group")?;
                if !g.participants.iter().any(|(p, _)| *p == me) {
                    g.participants.push((me.clone(), false));
                }
                gid
            }
            _ => {
                let gid = s("group");
                let g = st.groups.get(&gid).ok_or("item-not-found (404): no such group")?;
                let admin = g.participants.iter().any(|(p, a)| *p == me && *a);
                let member = g.participants.iter().any(|(p, _)| *p == me);
                if !member {
                    return Err("forbidden (403): not a participant".into());
                }
                let needs_admin = match op.as_str() {
                    "add" | "remove" | "promote" | "demote" | "revoke" | "property" | "invite" => true,
                    "subject" | "description" | "picture" => g.restrict,
                    _ => false,
                };
                if needs_admin && !admin {
                    return Err("not-authorized (401): only admins can do this".into());
                }
                match op.as_str() {
                    "add" => results = json!(Self::add_to(&mut st, &gid, &ids)),
                    "remove" | "promote" | "demote" => {
                        let pns: Vec<Option<String>> = ids.iter().map(|i| Self::phone_id(&st, i)).collect();
                        let g = st.groups.get_mut(&gid).ok_or("no such group")?;
                        let mut out = Vec::new();
                        for (id, pn) in ids.iter().zip(pns) {
                            let at = pn.and_then(|pn| g.participants.iter().position(|(p, _)| *p == pn));
                            let code = match at {
                                None => 404,
                                Some(i) => {
                                    match op.as_str() {
                                        "remove" => {
                                            g.participants.remove(i);
                                        }
                                        "promote" => g.participants[i].1 = true,
                                        _ => g.participants[i].1 = false,
                                    }
                                    200
                                }
                            };
                            out.push(json!({ "id": id, "code": code }));
                        }
                        results = json!(out);
                    }
                    "subject" => st.groups.get_mut(&gid).ok_or("no such group")?.subject = s("subject"),
                    "description" => {
                        st.groups.get_mut(&gid).ok_or("no such group")?.description =
                            Some(s("description")).filter(|d| !d.is_empty())
                    }
                    "property" => {
                        let on = b.get("value").and_then(Value::as_bool).unwrap_or(false);
                        let g = st.groups.get_mut(&gid).ok_or("no such group")?;
                        match s("property").as_str() {
                            "announcement" => g.announce = on,
                            "restrict" => g.restrict = on,
                            other => return Err(format!("unknown group property {other}")),
                        }
                    }
                    "picture" => {
                        // WhatsApp takes a JPEG picture and thumbnail, or nothing (removed).
                        let jpeg = |k: &str| match b.get(k) {
                            Some(Value::String(u)) if u.starts_with("data:image/jpeg;base64,") => Ok(Some(u.clone())),
                            None | Some(Value::Null) => Ok(None),
                            _ => Err(format!("bad-request (400): {k} is not a JPEG data URL")),
                        };
                        let (picture, thumb) = (jpeg("picture")?, jpeg("thumb")?);
                        if picture.is_some() != thumb.is_some() {
                            return Err("bad-request (400): a picture needs its thumbnail".into());
                        }
                        let g = st.groups.get_mut(&gid).ok_or("no such group")?;
                        (g.picture, g.picture_thumb) = (picture, thumb);
                    }
                    "revoke" => st.groups.get_mut(&gid).ok_or("no such group")?.invite_code = hex_id(11),
                    "leave" => {
                        let g = st.groups.get_mut(&gid).ok_or("no such group")?;
                        g.participants.retain(|(p, _)| *p != me);
                    }
                    "invite" | "query" => {}
                    other => return Err(format!("unknown group operation {other}")),
                }
                gid
            }
        };
        let g = st.groups.get(&gid).cloned().ok_or("no such group")?;
        let sep = st.pages.get(page_id).is_some_and(|p| p.era == Era::Sep2026);
        let group = Self::group_for_page(&mut st, &g, sep, &me, op != "leave");
        Ok(json!({ "group": group, "results": results }))
    }

    /// A group as a page of `me` (a phone id) sees it: participants as it addresses users
    /// (2026-09: LIDs, with the phone id alongside), the invite code for admins (`show_code`).
    fn group_for_page(st: &mut State, g: &GroupInfo, sep: bool, me: &str, show_code: bool) -> Value {
        let participants: Vec<Value> = g
            .participants
            .iter()
            .map(|(pn, admin)| {
                let (id, phone) = Self::as_page_sees(st, sep, pn);
                json!({ "id": id, "pn": phone.or(Some(pn.clone())), "isAdmin": admin, "isSuperAdmin": *pn == g.owner })
            })
            .collect();
        let show_code = show_code && g.participants.iter().any(|(p, a)| p.as_str() == me && *a);
        json!({
            "id": g.id, "subject": g.subject, "desc": g.description, "owner": g.owner,
            "participants": participants, "announce": g.announce, "restrict": g.restrict,
            "inviteCode": if show_code { Some(g.invite_code.clone()) } else { None },
            "left": !g.participants.iter().any(|(p, _)| p.as_str() == me),
        })
    }

    /// Someone else changed a group on their phone (added or removed people, left, promoted or
    /// demoted, changed the subject, the description or a setting): the server's group changes,
    /// and every linked device that was or is in the group gets the notification WhatsApp Web
    /// shows in the chat (a `gp2` message with the action as `subtype`, `author`, `recipients`,
    /// and the new subject/description, or `on`/`off`, as `body`). Returns, per device told, its
    /// phone and the notification's serialised id (`false_<group>_<ID>_<author>`).
    pub async fn change_group(&self, c: GroupChange) -> Result<Vec<GroupNotified>, SimError> {
        let invalid = |m: &str| SimError::Invalid(m.to_string());
        let pn_of = |s: &str| match s.contains('@') {
            true => s.to_string(),
            false => format!("{}@c.us", s.trim_start_matches('+')),
        };
        let mut st = self.lock();
        let author = Self::phone_id(&st, &pn_of(&c.author))
            .ok_or_else(|| invalid("author must be a user id or a phone number"))?;
        let ids: Vec<String> = c
            .participants
            .iter()
            .map(|p| {
                Self::phone_id(&st, &pn_of(p)).ok_or_else(|| invalid("participants must be user ids or phone numbers"))
            })
            .collect::<Result<_, _>>()?;
        let g = st.groups.get_mut(&c.group).ok_or_else(|| invalid("no such group"))?;
        let before: Vec<String> = g.participants.iter().map(|(p, _)| p.clone()).collect();
        let admin = match g.participants.iter().find(|(p, _)| *p == author) {
            Some((_, admin)) => *admin,
            None => return Err(invalid("the author is not a participant")),
        };
        let needs_admin = match c.action.as_str() {
            "add" | "remove" | "promote" | "demote" | "announce" | "restrict" => true,
            "subject" | "description" => g.restrict,
            _ => false,
        };
        if needs_admin && !admin {
            return Err(invalid("only admins can do this (401)"));
        }
        let needs_people = matches!(c.action.as_str(), "add" | "remove" | "promote" | "demote");
        if needs_people && ids.is_empty() {
            return Err(invalid("participants are needed"));
        }
        let mut body = String::new();
        let recipients = match c.action.as_str() {
            "add" => {
                for id in &ids {
                    if g.participants.iter().any(|(p, _)| p == id) {
                        return Err(invalid("already a participant (409)"));
                    }
                    g.participants.push((id.clone(), false));
                }
                ids
            }
            "remove" | "promote" | "demote" => {
                for id in &ids {
                    let at = g
                        .participants
                        .iter()
                        .position(|(p, _)| p == id)
                        .ok_or_else(|| invalid("not a participant (404)"))?;
                    match c.action.as_str() {
                        "remove" => {
                            g.participants.remove(at);
                        }
                        "promote" => g.participants[at].1 = true,
                        _ => g.participants[at].1 = false,
                    }
                }
                ids
            }
            "leave" => {
                g.participants.retain(|(p, _)| *p != author);
                vec![author.clone()]
            }
            "subject" => {
                let subject = c
                    .subject
                    .as_deref()
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| invalid("subject is needed"))?;
                g.subject = subject.to_string();
                body = subject.to_string();
                Vec::new()
            }
            "description" => {
                let desc = c.description.clone().unwrap_or_default();
                g.description = Some(desc.clone()).filter(|d| !d.is_empty());
                body = desc;
                Vec::new()
            }
            "announce" | "restrict" => {
                let on = c.value.ok_or_else(|| invalid("value (true or false) is needed"))?;
                if c.action == "announce" {
                    g.announce = on;
                } else {
                    g.restrict = on;
                }
                body = if on { "on" } else { "off" }.to_string();
                Vec::new()
            }
            other => return Err(SimError::Invalid(format!("unknown group action {other}"))),
        };
        let g = g.clone();
        let stanza = hex_id(16);
        let t = now_secs();
        let told: Vec<(String, String)> = st
            .devices
            .values()
            .map(|d| (d.info.device_id.clone(), format!("{}@c.us", d.info.phone)))
            .filter(|(_, me)| before.contains(me) || g.participants.iter().any(|(p, _)| p == me))
            .collect();
        let mut out = Vec::new();
        for (device_id, me) in told {
            let sep = Self::device_era(&st, &device_id) == Era::Sep2026;
            let (author_id, author_pn) = Self::as_page_sees(&mut st, sep, &author);
            let recipients: Vec<Value> = recipients
                .iter()
                .map(|r| {
                    let (id, pn) = Self::as_page_sees(&mut st, sep, r);
                    json!({ "id": id, "pn": pn })
                })
                .collect();
            let group = Self::group_for_page(&mut st, &g, sep, &me, true);
            let notification = json!({
                "id": stanza, "subtype": c.action, "author": author_id, "authorPn": author_pn,
                "recipients": recipients, "body": body, "t": t,
            });
            out.push(GroupNotified {
                phone: me.trim_end_matches("@c.us").to_string(),
                id: format!("false_{}_{stanza}_{author_id}", g.id),
            });
            let cmd = json!({ "type": "group_notification", "group": group, "notification": notification });
            // Kept in the device's store once a page received it, as a message is: a page that
            // reloads before it saw the push finds it there (a pending one is delivered as new).
            if Self::page_of(&st, &device_id).is_some() {
                Self::remember_received(&mut st, &device_id, &cmd);
            }
            Self::to_device(&mut st, &device_id, cmd);
        }
        Ok(out)
    }
}

/// A change to a group made by someone else, for [`SimControl::change_group`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GroupChange {
    /// The group (`<id>@g.us`).
    pub group: String,
    /// Who made the change: a participant, by phone number or user id.
    pub author: String,
    /// `add`, `remove`, `leave` (the author leaves), `promote`, `demote`, `subject`,
    /// `description`, `announce` or `restrict` (WhatsApp's `gp2` subtypes).
    pub action: String,
    /// Whom `add`, `remove`, `promote` and `demote` concern (phone numbers or user ids).
    #[serde(default)]
    pub participants: Vec<String>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// `announce` / `restrict`: on or off.
    #[serde(default)]
    pub value: Option<bool>,
}

/// A device [`SimControl::change_group`] told, and the id of the notification it got.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupNotified {
    /// The device's phone number (digits).
    pub phone: String,
    /// `false_<group>_<ID>_<author as that page addresses users>`.
    pub id: String,
}

// --- the blocklist ---------------------------------------------------------------------------------

impl SimControl {
    /// The phone ids (`<n>@c.us`) the device of `device_phone` has blocked, sorted.
    pub async fn blocked(&self, device_phone: &str) -> Vec<String> {
        let phone = device_phone.trim_start_matches('+');
        let mut out: Vec<String> = self
            .lock()
            .blocked
            .iter()
            .filter(|(d, _)| d == phone)
            .map(|(_, b)| b.clone())
            .collect();
        out.sort();
        out
    }

    /// A page blocks or unblocks a user. 2026-09 pages must name the user by LID: the server
    /// refuses a phone-keyed block (anchors-2026-11 §3.2, "block/unblock always 500").
    pub(crate) fn set_blocked(&self, page_id: &str, id: &str, on: bool) -> Result<(), String> {
        let mut st = self.lock();
        let phone = Self::linked_phone(&st, page_id)?;
        let sep = st.pages.get(page_id).is_some_and(|p| p.era == Era::Sep2026);
        if sep && id.ends_with("@c.us") {
            return Err("bad-request (400): block by LID".into());
        }
        let pn = Self::phone_id(&st, id).ok_or("item-not-found (404): unknown user")?;
        if on {
            st.blocked.insert((phone, pn));
        } else {
            st.blocked.remove(&(phone, pn));
        }
        Ok(())
    }
}

mod b64 {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A simulator with one linked device (no page open) in a group owned by Alice.
    fn with_group() -> (SimControl, String) {
        let c = SimControl::new(SimConfig::default());
        let gid = "120363000000000001@g.us".to_string();
        {
            let mut st = c.lock();
            st.devices.insert(
                "dev".into(),
                Device {
                    info: DeviceInfo {
                        device_id: "dev".into(),
                        phone: "15550000001".into(),
                        lid: "1".into(),
                        push_name: String::new(),
                        linked_at: 0,
                        online: false,
                    },
                    pending: Vec::new(),
                    received: Vec::new(),
                    chats: Vec::new(),
                    contacts: Vec::new(),
                },
            );
            st.groups.insert(
                gid.clone(),
                GroupInfo {
                    id: gid.clone(),
                    subject: "Crew".into(),
                    owner: "15550000002@c.us".into(),
                    participants: vec![
                        ("15550000002@c.us".into(), true),
                        ("15550000001@c.us".into(), false),
                        ("15550000003@c.us".into(), false),
                    ],
                    ..Default::default()
                },
            );
        }
        (c, gid)
    }

    fn change(gid: &str, author: &str, action: &str, participants: &[&str]) -> GroupChange {
        GroupChange {
            group: gid.into(),
            author: author.into(),
            action: action.into(),
            participants: participants.iter().map(|p| p.to_string()).collect(),
            ..Default::default()
        }
    }

    /// A reload's old document may still have a long poll in flight that ends after the new
    /// document's began: the server talks to the newest document, and what the old one had not
    /// read reaches the new one.
    #[test]
    fn a_new_document_replaces_the_older_ones_of_its_device() {
        let (c, _) = with_group();
        let page = |v: Value| v["page"].as_str().unwrap().to_string();
        let old = page(c.hello("dev", None, Era::default()));
        let message = json!({ "id": "m1", "remote": "15550000002@c.us", "body": "hi" });
        {
            // Delivered as `deliver` does: kept in the device's store, pushed to its page.
            let mut st = c.lock();
            SimControl::remember_received(&mut st, "dev", &message);
            assert!(SimControl::push(
                &mut st,
                &old,
                json!({ "type": "incoming", "message": message })
            ));
            assert!(SimControl::push(&mut st, &old, json!({ "type": "presence" })));
        }
        let hello = c.hello("dev", None, Era::default());
        let new = page(hello.clone());
        assert_ne!(old, new);
        assert_eq!(hello["received"], json!([]), "unread: comes as new, not from the store");
        {
            let mut st = c.lock();
            // The old document's orphaned poll ends last.
            st.pages.get_mut(&old).unwrap().last_seen = Instant::now() + Duration::from_secs(1);
            assert_eq!(SimControl::page_of(&st, "dev").as_deref(), Some(new.as_str()));
            let queued: Vec<&Value> = st.pages[&new].queue.iter().collect();
            assert_eq!(
                queued.len(),
                1,
                "the old connection's presence stays behind: {queued:?}"
            );
            assert_eq!(queued[0]["message"]["id"], "m1");
            assert_eq!(st.devices["dev"].received.len(), 1, "kept once");
        }
        SimControl::to_device(&mut c.lock(), "dev", json!({ "type": "presence" }));
        assert_eq!(c.lock().pages[&new].queue.len(), 2);
        assert!(c.lock().pages[&old].queue.is_empty());
    }

    #[tokio::test]
    async fn group_changes_by_others_notify_the_members_devices() {
        let (c, gid) = with_group();
        let told = c
            .change_group(change(&gid, "15550000002", "add", &["+15550000004"]))
            .await
            .unwrap();
        assert_eq!(told.len(), 1);
        assert_eq!(told[0].phone, "15550000001");
        assert!(told[0].id.starts_with(&format!("false_{gid}_")), "{:?}", told[0]);
        assert!(told[0].id.ends_with("_15550000002@c.us"), "{:?}", told[0]);
        let pending = c.lock().devices["dev"].pending.clone();
        let n = &pending[0]["notification"];
        assert_eq!(pending[0]["type"], "group_notification");
        assert_eq!(
            (n["subtype"].as_str(), n["author"].as_str()),
            (Some("add"), Some("15550000002@c.us"))
        );
        assert_eq!(n["recipients"][0]["id"], "15550000004@c.us");
        assert_eq!(pending[0]["group"]["participants"].as_array().unwrap().len(), 4);

        // Only admins add, remove, promote and change settings; members may edit the info
        // unless it is restricted.
        let refused = c
            .change_group(change(&gid, "15550000003", "remove", &["15550000004"]))
            .await;
        assert!(matches!(refused, Err(SimError::Invalid(_))), "{refused:?}");
        let subject = GroupChange {
            subject: Some("Crew 2".into()),
            ..change(&gid, "15550000003", "subject", &[])
        };
        c.change_group(subject).await.unwrap();
        assert_eq!(c.group(&gid).await.unwrap().subject, "Crew 2");
        let restrict = GroupChange {
            value: Some(true),
            ..change(&gid, "15550000002", "restrict", &[])
        };
        c.change_group(restrict).await.unwrap();
        assert_eq!(
            c.lock().devices["dev"].pending.last().unwrap()["notification"]["body"],
            "on"
        );

        // Leaving: the author goes; removing the device's own phone still tells it.
        c.change_group(change(&gid, "15550000003", "leave", &[])).await.unwrap();
        let told = c
            .change_group(change(&gid, "15550000002", "remove", &["15550000001"]))
            .await
            .unwrap();
        assert_eq!(told.len(), 1, "the removed device hears of it");
        assert_eq!(c.lock().devices["dev"].pending.last().unwrap()["group"]["left"], true);
        let members: Vec<String> = c
            .group(&gid)
            .await
            .unwrap()
            .participants
            .into_iter()
            .map(|p| p.0)
            .collect();
        assert_eq!(members, ["15550000002@c.us", "15550000004@c.us"]);

        // Bad changes: nothing happens.
        for bad in [
            change("nope@g.us", "15550000002", "add", &["15550000005"]),
            change(&gid, "15550000009", "subject", &[]),
            change(&gid, "15550000002", "add", &[]),
            change(&gid, "15550000002", "add", &["15550000004"]),
            change(&gid, "15550000002", "kick", &["15550000004"]),
            change(&gid, "15550000002", "announce", &[]),
        ] {
            assert!(
                matches!(c.change_group(bad.clone()).await, Err(SimError::Invalid(_))),
                "{bad:?}"
            );
        }
        assert_eq!(c.group(&gid).await.unwrap().participants.len(), 2);
    }
}
