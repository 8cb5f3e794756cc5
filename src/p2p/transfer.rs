//! `wirelab p2p share` and `wirelab p2p get`: the two verbs anyone uses, with a progress bar
//! (rate and ETA) on a terminal, and how they find the trackers' RPC addresses.

use std::io::{IsTerminal, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::peer::swarm::{Progress, Swarm, SwarmConfig};
use super::torrent::{Torrent, hex};
use crate::cluster::rundir::{read_cluster_file, resolve_run_dir};

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// `GET http://ADDR/rpc` on a tracker: its framed-RPC address.
pub fn resolve_rpc(announce_url: &str) -> anyhow::Result<SocketAddr> {
    let hostport = announce_url
        .strip_prefix("http://")
        .and_then(|r| r.split('/').next())
        .ok_or_else(|| anyhow::anyhow!("not an http:// announce URL: {announce_url}"))?;
    let addr: SocketAddr = hostport.parse()?;
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    write!(
        s,
        "GET /rpc HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\n\r\n"
    )?;
    let mut resp = Vec::new();
    s.take(4096).read_to_end(&mut resp)?;
    let text = String::from_utf8_lossy(&resp);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").trim();
    Ok(body.parse()?)
}

/// The trackers of the newest p2p run: (announce URLs, RPC addresses).
fn newest_trackers() -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let dir = resolve_run_dir("p2p", None)?;
    let cf = read_cluster_file(&dir)?;
    let trackers: Vec<_> = cf
        .nodes
        .iter()
        .filter(|n| n.role == "p2p-tracker")
        .collect();
    if trackers.is_empty() {
        anyhow::bail!("the newest run ({}) has no trackers", dir.display());
    }
    Ok((
        trackers
            .iter()
            .filter_map(|n| n.http.as_ref().map(|h| format!("http://{h}/announce")))
            .collect(),
        trackers.iter().map(|n| n.addr.clone()).collect(),
    ))
}

pub(super) fn share(
    file: &Path,
    out: Option<PathBuf>,
    urls: Vec<String>,
    listen: SocketAddr,
) -> anyhow::Result<i32> {
    let (urls, rpc) = if urls.is_empty() {
        newest_trackers()?
    } else {
        let rpc = urls
            .iter()
            .filter_map(|u| resolve_rpc(u).ok().map(|a| a.to_string()))
            .collect();
        (urls, rpc)
    };
    let mut t = Torrent::create(file, urls)?;
    t.rpc = rpc;
    let out = out.unwrap_or_else(|| PathBuf::from(format!("{}.torrent", t.name)));
    std::fs::write(&out, t.to_bytes())?;
    let t = Arc::new(t);
    let trackers = t.rpc.iter().filter_map(|a| a.parse().ok()).collect();
    let rt = runtime()?;
    rt.block_on(async {
        let swarm = Swarm::start(SwarmConfig {
            torrent: t.clone(),
            path: file.to_path_buf(),
            listen,
            trackers,
            register: true,
            max_active: 2,
            upload_limit: 0,
        })
        .await?;
        println!(
            "seeding {} ({} bytes, {} pieces, info hash {}) on {}; torrent written to {}",
            t.name,
            t.length,
            t.piece_count(),
            hex(&t.info_hash),
            swarm.addr(),
            out.display()
        );
        let tty = std::io::stderr().is_terminal();
        let started = Instant::now();
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = tokio::time::sleep(Duration::from_millis(500)) => {
                    if tty {
                        let p = swarm.progress();
                        let rate = p.uploaded as f64 / started.elapsed().as_secs_f64().max(0.001) / 1e6;
                        eprint!("\rseeding: {} peers, {} MB sent, {rate:.1} MB/s   ", p.peers, p.uploaded >> 20);
                    }
                }
            }
        }
        swarm.stop();
        tokio::time::sleep(Duration::from_millis(400)).await;
        anyhow::Ok(0)
    })
}

fn progress_line(p: &Progress, elapsed: f64) -> String {
    let frac = p.have as f64 / p.pieces.max(1) as f64;
    let width = 30;
    let filled = (frac * width as f64) as usize;
    let rate = p.downloaded as f64 / elapsed.max(0.001);
    let left = p.size as f64 * (1.0 - frac);
    let eta = if rate > 0.0 {
        left / rate
    } else {
        f64::INFINITY
    };
    format!(
        "\r[{}{}] {:>3.0}% {:>7.1} MB/s ETA {:>4.0}s peers {}",
        "#".repeat(filled),
        ".".repeat(width - filled),
        frac * 100.0,
        rate / 1e6,
        eta.min(9999.0),
        p.peers
    )
}

pub(super) fn get(torrent: &Path, out: &Path, listen: SocketAddr) -> anyhow::Result<i32> {
    let t = Torrent::load(torrent)?;
    let trackers: Vec<SocketAddr> = if t.rpc.is_empty() {
        t.trackers
            .iter()
            .filter_map(|u| resolve_rpc(u).ok())
            .collect()
    } else {
        t.rpc.iter().filter_map(|a| a.parse().ok()).collect()
    };
    if trackers.is_empty() {
        anyhow::bail!("no reachable wirelab tracker in {}", torrent.display());
    }
    std::fs::create_dir_all(out)?;
    let path = out.join(&t.name);
    let t = Arc::new(t);
    let rt = runtime()?;
    rt.block_on(async {
        let swarm = Swarm::start(SwarmConfig {
            torrent: t.clone(),
            path: path.clone(),
            listen,
            trackers,
            register: false,
            max_active: 2,
            upload_limit: 0,
        })
        .await?;
        let tty = std::io::stderr().is_terminal();
        let started = Instant::now();
        let done = swarm.wait_complete();
        tokio::pin!(done);
        loop {
            tokio::select! {
                _ = &mut done => break,
                _ = tokio::signal::ctrl_c() => {
                    swarm.stop();
                    eprintln!("\ninterrupted; verified pieces stay on disk for a resume");
                    return anyhow::Ok(1);
                }
                _ = tokio::time::sleep(Duration::from_millis(250)) => {
                    if tty {
                        eprint!("{}", progress_line(&swarm.progress(), started.elapsed().as_secs_f64()));
                    }
                }
            }
        }
        swarm.stop();
        let secs = started.elapsed().as_secs_f64();
        if tty {
            eprintln!("{}", progress_line(&swarm.progress(), secs));
        }
        println!(
            "{} complete and verified: {} bytes in {secs:.2} s ({:.1} MB/s)",
            path.display(),
            t.length,
            t.length as f64 / secs.max(0.001) / 1e6
        );
        // Tell the trackers we leave, so nobody dials a closed port.
        tokio::time::sleep(Duration::from_millis(300)).await;
        anyhow::Ok(0)
    })
}
