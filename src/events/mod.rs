//! Events: what happened to messages and sessions, recorded in the `events` outbox in the same
//! transaction as the change, then pushed to the user's webhook (signed, retried, in order per
//! session) and to Server-Sent Events subscribers.

pub mod bus;
pub mod dispatcher;
pub mod envelope;
pub mod signing;

pub use bus::{EventBus, Published};
pub use envelope::{EventKind, NewEvent};
