//! First start: with an empty database, create an `admin` user and one API key, to be printed once.

use rand::Rng;
use rand::distr::Alphanumeric;

use crate::StartError;
use crate::auth::Authenticator;
use crate::db::Database;

#[derive(Debug, Clone)]
pub struct FirstStart {
    pub username: String,
    pub password: String,
    pub api_key: String,
}

pub async fn first_start(db: &Database, auth: &Authenticator) -> Result<Option<FirstStart>, StartError> {
    if db.count_users().await? > 0 {
        return Ok(None);
    }
    let password: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(20)
        .map(char::from)
        .collect();
    let hash = auth.hash_password(password.clone()).await?;
    let user = match db.create_user("admin", Some(hash), true).await {
        Ok(u) => u,
        // Another process won the race: it prints the credentials, not us.
        Err(crate::db::DbError::Conflict) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let (_, api_key) = auth.create_key_for(user.id, "first-start").await?;
    Ok(Some(FirstStart {
        username: user.username,
        password,
        api_key,
    }))
}

impl FirstStart {
    /// Shown on stdout only (never through `tracing`, so never in the log files).
    pub fn banner(&self, base_url: &str) -> String {
        format!(
            "\n================ wagate first start ================\n\
             Admin user:     {}\n\
             Admin password: {}\n\
             API key:        {}\n\
             These are shown once. Open {}/admin/ to link an account, or try:\n  \
             curl -H 'Authorization: ApiKey {}' {}/api/v1/me\n\
             ====================================================\n",
            self.username, self.password, self.api_key, base_url, self.api_key, base_url
        )
    }
}
