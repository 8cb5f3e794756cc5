//! `wirelab raft chaos`: a Jepsen-style test of the Raft KV store on real processes.
//!
//! Clients run get/put/cas over a handful of hot keys (plus write-once "receipt" keys) while a
//! nemesis injects one fault at a time at random moments: SIGKILL a node (then restart it on its
//! data dir), SIGSTOP one (then SIGCONT), or cut one off from the others (then heal). Every
//! invocation and completion goes to a JSON-lines history (see [`crate::check`]); an operation
//! whose client gave up is recorded as `info` (may or may not have happened). At the end the
//! nemesis heals everything, every receipt key acknowledged during the run is read back, and
//! the whole history is checked for linearizability. Exit status 0 only when the history is
//! linearizable and no acknowledged write is missing.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use super::bench::{addrs_of, start_cluster};
use super::cli::current_leader;
use super::client::{Client, ClientAuth, ClientOptions};
use super::codec::{Op, Reply};
use crate::check::{self, Call, Completion, Event, History, HistoryWriter, OpName, Verdict};
use crate::cluster::{NodeEvent, NodeInfo, NodeStatus, SupEventKind, Supervisor};
use crate::lab::args::parse_duration;

/// Options of `wirelab raft chaos`.
#[derive(Debug, Args, Clone)]
pub struct ChaosArgs {
    /// How long to run the workload under faults.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Concurrent clients.
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// Faults to inject, comma-separated: kill, pause, partition.
    #[arg(long, default_value = "kill,pause,partition")]
    pub faults: String,
    /// Random seed (the nemesis schedule and the workload).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Keys the clients contend on.
    #[arg(long, default_value_t = 5)]
    pub keys: usize,
    /// Keep the whole run dir (default: keep only the history).
    #[arg(long)]
    pub keep: bool,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

/// Which faults the nemesis may inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    Kill,
    Pause,
    Partition,
}

fn parse_faults(s: &str) -> anyhow::Result<Vec<Fault>> {
    s.split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(|f| match f {
            "kill" => Ok(Fault::Kill),
            "pause" => Ok(Fault::Pause),
            "partition" => Ok(Fault::Partition),
            other => anyhow::bail!("unknown fault {other:?} (use kill, pause, partition)"),
        })
        .collect()
}

/// Runs the chaos test; returns the exit code.
pub fn run(args: ChaosArgs) -> i32 {
    match run_inner(&args) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e) => {
            eprintln!("wirelab raft chaos: {e}");
            2
        }
    }
}

#[derive(Default)]
struct Recorder {
    history: History,
    start: Option<Instant>,
    last_ok: Option<Instant>,
    max_gap: Duration,
    ok: u64,
    failed: u64,
    unknown: u64,
}

impl Recorder {
    fn push(&mut self, e: Event) {
        let t = self.start.map_or(0, |s| s.elapsed().as_nanos() as u64);
        self.history.push(e.at(t));
    }

    fn completed(&mut self, ok: bool) {
        let now = Instant::now();
        if ok {
            self.ok += 1;
            if let Some(prev) = self.last_ok {
                self.max_gap = self.max_gap.max(now.duration_since(prev));
            }
            self.last_ok = Some(now);
        }
    }
}

type Shared = Arc<Mutex<Recorder>>;

fn with<T>(rec: &Shared, f: impl FnOnce(&mut Recorder) -> T) -> T {
    match rec.lock() {
        Ok(mut g) => f(&mut g),
        Err(p) => f(&mut p.into_inner()),
    }
}

/// Runs one operation and records its invocation and completion.
async fn recorded(client: &mut Client, id: u64, rec: &Shared, key: &str, op: Op) -> Option<Reply> {
    let call = match &op {
        Op::Get { .. } => Call::Get,
        Op::Put { value, .. } => Call::Put {
            value: String::from_utf8_lossy(value).into_owned(),
        },
        Op::Del { .. } => Call::Del,
        Op::Cas { expected, new, .. } => Call::Cas {
            expected: String::from_utf8_lossy(expected).into_owned(),
            value: String::from_utf8_lossy(new).into_owned(),
        },
    };
    let name = call.name();
    with(rec, |r| r.push(Event::invoke(id, key, call)));
    let result = client.execute(op).await;
    let text = |v: &Option<Vec<u8>>| v.as_ref().map(|b| String::from_utf8_lossy(b).into_owned());
    with(rec, |r| {
        let event = match &result {
            Ok(Reply::Value(v)) => Some(Event::ok(id, key, Completion::Get { value: text(v) })),
            Ok(Reply::Done) => Some(Event::ok(id, key, Completion::Put)),
            Ok(Reply::Deleted(_)) => Some(Event::ok(id, key, Completion::Del)),
            Ok(Reply::Cas { swapped, .. }) => {
                Some(Event::ok(id, key, Completion::Cas { swapped: *swapped }))
            }
            _ => None,
        };
        match event {
            Some(e) => {
                r.push(e);
                r.completed(true);
            }
            // A read that got no answer changed nothing: it failed. A write that got no
            // answer may have happened.
            None if name == OpName::Get => {
                r.push(Event::fail(id, key, name));
                r.failed += 1;
            }
            None => {
                r.push(Event::info(id, key, name));
                r.unknown += 1;
            }
        }
    });
    result.ok()
}

fn run_inner(args: &ChaosArgs) -> anyhow::Result<bool> {
    let faults = parse_faults(&args.faults)?;
    if args.clients == 0 || args.clients > 1000 {
        anyhow::bail!("--clients must be between 1 and 1000");
    }
    let seed = args.seed.unwrap_or_else(rand::random);
    let (sup, dir) = start_cluster("raft-chaos")?;
    let guard = ClusterGuard {
        sup: sup.clone(),
        dir: dir.clone(),
        keep: args.keep,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    if !args.json {
        eprintln!(
            "chaos: {} clients on {} keys for {:?}, faults: {}, seed {seed}, run dir {}",
            args.clients,
            args.keys,
            args.duration,
            args.faults.replace(',', ", "),
            dir.display()
        );
    }
    let outcome = rt.block_on(chaos(&sup, args, &faults, seed))?;
    let history_path = dir.join("history.jsonl");
    {
        let mut w = HistoryWriter::create(&history_path)?;
        for e in outcome.history.events() {
            w.append(e)?;
        }
    }
    let report = check::check_history(&outcome.history, Some(Duration::from_secs(120)))?;
    let linearizable = report.verdict == Verdict::Linearizable;
    let kept_history = if args.keep {
        history_path.clone()
    } else {
        // Keep the evidence, drop the data dirs.
        let keep_dir = crate::cluster::rundir::runs_dir().join("chaos-histories");
        std::fs::create_dir_all(&keep_dir)?;
        let target = keep_dir.join(format!(
            "{}.jsonl",
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ));
        std::fs::copy(&history_path, &target)?;
        target
    };
    drop(guard);
    let out = json!({
        "ops": outcome.ops,
        "ok": outcome.ok,
        "failed": outcome.failed,
        "unknown": outcome.unknown,
        "faults": {"kill": outcome.kills, "pause": outcome.pauses, "partition": outcome.partitions},
        "elections": outcome.elections,
        "linearizable": linearizable,
        "verdict": report.verdict,
        "lost_acknowledged_writes": outcome.lost.len(),
        "nodes_rejoined": outcome.rejoined,
        "nodes": outcome.node_count,
        "max_unavailable_ms": outcome.max_gap.as_millis() as u64,
        "history": kept_history,
        "seed": seed,
        "check_ms": report.elapsed.as_millis() as u64,
    });
    if args.json {
        println!("{out}");
    } else {
        println!(
            "{} ops ({} ok, {} failed, {} unknown outcome); faults: {} kills, {} pauses, {} partitions; {} elections",
            outcome.ops,
            outcome.ok,
            outcome.failed,
            outcome.unknown,
            outcome.kills,
            outcome.pauses,
            outcome.partitions,
            outcome.elections
        );
        println!(
            "longest time without a successful operation: {} ms",
            outcome.max_gap.as_millis()
        );
        println!("{report}");
        if outcome.lost.is_empty() {
            println!("every acknowledged write is in the final state");
        } else {
            println!("LOST acknowledged writes: {:?}", outcome.lost);
        }
        println!(
            "{} of {} nodes caught up with the leader on their own after the faults",
            outcome.rejoined, outcome.node_count
        );
        println!("history: {}", kept_history.display());
    }
    Ok(linearizable && outcome.lost.is_empty() && outcome.rejoined == outcome.node_count)
}

struct ClusterGuard {
    sup: Supervisor,
    dir: PathBuf,
    keep: bool,
}

impl Drop for ClusterGuard {
    fn drop(&mut self) {
        self.sup.shutdown(Duration::from_secs(1));
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

struct Outcome {
    history: History,
    ops: u64,
    ok: u64,
    failed: u64,
    unknown: u64,
    kills: u64,
    pauses: u64,
    partitions: u64,
    elections: u64,
    lost: Vec<String>,
    max_gap: Duration,
    /// Nodes whose applied index reached the leader's commit index after healing, without any
    /// step but the supervisor's restart (the "rejoins without manual steps" check).
    rejoined: usize,
    /// Nodes in the cluster.
    node_count: usize,
}

async fn chaos(
    sup: &Supervisor,
    args: &ChaosArgs,
    faults: &[Fault],
    seed: u64,
) -> anyhow::Result<Outcome> {
    let nodes = addrs_of(sup)?;
    let auth = ClientAuth::of_run(sup.run_dir())?;
    let rec: Shared = Arc::new(Mutex::new(Recorder {
        start: Some(Instant::now()),
        ..Default::default()
    }));
    let receipts: Arc<Mutex<BTreeMap<String, String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));

    // Count elections from the nodes' own reports.
    let mut events = sup.subscribe();
    let elections = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let el = elections.clone();
    let election_watch = tokio::spawn(async move {
        let mut seen_terms = std::collections::BTreeSet::new();
        while let Ok(ev) = events.recv().await {
            if let SupEventKind::Node {
                event: NodeEvent::State { fields },
            } = &ev.kind
                && fields.get("role").and_then(|r| r.as_str()) == Some("leader")
                && let Some(term) = fields.get("term").and_then(|t| t.as_u64())
                && seen_terms.insert(term)
            {
                el.fetch_add(1, Ordering::Relaxed);
            }
        }
    });

    let mut workers = Vec::new();
    for c in 0..args.clients {
        let nodes = nodes.clone();
        let auth = auth.clone();
        let rec = rec.clone();
        let stop = stop.clone();
        let receipts = receipts.clone();
        let keys = args.keys.max(1);
        let mut rng =
            StdRng::seed_from_u64(seed ^ (c as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        workers.push(tokio::spawn(async move {
            // Short deadlines on purpose (very short for every other client): operations that
            // give up mid-failover leave unknown outcomes in the history, which is exactly what
            // the checker must reason about.
            let opts = if c % 2 == 1 {
                ClientOptions {
                    deadline: Duration::from_millis(150),
                    attempt_timeout: Duration::from_millis(100),
                }
            } else {
                ClientOptions {
                    deadline: Duration::from_millis(800),
                    attempt_timeout: Duration::from_millis(250),
                }
            };
            let mut client = Client::new(nodes, auth, opts);
            let id = client.session();
            let mut n = 0u64;
            let mut last_seen: BTreeMap<String, String> = BTreeMap::new();
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let value = format!("c{c}-{n}");
                let roll: f64 = rng.random();
                if roll < 0.15 {
                    // A write-once receipt: must survive everything once acknowledged.
                    let key = format!("receipt-{c}-{n}");
                    let op = Op::Put {
                        key: key.clone(),
                        value: value.clone().into_bytes(),
                    };
                    if let Some(Reply::Done) = recorded(&mut client, id, &rec, &key, op).await
                        && let Ok(mut r) = receipts.lock()
                    {
                        r.insert(key, value);
                    }
                    continue;
                }
                let key = format!("k{}", rng.random_range(0..keys));
                let op = if roll < 0.5 {
                    Op::Get { key: key.clone() }
                } else if roll < 0.8 {
                    Op::Put {
                        key: key.clone(),
                        value: value.clone().into_bytes(),
                    }
                } else {
                    let expected = last_seen.get(&key).cloned().unwrap_or_default();
                    Op::Cas {
                        key: key.clone(),
                        expected: expected.into_bytes(),
                        new: value.clone().into_bytes(),
                    }
                };
                let is_write = op.is_write();
                match recorded(&mut client, id, &rec, &key, op).await {
                    Some(Reply::Value(Some(v))) => {
                        last_seen.insert(key, String::from_utf8_lossy(&v).into_owned());
                    }
                    Some(Reply::Done) | Some(Reply::Cas { swapped: true, .. }) if is_write => {
                        last_seen.insert(key, value);
                    }
                    _ => {}
                }
            }
        }));
    }

    let (kills, pauses, partitions) = nemesis(sup, faults, seed, args.duration, args.json).await?;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.await;
    }

    // Heal: every node running and connected, a leader elected.
    sup.heal()?;
    for n in sup.nodes() {
        match n.status {
            NodeStatus::Paused => sup.resume(n.id)?,
            NodeStatus::Killed | NodeStatus::Exited => sup.restart(n.id)?,
            NodeStatus::Running => {}
        }
    }
    let s = sup.clone();
    tokio::task::spawn_blocking(move || {
        s.wait_until(Duration::from_secs(20), "a leader after healing", |n| {
            current_leader(n).is_some()
        })
    })
    .await??;

    // Read back every acknowledged receipt (these reads are part of the history too).
    let mut reader = Client::new(
        nodes,
        auth,
        ClientOptions {
            deadline: Duration::from_secs(10),
            attempt_timeout: Duration::from_secs(1),
        },
    );
    let reader_id = reader.session();
    let acked: Vec<(String, String)> = receipts
        .lock()
        .map(|r| r.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let mut lost = Vec::new();
    for (key, value) in acked {
        match recorded(
            &mut reader,
            reader_id,
            &rec,
            &key,
            Op::Get { key: key.clone() },
        )
        .await
        {
            Some(Reply::Value(Some(v))) if v == value.as_bytes() => {}
            Some(Reply::Value(other)) => lost.push(format!(
                "{key}: acknowledged {value:?}, found {:?}",
                other.map(|v| String::from_utf8_lossy(&v).into_owned())
            )),
            _ => anyhow::bail!("cluster did not answer the final read of {key} after healing"),
        }
    }
    // Every node, the restarted ones included, catches up with the leader on its own: its
    // applied index reaches the leader's commit index as it stood after the final reads.
    let target = current_leader(&sup.fresh_nodes(Duration::from_secs(2)))
        .and_then(|l| {
            sup.nodes()
                .into_iter()
                .find(|n| n.id == l)
                .and_then(|n| n.state.get("commit").and_then(Value::as_u64))
        })
        .unwrap_or(0);
    let s = sup.clone();
    let applied =
        move |n: &NodeInfo| n.state.get("applied").and_then(Value::as_u64).unwrap_or(0) >= target;
    let caught_up = tokio::task::spawn_blocking(move || {
        let _ = s.wait_until(Duration::from_secs(20), "every node caught up", |ns| {
            ns.iter()
                .all(|n| n.status == NodeStatus::Running && applied(n))
        });
        s.fresh_nodes(Duration::from_secs(2))
            .iter()
            .filter(|n| n.status == NodeStatus::Running && applied(n))
            .count()
    })
    .await?;
    election_watch.abort();
    let rec = Arc::try_unwrap(rec)
        .map_err(|_| anyhow::anyhow!("recorder still shared"))?
        .into_inner()
        .map_err(|_| anyhow::anyhow!("recorder poisoned"))?;
    let ops = rec.ok + rec.failed + rec.unknown;
    Ok(Outcome {
        history: rec.history,
        ops,
        ok: rec.ok,
        failed: rec.failed,
        unknown: rec.unknown,
        kills,
        pauses,
        partitions,
        elections: elections.load(Ordering::Relaxed),
        lost,
        max_gap: rec.max_gap,
        rejoined: caught_up,
        node_count: sup.ids().len(),
    })
}

/// Injects one fault at a time until `duration` has passed; returns (kills, pauses, partitions).
async fn nemesis(
    sup: &Supervisor,
    faults: &[Fault],
    seed: u64,
    duration: Duration,
    quiet: bool,
) -> anyhow::Result<(u64, u64, u64)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let deadline = Instant::now() + duration;
    let (mut kills, mut pauses, mut partitions) = (0, 0, 0);
    let ids = sup.ids();
    while Instant::now() < deadline {
        let calm = Duration::from_millis(rng.random_range(300..1200));
        tokio::time::sleep(calm.min(deadline.saturating_duration_since(Instant::now()))).await;
        if faults.is_empty() || Instant::now() >= deadline {
            continue;
        }
        let fault = faults[rng.random_range(0..faults.len())];
        // Half the time aim at the leader: that is where faults hurt.
        let leader = current_leader(&sup.nodes());
        let target = match leader {
            Some(l) if rng.random_bool(0.5) => l,
            _ => ids[rng.random_range(0..ids.len())],
        };
        let hold = Duration::from_millis(rng.random_range(400..2000));
        let s = sup.clone();
        let say = |what: String| {
            if !quiet {
                eprintln!("nemesis: {what}");
            }
        };
        match fault {
            Fault::Kill => {
                say(format!("SIGKILL node {target}"));
                tokio::task::spawn_blocking(move || s.kill(target)).await??;
                kills += 1;
                tokio::time::sleep(hold).await;
                let s = sup.clone();
                tokio::task::spawn_blocking(move || s.restart(target)).await??;
                say(format!("restarted node {target}"));
            }
            Fault::Pause => {
                say(format!("SIGSTOP node {target}"));
                s.pause(target)?;
                pauses += 1;
                tokio::time::sleep(hold).await;
                sup.resume(target)?;
                say(format!("SIGCONT node {target}"));
            }
            Fault::Partition => {
                say(format!("partition: node {target} cut off"));
                s.partition(&[target])?;
                partitions += 1;
                tokio::time::sleep(hold).await;
                sup.heal()?;
                say("healed".into());
            }
        }
    }
    Ok((kills, pauses, partitions))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_lists_parse_and_reject_unknowns() {
        assert_eq!(
            parse_faults("kill,pause").unwrap(),
            vec![Fault::Kill, Fault::Pause]
        );
        assert_eq!(parse_faults("partition").unwrap(), vec![Fault::Partition]);
        assert!(parse_faults("kill,meteor").is_err());
        assert!(parse_faults("").unwrap().is_empty());
    }
}
