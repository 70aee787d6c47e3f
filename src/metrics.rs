//! Prometheus metrics (`GET /metrics`): counters and histograms are recorded where things happen;
//! gauges (sessions by state, queue and outbox depth, each browser's memory) are read at scrape.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::AppState;
use crate::sessions::SessionState;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Seconds: from a 5 ms send to a 2-minute ack.
const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// Installs the process-wide recorder once (tests build several applications in one process).
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &BUCKETS)
                .expect("buckets are not empty")
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics may be empty");
            }
            handle
        })
        .clone()
}

/// The text exposition, with the scrape-time gauges refreshed first.
pub async fn render(state: &AppState) -> String {
    let counts = state.sessions.state_counts();
    for s in SessionState::ALL {
        let n = counts.get(&s).copied().unwrap_or(0);
        metrics::gauge!("wagate_sessions", "state" => s.as_str()).set(n as f64);
    }
    match state.db.depths().await {
        Ok((queued, outbox)) => {
            metrics::gauge!("wagate_queue_depth").set(queued as f64);
            metrics::gauge!("wagate_outbox_depth").set(outbox as f64);
        }
        Err(e) => tracing::warn!(error = %e, "metrics: could not read queue depths"),
    }
    let sessions = state.sessions.clone();
    let usage = tokio::task::spawn_blocking(move || sessions.browser_usage())
        .await
        .unwrap_or_default();
    for (key, u) in usage {
        let id = key.id.to_string();
        metrics::gauge!("wagate_chromium_pss_bytes", "session" => id.clone()).set((u.pss_kb * 1024) as f64);
        metrics::gauge!("wagate_chromium_rss_bytes", "session" => id.clone()).set((u.rss_kb * 1024) as f64);
        metrics::gauge!("wagate_chromium_processes", "session" => id).set(u.processes as f64);
    }
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        let kb = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        metrics::gauge!("wagate_process_resident_memory_bytes").set(kb * 1024.0);
    }
    install().render()
}
