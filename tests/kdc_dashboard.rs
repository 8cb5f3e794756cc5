//! The KDC dashboard over a real lab: the lab hosted in this process (as the shell's `kdc up`
//! hosts it), driven by the CLI (compromise, access, forge), its real events folded into the
//! dashboard's model until the authorities' rounds show the rejected share and the verified
//! aggregate; then drawn at 80×24 and 120×40 with ratatui's `TestBackend`, and stopped with no
//! process left behind.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::cluster::{alive, exe};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use wirelab::lab::{LabHost, up_matches};
use wirelab::tui::dash::LabDashboard as _;
use wirelab::tui::kdc::KdcLabView;
use wirelab::tui::kdc::model::state_word;
use wirelab::tui::theme::Theme;

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

fn draw(view: &mut KdcLabView, w: u16, h: u16) -> String {
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
fn rounds_a_rejected_share_the_attacker_and_the_threshold_show_from_real_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = dir.path().join("run");
    let host = LabHost::new();
    let kdc = wirelab::registry::lab("kdc").expect("kdc is registered");
    let up = up_matches(kdc, &[]).expect("up arguments");
    let sup = host
        .start(kdc, &up, Some(run.clone()), Some(exe()))
        .expect("the lab starts");
    let pids: Vec<u32> = sup.nodes().iter().filter_map(|n| n.pid).collect();
    assert_eq!(pids.len(), 4, "three authorities and the service");
    let mut view = KdcLabView::new();
    view.attach(sup.clone());

    let (code, out) = cli(&run, &["kdc", "compromise", "1"]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = cli(&run, &["kdc", "access", "alice", "files"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("authority 1's share rejected"), "{out}");
    let (code, out) = cli(&run, &["kdc", "forge", "alice", "files"]);
    assert_eq!(code, 1, "one share forges nothing: {out}");

    let deadline = Instant::now() + Duration::from_secs(20);
    let shown = |v: &KdcLabView| {
        let m = &v.model;
        let verified = m
            .rounds
            .iter()
            .any(|r| r.verified && r.rejected == vec![1] && r.committed == vec![2, 3]);
        let garbage = m.rounds.iter().any(|r| {
            r.parts
                .iter()
                .any(|p| p.id == 1 && p.result == "garbage share sent")
        });
        let compromised = m
            .nodes
            .iter()
            .any(|n| n.id == 1 && state_word(n) == "compromised");
        verified
            && garbage
            && compromised
            && m.attacker.holdings.len() == 1
            && m.attacker.last_attempt.as_ref().is_some_and(|a| !a.1)
    };
    while !shown(&view) {
        assert!(
            Instant::now() < deadline,
            "the dashboard never showed it: {:?} {:?}",
            view.model.rounds,
            view.model.timeline
        );
        view.drain_events();
        view.refresh(wirelab::tui::clock::now_ms());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        view.model
            .timeline
            .iter()
            .any(|e| e.text.starts_with("authority 1 compromised")),
        "{:?}",
        view.model.timeline
    );

    for (w, h) in [(80, 24), (120, 40)] {
        let text = draw(&mut view, w, h);
        if std::env::var_os("KDC_SHOW").is_some() {
            eprintln!("{text}");
        }
        for want in ["authority 1", "compromised", "signing rounds", "attacker"] {
            assert!(text.contains(want), "{w}x{h} lacks {want:?}:\n{text}");
        }
        assert!(
            text.contains("impossible"),
            "{w}x{h} lacks the verdict:\n{text}"
        );
        if h >= 40 {
            assert!(text.contains("aggregate ✓ verified"), "{text}");
            assert!(text.contains("1✗bad share"), "{text}");
            assert!(text.contains("last forge"), "{text}");
        }
    }

    assert!(host.stop("kdc"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while pids.iter().any(|p| alive(*p)) {
        assert!(Instant::now() < deadline, "a node outlived the lab");
        std::thread::sleep(Duration::from_millis(20));
    }
}
