//! The forge lab ([`ForgeLab`], the lab contract) and its own verbs: `wirelab forge
//! load|slowloris|smuggle|reload` (and `serve` and `bench`, which need no lab), from the
//! command line (through the run dir's control socket) or from the shell's `forge` builtin (on
//! the lab the shell hosts). The common verbs (`up`, `status`, `kill`, …) are the lab layer's.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{ArgMatches, Command, Subcommand};
use serde_json::{Map, Value, json};

use super::attacks;
use super::{LOAD, SERVER};
use crate::cluster::control::{ControlRequest, ControlResponse};
use crate::cluster::{ControlCommand, NodeInfo, Supervisor};
use crate::forge::cli::{ForgeVerb, LoadAction};
use crate::lab::args::RunDirArg;
use crate::lab::{CommonVerb, Lab, Role, Target, TourStep, VerbCtx};

/// The lab's name.
pub const NAME: &str = "forge";

/// The forge lab: the demo app under load, attacked and reloaded.
pub struct ForgeLab;

impl Lab for ForgeLab {
    fn name(&self) -> &'static str {
        NAME
    }

    fn about(&self) -> &'static str {
        "forge, the HTTP/1.1 framework: serve the demo app, or run the forge lab (load, slowloris, smuggling, graceful reload)."
    }

    fn noun(&self) -> &'static str {
        "forge lab"
    }

    fn roles(&self) -> Vec<Role> {
        vec![
            Role::new(
                super::server_node::ROLE,
                "The forge lab's HTTP server.",
                super::server_node::run_cli,
            ),
            Role::new(
                super::load_node::ROLE,
                "The forge lab's load generator.",
                super::load_node::run_cli,
            ),
        ]
    }

    fn common_verbs(&self) -> &'static [CommonVerb] {
        CommonVerb::NO_NETWORK
    }

    fn verb_help(&self, verb: CommonVerb) -> Option<&'static str> {
        match verb {
            CommonVerb::Up => Some(
                "Start the forge lab (a server node and a load generator node) in the foreground, printing req/s, p50/p99, connections and status codes every second (Ctrl-C stops it)",
            ),
            CommonVerb::Status => Some(
                "Show both nodes: pids, connections, requests by status, load req/s and latency",
            ),
            CommonVerb::Kill => Some("SIGKILL a node (1: the server, 2: the load generator)"),
            CommonVerb::Restart => Some(
                "Start a node again (killing it first if it runs); a restarted load generator is idle",
            ),
            _ => None,
        }
    }

    fn own_verbs(&self, cmd: Command) -> Command {
        ForgeVerb::augment_subcommands(cmd)
    }

    fn launch(
        &self,
        _up: &ArgMatches,
        run_dir: &Path,
        exe: Option<PathBuf>,
    ) -> anyhow::Result<Supervisor> {
        let cfg = super::LabConfig::builtin()?;
        Ok(super::launch(&cfg, run_dir, exe)?)
    }

    fn status_row(&self, n: &NodeInfo) -> Value {
        status_row(n)
    }

    fn status_table(&self, nodes: &[NodeInfo]) -> String {
        format_table(nodes)
    }

    fn node_name(&self, n: &NodeInfo) -> String {
        format!("node {} ({})", n.id, n.role)
    }

    fn up_hint(&self) -> String {
        "(Ctrl-C stops it; from another terminal: `wirelab forge load start`, `forge slowloris`, `forge smuggle`, `forge reload`, …)".into()
    }

    fn live_line(&self, latest: &BTreeMap<u64, Map<String, Value>>) -> Option<String> {
        if latest.is_empty() {
            return None;
        }
        let lines: Vec<String> = latest.iter().map(|(id, f)| summary(*id, f)).collect();
        Some(lines.join(" | "))
    }

    fn tour_steps(&self) -> &'static [TourStep] {
        TOUR
    }

    fn run_own(&self, m: &ArgMatches, cx: &mut VerbCtx<'_>) -> i32 {
        let verb = match crate::lab::parse_own::<ForgeVerb>(m, cx.err) {
            Ok(v) => v,
            Err(code) => return code,
        };
        if matches!(verb, ForgeVerb::Serve(_)) && !matches!(cx.target, Target::RunDir) {
            let _ = writeln!(
                cx.err,
                "forge serve: run it as `wirelab forge serve`, outside the shell"
            );
            return 2;
        }
        match verb {
            ForgeVerb::Serve(_) => crate::forge::cli::run(verb),
            verb => run_verb(verb, cx.target, cx.out, cx.err),
        }
    }
}

/// The tour on the forge dashboard: load, a smuggling attempt, a slowloris flood, a reload
/// under load.
const TOUR: &[TourStep] = &[
    TourStep::new(
        "The forge lab: the HTTP/1.1 server in one process, a load generator in another, under the same supervisor as the Raft cluster. Load starts: req/s, p50/p99 and status codes are live.",
        Some("forge load start"),
        6,
    ),
    TourStep::new(
        "A request-smuggling attempt (Content-Length and Transfer-Encoding together) over raw TCP: the parser answers 400 and closes the connection; no handler sees it.",
        Some("forge smuggle"),
        6,
    ),
    TourStep::new(
        "A slowloris flood: 100 connections trickle their headers. The header timeout closes each with 408 while the real clients keep being served.",
        Some("forge slowloris 100"),
        6,
    ),
    TourStep::new(
        "A graceful reload under load: a new process takes the port (SO_REUSEPORT) and the old one drains. The load generator counts zero failed requests.",
        Some("forge reload; forge load stop"),
        7,
    )
    .on_tab(2),
];

/// Runs one of forge's lab verbs against `target`; returns the exit code.
pub fn run_verb(
    verb: ForgeVerb,
    target: Target<'_>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let code = match run_inner(verb, target, out) {
        Ok(code) => code,
        Err(e) => crate::lab::report(NAME, &e, err),
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

fn ctl(
    target: Target<'_>,
    run: &RunDirArg,
    req: ControlRequest,
) -> anyhow::Result<ControlResponse> {
    target.request(NAME, run, req)
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
        ForgeVerb::Bench(args) => super::bench::run_with(args, out),
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
        ForgeVerb::Serve(_) => anyhow::bail!("`serve` is not a lab verb"),
    }
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

/// One row of `forge status --json`.
pub fn status_row(n: &NodeInfo) -> Value {
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
