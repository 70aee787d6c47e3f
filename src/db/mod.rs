//! The database: one set of query functions over SQLite (default) and PostgreSQL.
//!
//! Backend-specific code lives here only: pools, connection setup and migrations. Query modules
//! use [`dispatch!`], which writes the diesel DSL once and type-checks it for each backend.

mod api_keys;
mod calls;
pub mod cluster;
mod contacts;
mod deliveries;
pub mod event_bus;
pub mod event_record;
mod kind;
mod message_changes;
mod messages;
pub mod models;
mod outbox;
mod presence_subscriptions;
mod queue;
pub mod schema;
mod sessions;
mod statement_count;
mod users;
mod webhooks;
pub mod writer_turn;

use std::time::Duration;

use diesel::ConnectionError;
use diesel::sqlite::SqliteConnection;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use futures_util::FutureExt;

use crate::config::DatabaseUrl;

pub use calls::{CallFacts, CallSettings, CallSettingsChange, RejectedBy};
pub use contacts::LidPairRow;
pub use deliveries::{AttemptOutcome, DeliveryRow};
pub use event_bus::{EventBus, Published};
pub use event_record::{EventKind, EventStatus, NewEvent};
pub use kind::{GroupChange, GroupEventClass, Location, MessageDetails, MessageKind, Poll, PollVote};
pub use models::*;
pub use outbox::EventRow;
pub use webhooks::WebhookRow;

/// SQLite through diesel_async, its statements run as [`writer_turn`] says.
pub type SqliteConn = SyncConnectionWrapper<SqliteConnection, writer_turn::InPlaceInWriterTurn>;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Every connection of the SQLite pool runs this: without `busy_timeout` concurrent writers fail
/// at once with "database is locked", and foreign keys (so `ON DELETE CASCADE`) are off by default.
const SQLITE_SETUP: &str = "PRAGMA busy_timeout=5000; PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL;";

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database connection failed: {0}")]
    Connect(String),
    #[error("database pool: {0}")]
    Pool(String),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("already exists")]
    Conflict,
    /// An outgoing message's client-chosen key id is used by another message of its session.
    #[error("the message key id is used by another message of this session")]
    KeyIdTaken,
    #[error("database query failed: {0}")]
    Query(diesel::result::Error),
    /// A cluster node wrote for a session whose lease it no longer holds (its generation is
    /// stale): the write was refused, and the node must stop acting for that session.
    #[error("this node no longer holds the session's lease")]
    Fenced,
    #[error("{0}")]
    Unsupported(&'static str),
}

impl From<diesel::result::Error> for DbError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => DbError::Conflict,
            other => DbError::Query(other),
        }
    }
}

pub type DbResult<T> = Result<T, DbError>;

#[derive(Clone)]
enum Pools {
    Sqlite(Pool<SqliteConn>),
    Pg(Pool<AsyncPgConnection>),
}

/// A pooled connection of either backend. Moved once into its query task, so its size is moot.
#[allow(clippy::large_enum_variant)]
pub enum Conn {
    Sqlite(Object<SqliteConn>),
    Pg(Object<AsyncPgConnection>),
}

/// Runs the same diesel expression on whichever backend the connection is.
macro_rules! dispatch {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::Conn::Sqlite(o) => {
                let $c: &mut $crate::db::SqliteConn = &mut *o;
                $body
            }
            $crate::db::Conn::Pg(o) => {
                let $c: &mut diesel_async::AsyncPgConnection = &mut *o;
                $body
            }
        }
    };
}
pub(crate) use dispatch;

/// Inside a transaction: inserts the event and returns what to publish after the commit.
macro_rules! insert_event {
    ($c:expr, $new:expr, $session:expr) => {{
        let new: $crate::db::NewEvent = $new;
        $crate::db::BackendLocks::lock_outbox($c).await?;
        let id: i64 = diesel::insert_into($crate::db::schema::events::table)
            .values(&new)
            .returning($crate::db::schema::events::id)
            .get_result($c)
            .await?;
        $crate::db::Published {
            id,
            user_id: new.user_id,
            session: $session,
            event: new.event,
            body: new.body.into(),
        }
    }};
}
pub(crate) use insert_event;

/// The advisory lock that orders outbox inserts on PostgreSQL ("wagate" in ASCII).
const OUTBOX_LOCK: i64 = 0x7761_6761_7465;
/// The class of the per-session advisory locks around client-chosen key ids ("waki" in ASCII).
const KEY_IDS_LOCK: i32 = 0x7761_6b69;

/// The locks a transaction takes where the backends differ.
///
/// `lock_outbox` — event ids in commit order. Readers (the SSE stream resuming after an id, the per-session
/// dispatcher) take events in id order, so an id must never become visible after a higher one.
/// PostgreSQL hands out sequence values at insert time, not at commit, so two transactions can
/// commit in the other order; a transaction-scoped advisory lock taken just before the insert and
/// held until commit makes id order and commit order the same (an event is the last write of its
/// transaction, so the lock is held briefly). SQLite has one writer at a time: nothing to do.
pub(crate) trait BackendLocks {
    fn lock_outbox(&mut self) -> impl std::future::Future<Output = diesel::QueryResult<()>> + Send;

    /// For a transaction that reads before it writes. SQLite cannot make a reader wait for the
    /// writer lock (it answers `database is locked` at once; `busy_timeout` does not apply to an
    /// upgrade), so the transaction takes the lock first, with a write that changes nothing.
    /// PostgreSQL needs nothing.
    fn take_writer(&mut self) -> impl std::future::Future<Output = diesel::QueryResult<()>> + Send;

    /// Cluster fencing: inside a transaction, holds the session's lease row (share lock) if
    /// `fence` is still its holder, else `DbError::Fenced`. Fences exist only in cluster mode,
    /// which is PostgreSQL only: SQLite has nothing to check.
    fn hold_lease<'a>(
        &'a mut self,
        session_id: i64,
        fence: &'a cluster::Fence,
    ) -> impl std::future::Future<Output = DbResult<()>> + Send + 'a;

    /// Inside a transaction, makes the session's client-chosen key ids this transaction's until it
    /// ends, so that a check that an id is free and the insert that takes it are one step for
    /// every process. SQLite: the writer lock ([`BackendLocks::take_writer`]); PostgreSQL: a
    /// transaction-scoped advisory lock of the session.
    fn lock_key_ids(&mut self, session_id: i64) -> impl std::future::Future<Output = diesel::QueryResult<()>> + Send;
}

impl BackendLocks for SqliteConn {
    fn lock_outbox(&mut self) -> impl std::future::Future<Output = diesel::QueryResult<()>> + Send {
        std::future::ready(Ok(()))
    }

    fn take_writer(&mut self) -> impl std::future::Future<Output = diesel::QueryResult<()>> + Send {
        use diesel_async::RunQueryDsl;
        async move {
            diesel::sql_query("UPDATE users SET id = id WHERE 0")
                .execute(self)
                .await
                .map(drop)
        }
    }

    fn hold_lease<'a>(
        &'a mut self,
        _session_id: i64,
        _fence: &'a cluster::Fence,
    ) -> impl std::future::Future<Output = DbResult<()>> + Send + 'a {
        std::future::ready(Ok(()))
    }

    fn lock_key_ids(&mut self, _session_id: i64) -> impl std::future::Future<Output = diesel::QueryResult<()>> + Send {
        self.take_writer()
    }
}

impl BackendLocks for AsyncPgConnection {
    fn lock_outbox(&mut self) -> impl std::future::Future<Output = diesel::QueryResult<()>> + Send {
        use diesel_async::RunQueryDsl;
        async move {
            diesel::sql_query(format!("SELECT pg_advisory_xact_lock({OUTBOX_LOCK})"))
                .execute(self)
                .await
                .map(drop)
        }
    }

    fn take_writer(&mut self) -> impl std::future::Future<Output = diesel::QueryResult<()>> + Send {
        std::future::ready(Ok(()))
    }

    fn hold_lease<'a>(
        &'a mut self,
        session_id: i64,
        fence: &'a cluster::Fence,
    ) -> impl std::future::Future<Output = DbResult<()>> + Send + 'a {
        cluster::hold_lease(self, session_id, fence)
    }

    fn lock_key_ids(&mut self, session_id: i64) -> impl std::future::Future<Output = diesel::QueryResult<()>> + Send {
        use diesel_async::RunQueryDsl;
        // The two-key form takes 32-bit keys: ids past 2^31 share a lock, which only serialises more.
        let session = (session_id & 0x7fff_ffff) as i32;
        async move {
            diesel::sql_query(format!("SELECT pg_advisory_xact_lock({KEY_IDS_LOCK}, {session})"))
                .execute(self)
                .await
                .map(drop)
        }
    }
}

/// Waits at most 10 s for a connection, so a dead database gives errors instead of hung requests.
macro_rules! build_pool {
    ($mgr:expr, $size:expr) => {
        Pool::builder($mgr)
            .max_size($size.max(1))
            .runtime(deadpool::Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(10)))
            .create_timeout(Some(Duration::from_secs(10)))
            .build()
            .map_err(|e| DbError::Pool(e.to_string()))
    };
}

/// The application's handle on the database (cheap to clone).
#[derive(Clone)]
pub struct Database {
    pools: Pools,
    /// The SQLite file: if it is deleted under us, writes go to an unlinked inode and are lost.
    sqlite_path: Option<std::path::PathBuf>,
    /// Queries run as tasks on this (multi-thread) runtime. A dropped request future then never
    /// cancels a query half-way: diesel-async's SQLite wrapper would block the thread to finish it,
    /// which panics on actix's single-threaded worker runtimes.
    runtime: tokio::runtime::Handle,
    /// Told about every committed event row.
    bus: EventBus,
    /// SQLite's writers take turns here, in an async queue, rather than in SQLite's busy handler,
    /// which sleeps 1, 2, 5, 10… ms between tries (measured: 3 ms added to a send's settle while
    /// its ack was being written). Unused on PostgreSQL.
    writer: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// Prefix of links in event payloads (media URLs); empty = paths relative to the gateway.
    public_url: std::sync::Arc<str>,
}

impl Database {
    /// Connects, runs pending migrations and builds the pool.
    pub async fn connect(url: &DatabaseUrl, pool_size: usize) -> DbResult<Self> {
        if let Err(e) = statement_count::install() {
            tracing::warn!(error = %e, "could not count database statements");
        }
        migrate(url).await?;
        let pools = match url {
            DatabaseUrl::Sqlite(path) => {
                let mut cfg = ManagerConfig::<SqliteConn>::default();
                // A connection to a local file does not go stale: no `SELECT 1` (a blocking-pool
                // round trip) before every use. A deleted file is caught by `sqlite_path`.
                cfg.recycling_method = diesel_async::pooled_connection::RecyclingMethod::Fast;
                cfg.custom_setup = Box::new(|url| {
                    async move {
                        let mut c = SqliteConn::establish(url).await?;
                        c.batch_execute(SQLITE_SETUP)
                            .await
                            .map_err(ConnectionError::CouldntSetupConfiguration)?;
                        Ok(c)
                    }
                    .boxed()
                });
                let mgr = AsyncDieselConnectionManager::new_with_config(path.to_string_lossy(), cfg);
                // SQLite has a single writer: a few connections serve reads without queueing writes.
                Pools::Sqlite(build_pool!(mgr, pool_size.min(4))?)
            }
            DatabaseUrl::Postgres(url) => {
                Pools::Pg(build_pool!(AsyncDieselConnectionManager::new(url.as_str()), pool_size)?)
            }
        };
        let sqlite_path = match url {
            DatabaseUrl::Sqlite(path) => Some(path.clone()),
            DatabaseUrl::Postgres(_) => None,
        };
        Ok(Database {
            pools,
            sqlite_path,
            runtime: tokio::runtime::Handle::current(),
            bus: EventBus::default(),
            writer: Default::default(),
            public_url: "".into(),
        })
    }

    /// Links in event payloads start with this (the gateway's public address).
    pub fn with_public_url(mut self, url: &str) -> Self {
        self.public_url = url.trim_end_matches('/').into();
        self
    }

    pub fn events(&self) -> &EventBus {
        &self.bus
    }

    pub fn backend(&self) -> &'static str {
        match self.pools {
            Pools::Sqlite(_) => "sqlite",
            Pools::Pg(_) => "postgres",
        }
    }

    /// Runs `f` with a pooled connection as a task of its own (see `runtime`). Every query
    /// function goes through here; `f` owns its inputs.
    pub(crate) async fn run<T, F, Fut>(&self, f: F) -> DbResult<T>
    where
        F: FnOnce(Conn) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = DbResult<T>> + Send + 'static,
        T: Send + 'static,
    {
        // Taking a connection runs queries too (setup, recycle check): it belongs in the task.
        let db = self.clone();
        self.runtime
            .spawn(async move { f(db.conn().await?).await })
            .await
            .map_err(|e| DbError::Pool(format!("query task failed: {e}")))?
    }

    /// `run` for a function that writes: on SQLite it waits for the writer's turn first (in the
    /// task, so a dropped caller cannot leave the turn taken half-way).
    pub(crate) async fn run_write<T, F, Fut>(&self, f: F) -> DbResult<T>
    where
        F: FnOnce(Conn) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = DbResult<T>> + Send + 'static,
        T: Send + 'static,
    {
        let db = self.clone();
        self.runtime
            .spawn(async move {
                let _turn = match db.pools {
                    Pools::Sqlite(_) => Some(db.writer.clone().lock_owned().await),
                    Pools::Pg(_) => None,
                };
                writer_turn::writer_turn(async move { f(db.conn().await?).await }).await
            })
            .await
            .map_err(|e| DbError::Pool(format!("query task failed: {e}")))?
    }

    /// Runs `f` on a PostgreSQL connection: cluster mode is PostgreSQL only, so its queries
    /// (`db::cluster`) are written for it alone; on SQLite this is `DbError::Unsupported`.
    pub(crate) async fn run_pg<T, F, Fut>(&self, f: F) -> DbResult<T>
    where
        F: FnOnce(Object<AsyncPgConnection>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = DbResult<T>> + Send + 'static,
        T: Send + 'static,
    {
        self.run(move |conn| async move {
            match conn {
                Conn::Pg(o) => f(o).await,
                Conn::Sqlite(_) => Err(DbError::Unsupported(
                    "cluster mode needs PostgreSQL; SQLite runs a single node",
                )),
            }
        })
        .await
    }

    async fn conn(&self) -> DbResult<Conn> {
        let err = |e: diesel_async::pooled_connection::deadpool::PoolError| DbError::Pool(e.to_string());
        Ok(match &self.pools {
            Pools::Sqlite(p) => Conn::Sqlite(p.get().await.map_err(err)?),
            Pools::Pg(p) => Conn::Pg(p.get().await.map_err(err)?),
        })
    }

    /// A round trip to the database that reads a table (so a broken SQLite file shows), for health checks.
    pub async fn ping(&self) -> DbResult<()> {
        if let Some(path) = self.sqlite_path.as_ref().filter(|p| !p.exists()) {
            return Err(DbError::Connect(format!("database file {} is gone", path.display())));
        }
        self.run(|mut conn| async move {
            dispatch!(&mut conn, |c| c.batch_execute("SELECT 1 FROM users LIMIT 1").await)?;
            Ok(())
        })
        .await
    }

    pub fn close(&self) {
        match &self.pools {
            Pools::Sqlite(p) => p.close(),
            Pools::Pg(p) => p.close(),
        }
    }
}

/// Applies pending migrations; returns how many ran. Also the `wagate migrate` subcommand.
pub async fn migrate(url: &DatabaseUrl) -> DbResult<usize> {
    match url {
        DatabaseUrl::Sqlite(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| DbError::Connect(format!("{}: {e}", dir.display())))?;
            }
            let mut c = SqliteConn::establish(&path.to_string_lossy())
                .await
                .map_err(|e| DbError::Connect(e.to_string()))?;
            // busy_timeout first: another process (or a gateway still stopping) may hold a lock.
            c.batch_execute(SQLITE_SETUP).await?;
            // WAL persists in the file: readers no longer block the writer.
            c.batch_execute("PRAGMA journal_mode=WAL;").await?;
            c.spawn_blocking(|inner| {
                inner
                    .run_pending_migrations(SQLITE_MIGRATIONS)
                    .map(|v| v.len())
                    .map_err(|e| diesel::result::Error::QueryBuilderError(e.to_string().into()))
            })
            .await
            .map_err(|e| DbError::Migration(e.to_string()))
        }
        DatabaseUrl::Postgres(url) => {
            let c = AsyncPgConnection::establish(url)
                .await
                .map_err(|e| DbError::Connect(e.to_string()))?;
            // The harness blocks (block_in_place): it needs the multi-thread runtime.
            let mut harness = diesel_async::AsyncMigrationHarness::new(c);
            harness
                .run_pending_migrations(PG_MIGRATIONS)
                .map(|v| v.len())
                .map_err(|e| DbError::Migration(e.to_string()))
        }
    }
}

/// Now, in UTC, at microsecond precision (what PostgreSQL keeps), so values round-trip exactly.
pub fn now() -> chrono::NaiveDateTime {
    use chrono::{DurationRound, TimeDelta};
    let t = chrono::Utc::now().naive_utc();
    t.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(t)
}
