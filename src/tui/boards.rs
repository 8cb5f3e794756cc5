//! The dashboards, by lab name: the TUI's half of the registry. A lab listed in
//! [`crate::registry`] may have a dashboard here (one line); the app builds one per registered
//! lab that has one, in registry order. Kept apart from the registry so that the registry
//! depends on the systems only, and the TUI on the registry (never the other way round).

use super::dash::LabDashboard;

/// Makes a lab's dashboard.
pub type NewDashboard = fn() -> Box<dyn LabDashboard>;

/// The dashboards, by lab (a lab without one runs from the shell and the CLI only).
static DASHBOARDS: &[(&str, NewDashboard)] = &[
    (crate::raft::cli::NAME, || {
        Box::new(crate::tui::raft::RaftView::new())
    }),
    (crate::forge::lab::cli::NAME, || {
        Box::new(crate::tui::forge::ForgeView::new())
    }),
    (crate::p2p::cli::NAME, || {
        Box::new(crate::tui::p2p::P2pLabView::new())
    }),
    (crate::kdc::cli::NAME, || {
        Box::new(crate::tui::kdc::KdcLabView::new())
    }),
    (crate::chat::lab::NAME, || {
        Box::new(crate::tui::chat::ChatLabView::new())
    }),
    (crate::uav::lab::NAME, || {
        Box::new(crate::tui::uav::UavLabView::new())
    }),
    (crate::secret::lab::NAME, || {
        Box::new(crate::tui::secret::SecretLabView::new())
    }),
];

/// A new dashboard for every registered lab that has one, in registry order.
pub fn dashboards() -> Vec<Box<dyn LabDashboard>> {
    crate::registry::labs()
        .iter()
        .filter_map(|l| DASHBOARDS.iter().find(|(n, _)| *n == l.name()))
        .map(|(_, new)| new())
        .collect()
}

/// Whether `lab` has a dashboard.
pub fn has_dashboard(lab: &str) -> bool {
    DASHBOARDS.iter().any(|(n, _)| *n == lab)
}
