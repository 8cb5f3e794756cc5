//! Real Raft clusters of the built binary in temp dirs, and waiting on them.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use wirelab::cluster::{NodeInfo, Supervisor};
use wirelab::raft::cli::current_leader;
use wirelab::raft::client::{Client, ClientAuth, ClientOptions};
use wirelab::raft::lab::{self, LabConfig};

/// Path of the built `wirelab` binary.
pub fn exe() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_BIN_EXE_wirelab"))
}

/// Starts a Raft cluster of the built binary in `dir` with the lab defaults, optionally
/// adjusted, and waits for a leader.
pub fn raft_cluster(dir: &Path, tweak: impl FnOnce(&mut LabConfig)) -> Supervisor {
    let mut cfg = LabConfig::builtin().expect("lab.toml");
    tweak(&mut cfg);
    let sup = lab::launch(&cfg, cfg.topology.nodes, dir, Some(exe())).expect("launch");
    sup.wait_ready(Duration::from_secs(20)).expect("ready");
    wait_leader(&sup);
    sup
}

/// Waits for a leader among the running nodes and returns its id.
pub fn wait_leader(sup: &Supervisor) -> u64 {
    sup.wait_until(Duration::from_secs(20), "a leader", |n| {
        current_leader(n).is_some()
    })
    .expect("leader");
    current_leader(&sup.nodes()).expect("leader")
}

/// Waits until `pred` holds over the nodes.
pub fn wait_nodes(sup: &Supervisor, what: &str, pred: impl Fn(&[NodeInfo]) -> bool) {
    sup.wait_until(Duration::from_secs(30), what, pred)
        .unwrap_or_else(|e| panic!("{e}"));
}

/// The cluster's client addresses.
pub fn addrs(sup: &Supervisor) -> Vec<(u64, SocketAddr)> {
    sup.nodes()
        .iter()
        .map(|n| (n.id, n.addr.parse().expect("addr")))
        .collect()
}

/// The run's client credentials.
pub fn auth(sup: &Supervisor) -> ClientAuth {
    ClientAuth::of_run(sup.run_dir()).expect("the run's client certificate")
}

/// A client with a generous deadline.
pub fn client(sup: &Supervisor) -> Client {
    Client::new(
        addrs(sup),
        auth(sup),
        ClientOptions {
            deadline: Duration::from_secs(15),
            attempt_timeout: Duration::from_millis(500),
        },
    )
}

/// A current-thread runtime for driving clients.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Whether a process exists.
pub fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false)
}

/// Polls `cond` every 10 ms until it holds or `timeout` passes.
pub fn wait_for(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}
