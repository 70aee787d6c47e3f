//! Settings: built-in defaults → `config/default.toml` → `--config FILE` → `WAGATE__SECTION__KEY`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use config::{Config, Environment, File, FileFormat};
use serde::Deserialize;

/// The defaults compiled into the binary (the same file ships as `config/default.toml`).
const DEFAULTS: &str = include_str!("../config/default.toml");

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// Carries the config crate's message, which names the offending key.
    #[error("configuration error: {0}")]
    Load(#[from] config::ConfigError),
    #[error("configuration error: invalid value for key `{key}`: {reason}")]
    Invalid { key: &'static str, reason: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub log: LogSettings,
    pub browser: BrowserSettings,
    pub sessions: SessionSettings,
    pub media: MediaSettings,
    pub auth: AuthSettings,
    pub sending: SendingSettings,
    pub webhooks: WebhookSettings,
    pub cluster: ClusterSettings,
    pub storage: StorageSettings,
}

/// Several nodes on one PostgreSQL database (README, "Running on several machines").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSettings {
    /// Off: one node owns every session (the only mode SQLite supports).
    pub enabled: bool,
    /// This node's name in the registry; empty: the hostname and a random suffix.
    pub node_id: String,
    /// Sessions this node may own at once; 0: `sessions.max_concurrent`.
    pub capacity: usize,
    /// Seconds a lease lasts without renewal (on the database clock): a dead node's sessions
    /// move after at most this long plus one claim interval.
    pub lease_secs: u64,
    /// Milliseconds between two rounds of the claim loop (renew, adopt); 0: a third of the lease.
    pub claim_interval_ms: u64,
    /// Seconds a control command (init, restart, logout, delete) on another node's session waits
    /// for the owner's answer.
    pub command_wait_secs: u64,
    /// Seconds between two archives of a session's profile while WhatsApp's storage changes.
    pub archive_interval_secs: u64,
}

/// Where portable session profiles are kept.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    /// `file:///path` or `s3://bucket/prefix` (credentials and region from the usual `AWS_*`
    /// variables; `AWS_ENDPOINT` for an S3-compatible server). Empty: `file://<data_dir>/store`.
    pub url: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub workers: usize,
    pub max_json_bytes: usize,
    pub shutdown_timeout_secs: u64,
    pub public_url: String,
    pub metrics_token: String,
    /// Reverse proxies whose forwarding headers are believed: IP addresses or CIDR networks.
    /// Empty: the peer address is the client, and `X-Forwarded-*` / `Forwarded` are ignored.
    pub trusted_proxies: Vec<String>,
    /// The header those proxies write the client address into.
    pub proxy_header: crate::auth::client::ProxyHeader,
    /// Seconds a client has to send a request's head (line and headers).
    pub head_timeout_secs: u64,
    /// Seconds a request body may stall between two chunks before the request fails (408).
    pub body_idle_timeout_secs: u64,
    /// Connections open at once, across all workers.
    pub max_connections: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: String,
    pub pool_size: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub dir: PathBuf,
    pub level: String,
    pub format: LogFormat,
    pub max_files: usize,
    /// Bytes a log file may reach in a day; lines past it are dropped until the next day.
    pub max_bytes: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrowserSettings {
    pub chromedriver_path: PathBuf,
    pub webdriver_url: String,
    pub chromium_path: PathBuf,
    pub headless: bool,
    pub extra_args: Vec<String>,
    pub user_agent: String,
    pub whatsapp_url: String,
    pub window_width: u32,
    pub window_height: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSettings {
    pub max_concurrent: usize,
    pub idle_timeout_secs: u64,
    pub qr_wait_secs: u64,
    pub poll_max_ms: u64,
    /// A connected page is probed with a real round trip through WhatsApp's server after this
    /// many seconds without one (and before a send after half as long); 0 turns probing off.
    pub liveness_interval_secs: u64,
    /// How long a probe may take before the page counts as wedged and its browser is restarted.
    pub liveness_timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaSettings {
    pub dir: PathBuf,
    pub max_upload_bytes: u64,
    pub allow_private_urls: bool,
    /// Networks a media `url` may reach even when `allow_private_urls` is false (CIDR or single
    /// addresses), e.g. one internal media server. See [`crate::outbound`].
    #[serde(deserialize_with = "crate::outbound::networks")]
    pub allowed_private_networks: Vec<ipnet::IpNet>,
    pub retention_days: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub bcrypt_cost: u32,
    pub cache_ttl_secs: u64,
    pub rate_limit_per_sec: u32,
    pub rate_limit_burst: u32,
    /// Refused API keys allowed per client address per minute (after `failed_burst` at once);
    /// 0 turns the limit off.
    pub failed_per_minute: u32,
    pub failed_burst: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendingSettings {
    pub ack_timeout_secs: u64,
    pub min_gap_ms: u64,
    pub gap_jitter_ms: u64,
    pub recipient_gap_ms: u64,
    pub daily_cap: u64,
    pub queue_ttl_secs: u64,
    pub wait_secs: u64,
    /// How long an `Idempotency-Key` is remembered (seconds).
    pub idempotency_ttl_secs: u64,
    pub typing: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    pub timeout_secs: u64,
    pub retry_initial_ms: u64,
    pub retry_max_secs: u64,
    pub max_age_secs: u64,
    pub concurrency: usize,
    /// Whether webhook URLs may point at internal addresses (loopback, private, link-local, …).
    /// `true` by default (existing setups deliver to local receivers); a shared gateway sets it false.
    pub allow_private_urls: bool,
    /// Networks webhooks may reach even when `allow_private_urls` is false (CIDR or single addresses).
    #[serde(deserialize_with = "crate::outbound::networks")]
    pub allowed_private_networks: Vec<ipnet::IpNet>,
}

/// Which database a URL selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Settings {
    /// Loads the layered configuration. `file` is the `--config` argument, if any.
    pub fn load(file: Option<&Path>) -> Result<Self, SettingsError> {
        Self::load_from(file, Environment::with_prefix("WAGATE"))
    }

    /// The built-in defaults alone (tests start from these and override fields).
    pub fn defaults() -> Result<Self, SettingsError> {
        let cfg = Config::builder()
            .add_source(File::from_str(DEFAULTS, FileFormat::Toml))
            .build()?;
        cfg.try_deserialize::<Settings>()?.resolve()
    }

    fn load_from(file: Option<&Path>, env: Environment) -> Result<Self, SettingsError> {
        let mut builder = Config::builder()
            .add_source(File::from_str(DEFAULTS, FileFormat::Toml))
            .add_source(File::new("config/default.toml", FileFormat::Toml).required(false));
        if let Some(path) = file {
            builder = builder.add_source(File::from(path).format(FileFormat::Toml).required(true));
        }
        let env = env
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
            .list_separator(" ")
            .with_list_parse_key("browser.extra_args")
            .with_list_parse_key("server.trusted_proxies")
            .with_list_parse_key("media.allowed_private_networks")
            .with_list_parse_key("webhooks.allowed_private_networks");
        let cfg = builder.add_source(env).build()?;
        cfg.try_deserialize::<Settings>()?.resolve()
    }

    /// Fills derived defaults (paths under `data_dir`) and checks values serde cannot.
    fn resolve(mut self) -> Result<Self, SettingsError> {
        if self.log.dir.as_os_str().is_empty() {
            self.log.dir = self.data_dir.join("logs");
        }
        if self.media.dir.as_os_str().is_empty() {
            self.media.dir = self.data_dir.join("media");
        }
        if self.database.url.trim().is_empty() {
            self.database.url = format!("sqlite://{}", self.data_dir.join("wagate.db").display());
        }
        if self.storage.url.trim().is_empty() {
            self.storage.url = format!("file://{}", self.data_dir.join("store").display());
        }
        self.database_url()?;
        let invalid = |key, reason: &str| SettingsError::Invalid {
            key,
            reason: reason.to_string(),
        };
        if self.database.pool_size == 0 {
            return Err(invalid("database.pool_size", "must be at least 1"));
        }
        if !(4..=31).contains(&self.auth.bcrypt_cost) {
            return Err(invalid("auth.bcrypt_cost", "must be between 4 and 31"));
        }
        if self.sessions.max_concurrent == 0 {
            return Err(invalid("sessions.max_concurrent", "must be at least 1"));
        }
        if !self.server.public_url.is_empty() && url::Url::parse(&self.server.public_url).is_err() {
            return Err(invalid("server.public_url", "is not a URL"));
        }
        crate::auth::client::parse_trusted(&self.server.trusted_proxies)
            .map_err(|e| invalid("server.trusted_proxies", &e))?;
        if self.webhooks.concurrency == 0 {
            return Err(invalid("webhooks.concurrency", "must be at least 1"));
        }
        if self.sending.ack_timeout_secs == 0 {
            return Err(invalid("sending.ack_timeout_secs", "must be at least 1"));
        }
        if url::Url::parse(&self.browser.whatsapp_url).is_err() {
            return Err(invalid("browser.whatsapp_url", "is not a URL"));
        }
        if !self.browser.webdriver_url.is_empty() && url::Url::parse(&self.browser.webdriver_url).is_err() {
            return Err(invalid("browser.webdriver_url", "is not a URL"));
        }
        if self.cluster.enabled && matches!(self.database_url()?, DatabaseUrl::Sqlite(_)) {
            return Err(invalid(
                "cluster.enabled",
                "cluster mode needs PostgreSQL (database.url = postgres://…); SQLite runs a single node",
            ));
        }
        if self.cluster.enabled && self.cluster.lease_secs < 3 {
            return Err(invalid("cluster.lease_secs", "must be at least 3"));
        }
        let store = url::Url::parse(self.storage.url.trim()).map_err(|e| invalid("storage.url", &e.to_string()))?;
        if !matches!(store.scheme(), "file" | "s3") {
            return Err(invalid("storage.url", "must start with file:// or s3://"));
        }
        tracing_subscriber::EnvFilter::try_new(&self.log.level).map_err(|e| invalid("log.level", &e.to_string()))?;
        Ok(self)
    }

    pub fn database_url(&self) -> Result<DatabaseUrl, SettingsError> {
        let url = self.database.url.trim();
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(SettingsError::Invalid {
                    key: "database.url",
                    reason: "sqlite:// needs a file path".into(),
                });
            }
            Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DatabaseUrl::Postgres(url.to_string()))
        } else {
            Err(SettingsError::Invalid {
                key: "database.url",
                reason: "must start with sqlite:// or postgres://".into(),
            })
        }
    }

    pub fn auth_cache_ttl(&self) -> Duration {
        Duration::from_secs(self.auth.cache_ttl_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(vars: &[(&str, &str)]) -> Environment {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Environment::with_prefix("WAGATE").source(Some(map))
    }

    #[test]
    fn defaults_derive_paths_from_data_dir() {
        let s = Settings::load_from(None, env(&[("WAGATE__DATA_DIR", "/srv/wg")])).unwrap();
        assert_eq!(s.database.url, "sqlite:///srv/wg/wagate.db");
        assert_eq!(s.log.dir, PathBuf::from("/srv/wg/logs"));
        assert_eq!(s.media.dir, PathBuf::from("/srv/wg/media"));
        assert_eq!(s.sessions.max_concurrent, 50);
        assert_eq!(s.sessions.idle_timeout_secs, 1800);
        assert!(
            s.server.trusted_proxies.is_empty(),
            "no proxy is trusted unless configured"
        );
        assert_eq!((s.auth.failed_per_minute, s.auth.failed_burst), (10, 20));
        // Outbound address policy: media closed, webhooks open (backward compatible).
        assert!(!s.media.allow_private_urls && s.media.allowed_private_networks.is_empty());
        assert!(s.webhooks.allow_private_urls && s.webhooks.allowed_private_networks.is_empty());
        assert_eq!(
            s.database_url().unwrap(),
            DatabaseUrl::Sqlite("/srv/wg/wagate.db".into())
        );
    }

    #[test]
    fn environment_overrides_a_setting() {
        let s = Settings::load_from(
            None,
            env(&[
                ("WAGATE__SERVER__PORT", "9123"),
                ("WAGATE__LOG__FORMAT", "json"),
                ("WAGATE__BROWSER__EXTRA_ARGS", "--a --b"),
                ("WAGATE__DATABASE__URL", "postgres://u@h/db"),
                ("WAGATE__SERVER__TRUSTED_PROXIES", "127.0.0.1 10.0.0.0/8"),
                ("WAGATE__SERVER__PROXY_HEADER", "forwarded"),
                ("WAGATE__MEDIA__ALLOWED_PRIVATE_NETWORKS", "10.1.0.0/16 192.168.1.5"),
                ("WAGATE__WEBHOOKS__ALLOW_PRIVATE_URLS", "false"),
            ]),
        )
        .unwrap();
        assert_eq!(s.server.trusted_proxies, vec!["127.0.0.1", "10.0.0.0/8"]);
        assert_eq!(s.server.proxy_header, crate::auth::client::ProxyHeader::Forwarded);
        let nets: Vec<String> = s.media.allowed_private_networks.iter().map(|n| n.to_string()).collect();
        assert_eq!(nets, ["10.1.0.0/16", "192.168.1.5/32"]);
        assert!(!s.webhooks.allow_private_urls);
        assert_eq!(s.server.port, 9123);
        assert_eq!(s.log.format, LogFormat::Json);
        assert_eq!(s.browser.extra_args, vec!["--a", "--b"]);
        assert_eq!(
            s.database_url().unwrap(),
            DatabaseUrl::Postgres("postgres://u@h/db".into())
        );
    }

    #[test]
    fn bad_values_are_refused_naming_the_key() {
        let cases: &[(&str, &str, &str)] = &[
            ("WAGATE__SERVER__PORT", "eighty", "server.port"),
            ("WAGATE__LOG__FORMAT", "xml", "log.format"),
            ("WAGATE__DATABASE__URL", "mysql://x", "database.url"),
            ("WAGATE__AUTH__BCRYPT_COST", "2", "auth.bcrypt_cost"),
            ("WAGATE__SESSIONS__MAX_CONCURRENT", "-1", "sessions.max_concurrent"),
            (
                "WAGATE__SERVER__TRUSTED_PROXIES",
                "10.0.0.0/8 proxy",
                "server.trusted_proxies",
            ),
            ("WAGATE__SERVER__PROXY_HEADER", "x-real-ip", "server.proxy_header"),
            (
                "WAGATE__MEDIA__ALLOWED_PRIVATE_NETWORKS",
                "intranet",
                "media.allowed_private_networks",
            ),
        ];
        for (var, value, key) in cases {
            let err = Settings::load_from(None, env(&[(var, value)])).unwrap_err().to_string();
            assert!(err.contains(key), "{var}={value}: error `{err}` does not name {key}");
        }
    }

    #[test]
    fn a_config_file_overrides_defaults_and_bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.toml");
        std::fs::write(&good, "[server]\nport = 7777\n[sessions]\nqr_wait_secs = 5\n").unwrap();
        let s = Settings::load_from(Some(&good), env(&[])).unwrap();
        assert_eq!((s.server.port, s.sessions.qr_wait_secs), (7777, 5));

        let typo = dir.path().join("typo.toml");
        std::fs::write(&typo, "[server]\nprot = 1\n").unwrap();
        let err = Settings::load_from(Some(&typo), env(&[])).unwrap_err().to_string();
        assert!(err.contains("prot"), "{err}");

        let err = Settings::load_from(Some(&dir.path().join("missing.toml")), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing.toml"), "{err}");
    }
}
