//! The forge dashboard's model: what the supervisor's events say about the server node and the
//! load generator node, folded into the figures the panels show.
//!
//! - Load figures come from the load node's `metrics` events (every 250 ms while it runs):
//!   req/s and p50/p99 over the last window, cumulative requests, statuses and failed requests.
//! - Server figures come from the server's `metrics` events, kept per server *process* (the
//!   events carry its pid): during a reload two incarnations report side by side, and an exited
//!   one's last counts are folded into a retired total, so the status counts never go back.
//! - The timeline is built from lifecycle events (spawn, kill, pause, the reload's new pid
//!   beside the old one and the old one's exit), load start/stop, jumps in the server's
//!   rejection counters (a slowloris flood's 408s, a smuggling attempt's 400) and the results
//!   of the attack commands the dashboard ran.
//!
//! Every buffer is bounded: per-second series ([`super::series`]), timeline
//! ([`super::timeline`]) and logs are ring buffers.

use std::collections::{BTreeMap, VecDeque};

use serde_json::{Map, Value};

use super::series::{self, Second};
use super::timeline::{self, EventKind, Timeline, rejection_text, thousands};
use crate::cluster::{NodeEvent, NodeInfo, NodeStatus, SupEvent, SupEventKind};
use crate::forge::lab::{LOAD, SERVER};
use crate::tui::dash::logbook::LogBook;

/// Server processes tracked at once (more would only come from a runaway of reloads).
const MAX_SERVER_PIDS: usize = 8;
/// How long after the old server exited a reload's failed-request count is taken (the load
/// node reports every 250 ms, so its errors of the reload's last moments arrive by then).
const RELOAD_SETTLE_MS: u64 = 600;
/// The coalescing tag of failed-request entries (statuses tag rejections).
const FAILED_TAG: u16 = 0;
/// The load figures are stale (the node paused, or gone) after this long without a report.
const STALE_MS: u64 = 1000;

/// The load generator's latest figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadFigures {
    /// Whether its clients are running.
    pub running: bool,
    /// Connections it keeps.
    pub connections: u64,
    /// Open connections now.
    pub open: u64,
    /// req/s over the last window.
    pub rps: f64,
    /// p50 latency of the last window, ms.
    pub p50_ms: f64,
    /// p99 latency of the last window, ms.
    pub p99_ms: f64,
    /// Answered requests so far.
    pub requests: u64,
    /// Failed requests so far (connection errors, timeouts, malformed answers).
    pub errors: u64,
    /// Answers by status so far.
    pub status: BTreeMap<u16, u64>,
    /// The latest error, if any.
    pub last_error: Option<String>,
}

/// One server process's latest counters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerCounts {
    /// Requests by status, rejections included.
    pub status: BTreeMap<u16, u64>,
    /// Requests the parser (or the header timeout) refused, by status.
    pub rejected: BTreeMap<u16, u64>,
    /// Connections open now.
    pub open: u64,
    /// Whether it is draining (shutting down after a reload or a stop).
    pub draining: bool,
}

impl ServerCounts {
    fn add(&mut self, other: &ServerCounts) {
        for (k, v) in &other.status {
            *self.status.entry(*k).or_default() += v;
        }
        for (k, v) in &other.rejected {
            *self.rejected.entry(*k).or_default() += v;
        }
    }
}

/// A reload in progress: the new server process started beside the old one.
#[derive(Clone, Debug, PartialEq)]
struct Reload {
    old_pid: u32,
    new_pid: u32,
    started_ms: u64,
    errors_before: u64,
    requests_before: u64,
    non_2xx_before: u64,
    load_running: bool,
    old_exited_ms: Option<u64>,
}

/// The model.
#[derive(Clone, Debug, Default)]
pub struct ForgeModel {
    /// The latest node snapshots (pid, state, RSS, CPU, uptime, address).
    pub nodes: Vec<NodeInfo>,
    /// The load generator's latest figures.
    pub load: LoadFigures,
    /// Each live server process's latest counters, by pid.
    pub servers: BTreeMap<u32, ServerCounts>,
    /// Counters of server processes that exited.
    pub retired: ServerCounts,
    /// Traffic per second, oldest first.
    pub seconds: VecDeque<Second>,
    /// The timeline, oldest first.
    pub timeline: Timeline,
    /// Both nodes' log lines, oldest first.
    pub logs: LogBook,
    /// Bumped on every change the view should show.
    pub version: u64,
    status: BTreeMap<u64, NodeStatus>,
    pids: BTreeMap<u64, u32>,
    reload: Option<Reload>,
    /// A reload's new server was killed: its exit is not the server's.
    failed_new: bool,
    /// When the load node last reported.
    load_at_ms: u64,
    announced: bool,
}

fn num(f: &Map<String, Value>, k: &str) -> u64 {
    f.get(k).and_then(Value::as_u64).unwrap_or(0)
}

fn float(f: &Map<String, Value>, k: &str) -> f64 {
    f.get(k)
        .and_then(Value::as_f64)
        .filter(|x| x.is_finite() && *x >= 0.0)
        .unwrap_or(0.0)
}

fn codes(v: Option<&Value>) -> BTreeMap<u16, u64> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.parse().ok()?, v.as_u64()?)))
                .collect()
        })
        .unwrap_or_default()
}

fn non_2xx(status: &BTreeMap<u16, u64>) -> u64 {
    status
        .iter()
        .filter(|(k, _)| !(200..300).contains(*k))
        .map(|(_, v)| v)
        .sum()
}

impl ForgeModel {
    /// An empty model.
    pub fn new() -> Self {
        Self::default()
    }

    fn log(&mut self, at_ms: u64, node: u64, level: &str, msg: String) {
        self.logs.push(at_ms, node, level, msg);
    }

    fn name(n: u64) -> &'static str {
        match n {
            SERVER => "server",
            LOAD => "load generator",
            _ => "node",
        }
    }

    /// The server's counters over every process it ran as (live and exited).
    pub fn server_total(&self) -> ServerCounts {
        let mut t = self.retired.clone();
        for s in self.servers.values() {
            t.add(s);
        }
        t.open = self.servers.values().map(|s| s.open).sum();
        t
    }

    /// Folds one supervisor event in.
    pub fn on_event(&mut self, ev: &SupEvent) {
        self.version += 1;
        let (n, at) = (ev.node, ev.at_ms);
        match &ev.kind {
            SupEventKind::Spawned { pid } => self.on_spawned(n, at, *pid),
            SupEventKind::Killed => {
                if n == SERVER
                    && let Some(r) = self.reload.take()
                {
                    // The supervisor kills a new incarnation that never became ready and
                    // keeps the old one.
                    self.pids.insert(n, r.old_pid);
                    self.servers.remove(&r.new_pid);
                    self.failed_new = true;
                    self.timeline.push(
                        at,
                        EventKind::Fault,
                        format!(
                            "reload failed: new server pid {} killed; pid {} keeps serving",
                            r.new_pid, r.old_pid
                        ),
                    );
                    return;
                }
                self.status.insert(n, NodeStatus::Killed);
                self.timeline.push(
                    at,
                    EventKind::Fault,
                    format!("{} (node {n}) killed (SIGKILL)", Self::name(n)),
                );
            }
            SupEventKind::Paused => {
                self.status.insert(n, NodeStatus::Paused);
                self.timeline.push(
                    at,
                    EventKind::Fault,
                    format!("{} (node {n}) paused (SIGSTOP)", Self::name(n)),
                );
            }
            SupEventKind::Resumed => {
                self.status.insert(n, NodeStatus::Running);
                self.timeline.push(
                    at,
                    EventKind::Reload,
                    format!("{} (node {n}) resumed (SIGCONT)", Self::name(n)),
                );
            }
            SupEventKind::Exited { code, signal } => self.on_exited(n, at, *code, *signal),
            SupEventKind::Faults { .. } => {}
            SupEventKind::Stderr { line } => self.log(at, n, "stderr", line.clone()),
            SupEventKind::Node { event } => match event {
                NodeEvent::Log { level, msg } => self.log(at, n, level, msg.clone()),
                NodeEvent::Fatal { msg } => {
                    self.log(at, n, "fatal", msg.clone());
                    self.timeline.push(
                        at,
                        EventKind::Fault,
                        format!("{} FATAL: {msg}", Self::name(n)),
                    );
                }
                NodeEvent::Ready { addr, .. } if n == SERVER => {
                    self.log(at, n, "info", format!("ready on {addr}"));
                }
                NodeEvent::Ready { .. } => {}
                NodeEvent::State { fields } | NodeEvent::Metrics { fields } => match n {
                    SERVER => self.on_server_figures(at, fields),
                    LOAD => self.on_load_figures(at, fields),
                    _ => {}
                },
            },
        }
    }

    fn on_spawned(&mut self, n: u64, at: u64, pid: u32) {
        let before = self.status.get(&n).copied();
        let old_pid = self.pids.get(&n).copied();
        self.status.insert(n, NodeStatus::Running);
        self.pids.insert(n, pid);
        self.log(at, n, "info", format!("started (pid {pid})"));
        match (before, old_pid) {
            (Some(NodeStatus::Running), Some(old)) if n == SERVER && old != pid => {
                self.reload = Some(Reload {
                    old_pid: old,
                    new_pid: pid,
                    started_ms: at,
                    errors_before: self.load.errors,
                    requests_before: self.load.requests,
                    non_2xx_before: non_2xx(&self.load.status),
                    load_running: self.load.running,
                    old_exited_ms: None,
                });
                self.timeline.push(
                    at,
                    EventKind::Reload,
                    format!(
                        "reload: new server pid {pid} started beside pid {old} on the same port (SO_REUSEPORT){}",
                        if self.load.running {
                            format!(
                                ", under load ({} req/s)",
                                thousands(self.load.rps.round() as u64)
                            )
                        } else {
                            String::new()
                        }
                    ),
                );
            }
            (Some(_), _) => {
                if n == LOAD {
                    // A new load process counts from zero.
                    self.load = LoadFigures::default();
                }
                self.timeline.push(
                    at,
                    EventKind::Reload,
                    format!("{} (node {n}) restarted (pid {pid})", Self::name(n)),
                );
            }
            (None, _) => self.timeline.push(
                at,
                EventKind::Info,
                format!("{} (node {n}) started (pid {pid})", Self::name(n)),
            ),
        }
    }

    fn on_exited(&mut self, n: u64, at: u64, code: Option<i32>, signal: Option<i32>) {
        if n == SERVER && std::mem::take(&mut self.failed_new) {
            return;
        }
        if n == SERVER
            && let Some(r) = self.reload.as_mut()
            && r.old_exited_ms.is_none()
        {
            r.old_exited_ms = Some(at);
            let (old, took) = (r.old_pid, at.saturating_sub(r.started_ms));
            if let Some(last) = self.servers.remove(&old) {
                self.retired.add(&last);
            }
            self.timeline.push(
                at,
                EventKind::Reload,
                format!(
                    "old server pid {old} closed its listener, drained and exited ({took} ms after the new one started)"
                ),
            );
            return;
        }
        if n == SERVER
            && let Some(pid) = self.pids.get(&n)
            && let Some(last) = self.servers.remove(pid)
        {
            self.retired.add(&last);
        }
        if n == LOAD {
            self.load.running = false;
            self.load.open = 0;
        }
        if self.status.get(&n) == Some(&NodeStatus::Killed) {
            return;
        }
        self.status.insert(n, NodeStatus::Exited);
        let how = match (code, signal) {
            (Some(c), _) => format!("exited with status {c}"),
            (_, Some(s)) => format!("ended by signal {s}"),
            _ => "ended".into(),
        };
        self.timeline.push(
            at,
            if code == Some(0) {
                EventKind::Info
            } else {
                EventKind::Fault
            },
            format!("{} (node {n}) {how}", Self::name(n)),
        );
    }

    fn on_server_figures(&mut self, at: u64, f: &Map<String, Value>) {
        let pid = f
            .get("pid")
            .and_then(Value::as_u64)
            .map(|p| p as u32)
            .or_else(|| self.pids.get(&SERVER).copied())
            .unwrap_or(0);
        let now = ServerCounts {
            status: codes(f.get("status")),
            rejected: codes(f.get("rejected")),
            open: num(f, "open_connections"),
            draining: f.get("draining").and_then(Value::as_bool).unwrap_or(false),
        };
        let before = self.servers.get(&pid).cloned().unwrap_or_default();
        for (code, count) in &now.rejected {
            let new = count.saturating_sub(before.rejected.get(code).copied().unwrap_or(0));
            if new > 0 {
                self.rejections(at, *code, new);
            }
        }
        if !self.servers.contains_key(&pid) && self.servers.len() >= MAX_SERVER_PIDS {
            // Keep the map bounded: fold the oldest-numbered entry into the retired total.
            if let Some((&p, _)) = self.servers.iter().next()
                && let Some(last) = self.servers.remove(&p)
            {
                self.retired.add(&last);
            }
        }
        self.servers.insert(pid, now);
        let conns = self.servers.values().map(|s| s.open).sum();
        let second = series::bucket(&mut self.seconds, at);
        second.conns = second.conns.max(conns);
    }

    /// `new` more rejections of `code`: one timeline entry per burst.
    fn rejections(&mut self, at: u64, code: u16, new: u64) {
        self.timeline
            .count_burst(at, code, new, EventKind::Good, |n| rejection_text(code, n));
    }

    fn on_load_figures(&mut self, at: u64, f: &Map<String, Value>) {
        let was = self.load.clone();
        let running = f.get("running").and_then(Value::as_bool).unwrap_or(false);
        self.load = LoadFigures {
            running,
            connections: num(f, "connections"),
            open: num(f, "open"),
            rps: if running { float(f, "rps") } else { 0.0 },
            p50_ms: float(f, "p50_ms"),
            p99_ms: float(f, "p99_ms"),
            requests: num(f, "requests"),
            errors: num(f, "errors"),
            status: codes(f.get("status")),
            last_error: f
                .get("last_error")
                .and_then(Value::as_str)
                .map(str::to_string),
        };
        self.load_at_ms = at;
        // A restarted load node counts from zero: no negative failures.
        let failed = self.load.errors.saturating_sub(was.errors);
        if failed > 0 {
            let last = self.load.last_error.clone().unwrap_or_default();
            self.timeline
                .count_burst(at, FAILED_TAG, failed, EventKind::Fault, |n| {
                    if last.is_empty() {
                        format!("load generator: {} requests failed", thousands(n))
                    } else {
                        format!(
                            "load generator: {} requests failed (last: {last})",
                            thousands(n)
                        )
                    }
                });
        }
        if running {
            let (rps, p50, p99) = (self.load.rps, self.load.p50_ms, self.load.p99_ms);
            series::bucket(&mut self.seconds, at).add_load_window(rps, p50, p99);
        }
        series::bucket(&mut self.seconds, at).failed += failed;
        match (was.running, running) {
            (false, true) => self.timeline.push(
                at,
                EventKind::Info,
                format!(
                    "load started: {} keep-alive connections",
                    self.load.connections
                ),
            ),
            (true, false) => {
                let errors = self.load.errors;
                self.timeline.push(
                    at,
                    if errors > 0 {
                        EventKind::Fault
                    } else {
                        EventKind::Info
                    },
                    format!(
                        "load stopped: {} requests answered, {} failed",
                        thousands(self.load.requests),
                        thousands(errors)
                    ),
                );
            }
            _ => {}
        }
        self.settle_reload(at);
    }

    /// Once the old server has exited and the load node has reported since, the reload's
    /// failed requests are known.
    fn settle_reload(&mut self, now_ms: u64) {
        let Some(r) = self.reload.as_ref() else {
            return;
        };
        let Some(exited) = r.old_exited_ms else {
            return;
        };
        if now_ms < exited + RELOAD_SETTLE_MS {
            return;
        }
        let Some(r) = self.reload.take() else { return };
        let failed = self.load.errors.saturating_sub(r.errors_before);
        let bad = non_2xx(&self.load.status).saturating_sub(r.non_2xx_before);
        let answered = self.load.requests.saturating_sub(r.requests_before);
        let text = if !r.load_running && answered == 0 {
            format!(
                "reload done: server pid {} → {}; no load was running, so no request could fail",
                r.old_pid, r.new_pid
            )
        } else {
            format!(
                "reload done: server pid {} → {}; meanwhile the load saw {} requests answered, {failed} failed, {bad} not 2xx{}",
                r.old_pid,
                r.new_pid,
                thousands(answered),
                if failed + bad == 0 {
                    ": zero failed requests"
                } else {
                    ""
                }
            )
        };
        let kind = if failed + bad == 0 {
            EventKind::Good
        } else {
            EventKind::Fault
        };
        self.timeline.push(now_ms, kind, text);
    }

    /// Takes fresh node snapshots (once per UI tick): states, pids, RSS, CPU, uptime. Nodes
    /// that started before the dashboard subscribed are adopted here.
    pub fn refresh(&mut self, nodes: Vec<NodeInfo>, now_ms: u64) {
        for n in &nodes {
            // Only nodes the events have not told of yet: a snapshot may be ahead of the
            // events (a reload's new pid before its `spawned`), which would hide the reload.
            if let std::collections::btree_map::Entry::Vacant(e) = self.status.entry(n.id) {
                e.insert(n.status);
                if let Some(pid) = n.pid {
                    self.pids.insert(n.id, pid);
                }
            }
        }
        if !self.announced && !nodes.is_empty() {
            self.announced = true;
            let server = nodes.iter().find(|n| n.id == SERVER);
            let load = nodes.iter().find(|n| n.id == LOAD);
            if let (Some(s), Some(l)) = (server, load) {
                let pid = |p: Option<u32>| p.map_or("-".into(), |p| p.to_string());
                // When the server came up, not when this first snapshot arrived: a workload
                // started right away must read after it.
                self.timeline.push(
                    now_ms.saturating_sub(s.uptime_ms),
                    EventKind::Info,
                    format!(
                        "lab up: server pid {} on http://{}, load generator pid {} (idle)",
                        pid(s.pid),
                        s.addr,
                        pid(l.pid)
                    ),
                );
            }
        }
        self.nodes = nodes;
        if self.load.running && now_ms.saturating_sub(self.load_at_ms) > STALE_MS {
            // Paused or gone: nothing was answered since its last report.
            self.load.rps = 0.0;
        }
        if !self.seconds.is_empty() {
            series::fill_to(&mut self.seconds, now_ms / 1000);
        }
        if self.reload.as_ref().and_then(|r| r.old_exited_ms).is_some() && !self.load.running {
            self.settle_reload(now_ms);
        }
        self.version += 1;
    }

    /// Forgets a stopped lab (the timeline, logs and charts stay).
    pub fn detach(&mut self, at_ms: u64) {
        if !self.nodes.is_empty() {
            self.timeline.push(
                at_ms,
                EventKind::Info,
                "lab stopped: both nodes shut down".into(),
            );
        }
        self.nodes.clear();
        self.status.clear();
        self.pids.clear();
        self.servers.clear();
        self.reload = None;
        self.load.running = false;
        self.load.rps = 0.0;
        self.load.open = 0;
        self.announced = false;
    }

    /// Notes the result of an attack the dashboard ran (`forge slowloris`, `forge smuggle`):
    /// what the attacker saw, from the command's output.
    pub fn on_attack_result(&mut self, at_ms: u64, cmd: &str, status: i32, output: &str) {
        if let Some((kind, text)) = timeline::attack_result(cmd, status, output) {
            self.timeline.push(at_ms, kind, text);
        }
    }

    /// Records a slowloris flood being sent (it lasts until the header timeout closes it).
    pub fn on_attack_sent(&mut self, at_ms: u64, cmd: &str) {
        if let Some(text) = timeline::attack_sent(cmd) {
            self.timeline.push(at_ms, EventKind::Attack, text);
        }
    }

    /// The latest server process's pid.
    pub fn server_pid(&self) -> Option<u32> {
        self.pids.get(&SERVER).copied()
    }

    /// Whether a reload is in progress.
    pub fn reloading(&self) -> bool {
        self.reload.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(node: u64, at_ms: u64, kind: SupEventKind) -> SupEvent {
        SupEvent { node, at_ms, kind }
    }

    fn metrics(node: u64, at_ms: u64, v: Value) -> SupEvent {
        ev(
            node,
            at_ms,
            SupEventKind::Node {
                event: NodeEvent::Metrics {
                    fields: v.as_object().cloned().unwrap_or_default(),
                },
            },
        )
    }

    fn load(at: u64, rps: u64, requests: u64, errors: u64) -> SupEvent {
        metrics(
            LOAD,
            at,
            json!({"running": true, "connections": 16, "rps": rps, "p50_ms": 0.4,
                   "p99_ms": 2.5, "requests": requests, "errors": errors, "open": 16,
                   "status": {"200": requests}}),
        )
    }

    fn server(at: u64, pid: u32, ok: u64, rejected: Value, open: u64) -> SupEvent {
        let mut status = json!({"200": ok});
        if let (Some(s), Some(r)) = (status.as_object_mut(), rejected.as_object()) {
            for (k, v) in r {
                s.insert(k.clone(), v.clone());
            }
        }
        metrics(
            SERVER,
            at,
            json!({"pid": pid, "requests": ok, "status": status, "rejected": rejected,
                   "open_connections": open, "draining": false}),
        )
    }

    fn texts(m: &ForgeModel) -> Vec<String> {
        m.timeline.iter().map(|e| e.text.clone()).collect()
    }

    #[test]
    fn a_reload_shows_both_pids_and_the_failed_requests_during_it() {
        let mut m = ForgeModel::new();
        let t = 1_000_000;
        m.on_event(&ev(SERVER, t, SupEventKind::Spawned { pid: 100 }));
        m.on_event(&ev(LOAD, t, SupEventKind::Spawned { pid: 200 }));
        m.on_event(&load(t + 250, 40_000, 10_000, 0));
        m.on_event(&server(t + 250, 100, 10_000, json!({}), 16));
        m.on_event(&ev(SERVER, t + 500, SupEventKind::Spawned { pid: 101 }));
        assert!(m.reloading());
        m.on_event(&server(t + 600, 100, 12_000, json!({}), 10));
        m.on_event(&server(t + 600, 101, 500, json!({}), 6));
        assert_eq!(m.server_total().open, 16, "both processes' connections");
        m.on_event(&ev(
            SERVER,
            t + 900,
            SupEventKind::Exited {
                code: Some(0),
                signal: None,
            },
        ));
        m.on_event(&load(t + 1000, 40_000, 30_000, 0));
        assert!(m.reloading(), "waits for the load node's next reports");
        m.on_event(&load(t + 1600, 40_000, 50_000, 0));
        assert!(!m.reloading());
        let all = texts(&m).join("\n");
        assert!(
            all.contains("new server pid 101 started beside pid 100"),
            "{all}"
        );
        assert!(
            all.contains("old server pid 100 closed its listener"),
            "{all}"
        );
        assert!(
            all.contains("pid 100 → 101; meanwhile the load saw 40,000 requests answered, 0 failed, 0 not 2xx: zero failed requests"),
            "{all}"
        );
        // The old process's counts stay in the total after it exited.
        assert_eq!(m.server_total().status.get(&200), Some(&12_500));
        assert_eq!(m.server_pid(), Some(101));
    }

    #[test]
    fn a_slowloris_burst_of_408s_is_one_timeline_entry() {
        let mut m = ForgeModel::new();
        m.on_event(&server(1000, 7, 0, json!({}), 0));
        m.on_event(&server(3000, 7, 0, json!({"408": 40}), 60));
        m.on_event(&server(3250, 7, 0, json!({"408": 100}), 0));
        m.on_event(&server(9000, 7, 0, json!({"408": 100, "400": 1}), 0));
        let t = texts(&m);
        assert_eq!(
            t,
            vec![
                "server answered 100 × 408 Request Timeout and closed: request head not complete within the header timeout",
                "server answered 1 × 400 Bad Request and closed: malformed or ambiguous request refused by the parser",
            ]
        );
    }

    #[test]
    fn seconds_average_rps_and_keep_the_worst_p99_and_fill_gaps_with_zero() {
        let mut m = ForgeModel::new();
        m.on_event(&load(10_000, 100, 1, 0));
        m.on_event(&load(10_500, 300, 2, 0));
        m.on_event(&load(13_100, 50, 3, 2));
        let s: Vec<(u64, f64, u64)> = m
            .seconds
            .iter()
            .map(|s| (s.at_s, s.rps, s.failed))
            .collect();
        assert_eq!(
            s,
            vec![(10, 200.0, 0), (11, 0.0, 0), (12, 0.0, 0), (13, 50.0, 2)]
        );
        m.refresh(Vec::new(), 10_000_000);
        assert_eq!(m.seconds.len(), series::SERIES_CAPACITY, "bounded");
    }

    #[test]
    fn failed_requests_while_the_server_is_down_are_one_entry_and_rps_goes_stale() {
        let mut m = ForgeModel::new();
        m.on_event(&load(1000, 9000, 5000, 0));
        m.on_event(&ev(SERVER, 1100, SupEventKind::Killed));
        m.on_event(&load(1250, 0, 5000, 30));
        m.on_event(&load(1500, 0, 5000, 70));
        let t = texts(&m);
        assert_eq!(
            t.last().map(String::as_str),
            Some("load generator: 70 requests failed")
        );
        assert_eq!(m.seconds.back().map(|s| s.failed), Some(70));
        m.on_event(&load(3000, 8000, 6000, 70));
        m.refresh(Vec::new(), 3100);
        assert_eq!(m.load.rps, 8000.0);
        // No report for over a second (the load node paused): nothing is being answered.
        m.refresh(Vec::new(), 4200);
        assert_eq!(m.load.rps, 0.0);
    }

    #[test]
    fn garbage_fields_do_not_panic_or_count() {
        let mut m = ForgeModel::new();
        m.on_event(&metrics(
            LOAD,
            5,
            json!({"running": "yes", "rps": -3.0, "status": {"abc": 1, "200": "x"}}),
        ));
        m.on_event(&metrics(SERVER, 5, json!({"status": 7, "rejected": [1]})));
        m.on_event(&metrics(9, 5, json!({})));
        assert_eq!(m.load.rps, 0.0);
        assert!(m.load.status.is_empty());
        assert!(m.server_total().rejected.is_empty());
    }
}
