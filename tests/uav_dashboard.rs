//! The drone-fleet dashboard over a real lab: the lab hosted in this process (as the shell's
//! `uav up` hosts it), driven by the CLI (a mission, a drone's battery drained to 15%, a replayed
//! record), its real events and state reports folded into the dashboard's model until the
//! failsafe and the refusal show; then drawn at 80×24 and 120×40 with ratatui's `TestBackend`,
//! and stopped with no process left behind.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::cluster::{alive, exe};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use wirelab::lab::{LabHost, up_matches};
use wirelab::tui::dash::LabDashboard as _;
use wirelab::tui::theme::Theme;
use wirelab::tui::uav::UavLabView;

fn cli(run: &Path, args: &[&str]) -> (i32, String) {
    let o = Command::new(exe())
        .args(args)
        .arg("--run-dir")
        .arg(run)
        .output()
        .expect("run wirelab");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.code().unwrap_or(-1), text)
}

fn draw(view: &mut UavLabView, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    let theme = Theme::dark();
    term.draw(|f| {
        let mut hits = Vec::new();
        view.draw(f, f.area(), &theme, true, &mut hits);
    })
    .expect("draw");
    term.backend().to_string()
}

#[test]
fn a_low_battery_failsafe_and_a_refused_replay_show_from_real_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = dir.path().join("run");
    let host = LabHost::new();
    let uav = wirelab::registry::lab("uav").expect("uav is registered");
    let up = up_matches(uav, &["--drones", "3"]).expect("up arguments");
    let sup = host
        .start(uav, &up, Some(run.clone()), Some(exe()))
        .expect("the lab starts");
    let pids: Vec<u32> = sup.nodes().iter().filter_map(|n| n.pid).collect();
    assert_eq!(pids.len(), 4, "mission control and three drones");
    let mut view = UavLabView::new();
    view.attach(sup.clone());

    for args in [
        &["uav", "wait", "linked", "--timeout", "60s"][..],
        &["uav", "mission", "orbit"],
        &["uav", "wait", "mode", "mission"],
        &["uav", "battery", "3", "15"],
        &["uav", "attack", "replay"],
    ] {
        let (code, out) = cli(&run, args);
        assert_eq!(code, 0, "{args:?}: {out}");
    }

    let deadline = Instant::now() + Duration::from_secs(20);
    let shown = |v: &mut UavLabView| {
        let rtl = v
            .model
            .drones
            .get(&3)
            // Back at launch already, when it was near home.
            .is_some_and(|d| matches!(d.mode.as_str(), "rtl" | "landed") && d.batt <= 15.0);
        let failsafe = v.model.timeline.iter().any(|e| {
            e.text
                .contains("failsafe: battery 15%: returning to launch")
        });
        // The refused replay is counted where the drone's row and the timeline show it.
        rtl && failsafe && draw(v, 120, 40).contains("replay")
    };
    while !shown(&mut view) && Instant::now() < deadline {
        view.drain_events();
        view.refresh(wirelab::tui::clock::now_ms());
        std::thread::sleep(Duration::from_millis(100));
    }
    let ok = shown(&mut view);
    let screen = draw(&mut view, 120, 40);
    assert!(
        ok,
        "drones {:?}\ntimeline {:?}\n{screen}",
        view.model.drones, view.model.timeline
    );
    for (w, h) in [(80, 24), (120, 40)] {
        let screen = draw(&mut view, w, h);
        assert!(screen.contains("15%"), "{w}x{h}:\n{screen}");
        assert!(screen.contains("replayed"), "{w}x{h}:\n{screen}");
    }

    host.stop("uav");
    let deadline = Instant::now() + Duration::from_secs(10);
    while pids.iter().any(|p| alive(*p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!pids.iter().any(|p| alive(*p)), "a node outlived the lab");
}
