//! Page events pushed over WebDriver BiDi: the page rings a doorbell with its new events.
//!
//! A session created with the capability `webSocketUrl: true` answers with a WebSocket URL
//! (W3C WebDriver BiDi; chromedriver implements it, Selenium Grid 4 proxies it). On it we
//! subscribe to `script.message` and add a preload script that receives a `channel` argument: in
//! every new document of the page it stores the channel's function as `window.__wagateBell` and
//! rings it once (a new document needs the bridge installed). The bridge rings the bell with the
//! events it queued since its previous ring (JSON, see `protocol::Pushed`), so an event costs
//! no call back into the page; a ring without them (a new document, a batch too large) has the
//! actor drain the page's sequence-numbered queue with one call. The queue stays the one source
//! of events until a drain acknowledges them (nothing is lost if a ring is missed: a gap in the
//! sequence numbers, or a slow safety poll, drains), and there is no polling in steady state.
//!
//! Calls into the page go over the same connection ([`Script`], `script.callFunction`): one
//! WebSocket message each way instead of an HTTP request to chromedriver per call.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// The `script.message` channel the page rings on.
const CHANNEL: &str = "wagate";

/// One ring of the page: the events it carried (`protocol::Pushed` as JSON), if any.
#[derive(Debug)]
pub struct Ring {
    pub events: Option<String>,
}

/// Rings from the page, in order. `ring()` resolves to the next one, and to None when the
/// WebSocket is gone (the caller connects again, or falls back to polling).
pub struct Doorbell {
    rx: mpsc::UnboundedReceiver<Ring>,
    /// Rings received and not taken yet: past [`WAITING_RINGS_MAX`] they come without their
    /// events (the actor drains them from the page), so a stalled actor holds little memory.
    waiting: Arc<AtomicUsize>,
    ws_url: String,
    context: String,
    script: Script,
}

/// See [`Doorbell`]`::waiting`.
const WAITING_RINGS_MAX: usize = 256;

impl Doorbell {
    pub async fn ring(&mut self) -> Option<Ring> {
        let ring = self.rx.recv().await?;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        Some(ring)
    }

    /// A new connection to the same BiDi session after this one's WebSocket was lost: subscribes
    /// again, adds the preload script for later documents, and hands the new channel to the
    /// documents already open (their bell rang into the lost connection).
    pub async fn reconnect(&self) -> Result<Doorbell, String> {
        open(&self.ws_url, &self.context, true).await
    }

    /// Calls into the page over this connection (valid while it lasts).
    pub fn script(&self) -> Script {
        self.script.clone()
    }
}

/// `script.callFunction` on the session's BiDi connection, in the page's top-level document
/// (its main realm, where the bridge lives). Cheap to clone; every call fails once the
/// WebSocket is gone.
#[derive(Clone)]
pub struct Script {
    inner: Arc<Calls>,
}

struct Calls {
    /// Frames for the writer task: a caller that stops waiting never leaves one half-written.
    out: mpsc::UnboundedSender<Message>,
    /// Calls waiting for their answer, by command id; emptied when the WebSocket closes.
    pending: Mutex<HashMap<u64, oneshot::Sender<Value>>>,
    next_id: AtomicU64,
    closed: AtomicBool,
    /// The top-level browsing context (W3C BiDi: the same id as the WebDriver window handle).
    context: String,
}

impl Calls {
    /// The WebSocket is gone: calls still waiting fail, later ones are not sent.
    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        lock(&self.pending).clear();
    }
}

/// Why a [`Script::call`] has no answer.
#[derive(Debug)]
pub enum CallError {
    /// The call never left: the WebSocket was gone already. Nothing ran in the page.
    NotSent(String),
    /// The call was sent and may have run: the WebSocket went away before the answer, BiDi
    /// refused it (e.g. `no such frame` while the document is replaced), or the page threw.
    Failed(String),
}

impl Script {
    /// Whether the WebSocket is gone (every call would fail).
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    /// Calls `function`, a JavaScript function declaration of one string argument, with `arg`,
    /// awaiting the promise it may return. Ok: the string it returned (any other value is a
    /// [`CallError::Failed`]).
    pub async fn call(&self, function: &str, arg: String) -> Result<String, CallError> {
        let calls = &*self.inner;
        let not_sent = || CallError::NotSent("BiDi: the WebSocket is closed".into());
        if self.is_closed() {
            return Err(not_sent());
        }
        let id = calls.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&calls.pending).insert(id, tx);
        // From here on the entry goes when this call ends, answered or not (a caller's timeout
        // drops this future).
        let _forget = Forget { calls, id };
        // `close` sets `closed` before it empties `pending`: an entry made after that is seen here.
        if self.is_closed() {
            return Err(not_sent());
        }
        let cmd = json!({
            "id": id,
            "method": "script.callFunction",
            "params": {
                "functionDeclaration": function,
                "arguments": [{ "type": "string", "value": arg }],
                "target": { "context": calls.context },
                "awaitPromise": true,
            },
        });
        if calls.out.send(Message::text(cmd.to_string())).is_err() {
            return Err(not_sent());
        }
        let answer = rx
            .await
            .map_err(|_| CallError::Failed("BiDi: the WebSocket closed before the answer".into()))?;
        result_string(answer).map_err(CallError::Failed)
    }
}

/// Removes a call's entry from `pending` when its caller stops waiting.
struct Forget<'a> {
    calls: &'a Calls,
    id: u64,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        lock(&self.calls.pending).remove(&self.id);
    }
}

/// The string a `script.callFunction` answer carries: `{"type":"success","result":{"type":
/// "success","result":{"type":"string","value":…}}}` (W3C WebDriver BiDi, `script.EvaluateResult`).
fn result_string(answer: Value) -> Result<String, String> {
    if answer["type"] == "error" {
        return Err(format!(
            "BiDi script.callFunction: {} {}",
            answer["error"], answer["message"]
        ));
    }
    let result = &answer["result"];
    if result["type"] == "exception" {
        return Err(format!(
            "the page threw: {}",
            result["exceptionDetails"]["text"].as_str().unwrap_or("an exception")
        ));
    }
    match &result["result"] {
        v if v["type"] == "string" => Ok(v["value"].as_str().unwrap_or_default().to_string()),
        other => Err(format!("BiDi script.callFunction: not a string: {other}")),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Connects to the session's BiDi WebSocket, subscribes and installs the preload script. Must run
/// before the page is loaded (preload scripts apply to documents created after them). `context`
/// is the page's window handle (W3C BiDi: its browsing context id), where calls go.
pub async fn connect(ws_url: &str, context: &str) -> Result<Doorbell, String> {
    open(ws_url, context, false).await
}

/// The largest WebSocket message taken from the driver: 1 GiB, a media download's base64 with room.
const MESSAGE_MAX: usize = 1 << 30;

/// The BiDi function that makes `bell` the page's doorbell; rung once so the gateway drains.
const SET_BELL: &str = "(bell) => { window.__wagateBell = bell; bell('document'); }";

async fn open(ws_url: &str, context: &str, open_documents: bool) -> Result<Doorbell, String> {
    // A media download comes back as one answer (base64), so past tungstenite's default 64 MiB
    // (see `MESSAGE_MAX`). No Nagle delay: a call is one small frame that waits for its answer.
    let config = WebSocketConfig::default()
        .max_message_size(Some(MESSAGE_MAX))
        .max_frame_size(Some(MESSAGE_MAX));
    let (mut ws, _) = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tokio_tungstenite::connect_async_with_config(ws_url, Some(config), true),
    )
    .await
    .map_err(|_| format!("BiDi WebSocket {ws_url}: no connection within 10 s"))?
    .map_err(|e| format!("BiDi WebSocket {ws_url}: {e}"))?;
    let channel = json!([{ "type": "channel", "value": { "channel": CHANNEL } }]);
    let mut ask = async |id: u64, method: &str, params: Value| -> Result<Value, String> {
        let cmd = json!({ "id": id, "method": method, "params": params });
        ws.send(Message::text(cmd.to_string()))
            .await
            .map_err(|e| format!("BiDi send: {e}"))?;
        // Events may come before the answer; only the answer with our id matters here.
        loop {
            let msg = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
                .await
                .map_err(|_| "BiDi: no answer within 10 s".to_string())?
                .ok_or("BiDi: the WebSocket closed")?
                .map_err(|e| format!("BiDi read: {e}"))?;
            let Ok(text) = msg.to_text() else { continue };
            let v: Value = serde_json::from_str(text).unwrap_or_default();
            if v["id"] == id {
                if v["type"] == "error" {
                    return Err(format!("BiDi {method}: {} {}", v["error"], v["message"]));
                }
                return Ok(v["result"].clone());
            }
        }
    };
    ask(1, "session.subscribe", json!({ "events": ["script.message"] })).await?;
    ask(
        2,
        "script.addPreloadScript",
        json!({ "functionDeclaration": SET_BELL, "arguments": channel }),
    )
    .await?;
    if open_documents {
        let tree = ask(3, "browsingContext.getTree", json!({ "maxDepth": 0 })).await?;
        let contexts = tree["contexts"].as_array().cloned().unwrap_or_default();
        for (i, ctx) in contexts.iter().enumerate() {
            let target = json!({ "context": ctx["context"] });
            let params = json!({ "functionDeclaration": SET_BELL, "arguments": channel, "target": target, "awaitPromise": false });
            ask(4 + i as u64, "script.callFunction", params).await?;
        }
    }
    // Unbounded: a ring carries events, and a ring dropped here would leave them on the page
    // until the safety poll. The page rings once per burst, and the actor takes them in order;
    // the events of rings that wait too long stay on the page (see `Doorbell::waiting`).
    let (tx, rx) = mpsc::unbounded_channel();
    let waiting = Arc::new(AtomicUsize::new(0));
    let counted = waiting.clone();
    let (mut sink, mut stream) = ws.split();
    let (out, mut frames) = mpsc::unbounded_channel::<Message>();
    let calls = Arc::new(Calls {
        out,
        pending: Mutex::default(),
        // Past the ids the set-up above used.
        next_id: AtomicU64::new(1000),
        closed: AtomicBool::new(false),
        context: context.to_string(),
    });
    // Weak: the task ends with the last `Script` (its `out` sender), not with the WebSocket.
    let writer = Arc::downgrade(&calls);
    tokio::spawn(async move {
        while let Some(frame) = frames.recv().await {
            if let Err(e) = sink.send(frame).await {
                tracing::debug!(error = %e, "BiDi WebSocket: write failed");
                if let Some(calls) = writer.upgrade() {
                    calls.close();
                }
                break;
            }
        }
    });
    let answers = calls.clone();
    tokio::spawn(async move {
        while let Some(Ok(msg)) = stream.next().await {
            let Ok(text) = msg.to_text() else { continue };
            let Ok(mut v) = serde_json::from_str::<Value>(text) else {
                continue;
            };
            if let Some(id) = v["id"].as_u64() {
                if let Some(waiter) = lock(&answers.pending).remove(&id) {
                    let _ = waiter.send(v);
                }
            } else if v["type"] == "error" {
                // An error without an id: a command the driver could not read (its caller times out).
                tracing::warn!(error = %v["error"], message = %v["message"], "BiDi error without a command id");
            } else if v["method"] == "script.message" && v["params"]["channel"] == CHANNEL {
                // The argument as a BiDi remote value: `{"type": "string", "value": "…"}`; the
                // events are JSON (an object), a plain ring is a sequence number or `document`.
                let events = match v["params"]["data"]["value"].take() {
                    Value::String(s) if s.starts_with('{') && counted.load(Ordering::Relaxed) < WAITING_RINGS_MAX => {
                        Some(s)
                    }
                    _ => None,
                };
                counted.fetch_add(1, Ordering::Relaxed);
                if tx.send(Ring { events }).is_err() {
                    break;
                }
            }
        }
        answers.close();
    });
    Ok(Doorbell {
        rx,
        waiting,
        ws_url: ws_url.to_string(),
        context: context.to_string(),
        script: Script { inner: calls },
    })
}

/// The BiDi WebSocket URL the driver returned for a session, if it speaks BiDi.
pub fn websocket_url(client: &fantoccini::Client) -> Option<String> {
    client
        .capabilities()
        .and_then(|c| c.get("webSocketUrl"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_answer_is_its_string_or_the_reason_it_failed() {
        let ok = json!({"type": "success", "id": 1000, "result": {"type": "success", "realm": "r",
            "result": {"type": "string", "value": "{\"ok\":true}"}}});
        assert_eq!(result_string(ok).unwrap(), "{\"ok\":true}");
        let thrown = json!({"type": "success", "id": 1001, "result": {"type": "exception",
            "exceptionDetails": {"text": "TypeError: x is undefined"}}});
        assert!(result_string(thrown).unwrap_err().contains("TypeError: x is undefined"));
        let gone = json!({"type": "error", "id": 1002, "error": "no such frame", "message": "navigated"});
        assert!(result_string(gone).unwrap_err().contains("no such frame"));
        let number =
            json!({"type": "success", "result": {"type": "success", "result": {"type": "number", "value": 3}}});
        assert!(result_string(number).unwrap_err().contains("not a string"));
    }
}
