//! The Raft lab's definition: `labs/raft/lab.toml` (embedded) and the node specs it turns into.

use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;

use crate::cluster::{self, NodeSpec, Supervisor, SupervisorError};

/// The text of `labs/raft/lab.toml`, as built into the binary.
pub const LAB_TOML: &str = include_str!("../../labs/raft/lab.toml");

/// The parsed lab file.
#[derive(Clone, Debug, Deserialize)]
pub struct LabConfig {
    /// `[lab]`.
    pub lab: LabInfo,
    /// `[topology]`.
    pub topology: Topology,
    /// `[timing]`.
    pub timing: Timing,
    /// `[log]`.
    pub log: LogConfig,
}

/// `[lab]`: names.
#[derive(Clone, Debug, Deserialize)]
pub struct LabInfo {
    /// Short name.
    pub name: String,
    /// One-line title.
    pub title: String,
}

/// `[topology]`.
#[derive(Clone, Debug, Deserialize)]
pub struct Topology {
    /// Number of nodes.
    pub nodes: usize,
}

/// `[timing]`.
#[derive(Clone, Debug, Deserialize)]
pub struct Timing {
    /// Logical clock period.
    pub tick_ms: u64,
    /// Minimum election timeout.
    pub election_ms: u64,
    /// Heartbeat interval.
    pub heartbeat_ms: u64,
}

/// `[log]`.
#[derive(Clone, Debug, Deserialize)]
pub struct LogConfig {
    /// Snapshot threshold in entries.
    pub snapshot_entries: u64,
    /// Entries per AppendEntries.
    pub max_append_entries: usize,
    /// Pipelined AppendEntries per follower.
    pub max_inflight: usize,
}

impl LabConfig {
    /// The built-in configuration.
    pub fn builtin() -> Result<Self, toml::de::Error> {
        toml::from_str(LAB_TOML)
    }
}

fn member_list(addrs: &[SocketAddr]) -> String {
    addrs
        .iter()
        .enumerate()
        .map(|(i, a)| format!("{}={a}", i + 1))
        .collect::<Vec<_>>()
        .join(",")
}

/// Node specs for nodes on the given addresses (node `i + 1` on `addrs[i]`), each with an HTTP
/// gateway on `http[i]` when `http` has an address for it, and the run's PKI folder `pki`
/// (see [`ensure_pki`]).
pub fn node_specs(
    cfg: &LabConfig,
    addrs: &[SocketAddr],
    http: &[SocketAddr],
    pki: &Path,
) -> Vec<NodeSpec> {
    let peers = member_list(addrs);
    let http_peers = member_list(http);
    addrs
        .iter()
        .enumerate()
        .map(|(i, addr)| NodeSpec {
            id: i as u64 + 1,
            role: super::node::ROLE.into(),
            addr: addr.to_string(),
            args: http
                .get(i)
                .map(|h| {
                    vec![
                        "--http".into(),
                        h.to_string(),
                        "--http-peers".into(),
                        http_peers.clone(),
                    ]
                })
                .unwrap_or_default()
                .into_iter()
                .chain([
                    "--listen".into(),
                    addr.to_string(),
                    "--pki".into(),
                    pki.display().to_string(),
                    "--peers".into(),
                    peers.clone(),
                    "--tick-ms".into(),
                    cfg.timing.tick_ms.to_string(),
                    "--election-ms".into(),
                    cfg.timing.election_ms.to_string(),
                    "--heartbeat-ms".into(),
                    cfg.timing.heartbeat_ms.to_string(),
                    "--snapshot-entries".into(),
                    cfg.log.snapshot_entries.to_string(),
                    "--max-append-entries".into(),
                    cfg.log.max_append_entries.to_string(),
                    "--max-inflight".into(),
                    cfg.log.max_inflight.to_string(),
                ])
                .collect(),
        })
        .collect()
}

/// Makes the run's CA and certificates for `nodes` members and the client (once per run dir;
/// kept across restarts), and returns the PKI folder.
pub fn ensure_pki(run_dir: &Path, nodes: usize) -> Result<std::path::PathBuf, SupervisorError> {
    let names: Vec<String> = (1..=nodes as u64)
        .map(crate::wire::pki::node_name)
        .collect();
    crate::wire::pki::ensure(run_dir, "raft", &names)
        .map_err(|e| SupervisorError::Io(format!("cannot make the run's certificates: {e}")))
}

/// Starts (or restarts from disk) a Raft cluster in `run_dir`. When the run dir already holds a
/// `cluster.json`, the same addresses are reused so that the nodes find each other again.
pub fn launch(
    cfg: &LabConfig,
    nodes: usize,
    run_dir: &Path,
    exe: Option<std::path::PathBuf>,
) -> Result<Supervisor, SupervisorError> {
    let bad = |e: std::net::AddrParseError| {
        SupervisorError::Io(format!("bad address in cluster.json: {e}"))
    };
    let (addrs, http): (Vec<SocketAddr>, Vec<SocketAddr>) =
        match cluster::rundir::read_cluster_file(run_dir) {
            Ok(cf) if cf.lab == "raft" && !cf.nodes.is_empty() => {
                let addrs: Vec<SocketAddr> = cf
                    .nodes
                    .iter()
                    .map(|n| n.addr.parse())
                    .collect::<Result<_, _>>()
                    .map_err(bad)?;
                let http = cf
                    .nodes
                    .iter()
                    .filter_map(|n| n.http.as_ref().map(|h| h.parse()))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(bad)?;
                // A run from before gateways existed (or with some missing) gets fresh ones.
                let http = if http.len() == cf.nodes.len() {
                    http
                } else {
                    cluster::free_loopback_addrs(cf.nodes.len())
                        .map_err(|e| SupervisorError::Io(format!("cannot allocate ports: {e}")))?
                };
                // Keep them from other programs while the nodes are down.
                cluster::reserve_ports(&addrs);
                cluster::reserve_ports(&http);
                (addrs, http)
            }
            _ => {
                let mut all = cluster::free_loopback_addrs(nodes * 2)
                    .map_err(|e| SupervisorError::Io(format!("cannot allocate ports: {e}")))?;
                let http = all.split_off(nodes);
                (all, http)
            }
        };
    let pki = ensure_pki(run_dir, addrs.len())?;
    let specs = node_specs(cfg, &addrs, &http, &pki);
    match exe {
        Some(exe) => Supervisor::launch_with_exe("raft", run_dir, specs, exe),
        None => Supervisor::launch("raft", run_dir, specs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_lab_file_parses_with_three_nodes() {
        let cfg = LabConfig::builtin().unwrap();
        assert_eq!(cfg.topology.nodes, 3);
        assert!(cfg.timing.heartbeat_ms < cfg.timing.election_ms);
        let addrs: Vec<SocketAddr> = vec![
            "127.0.0.1:1".parse().unwrap(),
            "127.0.0.1:2".parse().unwrap(),
        ];
        let http: Vec<SocketAddr> = vec![
            "127.0.0.1:3".parse().unwrap(),
            "127.0.0.1:4".parse().unwrap(),
        ];
        let specs = node_specs(&cfg, &addrs, &http, Path::new("/run/pki"));
        assert_eq!(specs.len(), 2);
        let has = |i: usize, s: &str| specs[i].args.iter().any(|a| a == s);
        assert!(has(1, "1=127.0.0.1:1,2=127.0.0.1:2"));
        assert!(has(1, "127.0.0.1:4"));
        assert!(has(0, "1=127.0.0.1:3,2=127.0.0.1:4"));
    }
}
