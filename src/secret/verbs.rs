//! The secret lab's own verbs: the reader and writer (`send`, `open`), the link scanner
//! (`scan`), the attacker (`race`, `tamper`, `snoop`) and `bench`.
//!
//! Exit codes: 0 success (for `race`: exactly the allowed number of winners; for `scan`: the
//! secret survived; for `snoop URL`: no key found on the server's side); 1 refused or the
//! property failed (`open`: already opened, expired, tampered); 2 an error.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Subcommand;
use serde_json::{Value, json};

use super::api::LAB_TOKEN_HEADER;
use super::client::{self, Http, OpenError, SendOptions};
use super::format::{self, Link};
use super::lab::{NAME, Plan, SCANNER, SERVER, TOKEN_FILE};
use crate::cluster::control::ControlRequest;
use crate::cluster::event::ControlCommand;
use crate::lab::args::{RunDirArg, parse_duration};
use crate::lab::{TourStep, VerbCtx};

/// The secret lab's own verbs.
#[derive(Debug, Subcommand)]
pub enum SecretVerb {
    /// Encrypt standard input here and store only the ciphertext: prints the one-time link
    /// (its #fragment holds the key).
    Send {
        /// Time to live (from the courier's menu: 1m, 5m, 1h, 1d…).
        #[arg(long, default_value = "1h")]
        ttl: String,
        /// Views before deletion.
        #[arg(long, default_value_t = 1)]
        views: u32,
        /// A passphrase mixed into the key (the reader needs it too; never sent).
        #[arg(long)]
        passphrase: Option<String>,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Claim and decrypt a link's secret: prints it (exit 0), or says why not (exit 1).
    Open {
        /// The link.
        url: String,
        /// The passphrase, if the sender set one.
        #[arg(long)]
        passphrase: Option<String>,
    },
    /// The link-scanner bot (node 2) previews the link like a chat app; the secret survives.
    Scan {
        /// The link.
        url: String,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// N concurrent claims of one link: exactly one wins (as many as it has views).
    Race {
        /// The link.
        url: String,
        /// Concurrent claimers, each on its own connection.
        #[arg(long, default_value_t = 100)]
        claimers: usize,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// The attacker flips a ciphertext bit in the store: the reader gets an authentication
    /// failure, not garbage.
    Tamper {
        /// The secret's id (or its link).
        id: String,
        /// Which ciphertext byte.
        #[arg(long, default_value_t = 0)]
        byte: usize,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// What the server and its store hold: ciphertext only. With a link: the server's view
    /// next to the client's, and a search for the key on the server's side.
    Snoop {
        /// A link to compare views for.
        url: Option<String>,
        /// One JSON object.
        #[arg(long)]
        json: bool,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Create+claim throughput on the embedded store and on Redis, and the 100-claimer race.
    Bench(super::bench::BenchArgs),
}

/// The tour on the secret dashboard.
pub const TOUR: &[TourStep] = &[
    TourStep::new(
        "The courier (node 1) stores only ciphertext. `send` encrypts here with a key it puts in the link's #fragment, which no HTTP client sends; `open` claims it once and decrypts.",
        Some("url=$(echo 'the launch code is 0000' | secret send) && secret open \"$url\""),
        6,
    ),
    TourStep::new(
        "Opened once, gone: the second reader hears 'already opened', from a server that never knew what it carried.",
        Some("secret open \"$url\""),
        5,
    )
    .refused(),
    TourStep::new(
        "Chat apps fetch every link to build a preview. The scanner bot (node 2) does just that: the page shows only a reveal button, so the secret survives the preview.",
        Some(
            "url=$(echo 'preview-proof' | secret send) && secret scan \"$url\" && secret open \"$url\"",
        ),
        7,
    ),
    TourStep::new(
        "A hundred claimers at once, each on its own connection: exactly one gets the ciphertext, 99 get 404. Burned by race losers: 0.",
        Some("url=$(echo 'only one of you' | secret send) && secret race \"$url\" --claimers 100"),
        7,
    ),
    TourStep::new(
        "What does the server hold? Its view next to the client's: ciphertext on one side, plaintext on the other, and no key anywhere on the server's disk or logs.",
        Some("url=$(echo 'courier, not reader' | secret send) && secret snoop \"$url\""),
        8,
    ),
    TourStep::new(
        "The attacker flips one bit of a stored ciphertext: the reader gets an authentication failure, never altered plaintext.",
        Some(
            "url=$(echo 'do not alter' | secret send) && secret tamper \"$url\"; secret open \"$url\"",
        ),
        7,
    )
    .refused(),
    TourStep::new(
        "SIGKILL the courier between create and claim, and restart it from disk: the secret is there, exactly once (fsync before every acknowledgement).",
        Some(
            "url=$(echo 'survives a crash' | secret send) && secret kill 1 && secret restart 1 && secret open \"$url\"",
        ),
        8,
    ),
];

/// Where the lab is: its run dir and plan.
pub struct Located {
    /// Run dir.
    pub dir: PathBuf,
    /// Plan.
    pub plan: Plan,
}

impl Located {
    /// The courier's address.
    pub fn server(&self) -> anyhow::Result<std::net::SocketAddr> {
        Ok(self.plan.server.parse()?)
    }

    /// A connection to the courier carrying the lab token.
    pub async fn lab_http(&self) -> anyhow::Result<Http> {
        let token = super::server::read_token(&self.dir.join(TOKEN_FILE))
            .map_err(|e| anyhow::anyhow!(e))?;
        Ok(Http::connect(self.server()?)
            .await
            .map_err(|e| anyhow::anyhow!(e))?
            .with_header(LAB_TOKEN_HEADER, &token))
    }
}

/// Finds the running lab.
pub fn locate(cx: &VerbCtx<'_>, run: &RunDirArg) -> anyhow::Result<Located> {
    let resp = cx.target.request(NAME, run, ControlRequest::Status)?;
    let dir = cx.target.run_dir(NAME, run)?;
    anyhow::ensure!(
        resp.nodes.iter().any(|n| n.id == SERVER),
        "the lab has no courier"
    );
    Ok(Located {
        plan: Plan::load(&dir)?,
        dir,
    })
}

/// A current-thread runtime for one verb.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Reads standard input (fd 0, as redirected by the shell), at most `limit` bytes + 1.
fn read_stdin(limit: usize) -> std::io::Result<Vec<u8>> {
    use std::os::fd::FromRawFd;
    // SAFETY: dup returns a new descriptor that nothing else owns (or -1, checked).
    let fd = unsafe { libc::dup(0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just created and is owned by this File alone.
    let f = unsafe { std::fs::File::from_raw_fd(fd) };
    let mut v = Vec::new();
    f.take(limit as u64 + 1).read_to_end(&mut v)?;
    Ok(v)
}

fn id_of(s: &str) -> anyhow::Result<String> {
    if s.starts_with("http://") {
        return Ok(Link::parse(s)?.id);
    }
    format::decode_id(s)?;
    Ok(s.to_string())
}

/// Runs a verb.
pub fn run(verb: SecretVerb, cx: &mut VerbCtx<'_>) -> anyhow::Result<i32> {
    match verb {
        SecretVerb::Send {
            ttl,
            views,
            passphrase,
            run,
        } => {
            let l = locate(cx, &run)?;
            let ttl = parse_duration(&ttl).map_err(|e| anyhow::anyhow!("--ttl: {e}"))?;
            let text = read_stdin(format::MAX_PLAINTEXT)?;
            if text.len() > format::MAX_PLAINTEXT {
                writeln!(cx.err, "secret: send: standard input is over 64 KiB")?;
                return Ok(1);
            }
            let opts = SendOptions {
                ttl: ttl.as_secs(),
                views,
                passphrase,
            };
            match runtime()?.block_on(client::send(&l.plan.origin(), &text, &opts)) {
                Ok(url) => {
                    writeln!(cx.out, "{url}")?;
                    Ok(0)
                }
                Err(e) => {
                    writeln!(cx.err, "secret: send: {e}")?;
                    Ok(1)
                }
            }
        }
        SecretVerb::Open { url, passphrase } => {
            match runtime()?.block_on(client::open(&url, passphrase.as_deref())) {
                Ok(plain) => {
                    cx.out.write_all(&plain)?;
                    if !plain.ends_with(b"\n") {
                        writeln!(cx.out)?;
                    }
                    Ok(0)
                }
                Err(e @ OpenError::Other(_)) | Err(e @ OpenError::Link(_)) => {
                    writeln!(cx.err, "secret: open: {e}")?;
                    Ok(2)
                }
                Err(e) => {
                    writeln!(cx.err, "secret: open: {e}")?;
                    Ok(1)
                }
            }
        }
        SecretVerb::Scan { url, run } => scan(cx, &url, &run),
        SecretVerb::Race { url, claimers, run } => race(cx, &url, claimers, &run),
        SecretVerb::Tamper { id, byte, run } => {
            let l = locate(cx, &run)?;
            let id = id_of(&id)?;
            let r = runtime()?.block_on(async {
                let mut h = l.lab_http().await?;
                h.request("POST", &format!("/lab/tamper/{id}?byte={byte}"), None)
                    .await
                    .map_err(|e| anyhow::anyhow!(e))
            })?;
            if r.status == 200 {
                writeln!(
                    cx.out,
                    "attacker: flipped a bit of ciphertext byte {byte} of {} in the store; its reader will get an authentication failure, not altered text",
                    format::id_prefix(&id)
                )?;
                Ok(0)
            } else {
                writeln!(cx.err, "secret: tamper: {}", r.error_text())?;
                Ok(1)
            }
        }
        SecretVerb::Snoop { url, json, run } => super::snoop::run(cx, url.as_deref(), json, &run),
        SecretVerb::Bench(args) => super::bench::run(cx, args),
    }
}

fn scan(cx: &mut VerbCtx<'_>, url: &str, run: &RunDirArg) -> anyhow::Result<i32> {
    let link = Link::parse(url)?;
    let l = locate(cx, run)?;
    let scans_of = |cx: &VerbCtx<'_>| -> anyhow::Result<(u64, Value)> {
        let resp = cx.target.request(NAME, run, ControlRequest::Status)?;
        let n = resp
            .nodes
            .iter()
            .find(|n| n.id == SCANNER)
            .ok_or_else(|| anyhow::anyhow!("the lab has no scanner"))?;
        anyhow::ensure!(
            n.status.is_alive(),
            "the scanner (node 2) is {}",
            n.status.as_str()
        );
        let state = Value::Object(n.state.clone());
        Ok((state["scans"].as_u64().unwrap_or(0), state))
    };
    let (before, _) = scans_of(cx)?;
    cx.target.request(
        NAME,
        run,
        ControlRequest::Send {
            node: SCANNER,
            command: ControlCommand::Lab {
                action: "scan".into(),
                args: json!({ "url": url }),
            },
        },
    )?;
    let deadline = Instant::now() + Duration::from_secs(15);
    let state = loop {
        let (n, state) = scans_of(cx)?;
        if n > before {
            break state;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the scanner did not report in 15 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    if let Some(e) = state["last_error"].as_str() {
        writeln!(cx.err, "secret: scan: the bot failed: {e}")?;
        return Ok(2);
    }
    writeln!(
        cx.out,
        "link scanner (node 2) previewed the link, as chat apps do:"
    )?;
    for r in state["last_requests"].as_array().into_iter().flatten() {
        writeln!(cx.out, "  {}", r.as_str().unwrap_or_default())?;
    }
    writeln!(
        cx.out,
        "  saw: page titled {:?}, {} bytes, ciphertext: {}, key: never (the #fragment is not sent)",
        state["last_title"].as_str().unwrap_or_default(),
        state["last_bytes"],
        if state["last_saw_ciphertext"] == json!(true) {
            "yes"
        } else {
            "no"
        }
    )?;
    let meta = runtime()?.block_on(async {
        let mut h = Http::connect(l.server()?)
            .await
            .map_err(|e| anyhow::anyhow!(e))?;
        h.request("GET", &format!("/api/secrets/{}", link.id), None)
            .await
            .map_err(|e| anyhow::anyhow!(e))
    })?;
    if meta.status == 200 {
        writeln!(
            cx.out,
            "the secret survived the preview: still {} view(s) left for its reader",
            meta.json()["views_left"]
        )?;
        Ok(0)
    } else {
        writeln!(
            cx.out,
            "the preview burned the secret: {}",
            meta.error_text()
        )?;
        Ok(1)
    }
}

/// Outcome of a race.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RaceOutcome {
    /// 200s.
    pub winners: usize,
    /// 404s.
    pub not_found: usize,
    /// Anything else (errors, 429, 5xx).
    pub other: usize,
    /// Whether every winner's ciphertext decrypted with the link's key.
    pub decrypted: bool,
    /// First unexpected answer.
    pub first_other: Option<String>,
}

/// The first line `secret race` prints (the dashboard reads it back with
/// [`parse_race_summary`]).
pub fn race_summary(claimers: usize, o: &RaceOutcome, burned: u64) -> String {
    format!(
        "race: {claimers} concurrent claimers → {} got the secret (200), {} got 404, {} other; burned by race losers: {burned}",
        o.winners, o.not_found, o.other
    )
}

/// A race's figures read back from its [`race_summary`] line: claimers, winners, 404s, other
/// answers and views burned by losers.
pub fn parse_race_summary(line: &str) -> Option<[u64; 5]> {
    let rest = line.strip_prefix("race: ")?;
    let (claimers, rest) = rest.split_once(" concurrent claimers → ")?;
    let (winners, rest) = rest.split_once(" got the secret (200), ")?;
    let (not_found, rest) = rest.split_once(" got 404, ")?;
    let (other, burned) = rest.split_once(" other; burned by race losers: ")?;
    let n = |s: &str| s.trim().parse::<u64>().ok();
    Some([
        n(claimers)?,
        n(winners)?,
        n(not_found)?,
        n(other)?,
        n(burned)?,
    ])
}

/// Fires `claimers` concurrent claims at `id` on `addr`, each on its own connection opened
/// beforehand, released together by a barrier.
pub async fn race_claims(
    addr: std::net::SocketAddr,
    id: &str,
    claimers: usize,
    key: Option<&[u8; 32]>,
) -> Result<RaceOutcome, String> {
    let mut conns = Vec::with_capacity(claimers);
    for _ in 0..claimers {
        conns.push(Http::connect(addr).await?);
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(claimers));
    let path = Arc::new(format!("/api/secrets/{id}/claim"));
    let mut tasks = Vec::with_capacity(claimers);
    for mut c in conns {
        let (b, p) = (barrier.clone(), path.clone());
        tasks.push(tokio::spawn(async move {
            b.wait().await;
            c.request("POST", &p, None).await
        }));
    }
    let mut out = RaceOutcome {
        decrypted: true,
        ..RaceOutcome::default()
    };
    for t in tasks {
        match t.await {
            Ok(Ok(r)) if r.status == 200 => {
                out.winners += 1;
                if let Some(key) = key {
                    let v = r.json();
                    let ok = match (
                        v["iv"].as_str().and_then(format::unb64),
                        v["ciphertext"].as_str().and_then(format::unb64),
                    ) {
                        (Some(iv), Some(ct)) => <[u8; 12]>::try_from(iv.as_slice())
                            .ok()
                            .is_some_and(|iv| format::open(key, &iv, &ct).is_ok()),
                        _ => false,
                    };
                    out.decrypted &= ok;
                }
            }
            Ok(Ok(r)) if r.status == 404 => out.not_found += 1,
            Ok(Ok(r)) => {
                out.other += 1;
                out.first_other
                    .get_or_insert(format!("HTTP {}: {}", r.status, r.error_text()));
            }
            Ok(Err(e)) => {
                out.other += 1;
                out.first_other.get_or_insert(e);
            }
            Err(e) => {
                out.other += 1;
                out.first_other.get_or_insert(e.to_string());
            }
        }
    }
    Ok(out)
}

async fn server_counters(l: &Located) -> anyhow::Result<Value> {
    let mut h = l.lab_http().await?;
    let r = h
        .request("GET", "/lab/snoop", None)
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    anyhow::ensure!(r.status == 200, "snoop: {}", r.error_text());
    Ok(r.json())
}

fn race(cx: &mut VerbCtx<'_>, url: &str, claimers: usize, run: &RunDirArg) -> anyhow::Result<i32> {
    anyhow::ensure!(
        (1..=1000).contains(&claimers),
        "--claimers must be 1..=1000"
    );
    let link = Link::parse(url)?;
    let l = locate(cx, run)?;
    let addr = l.server()?;
    let rt = runtime()?;
    let (outcome, views, burned) = rt.block_on(async {
        let mut h = Http::connect(addr).await.map_err(|e| anyhow::anyhow!(e))?;
        let meta = h
            .request("GET", &format!("/api/secrets/{}", link.id), None)
            .await
            .map_err(|e| anyhow::anyhow!(e))?;
        anyhow::ensure!(
            meta.status == 200,
            "nothing to race for: {}",
            meta.error_text()
        );
        let views = meta.json()["views_left"].as_u64().unwrap_or(1) as usize;
        let before = server_counters(&l).await?;
        let key = format::derive_key(&link.token, None);
        let outcome = race_claims(addr, &link.id, claimers, Some(&key))
            .await
            .map_err(|e| anyhow::anyhow!(e))?;
        let after = server_counters(&l).await?;
        let d = |k: &str| {
            after[k].as_u64().unwrap_or(0)
                - before[k]
                    .as_u64()
                    .unwrap_or(0)
                    .min(after[k].as_u64().unwrap_or(0))
        };
        // Views the server gave away, minus those a claimer received.
        let consumed = d("claimed") + d("burned_undelivered");
        let burned = consumed.saturating_sub(outcome.winners as u64);
        Ok::<_, anyhow::Error>((outcome, views, burned))
    })?;
    let expected = views.min(claimers);
    writeln!(cx.out, "{}", race_summary(claimers, &outcome, burned))?;
    if let Some(o) = &outcome.first_other {
        writeln!(cx.out, "  first unexpected answer: {o}")?;
    }
    if outcome.winners > 0 {
        writeln!(
            cx.out,
            "  the winner's ciphertext {} with the link's key",
            if outcome.decrypted {
                "decrypted"
            } else {
                "did NOT decrypt (passphrase or tampering)"
            }
        )?;
    }
    let ok = outcome.winners == expected && outcome.not_found == claimers - expected && burned == 0;
    writeln!(
        cx.out,
        "{}",
        if ok {
            format!("exactly {expected} winner(s), as allowed: the claim is atomic")
        } else {
            format!("VIOLATION: expected exactly {expected} winner(s)")
        }
    )?;
    Ok(if ok { 0 } else { 1 })
}

/// Where the server side of a run keeps its files (for `snoop`'s search).
pub fn server_files(dir: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for d in [dir.to_path_buf(), dir.join("node-1")] {
        if let Ok(rd) = std::fs::read_dir(&d) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_file() && p.file_name().is_some_and(|n| n != TOKEN_FILE) {
                    v.push(p);
                }
            }
        }
    }
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_race_summary_reads_back() {
        let o = RaceOutcome {
            winners: 1,
            not_found: 99,
            ..RaceOutcome::default()
        };
        let line = race_summary(100, &o, 0);
        assert_eq!(parse_race_summary(&line), Some([100, 1, 99, 0, 0]));
        assert_eq!(parse_race_summary("race: lots"), None);
    }
}
