//! wagate-sim: a WhatsApp Web simulator for wagate's tests, demos and benchmarks.
//!
//! The page at `/` carries WhatsApp Web's in-page surface (`window.Debug.VERSION`,
//! `window.require` and the modules of wa-web-surface.md §10.2/§10.3) and talks to this server
//! the way WhatsApp Web talks to WhatsApp's servers. The control API (HTTP under `/control/api/`,
//! or [`SimControl`] in-process) plays the phone: scan, pair, deliver, ack, log out.

mod control;
mod server;

use std::fmt;
use std::net::TcpListener;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use control::{
    CallOffer, CallRecord, CallState, ChatSeed, ChatStateRecord, ContactSeed, DeviceInfo, GroupChange, GroupInfo,
    GroupNotified, HistoryMessage, IncomingLocation, IncomingMedia, IncomingMessage, IncomingPoll, IncomingPresence,
    IncomingReaction, IncomingVote, PageInfo, Profile, SentPoll, SentRecord, SimControl, SimError,
};

/// Which WhatsApp Web the page plays (sim/README.md, "Eras").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Era {
    /// WhatsApp Web as of early 2026 (wa-web-surface.md): today's behaviour.
    #[default]
    Jan2026,
    /// After the July–September 2026 changes (anchors-2026-11.md §3): minified message-key
    /// field, lazy bundles, late registration, `__x_id`, `avParams` as data, LID-first senders,
    /// the passkey prologue.
    Sep2026,
}

impl Era {
    pub fn as_str(self) -> &'static str {
        match self {
            Era::Jan2026 => "2026-01",
            Era::Sep2026 => "2026-09",
        }
    }

    /// A WhatsApp Web build of that era (`window.Debug.VERSION`).
    pub fn version(self) -> &'static str {
        match self {
            Era::Jan2026 => "2.3000.1017054665",
            // A build of 2026-09-17 with the `__x_id` media break (anchors §3.2).
            Era::Sep2026 => "2.3000.1047780587",
        }
    }
}

impl fmt::Display for Era {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Era {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "2026-01" => Ok(Era::Jan2026),
            "2026-09" => Ok(Era::Sep2026),
            other => Err(format!("unknown era {other:?} (2026-01 or 2026-09)")),
        }
    }
}

impl Serialize for Era {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Era {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone)]
pub struct SimConfig {
    /// 0 picks a free port.
    pub port: u16,
    pub host: String,
    /// How often the QR reference rotates (WhatsApp: about 20 s).
    pub qr_rotation: Duration,
    /// Rotations before the page falls to `UNPAIRED_IDLE`.
    pub qr_max_rotations: u32,
    /// `window.Debug.VERSION` appears this long after load.
    pub version_delay: Duration,
    /// Loading 0..100 then `hasSynced`, after a link or a restore.
    pub sync_duration: Duration,
    /// Acks 2 and 3 follow a send on short timers; off: only `set_ack` moves them.
    pub auto_acks: bool,
    pub version: String,
    /// QR field 5.
    pub platform: String,
    /// The era of WhatsApp Web played; the control API can switch it for later page loads.
    pub era: Era,
    /// 2026-09: how long after `Debug.VERSION` the last modules register.
    pub late_registration: Duration,
}

impl SimConfig {
    /// The defaults, in `era`, with a WhatsApp Web build of that era.
    pub fn for_era(era: Era) -> Self {
        SimConfig {
            era,
            version: era.version().into(),
            ..SimConfig::default()
        }
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            port: 0,
            host: "127.0.0.1".into(),
            qr_rotation: Duration::from_secs(20),
            qr_max_rotations: 5,
            version_delay: Duration::from_millis(300),
            sync_duration: Duration::from_millis(1000),
            auto_acks: true,
            version: Era::Jan2026.version().into(),
            platform: "WEB".into(),
            era: Era::Jan2026,
            late_registration: Duration::from_millis(1200),
        }
    }
}

pub struct Simulator {
    base_url: String,
    control: SimControl,
    handle: actix_web::dev::ServerHandle,
}

impl Simulator {
    /// Starts the simulator on `cfg.host:cfg.port` (port 0: any free one).
    pub async fn start(cfg: SimConfig) -> std::io::Result<Simulator> {
        let listener = TcpListener::bind((cfg.host.as_str(), cfg.port))?;
        let addr = listener.local_addr()?;
        let control = SimControl::new(cfg);
        let server = server::build(listener, control.clone())?;
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Simulator {
            base_url: format!("http://{addr}/"),
            control,
            handle,
        })
    }

    /// The page URL, with its trailing slash, e.g. `http://127.0.0.1:9300/`.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    pub fn control(&self) -> SimControl {
        self.control.clone()
    }

    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eras_are_spelled_by_month() {
        assert_eq!("2026-09".parse::<Era>(), Ok(Era::Sep2026));
        assert_eq!(Era::default().to_string(), "2026-01");
        assert!("2026-07".parse::<Era>().is_err());
        assert_eq!(serde_json::to_string(&Era::Sep2026).unwrap(), "\"2026-09\"");
        assert_eq!(SimConfig::for_era(Era::Sep2026).version, Era::Sep2026.version());
    }
}
