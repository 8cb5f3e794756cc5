//! Mission control's MAVLink 2 face: a loopback UDP port a ground station can watch the fleet
//! on (pymavlink, MAVProxy, QGroundControl with the signing key).
//!
//! Like a vehicle's UDP server, it streams to every ground station that has sent it a HEARTBEAT
//! signed with the link key ([`super::mavlink::Verifier`]: signature and per-stream
//! timestamps), and to no one else; at most [`MAX_GCS`] stations, the longest silent one
//! forgotten first, and a station silent for [`GCS_TIMEOUT`] is dropped. Each drone is its own
//! system (`sysid` = its node id, `compid` 1): HEARTBEAT and SYS_STATUS at 1 Hz,
//! GLOBAL_POSITION_INT at 5 Hz, all signed (link id 0). Frames that fail are counted in
//! mission control's rejects (`mavlink_bad_signature`, `mavlink_unsigned`, …).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;

use super::control::{Mc, lock};
use super::mavlink::{
    Addr, Frame, GlobalPositionInt, Heartbeat, MavError, Message, Signer, SigningKey, SysStatus,
    Verifier, timestamp_now,
};
use super::proto::Telemetry;
use crate::cluster::event::Emitter;

/// Most ground stations streamed to at once.
pub const MAX_GCS: usize = 8;
/// A ground station that sent no signed HEARTBEAT for this long is dropped.
pub const GCS_TIMEOUT: Duration = Duration::from_secs(30);
/// Latitude of the fleet origin (degrees).
pub const ORIGIN_LAT: f64 = 47.397_742;
/// Longitude of the fleet origin (degrees).
pub const ORIGIN_LON: f64 = 8.545_594;

fn reason(e: &MavError) -> &'static str {
    match e {
        MavError::BadSignature => "mavlink_bad_signature",
        MavError::Unsigned => "mavlink_unsigned",
        MavError::StaleTimestamp { .. } => "mavlink_stale",
        _ => "mavlink_malformed",
    }
}

/// Latitude and longitude (degE7) of a point `x` m east and `y` m north of the origin.
pub fn lat_lon(x: f64, y: f64) -> (i32, i32) {
    let lat = ORIGIN_LAT + y / 111_320.0;
    let lon = ORIGIN_LON + x / (111_320.0 * ORIGIN_LAT.to_radians().cos());
    ((lat * 1e7).round() as i32, (lon * 1e7).round() as i32)
}

fn frames(
    signer: &mut Signer,
    seq: &mut u8,
    id: u32,
    t: &Telemetry,
    boot_ms: u32,
    slow: bool,
) -> Vec<Vec<u8>> {
    let Ok(sysid) = u8::try_from(id) else {
        return Vec::new();
    };
    let mut next = || {
        *seq = seq.wrapping_add(1);
        Addr {
            seq: *seq,
            sysid,
            compid: 1,
        }
    };
    let now = timestamp_now();
    let (lat, lon) = lat_lon(t.x, t.y);
    let cm = |v: f64| (v * 100.0).clamp(-32_000.0, 32_000.0) as i16;
    let pos = GlobalPositionInt {
        time_boot_ms: boot_ms,
        lat,
        lon,
        alt: ((488.0 + t.alt) * 1000.0) as i32,
        relative_alt: (t.alt * 1000.0) as i32,
        vx: cm(t.vy),
        vy: cm(t.vx),
        vz: cm(-t.vz),
        hdg: (t.hdg * 100.0).clamp(0.0, 35_999.0) as u16,
    };
    let mut out = Vec::new();
    if let Ok(f) = signer.encode(next(), &pos, now) {
        out.push(f);
    }
    if slow {
        let flying = t.mode != "landed";
        let hb = Heartbeat {
            custom_mode: 0,
            mav_type: 2,
            autopilot: 0,
            base_mode: if flying { 0x80 | 0x04 } else { 0x04 },
            system_status: if flying { 4 } else { 3 },
            mavlink_version: 3,
        };
        let st = SysStatus {
            voltage_battery: (10_500.0 + 21.0 * t.batt) as u16,
            current_battery: -1,
            battery_remaining: t.batt.clamp(0.0, 100.0) as i8,
            ..Default::default()
        };
        if let Ok(f) = signer.encode(next(), &hb, now) {
            out.push(f);
        }
        if let Ok(f) = signer.encode(next(), &st, now) {
            out.push(f);
        }
    }
    out
}

/// Serves the MAVLink port until the process ends.
pub(super) async fn run(udp: UdpSocket, key: [u8; 32], mc: Arc<Mutex<Mc>>, emitter: Arc<Emitter>) {
    let mut verifier = Verifier::new(SigningKey::new(key));
    let mut signer = Signer::new(SigningKey::new(key), 0);
    let mut gcs: Vec<(SocketAddr, Instant)> = Vec::new();
    let mut buf = [0u8; 2048];
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let boot = Instant::now();
    let mut seq = 0u8;
    let mut n = 0u64;
    loop {
        tokio::select! {
            got = udp.recv_from(&mut buf) => {
                let Ok((len, from)) = got else { continue };
                let checked = Frame::parse(&buf[..len]).and_then(|(f, _)| {
                    if f.msgid != Heartbeat::ID {
                        return Err(MavError::WrongMessage { expected: Heartbeat::ID, got: f.msgid });
                    }
                    verifier.verify(&f, timestamp_now())
                });
                match checked {
                    Ok(()) => {
                        if let Some(g) = gcs.iter_mut().find(|g| g.0 == from) {
                            g.1 = Instant::now();
                        } else {
                            if gcs.len() >= MAX_GCS {
                                gcs.sort_by_key(|g| std::cmp::Reverse(g.1));
                                gcs.pop();
                            }
                            gcs.push((from, Instant::now()));
                            emitter.log("info", format!("ground station {from} joined (signed HEARTBEAT)"));
                        }
                    }
                    Err(MavError::WrongMessage { .. }) => {}
                    Err(e) => {
                        lock(&mc).reject(reason(&e));
                    }
                }
            }
            _ = tick.tick() => {
                gcs.retain(|g| g.1.elapsed() < GCS_TIMEOUT);
                let fleet: Vec<(u32, Telemetry)> = {
                    let mut m = lock(&mc);
                    m.gcs = gcs.len();
                    m.links.iter().filter_map(|(id, l)| l.telem.clone().map(|t| (*id, t))).collect()
                };
                if gcs.is_empty() {
                    continue;
                }
                n += 1;
                let boot_ms = boot.elapsed().as_millis() as u32;
                for (id, t) in &fleet {
                    for f in frames(&mut signer, &mut seq, *id, t, boot_ms, n % 5 == 1) {
                        for g in &gcs {
                            let _ = udp.send_to(&f, g.0).await;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_convert_near_the_origin() {
        let (lat, lon) = lat_lon(0.0, 0.0);
        assert_eq!(lat, (ORIGIN_LAT * 1e7).round() as i32);
        assert_eq!(lon, (ORIGIN_LON * 1e7).round() as i32);
        let (lat2, _) = lat_lon(0.0, 111.32);
        assert!((lat2 - lat - 10_000).abs() <= 1);
    }

    #[test]
    fn every_drone_frame_is_signed_and_verifies() {
        let key = [7u8; 32];
        let mut signer = Signer::new(SigningKey::new(key), 0);
        let mut v = Verifier::new(SigningKey::new(key));
        let mut seq = 0;
        let t = Telemetry {
            mode: "mission".into(),
            batt: 80.0,
            ..Default::default()
        };
        let fs = frames(&mut signer, &mut seq, 3, &t, 10, true);
        assert_eq!(fs.len(), 3);
        for f in &fs {
            let (frame, _) = Frame::parse(f).unwrap();
            assert_eq!(frame.addr.sysid, 3);
            v.verify(&frame, timestamp_now()).unwrap();
        }
        let mut other = Verifier::new(SigningKey::new([8u8; 32]));
        let (frame, _) = Frame::parse(&fs[0]).unwrap();
        assert!(other.verify(&frame, timestamp_now()).is_err());
        assert!(frames(&mut signer, &mut seq, 300, &t, 10, true).is_empty());
    }
}
