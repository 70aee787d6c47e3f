//! bcrypt, run on the blocking pool so a 70 ms hash never stalls an async worker.

use super::AuthError;

pub async fn hash(secret: String, cost: u32) -> Result<String, AuthError> {
    tokio::task::spawn_blocking(move || bcrypt::hash(secret, cost))
        .await
        .map_err(|e| AuthError::Hash(e.to_string()))?
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// Constant-time in the secret (bcrypt's comparison); false on any malformed hash.
pub async fn verify(secret: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || bcrypt::verify(secret, &hash).unwrap_or(false))
        .await
        .unwrap_or(false)
}
