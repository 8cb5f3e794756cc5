//! The TUI in a real terminal (tmux): launch `wirelab`, open the Raft lab from the explorer,
//! kill the leader with `k`, see the kill in the command log and a new leader with the time
//! the cluster had none, quit with `Q`, and check that no node process is left.

mod common;
#[path = "tui_support/tmux.rs"]
mod tmux;

use std::time::Duration;

use tmux::Tmux;

const T: Duration = Duration::from_secs(20);

fn leader_on(screen: &str) -> Option<u64> {
    let i = screen.find("leader ")?;
    let rest = &screen[i + 7..];
    let end = rest.find(|c: char| !c.is_ascii_digit())?;
    rest[..end].parse().ok()
}

#[test]
fn killing_the_leader_from_the_dashboard_shows_a_new_leader_and_leaves_no_node_behind() {
    if !common::require_tool("tmux") {
        return;
    }
    let t = Tmux::start(common::wirelab(), &[], 120, 36);
    t.wait_text("raft-kv [lab]", T)
        .unwrap_or_else(|e| panic!("{e}"));
    t.keys(&["Enter"]);
    t.wait_text("What the lab runs here", T)
        .unwrap_or_else(|e| panic!("{e}"));
    t.keys(&["l"]);
    let screen = t
        .wait_for("a leader", T, |s| {
            s.contains(" · term ") && leader_on(s).is_some()
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let leader = leader_on(&screen).expect("leader id");
    t.keys(&[&leader.to_string()]);
    t.keys(&["k"]);
    t.wait_text(&format!("$ raft kill {leader}"), T)
        .unwrap_or_else(|e| panic!("{e}"));
    t.wait_text(&format!("node {leader} killed (SIGKILL)"), T)
        .unwrap_or_else(|e| panic!("{e}"));
    // The full-width timeline tab: the new election and the time without a leader.
    t.keys(&["Tab", "Tab", "Tab"]);
    let screen = t
        .wait_for("a re-election", T, |s| {
            s.contains("ms without a leader") && leader_on(s).is_some_and(|l| l != leader)
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(screen.contains("no leader (node"), "{screen}");
    t.keys(&["Q"]);
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

fn parent_of(pid: u32) -> i32 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit(')').next().map(str::to_string))
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<i32>().ok())
        })
        .expect("parent pid")
}

/// Opens `wirelab lab raft`, sends `signal` to it (the parent of its nodes), and checks that it
/// ends and that every node goes with it.
fn signal_ends_the_lab_and_its_nodes(signal: i32) {
    let t = Tmux::start(common::wirelab(), &["lab", "raft"], 80, 24);
    t.wait_for("a leader", T, |s| leader_on(s).is_some())
        .unwrap_or_else(|e| panic!("{e}"));
    let nodes = t.node_processes();
    assert_eq!(nodes.len(), 3);
    let app = parent_of(nodes[0]);
    // SAFETY: signalling the wirelab process this test started (the parent of its nodes).
    unsafe { libc::kill(app, signal) };
    assert!(
        t.wait_exit(T),
        "wirelab outlived signal {signal}: {}",
        t.screen()
    );
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

#[test]
fn the_lab_opens_directly_and_sigterm_stops_every_node() {
    if common::require_tool("tmux") {
        signal_ends_the_lab_and_its_nodes(libc::SIGTERM);
    }
}

#[test]
fn nodes_never_outlive_the_app_even_after_sigkill() {
    if common::require_tool("tmux") {
        signal_ends_the_lab_and_its_nodes(libc::SIGKILL);
    }
}

#[test]
fn sighup_from_a_closed_terminal_stops_every_node() {
    if common::require_tool("tmux") {
        signal_ends_the_lab_and_its_nodes(libc::SIGHUP);
    }
}

#[test]
fn bang_opens_the_shell_and_exit_returns_to_the_running_cluster() {
    if !common::require_tool("tmux") {
        return;
    }
    let t = Tmux::start(common::wirelab(), &["lab", "raft"], 100, 30);
    t.wait_for("a leader", T, |s| leader_on(s).is_some())
        .unwrap_or_else(|e| panic!("{e}"));
    t.keys(&["!"]);
    t.wait_text("(raft:3/3) $", T)
        .unwrap_or_else(|e| panic!("{e}"));
    // The shell shares the dashboard's cluster; its output stays on screen.
    t.text("echo marker-$((6*7)); raft leader");
    t.keys(&["Enter"]);
    t.wait_text("marker-42", T)
        .unwrap_or_else(|e| panic!("{e}"));
    t.text("exit");
    t.keys(&["Enter"]);
    t.wait_text("Overview", T).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        t.node_processes().len(),
        3,
        "the cluster stopped: {}",
        t.screen()
    );
    // The command bar runs any shell command into the command log.
    t.keys(&[":"]);
    t.text("echo from-the-bar-$((1+1))");
    t.keys(&["Enter"]);
    t.wait_text("from-the-bar-2", T)
        .unwrap_or_else(|e| panic!("{e}"));
    t.keys(&["Q"]);
    assert!(t.wait_exit(T), "wirelab did not quit: {}", t.screen());
}

#[test]
fn the_dashboard_follows_a_terminal_resize() {
    if !common::require_tool("tmux") {
        return;
    }
    let t = Tmux::start(common::wirelab(), &["lab", "raft"], 80, 24);
    let small = t
        .wait_for("a leader", T, |s| leader_on(s).is_some())
        .unwrap_or_else(|e| panic!("{e}"));
    // At 80×24 the overview has no room for the log pane; at 140×44 it has.
    assert!(!small.contains("logs: all nodes"), "{small}");
    t.resize(140, 44);
    let big = t
        .wait_text("logs: all nodes", T)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(big.lines().any(|l| l.chars().count() >= 140), "{big}");
    t.keys(&["Q"]);
    assert!(t.wait_exit(T), "wirelab did not quit: {}", t.screen());
}

#[test]
fn closing_the_terminal_during_the_interactive_shell_ends_everything() {
    if !common::require_tool("tmux") {
        return;
    }
    let t = Tmux::start(common::wirelab(), &["lab", "raft"], 100, 30);
    t.wait_for("a leader", T, |s| leader_on(s).is_some())
        .unwrap_or_else(|e| panic!("{e}"));
    let app = parent_of(t.node_processes()[0]);
    t.keys(&["!"]);
    t.wait_text("(raft:3/3) $", T)
        .unwrap_or_else(|e| panic!("{e}"));
    t.hang_up();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let alive = |pid: i32| std::path::Path::new(&format!("/proc/{pid}")).exists();
    while (alive(app) || !t.node_processes().is_empty()) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let left = alive(app);
    if left {
        // SAFETY: the wirelab process this test started; do not leave it spinning.
        unsafe { libc::kill(app, libc::SIGKILL) };
    }
    assert!(!left, "wirelab outlived its terminal");
    assert_eq!(
        t.node_processes(),
        Vec::<u32>::new(),
        "nodes outlived wirelab"
    );
}

/// The processes running `sleep SECS` (the exact duration is the test's own marker).
fn sleeping(secs: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
        if args.len() >= 2 && args[0].ends_with(b"sleep") && args[1] == secs.as_bytes() {
            found.push(pid);
        }
    }
    found
}

#[test]
fn a_long_command_keeps_the_dashboard_live_refuses_other_actions_and_esc_or_q_end_it() {
    if !common::require_tool("tmux") {
        return;
    }
    let t = Tmux::start(common::wirelab(), &["lab", "raft"], 120, 36);
    t.wait_for("a leader", T, |s| leader_on(s).is_some())
        .unwrap_or_else(|e| panic!("{e}"));
    // A loop that would run for ever: Esc ends the whole loop, not one of its sleeps.
    t.keys(&[":"]);
    t.text("while true; do sleep 0.2; done");
    t.keys(&["Enter"]);
    t.wait_text("$ while true; do sleep 0.2; done", T)
        .unwrap_or_else(|e| panic!("{e}"));
    // A node-killing key meanwhile is refused, with the reason, not queued.
    t.keys(&["k"]);
    t.wait_text("busy: `while true; do sleep 0.2; done` still runs", T)
        .unwrap_or_else(|e| panic!("{e}"));
    t.keys(&["Escape"]);
    t.wait_text("✗130", T).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !t.screen().contains("$ raft kill"),
        "the refused key ran later: {}",
        t.screen()
    );
    assert_eq!(t.node_processes().len(), 3, "{}", t.screen());
    // Q during a long command quits at once and leaves no process of it behind.
    t.keys(&[":"]);
    t.text("sleep 41.5");
    t.keys(&["Enter"]);
    t.wait_for("the sleep", T, |_| !sleeping("41.5").is_empty())
        .unwrap_or_else(|e| panic!("{e}"));
    t.keys(&["Q"]);
    assert!(t.wait_exit(T), "wirelab did not quit: {}", t.screen());
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !sleeping("41.5").is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(sleeping("41.5").is_empty(), "the command outlived the app");
    assert!(t.node_processes().is_empty());
}

#[test]
fn l_on_the_shell_page_opens_the_interactive_shell_and_exit_comes_back() {
    if !common::require_tool("tmux") {
        return;
    }
    let t = Tmux::start(common::wirelab(), &[], 120, 36);
    t.wait_text("POSIX shell [shell]", T)
        .unwrap_or_else(|e| panic!("{e}"));
    // Down to the shell's row, whatever its position in the list.
    for _ in 0..12 {
        if t.screen().contains("▶ POSIX shell") {
            break;
        }
        t.keys(&["Down"]);
        std::thread::sleep(Duration::from_millis(100));
    }
    t.wait_text("runs here as `wirelab shell`", T)
        .unwrap_or_else(|e| panic!("{e}"));
    t.keys(&["Enter"]);
    t.wait_text("l shell", T).unwrap_or_else(|e| panic!("{e}"));
    t.keys(&["l"]);
    t.wait_text("`help` lists the builtins", T)
        .unwrap_or_else(|e| panic!("{e}"));
    t.text("echo shell-page-$((6*7))");
    t.keys(&["Enter"]);
    t.wait_text("shell-page-42", T)
        .unwrap_or_else(|e| panic!("{e}"));
    t.text("exit");
    t.keys(&["Enter"]);
    t.wait_text("wirelab › home › POSIX shell", T)
        .unwrap_or_else(|e| panic!("{e}"));
    t.keys(&["Q"]);
    assert!(t.wait_exit(T), "wirelab did not quit: {}", t.screen());
}
