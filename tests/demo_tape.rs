//! Replays `demo.tape` (the VHS recording of the tour) in a real terminal (tmux): every key is
//! sent and every `Wait` asserted, so the tape never rots. Sleeps are shortened (the Waits keep
//! the replay in step). With `WIRELAB_WRITE_CAST=1` the replay also writes `assets/demo.cast`
//! (asciicast v2, one frame per screen change) for rendering `assets/demo.gif` with agg.

mod common;
#[path = "tui_support/tmux.rs"]
mod tmux;

use std::time::{Duration, Instant};

use regex::Regex;

/// One tape command the replay acts on.
#[derive(Debug, Clone, PartialEq)]
enum TapeCmd {
    Type(String),
    Key(String, usize),
    Sleep(Duration),
    Wait {
        screen: bool,
        timeout: Option<Duration>,
        re: String,
    },
}

fn parse_duration(s: &str) -> Option<Duration> {
    let (n, unit) = s
        .find(|c: char| c.is_ascii_alphabetic())
        .map_or((s, "s"), |i| s.split_at(i));
    let n: f64 = n.parse().ok()?;
    Some(Duration::from_secs_f64(match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return None,
    }))
}

/// Parses the commands of a tape (settings and comments are skipped).
fn parse_tape(text: &str) -> Vec<TapeCmd> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        let rest = rest.trim();
        match word {
            "Output" | "Set" | "Require" | "Hide" | "Show" | "Env" | "Source" | "Screenshot" => {}
            "Type" => out.push(TapeCmd::Type(rest.trim_matches('"').replace("\\\"", "\""))),
            "Sleep" => out.push(TapeCmd::Sleep(
                parse_duration(rest).expect("sleep duration"),
            )),
            w if w.starts_with("Wait") => {
                let screen = w.contains("+Screen");
                let timeout = w.split_once('@').and_then(|(_, t)| parse_duration(t));
                let re = rest
                    .trim_start_matches('/')
                    .trim_end_matches('/')
                    .to_string();
                out.push(TapeCmd::Wait {
                    screen,
                    timeout,
                    re,
                });
            }
            key => {
                let count = rest.parse().unwrap_or(1);
                out.push(TapeCmd::Key(key.to_string(), count));
            }
        }
    }
    out
}

/// A VHS key name as tmux names it.
fn tmux_key(k: &str) -> String {
    match k {
        "Escape" => "Escape".into(),
        "Backspace" => "BSpace".into(),
        "PageUp" => "PPage".into(),
        "PageDown" => "NPage".into(),
        k if k.starts_with("Ctrl+") => format!("C-{}", k[5..].to_lowercase()),
        k => k.into(),
    }
}

#[test]
fn parsing_a_tape() {
    let cmds = parse_tape(
        "Set Width 10\nType \"wirelab tour\"\nEnter\nSpace 2\nSleep 500ms\nWait+Screen@20s /step \\d/\n",
    );
    assert_eq!(
        cmds,
        vec![
            TapeCmd::Type("wirelab tour".into()),
            TapeCmd::Key("Enter".into(), 1),
            TapeCmd::Key("Space".into(), 2),
            TapeCmd::Sleep(Duration::from_millis(500)),
            TapeCmd::Wait {
                screen: true,
                timeout: Some(Duration::from_secs(20)),
                re: "step \\d".into()
            },
        ]
    );
}

#[test]
fn demo_tape_replays_in_a_real_terminal() {
    if !common::require_tool("tmux") || !common::require_tool("bash") {
        return;
    }
    let tape = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/demo.tape"))
        .expect("demo.tape");
    let cmds = parse_tape(&tape);
    assert!(cmds.iter().any(|c| matches!(c, TapeCmd::Wait { .. })));
    let bin_dir = std::path::Path::new(common::wirelab())
        .parent()
        .expect("bin dir")
        .to_string_lossy()
        .into_owned();
    let path = format!("{bin_dir}:{}", std::env::var("PATH").unwrap_or_default());
    let (w, h) = (120u16, 36u16);
    let t = tmux::Tmux::start(
        "env",
        &[
            &format!("PATH={path}"),
            "PS1=$ ",
            "bash",
            "--norc",
            "--noprofile",
            "-i",
        ],
        w,
        h,
    );
    // Recording a cast keeps the tape's own pace; a plain replay shortens every Sleep.
    let writing_cast = std::env::var("WIRELAB_WRITE_CAST").as_deref() == Ok("1");
    let max_sleep = if writing_cast {
        Duration::from_secs(60)
    } else {
        Duration::from_millis(400)
    };
    let mut frames: Vec<(f64, String)> = Vec::new();
    let start = Instant::now();
    let record = |t: &tmux::Tmux, frames: &mut Vec<(f64, String)>| {
        let s = t.screen_ansi();
        if frames.last().is_none_or(|(_, last)| *last != s) {
            frames.push((start.elapsed().as_secs_f64(), s));
        }
    };
    for cmd in &cmds {
        match cmd {
            TapeCmd::Type(text) => t.text(text),
            TapeCmd::Key(k, n) => {
                for _ in 0..*n {
                    t.keys(&[&tmux_key(k)]);
                }
            }
            TapeCmd::Sleep(d) => {
                let until = Instant::now() + (*d).min(max_sleep);
                while Instant::now() < until {
                    record(&t, &mut frames);
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
            TapeCmd::Wait {
                screen,
                timeout,
                re,
            } => {
                let rx = Regex::new(re).unwrap_or_else(|e| panic!("bad Wait regex {re:?}: {e}"));
                let timeout = timeout.unwrap_or(Duration::from_secs(30));
                let deadline = Instant::now() + timeout;
                loop {
                    let s = t.screen();
                    let hay = if *screen {
                        s.clone()
                    } else {
                        s.lines()
                            .rev()
                            .find(|l| !l.trim().is_empty())
                            .unwrap_or("")
                            .to_string()
                    };
                    if rx.is_match(&hay) {
                        break;
                    }
                    assert!(
                        Instant::now() < deadline,
                        "Wait /{re}/ timed out; screen:\n{s}"
                    );
                    record(&t, &mut frames);
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
        record(&t, &mut frames);
    }
    // The tour has quit: the shell prompt is back and no node survives.
    t.wait_for("the shell prompt", Duration::from_secs(15), |s| {
        s.lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .is_some_and(|l| l.trim_end() == "$")
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let deadline = Instant::now() + Duration::from_secs(5);
    while !t.node_processes().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        t.node_processes(),
        Vec::<u32>::new(),
        "nodes outlived the tour"
    );
    // Nor does anything it wrote: the tour removes the runs it made.
    let runs = t.state.path().join("wirelab").join("runs");
    let left: Vec<String> = std::fs::read_dir(&runs)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "chaos-histories")
        .collect();
    assert!(left.is_empty(), "the tour left runs behind: {left:?}");
    if writing_cast {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/demo.cast");
        std::fs::write(path, asciicast(w, h, &frames)).expect("write demo.cast");
    }
}

/// Frames as an asciicast v2 recording (each frame redraws the whole screen).
fn asciicast(w: u16, h: u16, frames: &[(f64, String)]) -> String {
    let mut out =
        serde_json::json!({"version": 2, "width": w, "height": h, "title": "wirelab tour"})
            .to_string();
    out.push('\n');
    for (t, screen) in frames {
        let data = format!("\x1b[H\x1b[2J{}", screen.replace('\n', "\r\n"));
        out.push_str(&serde_json::json!([t, "o", data]).to_string());
        out.push('\n');
    }
    out
}
