//! The P2P lab's definition: `labs/p2p/lab.toml` (embedded), the generated file, its torrent,
//! and the node specs the supervisor spawns: trackers `1..=T`, then seeders, then leechers.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::torrent::Torrent;
use crate::cluster::{self, NodeSpec, Supervisor, SupervisorError};

/// The text of `labs/p2p/lab.toml`, as built into the binary.
pub const LAB_TOML: &str = include_str!("../../labs/p2p/lab.toml");

/// The parsed lab file.
#[derive(Clone, Debug, Deserialize)]
pub struct LabConfig {
    /// `[topology]`.
    pub topology: Topology,
    /// `[file]`.
    pub file: FileConfig,
    /// `[swarm]`.
    pub swarm: SwarmSettings,
}

/// `[topology]`.
#[derive(Clone, Debug, Deserialize)]
pub struct Topology {
    /// Trackers.
    pub trackers: usize,
    /// Seeders.
    pub seeders: usize,
    /// Leechers.
    pub leechers: usize,
}

/// `[file]`.
#[derive(Clone, Debug, Deserialize)]
pub struct FileConfig {
    /// Size of the generated file in MiB.
    pub size_mib: u64,
}

/// `[swarm]`.
#[derive(Clone, Debug, Deserialize)]
pub struct SwarmSettings {
    /// Pieces in progress per peer.
    pub max_active: usize,
    /// Piece data each peer sends per second (`4MiB`; `0`: unlimited).
    #[serde(default)]
    pub upload_limit: Option<String>,
}

impl LabConfig {
    /// The built-in configuration.
    pub fn builtin() -> Result<Self, toml::de::Error> {
        toml::from_str(LAB_TOML)
    }
}

/// Writes `size` bytes of deterministic pseudo-random data to `path`, 1 MiB at a time.
pub fn generate_file(path: &Path, size: u64, seed: u64) -> std::io::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut x = seed | 1;
    let mut chunk = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        for word in chunk.chunks_exact_mut(8) {
            // xorshift64*: fast, and incompressible enough for a transfer test.
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            word.copy_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
        }
        let n = left.min(chunk.len() as u64) as usize;
        f.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    f.flush()
}

/// Tracker node specs: ids `1..=n`, RPC on `rpc[i]`, HTTP announce on `http[i]`.
pub fn tracker_specs(rpc: &[SocketAddr], http: &[SocketAddr]) -> Vec<NodeSpec> {
    let peers = rpc
        .iter()
        .enumerate()
        .map(|(i, a)| format!("{}={a}", i + 1))
        .collect::<Vec<_>>()
        .join(",");
    rpc.iter()
        .zip(http)
        .enumerate()
        .map(|(i, (a, h))| NodeSpec {
            id: i as u64 + 1,
            role: super::tracker::node::ROLE.into(),
            addr: a.to_string(),
            args: vec![
                "--listen".into(),
                a.to_string(),
                "--http".into(),
                h.to_string(),
                "--peers".into(),
                peers.clone(),
            ],
        })
        .collect()
}

/// A peer node spec.
pub fn peer_spec(
    id: u64,
    listen: SocketAddr,
    torrent: &Path,
    seed_file: Option<&Path>,
    max_active: usize,
    upload_limit: u64,
) -> NodeSpec {
    let mut args = vec![
        "--listen".into(),
        listen.to_string(),
        "--torrent".into(),
        torrent.display().to_string(),
        "--max-active".into(),
        max_active.to_string(),
    ];
    if upload_limit > 0 {
        args.extend(["--upload-limit".into(), upload_limit.to_string()]);
    }
    if let Some(f) = seed_file {
        args.extend([
            "--file".into(),
            f.display().to_string(),
            "--register".into(),
        ]);
    }
    NodeSpec {
        id,
        role: super::peer::node::ROLE.into(),
        addr: listen.to_string(),
        args,
    }
}

/// Most trackers a lab runs (each replicates to every other).
pub const MAX_TRACKERS: usize = 5;

/// What to launch.
#[derive(Clone, Debug)]
pub struct LabPlan {
    /// Trackers (nodes `1..=trackers`).
    pub trackers: usize,
    /// Size of the generated file in bytes.
    pub size: u64,
    /// Seeders.
    pub seeders: usize,
    /// Leechers.
    pub leechers: usize,
    /// Pieces in progress per peer.
    pub max_active: usize,
    /// Piece data each peer sends per second; 0 for unlimited.
    pub upload_limit: u64,
}

impl LabPlan {
    /// The plan of the lab file.
    pub fn from_config(cfg: &LabConfig) -> anyhow::Result<LabPlan> {
        let upload_limit = match &cfg.swarm.upload_limit {
            Some(s) => crate::lab::args::parse_size(s)?,
            None => 0,
        };
        let trackers = cfg.topology.trackers;
        if !(1..=MAX_TRACKERS).contains(&trackers) {
            anyhow::bail!(
                "labs/p2p/lab.toml: topology.trackers must be between 1 and {MAX_TRACKERS} (got {trackers})"
            );
        }
        Ok(LabPlan {
            trackers,
            size: cfg.file.size_mib << 20,
            seeders: cfg.seeders(),
            leechers: cfg.topology.leechers,
            max_active: cfg.swarm.max_active,
            upload_limit,
        })
    }
}

impl LabConfig {
    fn seeders(&self) -> usize {
        self.topology.seeders.max(1)
    }
}

/// Starts the whole lab in `run_dir`: generates the file, makes `lab.torrent` listing every
/// tracker, and spawns the trackers (nodes `1..=T`), the seeders and the leechers.
pub fn launch(
    plan: &LabPlan,
    run_dir: &Path,
    exe: Option<PathBuf>,
) -> Result<Supervisor, SupervisorError> {
    let io = |what: &str| {
        let what = what.to_string();
        move |e: std::io::Error| SupervisorError::Io(format!("{what}: {e}"))
    };
    std::fs::create_dir_all(run_dir).map_err(io("run dir"))?;
    let peers = plan.seeders + plan.leechers;
    let trackers = plan.trackers;
    let mut addrs = cluster::free_loopback_addrs(2 * trackers + peers).map_err(io("ports"))?;
    let peer_addrs = addrs.split_off(2 * trackers);
    let http = addrs.split_off(trackers);
    let rpc = addrs;
    let data = run_dir.join("lab-data.bin");
    generate_file(&data, plan.size, 0x5eed).map_err(io("generating the file"))?;
    let bad = |e: super::torrent::TorrentError| SupervisorError::Io(e.to_string());
    let mut t = Torrent::create(
        &data,
        http.iter()
            .map(|h| format!("http://{h}/announce"))
            .collect(),
    )
    .map_err(bad)?;
    t.rpc = rpc.iter().map(|a| a.to_string()).collect();
    let torrent = run_dir.join("lab.torrent");
    std::fs::write(&torrent, t.to_bytes()).map_err(io("writing lab.torrent"))?;
    let mut specs = tracker_specs(&rpc, &http);
    for (i, a) in peer_addrs.iter().enumerate() {
        let id = (trackers + 1 + i) as u64;
        let seed = (i < plan.seeders).then_some(data.as_path());
        specs.push(peer_spec(
            id,
            *a,
            &torrent,
            seed,
            plan.max_active,
            plan.upload_limit,
        ));
    }
    match exe {
        Some(exe) => Supervisor::launch_with_exe("p2p", run_dir, specs, exe),
        None => Supervisor::launch("p2p", run_dir, specs),
    }
}

/// Starts only the trackers (`wirelab p2p trackers`), as many as `labs/p2p/lab.toml` says.
pub fn launch_trackers(
    run_dir: &Path,
    exe: Option<PathBuf>,
) -> Result<Supervisor, SupervisorError> {
    let trackers = LabConfig::builtin()
        .map_err(|e| SupervisorError::Io(format!("labs/p2p/lab.toml: {e}")))?
        .topology
        .trackers
        .clamp(1, MAX_TRACKERS);
    let mut addrs = cluster::free_loopback_addrs(2 * trackers)
        .map_err(|e| SupervisorError::Io(format!("cannot allocate ports: {e}")))?;
    let http = addrs.split_off(trackers);
    let specs = tracker_specs(&addrs, &http);
    match exe {
        Some(exe) => Supervisor::launch_with_exe("p2p", run_dir, specs, exe),
        None => Supervisor::launch("p2p", run_dir, specs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_lab_file_has_two_trackers_one_seeder_four_leechers() {
        let cfg = LabConfig::builtin().unwrap();
        assert_eq!(
            (
                cfg.topology.trackers,
                cfg.topology.seeders,
                cfg.topology.leechers
            ),
            (2, 1, 4)
        );
        let a: Vec<SocketAddr> = vec![
            "127.0.0.1:1".parse().unwrap(),
            "127.0.0.1:2".parse().unwrap(),
        ];
        let h: Vec<SocketAddr> = vec![
            "127.0.0.1:3".parse().unwrap(),
            "127.0.0.1:4".parse().unwrap(),
        ];
        let specs = tracker_specs(&a, &h);
        assert!(
            specs[1]
                .args
                .iter()
                .any(|s| s == "1=127.0.0.1:1,2=127.0.0.1:2")
        );
    }
}
