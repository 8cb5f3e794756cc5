//! The terminal UI: the portfolio explorer (`wirelab`), the lab dashboards (`wirelab lab raft`,
//! `wirelab lab forge`, `wirelab lab p2p`) and the guided tour (`wirelab tour`), on ratatui +
//! crossterm's event stream + tokio.
//!
//! # Layout
//! - [`app`]: the app state, screens, what actions do, and the frame layout.
//! - [`keys`]: commands (keys, label, description, action): key dispatch, the hint bar and the
//!   `?` help overlay all come from one list per view.
//! - [`explorer`]: Home and project pages; [`tour`]: the tour, generic around each lab's
//!   steps.
//! - [`dash`]: the dashboard frame every lab's dashboard is built on (it names no lab), and
//!   [`boards`]: the dashboards by lab. [`raft`]: the Raft dashboard; [`forge`]: the forge lab
//!   dashboard (server + load generator: req/s, p50/p99, connections, status codes, attacks,
//!   reloads); [`p2p`]: the P2P dashboard (piece maps, trackers, failovers).
//! - [`shell_worker`]: the shell every action runs through; [`verify`]: claims re-measured in
//!   the background.
//! - [`terminal`]: raw mode, alternate screen, mouse, restored on every way out;
//!   [`theme`]: dark, light, NO_COLOR; [`clock`]: time formatting and redaction.

pub mod app;
pub mod boards;
pub mod chat;
pub mod clock;
pub mod dash;
pub mod explorer;
pub mod forge;
pub mod kdc;
pub mod keys;
pub mod p2p;
pub mod raft;
pub mod secret;
pub mod shell_worker;
pub mod terminal;
pub mod theme;
pub mod tour;
pub mod uav;
pub mod verify;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crossterm::event::{Event, EventStream, KeyEventKind};
use futures::StreamExt;
use ratatui::layout::Rect;
use tokio::signal::unix::{SignalKind, signal};

pub use clock::redact;

use crate::lab::LabHost;
use crate::portfolio::Portfolio;
use app::{App, Effect, Screen};
use shell_worker::ShellWorker;
use theme::Theme;

/// Something the mouse can click.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Click {
    /// A dashboard tab.
    Tab(usize),
    /// A Home tab.
    HomeTab(usize),
    /// A node row.
    Node(u64),
    /// A project in Home's list (position in display order).
    Project(usize),
}

/// Click targets of a frame.
pub type Hits = Vec<(Rect, Click)>;

/// What to open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The explorer's Home.
    Explorer,
    /// A lab's dashboard directly, by lab name.
    Lab(&'static str),
    /// The tour (`auto`: advances by itself and quits at the end).
    Tour {
        /// Advance by itself.
        auto: bool,
    },
}

/// `wirelab`: the explorer.
pub fn run_explorer() -> i32 {
    run(Mode::Explorer)
}

/// `wirelab lab LAB` (any case: `wirelab lab RAFT`).
pub fn run_lab(lab: &str) -> i32 {
    let Some(found) = crate::registry::lab(lab) else {
        eprintln!(
            "wirelab lab: no lab {lab:?} (there are: {})",
            crate::registry::names()
        );
        return 2;
    };
    let name = found.name();
    if !boards::has_dashboard(name) {
        eprintln!("wirelab lab: the {name} lab has no dashboard; run it with `wirelab {name} up`");
        return 2;
    }
    run(Mode::Lab(name))
}

/// `wirelab tour [--auto]`.
pub fn run_tour(auto: bool) -> i32 {
    run(Mode::Tour { auto })
}

/// Builds the app for a mode (also used by the snapshot tests).
pub fn new_app(mode: Mode, portfolio: Portfolio, theme: Theme) -> App {
    let mut app = App::new(portfolio, theme, Screen::Home);
    match mode {
        Mode::Explorer => {}
        Mode::Lab(lab) => {
            if let Some(screen) = app.dashboard_screen(lab) {
                app.screens = vec![screen];
            }
            if let Some(effect) = app.open_dashboard(lab) {
                app.queued.push(effect);
            }
        }
        Mode::Tour { auto } => app.tour = Some(tour::Tour::new(&app.portfolio, auto)),
    }
    app
}

/// Runs the UI in `mode`; returns the exit status. Every node it started is stopped on the way
/// out, and the terminal restored.
pub fn run(mode: Mode) -> i32 {
    if !terminal::is_terminal() {
        eprintln!("wirelab: the explorer needs a terminal (see `wirelab --help` for the commands)");
        return 1;
    }
    let portfolio = match Portfolio::builtin() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("wirelab: the embedded portfolio does not parse: {e}");
            return 2;
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wirelab: {e}");
            return 2;
        }
    };
    terminal::install_panic_hook();
    // The tour cleans up after itself: the runs it made (its labs, its scenario scripts') are
    // removed when it ends. Exploring on one's own keeps them (`wirelab runs` lists them).
    let runs_before: Option<std::collections::BTreeSet<std::path::PathBuf>> =
        matches!(mode, Mode::Tour { .. }).then(|| {
            crate::cluster::runs::list()
                .into_iter()
                .map(|r| r.dir)
                .collect()
        });
    let code = match rt.block_on(event_loop(mode, portfolio)) {
        Ok(()) => 0,
        Err(e) => {
            terminal::leave();
            eprintln!("wirelab: {e}");
            1
        }
    };
    terminal::leave();
    terminal::unpark_stdin();
    // Each hosted lab's `on_stop` ends its background work (a workload) before its nodes go.
    LabHost::global().stop_all();
    drop(rt);
    if let Some(before) = runs_before {
        remove_runs_made_since(&before);
    }
    code
}

/// Removes the stopped runs that are not in `before` (what the tour made), and says so.
fn remove_runs_made_since(before: &std::collections::BTreeSet<std::path::PathBuf>) {
    let made: Vec<_> = crate::cluster::runs::list()
        .into_iter()
        .filter(|r| !before.contains(&r.dir) && !r.live)
        .collect();
    if made.is_empty() {
        return;
    }
    let bytes: u64 = made.iter().map(|r| r.bytes).sum();
    let removed = made
        .iter()
        .filter(|r| crate::cluster::runs::remove(r).is_ok())
        .count();
    println!(
        "wirelab tour: removed the {removed} run(s) it made ({:.1} MB); `wirelab runs` lists what is left",
        bytes as f64 / 1e6
    );
}

async fn event_loop(mode: Mode, portfolio: Portfolio) -> anyhow::Result<()> {
    terminal::park_stdin();
    let mut term = terminal::enter()?;
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut shell = ShellWorker::start(LabHost::global().clone(), done_tx)?;
    let (vtx, mut vrx) = tokio::sync::mpsc::unbounded_channel();
    let mut app = new_app(mode, portfolio, Theme::from_env());
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut verify_started: BTreeMap<String, Instant> = BTreeMap::new();
    let mut dirty = true;
    let mut effect: Option<Effect> = None;
    loop {
        let mut pending: Vec<Effect> = effect.take().into_iter().collect();
        pending.append(&mut app.queued);
        // What ran before this batch: one user action's commands (a lab start, then a tour
        // step) run in order, but a second action while a command runs is refused, not queued
        // unseen behind it (a `k` pressed during `sleep 20` must not kill a node 20 s later).
        // Tour steps queue: their caption says whether their command runs or is done.
        let busy = (!pending.is_empty())
            .then(|| app.running_command().map(|c| c.cmd.clone()))
            .flatten();
        for e in pending {
            match e {
                Effect::Quit => {
                    shell.cancel();
                    return Ok(());
                }
                Effect::Cancel => {
                    if let Some(cmd) = app.running_command().map(|c| c.cmd.clone()) {
                        shell.cancel();
                        app.flash = Some(format!("interrupting `{cmd}`"));
                    }
                }
                Effect::Run(cmd, source) if busy.is_some() && source != "tour" => {
                    app.flash = Some(format!(
                        "busy: `{}` still runs (Esc cancels it); `{cmd}` was not run",
                        busy.as_deref().unwrap_or_default()
                    ));
                }
                Effect::Run(cmd, source) => {
                    let id = shell.run(&cmd);
                    app.record_command(id, &cmd, &source);
                    if source == "tour"
                        && let Some(t) = app.tour.as_mut()
                    {
                        t.pending = Some(id);
                    }
                }
                Effect::Verify(i) => {
                    for key in verify::start(&app.portfolio, i, vtx.clone()) {
                        app.verifying.entry(key).or_default();
                    }
                }
                Effect::Interactive => {
                    drop(events);
                    terminal::unpark_stdin();
                    terminal::drain_cursor_answers().await;
                    terminal::leave();
                    println!(
                        "wirelab shell: `exit` (or Ctrl-D) goes back to the explorer; labs started here or there keep running."
                    );
                    let _ = shell.interactive();
                    terminal::park_stdin();
                    term = terminal::enter()?;
                    events = EventStream::new();
                }
            }
            dirty = true;
        }
        if dirty {
            term.draw(|f| app.draw(f))?;
            dirty = false;
        }
        tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(Event::Key(k))) if k.kind != KeyEventKind::Release => {
                    effect = app.on_key(&k);
                    dirty = true;
                }
                Some(Ok(Event::Mouse(m))) => {
                    effect = app.on_mouse(&m);
                    dirty = true;
                }
                Some(Ok(Event::Resize(..))) => dirty = true,
                Some(Ok(_)) => {}
                Some(Err(e)) => anyhow::bail!("reading the terminal: {e}"),
                None => return Ok(()),
            },
            _ = tick.tick() => {
                let now = clock::now_ms();
                let shown = app.screen();
                for d in &mut app.dashboards {
                    dirty |= d.tick(shown == Screen::Dashboard(d.lab()), now);
                }
                if let Some(c) = app.running_command()
                    && let Some(out) = shell.partial_output()
                    && out != c.output
                {
                    c.output = out;
                    dirty = true;
                }
                for (k, t) in &verify_started {
                    if let Some(v) = app.verifying.get_mut(k) {
                        v.secs = t.elapsed().as_secs();
                        dirty = true;
                    }
                }
                if app.tour.as_ref().is_some_and(|t| t.due()) {
                    if app.tour.as_ref().is_some_and(|t| t.at_end()) {
                        return Ok(());
                    }
                    effect = app.tour_step(true);
                    dirty = true;
                }
            }
            Some(done) = done_rx.recv() => {
                app.finish_command(&done);
                if let Some(t) = app.tour.as_mut() {
                    t.finished(done.id, done.status);
                }
                for d in &mut app.dashboards {
                    d.tick(false, clock::now_ms());
                }
                dirty = true;
            }
            Some(msg) = vrx.recv() => {
                verify::apply(&mut app, msg, &mut verify_started);
                dirty = true;
            }
            _ = sigterm.recv() => return Ok(()),
            _ = sighup.recv() => return Ok(()),
            _ = sigint.recv() => return Ok(()),
        }
    }
}
