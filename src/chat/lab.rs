//! The chat lab on the lab contract: [`ChatLab`], its plan (`labs/chat/lab.toml`, saved as
//! `chat.json` in the run dir), `launch` and the status table. The lab's own verbs are in
//! [`super::verbs`].
//!
//! Nodes: 1 is the server, 2 the man in the middle, 3… the clients `c1`, `c2`, … Each client's
//! PSK is in `RUN_DIR/keys/NAME.psk` (0600); the server's registry in `RUN_DIR/node-1/`.

use std::path::{Path, PathBuf};

use clap::{ArgMatches, Args, Command, FromArgMatches};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::noise::Psk;
use super::store::{Registry, write_atomic, write_key_file};
use crate::cluster::{NodeInfo, NodeSpec, Supervisor};
use crate::lab::{CommonVerb, Lab, Role, TourStep, VerbCtx};

/// The lab's name.
pub const NAME: &str = "chat";
/// The text of `labs/chat/lab.toml`.
pub const LAB_TOML: &str = include_str!("../../labs/chat/lab.toml");
/// The server's node id.
pub const SERVER: u64 = 1;
/// The man in the middle's node id.
pub const MITM: u64 = 2;
/// Largest `--clients`.
pub const MAX_CLIENTS: usize = 500;

/// `lab.toml`.
#[derive(Debug, Deserialize)]
struct LabFile {
    lab: LabConfig,
}

/// `[lab]` of `lab.toml`.
#[derive(Debug, Deserialize)]
struct LabConfig {
    clients: usize,
    rooms: Vec<String>,
    pace_ms: u64,
    rekey_every: u64,
    rekey_secs: u64,
}

/// `chat up` arguments beyond the common ones.
#[derive(Debug, Args)]
#[command(
    about = "Start the lab in the foreground: server (1), man in the middle (2), client bots (3…)"
)]
pub struct UpArgs {
    /// Number of client bots (default from labs/chat/lab.toml: 8).
    #[arg(long)]
    pub clients: Option<usize>,
    /// Mean milliseconds between a bot's messages (0: silent bots).
    #[arg(long)]
    pub pace_ms: Option<u64>,
}

/// One client of the plan.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PlanClient {
    /// Node id.
    pub id: u64,
    /// Client name.
    pub name: String,
    /// Its room.
    pub room: String,
}

/// The lab's plan, saved in the run dir as `chat.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Plan {
    /// The clients.
    pub clients: Vec<PlanClient>,
    /// Bot pace.
    pub pace_ms: u64,
    /// Rekey after N messages.
    pub rekey_every: u64,
    /// Rekey after N seconds.
    pub rekey_secs: u64,
}

impl Plan {
    /// Reads `chat.json` of a run dir.
    pub fn load(run_dir: &Path) -> anyhow::Result<Plan> {
        let bytes = std::fs::read(run_dir.join("chat.json"))
            .map_err(|e| anyhow::anyhow!("{} has no chat plan: {e}", run_dir.display()))?;
        Ok(serde_json::from_slice(&bytes)?)
    }

    /// The client called `name`.
    pub fn client(&self, name: &str) -> Option<&PlanClient> {
        self.clients.iter().find(|c| c.name == name)
    }
}

/// A client's key file in a run dir.
pub fn key_file(run_dir: &Path, name: &str) -> PathBuf {
    run_dir.join("keys").join(format!("{name}.psk"))
}

fn new_plan(up: &UpArgs) -> anyhow::Result<Plan> {
    let cfg: LabFile = toml::from_str(LAB_TOML)?;
    let cfg = cfg.lab;
    let n = up.clients.unwrap_or(cfg.clients);
    anyhow::ensure!(
        (1..=MAX_CLIENTS).contains(&n),
        "--clients must be 1..={MAX_CLIENTS}"
    );
    anyhow::ensure!(!cfg.rooms.is_empty(), "lab.toml names no room");
    Ok(Plan {
        clients: (0..n)
            .map(|k| PlanClient {
                id: k as u64 + 3,
                name: format!("c{}", k + 1),
                room: cfg.rooms[k % cfg.rooms.len()].clone(),
            })
            .collect(),
        pace_ms: up.pace_ms.unwrap_or(cfg.pace_ms),
        rekey_every: cfg.rekey_every,
        rekey_secs: cfg.rekey_secs,
    })
}

/// The chat lab.
pub struct ChatLab;

impl Lab for ChatLab {
    fn name(&self) -> &'static str {
        NAME
    }

    fn about(&self) -> &'static str {
        "The secure chat lab: a Noise_NNpsk0 server, client bots and a man in the middle."
    }

    fn noun(&self) -> &'static str {
        "chat lab"
    }

    fn roles(&self) -> Vec<Role> {
        vec![
            Role::new(super::node::ROLE, "The chat server.", super::node::run_cli),
            Role::new(
                super::mitm::ROLE,
                "The man-in-the-middle proxy.",
                super::mitm::run_cli,
            ),
            Role::new(
                super::client::ROLE,
                "A chat client bot.",
                super::client::run_cli,
            ),
        ]
    }

    fn common_verbs(&self) -> &'static [CommonVerb] {
        // The attacker is the proxy (`chat mitm …`), not the fault filter.
        CommonVerb::NO_NETWORK
    }

    fn verb_help(&self, verb: CommonVerb) -> Option<&'static str> {
        match verb {
            CommonVerb::Up => Some(
                "Start the lab in the foreground: server (1), man in the middle (2), client bots (3…)",
            ),
            CommonVerb::Kill => Some("SIGKILL a node (1 server, 2 proxy, 3… clients)"),
            CommonVerb::Restart => {
                Some("Start a node again on its data dir (a client resumes from its last id)")
            }
            _ => None,
        }
    }

    fn own_verbs(&self, cmd: Command) -> Command {
        <super::verbs::ChatVerb as clap::Subcommand>::augment_subcommands(cmd)
    }

    fn up_args(&self, up: Command) -> Command {
        UpArgs::augment_args(up)
    }

    fn check_up(&self, up: &ArgMatches) -> anyhow::Result<()> {
        new_plan(&UpArgs::from_arg_matches(up)?).map(|_| ())
    }

    fn launch(
        &self,
        up: &ArgMatches,
        run_dir: &Path,
        exe: Option<PathBuf>,
    ) -> anyhow::Result<Supervisor> {
        let (plan, server, mitm) = match (
            crate::cluster::rundir::read_cluster_file(run_dir),
            Plan::load(run_dir),
        ) {
            (Ok(cf), Ok(plan)) if cf.lab == NAME && cf.nodes.len() >= 2 => {
                let s: std::net::SocketAddr = cf.nodes[0].addr.parse()?;
                let m: std::net::SocketAddr = cf.nodes[1].addr.parse()?;
                crate::cluster::reserve_ports(&[s, m]);
                (plan, s, m)
            }
            _ => {
                let plan = new_plan(&UpArgs::from_arg_matches(up)?)?;
                let mut reg = Registry::load(&run_dir.join("node-1").join("registry.json"))?;
                for c in &plan.clients {
                    let psk = Psk::generate();
                    write_key_file(&key_file(run_dir, &c.name), &psk)?;
                    reg.enroll(&c.name, &psk)?;
                }
                write_atomic(
                    &run_dir.join("chat.json"),
                    &serde_json::to_vec_pretty(&plan)?,
                )?;
                let a = crate::cluster::free_loopback_addrs(2)?;
                (plan, a[0], a[1])
            }
        };
        let mut specs = vec![
            NodeSpec {
                id: SERVER,
                role: super::node::ROLE.into(),
                addr: server.to_string(),
                args: vec![
                    "--listen".into(),
                    server.to_string(),
                    "--rekey-every".into(),
                    plan.rekey_every.to_string(),
                    "--rekey-secs".into(),
                    plan.rekey_secs.to_string(),
                ],
            },
            NodeSpec {
                id: MITM,
                role: super::mitm::ROLE.into(),
                addr: mitm.to_string(),
                args: vec![
                    "--listen".into(),
                    mitm.to_string(),
                    "--server".into(),
                    server.to_string(),
                ],
            },
        ];
        for c in &plan.clients {
            specs.push(NodeSpec {
                id: c.id,
                role: super::client::ROLE.into(),
                addr: format!("{}→{mitm}", c.name),
                args: vec![
                    "--name".into(),
                    c.name.clone(),
                    "--connect".into(),
                    mitm.to_string(),
                    "--key-file".into(),
                    key_file(run_dir, &c.name).display().to_string(),
                    "--room".into(),
                    c.room.clone(),
                    "--pace-ms".into(),
                    plan.pace_ms.to_string(),
                    "--rekey-every".into(),
                    plan.rekey_every.to_string(),
                    "--rekey-secs".into(),
                    plan.rekey_secs.to_string(),
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
            SERVER => "node 1 (server)".into(),
            MITM => "node 2 (mitm)".into(),
            id => match node.state.get("name").and_then(Value::as_str) {
                Some(n) => format!("node {id} ({n})"),
                None => format!("node {id}"),
            },
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
            "name": s.get("name"),
            "session": s.get("session"),
            "last_id": s.get("last_id"),
            "p99_ms": s.get("p99_ms"),
            "rejects": s.get("rejects"),
            "mode": s.get("mode"),
            "attacks": s.get("attacks"),
            "msgs_total": s.get("msgs_total"),
        })
    }

    fn status_table(&self, nodes: &[NodeInfo]) -> String {
        let mut out = format!(
            "{:<3} {:<8} {:<8} {:<12} {:<28} DETAIL\n",
            "ID", "PID", "STATE", "ROLE", "ADDR"
        );
        for n in nodes {
            out.push_str(&format!(
                "{:<3} {:<8} {:<8} {:<12} {:<28} {}\n",
                n.id,
                n.pid.map_or("-".into(), |p| p.to_string()),
                n.status.as_str(),
                n.role,
                n.addr,
                detail(n)
            ));
        }
        out
    }

    fn run_own(&self, m: &ArgMatches, cx: &mut VerbCtx<'_>) -> i32 {
        super::verbs::run(m, cx)
    }

    fn quick_up_args(&self) -> &'static [&'static str] {
        &["--clients", "2"]
    }

    fn tour_steps(&self) -> &'static [TourStep] {
        TOUR
    }
}

/// The tour on the chat dashboard: attacks detected by reason, sessions re-established with
/// nothing lost, a leaked PSK (impersonation, but forward secrecy on the capture), revocation
/// and re-enrolment, a client killed and resumed.
const TOUR: &[TourStep] = &[
    TourStep::new(
        "The secure chat lab: a server with a durable PSK registry and room logs, eight client bots, and a man in the middle that every client byte passes through. Each client speaks Noise_NNpsk0 with its own pre-shared key.",
        Some("chat wait established --timeout 30s && chat wait messages 10 --timeout 60s"),
        6,
    ),
    TourStep::new(
        "The attacker drops 10% of the frames, reorders and duplicates others. Each one is caught: the AEAD's counter nonce fails on a missing, moved or repeated frame. The rejects are counted by reason at the server and the clients.",
        Some(
            "chat mitm drop 10% && chat mitm reorder && chat mitm duplicate && chat wait attack drop 10 --timeout 60s && chat wait reconnects 5 --timeout 60s",
        ),
        6,
    ),
    TourStep::new(
        "Tampering: one flipped bit and the tag no longer verifies. Broken sessions come back with a fresh handshake and resume after their last acknowledged id.",
        Some(
            "chat mitm clear && chat mitm rate 20 && chat mitm tamper && chat wait reject aead 1 --timeout 60s",
        ),
        6,
    ),
    TourStep::new(
        "Attacks cleared: every session is re-established, and every room's log is identical at every member. Nothing was lost, and nothing arrived twice.",
        Some(
            "chat mitm clear && chat mitm rate 5 && chat wait established --timeout 60s && chat check",
        ),
        6,
    ),
    TourStep::new(
        "The attacker learns c1's PSK. Now it can log in as c1, but the sessions it recorded earlier still do not decrypt: their keys came from ephemeral Diffie-Hellman keys that no longer exist (forward secrecy, tried on the capture).",
        Some("chat leak-psk c1"),
        8,
    ),
    TourStep::new(
        "Revoke c1: its session ends, and every handshake with the leaked key is refused and counted as revoked. Enrolled again with a fresh PSK, c1 catches up on what it missed.",
        Some(
            "chat revoke c1 && chat wait reject revoked 1 --timeout 30s && chat enroll c1 && chat wait established --timeout 60s",
        ),
        6,
    ),
    TourStep::new(
        "SIGKILL client c3 and restart it: it resumes from its last id on disk, and the logs still match everywhere.",
        Some(
            "chat kill 5 && chat restart 5 && chat wait established --timeout 60s && chat check",
        ),
        6,
    )
    .on_tab(1),
];

fn rejects(v: Option<&Value>) -> String {
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

fn detail(n: &NodeInfo) -> String {
    let s = &n.state;
    let u = |k: &str| s.get(k).and_then(Value::as_u64).unwrap_or(0);
    match s.get("role").and_then(Value::as_str) {
        Some("server") => format!(
            "msgs {} ({}/s), sessions {}, rejects: {}",
            u("msgs_total"),
            u("msgs_per_s"),
            u("handshakes"),
            rejects(s.get("rejects"))
        ),
        Some("mitm") => format!(
            "{}; attacks: {}",
            s.get("mode").and_then(Value::as_str).unwrap_or("?"),
            rejects(s.get("attacks"))
        ),
        Some("client") => format!(
            "{} {} last id {}, p99 {} ms, reconnects {}",
            s.get("name").and_then(Value::as_str).unwrap_or("?"),
            s.get("session").and_then(Value::as_str).unwrap_or("?"),
            u("last_id"),
            s.get("p99_ms").and_then(Value::as_f64).unwrap_or(0.0),
            u("reconnects")
        ),
        _ => String::new(),
    }
}
