//! Events: what happened to messages and sessions, recorded in the `events` outbox in the same
//! transaction as the change, then pushed to the user's webhook (signed, retried, in order per
//! session) and to Server-Sent Events subscribers.

pub mod dispatcher;
pub mod signing;

// What an event is and how it is recorded belongs to the database layer (it is written in the
// same transaction as the change); delivering it belongs here.
pub use crate::db::event_record::{EventKind, NewEvent, envelope};
pub use crate::db::{EventBus, Published};
