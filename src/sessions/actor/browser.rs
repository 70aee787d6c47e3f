//! Starting and closing the session's browser on its own profile.

use std::time::Duration;

use tokio::time::Instant;

use super::{Actor, BOOT_SETTLE, BOOT_TIMEOUT, Outcome};
use crate::browser::bidi::{self, Doorbell};
use crate::browser::{Install, Page, capabilities, procs};

impl Actor {
    /// Starts the browser and loads WhatsApp Web; the doorbell when the driver speaks BiDi.
    pub(super) async fn open(&mut self) -> Result<Option<Doorbell>, Outcome> {
        self.doc.reset();
        // The report belongs to a page: none until this browser's page has answered.
        self.info.send_modify(|i| i.capabilities = None);
        make_private_dir(&self.profile).map_err(|e| Outcome::Failed(format!("profile directory: {e}")))?;
        // A browser left over from a crash or a dead chromedriver would hold the profile's lock.
        if procs::kill_profile_processes(&self.profile) > 0 {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        procs::remove_stale_locks(&self.profile);

        let url = self.driver.url().await.map_err(|e| Outcome::Failed(e.to_string()))?;
        let caps = capabilities::capabilities(&self.settings.browser, &self.profile);
        let mut builder =
            fantoccini::ClientBuilder::rustls().map_err(|e| Outcome::Failed(format!("TLS setup: {e}")))?;
        let client = tokio::time::timeout(Duration::from_secs(60), builder.capabilities(caps).connect(&url))
            .await
            .map_err(|_| Outcome::BrowserLost("the browser did not start within 60 s".into()))?
            .map_err(|e| Outcome::BrowserLost(format!("could not start the browser: {e}")))?;
        // Before the page loads: the preload script must be there for its first document.
        let window = client.window().await.map(String::from);
        let bell = match (bidi::websocket_url(&client), window) {
            (Some(url), Ok(window)) => match bidi::connect(&url, &window).await {
                Ok(bell) => Some(bell),
                Err(e) => {
                    tracing::warn!(session = self.key.id, error = %e, "no BiDi push; polling the page instead");
                    None
                }
            },
            _ => None,
        };
        let page = Page::new(client);
        page.use_bidi(bell.as_ref().map(Doorbell::script));
        self.page = Some(page.clone());

        let wa_url = &self.settings.browser.whatsapp_url;
        if let Err(e) = page.client.goto(wa_url).await {
            let msg = format!("could not load {wa_url}: {e}");
            // A network error will not go away by retrying at once; a browser that died while
            // loading will (the session reopens with backoff).
            return Err(if msg.contains("net::ERR_") {
                Outcome::Failed(msg)
            } else {
                Outcome::BrowserLost(msg)
            });
        }
        let deadline = Instant::now() + BOOT_TIMEOUT;
        loop {
            match page.wa_version().await {
                Ok(Some(_)) => break,
                Ok(None) => {}
                Err(e) => return Err(Outcome::BrowserLost(e.to_string())),
            }
            let location = page.location().await.unwrap_or_default();
            if location.starts_with("chrome-error://") {
                return Err(Outcome::Failed(format!(
                    "could not reach {wa_url}: the browser shows a network error page (is the network up?)"
                )));
            }
            if Instant::now() > deadline {
                return Err(Outcome::Failed(format!(
                    "WhatsApp Web did not load: no window.Debug.VERSION after {}s at {wa_url}",
                    BOOT_TIMEOUT.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        self.install_settled(&page).await?;
        self.refresh_capabilities().await;
        Ok(bell)
    }

    /// Installs the bridge once the page's module graph is ready for it (see bridge.js), waiting
    /// at most [`BOOT_SETTLE`]; then forces it, so that what is missing becomes named errors.
    async fn install_settled(&mut self, page: &Page) -> Result<(), Outcome> {
        let started = Instant::now();
        self.doc.boot_started = Some(started);
        loop {
            let force = started.elapsed() >= BOOT_SETTLE;
            match page.install(force).await {
                Ok(Install::Installed) if force => {
                    self.doc.installed = true;
                    tracing::warn!(
                        session = self.key.id,
                        "WhatsApp Web's modules did not settle within {} s; the bridge is installed anyway",
                        BOOT_SETTLE.as_secs()
                    );
                    return Ok(());
                }
                Ok(Install::Installed) => {
                    self.doc.installed = true;
                    let waited_ms = started.elapsed().as_millis() as u64;
                    tracing::debug!(session = self.key.id, waited_ms, "bridge installed");
                    return Ok(());
                }
                Ok(Install::Waiting(missing)) => {
                    tracing::debug!(
                        session = self.key.id,
                        ?missing,
                        "waiting for WhatsApp's modules to register"
                    );
                }
                Err(e) => return Err(Outcome::BrowserLost(e.to_string())),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub(super) async fn close_browser(&mut self) {
        if let Some(page) = self.page.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), page.client.close()).await;
        }
    }

    pub(super) fn wipe_profile(&self) {
        // The profile's parent is the session's own directory (`sessions/<id>`).
        if let Err(e) = std::fs::remove_dir_all(&self.profile)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(session = self.key.id, error = %e, "could not wipe the browser profile");
        }
    }

    pub(super) async fn browser_alive(&self) -> bool {
        let Some(page) = &self.page else { return false };
        matches!(
            tokio::time::timeout(Duration::from_secs(10), page.client.windows()).await,
            Ok(Ok(_))
        )
    }
}

/// Creates `dir` (and parents) readable by us only: a profile holds the account's keys.
fn make_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}
