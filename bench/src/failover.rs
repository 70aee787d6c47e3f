//! `BENCH_MODE=failover`: how long a node's sessions take to come back on another node after the
//! node is killed (SIGKILL, its browsers with it). Two cluster nodes on one PostgreSQL database;
//! `BENCH_SESSIONS` sessions are linked on node A alone, node B starts, A's profiles are archived,
//! A is killed; the clock runs until B owns every session and each is connected (no QR).
//!
//! Env: `BENCH_PG_URL` (a PostgreSQL server where a scratch database is made with `psql`; default
//! `WAGATE_TEST_POSTGRES_URL`), `BENCH_SESSIONS` (default 10), `BENCH_WAGATE` (the binary,
//! default `target/release/wagate`), `BENCH_LOAD_SECS` (the window in which the steady-state
//! database load is read from both nodes' `wagate_db_statements_total`, default 30). Leases, claim interval and archives use the defaults.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wagate_sim::Simulator;

use super::{Gateway, link, start_gateway_with, stats};

/// A scratch database, dropped at the end.
struct Scratch {
    base: String,
    name: String,
}

impl Scratch {
    fn create(base: &str) -> (Scratch, String) {
        let name = format!("wagate_bench_{}", std::process::id());
        psql(base, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        psql(base, &format!("CREATE DATABASE {name}"));
        let url = match base.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{name}"),
            None => panic!("BENCH_PG_URL is not a postgres:// URL with a database"),
        };
        (
            Scratch {
                base: base.to_string(),
                name,
            },
            url,
        )
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        psql(
            &self.base,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

fn psql(url: &str, sql: &str) {
    let out = std::process::Command::new("psql")
        .args([url, "-qc", sql])
        .output()
        .expect("psql (the PostgreSQL client) is needed");
    assert!(out.status.success(), "{sql}: {}", String::from_utf8_lossy(&out.stderr));
}

async fn get(http: &reqwest::Client, g: &Gateway, key: &str, path: &str) -> Value {
    match http
        .get(format!("{}{path}", g.base))
        .header("Authorization", format!("ApiKey {key}"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
    {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

/// The node's `wagate_db_statements_total` (all results) from its `/metrics`.
async fn statements(http: &reqwest::Client, g: &Gateway) -> f64 {
    let text = http
        .get(format!("{}/metrics", g.base))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .filter(|l| l.starts_with("wagate_db_statements_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Session name → (owner, archived) from the cluster view.
async fn leases(http: &reqwest::Client, g: &Gateway, key: &str) -> HashMap<String, (Option<String>, bool)> {
    let view = get(http, g, key, "/api/v1/cluster/").await;
    view["data"]["sessions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|s| {
            let name = s["name"].as_str().unwrap_or_default().to_string();
            let owner = s["owner"].as_str().map(str::to_string);
            (name, (owner, s["archiveBytes"].as_i64().is_some()))
        })
        .collect()
}

pub async fn run(sim: &Simulator, sessions: usize) -> Value {
    let base = std::env::var("BENCH_PG_URL")
        .or_else(|_| std::env::var("WAGATE_TEST_POSTGRES_URL"))
        .expect("BENCH_MODE=failover needs BENCH_PG_URL (a PostgreSQL server)");
    let (_scratch, db_url) = Scratch::create(&base);
    let root = tempfile::tempdir().unwrap();
    let store = format!("file://{}", root.path().join("store").display());
    let node = |id: &str| {
        vec![
            ("WAGATE__DATABASE__URL", db_url.clone()),
            ("WAGATE__CLUSTER__ENABLED", "true".to_string()),
            ("WAGATE__CLUSTER__NODE_ID", id.to_string()),
            ("WAGATE__CLUSTER__CAPACITY", sessions.to_string()),
            // Archive soon after linking, so every profile is in the store before the kill.
            ("WAGATE__CLUSTER__ARCHIVE_INTERVAL_SECS", "5".to_string()),
            ("WAGATE__STORAGE__URL", store.clone()),
        ]
    };
    let a = start_gateway_with(sim, tempfile::tempdir().unwrap(), &node("node-a"));
    let key = a.key.clone();
    let http = reqwest::Client::new();
    tokio::time::sleep(Duration::from_secs(2)).await;
    for i in 0..sessions {
        link(&http, &a, sim, &format!("f{i}"), &format!("1555200{i:04}")).await;
    }
    let b = start_gateway_with(sim, tempfile::tempdir().unwrap(), &node("node-b"));
    let archived = Instant::now();
    loop {
        let l = leases(&http, &b, &key).await;
        let done = l.len() == sessions
            && l.values()
                .all(|(owner, archived)| owner.as_deref() == Some("node-a") && *archived);
        if done {
            break;
        }
        assert!(
            archived.elapsed() < Duration::from_secs(300),
            "profiles not archived: {l:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Steady-state database load: node A runs every session, node B none (only its own upkeep,
    // leases and claim loop), so (A - B) / sessions is what one linked, quiet session costs.
    let load_secs: u64 = crate::env_or("BENCH_LOAD_SECS", 30);
    let (a0, b0) = (statements(&http, &a).await, statements(&http, &b).await);
    tokio::time::sleep(Duration::from_secs(load_secs)).await;
    let (a1, b1) = (statements(&http, &a).await, statements(&http, &b).await);
    let rate_a = (a1 - a0) / load_secs as f64;
    let rate_b = (b1 - b0) / load_secs as f64;
    let per_session = (rate_a - rate_b) / sessions as f64;
    println!(
        "database load over {load_secs} s, steady state: node A ({sessions} sessions) {rate_a:.1} statements/s, \
         node B (none) {rate_b:.1} statements/s, per session {per_session:.2} statements/s"
    );

    // SIGKILL node A and its browsers (its own process group).
    let killed = Instant::now();
    super::kill_group(&a, 9);
    let mut owned_at: HashMap<String, f64> = HashMap::new();
    let mut ready_at: HashMap<String, f64> = HashMap::new();
    while ready_at.len() < sessions && killed.elapsed() < Duration::from_secs(600) {
        let t = killed.elapsed().as_secs_f64();
        for (name, (owner, _)) in leases(&http, &b, &key).await {
            if owner.as_deref() == Some("node-b") {
                owned_at.entry(name).or_insert(t);
            }
        }
        let list = get(&http, &b, &key, "/api/v1/sessions/").await;
        for s in list["data"].as_array().cloned().unwrap_or_default() {
            let name = s["sessionId"].as_str().unwrap_or_default().to_string();
            if s["isReady"] == true && owned_at.contains_key(&name) {
                ready_at.entry(name).or_insert(t);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let devices = sim.control().devices().await.len();
    let all_owned = owned_at.values().cloned().fold(0.0, f64::max);
    let all_ready = ready_at.values().cloned().fold(0.0, f64::max);
    let result = json!({
        "sessions": sessions,
        "reconnected": ready_at.len(),
        "devices_linked": devices,
        "all_owned_by_survivor_s": all_owned,
        "all_connected_on_survivor_s": all_ready,
        "per_session_connected_s": stats(ready_at.values().map(|s| s * 1000.0).collect()),
        "db_statements_per_s": {
            "window_s": load_secs,
            "node_with_sessions": rate_a,
            "node_without_sessions": rate_b,
            "per_session": per_session,
        },
    });
    println!(
        "failover, {sessions} sessions, SIGKILL -> all owned by the survivor: {all_owned:.1} s, \
         all connected: {all_ready:.1} s ({} of {sessions} reconnected; {devices} devices, no new QR if equal)",
        ready_at.len()
    );
    drop(b);
    result
}
