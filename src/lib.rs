//! wagate: a self-hosted WhatsApp HTTP API gateway.
//!
//! [`Application::build`] wires settings, database, authentication and the HTTP server, binds the
//! listener (port 0 allowed) and returns the running server, so tests start the real app in-process.

pub mod admin;
pub mod api_common;
pub mod auth;
pub mod bootstrap;
pub mod browser;
pub mod cluster;
pub mod config;
pub mod db;
pub mod error_code;
pub mod events;
pub mod http;
pub mod images;
pub mod media;
pub mod media_files;
pub mod metrics;
pub mod outbound;
pub mod sessions;
pub mod sink;
pub mod storage;
pub mod telemetry;
pub mod upkeep;
pub mod vcard;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};

use auth::Authenticator;
use bootstrap::FirstStart;
use config::Settings;
use db::Database;
use sessions::SessionManager;

/// What every handler can reach.
pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: Database,
    pub auth: Authenticator,
    pub rate_limit: auth::rate_limit::KeyRateLimit,
    /// Refused API keys per client address (`auth.failed_per_minute`).
    pub failed_auth: auth::rate_limit::FailureLimit,
    /// `server.trusted_proxies`: who may tell us the client address and scheme.
    pub proxies: auth::client::Proxies,
    pub sessions: SessionManager,
    pub started: Instant,
    /// The main (multi-thread) runtime: work that must finish even if its request is dropped
    /// (a send and the update of its row) runs here, not on an HTTP worker.
    pub runtime: tokio::runtime::Handle,
    /// Logged-in admins of the admin page.
    pub admin: admin::AdminSessions,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Settings(#[from] config::SettingsError),
    #[error(transparent)]
    Db(#[from] db::DbError),
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> StartError {
    let context = context.into();
    move |source| StartError::Io { context, source }
}

/// How often key usage is flushed and CLI revocations are picked up.
const AUTH_UPKEEP: Duration = Duration::from_secs(5);
/// How often never-linked idle sessions are looked for.
const REAP_PERIOD: Duration = Duration::from_secs(60);

pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
    /// Set on the very first start: the generated admin credentials, to be shown once.
    pub first_start: Option<FirstStart>,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartError> {
        let trusted = auth::client::parse_trusted(&settings.server.trusted_proxies).map_err(|reason| {
            config::SettingsError::Invalid {
                key: "server.trusted_proxies",
                reason,
            }
        })?;
        for dir in [&settings.data_dir, &settings.media.dir] {
            std::fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
        }
        let db = Database::connect(&settings.database_url()?, settings.database.pool_size)
            .await?
            .with_public_url(&settings.server.public_url);
        let auth = Authenticator::new(db.clone(), settings.auth.bcrypt_cost, settings.auth_cache_ttl());
        let first_start = bootstrap::first_start(&db, &auth).await?;
        let node = match settings.cluster.enabled {
            true => Some(
                cluster::Node::new(&settings, db.clone()).map_err(|e| config::SettingsError::Invalid {
                    key: "storage.url",
                    reason: e.to_string(),
                })?,
            ),
            false => None,
        };
        // In a cluster, another node may be sending right now: an adopting node requeues the
        // sends its session's previous owner left in flight instead.
        if node.is_none() {
            upkeep::settle_interrupted(&db).await;
        }
        tokio::spawn(auth.clone().run_maintenance(AUTH_UPKEEP));

        metrics::install();
        let settings_arc = Arc::new(settings.clone());
        let (sessions, events) = SessionManager::with_cluster(settings_arc.clone(), db.clone(), node.clone());
        tokio::spawn(sink::consume(db.clone(), settings.data_dir.clone(), events));
        tokio::spawn(sessions.clone().run_reaper(REAP_PERIOD));
        let leader = node.as_ref().map(|n| upkeep::Leader {
            node: n.id.clone(),
            lease_secs: n.settings.lease_secs,
        });
        tokio::spawn(
            events::dispatcher::Dispatcher::new(db.clone(), settings.webhooks.clone())
                .in_cluster(leader.clone())
                .run(),
        );
        tokio::spawn(upkeep::run(
            db.clone(),
            settings_arc.clone(),
            sessions.media().clone(),
            leader,
        ));
        if let Some(node) = node {
            tokio::spawn(cluster::run(node, sessions.clone()));
        }
        let restoring = sessions.clone();
        tokio::spawn(async move {
            match restoring.restore().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(sessions = n, "restoring linked sessions"),
                Err(e) => tracing::error!(error = %e, "could not restore sessions"),
            }
        });

        let state = web::Data::new(AppState {
            settings: settings_arc,
            db,
            auth,
            rate_limit: auth::rate_limit::KeyRateLimit::new(
                settings.auth.rate_limit_per_sec,
                settings.auth.rate_limit_burst,
            ),
            failed_auth: auth::rate_limit::FailureLimit::new(
                settings.auth.failed_per_minute,
                settings.auth.failed_burst,
            ),
            proxies: auth::client::Proxies::new(trusted, settings.server.proxy_header),
            sessions,
            started: Instant::now(),
            runtime: tokio::runtime::Handle::current(),
            admin: admin::AdminSessions::default(),
        });
        let addr = format!("{}:{}", settings.server.host, settings.server.port);
        let listener = TcpListener::bind(&addr).map_err(io_err(format!("binding {addr}")))?;
        let port = listener
            .local_addr()
            .map_err(io_err("reading the bound address"))?
            .port();

        let max_json = settings.server.max_json_bytes;
        let app_state = state.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .wrap(from_fn(http::timeouts::body_deadline))
                .wrap(from_fn(http::envelope::ensure_envelope))
                .wrap(from_fn(http::body::refuse_nul_in_uri))
                .wrap(from_fn(http::request_log::log_requests))
                .configure(|cfg| http::configure(cfg, max_json))
        })
        .shutdown_timeout(settings.server.shutdown_timeout_secs)
        .client_request_timeout(Duration::from_secs(settings.server.head_timeout_secs));
        let workers = match settings.server.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        // actix counts connections per worker.
        server = server
            .workers(workers)
            .max_connections((settings.server.max_connections / workers).max(1));
        let server = server
            .listen(listener)
            .map_err(io_err(format!("listening on {addr}")))?
            .run();
        Ok(Application {
            port,
            server,
            state,
            first_start,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Stops the server gracefully (what SIGTERM does).
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM/SIGINT or [`ServerHandle::stop`]: stops accepting, lets in-flight
    /// requests finish, then flushes key usage and closes the pools.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        self.state.sessions.shutdown().await;
        if let Err(e) = self.state.auth.flush_last_used().await {
            tracing::warn!(error = %e, "could not record API key use at shutdown");
        }
        self.state.db.close();
        tracing::info!("wagate stopped");
        result
    }
}
