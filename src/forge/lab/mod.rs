//! The forge lab: forge's demo app under load, attacked and reloaded, as real processes under
//! the same [`Supervisor`] as every other lab.
//!
//! Node 1 is a `forge-server` ([`server_node`]): the demo app of `wirelab forge serve` on a port
//! bound with `SO_REUSEPORT`, reporting requests by status and open connections. Node 2 is a
//! `forge-load` ([`load_node`]): keep-alive HTTP/1.1 clients against node 1, started and stopped
//! by `{"cmd":"lab","action":"start"|"stop"}` and reporting req/s, p50/p99 latency, status codes
//! and errors every 250 ms. The actions run from [`cli`]: `forge slowloris` and `forge smuggle`
//! attack the server from the CLI process ([`attacks`]); `forge reload` asks the supervisor to
//! replace node 1 by a new process on the same port and reads the load node's counters to show
//! that no request failed.
//!
//! - [`load`]: the load generator engine (connections, latency histogram, counters).
//! - [`server_node`] / [`load_node`]: the two node roles.
//! - [`attacks`]: slowloris and CL.TE smuggling clients.
//! - [`cli`]: [`cli::ForgeLab`], the lab contract, and its own verbs `load|slowloris|smuggle|
//!   reload` (the common ones, `up`, `status`, `kill`…, are the lab layer's).

pub mod attacks;
pub mod bench;
pub mod cli;
pub mod load;
pub mod load_node;
pub mod server_node;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::cluster::{self, NodeSpec, Supervisor, SupervisorError};

/// The text of `labs/forge/lab.toml`, as built into the binary.
pub const LAB_TOML: &str = include_str!("../../../labs/forge/lab.toml");

/// Node id of the server.
pub const SERVER: u64 = 1;
/// Node id of the load generator.
pub const LOAD: u64 = 2;

/// The parsed lab file.
#[derive(Clone, Debug, Deserialize)]
pub struct LabConfig {
    /// `[lab]`.
    pub lab: LabInfo,
    /// `[server]`.
    pub server: ServerConfig,
    /// `[load]`.
    pub load: LoadConfig,
}

/// `[lab]`: names.
#[derive(Clone, Debug, Deserialize)]
pub struct LabInfo {
    /// Short name.
    pub name: String,
    /// One-line title.
    pub title: String,
}

/// `[server]`.
#[derive(Clone, Debug, Deserialize)]
pub struct ServerConfig {
    /// Header read timeout (slowloris guard).
    pub header_timeout_ms: u64,
    /// Lame-duck time of idle keep-alive connections on shutdown.
    pub drain_idle_ms: u64,
    /// Grace period of in-flight requests on shutdown.
    pub grace_ms: u64,
    /// Most concurrent connections.
    pub max_connections: usize,
}

/// `[load]`.
#[derive(Clone, Debug, Deserialize)]
pub struct LoadConfig {
    /// Default connection count.
    pub connections: usize,
    /// Request path.
    pub path: String,
    /// Metrics event period.
    pub report_ms: u64,
}

impl LabConfig {
    /// The built-in configuration.
    pub fn builtin() -> Result<Self, toml::de::Error> {
        toml::from_str(LAB_TOML)
    }
}

/// The node specs: the server on `server_addr`, the load generator aimed at it.
pub fn node_specs(cfg: &LabConfig, server_addr: SocketAddr) -> Vec<NodeSpec> {
    let s = &cfg.server;
    let l = &cfg.load;
    vec![
        NodeSpec {
            id: SERVER,
            role: server_node::ROLE.into(),
            addr: server_addr.to_string(),
            args: vec![
                "--listen".into(),
                server_addr.to_string(),
                "--header-timeout-ms".into(),
                s.header_timeout_ms.to_string(),
                "--drain-idle-ms".into(),
                s.drain_idle_ms.to_string(),
                "--grace-ms".into(),
                s.grace_ms.to_string(),
                "--max-connections".into(),
                s.max_connections.to_string(),
            ],
        },
        NodeSpec {
            id: LOAD,
            role: load_node::ROLE.into(),
            addr: "-".into(),
            args: vec![
                "--target".into(),
                server_addr.to_string(),
                "--path".into(),
                l.path.clone(),
                "--report-ms".into(),
                l.report_ms.to_string(),
            ],
        },
    ]
}

/// Starts the lab in `run_dir` (reusing the server's port when the run dir already holds a
/// forge `cluster.json`) and returns its supervisor; the caller waits for readiness.
pub fn launch(
    cfg: &LabConfig,
    run_dir: &Path,
    exe: Option<PathBuf>,
) -> Result<Supervisor, SupervisorError> {
    let previous = cluster::rundir::read_cluster_file(run_dir)
        .ok()
        .filter(|cf| cf.lab == "forge")
        .and_then(|cf| cf.nodes.iter().find(|n| n.id == SERVER)?.addr.parse().ok());
    let addr = match previous {
        Some(a) => a,
        None => cluster::free_loopback_addrs(1)
            .map_err(|e| SupervisorError::Io(format!("cannot allocate a port: {e}")))?
            .first()
            .copied()
            .ok_or_else(|| SupervisorError::Io("cannot allocate a port".into()))?,
    };
    let specs = node_specs(cfg, addr);
    match exe {
        Some(exe) => Supervisor::launch_with_exe("forge", run_dir, specs, exe),
        None => Supervisor::launch("forge", run_dir, specs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_lab_file_gives_a_server_and_a_load_node_aimed_at_it() {
        let cfg = LabConfig::builtin().unwrap();
        let specs = node_specs(&cfg, "127.0.0.1:4242".parse().unwrap());
        assert_eq!(specs.len(), 2);
        assert_eq!(
            (specs[0].id, specs[0].role.as_str()),
            (SERVER, "forge-server")
        );
        assert_eq!((specs[1].id, specs[1].role.as_str()), (LOAD, "forge-load"));
        assert!(specs[1].args.iter().any(|a| a == "127.0.0.1:4242"));
        assert!(cfg.load.connections > 0 && cfg.server.header_timeout_ms > 0);
    }
}
