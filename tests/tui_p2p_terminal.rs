//! The P2P dashboard in a real terminal (tmux): `wirelab lab p2p` starts the lab, the piece
//! maps fill, `k` on tracker 1 kills it (shown in the command log), the clients' failover
//! reaches the timeline, `q` quits and no node process is left.

mod common;
#[path = "tui_support/tmux.rs"]
mod tmux;

use std::time::Duration;

use tmux::Tmux;

const T: Duration = Duration::from_secs(60);

#[test]
fn killing_a_tracker_from_the_p2p_dashboard_shows_the_failover_and_leaves_no_node_behind() {
    if !common::require_tool("tmux") {
        return;
    }
    let t = Tmux::start(common::wirelab(), &["lab", "p2p"], 120, 40);
    t.wait_text("4/4 leechers done", T)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(t.screen().contains("piece maps"), "{}", t.screen());
    t.keys(&["1", "k"]);
    t.wait_text("$ p2p kill 1", T)
        .unwrap_or_else(|e| panic!("{e}"));
    t.wait_text("node 1 killed (SIGKILL)", T)
        .unwrap_or_else(|e| panic!("{e}"));
    // The full-width timeline tab: the kill, then each client moving to tracker 2.
    t.keys(&["Tab", "Tab"]);
    t.wait_for("the failover in the timeline", T, |s| {
        s.contains("tracker 1 killed (SIGKILL)")
            && s.contains("failed over from tracker 1 to tracker 2")
    })
    .unwrap_or_else(|e| panic!("{e}"));
    t.keys(&["q"]);
    assert!(t.wait_exit(T), "wirelab did not quit: {}", t.screen());
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !t.node_processes().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        t.node_processes(),
        Vec::<u32>::new(),
        "nodes outlived wirelab"
    );
}
