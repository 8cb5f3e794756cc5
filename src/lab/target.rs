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
    /// The run dir of lab `lab` this target and `run` name. A run of another lab is refused
    /// by name (every lab answers the same control protocol).
    pub fn run_dir(&self, lab: &str, run: &RunDirArg) -> anyhow::Result<PathBuf> {
        let dir = match (self, &run.run_dir) {
            (Target::InProcess(sup), None) => return Ok(sup.run_dir().to_path_buf()),
            (Target::Dir(dir), None) => dir.to_path_buf(),
            _ => resolve_run_dir(lab, run.run_dir.as_deref())?,
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
