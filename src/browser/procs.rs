//! Finding and killing Chromium processes by their `--user-data-dir`, read from /proc.
//! Killing chromedriver leaves its browsers running (re-parented to PID 1), so we sweep.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// PIDs whose command line has `--user-data-dir=<dir>` with `dir` under `prefix`.
pub fn profile_processes(prefix: &Path) -> Vec<(i32, PathBuf)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        for arg in cmdline.split(|b| *b == 0) {
            if let Some(dir) = arg.strip_prefix(b"--user-data-dir=") {
                let dir = PathBuf::from(String::from_utf8_lossy(dir).into_owned());
                if dir.starts_with(prefix) {
                    found.push((pid, dir));
                }
            }
        }
    }
    found
}

/// Kills (SIGKILL) every process using a profile under `prefix`; returns how many.
pub fn kill_profile_processes(prefix: &Path) -> usize {
    let procs = profile_processes(prefix);
    for (pid, _) in &procs {
        // SAFETY: plain kill(2) on a pid we just read; a vanished pid only yields ESRCH.
        unsafe {
            libc::kill(*pid, libc::SIGKILL);
        }
    }
    procs.len()
}

/// Removes Chromium's `Singleton*` lock files left by a crash in one profile directory.
pub fn remove_stale_locks(profile: &Path) {
    for name in ["SingletonLock", "SingletonSocket", "SingletonCookie"] {
        let _ = std::fs::remove_file(profile.join(name));
    }
}

/// pid → parent pid for every process, from /proc/<pid>/stat.
fn parent_map() -> HashMap<i32, i32> {
    let mut parent = HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        // /proc/<pid>/stat: "pid (comm) state ppid …"; comm may hold spaces, so split after ')'.
        if let Ok(stat) = std::fs::read_to_string(entry.path().join("stat"))
            && let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r)
            && let Some(ppid) = rest.split_whitespace().nth(1).and_then(|p| p.parse::<i32>().ok())
        {
            parent.insert(pid, ppid);
        }
    }
    parent
}

/// What a browser's process tree uses.
#[derive(Debug, Clone, Copy, Default)]
pub struct TreeUsage {
    pub processes: u64,
    pub pss_kb: u64,
    pub rss_kb: u64,
}

fn smaps_field(text: &str, field: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
}

/// Processes, PSS and RSS (kB) of each browser under `prefix`, keyed by its `--user-data-dir`.
/// Chromium's renderers and utilities do not all carry the flag, but they descend from the
/// browser, so each process counts for the nearest ancestor that does. Two passes over /proc in
/// all, however many browsers there are.
pub fn usage_by_profile(prefix: &Path) -> HashMap<PathBuf, TreeUsage> {
    let roots: HashMap<i32, PathBuf> = profile_processes(prefix).into_iter().collect();
    let mut usage: HashMap<PathBuf, TreeUsage> = HashMap::new();
    if roots.is_empty() {
        return usage;
    }
    let parent = parent_map();
    let owner = |pid: i32| {
        let mut p = pid;
        for _ in 0..64 {
            if let Some(dir) = roots.get(&p) {
                return Some(dir);
            }
            match parent.get(&p) {
                Some(&pp) if pp > 1 => p = pp,
                _ => return None,
            }
        }
        None
    };
    for &pid in parent.keys() {
        let Some(dir) = owner(pid) else { continue };
        if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) {
            let u = usage.entry(dir.clone()).or_default();
            u.processes += 1;
            u.pss_kb += smaps_field(&text, "Pss:");
            u.rss_kb += smaps_field(&text, "Rss:");
        }
    }
    usage
}

/// Proportional set size (kB) summed over the process trees using profiles under `prefix`.
pub fn profile_pss_kb(prefix: &Path) -> u64 {
    usage_by_profile(prefix).values().map(|u| u.pss_kb).sum()
}
