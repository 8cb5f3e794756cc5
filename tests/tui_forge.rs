//! The forge lab dashboard (`wirelab lab forge`): its views rendered with ratatui's
//! `TestBackend` from a model fed synthetic supervisor events (insta snapshots at 80×24 and
//! 120×40, redacted), its keys as shell commands, its help, mouse and small terminals; and one
//! end-to-end run against a real forge lab hosted in this process, driven through the
//! dashboard's own shell worker as the keys drive it; and `wirelab lab forge` in a real
//! terminal (tmux), keys to quit, with no node left behind.

mod common;
#[path = "tui_support/tmux.rs"]
mod tmux;
#[path = "tui_support/views.rs"]
mod views;

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::{Value, json};
use views::{SIZES, app, click_on, ev, key, node_ev, render};
use wirelab::cluster::{NodeEvent, NodeInfo, NodeStatus, SupEvent, SupEventKind};
use wirelab::lab::{LabHost, up_matches};
use wirelab::portfolio::Portfolio;
use wirelab::tui::app::{App, Effect, Screen};
use wirelab::tui::forge::ForgeView;
use wirelab::tui::forge::model::ForgeModel;
use wirelab::tui::keys::Action;
use wirelab::tui::raft::model::RaftModel;
use wirelab::tui::shell_worker::{ShellDone, ShellWorker};
use wirelab::tui::theme::Theme;
use wirelab::tui::{Click, Mode, new_app};

const T0: u64 = 1_795_000_000_000;

fn check(name: &str, app: &mut App) {
    for (w, h) in SIZES {
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), render(app, w, h));
    }
}

fn fields(v: Value) -> serde_json::Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn load_metrics(at: u64, rps: u64, p99: f64, requests: u64, errors: u64) -> SupEvent {
    node_ev(
        2,
        at,
        NodeEvent::Metrics {
            fields: fields(json!({
                "running": true, "connections": 16, "rps": rps, "p50_ms": 0.35,
                "p99_ms": p99, "requests": requests, "errors": errors, "open": 16,
                "status": {"200": requests}, "last_error": null,
            })),
        },
    )
}

fn server_metrics(at: u64, pid: u32, ok: u64, rejected: Value, open: u64) -> SupEvent {
    let mut status = json!({ "200": ok });
    if let (Some(s), Some(r)) = (status.as_object_mut(), rejected.as_object()) {
        for (k, v) in r {
            s.insert(k.clone(), v.clone());
        }
    }
    node_ev(
        1,
        at,
        NodeEvent::Metrics {
            fields: fields(json!({
                "pid": pid, "requests": ok, "status": status, "rejected": rejected,
                "open_connections": open, "draining": false,
            })),
        },
    )
}

fn info(id: u64, pid: u32) -> NodeInfo {
    NodeInfo {
        id,
        role: if id == 1 {
            "forge-server"
        } else {
            "forge-load"
        }
        .into(),
        pid: Some(pid),
        status: NodeStatus::Running,
        addr: if id == 1 { "127.0.0.1:41234" } else { "-" }.into(),
        http: None,
        data_dir: format!("/tmp/run/node-{id}").into(),
        uptime_ms: 42_000,
        rss_bytes: 12 << 20,
        cpu_percent: 35.0,
        incarnation: 1,
        faults: Default::default(),
        ready: true,
        state: Default::default(),
    }
}

/// A dashboard after: the lab up, 30 s of load, a slowloris flood, a smuggling attempt and a
/// reload under load (server pid 4101 → 4102) with zero failed requests.
fn forge_app() -> App {
    let mut app = app(Mode::Lab("forge"));
    let v = &mut app.dash::<ForgeModel>().expect("the forge dashboard");
    v.model.refresh(vec![info(1, 4101), info(2, 4200)], T0);
    v.model.on_event(&node_ev(
        2,
        T0 + 100,
        NodeEvent::Log {
            level: "info".into(),
            msg: "load started: 16 keep-alive connections, GET /".into(),
        },
    ));
    let mut requests = 0;
    let mut ok = 0;
    let mut rejected = json!({});
    for i in 0..120u64 {
        let at = T0 + 250 * (i + 1);
        let rps = 40_000 + (i * 997) % 9_000;
        requests += rps / 4;
        ok += rps / 4;
        let p99 = 1.5 + (i % 7) as f64 * 0.3;
        v.model.on_event(&load_metrics(at, rps, p99, requests, 0));
        let mut open = 16;
        if (40..52).contains(&i) {
            // The slowloris flood: 100 slow connections, closed with 408 by the header timeout.
            open += 100;
            if i >= 48 {
                rejected = json!({"408": (i - 47) * 25});
                open -= (i - 47) * 25;
            }
        }
        if i == 70 {
            rejected = json!({"408": 100, "400": 1});
        }
        v.model
            .on_event(&server_metrics(at, 4101, ok, rejected.clone(), open));
    }
    // The reload: a new server beside the old one, which drains and exits.
    let t = T0 + 250 * 121;
    v.model
        .on_event(&ev(1, t, SupEventKind::Spawned { pid: 4102 }));
    v.model
        .on_event(&server_metrics(t + 100, 4102, 2_000, json!({}), 12));
    v.model.on_event(&ev(
        1,
        t + 400,
        SupEventKind::Exited {
            code: Some(0),
            signal: None,
        },
    ));
    v.model
        .on_event(&load_metrics(t + 500, 44_000, 2.1, requests + 11_000, 0));
    v.model
        .on_event(&load_metrics(t + 1100, 45_210, 1.9, requests + 22_000, 0));
    let mut server = info(1, 4102);
    server.incarnation = 2;
    v.model.refresh(vec![server, info(2, 4200)], t + 1200);
    for (id, cmd, src, out) in [
        (1, "forge up", "lab", "forge lab up in /tmp/run\n"),
        (
            2,
            "forge load start",
            "key w",
            "load started: 16 keep-alive connections against http://127.0.0.1:41234\n",
        ),
        (
            3,
            "forge slowloris 100",
            "key s",
            "slowloris: 100 connections to http://127.0.0.1:41234, each sending one header line every 200 ms and never the blank line\n\
             server closed 100/100 after 2003–2011 ms (responses 408: 100)\n\
             meanwhile an ordinary GET / was answered in 0.41 ms\n",
        ),
        (
            4,
            "forge smuggle",
            "key x",
            "smuggle: CL.TE request to http://127.0.0.1:41234:\n  > POST / HTTP/1.1\n  < HTTP/1.1 400 Bad Request\n\
             server answered 400 (1 response) and closed the connection after 0.3 ms: nothing after the rejected head reached a handler\n",
        ),
        (
            5,
            "forge reload",
            "key g",
            "reload: server pid 4101 → 4102 on http://127.0.0.1:41234 (SO_REUSEPORT); the old one closed its listener, drained and exited in 412 ms\n\
             load during the reload: 22,000 requests answered, 0 failed, 0 not 2xx\nzero failed requests\n",
        ),
    ] {
        v.record(id, cmd, src);
        v.finish(&ShellDone {
            id,
            status: 0,
            output: out.into(),
            elapsed: Duration::from_millis(9),
        });
    }
    app
}

#[test]
fn forge_dashboard_shows_traffic_statuses_attacks_and_the_reload() {
    let mut a = forge_app();
    assert_eq!(a.screen(), Screen::Dashboard("forge"));
    let text = render(&mut a, 120, 40);
    for want in [
        "req/s 45,210",
        "p99 1.90 ms",
        "status codes",
        "parser 400×1 408×100",
        "zero failed requests",
        "→ HTTP/1.1 400 Bad Request",
        "serving · 45,210 req/s · 0 failed",
    ] {
        assert!(text.contains(want), "the dashboard lacks {want:?}:\n{text}");
    }
    // The node table: both nodes, running, with the load node aimed at the server.
    assert!(text.contains("▶1  server"), "{text}");
    assert!(text.contains("→ <addr>"), "{text}");
    for tab in [
        "forge_overview",
        "forge_logs",
        "forge_timeline",
        "forge_commands",
    ] {
        check(tab, &mut a);
        a.act(Action::NextTab);
    }
}

#[test]
fn forge_timeline_tells_the_story_in_order() {
    let mut a = forge_app();
    a.dash::<ForgeModel>().expect("the forge dashboard").tab = 2;
    let text = render(&mut a, 160, 50);
    let order = [
        "lab up: server pid <pid>",
        "load started: 16 keep-alive connections",
        "server answered 100 × 408",
        "server answered 1 × 400 Bad Request",
        "reload: new server pid <pid> started beside pid <pid> on the same port (SO_REUSEPORT), under load (",
        "old server pid <pid> closed its listener",
        "reload done: server pid <pid> → 4102",
        "slowloris flood (100): server closed 100/100",
        "smuggling attempt (CL.TE, Content-Length + Transfer-Encoding) → HTTP/1.1 400 Bad",
    ];
    let mut at = 0;
    for want in order {
        let i = text[at..]
            .find(want)
            .unwrap_or_else(|| panic!("{want:?} missing or out of order:\n{text}"));
        at += i;
    }
}

#[test]
fn every_forge_key_runs_its_shell_command() {
    let mut a = forge_app();
    let run = |a: &mut App, c: char| a.on_key(&key(c));
    assert_eq!(
        run(&mut a, 'w'),
        Some(Effect::Run("forge load stop".into(), "key w".into()))
    );
    a.dash::<ForgeModel>()
        .expect("the forge dashboard")
        .model
        .load
        .running = false;
    assert_eq!(
        run(&mut a, 'w'),
        Some(Effect::Run("forge load start".into(), "key w".into()))
    );
    assert_eq!(
        run(&mut a, 's'),
        Some(Effect::Run("forge slowloris 100".into(), "key s".into()))
    );
    assert_eq!(
        run(&mut a, 'x'),
        Some(Effect::Run("forge smuggle".into(), "key x".into()))
    );
    assert_eq!(
        run(&mut a, 'g'),
        Some(Effect::Run("forge reload".into(), "key g/R".into()))
    );
    assert_eq!(
        run(&mut a, 'R'),
        Some(Effect::Run("forge reload".into(), "key g/R".into()))
    );
    assert_eq!(
        run(&mut a, 'k'),
        Some(Effect::Run("forge kill 1".into(), "key k".into()))
    );
    assert_eq!(run(&mut a, '2'), None);
    assert_eq!(
        a.dash::<ForgeModel>()
            .expect("the forge dashboard")
            .selected,
        2
    );
    assert_eq!(
        run(&mut a, 'p'),
        Some(Effect::Run("forge pause 2".into(), "key p".into()))
    );
    assert_eq!(
        run(&mut a, 'r'),
        Some(Effect::Run("forge restart 2".into(), "key r".into()))
    );
    assert_eq!(run(&mut a, ':'), None);
    assert_eq!(a.bar.as_deref(), Some(""));
}

#[test]
fn keys_wait_for_the_lab_and_say_so() {
    let mut a = app(Mode::Lab("forge"));
    assert_eq!(a.on_key(&key('x')), None);
    let text = render(&mut a, 80, 24);
    assert!(text.contains("the forge lab is not up"), "{text}");
    assert!(text.contains("no lab: `:` then `forge up`"), "{text}");
}

#[test]
fn wirelab_lab_forge_starts_the_lab_with_forge_up() {
    let a = new_app(
        Mode::Lab("forge"),
        Portfolio::builtin().expect("portfolio"),
        Theme::dark(),
    );
    assert_eq!(a.screens, vec![Screen::Dashboard("forge")]);
    assert_eq!(a.queued, vec![Effect::Run("forge up".into(), "lab".into())]);
}

#[test]
fn l_on_the_forge_project_page_opens_the_forge_dashboard() {
    let mut a = app(Mode::Explorer);
    a.home_sel = a
        .portfolio
        .display_order()
        .iter()
        .position(|&i| a.portfolio.projects[i].id == "forge-http")
        .expect("forge-http");
    a.act(Action::Open);
    let page = render(&mut a, 120, 40);
    assert!(page.contains("lab `forge`"), "{page}");
    assert!(page.contains("v verifies"), "{page}");
    assert_eq!(
        a.on_key(&key('l')),
        Some(Effect::Run("forge up".into(), "lab".into()))
    );
    assert_eq!(a.screen(), Screen::Dashboard("forge"));
    let text = render(&mut a, 120, 40);
    assert!(text.contains("forge lab"), "{text}");
    // q goes back to the project page (the lab keeps running, as the Raft one does).
    a.on_key(&key('q'));
    assert!(matches!(a.screen(), Screen::Project(_)));
}

#[test]
fn forge_help_lists_every_key_of_the_view() {
    let mut a = forge_app();
    a.act(Action::Help);
    let text = render(&mut a, 160, 50);
    for c in a.commands() {
        assert!(
            text.contains(&c.key_names()),
            "help lacks the key {}: {text}",
            c.key_names()
        );
        assert!(text.contains(c.desc), "help lacks {:?}: {text}", c.desc);
    }
    check("forge_help", &mut a);
}

#[test]
fn forge_mouse_selects_tabs_and_nodes() {
    let mut a = forge_app();
    render(&mut a, 120, 40);
    let click = click_on(&a, Click::Node(2));
    a.on_mouse(&click);
    assert_eq!(
        a.dash::<ForgeModel>()
            .expect("the forge dashboard")
            .selected,
        2
    );
    let click = click_on(&a, Click::Tab(2));
    a.on_mouse(&click);
    assert_eq!(a.dash::<ForgeModel>().expect("the forge dashboard").tab, 2);
    assert_eq!(
        a.dash::<RaftModel>().expect("the raft dashboard").tab,
        0,
        "the Raft dashboard is untouched"
    );
}

#[test]
fn forge_log_search_and_themes() {
    let mut a = forge_app();
    a.dash::<ForgeModel>().expect("the forge dashboard").tab = 1;
    for c in "/load".chars() {
        a.on_key(&key(c));
    }
    a.on_key(&KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    assert_eq!(
        a.dash::<ForgeModel>()
            .expect("the forge dashboard")
            .logs
            .query,
        "load"
    );
    assert!(
        a.dash::<RaftModel>()
            .expect("the raft dashboard")
            .logs
            .query
            .is_empty()
    );
    let dark = render(&mut a, 120, 40);
    assert!(dark.contains("/load"), "{dark}");
    a.theme = Theme::light();
    assert_eq!(render(&mut a, 120, 40), dark);
    a.theme = Theme::no_color();
    assert_eq!(render(&mut a, 120, 40), dark);
    a.on_key(&KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
    assert!(
        a.dash::<ForgeModel>()
            .expect("the forge dashboard")
            .logs
            .query
            .is_empty(),
        "Esc clears the search"
    );
}

#[test]
fn tiny_terminals_do_not_panic_on_the_forge_dashboard() {
    for (w, h) in [(1, 1), (10, 3), (20, 5), (40, 10), (60, 16)] {
        let mut a = forge_app();
        for _ in 0..4 {
            render(&mut a, w, h);
            a.act(Action::NextTab);
        }
        a.act(Action::Help);
        render(&mut a, w, h);
        let mut empty = app(Mode::Lab("forge"));
        render(&mut empty, w, h);
    }
}

fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
        Err(_) => true,
    }
}

/// Runs `cmd` on the dashboard's shell worker as a key press does, and keeps folding the lab's
/// events into the view until `done` holds for the model (deadline: `secs`).
fn run_until(
    v: &mut ForgeView,
    shell: &mut ShellWorker,
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<ShellDone>,
    cmd: &str,
    secs: u64,
    what: &str,
    done: impl Fn(&ForgeView) -> bool,
) {
    let id = shell.run(cmd);
    v.record(id, cmd, "test");
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut finished = false;
    loop {
        while let Ok(d) = rx.try_recv() {
            finished |= d.id == id;
            v.finish(&d);
        }
        v.drain_events();
        v.refresh(wirelab::tui::clock::now_ms());
        if finished && done(v) {
            return;
        }
        let out = v
            .commands
            .last()
            .map(|c| c.output.clone())
            .unwrap_or_default();
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what} after `{cmd}` (finished: {finished}):\n{out}\ntimeline: {:#?}",
            v.model.timeline
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

#[test]
fn the_dashboard_follows_a_real_forge_lab_through_load_attacks_and_a_reload() {
    let dir = tempfile::tempdir().expect("tempdir");
    let host = LabHost::new();
    let forge = wirelab::registry::lab("forge").expect("forge is registered");
    let sup = host
        .start(
            forge,
            &up_matches(forge, &[]).expect("up"),
            Some(dir.path().join("run")),
            Some(common::cluster::exe()),
        )
        .expect("the forge lab starts");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut shell = ShellWorker::start(host.clone(), tx).expect("shell worker");
    let mut v = ForgeView::new();
    v.attach(sup.clone());
    v.refresh(wirelab::tui::clock::now_ms());
    let pids: Vec<u32> = sup.nodes().iter().filter_map(|n| n.pid).collect();
    assert_eq!(pids.len(), 2, "a server and a load node");
    // What the server logged before the dashboard attached is in its log pane too.
    // (The line may still be on its way through the supervisor when the lab reports ready.)
    let deadline = Instant::now() + Duration::from_secs(10);
    while !v
        .model
        .logs
        .iter()
        .any(|l| l.node == 1 && l.msg.starts_with("serving the forge demo app"))
    {
        assert!(Instant::now() < deadline, "{:?}", v.model.logs);
        std::thread::sleep(Duration::from_millis(20));
        v.drain_events();
        v.refresh(wirelab::tui::clock::now_ms());
    }

    // `w`: load starts; the model shows req/s from the load node's metrics events.
    let cmd = v.act(&Action::Workload).expect("w is a command");
    assert_eq!(cmd, "forge load start");
    run_until(&mut v, &mut shell, &mut rx, &cmd, 30, "req/s > 0", |v| {
        v.model.load.running
            && v.model.load.rps > 0.0
            && v.model.seconds.iter().any(|s| s.rps > 0.0)
            && v.model
                .server_total()
                .status
                .get(&200)
                .is_some_and(|n| *n > 0)
    });

    // `x`: the smuggling attempt is refused with a 400 the server counts as a rejection.
    let cmd = v.act(&Action::Shell("forge smuggle")).expect("a command");
    run_until(&mut v, &mut shell, &mut rx, &cmd, 30, "the 400", |v| {
        v.model
            .server_total()
            .rejected
            .get(&400)
            .is_some_and(|n| *n >= 1)
            && v.model
                .timeline
                .iter()
                .any(|e| e.text.contains("→ HTTP/1.1 400 Bad Request"))
    });

    // A (small) slowloris flood: the header timeout closes every slow connection with a 408.
    run_until(
        &mut v,
        &mut shell,
        &mut rx,
        "forge slowloris 20",
        60,
        "the 408s",
        |v| {
            v.model
                .server_total()
                .rejected
                .get(&408)
                .is_some_and(|n| *n >= 20)
                && v.model.timeline.iter().any(|e| {
                    e.text
                        .starts_with("slowloris flood (20): server closed 20/20")
                })
        },
    );

    // `g`: a graceful reload under load: a new server pid, the old one drains, and the load
    // node saw no failed request.
    let old_pid = v.model.server_pid().expect("server pid");
    run_until(
        &mut v,
        &mut shell,
        &mut rx,
        "forge reload",
        60,
        "the reload",
        |v| {
            v.model
                .timeline
                .iter()
                .any(|e| e.text.starts_with("reload done"))
        },
    );
    let done = v
        .model
        .timeline
        .iter()
        .find(|e| e.text.starts_with("reload done"))
        .map(|e| e.text.clone())
        .unwrap_or_default();
    assert!(done.contains(&format!("server pid {old_pid} →")), "{done}");
    assert!(done.contains("zero failed requests"), "{done}");
    let reload_out = v.commands.last().map(|c| (c.status, c.output.clone()));
    assert_eq!(
        reload_out.as_ref().map(|r| r.0),
        Some(Some(0)),
        "{reload_out:?}"
    );
    assert_ne!(v.model.server_pid(), Some(old_pid));

    // The live dashboard renders what the model holds.
    let mut term = Terminal::new(TestBackend::new(120, 40)).expect("terminal");
    let mut hits = Vec::new();
    term.draw(|f| {
        wirelab::tui::forge::view::draw(f, f.area(), &mut v, &Theme::dark(), false, &mut hits)
    })
    .expect("draw");
    let screen = term.backend().to_string();
    assert!(screen.contains("req/s"), "{screen}");
    assert!(
        screen.contains("forge-server") || screen.contains("server"),
        "{screen}"
    );

    // Stop: every process of the lab is gone.
    let mut all_pids = pids;
    all_pids.extend(sup.nodes().iter().filter_map(|n| n.pid));
    drop(sup);
    run_until(
        &mut v,
        &mut shell,
        &mut rx,
        "forge stop",
        30,
        "the stop",
        |_| true,
    );
    assert!(host.get("forge").is_none());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !all_pids.iter().all(|p| process_gone(*p)) {
        assert!(
            Instant::now() < deadline,
            "lab processes outlived `forge stop`: {all_pids:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    v.detach();
    assert!(!v.up());
    assert!(
        v.model
            .timeline
            .back()
            .is_some_and(|e| e.text.starts_with("lab stopped")),
        "{:?}",
        v.model.timeline.back()
    );
}

/// The req/s the tab row shows (`serving · 12,345 req/s · 0 failed`).
fn rps_on(screen: &str) -> Option<u64> {
    let i = screen.find("serving · ")?;
    let rest = &screen[i + "serving · ".len()..];
    let end = rest.find(" req/s")?;
    rest[..end].replace(',', "").parse().ok()
}

#[test]
fn wirelab_lab_forge_in_a_terminal_loads_smuggles_reloads_and_quits_clean() {
    if !common::require_tool("tmux") {
        return;
    }
    const T: Duration = Duration::from_secs(30);
    let t = tmux::Tmux::start(common::wirelab(), &["lab", "forge"], 120, 40);
    t.wait_text("serving · load off", T)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.node_processes().len(), 2, "{}", t.screen());
    t.keys(&["w"]);
    t.wait_for("req/s above zero", T, |s| rps_on(s).is_some_and(|r| r > 0))
        .unwrap_or_else(|e| panic!("{e}"));
    t.keys(&["x"]);
    t.wait_text("→ HTTP/1.1 400 Bad Request", T)
        .unwrap_or_else(|e| panic!("{e}"));
    t.keys(&["g"]);
    t.wait_text("$ forge reload", T)
        .unwrap_or_else(|e| panic!("{e}"));
    let screen = t
        .wait_text("zero failed requests", T)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(screen.contains("[key g/R]"), "{screen}");
    t.keys(&["?"]);
    t.wait_text("forge lab: keys (? closes)", T)
        .unwrap_or_else(|e| panic!("{e}"));
    t.keys(&["?"]);
    t.keys(&["Q"]);
    assert!(t.wait_exit(T), "wirelab did not quit: {}", t.screen());
    let deadline = Instant::now() + Duration::from_secs(5);
    while !t.node_processes().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        t.node_processes(),
        Vec::<u32>::new(),
        "nodes outlived wirelab"
    );
}

#[test]
fn opening_the_dashboard_starts_the_lab_unless_it_runs_or_is_starting() {
    let mut a = app(Mode::Explorer);
    let up = Some(Effect::Run("forge up".into(), "lab".into()));
    assert_eq!(a.open_dashboard("forge"), up);
    a.record_command(7, "forge up", "lab");
    assert_eq!(a.open_dashboard("forge"), None, "forge up is queued");
    // It failed (a port taken, say): opening the dashboard again tries again.
    a.finish_command(&ShellDone {
        id: 7,
        status: 1,
        output: "forge: cannot start node 1".into(),
        elapsed: Duration::from_millis(30),
    });
    assert_eq!(a.open_dashboard("forge"), up);
}
