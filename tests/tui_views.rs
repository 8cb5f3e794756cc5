//! Every view of the TUI rendered with ratatui's `TestBackend` at 80×24 and 120×40 and checked
//! with insta snapshots. The dashboard is fed a synthetic cluster (no processes), and the app
//! runs with redaction on, so pids, sizes, CPU, uptimes, times and durations never enter a
//! snapshot.

#[path = "tui_support/views.rs"]
mod views;
use std::time::Duration;

use serde_json::json;
use views::{SIZES, app, click_on, ev, log_ev, render};
use wirelab::cluster::{NodeEvent, NodeInfo, NodeStatus, SupEvent, SupEventKind};
use wirelab::portfolio::measured::Measurement;
use wirelab::raft::load::{LoadSecond, LoadSnapshot};
use wirelab::tui::Mode;
use wirelab::tui::app::{App, Screen};
use wirelab::tui::keys::Action;
use wirelab::tui::raft::model::RaftModel;
use wirelab::tui::shell_worker::ShellDone;
use wirelab::tui::theme::Theme;
use wirelab::wire::FaultRules;

fn check(name: &str, app: &mut App) {
    for (w, h) in SIZES {
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), render(app, w, h));
    }
}

fn node(id: u64, status: NodeStatus, role: &str, term: u64, commit: u64, cut: &[u64]) -> NodeInfo {
    let state = json!({
        "role": role, "term": term, "leader": 1, "commit": commit, "applied": commit,
        "last_index": commit + 2, "snapshot_index": 0, "election_elapsed": 6,
        "election_timeout": 24,
        "log_tail": {"first": commit.saturating_sub(9), "terms": [1,1,1,2,2,2,2,3,3,3,3,3]},
    });
    NodeInfo {
        id,
        role: "raft".into(),
        pid: Some(4000 + id as u32),
        status,
        addr: format!("127.0.0.1:{}", 40000 + id),
        http: None,
        data_dir: format!("/tmp/run/node-{id}").into(),
        uptime_ms: 61_000,
        rss_bytes: 14 << 20,
        cpu_percent: 3.0,
        incarnation: 1,
        faults: FaultRules {
            cut: cut.iter().copied().collect(),
            ..Default::default()
        },
        ready: true,
        state: state.as_object().cloned().unwrap_or_default(),
    }
}

fn state_ev(node: u64, at_ms: u64, role: &str, term: u64) -> SupEvent {
    let fields = json!({"role": role, "term": term})
        .as_object()
        .cloned()
        .unwrap_or_default();
    ev(
        node,
        at_ms,
        SupEventKind::Node {
            event: NodeEvent::State { fields },
        },
    )
}

/// A dashboard after: start, election, a kill of the leader, re-election, a restart, a pause
/// and a partition.
fn lab_app() -> App {
    let mut app = app(Mode::Lab("raft"));
    let lab = &mut app.dash::<RaftModel>().expect("the raft dashboard");
    let t = 1_795_000_000_000;
    for i in 1..=3 {
        lab.model.on_event(&ev(
            i,
            t,
            SupEventKind::Spawned {
                pid: 4000 + i as u32,
            },
        ));
    }
    lab.model.on_event(&state_ev(1, t + 300, "leader", 1));
    lab.model
        .on_event(&log_ev(1, t + 300, "info", "elected leader for term 1"));
    lab.model.on_event(&state_ev(2, t + 310, "follower", 1));
    lab.model.on_event(&state_ev(3, t + 310, "follower", 1));
    lab.model.on_event(&ev(1, t + 5000, SupEventKind::Killed));
    lab.model.on_event(&log_ev(
        2,
        t + 5200,
        "info",
        "candidate in term 2 (leader unknown)",
    ));
    lab.model.on_event(&state_ev(2, t + 5240, "leader", 2));
    lab.model
        .on_event(&log_ev(2, t + 5240, "info", "elected leader for term 2"));
    lab.model
        .on_event(&log_ev(3, t + 5250, "warn", "leader 1 unreachable"));
    lab.model
        .on_event(&ev(1, t + 8000, SupEventKind::Spawned { pid: 4100 }));
    lab.model.on_event(&state_ev(1, t + 8100, "follower", 2));
    lab.model.on_event(&ev(3, t + 9000, SupEventKind::Paused));
    lab.model.on_event(&ev(3, t + 9500, SupEventKind::Resumed));
    let cut = FaultRules {
        cut: [1, 2].into_iter().collect(),
        ..Default::default()
    };
    lab.model
        .on_event(&ev(3, t + 10_000, SupEventKind::Faults { rules: cut }));
    let nodes = vec![
        node(1, NodeStatus::Running, "follower", 2, 1180, &[3]),
        node(2, NodeStatus::Running, "leader", 2, 1182, &[3]),
        node(3, NodeStatus::Running, "candidate", 3, 1101, &[1, 2]),
    ];
    let load = LoadSnapshot {
        running: true,
        clients: 4,
        acked: 9000,
        unknown: 1,
        seconds: (0..30)
            .map(|i| LoadSecond {
                writes: 900 + (i * 37) % 400,
                unknown: 0,
                p50_ms: 1.5,
                p99_ms: 6.0 + (i % 5) as f64,
            })
            .collect(),
    };
    lab.model.refresh(nodes, load, t + 11_000);
    for (id, cmd, src, out) in [
        (1, "raft up", "lab", "raft cluster up in /tmp/run\n"),
        (
            2,
            "raft load start --clients 4",
            "key w",
            "workload started: 4 clients writing\n",
        ),
        (3, "raft kill 1", "key k", "node 1 killed (SIGKILL)\n"),
        (
            4,
            "raft restart 1",
            "key r",
            "node 1 restarted from its data dir\n",
        ),
        (
            5,
            "raft partition 3",
            "key n",
            "node 3 cut off from the rest\n",
        ),
    ] {
        lab.record(id, cmd, src);
        lab.finish(&ShellDone {
            id,
            status: 0,
            output: out.into(),
            elapsed: Duration::from_millis(7),
        });
    }
    app
}

#[test]
fn home_projects_experience_and_focus() {
    let mut a = app(Mode::Explorer);
    check("home_projects", &mut a);
    a.act(Action::Down);
    a.act(Action::NextTab);
    check("home_experience", &mut a);
    a.act(Action::NextTab);
    check("home_focus", &mut a);
}

#[test]
fn project_page_with_a_lab_and_a_measured_claim() {
    let mut a = app(Mode::Explorer);
    a.act(Action::Open);
    assert_eq!(a.screen(), Screen::Project(0));
    a.measured.insert(
        "raft-kv#0".into(),
        Measurement {
            figure: "linearizable, 0 acknowledged writes lost over 52180 operations with 3 kills"
                .into(),
            ok: true,
            date: "20261124-050000".into(),
            command: "raft chaos --duration 20s --json".into(),
        },
    );
    check("project_raft_kv", &mut a);
}

#[test]
fn project_without_a_lab_says_so() {
    // The shell has no dashboard but runs from a terminal: the page says how.
    let mut a = app(Mode::Explorer);
    a.home_sel = a
        .portfolio
        .display_order()
        .iter()
        .position(|&i| a.portfolio.projects[i].id == "shell")
        .expect("the shell project");
    a.act(Action::Open);
    let text = render(&mut a, 120, 40);
    assert!(text.contains("l opens the interactive shell"), "{text}");
    assert!(text.contains("`wirelab shell`"), "{text}");
    // Every other project has a lab and a dashboard now: ephemeral-secret's page launches it.
    let mut a = app(Mode::Explorer);
    a.act(Action::Down);
    a.act(Action::Down);
    a.act(Action::Open);
    let text = render(&mut a, 120, 40);
    assert!(
        text.contains("ephemeral-secret") && text.contains("l launches a real local cluster"),
        "{text}"
    );
}

#[test]
fn help_overlay_lists_the_commands_of_the_view() {
    let mut a = lab_app();
    a.act(Action::Help);
    let text = render(&mut a, 120, 40);
    for word in [
        "raft kill N",
        "raft heal",
        "command bar",
        "interactive shell",
    ] {
        assert!(text.contains(word), "help lacks {word}: {text}");
    }
    check("lab_help", &mut a);
}

#[test]
fn lab_dashboard_tabs() {
    let mut a = lab_app();
    let text = render(&mut a, 120, 40);
    assert!(
        text.contains("elected leader for term 2 after <n> ms"),
        "{text}"
    );
    assert!(text.contains("partitioned"), "{text}");
    for name in [
        "lab_overview",
        "lab_scope",
        "lab_logs",
        "lab_timeline",
        "lab_commands",
    ] {
        check(name, &mut a);
        a.act(Action::NextTab);
    }
}

#[test]
fn log_panes_per_node() {
    let mut a = lab_app();
    a.dash::<RaftModel>().expect("the raft dashboard").tab = 2;
    a.act(Action::Merged);
    let text = render(&mut a, 120, 40);
    assert!(text.contains(" node 2 "), "{text}");
    check("lab_logs_per_node", &mut a);
}

#[test]
fn log_search_highlights_and_filters_levels() {
    let mut a = lab_app();
    a.dash::<RaftModel>().expect("the raft dashboard").tab = 2;
    a.dash::<RaftModel>()
        .expect("the raft dashboard")
        .logs
        .query = "elected".into();
    a.dash::<RaftModel>()
        .expect("the raft dashboard")
        .logs
        .level = 2;
    let text = render(&mut a, 120, 40);
    assert!(text.contains("leader 1 unreachable"), "{text}");
    assert!(!text.contains("candidate in term 2"), "{text}");
}

#[test]
fn tour_caption_and_step_counter() {
    let mut a = app(Mode::Tour { auto: false });
    check("tour_step1", &mut a);
    a.act(Action::TourNext);
    let text = render(&mut a, 80, 24);
    assert!(text.contains("step 2/"), "{text}");
}

#[test]
fn light_and_no_color_themes_render_the_same_text() {
    let mut a = app(Mode::Explorer);
    let dark = render(&mut a, 80, 24);
    a.theme = Theme::light();
    assert_eq!(render(&mut a, 80, 24), dark);
    a.theme = Theme::no_color();
    assert_eq!(render(&mut a, 80, 24), dark);
}

#[test]
fn tiny_terminals_do_not_panic() {
    for (w, h) in [(1, 1), (10, 3), (20, 5), (40, 10)] {
        let mut a = lab_app();
        render(&mut a, w, h);
        a.act(Action::Help);
        render(&mut a, w, h);
        let mut e = app(Mode::Explorer);
        render(&mut e, w, h);
    }
}

#[test]
fn mouse_clicks_select_tabs_and_nodes_and_the_wheel_scrolls() {
    use crossterm::event::{KeyModifiers, MouseEvent, MouseEventKind};
    use wirelab::tui::Click;
    let mut a = lab_app();
    render(&mut a, 120, 40);
    let click = click_on(&a, Click::Node(3));
    a.on_mouse(&click);
    assert_eq!(
        a.dash::<RaftModel>().expect("the raft dashboard").selected,
        3
    );
    let click = click_on(&a, Click::Tab(3));
    a.on_mouse(&click);
    assert_eq!(a.dash::<RaftModel>().expect("the raft dashboard").tab, 3);
    a.dash::<RaftModel>().expect("the raft dashboard").tab = 2;
    render(&mut a, 120, 40);
    a.on_mouse(&MouseEvent {
        kind: MouseEventKind::ScrollUp,
        column: 10,
        row: 10,
        modifiers: KeyModifiers::NONE,
    });
    assert!(
        !a.dash::<RaftModel>()
            .expect("the raft dashboard")
            .logs
            .follow,
        "the wheel scrolls the logs up"
    );
    let mut home = app(Mode::Explorer);
    render(&mut home, 80, 24);
    let click = click_on(&home, Click::Project(2));
    home.on_mouse(&click);
    home.on_mouse(&click);
    assert_eq!(
        home.screen(),
        Screen::Project(home.portfolio.display_order()[2])
    );
}

#[test]
fn s_shows_the_scenario_scripts_and_they_scroll() {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let mut a = app(Mode::Explorer);
    a.act(Action::Open);
    a.act(Action::Scenarios);
    let text = render(&mut a, 80, 24);
    assert!(text.contains("scenario run raft/"), "{text}");
    a.on_key(&KeyEvent::new(KeyCode::PageDown, KeyModifiers::NONE));
    assert_ne!(render(&mut a, 80, 24), text, "the popup scrolls");
    a.on_key(&KeyEvent::new(KeyCode::Char('x'), KeyModifiers::NONE));
    assert!(a.popup.is_none());
}

#[test]
fn enter_on_the_scenario_scripts_runs_the_one_at_the_top_on_its_labs_dashboard() {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use wirelab::tui::app::Effect;
    let mut a = app(Mode::Explorer);
    a.act(Action::Open);
    a.act(Action::Scenarios);
    let popup = a.popup.clone().expect("the scenario scripts");
    let (second_line, second) = popup.runs[1].clone();
    // Scroll the second script to the top, then Enter.
    for _ in 0..second_line {
        a.on_key(&KeyEvent::new(KeyCode::Down, KeyModifiers::NONE));
    }
    let effect = a.on_key(&KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    assert_eq!(
        effect,
        Some(Effect::Run(
            format!("scenario run {second}"),
            "scenario".into()
        ))
    );
    assert!(a.popup.is_none());
    assert_eq!(a.screen(), Screen::Dashboard("raft"));
}

#[test]
fn the_command_bar_runs_a_shell_command_and_remembers_it() {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use wirelab::tui::app::Effect;
    let k = |c| KeyEvent::new(c, KeyModifiers::NONE);
    let mut a = lab_app();
    assert_eq!(a.on_key(&k(KeyCode::Char(':'))), None);
    for c in "raft status".chars() {
        a.on_key(&k(KeyCode::Char(c)));
    }
    let text = render(&mut a, 80, 24);
    assert!(text.contains(":raft status"), "{text}");
    assert_eq!(
        a.on_key(&k(KeyCode::Enter)),
        Some(Effect::Run("raft status".into(), ":".into()))
    );
    a.on_key(&k(KeyCode::Char(':')));
    a.on_key(&k(KeyCode::Up));
    assert_eq!(a.bar.as_deref(), Some("raft status"));
    a.on_key(&k(KeyCode::Esc));
    assert_eq!(a.bar, None);
}

#[test]
fn the_tour_over_the_dashboard_keeps_the_command_log_visible_at_80x24() {
    let mut a = lab_app();
    a.tour = Some(wirelab::tui::tour::Tour::new(&a.portfolio, false));
    let text = render(&mut a, 80, 24);
    assert!(text.contains("command log"), "{text}");
    assert!(text.contains("tour · step 1/"), "{text}");
    check("lab_with_tour_caption", &mut a);
}

/// Every command a tour step queues (the lab start included) is the tour's: the loop queues
/// those behind a running command instead of refusing them as "busy" (a forge step whose
/// `forge up` was refused left the tour on an empty dashboard).
#[test]
fn a_tour_steps_lab_start_is_queued_as_the_tours() {
    use wirelab::tui::app::Effect;
    let mut a = app(Mode::Tour { auto: false });
    let mut starts = 0;
    for _ in 0..80 {
        a.queued.clear();
        a.act(Action::TourNext);
        for e in &a.queued {
            if let Effect::Run(cmd, source) = e {
                assert_eq!(source, "tour", "`{cmd}` is queued as {source}");
                starts += usize::from(cmd.ends_with(" up"));
            }
        }
    }
    assert!(
        starts >= 2,
        "the tour starts its labs: {starts} lab starts seen"
    );
}
