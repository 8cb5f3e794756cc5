//! What travels inside the encrypted records: the application messages of the command link.
//!
//! Each message is one JSON object in the plaintext of a [`super::record`] record (so at most
//! [`super::record::MAX_PLAINTEXT`] bytes, checked before parsing). Mission control → drone, in
//! the drone's session: [`McMsg`] (commands, keep-alive pings). Mission control → every drone,
//! sealed once under the fleet key: [`FleetCmd`]. Drone → mission control: [`DroneMsg`]
//! (telemetry, acknowledgements, pongs).

use serde::{Deserialize, Serialize};

use super::record::MAX_PLAINTEXT;

/// A command for one drone (or, as a [`FleetCmd`], for all of them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case")]
pub enum Command {
    /// Return to launch.
    Rtl,
    /// Land where it is.
    Land,
    /// Fly to a point (metres east and north of the fleet origin, altitude above home).
    Goto {
        /// East, m.
        x: f64,
        /// North, m.
        y: f64,
        /// Altitude, m.
        alt: f64,
    },
    /// Fly a built-in mission (`survey`, `orbit`, `formation`); each drone computes its own
    /// waypoints from its slot in the fleet.
    Mission {
        /// Mission name.
        name: String,
        /// Fleet size the slots are counted over.
        fleet: u32,
    },
    /// No action: announces a new fleet-key epoch.
    Noop,
}

impl std::fmt::Display for Command {
    /// For people, in the drone's log: "return to launch", "fly to (120 m E, -40 m N, 30 m)".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Rtl => f.write_str("return to launch"),
            Command::Land => f.write_str("land"),
            Command::Goto { x, y, alt } => {
                write!(f, "fly to ({x:.0} m E, {y:.0} m N, {alt:.0} m up)")
            }
            Command::Mission { name, fleet } => {
                write!(f, "fly the {name} mission (fleet of {fleet})")
            }
            Command::Noop => f.write_str("no action (new fleet key epoch)"),
        }
    }
}

/// Mission control → one drone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum McMsg {
    /// A command to acknowledge with [`DroneMsg::Ack`].
    Cmd {
        /// Command id.
        id: u64,
        /// The command.
        cmd: Command,
    },
    /// Keep-alive; answered with [`DroneMsg::Pong`].
    Ping {
        /// Echoed back.
        n: u64,
    },
}

/// Mission control → every drone (under the fleet key).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FleetCmd {
    /// Broadcast id, acknowledged by each drone with [`DroneMsg::Ack`] (`fleet: true`).
    pub id: u64,
    /// The command.
    pub cmd: Command,
}

/// Drone → mission control.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum DroneMsg {
    /// The vehicle's state.
    Telem(Telemetry),
    /// A command was carried out (or refused: `ok` false).
    Ack {
        /// Command or broadcast id.
        id: u64,
        /// Whether it was a fleet broadcast.
        fleet: bool,
        /// Whether the drone obeyed.
        ok: bool,
    },
    /// Answer to a ping.
    Pong {
        /// The ping's number.
        n: u64,
    },
}

/// One telemetry sample.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Telemetry {
    /// East of the fleet origin, m.
    pub x: f64,
    /// North, m.
    pub y: f64,
    /// Altitude above home, m.
    pub alt: f64,
    /// East speed, m/s.
    pub vx: f64,
    /// North speed, m/s.
    pub vy: f64,
    /// Climb rate, m/s.
    pub vz: f64,
    /// Heading, degrees from north, clockwise.
    pub hdg: f64,
    /// Battery, percent.
    pub batt: f64,
    /// Flight mode.
    pub mode: String,
    /// Home, east.
    pub home_x: f64,
    /// Home, north.
    pub home_y: f64,
    /// Fleet-key epoch held.
    pub epoch: Option<u32>,
}

/// Why a plaintext was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    /// Longer than a record can carry.
    #[error("message of {0} bytes is over the record limit")]
    TooLong(usize),
    /// Not a message of this protocol.
    #[error("undecodable message: {0}")]
    Bad(String),
}

/// Encodes a message (refusing one that does not fit a record).
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, ProtoError> {
    let v = serde_json::to_vec(msg).map_err(|e| ProtoError::Bad(e.to_string()))?;
    if v.len() > MAX_PLAINTEXT {
        return Err(ProtoError::TooLong(v.len()));
    }
    Ok(v)
}

/// Decodes a message of at most [`MAX_PLAINTEXT`] bytes.
pub fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, ProtoError> {
    if bytes.len() > MAX_PLAINTEXT {
        return Err(ProtoError::TooLong(bytes.len()));
    }
    let v: T = serde_json::from_slice(bytes).map_err(|e| ProtoError::Bad(e.to_string()))?;
    Ok(v)
}

/// Checks a command's numbers are finite and within `limit` metres of the origin (a goto
/// to infinity is refused, not flown).
pub fn check_command(cmd: &Command, limit: f64) -> Result<(), ProtoError> {
    if let Command::Goto { x, y, alt } = cmd {
        let ok = [x, y, alt].iter().all(|v| v.is_finite())
            && x.abs() <= limit
            && y.abs() <= limit
            && (0.0..=500.0).contains(alt);
        if !ok {
            return Err(ProtoError::Bad(format!(
                "goto ({x}, {y}, {alt}) is outside the {limit} m box or 0..500 m altitude"
            )));
        }
    }
    if let Command::Mission { name, fleet } = cmd
        && (!super::flight::MISSIONS.contains(&name.as_str()) || *fleet == 0 || *fleet > 4096)
    {
        return Err(ProtoError::Bad(format!("unknown mission {name:?}")));
    }
    Ok(())
}

/// The counter name of a refused handshake (`bad_signature`, `downgrade`, …).
pub fn handshake_reason(e: &super::handshake::HandshakeError) -> &'static str {
    use super::handshake::HandshakeError as H;
    match e {
        H::BadSignature => "bad_signature",
        H::NotInSubgroup => "not_in_subgroup",
        H::UnknownDrone(_) => "unknown_drone",
        H::ReplayedNonce => "replayed_nonce",
        H::Downgrade { .. } => "downgrade",
        H::Malformed(_) => "malformed",
        H::OutOfOrder => "out_of_order",
        H::Kdf => "kdf",
    }
}

/// The counter name of a refused record (`tampered`, `replayed`, …).
pub fn record_reason(e: &super::record::RecordError) -> &'static str {
    use super::record::RecordError as R;
    match e {
        R::Tampered => "tampered",
        R::Replayed(_) | R::TooOld(_) => "replayed",
        R::Oversize(_) => "oversize",
        R::Malformed(_) => "malformed",
        R::UnexpectedType(_) => "unexpected_type",
        R::WrongSession => "wrong_session",
        R::WrongEpoch { .. } => "cannot_decrypt",
        R::StaleEpoch { .. } => "stale_epoch",
        R::SeqExhausted => "seq_exhausted",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_garbage_is_an_error() {
        let m = McMsg::Cmd {
            id: 3,
            cmd: Command::Goto {
                x: 1.0,
                y: 2.0,
                alt: 30.0,
            },
        };
        assert_eq!(decode::<McMsg>(&encode(&m).unwrap()).unwrap(), m);
        assert!(decode::<McMsg>(b"{\"t\":\"nuke\"}").is_err());
        assert!(decode::<DroneMsg>(&[0xff; 10]).is_err());
        assert!(decode::<DroneMsg>(&vec![b' '; MAX_PLAINTEXT + 1]).is_err());
    }

    #[test]
    fn commands_out_of_range_are_refused() {
        let bad = Command::Goto {
            x: f64::NAN,
            y: 0.0,
            alt: 10.0,
        };
        assert!(check_command(&bad, 1000.0).is_err());
        let far = Command::Goto {
            x: 1e9,
            y: 0.0,
            alt: 10.0,
        };
        assert!(check_command(&far, 1000.0).is_err());
        let m = Command::Mission {
            name: "dance".into(),
            fleet: 3,
        };
        assert!(check_command(&m, 1000.0).is_err());
        assert!(check_command(&Command::Rtl, 1000.0).is_ok());
    }
}
