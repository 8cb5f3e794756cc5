//! A peer process of the lab: `wirelab node p2p-peer --id N --data-dir DIR --listen ADDR
//! --torrent T [--file F --register]`. It downloads into its data dir (or seeds `--file`),
//! keeps seeding once complete, and reports its progress as `state` events.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::swarm::{Swarm, SwarmConfig};
use crate::cluster::event::{ControlCommand, Emitter, NodeEvent, watch_stdin};
use crate::p2p::torrent::Torrent;

/// Arguments of a peer node.
#[derive(Debug, clap::Args)]
pub struct PeerNodeArgs {
    /// Node id.
    #[arg(long)]
    pub id: u64,
    /// Data dir.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Peer-wire listen address.
    #[arg(long)]
    pub listen: SocketAddr,
    /// The .torrent.
    #[arg(long)]
    pub torrent: PathBuf,
    /// The file (default: DATA_DIR/NAME).
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// Register the torrent with the trackers.
    #[arg(long)]
    pub register: bool,
    /// Pieces in progress at once.
    #[arg(long, default_value_t = 4)]
    pub max_active: usize,
}

/// Runs a peer node; returns the exit code.
pub fn run_cli(a: PeerNodeArgs) -> i32 {
    let emitter = Arc::new(Emitter::new());
    let fatal = |msg: String| {
        Emitter::new().emit(&NodeEvent::Fatal { msg });
        2
    };
    let torrent = match Torrent::load(&a.torrent) {
        Ok(t) => Arc::new(t),
        Err(e) => return fatal(e.to_string()),
    };
    let trackers: Vec<SocketAddr> = torrent.rpc.iter().filter_map(|s| s.parse().ok()).collect();
    let path = a
        .file
        .clone()
        .unwrap_or_else(|| a.data_dir.join(&torrent.name));
    // One thread does it all: a peer is I/O-bound, and every thread costs a stack and an arena.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fatal(e.to_string()),
    };
    let em = emitter.clone();
    if let Err(e) = watch_stdin(
        |cmd| {
            if cmd == ControlCommand::Shutdown {
                std::process::exit(0)
            }
        },
        move |e| em.log("warn", e),
    ) {
        return fatal(e.to_string());
    }
    let seeding = a.register;
    let result = rt.block_on(async move {
        let swarm = Swarm::start(SwarmConfig {
            torrent,
            path,
            listen: a.listen,
            trackers,
            register: a.register,
            max_active: a.max_active,
        })
        .await?;
        emitter.emit(&NodeEvent::Ready {
            addr: swarm.addr().to_string(),
            http: None,
        });
        let mut done_reported = false;
        loop {
            let p = swarm.progress();
            let complete = p.have == p.pieces;
            if complete && !done_reported {
                emitter.log(
                    "info",
                    format!("complete and verified: {} pieces", p.pieces),
                );
                done_reported = true;
            }
            let mut fields = serde_json::to_value(&p).unwrap_or_default();
            if let Some(o) = fields.as_object_mut() {
                o.insert(
                    "role".into(),
                    json!(if seeding { "seeder" } else { "leecher" }),
                );
                o.insert("complete".into(), json!(complete));
            }
            emitter.emit(&NodeEvent::State {
                fields: fields.as_object().cloned().unwrap_or_default(),
            });
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        #[allow(unreachable_code)]
        Ok::<(), super::swarm::PeerError>(())
    });
    match result {
        Ok(()) => 0,
        Err(e) => fatal(e.to_string()),
    }
}
