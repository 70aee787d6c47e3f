//! Browser tests: the simulator, a browser budget for 2 cores, QR decoding, linking helpers.

use std::time::Duration;

use base64::Engine;
use tokio::sync::{Semaphore, SemaphorePermit};
use wagate::config::Settings;
use wagate::sessions::{SessionHandle, SessionInfo, SessionState};
use wagate_sim::{Era, SimConfig, SimError, Simulator};

/// At most this many browsers at once across the test binary: the machine has 2 cores.
static BROWSERS: Semaphore = Semaphore::const_new(3);

pub async fn browsers(n: u32) -> SemaphorePermit<'static> {
    BROWSERS.acquire_many(n).await.unwrap()
}

/// The era of WhatsApp Web the suite plays against: `WAGATE_TEST_SIM_ERA` (`2026-01`, the
/// default, or `2026-09`; `make test` runs the suite in both).
pub fn sim_era() -> Era {
    match std::env::var("WAGATE_TEST_SIM_ERA") {
        Ok(v) if !v.trim().is_empty() => v.parse().unwrap_or_else(|e| panic!("WAGATE_TEST_SIM_ERA: {e}")),
        _ => Era::default(),
    }
}

/// A simulator of the suite's era, with a short QR period so tests see rotation quickly.
pub async fn simulator() -> Simulator {
    simulator_in(sim_era()).await
}

/// A simulator of a given era (tests of one era's changes), with a short QR period.
pub async fn simulator_in(era: Era) -> Simulator {
    Simulator::start(SimConfig {
        qr_rotation: Duration::from_secs(3),
        qr_max_rotations: 5,
        ..SimConfig::for_era(era)
    })
    .await
    .expect("simulator starts")
}

/// How the simulator's page addresses the person with this phone number (digits) in a
/// one-to-one chat: `<phone>@c.us` in 2026-01, `<lid>@lid` in 2026-09.
pub async fn peer_id(sim: &Simulator, phone: &str) -> String {
    match sim.control().era().await {
        Era::Jan2026 => format!("{phone}@c.us"),
        Era::Sep2026 => format!("{}@lid", sim.control().lid_for(phone).await),
    }
}

pub fn point_at(settings: &mut Settings, sim: &Simulator) {
    settings.browser.whatsapp_url = sim.base_url();
}

/// Decodes a `data:image/png;base64,…` QR image back to its text.
pub fn decode_qr_data_url(url: &str) -> String {
    let b64 = url.strip_prefix("data:image/png;base64,").expect("a PNG data URL");
    let png = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
    decode_qr_png(&png)
}

pub fn decode_qr_png(png: &[u8]) -> String {
    let img = image::load_from_memory(png).expect("a PNG").to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(img);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    grids[0].decode().expect("the QR code decodes").1
}

pub async fn wait_state(h: &SessionHandle, state: SessionState, secs: u64) -> SessionInfo {
    h.wait_for(Duration::from_secs(secs), |i| i.state == state)
        .await
        .unwrap_or_else(|| panic!("no {state:?} within {secs} s; last: {:?}", h.info()))
}

pub async fn wait_qr(h: &SessionHandle) -> SessionInfo {
    h.wait_for(Duration::from_secs(60), |i| i.qr.is_some())
        .await
        .unwrap_or_else(|| panic!("no QR within 60 s; last: {:?}", h.info()))
}

/// Scans a QR `payload` the gateway showed, as the phone `phone`. The test simulator rotates its
/// QR every 3 s: when the shown one rotated before the scan (a loaded machine; a 2026-09 page, whose
/// bridge waits for the module graph first), the page's current QR is scanned instead, as a person
/// looking at the screen would — the same page, told by the QR's key fields (stable per profile).
pub async fn scan_shown(sim: &Simulator, payload: &str, phone: &str) {
    let keys = |p: &str| p.split(',').skip(1).collect::<Vec<_>>().join(",");
    let mut current = payload.to_string();
    for _ in 0..3 {
        match sim.control().scan(&current, Some(phone)).await {
            Ok(_) => return,
            Err(SimError::StaleQr) => {}
            Err(e) => panic!("scan refused: {e}"),
        }
        let pages = sim.control().pages().await;
        current = pages
            .iter()
            .filter_map(|p| p.qr.clone())
            .find(|q| keys(q) == keys(payload))
            .unwrap_or_else(|| panic!("no page shows a QR of this profile any more: {pages:?}"));
    }
    panic!("the QR kept rotating away");
}

/// Scans the session's QR code as the phone `phone` and waits until it is connected.
pub async fn link(sim: &Simulator, h: &SessionHandle, phone: &str) -> SessionInfo {
    let info = wait_qr(h).await;
    scan_shown(sim, info.qr.as_deref().unwrap(), phone).await;
    wait_state(h, SessionState::Connected, 60).await
}

/// Bytes that sniff as PNG, `n` bytes of body after the signature.
pub fn png_bytes(n: usize) -> Vec<u8> {
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"
        .iter()
        .copied()
        .chain((0..n).map(|i| (i % 253) as u8))
        .collect()
}

/// Every stored message the key sees (`GET /api/v1/messages/?limit=500`), newest first.
pub async fn stored_messages(app: &crate::common::TestApp, key: &str) -> Vec<serde_json::Value> {
    crate::common::json(app.get("/api/v1/messages/?limit=500", key).await, 200).await["data"]["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The stored message with this WhatsApp id, once it is stored (panics after 15 s).
pub async fn stored_by_wa_id(app: &crate::common::TestApp, key: &str, wa_id: &str) -> serde_json::Value {
    for _ in 0..150 {
        if let Some(m) = stored_messages(app, key)
            .await
            .into_iter()
            .find(|m| m["messageId"] == wa_id)
        {
            return m;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{wa_id} was never stored");
}
