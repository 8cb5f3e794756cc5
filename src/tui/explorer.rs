//! The portfolio explorer's views: Home (profile, badges, projects by section, experience,
//! focus and interests) and a project page (about, how, stack, claims with measured figures,
//! its lab or a plain note that it has none yet).

use std::collections::BTreeMap;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Tabs, Wrap};

use super::keys::{Action, Cmd, Key};
use super::theme::Theme;
use super::{Click, Hits};
use crate::portfolio::measured::{Measurement, claim_key};
use crate::portfolio::{Portfolio, Project};

/// Home's tabs.
pub const HOME_TABS: [&str; 3] = ["Projects", "Experience", "Focus & interests"];

/// A verification in progress.
#[derive(Clone, Debug, Default)]
pub struct VerifyProgress {
    /// Seconds so far.
    pub secs: u64,
    /// The last line it printed.
    pub last_line: String,
    /// Running (not waiting for the one before it).
    pub started: bool,
}

/// The commands of Home.
pub fn home_commands() -> Vec<Cmd> {
    vec![
        Cmd::new(
            &[Key::Enter, Key::Char('l')],
            "open",
            "open the selected project",
            Action::Open,
        ),
        Cmd::new(
            &[Key::Tab],
            "tab",
            "next tab (projects, experience, focus & interests)",
            Action::NextTab,
        ),
        Cmd::quiet(
            &[Key::BackTab, Key::Char('h')],
            "prev tab",
            "previous tab",
            Action::PrevTab,
        ),
        Cmd::quiet(
            &[Key::Up, Key::Char('k')],
            "up",
            "previous project",
            Action::Up,
        ),
        Cmd::quiet(
            &[Key::Down, Key::Char('j')],
            "down",
            "next project",
            Action::Down,
        ),
    ]
}

/// Whether `p` is the shell's project: it has no cluster to launch; `l` opens the interactive
/// shell instead.
pub fn is_the_shell(p: &Project) -> bool {
    p.lab.is_none() && p.try_it.as_deref() == Some("wirelab shell")
}

/// The keys of a project page.
pub fn project_commands(p: &Project) -> Vec<Cmd> {
    let mut c = Vec::new();
    let lab = p.lab.as_deref().and_then(crate::registry::lab);
    if lab.is_some_and(|l| crate::tui::boards::has_dashboard(l.name())) {
        c.push(Cmd::new(
            &[Key::Char('l')],
            "lab",
            "launch this project's lab (its live dashboard)",
            Action::LaunchLab,
        ));
    }
    if lab.is_none() && is_the_shell(p) {
        // The shell has no cluster to launch: its "lab" is the interactive shell itself.
        c.push(Cmd::new(
            &[Key::Char('l')],
            "shell",
            "open wirelab's interactive shell full-screen (exit comes back)",
            Action::InteractiveShell,
        ));
    }
    if lab.is_some_and(|l| !crate::lab::scenario::of(l.name()).is_empty()) {
        c.push(Cmd::new(
            &[Key::Char('s')],
            "scenarios",
            "show the lab's scenario scripts",
            Action::Scenarios,
        ));
    }
    if p.claims.iter().any(|c| c.verify.is_some()) {
        c.push(Cmd::new(
            &[Key::Char('v')],
            "verify",
            "re-measure the claims on this machine (runs in the background)",
            Action::Verify,
        ));
    }
    c.push(Cmd::quiet(
        &[Key::Up, Key::Char('k')],
        "up",
        "scroll up",
        Action::Up,
    ));
    c.push(Cmd::quiet(
        &[Key::Down, Key::Char('j')],
        "down",
        "scroll down",
        Action::Down,
    ));
    c
}

fn section_title(id: &str) -> &str {
    crate::portfolio::SECTIONS
        .iter()
        .find(|(s, _)| *s == id)
        .map_or(id, |(_, t)| t)
}

/// Draws Home.
pub fn draw_home(
    f: &mut Frame,
    area: Rect,
    p: &Portfolio,
    tab: usize,
    selected: usize,
    theme: &Theme,
    hits: &mut Hits,
) {
    let pr = &p.profile;
    let header = vec![
        Line::from(vec![
            Span::styled(pr.name.clone(), theme.title()),
            Span::styled(format!("  {} · {}", pr.title, pr.location), theme.muted()),
        ]),
        Line::from(pr.headline.clone()),
    ];
    // Badges in a grid: a badge never breaks across lines.
    let cols = if area.width >= 160 { 4 } else { 2 };
    let cell_w = (area.width as usize / cols).max(1);
    let badge_lines: Vec<Line> = pr
        .badges
        .chunks(cols)
        .map(|row| {
            let mut spans = Vec::new();
            for b in row {
                let fig = format!(" {} ", b.figure);
                let room = cell_w.saturating_sub(fig.chars().count() + 2);
                let mut label: String = b.label.chars().take(room).collect();
                if b.label.chars().count() > room && room > 0 {
                    label.pop();
                    label.push('…');
                }
                let pad = room.saturating_sub(label.chars().count());
                spans.push(Span::styled(fig, theme.selected()));
                spans.push(Span::raw(format!(" {label}{} ", " ".repeat(pad))));
            }
            Line::from(spans)
        })
        .collect();
    let head_h = if area.width < 100 { 4 } else { 3 };
    let badge_h = badge_lines.len() as u16 + 1;
    let [h, bd, t, body] = Layout::vertical([
        Constraint::Length(head_h),
        Constraint::Length(badge_h),
        Constraint::Length(1),
        Constraint::Min(0),
    ])
    .areas(area);
    f.render_widget(Paragraph::new(header).wrap(Wrap { trim: true }), h);
    f.render_widget(Paragraph::new(badge_lines), bd);
    f.render_widget(
        Tabs::new(HOME_TABS.iter().map(|s| Line::from(*s)))
            .select(tab)
            .style(theme.muted())
            .highlight_style(theme.title().add_modifier(Modifier::REVERSED))
            .divider("│"),
        t,
    );
    let mut x = t.x;
    for (i, title) in HOME_TABS.iter().enumerate() {
        let w = title.chars().count() as u16 + 2;
        hits.push((
            Rect {
                x,
                y: t.y,
                width: w,
                height: 1,
            },
            Click::HomeTab(i),
        ));
        x += w + 1;
    }
    match tab {
        1 => draw_experience(f, body, p, theme),
        2 => draw_focus(f, body, p, theme),
        _ => draw_projects(f, body, p, selected, theme, hits),
    }
}

fn draw_projects(
    f: &mut Frame,
    area: Rect,
    p: &Portfolio,
    selected: usize,
    theme: &Theme,
    hits: &mut Hits,
) {
    let [list, preview] =
        Layout::horizontal([Constraint::Percentage(48), Constraint::Percentage(52)]).areas(area);
    let block = Block::bordered().title(" projects ");
    let inner = block.inner(list);
    f.render_widget(block, list);
    let mut lines = Vec::new();
    let order = p.display_order();
    let mut row = 0usize;
    let mut rows: Vec<(usize, usize)> = Vec::new();
    for (section, idx) in p.by_section() {
        lines.push(Line::styled(section, theme.title()));
        row += 1;
        for i in idx {
            let pos = order.iter().position(|&o| o == i).unwrap_or(0);
            let pj = &p.projects[i];
            let tag = if pj.lab.is_some() {
                " [lab]"
            } else if is_the_shell(pj) {
                " [shell]"
            } else {
                ""
            };
            let text = format!(
                " {} {}{tag}",
                if pos == selected { "▶" } else { " " },
                pj.name
            );
            let style = if pos == selected {
                theme.selected()
            } else {
                ratatui::style::Style::default()
            };
            lines.push(Line::styled(text, style));
            rows.push((row, pos));
            row += 1;
        }
    }
    // Keep the selection visible.
    let sel_row = lines
        .iter()
        .position(|l| l.spans.iter().any(|s| s.content.starts_with(" ▶")))
        .unwrap_or(0);
    let skip = sel_row.saturating_sub(inner.height.saturating_sub(1) as usize);
    for (r, pos) in rows {
        let Some(y) = r.checked_sub(skip) else {
            continue;
        };
        if y < inner.height as usize {
            hits.push((
                Rect {
                    x: inner.x,
                    y: inner.y + y as u16,
                    width: inner.width,
                    height: 1,
                },
                Click::Project(pos),
            ));
        }
    }
    f.render_widget(Paragraph::new(lines).scroll((skip as u16, 0)), inner);
    if let Some(&i) = order.get(selected) {
        let pj = &p.projects[i];
        let lab = match &pj.lab {
            Some(l) => Line::styled(
                format!("lab: {l} (open, then l to launch)"),
                theme.fg(theme.good),
            ),
            None if is_the_shell(pj) => Line::styled(
                "runs here as `wirelab shell` (open, then l to open it full-screen)",
                theme.fg(theme.good),
            ),
            None => Line::styled("no lab yet: read about it, nothing to run", theme.muted()),
        };
        let mut lines = vec![
            Line::styled(
                pj.tagline.clone(),
                Style::default().add_modifier(Modifier::BOLD),
            ),
            Line::styled(
                format!(
                    "{} · {} · {}",
                    pj.language,
                    pj.year,
                    section_title(&pj.section)
                ),
                theme.muted(),
            ),
            Line::from(format!("stack: {}", pj.stack.join(", "))),
            lab,
            Line::from(""),
        ];
        for c in &pj.claims {
            lines.push(Line::from(format!("• portfolio: {}", c.text)));
        }
        f.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: true })
                .block(Block::bordered().title(format!(" {} ", pj.name))),
            preview,
        );
    }
}

use ratatui::style::Style;

fn draw_experience(f: &mut Frame, area: Rect, p: &Portfolio, theme: &Theme) {
    let mut lines = Vec::new();
    for e in &p.experience {
        lines.push(Line::styled(
            format!("{} · {}", e.role, e.org),
            theme.title(),
        ));
        lines.push(Line::styled(
            format!("{} · {}", e.place, e.period),
            theme.muted(),
        ));
        lines.push(Line::from(format!("stack: {}", e.stack.join(", "))));
        for pt in &e.points {
            lines.push(Line::from(format!("• {pt}")));
        }
        lines.push(Line::from(""));
    }
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .block(Block::bordered().title(" experience ")),
        area,
    );
}

fn draw_focus(f: &mut Frame, area: Rect, p: &Portfolio, theme: &Theme) {
    let mut lines = vec![
        Line::styled("Engineering focus", theme.title()),
        Line::from(p.focus.intro.clone()),
    ];
    for a in &p.focus.areas {
        lines.push(Line::from(format!("• {a}")));
    }
    lines.push(Line::from(""));
    lines.push(Line::styled("Interests", theme.title()));
    lines.push(Line::from(p.interests.intro.clone()));
    for a in &p.interests.areas {
        lines.push(Line::from(vec![
            Span::styled(
                format!("• {}: ", a.name),
                Style::default().add_modifier(Modifier::BOLD),
            ),
            Span::raw(a.text.clone()),
        ]));
    }
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .block(Block::bordered().title(" focus & interests ")),
        area,
    );
}

/// Draws a project page.
#[allow(clippy::too_many_arguments)]
pub fn draw_project(
    f: &mut Frame,
    area: Rect,
    pj: &Project,
    scroll: u16,
    measured: &BTreeMap<String, Measurement>,
    verifying: &BTreeMap<String, VerifyProgress>,
    lab_running: bool,
    theme: &Theme,
) {
    let mut lines = vec![
        Line::styled(
            pj.tagline.clone(),
            Style::default().add_modifier(Modifier::BOLD),
        ),
        Line::styled(
            format!(
                "{} · {} · {}",
                pj.language,
                pj.year,
                section_title(&pj.section)
            ),
            theme.muted(),
        ),
        Line::from(""),
    ];
    lines.push(match (&pj.lab, lab_running) {
        (Some(l), true) => Line::styled(format!("▶ lab `{l}` is running: l opens its dashboard"), theme.fg(theme.good)),
        (Some(l), false) if !crate::tui::boards::has_dashboard(l) => Line::styled(format!("▶ lab `{l}` runs from the shell (`{l} up`, then `{l} --help`; s shows its scenario scripts); its dashboard is not built yet"), theme.fg(theme.good)),
        (Some(l), false) if crate::lab::scenario::all().iter().any(|s| s.lab == l) => Line::styled(format!("▶ lab `{l}`: l launches a real local cluster; s shows its scenario scripts"), theme.fg(theme.good)),
        (Some(l), false) => Line::styled(format!("▶ lab `{l}`: l launches a real local cluster and its live dashboard (`wirelab lab {l}`)"), theme.fg(theme.good)),
        (None, _) if is_the_shell(pj) => Line::styled("▶ it runs here: l opens the interactive shell full-screen (`wirelab shell`; exit comes back); it also runs every key and tour step of the dashboards", theme.fg(theme.good)),
        (None, _) => match &pj.try_it {
            Some(cmd) => Line::styled(format!("No dashboard for this project yet; it runs from a terminal: `{cmd}`"), theme.fg(theme.warn)),
            None => Line::styled("No lab for this project yet: wirelab cannot run it today, so there is nothing to launch or measure.", theme.fg(theme.warn)),
        },
    });
    if let Some(here) = &pj.here {
        lines.push(Line::from(""));
        lines.push(Line::styled("What the lab runs here", theme.title()));
        lines.push(Line::from(here.trim().replace('\n', " ")));
    }
    lines.push(Line::from(""));
    lines.push(Line::styled(
        "Claims (the portfolio's, and what was measured here)",
        theme.title(),
    ));
    for (i, c) in pj.claims.iter().enumerate() {
        let key = claim_key(&pj.id, i);
        lines.push(Line::from(format!("• portfolio: {}", c.text)));
        let status = if verifying.get(&key).is_some_and(|v| !v.started) {
            Line::styled(
                "    queued: measures after the claim above",
                theme.fg(theme.warn),
            )
        } else if let Some(v) = verifying.get(&key) {
            Line::styled(
                format!("    measuring… {}s  {}", v.secs, v.last_line),
                theme.fg(theme.warn),
            )
        } else if let Some(m) = measured.get(&key) {
            let style = if m.ok {
                theme.fg(theme.good)
            } else {
                theme.fg(theme.bad)
            };
            Line::styled(
                format!(
                    "    measured here: {} ({}, `{}`)",
                    m.figure,
                    readable_stamp(&m.date),
                    m.command
                ),
                style,
            )
        } else if c.verify.is_some() {
            Line::styled(
                "    not measured on this machine yet (v verifies)",
                theme.muted(),
            )
        } else if let Some(l) = &pj.lab {
            Line::styled(
                format!(
                    "    not re-measured by a command; its lab shows it live (l, `wirelab lab {l}`)"
                ),
                theme.muted(),
            )
        } else {
            Line::styled("    no lab reproduces this yet", theme.muted())
        };
        lines.push(status);
    }
    lines.push(Line::from(""));
    lines.push(Line::styled("Stack", theme.title()));
    lines.push(Line::from(pj.stack.join(" · ")));
    lines.push(Line::from(""));
    lines.push(Line::styled(
        "The original, as the portfolio describes it",
        theme.title(),
    ));
    lines.push(Line::from(pj.about.trim().replace('\n', " ")));
    lines.push(Line::from(""));
    lines.push(Line::styled("How the original works", theme.title()));
    lines.push(Line::from(pj.how.trim().replace('\n', " ")));
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0))
            .block(Block::bordered().title(format!(" {} ", pj.name))),
        area,
    );
}

/// `20261124-050000` → `2026-11-24 05:00 UTC` (other text unchanged).
pub fn readable_stamp(stamp: &str) -> String {
    let b = stamp.as_bytes();
    if b.len() == 15 && b[8] == b'-' && stamp.is_ascii() {
        format!(
            "{}-{}-{} {}:{} UTC",
            &stamp[0..4],
            &stamp[4..6],
            &stamp[6..8],
            &stamp[9..11],
            &stamp[11..13]
        )
    } else {
        stamp.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::readable_stamp;

    #[test]
    fn stamps_read_as_dates() {
        assert_eq!(readable_stamp("20261124-051946"), "2026-11-24 05:19 UTC");
        assert_eq!(readable_stamp("soon"), "soon");
    }
}
