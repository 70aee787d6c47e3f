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

/// A call raises `call.received` and `call.rejected` once each, however often it is reported (a
/// spool replay after a commit whose answer was lost, a page telling it again).
async fn call_events_are_written_once(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let url = env.settings().database_url().unwrap();
    db::migrate(&url).await.unwrap();
    let db = Database::connect(&url, 2).await.unwrap();
    let user = db.create_user("alice", None, false).await.unwrap();
    let session = db.get_or_create_session(user.id, "default").await.unwrap();
    let call = |id: &str| db::CallFacts {
        call_id: id.into(),
        from: Some("15550002002@c.us".into()),
        from_phone: Some("15550002002".into()),
        is_video: false,
        is_group: false,
        offered_at: Some(1_796_000_000),
    };
    for _ in 0..2 {
        db.record_call(session.id, call("CALL1"), None, None).await.unwrap();
        db.record_call(session.id, call("CALL1"), Some((db::RejectedBy::Auto, None)), None)
            .await
            .unwrap();
    }
    db.record_call(session.id, call("CALL2"), None, None).await.unwrap();
    let events = db.events_after(user.id, 0, 100).await.unwrap();
    let kinds: Vec<(&str, String)> = events
        .iter()
        .map(|e| {
            let body: serde_json::Value = serde_json::from_str(&e.body).unwrap();
            (
                e.event.as_str(),
                body["payload"]["callId"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("call.received", "CALL1".to_string()),
            ("call.rejected", "CALL1".to_string()),
            ("call.received", "CALL2".to_string()),
        ]
    );
}
both_backends!(call_events_once, call_events_are_written_once);
