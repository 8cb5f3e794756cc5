//! The one-time secret lab on the lab contract: [`SecretLab`], its plan (`labs/secret/lab.toml`,
//! saved as `secret.json` in the run dir), `launch` and the status table. The lab's own verbs
//! are in [`super::verbs`].
//!
//! Nodes: 1 is the courier ([`super::server`]), 2 the link-scanner bot ([`super::scanner`]),
//! and with `--store redis`, 3 a `redis-server` of the lab's own ([`super::store_node`]).
//! Files: `lab-token` (0600: opens the server's `/lab/*` routes to the attacker's verbs),
//! `node-1/secrets.log` (the embedded store), `node-1/access.log`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{ArgMatches, Args, Command, FromArgMatches};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::cluster::{NodeInfo, NodeSpec, Supervisor};
use crate::lab::{CommonVerb, Lab, Role, TourStep, VerbCtx};

/// The lab's name.
pub const NAME: &str = "secret";
/// The text of `labs/secret/lab.toml`.
pub const LAB_TOML: &str = include_str!("../../labs/secret/lab.toml");
/// The courier's node id.
pub const SERVER: u64 = 1;
/// The scanner bot's node id.
pub const SCANNER: u64 = 2;
/// The Redis node's id (`--store redis`).
pub const STORE: u64 = 3;
/// The lab token's file in the run dir.
pub const TOKEN_FILE: &str = "lab-token";

#[derive(Debug, Deserialize)]
struct LabFile {
    lab: LabConfig,
}

#[derive(Debug, Deserialize)]
struct LabConfig {
    store: String,
    ttls: Vec<u64>,
    rate_limit: u64,
}

/// `secret up` arguments beyond the common ones.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Where secrets are kept: `embedded` (a durable log in the run dir), `redis` (a
    /// `redis-server` the lab runs as node 3, fsync always) or `redis://HOST:PORT` (a running
    /// Redis 6.2+).
    #[arg(long)]
    pub store: Option<String>,
    /// The TTL menu in seconds, comma-separated (default from labs/secret/lab.toml).
    #[arg(long)]
    pub ttls: Option<String>,
    /// Requests per 10 s per client address (0: no limit).
    #[arg(long)]
    pub rate_limit: Option<u64>,
}

/// The lab's plan, saved in the run dir as `secret.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Plan {
    /// The courier's address.
    pub server: String,
    /// The scanner's (nominal) address.
    pub scanner: String,
    /// `embedded` or `redis://HOST:PORT`.
    pub store: String,
    /// The address of node 3, the lab's own `redis-server` (`--store redis`), if it has one.
    #[serde(default)]
    pub redis_node: Option<String>,
    /// TTL menu.
    pub ttls: Vec<u64>,
    /// Rate limit per 10 s per address.
    pub rate_limit: u64,
}

impl Plan {
    /// Reads `secret.json` of a run dir.
    pub fn load(run_dir: &Path) -> anyhow::Result<Plan> {
        let bytes = std::fs::read(run_dir.join("secret.json"))
            .map_err(|e| anyhow::anyhow!("{} has no secret plan: {e}", run_dir.display()))?;
        Ok(serde_json::from_slice(&bytes)?)
    }

    /// The courier's origin, `http://HOST:PORT`.
    pub fn origin(&self) -> String {
        format!("http://{}", self.server)
    }
}

fn new_plan(up: &UpArgs) -> anyhow::Result<Plan> {
    let cfg: LabFile = toml::from_str(LAB_TOML)?;
    let c = cfg.lab;
    let store = up.store.clone().unwrap_or(c.store);
    let own_redis = store == "redis";
    if own_redis && !super::bench::redis_installed() {
        anyhow::bail!(
            "--store redis runs redis-server as node 3, and it is not installed \
             (apt-get install redis-server); or use the embedded store, or redis://HOST:PORT"
        );
    }
    if store != "embedded" && !own_redis {
        super::redis::parse_url(&store).map_err(|e| anyhow::anyhow!("--store: {e}"))?;
    }
    let ttls = match &up.ttls {
        Some(t) => super::server::parse_ttls(t).map_err(|e| anyhow::anyhow!("--ttls: {e}"))?,
        None => c.ttls,
    };
    Ok(Plan {
        server: String::new(),
        scanner: String::new(),
        redis_node: own_redis.then(String::new),
        store,
        ttls,
        rate_limit: up.rate_limit.unwrap_or(c.rate_limit),
    })
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// The one-time secret lab.
pub struct SecretLab;

impl Lab for SecretLab {
    fn name(&self) -> &'static str {
        NAME
    }

    fn about(&self) -> &'static str {
        "The one-time secret courier: client-side AES-256-GCM, the key in the link's #fragment, read once then deleted."
    }

    fn noun(&self) -> &'static str {
        "secret courier"
    }

    fn roles(&self) -> Vec<Role> {
        vec![
            Role::new(
                super::server::ROLE,
                "The one-time secret courier (forge).",
                super::server::run_cli,
            ),
            Role::new(
                super::scanner::ROLE,
                "A link-scanner bot that previews URLs.",
                super::scanner::run_cli,
            ),
            Role::new(
                super::store_node::ROLE,
                "redis-server as a supervised node (appendfsync always).",
                super::store_node::run_cli,
            ),
        ]
    }

    fn common_verbs(&self) -> &'static [CommonVerb] {
        CommonVerb::NO_NETWORK
    }

    fn verb_help(&self, verb: CommonVerb) -> Option<&'static str> {
        match verb {
            CommonVerb::Up => Some(
                "Start the courier (node 1), the link-scanner bot (node 2) and, with --store redis, redis-server (node 3), in the foreground",
            ),
            CommonVerb::Kill => Some(
                "SIGKILL a node (1 the courier, 2 the scanner bot, 3 redis-server with --store redis)",
            ),
            _ => None,
        }
    }

    fn own_verbs(&self, cmd: Command) -> Command {
        <super::verbs::SecretVerb as clap::Subcommand>::augment_subcommands(cmd)
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
        let plan = match (
            crate::cluster::rundir::read_cluster_file(run_dir),
            Plan::load(run_dir),
        ) {
            (Ok(cf), Ok(plan)) if cf.lab == NAME => {
                let a: SocketAddr = plan.server.parse()?;
                let b: SocketAddr = plan.scanner.parse()?;
                crate::cluster::reserve_ports(&[a, b]);
                plan
            }
            _ => {
                let mut plan = new_plan(&UpArgs::from_arg_matches(up)?)?;
                std::fs::create_dir_all(run_dir)?;
                let addrs = crate::cluster::free_loopback_addrs(2)?;
                plan.server = addrs[0].to_string();
                plan.scanner = addrs[1].to_string();
                if plan.redis_node.is_some() {
                    // redis-server binds without SO_REUSEPORT, so its port cannot be held in
                    // reserve like the others (see `cluster::ports`): a port the kernel picks.
                    let a = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
                    plan.redis_node = Some(a.to_string());
                    plan.store = format!("redis://{a}");
                }
                std::fs::write(
                    run_dir.join("secret.json"),
                    serde_json::to_vec_pretty(&plan)?,
                )?;
                plan
            }
        };
        let token_file = run_dir.join(TOKEN_FILE);
        if super::server::read_token(&token_file).is_err() {
            let t: [u8; 32] = rand::random();
            let hex: String = t.iter().map(|b| format!("{b:02x}")).collect();
            write_private(&token_file, hex.as_bytes())?;
        }
        let ttls: Vec<String> = plan.ttls.iter().map(u64::to_string).collect();
        let mut specs = vec![
            NodeSpec {
                id: SERVER,
                role: super::server::ROLE.into(),
                addr: plan.server.clone(),
                args: vec![
                    "--listen".into(),
                    plan.server.clone(),
                    "--store".into(),
                    plan.store.clone(),
                    "--ttls".into(),
                    ttls.join(","),
                    "--rate-limit".into(),
                    plan.rate_limit.to_string(),
                    "--lab-token-file".into(),
                    token_file.display().to_string(),
                    "--redis-wait".into(),
                    if plan.redis_node.is_some() { "15" } else { "0" }.into(),
                ],
            },
            NodeSpec {
                id: SCANNER,
                role: super::scanner::ROLE.into(),
                addr: plan.scanner.clone(),
                args: vec![],
            },
        ];
        if let Some(addr) = &plan.redis_node {
            specs.push(NodeSpec {
                id: STORE,
                role: super::store_node::ROLE.into(),
                addr: addr.clone(),
                args: vec!["--listen".into(), addr.clone()],
            });
        }
        Ok(match exe {
            Some(exe) => Supervisor::launch_with_exe(NAME, run_dir, specs, exe)?,
            None => Supervisor::launch(NAME, run_dir, specs)?,
        })
    }

    fn node_name(&self, node: &NodeInfo) -> String {
        match node.id {
            SERVER => "node 1 (courier)".into(),
            SCANNER => "node 2 (link scanner)".into(),
            STORE => "node 3 (redis)".into(),
            id => format!("node {id}"),
        }
    }

    fn status_row(&self, n: &NodeInfo) -> Value {
        let mut row = json!({
            "id": n.id,
            "pid": n.pid,
            "role": n.role,
            "state": n.status.as_str(),
            "addr": n.addr,
            "ready": n.ready,
        });
        for (k, v) in &n.state {
            row[k] = v.clone();
        }
        row
    }

    fn status_table(&self, nodes: &[NodeInfo]) -> String {
        let mut out = format!(
            "{:<3} {:<8} {:<10} {:<22} {:<10} DETAIL\n",
            "ID", "PID", "STATE", "ADDR", "ROLE"
        );
        for n in nodes {
            let s = &n.state;
            let g = |k: &str| s.get(k).and_then(Value::as_u64).unwrap_or(0);
            let detail = if n.id == SERVER {
                format!(
                    "store {} · live {} · created {} · claimed {} · expired {} · misses {}",
                    // Redis by its address; the embedded store by name (its path is long).
                    match s.get("store").and_then(Value::as_str) {
                        Some("redis") => s.get("store_detail").and_then(Value::as_str),
                        other => other,
                    }
                    .unwrap_or("?"),
                    g("live"),
                    g("created"),
                    g("claimed"),
                    g("expired"),
                    g("claim_misses"),
                )
            } else if n.id == STORE {
                format!(
                    "redis-server pid {} · keys {} · AOF {} KB, fsync always",
                    g("redis_pid"),
                    g("keys"),
                    g("aof_bytes") / 1024
                )
            } else {
                format!("scans {}", g("scans"))
            };
            out.push_str(&format!(
                "{:<3} {:<8} {:<10} {:<22} {:<10} {detail}\n",
                n.id,
                n.pid.map_or("-".into(), |p| p.to_string()),
                n.status.as_str(),
                n.addr,
                match n.id {
                    SERVER => "courier",
                    STORE => "redis",
                    _ => "scanner",
                },
            ));
        }
        out
    }

    fn up_hint(&self) -> String {
        "(Ctrl-C stops every node; from another terminal: `echo hi | wirelab secret send`, `wirelab secret open URL`, `secret race URL`, …)".into()
    }

    fn tour_steps(&self) -> &'static [TourStep] {
        super::verbs::TOUR
    }

    fn run_own(&self, m: &ArgMatches, cx: &mut VerbCtx<'_>) -> i32 {
        let verb = match crate::lab::parse_own::<super::verbs::SecretVerb>(m, cx.err) {
            Ok(v) => v,
            Err(code) => return code,
        };
        match super::verbs::run(verb, cx) {
            Ok(code) => code,
            Err(e) => crate::lab::report(NAME, &e, cx.err),
        }
    }
}
