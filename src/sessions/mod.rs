//! WhatsApp sessions: one actor per session (owning its browser), the handles HTTP handlers
//! hold, and the manager that starts, restores, limits and stops them.

mod actor;
pub mod chat_id;
pub mod events;
pub mod handle;
pub mod manager;
pub mod outbox;
pub mod qr;
mod queue;
pub mod remote;
pub mod state;

pub use chat_id::ChatId;
pub use events::{SessionEvent, SessionKey, WaCall, WaGroupNote, WaMessage, WaPollVote, WaPresence, WaReaction};
pub use handle::{Content, OutgoingMedia, Presence, SentMessage, SessionError, SessionHandle};
pub use manager::SessionManager;
pub use outbox::{Outbox, SendResult, Submitted};
pub use queue::settle;
pub use state::{SessionInfo, SessionState};
