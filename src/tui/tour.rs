//! `wirelab tour`: a narrated walkthrough with a caption panel and a step counter: the profile,
//! the Raft lab live (write, kill the leader, re-election and the time without a leader, every
//! acknowledged write intact, pause, partition, heal), then each other project, with the forge
//! lab (load, smuggling, slowloris, a reload under load) and the P2P lab (a tracker killed
//! mid-transfer, verified pieces, partition and heal) live after their pages. Each step's
//! action is a shell command run through the dashboard's shell, like any key press.

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
    /// The Raft dashboard.
    Lab,
    /// The forge dashboard.
    ForgeLab,
    /// The P2P dashboard.
    P2pLab,
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

fn on_tab(mut s: Step, tab: usize) -> Step {
    s.tab = tab;
    s
}

/// The steps for a portfolio.
pub fn steps(p: &Portfolio) -> Vec<Step> {
    let lab_project = p
        .projects
        .iter()
        .find(|x| x.lab.is_some())
        .map(|x| x.id.clone());
    let mut s = vec![step(
        Place::Home,
        &format!(
            "{}: {}. The badges are headline claims; the projects are grouped by section. This tour runs them for real.",
            p.profile.name, p.profile.title
        ),
        None,
        6,
    )];
    if let Some(id) = &lab_project {
        s.push(step(
            Place::Project(id.clone()),
            "raft-kv: three processes that behave as one key-value store. Its claims can be re-measured on this machine (v).",
            None,
            6,
        ));
    }
    s.extend([
        step(Place::Lab, "A real 3-node Raft cluster: three wirelab processes, each with its own disk. Four clients write in the background. Every action here is a shell command; see the command log.", Some("raft load start --clients 4"), 6),
        step(Place::Lab, "A client writes a key; the write is acknowledged only once a majority has it on disk.", Some("raft put greeting hello && raft get greeting"), 5),
        step(Place::Lab, "SIGKILL the leader. Watch the timeline: a new election, and how long the cluster went without a leader.", Some("L=$(raft leader) && raft kill \"$L\""), 7),
        step(Place::Lab, "The old leader restarts from its own disk and catches up as a follower.", Some("raft restart \"$L\" && sleep 1 && raft leader"), 6),
        on_tab(step(Place::Lab, "Stop the workload: every key is read back. Every acknowledged write is intact.", Some("raft load stop; raft get greeting"), 7), 4),
        step(Place::Lab, "Pause a follower with SIGSTOP: the other two still form a majority and keep serving.", Some("N=$(( $(raft leader) % 3 + 1 )) && raft pause \"$N\" && raft put during-pause ok"), 6),
        step(Place::Lab, "Resume it, then cut the leader off with a partition: the majority side elects a new leader.", Some("raft resume \"$N\"; raft partition \"$(raft leader)\""), 7),
        on_tab(step(Place::Lab, "Heal the network: the isolated node hears the higher term, steps down and catches up. The timeline holds the whole story.", Some("raft heal && sleep 1 && raft status"), 7), 3),
    ]);
    for pj in p
        .projects
        .iter()
        .filter(|x| Some(&x.id) != lab_project.as_ref())
    {
        let note = match pj.lab.as_deref() {
            Some("forge" | "p2p") => "Its lab comes next, live.".to_string(),
            Some(lab) => format!("Its lab has a live dashboard: l here, or `wirelab lab {lab}`."),
            None => "No lab runs it yet, and the page says so.".to_string(),
        };
        s.push(step(
            Place::Project(pj.id.clone()),
            &format!("{}: {} {note}", pj.name, pj.tagline),
            None,
            4,
        ));
        match pj.lab.as_deref() {
            Some("forge") => s.extend(forge_steps()),
            Some("p2p") => s.extend(p2p_steps()),
            _ => {}
        }
    }
    s.push(step(
        Place::Home,
        "End of the tour. `wirelab` explores on your own; `wirelab lab raft`, `lab forge` and `lab p2p` open the dashboards directly. q leaves.",
        None,
        4,
    ));
    s
}

/// The forge lab: load, a smuggling attempt, a slowloris flood, a reload under load.
fn forge_steps() -> Vec<Step> {
    vec![
        step(
            Place::ForgeLab,
            "The forge lab: the HTTP/1.1 server in one process, a load generator in another, under the same supervisor as the Raft cluster. Load starts: req/s, p50/p99 and status codes are live.",
            Some("forge load start"),
            6,
        ),
        step(
            Place::ForgeLab,
            "A request-smuggling attempt (Content-Length and Transfer-Encoding together) over raw TCP: the parser answers 400 and closes the connection; no handler sees it.",
            Some("forge smuggle"),
            6,
        ),
        step(
            Place::ForgeLab,
            "A slowloris flood: 100 connections trickle their headers. The header timeout closes each with 408 while the real clients keep being served.",
            Some("forge slowloris 100"),
            6,
        ),
        on_tab(
            step(
                Place::ForgeLab,
                "A graceful reload under load: a new process takes the port (SO_REUSEPORT) and the old one drains. The load generator counts zero failed requests.",
                Some("forge reload; forge load stop"),
                7,
            ),
            2,
        ),
    ]
}

/// The P2P lab: a tracker killed mid-transfer, every piece verified, trackers partitioned and
/// healed.
fn p2p_steps() -> Vec<Step> {
    vec![
        step(
            Place::P2pLab,
            "The P2P lab: two trackers hold only metadata; a seeder and four leechers trade 512 KiB pieces directly. Each piece map fills as pieces pass their SHA-1 check.",
            Some("p2p wait pieces 4 16 --timeout 60s"),
            5,
        ),
        step(
            Place::P2pLab,
            "SIGKILL tracker 1 mid-transfer: the clients replay their sessions on tracker 2, and the downloads go on.",
            Some("p2p kill 1 && p2p wait tracker 2 --timeout 30s"),
            6,
        ),
        step(
            Place::P2pLab,
            "Every leecher completes, with every piece verified before it was written in place.",
            Some("p2p wait complete --timeout 120s"),
            5,
        ),
        step(
            Place::P2pLab,
            "Tracker 1 comes back empty and bootstraps from tracker 2: a snapshot, then the ops after it.",
            Some("p2p restart 1 && p2p wait converged --timeout 30s"),
            5,
        ),
        on_tab(
            step(
                Place::P2pLab,
                "Partition the trackers, restart a leecher (it resumes from its verified pieces), then heal: the trackers diverge, then converge with no consensus and no acks.",
                Some(
                    "p2p partition 1 && p2p restart 5 && p2p wait diverged --timeout 30s; p2p heal && p2p wait converged --timeout 30s",
                ),
                7,
            ),
            2,
        ),
    ]
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
            Some(Place::Lab) => Screen::Lab,
            Some(Place::ForgeLab) => Screen::ForgeLab,
            Some(Place::P2pLab) => Screen::P2pLab,
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
    fn the_tour_visits_every_project_and_the_lab() {
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
        assert!(s.iter().any(|x| {
            x.command
                .as_deref()
                .is_some_and(|c| c.contains("raft heal"))
        }));
        for (place, verb) in [(Place::ForgeLab, "forge "), (Place::P2pLab, "p2p ")] {
            let lab: Vec<&Step> = s.iter().filter(|x| x.place == place).collect();
            assert!(lab.len() >= 3, "{place:?}");
            // Every step on a dashboard runs that lab's own commands.
            for x in lab {
                let cmd = x.command.as_deref().unwrap_or("");
                assert!(cmd.starts_with(verb), "{cmd}");
            }
        }
    }
}
