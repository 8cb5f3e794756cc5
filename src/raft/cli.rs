//! The `wirelab raft …` verbs: start a cluster, act on a running one, talk to it as a client.
//!
//! Exit codes (other tools script against them): 0 success; 1 not found or a failed compare;
//! 2 an error (including an unknown outcome: the write may or may not have happened).

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use super::client::{Client, ClientError, ClientOptions};
use super::codec::{Op, Reply};
use super::lab::{self, LabConfig};
use crate::cli::{RaftVerb, RunDirArg};
use crate::cluster::control::{self, ControlRequest};
use crate::cluster::rundir::{self, read_cluster_file, resolve_run_dir};
use crate::cluster::{NodeInfo, Supervisor, foreground};

/// Where the cluster a verb acts on lives.
#[derive(Clone, Copy)]
pub enum Target<'a> {
    /// A cluster supervised by this very process (the shell or the dashboard started it).
    InProcess(&'a Supervisor),
    /// A cluster in this run dir unless `--run-dir` says otherwise, reached through its control
    /// socket (a forked shell child must not touch its parent's supervisor threads' locks).
    Dir(&'a Path),
    /// Whatever `--run-dir` (or the newest run) says: reached through its control socket.
    RunDir,
}

impl Target<'_> {
    fn run_dir(&self, run: &RunDirArg) -> Result<PathBuf, rundir::RunDirError> {
        match (self, &run.run_dir) {
            (Target::InProcess(sup), None) => Ok(sup.run_dir().to_path_buf()),
            (Target::Dir(dir), None) => Ok(dir.to_path_buf()),
            _ => resolve_run_dir("raft", run.run_dir.as_deref()),
        }
    }
}

/// Runs a `wirelab raft` verb and returns the process exit code.
pub fn run(verb: RaftVerb) -> i32 {
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    run_with(verb, Target::RunDir, &mut out, &mut err)
}

/// Runs a verb against `target`, writing to `out` and `err`; returns the exit code. `up` here
/// is the foreground supervisor of the CLI; a shell starts in-process clusters itself.
pub fn run_with(
    verb: RaftVerb,
    target: Target<'_>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let code = match run_inner(verb, target, out, err) {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(err, "raft: {e}");
            2
        }
    };
    let _ = out.flush();
    code
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

fn run_inner(
    verb: RaftVerb,
    target: Target<'_>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<i32> {
    let ctl = |run: &RunDirArg, req: ControlRequest| control_request(target, run, req);
    match verb {
        RaftVerb::Up { nodes, run, detach } => up(nodes, run.run_dir, detach),
        RaftVerb::Status { run, json } => status(ctl(&run, ControlRequest::Status)?, json, out),
        RaftVerb::Leader { run } => {
            // An election may be under way: give it a moment before saying "none".
            let deadline = std::time::Instant::now() + Duration::from_secs(3);
            loop {
                let resp = ctl(&run, ControlRequest::Status)?;
                if let Some(l) = current_leader(&resp.nodes) {
                    writeln!(out, "{l}")?;
                    return Ok(0);
                }
                if std::time::Instant::now() > deadline {
                    writeln!(err, "no leader")?;
                    return Ok(1);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        RaftVerb::Put { key, value, run } => client_op(
            target,
            &run,
            Op::Put {
                key,
                value: value.into_bytes(),
            },
            out,
            err,
        ),
        RaftVerb::Get { key, run } => client_op(target, &run, Op::Get { key }, out, err),
        RaftVerb::Del { key, run } => client_op(target, &run, Op::Del { key }, out, err),
        RaftVerb::Cas { key, old, new, run } => client_op(
            target,
            &run,
            Op::Cas {
                key,
                expected: old.into_bytes(),
                new: new.into_bytes(),
            },
            out,
            err,
        ),
        RaftVerb::Kill { node, run } => {
            ctl(&run, ControlRequest::Kill { node })?;
            writeln!(out, "node {node} killed (SIGKILL)")?;
            Ok(0)
        }
        RaftVerb::Pause { node, run } => {
            ctl(&run, ControlRequest::Pause { node })?;
            writeln!(out, "node {node} paused (SIGSTOP)")?;
            Ok(0)
        }
        RaftVerb::Resume { node, run } => {
            ctl(&run, ControlRequest::Resume { node })?;
            writeln!(out, "node {node} resumed (SIGCONT)")?;
            Ok(0)
        }
        RaftVerb::Restart { node, run } => {
            ctl(&run, ControlRequest::Restart { node })?;
            writeln!(out, "node {node} restarted from its data dir")?;
            Ok(0)
        }
        RaftVerb::Partition { nodes, run } => {
            let names: Vec<String> = nodes.iter().map(|n| n.to_string()).collect();
            ctl(&run, ControlRequest::Partition { nodes })?;
            writeln!(out, "node(s) {} cut off from the rest", names.join(","))?;
            Ok(0)
        }
        RaftVerb::Faults {
            node,
            drop,
            delay_ms,
            run,
        } => {
            if !(0.0..=1.0).contains(&drop) {
                anyhow::bail!("--drop must be between 0 and 1 (got {drop})");
            }
            let status = ctl(&run, ControlRequest::Status)?;
            let current = status
                .nodes
                .iter()
                .find(|n| n.id == node)
                .ok_or_else(|| anyhow::anyhow!("no node {node} in this cluster"))?;
            let rules = crate::wire::FaultRules {
                cut: current.faults.cut.clone(),
                drop_rate: drop,
                delay_ms,
            };
            ctl(&run, ControlRequest::Faults { node, rules })?;
            writeln!(
                out,
                "node {node}: dropping {:.0}% of peer frames, delaying each by {delay_ms} ms",
                drop * 100.0
            )?;
            Ok(0)
        }
        RaftVerb::Heal { run } => {
            ctl(&run, ControlRequest::Heal)?;
            writeln!(out, "network healed")?;
            Ok(0)
        }
        RaftVerb::Stop { run } => {
            ctl(&run, ControlRequest::Stop)?;
            writeln!(out, "cluster stopped")?;
            Ok(0)
        }
        RaftVerb::Bench(args) => Ok(super::bench::run(args)),
        RaftVerb::Chaos(args) => Ok(super::chaos::run(args)),
        RaftVerb::Load { action, clients } => load_verb(target, &action, clients, out, err),
        RaftVerb::Nemesis {
            duration,
            faults,
            seed,
            run,
        } => super::nemesis::run(target, &run, duration, &faults, seed, out),
    }
}

/// `raft load …`: the workload lives in the process that hosts the cluster.
fn load_verb(
    target: Target<'_>,
    action: &str,
    clients: usize,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<i32> {
    let Target::InProcess(sup) = target else {
        writeln!(
            err,
            "raft load: runs only beside a cluster this shell hosts (`raft up` first, outside a pipeline); from the command line use `wirelab raft bench`"
        )?;
        return Ok(2);
    };
    match action {
        "start" => {
            let line = super::load::start(super::bench::addrs_of(sup)?, clients)?;
            writeln!(out, "{line}")?;
            Ok(0)
        }
        "stop" => {
            let (text, ok) = super::load::stop()?;
            write!(out, "{text}")?;
            Ok(if ok { 0 } else { 1 })
        }
        _ => {
            write!(out, "{}", super::load::status_text())?;
            Ok(0)
        }
    }
}

/// Sends a control request to the target cluster.
pub fn control_request(
    target: Target<'_>,
    run: &RunDirArg,
    req: ControlRequest,
) -> anyhow::Result<control::ControlResponse> {
    match (target, &run.run_dir) {
        (Target::InProcess(sup), None) => {
            let resp = control::handle(sup, &req);
            match resp.error {
                Some(e) if !resp.ok => Err(anyhow::anyhow!(e)),
                _ => Ok(resp),
            }
        }
        _ => {
            let dir = target.run_dir(run)?;
            Ok(control::request(&dir, "raft", &req)?)
        }
    }
}

/// The client addresses of the cluster in `run_dir`, from `cluster.json`.
pub fn cluster_addrs(run_dir: &Path) -> anyhow::Result<Vec<(u64, SocketAddr)>> {
    let cf = read_cluster_file(run_dir)?;
    cf.nodes
        .iter()
        .map(|n| {
            n.addr
                .parse()
                .map(|a| (n.id, a))
                .map_err(|e| anyhow::anyhow!("bad address {:?} in cluster.json: {e}", n.addr))
        })
        .collect()
}

fn client_op(
    target: Target<'_>,
    run: &RunDirArg,
    op: Op,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<i32> {
    let dir = target.run_dir(run)?;
    let nodes = cluster_addrs(&dir)?;
    let rt = runtime()?;
    let mut client = Client::new(nodes, ClientOptions::default());
    let is_write = op.is_write();
    let result = rt.block_on(client.execute(op));
    Ok(match result {
        Ok(Reply::Value(Some(v))) => {
            writeln!(out, "{}", String::from_utf8_lossy(&v))?;
            0
        }
        Ok(Reply::Value(None)) | Ok(Reply::Deleted(false)) => {
            writeln!(err, "not found")?;
            1
        }
        Ok(Reply::Done) | Ok(Reply::Deleted(true)) | Ok(Reply::Cas { swapped: true, .. }) => 0,
        Ok(Reply::Cas {
            swapped: false,
            current,
        }) => {
            match current {
                Some(v) => writeln!(
                    err,
                    "compare failed: current value is {:?}",
                    String::from_utf8_lossy(&v)
                )?,
                None => writeln!(err, "compare failed: key is absent")?,
            }
            1
        }
        Ok(other) => {
            writeln!(err, "unexpected reply: {other:?}")?;
            2
        }
        Err(ClientError::Unknown(d)) if is_write => {
            writeln!(
                err,
                "no answer within {d:?}: the write may or may not have been applied"
            )?;
            2
        }
        Err(e) => {
            writeln!(err, "{e}")?;
            2
        }
    })
}

/// One row of `raft status`.
pub fn status_row(n: &NodeInfo) -> Value {
    let s = &n.state;
    let alive = n.status.is_alive();
    let field = |k: &str| {
        if alive {
            s.get(k).cloned().unwrap_or(Value::Null)
        } else {
            Value::Null
        }
    };
    json!({
        "id": n.id,
        "pid": n.pid,
        "state": n.status.as_str(),
        "addr": n.addr,
        "http": n.http,
        "role": field("role"),
        "term": field("term"),
        "leader": field("leader"),
        "commit": field("commit"),
        "applied": field("applied"),
        "last_index": field("last_index"),
        "partitioned": !n.faults.cut.is_empty(),
        "rss_bytes": n.rss_bytes,
        "cpu_percent": (n.cpu_percent * 10.0).round() / 10.0,
        "uptime_ms": n.uptime_ms,
    })
}

/// The leader as the running nodes report it: the running leader with the highest term.
pub fn current_leader(nodes: &[NodeInfo]) -> Option<u64> {
    nodes
        .iter()
        .filter(|n| n.status == crate::cluster::NodeStatus::Running)
        .filter(|n| n.state.get("role").and_then(Value::as_str) == Some("leader"))
        .max_by_key(|n| n.state.get("term").and_then(Value::as_u64).unwrap_or(0))
        .map(|n| n.id)
}

fn status(
    resp: control::ControlResponse,
    as_json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let leader = current_leader(&resp.nodes);
    if as_json {
        let rows: Vec<Value> = resp.nodes.iter().map(status_row).collect();
        let run_dir = resp
            .nodes
            .first()
            .and_then(|n| n.data_dir.parent().map(|p| p.to_path_buf()));
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&json!({
                "run_dir": run_dir,
                "leader": leader,
                "nodes": rows,
            }))?
        )?;
    } else {
        write!(out, "{}", format_table(&resp.nodes))?;
    }
    Ok(0)
}

/// The node table as text.
pub fn format_table(nodes: &[NodeInfo]) -> String {
    let mut out = format!(
        "{:<4} {:<8} {:<8} {:<13} {:>5} {:>6} {:>8} {:>8} {:>8} {:>9}\n",
        "ID", "PID", "STATE", "ROLE", "TERM", "LEADER", "COMMIT", "APPLIED", "LAST", "RSS"
    );
    for n in nodes {
        let r = status_row(n);
        let show = |v: &Value| match v {
            Value::Null => "-".to_string(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let state = if r["partitioned"] == true && n.status.is_alive() {
            format!("{}*", n.status.as_str())
        } else {
            n.status.as_str().to_string()
        };
        out.push_str(&format!(
            "{:<4} {:<8} {:<8} {:<13} {:>5} {:>6} {:>8} {:>8} {:>8} {:>8}M\n",
            n.id,
            n.pid.map_or("-".into(), |p| p.to_string()),
            state,
            show(&r["role"]),
            show(&r["term"]),
            show(&r["leader"]),
            show(&r["commit"]),
            show(&r["applied"]),
            show(&r["last_index"]),
            n.rss_bytes / (1024 * 1024),
        ));
    }
    out
}

fn up(nodes: usize, run_dir: Option<PathBuf>, detach: bool) -> anyhow::Result<i32> {
    if nodes == 0 || nodes > 9 {
        anyhow::bail!("--nodes must be between 1 and 9 (got {nodes})");
    }
    let run_dir = run_dir.unwrap_or_else(|| rundir::new_run_dir("raft"));
    if detach {
        return up_detached(nodes, &run_dir);
    }
    let cfg = LabConfig::builtin()?;
    let sup = lab::launch(&cfg, nodes, &run_dir, None)?;
    foreground::run(sup, Duration::from_secs(10), |sup| {
        println!("raft cluster up in {}", sup.run_dir().display());
        print!("{}", format_table(&sup.nodes()));
        println!(
            "(Ctrl-C stops every node; act on it from another terminal with `wirelab raft kill 2`, `raft status`, …)"
        );
    })
}

/// Starts `wirelab raft up` as a background process of its own and returns once the cluster
/// has a leader.
fn up_detached(nodes: usize, run_dir: &Path) -> anyhow::Result<i32> {
    let args: Vec<String> = vec![
        "raft".into(),
        "up".into(),
        "--nodes".into(),
        nodes.to_string(),
        "--run-dir".into(),
        run_dir.display().to_string(),
    ];
    let (pid, nodes) = foreground::detach(&args, run_dir, "raft", Duration::from_secs(15), |n| {
        current_leader(n).is_some()
    })?;
    println!(
        "raft cluster up in {} (supervisor pid {pid})",
        run_dir.display()
    );
    print!("{}", format_table(&nodes));
    Ok(0)
}
