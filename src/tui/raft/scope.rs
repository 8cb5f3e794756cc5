//! The RaftScope-like view (each node's log tail coloured by term, the commit index marked,
//! election timers) and the charts (workload throughput and latency, commit index per node).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Sparkline};
use serde_json::Value;

use super::model::RaftModel;
use crate::cluster::NodeInfo;
use crate::tui::theme::Theme;

fn st(n: &NodeInfo, k: &str) -> Option<u64> {
    n.state.get(k).and_then(Value::as_u64)
}

/// RaftScope-like: each node's log tail as cells coloured by term, the commit index marked,
/// and the election timer of every follower as a bar.
pub fn draw_scope(f: &mut Frame, area: Rect, model: &RaftModel, theme: &Theme, wide: bool) {
    let block =
        Block::bordered().title(" log tail by term (■ committed, □ not yet) · election timers ");
    let inner = block.inner(area);
    f.render_widget(block, area);
    let mut lines = Vec::new();
    let timer_w: usize = if wide { 20 } else { 10 };
    let cells_w = (inner.width as usize).saturating_sub(18 + timer_w + 2) / 2;
    for n in &model.nodes {
        let term = st(n, "term").unwrap_or(0);
        let commit = st(n, "commit").unwrap_or(0);
        let role = if n.status.is_alive() {
            n.state.get("role").and_then(Value::as_str).unwrap_or("-")
        } else {
            "-"
        };
        let tag = match role {
            "-" => "-",
            "leader" => "L",
            "candidate" | "pre_candidate" => "C",
            _ => "F",
        };
        let mut spans = vec![Span::styled(
            format!("n{} {tag} t{:<4} ", n.id, term),
            if role == "leader" {
                theme.fg(theme.leader).add_modifier(Modifier::BOLD)
            } else {
                Style::default()
            },
        )];
        let (first, terms) = match n.state.get("log_tail") {
            Some(t) => (
                t.get("first").and_then(Value::as_u64).unwrap_or(0),
                t.get("terms")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_u64).collect::<Vec<_>>())
                    .unwrap_or_default(),
            ),
            None => (0, Vec::new()),
        };
        let skip = terms.len().saturating_sub(cells_w);
        if !n.status.is_alive() {
            spans.push(Span::styled(
                format!("{:<w$}", "(down)", w = cells_w * 2),
                theme.fg(theme.bad),
            ));
        } else {
            for (i, t) in terms.iter().enumerate().skip(skip) {
                let idx = first + i as u64;
                let sym = if idx <= commit { "■ " } else { "□ " };
                spans.push(Span::styled(sym, theme.term(*t)));
            }
            let used = terms.len() - skip;
            spans.push(Span::raw(" ".repeat((cells_w - used.min(cells_w)) * 2)));
        }
        spans.push(Span::styled(format!("{:>7} ", commit), theme.muted()));
        if n.status.is_alive() && role != "leader" {
            let el = st(n, "election_elapsed").unwrap_or(0);
            let to = st(n, "election_timeout").unwrap_or(1).max(1);
            let fill = ((el.min(to) * timer_w as u64) / to) as usize;
            let style = if fill * 4 >= timer_w * 3 {
                theme.fg(theme.warn)
            } else {
                theme.fg(theme.good)
            };
            spans.push(Span::styled("▰".repeat(fill), style));
            spans.push(Span::styled("▱".repeat(timer_w - fill), theme.muted()));
        }
        lines.push(Line::from(spans));
    }
    if lines.is_empty() {
        lines.push(Line::styled("waiting for the cluster…", theme.muted()));
    }
    f.render_widget(Paragraph::new(lines), inner);
}

/// Workload throughput and p99 sparklines; commit index per node.
pub fn draw_charts(f: &mut Frame, area: Rect, model: &RaftModel, theme: &Theme) {
    let [l, r] =
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(area);
    let load = &model.load;
    let last = load.seconds.last().cloned().unwrap_or_default();
    let title = if load.running || !load.seconds.is_empty() {
        format!(
            " writes/s {} · p50 {:.1} ms · p99 {:.1} ms{} ",
            last.writes,
            last.p50_ms,
            last.p99_ms,
            if load.running { "" } else { " (stopped)" }
        )
    } else {
        " workload: off (w starts it) ".to_string()
    };
    let block = Block::bordered().title(title);
    let inner = block.inner(l);
    f.render_widget(block, l);
    let w = inner.width as usize;
    let tail = |v: Vec<u64>| -> Vec<u64> { v[v.len().saturating_sub(w)..].to_vec() };
    let writes = tail(load.seconds.iter().map(|s| s.writes).collect());
    let p99 = tail(
        load.seconds
            .iter()
            .map(|s| (s.p99_ms * 10.0) as u64)
            .collect(),
    );
    // A label column, then the sparkline (so the two series cannot be confused).
    let [labels, charts] =
        Layout::horizontal([Constraint::Length(9), Constraint::Min(0)]).areas(inner);
    // One bar per second, the newest at the right: the axis under the charts says so.
    let charts = crate::tui::dash::widgets::with_time_axis(f, charts, writes.len(), 1, theme);
    let labels = Rect {
        height: charts.height,
        ..labels
    };
    let w = charts.width as usize;
    let writes = writes[writes.len().saturating_sub(w)..].to_vec();
    let p99 = p99[p99.len().saturating_sub(w)..].to_vec();
    if inner.height >= 4 {
        let [a, b] = Layout::vertical([Constraint::Percentage(60), Constraint::Percentage(40)])
            .areas(charts);
        let [la, lb] = Layout::vertical([Constraint::Percentage(60), Constraint::Percentage(40)])
            .areas(labels);
        f.render_widget(
            Paragraph::new(Span::styled("writes/s", theme.fg(theme.good))),
            la,
        );
        f.render_widget(
            Paragraph::new(Span::styled("p99 ms", theme.fg(theme.warn))),
            lb,
        );
        f.render_widget(
            Sparkline::default()
                .data(writes)
                .style(theme.fg(theme.good)),
            a,
        );
        f.render_widget(
            Sparkline::default().data(p99).style(theme.fg(theme.warn)),
            b,
        );
    } else {
        f.render_widget(
            Paragraph::new(Span::styled("writes/s", theme.fg(theme.good))),
            labels,
        );
        f.render_widget(
            Sparkline::default()
                .data(writes)
                .style(theme.fg(theme.good)),
            charts,
        );
    }
    let block = Block::bordered().title(" commit index ");
    let inner = block.inner(r);
    f.render_widget(block, r);
    let max = model
        .nodes
        .iter()
        .filter_map(|n| st(n, "commit"))
        .max()
        .unwrap_or(0);
    let bar_w = (inner.width as usize).saturating_sub(14);
    let lines: Vec<Line> = model
        .nodes
        .iter()
        .map(|n| {
            let c = st(n, "commit").unwrap_or(0);
            let fill = if max == 0 {
                0
            } else {
                (c as usize * bar_w) / max as usize
            };
            Line::from(vec![
                Span::raw(format!("n{} {:>8} ", n.id, c)),
                Span::styled("█".repeat(fill.min(bar_w)), theme.term(n.id)),
            ])
        })
        .collect();
    f.render_widget(Paragraph::new(lines), inner);
}
