//! `wirelab p2p bench`: a fresh lab on loopback, one generated file, every leecher downloading
//! it at once. Reports wall time, aggregate download rate, and the peak RSS (`VmHWM` from
//! `/proc`) of every process; with aria2c installed, the same file from an aria2c seeder to an
//! aria2c leecher as the reference.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::{Value, json};

use super::lab::{self, LabConfig, LabPlan};

/// `wirelab p2p bench` options.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Size of the generated file.
    #[arg(long, default_value = "1GiB")]
    pub size: String,
    /// Leechers downloading at once.
    #[arg(long, default_value_t = 4)]
    pub leechers: usize,
    /// Pieces in progress per peer (default: the lab file's).
    #[arg(long)]
    pub max_active: Option<usize>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 900)]
    pub timeout: u64,
    /// One JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Runs the bench; returns the exit code.
pub fn run(args: BenchArgs) -> i32 {
    match bench(&args) {
        Ok(v) => {
            if args.json {
                println!("{v}");
            } else {
                println!(
                    "{} bytes to {} leechers in {:.2} s: {:.1} MB/s aggregate",
                    v["bytes"],
                    args.leechers,
                    v["seconds"].as_f64().unwrap_or(0.0),
                    v["mb_per_s"].as_f64().unwrap_or(0.0)
                );
                if let Some(m) = v["peak_rss_kb"].as_object() {
                    for (k, kb) in m {
                        println!("  peak RSS {k:<12} {:>6} KiB", kb);
                    }
                }
                match v["aria2c_seconds"].as_f64() {
                    Some(s) => println!("  aria2c seeder -> aria2c leecher: {s:.2} s"),
                    None => println!(
                        "  aria2c reference: skipped ({})",
                        v["aria2c_note"].as_str().unwrap_or("")
                    ),
                }
            }
            0
        }
        Err(e) => {
            eprintln!("p2p bench: {}", crate::error_chain(&e));
            2
        }
    }
}

fn bench(args: &BenchArgs) -> anyhow::Result<Value> {
    let cfg = LabConfig::builtin()?;
    let mut plan = LabPlan::from_config(&cfg)?;
    // The lab file slows peers down for the dashboard; a benchmark measures them flat out.
    plan.upload_limit = 0;
    plan.size = crate::lab::args::parse_size(&args.size)?;
    plan.leechers = args.leechers.max(1);
    if let Some(m) = args.max_active {
        plan.max_active = m.max(1);
    }
    let dir = crate::cluster::rundir::ScratchDir::new("p2p-bench");
    let sup = lab::launch(&plan, dir.path(), None)?;
    let started = Instant::now();
    let leechers: Vec<u64> = (0..plan.leechers as u64)
        .map(|i| 3 + plan.seeders as u64 + i)
        .collect();
    let deadline = started + Duration::from_secs(args.timeout);
    let result = loop {
        let nodes = sup.nodes();
        let done = leechers.iter().all(|id| {
            nodes
                .iter()
                .find(|n| n.id == *id)
                .is_some_and(|n| n.state.get("complete") == Some(&Value::Bool(true)))
        });
        if done {
            break Ok(started.elapsed().as_secs_f64());
        }
        if Instant::now() > deadline {
            break Err(anyhow::anyhow!(
                "leechers incomplete after {} s",
                args.timeout
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut rss = BTreeMap::new();
    for n in sup.nodes() {
        let name = match n.id {
            id if id <= plan.trackers as u64 => format!("tracker-{id}"),
            id if id <= (plan.trackers + plan.seeders) as u64 => format!("seeder-{id}"),
            id => format!("leecher-{id}"),
        };
        if let Some(kb) = n.pid.and_then(crate::cluster::procstat::peak_rss_kb) {
            rss.insert(name, kb);
        }
    }
    sup.shutdown(Duration::from_secs(2));
    let seconds = result?;
    let bytes = plan.size * plan.leechers as u64;
    let (aria2c_seconds, note) = match aria2c_reference(dir.path(), plan.size) {
        Ok(s) => (Some(s), String::new()),
        Err(e) => (None, e.to_string()),
    };
    Ok(json!({
        "bytes": bytes,
        "seconds": (seconds * 1000.0).round() / 1000.0,
        "mb_per_s": ((bytes as f64 / seconds / 1e6) * 10.0).round() / 10.0,
        "peak_rss_kb": rss,
        "aria2c_seconds": aria2c_seconds,
        "aria2c_note": note,
    }))
}

/// aria2c seeder → aria2c leecher of the lab file, through a wirelab tracker.
fn aria2c_reference(run_dir: &Path, _size: u64) -> anyhow::Result<f64> {
    if Command::new("aria2c")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_err()
    {
        anyhow::bail!("aria2c is not installed");
    }
    let sup = lab::launch_trackers(&run_dir.join("aria2c"), None)?;
    sup.wait_ready(Duration::from_secs(10))?;
    let http: Vec<String> = sup
        .nodes()
        .iter()
        .filter_map(|n| n.http.as_ref().map(|h| format!("http://{h}/announce")))
        .collect();
    let data = run_dir.join("lab-data.bin");
    let t = super::torrent::Torrent::create(&data, http)?;
    let torrent = run_dir.join("aria2c.torrent");
    std::fs::write(&torrent, t.to_bytes())?;
    let common = [
        "--enable-dht=false",
        "--enable-dht6=false",
        "--bt-enable-lpd=false",
        "--enable-peer-exchange=false",
        "--summary-interval=0",
        "--console-log-level=warn",
        "--allow-overwrite=true",
        "--bt-seed-unverified=true",
        "--file-allocation=none",
    ];
    let mut seeder = Command::new("aria2c")
        .args(common)
        .args(["--seed-ratio=0.0", "--listen-port=6991", "-d"])
        .arg(run_dir)
        .arg(&torrent)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let out = run_dir.join("aria2c-out");
    std::fs::create_dir_all(&out)?;
    let started = Instant::now();
    let status = Command::new("aria2c")
        .args(common)
        .args(["--seed-time=0", "--listen-port=6992", "-d"])
        .arg(&out)
        .arg(&torrent)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let secs = started.elapsed().as_secs_f64();
    let _ = seeder.kill();
    let _ = seeder.wait();
    sup.shutdown(Duration::from_secs(1));
    if !status?.success() {
        anyhow::bail!("aria2c leecher failed");
    }
    Ok(secs)
}
