//! Run dirs: where a cluster's data dirs, logs, `cluster.json` and control socket live.
//!
//! ```text
//! $XDG_STATE_HOME/wirelab/runs/raft-20261124-040512-4242/
//!     cluster.json      {"lab":"raft","nodes":[{"id":1,"pid":…,"addr":"127.0.0.1:…","data_dir":"…"},…]}
//!     control.sock      the supervisor's control socket (see `cluster::control`)
//!     node-1/           node 1's data dir
//!     node-1.log        node 1's log lines, as text
//! ```

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Name of the cluster description file inside a run dir.
pub const CLUSTER_FILE: &str = "cluster.json";
/// Name of the control socket inside a run dir.
pub const CONTROL_SOCKET: &str = "control.sock";

/// The contents of `cluster.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterFile {
    /// Which lab this run belongs to (`raft`, …).
    pub lab: String,
    /// The supervisor's pid.
    #[serde(default)]
    pub supervisor_pid: Option<u32>,
    /// The members.
    pub nodes: Vec<ClusterNode>,
}

/// One member as `cluster.json` describes it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterNode {
    /// Node id.
    pub id: u64,
    /// Role (`raft`, `tracker`, …).
    #[serde(default)]
    pub role: String,
    /// Pid of its current (or last) incarnation.
    pub pid: Option<u32>,
    /// Its main address.
    pub addr: String,
    /// Its HTTP face, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    /// Its data dir.
    pub data_dir: PathBuf,
    /// `running`, `paused`, `killed`, `exited`.
    #[serde(default)]
    pub status: String,
}

/// Why a run dir could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RunDirError {
    /// No run of this lab exists.
    #[error("no {lab} run found under {dir} (start one with `wirelab {lab} up`)")]
    NoRun {
        /// The lab.
        lab: String,
        /// Where we looked.
        dir: PathBuf,
    },
    /// `cluster.json` is missing.
    #[error("{path} does not exist: is this a wirelab run dir?")]
    Missing {
        /// The path.
        path: PathBuf,
    },
    /// `cluster.json` is not valid.
    #[error("{path} is not a valid cluster file: {msg}")]
    Invalid {
        /// The path.
        path: PathBuf,
        /// The parse error.
        msg: String,
    },
    /// Any other I/O error.
    #[error("{path}: {error}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The error.
        error: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> RunDirError + '_ {
    move |error| RunDirError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// wirelab's state dir: `$XDG_STATE_HOME/wirelab`, else `~/.local/state/wirelab`, else a dir
/// under the system temp dir.
pub fn state_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("wirelab");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(h).join(".local/state/wirelab");
    }
    std::env::temp_dir().join("wirelab-state")
}

/// Where runs are created by default.
pub fn runs_dir() -> PathBuf {
    state_dir().join("runs")
}

/// A fresh run dir name for `lab`, e.g. `raft-20261124-040512-4242`. First prunes that lab's
/// old stopped runs ([`super::runs::auto_prune`]).
pub fn new_run_dir(lab: &str) -> PathBuf {
    super::runs::auto_prune(lab);
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    runs_dir().join(format!("{lab}-{}-{}", utc_stamp(secs), std::process::id()))
}

/// `YYYYMMDD-HHMMSS` in UTC for a Unix time.
pub fn utc_stamp(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Reads `cluster.json` from a run dir.
pub fn read_cluster_file(run_dir: &Path) -> Result<ClusterFile, RunDirError> {
    let path = run_dir.join(CLUSTER_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(RunDirError::Missing { path });
        }
        Err(e) => return Err(io_err(&path)(e)),
    };
    serde_json::from_str(&text).map_err(|e| RunDirError::Invalid {
        path,
        msg: e.to_string(),
    })
}

/// Writes `cluster.json` atomically (temp file, fsync, rename), so readers never see half a file.
pub fn write_cluster_file(run_dir: &Path, file: &ClusterFile) -> Result<(), RunDirError> {
    let path = run_dir.join(CLUSTER_FILE);
    let tmp = run_dir.join(format!(".{CLUSTER_FILE}.tmp"));
    let text = serde_json::to_vec_pretty(file).map_err(|e| RunDirError::Invalid {
        path: path.clone(),
        msg: e.to_string(),
    })?;
    let mut f = fs::File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(&text).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    fs::rename(&tmp, &path).map_err(io_err(&path))?;
    Ok(())
}

/// The run dir to act on: `explicit` if given, else the newest run of `lab` under [`runs_dir`]
/// (by the modification time of its `cluster.json`).
pub fn resolve_run_dir(lab: &str, explicit: Option<&Path>) -> Result<PathBuf, RunDirError> {
    if let Some(dir) = explicit {
        let path = dir.join(CLUSTER_FILE);
        if !path.exists() {
            return Err(RunDirError::Missing { path });
        }
        return Ok(dir.to_path_buf());
    }
    newest_run(lab, &runs_dir())
}

/// The newest run of `lab` directly under `root`.
pub fn newest_run(lab: &str, root: &Path) -> Result<PathBuf, RunDirError> {
    let no_run = || RunDirError::NoRun {
        lab: lab.to_string(),
        dir: root.to_path_buf(),
    };
    let entries = match fs::read_dir(root) {
        Ok(e) => e,
        Err(_) => return Err(no_run()),
    };
    let mut best: Option<(SystemTime, PathBuf)> = None;
    for entry in entries.flatten() {
        let dir = entry.path();
        let Ok(meta) = fs::metadata(dir.join(CLUSTER_FILE)) else {
            continue;
        };
        match read_cluster_file(&dir) {
            Ok(cf) if cf.lab == lab => {}
            _ => continue,
        }
        let mtime = meta.modified().unwrap_or(UNIX_EPOCH);
        if best.as_ref().is_none_or(|(t, _)| mtime > *t) {
            best = Some((mtime, dir));
        }
    }
    best.map(|(_, d)| d).ok_or_else(no_run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_stamps_are_calendar_correct() {
        assert_eq!(utc_stamp(0), "19700101-000000");
        assert_eq!(utc_stamp(951_782_400), "20000229-000000");
        assert_eq!(utc_stamp(1_795_925_105), "20261129-040505");
    }

    #[test]
    fn newest_run_picks_latest_of_the_lab() {
        let root = tempfile::tempdir().unwrap();
        for (name, lab) in [("a", "raft"), ("b", "p2p"), ("c", "raft")] {
            let d = root.path().join(name);
            fs::create_dir(&d).unwrap();
            write_cluster_file(
                &d,
                &ClusterFile {
                    lab: lab.into(),
                    ..Default::default()
                },
            )
            .unwrap();
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(
            newest_run("raft", root.path()).unwrap(),
            root.path().join("c")
        );
        assert_eq!(
            newest_run("p2p", root.path()).unwrap(),
            root.path().join("b")
        );
        assert!(matches!(
            newest_run("uav", root.path()),
            Err(RunDirError::NoRun { .. })
        ));
    }

    #[test]
    fn missing_and_corrupt_cluster_files_are_clear_errors() {
        let d = tempfile::tempdir().unwrap();
        assert!(matches!(
            read_cluster_file(d.path()),
            Err(RunDirError::Missing { .. })
        ));
        fs::write(d.path().join(CLUSTER_FILE), "{nope").unwrap();
        let err = read_cluster_file(d.path()).unwrap_err();
        assert!(
            err.to_string().contains("not a valid cluster file"),
            "{err}"
        );
    }
}

/// A run dir for a one-off measurement (`… bench`): `TMPDIR/wirelab-NAME-PID`, emptied when
/// made and removed with everything in it when dropped, however the measurement ends.
#[derive(Debug)]
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    /// Makes the path (nothing is created on disk yet), clearing what a crashed run with the
    /// same pid may have left.
    pub fn new(name: &str) -> ScratchDir {
        let path = std::env::temp_dir().join(format!("wirelab-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        ScratchDir(path)
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
