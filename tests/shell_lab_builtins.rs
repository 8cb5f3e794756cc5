//! The extension point for lab builtins: a provider's commands and a registered closure run
//! in-process, take part in redirections, pipelines and command substitution like any command,
//! and feed tab completion.

use std::io::Write;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use wirelab::shell::complete::{ShellCompleter, Snapshot};
use wirelab::shell::{BuiltinCtx, BuiltinProvider, Shell};

struct FakeLab {
    kills: Mutex<Vec<String>>,
}

impl BuiltinProvider for FakeLab {
    fn names(&self) -> Vec<String> {
        vec!["raft".into(), "logs".into()]
    }

    fn run(&self, ctx: &mut BuiltinCtx<'_>, argv: &[String]) -> i32 {
        match (argv[0].as_str(), argv.get(1).map(String::as_str)) {
            ("raft", Some("kill")) => {
                let node = argv.get(2).cloned().unwrap_or_default();
                if let Ok(mut k) = self.kills.lock() {
                    k.push(node.clone());
                }
                let _ = writeln!(ctx.stdout(), "killed node {node}");
                0
            }
            ("raft", Some("status")) => {
                let _ = writeln!(ctx.stdout(), "leader=2 term=7");
                0
            }
            ("logs", Some(node)) => {
                let mut out = ctx.stdout();
                for i in 0..100 {
                    let word = if i == 42 { "elected" } else { "heartbeat" };
                    let _ = writeln!(out, "{node} {i} {word}");
                }
                0
            }
            _ => {
                let _ = writeln!(ctx.stderr(), "usage: raft kill|status, logs NODE");
                2
            }
        }
    }

    fn complete(&self, words: &[String], partial: &str) -> Vec<String> {
        if words == ["raft", "kill"] {
            ["1", "2", "3"]
                .iter()
                .filter(|n| n.starts_with(partial))
                .map(|n| n.to_string())
                .collect()
        } else {
            Vec::new()
        }
    }
}

#[test]
fn lab_builtins_run_in_process_with_redirections_pipes_and_completion() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = Arc::new(FakeLab {
        kills: Mutex::new(Vec::new()),
    });
    let mut sh = Shell::new("wirelab");
    sh.add_provider(lab.clone());
    sh.register_builtin(
        "greet",
        Rc::new(|ctx: &mut BuiltinCtx<'_>, argv: &[String]| {
            let who = ctx.var("WHO").unwrap_or("nobody").to_string();
            ctx.println(&format!("hello {who} {}", argv[1..].join(" ")));
            0
        }),
    );
    let script = format!(
        "cd '{}'\n\
         raft kill 2 > kill.txt\n\
         logs raft-2 | grep elected > grep.txt\n\
         s=$(raft status); echo \"[$s]\" > subst.txt\n\
         WHO=you greet there > greet.txt\n\
         raft bogus 2> err.txt; echo $? > status.txt\n",
        dir.path().display()
    );
    let r = sh.eval_string(&script);
    assert_eq!(r, Ok(0));
    let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap_or_default();
    assert_eq!(read("kill.txt"), "killed node 2\n");
    assert_eq!(read("grep.txt"), "raft-2 42 elected\n");
    assert_eq!(read("subst.txt"), "[leader=2 term=7]\n");
    assert_eq!(read("greet.txt"), "hello you there\n");
    assert_eq!(read("err.txt"), "usage: raft kill|status, logs NODE\n");
    assert_eq!(read("status.txt"), "2\n");
    // `raft kill` ran in the shell process (alone on its line), so the provider saw it here.
    assert_eq!(
        lab.kills.lock().map(|k| k.clone()).unwrap_or_default(),
        vec!["2".to_string()]
    );

    let mut snapshot = Snapshot::default();
    snapshot.providers = vec![lab.clone()];
    let snap = Arc::new(Mutex::new(snapshot));

    // The dashboard's path: a command string with its output captured.
    let c = sh.run_captured("raft status; logs n1 | grep -c heartbeat; echo oops >&2; raft kill 3");
    assert_eq!(c.stdout, "leader=2 term=7\n99\nkilled node 3\n");
    assert_eq!(c.stderr, "oops\n");
    assert_eq!(c.status, 0);
    assert!(!c.exited);
    let c = sh.run_captured("exit 4");
    assert!(c.exited);
    assert_eq!(c.status, 4);
    let completer = ShellCompleter { snap };
    let (cands, start) = completer.candidates("raft kill ", 10);
    let words: Vec<String> = cands.into_iter().map(|(c, _)| c).collect();
    assert_eq!(words, vec!["1", "2", "3"]);
    assert_eq!(start, 10);
}
