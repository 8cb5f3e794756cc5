//! The drone-fleet lab on the lab contract: [`UavLab`], its plan (`labs/uav/lab.toml`, saved
//! as `uav.json` in the run dir), key generation at the first `up`, `launch` and the status
//! table. The lab's own verbs are in [`super::verbs`].
//!
//! Nodes: 1 is mission control, 2…N+1 the drones (the node id is the drone id and its MAVLink
//! system id). Files: `node-1/mc.key` and `node-1/registry.json` (mission control's long-term
//! key and its durable registry of drone public keys), `node-K/drone.key` (drone K's key),
//! `mc.pub` (mission control's public key, which every drone is configured with) and
//! `mavlink.key` (the MAVLink signing key); keys are 0600, every write fsync + rename + fsync.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{ArgMatches, Args, Command, FromArgMatches};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::group::SigningKey;
use super::store::{self, Registry, write_atomic};
use crate::cluster::{NodeInfo, NodeSpec, Supervisor};
use crate::lab::{CommonVerb, Lab, Role, TourStep, VerbCtx};

/// The lab's name.
pub const NAME: &str = "uav";
/// The text of `labs/uav/lab.toml`.
pub const LAB_TOML: &str = include_str!("../../labs/uav/lab.toml");
/// Mission control's node id.
pub const MC: u64 = 1;
/// Largest `--drones` (MAVLink system ids are one byte).
pub const MAX_DRONES: usize = 250;

#[derive(Debug, Deserialize)]
struct LabFile {
    lab: LabConfig,
}

#[derive(Debug, Deserialize)]
struct LabConfig {
    drones: usize,
    hold_ms: u64,
    rtl_ms: u64,
    reconnect_ms: u64,
    telem_hz: u32,
    ping_ms: u64,
}

/// `uav up` arguments beyond the common ones.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Number of drones (default from labs/uav/lab.toml: 6).
    #[arg(long)]
    pub drones: Option<usize>,
}

/// The lab's plan, saved in the run dir as `uav.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Plan {
    /// Number of drones.
    pub drones: usize,
    /// Mission control's address (TCP for drones, UDP for MAVLink).
    pub mc: String,
    /// Link lost → hold, ms.
    pub hold_ms: u64,
    /// Link lost → RTL, ms.
    pub rtl_ms: u64,
    /// Link lost → reconnect, ms.
    pub reconnect_ms: u64,
    /// Telemetry rate.
    pub telem_hz: u32,
    /// Keep-alive period.
    pub ping_ms: u64,
}

impl Plan {
    /// Reads `uav.json` of a run dir.
    pub fn load(run_dir: &Path) -> anyhow::Result<Plan> {
        let bytes = store::read_bounded(&run_dir.join("uav.json"))
            .map_err(|e| anyhow::anyhow!("{} has no uav plan: {e}", run_dir.display()))?;
        Ok(serde_json::from_slice(&bytes)?)
    }

    /// Whether `id` is one of the drones.
    pub fn is_drone(&self, id: u64) -> bool {
        id >= 2 && id < 2 + self.drones as u64
    }
}

/// Drone `id`'s key file in a run dir.
pub fn drone_key_file(run_dir: &Path, id: u64) -> PathBuf {
    run_dir.join(format!("node-{id}")).join("drone.key")
}

fn new_plan(up: &UpArgs) -> anyhow::Result<Plan> {
    let cfg: LabFile = toml::from_str(LAB_TOML)?;
    let c = cfg.lab;
    let n = up.drones.unwrap_or(c.drones);
    anyhow::ensure!(
        (1..=MAX_DRONES).contains(&n),
        "--drones must be 1..={MAX_DRONES}"
    );
    Ok(Plan {
        drones: n,
        mc: String::new(),
        hold_ms: c.hold_ms,
        rtl_ms: c.rtl_ms,
        reconnect_ms: c.reconnect_ms,
        telem_hz: c.telem_hz,
        ping_ms: c.ping_ms,
    })
}

/// Generates every key of a new run (in parallel: one full modexp each) and writes them.
fn keygen(run_dir: &Path, drones: usize) -> anyhow::Result<()> {
    let ids: Vec<u64> = (2..2 + drones as u64).collect();
    let mut keys: Vec<(u64, SigningKey)> = Vec::new();
    std::thread::scope(|s| {
        let handles: Vec<_> = ids
            .chunks(ids.len().div_ceil(2).max(1))
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|id| (*id, SigningKey::generate(&mut rand::rng())))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            if let Ok(v) = h.join() {
                keys.extend(v);
            }
        }
    });
    anyhow::ensure!(keys.len() == drones, "key generation failed");
    let mc = SigningKey::generate(&mut rand::rng());
    store::write_signing_key(&run_dir.join("node-1").join("mc.key"), &mc)?;
    write_atomic(
        &run_dir.join("mc.pub"),
        store::hex(&mc.public().to_bytes()).as_bytes(),
    )?;
    let mut reg = Registry::default();
    for (id, k) in &keys {
        store::write_signing_key(&drone_key_file(run_dir, *id), k)?;
        reg.enroll(*id as u32, k.public());
    }
    reg.save(&run_dir.join("node-1").join("registry.json"))?;
    let mav: [u8; 32] = rand::random();
    write_atomic(&run_dir.join("mavlink.key"), store::hex(&mav).as_bytes())?;
    Ok(())
}

/// The drone-fleet lab.
pub struct UavLab;

impl Lab for UavLab {
    fn name(&self) -> &'static str {
        NAME
    }

    fn about(&self) -> &'static str {
        "The drone-fleet lab: mission control and simulated drones on an authenticated, encrypted command link."
    }

    fn noun(&self) -> &'static str {
        "drone fleet"
    }

    fn roles(&self) -> Vec<Role> {
        vec![
            Role::new(
                super::control::ROLE,
                "Mission control.",
                super::control::run_cli,
            ),
            Role::new(
                super::drone::ROLE,
                "A simulated drone.",
                super::drone::run_cli,
            ),
        ]
    }

    fn verb_help(&self, verb: CommonVerb) -> Option<&'static str> {
        match verb {
            CommonVerb::Up => {
                Some("Start mission control (node 1) and the drones (2…) in the foreground")
            }
            CommonVerb::Kill => Some("SIGKILL a node (1 mission control, 2… drones)"),
            CommonVerb::Partition => {
                Some("Cut nodes off from the rest (a drone: its link is lost; 1: every link)")
            }
            _ => None,
        }
    }

    fn own_verbs(&self, cmd: Command) -> Command {
        <super::verbs::UavVerb as clap::Subcommand>::augment_subcommands(cmd)
    }

    fn up_args(&self, up: Command) -> Command {
        UpArgs::augment_args(up)
    }

    fn check_up(&self, up: &ArgMatches) -> anyhow::Result<()> {
        new_plan(&UpArgs::from_arg_matches(up)?).map(|_| ())
    }

    fn readiness(&self) -> crate::lab::Readiness {
        crate::lab::Readiness {
            timeout: std::time::Duration::from_secs(30),
            what: "every node ready",
        }
    }

    fn launch(
        &self,
        up: &ArgMatches,
        run_dir: &Path,
        exe: Option<PathBuf>,
    ) -> anyhow::Result<Supervisor> {
        let plan = match (
            crate::cluster::rundir::read_cluster_file(run_dir),
            Plan::load(run_dir),
        ) {
            (Ok(cf), Ok(plan)) if cf.lab == NAME => {
                let mc: SocketAddr = plan.mc.parse()?;
                crate::cluster::reserve_ports(&[mc]);
                plan
            }
            _ => {
                let mut plan = new_plan(&UpArgs::from_arg_matches(up)?)?;
                std::fs::create_dir_all(run_dir)?;
                keygen(run_dir, plan.drones)?;
                plan.mc = crate::cluster::free_loopback_addrs(1)?[0].to_string();
                write_atomic(
                    &run_dir.join("uav.json"),
                    &serde_json::to_vec_pretty(&plan)?,
                )?;
                plan
            }
        };
        let mut specs = vec![NodeSpec {
            id: MC,
            role: super::control::ROLE.into(),
            addr: plan.mc.clone(),
            args: vec![
                "--listen".into(),
                plan.mc.clone(),
                "--mavlink-key-file".into(),
                run_dir.join("mavlink.key").display().to_string(),
                "--fleet".into(),
                plan.drones.to_string(),
                "--ping-ms".into(),
                plan.ping_ms.to_string(),
            ],
        }];
        for k in 0..plan.drones as u64 {
            let id = k + 2;
            specs.push(NodeSpec {
                id,
                role: super::drone::ROLE.into(),
                addr: format!("d{id}→{}", plan.mc),
                args: vec![
                    "--mc".into(),
                    plan.mc.clone(),
                    "--mc-pub-file".into(),
                    run_dir.join("mc.pub").display().to_string(),
                    "--slot".into(),
                    k.to_string(),
                    "--hold-ms".into(),
                    plan.hold_ms.to_string(),
                    "--rtl-ms".into(),
                    plan.rtl_ms.to_string(),
                    "--reconnect-ms".into(),
                    plan.reconnect_ms.to_string(),
                    "--telem-hz".into(),
                    plan.telem_hz.to_string(),
                ],
            });
        }
        Ok(match exe {
            Some(exe) => Supervisor::launch_with_exe(NAME, run_dir, specs, exe)?,
            None => Supervisor::launch(NAME, run_dir, specs)?,
        })
    }

    fn node_name(&self, node: &NodeInfo) -> String {
        match node.id {
            MC => "node 1 (mission control)".into(),
            id => format!("node {id} (drone)"),
        }
    }

    fn status_row(&self, n: &NodeInfo) -> Value {
        let s = &n.state;
        json!({
            "id": n.id,
            "pid": n.pid,
            "state": n.status.as_str(),
            "role": n.role,
            "addr": n.addr,
            "mode": s.get("mode"),
            "link": s.get("link"),
            "batt": s.get("batt"),
            "x": s.get("x"), "y": s.get("y"), "alt": s.get("alt"),
            "epoch": s.get("epoch"),
            "linked": s.get("linked"),
            "hs_ms": s.get("hs_ms"),
            "rejects": s.get("rejects"),
            "gcs": s.get("gcs"),
        })
    }

    fn status_table(&self, nodes: &[NodeInfo]) -> String {
        let mut out = format!(
            "{:<3} {:<8} {:<8} {:<8} {:<8} {:<10} {:>5} {:<20} {:<5} REJECTS\n",
            "ID", "PID", "STATE", "ROLE", "MODE", "LINK", "BATT", "POSITION (E,N,ALT)", "EPOCH"
        );
        for n in nodes {
            let s = &n.state;
            let f = |k: &str| s.get(k).and_then(Value::as_f64).unwrap_or(0.0);
            let txt = |k: &str| s.get(k).and_then(Value::as_str).unwrap_or("-").to_string();
            let epoch = s
                .get("epoch")
                .and_then(Value::as_u64)
                .map_or("-".into(), |e| e.to_string());
            let (role, mode, link, batt, pos) = if n.id == MC {
                (
                    "control",
                    "-".to_string(),
                    format!(
                        "{} linked",
                        s.get("linked").and_then(Value::as_u64).unwrap_or(0)
                    ),
                    "-".to_string(),
                    format!("{} gcs", s.get("gcs").and_then(Value::as_u64).unwrap_or(0)),
                )
            } else {
                (
                    "drone",
                    txt("mode"),
                    txt("link"),
                    format!("{:.0}%", f("batt")),
                    format!("{:.0},{:.0},{:.0}", f("x"), f("y"), f("alt")),
                )
            };
            out.push_str(&format!(
                "{:<3} {:<8} {:<8} {:<8} {:<8} {:<10} {:>5} {:<20} {:<5} {}\n",
                n.id,
                n.pid.map_or("-".into(), |p| p.to_string()),
                n.status.as_str(),
                role,
                mode,
                link,
                batt,
                pos,
                epoch,
                rejects(s.get("rejects"))
            ));
        }
        out
    }

    fn run_own(&self, m: &ArgMatches, cx: &mut VerbCtx<'_>) -> i32 {
        super::verbs::run(m, cx)
    }

    fn quick_up_args(&self) -> &'static [&'static str] {
        &["--drones", "2"]
    }

    fn tour_steps(&self) -> &'static [TourStep] {
        TOUR
    }
}

/// The tour on the drone-fleet dashboard: the link, a mission, attacks, revocation, mission
/// control killed and restarted.
const TOUR: &[TourStep] = &[
    TourStep::new(
        "The drone-fleet lab: mission control and six drones. Each drone proves its key and checks mission control's in a handshake over the 2048-bit group (Schnorr signatures, ElGamal key transport), then gets the fleet key under its session key.",
        Some("uav wait linked --timeout 60s"),
        4,
    ),
    TourStep::new(
        "One broadcast, sealed once under the fleet key, sends every drone on its share of an orbit; each acknowledges in its own session.",
        Some("uav mission orbit"),
        6,
    ),
    TourStep::new(
        "An attacker on drone 7's link sends a captured record again: the replay window refuses it, and the refusal is counted.",
        Some("uav attack replay"),
        3,
    ),
    TourStep::new(
        "A man in the middle swaps the drone's handshake key for its own: mission control's signature check refuses it.",
        Some("uav attack mitm"),
        3,
    ),
    TourStep::new(
        "Revoke drone 7: the fleet key rotates to the five others; drone 7 cannot decrypt the next broadcast, loses its link, holds, then returns to launch.",
        Some("uav revoke 7"),
        10,
    ),
    TourStep::new(
        "SIGKILL mission control: every drone loses its link, holds, then returns to launch.",
        Some("uav kill 1"),
        9,
    ),
    TourStep::new(
        "Mission control restarts from its durable registry: the fleet handshakes again under a new key epoch.",
        Some("uav restart 1"),
        8,
    ),
];

/// "tampered 2, replayed 1", or "none".
pub fn rejects(v: Option<&Value>) -> String {
    let Some(Value::Object(m)) = v else {
        return "-".into();
    };
    let parts: Vec<String> = m
        .iter()
        .filter(|(_, n)| n.as_u64().unwrap_or(0) > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}
