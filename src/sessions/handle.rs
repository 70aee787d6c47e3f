//! The clonable handle that HTTP handlers hold: commands over mpsc with oneshot replies and
//! timeouts, and a `watch` of the session's info that never waits on the browser.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};

use super::chat_id::ChatId;
use super::events::SessionKey;
use super::state::SessionInfo;

#[derive(Debug, Clone, thiserror::Error)]
pub enum SessionError {
    #[error("No active WhatsApp session. Please connect first.")]
    NotConnected,
    #[error("the session is not running")]
    NotRunning,
    #[error("session limit reached ({0} running sessions)")]
    LimitReached(usize),
    #[error("WhatsApp service unavailable: {0}")]
    BrowserUnavailable(String),
    #[error("WhatsApp did not answer within {0:?}")]
    Timeout(Duration),
    /// An error code from the page, e.g. `WA_MODULE_MISSING:WAWebSendMsgChatAction`.
    #[error("{code}: {message}")]
    Wa { code: String, message: String },
    #[error("{0}")]
    Invalid(String),
    #[error("database: {0}")]
    Db(String),
}

impl SessionError {
    /// The stable error code stored on a failed message (the API answers with the same codes).
    pub fn code(&self) -> String {
        match self {
            SessionError::NotConnected | SessionError::NotRunning => "SESSION_NOT_CONNECTED".into(),
            SessionError::LimitReached(_) => "SESSION_LIMIT_REACHED".into(),
            SessionError::BrowserUnavailable(_) => "BROWSER_UNAVAILABLE".into(),
            SessionError::Timeout(_) => "SEND_TIMEOUT".into(),
            // The stable part of `WA_MODULE_MISSING:<module>`.
            SessionError::Wa { code, .. } => code.split(':').next().unwrap_or(code).to_string(),
            SessionError::Invalid(_) => "SESSION_STATE".into(),
            SessionError::Db(_) => "INTERNAL_ERROR".into(),
        }
    }
}

impl From<crate::db::DbError> for SessionError {
    fn from(e: crate::db::DbError) -> Self {
        SessionError::Db(e.to_string())
    }
}

/// What a send returns.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SentMessage {
    /// `true_<chat>_<HEXID>`.
    pub id: String,
    /// Unix seconds.
    pub t: i64,
    pub ack: i32,
}

#[derive(Debug, Clone)]
pub struct OutgoingMedia {
    pub bytes: std::sync::Arc<Vec<u8>>,
    pub mimetype: String,
    pub filename: Option<String>,
    pub caption: Option<String>,
    /// Image, video, audio, ptt (voice note), document or sticker: how the page sends the bytes.
    pub kind: crate::db::MessageKind,
}

type Reply<T> = oneshot::Sender<Result<T, SessionError>>;

pub(super) enum Command {
    SendText {
        chat: ChatId,
        body: String,
        reply: Reply<SentMessage>,
    },
    SendMedia {
        chat: ChatId,
        media: OutgoingMedia,
        reply: Reply<SentMessage>,
    },
    CheckNumber {
        chat: ChatId,
        reply: Reply<Option<String>>,
    },
    /// `composing` (typing…) or `paused` in a chat.
    ChatState {
        chat: ChatId,
        state: &'static str,
        reply: Reply<()>,
    },
    PairingCode {
        phone: String,
        reply: Reply<String>,
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

    pub async fn send_text(&self, chat: ChatId, body: String) -> Result<SentMessage, SessionError> {
        self.ask(|reply| Command::SendText { chat, body, reply }, SEND_TIMEOUT)
            .await
    }

    pub async fn send_media(&self, chat: ChatId, media: OutgoingMedia) -> Result<SentMessage, SessionError> {
        self.ask(|reply| Command::SendMedia { chat, media, reply }, SEND_TIMEOUT)
            .await
    }

    /// The chat id WhatsApp knows for a number, or None when it is not on WhatsApp.
    pub async fn check_number(&self, chat: ChatId) -> Result<Option<String>, SessionError> {
        self.ask(|reply| Command::CheckNumber { chat, reply }, CONTROL_TIMEOUT)
            .await
    }

    /// Shows "typing…" (`composing`) in the chat, or stops it (`paused`).
    pub async fn chat_state(&self, chat: ChatId, state: &'static str) -> Result<(), SessionError> {
        self.ask(|reply| Command::ChatState { chat, state, reply }, CONTROL_TIMEOUT)
            .await
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
