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

pub use crate::browser::protocol::{WaCall, WaGroupNote, WaMessage, WaPollVote, WaPresence, WaReaction};
use crate::db::cluster::Fence;
use crate::db::{CallFacts, RejectedBy};

#[derive(Debug, Clone)]
pub enum SessionEvent {
    /// Every transition, with the full published info.
    State { session: SessionKey, info: SessionInfo },
    /// A new message from someone else.
    Incoming {
        session: SessionKey,
        message: WaMessage,
        /// Cluster mode: the lease the reporting owner held; its write is refused once another
        /// node adopted the session (a paused owner cannot record what it saw late).
        fence: Option<Fence>,
    },
    /// A message of ours appeared (sent by wagate, or from the phone).
    OwnMessage {
        session: SessionKey,
        message: WaMessage,
        fence: Option<Fence>,
    },
    /// A reaction was set or taken back (by someone else, or by us from any device).
    Reaction { session: SessionKey, reaction: WaReaction },
    /// A group notification: someone joined, left, or changed the group.
    Group {
        session: SessionKey,
        note: WaGroupNote,
        fence: Option<Fence>,
    },
    /// A call to the account rang (`rejected` None), or was rejected: by whom, and the stored
    /// reply text's row id when one was queued.
    Call {
        session: SessionKey,
        call: WaCall,
        rejected: Option<(RejectedBy, Option<i64>)>,
        fence: Option<Fence>,
    },
    /// Someone voted on a poll (their new choice replaces the earlier one).
    PollVote { session: SessionKey, vote: WaPollVote },
    /// A message's text was edited (ours from any device, or by its sender).
    Edited {
        session: SessionKey,
        id: String,
        body: String,
    },
    /// A message was deleted for everyone (ours from any device, or by its sender).
    Revoked { session: SessionKey, id: String },
    /// A subscribed chat's presence changed.
    Presence { session: SessionKey, presence: WaPresence },
    /// An ack changed: -1 error, 0 pending, 1 server, 2 delivered, 3 read, 4 played.
    Ack {
        session: SessionKey,
        id: String,
        ack: i32,
        fence: Option<Fence>,
    },
}

impl WaCall {
    /// The call as `call.received` and `call.rejected` events show it.
    pub fn facts(&self) -> CallFacts {
        CallFacts {
            call_id: self.id.clone(),
            from: self.from.clone(),
            from_phone: self.from_phone.clone(),
            is_video: self.is_video,
            is_group: self.is_group,
            offered_at: self.t,
        }
    }
}
