use std::time::Duration;

use clap::Parser;
use wagate_sim::{Era, SimConfig, Simulator};

/// A WhatsApp Web simulator: point wagate's `browser.whatsapp_url` at it and play the phone at
/// `/control`.
#[derive(Parser)]
#[command(name = "wagate-sim", version)]
struct Args {
    #[arg(long, default_value_t = 9300)]
    port: u16,
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Seconds between QR rotations.
    #[arg(long, default_value_t = 20)]
    qr_rotation: u64,
    /// Rotations before the QR goes idle.
    #[arg(long, default_value_t = 5)]
    qr_max_rotations: u32,
    /// Acks move only when the control API says so.
    #[arg(long)]
    manual_acks: bool,
    /// The WhatsApp Web played: 2026-01 (early 2026) or 2026-09 (after the July–September changes).
    #[arg(long, default_value = "2026-01")]
    era: Era,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let a = Args::parse();
    let sim = Simulator::start(SimConfig {
        port: a.port,
        host: a.host,
        qr_rotation: Duration::from_secs(a.qr_rotation.max(1)),
        qr_max_rotations: a.qr_max_rotations,
        auto_acks: !a.manual_acks,
        ..SimConfig::for_era(a.era)
    })
    .await?;
    println!("wagate-sim: WhatsApp Web at {}", sim.base_url());
    println!("wagate-sim: play the phone at {}control", sim.base_url());
    tokio::signal::ctrl_c().await?;
    sim.stop().await;
    Ok(())
}
