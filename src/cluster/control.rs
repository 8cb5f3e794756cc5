//! The control socket: a Unix socket in the run dir through which another `wirelab` process acts
//! on a running cluster (`wirelab raft kill 2` while `wirelab raft up` runs elsewhere).
//!
//! Protocol: one JSON [`ControlRequest`] line in, one JSON [`ControlResponse`] line out, any
//! number of times per connection. `{"op":"status"}`, `{"op":"kill","node":2}`,
//! `{"op":"partition","nodes":[1]}`, `{"op":"heal"}`, `{"op":"stop"}`,
//! `{"op":"send","node":2,"command":{"cmd":"lab","action":"start","args":{}}}` (a lab action),
//! `{"op":"replace","node":1}` (graceful reload)…

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::rundir::CONTROL_SOCKET;
use super::supervisor::{NodeInfo, Supervisor, SupervisorError};
use crate::wire::FaultRules;

/// A request to the supervisor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ControlRequest {
    /// Every node's info.
    Status,
    /// SIGKILL a node.
    Kill {
        /// Node id.
        node: u64,
    },
    /// SIGSTOP a node.
    Pause {
        /// Node id.
        node: u64,
    },
    /// SIGCONT a node.
    Resume {
        /// Node id.
        node: u64,
    },
    /// Start a node again on its data dir.
    Restart {
        /// Node id.
        node: u64,
    },
    /// Cut these nodes off from the rest.
    Partition {
        /// The group to isolate.
        nodes: Vec<u64>,
    },
    /// Clear every fault rule.
    Heal,
    /// Set one node's fault rules.
    Faults {
        /// Node id.
        node: u64,
        /// Rules.
        rules: FaultRules,
    },
    /// Write a control command to one node's stdin (a lab action, say).
    Send {
        /// Node id.
        node: u64,
        /// The command.
        command: super::event::ControlCommand,
    },
    /// Start a new incarnation of a node beside the running one, then drain and retire the old
    /// one (a graceful reload: see [`Supervisor::replace`]).
    Replace {
        /// Node id.
        node: u64,
    },
    /// Stop the whole cluster (the supervisor process exits).
    Stop,
}

/// The answer.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ControlResponse {
    /// Whether the request was carried out.
    pub ok: bool,
    /// What went wrong, if not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Node infos (for `status`, and after every action).
    #[serde(default)]
    pub nodes: Vec<NodeInfo>,
}

/// Why a control call failed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Nobody answers on the socket.
    #[error(
        "no supervisor answers at {path}: the cluster is not running (start it with `wirelab {lab} up`)"
    )]
    NotRunning {
        /// Socket path.
        path: PathBuf,
        /// Lab name for the hint.
        lab: String,
    },
    /// The supervisor refused the request.
    #[error("{0}")]
    Refused(String),
    /// Broken exchange.
    #[error("control socket {path}: {msg}")]
    Protocol {
        /// Socket path.
        path: PathBuf,
        /// What went wrong.
        msg: String,
    },
}

/// Carries out one request on the supervisor.
pub fn handle(sup: &Supervisor, req: &ControlRequest) -> ControlResponse {
    let result: Result<(), SupervisorError> = match req {
        ControlRequest::Status => Ok(()),
        ControlRequest::Kill { node } => sup.kill(*node),
        ControlRequest::Pause { node } => sup.pause(*node),
        ControlRequest::Resume { node } => sup.resume(*node),
        ControlRequest::Restart { node } => sup.restart(*node),
        ControlRequest::Partition { nodes } => sup.partition(nodes),
        ControlRequest::Heal => sup.heal(),
        ControlRequest::Faults { node, rules } => match rules.check() {
            Ok(()) => sup.set_faults(*node, rules.clone()),
            Err(why) => Err(SupervisorError::Io(why)),
        },
        ControlRequest::Send { node, command } => sup.send(*node, command),
        ControlRequest::Replace { node } => {
            sup.replace(*node, Duration::from_secs(10), Duration::from_secs(15))
        }
        ControlRequest::Stop => Ok(()),
    };
    match result {
        Ok(()) if *req == ControlRequest::Status => ControlResponse {
            ok: true,
            error: None,
            nodes: sup.fresh_nodes(Duration::from_millis(300)),
        },
        Ok(()) => ControlResponse {
            ok: true,
            error: None,
            nodes: sup.nodes(),
        },
        Err(e) => ControlResponse {
            ok: false,
            error: Some(e.to_string()),
            nodes: sup.nodes(),
        },
    }
}

/// The longest request line the control socket reads (1 MiB). A longer one is refused as a
/// whole and discarded up to its newline: never split, so no tail of it runs as a request.
pub const MAX_REQUEST_LINE: usize = 1 << 20;

/// How reading one request line ended.
enum Line {
    /// The peer closed the connection before a line began.
    Eof,
    /// A line, newline included (or the last bytes before EOF).
    Complete,
    /// Longer than [`MAX_REQUEST_LINE`]: discarded through its newline.
    TooLong,
}

/// Reads one line of at most [`MAX_REQUEST_LINE`] bytes into `line`; a longer one is consumed
/// through its newline (or EOF) without being kept.
fn read_request_line(reader: &mut impl BufRead, line: &mut Vec<u8>) -> std::io::Result<Line> {
    let n = reader
        .take(MAX_REQUEST_LINE as u64 + 1)
        .read_until(b'\n', line)?;
    if n == 0 {
        return Ok(Line::Eof);
    }
    if line.len() <= MAX_REQUEST_LINE || line.ends_with(b"\n") {
        return Ok(Line::Complete);
    }
    line.clear();
    // Skip the rest of the oversized line in bounded chunks.
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(Line::TooLong);
        }
        match buf.iter().position(|b| *b == b'\n') {
            Some(i) => {
                reader.consume(i + 1);
                return Ok(Line::TooLong);
            }
            None => {
                let len = buf.len();
                reader.consume(len);
            }
        }
    }
}

/// Serves the control socket of `sup` on a background thread until the supervisor is dropped.
/// `on_stop` runs when a client sends `stop` (after the reply is written).
pub fn serve(sup: &Supervisor, on_stop: impl Fn() + Send + Sync + 'static) -> std::io::Result<()> {
    let path = sup.run_dir().join(CONTROL_SOCKET);
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot bind {}: {e}", path.display()))
    })?;
    // Only the run's owner may drive it (connecting to a Unix socket needs write permission).
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot chmod {}: {e}", path.display()))
        })?;
    }
    sup.set_control_socket(&path);
    let weak = sup.downgrade();
    let on_stop = std::sync::Arc::new(on_stop);
    std::thread::Builder::new()
        .name("control-socket".into())
        .spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                if weak.upgrade().is_none() {
                    return;
                }
                let weak = weak.clone();
                let on_stop = on_stop.clone();
                let _ = std::thread::Builder::new()
                    .name("control-conn".into())
                    .spawn(move || serve_conn(conn, &weak, &*on_stop));
            }
        })?;
    Ok(())
}

fn serve_conn(conn: UnixStream, weak: &super::supervisor::WeakSupervisor, on_stop: &dyn Fn()) {
    let Ok(write_half) = conn.try_clone() else {
        return;
    };
    let mut writer = write_half;
    let mut reader = BufReader::new(conn);
    let mut line = Vec::new();
    loop {
        line.clear();
        let over = match read_request_line(&mut reader, &mut line) {
            Ok(Line::Eof) | Err(_) => return,
            Ok(Line::Complete) => false,
            Ok(Line::TooLong) => true,
        };
        let Some(sup) = weak.upgrade() else { return };
        let refuse = |error: String| ControlResponse {
            ok: false,
            error: Some(error),
            nodes: Vec::new(),
        };
        let (resp, stop) = if over {
            (
                refuse(format!(
                    "request line over {MAX_REQUEST_LINE} bytes: discarded up to its newline"
                )),
                false,
            )
        } else {
            match serde_json::from_slice::<ControlRequest>(&line) {
                Ok(req) => (handle(&sup, &req), req == ControlRequest::Stop),
                Err(e) => (refuse(format!("bad request: {e}")), false),
            }
        };
        drop(sup);
        let Ok(mut text) = serde_json::to_string(&resp) else {
            return;
        };
        text.push('\n');
        if writer.write_all(text.as_bytes()).is_err() {
            return;
        }
        if stop {
            on_stop();
            return;
        }
    }
}

/// Sends one request to the supervisor of the run in `run_dir` and returns its answer.
pub fn request(
    run_dir: &Path,
    lab: &str,
    req: &ControlRequest,
) -> Result<ControlResponse, ControlError> {
    let path = run_dir.join(CONTROL_SOCKET);
    let not_running = || ControlError::NotRunning {
        path: path.clone(),
        lab: lab.to_string(),
    };
    let protocol = |msg: String| ControlError::Protocol {
        path: path.clone(),
        msg,
    };
    let mut conn = UnixStream::connect(&path).map_err(|_| not_running())?;
    // Kills and restarts wait for the process; give them time.
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let mut text = serde_json::to_string(req).map_err(|e| protocol(e.to_string()))?;
    text.push('\n');
    conn.write_all(text.as_bytes())
        .map_err(|e| protocol(e.to_string()))?;
    let mut reader = BufReader::new(conn);
    let mut line = Vec::new();
    (&mut reader)
        .take(64 << 20)
        .read_until(b'\n', &mut line)
        .map_err(|e| protocol(e.to_string()))?;
    if line.is_empty() {
        return Err(protocol("supervisor closed the connection".into()));
    }
    let resp: ControlResponse =
        serde_json::from_slice(&line).map_err(|e| protocol(format!("bad response: {e}")))?;
    if *req == ControlRequest::Stop && resp.ok {
        // The supervisor closes the connection once every node is down: wait for that, so
        // whoever runs `… stop` can remove the run dir or reuse its ports right after.
        let mut rest = [0u8; 256];
        while matches!(reader.read(&mut rest), Ok(n) if n > 0) {}
    }
    if !resp.ok {
        return Err(ControlError::Refused(
            resp.error.unwrap_or_else(|| "refused".into()),
        ));
    }
    Ok(resp)
}
