//! The [`Supervisor`]: spawns a lab's node processes and breaks them on request.
//!
//! Threads, not tasks: every node has a stdout reader, a stderr reader and a waiter thread, and
//! all children are forked from one long-lived spawner thread. That last point matters because
//! `PR_SET_PDEATHSIG` fires when the *thread* that forked a child exits, so forking from a
//! short-lived thread (tokio's blocking pool, say) would kill nodes at random.
//!
//! - `types.rs`: what a lab gives (`NodeSpec`) and what it gets back (`NodeInfo`, `SupEvent`,
//!   `SupervisorError`).
//! - `mod.rs`: the `Supervisor` handle, its slots, launching, lookups, waiting, shutdown and
//!   the /proc sampler.
//! - `signals.rs`: spawning a node, and the signals and rules that break it (kill, pause,
//!   resume, restart, partition, heal, commands on stdin).
//! - `replace.rs`: graceful replacement of a node by a new process on the same port.
//! - `io.rs`: the per-node threads: stdout events, stderr lines, the waiter, the log files.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::broadcast;

use super::event::{ControlCommand, NodeEvent};
use super::procstat::{self, ProcSample};
use super::rundir::{self, ClusterFile, ClusterNode};
use crate::wire::FaultRules;

mod io;
mod replace;
mod signals;
mod types;

pub use io::last_log_line;
use io::{read_stderr, read_stdout, spawn_thread, wait_child};
use signals::write_command;
pub use types::*;

/// An old incarnation being drained by [`Supervisor::replace`]; its stdin stays open until it
/// exits, since end of stdin makes a node exit at once.
struct Retiring {
    incarnation: u64,
    pid: u32,
    stdin: Option<ChildStdin>,
}

struct Slot {
    spec: NodeSpec,
    retiring: Vec<Retiring>,
    data_dir: PathBuf,
    pid: Option<u32>,
    status: NodeStatus,
    incarnation: u64,
    kill_requested: bool,
    stdin: Option<ChildStdin>,
    started_at: Instant,
    ready: bool,
    http: Option<String>,
    state: Map<String, Value>,
    state_seq: u64,
    faults: FaultRules,
    sample: Option<(Instant, ProcSample)>,
    cpu_percent: f64,
}

struct Inner {
    lab: String,
    run_dir: PathBuf,
    exe: PathBuf,
    slots: Mutex<BTreeMap<u64, Slot>>,
    changed: Condvar,
    events: broadcast::Sender<SupEvent>,
    /// (device, inode) of the control socket this supervisor bound, so that cleanup never
    /// removes a socket a newer supervisor of the same run dir has bound since.
    control_socket: Mutex<Option<(u64, u64)>>,
}

impl Inner {
    fn remove_own_control_socket(&self) {
        use std::os::unix::fs::MetadataExt;
        let path = self.run_dir.join(rundir::CONTROL_SOCKET);
        let ours = match self.control_socket.lock() {
            Ok(g) => *g,
            Err(p) => *p.into_inner(),
        };
        if let (Some(id), Ok(meta)) = (ours, fs::symlink_metadata(&path))
            && (meta.dev(), meta.ino()) == id
        {
            let _ = fs::remove_file(&path);
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let slots = match self.slots.get_mut() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        for slot in slots.values_mut() {
            slot.stdin = None;
            for old in slot.retiring.drain(..) {
                let _ = kill(Pid::from_raw(old.pid as i32), Signal::SIGKILL);
            }
            if slot.status.is_alive()
                && let Some(pid) = slot.pid
            {
                let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
            }
        }
        self.remove_own_control_socket();
    }
}

/// Handle on a running cluster of node processes. Cheap to clone; when the last handle is
/// dropped every node is killed.
#[derive(Clone)]
pub struct Supervisor {
    inner: Arc<Inner>,
}

/// A handle that does not keep the cluster alive (for the control socket and sampler threads).
#[derive(Clone)]
pub struct WeakSupervisor {
    inner: Weak<Inner>,
}

impl WeakSupervisor {
    /// The supervisor, if it still exists.
    pub fn upgrade(&self) -> Option<Supervisor> {
        self.inner.upgrade().map(|inner| Supervisor { inner })
    }
}

/// The state field the supervisor adds to each node's `state` report: when it arrived (ms
/// since the Unix epoch).
pub const SAMPLED_AT_MS: &str = "sampled_at_ms";

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

type SpawnRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

/// Forks every child from one thread that lives as long as the process (see the module docs).
fn spawn_on_spawner_thread(cmd: Command) -> std::io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let tx = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("node-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .ok();
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    let sent = match tx.lock() {
        Ok(tx) => tx.send((cmd, reply_tx)).is_ok(),
        Err(_) => false,
    };
    if !sent {
        return Err(std::io::Error::other("spawner thread is gone"));
    }
    reply_rx
        .recv()
        .map_err(|_| std::io::Error::other("spawner thread is gone"))?
}

impl Supervisor {
    /// Creates the run dir and a data dir per node, spawns every node, writes `cluster.json`.
    /// An existing run dir is reused: nodes restart from the data already in it.
    pub fn launch(
        lab: &str,
        run_dir: &Path,
        specs: Vec<NodeSpec>,
    ) -> Result<Supervisor, SupervisorError> {
        let exe = std::env::current_exe()
            .map_err(|e| SupervisorError::Io(format!("cannot find own executable: {e}")))?;
        Self::launch_with_exe(lab, run_dir, specs, exe)
    }

    /// As [`Supervisor::launch`], with an explicit node executable (tests use the built binary).
    pub fn launch_with_exe(
        lab: &str,
        run_dir: &Path,
        specs: Vec<NodeSpec>,
        exe: PathBuf,
    ) -> Result<Supervisor, SupervisorError> {
        fs::create_dir_all(run_dir).map_err(|e| {
            SupervisorError::Io(format!("cannot create run dir {}: {e}", run_dir.display()))
        })?;
        let run_dir = fs::canonicalize(run_dir)
            .map_err(|e| SupervisorError::Io(format!("{}: {e}", run_dir.display())))?;
        let mut slots = BTreeMap::new();
        for spec in specs {
            let data_dir = run_dir.join(format!("node-{}", spec.id));
            fs::create_dir_all(&data_dir).map_err(|e| {
                SupervisorError::Io(format!("cannot create {}: {e}", data_dir.display()))
            })?;
            slots.insert(
                spec.id,
                Slot {
                    spec,
                    retiring: Vec::new(),
                    data_dir,
                    pid: None,
                    status: NodeStatus::Exited,
                    incarnation: 0,
                    kill_requested: false,
                    stdin: None,
                    started_at: Instant::now(),
                    ready: false,
                    http: None,
                    state: Map::new(),
                    state_seq: 0,
                    faults: FaultRules::default(),
                    sample: None,
                    cpu_percent: 0.0,
                },
            );
        }
        let (events, _) = broadcast::channel(8192);
        let sup = Supervisor {
            inner: Arc::new(Inner {
                lab: lab.to_string(),
                run_dir,
                exe,
                slots: Mutex::new(slots),
                changed: Condvar::new(),
                events,
                control_socket: Mutex::new(None),
            }),
        };
        let ids: Vec<u64> = sup.lock().keys().copied().collect();
        for id in ids {
            sup.spawn(id)?;
        }
        sup.start_sampler();
        Ok(sup)
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<u64, Slot>> {
        match self.inner.slots.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Whether both handles are the same supervisor (not merely the same run dir: a lab
    /// restarted on its run dir is a new supervisor).
    pub fn same(&self, other: &Supervisor) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// A handle that does not keep the cluster alive.
    pub fn downgrade(&self) -> WeakSupervisor {
        WeakSupervisor {
            inner: Arc::downgrade(&self.inner),
        }
    }

    /// The lab name.
    pub fn lab(&self) -> &str {
        &self.inner.lab
    }

    /// The run dir.
    pub fn run_dir(&self) -> &Path {
        &self.inner.run_dir
    }

    /// Subscribes to every node's events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<SupEvent> {
        self.inner.events.subscribe()
    }

    fn publish(&self, node: u64, kind: SupEventKind) {
        let _ = self.inner.events.send(SupEvent {
            node,
            at_ms: now_ms(),
            kind,
        });
    }

    /// Node ids in order.
    pub fn ids(&self) -> Vec<u64> {
        self.lock().keys().copied().collect()
    }

    fn write_cluster_file(&self, slots: &BTreeMap<u64, Slot>) {
        let file = ClusterFile {
            lab: self.inner.lab.clone(),
            supervisor_pid: Some(std::process::id()),
            nodes: slots
                .values()
                .map(|s| ClusterNode {
                    id: s.spec.id,
                    role: s.spec.role.clone(),
                    pid: s.pid,
                    addr: s.spec.addr.clone(),
                    http: s.http.clone(),
                    data_dir: s.data_dir.clone(),
                    status: s.status.as_str().to_string(),
                })
                .collect(),
        };
        let _ = rundir::write_cluster_file(&self.inner.run_dir, &file);
    }

    /// Every node as it is now.
    pub fn nodes(&self) -> Vec<NodeInfo> {
        self.lock().values().map(info_of).collect()
    }

    /// Asks each running node for a fresh `state` report now, without waiting: a view that
    /// calls this on every refresh shows rows sampled within milliseconds of each other rather
    /// than up to a report period apart (each sample's arrival is in its state as
    /// [`SAMPLED_AT_MS`]). Paused nodes are not asked (their stdin pipe would fill up).
    pub fn request_reports(&self) {
        let mut slots = self.lock();
        for s in slots
            .values_mut()
            .filter(|s| s.status == NodeStatus::Running)
        {
            write_command(s, &ControlCommand::Report);
        }
    }

    /// Every node, after asking each running node for a fresh `state` report and waiting up to
    /// `timeout` for the answers (paused nodes cannot answer; their last state is shown).
    pub fn fresh_nodes(&self, timeout: Duration) -> Vec<NodeInfo> {
        let asked: Vec<(u64, u64)> = {
            let mut slots = self.lock();
            slots
                .values_mut()
                .filter(|s| s.status == NodeStatus::Running)
                .map(|s| {
                    write_command(s, &ControlCommand::Report);
                    (s.spec.id, s.state_seq)
                })
                .collect()
        };
        let _ = self.wait_slot(timeout, "fresh node states", |slots| {
            asked.iter().all(|(id, seq)| {
                slots
                    .get(id)
                    .is_none_or(|s| s.state_seq > *seq || s.status != NodeStatus::Running)
            })
        });
        self.nodes()
    }

    /// One node as it is now.
    pub fn node(&self, id: u64) -> Result<NodeInfo, SupervisorError> {
        self.lock()
            .get(&id)
            .map(info_of)
            .ok_or(SupervisorError::NoSuchNode(id))
    }

    fn wait_slot<F>(&self, timeout: Duration, what: &str, pred: F) -> Result<(), SupervisorError>
    where
        F: Fn(&BTreeMap<u64, Slot>) -> bool,
    {
        let deadline = Instant::now() + timeout;
        let mut slots = self.lock();
        loop {
            if pred(&slots) {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(SupervisorError::Timeout(timeout, what.to_string()));
            }
            slots = match self.inner.changed.wait_timeout(slots, left) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }

    /// Waits until `pred` holds over the nodes (re-checked on every node event).
    pub fn wait_until<F>(
        &self,
        timeout: Duration,
        what: &str,
        pred: F,
    ) -> Result<(), SupervisorError>
    where
        F: Fn(&[NodeInfo]) -> bool,
    {
        self.wait_slot(timeout, what, |slots| {
            let infos: Vec<NodeInfo> = slots.values().map(info_of).collect();
            pred(&infos)
        })
    }

    /// Waits until every running node has reported `ready`.
    pub fn wait_ready(&self, timeout: Duration) -> Result<(), SupervisorError> {
        let failed = self.wait_started(timeout)?;
        match failed.into_iter().next() {
            Some((id, why)) => Err(SupervisorError::Spawn {
                id,
                msg: format!("exited while starting{why}"),
            }),
            None => Ok(()),
        }
    }

    /// Waits until every node has either said it is ready or stopped running; returns those
    /// that exited while starting, each with `: ` and the last line of its log (a damaged data
    /// dir's error, say). For labs that run on without them (a Raft majority).
    pub fn wait_started(&self, timeout: Duration) -> Result<Vec<(u64, String)>, SupervisorError> {
        self.wait_slot(timeout, "nodes to be ready", |slots| {
            slots
                .values()
                .all(|s| s.ready || s.status != NodeStatus::Running)
        })?;
        let slots = self.lock();
        Ok(slots
            .values()
            .filter(|s| s.status == NodeStatus::Exited)
            .map(|s| {
                let last = last_log_line(&self.inner.run_dir, s.spec.id);
                (
                    s.spec.id,
                    last.map(|l| format!(": {l}")).unwrap_or_default(),
                )
            })
            .collect())
    }

    /// Asks every node to shut down, waits up to `grace`, then SIGKILLs what is left (resuming
    /// paused ones first is unnecessary: SIGKILL works on stopped processes).
    pub fn shutdown(&self, grace: Duration) {
        {
            let mut slots = self.lock();
            for slot in slots.values_mut() {
                if slot.status == NodeStatus::Running {
                    write_command(slot, &ControlCommand::Shutdown);
                }
                slot.stdin = None;
                // Nodes still draining after a replace exit on end of stdin.
                for old in &mut slot.retiring {
                    old.stdin = None;
                }
            }
        }
        let ok = self
            .wait_slot(grace, "shutdown", |s| {
                s.values().all(|s| !s.status.is_alive())
            })
            .is_ok();
        if !ok {
            for id in self.ids() {
                let _ = self.kill(id);
            }
        }
        self.inner.remove_own_control_socket();
    }

    /// Records the control socket this supervisor serves (see [`super::control::serve`]).
    pub fn set_control_socket(&self, path: &Path) {
        use std::os::unix::fs::MetadataExt;
        if let Ok(meta) = fs::symlink_metadata(path)
            && let Ok(mut g) = self.inner.control_socket.lock()
        {
            *g = Some((meta.dev(), meta.ino()));
        }
    }

    fn start_sampler(&self) {
        let weak = self.downgrade();
        spawn_thread("proc-sampler".into(), move || {
            loop {
                std::thread::sleep(Duration::from_millis(500));
                let Some(sup) = weak.upgrade() else { return };
                let mut slots = sup.lock();
                for slot in slots.values_mut() {
                    let (true, Some(pid)) = (slot.status.is_alive(), slot.pid) else {
                        continue;
                    };
                    let Some(now) = procstat::sample(pid as i32) else {
                        continue;
                    };
                    let at = Instant::now();
                    if let Some((then, before)) = slot.sample {
                        slot.cpu_percent = procstat::cpu_percent(
                            before,
                            now,
                            at.duration_since(then).as_secs_f64(),
                        );
                    }
                    slot.sample = Some((at, now));
                }
            }
        });
    }
}

fn info_of(s: &Slot) -> NodeInfo {
    NodeInfo {
        id: s.spec.id,
        role: s.spec.role.clone(),
        pid: s.pid,
        status: s.status,
        addr: s.spec.addr.clone(),
        http: s.http.clone(),
        data_dir: s.data_dir.clone(),
        uptime_ms: if s.status.is_alive() {
            s.started_at.elapsed().as_millis() as u64
        } else {
            0
        },
        rss_bytes: match (s.sample, s.pid) {
            (Some((_, p)), _) => p.rss_bytes,
            (None, Some(pid)) if s.status.is_alive() => {
                procstat::sample(pid as i32).map_or(0, |p| p.rss_bytes)
            }
            _ => 0,
        },
        cpu_percent: s.cpu_percent,
        incarnation: s.incarnation,
        faults: s.faults.clone(),
        ready: s.ready,
        state: s.state.clone(),
    }
}
