//! The test harness: the real application in-process on port 0, on a fresh SQLite file or a fresh
//! PostgreSQL database (`WAGATE_TEST_POSTGRES_URL`).

use std::path::PathBuf;

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use wagate::config::Settings;
use wagate::{AppState, Application};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server tests were told to use. Unset: PostgreSQL variants are skipped (and say so).
pub fn postgres_base_url() -> Option<String> {
    std::env::var("WAGATE_TEST_POSTGRES_URL").ok().filter(|s| !s.is_empty())
}

/// A database of its own for one test, dropped when the test ends.
pub struct PgDatabase {
    pub url: String,
    admin_url: String,
    name: String,
}

impl PgDatabase {
    pub async fn create(base: &str) -> PgDatabase {
        let name = format!("wagate_t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = AsyncPgConnection::establish(base)
            .await
            .unwrap_or_else(|e| panic!("WAGATE_TEST_POSTGRES_URL={base} is set but PostgreSQL is unreachable: {e}"));
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        let mut url = url::Url::parse(base).expect("WAGATE_TEST_POSTGRES_URL is not a URL");
        url.set_path(&name);
        PgDatabase {
            url: url.to_string(),
            admin_url: base.to_string(),
            name,
        }
    }

    /// Drops the database now, terminating its connections (used to simulate an outage).
    pub async fn drop_now(&self) {
        let mut admin = AsyncPgConnection::establish(&self.admin_url)
            .await
            .expect("admin connection");
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name))
            .await
            .expect("drop test database");
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs outside async context: use a runtime of its own on a thread of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                if let Ok(mut c) = AsyncPgConnection::establish(&admin_url).await {
                    let _ = c
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}

/// Where a test's data lives: a temp dir, and the database URL of the chosen backend.
pub struct TestEnv {
    pub backend: Backend,
    pub dir: tempfile::TempDir,
    pub database_url: String,
    pub pg: Option<PgDatabase>,
}

impl TestEnv {
    pub async fn new(backend: Backend) -> TestEnv {
        let dir = tempfile::tempdir().unwrap();
        let (database_url, pg) = match backend {
            Backend::Sqlite => (format!("sqlite://{}", dir.path().join("wagate.db").display()), None),
            Backend::Postgres => {
                let base = postgres_base_url().expect("postgres test without WAGATE_TEST_POSTGRES_URL");
                let db = PgDatabase::create(&base).await;
                (db.url.clone(), Some(db))
            }
        };
        TestEnv {
            backend,
            dir,
            database_url,
            pg,
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Defaults with this env's paths, port 0, one worker and a cheap bcrypt cost.
    pub fn settings(&self) -> Settings {
        let mut s = Settings::defaults().unwrap();
        s.data_dir = self.data_dir();
        s.log.dir = self.data_dir().join("logs");
        s.media.dir = self.data_dir().join("media");
        s.database.url = self.database_url.clone();
        s.database.pool_size = 4;
        s.server.port = 0;
        s.server.workers = 1;
        s.server.shutdown_timeout_secs = 2;
        s.auth.bcrypt_cost = 4;
        // No pacing unless a test is about pacing.
        s.sending.min_gap_ms = 0;
        s.sending.gap_jitter_ms = 0;
        s
    }

    /// Environment for running the `wagate` binary against this env.
    pub fn cli_env(&self) -> Vec<(String, String)> {
        vec![
            ("WAGATE__DATA_DIR".into(), self.data_dir().display().to_string()),
            ("WAGATE__DATABASE__URL".into(), self.database_url.clone()),
            ("WAGATE__AUTH__BCRYPT_COST".into(), "4".into()),
            ("WAGATE__SENDING__MIN_GAP_MS".into(), "0".into()),
            ("WAGATE__SENDING__GAP_JITTER_MS".into(), "0".into()),
        ]
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        // A test that panicked never shut its sessions down: take its browsers with it.
        wagate::browser::procs::kill_profile_processes(self.dir.path());
    }
}

/// A running application and an HTTP client for it.
pub struct TestApp {
    pub env: TestEnv,
    pub base: String,
    pub http: reqwest::Client,
    pub state: actix_web::web::Data<AppState>,
    /// The first-start admin API key and password.
    pub admin_key: String,
    pub admin_password: String,
    server: ServerGuard,
}

/// Stops the server when the app is dropped (the stop is sent at once; the server winds down on
/// its own threads).
struct ServerGuard(actix_web::dev::ServerHandle);

impl Drop for ServerGuard {
    fn drop(&mut self) {
        drop(self.0.stop(false));
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        let env = TestEnv::new(backend).await;
        Self::spawn_in(env).await
    }

    pub async fn spawn_in(env: TestEnv) -> TestApp {
        Self::spawn_with(env, |_| {}).await
    }

    pub async fn spawn_with(env: TestEnv, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let mut settings = env.settings();
        tweak(&mut settings);
        let app = Application::build(settings).await.expect("application starts");
        let admin_key = app.first_start.as_ref().map(|f| f.api_key.clone()).unwrap_or_default();
        let admin_password = app.first_start.as_ref().map(|f| f.password.clone()).unwrap_or_default();
        let base = format!("http://127.0.0.1:{}", app.port());
        let state = app.state();
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());
        TestApp {
            env,
            base,
            http: reqwest::Client::new(),
            state,
            admin_key,
            admin_password,
            server: ServerGuard(handle),
        }
    }

    /// A gateway restart on the same data: a graceful stop (sessions closed, linked ones kept),
    /// then a new application over the same database and directories.
    pub async fn restart_with(self, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        self.stop().await.start_with(tweak).await
    }

    /// A graceful stop (sessions closed, linked ones kept); [`StoppedApp::start_with`] starts
    /// it again, so a test can make things happen while the gateway is down.
    pub async fn stop(self) -> StoppedApp {
        let TestApp {
            env,
            state,
            server,
            admin_key,
            admin_password,
            ..
        } = self;
        server.0.stop(true).await;
        state.sessions.shutdown().await;
        drop(state);
        StoppedApp {
            env,
            admin_key,
            admin_password,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str, key: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .header("Authorization", format!("ApiKey {key}"))
            .send()
            .await
            .unwrap()
    }
}

/// Reads a response as JSON, asserting the status first.
pub async fn json(resp: reqwest::Response, status: u16) -> serde_json::Value {
    let got = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    assert_eq!(got, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Asserts the error envelope and its code.
pub fn assert_error(body: &serde_json::Value, code: &str) {
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["error_code"], code, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert_eq!(body["error"], body["message"], "{body}");
}

/// Declares one test per backend: `<name>::sqlite` and `<name>::postgres`.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:path) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $body($crate::common::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if $crate::common::postgres_base_url().is_none() {
                    eprintln!("skipped: set WAGATE_TEST_POSTGRES_URL to run the PostgreSQL variant");
                    return;
                }
                $body($crate::common::Backend::Postgres).await;
            }
        }
    };
}

/// A message row to insert directly (user 1, a text in the chat 15550002002@c.us, now); tests
/// override what they need with struct update syntax.
pub fn message_row(
    session_id: Option<i64>,
    direction: &str,
    status: wagate::db::MessageStatus,
) -> wagate::db::NewMessage {
    let now = wagate::db::now();
    wagate::db::NewMessage {
        user_id: 1,
        session_id,
        direction: direction.into(),
        chat_id: "15550002002@c.us".into(),
        sender: None,
        msg_type: wagate::db::MessageKind::Chat,
        body: Some("x".into()),
        caption: None,
        media_path: None,
        media_mime: None,
        media_filename: None,
        media_size: None,
        status,
        error_message: None,
        wa_message_id: None,
        created_at: now,
        updated_at: now,
        sent_at: None,
        idempotency_key: None,
        sender_phone: None,
        chat_phone: None,
        mark_read: false,
        error_code: None,
        expires_at: None,
        idempotency_fingerprint: None,
        details: None,
    }
}

/// A gateway stopped by [`TestApp::stop`]: its database and directories, kept.
pub struct StoppedApp {
    pub env: TestEnv,
    admin_key: String,
    admin_password: String,
}

impl StoppedApp {
    /// A new application over the same database and directories.
    pub async fn start_with(self, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let mut app = TestApp::spawn_with(self.env, tweak).await;
        app.admin_key = self.admin_key;
        app.admin_password = self.admin_password;
        app
    }
}
