//! The P2P dashboard rendered with ratatui's `TestBackend` from synthetic supervisor events (no
//! processes) at 80×24 and 120×40, checked with insta snapshots (redaction on: no pids, sizes,
//! rates or times); its keys, each a `p2p …` shell command; its help, listing every key.

#[path = "tui_support/views.rs"]
mod views;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::{Value, json};
use views::{SIZES, app, ev, log_ev, render};
use wirelab::cluster::{NodeEvent, NodeInfo, NodeStatus, SupEvent, SupEventKind};
use wirelab::portfolio::Portfolio;
use wirelab::tui::app::{App, Effect, Screen};
use wirelab::tui::keys::Action;
use wirelab::tui::p2p::model::P2pModel;
use wirelab::tui::shell_worker::ShellDone;
use wirelab::tui::theme::Theme;
use wirelab::tui::{Mode, new_app};
use wirelab::wire::FaultRules;

const T: u64 = 1_795_000_000_000;

fn check(name: &str, app: &mut App) {
    for (w, h) in SIZES {
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), render(app, w, h));
    }
}

fn state_ev(node: u64, at_ms: u64, fields: &Value) -> SupEvent {
    ev(
        node,
        at_ms,
        SupEventKind::Node {
            event: NodeEvent::State {
                fields: fields.as_object().cloned().unwrap_or_default(),
            },
        },
    )
}

/// 32 pieces, the first `have` held: the hex bitfield.
fn bitfield(have: u32) -> String {
    let mut bytes = [0u8; 4];
    for i in 0..have.min(32) {
        bytes[(i / 8) as usize] |= 0x80 >> (i % 8);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn peer(role: &str, have: u32, tracker: u64, bad: u64, banned: u64) -> Value {
    json!({
        "role": role, "have": have, "pieces": 32, "bitfield": bitfield(have),
        "complete": have == 32, "down_rate": 3 << 20, "up_rate": 1 << 20, "peers": 4,
        "tracker": tracker, "failovers": u64::from(tracker == 2), "bad_pieces": bad,
        "banned": banned, "verified_at_start": 0,
    })
}

fn tracker(digest: &str, lag: Option<u64>, cut: bool) -> Value {
    json!({
        "role": "tracker", "ops": 420, "replication_lag": lag, "partitioned": cut,
        "digest": digest, "vv": {"1": 300, "2": 120}, "peers": 5, "torrents": 1,
    })
}

fn info(id: u64, status: NodeStatus, cut: &[u64], state: &Value) -> NodeInfo {
    NodeInfo {
        id,
        role: if id <= 2 { "p2p-tracker" } else { "p2p-peer" }.into(),
        pid: Some(5000 + id as u32),
        status,
        addr: format!("127.0.0.1:{}", 41000 + id),
        http: None,
        data_dir: format!("/tmp/run/node-{id}").into(),
        uptime_ms: 9_000,
        rss_bytes: 9 << 20,
        cpu_percent: 12.0,
        incarnation: 1,
        faults: FaultRules {
            cut: cut.iter().copied().collect(),
            ..Default::default()
        },
        ready: true,
        state: if status.is_alive() {
            state.as_object().cloned().unwrap_or_default()
        } else {
            Default::default()
        },
    }
}

/// A lab after: start, tracker 1 killed mid-transfer and the clients' failover, tracker 1
/// restarted, the trackers partitioned and diverged, leecher 7 detecting bad pieces and banning
/// the seeder, leecher 5 killed.
fn p2p_app() -> App {
    let mut app = app(Mode::Lab("p2p"));
    let lab = &mut app.dash::<P2pModel>().expect("the p2p dashboard");
    let m = &mut lab.model;
    for i in 1..=7 {
        m.on_event(&ev(
            i,
            T,
            SupEventKind::Spawned {
                pid: 5000 + i as u32,
            },
        ));
    }
    m.on_event(&state_ev(
        1,
        T + 100,
        &tracker("aaaa11112222", Some(0), false),
    ));
    m.on_event(&state_ev(
        2,
        T + 100,
        &tracker("aaaa11112222", Some(0), false),
    ));
    m.on_event(&state_ev(3, T + 120, &peer("seeder", 32, 1, 0, 0)));
    for i in 4..=7 {
        m.on_event(&state_ev(
            i,
            T + 150,
            &peer("leecher", 4 * i as u32, 1, 0, 0),
        ));
    }
    m.on_event(&log_ev(
        1,
        T + 160,
        "debug",
        "op 1:17 peer 127.0.0.1:41004 16 pieces",
    ));
    m.on_event(&log_ev(
        2,
        T + 170,
        "debug",
        "op 2:9 peer 127.0.0.1:41006 24 pieces",
    ));
    m.on_event(&ev(1, T + 1000, SupEventKind::Killed));
    m.on_event(&state_ev(3, T + 1400, &peer("seeder", 32, 2, 0, 0)));
    for i in 4..=7 {
        m.on_event(&state_ev(
            i,
            T + 1400,
            &peer("leecher", 4 * i as u32 + 2, 2, 0, 0),
        ));
    }
    m.on_event(&log_ev(
        4,
        T + 1400,
        "info",
        "failed over from tracker 1 to tracker 2",
    ));
    m.on_event(&ev(1, T + 3000, SupEventKind::Spawned { pid: 5100 }));
    m.on_event(&state_ev(
        1,
        T + 3100,
        &tracker("aaaa11112222", Some(0), false),
    ));
    let cut = |c: &[u64]| SupEventKind::Faults {
        rules: FaultRules {
            cut: c.iter().copied().collect(),
            ..Default::default()
        },
    };
    m.on_event(&ev(1, T + 4000, cut(&[2])));
    m.on_event(&ev(2, T + 4000, cut(&[1])));
    m.on_event(&state_ev(1, T + 4200, &tracker("bbbb33334444", None, true)));
    m.on_event(&state_ev(2, T + 4200, &tracker("cccc55556666", None, true)));
    m.on_event(&state_ev(7, T + 5000, &peer("leecher", 30, 2, 2, 1)));
    m.on_event(&log_ev(
        7,
        T + 5000,
        "info",
        "bad piece detected by SHA-1 (2 so far)",
    ));
    m.on_event(&ev(5, T + 6000, SupEventKind::Killed));
    let nodes = vec![
        info(
            1,
            NodeStatus::Running,
            &[2],
            &tracker("bbbb33334444", None, true),
        ),
        info(
            2,
            NodeStatus::Running,
            &[1],
            &tracker("cccc55556666", None, true),
        ),
        info(3, NodeStatus::Running, &[], &peer("seeder", 32, 2, 0, 0)),
        info(4, NodeStatus::Running, &[], &peer("leecher", 18, 2, 0, 0)),
        info(5, NodeStatus::Killed, &[], &Value::Null),
        info(6, NodeStatus::Running, &[], &peer("leecher", 26, 2, 0, 0)),
        info(7, NodeStatus::Running, &[], &peer("leecher", 30, 2, 2, 1)),
    ];
    m.refresh(nodes);
    for (id, cmd, src, out) in [
        (1, "p2p up", "lab", "p2p lab up in /tmp/run\n"),
        (2, "p2p kill 1", "key k", "node 1 killed (SIGKILL)\n"),
        (
            3,
            "p2p restart 1",
            "key r",
            "node 1 restarted from its data dir\n",
        ),
        (
            4,
            "p2p partition 1",
            "key n",
            "node 1 cut off from the rest\n",
        ),
        (
            5,
            "p2p corrupt 3 --piece 30",
            "key x",
            "piece 30 of node 3's copy overwritten with garbage\n",
        ),
    ] {
        lab.record(id, cmd, src);
        lab.finish(&ShellDone {
            id,
            status: 0,
            output: out.into(),
            elapsed: Duration::from_millis(4),
        });
    }
    lab.selected = 5;
    app
}

#[test]
fn overview_shows_table_piece_maps_trackers_and_timeline() {
    let mut a = p2p_app();
    assert_eq!(a.screen(), Screen::Dashboard("p2p"));
    let text = render(&mut a, 120, 40);
    for want in [
        "tracker",
        "seeder",
        "leecher",
        "partitioned",
        "killed",
        "piece maps",
        "trackers: diverged",
        "lag ?",
        "vv <vv>",
        "op 2:9 peer",
        "aggregate download",
        "banned a peer",
        "$ p2p corrupt 3 --piece 30",
    ] {
        assert!(text.contains(want), "overview lacks {want:?}:\n{text}");
    }
    a.act(Action::NextTab);
    a.act(Action::NextTab);
    let timeline = render(&mut a, 120, 40);
    for want in [
        "tracker 1 killed (SIGKILL) mid-transfer",
        "leecher 4 failed over from tracker 1 to tracker 2",
        "tracker 1 restarted",
        "trackers partitioned: tracker 1 cut from tracker 2",
        "trackers diverged",
        "leecher 7 detected a bad piece by SHA-1",
        "leecher 7 banned a peer for bad pieces",
        "leecher 5 killed (SIGKILL) mid-transfer",
        "p2p corrupt 3 --piece 30: garbage on disk, still served",
    ] {
        assert!(
            timeline.contains(want),
            "timeline lacks {want:?}:\n{timeline}"
        );
    }
    a.act(Action::PrevTab);
    a.act(Action::PrevTab);
    // Leecher 6 holds 26 of 32 pieces: its map row is mostly held cells, then missing ones.
    let row = text
        .lines()
        .find(|l| l.contains(" 6 leecher"))
        .expect("a map row for node 6");
    assert!(row.contains('█') && row.contains('·'), "{row}");
    assert!(
        !text.contains("<pid>") || !text.contains("5001"),
        "pids redacted"
    );
    check("p2p_overview", &mut a);
}

#[test]
fn every_tab_renders_and_tiny_terminals_do_not_panic() {
    let mut a = p2p_app();
    for tab in ["logs", "timeline", "commands"] {
        a.act(Action::NextTab);
        let text = render(&mut a, 120, 40);
        assert!(!text.is_empty());
        check(&format!("p2p_{tab}"), &mut a);
    }
    for (w, h) in [(1, 1), (20, 5), (40, 12), (300, 100)] {
        for _ in 0..4 {
            a.act(Action::NextTab);
            render(&mut a, w, h);
        }
    }
}

#[test]
fn keys_run_p2p_shell_commands_on_the_selected_node() {
    let k = |c: char| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
    let mut a = p2p_app();
    let run = |a: &mut App, c: char| match a.on_key(&k(c)) {
        Some(Effect::Run(cmd, src)) => (cmd, src),
        other => panic!("{c}: {other:?}"),
    };
    assert_eq!(run(&mut a, 'k'), ("p2p kill 5".into(), "key k".into()));
    assert_eq!(a.on_key(&k('7')), None);
    assert_eq!(run(&mut a, 'r'), ("p2p restart 7".into(), "key r".into()));
    assert_eq!(run(&mut a, 'n').0, "p2p partition 1");
    assert_eq!(run(&mut a, 'h').0, "p2p heal");
    // Leechers 4, 6 and 7 hold pieces 0-17; 18 is the first one some hold and others lack.
    assert_eq!(run(&mut a, 'x').0, "p2p corrupt 3 --piece 18");
    assert_eq!(a.on_key(&k(':')), None);
    assert!(a.bar.is_some());
}

#[test]
fn help_lists_every_key_of_the_dashboard() {
    let mut a = p2p_app();
    a.act(Action::Help);
    let text = render(&mut a, 120, 40);
    for c in a.commands() {
        assert!(
            text.contains(c.key_names().as_str()) && text.contains(c.desc),
            "help lacks {:?} {:?}:\n{text}",
            c.key_names(),
            c.desc
        );
    }
    for word in [
        "p2p kill N",
        "p2p restart N",
        "p2p partition 1",
        "p2p heal",
        "p2p corrupt 3",
    ] {
        assert!(text.contains(word), "help lacks {word}");
    }
    check("p2p_help", &mut a);
}

#[test]
fn the_explorer_launches_the_p2p_dashboard_from_its_project_page() {
    let mut a = new_app(
        Mode::Explorer,
        Portfolio::builtin().expect("portfolio"),
        Theme::dark(),
    );
    let i = a
        .portfolio
        .projects
        .iter()
        .position(|p| p.lab.as_deref() == Some("p2p"))
        .expect("the p2p project has a lab");
    a.show_tour_screen(Screen::Project(i));
    assert_eq!(
        a.act(Action::LaunchLab),
        Some(Effect::Run("p2p up".into(), "lab".into()))
    );
    assert_eq!(a.screen(), Screen::Dashboard("p2p"));
    a.act(Action::Back);
    // Through the key, as a user presses it (the page's hint promises `s`).
    assert_eq!(a.on_key(&views::key('s')), None);
    let popup = a.popup.clone().expect("the scenario scripts");
    assert!(popup.text.contains("scenario run p2p/tracker-failover"));
    assert!(!popup.text.contains("raft/"));
}
