//! Is the page still reaching WhatsApp? A page can keep saying `CONNECTED` while its server round
//! trips hang (a wedged page, anchors-2026-11.md §3.3 4): the bridge still answers drains, so only
//! a real round trip through WhatsApp's server, under a timeout, tells. And what did the bridge
//! resolve on this page (the capability report)?

use std::time::Duration;

use tokio::time::Instant;

use super::{Actor, CALL_TIMEOUT};
use crate::browser::BridgeError;
use crate::browser::protocol::{CapabilityReport, Probe, Request};
use crate::error_code::ErrorCode;
use crate::sessions::state::SessionState;

impl Actor {
    fn liveness_interval(&self) -> Option<Duration> {
        let secs = self.settings.sessions.liveness_interval_secs;
        (secs > 0).then(|| Duration::from_secs(secs))
    }

    /// When the next idle probe is due: a connected page, `liveness_interval_secs` after its last
    /// proof of life. None: no probing (off, not connected, or not possible on this page).
    pub(super) fn probe_due(&self) -> Option<Instant> {
        let interval = self.liveness_interval()?;
        if self.current() != SessionState::Connected || self.doc.probe_unavailable {
            return None;
        }
        Some(self.doc.alive_at? + interval)
    }

    /// A probe now. Err(reason) when the page is wedged: the caller restarts the browser.
    pub(super) async fn probe(&mut self) -> Result<(), String> {
        let Some(page) = self.page.clone() else { return Ok(()) };
        let timeout = Duration::from_secs(self.settings.sessions.liveness_timeout_secs.max(1));
        let request = Request::Probe {
            timeout_ms: timeout.as_millis() as u64,
        };
        let started = Instant::now();
        // The page bounds the round trip itself; the extra margin is for the driver.
        let answer: Result<Probe, _> = page.request(&request, timeout + Duration::from_secs(5)).await;
        match answer {
            Ok(p) => {
                if p.linked {
                    metrics::histogram!("wagate_liveness_probe_seconds").record(started.elapsed().as_secs_f64());
                }
                // Not linked: nothing to ask; the next try is an interval away all the same.
                self.doc.alive_at = Some(Instant::now());
                Ok(())
            }
            Err(BridgeError::Page { code, message })
                if ErrorCode::from_page(&code) == ErrorCode::WaPageUnresponsive =>
            {
                metrics::counter!("wagate_liveness_failures_total").increment(1);
                tracing::warn!(session = self.key.id, %message, "the page is wedged; restarting its browser");
                Err(format!("WhatsApp Web stopped answering ({code}: {message})"))
            }
            Err(BridgeError::Timeout(d)) => {
                metrics::counter!("wagate_liveness_failures_total").increment(1);
                tracing::warn!(
                    session = self.key.id,
                    "the page did not answer a probe within {d:?}; restarting its browser"
                );
                Err(format!("WhatsApp Web stopped answering (no answer within {d:?})"))
            }
            Err(BridgeError::Page { code, message }) => {
                // No way to probe this page (a module is missing): not a sign of a wedge.
                tracing::warn!(session = self.key.id, %code, %message, "liveness probe unavailable on this page");
                self.doc.probe_unavailable = true;
                Ok(())
            }
            // The browser itself is gone: the next poll finds out and reopens it. Not again at once.
            Err(BridgeError::Driver(_)) => {
                self.doc.alive_at = Some(Instant::now());
                Ok(())
            }
        }
    }

    /// Before a send after a quiet spell (half the probe interval without proof of life): probe
    /// first, so that a send is not handed to a wedged page.
    pub(super) async fn alive_before_send(&mut self) -> Result<(), String> {
        let Some(interval) = self.liveness_interval() else {
            return Ok(());
        };
        match self.doc.alive_at {
            Some(at) if at.elapsed() >= interval / 2 && !self.doc.probe_unavailable => self.probe().await,
            _ => Ok(()),
        }
    }

    /// A send WhatsApp's server acknowledged is a proof of life too.
    pub(super) fn saw_server_ack(&mut self, ack: i32) {
        if ack >= 1 {
            self.doc.alive_at = Some(Instant::now());
        }
    }

    /// Reads the capability report from the page into the session's info and the metrics.
    pub(super) async fn refresh_capabilities(&mut self) {
        let Some(page) = self.page.clone() else { return };
        let report: CapabilityReport = match page.request(&Request::Capabilities, CALL_TIMEOUT).await {
            Ok(r) => r,
            Err(e) => return tracing::warn!(session = self.key.id, error = %e, "could not read the capability report"),
        };
        let session = self.key.id.to_string();
        for c in &report.capabilities {
            // 0 missing, 1 the first choice, 2 the first fallback, …
            let value = if c.ok {
                c.fallback.unwrap_or(0) as f64 + 1.0
            } else {
                0.0
            };
            metrics::gauge!("wagate_wa_capability", "session" => session.clone(), "capability" => c.name.clone())
                .set(value);
        }
        if let Some(v) = &report.version {
            metrics::gauge!("wagate_wa_web_build_info", "session" => session.clone(), "version" => v.clone()).set(1.0);
        }
        let missing: Vec<&str> = report
            .capabilities
            .iter()
            .filter(|c| !c.ok && !c.optional)
            .map(|c| c.error.as_deref().unwrap_or(c.name.as_str()))
            .collect();
        if !missing.is_empty() {
            tracing::warn!(session = self.key.id, ?missing, version = ?report.version, "WhatsApp Web lacks capabilities wagate needs");
        }
        self.info.send_modify(|i| i.capabilities = Some(report));
    }
}
