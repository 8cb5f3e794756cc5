//! The frame every lab dashboard (Raft, forge, P2P) is built on: [`Dashboard`] holds a lab's
//! model with the state around it (tab, selected node, log pane, command log, scroll, the
//! attached supervisor and its event stream), and [`DashModel`] is what a model offers that
//! frame. Each lab adds its own commands, `act` and drawing through [`DashView`].
//!
//! [`LabDashboard`] is the object-safe face of any `Dashboard<M>`: the app holds its
//! dashboards as a list of them (one per registered lab that has one) and never names a lab.

use std::any::Any;

use ratatui::Frame;
use ratatui::layout::Rect;
use tokio::sync::broadcast;

use crate::tui::Hits;
use crate::tui::keys::Cmd;
use crate::tui::theme::Theme;

use super::CommandRecord;
use super::logbook::LogBook;
use super::logs::LogPane;
use super::shared;
use crate::cluster::{NodeInfo, NodeStatus, SupEvent, Supervisor};
use crate::tui::keys::Action;
use crate::tui::shell_worker::ShellDone;

/// What a lab's model gives the dashboard frame.
pub trait DashModel: Default {
    /// The dashboard's tabs.
    const TABS: &'static [&'static str];
    /// The node selected when the dashboard opens.
    const FIRST_NODE: u64;

    /// Folds one supervisor event in.
    fn fold(&mut self, ev: &SupEvent);
    /// Takes fresh node snapshots (once per UI tick, or when events arrived).
    fn update(&mut self, nodes: Vec<NodeInfo>, now_ms: u64);
    /// The lab stopped: forget its nodes (what happened, the timeline and logs, stays).
    fn forget(&mut self, now_ms: u64);
    /// The nodes as last snapshotted.
    fn nodes(&self) -> &[NodeInfo];
    /// The node log lines.
    fn log_book(&mut self) -> &mut LogBook;

    /// The ids Up/Down step through and a digit key may select (default: the nodes known).
    fn selectable(&self) -> Vec<u64> {
        self.nodes().iter().map(|n| n.id).collect()
    }
    /// Called once the dashboard has subscribed to a lab's events, to read back what happened
    /// before (default: the tail of each node's log file).
    fn attached(&mut self, sup: &Supervisor, now_ms: u64) {
        self.log_book().backfill_from(sup, now_ms);
    }
    /// A command of the dashboard was queued (default: nothing).
    fn command_queued(&mut self, _cmd: &str, _now_ms: u64) {}
    /// A command of the dashboard finished (default: nothing).
    fn command_done(&mut self, _cmd: &str, _done: &ShellDone, _now_ms: u64) {}
}

/// What a lab's dashboard adds to the frame: its lab, its keys, what they do, and how it draws.
pub trait DashView: DashModel + 'static {
    /// The lab's name (`raft`): its `LAB up`, its hosted supervisor, its `wirelab lab` name.
    const LAB: &'static str;

    /// The commands the dashboard offers (keys, hint bar and help come from here).
    fn view_commands(d: &Dashboard<Self>) -> Vec<Cmd>;
    /// Handles an action; the shell command to run, if any.
    fn view_act(d: &mut Dashboard<Self>, action: &Action) -> Option<String>;
    /// Draws the dashboard in `area`.
    fn view_draw(
        f: &mut Frame,
        area: Rect,
        d: &mut Dashboard<Self>,
        theme: &Theme,
        hide: bool,
        hits: &mut Hits,
    );
}

/// Implements [`DashView`] for a model whose `Dashboard` has inherent `commands` and `act`
/// methods and whose drawing is `$draw(f, area, dashboard, theme, hide, hits)`: what every lab's
/// dashboard writes the same way.
macro_rules! dash_view {
    ($model:ty, $lab:expr, $draw:path) => {
        impl $crate::tui::dash::DashView for $model {
            const LAB: &'static str = $lab;

            fn view_commands(
                d: &$crate::tui::dash::Dashboard<Self>,
            ) -> Vec<$crate::tui::keys::Cmd> {
                d.commands()
            }

            fn view_act(
                d: &mut $crate::tui::dash::Dashboard<Self>,
                action: &$crate::tui::keys::Action,
            ) -> Option<String> {
                d.act(action)
            }

            fn view_draw(
                f: &mut ratatui::Frame,
                area: ratatui::layout::Rect,
                d: &mut $crate::tui::dash::Dashboard<Self>,
                theme: &$crate::tui::theme::Theme,
                hide: bool,
                hits: &mut $crate::tui::Hits,
            ) {
                $draw(f, area, d, theme, hide, hits);
            }
        }
    };
}
pub(crate) use dash_view;

/// A lab dashboard as the app sees it, whatever its lab.
pub trait LabDashboard {
    /// The lab's name.
    fn lab(&self) -> &'static str;
    /// The commands it offers.
    fn commands(&self) -> Vec<Cmd>;
    /// Handles an action; the shell command to run, if any.
    fn act(&mut self, action: &Action) -> Option<String>;
    /// Draws it.
    fn draw(&mut self, f: &mut Frame, area: Rect, theme: &Theme, hide: bool, hits: &mut Hits);
    /// Its log pane.
    fn log_pane(&mut self) -> &mut LogPane;
    /// Records a queued command in its command log.
    fn record(&mut self, id: u64, cmd: &str, source: &str);
    /// Fills in a finished command; true if it was one of its own.
    fn finish(&mut self, done: &ShellDone) -> bool;
    /// Its oldest unfinished command.
    fn running_command(&mut self) -> Option<&mut CommandRecord>;
    /// Whether its lab is attached (running in this process).
    fn attached(&self) -> bool;
    /// Whether its lab's nodes are known (it is up).
    fn up(&self) -> bool;
    /// Whether `LAB up` was queued and has not finished.
    fn starting(&self) -> bool;
    /// Shows tab `tab` (clamped to its tabs).
    fn set_tab(&mut self, tab: usize);
    /// A click on a tab or a node row.
    fn click(&mut self, click: crate::tui::Click);
    /// Follows the hosted lab, drains its events and, when `shown` or events arrived, takes
    /// fresh snapshots; true when something changed on screen.
    fn tick(&mut self, shown: bool, now_ms: u64) -> bool;
    /// Why a key's command cannot run now (the lab is not up), or `None`: one rule for every
    /// dashboard.
    fn refuse(&self, cmd: &str) -> Option<String> {
        let lab = self.lab();
        if self.up() || cmd.starts_with(&format!("{lab} up")) {
            return None;
        }
        Some(if self.starting() {
            format!("the {lab} lab is starting; try again in a moment")
        } else {
            format!("the {lab} lab is not up: `:` then `{lab} up`")
        })
    }
    /// The concrete dashboard, for code (tests) that knows its type.
    fn as_any(&mut self) -> &mut dyn Any;
}

impl<M: DashView> LabDashboard for Dashboard<M> {
    fn lab(&self) -> &'static str {
        M::LAB
    }

    fn commands(&self) -> Vec<Cmd> {
        M::view_commands(self)
    }

    fn act(&mut self, action: &Action) -> Option<String> {
        M::view_act(self, action)
    }

    fn draw(&mut self, f: &mut Frame, area: Rect, theme: &Theme, hide: bool, hits: &mut Hits) {
        M::view_draw(f, area, self, theme, hide, hits);
    }

    fn log_pane(&mut self) -> &mut LogPane {
        &mut self.logs
    }

    fn record(&mut self, id: u64, cmd: &str, source: &str) {
        Dashboard::record(self, id, cmd, source);
    }

    fn finish(&mut self, done: &ShellDone) -> bool {
        Dashboard::finish(self, done)
    }

    fn running_command(&mut self) -> Option<&mut CommandRecord> {
        self.commands.iter_mut().find(|c| c.status.is_none())
    }

    fn attached(&self) -> bool {
        self.sup.is_some()
    }

    fn up(&self) -> bool {
        Dashboard::up(self)
    }

    fn starting(&self) -> bool {
        self.running(&format!("{} up", M::LAB))
    }

    fn set_tab(&mut self, tab: usize) {
        self.tab = tab.min(M::TABS.len().saturating_sub(1));
    }

    fn click(&mut self, click: crate::tui::Click) {
        match click {
            crate::tui::Click::Tab(i) => self.set_tab(i),
            crate::tui::Click::Node(id) => self.selected = id,
            _ => {}
        }
    }

    fn tick(&mut self, shown: bool, now_ms: u64) -> bool {
        self.follow_hosted(M::LAB);
        let changed = self.drain_events();
        if shown || changed {
            self.refresh(now_ms);
        }
        if shown && let Some(sup) = &self.sup {
            // Every node reports at once for the next frame, so that the rows compare values
            // of one moment (a leader's commit index never looks behind its followers' only
            // because their samples were 100 ms apart).
            sup.request_reports();
        }
        shown
    }

    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

/// A lab dashboard's state: its model and everything around it.
pub struct Dashboard<M> {
    /// The model.
    pub model: M,
    /// The current tab (index into [`DashModel::TABS`]).
    pub tab: usize,
    /// The selected node id.
    pub selected: u64,
    /// The log pane.
    pub logs: LogPane,
    /// The command log, oldest first.
    pub commands: Vec<CommandRecord>,
    /// Scroll of the command/timeline tabs (lines from the bottom).
    pub scroll: usize,
    /// The lab, once up.
    pub sup: Option<Supervisor>,
    events: Option<broadcast::Receiver<SupEvent>>,
}

impl<M: DashModel> Default for Dashboard<M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M: DashModel> Dashboard<M> {
    /// A dashboard waiting for its lab.
    pub fn new() -> Self {
        Self {
            model: M::default(),
            tab: 0,
            selected: M::FIRST_NODE,
            logs: LogPane::default(),
            commands: Vec::new(),
            scroll: 0,
            sup: None,
            events: None,
        }
    }

    /// Attaches the running lab: subscribes to its events, then lets the model read back what
    /// came before (so nothing falls between the two).
    pub fn attach(&mut self, sup: Supervisor) {
        self.events = Some(sup.subscribe());
        self.model.attached(&sup, crate::tui::clock::now_ms());
        self.sup = Some(sup);
    }

    /// Forgets a stopped lab.
    pub fn detach(&mut self) {
        self.sup = None;
        self.events = None;
        self.model.forget(crate::tui::clock::now_ms());
    }

    /// Follows the lab hosted as `lab` ([`crate::lab::LabHost::global`]): attaches it once
    /// up, detaches after it stopped, and moves to a new one that replaced it between two
    /// looks (`raft stop; raft up`).
    pub fn follow_hosted(&mut self, lab: &str) {
        self.follow(crate::lab::LabHost::global().get(lab));
    }

    /// Follows `hosted`, the lab running now if any (see [`Dashboard::follow_hosted`]).
    pub fn follow(&mut self, hosted: Option<Supervisor>) {
        match (&self.sup, hosted) {
            (None, Some(sup)) => self.attach(sup),
            (Some(_), None) => self.detach(),
            (Some(cur), Some(sup)) if !cur.same(&sup) => {
                self.detach();
                self.attach(sup);
            }
            _ => {}
        }
    }

    /// Drains pending supervisor events into the model; true when any arrived.
    pub fn drain_events(&mut self) -> bool {
        shared::drain_events(&mut self.events, |ev| self.model.fold(ev))
    }

    /// Waits for the next supervisor event (never resolves without a lab).
    pub async fn next_event(&mut self) -> Option<SupEvent> {
        shared::next_event(&mut self.events).await
    }

    /// Fresh node snapshots.
    pub fn refresh(&mut self, now_ms: u64) {
        if let Some(sup) = &self.sup {
            self.model.update(sup.nodes(), now_ms);
        }
    }

    /// Whether the lab's nodes are known (it is up and attached).
    pub fn up(&self) -> bool {
        !self.model.nodes().is_empty()
    }

    /// The status of the selected node.
    pub fn selected_status(&self) -> Option<NodeStatus> {
        self.model
            .nodes()
            .iter()
            .find(|n| n.id == self.selected)
            .map(|n| n.status)
    }

    /// `{node}` in a command template becomes the selected node's id.
    pub fn expand(&self, template: &str) -> String {
        template.replace("{node}", &self.selected.to_string())
    }

    /// `LAB pause N`, or `LAB resume N` when the selected node is paused.
    pub fn pause_or_resume(&self, lab: &str) -> String {
        let verb = match self.selected_status() {
            Some(NodeStatus::Paused) => "resume",
            _ => "pause",
        };
        format!("{lab} {verb} {}", self.selected)
    }

    /// The actions every dashboard handles alike: node selection by digit (a node the lab has,
    /// or any before its nodes are known) or Up/Down, tabs, scrolling and the log pane's keys.
    /// Never a command.
    pub fn navigate(&mut self, action: &Action) -> Option<String> {
        let ids = self.model.selectable();
        match action {
            Action::SelectNode(id) => {
                if ids.contains(id) || (*id > 0 && ids.is_empty()) {
                    self.selected = *id;
                }
            }
            a => {
                let nav =
                    shared::navigate(a, M::TABS, &mut self.tab, &mut self.scroll, &mut self.logs);
                if let shared::Navigated::StepNode(up) = nav
                    && let Some(id) = shared::step_id(&ids, self.selected, up)
                {
                    self.selected = id;
                }
            }
        }
        None
    }

    /// Whether the current tab shows log panes.
    pub fn logs_shown(&self) -> bool {
        matches!(M::TABS.get(self.tab), Some(&"Logs" | &"Overview"))
    }

    /// Records a queued command.
    pub fn record(&mut self, id: u64, cmd: &str, source: &str) {
        shared::push_command(&mut self.commands, id, cmd, source);
        self.scroll = 0;
        self.model.command_queued(cmd, crate::tui::clock::now_ms());
    }

    /// Fills in a finished command; true if it was one of ours.
    pub fn finish(&mut self, done: &ShellDone) -> bool {
        let Some(c) = shared::finish_command(&mut self.commands, done) else {
            return false;
        };
        let cmd = c.cmd.clone();
        self.model
            .command_done(&cmd, done, crate::tui::clock::now_ms());
        true
    }

    /// Whether a command starting with `prefix` (`forge up`) was queued and has not finished.
    pub fn running(&self, prefix: &str) -> bool {
        self.commands
            .iter()
            .any(|c| c.cmd.starts_with(prefix) && c.status.is_none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::raft::model::RaftModel;

    fn empty_lab(dir: &std::path::Path) -> Supervisor {
        Supervisor::launch_with_exe("raft", dir, Vec::new(), "/bin/true".into())
            .expect("a lab without nodes")
    }

    #[test]
    fn a_dashboard_follows_the_hosted_lab_and_one_that_replaced_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = empty_lab(&dir.path().join("a"));
        let second = empty_lab(&dir.path().join("b"));
        let mut d: Dashboard<RaftModel> = Dashboard::new();
        d.follow(Some(first.clone()));
        assert!(d.sup.as_ref().is_some_and(|s| s.same(&first)));
        d.follow(Some(first.clone()));
        assert!(d.sup.as_ref().is_some_and(|s| s.same(&first)));
        // Stopped and started again between two looks: the new lab, not the old one.
        d.follow(Some(second.clone()));
        assert!(
            d.sup
                .as_ref()
                .is_some_and(|s| s.same(&second) && !s.same(&first))
        );
        d.follow(None);
        assert!(d.sup.is_none());
    }
}
