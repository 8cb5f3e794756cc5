//! The registry: the one place that names the systems. Each line registers a lab; the CLI
//! (`wirelab NAME …`, `wirelab node ROLE …`), the shell builtins and their completion, `labs`,
//! `logs`, `wirelab lab NAME`, the explorer's keys and the tour are derived from this list
//! (the dashboards, by lab name, are listed in `crate::tui::boards`, which reads this list).
//!
//! `WIRELAB_TEST_LABS=pingpong` also registers the test-only [`crate::pingpong`] lab, which the
//! test suite uses to prove that a new lab needs nothing but its folder and a line here.

use std::sync::OnceLock;

use crate::lab::Lab;

/// The labs, in portfolio order.
static LABS: &[&dyn Lab] = &[
    &crate::raft::cli::RaftLab,
    &crate::forge::lab::cli::ForgeLab,
    &crate::p2p::cli::P2pLab,
    &crate::kdc::cli::KdcLab,
    &crate::chat::lab::ChatLab,
    &crate::uav::lab::UavLab,
    &crate::secret::lab::SecretLab,
];

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
