//! The chat dashboard rendered with ratatui's `TestBackend` from synthetic supervisor events
//! (no processes) at 80×24 and 120×40, redaction on: client sessions in every state, the
//! rejects by reason, the proxy's attack and its effect, a leaked PSK with forward secrecy
//! held, a room's messages and the timeline; its keys, each a `chat …` shell command.

#[path = "tui_support/views.rs"]
mod views;

use serde_json::{Value, json};
use views::{SIZES, app, ev, key, render};
use wirelab::cluster::{NodeEvent, NodeInfo, NodeStatus, SupEvent, SupEventKind};
use wirelab::tui::Mode;
use wirelab::tui::app::{App, Effect, Screen};
use wirelab::tui::chat::model::ChatModel;
use wirelab::wire::FaultRules;

const T: u64 = 1_795_000_000_000;

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

fn info(id: u64, status: NodeStatus, state: &Value) -> NodeInfo {
    let role = match id {
        1 => "chat-server",
        2 => "chat-mitm",
        _ => "chat-client",
    };
    NodeInfo {
        id,
        role: role.into(),
        pid: Some(7000 + id as u32),
        status,
        addr: format!("127.0.0.1:{}", 42000 + id),
        http: None,
        data_dir: format!("/tmp/run/node-{id}").into(),
        uptime_ms: 9_000,
        rss_bytes: 9 << 20,
        cpu_percent: 3.0,
        incarnation: 1,
        faults: FaultRules::default(),
        ready: true,
        state: if status.is_alive() {
            state.as_object().cloned().unwrap_or_default()
        } else {
            Default::default()
        },
    }
}

fn server(aead: u64, bad_hs: u64, revoked: &[&str]) -> Value {
    let last: Vec<Value> = (36..=40)
        .map(|id| json!({"id": id, "from": format!("c{}", id % 4 + 1), "text": format!("c{} says hi #{id}", id % 4 + 1)}))
        .collect();
    json!({
        "role": "server", "msgs_total": 80, "msgs_per_s": 4, "handshakes": 14, "connections": 5,
        "rejects": {"aead": aead, "bad_handshake": bad_hs, "unknown_client": 0, "revoked": 1, "protocol": 0},
        "enrolled": ["c1", "c2", "c3", "c4", "c5"], "revoked": revoked,
        "rooms": {"lobby": {"last_id": 40, "members": ["c1", "c3", "c5"], "last": last},
                  "dev": {"last_id": 38, "members": ["c2"], "last": []}},
        "clients": {"c1": {"session": "established"}},
    })
}

fn proxy(mode: &str, leaked: Value) -> Value {
    json!({
        "role": "mitm", "mode": mode, "rate_pct": 5, "connections": 5, "frames": 900,
        "attacks": {"drop": 31, "reorder": 7, "duplicate": 6}, "captures": 12, "leaked": leaked,
    })
}

fn client(name: &str, room: &str, session: &str, reconnects: u64, aead: u64) -> Value {
    json!({
        "role": "client", "name": name, "room": room, "session": session, "last_id": 40,
        "sent": 10, "acked": 9, "received": 40, "msgs_per_s": 2, "p50_ms": 3.2, "p99_ms": 14.5,
        "reconnects": reconnects, "rekeys": 1, "rejects": {"aead": aead, "timeout": 1},
    })
}

/// A lab after: an attack (drop + reorder + duplicate) caught by the server and the clients,
/// sessions re-established, c1's PSK leaked (impersonation accepted, forward secrecy held),
/// c4 revoked and c5 killed.
fn chat_app() -> App {
    let mut app = app(Mode::Lab("chat"));
    let lab = app.dash::<ChatModel>().expect("the chat dashboard");
    let m = &mut lab.model;
    for i in 1..=7 {
        m.on_event(&ev(
            i,
            T,
            SupEventKind::Spawned {
                pid: 7000 + i as u32,
            },
        ));
    }
    let sessions = [
        ("c1", "lobby", "established"),
        ("c2", "dev", "rekeyed"),
        ("c3", "lobby", "handshaking"),
        ("c4", "dev", "broken"),
        ("c5", "lobby", "established"),
    ];
    m.on_event(&state_ev(1, T + 100, &server(0, 0, &[])));
    m.on_event(&state_ev(2, T + 100, &proxy("pass-through", json!({}))));
    for (k, (name, room, _)) in sessions.iter().enumerate() {
        m.on_event(&state_ev(
            k as u64 + 3,
            T + 100,
            &client(name, room, "established", 0, 0),
        ));
    }
    let mode = "drop 10% + reorder + duplicate";
    m.on_event(&state_ev(2, T + 1000, &proxy(mode, json!({}))));
    m.on_event(&state_ev(1, T + 2000, &server(3, 2, &[])));
    for (k, (name, room, s)) in sessions.iter().enumerate() {
        m.on_event(&state_ev(
            k as u64 + 3,
            T + 2500,
            &client(name, room, s, 2, 1),
        ));
    }
    m.on_event(&state_ev(1, T + 3000, &server(3, 2, &[])));
    let leaked = json!({"c1": {"impersonation": {"accepted": true, "forged_id": 41, "history_read": 40},
        "captures_tried": 4, "msg1_verified_with_psk": 4, "captures_decrypted": 0,
        "forward_secrecy_held": true}});
    m.on_event(&state_ev(
        2,
        T + 4000,
        &proxy("pass-through", leaked.clone()),
    ));
    m.on_event(&state_ev(1, T + 5000, &server(3, 2, &["c5"])));
    m.on_event(&ev(7, T + 6000, SupEventKind::Killed));
    let mut nodes = vec![
        info(1, NodeStatus::Running, &server(3, 2, &["c5"])),
        info(2, NodeStatus::Running, &proxy("pass-through", leaked)),
    ];
    for (k, (name, room, s)) in sessions.iter().enumerate() {
        let id = k as u64 + 3;
        let status = if id == 7 {
            NodeStatus::Killed
        } else {
            NodeStatus::Running
        };
        nodes.push(info(id, status, &client(name, room, s, 2, 1)));
    }
    m.refresh(nodes);
    app
}

#[test]
fn the_overview_shows_sessions_rejects_the_proxy_a_room_and_the_timeline_at_both_sizes() {
    let mut app = chat_app();
    for (w, h) in SIZES {
        let screen = render(&mut app, w, h);
        for want in [
            "established",
            "rekeyed",
            "handshaking",
            "AEAD",
            "mitm: pass-through",
            "c1 impersonated",
            "FS held: 0/4",
            "timeline",
            "chat",
        ] {
            assert!(screen.contains(want), "{w}x{h}: no {want:?} in\n{screen}");
        }
        if h >= 40 {
            for want in [
                "broken",
                "revoked",
                "killed",
                "bad handshake",
                "unknown client",
                "room lobby",
                "says hi",
                "c5 revoked",
                "c5 killed (SIGKILL)",
            ] {
                assert!(screen.contains(want), "{w}x{h}: no {want:?} in\n{screen}");
            }
        }
        // A short terminal scrolls the table to keep the selected row in view.
        if h < 40 {
            app.dash::<ChatModel>().expect("dashboard").selected = 7;
            let scrolled = render(&mut app, w, h);
            assert!(
                scrolled.contains("▶7") && scrolled.contains("killed"),
                "{scrolled}"
            );
            app.dash::<ChatModel>().expect("dashboard").selected = 3;
        }
        // Nothing redacted leaks through (no pids or times).
        assert!(!screen.contains("7003"), "{w}x{h}: a pid\n{screen}");
    }
}

#[test]
fn the_timeline_tab_tells_the_attack_the_reconnects_and_the_leak_in_order() {
    let mut app = chat_app();
    app.dash::<ChatModel>().expect("dashboard").tab = 3;
    let screen = render(&mut app, 120, 40);
    let order = [
        "mitm now: drop 10% + reorder + duplicate",
        "attack detected by the server: AEAD failure (3 so far)",
        "attack detected by c5: AEAD failure on a server frame",
        "sessions re-established: c1 c2 c3 c4 c5 (10 new handshakes)",
        "c1's PSK leaked: the attacker logged in as c1",
        "forward secrecy held: 0 of 4 recorded c1 sessions decrypted",
        "c5 revoked",
        "c5 killed (SIGKILL)",
    ];
    let mut at = 0;
    for want in order {
        let found = screen[at..].find(want);
        assert!(found.is_some(), "no {want:?} after byte {at} in\n{screen}");
        at += found.unwrap_or(0);
    }
}

#[test]
fn every_tab_renders_at_both_sizes_with_and_without_a_lab() {
    for mut app in [chat_app(), app(Mode::Lab("chat"))] {
        for tab in 0..5 {
            app.dash::<ChatModel>().expect("dashboard").tab = tab;
            for (w, h) in SIZES {
                let screen = render(&mut app, w, h);
                assert!(screen.contains("Overview"), "{tab} {w}x{h}\n{screen}");
            }
        }
    }
    let mut app = chat_app();
    app.dash::<ChatModel>().expect("dashboard").tab = 1;
    let rooms = render(&mut app, 120, 40);
    assert!(
        rooms.contains("room dev") && rooms.contains("room lobby") && rooms.contains("members"),
        "{rooms}"
    );
}

#[test]
fn an_attack_key_runs_its_chat_command_through_the_shell_once_the_lab_is_up() {
    let mut app = chat_app();
    assert_eq!(app.screen(), Screen::Dashboard("chat"));
    app.dash::<ChatModel>().expect("dashboard").selected = 5;
    for (k, want) in [
        ('d', "chat mitm drop 10%"),
        ('e', "chat leak-psk c3"),
        ('k', "chat kill 5"),
    ] {
        match app.on_key(&key(k)) {
            Some(Effect::Run(cmd, source)) => {
                assert_eq!(cmd, want);
                assert_eq!(source, format!("key {k}"));
            }
            other => panic!("key {k}: {other:?} ({:?})", app.flash),
        }
    }
}
