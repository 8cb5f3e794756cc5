//! Housekeeping of the runs dir (`$XDG_STATE_HOME/wirelab/runs`): every `up` leaves a run dir
//! behind (data dirs, logs; a P2P run holds its payload), and chaos runs leave histories. Left
//! alone they reach gigabytes in an afternoon. `wirelab runs list|prune|rm` manages them, and
//! each new run prunes its lab's old ones ([`auto_prune`]).
//!
//! A run that is up (its supervisor answers on its control socket) is never removed, nor is one
//! touched in the last [`MIN_AGE`] (a test or a script may be between a `stop` and an `up` on
//! it).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::rundir::{self, CLUSTER_FILE, CONTROL_SOCKET};

/// How many stopped runs per lab a new run keeps (`WIRELAB_KEEP_RUNS` overrides).
pub const DEFAULT_KEEP: usize = 5;
/// How many chaos histories a new run keeps.
pub const KEEP_HISTORIES: usize = 20;
/// Runs and histories younger than this are never pruned automatically.
pub const MIN_AGE: Duration = Duration::from_secs(600);

/// The folder chaos histories are written to, inside the runs dir.
pub const HISTORIES_DIR: &str = "chaos-histories";

/// One run dir.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Run {
    /// Its folder name (what `runs rm` takes).
    pub name: String,
    /// Its path.
    pub dir: PathBuf,
    /// The lab it belongs to.
    pub lab: String,
    /// Whether its supervisor answers (the run is up).
    pub live: bool,
    /// Bytes on disk (allocated blocks, so sparse files count what they use).
    pub bytes: u64,
    /// Seconds since it last changed (its `cluster.json`).
    pub age_secs: u64,
}

/// Whether the supervisor of `dir` is up: its control socket accepts a connection.
pub fn is_up(dir: &Path) -> bool {
    let sock = dir.join(CONTROL_SOCKET);
    sock.exists() && std::os::unix::net::UnixStream::connect(&sock).is_ok()
}

/// Bytes used under `path` (blocks allocated), not following symlinks.
pub fn disk_usage(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    let own = meta.blocks() * 512;
    if !meta.is_dir() {
        return own;
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        return own;
    };
    own + entries
        .flatten()
        .map(|e| disk_usage(&e.path()))
        .sum::<u64>()
}

fn age(path: &Path) -> Duration {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .unwrap_or_default()
}

/// Every run dir under `root` (those with a `cluster.json`), newest first.
pub fn list_in(root: &Path) -> Vec<Run> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut runs: Vec<Run> = entries
        .flatten()
        .map(|e| e.path())
        .filter_map(|dir| {
            let cf = rundir::read_cluster_file(&dir).ok()?;
            let name = dir.file_name()?.to_string_lossy().into_owned();
            Some(Run {
                live: is_up(&dir),
                bytes: disk_usage(&dir),
                age_secs: age(&dir.join(CLUSTER_FILE)).as_secs(),
                lab: cf.lab,
                name,
                dir,
            })
        })
        .collect();
    runs.sort_by_key(|r| r.age_secs);
    runs
}

/// Every run dir under the runs dir, newest first.
pub fn list() -> Vec<Run> {
    list_in(&rundir::runs_dir())
}

/// The runs of `runs` that pruning to `keep` per lab would remove: stopped ones past the
/// newest `keep` of their lab, and at least `min_age` old.
pub fn to_prune(runs: &[Run], keep: usize, min_age: Duration) -> Vec<Run> {
    let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut out = Vec::new();
    for r in runs {
        if r.live {
            continue;
        }
        let n = seen.entry(r.lab.as_str()).or_default();
        *n += 1;
        if *n > keep && r.age_secs >= min_age.as_secs() {
            out.push(r.clone());
        }
    }
    out
}

/// Removes `run` unless it came up meanwhile.
pub fn remove(run: &Run) -> std::io::Result<()> {
    if is_up(&run.dir) {
        return Err(std::io::Error::other(format!(
            "{} is up: `{} stop --run-dir {}` first",
            run.name,
            run.lab,
            run.dir.display()
        )));
    }
    std::fs::remove_dir_all(&run.dir)
}

/// Chaos histories under `root` past the newest `keep`, at least `min_age` old.
pub fn histories_to_prune(root: &Path, keep: usize, min_age: Duration) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root.join(HISTORIES_DIR)) else {
        return Vec::new();
    };
    let mut files: Vec<(Duration, PathBuf)> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .map(|p| (age(&p), p))
        .collect();
    files.sort_by_key(|(a, _)| *a);
    files
        .into_iter()
        .skip(keep)
        .filter(|(a, _)| *a >= min_age)
        .map(|(_, p)| p)
        .collect()
}

/// The number of runs per lab to keep: `WIRELAB_KEEP_RUNS`, else [`DEFAULT_KEEP`].
pub fn keep_setting() -> usize {
    std::env::var("WIRELAB_KEEP_RUNS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_KEEP)
}

/// What a new run of `lab` does first: removes that lab's stopped runs past the newest
/// [`keep_setting`] and older than [`MIN_AGE`], and old chaos histories. Errors are ignored
/// (housekeeping must never stop a lab from starting).
pub fn auto_prune(lab: &str) {
    let root = rundir::runs_dir();
    let runs: Vec<Run> = list_in(&root)
        .into_iter()
        .filter(|r| r.lab == lab)
        .collect();
    for r in to_prune(&runs, keep_setting(), MIN_AGE) {
        let _ = remove(&r);
    }
    for h in histories_to_prune(&root, KEEP_HISTORIES, MIN_AGE) {
        let _ = std::fs::remove_file(h);
    }
}

/// `wirelab runs list [--json]`: prints the runs, newest first.
pub fn print_list(json: bool, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let runs = list();
    if json {
        return writeln!(
            out,
            "{}",
            serde_json::to_string(&runs).unwrap_or_else(|_| "[]".into())
        );
    }
    if runs.is_empty() {
        return writeln!(out, "no runs under {}", rundir::runs_dir().display());
    }
    writeln!(
        out,
        "{:<36} {:<6} {:<8} {:>9} {:>8}",
        "RUN", "LAB", "STATE", "SIZE", "AGE"
    )?;
    let mut total = 0;
    for r in &runs {
        total += r.bytes;
        writeln!(
            out,
            "{:<36} {:<6} {:<8} {:>9} {:>8}",
            r.name,
            r.lab,
            if r.live { "up" } else { "stopped" },
            human_bytes(r.bytes),
            human_age(r.age_secs)
        )?;
    }
    writeln!(
        out,
        "{} runs, {} in {}",
        runs.len(),
        human_bytes(total),
        rundir::runs_dir().display()
    )
}

/// `wirelab runs prune [--keep N] [--dry-run]`: removes stopped runs past the newest `keep`
/// per lab (any age), and chaos histories past the newest [`KEEP_HISTORIES`].
pub fn prune_now(keep: usize, dry_run: bool, out: &mut dyn std::io::Write) -> std::io::Result<i32> {
    let runs = list();
    let doomed = to_prune(&runs, keep, Duration::ZERO);
    let histories = histories_to_prune(&rundir::runs_dir(), KEEP_HISTORIES, Duration::ZERO);
    let mut freed = 0;
    let mut failed = 0;
    for r in &doomed {
        if dry_run {
            writeln!(out, "would remove {} ({})", r.name, human_bytes(r.bytes))?;
            freed += r.bytes;
            continue;
        }
        match remove(r) {
            Ok(()) => {
                writeln!(out, "removed {} ({})", r.name, human_bytes(r.bytes))?;
                freed += r.bytes;
            }
            Err(e) => {
                writeln!(out, "kept {}: {e}", r.name)?;
                failed += 1;
            }
        }
    }
    for h in &histories {
        freed += disk_usage(h);
        if !dry_run {
            let _ = std::fs::remove_file(h);
        }
    }
    writeln!(
        out,
        "{} {} run(s) and {} history file(s), {}; runs that are up are never removed",
        if dry_run { "would remove" } else { "removed" },
        doomed.len() - failed,
        histories.len(),
        human_bytes(freed)
    )?;
    Ok(i32::from(failed > 0))
}

/// `wirelab runs rm NAME…`: removes the named stopped runs.
pub fn remove_named(names: &[String], out: &mut dyn std::io::Write) -> std::io::Result<i32> {
    let runs = list();
    let mut code = 0;
    for name in names {
        match runs.iter().find(|r| &r.name == name) {
            None => {
                writeln!(out, "no run named {name} (see `wirelab runs list`)")?;
                code = 1;
            }
            Some(r) => match remove(r) {
                Ok(()) => writeln!(out, "removed {name} ({})", human_bytes(r.bytes))?,
                Err(e) => {
                    writeln!(out, "{e}")?;
                    code = 1;
                }
            },
        }
    }
    Ok(code)
}

fn human_age(secs: u64) -> String {
    match secs {
        s if s >= 86_400 => format!("{}d", s / 86_400),
        s if s >= 3600 => format!("{}h", s / 3600),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// `12.3 MB`.
pub fn human_bytes(b: u64) -> String {
    match b {
        b if b >= 1 << 30 => format!("{:.1} GB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.0} kB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(name: &str, lab: &str, live: bool, age_secs: u64) -> Run {
        Run {
            name: name.into(),
            dir: PathBuf::from(name),
            lab: lab.into(),
            live,
            bytes: 0,
            age_secs,
        }
    }

    #[test]
    fn pruning_keeps_the_newest_per_lab_and_never_a_live_or_young_run() {
        let runs = vec![
            run("raft-5", "raft", true, 10),
            run("raft-4", "raft", false, 700),
            run("p2p-3", "p2p", false, 800),
            run("raft-3", "raft", false, 900),
            run("raft-2", "raft", false, 1000),
            run("raft-1", "raft", false, 100_000),
        ];
        let names = |v: Vec<Run>| v.into_iter().map(|r| r.name).collect::<Vec<_>>();
        // The live run neither counts nor goes; two stopped raft runs are kept.
        assert_eq!(names(to_prune(&runs, 2, MIN_AGE)), vec!["raft-2", "raft-1"]);
        // The only p2p run is kept at keep = 1; at keep = 0 it goes.
        assert!(!names(to_prune(&runs, 1, MIN_AGE)).contains(&"p2p-3".to_string()));
        assert!(names(to_prune(&runs, 0, MIN_AGE)).contains(&"p2p-3".to_string()));
        // Young runs stay whatever the count.
        assert_eq!(
            names(to_prune(&runs, 0, Duration::from_secs(950))),
            vec!["raft-2", "raft-1"]
        );
    }

    #[test]
    fn listing_reads_run_dirs_and_skips_other_folders() {
        let tmp = tempfile::tempdir().unwrap();
        let a = tmp.path().join("raft-20260101-000000-1");
        std::fs::create_dir_all(a.join("node-1")).unwrap();
        std::fs::write(a.join(CLUSTER_FILE), r#"{"lab":"raft","nodes":[]}"#).unwrap();
        std::fs::write(a.join("node-1").join("log"), vec![7u8; 10_000]).unwrap();
        std::fs::create_dir_all(tmp.path().join(HISTORIES_DIR)).unwrap();
        std::fs::create_dir_all(tmp.path().join("junk")).unwrap();
        let runs = list_in(tmp.path());
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].lab, "raft");
        assert!(!runs[0].live);
        assert!(runs[0].bytes >= 10_000, "{}", runs[0].bytes);
        remove(&runs[0]).unwrap();
        assert!(!a.exists());
    }
}
