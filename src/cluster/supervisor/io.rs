//! The per-node threads: the stdout reader (JSON-line events), the stderr reader, the waiter
//! that records an exit, and the node log files they write.

use super::*;

pub(super) fn spawn_thread(name: String, f: impl FnOnce() + Send + 'static) {
    let _ = std::thread::Builder::new().name(name).spawn(f);
}

pub(super) fn open_log(path: &Path) -> Option<File> {
    OpenOptions::new().create(true).append(true).open(path).ok()
}

pub(super) fn log_line(file: &mut Option<File>, level: &str, msg: &str) {
    if let Some(f) = file.as_mut() {
        let _ = writeln!(f, "{} {level:<5} {msg}", now_ms());
    }
}

/// The last line a node wrote to its log file (for error messages).
pub fn last_log_line(run_dir: &Path, id: u64) -> Option<String> {
    use std::io::{Seek, SeekFrom};
    // Only the log's tail is read: a node's log can be large.
    const TAIL: u64 = 64 * 1024;
    let mut f = fs::File::open(run_dir.join(format!("node-{id}.log"))).ok()?;
    let len = f.metadata().ok()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(TAIL))).ok()?;
    let mut tail = Vec::new();
    f.take(TAIL).read_to_end(&mut tail).ok()?;
    let text = String::from_utf8_lossy(&tail);
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.to_string())
}

const MAX_EVENT_LINE: u64 = 1 << 20;

/// Calls `f` with each line of `r` (bounded to [`MAX_EVENT_LINE`] bytes, decoded lossily,
/// trailing whitespace trimmed) until end of stream, an error, or `f` returning false.
pub(super) fn for_each_line(r: impl Read, mut f: impl FnMut(&str) -> bool) {
    let mut reader = BufReader::new(r);
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut reader)
            .take(MAX_EVENT_LINE)
            .read_until(b'\n', &mut line)
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if !f(String::from_utf8_lossy(&line).trim_end()) {
            return;
        }
    }
}

pub(super) fn read_stdout(
    weak: WeakSupervisor,
    id: u64,
    incarnation: u64,
    stdout: impl Read,
    log: &Path,
) {
    let mut file = open_log(log);
    for_each_line(stdout, |text| {
        let event = match serde_json::from_str::<NodeEvent>(text) {
            Ok(ev) => ev,
            Err(_) => NodeEvent::Log {
                level: "stdout".into(),
                msg: text.to_string(),
            },
        };
        match &event {
            NodeEvent::Log { level, msg } => log_line(&mut file, level, msg),
            NodeEvent::Fatal { msg } => log_line(&mut file, "fatal", msg),
            NodeEvent::Ready { addr, .. } => {
                log_line(&mut file, "info", &format!("ready on {addr}"))
            }
            _ => {}
        }
        let Some(sup) = weak.upgrade() else {
            return false;
        };
        {
            let mut slots = sup.lock();
            if let Some(slot) = slots.get_mut(&id).filter(|s| s.incarnation == incarnation) {
                match &event {
                    NodeEvent::Ready { http, .. } => {
                        slot.ready = true;
                        slot.http = http.clone();
                        sup.write_cluster_file(&slots);
                    }
                    NodeEvent::State { fields } => {
                        for (k, v) in fields {
                            slot.state.insert(k.clone(), v.clone());
                        }
                        // When this sample arrived: a view comparing nodes shows how far
                        // apart their samples are ([`Supervisor::request_reports`]).
                        slot.state
                            .insert(SAMPLED_AT_MS.into(), serde_json::json!(super::now_ms()));
                        slot.state_seq += 1;
                    }
                    _ => {}
                }
            }
        }
        sup.publish(id, SupEventKind::Node { event });
        sup.inner.changed.notify_all();
        true
    });
}

pub(super) fn read_stderr(weak: WeakSupervisor, id: u64, stderr: impl Read, log: &Path) {
    let mut file = open_log(log);
    for_each_line(stderr, |text| {
        log_line(&mut file, "stderr", text);
        let Some(sup) = weak.upgrade() else {
            return false;
        };
        sup.publish(
            id,
            SupEventKind::Stderr {
                line: text.to_string(),
            },
        );
        true
    });
}

pub(super) fn wait_child(
    weak: WeakSupervisor,
    id: u64,
    incarnation: u64,
    mut child: Child,
    stdout_reader: Option<std::thread::JoinHandle<()>>,
) {
    use std::os::unix::process::ExitStatusExt;
    let status = child.wait();
    // Let the reader drain the node's last words (a fatal error, say) before the exit is
    // recorded, so whoever waits on the exit can quote them.
    if let Some(reader) = stdout_reader {
        let _ = reader.join();
    }
    let Some(sup) = weak.upgrade() else { return };
    let (code, signal) = match &status {
        Ok(s) => (s.code(), s.signal()),
        Err(_) => (None, None),
    };
    {
        let mut slots = sup.lock();
        if let Some(slot) = slots.get_mut(&id)
            && slot.retiring.iter().any(|r| r.incarnation == incarnation)
        {
            slot.retiring.retain(|r| r.incarnation != incarnation);
        } else if let Some(slot) = slots.get_mut(&id).filter(|s| s.incarnation == incarnation) {
            slot.status = if slot.kill_requested {
                NodeStatus::Killed
            } else {
                NodeStatus::Exited
            };
            slot.stdin = None;
            slot.ready = false;
            slot.sample = None;
            slot.cpu_percent = 0.0;
            sup.write_cluster_file(&slots);
        }
    }
    sup.publish(id, SupEventKind::Exited { code, signal });
    sup.inner.changed.notify_all();
}
