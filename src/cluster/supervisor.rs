//! The [`Supervisor`]: spawns a lab's node processes and breaks them on request.
//!
//! Threads, not tasks: every node has a stdout reader, a stderr reader and a waiter thread, and
//! all children are forked from one long-lived spawner thread. That last point matters because
//! `PR_SET_PDEATHSIG` fires when the *thread* that forked a child exits, so forking from a
//! short-lived thread (tokio's blocking pool, say) would kill nodes at random.

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

/// How to start one member of a lab.
#[derive(Clone, Debug)]
pub struct NodeSpec {
    /// Node id, unique in the lab.
    pub id: u64,
    /// The role given to `wirelab node <role>`.
    pub role: String,
    /// Its main listen address (allocated by the lab, so peers can be told about it).
    pub addr: String,
    /// Arguments after `wirelab node <role> --id N --data-dir DIR`.
    pub args: Vec<String>,
}

/// The program a node of `role` runs: a dedicated `wirelab-ROLE` executable beside `exe` when
/// there is one (the P2P peer has one, to keep its memory small), otherwise `exe` itself. Either
/// way it is started as `… node ROLE --id N --data-dir DIR ARGS`.
pub fn node_exe(exe: &Path, role: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dedicated = exe.with_file_name(format!("wirelab-{role}"));
    match std::fs::metadata(&dedicated) {
        Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => dedicated,
        _ => exe.to_path_buf(),
    }
}

/// The life state of a node process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    /// Running.
    Running,
    /// Stopped with SIGSTOP.
    Paused,
    /// Killed with SIGKILL on request.
    Killed,
    /// Exited by itself (clean shutdown or crash).
    Exited,
}

impl NodeStatus {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeStatus::Running => "running",
            NodeStatus::Paused => "paused",
            NodeStatus::Killed => "killed",
            NodeStatus::Exited => "exited",
        }
    }

    /// Whether a process exists (running or paused).
    pub fn is_alive(self) -> bool {
        matches!(self, NodeStatus::Running | NodeStatus::Paused)
    }
}

/// A snapshot of one node as the supervisor sees it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NodeInfo {
    /// Node id.
    pub id: u64,
    /// Role.
    pub role: String,
    /// Pid of the current or last incarnation.
    pub pid: Option<u32>,
    /// Life state.
    pub status: NodeStatus,
    /// Main address.
    pub addr: String,
    /// HTTP face, if any.
    pub http: Option<String>,
    /// Data dir.
    pub data_dir: PathBuf,
    /// Milliseconds since the current incarnation started (0 when dead).
    pub uptime_ms: u64,
    /// Resident memory in bytes (last sample).
    pub rss_bytes: u64,
    /// CPU use over the last sample interval, percent of one core.
    pub cpu_percent: f64,
    /// How many times the node was (re)started.
    pub incarnation: u64,
    /// Fault rules in force on it.
    pub faults: FaultRules,
    /// Whether the current incarnation reported `ready`.
    pub ready: bool,
    /// The latest lab-specific `state` fields it reported.
    pub state: Map<String, Value>,
}

/// Something that happened to a node.
#[derive(Clone, Debug, Serialize)]
pub struct SupEvent {
    /// Which node.
    pub node: u64,
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// What.
    pub kind: SupEventKind,
}

/// What happened.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SupEventKind {
    /// A new incarnation started.
    Spawned {
        /// Its pid.
        pid: u32,
    },
    /// The node reported an event.
    Node {
        /// The event.
        event: NodeEvent,
    },
    /// A line on the node's stderr.
    Stderr {
        /// The line.
        line: String,
    },
    /// Sent SIGKILL.
    Killed,
    /// Sent SIGSTOP.
    Paused,
    /// Sent SIGCONT.
    Resumed,
    /// The process ended.
    Exited {
        /// Exit code, if it exited.
        code: Option<i32>,
        /// Signal, if one ended it.
        signal: Option<i32>,
    },
    /// New fault rules.
    Faults {
        /// The rules.
        rules: FaultRules,
    },
}

/// Why a supervisor operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    /// No node with that id.
    #[error("no node {0} in this cluster")]
    NoSuchNode(u64),
    /// The node is not running, so it cannot be paused/resumed/etc.
    #[error("node {id} is {status}")]
    NotAlive {
        /// Node.
        id: u64,
        /// Its status.
        status: &'static str,
    },
    /// Spawning failed.
    #[error("cannot start node {id}: {msg}")]
    Spawn {
        /// Node.
        id: u64,
        /// What went wrong.
        msg: String,
    },
    /// A wait ran out of time.
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(Duration, String),
    /// A signal could not be sent.
    #[error("signal to node {id} failed: {source}")]
    Signal {
        /// Node.
        id: u64,
        /// The errno.
        source: nix::Error,
    },
    /// Run dir or file trouble.
    #[error("{0}")]
    Io(String),
}

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

    fn spawn(&self, id: u64) -> Result<(), SupervisorError> {
        let mut slots = self.lock();
        let slot = slots.get_mut(&id).ok_or(SupervisorError::NoSuchNode(id))?;
        let program = node_exe(&self.inner.exe, &slot.spec.role);
        let mut cmd = Command::new(&program);
        cmd.arg("node")
            .arg(&slot.spec.role)
            .arg("--id")
            .arg(id.to_string())
            .arg("--data-dir")
            .arg(&slot.data_dir)
            .args(&slot.spec.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("WIRELAB_NODE", "1")
            // Own process group: a Ctrl-C typed at the supervisor's terminal is for the
            // supervisor, which then stops the nodes itself.
            .process_group(0);
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: only async-signal-safe calls (prctl, getppid, _exit) between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent may have died between fork and prctl.
                if libc::getppid() != parent {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
        let mut child = spawn_on_spawner_thread(cmd).map_err(|e| SupervisorError::Spawn {
            id,
            msg: format!("{}: {e}", program.display()),
        })?;
        let pid = child.id();
        slot.incarnation += 1;
        let incarnation = slot.incarnation;
        slot.pid = Some(pid);
        slot.status = NodeStatus::Running;
        slot.kill_requested = false;
        slot.stdin = child.stdin.take();
        slot.started_at = Instant::now();
        slot.ready = false;
        // A new incarnation starts with no reported state: nothing of the old one may pass
        // for it.
        slot.state.clear();
        slot.sample = None;
        slot.cpu_percent = 0.0;
        let log_path = self.inner.run_dir.join(format!("node-{id}.log"));
        if !slot.faults.is_clear() {
            let cmd = ControlCommand::Faults {
                rules: slot.faults.clone(),
            };
            write_command(slot, &cmd);
        }
        let weak = self.downgrade();
        let stdout_reader = child.stdout.take().and_then(|stdout| {
            let w = weak.clone();
            let path = log_path.clone();
            std::thread::Builder::new()
                .name(format!("node-{id}-stdout"))
                .spawn(move || read_stdout(w, id, incarnation, stdout, &path))
                .ok()
        });
        if let Some(stderr) = child.stderr.take() {
            let w = weak.clone();
            let path = log_path.clone();
            spawn_thread(format!("node-{id}-stderr"), move || {
                read_stderr(w, id, stderr, &path)
            });
        }
        spawn_thread(format!("node-{id}-wait"), move || {
            wait_child(weak, id, incarnation, child, stdout_reader)
        });
        self.write_cluster_file(&slots);
        drop(slots);
        self.publish(id, SupEventKind::Spawned { pid });
        self.inner.changed.notify_all();
        Ok(())
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

    fn signal(&self, id: u64, sig: Signal) -> Result<u64, SupervisorError> {
        let mut slots = self.lock();
        let slot = slots.get_mut(&id).ok_or(SupervisorError::NoSuchNode(id))?;
        let pid = match (slot.status.is_alive(), slot.pid) {
            (true, Some(pid)) => pid,
            _ => {
                return Err(SupervisorError::NotAlive {
                    id,
                    status: slot.status.as_str(),
                });
            }
        };
        if sig == Signal::SIGKILL {
            slot.kill_requested = true;
        }
        kill(Pid::from_raw(pid as i32), sig)
            .map_err(|source| SupervisorError::Signal { id, source })?;
        match sig {
            Signal::SIGSTOP => slot.status = NodeStatus::Paused,
            Signal::SIGCONT => slot.status = NodeStatus::Running,
            _ => {}
        }
        let incarnation = slot.incarnation;
        if matches!(sig, Signal::SIGSTOP | Signal::SIGCONT) {
            self.write_cluster_file(&slots);
        }
        Ok(incarnation)
    }

    /// SIGKILLs the node and waits until the process is gone.
    pub fn kill(&self, id: u64) -> Result<(), SupervisorError> {
        let incarnation = self.signal(id, Signal::SIGKILL)?;
        self.publish(id, SupEventKind::Killed);
        self.wait_slot(Duration::from_secs(10), &format!("node {id} to die"), |s| {
            s.get(&id)
                .is_some_and(|s| s.incarnation != incarnation || !s.status.is_alive())
        })
    }

    /// SIGSTOPs the node: it stays in memory but runs no code, timers included.
    pub fn pause(&self, id: u64) -> Result<(), SupervisorError> {
        self.signal(id, Signal::SIGSTOP)?;
        self.publish(id, SupEventKind::Paused);
        Ok(())
    }

    /// SIGCONTs a paused node.
    pub fn resume(&self, id: u64) -> Result<(), SupervisorError> {
        self.signal(id, Signal::SIGCONT)?;
        self.publish(id, SupEventKind::Resumed);
        Ok(())
    }

    /// Starts the node again on its data dir, killing the running incarnation first if any.
    pub fn restart(&self, id: u64) -> Result<(), SupervisorError> {
        let alive = self.node(id)?.status.is_alive();
        if alive {
            self.kill(id)?;
        }
        self.spawn(id)
    }

    /// Replaces a running node without a gap: starts a new incarnation beside the old one (on
    /// the same data dir and arguments; a server binds its port with `SO_REUSEPORT`), waits up
    /// to `ready_within` for it to report `ready`, then sends the old one `shutdown` so that it
    /// drains, and waits up to `drain_within` for it to exit (SIGKILL after that). If the new
    /// incarnation fails to become ready it is killed and the old one keeps serving.
    pub fn replace(
        &self,
        id: u64,
        ready_within: Duration,
        drain_within: Duration,
    ) -> Result<(), SupervisorError> {
        let (old_incarnation, old_pid) = {
            let mut slots = self.lock();
            let slot = slots.get_mut(&id).ok_or(SupervisorError::NoSuchNode(id))?;
            let (NodeStatus::Running, Some(pid), true) = (slot.status, slot.pid, slot.ready) else {
                return Err(SupervisorError::NotAlive {
                    id,
                    status: if slot.status == NodeStatus::Running {
                        "not ready"
                    } else {
                        slot.status.as_str()
                    },
                });
            };
            slot.retiring.push(Retiring {
                incarnation: slot.incarnation,
                pid,
                stdin: slot.stdin.take(),
            });
            (slot.incarnation, pid)
        };
        let restore_old = |sup: &Supervisor| {
            let mut slots = sup.lock();
            if let Some(slot) = slots.get_mut(&id)
                && let Some(i) = slot
                    .retiring
                    .iter()
                    .position(|r| r.incarnation == old_incarnation)
            {
                let old = slot.retiring.remove(i);
                slot.incarnation = old.incarnation;
                slot.pid = Some(old.pid);
                slot.stdin = old.stdin;
                slot.status = NodeStatus::Running;
                slot.ready = true;
                sup.write_cluster_file(&slots);
            }
        };
        if let Err(e) = self.spawn(id) {
            restore_old(self);
            return Err(e);
        }
        let new_incarnation = old_incarnation + 1;
        let started = self.wait_slot(ready_within, &format!("node {id} to be ready"), |s| {
            s.get(&id).is_none_or(|s| {
                s.incarnation != new_incarnation || s.ready || s.status != NodeStatus::Running
            })
        });
        let new_ok = started.is_ok()
            && self
                .lock()
                .get(&id)
                .is_some_and(|s| s.incarnation == new_incarnation && s.ready);
        if !new_ok {
            let _ = self.kill(id);
            restore_old(self);
            let last = last_log_line(&self.inner.run_dir, id).unwrap_or_default();
            return Err(SupervisorError::Spawn {
                id,
                msg: format!(
                    "the new incarnation did not become ready ({last}); the old one keeps serving"
                ),
            });
        }
        {
            let mut slots = self.lock();
            if let Some(old) = slots.get_mut(&id).and_then(|s| {
                s.retiring
                    .iter_mut()
                    .find(|r| r.incarnation == old_incarnation)
            }) && let Some(stdin) = old.stdin.as_mut()
            {
                let mut line = serde_json::to_string(&ControlCommand::Shutdown).unwrap_or_default();
                line.push('\n');
                let _ = stdin.write_all(line.as_bytes()).and_then(|_| stdin.flush());
            }
        }
        let retired = |s: &BTreeMap<u64, Slot>| {
            s.get(&id)
                .is_none_or(|s| s.retiring.iter().all(|r| r.incarnation != old_incarnation))
        };
        let what = format!("node {id}'s old incarnation (pid {old_pid}) to drain");
        if self.wait_slot(drain_within, &what, retired).is_err() {
            // Not reaped yet (its waiter removes it from `retiring` after reaping), so the pid
            // is still ours to signal.
            let _ = kill(Pid::from_raw(old_pid as i32), Signal::SIGKILL);
            self.wait_slot(Duration::from_secs(10), &what, retired)?;
        }
        Ok(())
    }

    /// Sends a control command to the node's stdin.
    pub fn send(&self, id: u64, cmd: &ControlCommand) -> Result<(), SupervisorError> {
        let mut slots = self.lock();
        let slot = slots.get_mut(&id).ok_or(SupervisorError::NoSuchNode(id))?;
        write_command(slot, cmd);
        Ok(())
    }

    /// Sets a node's fault rules (kept across restarts until changed).
    pub fn set_faults(&self, id: u64, rules: FaultRules) -> Result<(), SupervisorError> {
        {
            let mut slots = self.lock();
            let slot = slots.get_mut(&id).ok_or(SupervisorError::NoSuchNode(id))?;
            slot.faults = rules.clone();
            let cmd = ControlCommand::Faults {
                rules: rules.clone(),
            };
            write_command(slot, &cmd);
        }
        self.publish(id, SupEventKind::Faults { rules });
        Ok(())
    }

    /// Cuts `group` off from every other node (in both directions).
    pub fn partition(&self, group: &[u64]) -> Result<(), SupervisorError> {
        let ids = self.ids();
        let inside: BTreeSet<u64> = group.iter().copied().collect();
        if let Some(bad) = inside.iter().find(|id| !ids.contains(id)) {
            return Err(SupervisorError::NoSuchNode(*bad));
        }
        let outside: BTreeSet<u64> = ids
            .iter()
            .copied()
            .filter(|id| !inside.contains(id))
            .collect();
        for &id in &ids {
            let cut = if inside.contains(&id) {
                outside.clone()
            } else {
                inside.clone()
            };
            let mut rules = self.node(id)?.faults;
            rules.cut = cut;
            self.set_faults(id, rules)?;
        }
        Ok(())
    }

    /// Removes every fault rule.
    pub fn heal(&self) -> Result<(), SupervisorError> {
        for id in self.ids() {
            self.set_faults(id, FaultRules::default())?;
        }
        Ok(())
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
        self.wait_slot(timeout, "nodes to be ready", |slots| {
            slots
                .values()
                .all(|s| s.ready || s.status != NodeStatus::Running)
        })?;
        // A node that died while starting is an error worth naming.
        let slots = self.lock();
        if let Some(s) = slots.values().find(|s| s.status == NodeStatus::Exited) {
            let last = last_log_line(&self.inner.run_dir, s.spec.id);
            return Err(SupervisorError::Spawn {
                id: s.spec.id,
                msg: format!(
                    "exited while starting{}",
                    last.map(|l| format!(": {l}")).unwrap_or_default()
                ),
            });
        }
        Ok(())
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

fn write_command(slot: &mut Slot, cmd: &ControlCommand) {
    let Some(stdin) = slot.stdin.as_mut() else {
        return;
    };
    let Ok(mut line) = serde_json::to_string(cmd) else {
        return;
    };
    line.push('\n');
    // A paused node cannot read: the pipe buffer (64 KiB) absorbs commands meanwhile. A dead
    // node's pipe errors; the waiter thread will record its exit.
    let _ = stdin.write_all(line.as_bytes()).and_then(|_| stdin.flush());
}

fn spawn_thread(name: String, f: impl FnOnce() + Send + 'static) {
    let _ = std::thread::Builder::new().name(name).spawn(f);
}

fn open_log(path: &Path) -> Option<File> {
    OpenOptions::new().create(true).append(true).open(path).ok()
}

fn log_line(file: &mut Option<File>, level: &str, msg: &str) {
    if let Some(f) = file.as_mut() {
        let _ = writeln!(f, "{} {level:<5} {msg}", now_ms());
    }
}

/// The last line a node wrote to its log file (for error messages).
pub fn last_log_line(run_dir: &Path, id: u64) -> Option<String> {
    let text = fs::read_to_string(run_dir.join(format!("node-{id}.log"))).ok()?;
    text.lines().last().map(|l| l.to_string())
}

const MAX_EVENT_LINE: u64 = 1 << 20;

/// Calls `f` with each line of `r` (bounded to [`MAX_EVENT_LINE`] bytes, decoded lossily,
/// trailing whitespace trimmed) until end of stream, an error, or `f` returning false.
fn for_each_line(r: impl Read, mut f: impl FnMut(&str) -> bool) {
    let mut reader = BufReader::new(r);
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut reader)
            .take(MAX_EVENT_LINE)
            .read_until(b'\n', &mut line)
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if !f(String::from_utf8_lossy(&line).trim_end()) {
            return;
        }
    }
}

fn read_stdout(weak: WeakSupervisor, id: u64, incarnation: u64, stdout: impl Read, log: &Path) {
    let mut file = open_log(log);
    for_each_line(stdout, |text| {
        let event = match serde_json::from_str::<NodeEvent>(text) {
            Ok(ev) => ev,
            Err(_) => NodeEvent::Log {
                level: "stdout".into(),
                msg: text.to_string(),
            },
        };
        match &event {
            NodeEvent::Log { level, msg } => log_line(&mut file, level, msg),
            NodeEvent::Fatal { msg } => log_line(&mut file, "fatal", msg),
            NodeEvent::Ready { addr, .. } => {
                log_line(&mut file, "info", &format!("ready on {addr}"))
            }
            _ => {}
        }
        let Some(sup) = weak.upgrade() else {
            return false;
        };
        {
            let mut slots = sup.lock();
            if let Some(slot) = slots.get_mut(&id).filter(|s| s.incarnation == incarnation) {
                match &event {
                    NodeEvent::Ready { http, .. } => {
                        slot.ready = true;
                        slot.http = http.clone();
                        sup.write_cluster_file(&slots);
                    }
                    NodeEvent::State { fields } => {
                        for (k, v) in fields {
                            slot.state.insert(k.clone(), v.clone());
                        }
                        slot.state_seq += 1;
                    }
                    _ => {}
                }
            }
        }
        sup.publish(id, SupEventKind::Node { event });
        sup.inner.changed.notify_all();
        true
    });
}

fn read_stderr(weak: WeakSupervisor, id: u64, stderr: impl Read, log: &Path) {
    let mut file = open_log(log);
    for_each_line(stderr, |text| {
        log_line(&mut file, "stderr", text);
        let Some(sup) = weak.upgrade() else {
            return false;
        };
        sup.publish(
            id,
            SupEventKind::Stderr {
                line: text.to_string(),
            },
        );
        true
    });
}

fn wait_child(
    weak: WeakSupervisor,
    id: u64,
    incarnation: u64,
    mut child: Child,
    stdout_reader: Option<std::thread::JoinHandle<()>>,
) {
    use std::os::unix::process::ExitStatusExt;
    let status = child.wait();
    // Let the reader drain the node's last words (a fatal error, say) before the exit is
    // recorded, so whoever waits on the exit can quote them.
    if let Some(reader) = stdout_reader {
        let _ = reader.join();
    }
    let Some(sup) = weak.upgrade() else { return };
    let (code, signal) = match &status {
        Ok(s) => (s.code(), s.signal()),
        Err(_) => (None, None),
    };
    {
        let mut slots = sup.lock();
        if let Some(slot) = slots.get_mut(&id)
            && slot.retiring.iter().any(|r| r.incarnation == incarnation)
        {
            slot.retiring.retain(|r| r.incarnation != incarnation);
        } else if let Some(slot) = slots.get_mut(&id).filter(|s| s.incarnation == incarnation) {
            slot.status = if slot.kill_requested {
                NodeStatus::Killed
            } else {
                NodeStatus::Exited
            };
            slot.stdin = None;
            slot.ready = false;
            slot.sample = None;
            slot.cpu_percent = 0.0;
            sup.write_cluster_file(&slots);
        }
    }
    sup.publish(id, SupEventKind::Exited { code, signal });
    sup.inner.changed.notify_all();
}

#[cfg(test)]
mod node_exe_tests {
    use super::node_exe;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_dedicated_executable_beside_the_main_one_runs_its_role() {
        let dir = tempfile::tempdir().expect("tempdir");
        let exe = dir.path().join("wirelab");
        std::fs::write(&exe, b"").expect("write");
        assert_eq!(
            node_exe(&exe, "p2p-peer"),
            exe,
            "no dedicated one: the main one"
        );
        let peer = dir.path().join("wirelab-p2p-peer");
        std::fs::write(&peer, b"").expect("write");
        std::fs::set_permissions(&peer, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert_eq!(node_exe(&exe, "p2p-peer"), exe, "not executable: ignored");
        std::fs::set_permissions(&peer, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        assert_eq!(node_exe(&exe, "p2p-peer"), peer);
        assert_eq!(node_exe(&exe, "raft"), exe, "other roles keep the main one");
    }
}
