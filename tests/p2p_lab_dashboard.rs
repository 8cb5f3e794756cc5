//! The P2P dashboard over a real lab: the lab hosted in this process (as the shell's `p2p up`
//! hosts it), its real events folded into the dashboard's model until every leecher's piece
//! map is full, then stopped with no process left behind.

mod common;

use std::time::{Duration, Instant};

use common::cluster::{alive, exe};
use wirelab::cluster::NodeStatus;
use wirelab::lab::{LabHost, up_matches};
use wirelab::tui::p2p::P2pLabView;
use wirelab::tui::p2p::model::EventKind;

#[test]
fn every_leechers_piece_map_fills_from_real_events_and_no_process_outlives_the_lab() {
    let dir = tempfile::tempdir().expect("tempdir");
    let host = LabHost::new();
    let p2p = wirelab::registry::lab("p2p").expect("p2p is registered");
    let up = up_matches(p2p, &["--size", "6MiB"]).expect("up arguments");
    let sup = host
        .start(p2p, &up, Some(dir.path().join("run")), Some(exe()))
        .expect("the lab starts");
    assert_eq!(host.running().len(), 1);
    // Peers run the small dedicated executable built beside `wirelab`; trackers the main one.
    for n in sup.nodes() {
        let pid = n.pid.expect("a pid");
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).expect("exe link");
        let name = exe.file_name().and_then(|f| f.to_str()).unwrap_or("");
        let expected = if n.role == "p2p-peer" {
            "wirelab-p2p-peer"
        } else {
            "wirelab"
        };
        assert_eq!(name, expected, "node {} ({})", n.id, n.role);
    }
    let pids: Vec<u32> = sup.nodes().iter().filter_map(|n| n.pid).collect();
    assert_eq!(pids.len(), 7, "2 trackers, 1 seeder, 4 leechers");

    let mut view = P2pLabView::new();
    view.attach(sup.clone());
    // The lab was up before the dashboard attached: what each node logged so far is read
    // back from its log file.
    for id in 1..=7 {
        assert!(
            view.model
                .logs
                .iter()
                .any(|l| l.node == id && l.msg.starts_with("ready on")),
            "node {id}: {:?}",
            view.model.logs
        );
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let deadline = Instant::now() + Duration::from_secs(60);
    let full = |view: &P2pLabView| {
        let leechers: Vec<_> = view
            .model
            .peers
            .values()
            .filter(|p| p.role == "leecher")
            .collect();
        leechers.len() == 4
            && leechers
                .iter()
                .all(|p| p.pieces == 12 && p.bits.len() == 12 && p.bits.iter().all(|b| *b))
    };
    while !full(&view) {
        assert!(
            Instant::now() < deadline,
            "piece maps never filled: {:?}",
            view.model.peers
        );
        // Wait for the next event rather than a fixed time.
        let next = rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(2), view.next_event()).await
        });
        if let Ok(Some(ev)) = next {
            view.model.on_event(&ev);
        }
        view.drain_events();
        view.refresh(wirelab::tui::clock::now_ms());
    }
    // A line read back and also still in flight as an event shows once.
    for id in 1..=7 {
        let ready = view
            .model
            .logs
            .iter()
            .filter(|l| l.node == id && l.msg.starts_with("ready on"))
            .count();
        assert_eq!(ready, 1, "node {id}: {:?}", view.model.logs);
    }
    // What the dashboard shows came from the processes: live RSS, both trackers, a timeline.
    assert!(
        view.model
            .nodes
            .iter()
            .all(|n| n.status == NodeStatus::Running && n.rss_bytes > 0),
        "{:?}",
        view.model.nodes
    );
    assert_eq!(view.model.trackers.len(), 2);
    let completes = view
        .model
        .timeline
        .iter()
        .filter(|e| e.kind == EventKind::Good && e.text.starts_with("leecher "))
        .filter(|e| e.text.contains(" complete: 12 pieces verified"))
        .count();
    assert_eq!(completes, 4, "{:?}", view.model.timeline);
    assert!(
        view.model
            .timeline
            .iter()
            .any(|e| e.text.starts_with("every running leecher complete (4) ")),
        "{:?}",
        view.model.timeline
    );
    assert!(
        view.model.peers.values().all(|p| p.tracker.is_some()),
        "every peer names its tracker"
    );

    assert!(host.stop("p2p"));
    view.refresh(wirelab::tui::clock::now_ms());
    let deadline = Instant::now() + Duration::from_secs(10);
    while pids.iter().any(|p| alive(*p)) {
        assert!(Instant::now() < deadline, "a node outlived the lab");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(host.running().is_empty());
}
