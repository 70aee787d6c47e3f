//! Operations: the systemd unit and the production configuration.

use std::process::Command;

use wagate::config::Settings;

#[test]
fn the_systemd_unit_verifies() {
    let unit = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/wagate.service")).unwrap();
    for want in [
        "ExecStart=/usr/local/bin/wagate serve --config /etc/wagate/wagate.toml",
        "StateDirectory=wagate",
        "LogsDirectory=wagate",
        "Restart=on-failure",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "CapabilityBoundingSet=\n",
        "SystemCallFilter=@system-service",
    ] {
        assert!(unit.contains(want), "the unit lacks {want:?}");
    }
    // The same unit, pointing at the binary just built (verify checks the executable exists).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wagate.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/wagate", env!("CARGO_BIN_EXE_wagate")),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze is installed (package systemd)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !stderr.contains("wagate.service"), "{stderr}");
}

#[test]
fn the_production_example_documents_every_setting_and_loads() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/production.toml.example");
    let example: toml::Table = std::fs::read_to_string(path).unwrap().parse().unwrap();
    let defaults: toml::Table = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/default.toml"))
        .unwrap()
        .parse()
        .unwrap();
    for (section, value) in &defaults {
        match value.as_table() {
            Some(keys) => {
                for key in keys.keys() {
                    assert!(
                        example[section].get(key).is_some(),
                        "{section}.{key} is not in the example"
                    );
                }
            }
            None => assert!(example.contains_key(section), "{section} is not in the example"),
        }
    }
    let s = Settings::load(Some(std::path::Path::new(path))).unwrap();
    assert_eq!(s.data_dir, std::path::PathBuf::from("/var/lib/wagate"));
}

/// The Dockerfile's runtime steps, run here: Chromium, chromedriver, curl, an unprivileged user
/// and its data directory. Twice, since it must be idempotent.
#[test]
fn the_runtime_install_script_prepares_debian() {
    let root = env!("CARGO_MANIFEST_DIR");
    let dockerfile = std::fs::read_to_string(format!("{root}/Dockerfile")).unwrap();
    for want in [
        "FROM debian:bookworm-slim",
        "install-runtime.sh",
        "USER wagate",
        "VOLUME [\"/data\"]",
        "HEALTHCHECK",
        "/health",
    ] {
        assert!(dockerfile.contains(want), "the Dockerfile lacks {want:?}");
    }
    let compose = std::fs::read_to_string(format!("{root}/docker-compose.yml")).unwrap();
    for want in [
        "image: postgres:15",
        "pgdata:/var/lib/postgresql/data",
        "WAGATE__DATABASE__URL: postgres://",
    ] {
        assert!(compose.contains(want), "docker-compose.yml lacks {want:?}");
    }
    let is_root = unsafe { libc::geteuid() } == 0;
    assert!(
        is_root
            || Command::new("sudo")
                .args(["-n", "true"])
                .status()
                .is_ok_and(|s| s.success()),
        "this test installs packages and a user: run it as root or with passwordless sudo"
    );
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().join("data");
    for _ in 0..2 {
        let out = Command::new(format!("{root}/scripts/install-runtime.sh"))
            .env("WAGATE_USER", "wagate-ci")
            .env("WAGATE_DATA", &data_dir)
            .env("WAGATE_KEEP_APT_LISTS", "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{text}");
        assert!(text.contains("Chromium") && text.contains("ChromeDriver"), "{text}");
        assert!(text.contains("runtime ready"), "{text}");
    }
    let id = Command::new("id").args(["-u", "wagate-ci"]).output().unwrap();
    assert!(id.status.success(), "the user exists");
    let uid: u32 = String::from_utf8_lossy(&id.stdout).trim().parse().unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(&data_dir).unwrap().uid(),
        uid,
        "the data dir is the user's"
    );
    assert_ne!(uid, 0);
}
