//! The Rust side of `bridge.js`: install it, drain its event queue, make typed calls into it
//! (the protocol is in `protocol.rs`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use fantoccini::Client;
use fantoccini::error::CmdError;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::bidi::{CallError, Script};
use super::protocol::{Drain, Request};
use crate::error_code::ErrorCode;

/// Embedded in the binary; installed once per document.
pub const BRIDGE_JS: &str = include_str!("bridge.js");

/// Raw bytes per `execute` when handing media to the page (base64 makes them 4/3 larger).
const CHUNK_BYTES: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    /// The page answered with an error code, e.g. `WA_MODULE_MISSING:WAWebSendMsgChatAction`.
    #[error("{code}: {message}")]
    Page { code: String, message: String },
    /// The browser or chromedriver did not answer as WebDriver should.
    #[error("browser error: {0}")]
    Driver(String),
    #[error("the page did not answer within {0:?}")]
    Timeout(Duration),
}

impl From<CmdError> for BridgeError {
    fn from(e: CmdError) -> Self {
        BridgeError::Driver(e.to_string())
    }
}

#[derive(Debug, Deserialize)]
struct CallAnswer {
    ok: bool,
    #[serde(default)]
    value: Value,
    code: Option<String>,
    message: Option<String>,
}

/// What an [`Page::install`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Install {
    /// The bridge is in this document (now, or already).
    Installed,
    /// The module graph is not ready: these boot capabilities are missing (their page codes,
    /// e.g. `WA_MODULE_MISSING:WAWebCollections`), or the registry is still growing (empty).
    Waiting(Vec<String>),
}

/// What a call into the page runs: classic WebDriver passes the request as an object, BiDi as
/// JSON text (and gets JSON text back, see `bidi::Script::call`).
const CALL_CLASSIC: &str = "return window.__wagate ? window.__wagate.call(arguments[0].method, arguments[0].params) \
                            : {ok:false, code:'BRIDGE_MISSING', message:'the page reloaded'}";
const CALL_BIDI: &str = "(text) => { const a = JSON.parse(text); \
                         return window.__wagate ? window.__wagate.call(a.method, a.params).then((r) => JSON.stringify(r)) \
                         : JSON.stringify({ok:false, code:'BRIDGE_MISSING', message:'the page reloaded'}); }";

/// A WhatsApp Web tab driven over WebDriver.
#[derive(Clone)]
pub struct Page {
    pub client: Client,
    /// The session's BiDi connection while it has one: calls go over it (shared by the clones,
    /// so a reconnect reaches every holder). None: classic WebDriver `execute`.
    script: Arc<Mutex<Option<Script>>>,
}

impl Page {
    pub fn new(client: Client) -> Self {
        Page {
            client,
            script: Arc::default(),
        }
    }

    /// Makes calls over `script` (a new BiDi connection), or over classic WebDriver (None).
    pub fn use_bidi(&self, script: Option<Script>) {
        *self.script.lock().unwrap_or_else(|e| e.into_inner()) = script;
    }

    /// WhatsApp Web's build, once its module system is up (`window.Debug.VERSION`).
    pub async fn wa_version(&self) -> Result<Option<String>, BridgeError> {
        let v = self
            .client
            .execute("return (window.Debug && window.Debug.VERSION) || null", vec![])
            .await?;
        Ok(v.as_str().map(str::to_string))
    }

    pub async fn location(&self) -> Result<String, BridgeError> {
        let v = self.client.execute("return location.href", vec![]).await?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    /// Installs the bridge (a no-op when this document already has it). Unless `force`d, the
    /// bridge declines while the modules it needs at boot are missing or the page's module
    /// registry is still growing ([`Install::Waiting`]): call again a little later (each call
    /// compares the registry with the previous one), and force it after a bounded wait.
    pub async fn install(&self, force: bool) -> Result<Install, BridgeError> {
        let script = format!("return ({})", BRIDGE_JS.trim_end().trim_end_matches(';'));
        let v = self.client.execute(&script, vec![json!({ "force": force })]).await?;
        #[derive(Deserialize)]
        struct Answer {
            status: String,
            #[serde(default)]
            missing: Vec<String>,
        }
        let a: Answer = serde_json::from_value(v).map_err(|e| BridgeError::Driver(format!("bridge install: {e}")))?;
        Ok(match a.status.as_str() {
            "waiting" => Install::Waiting(a.missing),
            _ => Install::Installed,
        })
    }

    /// Events after `after`, or all of them when the page's bridge is not `doc` (the one `after`
    /// counts in; None: the caller knows no other); None when the document has no bridge (it
    /// was reloaded).
    pub async fn drain(&self, after: u64, doc: Option<&str>) -> Result<Option<Drain>, BridgeError> {
        let v = self
            .client
            .execute(
                "return window.__wagate ? window.__wagate.drain(arguments[0], arguments[1]) : null",
                vec![json!(after), json!(doc)],
            )
            .await?;
        if v.is_null() {
            return Ok(None);
        }
        serde_json::from_value(v)
            .map(Some)
            .map_err(|e| BridgeError::Driver(e.to_string()))
    }

    /// Makes one call into the page. Page-side failures come back as [`BridgeError::Page`].
    pub async fn request<T: DeserializeOwned>(
        &self,
        request: &Request<'_>,
        timeout: Duration,
    ) -> Result<T, BridgeError> {
        let arg = serde_json::to_value(request).map_err(|e| BridgeError::Driver(e.to_string()))?;
        self.call_json(arg, timeout).await
    }

    /// Makes one call into the page given as its JSON, `{"method", "params"}` (a [`Request`] as
    /// it serialises): how a call another cluster node forwarded is made.
    pub async fn call_json<T: DeserializeOwned>(&self, arg: Value, timeout: Duration) -> Result<T, BridgeError> {
        let method = arg["method"].as_str().unwrap_or("?").to_string();
        let script = self.script.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let over_bidi = match script {
            Some(script) => match tokio::time::timeout(timeout, script.call(CALL_BIDI, arg.to_string())).await {
                Err(_) => return Err(BridgeError::Timeout(timeout)),
                Ok(Ok(text)) => Some(serde_json::from_str::<CallAnswer>(&text)),
                // A connection already lost (the actor has not noticed yet): classic WebDriver
                // reaches the same page. A call that may have run is not made again.
                Ok(Err(CallError::NotSent(_))) => None,
                Ok(Err(CallError::Failed(e))) => return Err(BridgeError::Driver(e)),
            },
            None => None,
        };
        let transport = if over_bidi.is_some() { "bidi" } else { "webdriver" };
        metrics::counter!("wagate_page_calls_total", "transport" => transport).increment(1);
        let answer = match over_bidi {
            Some(answer) => answer,
            None => {
                let raw = tokio::time::timeout(timeout, self.client.execute(CALL_CLASSIC, vec![arg]))
                    .await
                    .map_err(|_| BridgeError::Timeout(timeout))??;
                serde_json::from_value(raw)
            }
        }
        .map_err(|e| BridgeError::Driver(e.to_string()))?;
        if answer.ok {
            serde_json::from_value(answer.value).map_err(|e| BridgeError::Page {
                code: ErrorCode::BridgeBadAnswer.as_str().into(),
                message: format!("{method}: {e}"),
            })
        } else {
            Err(BridgeError::Page {
                code: answer.code.unwrap_or_else(|| ErrorCode::WaError.as_str().into()),
                message: answer.message.unwrap_or_default(),
            })
        }
    }

    /// Hands `bytes` to the page in parts (one call per MiB) under `upload_id`.
    pub async fn upload(&self, upload_id: &str, bytes: &[u8], timeout: Duration) -> Result<(), BridgeError> {
        let engine = base64::engine::general_purpose::STANDARD;
        for (index, chunk) in bytes.chunks(CHUNK_BYTES).enumerate() {
            let put = Request::PutChunk {
                upload_id,
                index,
                data: engine.encode(chunk),
            };
            let _: u64 = self.request(&put, timeout).await?;
        }
        Ok(())
    }

    /// Whether `bytes` go inline in the send call (one round trip) rather than in parts first.
    pub fn fits_one_call(bytes: &[u8]) -> bool {
        bytes.len() <= CHUNK_BYTES
    }
}
