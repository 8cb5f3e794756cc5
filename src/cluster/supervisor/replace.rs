//! Graceful replacement: a new incarnation of a node takes its port (SO_REUSEPORT) while the
//! old one drains, as a reload does.

use super::*;

impl Supervisor {
    /// Replaces a running node without a gap: starts a new incarnation beside the old one (on
    /// the same data dir and arguments; a server binds its port with `SO_REUSEPORT`), waits up
    /// to `ready_within` for it to report `ready`, then sends the old one `shutdown` so that it
    /// drains, and waits up to `drain_within` for it to exit (SIGKILL after that). If the new
    /// incarnation fails to become ready it is killed and the old one keeps serving.
    pub fn replace(
        &self,
        id: u64,
        ready_within: Duration,
        drain_within: Duration,
    ) -> Result<(), SupervisorError> {
        let (old_incarnation, old_pid) = {
            let mut slots = self.lock();
            let slot = slots.get_mut(&id).ok_or(SupervisorError::NoSuchNode(id))?;
            let (NodeStatus::Running, Some(pid), true) = (slot.status, slot.pid, slot.ready) else {
                return Err(SupervisorError::NotAlive {
                    id,
                    status: if slot.status == NodeStatus::Running {
                        "not ready"
                    } else {
                        slot.status.as_str()
                    },
                });
            };
            slot.retiring.push(Retiring {
                incarnation: slot.incarnation,
                pid,
                stdin: slot.stdin.take(),
            });
            (slot.incarnation, pid)
        };
        let restore_old = |sup: &Supervisor| {
            let mut slots = sup.lock();
            if let Some(slot) = slots.get_mut(&id)
                && let Some(i) = slot
                    .retiring
                    .iter()
                    .position(|r| r.incarnation == old_incarnation)
            {
                let old = slot.retiring.remove(i);
                slot.incarnation = old.incarnation;
                slot.pid = Some(old.pid);
                slot.stdin = old.stdin;
                slot.status = NodeStatus::Running;
                slot.ready = true;
                sup.write_cluster_file(&slots);
            }
        };
        if let Err(e) = self.spawn(id) {
            restore_old(self);
            return Err(e);
        }
        let new_incarnation = old_incarnation + 1;
        let started = self.wait_slot(ready_within, &format!("node {id} to be ready"), |s| {
            s.get(&id).is_none_or(|s| {
                s.incarnation != new_incarnation || s.ready || s.status != NodeStatus::Running
            })
        });
        let new_ok = started.is_ok()
            && self
                .lock()
                .get(&id)
                .is_some_and(|s| s.incarnation == new_incarnation && s.ready);
        if !new_ok {
            let _ = self.kill(id);
            restore_old(self);
            let last = last_log_line(&self.inner.run_dir, id).unwrap_or_default();
            return Err(SupervisorError::Spawn {
                id,
                msg: format!(
                    "the new incarnation did not become ready ({last}); the old one keeps serving"
                ),
            });
        }
        {
            let mut slots = self.lock();
            if let Some(old) = slots.get_mut(&id).and_then(|s| {
                s.retiring
                    .iter_mut()
                    .find(|r| r.incarnation == old_incarnation)
            }) && let Some(stdin) = old.stdin.as_mut()
            {
                let mut line = serde_json::to_string(&ControlCommand::Shutdown).unwrap_or_default();
                line.push('\n');
                let _ = stdin.write_all(line.as_bytes()).and_then(|_| stdin.flush());
            }
        }
        let retired = |s: &BTreeMap<u64, Slot>| {
            s.get(&id)
                .is_none_or(|s| s.retiring.iter().all(|r| r.incarnation != old_incarnation))
        };
        let what = format!("node {id}'s old incarnation (pid {old_pid}) to drain");
        if self.wait_slot(drain_within, &what, retired).is_err() {
            // Not reaped yet (its waiter removes it from `retiring` after reaping), so the pid
            // is still ours to signal.
            let _ = kill(Pid::from_raw(old_pid as i32), Signal::SIGKILL);
            self.wait_slot(Duration::from_secs(10), &what, retired)?;
        }
        Ok(())
    }
}
