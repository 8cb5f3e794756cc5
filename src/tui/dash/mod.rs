//! The dashboard frame every lab's dashboard is built on, and the pieces they share. No lab is
//! named here: a lab's dashboard (`tui::raft`, `tui::forge`, `tui::p2p`) is a model that
//! implements [`DashModel`] and [`DashView`], and the app holds it as a [`LabDashboard`].
//!
//! - [`dashboard`]: [`Dashboard`] (tab, selection, log pane, command log, the attached lab's
//!   events), the traits a lab's model implements, and [`LabDashboard`], the object-safe face
//!   the app lists.
//! - [`shared`]: the keys every dashboard has besides its own, what they do, and the command
//!   log's bookkeeping.
//! - [`logbook`]: the log lines, with those logged before the dashboard attached.
//! - [`logs`]: the log pane (follow, search highlighting, level filter, merged view).
//! - [`widgets`]: the tab bar, node table click rows, process cells, event list, command log
//!   and log panes.

pub mod dashboard;
pub mod logbook;
pub mod logs;
pub mod shared;
pub mod widgets;

use std::time::{Duration, Instant};

pub use dashboard::{DashModel, DashView, Dashboard, LabDashboard};

/// Timeline entries a dashboard keeps.
pub const TIMELINE_CAPACITY: usize = 500;
/// Chart points kept per node.
pub const SERIES_CAPACITY: usize = 240;

/// One node log line.
#[derive(Clone, Debug, PartialEq)]
pub struct LogLine {
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// Node id.
    pub node: u64,
    /// `error`, `warn`, `info`, `debug`, `stderr`.
    pub level: String,
    /// The message.
    pub msg: String,
}

/// One command as the command log shows it.
#[derive(Clone, Debug)]
pub struct CommandRecord {
    /// The shell worker's id.
    pub id: u64,
    /// The command line.
    pub cmd: String,
    /// Where it came from (`key k`, `:`, `tour`).
    pub source: String,
    /// When it was queued.
    pub started: Instant,
    /// Exit status once finished.
    pub status: Option<i32>,
    /// Its output.
    pub output: String,
    /// How long it ran.
    pub elapsed: Option<Duration>,
}
