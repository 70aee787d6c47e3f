//! The `wagate` binary itself: subcommands, first start, configuration errors, SIGTERM.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::both_backends;
use crate::common::*;

fn wagate(env: &TestEnv, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wagate"))
        .args(args)
        .envs(env.cli_env())
        .current_dir(env.dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn user_and_key_round_trip(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let (ok, out, err) = wagate(&env, &["migrate"], None);
    assert!(ok, "{err}");
    assert!(out.contains("migration(s) applied"), "{out}");

    let (ok, out, err) = wagate(&env, &["user", "create", "bob", "--password"], Some("correct horse\n"));
    assert!(ok, "{err}");
    assert!(out.contains("created user bob"), "{out}");
    let (ok, _, err) = wagate(&env, &["user", "create", "bob"], None);
    assert!(!ok && err.contains("already exists"), "{err}");
    let (ok, _, err) = wagate(&env, &["user", "create", "bad name!"], None);
    assert!(!ok && err.contains("user name"), "{err}");

    let (ok, key, err) = wagate(&env, &["apikey", "create", "--user", "bob", "--label", "ci"], None);
    assert!(ok, "{err}");
    let key = key.trim().to_string();
    assert!(key.starts_with("wag_"), "{key}");
    let (ok, _, err) = wagate(&env, &["apikey", "create", "--user", "nobody"], None);
    assert!(!ok && err.contains("nobody"), "{err}");

    let (ok, listing, _) = wagate(&env, &["apikey", "list", "--user", "bob"], None);
    assert!(ok);
    let row = listing
        .lines()
        .find(|l| l.contains("\tci\t"))
        .expect("the key is listed");
    assert!(!listing.contains(&key), "the secret is never listed");
    let id = row.split('\t').next().unwrap().to_string();

    let bob = app_with(&env).await;
    let body = json(bob.get("/api/v1/me", &key).await, 200).await;
    assert_eq!(body["data"]["user"]["username"], "bob");

    // Revoked by another process: the running server notices within its upkeep period.
    let (ok, out, err) = wagate(&env, &["apikey", "revoke", &id], None);
    assert!(ok && out.contains("revoked"), "{err}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = bob.get("/api/v1/me", &key).await.status().as_u16();
        if status == 401 {
            break;
        }
        assert!(Instant::now() < deadline, "a CLI-revoked key still works after 20 s");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (ok, _, err) = wagate(&env, &["apikey", "revoke", &id], None);
    assert!(!ok && err.contains("no unrevoked key"), "{err}");
}
both_backends!(cli_round_trip, user_and_key_round_trip);

async fn app_with(env: &TestEnv) -> TestApp {
    let clone = TestEnv {
        backend: env.backend,
        dir: tempfile::tempdir().unwrap(),
        database_url: env.database_url.clone(),
        pg: None,
    };
    TestApp::spawn_in(clone).await
}

async fn first_start_prints_credentials_once(backend: Backend) {
    let env = TestEnv::new(backend).await;
    let start = |env: &TestEnv| {
        Command::new(env!("CARGO_BIN_EXE_wagate"))
            .arg("serve")
            .envs(env.cli_env())
            .env("WAGATE__SERVER__PORT", "0")
            .env("WAGATE__SERVER__WORKERS", "1")
            .current_dir(env.dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut child = start(&env);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut banner = String::new();
    let base = loop {
        let line = lines.next().expect("serve printed its address").unwrap();
        if let Some(url) = line.strip_prefix("wagate listening on ") {
            break url.to_string();
        }
        banner.push_str(&line);
        banner.push('\n');
    };
    let field = |name: &str| {
        banner
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("{name} missing in {banner}"))
            .trim()
            .to_string()
    };
    let (key, password) = (field("API key:"), field("Admin password:"));
    let resp = reqwest::Client::new()
        .get(format!("{base}/api/v1/me"))
        .header("Authorization", format!("ApiKey {key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(json(resp, 200).await["data"]["user"]["isAdmin"], true);

    // SIGTERM: a graceful stop with a zero exit code.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");

    let logs = std::fs::read_dir(env.data_dir().join("logs")).unwrap();
    let mut names = Vec::new();
    for f in logs {
        let path = f.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains(&key) && !text.contains(&password),
            "credentials leaked into {path:?}"
        );
        names.push(path.file_name().unwrap().to_string_lossy().into_owned());
    }
    assert!(
        names.iter().any(|n| n.starts_with("combined.")) && names.iter().any(|n| n.starts_with("error.")),
        "{names:?}"
    );

    let mut again = start(&env);
    // Keep reading stdout open until the process exits: a closed pipe would kill it.
    let mut out = BufReader::new(again.stdout.take().unwrap());
    for line in (&mut out).lines() {
        let line = line.unwrap();
        assert!(
            !line.contains("API key:"),
            "a second start prints no credentials: {line}"
        );
        if let Some(url) = line.strip_prefix("wagate listening on ") {
            // Serving (and so handling signals) once it answers.
            json(reqwest::get(format!("{url}/health")).await.unwrap(), 200).await;
            break;
        }
    }
    unsafe { libc::kill(again.id() as i32, libc::SIGTERM) };
    assert!(again.wait().unwrap().success());
}
both_backends!(first_start, first_start_prints_credentials_once);

#[test]
fn a_bad_setting_stops_the_start_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wagate"))
        .arg("serve")
        .env("WAGATE__DATA_DIR", dir.path())
        .env("WAGATE__SERVER__PORT", "eighty")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains("server.port"), "{err}");

    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "[log]\nformat = \"xml\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wagate"))
        .args(["--config", file.to_str().unwrap(), "migrate"])
        .env("WAGATE__DATA_DIR", dir.path())
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("log.format"));
}
