//! `raft repair N`: rebuild a node whose data dir is damaged, from its peers, without ever
//! weakening Raft's guarantees.
//!
//! A node that lost its data has forgotten two things that safety rests on:
//! - **the votes it cast**: rebuilt at term 0 it could vote a second time in a term where it
//!   already voted. So it restarts at a term above every term the other members have stored
//!   (read from their `meta` files): a vote it cast for another member was in a term that
//!   member stored, so at most that term; a vote for itself that nobody else saw could not have
//!   made it leader. Every member must be up, so that no stored term is missed.
//! - **the entries it helped commit**: with an empty log its vote could elect a member that
//!   lacks them. So it restarts with a *vote hold* at the leader's last index
//!   ([`super::core::RaftCore::hold_votes_until`]): it neither votes nor campaigns until its
//!   log is durable through that index, which covers every committed entry (leader
//!   completeness). The leader sends it a snapshot and the log as to any lagging follower.
//!
//! The damaged files are moved aside (`node-N.damaged-TIMESTAMP`), never deleted.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::message::{HardState, Index, Term};
use super::node::VOTE_HOLD_FILE;
use super::storage::Storage;
use crate::cluster::control::ControlRequest;
use crate::cluster::{NodeInfo, NodeStatus};
use crate::lab::Target;
use crate::lab::args::RunDirArg;

/// What the rebuild starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The term the rebuilt node starts at (above every member's stored term).
    pub term: Term,
    /// Its votes are held until its log reaches this index.
    pub hold: Index,
}

fn state_u64(n: &NodeInfo, key: &str) -> u64 {
    n.state.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// The term stored in `data_dir/meta` (0 when there is none yet).
fn stored_term(data_dir: &Path) -> anyhow::Result<Term> {
    let path = data_dir.join("meta");
    match std::fs::read(&path) {
        Ok(bytes) => super::storage::meta::decode(&path, &bytes)
            .map(|hs| hs.term)
            .map_err(|e| anyhow::anyhow!("{e}")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(anyhow::anyhow!("{}: {e}", path.display())),
    }
}

/// Checks that node `id` can be rebuilt from `nodes` and works out how.
pub fn plan(nodes: &[NodeInfo], id: u64) -> anyhow::Result<Plan> {
    let me = nodes
        .iter()
        .find(|n| n.id == id)
        .ok_or_else(|| anyhow::anyhow!("no node {id} in this cluster"))?;
    if matches!(me.status, NodeStatus::Running | NodeStatus::Paused) {
        anyhow::bail!(
            "node {id} is {}: repair rebuilds a node that cannot start (`raft kill {id}` first to rebuild it anyway)",
            me.status.as_str()
        );
    }
    let others: Vec<&NodeInfo> = nodes.iter().filter(|n| n.id != id).collect();
    if others.is_empty() {
        anyhow::bail!("node {id} has no peers to be rebuilt from");
    }
    if let Some(down) = others
        .iter()
        .find(|n| n.status != NodeStatus::Running || !n.ready)
    {
        anyhow::bail!(
            "node {} is {}: repair needs every other node up, to learn every term they stored",
            down.id,
            down.status.as_str()
        );
    }
    let leader = super::cli::current_leader(nodes)
        .ok_or_else(|| anyhow::anyhow!("no leader right now: repair once the cluster has one"))?;
    let mut term = 0;
    for n in &others {
        term = term
            .max(stored_term(&n.data_dir)?)
            .max(state_u64(n, "term"));
    }
    let hold = others
        .iter()
        .filter(|n| n.id == leader)
        .map(|n| state_u64(n, "last_index").max(state_u64(n, "commit")))
        .max()
        .unwrap_or(0);
    Ok(Plan {
        term: term.saturating_add(1),
        hold,
    })
}

/// Moves `data_dir` aside and makes a fresh one per `plan`. Returns where the old files went.
pub fn rebuild(data_dir: &Path, plan: &Plan) -> anyhow::Result<PathBuf> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let name = data_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "node".into());
    let aside = data_dir.with_file_name(format!("{name}.damaged-{stamp}"));
    if data_dir.exists() {
        std::fs::rename(data_dir, &aside)
            .map_err(|e| anyhow::anyhow!("cannot move {} aside: {e}", data_dir.display()))?;
    }
    {
        let mut storage = Storage::open(data_dir)
            .map_err(|e| anyhow::anyhow!("cannot make a fresh data dir: {e}"))?;
        storage
            .set_hard_state(HardState {
                term: plan.term,
                vote: None,
            })
            .map_err(|e| anyhow::anyhow!("cannot write the fresh meta: {e}"))?;
    }
    let hold = data_dir.join(VOTE_HOLD_FILE);
    let tmp = data_dir.join(format!("{VOTE_HOLD_FILE}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    writeln!(f, "{}", plan.hold)?;
    f.sync_all()?;
    std::fs::rename(&tmp, &hold)?;
    std::fs::File::open(data_dir)?.sync_all()?;
    if let Some(parent) = data_dir.parent() {
        std::fs::File::open(parent)?.sync_all()?;
    }
    Ok(aside)
}

/// `raft repair N`: plan, rebuild, restart, and wait (up to 30 s) until it votes again.
pub fn run(
    target: Target<'_>,
    run: &RunDirArg,
    id: u64,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    let ctl = |req: ControlRequest| target.request(super::cli::NAME, run, req);
    let status = ctl(ControlRequest::Status)?;
    let plan = plan(&status.nodes, id)?;
    let me = status
        .nodes
        .iter()
        .find(|n| n.id == id)
        .ok_or_else(|| anyhow::anyhow!("no node {id}"))?;
    let aside = rebuild(&me.data_dir, &plan)?;
    writeln!(
        out,
        "node {id}: damaged data moved to {}; starting empty at term {}, votes held until its log reaches index {}",
        aside.display(),
        plan.term,
        plan.hold
    )?;
    ctl(ControlRequest::Restart { node: id })?;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status = ctl(ControlRequest::Status)?;
        let caught_up = status.nodes.iter().any(|n| {
            n.id == id
                && n.status == NodeStatus::Running
                && state_u64(n, "last_index") >= plan.hold
                && !me.data_dir.join(VOTE_HOLD_FILE).exists()
        });
        if caught_up {
            writeln!(
                out,
                "node {id}: rebuilt from its peers (log through {}), voting again",
                plan.hold
            )?;
            return Ok(0);
        }
        if std::time::Instant::now() > deadline {
            writeln!(
                out,
                "node {id}: restarted, still catching up after 30 s (`raft status` shows its progress)"
            )?;
            return Ok(1);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
