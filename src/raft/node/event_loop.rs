//! The event loop: the one owner of the deterministic core and the key-value state; it
//! feeds the core its inputs and carries out what each `Ready` asks.

use super::*;

pub(super) struct NodeLoop {
    pub(super) args: NodeArgs,
    pub(super) core: RaftCore,
    pub(super) kv: KvStore,
    pub(super) emitter: Arc<Emitter>,
    pub(super) filter: FaultFilter,
    pub(super) outbound: HashMap<NodeId, mpsc::UnboundedSender<Message>>,
    pub(super) storage_tx: std::sync::mpsc::Sender<StorageJob>,
    pub(super) pending_writes: BTreeMap<Index, PendingWrite>,
    pub(super) pending_reads: HashMap<u64, PendingRead>,
    pub(super) ready_reads: VecDeque<(Index, PendingRead)>,
    pub(super) next_ctx: u64,
    pub(super) last_snapshot_index: Index,
    /// Size of the last snapshot taken or restored.
    pub(super) last_snapshot_bytes: u64,
    /// Entry payload bytes applied since then.
    pub(super) applied_bytes_since_snapshot: u64,
    pub(super) last_applied_term: Term,
    pub(super) last_state: Value,
    pub(super) shared_state: Arc<std::sync::Mutex<Map<String, Value>>>,
    pub(super) last_state_at: Instant,
    pub(super) writes_applied: u64,
    pub(super) reads_served: u64,
    pub(super) started: Instant,
    /// Set by `raft repair`: votes are held until the log is durable through this index; the
    /// marker file is removed then.
    pub(super) vote_hold: Option<Index>,
}

impl NodeLoop {
    /// The rebuilt node's log is durable through its hold: it may vote again, also after a
    /// restart (the marker goes, and its folder is synced).
    fn release_vote_hold(&mut self, index: Index) {
        let path = self.args.data_dir.join(VOTE_HOLD_FILE);
        let removed = std::fs::remove_file(&path)
            .and_then(|()| std::fs::File::open(&self.args.data_dir).and_then(|d| d.sync_all()));
        match removed {
            Ok(()) => {
                self.vote_hold = None;
                self.emitter.log(
                    "info",
                    format!("rebuilt log durable through {index}: this node votes again"),
                );
            }
            Err(e) => self.emitter.log(
                "warn",
                format!("cannot remove {}: {e} (votes stay held)", path.display()),
            ),
        }
    }

    pub(super) fn leader_hint(&self) -> Reply {
        let leader = self.core.status().leader.filter(|l| *l != self.args.id);
        let addr = leader.and_then(|l| {
            self.args
                .peers
                .iter()
                .find(|(id, _)| *id == l)
                .map(|(_, a)| a.to_string())
        });
        Reply::NotLeader { leader, addr }
    }

    /// Handles one input; returns true when the node should exit.
    pub(super) fn handle(&mut self, input: Input) -> Result<bool, String> {
        match input {
            Input::Peer(from, msg) => {
                let before = self.core.absurd_terms();
                let term = msg.term();
                self.core.step(from, msg);
                if self.core.absurd_terms() > before {
                    self.emitter.log(
                        "warn",
                        format!(
                            "ignored a message from node {from} (term {term}) with a term or log index absurdly far ahead of this node's (forged or corrupt)"
                        ),
                    );
                }
            }
            Input::Client(req, conn) => self.client_request(req, conn),
            Input::Persisted(p) => {
                if let Some((index, term)) = p.last {
                    self.core.on_persisted(index, term);
                    if self.vote_hold.is_some_and(|h| index >= h) {
                        self.release_vote_hold(index);
                    }
                }
                self.send(p.messages);
            }
            Input::SnapshotStored(snapshot) => {
                self.last_snapshot_bytes = snapshot.data.len() as u64;
                self.core.compact(snapshot);
            }
            Input::Control(cmd) => match cmd {
                ControlCommand::Faults { rules } => {
                    self.emitter.log("info", format!("network now: {rules}"));
                    self.filter.set(rules);
                }
                ControlCommand::Report => self.report(true),
                ControlCommand::Shutdown => {
                    self.emitter.log("info", "shutting down on request");
                    return Ok(true);
                }
                ControlCommand::Lab { action, .. } => {
                    self.emitter
                        .log("warn", format!("no lab action {action:?} on a raft node"));
                }
            },
        }
        Ok(false)
    }

    pub(super) fn client_request(&mut self, req: Request, conn: ClientConn) {
        let id = req.id;
        if let Op::Get { key } = req.op {
            let ctx = self.next_ctx;
            self.next_ctx += 1;
            match self.core.read_index(ctx) {
                Ok(()) => {
                    self.pending_reads.insert(
                        ctx,
                        PendingRead {
                            key,
                            req_id: id,
                            conn,
                        },
                    );
                }
                Err(_) => {
                    let _ = conn.send(Response {
                        id,
                        reply: self.leader_hint(),
                    });
                }
            }
            return;
        }
        let cmd = Command {
            client: req.client,
            seq: req.seq,
            op: req.op,
        };
        match self.core.propose(encode_command(&cmd)) {
            Ok(index) => {
                // An older proposal at this index (from a previous term) can no longer commit.
                if let Some(old) = self.pending_writes.insert(
                    index,
                    PendingWrite {
                        client: cmd.client,
                        seq: cmd.seq,
                        req_id: id,
                        conn,
                    },
                ) {
                    let _ = old.conn.send(Response {
                        id: old.req_id,
                        reply: self.leader_hint(),
                    });
                }
            }
            Err(_) => {
                let _ = conn.send(Response {
                    id,
                    reply: self.leader_hint(),
                });
            }
        }
    }

    pub(super) fn send(&self, messages: Vec<Envelope>) {
        for env in messages {
            if let Some(tx) = self.outbound.get(&env.to) {
                let _ = tx.send(env.msg);
            }
        }
    }

    /// Processes every pending Ready: send, persist, apply, answer.
    pub(super) fn drive(&mut self) -> Result<(), String> {
        while self.core.has_ready() {
            let rd: Ready = self.core.ready();
            self.send(rd.messages);
            let needs_write = rd.hard_state.is_some()
                || rd.snapshot.is_some()
                || rd.truncate_from.is_some()
                || !rd.entries.is_empty()
                || !rd.persisted_messages.is_empty();
            if let Some(snap) = &rd.snapshot {
                self.kv = KvStore::restore(&snap.data)
                    .map_err(|e| format!("snapshot from leader does not decode: {e}"))?;
                self.last_snapshot_index = snap.meta.last_index;
                self.last_snapshot_bytes = snap.data.len() as u64;
                self.applied_bytes_since_snapshot = 0;
                self.last_applied_term = snap.meta.last_term;
                self.emitter.log(
                    "info",
                    format!("installed snapshot at index {}", snap.meta.last_index),
                );
                // Writes waiting below the snapshot were decided by someone else's log.
                let stale: Vec<Index> = self
                    .pending_writes
                    .range(..=snap.meta.last_index)
                    .map(|(i, _)| *i)
                    .collect();
                for i in stale {
                    if let Some(p) = self.pending_writes.remove(&i) {
                        let _ = p.conn.send(Response {
                            id: p.req_id,
                            reply: Reply::Error("outcome unknown: superseded by a snapshot".into()),
                        });
                    }
                }
            }
            if needs_write {
                let job = StorageJob::Write {
                    ready_parts: WriteParts {
                        hard_state: rd.hard_state,
                        snapshot: rd.snapshot,
                        truncate_from: rd.truncate_from,
                        entries: rd.entries,
                    },
                    messages: rd.persisted_messages,
                };
                self.storage_tx
                    .send(job)
                    .map_err(|_| "storage thread stopped".to_string())?;
            }
            for entry in rd.committed {
                self.apply(entry);
            }
            for (ctx, index) in rd.read_states {
                if let Some(r) = self.pending_reads.remove(&ctx) {
                    self.ready_reads.push_back((index, r));
                }
            }
            for ctx in rd.dropped_reads {
                if let Some(r) = self.pending_reads.remove(&ctx) {
                    let _ = r.conn.send(Response {
                        id: r.req_id,
                        reply: self.leader_hint(),
                    });
                }
            }
        }
        self.serve_reads();
        self.maybe_compact();
        Ok(())
    }

    pub(super) fn apply(&mut self, entry: Entry) {
        self.last_applied_term = entry.term;
        self.applied_bytes_since_snapshot += entry.data.len() as u64;
        let result = match entry.kind {
            EntryKind::Noop => {
                self.kv.skip(entry.index);
                None
            }
            EntryKind::Normal => match self.kv.apply(entry.index, &entry.data) {
                Ok(r) => {
                    self.writes_applied += 1;
                    Some(r)
                }
                Err(e) => {
                    self.emitter.log(
                        "error",
                        format!(
                            "entry {} does not decode ({e}); applied as nothing",
                            entry.index
                        ),
                    );
                    None
                }
            },
        };
        if let Some(p) = self.pending_writes.remove(&entry.index) {
            let reply = match result {
                Some((cmd, reply)) if cmd.client == p.client && cmd.seq == p.seq => reply,
                // Another leader's entry took this index: ours was never committed.
                _ => self.leader_hint(),
            };
            let _ = p.conn.send(Response {
                id: p.req_id,
                reply,
            });
        }
    }

    pub(super) fn serve_reads(&mut self) {
        let applied = self.kv.applied();
        while let Some((index, _)) = self.ready_reads.front() {
            if *index > applied {
                break;
            }
            let Some((_, r)) = self.ready_reads.pop_front() else {
                break;
            };
            self.reads_served += 1;
            let value = self.kv.get(&r.key).map(|v| v.to_vec());
            let _ = r.conn.send(Response {
                id: r.req_id,
                reply: Reply::Value(value),
            });
        }
    }

    pub(super) fn maybe_compact(&mut self) {
        let applied = self.kv.applied();
        if applied < self.last_snapshot_index + self.args.snapshot_entries.max(1) {
            return;
        }
        // Amortized: a snapshot costs its size in encoding and I/O, so take the next one only
        // once at least that many bytes of log were applied since the last (the rule of Redis's
        // auto-aof-rewrite-percentage 100). Snapshot work then stays proportional to the write
        // traffic however large the state grows, and the log stays at most about the
        // snapshot's size.
        if self.applied_bytes_since_snapshot < self.last_snapshot_bytes {
            return;
        }
        // An O(1) copy-on-write clone: the writer thread encodes it while this loop applies
        // on; the in-memory log is compacted once the snapshot is on disk.
        let frozen = FrozenState {
            meta: SnapshotMeta {
                last_index: applied,
                last_term: self.last_applied_term,
            },
            kv: self.kv.clone(),
        };
        self.last_snapshot_index = applied;
        self.applied_bytes_since_snapshot = 0;
        self.emitter.log(
            "info",
            format!(
                "snapshot at index {applied} ({} keys): encoding and writing it beside the log",
                self.kv.len()
            ),
        );
        let _ = self
            .storage_tx
            .send(StorageJob::Compact(frozen, self.storage_tx.clone()));
    }

    /// Emits a `state` event when role/term/leader changed, or every 100 ms when indexes moved.
    pub(super) fn report(&mut self, force: bool) {
        let s = self.core.status();
        let role = match s.role {
            Role::Follower => "follower",
            Role::PreCandidate => "pre_candidate",
            Role::Candidate => "candidate",
            Role::Leader => "leader",
        };
        let key = json!([role, s.term, s.leader]);
        let changed = key != self.last_state;
        if !force && !changed && self.last_state_at.elapsed() < Duration::from_millis(100) {
            return;
        }
        self.last_state = key;
        self.last_state_at = Instant::now();
        let mut fields = Map::new();
        fields.insert("role".into(), json!(role));
        fields.insert("term".into(), json!(s.term));
        fields.insert("leader".into(), json!(s.leader));
        fields.insert("commit".into(), json!(s.commit));
        fields.insert("applied".into(), json!(self.kv.applied()));
        fields.insert("last_index".into(), json!(s.last_index));
        fields.insert("persisted".into(), json!(s.persisted));
        fields.insert("snapshot_index".into(), json!(s.snapshot_index));
        fields.insert("election_elapsed".into(), json!(s.election_elapsed));
        fields.insert("election_timeout".into(), json!(s.election_timeout));
        fields.insert("keys".into(), json!(self.kv.len()));
        // The last few entries' terms, for the dashboard's log view (index of the first, then
        // one term per entry).
        let first = s
            .last_index
            .saturating_sub(LOG_TAIL as u64 - 1)
            .max(s.snapshot_index + 1);
        let terms: Vec<u64> = (first..=s.last_index)
            .filter_map(|i| self.core.entry_term(i))
            .collect();
        fields.insert("log_tail".into(), json!({"first": first, "terms": terms}));
        fields.insert("writes_applied".into(), json!(self.writes_applied));
        fields.insert("reads_served".into(), json!(self.reads_served));
        fields.insert(
            "uptime_ms".into(),
            json!(self.started.elapsed().as_millis() as u64),
        );
        if changed {
            self.emitter.log(
                "info",
                match s.role {
                    Role::Leader => format!("elected leader for term {}", s.term),
                    _ => format!(
                        "{role} in term {} (leader {})",
                        s.term,
                        s.leader.map_or("unknown".to_string(), |l| l.to_string())
                    ),
                },
            );
        }
        if let Ok(mut shared) = self.shared_state.lock() {
            shared.clone_from(&fields);
            shared.insert("id".into(), json!(self.args.id));
        }
        self.emitter.emit(&NodeEvent::State { fields });
    }
}
