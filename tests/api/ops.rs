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
