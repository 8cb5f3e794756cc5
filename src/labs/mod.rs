//! Labs hosted by this process, and the shell builtins that drive them.
//!
//! The CLI's `wirelab raft up` is a foreground supervisor of its own; inside the shell (and the
//! dashboard, which runs its actions through a shell) `raft up` instead starts the cluster in
//! this process and returns, so the next command can break it. [`LabHost`] keeps those
//! clusters; they stop with the process (or `raft stop`), and each also serves its control
//! socket, so `wirelab raft kill 2` from another terminal reaches it too. `forge up` and
//! `p2p up` host their labs the same way.
//!
//! - [`builtins`]: the `raft`, `forge`, `p2p`, `labs`, `logs` and `scenario` builtins
//!   ([`builtins::LabBuiltins`]).
//! - [`follow`]: `logs -f`, following a node's log until Ctrl-C or a closed pipe.

pub mod builtins;
pub mod follow;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use crate::cluster::{Supervisor, control};
use crate::raft::cli::current_leader;
use crate::raft::lab::{self, LabConfig};

/// One scenario script of a lab.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// The lab (`raft`, `p2p`).
    pub lab: &'static str,
    /// The script's name (`failover`).
    pub name: &'static str,
    /// Its text, in the shell's dialect.
    pub script: &'static str,
}

impl Scenario {
    /// `lab/name`, as `scenario run` takes it.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.lab, self.name)
    }

    /// The first comment line: what it shows.
    pub fn summary(&self) -> &'static str {
        crate::raft::lab::scenario_summary(self.script)
    }
}

/// Every lab's scenario scripts (`labs/*/*.sh`, embedded), Raft's first.
pub fn scenarios() -> Vec<Scenario> {
    let of = |lab: &'static str, list: &'static [(&'static str, &'static str)]| {
        list.iter()
            .map(move |(name, script)| Scenario { lab, name, script })
    };
    of("raft", lab::SCENARIOS)
        .chain(of("p2p", crate::p2p::lab::SCENARIOS))
        .collect()
}

/// The scenario called `name`: `lab/name`, or a bare name when only one lab has it.
pub fn find_scenario(name: &str) -> Option<Scenario> {
    let all = scenarios();
    if let Some(s) = all.iter().find(|s| s.full_name() == name) {
        return Some(*s);
    }
    let mut bare = all.iter().filter(|s| s.name == name);
    match (bare.next(), bare.next()) {
        (Some(s), None) => Some(*s),
        _ => None,
    }
}

/// The clusters this process supervises, by lab name. Cheap to clone.
#[derive(Clone, Default)]
pub struct LabHost {
    labs: Arc<Mutex<BTreeMap<String, Supervisor>>>,
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

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Supervisor>> {
        match self.labs.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// The running cluster of `lab`, if this process hosts one.
    pub fn get(&self, lab: &str) -> Option<Supervisor> {
        self.lock().get(lab).cloned()
    }

    /// Every hosted cluster.
    pub fn running(&self) -> Vec<(String, Supervisor)> {
        self.lock()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Starts a Raft cluster in this process (or restarts the one in `run_dir` from disk),
    /// serves its control socket, and waits until it has a leader.
    pub fn start_raft(&self, nodes: usize, run_dir: Option<PathBuf>) -> anyhow::Result<Supervisor> {
        self.start_raft_with(nodes, run_dir, None, |_| {})
    }

    /// [`LabHost::start_raft`] with an explicit node executable and a configuration tweak.
    pub fn start_raft_with(
        &self,
        nodes: usize,
        run_dir: Option<PathBuf>,
        exe: Option<PathBuf>,
        tweak: impl FnOnce(&mut LabConfig),
    ) -> anyhow::Result<Supervisor> {
        if let Some(sup) = self.get("raft") {
            anyhow::bail!(
                "a raft cluster already runs here ({}); `raft stop` first",
                sup.run_dir().display()
            );
        }
        if nodes == 0 || nodes > 9 {
            anyhow::bail!("--nodes must be between 1 and 9 (got {nodes})");
        }
        let mut cfg = LabConfig::builtin()?;
        tweak(&mut cfg);
        let dir = run_dir.unwrap_or_else(|| crate::cluster::rundir::new_run_dir("raft"));
        let sup = lab::launch(&cfg, nodes, &dir, exe)?;
        let weak_host = self.clone();
        control::serve(&sup, move || {
            weak_host.stop("raft");
        })?;
        if let Err(e) = sup.wait_ready(Duration::from_secs(10)).and_then(|_| {
            sup.wait_until(Duration::from_secs(10), "a leader", |n| {
                current_leader(n).is_some()
            })
        }) {
            sup.shutdown(Duration::from_secs(1));
            anyhow::bail!("{e}");
        }
        self.lock().insert("raft".into(), sup.clone());
        Ok(sup)
    }

    /// Starts the forge lab (server + load generator) in this process, serves its control
    /// socket, and waits until both nodes are ready.
    pub fn start_forge(
        &self,
        run_dir: Option<PathBuf>,
        exe: Option<PathBuf>,
    ) -> anyhow::Result<Supervisor> {
        if let Some(sup) = self.get("forge") {
            anyhow::bail!(
                "a forge lab already runs here ({}); `forge stop` first",
                sup.run_dir().display()
            );
        }
        let cfg = crate::forge::lab::LabConfig::builtin()?;
        let dir = run_dir.unwrap_or_else(|| crate::cluster::rundir::new_run_dir("forge"));
        let sup = crate::forge::lab::launch(&cfg, &dir, exe)?;
        let host = self.clone();
        control::serve(&sup, move || {
            host.stop("forge");
        })?;
        if let Err(e) = sup.wait_ready(Duration::from_secs(10)) {
            sup.shutdown(Duration::from_secs(1));
            anyhow::bail!("{e}");
        }
        self.lock().insert("forge".into(), sup.clone());
        Ok(sup)
    }

    /// Starts the P2P lab (2 trackers, the seeder, the leechers of `plan`) in this process,
    /// serves its control socket, and waits until every node is ready.
    pub fn start_p2p(
        &self,
        plan: &crate::p2p::lab::LabPlan,
        run_dir: Option<PathBuf>,
        exe: Option<PathBuf>,
    ) -> anyhow::Result<Supervisor> {
        if let Some(sup) = self.get("p2p") {
            anyhow::bail!(
                "a p2p lab already runs here ({}); `p2p stop` first",
                sup.run_dir().display()
            );
        }
        let dir = run_dir.unwrap_or_else(|| crate::cluster::rundir::new_run_dir("p2p"));
        let sup = crate::p2p::lab::launch(plan, &dir, exe)?;
        let host = self.clone();
        control::serve(&sup, move || {
            host.stop("p2p");
        })?;
        // A seeder re-verifies its whole file before it is ready: allow for a large one.
        if let Err(e) = sup.wait_ready(Duration::from_secs(300)) {
            sup.shutdown(Duration::from_secs(1));
            anyhow::bail!("{e}");
        }
        self.lock().insert("p2p".into(), sup.clone());
        Ok(sup)
    }

    /// Stops the hosted cluster of `lab`; false if there was none.
    pub fn stop(&self, lab: &str) -> bool {
        let sup = self.lock().remove(lab);
        if lab == "raft" && sup.is_some() {
            // Its background workload (`raft load`) would only retry against dead nodes.
            crate::raft::load::abandon();
        }
        match sup {
            Some(sup) => {
                sup.shutdown(Duration::from_secs(2));
                true
            }
            None => false,
        }
    }

    /// Stops every hosted cluster.
    pub fn stop_all(&self) {
        let all: Vec<String> = self.lock().keys().cloned().collect();
        for lab in all {
            self.stop(&lab);
        }
    }
}
