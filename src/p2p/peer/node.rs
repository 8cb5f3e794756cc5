//! A peer process of the lab: `wirelab node p2p-peer --id N --data-dir DIR --listen ADDR
//! --torrent T [--file F --register]`. It downloads into its data dir (or seeds `--file`),
//! keeps seeding once complete, and reports its progress as `state` events.
//!
//! A state event carries the counters of [`Progress`], the piece bitfield in hex (`bitfield`,
//! BitTorrent bit order, at most one bit per piece), download and upload rates in bytes/s,
//! and `verified_at_start` (the pieces that re-verified on disk when the process started: a
//! restarted leecher resumes from them). It is sent when something changed, at most
//! 4 times a second, and at least every 2 s. Notable changes are also logged: the resume, a
//! bad piece, a peer dropped, a tracker failover, completion.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::swarm::{Progress, Swarm, SwarmConfig};
use crate::cluster::event::{ControlCommand, Emitter, NodeEvent, watch_stdin};
use crate::p2p::torrent::Torrent;

/// The role's name: the supervisor starts this node as `wirelab node p2p-peer …`.
pub const ROLE: &str = "p2p-peer";

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
    /// Bytes of piece data sent per second, over all connections (0: unlimited).
    #[arg(long, default_value_t = 0)]
    pub upload_limit: u64,
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
            upload_limit: a.upload_limit,
        })
        .await?;
        emitter.emit(&NodeEvent::Ready {
            addr: swarm.addr().to_string(),
            http: None,
        });
        let mut reporter = Reporter::new(if seeding { "seeder" } else { "leecher" });
        loop {
            let p = swarm.progress();
            let (bits, _) = swarm.have_bytes();
            let (logs, state) = reporter.observe(&p, &bits, Instant::now());
            for msg in logs {
                emitter.log("info", msg);
            }
            if let Some(fields) = state {
                emitter.emit(&NodeEvent::State { fields });
            }
            tokio::time::sleep(REPORT_EVERY).await;
        }
        #[allow(unreachable_code)]
        Ok::<(), super::swarm::PeerError>(())
    });
    match result {
        Ok(()) => 0,
        Err(e) => fatal(e.to_string()),
    }
}

/// How often the peer looks at its progress (so at most 4 state events a second).
pub const REPORT_EVERY: Duration = Duration::from_millis(250);
/// A state event is repeated at least this often even when nothing changed.
pub const HEARTBEAT: Duration = Duration::from_secs(2);

/// Turns successive progress snapshots into state events (on change, throttled) and log lines
/// for the changes a person wants to see.
#[derive(Debug)]
pub struct Reporter {
    role: &'static str,
    last: Option<(Progress, Instant)>,
    last_fields: Option<Map<String, Value>>,
    last_sent: Option<Instant>,
    verified_at_start: Option<u32>,
    complete_logged: bool,
}

impl Reporter {
    /// A reporter for a peer in `role` (`seeder` or `leecher`).
    pub fn new(role: &'static str) -> Self {
        Self {
            role,
            last: None,
            last_fields: None,
            last_sent: None,
            verified_at_start: None,
            complete_logged: false,
        }
    }

    /// Looks at a snapshot taken at `now` with the held pieces `bits`; returns the log lines
    /// to write and the state to emit, if one is due.
    pub fn observe(
        &mut self,
        p: &Progress,
        bits: &[u8],
        now: Instant,
    ) -> (Vec<String>, Option<Map<String, Value>>) {
        let mut logs = Vec::new();
        let start = *self.verified_at_start.get_or_insert_with(|| {
            if p.have > 0 && p.have < p.pieces {
                logs.push(format!(
                    "resumed from {} of {} pieces verified on disk",
                    p.have, p.pieces
                ));
            }
            p.have
        });
        let (down_rate, up_rate) = match &self.last {
            Some((prev, at)) => {
                let secs = now.saturating_duration_since(*at).as_secs_f64().max(0.001);
                (
                    (p.downloaded.saturating_sub(prev.downloaded) as f64 / secs) as u64,
                    (p.uploaded.saturating_sub(prev.uploaded) as f64 / secs) as u64,
                )
            }
            None => (0, 0),
        };
        if let Some((prev, _)) = &self.last {
            if p.bad_pieces > prev.bad_pieces {
                logs.push(format!(
                    "bad piece detected by SHA-1 ({} so far)",
                    p.bad_pieces
                ));
            }
            if p.banned > prev.banned {
                logs.push(format!(
                    "dropped a peer that sent bad pieces ({} banned)",
                    p.banned
                ));
            }
            match (prev.tracker, p.tracker) {
                (Some(a), Some(b)) if a != b => {
                    logs.push(format!("failed over from tracker {a} to tracker {b}"))
                }
                (None, Some(b)) => logs.push(format!("using tracker {b}")),
                _ => {}
            }
        }
        let complete = p.have == p.pieces;
        if complete && !self.complete_logged {
            logs.push(format!("complete and verified: {} pieces", p.pieces));
            self.complete_logged = true;
        }
        let mut fields = match serde_json::to_value(p) {
            Ok(Value::Object(o)) => o,
            _ => Map::new(),
        };
        fields.insert("role".into(), json!(self.role));
        fields.insert("complete".into(), json!(complete));
        fields.insert("verified_at_start".into(), json!(start));
        let max_bytes = (p.pieces as usize).div_ceil(8);
        fields.insert(
            "bitfield".into(),
            json!(crate::p2p::torrent::hex(&bits[..bits.len().min(max_bytes)])),
        );
        fields.insert("down_rate".into(), json!(down_rate));
        fields.insert("up_rate".into(), json!(up_rate));
        self.last = Some((p.clone(), now));
        let due = self.last_fields.as_ref() != Some(&fields)
            || self
                .last_sent
                .is_none_or(|t| now.saturating_duration_since(t) >= HEARTBEAT);
        if !due {
            return (logs, None);
        }
        self.last_sent = Some(now);
        self.last_fields = Some(fields.clone());
        (logs, Some(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(have: u32, downloaded: u64, bad: u64, tracker: Option<u64>) -> Progress {
        Progress {
            have,
            pieces: 10,
            downloaded,
            bad_pieces: bad,
            tracker,
            ..Progress::default()
        }
    }

    #[test]
    fn reports_changes_with_rates_and_logs_what_matters() {
        let mut r = Reporter::new("leecher");
        let t0 = Instant::now();
        let (logs, state) = r.observe(&progress(3, 0, 0, Some(1)), &[0xe0, 0x00], t0);
        assert_eq!(logs, vec!["resumed from 3 of 10 pieces verified on disk"]);
        let state = state.expect("first snapshot is reported");
        assert_eq!(state["bitfield"], "e000");
        assert_eq!(state["verified_at_start"], 3);
        // Nothing changed and the heartbeat is not due: nothing to send.
        let (_, again) = r.observe(&progress(3, 0, 0, Some(1)), &[0xe0, 0x00], t0);
        assert!(again.is_none());
        let t1 = t0 + Duration::from_millis(500);
        let (logs, state) = r.observe(&progress(10, 1000, 1, Some(2)), &[0xff, 0xc0], t1);
        assert_eq!(
            logs,
            vec![
                "bad piece detected by SHA-1 (1 so far)",
                "failed over from tracker 1 to tracker 2",
                "complete and verified: 10 pieces"
            ]
        );
        let state = state.expect("a change is reported");
        assert_eq!(state["down_rate"], 2000);
        assert_eq!(state["complete"], true);
        let (_, beat) = r.observe(
            &progress(10, 1000, 1, Some(2)),
            &[0xff, 0xc0],
            t1 + HEARTBEAT,
        );
        assert!(beat.is_some(), "the heartbeat repeats the state");
    }
}
