//! The one-time secret dashboard rendered with ratatui's `TestBackend` from synthetic
//! supervisor events and command outputs (no processes) at 80×24 and 120×40, checked with insta
//! snapshots (redaction on: no pids or times); its keys, each a `secret …` shell command on the
//! link kept in `$url`; its help, listing every key.

#[path = "tui_support/views.rs"]
mod views;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::{Value, json};
use views::{SIZES, app, ev, log_ev, render};
use wirelab::cluster::{NodeEvent, NodeInfo, NodeStatus, SupEvent, SupEventKind};
use wirelab::secret::format::FormatError;
use wirelab::secret::verbs::{RaceOutcome, race_summary};
use wirelab::tui::Mode;
use wirelab::tui::app::{App, Effect, Screen};
use wirelab::tui::keys::Action;
use wirelab::tui::secret::SEND;
use wirelab::tui::secret::model::SecretModel;
use wirelab::tui::shell_worker::ShellDone;

const T: u64 = 1_795_000_000_000;
const LINK: &str =
    "http://127.0.0.1:41001/s/q2Vd8KqH0oXzZ0bYcPbZ9A#AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

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

fn courier() -> Value {
    json!({
        "created": 4, "claimed": 3, "opened": 3, "expired": 0, "claim_misses": 100,
        "meta_gets": 3, "page_gets": 4, "bad_requests": 0, "rate_limited": 0,
        "burned_undelivered": 0, "tampered": 1, "store": "embedded", "live": 1,
    })
}

fn scanner() -> Value {
    json!({
        "scans": 1,
        "last_requests": ["HEAD /s/q2Vd8K… → 200", "GET /s/q2Vd8K… → 200", "GET /app.js → 200",
            "GET /app.css → 200", "GET /api/secrets/q2Vd8K… → 200"],
        "last_title": "wirelab · one-time secret", "last_bytes": 12268,
        "last_saw_ciphertext": false, "last_error": null,
    })
}

fn info(id: u64, status: NodeStatus, state: &Value) -> NodeInfo {
    NodeInfo {
        id,
        role: if id == 1 {
            "secret-server"
        } else {
            "secret-scanner"
        }
        .into(),
        pid: Some(5000 + id as u32),
        status,
        addr: format!("127.0.0.1:{}", 41000 + id),
        http: None,
        data_dir: format!("/tmp/run/node-{id}").into(),
        uptime_ms: 9_000,
        rss_bytes: 9 << 20,
        cpu_percent: 1.0,
        incarnation: 1,
        faults: Default::default(),
        ready: true,
        state: state.as_object().cloned().unwrap_or_default(),
    }
}

/// A lab after: a send, a preview by the scanner, a race, a snoop, a tamper and its reader's
/// authentication failure, the courier killed and restarted.
fn secret_app() -> App {
    let mut app = app(Mode::Lab("secret"));
    let lab = &mut app.dash::<SecretModel>().expect("the secret dashboard");
    let m = &mut lab.model;
    for i in 1..=2 {
        m.on_event(&ev(
            i,
            T,
            SupEventKind::Spawned {
                pid: 5000 + i as u32,
            },
        ));
    }
    m.on_event(&log_ev(
        1,
        T + 1000,
        "info",
        "created q2Vd8K… (23 bytes of ciphertext, 1 view(s), ttl 3600s)",
    ));
    m.on_event(&log_ev(
        1,
        T + 3000,
        "info",
        "claimed q2Vd8K…: ciphertext handed over, deleted",
    ));
    m.on_event(&log_ev(
        1,
        T + 5000,
        "info",
        "attacker flipped a ciphertext bit of Zt3kP0… in the store",
    ));
    m.on_event(&ev(1, T + 7000, SupEventKind::Killed));
    m.on_event(&ev(1, T + 7500, SupEventKind::Spawned { pid: 5100 }));
    m.on_event(&state_ev(1, T + 7600, &courier()));
    m.on_event(&state_ev(2, T + 7600, &scanner()));
    m.refresh(vec![
        info(1, NodeStatus::Running, &courier()),
        info(2, NodeStatus::Running, &scanner()),
    ]);
    let race = race_summary(
        100,
        &RaceOutcome {
            winners: 1,
            not_found: 99,
            ..RaceOutcome::default()
        },
        0,
    );
    let snoop = json!({"store": "embedded (/tmp/run/node-1/secrets.log)", "live": 1, "secret": {
        "id": "Zt3kP0…", "server_view": "3q2+7wAAAAC8x1Yc4cWkz0Jt0uJ5y2aQp8lFvXn0Tg==",
        "client_view": "courier, not reader\n", "searched_bytes": 9827, "key_found": false,
        "token_found": false, "plaintext_found": false}});
    let tampered = format!("secret: open: {}\n", FormatError::Tampered);
    for (id, cmd, src, status, out) in [
        (
            1,
            "secret up",
            "lab",
            0,
            "secret lab up in /tmp/run\n".to_string(),
        ),
        (2, SEND, "key s", 0, format!("{LINK}\n")),
        (
            3,
            "secret scan \"$url\"",
            "key c",
            0,
            "the secret survived the preview: still 1 view(s) left for its reader\n".into(),
        ),
        (
            4,
            "secret race \"$url\" --claimers 100",
            "key x",
            0,
            format!("{race}\nexactly 1 winner(s), as allowed: the claim is atomic\n"),
        ),
        (
            5,
            "secret snoop \"$url\" --json",
            "key n",
            0,
            format!("{snoop}\n"),
        ),
        (
            6,
            "secret tamper \"$url\" && secret open \"$url\"",
            "key z",
            1,
            format!(
                "attacker: flipped a bit of ciphertext byte 0 of Zt3kP0… in the store; its reader will get an authentication failure, not altered text\n{tampered}"
            ),
        ),
    ] {
        lab.record(id, cmd, src);
        lab.finish(&ShellDone {
            id,
            status,
            output: out,
            elapsed: Duration::from_millis(4),
        });
    }
    app
}

#[test]
fn overview_shows_counters_scanner_races_views_and_timeline() {
    let mut a = secret_app();
    assert_eq!(a.screen(), Screen::Dashboard("secret"));
    let text = render(&mut a, 120, 40);
    for want in [
        "created 4 · claimed 3 · expired 0",
        "burned by race losers: 0 (must stay 0) ✓",
        "tampered in the store 1 · detected by readers 1",
        "fetched 5 URLs",
        "ciphertext no",
        "secret survived 1 preview(s)",
        "✓ 100 claimers → 1 won · 99×404 · burned 0",
        "the server holds:",
        "3q2+7wAAAAC8x1Yc4cWk",
        "its reader decrypts:",
        "\"courier, not reader\"",
        "nowhere (9827 B searched)",
        "last link q2Vd8K…",
    ] {
        assert!(text.contains(want), "overview lacks {want:?}:\n{text}");
    }
    check("secret_overview", &mut a);
    a.act(Action::NextTab);
    a.act(Action::NextTab);
    let timeline = render(&mut a, 120, 40);
    for want in [
        "created q2Vd8K…",
        "attacker flipped a ciphertext bit",
        "courier (node 1) killed (SIGKILL)",
        "its store read back from disk",
        "race: 100 claimers → 1 won, 99 got 404; burned by losers: 0",
        "reader: authentication failed",
        "scanner previewed the link: the secret survived",
        "snoop Zt3kP0…: the server holds ciphertext only",
    ] {
        assert!(
            timeline.contains(want),
            "timeline lacks {want:?}:\n{timeline}"
        );
    }
}

#[test]
fn every_tab_renders_and_tiny_terminals_do_not_panic() {
    let mut a = secret_app();
    for tab in ["logs", "timeline", "commands"] {
        a.act(Action::NextTab);
        check(&format!("secret_{tab}"), &mut a);
    }
    for (w, h) in [(1, 1), (20, 5), (40, 12), (300, 100)] {
        for _ in 0..4 {
            a.act(Action::NextTab);
            render(&mut a, w, h);
        }
    }
}

#[test]
fn keys_run_secret_shell_commands_on_the_last_link() {
    let k = |c: char| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
    let mut a = secret_app();
    let mut run = |c: char| match a.on_key(&k(c)) {
        Some(Effect::Run(cmd, src)) => (cmd, src),
        other => panic!("{c}: {other:?}"),
    };
    assert_eq!(run('s'), (SEND.into(), "key s".into()));
    assert_eq!(run('x').0, "secret race \"$url\" --claimers 100");
    assert_eq!(run('n').0, "secret snoop \"$url\" --json");
    assert_eq!(run('k').0, "secret kill 1");
}

#[test]
fn help_lists_every_key_of_the_dashboard() {
    let mut a = secret_app();
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
}
