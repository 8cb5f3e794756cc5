//! The KDC lab ([`KdcLab`], the lab contract) and its own verbs. The common verbs (`up`,
//! `status`, `kill`, `partition`, …) are the lab layer's.
//!
//! Exit codes: 0 success; 1 refused (a ticket not issued, access denied) or, for the attacker's
//! verbs (`forge`, `replay`, `attack`), the attack failed; 2 an error.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use clap::{ArgMatches, Command, Subcommand};
use serde_json::{Value, json};

use super::authority;
use super::client::{Issued, Kdc, Tgt};
use super::config::{LabConfig, SERVICE_NODE};
use super::proto::{Ticket, hex, hex_array, hex_vec};
use super::service;
use super::store;
use crate::cluster::control::ControlRequest;
use crate::cluster::{NodeInfo, NodeSpec, Supervisor};
use crate::lab::args::RunDirArg;
use crate::lab::{Lab, Readiness, Role, TourStep, VerbCtx};

/// The lab's name.
pub const NAME: &str = "kdc";

/// The KDC triad lab.
pub struct KdcLab;

/// The KDC lab's own verbs.
#[derive(Debug, Subcommand)]
pub enum KdcVerb {
    /// AS exchange: get USER a TGT (password from the lab file) and cache it.
    Login {
        /// The user.
        user: String,
        /// Its password (default: the lab's demo password).
        #[arg(long)]
        password: Option<String>,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// TGS exchange: a service ticket for USER to SERVICE, signed 2-of-3.
    Ticket {
        /// The user.
        user: String,
        /// The service.
        service: String,
        /// One JSON object: signed (base64), signature, group_public_key, signers, …
        #[arg(long)]
        json: bool,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        lifetime: u64,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// End to end: login, ticket, AP exchange; prints who the service says you are.
    Access {
        /// The user.
        user: String,
        /// The service.
        service: String,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Print the group public key (64 hex, RFC 8032 encoding).
    Pubkey {
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// The attacker takes authority N: its share and database leak, and it signs garbage.
    Compromise {
        /// Authority id (1-3).
        node: u64,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// The attacker tries to mint a ticket for USER to SERVICE with what it holds
    /// (exit 0: forged and accepted by the service; 1: failed).
    Forge {
        /// The victim user.
        user: String,
        /// The service.
        service: String,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Proactive refresh: every share re-randomized, group key unchanged (all three needed).
    Refresh {
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Replay a captured AP authenticator to the service (exit 0 only if it got in).
    Replay {
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Attacks: nonce-reuse (recover a signer's share), expired, skew, tamper, replay
    /// (exit 0 only if the attack worked).
    Attack {
        /// Which attack.
        #[arg(value_parser = ["nonce-reuse", "expired", "skew", "tamper", "replay"])]
        kind: String,
        /// The authority that reuses its nonces (nonce-reuse).
        #[arg(long, default_value_t = 1)]
        victim: u64,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Ticket issuance throughput and latency (8 clients), against a single-key issuer.
    Bench(super::bench::BenchArgs),
}

impl Lab for KdcLab {
    fn name(&self) -> &'static str {
        NAME
    }

    fn about(&self) -> &'static str {
        "The KDC triad: Kerberos-shaped tickets under a 2-of-3 FROST signature; compromise it."
    }

    fn noun(&self) -> &'static str {
        "kdc triad"
    }

    fn roles(&self) -> Vec<Role> {
        vec![
            Role::new(
                authority::ROLE,
                "A KDC authority (one of three).",
                authority::run_cli,
            ),
            Role::new(service::ROLE, "A kerberized service.", service::run_cli),
        ]
    }

    fn verb_help(&self, verb: crate::lab::CommonVerb) -> Option<&'static str> {
        match verb {
            crate::lab::CommonVerb::Kill => {
                Some("SIGKILL a node (1-3 are the authorities, 4 the service)")
            }
            _ => None,
        }
    }

    fn own_verbs(&self, cmd: Command) -> Command {
        KdcVerb::augment_subcommands(cmd)
    }

    fn launch(
        &self,
        _up: &ArgMatches,
        run_dir: &Path,
        exe: Option<PathBuf>,
    ) -> anyhow::Result<Supervisor> {
        let cfg = LabConfig::builtin()?;
        let n = usize::from(cfg.lab.authorities) + 1;
        let addrs: Vec<SocketAddr> = match crate::cluster::rundir::read_cluster_file(run_dir) {
            Ok(cf) if cf.lab == NAME && cf.nodes.len() == n => {
                let a = cf
                    .nodes
                    .iter()
                    .map(|n| n.addr.parse())
                    .collect::<Result<Vec<SocketAddr>, _>>()?;
                crate::cluster::reserve_ports(&a);
                a
            }
            _ => crate::cluster::free_loopback_addrs(n)?,
        };
        // The lab token: lab actions and peer messages must carry it (kept across restarts).
        std::fs::create_dir_all(run_dir)?;
        let token_file = run_dir.join(TOKEN_FILE);
        if authority::read_token(&token_file).is_err() {
            store::write_atomic(&token_file, hex(&rand::random::<[u8; 32]>()).as_bytes())?;
        }
        let auths: Vec<String> = addrs[..n - 1]
            .iter()
            .enumerate()
            .map(|(i, a)| format!("{}={a}", i + 1))
            .collect();
        let mut specs: Vec<NodeSpec> = addrs[..n - 1]
            .iter()
            .enumerate()
            .map(|(i, a)| NodeSpec {
                id: i as u64 + 1,
                role: authority::ROLE.into(),
                addr: a.to_string(),
                args: vec![
                    "--listen".into(),
                    a.to_string(),
                    "--peers".into(),
                    auths.join(","),
                    "--lab-token-file".into(),
                    token_file.display().to_string(),
                ],
            })
            .collect();
        specs.push(NodeSpec {
            id: SERVICE_NODE,
            role: service::ROLE.into(),
            addr: addrs[n - 1].to_string(),
            args: vec![
                "--listen".into(),
                addrs[n - 1].to_string(),
                "--name".into(),
                "files".into(),
                "--authorities".into(),
                auths.join(","),
            ],
        });
        Ok(match exe {
            Some(exe) => Supervisor::launch_with_exe(NAME, run_dir, specs, exe)?,
            None => Supervisor::launch(NAME, run_dir, specs)?,
        })
    }

    fn readiness(&self) -> Readiness {
        Readiness {
            timeout: Duration::from_secs(60),
            what: "the distributed key generation (authorities able to sign)",
        }
    }

    fn node_name(&self, node: &NodeInfo) -> String {
        if node.id == SERVICE_NODE {
            format!("node {} (service files)", node.id)
        } else {
            format!("authority {}", node.id)
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
            let detail = if n.id == SERVICE_NODE {
                format!(
                    "accepted {} rejected {}",
                    s.get("accepted").and_then(Value::as_u64).unwrap_or(0),
                    s.get("rejected").map_or("{}".into(), |v| v.to_string())
                )
            } else {
                format!(
                    "epoch {} signed {} refused {}{}",
                    s.get("epoch").map_or("-".into(), |v| v.to_string()),
                    s.get("signed").and_then(Value::as_u64).unwrap_or(0),
                    s.get("refused").and_then(Value::as_u64).unwrap_or(0),
                    if s.get("compromised").and_then(Value::as_bool) == Some(true) {
                        " COMPROMISED"
                    } else {
                        ""
                    }
                )
            };
            let faults = if n.faults.is_clear() {
                String::new()
            } else {
                format!(" ({})", n.faults)
            };
            out.push_str(&format!(
                "{:<3} {:<8} {:<10} {:<22} {:<10} {detail}{faults}\n",
                n.id,
                n.pid.map_or("-".into(), |p| p.to_string()),
                n.status.as_str(),
                n.addr,
                if n.id == SERVICE_NODE {
                    "service"
                } else {
                    "authority"
                },
            ));
        }
        out
    }

    fn tour_steps(&self) -> &'static [TourStep] {
        TOUR
    }

    fn up_hint(&self) -> String {
        "(Ctrl-C stops every node; from another terminal: `wirelab kdc access alice files`, `kdc kill 1`, `kdc compromise 2`, `kdc forge alice files`, …)".into()
    }

    fn run_own(&self, m: &ArgMatches, cx: &mut VerbCtx<'_>) -> i32 {
        let verb = match crate::lab::parse_own::<KdcVerb>(m, cx.err) {
            Ok(v) => v,
            Err(code) => return code,
        };
        match run_verb(verb, cx) {
            Ok(code) => code,
            Err(e) => crate::lab::report(NAME, &e, cx.err),
        }
    }
}

/// The tour on the KDC dashboard: the threshold holding with one authority down, failing with
/// two, a compromise that forges nothing, a refresh that kills a leaked share, and the boundary.
const TOUR: &[TourStep] = &[
    TourStep::new(
        "The KDC triad: three authority processes each hold one share of a key that no process ever held whole (a distributed key generation at up). alice gets a ticket signed 2-of-3, and the files service says who she is.",
        Some("kdc access alice files"),
        6,
    ),
    TourStep::new(
        "SIGKILL authority 1: the other two still commit and sign. The signing-rounds panel shows who took part.",
        Some("kdc kill 1 && kdc ticket alice files"),
        6,
    ),
    TourStep::new(
        "Kill authority 2 as well: one share is below the threshold, and issuing stops with a clear error instead of a bad ticket.",
        Some("kdc kill 2; kdc ticket alice files"),
        6,
    )
    .refused(),
    TourStep::new(
        "Both restart from their own disks, with their shares: tickets flow again.",
        Some("kdc restart 1 && kdc restart 2 && kdc access bob files"),
        6,
    ),
    TourStep::new(
        "The attacker takes authority 1: its share and its database. One share forges nothing; the garbage shares it now sends fail their check, are named, and 2 and 3 sign instead.",
        Some("kdc compromise 1 && kdc access alice files; kdc forge alice files"),
        8,
    )
    .refused(),
    TourStep::new(
        "Refresh: every share re-randomized, the group key unchanged. The leaked share is now dead: with authority 2 leaked too, still no forgery.",
        Some("kdc refresh && kdc compromise 2 && kdc forge alice files"),
        8,
    )
    .refused(),
    TourStep::new(
        "A third leak gives two shares of the same epoch: the threshold's boundary, stated as such. The forgery works, as the arithmetic says.",
        Some("kdc compromise 3 && kdc forge alice files"),
        8,
    ),
];

/// Where the lab's processes are.
pub struct Located {
    /// The run dir.
    pub dir: PathBuf,
    /// Authority addresses by id.
    pub authorities: BTreeMap<u64, SocketAddr>,
    /// The service's address.
    pub service: SocketAddr,
}

impl Located {
    /// The run's lab token (for lab actions on the authorities).
    pub fn token(&self) -> Result<String, String> {
        authority::read_token(&self.dir.join(TOKEN_FILE))
    }
}

/// The file in the run dir that holds the lab token (0600).
pub const TOKEN_FILE: &str = "lab-token";

/// Finds the lab's nodes through the supervisor.
pub fn locate(cx: &VerbCtx<'_>, run: &RunDirArg) -> anyhow::Result<Located> {
    let resp = cx.target.request(NAME, run, ControlRequest::Status)?;
    let dir = cx.target.run_dir(NAME, run)?;
    let mut authorities = BTreeMap::new();
    let mut service = None;
    for n in &resp.nodes {
        let a: SocketAddr = n.addr.parse()?;
        if n.id == SERVICE_NODE {
            service = Some(a);
        } else {
            authorities.insert(n.id, a);
        }
    }
    Ok(Located {
        dir,
        authorities,
        service: service.ok_or_else(|| anyhow::anyhow!("the lab has no service node"))?,
    })
}

/// A current-thread runtime for one verb.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Connects a client to the located lab.
pub async fn connect(l: &Located) -> Result<Kdc, String> {
    Kdc::connect(&l.authorities, l.service, Duration::from_secs(2)).await
}

fn ccache_path(dir: &Path, user: &str) -> PathBuf {
    dir.join("ccache").join(format!("{user}.json"))
}

fn save_tgt(dir: &Path, user: &str, tgt: &Tgt) -> anyhow::Result<()> {
    let p = ccache_path(dir, user);
    std::fs::create_dir_all(p.parent().unwrap_or(dir))?;
    let v = json!({
        "ticket": hex(&tgt.issued.ticket),
        "signature": hex(&tgt.issued.signature),
        "signers": tgt.issued.signers,
        "key": hex(tgt.key.as_bytes()),
    });
    store::write_atomic(&p, v.to_string().as_bytes())?;
    Ok(())
}

fn load_tgt(dir: &Path, user: &str, kdc: &Kdc) -> Option<Tgt> {
    let b = store::read_bounded(&ccache_path(dir, user)).ok()??;
    let v: Value = serde_json::from_slice(&b).ok()?;
    let issued = Issued {
        ticket: hex_vec(v["ticket"].as_str()?, "ticket", 1024).ok()?,
        signature: hex_array::<64>(v["signature"].as_str()?, "sig").ok()?,
        signers: Vec::new(),
        rejected: Vec::new(),
    };
    let key =
        ed25519_dalek::SigningKey::from_bytes(&hex_array::<32>(v["key"].as_str()?, "key").ok()?);
    let t = Ticket::decode(&issued.ticket).ok()?;
    if t.client != user || t.end <= super::proto::now_secs() + 60 || kdc.verify(&issued).is_err() {
        return None;
    }
    Some(Tgt { issued, key })
}

/// The user's TGT: from the cache, or a fresh AS exchange (cached).
pub async fn tgt_for(kdc: &mut Kdc, dir: &Path, user: &str) -> Result<Tgt, String> {
    if let Some(t) = load_tgt(dir, user, kdc) {
        return Ok(t);
    }
    let t = kdc.login(user, None).await?;
    save_tgt(dir, user, &t).map_err(|e| e.to_string())?;
    Ok(t)
}

/// Text for the rejected shares of an issue.
pub fn rejected_note(i: &Issued) -> String {
    i.rejected
        .iter()
        .map(|(a, r)| format!("\n  authority {a}'s share rejected: {r}"))
        .collect()
}

fn join(ids: &[u64]) -> String {
    ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}

fn run_verb(verb: KdcVerb, cx: &mut VerbCtx<'_>) -> anyhow::Result<i32> {
    match verb {
        KdcVerb::Login {
            user,
            password,
            run,
        } => {
            let l = locate(cx, &run)?;
            let r = runtime()?.block_on(async {
                let mut kdc = connect(&l).await?;
                let t = kdc.login(&user, password.as_deref()).await?;
                save_tgt(&l.dir, &user, &t).map_err(|e| e.to_string())?;
                Ok::<_, String>(t)
            });
            match r {
                Ok(t) => {
                    writeln!(
                        cx.out,
                        "{user}: TGT issued by authorities {} (pre-authenticated with {user}'s key){}",
                        join(&t.issued.signers),
                        rejected_note(&t.issued)
                    )?;
                    Ok(0)
                }
                Err(e) => {
                    writeln!(cx.err, "kdc: login {user}: {e}")?;
                    Ok(1)
                }
            }
        }
        KdcVerb::Ticket {
            user,
            service,
            json,
            lifetime,
            run,
        } => {
            let l = locate(cx, &run)?;
            let r = runtime()?.block_on(async {
                let mut kdc = connect(&l).await?;
                let tgt = tgt_for(&mut kdc, &l.dir, &user).await?;
                let (issued, _key) = kdc.service_ticket(&tgt, &service, lifetime).await?;
                Ok::<_, String>((issued, kdc.group_key()))
            });
            let (issued, gk) = match r {
                Ok(x) => x,
                Err(e) => {
                    writeln!(cx.err, "kdc: ticket {user} {service}: {e}")?;
                    return Ok(1);
                }
            };
            let t = Ticket::decode(&issued.ticket).map_err(|e| anyhow::anyhow!(e))?;
            if json {
                let v = json!({
                    "signed": base64::engine::general_purpose::STANDARD.encode(&issued.ticket),
                    "signature": hex(&issued.signature),
                    "group_public_key": hex(&gk.to_bytes()),
                    "signers": issued.signers,
                    "rejected": issued.rejected.iter().map(|(a, r)| json!({"authority": a, "reason": r})).collect::<Vec<_>>(),
                    "client": t.client,
                    "service": t.service,
                    "start": t.start,
                    "end": t.end,
                });
                writeln!(cx.out, "{v}")?;
            } else {
                writeln!(
                    cx.out,
                    "service ticket {user} -> {service}, valid {}s, signed by authorities {}{}\nsignature {}",
                    t.end - t.start,
                    join(&issued.signers),
                    rejected_note(&issued),
                    hex(&issued.signature)
                )?;
            }
            Ok(0)
        }
        KdcVerb::Access { user, service, run } => {
            let l = locate(cx, &run)?;
            let r = runtime()?.block_on(async {
                let mut kdc = connect(&l).await?;
                let tgt = tgt_for(&mut kdc, &l.dir, &user).await?;
                let (issued, key) = kdc.service_ticket(&tgt, &service, 3600).await?;
                let (req, ts) = Kdc::ap_request(&issued, &key, &user, 0);
                let who = kdc
                    .send_ap(&req, &key, ts)
                    .await
                    .map_err(|e| format!("{service} refused: {e}"))?;
                Ok::<_, String>((issued, who))
            });
            match r {
                Ok((issued, who)) => {
                    writeln!(
                        cx.out,
                        "{service} says: you are {who} (ticket signed by authorities {}; mutual authentication ok){}",
                        join(&issued.signers),
                        rejected_note(&issued)
                    )?;
                    Ok(0)
                }
                Err(e) => {
                    writeln!(cx.err, "kdc: access {user} {service}: {e}")?;
                    Ok(1)
                }
            }
        }
        KdcVerb::Pubkey { run } => {
            let l = locate(cx, &run)?;
            let kdc = runtime()?
                .block_on(connect(&l))
                .map_err(|e| anyhow::anyhow!(e))?;
            writeln!(cx.out, "{}", hex(&kdc.group_key().to_bytes()))?;
            Ok(0)
        }
        KdcVerb::Compromise { node, run } => super::attack::compromise(cx, node, &run),
        KdcVerb::Forge { user, service, run } => super::attack::forge(cx, &user, &service, &run),
        KdcVerb::Refresh { run } => super::attack::refresh(cx, &run),
        KdcVerb::Replay { run } => super::ap_attack::ap_attack(cx, "replay", &run),
        KdcVerb::Attack { kind, victim, run } => {
            if kind == "nonce-reuse" {
                super::attack::nonce_reuse(cx, victim, &run)
            } else {
                super::ap_attack::ap_attack(cx, &kind, &run)
            }
        }
        KdcVerb::Bench(args) => super::bench::run(cx, args),
    }
}
