//! `make bench`: the release gateway (a child process) against wagate-sim on loopback. Prints a
//! table and writes `bench/results/<date>.json`. Numbers, not pass/fail.
//!
//! Env: `BENCH_SESSIONS` (default 10), `BENCH_SENDS` (default 200), `BENCH_INCOMING` (default 100),
//! `BENCH_QUIET_INCOMING` (default 10), `BENCH_IDLE_SETTLE_S` (quiet seconds before the idle CPU
//! is measured, default 60: a browser that just linked is busy for tens of seconds);
//! `BENCH_MODE=uploads` measures memory under concurrent uploads instead (see `uploads.rs`),
//! `BENCH_MODE=failover` a cluster node's failover time (see `failover.rs`).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wagate_sim::{IncomingMessage, SimConfig, Simulator};

mod cpu;
mod failover;
mod receiver;
mod uploads;

struct Gateway {
    child: Child,
    base: String,
    key: String,
    data: Option<tempfile::TempDir>,
}

impl Gateway {
    fn data_path(&self) -> &std::path::Path {
        self.data.as_ref().expect("the data dir").path()
    }

    /// SIGTERM, wait, and hand the data dir over (for a restart on the same data).
    fn stop(mut self) -> tempfile::TempDir {
        unsafe { libc_kill(self.child.id() as i32, 15) };
        let _ = self.child.wait();
        self.data.take().expect("the data dir")
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        unsafe { libc_kill(self.child.id() as i32, 15) };
        let _ = self.child.wait();
    }
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

/// The bench's gateways require this bearer token on `/metrics`.
const METRICS_TOKEN: &str = "bench-metrics";

/// The gateway's `/metrics` text.
async fn scrape(http: &reqwest::Client, base: &str) -> String {
    http.get(format!("{base}/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The sum of the samples of `name` (a full series name) whose labels contain `labels`.
fn metric(text: &str, name: &str, labels: &str) -> f64 {
    text.lines()
        .filter(|l| l.split(['{', ' ']).next() == Some(name) && l.contains(labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Where the sends between two scrapes spent their time, from the gateway's `/metrics`: the
/// mean of each `wagate_send_stage_seconds{stage}`, of the page call
/// (`wagate_send_duration_seconds`) and of the HTTP request
/// (`wagate_http_request_duration_seconds` of send-text), in ms; and the SQL statements the
/// gateway ran per send meanwhile (`wagate_db_statements_total`: acks, events, deliveries too).
fn send_breakdown(before: &str, after: &str, sends: usize) -> Value {
    let delta = |name: &str, labels: &str| metric(after, name, labels) - metric(before, name, labels);
    let mean_ms = |histogram: &str, labels: &str| {
        let count = delta(&format!("{histogram}_count"), labels);
        if count == 0.0 {
            return Value::Null;
        }
        json!((delta(&format!("{histogram}_sum"), labels) / count * 1e4).round() / 10.0)
    };
    json!({
        "store": mean_ms("wagate_send_stage_seconds", "stage=\"store\""),
        "claim": mean_ms("wagate_send_stage_seconds", "stage=\"claim\""),
        "page_call": mean_ms("wagate_send_duration_seconds", "type=\"chat\""),
        "settle": mean_ms("wagate_send_stage_seconds", "stage=\"settle\""),
        "http_request": mean_ms("wagate_http_request_duration_seconds", "send-text"),
        "db_statements_per_send": (delta("wagate_db_statements_total", "") / sends.max(1) as f64 * 10.0).round() / 10.0,
    })
}

fn start_gateway(sim: &Simulator, data: tempfile::TempDir) -> Gateway {
    start_gateway_with(sim, data, &[])
}

/// SIGKILL (or another signal) to a gateway and everything it started (its own process group).
fn kill_group(g: &Gateway, sig: i32) {
    unsafe { libc_kill(-(g.child.id() as i32), sig) };
}

/// A gateway with more settings (`WAGATE__…` pairs), in a process group of its own; the binary
/// is `BENCH_WAGATE` (default `target/release/wagate`).
fn start_gateway_with(sim: &Simulator, data: tempfile::TempDir, extra: &[(&str, String)]) -> Gateway {
    use std::os::unix::process::CommandExt;
    let bin = std::env::var("BENCH_WAGATE").unwrap_or_else(|_| "target/release/wagate".into());
    let mut child = Command::new(bin)
        .arg("serve")
        .envs(extra.iter().map(|(k, v)| (*k, v.as_str())))
        .process_group(0)
        .env("WAGATE__DATA_DIR", data.path())
        .env("WAGATE__SERVER__PORT", "0")
        .env("WAGATE__LOG__LEVEL", "warn")
        // The point is the gateway's own throughput, not the per-key limit.
        .env("WAGATE__AUTH__RATE_LIMIT_PER_SEC", "0")
        // Nor the anti-ban pacing of the outbound queue.
        .env("WAGATE__SENDING__MIN_GAP_MS", "0")
        .env("WAGATE__SENDING__GAP_JITTER_MS", "0")
        .env(
            "WAGATE__SESSIONS__POLL_MAX_MS",
            std::env::var("BENCH_POLL_MAX_MS").unwrap_or_else(|_| "1000".into()),
        )
        .env("WAGATE__BROWSER__WHATSAPP_URL", sim.base_url())
        // A backlog built against a dead receiver drains as soon as the receiver is back.
        .env("WAGATE__WEBHOOKS__RETRY_MAX_SECS", "1")
        .env("WAGATE__WEBHOOKS__RETRY_INITIAL_MS", "200")
        .env("WAGATE__SERVER__METRICS_TOKEN", METRICS_TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("build first: cargo build --release");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut key = String::new();
    let base = loop {
        let line = lines.next().expect("gateway output").unwrap();
        if let Some(k) = line.strip_prefix("API key:") {
            key = k.trim().to_string();
        }
        if let Some(u) = line.strip_prefix("wagate listening on ") {
            break u.to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Gateway {
        child,
        base,
        key,
        data: Some(data),
    }
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn stats(mut v: Vec<f64>) -> Value {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    json!({ "n": v.len(), "p50_ms": percentile(&v, 0.5), "p95_ms": percentile(&v, 0.95), "p99_ms": percentile(&v, 0.99) })
}

/// wrk at 50 connections for 10 s; returns (req/s, p99 ms).
fn wrk(url: &str, key: &str) -> Value {
    let out = Command::new("wrk")
        .args([
            "-t2",
            "-c50",
            "-d10s",
            "--latency",
            "-H",
            &format!("Authorization: ApiKey {key}"),
            url,
        ])
        .output();
    let Ok(out) = out else {
        return json!({ "error": "wrk not installed (apt-get install wrk)" });
    };
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let rps = text
        .lines()
        .find(|l| l.starts_with("Requests/sec:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok());
    let p99 = text
        .lines()
        .find(|l| l.trim_start().starts_with("99%"))
        .and_then(|l| l.split_whitespace().nth(1))
        .map(|v| {
            let (n, unit) = v.split_at(v.find(|c: char| c.is_alphabetic()).unwrap_or(v.len()));
            let n: f64 = n.parse().unwrap_or(f64::NAN);
            match unit {
                "us" => n / 1000.0,
                "s" => n * 1000.0,
                _ => n,
            }
        });
    let non2xx = text
        .lines()
        .find(|l| l.contains("Non-2xx"))
        .map(str::trim)
        .map(str::to_string);
    json!({ "req_per_s": rps, "p99_ms": p99, "non_2xx": non2xx })
}

async fn link(http: &reqwest::Client, g: &Gateway, sim: &Simulator, session: &str, phone: &str) -> (f64, f64) {
    let t = Instant::now();
    let init: Value = http
        .post(format!("{}/api/v1/sessions/init/?session={session}", g.base))
        .header("Authorization", format!("ApiKey {}", g.key))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let qr_ms = t.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(init["data"]["status"], "qr_pending", "{init}");
    let pages = sim.control().pages().await;
    // The page this session shows: the QR the init answer encodes is one of the open pages'.
    let before: Vec<String> = sim
        .control()
        .devices()
        .await
        .iter()
        .map(|d| d.device_id.clone())
        .collect();
    let page = pages
        .iter()
        .find(|p| p.qr.is_some() && !before.contains(&p.device_id))
        .expect("a page with a QR");
    sim.control()
        .scan(page.qr.as_deref().unwrap(), Some(phone))
        .await
        .unwrap();
    let t2 = Instant::now();
    loop {
        let st: Value = http
            .get(format!("{}/api/v1/sessions/status/?session={session}", g.base))
            .header("Authorization", format!("ApiKey {}", g.key))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if st["data"]["isReady"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (qr_ms, t2.elapsed().as_secs_f64() * 1000.0)
}

/// `name` from the environment parsed as a `T`, or `default` when it is unset or does not parse.
fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let sessions: usize = env_or("BENCH_SESSIONS", 10);
    let sends: usize = env_or("BENCH_SENDS", 200);
    let sim = Simulator::start(SimConfig {
        qr_rotation: Duration::from_secs(60),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    if std::env::var("BENCH_MODE").as_deref() == Ok("failover") {
        let result = failover::run(&sim, sessions).await;
        let path = format!(
            "bench/results/{}-failover-{sessions}-sessions.json",
            chrono::Utc::now().format("%Y-%m-%d")
        );
        std::fs::write(&path, serde_json::to_string_pretty(&result).unwrap()).unwrap();
        println!("written to {path}");
        return;
    }
    if std::env::var("BENCH_MODE").as_deref() == Ok("uploads") {
        let g = start_gateway(&sim, tempfile::tempdir().unwrap());
        tokio::time::sleep(Duration::from_secs(2)).await;
        let result = uploads::run(&g).await;
        let path = format!("bench/results/{}-uploads.json", chrono::Utc::now().format("%Y-%m-%d"));
        std::fs::write(&path, serde_json::to_string_pretty(&result).unwrap()).unwrap();
        println!("written to {path}");
        return;
    }
    // The floor: the same sends through a session handle in this process, taken in turn with the
    // gateway's sends on its first session below, so both meet the same machine and simulator.
    let floor_session = Floor::start(&sim).await;
    let mut floor = Vec::new();
    let mut floor_stats = Value::Null;
    let g = start_gateway(&sim, tempfile::tempdir().unwrap());
    let http = reqwest::Client::new();
    let pid = g.child.id();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_idle = rss_kb(pid);
    let me = wrk(&format!("{}/api/v1/me", g.base), &g.key);
    println!("GET /api/v1/me, 50 connections: {me}");

    let mut qr_times = Vec::new();
    let mut link_times = Vec::new();
    let sessions_dir = g.data_path().join("sessions");
    let mut pss = Vec::new();
    let api = GatewayRef {
        base: g.base.clone(),
        key: g.key.clone(),
    };
    let mut one = Vec::new();
    let mut breakdown = Value::Null;
    for i in 0..sessions {
        let (qr, linked) = link(&http, &g, &sim, &format!("s{i}"), &format!("1555100{i:04}")).await;
        if i == 0 {
            // One connected session alone: the gateway's own cost, with no other browser busy.
            let before = scrape(&http, &g.base).await;
            for _ in 0..sends {
                one.push(api.send(&http, "s0").await);
                floor.push(floor_session.send().await);
            }
            // The last sends' acks come 150 and 300 ms later (the simulator's phone).
            tokio::time::sleep(Duration::from_millis(500)).await;
            breakdown = send_breakdown(&before, &scrape(&http, &g.base).await, sends);
            println!("send-text, 1 session, means in ms: {breakdown}");
            floor_session.manager.shutdown().await;
            floor_stats = stats(std::mem::take(&mut floor));
            println!(
                "send through the session handle (no HTTP, no queue), 1 session, in turn with the above: {floor_stats}"
            );
        }
        qr_times.push(qr);
        link_times.push(linked);
        if [1, 10, 30, 50].contains(&(i + 1)) {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let kb = wagate::browser::procs::profile_pss_kb(&sessions_dir);
            pss.push(json!({ "sessions": i + 1, "chromium_pss_mib": kb / 1024, "per_session_mib": kb / 1024 / (i as u64 + 1), "gateway_rss_kib": rss_kb(pid) }));
            println!(
                "{} sessions: Chromium PSS {} MiB, gateway RSS {} KiB",
                i + 1,
                kb / 1024,
                rss_kb(pid)
            );
        }
    }
    let rss_sessions = rss_kb(pid);
    // Quiet first: a browser that just linked keeps busy for tens of seconds (measured: 10 sessions
    // idle at 8.1 % of one core 5 s after the last link, 2.3 % after 60 s).
    let settle: u64 = env_or("BENCH_IDLE_SETTLE_S", 60);
    println!("idle from now on, measured after {settle} s");
    tokio::time::sleep(Duration::from_secs(settle)).await;
    let roots = [pid, std::process::id()];
    let idle = cpu::idle(&roots, Duration::from_secs(20)).await;
    let (idle_cpu, idle_tree_cpu) = (idle.machine, idle.tree);
    println!("whole machine CPU while {sessions} sessions sit idle: {idle_cpu:.1} % of one core");
    println!("gateway + chromedriver + Chromium + simulator CPU while idle: {idle_tree_cpu:.1} % of one core");
    println!(
        "the rest of the machine (not the gateway's): {:.1} %; costliest commands: {}",
        idle.others,
        json!(idle.top_commands)
    );

    // Events pile up while the webhook points at a port nobody listens on.
    let rx = receiver::Receiver::start().await;
    api.webhook(&http, &format!("http://127.0.0.1:{}/hook", receiver::free_port()))
        .await;
    let mut busy = Vec::new();
    for _ in 0..sends {
        busy.push(api.send(&http, "s0").await);
    }
    let busy = stats(busy);
    println!("send-text, sequential, with {sessions} connected sessions: {busy}");

    let one = stats(one);
    println!("send-text, 1 connected session, sequential: {one}");

    let started = Instant::now();
    let per = sends / sessions.max(1);
    let mut tasks = Vec::new();
    for i in 0..sessions {
        let (http, base, key) = (http.clone(), g.base.clone(), g.key.clone());
        tasks.push(tokio::spawn(async move {
            let g2 = GatewayRef { base, key };
            let mut v = Vec::new();
            for _ in 0..per {
                v.push(g2.send(&http, &format!("s{i}")).await);
            }
            v
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    let parallel = stats(all.clone());
    println!(
        "send-text, {sessions} sessions in parallel: {parallel}, {:.1} msg/s",
        all.len() as f64 / elapsed
    );
    let status = wrk(&format!("{}/api/v1/sessions/status/?session=s0", g.base), &g.key);
    println!("GET /api/v1/sessions/status/, 50 connections: {status}");

    // The backlog drains to a fast local receiver: the dispatcher's sustained rate.
    tokio::time::sleep(Duration::from_secs(3)).await;
    api.webhook(&http, &rx.url).await;
    let drained = rx.drain_rate(Duration::from_secs(3)).await;
    println!("webhook backlog drained: {drained}");

    // Incoming message on the simulator → webhook received, one at a time.
    let incoming: usize = env_or("BENCH_INCOMING", 100);
    let hook_latency = incoming_to_webhook(&sim, &rx, "bench-in", incoming, Duration::ZERO).await;
    println!("incoming message → webhook received ({incoming} sequential): {hook_latency}");
    // The same after a quiet spell each (no poll is due: push carries them, see issue 15).
    let quiet: usize = env_or("BENCH_QUIET_INCOMING", 10);
    let after_quiet = incoming_to_webhook(&sim, &rx, "bench-quiet", quiet, Duration::from_secs(2)).await;
    println!("incoming message after 2 s of quiet → webhook received ({quiet}): {after_quiet}");

    // A gateway restart on the same data: every linked session comes back without a QR.
    let key = g.key.clone();
    let data = g.stop();
    let started = Instant::now();
    let g = start_gateway(&sim, data);
    let restore_all_s = loop {
        let r = http
            .get(format!("{}/api/v1/sessions/", g.base))
            .header("Authorization", format!("ApiKey {key}"))
            .send()
            .await
            .unwrap();
        let list: Value = r.json().await.unwrap();
        let connected = list["data"]
            .as_array()
            .map(|a| a.iter().filter(|s| s["status"] == "connected").count())
            .unwrap_or(0);
        if connected >= sessions || started.elapsed() > Duration::from_secs(600) {
            break started.elapsed().as_secs_f64();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!("gateway restart → all {sessions} sessions connected again: {restore_all_s:.1} s");
    drop(g);

    let result = json!({
        "date": chrono::Utc::now().to_rfc3339(),
        "machine": { "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0) },
        "gateway_rss_idle_kib": rss_idle,
        "gateway_rss_with_sessions_kib": rss_sessions,
        "gateway_rss_per_session_kib": (rss_sessions.saturating_sub(rss_idle)) / sessions.max(1) as u64,
        "init_to_qr_ms": stats(qr_times),
        "scan_to_connected_ms": stats(link_times),
        "chromium": pss,
        "me_wrk_50": me,
        "status_wrk_50": status,
        "send_text_1_session": one,
        "send_text_1_session_breakdown_ms": breakdown,
        "send_via_handle_floor": floor_stats,
        "send_text_with_all_connected": busy,
        "send_text_parallel": { "sessions": sessions, "latency": parallel, "msg_per_s": all.len() as f64 / elapsed },
        "idle_machine_cpu_percent_of_one_core": idle_cpu,
        "idle_gateway_tree_cpu_percent_of_one_core": idle_tree_cpu,
        "idle_settle_s": settle,
        "idle_cpu_by_command": idle,
        "webhook_backlog_drain": drained,
        "incoming_to_webhook_ms": hook_latency,
        "incoming_after_quiet_to_webhook_ms": after_quiet,
        "restart_to_all_connected_s": restore_all_s,
    });
    println!("{}", serde_json::to_string_pretty(&result).unwrap());
    let dir = std::path::Path::new("bench/results");
    let _ = std::fs::create_dir_all(dir);
    let file = dir.join(format!("{}.json", chrono::Utc::now().format("%Y-%m-%d")));
    std::fs::write(&file, serde_json::to_string_pretty(&result).unwrap()).unwrap();
    println!("written to {}", file.display());
}

struct GatewayRef {
    base: String,
    key: String,
}

/// The floor of a send: a session in this process, driven through its `SessionHandle` (actor,
/// page call over the session's BiDi connection, simulator), without HTTP, the queue or the
/// database. What the gateway adds on top is the difference from `send_text_1_session`.
struct Floor {
    manager: wagate::sessions::SessionManager,
    handle: wagate::sessions::SessionHandle,
    _dir: tempfile::TempDir,
}

impl Floor {
    async fn start(sim: &Simulator) -> Floor {
        use wagate::sessions::{SessionManager, SessionState};
        let dir = tempfile::tempdir().unwrap();
        let mut s = wagate::config::Settings::defaults().unwrap();
        s.data_dir = dir.path().to_path_buf();
        s.media.dir = dir.path().join("media");
        s.database.url = format!("sqlite://{}", dir.path().join("floor.db").display());
        s.browser.whatsapp_url = sim.base_url();
        let db = wagate::db::Database::connect(&s.database_url().unwrap(), 4)
            .await
            .unwrap();
        let user = db.create_user("floor", None, false).await.unwrap();
        let (manager, mut events) = SessionManager::new(std::sync::Arc::new(s), db);
        tokio::spawn(async move { while events.recv().await.is_some() {} });
        let handle = manager.start(user.id, "floor").await.unwrap();
        let qr = handle
            .wait_for(Duration::from_secs(60), |i| i.qr.is_some())
            .await
            .and_then(|i| i.qr)
            .expect("a QR");
        sim.control().scan(&qr, Some("15559990000")).await.unwrap();
        handle
            .wait_for(Duration::from_secs(60), |i| i.state == SessionState::Connected)
            .await
            .expect("connected");
        Floor {
            manager,
            handle,
            _dir: dir,
        }
    }

    /// One send to the same recipient as the bench's HTTP sends; its time in ms.
    async fn send(&self) -> f64 {
        let chat = wagate::sessions::ChatId::parse("15550002002@c.us").unwrap();
        let t = Instant::now();
        self.handle.send_text(chat, "floor".into()).await.unwrap();
        t.elapsed().as_secs_f64() * 1000.0
    }
}

/// Milliseconds from the simulator delivering each of `count` text messages to the first session
/// until the webhook receiver holds it, one at a time, each after `quiet` of nothing happening.
async fn incoming_to_webhook(
    sim: &Simulator,
    rx: &receiver::Receiver,
    prefix: &str,
    count: usize,
    quiet: Duration,
) -> Value {
    let mut latency = Vec::new();
    for i in 0..count {
        tokio::time::sleep(quiet).await;
        let body = format!("{prefix}-{i}");
        let t = Instant::now();
        sim.control()
            .deliver("15551000000", IncomingMessage::text("15550009999@c.us", &body))
            .await
            .unwrap();
        if rx.wait_for_body(&body, Duration::from_secs(30)).await {
            latency.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    stats(latency)
}

impl GatewayRef {
    async fn webhook(&self, http: &reqwest::Client, url: &str) {
        let r = http
            .put(format!("{}/api/v1/webhook/", self.base))
            .header("Authorization", format!("ApiKey {}", self.key))
            .json(&json!({ "url": url }))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }

    async fn send(&self, http: &reqwest::Client, session: &str) -> f64 {
        let t = Instant::now();
        let r = http
            .post(format!("{}/api/v1/messages/send-text/?session={session}", self.base))
            .header("Authorization", format!("ApiKey {}", self.key))
            .json(&json!({ "recipient": "15550002002@c.us", "message": "bench" }))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        t.elapsed().as_secs_f64() * 1000.0
    }
}
