//! Cluster mode end to end: several real `wagate` processes on one PostgreSQL database, real
//! Chromium, the simulator. Node loss (SIGKILL), fencing (SIGSTOP), drain, profiles moved through
//! an object store (a shared directory, and S3 through a local moto server).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use wagate::db::cluster::Fence;
use wagate_sim::{IncomingMedia, IncomingMessage, Simulator};

use crate::common::*;
use crate::receiver::Receiver;
use crate::support::*;

/// Sessions in the failover test (the issue asks for six over three nodes).
fn sessions_wanted() -> usize {
    std::env::var("WAGATE_CLUSTER_SESSIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6)
}

const LEASE_SECS: u64 = 6;

/// One `wagate serve` process of the cluster, in a process group of its own, logging to a file.
/// Its chromedriver and browsers are in another group (chromedriver's): `Drop` ends them by
/// their profile directories.
struct NodeProc {
    id: String,
    child: Child,
    base: String,
    dir: PathBuf,
    http: reqwest::Client,
}

impl NodeProc {
    fn spawn(id: &str, root: &Path, db_url: &str, sim: &Simulator, extra: &[(&str, &str)]) -> NodeProc {
        use std::os::unix::process::CommandExt;
        let dir = root.join(id);
        std::fs::create_dir_all(&dir).unwrap();
        let out = std::fs::File::create(dir.join("stdout.log")).unwrap();
        let store = format!("file://{}", root.join("store").display());
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wagate"));
        cmd.arg("serve")
            .env("WAGATE__DATA_DIR", dir.join("data"))
            .env("WAGATE__DATABASE__URL", db_url)
            .env("WAGATE__DATABASE__POOL_SIZE", "4")
            .env("WAGATE__SERVER__PORT", "0")
            .env("WAGATE__SERVER__WORKERS", "1")
            .env("WAGATE__SERVER__SHUTDOWN_TIMEOUT_SECS", "2")
            .env("WAGATE__AUTH__BCRYPT_COST", "4")
            .env("WAGATE__AUTH__RATE_LIMIT_PER_SEC", "0")
            .env("WAGATE__SENDING__MIN_GAP_MS", "0")
            .env("WAGATE__SENDING__GAP_JITTER_MS", "0")
            .env("WAGATE__BROWSER__WHATSAPP_URL", sim.base_url())
            .env("WAGATE__WEBHOOKS__RETRY_INITIAL_MS", "200")
            .env("WAGATE__CLUSTER__ENABLED", "true")
            .env("WAGATE__CLUSTER__NODE_ID", id)
            .env("WAGATE__CLUSTER__CAPACITY", "8")
            .env("WAGATE__CLUSTER__LEASE_SECS", LEASE_SECS.to_string())
            .env("WAGATE__CLUSTER__CLAIM_INTERVAL_MS", "1000")
            .env("WAGATE__CLUSTER__ARCHIVE_INTERVAL_SECS", "5")
            .env("WAGATE__STORAGE__URL", store)
            .env("WAGATE__LOG__LEVEL", "info,wagate=debug")
            .current_dir(&dir)
            .stdout(out)
            .stderr(Stdio::null())
            .process_group(0);
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("wagate starts");
        let deadline = Instant::now() + Duration::from_secs(60);
        let base = loop {
            let text = std::fs::read_to_string(dir.join("stdout.log")).unwrap_or_default();
            if let Some(url) = text.lines().find_map(|l| l.strip_prefix("wagate listening on ")) {
                break url.trim().to_string();
            }
            assert!(Instant::now() < deadline, "node {id} did not start: {text}");
            std::thread::sleep(Duration::from_millis(100));
        };
        NodeProc {
            id: id.to_string(),
            child,
            base,
            dir,
            http: reqwest::Client::new(),
        }
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.join("stdout.log")).unwrap_or_default()
    }

    /// The first-start admin key, printed once by the first node.
    fn admin_key(&self) -> String {
        self.stdout()
            .lines()
            .find_map(|l| l.strip_prefix("API key:"))
            .expect("the first node printed the admin key")
            .trim()
            .to_string()
    }

    fn logs(&self) -> String {
        let mut all = String::new();
        for f in std::fs::read_dir(self.dir.join("data/logs"))
            .into_iter()
            .flatten()
            .flatten()
        {
            if f.file_name().to_string_lossy().starts_with("combined.") {
                all.push_str(&std::fs::read_to_string(f.path()).unwrap_or_default());
            }
        }
        all
    }

    async fn get(&self, path: &str, key: &str) -> Value {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .header("Authorization", format!("ApiKey {key}"))
            .send()
            .await
            .unwrap();
        json(resp, 200).await
    }

    async fn post(&self, path: &str, key: &str, body: Value) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .header("Authorization", format!("ApiKey {key}"))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    fn signal(&self, sig: i32, group: bool) {
        let pid = self.child.id() as i32;
        // SAFETY: kill(2) with a pid (or process group) we started.
        unsafe { libc::kill(if group { -pid } else { pid }, sig) };
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        self.signal(libc::SIGCONT, false);
        self.signal(libc::SIGKILL, true);
        let _ = self.child.wait();
        // chromedriver (and the Chromiums under it) run in a process group of their own: a
        // killed node's browsers outlive the SIGKILL of its group (nine were found running
        // after `make test`).
        wagate::browser::procs::kill_profile_processes(&self.dir);
        if std::thread::panicking() {
            // Kept for a look at what the node did.
            let keep = std::env::temp_dir().join("wagate-cluster-failed").join(&self.id);
            let _ = std::fs::create_dir_all(&keep);
            let _ = std::fs::write(keep.join("combined.log"), self.logs());
            let _ = std::fs::write(keep.join("stdout.log"), self.stdout());
            eprintln!("node {} logs kept in {}", self.id, keep.display());
        }
    }
}

/// Who owns each session, by name (from `GET /api/v1/cluster/`).
async fn owners(node: &NodeProc, key: &str) -> HashMap<String, Option<String>> {
    let view = node.get("/api/v1/cluster/", key).await;
    view["data"]["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["owner"].as_str().map(str::to_string),
            )
        })
        .collect()
}

async fn status(node: &NodeProc, key: &str, session: &str) -> Value {
    node.get(&format!("/api/v1/sessions/status/?session={session}"), key)
        .await["data"]
        .clone()
}

/// init on `node` → scan the QR it answers (whichever node runs the browser) → connected.
async fn link_via(node: &NodeProc, sim: &Simulator, key: &str, session: &str, phone: &str) {
    let init = json(
        node.post("/api/v1/sessions/init/", key, json!({ "session": session }))
            .await,
        200,
    )
    .await;
    assert_eq!(init["data"]["status"], "qr_pending", "{init}");
    let payload = decode_qr_data_url(init["data"]["qrCode"].as_str().unwrap());
    sim.control().scan(&payload, Some(phone)).await.expect("scan accepted");
    wait_until(60, &format!("{session} connected"), || async {
        status(node, key, session).await["isReady"] == true
    })
    .await;
}

async fn wait_until<F, Fut>(secs: u64, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(secs) {
        if check().await {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("not within {secs} s: {what}");
}

/// Sends a text through `node`; `asynchronous`: answered 202 once queued.
async fn send(node: &NodeProc, key: &str, session: &str, to: &str, text: &str, asynchronous: bool) -> Value {
    let path = format!(
        "/api/v1/messages/send-text/?session={session}{}",
        if asynchronous { "&async=true" } else { "" }
    );
    let resp = node.post(&path, key, json!({ "recipient": to, "message": text })).await;
    let code = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    assert!(matches!(code, 200 | 202), "send {text} via {}: {code} {body}", node.id);
    body
}

/// Every message of these texts reached the simulator exactly once, and its row says `sent`
/// (or later).
async fn assert_each_sent_once(node: &NodeProc, sim: &Simulator, key: &str, phone: &str, texts: &[String]) {
    wait_until(60, "every queued message settled", || async {
        let rows = node.get("/api/v1/messages/?direction=out&limit=500", key).await;
        let rows = rows["data"]["messages"].as_array().cloned().unwrap_or_default();
        texts.iter().all(|t| {
            rows.iter()
                .any(|r| r["body"] == t.as_str() && !matches!(r["status"].as_str(), Some("queued" | "pending")))
        })
    })
    .await;
    let rows = node.get("/api/v1/messages/?direction=out&limit=500", key).await;
    let rows = rows["data"]["messages"].as_array().cloned().unwrap_or_default();
    let sent = sim.control().sent(phone).await;
    for t in texts {
        let n = sent.iter().filter(|r| r.body.as_deref() == Some(t.as_str())).count();
        assert_eq!(n, 1, "{t:?} reached WhatsApp {n} times");
        let row = rows.iter().find(|r| r["body"] == t.as_str()).unwrap();
        assert_ne!(row["status"], "failed", "{row}");
    }
}

fn pg_url_or_skip() -> Option<String> {
    let url = postgres_base_url();
    if url.is_none() {
        eprintln!("skipped: cluster mode needs PostgreSQL; set WAGATE_TEST_POSTGRES_URL");
    }
    url
}

/// Three nodes, sessions spread over them; a node killed with SIGKILL: its sessions are owned
/// and connected again elsewhere within 30 s without a new QR, every message queued before and
/// during the failover is sent exactly once, every webhook event delivered once. Then a
/// SIGSTOPped owner loses its sessions and cannot send after it resumes, and `wagate drain`
/// moves a node's sessions with no failed send.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_failover_fencing_and_drain() {
    let Some(base) = pg_url_or_skip() else { return };
    let _b = browsers(3).await;
    let pg = PgDatabase::create(&base).await;
    let root = tempfile::tempdir().unwrap();
    let sim = simulator().await;
    let a = NodeProc::spawn("node-a", root.path(), &pg.url, &sim, &[]);
    let key = a.admin_key();
    let b = NodeProc::spawn("node-b", root.path(), &pg.url, &sim, &[]);
    let c = NodeProc::spawn("node-c", root.path(), &pg.url, &sim, &[]);
    let nodes = [&a, &b, &c];

    let view = a.get("/api/v1/cluster/", &key).await;
    assert_eq!(view["data"]["enabled"], true, "{view}");
    assert_eq!(
        view["data"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["alive"] == true)
            .count(),
        3,
        "{view}"
    );

    let rx = Receiver::start().await;
    let hook = a
        .http
        .put(format!("{}/api/v1/webhook/", a.base))
        .header("Authorization", format!("ApiKey {key}"))
        .json(&json!({ "url": rx.url, "events": ["message.ack", "session.status"] }))
        .send()
        .await
        .unwrap();
    assert!(hook.status().is_success(), "{}", hook.text().await.unwrap());

    // Linked through the three nodes in turn: each takes the sessions it was asked to start.
    let n = sessions_wanted();
    let phone = |i: usize| format!("1555000{:04}", 1000 + i);
    for i in 0..n {
        link_via(nodes[i % 3], &sim, &key, &format!("s{i}"), &phone(i)).await;
    }
    let owned = owners(&b, &key).await;
    for i in 0..n {
        assert_eq!(
            owned[&format!("s{i}")].as_deref(),
            Some(nodes[i % 3].id.as_str()),
            "{owned:?}"
        );
    }
    // Every profile archived to the store before the failure.
    wait_until(30, "every profile archived", || async {
        let view = a.get("/api/v1/cluster/", &key).await;
        let all = view["data"]["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["archiveBytes"].as_i64().is_some());
        if !all {
            eprintln!("{}", view["data"]["sessions"]);
        }
        all
    })
    .await;
    let view = a.get("/api/v1/cluster/", &key).await;
    let sizes: Vec<i64> = view["data"]["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["archiveBytes"].as_i64().unwrap())
        .collect();
    eprintln!("measured: archive bytes per linked profile: {sizes:?}");

    // A send on node A for a session node C owns arrives.
    let on_c: Vec<usize> = (0..n).filter(|i| i % 3 == 2).collect();
    let mut texts: HashMap<usize, Vec<String>> = HashMap::new();
    for &i in &on_c {
        for k in 0..2 {
            let t = format!("before-{i}-{k}");
            let r = send(&a, &key, &format!("s{i}"), "15550002002", &t, false).await;
            assert!(
                r["data"]["messageId"].as_str().is_some(),
                "sent through node C, answered on A: {r}"
            );
            texts.entry(i).or_default().push(t);
        }
    }
    // What is read from or done on C's page is answered on A too (through the commands table):
    // the chat list holds the chat just written to, a group made through A exists on the
    // server, and a read receipt goes out.
    let s_c = format!("s{}", on_c[0]);
    let chats = a.get(&format!("/api/v1/chats/?session={s_c}"), &key).await;
    assert!(
        chats["data"]["chats"].as_array().is_some_and(|c| c
            .iter()
            .any(|c| c["phone"] == "15550002002" || c["id"] == "15550002002@c.us")),
        "C's chats, answered on A: {chats}"
    );
    let group = json(
        a.post(
            &format!("/api/v1/groups/?session={s_c}"),
            &key,
            json!({ "subject": "Across nodes", "participants": ["15550002002"] }),
        )
        .await,
        200,
    )
    .await;
    let gid = group["data"]["group"]["id"].as_str().expect("a group id").to_string();
    assert_eq!(
        sim.control().group(&gid).await.map(|g| g.subject).as_deref(),
        Some("Across nodes")
    );
    let read = a
        .post(
            &format!("/api/v1/chats/15550002002/read/?session={s_c}"),
            &key,
            json!({}),
        )
        .await;
    assert_eq!(read.status(), 200, "{}", read.text().await.unwrap());
    let devices_before = sim.control().devices().await.len();

    // Node C dies with its browsers.
    let killed = Instant::now();
    c.signal(libc::SIGKILL, true);
    for &i in &on_c {
        for k in 0..3 {
            let t = format!("during-{i}-{k}");
            send(&a, &key, &format!("s{i}"), "15550002002", &t, true).await;
            texts.entry(i).or_default().push(t);
        }
    }
    let took = wait_until(30, "node C's sessions connected on A and B", || async {
        let owned = owners(&a, &key).await;
        let mut ok = true;
        for &i in &on_c {
            let name = format!("s{i}");
            ok &= matches!(owned[&name].as_deref(), Some("node-a" | "node-b"));
            ok &= status(&a, &key, &name).await["isReady"] == true;
        }
        ok
    })
    .await;
    eprintln!(
        "measured: failover of {} session(s), SIGKILL -> all connected elsewhere: {:.1} s",
        on_c.len(),
        (killed.elapsed().min(took + Duration::from_secs(1))).as_secs_f64()
    );
    assert_eq!(
        sim.control().devices().await.len(),
        devices_before,
        "no new device was linked (no QR)"
    );
    for &i in &on_c {
        let st = status(&b, &key, &format!("s{i}")).await;
        assert_eq!(st["phoneNumber"], phone(i), "{st}");
        assert_each_sent_once(&a, &sim, &key, &phone(i), &texts[&i]).await;
    }
    // Webhooks: each event delivered by one node at a time. Delivery is at least once (README,
    // failure model): a POST the killed node had in flight when it died is made again by the node
    // that takes its line over, with the same event id. So a repeat may only be an event of the
    // killed node's sessions, and only one repeat.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got = rx.received();
    let killed_sessions: HashSet<String> = on_c.iter().map(|i| format!("s{i}")).collect();
    let mut times: HashMap<String, (usize, String)> = HashMap::new();
    for r in &got {
        let envelope: Value = serde_json::from_slice(&r.body).unwrap_or_default();
        let session = envelope["session"].as_str().unwrap_or_default().to_string();
        times.entry(r.event_id.clone()).or_insert((0, session)).0 += 1;
    }
    for (id, (n, session)) in &times {
        assert!(
            *n == 1 || (*n == 2 && killed_sessions.contains(session)),
            "event {id} of {session} delivered {n} times"
        );
    }
    assert!(!got.is_empty(), "the webhook received the sends' events");

    // Fencing: node B is paused past its lease; A adopts its sessions; B resumes and must not
    // send for them (its claims are refused) and closes their browsers.
    let on_b: Vec<usize> = owners(&a, &key)
        .await
        .iter()
        .filter(|(_, o)| o.as_deref() == Some("node-b"))
        .map(|(name, _)| name[1..].parse().unwrap())
        .collect();
    assert!(!on_b.is_empty());
    b.signal(libc::SIGSTOP, false);
    // Incoming messages reach B's page (its browser runs on) before A adopts the sessions.
    for &i in &on_b {
        sim.control()
            .deliver(
                &phone(i),
                IncomingMessage::text("15550003003@c.us", &format!("while-paused-{i}")),
            )
            .await
            .unwrap();
    }
    wait_until(40, "node B's sessions adopted while it is paused", || async {
        let owned = owners(&a, &key).await;
        let mut ok = true;
        for &i in &on_b {
            let name = format!("s{i}");
            ok &= owned[&name].as_deref() == Some("node-a");
            ok &= status(&a, &key, &name).await["isReady"] == true;
        }
        ok
    })
    .await;
    let mut fenced_texts: HashMap<usize, Vec<String>> = HashMap::new();
    for &i in &on_b {
        let t = format!("fenced-{i}");
        send(&a, &key, &format!("s{i}"), "15550002002", &t, true).await;
        fenced_texts.entry(i).or_default().push(t);
    }
    b.signal(libc::SIGCONT, false);
    wait_until(20, "node B noticed it lost its leases", || async {
        b.logs().contains("lease lost")
    })
    .await;
    for &i in &on_b {
        assert_each_sent_once(&a, &sim, &key, &phone(i), &fenced_texts[&i]).await;
    }
    // What B's page saw while B was paused is recorded once, by the new owner; B's own late
    // writes of it are refused (fenced), not retried from its spool.
    for &i in &on_b {
        let text = format!("while-paused-{i}");
        let path = format!("/api/v1/messages/?direction=in&session=s{i}&limit=500");
        wait_until(30, "the message B's page saw recorded by A", || async {
            let rows = a.get(&path, &key).await;
            rows["data"]["messages"]
                .as_array()
                .is_some_and(|m| m.iter().any(|r| r["body"] == text.as_str()))
        })
        .await;
        let rows = a.get(&path, &key).await;
        let n = rows["data"]["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["body"] == text.as_str())
            .count();
        assert_eq!(n, 1, "{text} stored {n} times");
    }
    // On resuming, B's actors drain what their pages queued before its claim loop closes them:
    // those writes carry B's old generation and are refused.
    wait_until(20, "B's late incoming/ack writes refused by the fence", || async {
        b.logs().contains("was not recorded (another node owns the session)")
    })
    .await;
    let logs = b.logs();
    assert!(!logs.contains("spooled to retry"), "B spooled a refused write");
    eprintln!(
        "measured: node B after resuming: {} incoming/ack writes refused by the fence",
        logs.matches("was not recorded (another node owns the session)").count()
    );

    // Drain node A: its sessions move to B; sends through B meanwhile all succeed.
    let on_a: Vec<usize> = owners(&b, &key)
        .await
        .iter()
        .filter(|(_, o)| o.as_deref() == Some("node-a"))
        .map(|(name, _)| name[1..].parse().unwrap())
        .collect();
    let drain = Command::new(env!("CARGO_BIN_EXE_wagate"))
        .args(["drain", "--node", "node-a", "--wait", "60"])
        .env("WAGATE__DATABASE__URL", &pg.url)
        .env("WAGATE__DATA_DIR", root.path().join("cli"))
        .current_dir(root.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut drain_texts: HashMap<usize, Vec<String>> = HashMap::new();
    for round in 0..3 {
        for &i in &on_a {
            let t = format!("drain-{i}-{round}");
            send(&b, &key, &format!("s{i}"), "15550002002", &t, true).await;
            drain_texts.entry(i).or_default().push(t);
        }
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    let out = tokio::task::spawn_blocking(move || drain.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let owned = owners(&b, &key).await;
    assert!(owned.values().all(|o| o.as_deref() != Some("node-a")), "{owned:?}");
    for &i in &on_a {
        wait_until(30, "drained session connected on B", || async {
            status(&b, &key, &format!("s{i}")).await["isReady"] == true
        })
        .await;
        assert_each_sent_once(&b, &sim, &key, &phone(i), &drain_texts[&i]).await;
    }
    assert_eq!(
        sim.control().devices().await.len(),
        devices_before,
        "still no new device"
    );
}

/// A graceful stop hands a linked session over at once, its profile through S3 (a moto server
/// started here, from PyPI, in a venv under ~/.cache).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_stop_moves_a_session_through_s3() {
    let Some(base) = pg_url_or_skip() else { return };
    let moto = Moto::start().await;
    let _b = browsers(2).await;
    let pg = PgDatabase::create(&base).await;
    let root = tempfile::tempdir().unwrap();
    let sim = simulator().await;
    let s3 = [
        ("WAGATE__STORAGE__URL", "s3://wagate-test/profiles-here"),
        ("AWS_ENDPOINT", moto.url.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ];
    let a = NodeProc::spawn("node-a", root.path(), &pg.url, &sim, &s3);
    let key = a.admin_key();
    let b = NodeProc::spawn("node-b", root.path(), &pg.url, &sim, &s3);
    link_via(&a, &sim, &key, "moved", "15550009001").await;
    wait_until(30, "the profile archived to S3", || async {
        let view = b.get("/api/v1/cluster/", &key).await;
        view["data"]["sessions"][0]["archiveBytes"].as_i64().is_some()
    })
    .await;
    let listing = reqwest::get(format!("{}/wagate-test?list-type=2", moto.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(listing.contains("profiles-here/profiles/"), "{listing}");

    // Media through the store: an upload taken by the node that does not own the session is
    // sent by the owner; an incoming file the owner saved is served by the other node.
    let owner = owners(&a, &key).await["moved"].clone().expect("owned");
    let (owner_node, other) = if owner == "node-a" { (&a, &b) } else { (&b, &a) };
    let png = png_bytes(3000);
    let up = other
        .post(
            "/api/v1/messages/send-media/?session=moved",
            &key,
            json!({ "recipient": "15550002002", "media_type": "image", "filename": "pic.png",
                    "base64": base64::engine::general_purpose::STANDARD.encode(&png) }),
        )
        .await;
    let up_status = up.status().as_u16();
    let up: Value = up.json().await.unwrap();
    assert_eq!(up_status, 200, "{up}");
    let sent = sim.control().sent("15550009001").await;
    let file = sent
        .iter()
        .find(|r| r.filename.as_deref() == Some("pic.png"))
        .expect("sent");
    assert_eq!(file.sha256.as_deref(), Some(hex::encode(Sha256::digest(&png)).as_str()));
    sim.control()
        .deliver(
            "15550009001",
            IncomingMessage {
                media: Some(IncomingMedia {
                    mimetype: "application/pdf".into(),
                    filename: Some("in.pdf".into()),
                    data: b"%PDF-1.7 through the store".to_vec(),
                }),
                ..IncomingMessage::text("15550003003@c.us", "")
            },
        )
        .await
        .unwrap();
    wait_until(30, "the incoming file stored by the owner", || async {
        let listed = other.get("/api/v1/messages/?direction=in", &key).await;
        listed["data"]["messages"][0]["media"]["filename"] == "in.pdf"
    })
    .await;
    let incoming = other.get("/api/v1/messages/?direction=in", &key).await["data"]["messages"][0].clone();
    let download = other
        .http
        .get(format!("{}/api/v1/messages/{}/media", other.base, incoming["id"]))
        .header("Authorization", format!("ApiKey {key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 200, "served by {} for {}", other.id, owner_node.id);
    assert_eq!(download.bytes().await.unwrap().as_ref(), b"%PDF-1.7 through the store");
    let listing = reqwest::get(format!("{}/wagate-test?list-type=2", moto.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(listing.contains("profiles-here/media/whatsapp_media/"), "{listing}");

    let devices = sim.control().devices().await.len();
    let stopped = Instant::now();
    a.signal(libc::SIGTERM, false);
    wait_until(30, "adopted by node B and connected", || async {
        owners(&b, &key).await["moved"].as_deref() == Some("node-b")
            && status(&b, &key, "moved").await["isReady"] == true
    })
    .await;
    eprintln!(
        "measured: graceful hand-over through S3: {:.1} s",
        stopped.elapsed().as_secs_f64()
    );
    assert_eq!(sim.control().devices().await.len(), devices, "no new QR");
    let r = send(&b, &key, "moved", "15550002002", "after the move", false).await;
    assert!(r["data"]["messageId"].as_str().is_some(), "{r}");
}

/// The fencing token at the database: once another node adopted a session, the old owner's
/// sends, state writes and info are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_generation_cannot_write() {
    let Some(base) = pg_url_or_skip() else { return };
    let env = TestEnv::new(Backend::Postgres).await;
    let _ = base;
    let db = wagate::db::Database::connect(&wagate::config::DatabaseUrl::Postgres(env.database_url.clone()), 2)
        .await
        .unwrap();
    let user = db.create_user("u", None, false).await.unwrap();
    let row = db.get_or_create_session(user.id, "s").await.unwrap();
    db.set_wanted(row.id, true).await.unwrap();
    let first = db.claim_sessions("old", 5, None, 1).await.unwrap();
    assert_eq!(first.len(), 1);
    let old = Fence {
        node: "old".into(),
        generation: first[0].generation,
    };
    assert!(
        db.claim_sessions("new", 5, None, 30).await.unwrap().is_empty(),
        "held: not adoptable"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let second = db.claim_sessions("new", 5, None, 30).await.unwrap();
    assert_eq!(second[0].generation, old.generation + 1);
    assert_eq!(second[0].previous.as_deref(), Some("old"));

    let queued = db
        .insert_message(message_row(Some(row.id), "out", wagate::db::MessageStatus::Queued))
        .await
        .unwrap();
    let refused = db.claim_queued_fenced(queued.id, "3EB0AA".into(), &old, 0.0).await;
    assert!(matches!(refused, Err(wagate::db::DbError::Fenced)), "{refused:?}");
    assert!(matches!(
        db.publish_info(row.id, &old, "{}".into()).await,
        Err(wagate::db::DbError::Fenced)
    ));
    let update = wagate::db::SessionStatusUpdate {
        status: "disconnected".into(),
        status_reason: None,
        phone_number: None,
        wid: None,
        push_name: None,
        last_error: None,
        updated_at: wagate::db::now(),
        connected_at: None,
    };
    assert!(matches!(
        db.record_session_state_as(row.id, update.clone(), Some(old.clone()))
            .await,
        Err(wagate::db::DbError::Fenced)
    ));
    assert!(
        !db.release_lease(row.id, &old, false).await.unwrap(),
        "only the holder releases"
    );
    let new = Fence {
        node: "new".into(),
        generation: second[0].generation,
    };
    assert!(
        db.claim_queued_fenced(queued.id, "3EB0AA".into(), &new, 0.0)
            .await
            .unwrap()
    );
    db.record_session_state_as(row.id, update, Some(new.clone()))
        .await
        .unwrap();
    assert_eq!(db.session_by_id(row.id).await.unwrap().unwrap().status, "disconnected");

    // Incoming messages and acks a stale owner saw are not recorded; the holder's are.
    let incoming = wagate::db::NewMessage {
        user_id: user.id,
        wa_message_id: Some("3EB0IN".into()),
        ..message_row(Some(row.id), "in", wagate::db::MessageStatus::Received)
    };
    assert!(matches!(
        db.insert_incoming_as(incoming.clone(), Some(old.clone())).await,
        Err(wagate::db::DbError::Fenced)
    ));
    assert!(db.message_by_wa_id("3EB0IN").await.unwrap().is_none(), "nothing stored");
    assert!(
        db.insert_incoming_as(incoming, Some(new.clone()))
            .await
            .unwrap()
            .is_some()
    );
    db.insert_message(wagate::db::NewMessage {
        user_id: user.id,
        wa_message_id: Some("3EB0ACK".into()),
        ..message_row(Some(row.id), "out", wagate::db::MessageStatus::Pending)
    })
    .await
    .unwrap();
    let delivered = wagate::db::MessageStatus::Delivered;
    assert!(matches!(
        db.advance_message_status_as("3EB0ACK", delivered, Some((row.id, old.clone())))
            .await,
        Err(wagate::db::DbError::Fenced)
    ));
    let acked = db.message_by_wa_id("3EB0ACK").await.unwrap().unwrap();
    assert_eq!(
        acked.status,
        wagate::db::MessageStatus::Pending,
        "the stale ack changed nothing"
    );
    let moved = db
        .advance_message_status_as("3EB0ACK", delivered, Some((row.id, new)))
        .await
        .unwrap();
    assert_eq!(moved.len(), 1);
}

/// SQLite stays single-node, and says so.
#[test]
fn cluster_mode_on_sqlite_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wagate"))
        .arg("serve")
        .env("WAGATE__DATA_DIR", dir.path())
        .env("WAGATE__CLUSTER__ENABLED", "true")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cluster.enabled") && err.contains("PostgreSQL"), "{err}");
}

/// A single gateway answers the cluster view with `enabled: false`; a non-admin key gets 403.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_view_on_a_single_gateway() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let body = json(app.get("/api/v1/cluster/", &app.admin_key).await, 200).await;
    assert_eq!(body["data"]["enabled"], false, "{body}");
    assert!(
        body["data"]["message"].as_str().unwrap().contains("PostgreSQL"),
        "{body}"
    );
    let plain = app.state.db.create_user("plain", None, false).await.unwrap();
    let (_, key) = app.state.auth.create_key_for(plain.id, "plain").await.unwrap();
    let denied = json(app.get("/api/v1/cluster/", &key).await, 403).await;
    assert_error(&denied, "FORBIDDEN");
}

/// A local S3-compatible server: moto from PyPI, in a venv of its own under ~/.cache (made on
/// first use, like the fuzzer's schemathesis), on a free loopback port.
struct Moto {
    url: String,
    child: Child,
}

const MOTO_VERSION: &str = "5.2.5";

impl Moto {
    async fn start() -> Moto {
        let venv = PathBuf::from(std::env::var("HOME").unwrap()).join(format!(".cache/wagate/moto-{MOTO_VERSION}"));
        let server = venv.join("bin/moto_server");
        if !server.exists() {
            let ok = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "python3 -m venv failed (Debian: apt-get install python3-venv)");
            let ok = Command::new(venv.join("bin/pip"))
                .args(["install", "-q", "--disable-pip-version-check"])
                .arg(format!("moto[server]=={MOTO_VERSION}"))
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "pip install moto[server] failed");
        }
        let port = crate::receiver::free_port();
        let child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = http.put(format!("{url}/wagate-test")).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(Instant::now() < deadline, "moto did not come up on {url}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Moto { url, child }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
