//! API keys: creation, verification with an in-memory cache, revocation, and `last_used_at`.

pub mod api_key;
pub mod client;
pub mod key_hash;
pub mod password;
pub mod rate_limit;
pub mod scope;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::NaiveDateTime;
use moka::future::Cache;
use rand::Rng;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use crate::db::{ApiKeyRow, Database, DbError, User};
use key_hash::KeyHasher;
use scope::Grant;

/// Who is calling: the user and the key used.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: i64,
    pub username: String,
    pub is_admin: bool,
    pub key_db_id: i64,
    pub key_id: String,
    pub key_label: String,
    /// What the key may do: scopes and sessions (full rights for keys made without limits).
    pub grant: Grant,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("Invalid API key")]
    InvalidKey,
    #[error("no such user: {0}")]
    UnknownUser(String),
    #[error("hashing failed: {0}")]
    Hash(String),
    #[error("cannot verify keys now: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Verifies keys: an indexed lookup by key id plus one HMAC-SHA256 (see [`key_hash`]). Verified
/// keys are cached, keyed by SHA-256 of the whole key, so a hit proves the caller holds the exact
/// key without keeping it in memory.
#[derive(Clone)]
pub struct Authenticator {
    db: Database,
    cost: u32,
    cache: Cache<[u8; 32], Principal>,
    /// key id → last use, flushed to the database in batches instead of one write per request.
    last_used: Arc<Mutex<HashMap<String, NaiveDateTime>>>,
    /// A bcrypt hash to verify passwords of unknown users against, so they take as long as wrong ones.
    decoy_hash: Arc<String>,
    /// Keyed by the server secret in the database, loaded (or created) on first use, so the
    /// server and the CLI on the same database agree.
    hasher: Arc<OnceCell<KeyHasher>>,
}

impl Authenticator {
    pub fn new(db: Database, cost: u32, cache_ttl: Duration) -> Self {
        let cache = Cache::builder()
            .max_capacity(100_000)
            .time_to_live(cache_ttl)
            .support_invalidation_closures()
            .build();
        let decoy = bcrypt::hash("decoy-secret-never-matches", cost).unwrap_or_default();
        Authenticator {
            db,
            cost,
            cache,
            last_used: Arc::default(),
            decoy_hash: Arc::new(decoy),
            hasher: Arc::default(),
        }
    }

    async fn hasher(&self) -> Result<&KeyHasher, AuthError> {
        self.hasher
            .get_or_try_init(|| async {
                let fresh = hex::encode(rand::rng().random::<[u8; 32]>());
                let secret = self.db.server_secret(key_hash::SECRET_NAME, fresh).await?;
                Ok::<_, AuthError>(KeyHasher::new(secret.as_bytes()))
            })
            .await
    }

    /// The caller of a key verified recently (still in the cache), without any other work: lets
    /// a known client through while its address is over the failed-authentication limit.
    pub async fn cached(&self, presented: &str) -> Option<Principal> {
        let principal = self.cache.get(&digest(presented)).await?;
        self.note_use(&principal.key_id);
        Some(principal)
    }

    /// The caller owning `presented`; `AuthError::InvalidKey` for a malformed, unknown, wrong or
    /// revoked key, `AuthError::Unavailable` when the database cannot be asked.
    pub async fn verify(&self, presented: &str) -> Result<Principal, AuthError> {
        // Concurrent first requests with the same key share one verification; only successes
        // are cached.
        let principal = self
            .cache
            .try_get_with(digest(presented), self.verify_uncached(presented.to_string()))
            .await
            .map_err(|e| match &*e {
                AuthError::InvalidKey => AuthError::InvalidKey,
                other => AuthError::Unavailable(other.to_string()),
            })?;
        self.note_use(&principal.key_id);
        Ok(principal)
    }

    async fn verify_uncached(&self, presented: String) -> Result<Principal, AuthError> {
        let parsed = api_key::parse(&presented).ok_or(AuthError::InvalidKey)?;
        let hasher = self.hasher().await?;
        let Some((row, user)) = self.db.active_key(parsed.id).await? else {
            // An unknown id costs the same HMAC and comparison as a wrong secret.
            hasher.matches(parsed.id, parsed.secret, "");
            return Err(AuthError::InvalidKey);
        };
        if key_hash::is_bcrypt(&row.secret_hash) {
            if !password::verify(parsed.secret.to_string(), row.secret_hash.clone()).await {
                return Err(AuthError::InvalidKey);
            }
            // Upgrade once; if this write fails the key still works and is upgraded next time.
            let new = hasher.hash(parsed.id, parsed.secret);
            if let Err(e) = self.db.replace_key_hash(row.id, row.secret_hash.clone(), new).await {
                tracing::warn!(error = %e, key_id = %row.key_id, "could not upgrade a bcrypt API key hash");
            }
        } else if !hasher.matches(parsed.id, parsed.secret, &row.secret_hash) {
            return Err(AuthError::InvalidKey);
        }
        Ok(principal(&row, &user))
    }

    fn note_use(&self, key_id: &str) {
        let mut map = self.last_used.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(key_id.to_string(), crate::db::now());
    }

    /// Creates a key for `username`; returns the row and the full key, which is never shown again.
    pub async fn create_key(&self, username: &str, label: &str) -> Result<(ApiKeyRow, String), AuthError> {
        let user = self
            .db
            .user_by_name(username)
            .await?
            .ok_or_else(|| AuthError::UnknownUser(username.to_string()))?;
        self.create_key_for(user.id, label).await
    }

    /// A key with full rights for `user_id`.
    pub async fn create_key_for(&self, user_id: i64, label: &str) -> Result<(ApiKeyRow, String), AuthError> {
        self.create_scoped_key(user_id, label, &Grant::full()).await
    }

    /// A key for `user_id` limited to `grant`; returns the row and the full key (shown once).
    pub async fn create_scoped_key(
        &self,
        user_id: i64,
        label: &str,
        grant: &Grant,
    ) -> Result<(ApiKeyRow, String), AuthError> {
        let (id, secret, full) = api_key::generate();
        let hash = self.hasher().await?.hash(&id, &secret);
        let row = self.db.insert_scoped_api_key(user_id, &id, hash, label, grant).await?;
        Ok((row, full))
    }

    /// Revokes a key by row id; a cached copy stops working at once. False when already revoked
    /// or unknown.
    pub async fn revoke(&self, id: i64) -> Result<bool, AuthError> {
        match self.db.revoke_key(id).await? {
            Some(key_id) => {
                self.forget(&key_id);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn forget(&self, key_id: &str) {
        let key_id = key_id.to_string();
        // moka never returns an entry matching a registered predicate, even before it is evicted.
        let _ = self.cache.invalidate_entries_if(move |_, p| p.key_id == key_id);
    }

    /// The user, if `password` is theirs. Unknown users and users without a password cost a
    /// bcrypt run too, so timing does not reveal which names exist.
    pub async fn check_password(&self, username: &str, password: &str) -> Result<Option<crate::db::User>, AuthError> {
        let user = self.db.user_by_name(username).await?;
        let hash = user
            .as_ref()
            .and_then(|u| u.password_hash.clone())
            .unwrap_or_else(|| self.decoy_hash.to_string());
        let matches = password::verify(password.to_string(), hash).await;
        Ok(user.filter(|u| matches && u.password_hash.is_some()))
    }

    pub async fn hash_password(&self, password: String) -> Result<String, AuthError> {
        password::hash(password, self.cost).await
    }

    /// Background upkeep: writes `last_used_at` and picks up keys revoked by another process
    /// (the CLI), so they stop working within one period rather than one cache TTL.
    pub async fn run_maintenance(self, period: Duration) {
        let mut since = crate::db::now();
        let mut tick = tokio::time::interval(period);
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(e) = self.flush_last_used().await {
                tracing::warn!(error = %e, "could not record API key use");
            }
            let checked_at = crate::db::now();
            match self.db.keys_revoked_since(since - chrono::TimeDelta::seconds(1)).await {
                Ok(ids) => {
                    ids.iter().for_each(|id| self.forget(id));
                    since = checked_at;
                }
                Err(e) => tracing::warn!(error = %e, "could not check for revoked API keys"),
            }
        }
    }

    pub async fn flush_last_used(&self) -> Result<(), DbError> {
        let used: Vec<(String, NaiveDateTime)> = {
            let mut map = self.last_used.lock().unwrap_or_else(|e| e.into_inner());
            map.drain().collect()
        };
        if used.is_empty() {
            return Ok(());
        }
        self.db.touch_keys(used).await
    }
}

fn digest(presented: &str) -> [u8; 32] {
    Sha256::digest(presented.as_bytes()).into()
}

fn principal(row: &ApiKeyRow, user: &User) -> Principal {
    Principal {
        user_id: user.id,
        username: user.username.clone(),
        is_admin: user.is_admin,
        key_db_id: row.id,
        key_id: row.key_id.clone(),
        key_label: row.label.clone(),
        grant: Grant::from_columns(row.scopes.as_deref(), row.sessions.as_deref()),
    }
}
