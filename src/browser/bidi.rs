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

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

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
}

/// Connects to the session's BiDi WebSocket, subscribes and installs the preload script. Must run
/// before the page is loaded (preload scripts apply to documents created after them).
pub async fn connect(ws_url: &str) -> Result<Doorbell, String> {
    open(ws_url, false).await
}

/// The BiDi function that makes `bell` the page's doorbell; rung once so the gateway drains.
const SET_BELL: &str = "(bell) => { window.__wagateBell = bell; bell('document'); }";

async fn open(ws_url: &str, open_documents: bool) -> Result<Doorbell, String> {
    let (mut ws, _) = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tokio_tungstenite::connect_async(ws_url),
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
    tokio::spawn(async move {
        while let Some(Ok(msg)) = ws.next().await {
            let Ok(text) = msg.to_text() else { continue };
            let Ok(mut v) = serde_json::from_str::<Value>(text) else {
                continue;
            };
            if v["method"] == "script.message" && v["params"]["channel"] == CHANNEL {
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
    });
    Ok(Doorbell {
        rx,
        waiting,
        ws_url: ws_url.to_string(),
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
