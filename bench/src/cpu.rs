//! Idle CPU: of the whole machine (/proc/stat), of the gateway's process tree, and of every
//! command on the machine, the last two from each thread's `schedstat` run time (nanoseconds, not
//! the 10 ms ticks of /proc/<pid>/stat, which miss or over-count the short wake-ups an idle
//! browser is made of). Read with the procfs crate.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use procfs::CurrentSI;
use procfs::process::all_processes;
use serde::Serialize;

/// One process at one moment: its parent, its command (`comm`) and its threads' run time in ns.
struct Proc {
    ppid: i32,
    comm: String,
    run_ns: u64,
}

fn snapshot() -> HashMap<i32, Proc> {
    let mut procs = HashMap::new();
    for p in all_processes().into_iter().flatten().flatten() {
        let Ok(stat) = p.stat() else { continue };
        let run_ns = p
            .tasks()
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|t| t.schedstat().ok())
            .map(|s| s.sum_exec_runtime)
            .sum();
        procs.insert(
            stat.pid,
            Proc {
                ppid: stat.ppid,
                comm: stat.comm,
                run_ns,
            },
        );
    }
    procs
}

/// Busy jiffies and all jiffies of all CPUs, from the first line of /proc/stat.
fn machine_jiffies() -> (u64, u64) {
    let t = procfs::KernelStats::current().expect("/proc/stat").total;
    let idle = t.idle + t.iowait.unwrap_or(0);
    let all = t.user + t.nice + t.system + idle + t.irq.unwrap_or(0) + t.softirq.unwrap_or(0) + t.steal.unwrap_or(0);
    (all - idle, all)
}

/// The pids of `roots` and all their descendants in `procs`.
fn tree(procs: &HashMap<i32, Proc>, roots: &[u32]) -> HashSet<i32> {
    let mut tree: Vec<i32> = roots.iter().map(|&r| r as i32).collect();
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(procs.iter().filter(|(_, p)| p.ppid == parent).map(|(&pid, _)| pid));
        i += 1;
    }
    tree.into_iter().collect()
}

/// CPU over a window, each in % of one core.
#[derive(Debug, Serialize)]
pub struct Idle {
    /// The whole machine, from /proc/stat.
    pub machine: f64,
    /// The processes under the roots given to [`idle`], from their threads' run time.
    pub tree: f64,
    /// Every other process, from their threads' run time.
    pub others: f64,
    /// The ten costliest commands anywhere, each summed over its processes.
    pub top_commands: Vec<Command>,
}

/// One command's share of an [`Idle`] window.
#[derive(Debug, Serialize)]
pub struct Command {
    pub command: String,
    /// Whether these processes are under the roots (the gateway's tree).
    pub gateway_tree: bool,
    /// % of one core, to two decimals.
    pub percent: f64,
}

/// What the machine, the processes under `roots` and every command used over `window`.
pub async fn idle(roots: &[u32], window: Duration) -> Idle {
    let (busy0, all0) = machine_jiffies();
    let before = snapshot();
    let started = Instant::now();
    tokio::time::sleep(window).await;
    let after = snapshot();
    let (busy1, all1) = machine_jiffies();
    let secs = started.elapsed().as_secs_f64();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as f64;
    let machine = (busy1 - busy0) as f64 / (all1 - all0).max(1) as f64 * cores * 100.0;

    let in_tree = tree(&after, roots);
    let percent = |ns: u64| ns as f64 / 1e9 / secs * 100.0;
    let (mut tree_ns, mut others_ns) = (0, 0);
    let mut by_command: HashMap<(String, bool), u64> = HashMap::new();
    for (pid, p) in &after {
        // A process born in the window counts from zero.
        let ns = p.run_ns - before.get(pid).map_or(0, |b| b.run_ns.min(p.run_ns));
        let ours = in_tree.contains(pid);
        if ours {
            tree_ns += ns;
        } else {
            others_ns += ns;
        }
        *by_command.entry((p.comm.clone(), ours)).or_default() += ns;
    }
    let mut top: Vec<_> = by_command.into_iter().collect();
    top.sort_by_key(|t| std::cmp::Reverse(t.1));
    let top_commands = top
        .into_iter()
        .take(10)
        .map(|((command, gateway_tree), ns)| Command {
            command,
            gateway_tree,
            percent: (percent(ns) * 100.0).round() / 100.0,
        })
        .collect();
    Idle {
        machine,
        tree: percent(tree_ns),
        others: percent(others_ns),
        top_commands,
    }
}
