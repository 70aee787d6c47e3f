//! wagate-sim: a WhatsApp Web simulator for wagate's tests, demos and benchmarks.
//!
//! The page at `/` carries WhatsApp Web's in-page surface (`window.Debug.VERSION`,
//! `window.require` and the modules of wa-web-surface.md §10.2/§10.3) and talks to this server
//! the way WhatsApp Web talks to WhatsApp's servers. The control API (HTTP under `/control/api/`,
//! or [`SimControl`] in-process) plays the phone: scan, pair, deliver, ack, log out.

mod control;
mod server;

use std::net::TcpListener;
use std::time::Duration;

pub use control::{
    ChatStateRecord, DeviceInfo, IncomingMedia, IncomingMessage, PageInfo, SentRecord, SimControl, SimError,
};

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
            version: "2.3000.1017054665".into(),
            platform: "WEB".into(),
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
