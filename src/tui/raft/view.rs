//! Drawing the Raft dashboard: tabs, node table, RaftScope-like log view with commit marks and
//! election timers, workload and commit charts, event timeline, command log, log pane.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::{Block, Cell, Row, Table};
use serde_json::Value;

use super::model::{RaftModel, TimelineKind};
use super::scope;
use super::{RaftView, TABS};
use crate::cluster::{NodeInfo, NodeStatus};
use crate::tui::dash::widgets::{
    draw_command_log, draw_event_list, draw_log_panes, draw_tab_bar, process_cells, row_hits,
};
use crate::tui::theme::Theme;
use crate::tui::{Hits, clock};

fn st(n: &NodeInfo, k: &str) -> Option<u64> {
    n.state.get(k).and_then(Value::as_u64)
}

fn show(v: Option<u64>) -> String {
    v.map_or("-".into(), |v| v.to_string())
}

/// Draws the dashboard into `area`.
pub fn draw(
    f: &mut Frame,
    area: Rect,
    lab: &mut RaftView,
    theme: &Theme,
    hide: bool,
    hits: &mut Hits,
) {
    let [tabs_area, body] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
    draw_tabs(f, tabs_area, lab, theme, hide, hits);
    match TABS[lab.tab] {
        "Scope" => scope::draw_scope(f, body, &lab.model, theme, true),
        "Logs" => draw_logs(f, body, lab, theme, hide, hits),
        "Timeline" => draw_timeline(f, body, &lab.model, lab.scroll, false, theme, hide),
        "Commands" => draw_commands(f, body, lab, theme, hide),
        _ => draw_overview(f, body, lab, theme, hide, hits),
    }
}

fn draw_tabs(
    f: &mut Frame,
    area: Rect,
    lab: &RaftView,
    theme: &Theme,
    hide: bool,
    hits: &mut Hits,
) {
    let leader = match (lab.model.leader, lab.model.leaderless_since) {
        (Some((id, term)), _) => format!("leader {id} · term {term}"),
        (None, _) if lab.sup.is_none() => {
            let starting = lab
                .commands
                .iter()
                .any(|c| c.cmd.starts_with("raft up") && c.status.is_none());
            if starting {
                "starting the cluster…".into()
            } else {
                "no cluster: `:` then `raft up`".into()
            }
        }
        (None, Some(since)) if !hide => {
            format!("NO LEADER for {} ms", clock::now_ms().saturating_sub(since))
        }
        (None, _) => "NO LEADER".into(),
    };
    let wl = if lab.model.load.running {
        let last = lab.model.load.seconds.last().map_or(0, |s| s.writes);
        format!(" · {last} w/s")
    } else {
        String::new()
    };
    let style = if lab.model.leader.is_some() {
        theme.fg(theme.good)
    } else {
        theme.fg(theme.bad)
    };
    let full = format!("{leader}{wl} ");
    let short = format!("{leader} ");
    draw_tab_bar(f, area, &TABS, lab.tab, [&full, &short], style, theme, hits);
}

fn draw_overview(
    f: &mut Frame,
    area: Rect,
    lab: &mut RaftView,
    theme: &Theme,
    hide: bool,
    hits: &mut Hits,
) {
    let n = lab.model.nodes.len().max(3) as u16;
    let big = area.height >= 36;
    // Short terminals (a tour caption at 80×24) drop the charts first, then the scope: the
    // node table and the command log and timeline always stay.
    let table_h = n + 3;
    let scope_h = n + 2;
    let charts_h = if big { n + 4 } else { n + 2 };
    let need = table_h + scope_h + charts_h + 5;
    let show_charts = area.height >= need;
    let show_scope = area.height >= table_h + scope_h + 5;
    let mut cons = vec![Constraint::Length(table_h)];
    if show_scope {
        cons.push(Constraint::Length(scope_h));
    }
    if show_charts {
        cons.push(Constraint::Length(charts_h));
    }
    cons.push(Constraint::Min(3));
    if big {
        cons.push(Constraint::Length(area.height / 4));
    }
    let parts = Layout::vertical(cons).split(area);
    let mut i = 0;
    draw_table(f, parts[i], lab, theme, hide, hits);
    i += 1;
    if show_scope {
        scope::draw_scope(f, parts[i], &lab.model, theme, false);
        i += 1;
    }
    if show_charts {
        scope::draw_charts(f, parts[i], &lab.model, theme);
        i += 1;
    }
    let [cl, tl] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
        .areas(parts[i]);
    draw_commands(f, cl, lab, theme, hide);
    draw_timeline(f, tl, &lab.model, 0, true, theme, hide);
    if big {
        draw_logs(f, parts[i + 1], lab, theme, hide, hits);
    }
}

/// How far apart in time the running nodes' state samples are (ms), when two or more are.
fn sample_spread_ms(nodes: &[NodeInfo]) -> Option<u64> {
    let at: Vec<u64> = nodes
        .iter()
        .filter(|n| n.status == NodeStatus::Running)
        .filter_map(|n| {
            n.state
                .get(crate::cluster::supervisor::SAMPLED_AT_MS)
                .and_then(Value::as_u64)
        })
        .collect();
    let (lo, hi) = (at.iter().min()?, at.iter().max()?);
    (at.len() >= 2).then_some(hi - lo)
}

fn draw_table(
    f: &mut Frame,
    area: Rect,
    lab: &RaftView,
    theme: &Theme,
    hide: bool,
    hits: &mut Hits,
) {
    let header = Row::new([
        "ID", "PID", "ROLE", "TERM", "COMMIT", "APPLIED", "LAST", "RSS", "CPU", "STATE", "UP",
    ])
    .style(theme.title());
    let leader = lab.model.leader.map(|(id, _)| id);
    let rows: Vec<Row> = lab
        .model
        .nodes
        .iter()
        .map(|n| {
            let role = n.state.get("role").and_then(Value::as_str).unwrap_or("-");
            let role = if !n.status.is_alive() { "-" } else { role };
            let state = RaftModel::state_word(n, lab.model.nodes.len());
            let state_style = match state {
                "running" => theme.fg(theme.good),
                "paused" | "partitioned" => theme.fg(theme.warn),
                _ => theme.fg(theme.bad),
            };
            let [pid, rss, cpu, up] = process_cells(n, hide);
            let mut row = Row::new(vec![
                Cell::from(format!(
                    "{}{}",
                    if n.id == lab.selected { "▶" } else { " " },
                    n.id
                )),
                Cell::from(pid),
                Cell::from(role.to_string()),
                Cell::from(show(st(n, "term"))),
                Cell::from(show(st(n, "commit"))),
                Cell::from(show(st(n, "applied"))),
                Cell::from(show(st(n, "last_index"))),
                Cell::from(rss),
                Cell::from(cpu),
                Cell::from(Span::styled(state, state_style)),
                Cell::from(up),
            ]);
            if Some(n.id) == leader {
                row = row.style(theme.fg(theme.leader).add_modifier(Modifier::BOLD));
            }
            if n.id == lab.selected {
                row = row.style(theme.selected());
            }
            row
        })
        .collect();
    let widths = [
        Constraint::Length(3),
        Constraint::Length(7),
        Constraint::Length(9),
        Constraint::Length(4),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Length(11),
        Constraint::Min(4),
    ];
    let spread = sample_spread_ms(&lab.model.nodes);
    let title = match spread {
        Some(ms) if !hide => format!(
            " raft · {} nodes · rows sampled within {ms} ms · ↑↓/1-9 select ",
            lab.model.nodes.len()
        ),
        _ => format!(
            " raft · {} nodes · ↑↓/1-9 select, click a row ",
            lab.model.nodes.len()
        ),
    };
    f.render_widget(
        Table::new(rows, widths)
            .header(header)
            .column_spacing(1)
            .block(Block::bordered().title(title)),
        area,
    );
    row_hits(hits, area, lab.model.nodes.iter().map(|n| n.id));
}

fn draw_timeline(
    f: &mut Frame,
    area: Rect,
    model: &RaftModel,
    scroll: usize,
    compact: bool,
    theme: &Theme,
    hide: bool,
) {
    // The overview's small pane leaves snapshots to the Timeline tab: under a workload they
    // come every few seconds and would push the elections and faults out of view.
    let snapshots = model
        .timeline
        .iter()
        .filter(|e| e.kind == TimelineKind::Snapshot)
        .count();
    let title = if compact && snapshots > 0 {
        format!(" timeline · {snapshots} snapshots on the Timeline tab ")
    } else {
        " timeline ".to_string()
    };
    let end = model.timeline.len().saturating_sub(scroll);
    let entries = model
        .timeline
        .range(..end)
        .filter(|e| !(compact && e.kind == TimelineKind::Snapshot))
        .map(|e| {
            let style = match e.kind {
                TimelineKind::Election => theme.fg(theme.good),
                TimelineKind::NoLeader | TimelineKind::Fault => theme.fg(theme.bad),
                TimelineKind::Repair => theme.fg(theme.accent),
                TimelineKind::Snapshot => theme.muted(),
                TimelineKind::Info => Style::default(),
            };
            (e.at_ms, style, e.text.as_str())
        });
    draw_event_list(f, area, &title, entries, theme, hide);
}

fn draw_commands(f: &mut Frame, area: Rect, lab: &RaftView, theme: &Theme, hide: bool) {
    draw_command_log(f, area, &lab.commands, lab.scroll, theme, hide);
}

/// The merged pane, or one pane per node (stacked) when `m` turned the merge off.
fn draw_logs(
    f: &mut Frame,
    area: Rect,
    lab: &mut RaftView,
    theme: &Theme,
    hide: bool,
    hits: &mut Hits,
) {
    let ids: Vec<u64> = lab.model.nodes.iter().map(|n| n.id).collect();
    draw_log_panes(
        f,
        area,
        &mut lab.logs,
        lab.model.logs.lines(),
        &ids,
        lab.selected,
        theme,
        hide,
        hits,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::supervisor::SAMPLED_AT_MS;

    fn node(id: u64, status: NodeStatus, at: Option<u64>) -> NodeInfo {
        let mut state = serde_json::Map::new();
        if let Some(at) = at {
            state.insert(SAMPLED_AT_MS.into(), serde_json::json!(at));
        }
        NodeInfo {
            id,
            role: "raft".into(),
            pid: None,
            status,
            addr: String::new(),
            http: None,
            data_dir: Default::default(),
            uptime_ms: 0,
            rss_bytes: 0,
            cpu_percent: 0.0,
            incarnation: 0,
            faults: Default::default(),
            ready: true,
            state,
        }
    }

    #[test]
    fn the_spread_is_over_running_nodes_with_samples() {
        let run = NodeStatus::Running;
        assert_eq!(sample_spread_ms(&[node(1, run, Some(1000))]), None);
        assert_eq!(
            sample_spread_ms(&[
                node(1, run, Some(1000)),
                node(2, run, Some(1003)),
                node(3, NodeStatus::Paused, Some(10)),
                node(4, run, None),
            ]),
            Some(3)
        );
    }
}
