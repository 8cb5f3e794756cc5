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
}

fn step(place: Place, caption: &str, command: Option<&str>, secs: u64) -> Step {
    Step {
        place,
        caption: caption.to_string(),
        command: command.map(str::to_string),
        hold: Duration::from_secs(secs),
        tab: 0,
    }
}

/// The labs the tour runs live: registered, with a dashboard and tour steps.
fn live_lab(name: Option<&str>) -> Option<&'static dyn crate::lab::Lab> {
    let lab = crate::registry::lab(name?)?;
    (crate::tui::boards::has_dashboard(lab.name()) && !lab.tour_steps().is_empty()).then_some(lab)
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
        let note = match (lab, pj.lab.as_deref()) {
            (Some(_), _) => "Its lab comes next, live.".to_string(),
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
        if let Some(lab) = lab {
            live.push(format!("`wirelab lab {}`", lab.name()));
            s.extend(lab.tour_steps().iter().map(|t| Step {
                place: Place::Dashboard(lab.name()),
                caption: t.caption.to_string(),
                command: t.command.map(str::to_string),
                hold: Duration::from_secs(t.hold_secs),
                tab: t.tab,
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
        None
    }

    /// Arrives at the current step: its command, if any.
    pub fn arrive(&mut self) -> Option<String> {
        let cmd = self.current().and_then(|s| s.command.clone());
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

    /// Draws the caption panel.
    pub fn draw(&self, f: &mut Frame, area: Rect, theme: &Theme) {
        let Some(s) = self.current() else { return };
        let title = format!(
            " tour · step {}/{}{} ",
            self.index + 1,
            self.steps.len(),
            if self.auto {
                " · auto"
            } else {
                " · Space: next, <: back"
            }
        );
        let mut lines = vec![Line::from(s.caption.clone())];
        if let Some(cmd) = &s.command {
            lines.push(Line::from(vec![
                Span::styled("$ ", theme.title()),
                Span::styled(cmd.clone(), theme.muted()),
            ]));
        }
        f.render_widget(
            Paragraph::new(lines).wrap(Wrap { trim: true }).block(
                Block::bordered()
                    .title(title)
                    .border_style(theme.fg(theme.accent)),
            ),
            area,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        for lab in ["raft", "forge", "p2p"] {
            let on: Vec<&Step> = s
                .iter()
                .filter(|x| x.place == Place::Dashboard(lab))
                .collect();
            assert!(on.len() >= 3, "{lab}");
            // Every step on a dashboard runs that lab's own commands.
            for x in on {
                let cmd = x.command.as_deref().unwrap_or("");
                assert!(cmd.contains(&format!("{lab} ")), "{cmd}");
            }
        }
        // A lab's steps follow its project page.
        let page = s
            .iter()
            .position(|x| x.place == Place::Project("p2p".into()))
            .expect("the p2p page");
        assert_eq!(s[page + 1].place, Place::Dashboard("p2p"));
    }
}
