//! The forge lab verbs: `wirelab forge up|status|load|slowloris|smuggle|reload|kill|pause|
//! resume|restart|stop`, from the command line (through the run dir's control socket) or from
//! the shell's `forge` builtin (on the cluster the shell hosts).

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::attacks;
use super::{LOAD, SERVER};
use crate::cli::RunDirArg;
use crate::cluster::control::{self, ControlRequest, ControlResponse};
use crate::cluster::rundir::{self, resolve_run_dir};
use crate::cluster::{ControlCommand, NodeInfo, Supervisor};
use crate::forge::cli::{ForgeVerb, LoadAction};
use crate::labs::LabHost;

/// Where the lab a verb acts on lives.
#[derive(Clone, Copy)]
pub enum Target<'a> {
    /// A lab supervised by this very process (the shell started it).
    InProcess(&'a Supervisor),
    /// The lab in this run dir unless `--run-dir` says otherwise, through its control socket.
    Dir(&'a Path),
    /// Whatever `--run-dir` (or the newest forge run) says, through its control socket.
    RunDir,
}

/// Runs a lab verb from the command line; returns the exit code.
pub fn run(verb: ForgeVerb) -> i32 {
    run_with(
        verb,
        Target::RunDir,
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    )
}

/// Runs a lab verb against `target`; returns the exit code.
pub fn run_with(
    verb: ForgeVerb,
    target: Target<'_>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let code = match run_inner(verb, target, out) {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(err, "forge: {}", crate::error_chain(&e));
            2
        }
    };
    let _ = out.flush();
    code
}

/// The shell's `forge` builtin: `up` starts the lab inside the shell process (not in a
/// pipeline's child), `stop` stops it, the rest act on it (or on `--run-dir`).
pub fn run_in_shell(
    host: &LabHost,
    verb: ForgeVerb,
    in_child: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let hosted = host.get("forge");
    match (verb, hosted) {
        (ForgeVerb::Serve(_), _) => {
            let _ = writeln!(
                err,
                "forge serve: run it as `wirelab forge serve`, outside the shell"
            );
            2
        }
        (ForgeVerb::Up { run, .. }, _) => {
            if in_child {
                let _ = writeln!(
                    err,
                    "forge up: cannot start a lab inside a pipeline or subshell"
                );
                return 2;
            }
            match host.start_forge(run.run_dir, None) {
                Ok(sup) => {
                    let _ = writeln!(out, "forge lab up in {}", sup.run_dir().display());
                    let _ = write!(out, "{}", format_table(&sup.nodes()));
                    0
                }
                Err(e) => {
                    let _ = writeln!(err, "forge up: {}", crate::error_chain(&e));
                    2
                }
            }
        }
        (ForgeVerb::Stop { run }, Some(_)) if run.run_dir.is_none() && !in_child => {
            host.stop("forge");
            let _ = writeln!(out, "forge lab stopped");
            0
        }
        (verb, Some(sup)) if !in_child => run_with(verb, Target::InProcess(&sup), out, err),
        (verb, Some(sup)) => run_with(verb, Target::Dir(sup.run_dir()), out, err),
        (verb, None) => run_with(verb, Target::RunDir, out, err),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

fn ctl(
    target: Target<'_>,
    run: &RunDirArg,
    req: ControlRequest,
) -> anyhow::Result<ControlResponse> {
    match (target, &run.run_dir) {
        (Target::InProcess(sup), None) => {
            let resp = control::handle(sup, &req);
            match resp.error {
                Some(e) if !resp.ok => Err(anyhow::anyhow!(e)),
                _ => Ok(resp),
            }
        }
        (Target::Dir(dir), None) => Ok(control::request(dir, "forge", &req)?),
        _ => {
            let dir = resolve_run_dir("forge", run.run_dir.as_deref())?;
            // Another lab's run answers the same control protocol: refuse it by name.
            if let Ok(cf) = rundir::read_cluster_file(&dir)
                && cf.lab != "forge"
            {
                anyhow::bail!("{} is a {} run, not a forge lab", dir.display(), cf.lab);
            }
            Ok(control::request(&dir, "forge", &req)?)
        }
    }
}

fn lab_command(action: &str, args: Value) -> ControlCommand {
    ControlCommand::Lab {
        action: action.into(),
        args,
    }
}

fn node(resp: &ControlResponse, id: u64) -> anyhow::Result<&NodeInfo> {
    resp.nodes
        .iter()
        .find(|n| n.id == id)
        .ok_or_else(|| anyhow::anyhow!("this run has no node {id}: is it a forge lab?"))
}

/// `node 1 (forge-server)`.
fn node_name(resp: &ControlResponse, id: u64) -> String {
    match node(resp, id) {
        Ok(n) => format!("node {id} ({})", n.role),
        Err(_) => format!("node {id}"),
    }
}

fn server_addr(resp: &ControlResponse) -> anyhow::Result<SocketAddr> {
    let n = node(resp, SERVER)?;
    if !n.status.is_alive() {
        anyhow::bail!("the server (node {SERVER}) is {}", n.status.as_str());
    }
    Ok(n.addr.parse()?)
}

/// A load node's cumulative counters, from its latest `state`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct LoadCounters {
    running: bool,
    requests: u64,
    errors: u64,
    non_2xx: u64,
}

fn load_counters(resp: &ControlResponse) -> anyhow::Result<LoadCounters> {
    let s = &node(resp, LOAD)?.state;
    let num = |k: &str| s.get(k).and_then(Value::as_u64).unwrap_or(0);
    let non_2xx = s.get("status").and_then(Value::as_object).map_or(0, |m| {
        m.iter()
            .filter(|(k, _)| !k.starts_with('2'))
            .filter_map(|(_, v)| v.as_u64())
            .sum()
    });
    Ok(LoadCounters {
        running: s.get("running").and_then(Value::as_bool).unwrap_or(false),
        requests: num("requests"),
        errors: num("errors"),
        non_2xx,
    })
}

fn run_inner(verb: ForgeVerb, target: Target<'_>, out: &mut dyn Write) -> anyhow::Result<i32> {
    match verb {
        ForgeVerb::Serve(_) => anyhow::bail!("`serve` is not a lab verb"),
        ForgeVerb::Bench(args) => super::bench::run_with(args, out),
        ForgeVerb::Up { run, detach } => super::up::up(run.run_dir, detach, out),
        ForgeVerb::Status { run, json } => {
            let resp = ctl(target, &run, ControlRequest::Status)?;
            if json {
                writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(&status_json(&resp.nodes))?
                )?;
            } else {
                write!(out, "{}", format_table(&resp.nodes))?;
            }
            Ok(0)
        }
        ForgeVerb::Load {
            action:
                LoadAction::Start {
                    connections,
                    path,
                    run,
                },
        } => {
            let mut args = Map::new();
            if let Some(c) = connections {
                args.insert("connections".into(), json!(c));
            }
            if let Some(p) = path {
                args.insert("path".into(), json!(p));
            }
            let status = ctl(target, &run, ControlRequest::Status)?;
            let addr = server_addr(&status)?;
            ctl(
                target,
                &run,
                ControlRequest::Send {
                    node: LOAD,
                    command: lab_command("start", Value::Object(args)),
                },
            )?;
            let resp = wait_load(target, &run, |c| c.running, "the load to start")?;
            let n = node(&resp, LOAD)?;
            writeln!(
                out,
                "load started: {} keep-alive connections against http://{addr}",
                n.state
                    .get("connections")
                    .and_then(Value::as_u64)
                    .unwrap_or(0)
            )?;
            Ok(0)
        }
        ForgeVerb::Load {
            action: LoadAction::Stop { run },
        } => {
            ctl(
                target,
                &run,
                ControlRequest::Send {
                    node: LOAD,
                    command: lab_command("stop", Value::Null),
                },
            )?;
            let resp = wait_load(target, &run, |c| !c.running, "the load to stop")?;
            let c = load_counters(&resp)?;
            writeln!(
                out,
                "load stopped: {} requests answered, {} not 2xx, {} failed",
                c.requests, c.non_2xx, c.errors
            )?;
            Ok(0)
        }
        ForgeVerb::Slowloris { connections, run } => {
            let addr = server_addr(&ctl(target, &run, ControlRequest::Status)?)?;
            let count = connections.clamp(1, attacks::MAX_SLOWLORIS);
            writeln!(
                out,
                "slowloris: {count} connections to http://{addr}, each sending one header line every 200 ms and never the blank line"
            )?;
            out.flush()?;
            let report =
                runtime()?.block_on(attacks::slowloris(addr, count, Duration::from_secs(30)));
            print_slowloris(&report, out)?;
            Ok(
                if report.still_open == 0
                    && report.closed_after.len() + report.failed_to_open == count
                {
                    0
                } else {
                    1
                },
            )
        }
        ForgeVerb::Smuggle { run } => {
            let addr = server_addr(&ctl(target, &run, ControlRequest::Status)?)?;
            writeln!(out, "smuggle: CL.TE request to http://{addr}:")?;
            for line in String::from_utf8_lossy(attacks::CL_TE).split("\r\n") {
                writeln!(out, "  > {line}")?;
            }
            let r = runtime()?.block_on(attacks::smuggle(addr))?;
            writeln!(out, "  < {}", r.status_line)?;
            writeln!(
                out,
                "server answered {} ({} response{}) and {} after {:.1} ms: nothing after the rejected head reached a handler",
                r.status.map_or("nothing".to_string(), |s| s.to_string()),
                r.responses,
                if r.responses == 1 { "" } else { "s" },
                if r.closed {
                    "closed the connection"
                } else {
                    "kept the connection open"
                },
                r.elapsed.as_secs_f64() * 1e3
            )?;
            Ok(if r.status == Some(400) && r.closed && r.responses == 1 {
                0
            } else {
                1
            })
        }
        ForgeVerb::Reload { run } => reload(target, &run, out),
        ForgeVerb::Kill { node: id, run } => {
            let resp = ctl(target, &run, ControlRequest::Kill { node: id })?;
            writeln!(out, "{} killed (SIGKILL)", node_name(&resp, id))?;
            Ok(0)
        }
        ForgeVerb::Pause { node: id, run } => {
            let resp = ctl(target, &run, ControlRequest::Pause { node: id })?;
            writeln!(out, "{} paused (SIGSTOP)", node_name(&resp, id))?;
            Ok(0)
        }
        ForgeVerb::Resume { node: id, run } => {
            let resp = ctl(target, &run, ControlRequest::Resume { node: id })?;
            writeln!(out, "{} resumed (SIGCONT)", node_name(&resp, id))?;
            Ok(0)
        }
        ForgeVerb::Restart { node: id, run } => {
            let resp = ctl(target, &run, ControlRequest::Restart { node: id })?;
            let n = node(&resp, id)?;
            writeln!(
                out,
                "{} restarted (pid {}){}",
                node_name(&resp, id),
                n.pid.map_or("?".into(), |p| p.to_string()),
                if id == LOAD { ", idle" } else { "" }
            )?;
            Ok(0)
        }
        ForgeVerb::Stop { run } => {
            let resp = ctl(target, &run, ControlRequest::Stop)?;
            // The supervisor stops its nodes after answering; return once they are gone, so
            // that a script may start the next lab right away.
            let pids: Vec<u32> = resp.nodes.iter().filter_map(|n| n.pid).collect();
            let deadline = Instant::now() + Duration::from_secs(10);
            while pids.iter().any(|p| process_exists(*p)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            writeln!(out, "forge lab stopped")?;
            Ok(0)
        }
    }
}

/// Whether a (non-zombie) process `pid` exists.
fn process_exists(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z'))
    })
}

/// Polls fresh status until the load node's counters satisfy `pred` (10 s at most).
fn wait_load(
    target: Target<'_>,
    run: &RunDirArg,
    pred: impl Fn(&LoadCounters) -> bool,
    what: &str,
) -> anyhow::Result<ControlResponse> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let resp = ctl(target, run, ControlRequest::Status)?;
        if pred(&load_counters(&resp)?) {
            return Ok(resp);
        }
        if Instant::now() > deadline {
            anyhow::bail!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn reload(target: Target<'_>, run: &RunDirArg, out: &mut dyn Write) -> anyhow::Result<i32> {
    let status = ctl(target, run, ControlRequest::Status)?;
    let addr = server_addr(&status)?;
    let old_pid = node(&status, SERVER)?.pid;
    let started_here = !load_counters(&status)?.running;
    if started_here {
        writeln!(
            out,
            "reload: the load is not running; starting it for the reload"
        )?;
        ctl(
            target,
            run,
            ControlRequest::Send {
                node: LOAD,
                command: lab_command("start", Value::Null),
            },
        )?;
        wait_load(target, run, |c| c.running && c.requests > 0, "load traffic")?;
    }
    let before = load_counters(&ctl(target, run, ControlRequest::Status)?)?;
    let t = Instant::now();
    ctl(target, run, ControlRequest::Replace { node: SERVER })?;
    let took = t.elapsed();
    // Keep the load on the new server for a moment so that its answers count too.
    let resp = wait_load(
        target,
        run,
        |c| c.requests >= before.requests + 1000 || t.elapsed() > took + Duration::from_secs(1),
        "load on the new server",
    )?;
    let after = load_counters(&resp)?;
    let new_pid = node(&resp, SERVER)?.pid;
    let show = |p: Option<u32>| p.map_or("?".into(), |p| p.to_string());
    writeln!(
        out,
        "reload: server pid {} → {} on http://{addr} (SO_REUSEPORT); the old one closed its listener, drained and exited in {:.0} ms",
        show(old_pid),
        show(new_pid),
        took.as_secs_f64() * 1e3
    )?;
    let failed = after.errors - before.errors.min(after.errors);
    let non_2xx = after.non_2xx - before.non_2xx.min(after.non_2xx);
    writeln!(
        out,
        "load during the reload: {} requests answered, {failed} failed, {non_2xx} not 2xx",
        after.requests - before.requests.min(after.requests)
    )?;
    if started_here {
        ctl(
            target,
            run,
            ControlRequest::Send {
                node: LOAD,
                command: lab_command("stop", Value::Null),
            },
        )?;
    }
    if failed == 0 && non_2xx == 0 {
        writeln!(out, "zero failed requests")?;
        Ok(0)
    } else {
        writeln!(
            out,
            "{} requests failed during the reload",
            failed + non_2xx
        )?;
        Ok(1)
    }
}

fn print_slowloris(r: &attacks::SlowlorisReport, out: &mut dyn Write) -> std::io::Result<()> {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    if let (Some(first), Some(last)) = (r.closed_after.first(), r.closed_after.last()) {
        let statuses: Vec<String> = r
            .statuses
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect();
        writeln!(
            out,
            "server closed {}/{} after {:.0}–{:.0} ms (responses {})",
            r.closed_after.len(),
            r.requested,
            ms(*first),
            ms(*last),
            statuses.join(", ")
        )?;
    }
    if r.still_open > 0 {
        writeln!(
            out,
            "{} connections were still open after 30 s",
            r.still_open
        )?;
    }
    if r.failed_to_open > 0 {
        writeln!(out, "{} connections could not be opened", r.failed_to_open)?;
    }
    match &r.probe {
        Ok(d) => writeln!(
            out,
            "meanwhile an ordinary GET / was answered in {:.2} ms",
            ms(*d)
        ),
        Err(e) => writeln!(out, "meanwhile an ordinary GET / failed: {e}"),
    }
}

fn status_json(nodes: &[NodeInfo]) -> Value {
    let run_dir = nodes
        .first()
        .and_then(|n| n.data_dir.parent().map(Path::to_path_buf));
    let rows: Vec<Value> = nodes
        .iter()
        .map(|n| {
            json!({
                "id": n.id,
                "role": n.role,
                "pid": n.pid,
                "state": n.status.as_str(),
                "ready": n.ready,
                "addr": n.addr,
                "http": n.http,
                "rss_bytes": n.rss_bytes,
                "cpu_percent": (n.cpu_percent * 10.0).round() / 10.0,
                "uptime_ms": n.uptime_ms,
                "incarnation": n.incarnation,
                "metrics": if n.status.is_alive() { Value::Object(n.state.clone()) } else { Value::Null },
            })
        })
        .collect();
    json!({ "run_dir": run_dir, "nodes": rows })
}

fn statuses(v: Option<&Value>) -> String {
    let Some(m) = v.and_then(Value::as_object).filter(|m| !m.is_empty()) else {
        return "-".into();
    };
    m.iter()
        .map(|(k, v)| format!("{k}:{}", v.as_u64().unwrap_or(0)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A one-line summary of a node's figures (from its latest `state` or `metrics` fields).
pub fn summary(id: u64, f: &Map<String, Value>) -> String {
    let num = |k: &str| f.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    if id == SERVER {
        format!(
            "conns {:.0}  requests {:.0}  {}",
            num("open_connections"),
            num("requests"),
            statuses(f.get("status"))
        )
    } else if f.get("running").and_then(Value::as_bool) == Some(true) {
        format!(
            "load {:.0} conns  {:.0} req/s  p50 {:.2} ms  p99 {:.2} ms  errors {:.0}  {}",
            num("connections"),
            num("rps"),
            num("p50_ms"),
            num("p99_ms"),
            num("errors"),
            statuses(f.get("status"))
        )
    } else {
        format!(
            "load idle  requests {:.0}  errors {:.0}",
            num("requests"),
            num("errors")
        )
    }
}

/// The node table as text.
pub fn format_table(nodes: &[NodeInfo]) -> String {
    let mut out = format!(
        "{:<3} {:<13} {:<8} {:<8} {:<22} {:>6}  FIGURES\n",
        "ID", "ROLE", "PID", "STATE", "ADDR", "RSS"
    );
    for n in nodes {
        let figures = if n.status.is_alive() {
            summary(n.id, &n.state)
        } else {
            "-".into()
        };
        out.push_str(&format!(
            "{:<3} {:<13} {:<8} {:<8} {:<22} {:>5}M  {figures}\n",
            n.id,
            n.role,
            n.pid.map_or("-".into(), |p| p.to_string()),
            n.status.as_str(),
            n.addr,
            n.rss_bytes / (1024 * 1024),
        ));
    }
    out
}
