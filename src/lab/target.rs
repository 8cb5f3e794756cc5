//! Where the lab a verb acts on lives, and the one client that reaches it.
//!
//! A lab hosted by this very process (the shell or the dashboard started it) is acted on
//! directly; any other, through the control socket of its run dir. A forked shell child (a
//! builtin in a pipeline) uses the socket even for its parent's lab: the supervisor's threads
//! did not survive the fork.

use std::path::{Path, PathBuf};

use super::args::RunDirArg;
use crate::cluster::Supervisor;
use crate::cluster::control::{self, ControlRequest, ControlResponse};
use crate::cluster::rundir::{self, read_cluster_file, resolve_run_dir};

/// Where the lab a verb acts on lives.
#[derive(Clone, Copy)]
pub enum Target<'a> {
    /// A lab supervised by this very process.
    InProcess(&'a Supervisor),
    /// The lab in this run dir unless `--run-dir` says otherwise, reached through its control
    /// socket.
    Dir(&'a Path),
    /// Whatever `--run-dir` (or the newest run of the lab) says, through its control socket.
    RunDir,
}

impl Target<'_> {
    /// The run dir of lab `lab` this target and `run` name: without `--run-dir`, the newest run
    /// that is up (else the newest run). A run of another lab is refused by name (every lab
    /// answers the same control protocol).
    pub fn run_dir(&self, lab: &str, run: &RunDirArg) -> anyhow::Result<PathBuf> {
        let dir = match (self, &run.run_dir) {
            (Target::InProcess(sup), None) => return Ok(sup.run_dir().to_path_buf()),
            (Target::Dir(dir), None) => dir.to_path_buf(),
            // No run named: the newest run that is up, else the newest run.
            (_, None) => match live_runs(lab).into_iter().next() {
                Some(dir) => dir,
                None => resolve_run_dir(lab, None)?,
            },
            (_, Some(dir)) => resolve_run_dir(lab, Some(dir))?,
        };
        if let Ok(cf) = read_cluster_file(&dir)
            && cf.lab != lab
        {
            anyhow::bail!("{} is a {} run, not a {lab} lab", dir.display(), cf.lab);
        }
        Ok(dir)
    }

    /// The supervisor, when this process hosts the lab and `run` names no other.
    pub fn hosted(&self, run: &RunDirArg) -> Option<&Supervisor> {
        match (self, &run.run_dir) {
            (Target::InProcess(sup), None) => Some(sup),
            _ => None,
        }
    }

    /// Sends a control request to lab `lab`, in process or through its socket; a refusal
    /// (no such node, …) is an error.
    pub fn request(
        &self,
        lab: &str,
        run: &RunDirArg,
        req: ControlRequest,
    ) -> anyhow::Result<ControlResponse> {
        if let Some(sup) = self.hosted(run) {
            let resp = control::handle(sup, &req);
            return match resp.error {
                Some(e) if !resp.ok => Err(anyhow::anyhow!(e)),
                _ => Ok(resp),
            };
        }
        let dir = self.run_dir(lab, run)?;
        Ok(control::request(&dir, lab, &req)?)
    }
}

/// Whether `dir` is the run dir of a live lab (its control socket answers).
pub fn is_live(dir: &Path, lab: &str) -> bool {
    dir.join(rundir::CONTROL_SOCKET).exists()
        && control::request(dir, lab, &ControlRequest::Status).is_ok()
}

/// The run dirs of `lab` under the runs dir whose supervisor answers, newest first.
pub fn live_runs(lab: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(rundir::runs_dir()) else {
        return Vec::new();
    };
    let mut runs: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|d| read_cluster_file(d).is_ok_and(|cf| cf.lab == lab))
        .filter(|d| is_live(d, lab))
        .filter_map(|d| {
            let at = std::fs::metadata(d.join(rundir::CLUSTER_FILE))
                .ok()?
                .modified()
                .ok()?;
            Some((at, d))
        })
        .collect();
    runs.sort_by_key(|r| std::cmp::Reverse(r.0));
    runs.into_iter().map(|(_, d)| d).collect()
}

/// Whether two paths name the same directory.
pub fn same_dir(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// The live runs of `lab` other than `dir` (the run being started, if it has a dir yet), as a
/// note for `up`: a second lab of the same kind is a separate cluster, which a user starting it
/// twice may not mean.
pub fn other_runs_note(lab: &str, dir: Option<&Path>) -> String {
    live_runs(lab)
        .iter()
        .filter(|d| !dir.is_some_and(|dir| same_dir(d, dir)))
        .map(|d| {
            format!(
                "note: another {lab} lab already runs in {} (this one is separate; `{lab} stop --run-dir {}` stops that one)\n",
                d.display(),
                d.display()
            )
        })
        .collect()
}
