//! `wirelab tour`: a narrated walkthrough with a caption panel and a step counter. A generic
//! opening (the profile), then every project in portfolio order: its page, and for a lab with
//! a dashboard and tour steps ([`crate::lab::Lab::tour_steps`]: the Raft cluster's kill and
//! re-election, forge's attacks and reload, the P2P tracker failover…) those steps live on its
//! dashboard; then a generic closing. Each step's action is a shell command run through the
//! dashboard's shell, like any key press.

use std::time::{Duration, Instant};

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::app::Screen;
use super::keys::{Action, Cmd, Key};
use super::theme::Theme;
use crate::portfolio::Portfolio;

/// Where a step is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    /// Home.
    Home,
    /// A project page by id.
    Project(String),
    /// A lab's dashboard, by lab name.
    Dashboard(&'static str),
}

/// One step.
#[derive(Clone, Debug)]
pub struct Step {
    /// The screen.
    pub place: Place,
    /// The caption.
    pub caption: String,
    /// The shell command it runs on arrival.
    pub command: Option<String>,
    /// How long `--auto` stays (after the command finished).
    pub hold: Duration,
    /// The dashboard tab to show (index into the lab's tabs).
    pub tab: usize,
    /// The command is meant to be refused (exit status other than 0).
    pub refused: bool,
}

fn step(place: Place, caption: &str, command: Option<&str>, secs: u64) -> Step {
    Step {
        place,
        caption: caption.to_string(),
        command: command.map(str::to_string),
        hold: Duration::from_secs(secs),
        tab: 0,
        refused: false,
    }
}

/// The labs the tour runs live: registered, with a dashboard and tour steps.
fn live_lab(name: Option<&str>) -> Option<&'static dyn crate::lab::Lab> {
    let lab = crate::registry::lab(name?)?;
    (crate::tui::boards::has_dashboard(lab.name()) && !lab.tour_steps().is_empty()).then_some(lab)
}

/// The Raft dashboard's Commands tab ([`crate::tui::raft::TABS`]), where the shell's steps
/// show their output full-width.
const RAFT_COMMANDS_TAB: usize = 4;

/// The shell's own steps, on the Raft dashboard's command log (the Raft lab runs since the
/// tour's first lab): a pipeline over a node's log, job control, a scenario script. None when
/// the Raft lab is not a live lab.
fn shell_steps() -> Vec<Step> {
    let Some(raft) = live_lab(Some("raft")) else {
        return Vec::new();
    };
    let on_raft = |caption: &str, command: &str, secs: u64| Step {
        place: Place::Dashboard(raft.name()),
        caption: caption.to_string(),
        command: Some(command.to_string()),
        hold: Duration::from_secs(secs),
        tab: RAFT_COMMANDS_TAB,
        refused: false,
    };
    vec![
        on_raft(
            "The shell: a pipeline over node 1's log (logs | grep | tail), each stage a process. These are the terms and leaders it saw through the kills and the partition.",
            "logs -n 2000 raft-1 | grep -E 'leader|candidate' | tail -n 5",
            6,
        ),
        on_raft(
            "Job control: a background job stopped with SIGSTOP and resumed with SIGCONT, as `jobs` reports it, then ended with SIGTERM (status 143).",
            "sleep 30 & kill -STOP $!; sleep 0.2; jobs -l; kill -CONT $!; sleep 0.2; jobs -l; kill $!; wait $!; echo \"the job ended with status $?\"",
            6,
        ),
        on_raft(
            "Scenario scripts are shell scripts with `set -e`. This one starts a cluster of its own, pauses its leader with SIGSTOP, writes on, resumes it and checks every write.",
            "scenario run raft/pause",
            6,
        ),
    ]
}

/// The steps for a portfolio.
pub fn steps(p: &Portfolio) -> Vec<Step> {
    let mut s = vec![step(
        Place::Home,
        &format!(
            "{}: {}. The badges are headline claims; the projects are grouped by section. This tour runs them for real.",
            p.profile.name, p.profile.title
        ),
        None,
        6,
    )];
    let mut live = Vec::new();
    for pj in &p.projects {
        let lab = live_lab(pj.lab.as_deref());
        let shell = crate::tui::explorer::is_the_shell(pj);
        let shell_steps = if shell { shell_steps() } else { Vec::new() };
        let note = match (lab, pj.lab.as_deref()) {
            (Some(_), _) => "Its lab comes next, live.".to_string(),
            _ if !shell_steps.is_empty() => {
                "It runs every command of this tour; three of them next, in a dashboard's command log. On this page, l opens it full-screen.".to_string()
            }
            (None, Some(lab)) if crate::registry::lab(lab).is_some() => {
                format!("Its lab runs from the shell: `{lab} up`.")
            }
            _ => "No lab runs it yet, and the page says so.".to_string(),
        };
        s.push(step(
            Place::Project(pj.id.clone()),
            &format!("{}: {} {note}", pj.name, pj.tagline),
            None,
            if lab.is_some() { 6 } else { 4 },
        ));
        s.extend(shell_steps);
        if let Some(lab) = lab {
            live.push(format!("`wirelab lab {}`", lab.name()));
            s.extend(lab.tour_steps().iter().map(|t| Step {
                place: Place::Dashboard(lab.name()),
                caption: t.caption.to_string(),
                command: t.command.map(str::to_string),
                hold: Duration::from_secs(t.hold_secs),
                tab: t.tab,
                refused: t.refused,
            }));
        }
    }
    s.push(step(
        Place::Home,
        &format!(
            "End of the tour. `wirelab` explores on your own; {} open the dashboards directly. q leaves.",
            live.join(", ")
        ),
        None,
        4,
    ));
    s
}

/// The tour's state.
#[derive(Clone, Debug)]
pub struct Tour {
    /// Steps.
    pub steps: Vec<Step>,
    /// Current step.
    pub index: usize,
    /// Advances by itself.
    pub auto: bool,
    /// When the current step's command finished (or the step began, without one).
    pub ready_since: Option<Instant>,
    /// The id of the current step's command while it runs.
    pub pending: Option<u64>,
    /// The exit status of the current step's command, once it finished on this visit.
    status: Option<i32>,
    /// The steps whose command was run: going back and forward again shows a step without
    /// running it twice (`raft load start` would find its workload running, `kdc kill 1` a
    /// dead authority).
    ran: std::collections::BTreeSet<usize>,
}

impl Tour {
    /// A tour at its first step.
    pub fn new(p: &Portfolio, auto: bool) -> Self {
        Self {
            steps: steps(p),
            index: 0,
            auto,
            ready_since: Some(Instant::now()),
            pending: None,
            status: None,
            ran: Default::default(),
        }
    }

    /// The tour's keys.
    pub fn commands(&self) -> Vec<Cmd> {
        vec![
            Cmd::new(
                &[Key::Char(' '), Key::Char('>')],
                "next step",
                "tour: next step",
                Action::TourNext,
            ),
            Cmd::new(
                &[Key::Char('<')],
                "prev step",
                "tour: previous step",
                Action::TourPrev,
            ),
        ]
    }

    /// The current step.
    pub fn current(&self) -> Option<&Step> {
        self.steps.get(self.index)
    }

    /// Moves on; the command of the new step (None past the end).
    pub fn advance(&mut self) -> Option<String> {
        if self.index + 1 >= self.steps.len() {
            return None;
        }
        self.index += 1;
        self.arrive()
    }

    /// Moves back (commands of earlier steps are not run again).
    pub fn back(&mut self) -> Option<String> {
        self.index = self.index.saturating_sub(1);
        self.ready_since = Some(Instant::now());
        self.status = None;
        None
    }

    /// The current step's command (`id`) finished with exit status `status`.
    pub fn finished(&mut self, id: u64, status: i32) {
        if self.pending == Some(id) {
            self.pending = None;
            self.status = Some(status);
            self.ready_since = Some(Instant::now());
        }
    }

    /// Whether the current step's command ended as its narration says: `Some(false)` when it
    /// exited 0 where a refusal was meant, or was refused where success was (None: not known,
    /// the command still runs or ran on an earlier visit).
    pub fn as_narrated(&self) -> Option<bool> {
        let status = self.status?;
        Some((status != 0) == self.current()?.refused)
    }

    /// Arrives at the current step: its command, if any.
    pub fn arrive(&mut self) -> Option<String> {
        let first_visit = self.ran.insert(self.index);
        self.status = None;
        let cmd = self
            .current()
            .and_then(|s| s.command.clone())
            .filter(|_| first_visit);
        self.ready_since = if cmd.is_some() {
            None
        } else {
            Some(Instant::now())
        };
        cmd
    }

    /// Whether this is the last step.
    pub fn at_end(&self) -> bool {
        self.index + 1 >= self.steps.len()
    }

    /// `--auto`: whether it is time to move on.
    pub fn due(&self) -> bool {
        match (self.auto, self.ready_since, self.current()) {
            (true, Some(t), Some(s)) => t.elapsed() >= s.hold,
            _ => false,
        }
    }

    /// The screen of the current step.
    pub fn screen(&self, p: &Portfolio) -> Screen {
        match self.current().map(|s| &s.place) {
            Some(Place::Project(id)) => p
                .projects
                .iter()
                .position(|x| &x.id == id)
                .map_or(Screen::Home, Screen::Project),
            Some(Place::Dashboard(lab)) => Screen::Dashboard(lab),
            _ => Screen::Home,
        }
    }

    /// Whether the current step's command has finished (None: the step runs none).
    fn done(&self) -> Option<bool> {
        let s = self.current()?;
        s.command.as_ref()?;
        Some(self.ready_since.is_some() && self.pending.is_none())
    }

    /// The caption panel's height for a terminal `width` columns wide and `height` rows high:
    /// the whole narration and its command when they fit, never more than a third of the screen
    /// and never less than 3 rows of text.
    pub fn height(&self, width: u16, height: u16) -> u16 {
        let Some(s) = self.current() else { return 0 };
        let inner = usize::from(width.saturating_sub(2)).max(1);
        let mut rows = wrapped_rows(&s.caption, inner);
        if let Some(cmd) = &s.command {
            rows += wrapped_rows(&format!("$ {cmd}  … running"), inner);
        }
        let rows = u16::try_from(rows).unwrap_or(u16::MAX);
        (rows.clamp(3, 8) + 2).min((height / 3).max(5))
    }

    /// Draws the caption panel.
    pub fn draw(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let Some(s) = self.current() else { return };
        // Whether the step's command has finished: the narration is about its outcome, so the
        // state is in the title, which a long caption cannot push out of sight.
        let state = match (self.done(), self.as_narrated(), self.status) {
            (Some(true), Some(false), Some(0)) => {
                Span::styled("✗ exit 0: it was meant to be refused", theme.fg(theme.bad))
            }
            (Some(true), Some(false), Some(code)) => {
                Span::styled(format!("✗ failed (exit {code})"), theme.fg(theme.bad))
            }
            (Some(true), Some(true), Some(code)) if code != 0 => Span::styled(
                format!("✓ done (exit {code}, as narrated)"),
                theme.fg(theme.good),
            ),
            (Some(true), ..) => Span::styled("✓ done", theme.fg(theme.good)),
            (Some(false), ..) => Span::styled("… running", theme.fg(theme.warn)),
            (None, ..) => Span::raw(""),
        };
        let mut title = vec![Span::raw(format!(
            " tour · step {}/{} ",
            self.index + 1,
            self.steps.len()
        ))];
        if !state.content.is_empty() {
            title.push(Span::raw("· "));
            title.push(state.clone());
            title.push(Span::raw(" "));
        }
        title.push(Span::raw(if self.auto {
            "· auto "
        } else {
            "· Space: next, <: back "
        }));
        let mut lines = vec![Line::from(s.caption.clone())];
        if let Some(cmd) = &s.command {
            lines.push(Line::from(vec![
                Span::styled("$ ", theme.title()),
                Span::styled(cmd.clone(), theme.muted()),
                Span::raw("  "),
                state,
            ]));
        }
        f.render_widget(
            Paragraph::new(lines).wrap(Wrap { trim: true }).block(
                Block::bordered()
                    .title(Line::from(title))
                    .border_style(theme.fg(theme.accent)),
            ),
            area,
        );
    }
}

/// How many rows `text` takes when word-wrapped at `width` columns (an estimate that errs long).
fn wrapped_rows(text: &str, width: usize) -> usize {
    let mut rows = 1;
    let mut col = 0;
    for word in text.split_whitespace() {
        let w = word.chars().count();
        let need = if col == 0 { w } else { col + 1 + w };
        if need <= width {
            col = need;
        } else {
            rows += 1 + w.saturating_sub(1) / width;
            col = (w - 1) % width + 1;
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_then_forward_shows_a_step_without_running_it_again() {
        let p = Portfolio::builtin().expect("portfolio");
        let mut t = Tour::new(&p, false);
        let with_cmd = t
            .steps
            .iter()
            .position(|s| s.command.is_some())
            .expect("a step with a command");
        t.index = with_cmd - 1;
        assert!(t.advance().is_some(), "first visit runs the command");
        t.pending = None;
        assert_eq!(t.back(), None);
        assert_eq!(t.advance(), None, "the second visit does not");
        assert_eq!(t.done(), Some(true));
    }

    #[test]
    fn a_steps_outcome_is_checked_against_its_narration() {
        let p = Portfolio::builtin().expect("portfolio");
        let mut t = Tour::new(&p, false);
        let plain = t
            .steps
            .iter()
            .position(|s| s.command.is_some() && !s.refused)
            .expect("a step meant to succeed");
        let refused = t
            .steps
            .iter()
            .position(|s| s.refused)
            .expect("a step meant to be refused");
        let run = |t: &mut Tour, at: usize, status: i32| {
            t.index = at;
            t.ran.remove(&at);
            assert!(t.arrive().is_some());
            t.pending = Some(7);
            assert_eq!(t.as_narrated(), None, "unknown while it runs");
            t.finished(8, 0);
            assert_eq!(
                t.pending,
                Some(7),
                "another command's end is not the step's"
            );
            t.finished(7, status);
            assert_eq!(t.done(), Some(true));
            t.as_narrated()
        };
        assert_eq!(run(&mut t, plain, 0), Some(true));
        assert_eq!(run(&mut t, plain, 1), Some(false));
        assert_eq!(run(&mut t, refused, 1), Some(true));
        assert_eq!(run(&mut t, refused, 0), Some(false));
        // What the caption says, where the demo's `Wait` looks for "✓ done".
        let caption = |t: &Tour| {
            let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(100, 8))
                .expect("terminal");
            term.draw(|f| t.draw(f, f.area(), &Theme::from_env()))
                .expect("draw");
            let buf = term.backend().buffer().clone();
            buf.content().iter().map(|c| c.symbol()).collect::<String>()
        };
        run(&mut t, plain, 2);
        assert!(caption(&t).contains("✗ failed (exit 2)"), "{}", caption(&t));
        assert!(!caption(&t).contains("✓ done"));
        run(&mut t, refused, 0);
        assert!(caption(&t).contains("✗ exit 0: it was meant to be refused"));
        run(&mut t, refused, 1);
        assert!(caption(&t).contains("✓ done (exit 1, as narrated)"));
        // Back then forward again: the step is shown, not re-run, and its old outcome is not
        // claimed for it.
        t.back();
        assert_eq!(t.advance(), None);
        assert_eq!(t.as_narrated(), None);
    }

    #[test]
    fn wrapped_rows_counts_word_wrapped_lines() {
        assert_eq!(wrapped_rows("", 10), 1);
        assert_eq!(wrapped_rows("one two", 7), 1);
        assert_eq!(wrapped_rows("one two", 6), 2);
        assert_eq!(wrapped_rows("aaaaaaaaaaaa", 5), 4);
    }

    #[test]
    fn the_caption_grows_with_its_text_and_keeps_to_a_third_of_the_screen() {
        let p = Portfolio::builtin().expect("portfolio");
        let mut t = Tour::new(&p, false);
        let longest = (0..t.steps.len())
            .max_by_key(|&i| t.steps[i].caption.len())
            .expect("steps");
        t.index = longest;
        let wide = t.height(200, 60);
        let narrow = t.height(80, 60);
        assert!(narrow > wide, "{narrow} vs {wide}");
        assert!(t.height(80, 24) <= 8, "{}", t.height(80, 24));
        assert!(t.height(80, 10) >= 5);
    }

    #[test]
    fn the_tour_visits_every_project_and_runs_each_labs_steps_on_its_dashboard() {
        let p = Portfolio::builtin().expect("portfolio");
        let s = steps(&p);
        for pj in &p.projects {
            assert!(
                s.iter().any(|x| x.place == Place::Project(pj.id.clone())),
                "{}",
                pj.id
            );
        }
        assert!(s.iter().any(|x| {
            x.command
                .as_deref()
                .is_some_and(|c| c.contains("raft kill"))
        }));
        for lab in ["raft", "forge", "p2p", "secret", "kdc", "uav", "chat"] {
            let on: Vec<&Step> = s
                .iter()
                .filter(|x| x.place == Place::Dashboard(lab))
                .collect();
            assert!(on.len() >= 3, "{lab}");
            // Every step on a dashboard runs that lab's own commands (but the shell's own
            // steps, which use the Raft dashboard's command log).
            let shell = shell_steps();
            for x in on {
                let cmd = x.command.as_deref().unwrap_or("");
                if shell.iter().any(|y| y.command == x.command) {
                    continue;
                }
                assert!(cmd.contains(&format!("{lab} ")), "{cmd}");
            }
        }
        // The shell's steps follow its page, on the Raft dashboard's command log.
        let page = s
            .iter()
            .position(|x| x.place == Place::Project("shell".into()))
            .expect("the shell page");
        for (i, x) in shell_steps().iter().enumerate() {
            assert_eq!(s[page + 1 + i].command, x.command);
            assert_eq!(s[page + 1 + i].tab, RAFT_COMMANDS_TAB);
        }
        assert_eq!(crate::tui::raft::TABS[RAFT_COMMANDS_TAB], "Commands");
        // A lab's steps follow its project page.
        let page = s
            .iter()
            .position(|x| x.place == Place::Project("p2p".into()))
            .expect("the p2p page");
        assert_eq!(s[page + 1].place, Place::Dashboard("p2p"));
        // The one-time secret's steps run on its dashboard, after its page.
        let page = s
            .iter()
            .position(|x| x.place == Place::Project("ephemeral-secret".into()))
            .expect("the one-time secret's page");
        assert_eq!(page + 1, 16, "demo.tape waits on the page as step 16");
        assert_eq!(s[page + 1].place, Place::Dashboard("secret"));
        assert_eq!(
            s.iter()
                .filter(|x| x.place == Place::Dashboard("secret"))
                .count(),
            crate::secret::verbs::TOUR.len()
        );
    }
}
