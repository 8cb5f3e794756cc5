//! The interactive front end.
use super::state::Shell;

/// Runs the interactive read-eval loop; returns the exit status.
pub fn run_interactive(sh: &mut Shell) -> i32 {
    let r = sh.run_source(Box::new(super::input::StdinSource::new()));
    super::finish(sh, r)
}
