//! Spawning a node process and breaking it: real signals (SIGKILL, SIGSTOP, SIGCONT), a
//! restart on the same data dir, fault rules and commands sent on its stdin.

use super::*;

impl Supervisor {
    pub(super) fn spawn(&self, id: u64) -> Result<(), SupervisorError> {
        let mut slots = self.lock();
        let slot = slots.get_mut(&id).ok_or(SupervisorError::NoSuchNode(id))?;
        let program = node_exe(&self.inner.exe, &slot.spec.role);
        let mut cmd = Command::new(&program);
        cmd.arg("node")
            .arg(&slot.spec.role)
            .arg("--id")
            .arg(id.to_string())
            .arg("--data-dir")
            .arg(&slot.data_dir)
            .args(&slot.spec.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("WIRELAB_NODE", "1")
            // Own process group: a Ctrl-C typed at the supervisor's terminal is for the
            // supervisor, which then stops the nodes itself.
            .process_group(0);
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: only async-signal-safe calls (prctl, getppid, _exit) between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent may have died between fork and prctl.
                if libc::getppid() != parent {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
        let mut child = spawn_on_spawner_thread(cmd).map_err(|e| SupervisorError::Spawn {
            id,
            msg: format!("{}: {e}", program.display()),
        })?;
        let pid = child.id();
        slot.incarnation += 1;
        let incarnation = slot.incarnation;
        slot.pid = Some(pid);
        slot.status = NodeStatus::Running;
        slot.kill_requested = false;
        slot.stdin = child.stdin.take();
        slot.started_at = Instant::now();
        slot.ready = false;
        // A new incarnation starts with no reported state: nothing of the old one may pass
        // for it.
        slot.state.clear();
        slot.sample = None;
        slot.cpu_percent = 0.0;
        let log_path = self.inner.run_dir.join(format!("node-{id}.log"));
        if !slot.faults.is_clear() {
            let cmd = ControlCommand::Faults {
                rules: slot.faults.clone(),
            };
            write_command(slot, &cmd);
        }
        let weak = self.downgrade();
        let stdout_reader = child.stdout.take().and_then(|stdout| {
            let w = weak.clone();
            let path = log_path.clone();
            std::thread::Builder::new()
                .name(format!("node-{id}-stdout"))
                .spawn(move || read_stdout(w, id, incarnation, stdout, &path))
                .ok()
        });
        if let Some(stderr) = child.stderr.take() {
            let w = weak.clone();
            let path = log_path.clone();
            spawn_thread(format!("node-{id}-stderr"), move || {
                read_stderr(w, id, stderr, &path)
            });
        }
        spawn_thread(format!("node-{id}-wait"), move || {
            wait_child(weak, id, incarnation, child, stdout_reader)
        });
        self.write_cluster_file(&slots);
        drop(slots);
        self.publish(id, SupEventKind::Spawned { pid });
        self.inner.changed.notify_all();
        Ok(())
    }

    pub(super) fn signal(&self, id: u64, sig: Signal) -> Result<u64, SupervisorError> {
        let mut slots = self.lock();
        let slot = slots.get_mut(&id).ok_or(SupervisorError::NoSuchNode(id))?;
        let pid = match (slot.status.is_alive(), slot.pid) {
            (true, Some(pid)) => pid,
            _ => {
                return Err(SupervisorError::NotAlive {
                    id,
                    status: slot.status.as_str(),
                });
            }
        };
        if sig == Signal::SIGKILL {
            slot.kill_requested = true;
        }
        // The node's whole process group (each node leads its own): a node that runs a
        // program of its own (the secret lab's redis-server) is paused and killed with it.
        nix::sys::signal::killpg(Pid::from_raw(pid as i32), sig)
            .or_else(|_| kill(Pid::from_raw(pid as i32), sig))
            .map_err(|source| SupervisorError::Signal { id, source })?;
        match sig {
            Signal::SIGSTOP => slot.status = NodeStatus::Paused,
            Signal::SIGCONT => slot.status = NodeStatus::Running,
            _ => {}
        }
        let incarnation = slot.incarnation;
        if matches!(sig, Signal::SIGSTOP | Signal::SIGCONT) {
            self.write_cluster_file(&slots);
        }
        Ok(incarnation)
    }

    /// SIGKILLs the node and waits until the process is gone.
    pub fn kill(&self, id: u64) -> Result<(), SupervisorError> {
        let incarnation = self.signal(id, Signal::SIGKILL)?;
        self.publish(id, SupEventKind::Killed);
        self.wait_slot(Duration::from_secs(10), &format!("node {id} to die"), |s| {
            s.get(&id)
                .is_some_and(|s| s.incarnation != incarnation || !s.status.is_alive())
        })
    }

    /// SIGSTOPs the node: it stays in memory but runs no code, timers included.
    pub fn pause(&self, id: u64) -> Result<(), SupervisorError> {
        self.signal(id, Signal::SIGSTOP)?;
        self.publish(id, SupEventKind::Paused);
        Ok(())
    }

    /// SIGCONTs a paused node.
    pub fn resume(&self, id: u64) -> Result<(), SupervisorError> {
        self.signal(id, Signal::SIGCONT)?;
        self.publish(id, SupEventKind::Resumed);
        Ok(())
    }

    /// Starts the node again on its data dir, killing the running incarnation first if any.
    pub fn restart(&self, id: u64) -> Result<(), SupervisorError> {
        let alive = self.node(id)?.status.is_alive();
        if alive {
            self.kill(id)?;
        }
        self.spawn(id)
    }

    /// Sends a control command to the node's stdin.
    pub fn send(&self, id: u64, cmd: &ControlCommand) -> Result<(), SupervisorError> {
        let mut slots = self.lock();
        let slot = slots.get_mut(&id).ok_or(SupervisorError::NoSuchNode(id))?;
        write_command(slot, cmd);
        Ok(())
    }

    /// Sets a node's fault rules (kept across restarts until changed).
    pub fn set_faults(&self, id: u64, rules: FaultRules) -> Result<(), SupervisorError> {
        {
            let mut slots = self.lock();
            let slot = slots.get_mut(&id).ok_or(SupervisorError::NoSuchNode(id))?;
            slot.faults = rules.clone();
            let cmd = ControlCommand::Faults {
                rules: rules.clone(),
            };
            write_command(slot, &cmd);
        }
        self.publish(id, SupEventKind::Faults { rules });
        Ok(())
    }

    /// Cuts `group` off from every other node (in both directions).
    pub fn partition(&self, group: &[u64]) -> Result<(), SupervisorError> {
        let ids = self.ids();
        let inside: BTreeSet<u64> = group.iter().copied().collect();
        if let Some(bad) = inside.iter().find(|id| !ids.contains(id)) {
            return Err(SupervisorError::NoSuchNode(*bad));
        }
        let outside: BTreeSet<u64> = ids
            .iter()
            .copied()
            .filter(|id| !inside.contains(id))
            .collect();
        for &id in &ids {
            let cut = if inside.contains(&id) {
                outside.clone()
            } else {
                inside.clone()
            };
            let mut rules = self.node(id)?.faults;
            rules.cut = cut;
            self.set_faults(id, rules)?;
        }
        Ok(())
    }

    /// Removes every fault rule.
    pub fn heal(&self) -> Result<(), SupervisorError> {
        for id in self.ids() {
            self.set_faults(id, FaultRules::default())?;
        }
        Ok(())
    }
}

pub(super) fn write_command(slot: &mut Slot, cmd: &ControlCommand) {
    let Some(stdin) = slot.stdin.as_mut() else {
        return;
    };
    let Ok(mut line) = serde_json::to_string(cmd) else {
        return;
    };
    line.push('\n');
    // A paused node cannot read: the pipe buffer (64 KiB) absorbs commands meanwhile. A dead
    // node's pipe errors; the waiter thread will record its exit.
    let _ = stdin.write_all(line.as_bytes()).and_then(|_| stdin.flush());
}
