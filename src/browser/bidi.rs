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

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

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
        open(&self.ws_url, true).await
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
    sink: tokio::sync::Mutex<SplitSink<Socket, Message>>,
    /// Calls waiting for their answer, by command id; emptied when the WebSocket closes.
    pending: Mutex<HashMap<u64, oneshot::Sender<Value>>>,
    next_id: AtomicU64,
    closed: AtomicBool,
    /// The top-level browsing context (W3C BiDi: the same id as the WebDriver window handle).
    context: String,
}

impl Script {
    /// Whether the WebSocket is gone (every call would fail).
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    /// Calls `function`, a JavaScript function declaration of one string argument, with `arg`,
    /// awaiting the promise it may return. Ok: the string it returned (any other value is an
    /// error); Err: the reason, for a closed WebSocket, a BiDi error (e.g. `no such frame`
    /// while the document is replaced) or an exception thrown in the page.
    pub async fn call(&self, function: &str, arg: String) -> Result<String, String> {
        let calls = &self.inner;
        let id = calls.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&calls.pending).insert(id, tx);
        // The reader sets `closed` before it empties `pending`: a call registered after that
        // is answered here, not left waiting.
        if calls.closed.load(Ordering::Acquire) {
            lock(&calls.pending).remove(&id);
            return Err("BiDi: the WebSocket closed".into());
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
        let sent = calls.sink.lock().await.send(Message::text(cmd.to_string())).await;
        if let Err(e) = sent {
            lock(&calls.pending).remove(&id);
            return Err(format!("BiDi send: {e}"));
        }
        // Dropped without an answer (a caller's timeout drops this future): its entry goes too.
        let _forget = Forget { calls, id };
        let answer = rx.await.map_err(|_| "BiDi: the WebSocket closed".to_string())?;
        result_string(answer)
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
/// before the page is loaded (preload scripts apply to documents created after them).
pub async fn connect(ws_url: &str) -> Result<Doorbell, String> {
    open(ws_url, false).await
}

/// The BiDi function that makes `bell` the page's doorbell; rung once so the gateway drains.
const SET_BELL: &str = "(bell) => { window.__wagateBell = bell; bell('document'); }";

async fn open(ws_url: &str, open_documents: bool) -> Result<Doorbell, String> {
    // No size limit on a message (tungstenite's default is 64 MiB): the peer is the session's own
    // driver, and a media download comes back as one answer (base64). No Nagle delay either: a
    // call is one small frame that waits for its answer.
    let config = WebSocketConfig::default().max_message_size(None).max_frame_size(None);
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
    let tree = ask(3, "browsingContext.getTree", json!({ "maxDepth": 0 })).await?;
    let contexts = tree["contexts"].as_array().cloned().unwrap_or_default();
    let context = contexts
        .first()
        .and_then(|c| c["context"].as_str())
        .ok_or("BiDi: the session has no browsing context")?
        .to_string();
    if open_documents {
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
    let (sink, mut stream) = ws.split();
    let calls = Arc::new(Calls {
        sink: tokio::sync::Mutex::new(sink),
        pending: Mutex::default(),
        // Past the ids the set-up above used.
        next_id: AtomicU64::new(1000),
        closed: AtomicBool::new(false),
        context,
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
        answers.closed.store(true, Ordering::Release);
        lock(&answers.pending).clear();
    });
    Ok(Doorbell {
        rx,
        waiting,
        ws_url: ws_url.to_string(),
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
