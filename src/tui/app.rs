//! The app's state and what actions do to it. State changes only here; `draw` is a view of it;
//! the loop in `mod.rs` performs the [`Effect`]s (shell commands, verification, the shell).

use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyEvent, MouseButton, MouseEvent, MouseEventKind};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::explorer::{self, HOME_TABS, VerifyProgress};
use super::forge::{self, ForgeView};
use super::keys::{self, Action, Cmd};
use super::lab::logs::LogPane;
use super::lab::{self, LabView};
use super::p2p::{self, P2pLabView};
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
    /// The Raft dashboard.
    Lab,
    /// The forge lab dashboard.
    ForgeLab,
    /// The P2P dashboard.
    P2pLab,
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
    /// Quit.
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
    /// The dashboard.
    pub lab: LabView,
    /// The forge lab dashboard.
    pub forge_lab: ForgeView,
    /// The P2P dashboard.
    pub p2p_lab: P2pLabView,
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
            lab: LabView::new(),
            forge_lab: ForgeView::new(),
            p2p_lab: P2pLabView::new(),
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
            Screen::Lab => self.lab.commands(),
            Screen::ForgeLab => self.forge_lab.commands(),
            Screen::P2pLab => self.p2p_lab.commands(),
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

    /// Opens the Raft dashboard; the effect starts the cluster when none runs.
    pub fn open_lab(&mut self) -> Option<Effect> {
        self.open_dashboard(Screen::Lab)
    }

    /// Opens the forge dashboard; the effect starts the lab when none runs.
    pub fn open_forge_lab(&mut self) -> Option<Effect> {
        self.open_dashboard(Screen::ForgeLab)
    }

    /// Opens the P2P dashboard; the effect starts the lab when none runs.
    pub fn open_p2p_lab(&mut self) -> Option<Effect> {
        self.open_dashboard(Screen::P2pLab)
    }

    /// Shows a dashboard; the effect is `LAB up` when its lab neither runs nor is starting.
    fn open_dashboard(&mut self, screen: Screen) -> Option<Effect> {
        let (up, running, starting) = match screen {
            Screen::ForgeLab => (
                "forge up",
                self.forge_lab.sup.is_some(),
                self.forge_lab.running("forge up"),
            ),
            Screen::P2pLab => (
                "p2p up",
                self.p2p_lab.sup.is_some(),
                self.p2p_lab.running("p2p up"),
            ),
            _ => (
                "raft up",
                self.lab.sup.is_some(),
                self.lab.running("raft up"),
            ),
        };
        self.push(screen);
        (!running && !starting).then(|| Effect::Run(up.into(), "lab".into()))
    }

    /// The log pane of the shown dashboard (the Raft one's elsewhere).
    pub fn log_pane(&mut self) -> &mut LogPane {
        match self.screen() {
            Screen::ForgeLab => &mut self.forge_lab.logs,
            Screen::P2pLab => &mut self.p2p_lab.logs,
            _ => &mut self.lab.logs,
        }
    }

    /// Records a command queued for the shell in the command log of the shown dashboard (the
    /// Raft one's elsewhere: the tour's commands are Raft commands).
    pub fn record_command(&mut self, id: u64, cmd: &str, source: &str) {
        match self.screen() {
            Screen::ForgeLab => self.forge_lab.record(id, cmd, source),
            Screen::P2pLab => self.p2p_lab.record(id, cmd, source),
            _ => self.lab.record(id, cmd, source),
        }
    }

    /// Fills in a finished command in whichever command log holds it.
    pub fn finish_command(&mut self, done: &ShellDone) {
        if !self.lab.finish(done) && !self.forge_lab.finish(done) {
            self.p2p_lab.finish(done);
        }
    }

    /// The command the shell is running now (the oldest unfinished one, as the shell runs
    /// them in order), wherever it is logged.
    pub fn running_command(&mut self) -> Option<&mut lab::CommandRecord> {
        [
            self.lab.commands.iter_mut().find(|c| c.status.is_none()),
            self.forge_lab
                .commands
                .iter_mut()
                .find(|c| c.status.is_none()),
            self.p2p_lab
                .commands
                .iter_mut()
                .find(|c| c.status.is_none()),
        ]
        .into_iter()
        .flatten()
        .min_by_key(|c| c.id)
    }

    /// Handles a key.
    pub fn on_key(&mut self, ev: &KeyEvent) -> Option<Effect> {
        if let Some(text) = self.bar.as_mut() {
            match ev.code {
                KeyCode::Esc => self.bar = None,
                KeyCode::Enter => {
                    let cmd = text.trim().to_string();
                    self.bar = None;
                    self.bar_recall = None;
                    if !cmd.is_empty() {
                        if self.bar_history.last() != Some(&cmd) {
                            self.bar_history.push(cmd.clone());
                        }
                        return Some(Effect::Run(cmd, ":".into()));
                    }
                }
                KeyCode::Up | KeyCode::Down => {
                    // History: ↑ older, ↓ newer.
                    let n = self.bar_history.len();
                    let next = match (ev.code, self.bar_recall) {
                        (KeyCode::Up, None) if n > 0 => Some(n - 1),
                        (KeyCode::Up, Some(i)) => Some(i.saturating_sub(1)),
                        (KeyCode::Down, Some(i)) if i + 1 < n => Some(i + 1),
                        _ => None,
                    };
                    self.bar_recall = next;
                    *text = next
                        .and_then(|i| self.bar_history.get(i).cloned())
                        .unwrap_or_default();
                }
                KeyCode::Backspace => {
                    text.pop();
                }
                KeyCode::Char(c)
                    if !ev
                        .modifiers
                        .contains(crossterm::event::KeyModifiers::CONTROL) =>
                {
                    text.push(c)
                }
                KeyCode::Char('c') => self.bar = None,
                _ => {}
            }
            return None;
        }
        if self.log_pane().editing {
            let ctrl = ev
                .modifiers
                .contains(crossterm::event::KeyModifiers::CONTROL);
            let pane = self.log_pane();
            let q = &mut pane.query;
            match ev.code {
                KeyCode::Esc | KeyCode::Char('c') if ctrl || ev.code == KeyCode::Esc => {
                    q.clear();
                    pane.editing = false;
                }
                KeyCode::Enter => pane.editing = false,
                KeyCode::Backspace => {
                    q.pop();
                }
                KeyCode::Char(c) if !ctrl => q.push(c),
                _ => {}
            }
            return None;
        }
        if let Some(p) = self.popup.as_mut() {
            match ev.code {
                KeyCode::Up | KeyCode::Char('k') => p.scroll = p.scroll.saturating_sub(1),
                KeyCode::Down | KeyCode::Char('j') => p.scroll = p.scroll.saturating_add(1),
                KeyCode::PageUp => p.scroll = p.scroll.saturating_sub(10),
                KeyCode::PageDown => p.scroll = p.scroll.saturating_add(10),
                _ => self.popup = None,
            }
            return None;
        }
        let cmds = self.commands();
        let mut action = keys::dispatch(&cmds, ev)?;
        // One command serves the digit keys: the digit is the node.
        if action == Action::SelectNode(0)
            && let KeyCode::Char(d) = ev.code
        {
            action = Action::SelectNode(d.to_digit(10).map_or(0, u64::from));
        }
        if self.help && action != Action::Quit {
            self.help = false;
            if action == Action::Help || action == Action::Back {
                return None;
            }
        }
        self.act(action)
    }

    /// Performs an action.
    pub fn act(&mut self, action: Action) -> Option<Effect> {
        self.flash = None;
        match action {
            Action::Quit => return Some(Effect::Quit),
            Action::Help => self.help = !self.help,
            Action::ToggleTheme => self.theme = self.theme.toggled(),
            Action::Back => {
                let dashboard = matches!(
                    self.screen(),
                    Screen::Lab | Screen::ForgeLab | Screen::P2pLab
                );
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
                Screen::Lab => return self.lab_action(a),
                Screen::ForgeLab => return self.forge_action(a),
                Screen::P2pLab => return self.p2p_lab_action(a),
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
            Action::LaunchLab if pj.lab.as_deref() == Some("raft") => return self.open_lab(),
            Action::LaunchLab if pj.lab.as_deref() == Some("forge") => {
                return self.open_forge_lab();
            }
            Action::LaunchLab if pj.lab.as_deref() == Some("p2p") => {
                return self.open_p2p_lab();
            }
            Action::Scenarios
                if crate::lab::scenario::all()
                    .iter()
                    .any(|s| Some(s.lab) == pj.lab.as_deref()) =>
            {
                let mut text = String::new();
                for s in crate::lab::scenario::all() {
                    if Some(s.lab) != pj.lab.as_deref() {
                        continue;
                    }
                    let name = s.full_name();
                    text.push_str(&format!("── {name}  (scenario run {name})\n{}\n", s.script));
                }
                self.popup = Some(Popup {
                    title: "scenario scripts (↑↓ PgUp PgDn scroll, any other key closes)".into(),
                    text,
                    scroll: 0,
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

    fn lab_action(&mut self, a: Action) -> Option<Effect> {
        if let Some(effect) = self.dashboard_action(&a) {
            return effect;
        }
        let cmd = self.lab.act(&a)?;
        if self.lab.sup.is_none() && cmd.starts_with("raft ") && !cmd.starts_with("raft up") {
            self.flash = Some("the cluster is not up yet".into());
            return None;
        }
        self.run_for_key(cmd, &a)
    }

    fn forge_action(&mut self, a: Action) -> Option<Effect> {
        if let Some(effect) = self.dashboard_action(&a) {
            return effect;
        }
        let cmd = self.forge_lab.act(&a)?;
        if !self.forge_lab.up() {
            self.flash = Some(if self.forge_lab.starting() {
                "the forge lab is starting; try again in a moment".into()
            } else {
                "the forge lab is not up: `:` then `forge up`".into()
            });
            return None;
        }
        self.run_for_key(cmd, &a)
    }

    fn p2p_lab_action(&mut self, a: Action) -> Option<Effect> {
        if let Some(effect) = self.dashboard_action(&a) {
            return effect;
        }
        let cmd = self.p2p_lab.act(&a)?;
        if self.p2p_lab.sup.is_none()
            && self.p2p_lab.model.nodes.is_empty()
            && !cmd.starts_with("p2p up")
        {
            self.flash = Some("the lab is not up yet".into());
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
        if screen == Screen::Lab {
            self.lab.tab = self
                .tour
                .as_ref()
                .and_then(|t| t.current())
                .map_or(0, |s| s.tab)
                .min(lab::TABS.len() - 1);
            if let Some(e) = self.open_lab() {
                self.queued.push(e);
            }
        }
        let tab = self
            .tour
            .as_ref()
            .and_then(|t| t.current())
            .map_or(0, |s| s.tab);
        if screen == Screen::ForgeLab {
            self.forge_lab.tab = tab.min(forge::TABS.len() - 1);
            if let Some(e) = self.open_forge_lab() {
                self.queued.push(e);
            }
        }
        if screen == Screen::P2pLab {
            self.p2p_lab.tab = tab.min(p2p::TABS.len() - 1);
            if let Some(e) = self.open_p2p_lab() {
                self.queued.push(e);
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
            Screen::Lab => self.screens = vec![Screen::Home, Screen::Lab],
            Screen::ForgeLab => self.screens = vec![Screen::Home, Screen::ForgeLab],
            Screen::P2pLab => self.screens = vec![Screen::Home, Screen::P2pLab],
        }
        self.scroll = 0;
    }

    /// Handles the mouse.
    pub fn on_mouse(&mut self, ev: &MouseEvent) -> Option<Effect> {
        match ev.kind {
            MouseEventKind::ScrollUp => return self.act(Action::Up),
            MouseEventKind::ScrollDown => return self.act(Action::Down),
            MouseEventKind::Down(MouseButton::Left) => {}
            _ => return None,
        }
        let hit = self
            .hits
            .iter()
            .find(|(r, _)| {
                ev.column >= r.x && ev.column < r.right() && ev.row >= r.y && ev.row < r.bottom()
            })
            .map(|(_, c)| *c)?;
        let forge = self.screen() == Screen::ForgeLab;
        match hit {
            Click::Tab(i) if forge => self.forge_lab.tab = i.min(forge::TABS.len() - 1),
            Click::Node(id) if forge => self.forge_lab.selected = id,
            Click::Tab(i) if self.screen() == Screen::P2pLab => self.p2p_lab.tab = i,
            Click::Node(id) if self.screen() == Screen::P2pLab => self.p2p_lab.selected = id,
            Click::Tab(i) => self.lab.tab = i,
            Click::HomeTab(i) => self.home_tab = i,
            Click::Node(id) => self.lab.selected = id,
            Click::Project(pos) => {
                if self.home_sel == pos {
                    return self.act(Action::Open);
                }
                self.home_sel = pos;
            }
        }
        None
    }

    /// Draws everything.
    pub fn draw(&mut self, f: &mut Frame) {
        let area = f.area();
        self.hits.clear();
        let caption_h = if self.tour.is_some() { 5 } else { 0 };
        let [main, caption, bar, hints] = Layout::vertical([
            Constraint::Min(0),
            Constraint::Length(caption_h),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(area);
        let theme = self.theme.clone();
        match self.screen() {
            Screen::Home => explorer::draw_home(
                f,
                main,
                &self.portfolio,
                self.home_tab,
                self.home_sel,
                &theme,
                &mut self.hits,
            ),
            Screen::Project(i) => {
                if let Some(pj) = self.portfolio.projects.get(i) {
                    let running = match pj.lab.as_deref() {
                        Some("forge") => self.forge_lab.sup.is_some(),
                        Some("p2p") => self.p2p_lab.sup.is_some(),
                        _ => self.lab.sup.is_some(),
                    };
                    explorer::draw_project(
                        f,
                        main,
                        pj,
                        self.scroll,
                        &self.measured,
                        &self.verifying,
                        running,
                        &theme,
                    );
                }
            }
            Screen::Lab => {
                lab::view::draw(f, main, &mut self.lab, &theme, self.hide, &mut self.hits)
            }
            Screen::ForgeLab => forge::view::draw(
                f,
                main,
                &mut self.forge_lab,
                &theme,
                self.hide,
                &mut self.hits,
            ),
            Screen::P2pLab => p2p::view::draw(
                f,
                main,
                &mut self.p2p_lab,
                &theme,
                self.hide,
                &mut self.hits,
            ),
        }
        if let Some(t) = &self.tour {
            t.draw(f, caption, &theme);
        }
        let bar_line = if let Some(text) = &self.bar {
            Line::from(vec![
                Span::styled(":", theme.title()),
                Span::raw(format!("{text}▏")),
            ])
        } else if self.log_pane().editing {
            let query = self.log_pane().query.clone();
            Line::from(vec![
                Span::styled("/", theme.title()),
                Span::raw(format!("{query}▏")),
            ])
        } else if let Some(msg) = &self.flash {
            Line::styled(msg.clone(), theme.fg(theme.warn))
        } else if !self.verifying.is_empty() {
            Line::styled(
                format!(
                    "verifying {} claim(s) in the background…",
                    self.verifying.len()
                ),
                theme.fg(theme.warn),
            )
        } else {
            Line::styled(self.breadcrumb(), theme.muted())
        };
        f.render_widget(Paragraph::new(bar_line), bar);
        let cmds = self.commands();
        f.render_widget(
            Paragraph::new(keys::hint_line(&cmds, &theme, hints.width)),
            hints,
        );
        if let Some(p) = &self.popup {
            draw_popup(f, main, p);
        }
        if self.help {
            keys::draw_help(f, area, &self.breadcrumb(), &cmds, &theme);
        }
    }

    fn breadcrumb(&self) -> String {
        let mut parts = vec!["wirelab".to_string()];
        for s in &self.screens {
            parts.push(match s {
                Screen::Home => "home".into(),
                Screen::Project(i) => self
                    .portfolio
                    .projects
                    .get(*i)
                    .map_or("?".into(), |p| p.name.clone()),
                Screen::Lab => "raft lab".into(),
                Screen::ForgeLab => "forge lab".into(),
                Screen::P2pLab => "p2p lab".into(),
            });
        }
        parts.join(" › ")
    }
}

fn draw_popup(f: &mut Frame, area: Rect, p: &Popup) {
    let rect = Rect {
        x: area.x + 2,
        y: area.y + 1,
        width: area.width.saturating_sub(4),
        height: area.height.saturating_sub(2),
    };
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(p.text.clone())
            .wrap(Wrap { trim: false })
            .scroll((p.scroll, 0))
            .block(Block::bordered().title(format!(" {} ", p.title))),
        rect,
    );
}
