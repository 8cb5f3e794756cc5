//! pingpong: the smallest lab, registered only for the tests (`WIRELAB_TEST_LABS=pingpong`).
//!
//! Two `pingpong` nodes each listen on a loopback port and echo every length-prefixed frame
//! ([`crate::wire::frame`]) they receive. The lab is the proof that the lab contract holds: this
//! file, `labs/pingpong/` and one line in [`crate::registry`] give it `wirelab pingpong up|
//! status|kill|pause|resume|restart|partition|heal|stop`, its own verb `send`, the shell
//! builtin with completion, `wirelab node pingpong`, `logs`, `labs` and its scenario scripts;
//! the test suite walks the registry and exercises each of them on every lab.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{ArgMatches, Args, Command, Subcommand};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::cluster::event::{ControlCommand, Emitter, NodeEvent, NodeRuntime, run_node};
use crate::cluster::{NodeInfo, NodeSpec, Supervisor};
use crate::lab::args::RunDirArg;
use crate::lab::{CommonVerb, Lab, Role, VerbCtx};
use crate::wire::frame::{read_frame, write_frame};

/// The lab's name.
pub const NAME: &str = "pingpong";
/// The role's name: nodes run as `wirelab node pingpong …`.
pub const ROLE: &str = "pingpong";
/// The text of `labs/pingpong/lab.toml`, as built into the binary.
pub const LAB_TOML: &str = include_str!("../../labs/pingpong/lab.toml");

/// The parsed lab file.
#[derive(Clone, Debug, Deserialize)]
pub struct LabConfig {
    /// `[lab]`.
    pub lab: LabInfo,
}

/// `[lab]`.
#[derive(Clone, Debug, Deserialize)]
pub struct LabInfo {
    /// Number of nodes.
    pub nodes: usize,
    /// Largest frame a node accepts.
    pub max_frame: usize,
}

/// The pingpong lab.
pub struct PingPongLab;

/// pingpong's own verbs.
#[derive(Debug, Subcommand)]
pub enum PingPongVerb {
    /// Send TEXT to a node and print its echo and the round trip (exit 1 if it cannot answer).
    Send {
        /// Node id.
        node: u64,
        /// The text.
        text: String,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
}

/// Arguments of `wirelab node pingpong`.
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// Node id.
    #[arg(long)]
    pub id: u64,
    /// Data dir.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Listen address.
    #[arg(long)]
    pub listen: SocketAddr,
    /// Largest frame accepted.
    #[arg(long, default_value_t = 65536)]
    pub max_frame: usize,
}

impl Lab for PingPongLab {
    fn name(&self) -> &'static str {
        NAME
    }

    fn about(&self) -> &'static str {
        "The pingpong test lab: two nodes that echo framed messages."
    }

    fn roles(&self) -> Vec<Role> {
        vec![Role::new(ROLE, "A pingpong node.", run_cli)]
    }

    fn common_verbs(&self) -> &'static [CommonVerb] {
        // The nodes have no links to each other: nothing to partition.
        CommonVerb::NO_NETWORK
    }

    fn own_verbs(&self, cmd: Command) -> Command {
        PingPongVerb::augment_subcommands(cmd)
    }

    fn launch(
        &self,
        _up: &ArgMatches,
        run_dir: &Path,
        exe: Option<PathBuf>,
    ) -> anyhow::Result<Supervisor> {
        let cfg: LabConfig = toml::from_str(LAB_TOML)?;
        let addrs: Vec<SocketAddr> = match crate::cluster::rundir::read_cluster_file(run_dir) {
            Ok(cf) if cf.lab == NAME && !cf.nodes.is_empty() => {
                let addrs = cf
                    .nodes
                    .iter()
                    .map(|n| n.addr.parse())
                    .collect::<Result<Vec<SocketAddr>, _>>()?;
                crate::cluster::reserve_ports(&addrs);
                addrs
            }
            _ => crate::cluster::free_loopback_addrs(cfg.lab.nodes)?,
        };
        let specs = addrs
            .iter()
            .enumerate()
            .map(|(i, a)| NodeSpec {
                id: i as u64 + 1,
                role: ROLE.into(),
                addr: a.to_string(),
                args: vec![
                    "--listen".into(),
                    a.to_string(),
                    "--max-frame".into(),
                    cfg.lab.max_frame.to_string(),
                ],
            })
            .collect();
        Ok(match exe {
            Some(exe) => Supervisor::launch_with_exe(NAME, run_dir, specs, exe)?,
            None => Supervisor::launch(NAME, run_dir, specs)?,
        })
    }

    fn status_row(&self, n: &NodeInfo) -> Value {
        json!({
            "id": n.id,
            "pid": n.pid,
            "state": n.status.as_str(),
            "addr": n.addr,
            "echoed": n.state.get("echoed").cloned().unwrap_or(Value::Null),
        })
    }

    fn status_table(&self, nodes: &[NodeInfo]) -> String {
        let mut out = format!(
            "{:<3} {:<8} {:<8} {:<22} ECHOED\n",
            "ID", "PID", "STATE", "ADDR"
        );
        for n in nodes {
            out.push_str(&format!(
                "{:<3} {:<8} {:<8} {:<22} {}\n",
                n.id,
                n.pid.map_or("-".into(), |p| p.to_string()),
                n.status.as_str(),
                n.addr,
                n.state.get("echoed").and_then(Value::as_u64).unwrap_or(0)
            ));
        }
        out
    }

    fn run_own(&self, m: &ArgMatches, cx: &mut VerbCtx<'_>) -> i32 {
        let verb = match crate::lab::parse_own::<PingPongVerb>(m, cx.err) {
            Ok(v) => v,
            Err(code) => return code,
        };
        let PingPongVerb::Send { node, text, run } = verb;
        let result = (|| -> anyhow::Result<i32> {
            let resp =
                cx.target
                    .request(NAME, &run, crate::cluster::control::ControlRequest::Status)?;
            let n = resp
                .nodes
                .iter()
                .find(|n| n.id == node)
                .ok_or_else(|| anyhow::anyhow!("no node {node} in this lab"))?;
            let addr: SocketAddr = n.addr.parse()?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let started = Instant::now();
            let echo = rt.block_on(async {
                tokio::time::timeout(Duration::from_secs(2), async {
                    let mut s = tokio::net::TcpStream::connect(addr).await?;
                    write_frame(&mut s, text.as_bytes()).await?;
                    let mut buf = Vec::new();
                    read_frame(&mut s, &mut buf, 1 << 16).await?;
                    anyhow::Ok(buf)
                })
                .await?
            });
            match echo {
                Ok(buf) => {
                    writeln!(
                        cx.out,
                        "node {node} echoed {:?} in {:.2} ms",
                        String::from_utf8_lossy(&buf),
                        started.elapsed().as_secs_f64() * 1e3
                    )?;
                    Ok(0)
                }
                Err(e) => {
                    writeln!(cx.err, "pingpong: node {node} did not answer: {e}")?;
                    Ok(1)
                }
            }
        })();
        match result {
            Ok(code) => code,
            Err(e) => crate::lab::report(NAME, &e, cx.err),
        }
    }
}

/// `wirelab node pingpong`: echoes frames until its supervisor lets go.
pub fn run_cli(a: NodeArgs) -> i32 {
    run_node(NodeRuntime::CurrentThread, |emitter| serve(a, emitter))
}

async fn serve(a: NodeArgs, emitter: std::sync::Arc<Emitter>) -> Result<(), String> {
    let listener = crate::cluster::listen_reserved(a.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", a.listen))?;
    let echoed = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let reporter = emitter.clone();
    let counter = echoed.clone();
    crate::cluster::event::watch_stdin(
        move |cmd| {
            if matches!(cmd, ControlCommand::Report) {
                let mut fields = serde_json::Map::new();
                fields.insert(
                    "echoed".into(),
                    json!(counter.load(std::sync::atomic::Ordering::Relaxed)),
                );
                reporter.emit(&NodeEvent::State { fields });
            }
        },
        |_| {},
    )
    .map_err(|e| e.to_string())?;
    emitter.emit(&NodeEvent::Ready {
        addr: a.listen.to_string(),
        http: None,
    });
    emitter.log("info", format!("node {} echoing on {}", a.id, a.listen));
    loop {
        let (mut conn, _) = listener.accept().await.map_err(|e| e.to_string())?;
        let max = a.max_frame;
        let echoed = echoed.clone();
        let emitter = emitter.clone();
        tokio::spawn(async move {
            let mut buf = Vec::new();
            loop {
                match read_frame(&mut conn, &mut buf, max).await {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => {
                        emitter.log("warn", format!("bad frame: {e}"));
                        break;
                    }
                }
                if write_frame(&mut conn, &buf).await.is_err() {
                    break;
                }
                let n = echoed.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                let mut fields = serde_json::Map::new();
                fields.insert("echoed".into(), json!(n));
                emitter.emit(&NodeEvent::State { fields });
            }
            let _ = conn.shutdown().await;
        });
    }
}
