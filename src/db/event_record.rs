//! What an event looks like on the wire: `{id, event, session, timestamp, payload}`.

use chrono::NaiveDateTime;
use diesel::Insertable;
use serde_json::{Value, json};

use super::schema::events;
use super::{GroupEventClass, MessageRow, MessageStatus, SessionRow};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A new incoming message.
    Message,
    /// A message the account sent from its phone or another linked device, not through wagate
    /// (stored with `fromMe: true`).
    MessageAny,
    /// An outgoing message's status changed (an ack, or a failure).
    MessageAck,
    /// Someone reacted to a message (or took their reaction back).
    MessageReaction,
    /// A message's text was edited (ours or incoming).
    MessageEdited,
    /// A message was deleted for everyone (ours or incoming).
    MessageRevoked,
    /// Someone joined a group the account is in (added, or by invite).
    GroupJoin,
    /// Someone left a group the account is in (or was removed).
    GroupLeave,
    /// A group the account is in changed (subject, description, settings, admins, picture, …).
    GroupUpdate,
    /// Someone voted on a poll (or changed or took back their vote).
    PollVote,
    /// Someone is calling the account (voice or video).
    CallReceived,
    /// An incoming call was rejected (through the API, or by the session's `rejectCalls`).
    CallRejected,
    /// A subscribed chat's presence changed (online, offline, typing, recording, stopped).
    PresenceUpdate,
    /// A session changed state.
    SessionStatus,
    /// A session's initial sync progressed (after linking, or when its page reloaded).
    SessionSync,
    /// Sent by `POST /api/v1/webhook/test/`, never stored.
    Test,
}

impl EventKind {
    pub const SUBSCRIBABLE: [EventKind; 15] = [
        EventKind::Message,
        EventKind::MessageAny,
        EventKind::MessageAck,
        EventKind::MessageReaction,
        EventKind::MessageEdited,
        EventKind::MessageRevoked,
        EventKind::GroupJoin,
        EventKind::GroupLeave,
        EventKind::GroupUpdate,
        EventKind::PollVote,
        EventKind::CallReceived,
        EventKind::CallRejected,
        EventKind::PresenceUpdate,
        EventKind::SessionStatus,
        EventKind::SessionSync,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Message => "message",
            EventKind::MessageAny => "message.any",
            EventKind::MessageAck => "message.ack",
            EventKind::MessageReaction => "message.reaction",
            EventKind::MessageEdited => "message.edited",
            EventKind::MessageRevoked => "message.revoked",
            EventKind::GroupJoin => "group.join",
            EventKind::GroupLeave => "group.leave",
            EventKind::GroupUpdate => "group.update",
            EventKind::PollVote => "poll.vote",
            EventKind::CallReceived => "call.received",
            EventKind::CallRejected => "call.rejected",
            EventKind::PresenceUpdate => "presence.update",
            EventKind::SessionStatus => "session.status",
            EventKind::SessionSync => "session.sync",
            EventKind::Test => "webhook.test",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::SUBSCRIBABLE.into_iter().find(|k| k.as_str() == s)
    }

    /// The event a newly stored incoming row raises: `message.reaction` for a reaction,
    /// `group.join` / `group.leave` / `group.update` for a group notification, `message` for
    /// everything else.
    pub fn of_incoming(row: &MessageRow) -> Self {
        match row.msg_type {
            super::MessageKind::Reaction => EventKind::MessageReaction,
            super::MessageKind::GroupNotification => match row.details().group.map(|g| g.class()) {
                Some(GroupEventClass::Join) => EventKind::GroupJoin,
                Some(GroupEventClass::Leave) => EventKind::GroupLeave,
                _ => EventKind::GroupUpdate,
            },
            _ => EventKind::Message,
        }
    }

    /// Whether this event's payload is a group change ([`group_payload`]) rather than a message.
    pub fn is_group(self) -> bool {
        matches!(
            self,
            EventKind::GroupJoin | EventKind::GroupLeave | EventKind::GroupUpdate
        )
    }
}

/// An outbox row to insert (pending delivery).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = events)]
pub struct NewEvent {
    pub uid: String,
    pub user_id: i64,
    pub session_id: Option<i64>,
    pub event: String,
    pub body: String,
    pub created_at: NaiveDateTime,
    pub status: EventStatus,
    pub next_attempt_at: NaiveDateTime,
}

impl NewEvent {
    pub fn new(kind: EventKind, user_id: i64, session: Option<(i64, &str)>, payload: Value) -> Self {
        Self::with_uid(
            format!("evt_{}", uuid::Uuid::new_v4().simple()),
            kind,
            user_id,
            session,
            payload,
        )
    }

    /// The uid of the one event of `kind` that `what` (e.g. a call id) raises in a session:
    /// `evt_` and 32 hex digits, the same each time, so that a second write of it can be told.
    pub fn once_uid(kind: EventKind, session_id: i64, what: &str) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(format!("{}\n{session_id}\n{what}", kind.as_str()));
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        format!("evt_{hex}")
    }

    /// An event with this `uid` (see [`NewEvent::once_uid`]).
    pub fn with_uid(uid: String, kind: EventKind, user_id: i64, session: Option<(i64, &str)>, payload: Value) -> Self {
        let now = crate::db::now();
        let body = envelope(&uid, kind, session.map(|s| s.1), now, payload).to_string();
        NewEvent {
            uid,
            user_id,
            session_id: session.map(|s| s.0),
            event: kind.as_str().into(),
            body,
            created_at: now,
            status: EventStatus::Pending,
            next_attempt_at: now,
        }
    }
}

/// Where an event stands in the outbox (`events.status`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    serde::Serialize,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "lowercase")]
pub enum EventStatus {
    /// Waiting for delivery (or for a retry that is due at `next_attempt_at`).
    Pending,
    Delivered,
    /// The receiver refused it for good (a 3xx, most 4xx, an address the policy refuses).
    Failed,
    /// Retried until `webhooks.max_age_secs`: given up.
    Dead,
    /// No webhook wanted it.
    Skipped,
}

impl EventStatus {
    /// The statuses a delivery log may be filtered by.
    pub const LISTED: [EventStatus; 4] = [
        EventStatus::Pending,
        EventStatus::Delivered,
        EventStatus::Failed,
        EventStatus::Dead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Pending => "pending",
            EventStatus::Delivered => "delivered",
            EventStatus::Failed => "failed",
            EventStatus::Dead => "dead",
            EventStatus::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Skipped]
            .into_iter()
            .chain(Self::LISTED)
            .find(|e| e.as_str() == s)
    }
}

super::kind::text_column!(EventStatus, |e| e.as_str(), |s| {
    EventStatus::parse(s).ok_or_else(|| format!("unknown event status {s:?}"))
});

/// `timestamp` is unix milliseconds.
pub fn envelope(uid: &str, kind: EventKind, session: Option<&str>, at: NaiveDateTime, payload: Value) -> Value {
    json!({
        "id": uid,
        "event": kind.as_str(),
        "session": session,
        "timestamp": at.and_utc().timestamp_millis(),
        "payload": payload,
    })
}

/// WhatsApp's ack number and name for a stored status (`None` for incoming messages).
pub fn ack_of(status: MessageStatus) -> Option<(i32, &'static str)> {
    Some(match status {
        MessageStatus::Failed => (-1, "ERROR"),
        MessageStatus::Queued | MessageStatus::Pending => (0, "PENDING"),
        MessageStatus::Sent => (1, "SERVER"),
        MessageStatus::Delivered => (2, "DEVICE"),
        MessageStatus::Read => (3, "READ"),
        MessageStatus::Played => (4, "PLAYED"),
        MessageStatus::Received => return None,
    })
}

/// A message as events and the API show it. `me` is the session's own WhatsApp id.
///
/// Phones are digits, whichever form the ids have (`<digits>@c.us` or `<lid>@lid`): `fromPhone`
/// is the sender's (a group's participant; our own number for our messages), `chatPhone` the
/// chat's (null for groups, and for a LID whose phone WhatsApp has not revealed).
pub fn message_payload(m: &MessageRow, me: Option<&str>, public_url: &str) -> Value {
    let incoming = m.direction == "in";
    let from_phone = if incoming {
        m.sender_phone.as_deref()
    } else {
        me.and_then(|w| w.strip_suffix("@c.us"))
    };
    let (from, to) = if incoming {
        (Some(m.chat_id.as_str()), me)
    } else {
        (me, Some(m.chat_id.as_str()))
    };
    let has_media = m.media_mime.is_some() || m.media_path.is_some();
    let media = has_media.then(|| {
        json!({
            "url": m.media_path.as_ref().map(|_| format!("{public_url}/api/v1/messages/{}/media", m.id)),
            "mimetype": m.media_mime,
            "filename": m.media_filename,
            "size": m.media_size,
        })
    });
    let ack = ack_of(m.status);
    let details = m.details();
    let reaction = (m.msg_type == super::MessageKind::Reaction)
        .then(|| json!({ "messageId": details.reaction_to, "emoji": m.body }));
    json!({
        "id": m.wa_message_id,
        "dbId": m.id,
        "from": from,
        "to": to,
        "fromMe": !incoming,
        "chatId": m.chat_id,
        "author": m.sender,
        "authorPhone": m.sender_phone,
        "fromPhone": from_phone,
        "chatPhone": chat_phone(m),
        "type": m.msg_type,
        "body": m.body.as_ref().or(m.caption.as_ref()),
        "caption": m.caption,
        "hasMedia": has_media,
        "media": media,
        "timestamp": m.sent_at.unwrap_or(m.created_at).and_utc().timestamp(),
        "status": m.status,
        "ack": ack.map(|a| a.0),
        "ackName": ack.map(|a| a.1),
        "error": m.error_message,
        "errorCode": m.error_code,
        "quotedMessageId": details.quoted_message_id,
        "location": details.location,
        "reaction": reaction,
        "targetMessageId": details.target_message_id,
        "contacts": details.contacts,
        "mentions": details.mentions,
        "poll": details.poll,
        "isForwarded": details.is_forwarded,
        "forwardingScore": details.forwarding_score,
        "forwardedFrom": details.forwarded_from,
        "editedAt": m.edited_at.map(|t| t.and_utc()),
        "revokedAt": m.revoked_at.map(|t| t.and_utc()),
    })
}

/// A group notification as `group.join`, `group.leave` and `group.update` events show it:
/// `{id, dbId, groupId, action, participants, participantPhones, author, authorPhone,
/// timestamp}`, plus `subject` (action `subject`), `description` (`description`) and `enabled`
/// (`announce`, `restrict`) when the action carries them.
pub fn group_payload(m: &MessageRow) -> Value {
    let g = m.details().group.unwrap_or_default();
    let mut payload = json!({
        "id": m.wa_message_id,
        "dbId": m.id,
        "groupId": m.chat_id,
        "action": g.action,
        "participants": g.participants,
        "participantPhones": g.participant_phones,
        "author": g.author,
        "authorPhone": g.author_phone,
        "timestamp": m.sent_at.unwrap_or(m.created_at).and_utc().timestamp(),
    });
    for (name, value) in [
        ("subject", g.subject.map(Value::from)),
        ("description", g.description.map(Value::from)),
        ("enabled", g.enabled.map(Value::from)),
    ] {
        if let Some(v) = value {
            payload[name] = v;
        }
    }
    payload
}

/// A `session.sync` payload: the session's name, the page's sync progress (0–100), and whether
/// it is done.
/// A `presence.update` payload: `{chatId, chatPhone, participant, participantPhone, state,
/// lastSeen, timestamp}` — `state` one of `available`, `unavailable`, `composing`, `recording`,
/// `paused`; `participant` (and its phone) only in groups; `lastSeen` unix seconds or null;
/// `timestamp` unix seconds of the change as the page saw it.
pub fn presence_payload(p: &crate::browser::protocol::WaPresence) -> Value {
    json!({
        "chatId": p.chat,
        "chatPhone": p.chat_phone,
        "participant": p.participant,
        "participantPhone": p.participant_phone,
        "state": p.state,
        "lastSeen": p.last_seen,
        "timestamp": p.t,
    })
}

pub fn sync_payload(name: &str, progress: u32, done: bool) -> Value {
    json!({ "name": name, "progress": progress.min(100), "done": done })
}

/// A `poll.vote` payload: the voter's current vote on the poll `poll` (its row).
pub fn vote_payload(poll: &MessageRow, vote: &super::PollVote) -> Value {
    json!({
        "pollMessageId": poll.wa_message_id,
        "pollDbId": poll.id,
        "chatId": poll.chat_id,
        "voter": vote.voter,
        "voterPhone": vote.voter_phone,
        "selectedOptions": vote.selected_options,
        "timestamp": vote.timestamp,
    })
}

/// The chat's phone number (digits): stored, or read off a `@c.us` chat id.
pub fn chat_phone(m: &MessageRow) -> Option<&str> {
    m.chat_phone.as_deref().or_else(|| m.chat_id.strip_suffix("@c.us"))
}

pub fn session_payload(s: &SessionRow) -> Value {
    json!({
        "name": s.name,
        "status": s.status,
        "reason": s.status_reason,
        "phone": s.phone_number,
        "wid": s.wid,
        "pushName": s.push_name,
        "lastError": s.last_error,
        "ackTimeouts": s.ack_timeouts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_and_sync_events_are_subscribable_by_name() {
        for name in ["group.join", "group.leave", "group.update", "session.sync"] {
            assert_eq!(EventKind::parse(name).map(EventKind::as_str), Some(name));
        }
        assert!(EventKind::parse("webhook.test").is_none(), "never subscribable");
        assert!(EventKind::GroupLeave.is_group() && !EventKind::SessionSync.is_group());
        assert_eq!(
            sync_payload("default", 140, false),
            json!({"name": "default", "progress": 100, "done": false})
        );
    }

    #[test]
    fn presence_updates_are_subscribable_and_shaped() {
        assert_eq!(EventKind::parse("presence.update"), Some(EventKind::PresenceUpdate));
        assert!(!EventKind::PresenceUpdate.is_group());
        let p: crate::browser::protocol::WaPresence = serde_json::from_value(json!({
            "chat": "120363000000000001@g.us", "chatPhone": null, "participant": "12345@lid",
            "participantPhone": "15550002002", "state": "composing", "lastSeen": null, "t": 1764028870,
        }))
        .unwrap();
        assert_eq!(
            presence_payload(&p),
            json!({"chatId": "120363000000000001@g.us", "chatPhone": null, "participant": "12345@lid",
                   "participantPhone": "15550002002", "state": "composing", "lastSeen": null,
                   "timestamp": 1764028870})
        );
    }
}
