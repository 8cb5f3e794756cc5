//! Turns syntax back into text: the command shown by `jobs` and in job reports.

use super::ast::*;

fn part_text(p: &WordPart, out: &mut String) {
    match p {
        WordPart::Literal(s) => out.push_str(s),
        WordPart::Quoted(s) => {
            out.push('\'');
            out.push_str(&s.replace('\'', "'\\''"));
            out.push('\'');
        }
        WordPart::DoubleQuoted(ps) => {
            out.push('"');
            for p in ps {
                part_text(p, out);
            }
            out.push('"');
        }
        WordPart::Param(pe) => {
            out.push_str("${");
            if pe.op == ParamOp::Length {
                out.push('#');
            }
            out.push_str(&pe.name);
            let (op, w) = match &pe.op {
                ParamOp::Plain | ParamOp::Length => ("", None),
                ParamOp::Default(c, w) => (if *c { ":-" } else { "-" }, Some(w)),
                ParamOp::Assign(c, w) => (if *c { ":=" } else { "=" }, Some(w)),
                ParamOp::Error(c, w) => (if *c { ":?" } else { "?" }, Some(w)),
                ParamOp::Alternative(c, w) => (if *c { ":+" } else { "+" }, Some(w)),
                ParamOp::RemoveSuffix(l, w) => (if *l { "%%" } else { "%" }, Some(w)),
                ParamOp::RemovePrefix(l, w) => (if *l { "##" } else { "#" }, Some(w)),
            };
            out.push_str(op);
            if let Some(w) = w {
                out.push_str(&word_text(w));
            }
            out.push('}');
        }
        WordPart::Command(p) => {
            out.push_str("$(");
            out.push_str(&program_text(p));
            out.push(')');
        }
        WordPart::Arith(ps) => {
            out.push_str("$((");
            for p in ps {
                part_text(p, out);
            }
            out.push_str("))");
        }
    }
}

/// A word as source text.
pub fn word_text(w: &Word) -> String {
    let mut s = String::new();
    for p in &w.parts {
        part_text(p, &mut s);
    }
    s
}

fn redir_text(r: &Redirect) -> String {
    let op = match r.op {
        RedirOp::In => "<",
        RedirOp::Out => ">",
        RedirOp::Clobber => ">|",
        RedirOp::Append => ">>",
        RedirOp::ReadWrite => "<>",
        RedirOp::DupIn => "<&",
        RedirOp::DupOut => ">&",
        RedirOp::HereDoc => "<<",
    };
    let fd = r.fd.map(|f| f.to_string()).unwrap_or_default();
    let t = match &r.target {
        RedirTarget::Word(w) => word_text(w),
        RedirTarget::HereDoc(d) => d.borrow().delimiter.clone(),
    };
    format!("{fd}{op}{t}")
}

/// A simple command as text.
pub fn simple_text(sc: &SimpleCommand) -> String {
    let mut parts: Vec<String> = sc
        .assigns
        .iter()
        .map(|a| format!("{}={}", a.name, word_text(&a.value)))
        .collect();
    parts.extend(sc.words.iter().map(word_text));
    parts.extend(sc.redirects.iter().map(redir_text));
    parts.join(" ")
}

fn command_text(c: &Command) -> String {
    match c {
        Command::Simple(sc) => simple_text(sc),
        Command::FunctionDef(f) => format!("{}() {}", f.name, command_text(&f.body)),
        Command::Compound(cc, redirs) => {
            let mut s = match cc.as_ref() {
                CompoundCommand::Brace(p) => format!("{{ {}; }}", program_text(p)),
                CompoundCommand::Subshell(p) => format!("({})", program_text(p)),
                CompoundCommand::For { var, words, body } => {
                    let ws = words
                        .as_ref()
                        .map(|ws| {
                            let v: Vec<String> = ws.iter().map(word_text).collect();
                            format!(" in {}", v.join(" "))
                        })
                        .unwrap_or_default();
                    format!("for {var}{ws}; do {}; done", program_text(body))
                }
                CompoundCommand::Case { word, arms } => {
                    let mut s = format!("case {} in", word_text(word));
                    for a in arms {
                        let pats: Vec<String> = a.patterns.iter().map(word_text).collect();
                        s.push_str(&format!(" {}) {};;", pats.join("|"), program_text(&a.body)));
                    }
                    s.push_str(" esac");
                    s
                }
                CompoundCommand::If {
                    branches,
                    otherwise,
                } => {
                    let mut s = String::new();
                    for (i, (c, b)) in branches.iter().enumerate() {
                        let kw = if i == 0 { "if" } else { "elif" };
                        s.push_str(&format!(
                            "{kw} {}; then {}; ",
                            program_text(c),
                            program_text(b)
                        ));
                    }
                    if let Some(o) = otherwise {
                        s.push_str(&format!("else {}; ", program_text(o)));
                    }
                    s.push_str("fi");
                    s
                }
                CompoundCommand::Loop { until, cond, body } => format!(
                    "{} {}; do {}; done",
                    if *until { "until" } else { "while" },
                    program_text(cond),
                    program_text(body)
                ),
            };
            for r in redirs {
                s.push(' ');
                s.push_str(&redir_text(r));
            }
            s
        }
    }
}

/// A pipeline as text.
pub fn pipeline_text(p: &Pipeline) -> String {
    let cmds: Vec<String> = p.commands.iter().map(command_text).collect();
    let s = cmds.join(" | ");
    let s = if p.bang { format!("! {s}") } else { s };
    match p.time {
        Some(true) => format!("time -p {s}"),
        Some(false) => format!("time {s}"),
        None => s,
    }
}

/// An and-or list as text.
pub fn and_or_text(ao: &AndOr) -> String {
    let mut s = pipeline_text(&ao.first);
    for (op, p) in &ao.rest {
        s.push_str(if *op == AndOrOp::And { " && " } else { " || " });
        s.push_str(&pipeline_text(p));
    }
    s
}

/// A list as text (`; ` between items, `&` kept).
pub fn program_text(p: &Program) -> String {
    let items: Vec<String> = p
        .items
        .iter()
        .map(|i| {
            let t = and_or_text(&i.and_or);
            if i.background { format!("{t} &") } else { t }
        })
        .collect();
    items.join("; ")
}
