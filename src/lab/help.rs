//! The shell's `help`: what this shell can do, in one screen. Every lab with its verbs (from the
//! same clap tree as the CLI, so it cannot drift), the lab-wide builtins, and the shell's own
//! builtins; `help NAME` is `NAME --help` for a lab, and a line for a builtin.

use std::io::Write;

use super::{Lab, lab_command};

/// The lab-wide builtins beside the labs, with what they do.
const LAB_WIDE: &[(&str, &str)] = &[
    ("labs", "every lab that is up, with its leader and nodes"),
    (
        "logs [-f] [-n N] NODE",
        "a node's log lines (raft-2, or 2 for this shell's lab)",
    ),
    (
        "scenario [LAB/NAME]",
        "list the scenario scripts, or run one",
    ),
    ("help [NAME]", "this text, or a lab's verbs in full"),
];

/// A lab's visible verbs, in its `--help` order.
pub fn verbs(lab: &'static dyn Lab) -> Vec<String> {
    lab_command(lab)
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .map(|c| c.get_name().to_string())
        .filter(|n| n != "help")
        .collect()
}

/// Words of `items` joined by spaces and wrapped at `width` columns after `indent`.
fn wrapped(items: &[String], indent: usize, width: usize) -> String {
    let mut out = String::new();
    let mut col = indent;
    for (i, w) in items.iter().enumerate() {
        if i > 0 && col + 1 + w.len() > width {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            col = indent;
        } else if i > 0 {
            out.push(' ');
            col += 1;
        }
        out.push_str(w);
        col += w.len();
    }
    out
}

/// `help` without arguments.
pub fn overview(
    labs: &[&'static dyn Lab],
    builtins: &[String],
    out: &mut dyn Write,
) -> std::io::Result<()> {
    writeln!(
        out,
        "wirelab shell: a POSIX shell with job control, and every lab as a command.\n"
    )?;
    writeln!(
        out,
        "Labs (`help LAB` or `LAB VERB --help` for the details):"
    )?;
    for lab in labs {
        writeln!(out, "  {:<8} {}", lab.name(), lab.about())?;
        writeln!(out, "           {}", wrapped(&verbs(*lab), 11, 78))?;
    }
    writeln!(out, "\nAcross labs:")?;
    for (name, what) in LAB_WIDE {
        writeln!(out, "  {name:<24} {what}")?;
    }
    let lab_names: Vec<&str> = labs.iter().map(|l| l.name()).collect();
    let core: Vec<String> = builtins
        .iter()
        .filter(|n| {
            !lab_names.contains(&n.as_str())
                && !LAB_WIDE
                    .iter()
                    .any(|(w, _)| w.split_whitespace().next() == Some(n.as_str()))
        })
        .cloned()
        .collect();
    writeln!(out, "\nShell builtins:")?;
    writeln!(out, "  {}", wrapped(&core, 2, 78))?;
    writeln!(
        out,
        "\nAnything else runs from $PATH. Ctrl-Z stops a job (`jobs`, `fg`, `bg`); Ctrl-D leaves."
    )
}

/// `help NAME`: a lab's full help, or a line on a builtin. Exit status 1 for an unknown name.
pub fn topic(
    labs: &[&'static dyn Lab],
    builtins: &[String],
    name: &str,
    out: &mut dyn Write,
) -> std::io::Result<i32> {
    if let Some(lab) = labs.iter().find(|l| l.name().eq_ignore_ascii_case(name)) {
        let mut cmd = lab_command(*lab);
        write!(out, "{}", cmd.render_long_help())?;
        return Ok(0);
    }
    if let Some((usage, what)) = LAB_WIDE
        .iter()
        .find(|(w, _)| w.split_whitespace().next() == Some(name))
    {
        writeln!(out, "{usage}: {what}")?;
        return Ok(0);
    }
    if builtins.iter().any(|b| b == name) {
        writeln!(
            out,
            "{name}: a shell builtin, as POSIX describes it (see `man sh` or `man {name}`)"
        )?;
        return Ok(0);
    }
    writeln!(out, "help: no lab or builtin named {name}")?;
    Ok(1)
}
