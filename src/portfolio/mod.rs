//! The portfolio the explorer shows: `assets/portfolio.toml`, embedded in the binary.
//!
//! - this file: the serde model ([`Portfolio`]) and [`Portfolio::builtin`].
//! - [`measured`]: claims vs measured: a claim's `verify` command, the figure it measured on
//!   this machine and when, kept in the state dir.

pub mod measured;

use serde::Deserialize;

/// The embedded portfolio text.
pub const PORTFOLIO_TOML: &str = include_str!("../../assets/portfolio.toml");

/// The sections projects are grouped in, in display order, with their titles.
pub const SECTIONS: [(&str, &str); 3] = [
    ("backend", "Backend"),
    ("systems", "Systems"),
    ("security", "Security"),
];

/// The whole portfolio.
#[derive(Clone, Debug, Deserialize)]
pub struct Portfolio {
    /// Who.
    pub profile: Profile,
    /// The projects, in file order.
    pub projects: Vec<Project>,
    /// Work experience.
    #[serde(default)]
    pub experience: Vec<Experience>,
    /// Engineering focus.
    pub focus: Focus,
    /// Interests.
    pub interests: Interests,
}

/// Name, headline and badges.
#[derive(Clone, Debug, Deserialize)]
pub struct Profile {
    /// Full name.
    pub name: String,
    /// Job title.
    pub title: String,
    /// City, country.
    pub location: String,
    /// One sentence.
    pub headline: String,
    /// A paragraph.
    pub summary: String,
    /// Headline figures.
    #[serde(default)]
    pub badges: Vec<Badge>,
}

/// A headline figure shown as a badge.
#[derive(Clone, Debug, Deserialize)]
pub struct Badge {
    /// The figure (`~10k req/s`).
    pub figure: String,
    /// What it measures.
    pub label: String,
    /// The project id it belongs to.
    pub project: String,
}

/// One project.
#[derive(Clone, Debug, Deserialize)]
pub struct Project {
    /// Stable id (`raft-kv`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// `backend`, `systems` or `security`.
    pub section: String,
    /// One line.
    pub tagline: String,
    /// Main language.
    pub language: String,
    /// Year.
    pub year: u32,
    /// Technologies.
    #[serde(default)]
    pub stack: Vec<String>,
    /// The wirelab lab that runs it, when one exists.
    #[serde(default)]
    pub lab: Option<String>,
    /// A command that runs it from a terminal when it has no dashboard lab (yet).
    #[serde(default)]
    pub try_it: Option<String>,
    /// Headline claims.
    #[serde(default)]
    pub claims: Vec<Claim>,
    /// What wirelab runs for it: its own Rust implementation of the design, and where that
    /// differs from the portfolio's original (shown above the original's description).
    #[serde(default)]
    pub here: Option<String>,
    /// What it is.
    pub about: String,
    /// How it works.
    pub how: String,
}

/// A headline claim, optionally re-measurable.
#[derive(Clone, Debug, Deserialize)]
pub struct Claim {
    /// The claim.
    pub text: String,
    /// The shell command that measures it (its last output line is JSON).
    #[serde(default)]
    pub verify: Option<String>,
    /// The fields of that JSON that are the figure, separated by spaces.
    #[serde(default)]
    pub metric: Option<String>,
}

/// A position held.
#[derive(Clone, Debug, Deserialize)]
pub struct Experience {
    /// Role.
    pub role: String,
    /// Organisation.
    pub org: String,
    /// Where.
    pub place: String,
    /// When.
    pub period: String,
    /// Technologies.
    #[serde(default)]
    pub stack: Vec<String>,
    /// What was done.
    #[serde(default)]
    pub points: Vec<String>,
}

/// Engineering focus.
#[derive(Clone, Debug, Deserialize)]
pub struct Focus {
    /// Opening sentence.
    pub intro: String,
    /// Areas.
    pub areas: Vec<String>,
}

/// Interests outside work.
#[derive(Clone, Debug, Deserialize)]
pub struct Interests {
    /// Opening sentence.
    pub intro: String,
    /// Named areas.
    pub areas: Vec<Interest>,
}

/// One interest.
#[derive(Clone, Debug, Deserialize)]
pub struct Interest {
    /// Name.
    pub name: String,
    /// A sentence.
    pub text: String,
}

impl Portfolio {
    /// Parses a portfolio.
    pub fn parse(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    /// The embedded portfolio.
    pub fn builtin() -> Result<Self, toml::de::Error> {
        Self::parse(PORTFOLIO_TOML)
    }

    /// Project indexes grouped by section, in display order (unknown sections last).
    pub fn by_section(&self) -> Vec<(String, Vec<usize>)> {
        let mut out: Vec<(String, Vec<usize>)> = SECTIONS
            .iter()
            .map(|(id, title)| {
                let idx = (0..self.projects.len())
                    .filter(|&i| self.projects[i].section == *id)
                    .collect();
                (title.to_string(), idx)
            })
            .collect();
        let other: Vec<usize> = (0..self.projects.len())
            .filter(|&i| {
                !SECTIONS
                    .iter()
                    .any(|(id, _)| self.projects[i].section == *id)
            })
            .collect();
        if !other.is_empty() {
            out.push(("Other".into(), other));
        }
        out.retain(|(_, v)| !v.is_empty());
        out
    }

    /// Project indexes in display order.
    pub fn display_order(&self) -> Vec<usize> {
        self.by_section().into_iter().flat_map(|(_, v)| v).collect()
    }

    /// The project with this id.
    pub fn project(&self, id: &str) -> Option<&Project> {
        self.projects.iter().find(|p| p.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_portfolio_parses() {
        let p = Portfolio::builtin().expect("assets/portfolio.toml parses");
        assert!(!p.profile.name.is_empty());
        assert!(p.projects.len() >= 8);
        for b in &p.profile.badges {
            assert!(p.project(&b.project).is_some(), "badge names {}", b.project);
        }
    }

    #[test]
    fn every_project_is_shown_in_a_section() {
        let p = Portfolio::builtin().expect("parses");
        let mut shown = p.display_order();
        shown.sort_unstable();
        assert_eq!(shown, (0..p.projects.len()).collect::<Vec<_>>());
    }
}
