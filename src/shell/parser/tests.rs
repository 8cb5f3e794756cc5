//! Parser unit tests: structure, precedence, keywords by position, here-documents, errors.

use super::*;

fn parse(s: &str) -> Program {
    match parse_program(s) {
        Ok(p) => p,
        Err(e) => panic!("{s:?}: {e}"),
    }
}

fn err(s: &str) -> ParseError {
    match parse_program(s) {
        Ok(p) => panic!("{s:?} parsed: {p:?}"),
        Err(e) => e,
    }
}

fn simple(c: &Command) -> &SimpleCommand {
    match c {
        Command::Simple(s) => s,
        other => panic!("not simple: {other:?}"),
    }
}

#[test]
fn and_or_binds_tighter_than_semicolon_and_ampersand() {
    let p = parse("a && b || c & d; e | f");
    assert_eq!(p.items.len(), 3);
    assert!(p.items[0].background);
    assert_eq!(p.items[0].and_or.rest.len(), 2);
    assert_eq!(p.items[0].and_or.rest[1].0, AndOrOp::Or);
    assert_eq!(p.items[2].and_or.first.commands.len(), 2);
}

#[test]
fn bang_negates_a_whole_pipeline() {
    let p = parse("! a | b");
    assert!(p.items[0].and_or.first.bang);
    assert_eq!(p.items[0].and_or.first.commands.len(), 2);
}

#[test]
fn assignments_words_and_redirections_are_separated() {
    let p = parse("A=1 B=$x cmd arg 2>err <in C=notassign");
    let sc = simple(&p.items[0].and_or.first.commands[0]);
    assert_eq!(sc.assigns.len(), 2);
    assert_eq!(sc.assigns[0].name, "A");
    assert_eq!(sc.words.len(), 3);
    assert_eq!(sc.redirects.len(), 2);
    assert_eq!(sc.redirects[0].fd, Some(2));
    assert_eq!(sc.redirects[1].op, RedirOp::In);
}

#[test]
fn keywords_only_count_in_command_position() {
    let p = parse("echo if then fi");
    assert_eq!(simple(&p.items[0].and_or.first.commands[0]).words.len(), 4);
    let p = parse("if a; then b; elif c; then d; else e; fi");
    match &p.items[0].and_or.first.commands[0] {
        Command::Compound(c, _) => match c.as_ref() {
            CompoundCommand::If {
                branches,
                otherwise,
            } => {
                assert_eq!(branches.len(), 2);
                assert!(otherwise.is_some());
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

#[test]
fn loops_case_and_functions_parse() {
    parse("for i in a b; do echo $i; done");
    parse("for i\ndo echo; done");
    parse("while a; do b; done; until a; do b; done");
    parse("case $x in a|b) one;; (c) two;; *) ;; esac");
    parse("case x in\n  a) echo\n  ;;\nesac");
    let p = parse("f() { echo; } >out");
    assert!(
        matches!(&p.items[0].and_or.first.commands[0], Command::FunctionDef(f) if f.name == "f")
    );
}

#[test]
fn here_document_bodies_are_attached_in_order() {
    let p = parse("cat <<A; cat <<-'B'\none $x\nA\n\ttwo $y\n\tB\n");
    let body = |i: usize| match &simple(&p.items[i].and_or.first.commands[0]).redirects[0].target {
        RedirTarget::HereDoc(d) => d.borrow().clone(),
        other => panic!("{other:?}"),
    };
    let a = body(0);
    assert!(!a.quoted);
    assert_eq!(a.body.parts.len(), 3);
    let b = body(1);
    assert!(b.quoted && b.strip_tabs);
    assert_eq!(b.body.unquoted_text(), "two $y\n");
}

#[test]
fn command_substitution_with_case_parens_nests() {
    let p = parse("echo $(case a in a) echo x;; esac) `echo \\`echo y\\``");
    let sc = simple(&p.items[0].and_or.first.commands[0]);
    assert!(matches!(sc.words[1].parts[0], WordPart::Command(_)));
    assert!(matches!(sc.words[2].parts[0], WordPart::Command(_)));
}

#[test]
fn arithmetic_and_subshell_in_substitution_are_told_apart() {
    let p = parse("echo $((1+2)) $( (echo a) )");
    let sc = simple(&p.items[0].and_or.first.commands[0]);
    assert!(matches!(sc.words[1].parts[0], WordPart::Arith(_)));
    assert!(matches!(sc.words[2].parts[0], WordPart::Command(_)));
}

#[test]
fn parameter_expansion_forms() {
    let p = parse("echo ${a:-x} ${b#y} ${#c} ${d%%z} ${e:?m} ${f+g} $1 ${10} $@");
    let sc = simple(&p.items[0].and_or.first.commands[0]);
    let ops: Vec<&ParamOp> = sc.words[1..]
        .iter()
        .map(|w| match &w.parts[0] {
            WordPart::Param(pe) => &pe.op,
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(matches!(ops[0], ParamOp::Default(true, _)));
    assert!(matches!(ops[1], ParamOp::RemovePrefix(false, _)));
    assert!(matches!(ops[2], ParamOp::Length));
    assert!(matches!(ops[3], ParamOp::RemoveSuffix(true, _)));
    assert!(matches!(ops[4], ParamOp::Error(true, _)));
    assert!(matches!(ops[5], ParamOp::Alternative(false, _)));
}

#[test]
fn errors_carry_lines_and_incompleteness() {
    let e = err("echo a\necho b\nfi\n");
    assert_eq!(e.line, 3);
    assert!(!e.incomplete);
    assert_eq!(e.msg, "Syntax error: \"fi\" unexpected");
    let e = err("if true; then\n echo");
    assert!(e.incomplete);
    assert!(e.msg.contains("expecting \"fi\""), "{}", e.msg);
    assert!(err("a |").incomplete);
    assert!(err("(a").incomplete);
    assert!(!err("a )").incomplete);
    assert!(!err("{ }").incomplete);
}
