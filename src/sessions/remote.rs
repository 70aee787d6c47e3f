//! Cluster mode: a session owned by another node, seen through a [`SessionHandle`] like a local
//! one. Its info is what the owner published in the database (refreshed on `NOTIFY wagate_info`
//! and at every claim round); its control commands (restart, logout, stop, pairing code, number
//! check) and its page calls (chats, contacts, groups, presence, read receipts, calls: the typed
//! request as JSON) go to the owner through the `cluster_commands` table and wait, bounded, for
//! its answer. Sends never come here: they go through the database queue, which the owner's
//! worker drains.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot, watch};

use super::chat_id::ChatId;
use super::events::SessionKey;
use super::handle::{Command, SessionError, SessionHandle};
use super::state::{SessionInfo, SessionState};
use crate::browser::protocol::Request;
use crate::cluster::Node;
use crate::error_code::ErrorCode;

/// A mirror of another node's session.
pub(super) struct Mirror {
    pub handle: SessionHandle,
    info: watch::Sender<SessionInfo>,
    /// Dropping it ends the mirror's task (the handle then reads as not running).
    _end: oneshot::Sender<()>,
    /// A claim round's snapshot may predate a mirror made since: young ones are kept.
    pub created: std::time::Instant,
}

impl Mirror {
    pub fn new(key: SessionKey, info: SessionInfo, node: Arc<Node>) -> Mirror {
        let (info_tx, info_rx) = watch::channel(info);
        let (tx, rx) = mpsc::channel(16);
        let (end_tx, end_rx) = oneshot::channel();
        tokio::spawn(run(key.id, rx, end_rx, node));
        Mirror {
            handle: SessionHandle { key, tx, info: info_rx },
            info: info_tx,
            _end: end_tx,
            created: std::time::Instant::now(),
        }
    }

    /// The owner published a new info.
    pub fn update(&self, info: SessionInfo) {
        self.info.send_replace(info);
    }
}

/// Info for a session no node holds yet (wanted, waiting for a claim round).
pub(super) fn unclaimed_info() -> SessionInfo {
    SessionInfo::new(
        SessionState::Starting,
        Some("waiting for a cluster node to take the session".into()),
    )
}

async fn run(session_id: i64, mut rx: mpsc::Receiver<Command>, mut end: oneshot::Receiver<()>, node: Arc<Node>) {
    loop {
        let cmd = tokio::select! {
            cmd = rx.recv() => match cmd { Some(c) => c, None => return },
            _ = &mut end => return,
        };
        // Each command waits on its own: a slow owner does not hold the others up.
        let node = node.clone();
        tokio::spawn(async move { forward(session_id, cmd, &node).await });
    }
}

async fn forward(session_id: i64, cmd: Command, node: &Node) {
    match cmd {
        Command::Restart { reply } => drop(reply.send(ask(node, session_id, "restart", json!({})).await.map(drop))),
        Command::Logout { reply } => drop(reply.send(ask(node, session_id, "logout", json!({})).await.map(drop))),
        Command::Stop { reply } => drop(reply.send(ask(node, session_id, "stop", json!({})).await.map(drop))),
        // A gateway shutdown ends the mirror only; the owner keeps its session.
        Command::Shutdown { reply } => drop(reply.send(Ok(()))),
        Command::PairingCode { phone, reply } => {
            let result = ask(node, session_id, "pairing_code", json!({ "phone": phone })).await;
            drop(reply.send(result.and_then(decode)))
        }
        Command::CheckNumber { chat, reply } => {
            let result = ask(node, session_id, "check_number", json!({ "chat": chat.as_str() })).await;
            drop(reply.send(result.and_then(decode)))
        }
        Command::Call { request, reply } => drop(reply.send(page_call(node, session_id, &request).await)),
        Command::ChatState { chat, state, reply } => {
            let request = Request::ChatState {
                chat_id: chat.as_str(),
                state: state.as_str(),
            };
            drop(reply.send(page_call(node, session_id, &request).await.map(drop)))
        }
        Command::MarkRead { chat, reply } => {
            let request = Request::MarkRead { chat_id: chat.as_str() };
            drop(reply.send(page_call(node, session_id, &request).await.map(drop)))
        }
        other => super::actor::refuse_command(other, SessionError::NotConnected),
    }
}

/// A page call made by the owner: the request travels as its JSON and is run there as is.
async fn page_call(node: &Node, session_id: i64, request: &Request<'_>) -> Result<Value, SessionError> {
    let call = serde_json::to_value(request).map_err(|e| SessionError::Invalid(e.to_string()))?;
    ask(node, session_id, "page_call", call).await
}

fn decode<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, SessionError> {
    serde_json::from_value(v).map_err(|e| SessionError::Invalid(format!("the owner's answer: {e}")))
}

/// Queues a command for the owner and waits for its answer, at most `cluster.command_wait_secs`.
pub(crate) async fn ask(node: &Node, session_id: i64, kind: &str, args: Value) -> Result<Value, SessionError> {
    let id = node.db.insert_command(session_id, kind, args.to_string()).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(node.settings.command_wait_secs);
    loop {
        // Listening before looking, so an answer between the two is not missed.
        let done = node.cmd_done.notified();
        tokio::pin!(done);
        done.as_mut().enable();
        if let Some(answer) = node.db.command_result(id).await? {
            return decode_answer(&answer);
        }
        if tokio::time::Instant::now() >= deadline {
            // Withdrawn unless the owner took it meanwhile (then its answer is worth waiting for).
            if node.db.withdraw_command(id).await? {
                return Err(SessionError::refused(
                    ErrorCode::OwnerUnavailable,
                    format!(
                        "the node that owns this session did not answer within cluster.command_wait_secs ({} s)",
                        node.settings.command_wait_secs
                    ),
                ));
            }
        }
        tokio::select! {
            _ = done => {}
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

/// The owner's answer: `{"ok": value}` or `{"err": {"code", "message"}}`.
pub fn encode_answer(result: Result<Value, SessionError>) -> String {
    match result {
        Ok(v) => json!({ "ok": v }).to_string(),
        Err(e) => {
            let code = e.code();
            json!({ "err": { "code": code.as_str(), "message": e.to_string(), "notConnected": code == ErrorCode::SessionNotConnected } })
                .to_string()
        }
    }
}

fn decode_answer(answer: &str) -> Result<Value, SessionError> {
    let v: Value =
        serde_json::from_str(answer).map_err(|e| SessionError::Invalid(format!("the owner's answer: {e}")))?;
    if let Some(ok) = v.get("ok") {
        return Ok(ok.clone());
    }
    let err = &v["err"];
    if err["notConnected"] == true {
        return Err(SessionError::NotConnected);
    }
    let code = err["code"]
        .as_str()
        .unwrap_or("INTERNAL_ERROR")
        .parse()
        .unwrap_or(ErrorCode::InternalError);
    Err(SessionError::refused(
        code,
        err["message"].as_str().unwrap_or("the owner failed"),
    ))
}

/// The number check a mirror forwards, run by the owner on its local handle.
pub async fn check_number(handle: &SessionHandle, chat: &str) -> Result<Value, SessionError> {
    let chat = ChatId::parse(chat).map_err(|e| SessionError::Invalid(e.0))?;
    Ok(json!(handle.check_number(chat).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_round_trip() {
        assert_eq!(
            decode_answer(&encode_answer(Ok(json!("ABCD1234")))).unwrap(),
            json!("ABCD1234")
        );
        assert!(matches!(
            decode_answer(&encode_answer(Err(SessionError::NotConnected))),
            Err(SessionError::NotConnected)
        ));
        let e = decode_answer(&encode_answer(Err(SessionError::refused(
            ErrorCode::SessionState,
            "no",
        ))))
        .unwrap_err();
        assert_eq!(e.code(), ErrorCode::SessionState);
        assert_eq!(e.to_string(), "no");
    }
}
