//! `wirelab node secret-scanner`: the link-scanner bot. Chat apps, mail filters and
//! "safe browsing" gateways fetch every URL a message carries to build a preview or check it;
//! a one-time link that burned on a GET would be read by the bot and dead for its reader
//! (pinterest/snappass issue 125, osbytes/crypt.fyi issue 31). Given a link (the lab action
//! `scan`), this bot does what they do: it drops the `#fragment` (an HTTP client never sends
//! it), sends `HEAD` and `GET` for the page, fetches the page's script and style as a renderer
//! would, and, like a scanner that runs the page's JavaScript, the metadata lookup that script
//! makes. Then it reports what it saw as a `state` event. None of that consumes the secret:
//! only the reveal button's POST does.

use std::sync::Arc;

use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use super::client::{Http, resolve};
use super::format;
use crate::cluster::event::{
    ControlCommand, Emitter, NodeEvent, NodeRuntime, run_node, watch_stdin,
};

/// The role's name.
pub const ROLE: &str = "secret-scanner";
/// The User-Agent it sends.
pub const USER_AGENT: &str =
    "wirelab-linkscanner/1.0 (like Slackbot-LinkExpanding, facebookexternalhit)";

/// Arguments of `wirelab node secret-scanner`.
#[derive(Debug, Clone, clap::Args)]
pub struct ScannerArgs {
    /// Node id.
    #[arg(long, default_value_t = 2)]
    pub id: u64,
    /// Data dir (unused).
    #[arg(long)]
    pub data_dir: Option<std::path::PathBuf>,
}

/// Runs the node.
pub fn run_cli(args: ScannerArgs) -> i32 {
    let _ = args;
    run_node(NodeRuntime::CurrentThread, run)
}

/// What one scan saw.
#[derive(Debug, Default, Clone)]
pub struct ScanReport {
    /// Request lines and statuses, ids shortened.
    pub requests: Vec<String>,
    /// The page's `<title>`.
    pub title: String,
    /// Bytes fetched.
    pub bytes: usize,
    /// Whether any response carried the stored ciphertext (a claim answer).
    pub saw_ciphertext: bool,
}

fn title_of(html: &str) -> String {
    html.split_once("<title>")
        .and_then(|(_, r)| r.split_once("</title>"))
        .map(|(t, _)| t.trim().to_string())
        .unwrap_or_default()
}

/// Fetches `url` the way a link preview does.
pub async fn scan(url: &str) -> Result<ScanReport, String> {
    let no_fragment = url.split('#').next().unwrap_or(url);
    let rest = no_fragment
        .strip_prefix("http://")
        .ok_or_else(|| format!("not an http:// link: {no_fragment}"))?;
    let (authority, path) = match rest.split_once('/') {
        Some((a, p)) => (a, format!("/{p}")),
        None => (rest, "/".to_string()),
    };
    let mut http = Http::connect(resolve(authority)?)
        .await?
        .with_header("User-Agent", USER_AGENT)
        .with_header("Accept", "text/html,*/*");
    let mut report = ScanReport::default();
    let shown = super::api::redact_target(&path);
    let head = http.request("HEAD", &path, None).await?;
    report
        .requests
        .push(format!("HEAD {shown} → {}", head.status));
    let page = http.request("GET", &path, None).await?;
    report
        .requests
        .push(format!("GET {shown} → {}", page.status));
    report.bytes += page.body.len();
    let html = String::from_utf8_lossy(&page.body).into_owned();
    report.title = title_of(&html);
    for sub in ["/app.js", "/app.css"] {
        if html.contains(sub) {
            let r = http.request("GET", sub, None).await?;
            report.bytes += r.body.len();
            report.requests.push(format!("GET {sub} → {}", r.status));
        }
    }
    // A scanner that runs the page's script makes the lookup the script makes on load.
    if let Some(id) = path.strip_prefix("/s/")
        && format::decode_id(id).is_ok()
    {
        let r = http
            .request("GET", &format!("/api/secrets/{id}"), None)
            .await?;
        report.bytes += r.body.len();
        report.saw_ciphertext |= r.json().get("ciphertext").is_some();
        report.requests.push(format!(
            "GET {} → {}",
            super::api::redact_target(&format!("/api/secrets/{id}")),
            r.status
        ));
    }
    Ok(report)
}

async fn run(emitter: Arc<Emitter>) -> Result<(), String> {
    let (tx, mut commands) = mpsc::unbounded_channel();
    let em = emitter.clone();
    watch_stdin(
        move |cmd| {
            let _ = tx.send(cmd);
        },
        move |e| em.log("warn", e),
    )
    .map_err(|e| format!("cannot watch stdin: {e}"))?;
    let mut state = Map::new();
    state.insert("scans".into(), json!(0));
    emitter.emit(&NodeEvent::Ready {
        addr: "-".into(),
        http: None,
    });
    emitter.emit(&NodeEvent::State {
        fields: state.clone(),
    });
    emitter.log(
        "info",
        "link scanner ready: give it links with `secret scan URL`",
    );
    let mut scans = 0u64;
    while let Some(cmd) = commands.recv().await {
        match cmd {
            ControlCommand::Shutdown => break,
            ControlCommand::Report => emitter.emit(&NodeEvent::State {
                fields: state.clone(),
            }),
            ControlCommand::Faults { .. } => {}
            ControlCommand::Lab { action, args } if action == "scan" => {
                let url = args.get("url").and_then(Value::as_str).unwrap_or_default();
                scans += 1;
                state.insert("scans".into(), json!(scans));
                match scan(url).await {
                    Ok(r) => {
                        emitter.log(
                            "info",
                            format!(
                                "previewed a link: {} ({} bytes, title {:?})",
                                r.requests.join(", "),
                                r.bytes,
                                r.title
                            ),
                        );
                        state.insert("last_requests".into(), json!(r.requests));
                        state.insert("last_title".into(), json!(r.title));
                        state.insert("last_bytes".into(), json!(r.bytes));
                        state.insert("last_saw_ciphertext".into(), json!(r.saw_ciphertext));
                        state.insert("last_error".into(), Value::Null);
                    }
                    Err(e) => {
                        emitter.log("warn", format!("scan failed: {e}"));
                        state.insert("last_error".into(), json!(e));
                    }
                }
                emitter.emit(&NodeEvent::State {
                    fields: state.clone(),
                });
            }
            ControlCommand::Lab { action, .. } => {
                emitter.log("warn", format!("no lab action {action:?} on the scanner"));
            }
        }
    }
    Ok(())
}
