//! The drone-fleet dashboard's state: supervisor events and node snapshots folded into drone
//! rows, trails for the map, the attack panel and the timeline.

use std::collections::{BTreeMap, VecDeque};

use serde_json::Value;

use crate::cluster::{NodeEvent, NodeInfo, SupEvent, SupEventKind};
use crate::tui::dash::TIMELINE_CAPACITY;
use crate::tui::dash::logbook::LogBook;

/// Trail points kept per drone.
pub const TRAIL: usize = 150;

/// What kind of timeline entry (its colour).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// Handshakes, rejoins.
    Good,
    /// Kills, link losses, failsafes.
    Fault,
    /// Attacks refused.
    Attack,
    /// Rekeys, restarts, heals.
    Repair,
    /// Anything else.
    Info,
}

/// One timeline entry.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// Its kind.
    pub kind: EventKind,
    /// What happened.
    pub text: String,
}

/// One drone as the dashboard shows it.
#[derive(Clone, Debug, Default)]
pub struct DroneRow {
    /// Node id.
    pub id: u64,
    /// Process state.
    pub status: String,
    /// Flight mode.
    pub mode: String,
    /// Link state (`up`, `lost`, `connecting`).
    pub link: String,
    /// Battery %.
    pub batt: f64,
    /// Position, m.
    pub x: f64,
    /// North, m.
    pub y: f64,
    /// Altitude, m.
    pub alt: f64,
    /// Home.
    pub home: (f64, f64),
    /// Fleet-key epoch held.
    pub epoch: Option<u64>,
    /// Handshake time, ms.
    pub hs_ms: f64,
    /// Keep-alive round trip, ms (mission control's view).
    pub rtt_ms: f64,
    /// Records mission control accepted from it.
    pub records: u64,
    /// Refusals by reason at the drone.
    pub rejects: BTreeMap<String, u64>,
    /// Revoked by mission control.
    pub revoked: bool,
}

/// The dashboard's model.
#[derive(Debug, Default)]
pub struct UavModel {
    /// The latest node snapshots.
    pub nodes: Vec<NodeInfo>,
    /// The drones, by node id.
    pub drones: BTreeMap<u64, DroneRow>,
    /// Trails, by node id, oldest first.
    pub trails: BTreeMap<u64, VecDeque<(f64, f64)>>,
    /// Mission control's refusals by reason.
    pub mc_rejects: BTreeMap<String, u64>,
    /// The fleet-key epoch.
    pub epoch: Option<u64>,
    /// Drones linked at mission control.
    pub linked: u64,
    /// Ground stations streamed to.
    pub gcs: u64,
    /// The last attack line (from the command log) and its outcome.
    pub last_attack: Option<String>,
    /// Timeline, oldest first.
    pub timeline: VecDeque<Entry>,
    /// Node log lines.
    pub logs: LogBook,
}

fn classify(msg: &str) -> Option<EventKind> {
    let m = msg.to_ascii_lowercase();
    if m.contains("refused") || m.contains("cannot decrypt") {
        Some(EventKind::Attack)
    } else if m.contains("failsafe") || m.contains("link closed") {
        Some(EventKind::Fault)
    } else if m.contains("revoked") || m.contains("enrolled") || m.contains("epoch") {
        Some(EventKind::Repair)
    } else if m.contains("authenticated") || m.contains("link back") {
        Some(EventKind::Good)
    } else if m.contains("landed") || m.contains("broadcast") || m.contains("ground station") {
        Some(EventKind::Info)
    } else {
        None
    }
}

impl UavModel {
    /// Adds a timeline entry.
    pub fn push(&mut self, at_ms: u64, kind: EventKind, text: String) {
        if self.timeline.len() >= TIMELINE_CAPACITY {
            self.timeline.pop_front();
        }
        self.timeline.push_back(Entry { at_ms, kind, text });
    }

    fn who(n: u64) -> String {
        if n == 1 {
            "mission control".into()
        } else {
            format!("drone {n}")
        }
    }

    /// Folds one supervisor event in.
    pub fn on_event(&mut self, ev: &SupEvent) {
        let (n, at) = (ev.node, ev.at_ms);
        let who = Self::who(n);
        match &ev.kind {
            SupEventKind::Spawned { pid } => {
                self.logs
                    .push(at, n, "info", format!("started (pid {pid})"));
            }
            SupEventKind::Killed => {
                self.push(at, EventKind::Fault, format!("{who} killed (SIGKILL)"))
            }
            SupEventKind::Paused => self.push(at, EventKind::Fault, format!("{who} paused")),
            SupEventKind::Resumed => self.push(at, EventKind::Repair, format!("{who} resumed")),
            SupEventKind::Exited { .. } => {}
            SupEventKind::Faults { rules } => {
                if rules.is_clear() {
                    if self
                        .timeline
                        .back()
                        .is_none_or(|e| e.text != "network healed")
                    {
                        self.push(at, EventKind::Repair, "network healed".into());
                    }
                } else if n != 1 {
                    self.push(at, EventKind::Fault, format!("{who}: {rules}"));
                }
            }
            SupEventKind::Stderr { line } => self.logs.push(at, n, "stderr", line.clone()),
            SupEventKind::Node { event } => {
                if let NodeEvent::Log { level, msg } = event {
                    if let Some(kind) = classify(msg) {
                        self.push(at, kind, format!("{who}: {msg}"));
                    }
                    self.logs.push(at, n, level, msg.clone());
                }
            }
        }
    }

    /// Takes fresh node snapshots.
    pub fn refresh(&mut self, nodes: Vec<NodeInfo>) {
        let f = |s: &serde_json::Map<String, Value>, k: &str| {
            s.get(k).and_then(Value::as_f64).unwrap_or(0.0)
        };
        let txt = |s: &serde_json::Map<String, Value>, k: &str| {
            s.get(k).and_then(Value::as_str).unwrap_or("-").to_string()
        };
        let counts = |v: Option<&Value>| -> BTreeMap<String, u64> {
            v.and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_u64()?)))
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut seen = Vec::new();
        for n in &nodes {
            let s = &n.state;
            if n.id == 1 {
                self.mc_rejects = counts(s.get("rejects"));
                self.epoch = s.get("epoch").and_then(Value::as_u64);
                self.linked = s.get("linked").and_then(Value::as_u64).unwrap_or(0);
                self.gcs = s.get("gcs").and_then(Value::as_u64).unwrap_or(0);
                continue;
            }
            seen.push(n.id);
            let mc = nodes
                .iter()
                .find(|m| m.id == 1)
                .and_then(|m| m.state.get("drones")?.get(n.id.to_string()).cloned())
                .unwrap_or_default();
            let revoked = nodes
                .iter()
                .find(|m| m.id == 1)
                .and_then(|m| m.state.get("revoked")?.as_array().cloned())
                .is_some_and(|a| a.contains(&Value::from(n.id)));
            let row = DroneRow {
                id: n.id,
                status: n.status.as_str().into(),
                mode: txt(s, "mode"),
                link: txt(s, "link"),
                batt: f(s, "batt"),
                x: f(s, "x"),
                y: f(s, "y"),
                alt: f(s, "alt"),
                home: (f(s, "home_x"), f(s, "home_y")),
                epoch: s.get("epoch").and_then(Value::as_u64),
                hs_ms: f(s, "hs_ms"),
                rtt_ms: mc.get("rtt_ms").and_then(Value::as_f64).unwrap_or(0.0),
                records: mc.get("records").and_then(Value::as_u64).unwrap_or(0),
                rejects: counts(s.get("rejects")),
                revoked,
            };
            if s.contains_key("x") {
                let trail = self.trails.entry(n.id).or_default();
                if trail
                    .back()
                    .is_none_or(|p| (p.0 - row.x).hypot(p.1 - row.y) > 0.5)
                {
                    if trail.len() >= TRAIL {
                        trail.pop_front();
                    }
                    trail.push_back((row.x, row.y));
                }
            }
            self.drones.insert(n.id, row);
        }
        self.drones.retain(|id, _| seen.contains(id));
        self.nodes = nodes;
    }

    /// The lab stopped.
    pub fn forget_lab(&mut self) {
        self.nodes.clear();
        self.drones.clear();
        self.trails.clear();
    }

    /// Total refusals over the fleet by reason (mission control and every drone).
    pub fn all_rejects(&self) -> BTreeMap<String, u64> {
        let mut all = self.mc_rejects.clone();
        for d in self.drones.values() {
            for (k, v) in &d.rejects {
                *all.entry(k.clone()).or_default() += v;
            }
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_become_timeline_entries_by_kind() {
        assert_eq!(
            classify("refused drone 9: drone 9 is not enrolled"),
            Some(EventKind::Attack)
        );
        assert_eq!(
            classify("failsafe: link lost for 1.5 s: holding"),
            Some(EventKind::Fault)
        );
        assert_eq!(
            classify("fleet key epoch 2 installed"),
            Some(EventKind::Repair)
        );
        assert_eq!(
            classify("drone 2 authenticated in 30 ms"),
            Some(EventKind::Good)
        );
        assert_eq!(classify("telemetry"), None);
    }
}
