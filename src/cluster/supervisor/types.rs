//! The supervisor's public types: how a lab describes a node, what the supervisor reports.

use super::*;

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
