//! The module graph stays one-way: no import cycle between the crate's top-level modules, no
//! system reaches up into the TUI, the top-level CLI, the registry or the lab host, and the
//! generic layers name no system. Read from the sources (`crate::NAME` paths outside comments).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src").flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`src/raft/node/mod.rs` → `raft`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main" | "bin")).then(|| name.to_string())
}

/// Each top-level module and the top-level modules its code (not its comments) names.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let path = regex::Regex::new(r"crate::([a-z_0-9]+)").expect("regex");
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let Some(m) = module_of(&src, &f) else {
            continue;
        };
        let text = std::fs::read_to_string(&f).expect("read");
        let deps = g.entry(m.clone()).or_default();
        for line in text.lines() {
            let code = line.split("//").next().unwrap_or("");
            for c in path.captures_iter(code) {
                if c[1] != *m {
                    deps.insert(c[1].to_string());
                }
            }
        }
    }
    g
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let g = graph();
    // Depth-first search for a back edge.
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if done.contains(n) {
            return;
        }
        if let Some(i) = stack.iter().position(|s| s == n) {
            panic!("import cycle: {} -> {n}", stack[i..].join(" -> "));
        }
        stack.push(n.to_string());
        for d in g.get(n).into_iter().flatten() {
            visit(d, g, stack, done);
        }
        stack.pop();
        done.insert(n.to_string());
    }
    let mut done = BTreeSet::new();
    for n in g.keys() {
        visit(n, &g, &mut Vec::new(), &mut done);
    }
}

#[test]
fn systems_never_import_the_tui_the_cli_the_registry_or_the_lab_host() {
    let g = graph();
    for system in wirelab::registry::all_with_test_labs()
        .iter()
        .map(|l| l.name())
        .filter(|n| g.contains_key(*n))
    {
        for up in ["tui", "cli", "registry", "check_cli"] {
            assert!(
                !g[system].contains(up),
                "{system} imports crate::{up}: {:?}",
                g[system]
            );
        }
    }
    // The lab host lives in `lab`; systems may use the contract, never `LabHost`.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for lab in wirelab::registry::all_with_test_labs() {
        let dir = src.join(lab.name());
        let mut files = Vec::new();
        if dir.is_dir() {
            rust_files(&dir, &mut files);
        }
        for f in files {
            let text = std::fs::read_to_string(&f).expect("read");
            assert!(!text.contains("LabHost"), "{} uses LabHost", f.display());
        }
    }
}

#[test]
fn the_generic_layers_name_no_system() {
    let g = graph();
    let systems: Vec<&str> = wirelab::registry::all_with_test_labs()
        .iter()
        .map(|l| l.name())
        .collect();
    for layer in ["lab", "cluster", "wire", "check", "shell"] {
        for s in &systems {
            assert!(
                !g.get(layer).is_some_and(|d| d.contains(*s)),
                "crate::{layer} imports crate::{s}"
            );
        }
    }
}
