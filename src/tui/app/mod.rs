//! The app's state and what actions do to it. State changes only here; `draw` is a view of it;
//! the loop in `tui/mod.rs` performs the [`Effect`]s (shell commands, verification, the shell).
//!
//! - `mod.rs`: the state, the screens, the dashboards, and what actions do.
//! - `input.rs`: keys (the command bar, the log search, popups) and the mouse.
//! - `draw.rs`: the frame: the screen, the tour caption, the bar, the hints, help and popups.

use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyEvent, MouseButton, MouseEvent, MouseEventKind};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

mod draw;
mod input;

use super::dash::logs::LogPane;
use super::dash::{self, DashView, Dashboard, LabDashboard};
use super::explorer::{self, HOME_TABS, VerifyProgress};
use super::keys::{self, Action, Cmd};
use super::shell_worker::ShellDone;
use super::theme::Theme;
use super::tour::Tour;
use super::{Click, Hits};
use crate::portfolio::Portfolio;
use crate::portfolio::measured::Measurement;

/// A screen of the stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    /// The profile and the project list.
    Home,
    /// A project page (index into `portfolio.projects`).
    Project(usize),
    /// A lab's dashboard, by lab name.
    Dashboard(&'static str),
}

/// Something the loop must do after an action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Run a shell command through the dashboard's shell (command, where it came from).
    Run(String, String),
    /// Verify the claims of project `index`.
    Verify(usize),
    /// Leave the full screen for the interactive shell.
    Interactive,
    /// Interrupt the running command (Esc while one runs).
    Cancel,
    /// Quit (interrupting the running command).
    Quit,
}

/// A popup over the current screen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Popup {
    /// Title.
    pub title: String,
    /// Text.
    pub text: String,
    /// Lines scrolled.
    pub scroll: u16,
    /// Scenario scripts it shows, with the line each starts on: Enter runs the one at the top.
    pub runs: Vec<(u16, String)>,
}

impl Popup {
    /// The scenario at the top of the view (the last one starting at or above it).
    pub fn selected_run(&self) -> Option<&str> {
        self.runs
            .iter()
            .rev()
            .find(|(line, _)| *line <= self.scroll)
            .or(self.runs.first())
            .map(|(_, n)| n.as_str())
    }
}

/// The whole app.
pub struct App {
    /// Colours.
    pub theme: Theme,
    /// Content.
    pub portfolio: Portfolio,
    /// Screen stack; the last is shown.
    pub screens: Vec<Screen>,
    /// Home's tab.
    pub home_tab: usize,
    /// Home's selected project (position in display order).
    pub home_sel: usize,
    /// Project page scroll.
    pub scroll: u16,
    /// The help overlay is open.
    pub help: bool,
    /// A popup (scenario scripts).
    pub popup: Option<Popup>,
    /// The dashboards, one per registered lab that has one.
    pub dashboards: Vec<Box<dyn LabDashboard>>,
    /// The command bar's text while open.
    pub bar: Option<String>,
    /// Commands run from the bar, oldest first.
    pub bar_history: Vec<String>,
    /// The history entry shown in the bar.
    pub bar_recall: Option<usize>,
    /// A one-line message.
    pub flash: Option<String>,
    /// Stored measurements.
    pub measured: BTreeMap<String, Measurement>,
    /// Verifications running.
    pub verifying: BTreeMap<String, VerifyProgress>,
    /// The tour, when running.
    pub tour: Option<Tour>,
    /// Redact pids, times and sizes (snapshot tests).
    pub hide: bool,
    /// Click targets of the last frame.
    pub hits: Hits,
    /// Effects queued by an action, after the one it returned.
    pub queued: Vec<Effect>,
    /// The log pane keys act on when no dashboard exists.
    spare_pane: LogPane,
}

impl App {
    /// A new app on `screen`.
    pub fn new(portfolio: Portfolio, theme: Theme, screen: Screen) -> Self {
        Self {
            theme,
            portfolio,
            screens: vec![screen],
            home_tab: 0,
            home_sel: 0,
            scroll: 0,
            help: false,
            popup: None,
            dashboards: crate::tui::boards::dashboards(),
            bar: None,
            bar_history: Vec::new(),
            bar_recall: None,
            flash: None,
            measured: crate::portfolio::measured::load(),
            verifying: BTreeMap::new(),
            tour: None,
            hide: false,
            hits: Vec::new(),
            queued: Vec::new(),
            spare_pane: LogPane::default(),
        }
    }

    /// The shown screen.
    pub fn screen(&self) -> Screen {
        self.screens.last().copied().unwrap_or(Screen::Home)
    }

    /// The commands of the shown screen (then the global ones).
    pub fn commands(&self) -> Vec<Cmd> {
        let mut c = match self.screen() {
            Screen::Home => explorer::home_commands(),
            Screen::Project(i) => self
                .portfolio
                .projects
                .get(i)
                .map(explorer::project_commands)
                .unwrap_or_default(),
            Screen::Dashboard(lab) => self.board(lab).map(|d| d.commands()).unwrap_or_default(),
        };
        if let Some(t) = &self.tour {
            c.splice(0..0, t.commands());
        }
        c.extend(keys::global_commands());
        c
    }

    fn selected_project(&self) -> Option<usize> {
        self.portfolio.display_order().get(self.home_sel).copied()
    }

    fn push(&mut self, s: Screen) {
        if self.screen() != s {
            self.screens.push(s);
        }
        self.scroll = 0;
    }

    /// The dashboard of `lab`.
    pub fn board(&self, lab: &str) -> Option<&dyn LabDashboard> {
        self.dashboards
            .iter()
            .find(|d| d.lab() == lab)
            .map(|d| d.as_ref())
    }

    /// The dashboard of `lab`, to change.
    pub fn board_mut(&mut self, lab: &str) -> Option<&mut (dyn LabDashboard + 'static)> {
        self.dashboards
            .iter_mut()
            .find(|d| d.lab() == lab)
            .map(|d| d.as_mut())
    }

    /// The dashboard of model `M`, as its concrete type (for code that knows it: tests).
    pub fn dash<M: DashView>(&mut self) -> Option<&mut Dashboard<M>> {
        self.board_mut(M::LAB)?
            .as_any()
            .downcast_mut::<Dashboard<M>>()
    }

    /// The screen of `lab`'s dashboard, when it has one.
    pub fn dashboard_screen(&self, lab: &str) -> Option<Screen> {
        self.board(lab).map(|d| Screen::Dashboard(d.lab()))
    }

    /// The dashboard shown now, if the screen is one.
    fn shown_board(&mut self) -> Option<&mut (dyn LabDashboard + 'static)> {
        match self.screen() {
            Screen::Dashboard(lab) => self.board_mut(lab),
            _ => None,
        }
    }

    /// Shows `lab`'s dashboard; the effect is `LAB up` when its lab neither runs nor is
    /// starting. `None` also when the lab has no dashboard (a flash says so).
    pub fn open_dashboard(&mut self, lab: &str) -> Option<Effect> {
        let Some(d) = self.board(lab) else {
            self.flash = Some(format!(
                "the {lab} lab has no dashboard: `:` then `{lab} up`"
            ));
            return None;
        };
        let (name, running, starting) = (d.lab(), d.attached(), d.starting());
        self.push(Screen::Dashboard(name));
        (!running && !starting).then(|| Effect::Run(format!("{name} up"), "lab".into()))
    }

    /// The log pane of the shown dashboard (the first dashboard's elsewhere).
    pub fn log_pane(&mut self) -> &mut LogPane {
        let i = match self.screen() {
            Screen::Dashboard(lab) => self.dashboards.iter().position(|d| d.lab() == lab),
            _ => None,
        };
        match self.dashboards.get_mut(i.unwrap_or(0)) {
            Some(d) => d.log_pane(),
            None => &mut self.spare_pane,
        }
    }

    /// Runs scenario `name` (`raft/failover`) from a project page: on its lab's dashboard when
    /// there is one (its output lands in the command log there), in a process and cluster of
    /// its own as `scenario run` always does.
    pub fn run_scenario(&mut self, name: &str) -> Option<Effect> {
        let lab = name.split('/').next().unwrap_or("");
        if let Some(d) = self.board(lab) {
            let shown = d.lab();
            self.push(Screen::Dashboard(shown));
        }
        self.flash = Some(format!(
            "running scenario {name} (a cluster of its own); its output goes to the command log"
        ));
        Some(Effect::Run(
            format!("scenario run {name}"),
            "scenario".into(),
        ))
    }

    /// Records a queued command in the command log of the dashboard it is for: the shown one,
    /// else the one whose lab the command names, else the first.
    pub fn record_command(&mut self, id: u64, cmd: &str, source: &str) {
        let word = cmd.split_whitespace().next().unwrap_or("");
        let i = match self.screen() {
            Screen::Dashboard(lab) => self.dashboards.iter().position(|d| d.lab() == lab),
            _ => self.dashboards.iter().position(|d| d.lab() == word),
        };
        if let Some(d) = self.dashboards.get_mut(i.unwrap_or(0)) {
            d.record(id, cmd, source);
        }
    }

    /// Fills in a finished command in whichever command log holds it.
    pub fn finish_command(&mut self, done: &ShellDone) {
        for d in &mut self.dashboards {
            if d.finish(done) {
                return;
            }
        }
    }

    /// The command the shell is running now (the oldest unfinished one, as the shell runs
    /// them in order), wherever it is logged.
    pub fn running_command(&mut self) -> Option<&mut dash::CommandRecord> {
        self.dashboards
            .iter_mut()
            .filter_map(|d| d.running_command())
            .min_by_key(|c| c.id)
    }

    /// Performs an action.
    pub fn act(&mut self, action: Action) -> Option<Effect> {
        self.flash = None;
        match action {
            Action::Quit => return Some(Effect::Quit),
            Action::Help => self.help = !self.help,
            Action::ToggleTheme => self.theme = self.theme.toggled(),
            Action::Back => {
                let dashboard = matches!(self.screen(), Screen::Dashboard(_));
                if dashboard && !self.log_pane().query.is_empty() {
                    self.log_pane().query.clear();
                    return None;
                }
                if self.screens.len() <= 1 {
                    return Some(Effect::Quit);
                }
                self.screens.pop();
                self.scroll = 0;
            }
            Action::TourNext | Action::TourPrev => {
                let fwd = action == Action::TourNext;
                return self.tour_step(fwd);
            }
            a => match self.screen() {
                Screen::Home => return self.home_action(a),
                Screen::Project(i) => return self.project_action(i, a),
                Screen::Dashboard(lab) => return self.dashboard_key(lab, a),
            },
        }
        None
    }

    fn home_action(&mut self, a: Action) -> Option<Effect> {
        let n = self.portfolio.projects.len();
        match a {
            Action::Up => self.home_sel = self.home_sel.saturating_sub(1),
            Action::Down => self.home_sel = (self.home_sel + 1).min(n.saturating_sub(1)),
            Action::NextTab => self.home_tab = (self.home_tab + 1) % HOME_TABS.len(),
            Action::PrevTab => {
                self.home_tab = (self.home_tab + HOME_TABS.len() - 1) % HOME_TABS.len()
            }
            Action::Open => {
                if let Some(i) = self.selected_project() {
                    self.push(Screen::Project(i));
                }
            }
            _ => {}
        }
        None
    }

    fn project_action(&mut self, i: usize, a: Action) -> Option<Effect> {
        let pj = self.portfolio.projects.get(i)?.clone();
        match a {
            Action::Up => self.scroll = self.scroll.saturating_sub(1),
            Action::Down => self.scroll = self.scroll.saturating_add(1).min(60),
            Action::LaunchLab => {
                if let Some(lab) = pj.lab.as_deref() {
                    return self.open_dashboard(lab);
                }
            }
            Action::InteractiveShell => return Some(Effect::Interactive),
            Action::Scenarios
                if crate::lab::scenario::all()
                    .iter()
                    .any(|s| Some(s.lab) == pj.lab.as_deref()) =>
            {
                let mut text = String::new();
                let mut runs = Vec::new();
                for s in crate::lab::scenario::all() {
                    if Some(s.lab) != pj.lab.as_deref() {
                        continue;
                    }
                    let name = s.full_name();
                    let line = u16::try_from(text.lines().count()).unwrap_or(u16::MAX);
                    runs.push((line, name.clone()));
                    text.push_str(&format!("── {name}  (scenario run {name})\n{}\n", s.script));
                }
                self.popup = Some(Popup {
                    title: "scenario scripts (↑↓ PgUp PgDn scroll, Enter runs the one at the top, any other key closes)".into(),
                    text,
                    scroll: 0,
                    runs,
                });
            }
            Action::Verify if pj.claims.iter().any(|c| c.verify.is_some()) => {
                let prefix = format!("{}#", pj.id);
                if self.verifying.keys().any(|k| k.starts_with(&prefix)) {
                    self.flash = Some("already measuring this project's claims".into());
                } else {
                    return Some(Effect::Verify(i));
                }
            }
            _ => {}
        }
        None
    }

    /// The keys every dashboard handles alike: `Some(effect)` when `a` was one of them.
    fn dashboard_action(&mut self, a: &Action) -> Option<Option<Effect>> {
        match a {
            Action::CommandBar => self.bar = Some(String::new()),
            Action::InteractiveShell => return Some(Some(Effect::Interactive)),
            Action::Search => {
                let pane = self.log_pane();
                pane.editing = true;
                pane.query.clear();
            }
            _ => return None,
        }
        Some(None)
    }

    /// Runs a dashboard key's shell command, named in the command log by the key.
    fn run_for_key(&self, cmd: String, a: &Action) -> Option<Effect> {
        let key = self
            .commands()
            .iter()
            .find(|c| c.action == *a)
            .map(|c| format!("key {}", c.key_names()))
            .unwrap_or_default();
        Some(Effect::Run(cmd, key))
    }

    /// A key on `lab`'s dashboard: the shared keys, else the dashboard's own command, run
    /// through the shell unless the lab is not up (one rule for every dashboard).
    fn dashboard_key(&mut self, lab: &str, a: Action) -> Option<Effect> {
        if let Some(effect) = self.dashboard_action(&a) {
            return effect;
        }
        let d = self.board_mut(lab)?;
        let cmd = d.act(&a)?;
        if let Some(why) = d.refuse(&cmd) {
            self.flash = Some(why);
            return None;
        }
        self.run_for_key(cmd, &a)
    }

    /// Moves the tour; queues the lab start and the step's command.
    pub fn tour_step(&mut self, fwd: bool) -> Option<Effect> {
        let mut tour = self.tour.take()?;
        if fwd && tour.at_end() {
            self.tour = Some(tour);
            return None;
        }
        let cmd = if fwd { tour.advance() } else { tour.back() };
        let screen = tour.screen(&self.portfolio);
        self.tour = Some(tour);
        self.show_tour_screen(screen);
        if let Screen::Dashboard(lab) = screen {
            let tab = self
                .tour
                .as_ref()
                .and_then(|t| t.current())
                .map_or(0, |s| s.tab);
            if let Some(d) = self.board_mut(lab) {
                d.set_tab(tab);
            }
            // The lab start is part of the step: it queues behind a command still running
            // (a tour step's commands are never refused as "busy").
            if let Some(Effect::Run(start, _)) = self.open_dashboard(lab) {
                self.queued.push(Effect::Run(start, "tour".into()));
            }
        }
        if let Some(cmd) = cmd {
            self.queued.push(Effect::Run(cmd, "tour".into()));
        }
        None
    }

    /// Shows the screen a tour step is about.
    pub fn show_tour_screen(&mut self, screen: Screen) {
        self.help = false;
        self.popup = None;
        match screen {
            Screen::Home => self.screens = vec![Screen::Home],
            Screen::Project(i) => {
                self.screens = vec![Screen::Home, Screen::Project(i)];
                if let Some(pos) = self.portfolio.display_order().iter().position(|&o| o == i) {
                    self.home_sel = pos;
                }
            }
            Screen::Dashboard(lab) => self.screens = vec![Screen::Home, Screen::Dashboard(lab)],
        }
        self.scroll = 0;
    }
}
