//! Drawing the app: the shown screen, the tour caption, the bar line, the hint bar, the help
//! overlay and popups.

use super::*;

impl App {
    /// Draws everything.
    pub fn draw(&mut self, f: &mut Frame) {
        let area = f.area();
        self.hits.clear();
        let caption_h = self
            .tour
            .as_ref()
            .map_or(0, |t| t.height(area.width, area.height));
        let [main, caption, bar, hints] = Layout::vertical([
            Constraint::Min(0),
            Constraint::Length(caption_h),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(area);
        let theme = self.theme.clone();
        match self.screen() {
            Screen::Home => explorer::draw_home(
                f,
                main,
                &self.portfolio,
                self.home_tab,
                self.home_sel,
                &theme,
                &mut self.hits,
            ),
            Screen::Project(i) => {
                if let Some(pj) = self.portfolio.projects.get(i) {
                    let running = pj
                        .lab
                        .as_deref()
                        .and_then(|l| self.board(l))
                        .is_some_and(|d| d.attached());
                    explorer::draw_project(
                        f,
                        main,
                        pj,
                        self.scroll,
                        &self.measured,
                        &self.verifying,
                        running,
                        &theme,
                    );
                }
            }
            Screen::Dashboard(lab) => {
                let hide = self.hide;
                let mut hits = std::mem::take(&mut self.hits);
                if let Some(d) = self.board_mut(lab) {
                    d.draw(f, main, &theme, hide, &mut hits);
                }
                self.hits = hits;
            }
        }
        if let Some(t) = &self.tour {
            t.draw(f, caption, &theme);
        }
        let bar_line = if let Some(text) = &self.bar {
            Line::from(vec![
                Span::styled(":", theme.title()),
                Span::raw(format!("{text}▏")),
            ])
        } else if self.log_pane().editing {
            let query = self.log_pane().query.clone();
            Line::from(vec![
                Span::styled("/", theme.title()),
                Span::raw(format!("{query}▏")),
            ])
        } else if let Some(msg) = &self.flash {
            Line::styled(msg.clone(), theme.fg(theme.warn))
        } else if !self.verifying.is_empty() {
            Line::styled(
                format!(
                    "verifying {} claim(s) in the background…",
                    self.verifying.len()
                ),
                theme.fg(theme.warn),
            )
        } else {
            Line::styled(self.breadcrumb(), theme.muted())
        };
        f.render_widget(Paragraph::new(bar_line), bar);
        let cmds = self.commands();
        f.render_widget(
            Paragraph::new(keys::hint_line(&cmds, &theme, hints.width)),
            hints,
        );
        if let Some(p) = &self.popup {
            draw_popup(f, main, p);
        }
        if self.help {
            keys::draw_help(f, area, &self.breadcrumb(), &cmds, &theme);
        }
    }

    fn breadcrumb(&self) -> String {
        let mut parts = vec!["wirelab".to_string()];
        for s in &self.screens {
            parts.push(match s {
                Screen::Home => "home".into(),
                Screen::Project(i) => self
                    .portfolio
                    .projects
                    .get(*i)
                    .map_or("?".into(), |p| p.name.clone()),
                Screen::Dashboard(lab) => format!("{lab} lab"),
            });
        }
        parts.join(" › ")
    }
}

fn draw_popup(f: &mut Frame, area: Rect, p: &Popup) {
    let rect = Rect {
        x: area.x + 2,
        y: area.y + 1,
        width: area.width.saturating_sub(4),
        height: area.height.saturating_sub(2),
    };
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(p.text.clone())
            .wrap(Wrap { trim: false })
            .scroll((p.scroll, 0))
            .block(Block::bordered().title(format!(" {} ", p.title))),
        rect,
    );
}
