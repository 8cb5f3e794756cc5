//! `uav bench`: the handshake in this process, then a fleet of real processes.
//!
//! 1. Handshake: `--handshakes` full runs of the three-message handshake over loopback TCP
//!    (mission control in this thread, the drone in another; keys already generated), timed
//!    from mission control's accept to the drone's "session ready"; the modexps per handshake
//!    from the group's counter (both sides), and the time of one full-size and one
//!    256-bit-exponent modexp.
//! 2. Fleet: a scratch run of `--drones` drones (real processes under a supervisor in this
//!    process, telemetry at the lab's rate, 50 Hz), once every drone is linked: mission
//!    control's CPU over 5 s, then mission control's own probe (`probe` action): command round
//!    trips (goto-free no-op commands, one at a time, to each drone in turn) and broadcast-to-all
//!    times (one no-op broadcast under the fleet key, until every drone acknowledged).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::group::{self, Element, SecretExponent, SigningKey};
use super::handshake::{DroneHandshake, DroneIdentity, DroneRegistry, McHandshake, NonceCache};
use super::lab::{MC, UavLab};
use super::verbs::{mc_state, poll, send};
use crate::lab::args::RunDirArg;
use crate::lab::{Lab, Target, VerbCtx};

fn quantile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn write_msg(s: &mut std::net::TcpStream, b: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let len = u32::try_from(b.len()).map_err(std::io::Error::other)?;
    s.write_all(&len.to_be_bytes())?;
    s.write_all(b)
}

fn read_msg(s: &mut std::net::TcpStream) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len) as usize;
    if len > super::control::MAX_LINK_FRAME {
        return Err(std::io::Error::other("frame too large"));
    }
    let mut b = vec![0u8; len];
    s.read_exact(&mut b)?;
    Ok(b)
}

/// `n` handshakes over loopback TCP: mission control (this thread) accepts, sends
/// `ClientHello`, …, and stops the clock when the drone (another thread) reports its session
/// ready (what its first record does in the lab).
fn handshakes(n: usize) -> anyhow::Result<Value> {
    let mut rng = rand::rng();
    let mc = SigningKey::generate(&mut rng);
    let drone = DroneIdentity {
        id: 2,
        key: SigningKey::generate(&mut rng),
        mission_control: mc.public().clone(),
    };
    let mut reg = DroneRegistry::new();
    reg.enroll(2, drone.key.public().clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let n = n.max(1);
    let before = group::modexp_count();
    let peer = std::thread::spawn(move || -> anyhow::Result<u64> {
        let start = group::modexp_count();
        let mut seen = NonceCache::new(n + 1);
        let mut rng = rand::rng();
        for _ in 0..n {
            let mut s = std::net::TcpStream::connect(addr)?;
            s.set_nodelay(true)?;
            let hello = read_msg(&mut s)?;
            let (mut d, reply) = DroneHandshake::respond(&drone, &mut seen, &hello, &mut rng)?;
            write_msg(&mut s, &reply)?;
            let fin = read_msg(&mut s)?;
            d.finish(&fin)?;
            write_msg(&mut s, b"ready")?;
        }
        Ok(group::modexp_count() - start)
    });
    let mut mc_seen = NonceCache::new(n + 1);
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let (mut s, _) = listener.accept()?;
        s.set_nodelay(true)?;
        let t = Instant::now();
        let (mut m, hello) = McHandshake::start(&mut rng);
        write_msg(&mut s, &hello)?;
        let reply = read_msg(&mut s)?;
        let (_, fin) = m.finish(&mc, &reg, &mut mc_seen, &reply, &mut rng)?;
        write_msg(&mut s, &fin)?;
        read_msg(&mut s)?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let mc_pows = group::modexp_count() - before;
    let drone_pows = peer
        .join()
        .map_err(|_| anyhow::anyhow!("drone thread panicked"))??;
    let per = (mc_pows + drone_pows) as f64 / n as f64;
    let mut time_pow = |short: bool| {
        let mut ts = Vec::new();
        for _ in 0..20 {
            let x = if short {
                SecretExponent::random_short(&mut rng)
            } else {
                SecretExponent::random_full(&mut rng)
            };
            let t = Instant::now();
            let _ = Element::base_pow(&x);
            ts.push(t.elapsed().as_secs_f64() * 1e3);
        }
        quantile(&mut ts, 0.5)
    };
    let (full, short) = (time_pow(false), time_pow(true));
    Ok(json!({
        "n": times.len(),
        "transport": "loopback TCP, drone in another thread",
        "median_ms": quantile(&mut times, 0.5),
        "p99_ms": quantile(&mut times, 0.99),
        "max_ms": quantile(&mut times, 1.0),
        "modexps_per_handshake": per,
        "modexps_mission_control": mc_pows as f64 / n as f64,
        "modexps_drone": drone_pows as f64 / n as f64,
        "modexp_full_ms": full,
        "modexp_256bit_ms": short,
    }))
}

fn fleet(cx: &mut VerbCtx<'_>, drones: usize) -> anyhow::Result<Value> {
    let scratch = crate::cluster::rundir::ScratchDir::new("uav-bench");
    let n = drones.to_string();
    let up = crate::lab::up_matches(&UavLab, &["--drones", &n])?;
    let t0 = Instant::now();
    let sup = UavLab.launch(&up, scratch.path(), None)?;
    let result = (|| -> anyhow::Result<Value> {
        let mut inner = VerbCtx {
            target: Target::InProcess(&sup),
            out: &mut *cx.out,
            err: &mut *cx.err,
            interrupted: cx.interrupted,
        };
        let run = RunDirArg::default();
        let all_up = poll(&inner, &run, Duration::from_secs(300), |ns| {
            mc_state(ns)
                .and_then(|s| s.get("linked"))
                .and_then(Value::as_u64)
                == Some(drones as u64)
        })?;
        anyhow::ensure!(all_up, "not every drone linked within 300 s");
        let linked_s = t0.elapsed().as_secs_f64();
        // Telemetry settles, then 5 s of mission control's CPU.
        std::thread::sleep(Duration::from_secs(2));
        let pid = sup.node(MC)?.pid.ok_or_else(|| anyhow::anyhow!("no pid"))? as i32;
        let a = crate::cluster::procstat::sample(pid).ok_or_else(|| anyhow::anyhow!("no /proc"))?;
        let t = Instant::now();
        std::thread::sleep(Duration::from_secs(5));
        let b = crate::cluster::procstat::sample(pid).ok_or_else(|| anyhow::anyhow!("no /proc"))?;
        let cpu = crate::cluster::procstat::cpu_percent(a, b, t.elapsed().as_secs_f64());
        let tag = rand::random::<u32>() as u64 + 1;
        send(
            &inner.target,
            &run,
            MC,
            "probe",
            json!({"cmds": 500, "bcasts": 100, "tag": tag}),
        )?;
        let mut probe = Value::Null;
        poll(&inner, &run, Duration::from_secs(300), |ns| {
            probe = mc_state(ns)
                .and_then(|s| s.get("probe"))
                .cloned()
                .unwrap_or_default();
            probe.get("tag").and_then(Value::as_u64) == Some(tag)
        })?;
        let _ = &mut inner;
        Ok(json!({
            "drones": drones,
            "telemetry_hz": 50,
            "all_linked_after_s": linked_s,
            "mc_cpu_percent": (cpu * 10.0).round() / 10.0,
            "probe": probe,
        }))
    })();
    sup.shutdown(Duration::from_secs(3));
    result
}

/// Runs the bench; prints a table or one JSON object.
pub fn run(cx: &mut VerbCtx<'_>, drones: usize, n: usize, as_json: bool) -> anyhow::Result<i32> {
    anyhow::ensure!(drones <= super::lab::MAX_DRONES, "--drones at most 250");
    anyhow::ensure!(
        (1..=100_000).contains(&n),
        "--handshakes must be 1..=100000"
    );
    let hs = handshakes(n)?;
    let fl = if drones > 0 {
        fleet(cx, drones)?
    } else {
        Value::Null
    };
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    if as_json {
        // The headline figures also at the top level (what a portfolio `metric` names).
        let p = &fl["probe"];
        writeln!(
            cx.out,
            "{}",
            json!({"build": profile, "handshake": hs, "fleet": fl,
                   "handshake_median_ms": hs["median_ms"], "handshake_p99_ms": hs["p99_ms"],
                   "modexps_per_handshake": hs["modexps_per_handshake"],
                   "mc_cpu_percent": fl["mc_cpu_percent"], "cmd_p99_ms": p["cmd_p99_ms"],
                   "bcast_p99_ms": p["bcast_p99_ms"]})
        )?;
        return Ok(0);
    }
    writeln!(cx.out, "uav bench ({profile} build)")?;
    writeln!(
        cx.out,
        "handshake (2048-bit group, loopback TCP, keys generated): median {:.2} ms, p99 {:.2} ms over {}; {} modexps each (full-size {:.2} ms, 256-bit {:.2} ms)",
        hs["median_ms"].as_f64().unwrap_or(0.0),
        hs["p99_ms"].as_f64().unwrap_or(0.0),
        hs["n"],
        hs["modexps_per_handshake"],
        hs["modexp_full_ms"].as_f64().unwrap_or(0.0),
        hs["modexp_256bit_ms"].as_f64().unwrap_or(0.0),
    )?;
    if !fl.is_null() {
        let p = &fl["probe"];
        writeln!(
            cx.out,
            "fleet of {} at 50 Hz: mission control CPU {}% of one core; command round trip p50 {} ms, p99 {} ms ({}); broadcast to all p50 {} ms, p99 {} ms ({})",
            fl["drones"],
            fl["mc_cpu_percent"],
            p["cmd_p50_ms"],
            p["cmd_p99_ms"],
            p["cmd_n"],
            p["bcast_p50_ms"],
            p["bcast_p99_ms"],
            p["bcast_n"],
        )?;
    }
    Ok(0)
}
