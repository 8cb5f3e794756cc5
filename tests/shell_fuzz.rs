//! Robustness: arbitrary input never panics the lexer, parser, validator, expander or
//! arithmetic evaluator (a bounded proptest run; CI runs it on every push).

use proptest::prelude::*;
use wirelab::shell::ast::{Command, CompoundCommand, Program, Word, WordPart};
use wirelab::shell::complete::is_incomplete;
use wirelab::shell::parser::parse_program;
use wirelab::shell::{Shell, arith};

const SHELLISH: &str = "ab $`'\"\\(){};|&<>#\n*?[]!=~-:+%0129xif then fi case esac do done";

fn shellish() -> impl Strategy<Value = String> {
    let alphabet: Vec<char> = SHELLISH.chars().collect();
    prop::collection::vec(prop::sample::select(alphabet), 0..120)
        .prop_map(|v| v.into_iter().collect())
}

fn words_of(p: &Program, out: &mut Vec<Word>) {
    for item in &p.items {
        let mut pipes = vec![&item.and_or.first];
        pipes.extend(item.and_or.rest.iter().map(|(_, p)| p));
        for pl in pipes {
            for c in &pl.commands {
                match c {
                    Command::Simple(sc) => out.extend(sc.words.iter().cloned()),
                    Command::Compound(cc, _) => {
                        if let CompoundCommand::Brace(b) | CompoundCommand::Subshell(b) =
                            cc.as_ref()
                        {
                            words_of(b, out);
                        }
                    }
                    Command::FunctionDef(_) => {}
                }
            }
        }
    }
}

/// Words that are safe to expand in-process: no command substitution, no absolute globs.
fn expandable(w: &Word) -> bool {
    fn ok(p: &WordPart) -> bool {
        match p {
            WordPart::Command(_) => false,
            WordPart::Literal(s) => !s.contains('/'),
            WordPart::DoubleQuoted(ps) | WordPart::Arith(ps) => ps.iter().all(ok),
            WordPart::Param(_) => true,
            WordPart::Quoted(_) => true,
        }
    }
    w.parts.iter().all(ok) && !format!("{w:?}").contains("Command")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic_the_parser(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let s = String::from_utf8_lossy(&bytes);
        let _ = parse_program(&s);
        let _ = is_incomplete(&s);
    }

    #[test]
    fn shell_like_text_never_panics_parser_or_expander(src in shellish()) {
        let _ = is_incomplete(&src);
        if let Ok(prog) = parse_program(&src) {
            let mut words = Vec::new();
            words_of(&prog, &mut words);
            let mut sh = Shell::new("wirelab");
            for w in words.iter().filter(|w| expandable(w)) {
                let _ = sh.expand_words(std::slice::from_ref(w));
                let _ = sh.expand_string(w);
                let _ = sh.expand_pattern(w);
            }
        }
    }

    #[test]
    fn arithmetic_never_panics(expr in "[0-9a-z+*/%<>=!&|^~?:() -]{0,60}") {
        struct Zero;
        impl arith::ArithEnv for Zero {
            fn get_var(&mut self, _: &str) -> Result<i64, String> { Ok(i64::MIN) }
            fn set_var(&mut self, _: &str, _: i64) -> Result<(), String> { Ok(()) }
        }
        let _ = arith::eval(&expr, &mut Zero);
    }
}
