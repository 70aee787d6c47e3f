//! The WebDriver endpoint: a chromedriver child that wagate starts lazily and supervises, or a
//! remote one (`browser.webdriver_url`: chromedriver elsewhere, a Selenium Grid).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};
use std::time::Duration;

use tokio::process::Command;
use tokio::sync::OnceCell;

#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("chromedriver could not be started ({path}): {reason}")]
    Start { path: String, reason: String },
}

#[derive(Clone)]
pub enum WebDriver {
    Local(Arc<Chromedriver>),
    Remote(String),
}

impl WebDriver {
    pub fn new(chromedriver: PathBuf, remote_url: &str) -> Self {
        if remote_url.is_empty() {
            WebDriver::Local(Arc::new(Chromedriver {
                path: chromedriver,
                port: OnceCell::new(),
                pgid: AtomicI32::new(0),
                stopping: AtomicBool::new(false),
                restarts: AtomicU32::new(0),
            }))
        } else {
            WebDriver::Remote(remote_url.trim_end_matches('/').to_string())
        }
    }

    /// The WebDriver URL, starting the local chromedriver on first use.
    pub async fn url(&self) -> Result<String, DriverError> {
        match self {
            WebDriver::Remote(url) => Ok(url.clone()),
            WebDriver::Local(cd) => cd.url().await,
        }
    }

    /// Kills the local chromedriver and its process group (the browsers with it).
    pub fn shutdown(&self) {
        if let WebDriver::Local(cd) = self {
            cd.shutdown();
        }
    }

    /// The chromedriver process id (tests kill it to prove recovery). 0 when not running.
    pub fn local_pid(&self) -> i32 {
        match self {
            WebDriver::Local(cd) => cd.pgid.load(Ordering::SeqCst),
            WebDriver::Remote(_) => 0,
        }
    }

    pub fn restarts(&self) -> u32 {
        match self {
            WebDriver::Local(cd) => cd.restarts.load(Ordering::SeqCst),
            WebDriver::Remote(_) => 0,
        }
    }
}

pub struct Chromedriver {
    path: PathBuf,
    port: OnceCell<u16>,
    /// The child's pid, which is also its process group id (it leads its own group).
    pgid: AtomicI32,
    stopping: AtomicBool,
    restarts: AtomicU32,
}

impl Chromedriver {
    async fn url(self: &Arc<Self>) -> Result<String, DriverError> {
        let port = self.port.get_or_try_init(|| self.clone().launch()).await?;
        Ok(format!("http://127.0.0.1:{port}"))
    }

    fn start_error(&self, reason: impl ToString) -> DriverError {
        DriverError::Start {
            path: self.path.display().to_string(),
            reason: reason.to_string(),
        }
    }

    /// Starts chromedriver on a free loopback port and a task that restarts it on the same port.
    async fn launch(self: Arc<Self>) -> Result<u16, DriverError> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| self.start_error(e))?
            .port();
        let child = self.spawn(port).await?;
        tokio::spawn(self.clone().supervise(child, port));
        Ok(port)
    }

    async fn spawn(&self, port: u16) -> Result<tokio::process::Child, DriverError> {
        let mut cmd = Command::new(&self.path);
        // SAFETY: prctl is async-signal-safe. If wagate dies (even by SIGKILL), chromedriver gets
        // SIGTERM instead of lingering; the browsers it leaves are swept at the next start. The
        // signal follows the spawning thread, which is a runtime worker that lives as long as we do.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let child = cmd
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            // Its own process group, so one kill reaches the browsers it started.
            .process_group(0)
            .spawn()
            .map_err(|e| self.start_error(e))?;
        self.pgid
            .store(child.id().map(|p| p as i32).unwrap_or(0), Ordering::SeqCst);
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                tracing::info!(port, "chromedriver listening");
                return Ok(child);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(self.start_error(format!("not listening on port {port} after 5 s")))
    }

    async fn supervise(self: Arc<Self>, mut child: tokio::process::Child, port: u16) {
        let mut backoff = Duration::from_millis(200);
        loop {
            let status = child.wait().await;
            if self.stopping.load(Ordering::SeqCst) {
                return;
            }
            tracing::warn!(?status, "chromedriver exited; restarting it");
            self.restarts.fetch_add(1, Ordering::SeqCst);
            loop {
                tokio::time::sleep(backoff).await;
                if self.stopping.load(Ordering::SeqCst) {
                    return;
                }
                match self.spawn(port).await {
                    Ok(c) => {
                        child = c;
                        backoff = Duration::from_millis(200);
                        break;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "chromedriver restart failed");
                        backoff = (backoff * 2).min(Duration::from_secs(10));
                    }
                }
            }
        }
    }

    fn shutdown(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let pgid = self.pgid.load(Ordering::SeqCst);
        if pgid > 0 {
            // SAFETY: kill(2) on our own child's process group.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
    }
}
