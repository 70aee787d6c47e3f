//! Sessions with real Chromium and chromedriver, without the simulator.

use std::sync::Arc;
use std::time::Duration;

use wagate::db::Database;
use wagate::sessions::{SessionManager, SessionState};

use crate::common::*;

/// Without internet, a session pointed at the real WhatsApp Web ends `failed` with a clear
/// reason, quickly, instead of hanging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_whatsapp_web_fails_with_a_reason() {
    let env = TestEnv::new(Backend::Sqlite).await;
    let settings = Arc::new(env.settings());
    assert_eq!(settings.browser.whatsapp_url, "https://web.whatsapp.com/");
    let db = Database::connect(&settings.database_url().unwrap(), 2).await.unwrap();
    let user = db.create_user("u", None, false).await.unwrap();
    let (manager, _events) = SessionManager::new(settings.clone(), db.clone());
    let handle = manager.start(user.id, "default").await.unwrap();
    let info = handle
        .wait_for(Duration::from_secs(90), |i| i.state.is_terminal())
        .await
        .expect("the session ends within 90 s");
    assert_eq!(info.state, SessionState::Failed, "{info:?}");
    let reason = info.reason.unwrap_or_default();
    assert!(
        reason.contains("web.whatsapp.com"),
        "the reason names the page: {reason}"
    );
    let row = db.session_by_name(user.id, "default").await.unwrap().unwrap();
    assert_eq!(row.status, "failed");
    let history = db.session_events(row.id, 10).await.unwrap();
    assert!(
        history.iter().any(|e| e.state == "starting") && history[0].state == "failed",
        "{history:?}"
    );
    manager.shutdown().await;
}
