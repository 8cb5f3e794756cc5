//! The node ↔ supervisor protocol, in the manner of Maelstrom: one JSON object per line.
//!
//! Up (node stdout): [`NodeEvent`], tagged by `"event"`:
//! `{"event":"ready","addr":"127.0.0.1:4101"}`, `{"event":"log","level":"info","msg":"…"}`,
//! `{"event":"state","role":"leader","term":3,…}` (lab-specific fields),
//! `{"event":"metrics",…}`, `{"event":"fatal","msg":"…"}`.
//!
//! Down (node stdin): [`ControlCommand`], tagged by `"cmd"`:
//! `{"cmd":"faults","rules":{"cut":[2,3]}}`, `{"cmd":"report"}`, `{"cmd":"shutdown"}`, and
//! lab-specific actions `{"cmd":"lab","action":"start","args":{"connections":16}}`.
//! End of stdin means the supervisor is gone: the node exits at once.

use std::io::{BufRead, Write};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::wire::FaultRules;

/// An event a node reports on its stdout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum NodeEvent {
    /// The node is listening and serving.
    Ready {
        /// Its main address.
        addr: String,
        /// Its HTTP face, when it has one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        http: Option<String>,
    },
    /// A log line.
    Log {
        /// `error`, `warn`, `info`, `debug`.
        level: String,
        /// The message.
        msg: String,
    },
    /// A change of lab-specific state (role, term, indexes…); the latest one is the node's state.
    State {
        /// The fields.
        #[serde(flatten)]
        fields: Map<String, Value>,
    },
    /// Periodic lab-specific counters.
    Metrics {
        /// The fields.
        #[serde(flatten)]
        fields: Map<String, Value>,
    },
    /// The node is about to exit because of an unrecoverable error.
    Fatal {
        /// What went wrong.
        msg: String,
    },
}

/// A command the supervisor sends to a node's stdin.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum ControlCommand {
    /// Replace the node's fault rules.
    Faults {
        /// The new rules.
        rules: FaultRules,
    },
    /// Emit a fresh `state` event now.
    Report,
    /// Exit cleanly.
    Shutdown,
    /// A lab-specific action (a load generator's `start`/`stop`, …); nodes that do not know
    /// the action log a warning and ignore it.
    Lab {
        /// What to do.
        action: String,
        /// Its arguments, as the lab defines them.
        #[serde(default)]
        args: Value,
    },
}

/// Node-side writer of [`NodeEvent`]s to stdout, one line each, safe to share between threads.
#[derive(Debug, Default)]
pub struct Emitter {
    lock: Mutex<()>,
}

impl Emitter {
    /// An emitter on the process's stdout.
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes one event. A closed stdout means the supervisor is gone: the process exits.
    pub fn emit(&self, event: &NodeEvent) {
        let Ok(mut line) = serde_json::to_string(event) else {
            return;
        };
        line.push('\n');
        let _guard = self.lock.lock();
        let mut out = std::io::stdout().lock();
        if out
            .write_all(line.as_bytes())
            .and_then(|_| out.flush())
            .is_err()
        {
            std::process::exit(0);
        }
    }

    /// Writes a log event.
    pub fn log(&self, level: &str, msg: impl Into<String>) {
        self.emit(&NodeEvent::Log {
            level: level.to_string(),
            msg: msg.into(),
        });
    }
}

/// Which tokio runtime a node runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeRuntime {
    /// One thread (the Raft node: its event loop is single-threaded by design).
    CurrentThread,
    /// A worker per core (HTTP servers and load generators).
    MultiThread,
    /// This many workers (a P2P tracker: its work is small, two keep one slow peer from
    /// stalling the others).
    Workers(usize),
}

/// Node-side entry point: builds the runtime, runs `main` with an [`Emitter`], and reports a
/// failure (including one to start the runtime) as a `fatal` event. Returns the exit code.
pub fn run_node<F, Fut>(runtime: NodeRuntime, main: F) -> i32
where
    F: FnOnce(std::sync::Arc<Emitter>) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let emitter = std::sync::Arc::new(Emitter::new());
    let built = match runtime {
        NodeRuntime::CurrentThread => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        NodeRuntime::MultiThread => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
        NodeRuntime::Workers(n) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n.max(1))
            .enable_all()
            .build(),
    };
    let result = match built {
        Ok(rt) => rt.block_on(main(emitter.clone())),
        Err(e) => Err(format!("cannot start runtime: {e}")),
    };
    match result {
        Ok(()) => 0,
        Err(msg) => {
            emitter.emit(&NodeEvent::Fatal { msg });
            1
        }
    }
}

/// Node-side: reads control commands from stdin on a thread of its own and hands each one to
/// `on_command`. When stdin closes (the supervisor died or let go of us) the process exits.
/// Lines that are not valid commands are reported through `on_error` and skipped.
pub fn watch_stdin<F, E>(mut on_command: F, mut on_error: E) -> std::io::Result<()>
where
    F: FnMut(ControlCommand) + Send + 'static,
    E: FnMut(String) + Send + 'static,
{
    std::thread::Builder::new()
        .name("control-stdin".into())
        .spawn(move || {
            let stdin = std::io::stdin();
            let mut lock = stdin.lock();
            let mut line = String::new();
            loop {
                line.clear();
                match lock.read_line(&mut line) {
                    Ok(0) | Err(_) => std::process::exit(0),
                    Ok(_) => {}
                }
                let text = line.trim();
                if text.is_empty() {
                    continue;
                }
                if text.len() > 1 << 20 {
                    on_error("control line over 1 MiB ignored".into());
                    continue;
                }
                match serde_json::from_str::<ControlCommand>(text) {
                    Ok(cmd) => on_command(cmd),
                    Err(e) => on_error(format!("bad control command {text:?}: {e}")),
                }
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_with_flattened_state() {
        let line = r#"{"event":"state","role":"leader","term":3}"#;
        let ev: NodeEvent = serde_json::from_str(line).unwrap();
        match &ev {
            NodeEvent::State { fields } => {
                assert_eq!(fields["role"], "leader");
                assert_eq!(fields["term"], 3);
            }
            other => panic!("unexpected {other:?}"),
        }
        let back = serde_json::to_string(&ev).unwrap();
        assert_eq!(serde_json::from_str::<NodeEvent>(&back).unwrap(), ev);
    }

    #[test]
    fn control_commands_parse() {
        let c: ControlCommand =
            serde_json::from_str(r#"{"cmd":"faults","rules":{"cut":[2]}}"#).unwrap();
        assert!(matches!(c, ControlCommand::Faults { rules } if rules.cut.contains(&2)));
        assert_eq!(
            serde_json::from_str::<ControlCommand>(r#"{"cmd":"shutdown"}"#).unwrap(),
            ControlCommand::Shutdown
        );
        assert!(serde_json::from_str::<ControlCommand>(r#"{"cmd":"explode"}"#).is_err());
        let lab: ControlCommand =
            serde_json::from_str(r#"{"cmd":"lab","action":"start","args":{"n":2}}"#).unwrap();
        assert!(matches!(&lab, ControlCommand::Lab { action, args }
            if action == "start" && args["n"] == 2));
        assert_eq!(
            serde_json::from_str::<ControlCommand>(r#"{"cmd":"lab","action":"stop"}"#).unwrap(),
            ControlCommand::Lab {
                action: "stop".into(),
                args: Value::Null
            }
        );
    }
}
