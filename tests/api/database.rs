use crate::both_backends;
use crate::common::*;
use wagate::db::{self, Database, DbError};

async fn migrations_apply_once_and_queries_work(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let url = env.settings().database_url().unwrap();
    assert!(db::migrate(&url).await.unwrap() >= 1, "fresh database: migrations run");
    assert_eq!(db::migrate(&url).await.unwrap(), 0, "second run: nothing pending");

    let db = Database::connect(&url, 2).await.unwrap();
    let user = db.create_user("alice", None, false).await.unwrap();
    assert!(matches!(
        db.create_user("alice", None, true).await,
        Err(DbError::Conflict)
    ));
    let key = db
        .insert_api_key(user.id, "abcdefghijkl", "hash".into(), "ci")
        .await
        .unwrap();
    let (found, owner) = db.active_key("abcdefghijkl").await.unwrap().unwrap();
    assert_eq!((found.id, owner.username.as_str()), (key.id, "alice"));
    assert_eq!(found.created_at, key.created_at, "timestamps round-trip exactly");
    assert_eq!(db.revoke_key(key.id).await.unwrap().as_deref(), Some("abcdefghijkl"));
    assert!(db.active_key("abcdefghijkl").await.unwrap().is_none());
    assert_eq!(db.revoke_key(key.id).await.unwrap(), None, "revoking twice is a no-op");
    db.ping().await.unwrap();
}
both_backends!(migrations, migrations_apply_once_and_queries_work);

async fn health_reports_the_database(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json(app.http.get(app.url("/health")).send().await.unwrap(), 200).await;
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["success"], true);
    assert!(body["uptime"].as_u64().is_some());
    assert_eq!(
        body["database"]["backend"],
        if backend == Backend::Sqlite {
            "sqlite"
        } else {
            "postgres"
        }
    );

    // Take the database away under the running server.
    match &app.env.pg {
        Some(pg) => pg.drop_now().await,
        None => {
            std::fs::remove_file(app.env.dir.path().join("wagate.db")).unwrap();
        }
    }
    let resp = app.http.get(app.url("/health")).send().await.unwrap();
    let body = json(resp, 503).await;
    assert_eq!(body["status"], "unhealthy");
    assert!(
        body["database"]["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
}
both_backends!(health, health_reports_the_database);
