//! Logging: human-readable (or JSON) to stdout, plus daily-rotated `combined` and `error` files.
//!
//! Secrets (API keys, passwords, QR payloads, message bodies) are never passed to `tracing` at any
//! level; first-start credentials go to stdout with `println!` so they never reach the files.

use std::io::IsTerminal;

use std::sync::{Arc, Mutex};

use tracing_appender::non_blocking::{NonBlocking, WorkerGuard};
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

/// The longest log line written (bytes); a longer one is cut and says so.
pub const MAX_LINE_BYTES: usize = 16 * 1024;

/// A daily log file that stops growing at `max_bytes` a day (UTC days, as the files rotate):
/// the first line past it is replaced by one notice, the rest of the day's lines are dropped.
/// Lines are cut at [`MAX_LINE_BYTES`]. The day's count starts from the size of today's file,
/// so restarts do not reset the cap.
#[derive(Clone)]
struct Capped {
    inner: NonBlocking,
    max_bytes: u64,
    /// `<dir>/<prefix>.<YYYY-MM-DD>.log`, the name tracing-appender gives a daily file.
    file: Option<(std::path::PathBuf, &'static str)>,
    /// (UTC day number, bytes written that day, whether the notice was written).
    day: Arc<Mutex<(u64, u64, bool)>>,
}

impl Capped {
    fn new(inner: NonBlocking, max_bytes: u64, file: Option<(std::path::PathBuf, &'static str)>) -> Self {
        Capped {
            inner,
            max_bytes,
            file,
            day: Arc::new(Mutex::new((0, 0, false))),
        }
    }

    /// What today's file already holds (bytes).
    fn size_today(&self) -> u64 {
        let Some((dir, prefix)) = &self.file else { return 0 };
        let date = chrono::Utc::now().format("%Y-%m-%d");
        std::fs::metadata(dir.join(format!("{prefix}.{date}.log")))
            .map(|m| m.len())
            .unwrap_or(0)
    }
}

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let line = cut_line(buf);
        let today = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() / 86_400)
            .unwrap_or_default();
        {
            let mut day = self.day.lock().unwrap_or_else(|e| e.into_inner());
            if day.0 != today {
                *day = (today, self.size_today(), false);
            }
            if day.1 + line.len() as u64 > self.max_bytes {
                if !day.2 {
                    day.2 = true;
                    let note = "log.max_bytes reached: further lines of this file are dropped until the next day\n";
                    self.inner.write_all(note.as_bytes())?;
                }
                return Ok(buf.len());
            }
            day.1 += line.len() as u64;
        }
        self.inner.write_all(&line)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A line cut to [`MAX_LINE_BYTES`], still ending in a newline.
fn cut_line(buf: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if buf.len() <= MAX_LINE_BYTES {
        return buf.into();
    }
    let mut out = buf[..MAX_LINE_BYTES].to_vec();
    out.extend_from_slice(format!("…(line cut: {} bytes)\n", buf.len()).as_bytes());
    out.into()
}

/// Installs the global subscriber. Files are `combined.<date>.log` and `error.<date>.log` in `log.dir`.
pub fn init(settings: &LogSettings) -> std::io::Result<TelemetryGuard> {
    std::fs::create_dir_all(&settings.dir)?;
    let (combined, g1) = tracing_appender::non_blocking(rolling(settings, "combined")?);
    let (errors, g2) = tracing_appender::non_blocking(rolling(settings, "error")?);
    let (combined, errors) = (
        Capped::new(combined, settings.max_bytes, Some((settings.dir.clone(), "combined"))),
        Capped::new(errors, settings.max_bytes, Some((settings.dir.clone(), "error"))),
    );
    let combined = move || combined.clone();
    let errors = move || errors.clone();
    let stdout = || LineCut(std::io::stdout());
    let filter = EnvFilter::try_new(&settings.level).map_err(std::io::Error::other)?;
    let result = tracing_subscriber::registry()
        .with(filter)
        .with(layer(settings.format, stdout, std::io::stdout().is_terminal()))
        .with(layer(settings.format, combined, false))
        .with(layer(settings.format, errors, false).with_filter(LevelFilter::ERROR))
        .try_init();
    if let Err(e) = result {
        return Err(std::io::Error::other(e));
    }
    Ok(TelemetryGuard { _guards: vec![g1, g2] })
}

/// Standard output with lines cut at [`MAX_LINE_BYTES`].
struct LineCut<W>(W);

impl<W: std::io::Write> std::io::Write for LineCut<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write_all(&cut_line(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[test]
    fn a_file_stops_at_its_daily_cap_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let appender = tracing_appender::rolling::never(dir.path(), "t.log");
        let (writer, guard) = tracing_appender::non_blocking(appender);
        let mut capped = Capped::new(writer, 1000, None);
        for _ in 0..100 {
            capped.write_all(&[b'x'; 99]).unwrap();
            capped.write_all(b"\n").unwrap();
        }
        capped.write_all(&vec![b'y'; MAX_LINE_BYTES * 2]).unwrap();
        drop(capped);
        drop(guard);
        let text = std::fs::read_to_string(dir.path().join("t.log")).unwrap();
        assert!(text.len() < 1200, "{}", text.len());
        assert_eq!(text.matches("log.max_bytes reached").count(), 1);
        assert!(cut_line(&vec![b'z'; MAX_LINE_BYTES + 10]).len() < MAX_LINE_BYTES + 64);
    }

    #[test]
    fn the_cap_counts_what_today_s_file_already_holds() {
        let dir = tempfile::tempdir().unwrap();
        let date = chrono::Utc::now().format("%Y-%m-%d");
        std::fs::write(dir.path().join(format!("combined.{date}.log")), vec![b'x'; 900]).unwrap();
        let appender = tracing_appender::rolling::never(dir.path(), "out.log");
        let (writer, guard) = tracing_appender::non_blocking(appender);
        let mut capped = Capped::new(writer, 1000, Some((dir.path().to_path_buf(), "combined")));
        for _ in 0..5 {
            capped.write_all(&[b'z'; 49]).unwrap();
            capped.write_all(b"\n").unwrap();
        }
        drop(capped);
        drop(guard);
        let text = std::fs::read_to_string(dir.path().join("out.log")).unwrap();
        assert_eq!(text.matches('z').count(), 49 * 2, "900 + 2 × 50 bytes fit under 1000");
        assert!(text.contains("log.max_bytes reached"));
    }
}
