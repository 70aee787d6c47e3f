//! Session states and how WhatsApp Web's `Socket.state` maps onto them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::browser::protocol::CapabilityReport;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    /// Browser starting, page loading.
    Starting,
    /// Showing a QR code (or waiting for a pairing code to be entered).
    QrPending,
    /// Scanned or code entered: WhatsApp is pairing the device.
    Pairing,
    /// Linking waits for the account owner to confirm with a passkey on their phone or browser
    /// (WhatsApp's passkey prologue); `reason` says what WhatsApp asked. Approved, linking goes
    /// on (`pairing`); declined, a fresh QR code is shown (`qr_pending`).
    PasskeyRequired,
    /// Linked; history and offline messages are loading.
    Syncing,
    /// Ready to send and receive.
    Connected,
    /// Lost the browser or WhatsApp's connection; recovering on its own.
    Disconnected,
    /// Unlinked (from the phone or by the API); the profile is wiped.
    LoggedOut,
    /// Cannot continue without help (page unreachable, banned, unsupported build).
    Failed,
    /// Not running (stopped, idle, or not started yet); a linked profile stays on disk.
    Stopped,
}

impl SessionState {
    pub const ALL: [SessionState; 10] = [
        SessionState::Starting,
        SessionState::QrPending,
        SessionState::Pairing,
        SessionState::PasskeyRequired,
        SessionState::Syncing,
        SessionState::Connected,
        SessionState::Disconnected,
        SessionState::LoggedOut,
        SessionState::Failed,
        SessionState::Stopped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Starting => "starting",
            SessionState::QrPending => "qr_pending",
            SessionState::Pairing => "pairing",
            SessionState::PasskeyRequired => "passkey_required",
            SessionState::Syncing => "syncing",
            SessionState::Connected => "connected",
            SessionState::Disconnected => "disconnected",
            SessionState::LoggedOut => "logged_out",
            SessionState::Failed => "failed",
            SessionState::Stopped => "stopped",
        }
    }

    /// States after which the actor has ended.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            SessionState::LoggedOut | SessionState::Failed | SessionState::Stopped
        )
    }
}

/// What the actor publishes on its `watch` channel: read by status calls without a browser trip.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    pub state: SessionState,
    pub reason: Option<String>,
    /// The raw QR payload (`ref,noiseKey,identityKey,advSecret,platform`) while unpaired.
    pub qr: Option<String>,
    /// The same as a `data:image/png;base64,…` URL.
    pub qr_png: Option<String>,
    pub pairing_code: Option<String>,
    /// Digits only, e.g. `15550001234`.
    pub phone: Option<String>,
    /// `<phone>@c.us`.
    pub wid: Option<String>,
    pub lid: Option<String>,
    pub push_name: Option<String>,
    /// Loading progress 0–100 while syncing.
    pub loading: Option<u32>,
    pub since: DateTime<Utc>,
    pub last_error: Option<String>,
    /// What the bridge resolved on the live page (read after each page load and each connect).
    pub capabilities: Option<CapabilityReport>,
}

impl SessionInfo {
    pub fn new(state: SessionState, reason: Option<String>) -> Self {
        SessionInfo {
            state,
            reason,
            qr: None,
            qr_png: None,
            pairing_code: None,
            phone: None,
            wid: None,
            lid: None,
            push_name: None,
            loading: None,
            since: Utc::now(),
            last_error: None,
            capabilities: None,
        }
    }

    pub fn is_ready(&self) -> bool {
        self.state == SessionState::Connected
    }
}

/// What a `Socket.state` value means for us (wa-web-surface.md §2.4). `synced` is whether
/// `hasSynced` was seen in this document; `was_linked` whether this session was ever connected.
pub fn map_wa_state(wa: &str, synced: bool, was_linked: bool) -> (SessionState, Option<String>) {
    let reason = |r: &str| Some(r.to_string());
    match wa {
        "OPENING" | "UNLAUNCHED" | "RESUMING" | "SYNCING" | "NORMAL" => {
            if was_linked {
                (SessionState::Syncing, reason(wa))
            } else {
                (SessionState::Starting, reason(wa))
            }
        }
        "PAIRING" => (SessionState::Pairing, reason("PAIRING")),
        "UNPAIRED" | "UNPAIRED_IDLE" if was_linked => (
            SessionState::LoggedOut,
            reason("UNPAIRED: the device was unlinked from the phone"),
        ),
        "UNPAIRED" | "UNPAIRED_IDLE" => (SessionState::QrPending, reason(wa)),
        "CONNECTED" if synced => (SessionState::Connected, None),
        "CONNECTED" => (SessionState::Syncing, reason("CONNECTED: waiting for sync")),
        "CONFLICT" => (
            SessionState::Disconnected,
            reason("CONFLICT: WhatsApp Web is open in another browser"),
        ),
        "TIMEOUT" => (
            SessionState::Disconnected,
            reason("TIMEOUT: WhatsApp's connection timed out"),
        ),
        "PROXYBLOCK" | "TOS_BLOCK" | "SMB_TOS_BLOCK" => (
            SessionState::Failed,
            Some(format!("{wa}: WhatsApp blocked this account or connection")),
        ),
        "DEPRECATED_VERSION" => (
            SessionState::Failed,
            reason("DEPRECATED_VERSION: WhatsApp refuses this web build"),
        ),
        other => (
            SessionState::Disconnected,
            Some(format!("unknown WhatsApp state {other}")),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_map_as_wa_web_documents_them() {
        use SessionState::*;
        let cases = [
            ("OPENING", false, false, Starting),
            ("OPENING", false, true, Syncing),
            ("UNPAIRED", false, false, QrPending),
            ("UNPAIRED_IDLE", false, false, QrPending),
            ("PAIRING", false, false, Pairing),
            ("CONNECTED", false, true, Syncing),
            ("CONNECTED", true, true, Connected),
            ("UNPAIRED", true, true, LoggedOut),
            ("CONFLICT", true, true, Disconnected),
            ("TIMEOUT", true, true, Disconnected),
            ("TOS_BLOCK", true, true, Failed),
            ("DEPRECATED_VERSION", false, false, Failed),
        ];
        for (wa, synced, linked, want) in cases {
            assert_eq!(
                map_wa_state(wa, synced, linked).0,
                want,
                "{wa} synced={synced} linked={linked}"
            );
        }
        assert!(map_wa_state("TOS_BLOCK", true, true).1.unwrap().contains("TOS_BLOCK"));
        assert_eq!(map_wa_state("CONNECTED", true, true).1, None);
    }

    #[test]
    fn terminal_states() {
        assert!(SessionState::LoggedOut.is_terminal());
        assert!(!SessionState::Disconnected.is_terminal());
        assert_eq!(serde_json::to_value(SessionState::QrPending).unwrap(), "qr_pending");
        assert_eq!(
            serde_json::to_value(SessionState::PasskeyRequired).unwrap(),
            SessionState::PasskeyRequired.as_str()
        );
        assert!(!SessionState::PasskeyRequired.is_terminal());
    }
}
