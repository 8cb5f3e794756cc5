//! Labs hosted by this process.
//!
//! The CLI's `wirelab NAME up` is a foreground supervisor of its own; inside the shell (and the
//! dashboard, which runs its actions through a shell) `NAME up` instead starts the lab in this
//! process and returns, so the next command can break it. [`LabHost`] keeps those labs; they
//! stop with the process (or `NAME stop`), and each also serves its control socket, so
//! `wirelab raft kill 2` from another terminal reaches it too.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use clap::ArgMatches;

use super::Lab;
use crate::cluster::{Supervisor, control, rundir};

/// One hosted lab: its definition and its supervisor.
#[derive(Clone)]
struct Hosted {
    lab: &'static dyn Lab,
    sup: Supervisor,
}

/// The labs this process supervises, by name. Cheap to clone.
#[derive(Clone, Default)]
pub struct LabHost {
    labs: Arc<Mutex<BTreeMap<String, Hosted>>>,
}

impl LabHost {
    /// A host with no labs.
    pub fn new() -> Self {
        Self::default()
    }

    /// The process-wide host (the shell's and the dashboard's).
    pub fn global() -> &'static LabHost {
        static HOST: OnceLock<LabHost> = OnceLock::new();
        HOST.get_or_init(LabHost::new)
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Hosted>> {
        match self.labs.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// The running lab called `lab`, if this process hosts one.
    pub fn get(&self, lab: &str) -> Option<Supervisor> {
        self.lock().get(lab).map(|h| h.sup.clone())
    }

    /// Every hosted lab.
    pub fn running(&self) -> Vec<(String, Supervisor)> {
        self.lock()
            .iter()
            .map(|(k, h)| (k.clone(), h.sup.clone()))
            .collect()
    }

    /// Starts `lab` in this process with the arguments of its `up` (or restarts the run in
    /// `run_dir` from disk), serves its control socket, and waits until it is ready (a leader,
    /// every node up: the lab says). `exe` overrides the node executable.
    pub fn start(
        &self,
        lab: &'static dyn Lab,
        up: &ArgMatches,
        run_dir: Option<PathBuf>,
        exe: Option<PathBuf>,
    ) -> anyhow::Result<Supervisor> {
        let name = lab.name();
        if let Some(sup) = self.get(name) {
            anyhow::bail!(
                "a {name} lab already runs here ({}); `{name} stop` first",
                sup.run_dir().display()
            );
        }
        lab.check_up(up)?;
        let dir = run_dir.unwrap_or_else(|| rundir::new_run_dir(name));
        let sup = lab.launch(up, &dir, exe)?;
        let host = self.clone();
        control::serve(&sup, move || {
            host.stop(name);
        })?;
        let readiness = lab.readiness();
        let started = if lab.quorum_suffices() {
            // Nodes that failed to start stay down and are reported by `up`.
            sup.wait_started(readiness.timeout).map(|_| ())
        } else {
            sup.wait_ready(readiness.timeout)
        };
        if let Err(e) = started
            .and_then(|_| sup.wait_until(readiness.timeout, readiness.what, |n| lab.is_ready(n)))
        {
            sup.shutdown(Duration::from_secs(1));
            anyhow::bail!("{e}");
        }
        self.lock().insert(
            name.into(),
            Hosted {
                lab,
                sup: sup.clone(),
            },
        );
        Ok(sup)
    }

    /// Stops the hosted lab `lab`; false if there was none.
    pub fn stop(&self, lab: &str) -> bool {
        let hosted = self.lock().remove(lab);
        match hosted {
            Some(h) => {
                // Its background work (a workload) would only retry against dead nodes.
                h.lab.on_stop();
                h.sup.shutdown(Duration::from_secs(2));
                h.lab.after_stop(h.sup.run_dir());
                true
            }
            None => false,
        }
    }

    /// Stops every hosted lab.
    pub fn stop_all(&self) {
        let all: Vec<String> = self.lock().keys().cloned().collect();
        for lab in all {
            self.stop(&lab);
        }
    }
}
