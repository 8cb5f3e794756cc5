//! `chat bench`: the protocol's figures, measured in this process on loopback TCP against a
//! real [`Server`] (durable logs in a temporary dir, group-committed fsyncs).
//!
//! 1. Handshakes: `clients` tasks connect, run NNpsk0 and send their authenticating Hello,
//!    over and over, for two seconds: completed handshakes per second.
//! 2. Fixed rate: `clients` members in one room post `rate` messages/s in total for `seconds`;
//!    each delivery's latency (sender's send → member's receipt) gives p50/p99. Run with Noise
//!    and over plain TCP (same frames, JSON in clear, no handshake).
//! 3. Cost: every member posts 20 messages as fast as the server acknowledges them; the time
//!    until every member has every message, Noise over plain, is `ratio`.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::link::{Channel, RekeyPolicy, Wire, client_handshake, now_us, read_frame};
use super::noise::Psk;
use super::server::{Server, ServerConfig};
use super::stats::quantile_ms;

const POLICY: RekeyPolicy = RekeyPolicy {
    every: 50,
    period: Duration::from_secs(20),
};

/// The server's write coalescing, as the lab's server uses it.
const COALESCE: Duration = Duration::from_millis(1);

struct Lab {
    addr: SocketAddr,
    psks: Vec<Psk>,
    _dir: crate::cluster::rundir::ScratchDir,
}

async fn start(clients: usize, plain: bool) -> anyhow::Result<Lab> {
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let n = RUNS.fetch_add(1, Ordering::Relaxed);
    let dir = crate::cluster::rundir::ScratchDir::new(&format!("chat-bench-{n}"));
    let server = Server::open(ServerConfig {
        data_dir: dir.path().to_path_buf(),
        plain,
        rekey: POLICY,
        coalesce: COALESCE,
    })?;
    let mut psks = Vec::new();
    for k in 0..clients {
        let psk = Psk::generate();
        server.enroll(&format!("b{k}"), &psk)?;
        psks.push(psk);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(server.serve(listener));
    Ok(Lab {
        addr,
        psks,
        _dir: dir,
    })
}

async fn connect(
    lab: &Lab,
    k: usize,
    plain: bool,
    room: &str,
) -> anyhow::Result<(TcpStream, Channel)> {
    let mut s = TcpStream::connect(lab.addr).await?;
    s.set_nodelay(true)?;
    let psk = (!plain).then(|| lab.psks[k].clone());
    let ts = client_handshake(&mut s, &format!("b{k}"), psk).await?;
    let mut chan = Channel::new(ts, POLICY);
    let mut out = Vec::new();
    chan.seal(
        &Wire::Hello {
            room: room.into(),
            after: u64::MAX,
        },
        &mut out,
    )?;
    s.write_all(&out).await?;
    Ok((s, chan))
}

async fn handshakes(clients: usize) -> anyhow::Result<f64> {
    let lab = Arc::new(start(clients, false).await?);
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let end = start + Duration::from_secs(2);
    let mut tasks = Vec::new();
    for k in 0..clients {
        let (lab, done) = (lab.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < end {
                if connect(&lab, k, false, "hs").await.is_ok() {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64())
}

/// One workload: every member posts `each` messages, paced `gap` apart (zero: as fast as
/// acknowledged); returns (latencies µs, time until all delivered, lost deliveries).
async fn fanout(
    clients: usize,
    plain: bool,
    each: u64,
    gap: Duration,
) -> anyhow::Result<(Vec<u64>, Duration, u64)> {
    let lab = Arc::new(start(clients, plain).await?);
    let total = each * clients as u64;
    let barrier = Arc::new(tokio::sync::Barrier::new(clients + 1));
    let mut tasks = Vec::new();
    for k in 0..clients {
        let (lab, barrier) = (lab.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            let (s, chan) = connect(&lab, k, plain, "bench").await?;
            let chan = Arc::new(std::sync::Mutex::new(chan));
            let (rd, mut wr) = s.into_split();
            let mut rd = tokio::io::BufReader::with_capacity(64 * 1024, rd);
            // Joined once the server echoes a first no-op: wait for the Hello to land.
            tokio::time::sleep(Duration::from_millis(300)).await;
            barrier.wait().await;
            let acked = Arc::new(tokio::sync::Notify::new());
            let (c2, a2) = (chan.clone(), acked.clone());
            let reader = tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut buf = Vec::new();
                while (lat.len() as u64) < total {
                    match tokio::time::timeout(
                        Duration::from_secs(10),
                        read_frame(&mut rd, &mut buf),
                    )
                    .await
                    {
                        Ok(Ok(true)) => {}
                        _ => break,
                    }
                    let msg = c2.lock().map_err(|_| anyhow::anyhow!("lock"))?.open(&buf);
                    match msg {
                        Ok(Some(Wire::Msg(e))) => lat.push(now_us().saturating_sub(e.sent_us)),
                        Ok(Some(Wire::Ack { .. })) => a2.notify_one(),
                        Ok(_) => {}
                        Err(e) => anyhow::bail!("bench client: {e:?}"),
                    }
                }
                anyhow::Ok(lat)
            });
            let mut next = Instant::now() + gap.mul_f64(rand::random::<f64>());
            let mut out = Vec::new();
            for cid in 1..=each {
                if gap.is_zero() {
                    if cid > 1 {
                        acked.notified().await;
                    }
                } else {
                    tokio::time::sleep_until(next.into()).await;
                    next += gap;
                }
                out.clear();
                let say = Wire::Say {
                    cid,
                    sent_us: now_us(),
                    text: format!("b{k} message {cid} of the bench workload"),
                };
                chan.lock()
                    .map_err(|_| anyhow::anyhow!("lock"))?
                    .seal(&say, &mut out)?;
                wr.write_all(&out).await?;
            }
            let lat = reader.await??;
            anyhow::Ok(lat)
        }));
    }
    barrier.wait().await;
    let start = Instant::now();
    let mut all = Vec::new();
    let mut lost = 0;
    for t in tasks {
        let lat = t.await??;
        lost += total - lat.len() as u64;
        all.extend(lat);
    }
    Ok((all, start.elapsed(), lost))
}

/// Runs the bench and prints its figures (text or JSON).
pub fn run(
    clients: usize,
    rate: u64,
    seconds: u64,
    json_out: bool,
    out: &mut dyn Write,
) -> anyhow::Result<i32> {
    anyhow::ensure!((1..=1000).contains(&clients), "--clients must be 1..=1000");
    anyhow::ensure!((1..=100_000).contains(&rate), "--rate must be 1..=100000");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let hs = handshakes(clients).await?;
        let each = (rate * seconds).div_ceil(clients as u64).max(1);
        let gap = Duration::from_secs_f64(clients as f64 / rate as f64);
        let (noise_lat, _, noise_lost) = fanout(clients, false, each, gap).await?;
        let (plain_lat, _, plain_lost) = fanout(clients, true, each, gap).await?;
        let (_, t_noise, l1) = fanout(clients, false, 20, Duration::ZERO).await?;
        let (_, t_plain, l2) = fanout(clients, true, 20, Duration::ZERO).await?;
        let ratio = t_noise.as_secs_f64() / t_plain.as_secs_f64().max(1e-9);
        let v = json!({
            "clients": clients,
            "handshakes_per_s": hs.round(),
            "rate_msgs_per_s": rate,
            "seconds": seconds,
            "deliveries": noise_lat.len(),
            "p50_ms": quantile_ms(noise_lat.clone(), 0.50),
            "p99_ms": quantile_ms(noise_lat, 0.99),
            "plain_p50_ms": quantile_ms(plain_lat.clone(), 0.50),
            "plain_p99_ms": quantile_ms(plain_lat, 0.99),
            "burst_noise_s": (t_noise.as_secs_f64() * 1000.0).round() / 1000.0,
            "burst_plain_s": (t_plain.as_secs_f64() * 1000.0).round() / 1000.0,
            "ratio": (ratio * 100.0).round() / 100.0,
            "lost": noise_lost + plain_lost + l1 + l2,
        });
        if json_out {
            writeln!(out, "{v}")?;
        } else {
            writeln!(out, "handshakes: {} /s with {clients} clients", v["handshakes_per_s"])?;
            writeln!(out, "fan-out, {rate} msg/s into a {clients}-member room for {seconds}s: p50 {} ms, p99 {} ms (plain TCP: p50 {} ms, p99 {} ms)",
                v["p50_ms"], v["p99_ms"], v["plain_p50_ms"], v["plain_p99_ms"])?;
            writeln!(out, "burst of 20 messages per member: Noise {} s, plain {} s → ratio {}",
                v["burst_noise_s"], v["burst_plain_s"], v["ratio"])?;
            writeln!(out, "lost deliveries: {}", v["lost"])?;
        }
        anyhow::Ok(0)
    })
}
