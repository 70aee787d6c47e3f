//! Logging: human-readable (or JSON) to stdout, plus daily-rotated `combined` and `error` files.
//!
//! Secrets (API keys, passwords, QR payloads, message bodies) are never passed to `tracing` at any
//! level; first-start credentials go to stdout with `println!` so they never reach the files.

use std::io::IsTerminal;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, fmt};

use crate::config::{LogFormat, LogSettings};

/// Keeps the background log writers alive; drop it last so buffered lines are flushed.
pub struct TelemetryGuard {
    _guards: Vec<WorkerGuard>,
}

fn rolling(settings: &LogSettings, prefix: &str) -> std::io::Result<RollingFileAppender> {
    RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix(prefix)
        .filename_suffix("log")
        .max_log_files(settings.max_files.max(1))
        .build(&settings.dir)
        .map_err(std::io::Error::other)
}

fn layer<S, W>(format: LogFormat, writer: W, ansi: bool) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    match format {
        LogFormat::Text => fmt::layer().with_writer(writer).with_ansi(ansi).boxed(),
        LogFormat::Json => fmt::layer().json().with_writer(writer).boxed(),
    }
}

/// Installs the global subscriber. Files are `combined.<date>.log` and `error.<date>.log` in `log.dir`.
pub fn init(settings: &LogSettings) -> std::io::Result<TelemetryGuard> {
    std::fs::create_dir_all(&settings.dir)?;
    let (combined, g1) = tracing_appender::non_blocking(rolling(settings, "combined")?);
    let (errors, g2) = tracing_appender::non_blocking(rolling(settings, "error")?);
    let filter = EnvFilter::try_new(&settings.level).map_err(std::io::Error::other)?;
    let result = tracing_subscriber::registry()
        .with(filter)
        .with(layer(settings.format, std::io::stdout, std::io::stdout().is_terminal()))
        .with(layer(settings.format, combined, false))
        .with(layer(settings.format, errors, false).with_filter(LevelFilter::ERROR))
        .try_init();
    if let Err(e) = result {
        return Err(std::io::Error::other(e));
    }
    Ok(TelemetryGuard { _guards: vec![g1, g2] })
}
