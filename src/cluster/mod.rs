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
//!
//! No node outlives its supervisor: each node exits when its stdin closes, and is also armed with
//! `PR_SET_PDEATHSIG(SIGKILL)`, so even a supervisor killed with SIGKILL takes its nodes with it.

pub mod control;
pub mod event;
pub mod foreground;
pub mod procstat;
pub mod rundir;
pub mod supervisor;

pub use event::{ControlCommand, NodeEvent};
pub use rundir::{ClusterFile, ClusterNode};
pub use supervisor::{
    NodeInfo, NodeSpec, NodeStatus, SupEvent, SupEventKind, Supervisor, SupervisorError,
};

use std::net::{SocketAddr, TcpListener};

/// Picks `n` distinct free loopback ports for nodes to bind.
///
/// The port is released before the node binds it, so someone else could take it in between.
/// To make that unlikely, ports are drawn at random *below* the kernel's ephemeral range
/// (`/proc/sys/net/ipv4/ip_local_port_range`): outgoing connections and `bind(0)` never take
/// those, so a busy machine's own traffic cannot steal them. A candidate is used only if it can
/// be bound now, and a port handed out by this process is not handed out again for a while
/// (tests run clusters side by side in one process). Without room below the range, falls back
/// to `bind(0)`. If a port is taken anyway, the node fails with a clear "address in use" error
/// naming it.
pub fn free_loopback_addrs(n: usize) -> std::io::Result<Vec<SocketAddr>> {
    use rand::Rng;
    use std::collections::VecDeque;
    use std::sync::Mutex;
    /// Ports handed out recently by this process, oldest first.
    static RECENT: Mutex<VecDeque<u16>> = Mutex::new(VecDeque::new());
    const RECENT_CAP: usize = 4096;
    const LOWEST: u16 = 10_000;

    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    let mut recent = RECENT.lock().unwrap_or_else(|p| p.into_inner());
    let mut held: Vec<TcpListener> = Vec::with_capacity(n);
    let mut rng = rand::rng();
    let mut attempts = 0;
    while held.len() < n {
        let listener = if ephemeral_low > LOWEST + 1_000 && attempts < 64 * n.max(1) {
            attempts += 1;
            let port = rng.random_range(LOWEST..ephemeral_low);
            if recent.contains(&port) {
                continue;
            }
            match TcpListener::bind(("127.0.0.1", port)) {
                Ok(l) => l,
                Err(_) => continue,
            }
        } else {
            TcpListener::bind("127.0.0.1:0")?
        };
        let port = listener.local_addr()?.port();
        if held
            .iter()
            .any(|l| l.local_addr().ok().map(|a| a.port()) == Some(port))
        {
            continue;
        }
        held.push(listener);
    }
    let addrs: Vec<SocketAddr> = held
        .iter()
        .map(|l| l.local_addr())
        .collect::<Result<_, _>>()?;
    for a in &addrs {
        if recent.len() >= RECENT_CAP {
            recent.pop_front();
        }
        recent.push_back(a.port());
    }
    Ok(addrs)
}

#[cfg(test)]
mod port_tests {
    use super::*;

    #[test]
    fn free_ports_are_distinct_bindable_outside_the_ephemeral_range_and_not_reused() {
        let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
            .unwrap_or(32_768);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..20 {
            let addrs = free_loopback_addrs(5).expect("ports");
            assert_eq!(addrs.len(), 5);
            for a in &addrs {
                assert!(a.ip().is_loopback());
                assert!(seen.insert(a.port()), "port {} handed out twice", a.port());
                if low > 11_000 {
                    assert!(a.port() < low, "{a} is in the ephemeral range");
                }
                TcpListener::bind(a).expect("the port is free");
            }
        }
    }
}
