//! The registry: the one place that names the systems. Each line registers a lab; the CLI
//! (`wirelab NAME …`, `wirelab node ROLE …`), the shell builtins and their completion, `labs`,
//! `logs`, `wirelab lab NAME`, the explorer's keys, the dashboards and the tour are derived from
//! these lists.
//!
//! `WIRELAB_TEST_LABS=pingpong` also registers the test-only [`crate::pingpong`] lab, which the
//! test suite uses to prove that a new lab needs nothing but its folder and a line here.

use std::sync::OnceLock;

use crate::lab::Lab;
use crate::tui::dash::LabDashboard;

/// Makes a lab's dashboard.
pub type NewDashboard = fn() -> Box<dyn LabDashboard>;

/// The labs, in portfolio order.
static LABS: &[&dyn Lab] = &[
    &crate::raft::cli::RaftLab,
    &crate::forge::lab::cli::ForgeLab,
    &crate::p2p::cli::P2pLab,
    &crate::kdc::cli::KdcLab,
    &crate::chat::lab::ChatLab,
];

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
];

/// A new dashboard for every registered lab that has one, in registry order.
pub fn dashboards() -> Vec<Box<dyn LabDashboard>> {
    labs()
        .iter()
        .filter_map(|l| DASHBOARDS.iter().find(|(n, _)| *n == l.name()))
        .map(|(_, new)| new())
        .collect()
}

/// Whether `lab` has a dashboard.
pub fn has_dashboard(lab: &str) -> bool {
    DASHBOARDS.iter().any(|(n, _)| *n == lab)
}

/// Labs registered only when `WIRELAB_TEST_LABS` names them (for the test suite).
static TEST_LABS: &[&dyn Lab] = &[&crate::pingpong::PingPongLab];

/// Every registered lab.
pub fn labs() -> &'static [&'static dyn Lab] {
    static ALL: OnceLock<Vec<&'static dyn Lab>> = OnceLock::new();
    ALL.get_or_init(|| {
        let wanted = std::env::var("WIRELAB_TEST_LABS").unwrap_or_default();
        let mut all: Vec<&'static dyn Lab> = LABS.to_vec();
        all.extend(
            TEST_LABS
                .iter()
                .copied()
                .filter(|l| wanted.split(',').any(|w| w.trim() == l.name())),
        );
        all
    })
}

/// Every lab, the test-only ones included, whatever `WIRELAB_TEST_LABS` says (the test suite
/// walks them all, running the binary with `WIRELAB_TEST_LABS` set).
pub fn all_with_test_labs() -> Vec<&'static dyn Lab> {
    LABS.iter().chain(TEST_LABS).copied().collect()
}

/// The lab called `name` (any case).
pub fn lab(name: &str) -> Option<&'static dyn Lab> {
    labs()
        .iter()
        .copied()
        .find(|l| l.name().eq_ignore_ascii_case(name))
}

/// The names of the registered labs, for messages ("raft, forge, p2p").
pub fn names() -> String {
    labs()
        .iter()
        .map(|l| l.name())
        .collect::<Vec<_>>()
        .join(", ")
}
