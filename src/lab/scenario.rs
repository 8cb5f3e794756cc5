//! The scenario scripts: `labs/NAME/*.sh`, in the shell's dialect, embedded by `build.rs` (a
//! new script is a new file; nothing lists them by hand). The first comment line of a script
//! says what it shows.

include!(concat!(env!("OUT_DIR"), "/scenarios.rs"));

/// One scenario script of a lab.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// The lab (`raft`, `p2p`).
    pub lab: &'static str,
    /// The script's name (`failover`).
    pub name: &'static str,
    /// Its text, in the shell's dialect.
    pub script: &'static str,
}

impl Scenario {
    /// `lab/name`, as `scenario run` takes it.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.lab, self.name)
    }

    /// The first comment line: what it shows.
    pub fn summary(&self) -> &'static str {
        summary(self.script)
    }
}

/// The first comment line of a script: what it shows.
pub fn summary(script: &str) -> &str {
    script
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("# "))
        .unwrap_or("")
}

/// Every scenario script, by lab then name.
pub fn all() -> Vec<Scenario> {
    SCENARIOS
        .iter()
        .map(|&(lab, name, script)| Scenario { lab, name, script })
        .collect()
}

/// The scenario scripts of `lab`.
pub fn of(lab: &str) -> Vec<Scenario> {
    all().into_iter().filter(|s| s.lab == lab).collect()
}

/// The scenario called `name`: `lab/name`, or a bare name when only one lab has it.
pub fn find(name: &str) -> Option<Scenario> {
    let all = all();
    if let Some(s) = all.iter().find(|s| s.full_name() == name) {
        return Some(*s);
    }
    let mut bare = all.iter().filter(|s| s.name == name);
    match (bare.next(), bare.next()) {
        (Some(s), None) => Some(*s),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_script_in_labs_is_embedded_with_a_summary() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("labs");
        let mut on_disk = Vec::new();
        for lab in std::fs::read_dir(&dir).unwrap().flatten() {
            for f in std::fs::read_dir(lab.path()).unwrap().flatten() {
                let p = f.path();
                if p.extension().and_then(|e| e.to_str()) == Some("sh") {
                    let lab = lab.file_name().to_string_lossy().to_string();
                    let name = p.file_stem().unwrap().to_string_lossy().to_string();
                    on_disk.push(format!("{lab}/{name}"));
                }
            }
        }
        on_disk.sort();
        let embedded: Vec<String> = all().iter().map(Scenario::full_name).collect();
        assert_eq!(embedded, on_disk);
        for s in all() {
            assert!(
                !s.summary().is_empty(),
                "{} has no summary line",
                s.full_name()
            );
        }
    }
}
