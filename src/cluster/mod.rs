//! The lab-agnostic supervisor: real processes, real signals, real sockets.
//!
//! A lab describes its members as [`NodeSpec`]s; the [`Supervisor`] spawns each one as the same
//! executable re-invoked (`wirelab node <role> …`) with its own data dir inside a run dir, reads
//! the JSON-line [`NodeEvent`]s it prints on stdout, writes JSON-line [`ControlCommand`]s to its
//! stdin, and kills (SIGKILL), pauses (SIGSTOP), resumes (SIGCONT) and restarts it on the same data
//! dir. Nothing is simulated: a killed node is a dead process and recovers only from its disk.
//!
//! - [`event`]: the node ↔ supervisor protocol (events up, control commands down) and the
//!   node-side helpers ([`event::Emitter`], [`event::watch_stdin`]).
//! - [`supervisor`]: spawning, signals, event fan-out, `cluster.json`.
//! - [`foreground`]: a supervisor in the foreground (`raft up`, `p2p up`) and the one-line
//!   descriptions of node events.
//! - [`rundir`]: where runs live (`$XDG_STATE_HOME/wirelab/runs/…`), `cluster.json`, finding the
//!   newest run.
//! - [`control`]: the control socket in the run dir, so another `wirelab` process (a CLI call, a
//!   shell script) can act on a running cluster.
//! - [`procstat`]: RSS and CPU of a process from `/proc`.
//! - [`ports`]: loopback ports for nodes, drawn and held in reserve while the lab lives.
//!
//! No node outlives its supervisor: each node exits when its stdin closes, and is also armed with
//! `PR_SET_PDEATHSIG(SIGKILL)`, so even a supervisor killed with SIGKILL takes its nodes with it.

pub mod control;
pub mod event;
pub mod foreground;
pub mod ports;
pub mod procstat;
pub mod rundir;
pub mod runs;
pub mod supervisor;

pub use event::{ControlCommand, NodeEvent};
pub use rundir::{ClusterFile, ClusterNode};
pub use supervisor::{
    NodeInfo, NodeSpec, NodeStatus, SupEvent, SupEventKind, Supervisor, SupervisorError,
};

pub use ports::{free_loopback_addrs, listen_reserved, reserve_ports};
