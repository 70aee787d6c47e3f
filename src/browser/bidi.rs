//! Page events pushed over WebDriver BiDi, as a doorbell: the page rings, the actor drains.
//!
//! A session created with the capability `webSocketUrl: true` answers with a WebSocket URL
//! (W3C WebDriver BiDi; chromedriver implements it, Selenium Grid 4 proxies it). On it we
//! subscribe to `script.message` and add a preload script that receives a `channel` argument: in
//! every new document of the page it stores the channel's function as `window.__wagateBell` and
//! rings it once (a new document needs the bridge installed). The bridge rings the bell when it
//! queues an event; the actor then drains the page's sequence-numbered queue with one call, as
//! it did on its poll tick. The queue stays the one source of events (nothing is lost if a ring
//! is missed: a slow safety poll still drains), and there is no polling in steady state.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// The `script.message` channel the page rings on.
const CHANNEL: &str = "wagate";

/// Rings from the page. `ring()` resolves when the page rang since the last one, and to `false`
/// when the WebSocket is gone (the caller falls back to polling).
pub struct Doorbell {
    rx: mpsc::Receiver<()>,
}

impl Doorbell {
    pub async fn ring(&mut self) -> bool {
        self.rx.recv().await.is_some()
    }
}

/// Connects to the session's BiDi WebSocket, subscribes and installs the preload script. Must run
/// before the page is loaded (preload scripts apply to documents created after them).
pub async fn connect(ws_url: &str) -> Result<Doorbell, String> {
    let (mut ws, _) = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tokio_tungstenite::connect_async(ws_url),
    )
    .await
    .map_err(|_| format!("BiDi WebSocket {ws_url}: no connection within 10 s"))?
    .map_err(|e| format!("BiDi WebSocket {ws_url}: {e}"))?;
    let commands = [
        json!({ "id": 1, "method": "session.subscribe", "params": { "events": ["script.message"] } }),
        json!({ "id": 2, "method": "script.addPreloadScript", "params": {
            "functionDeclaration": "(bell) => { window.__wagateBell = bell; bell('document'); }",
            "arguments": [{ "type": "channel", "value": { "channel": CHANNEL } }],
        } }),
    ];
    for cmd in commands {
        let id = cmd["id"].clone();
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
                    return Err(format!("BiDi {}: {}", v["error"], v["message"]));
                }
                break;
            }
        }
    }
    // Capacity one: rings that come while the actor drains are one ring.
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        while let Some(Ok(msg)) = ws.next().await {
            let Ok(text) = msg.to_text() else { continue };
            let Ok(v) = serde_json::from_str::<Value>(text) else {
                continue;
            };
            if v["method"] == "script.message" && v["params"]["channel"] == CHANNEL {
                match tx.try_send(()) {
                    Ok(()) | Err(mpsc::error::TrySendError::Full(())) => {}
                    Err(mpsc::error::TrySendError::Closed(())) => break,
                }
            }
        }
    });
    Ok(Doorbell { rx })
}

/// The BiDi WebSocket URL the driver returned for a session, if it speaks BiDi.
pub fn websocket_url(client: &fantoccini::Client) -> Option<String> {
    client
        .capabilities()
        .and_then(|c| c.get("webSocketUrl"))
        .and_then(Value::as_str)
        .map(str::to_string)
}
