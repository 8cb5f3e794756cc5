//! The server node (`wirelab node chat-server`): a [`Server`] on its listen address, State
//! events every second (sessions per client, rooms, rejects by reason, msgs/s), and the
//! `enroll` / `revoke` actions the lab's verbs send.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use serde_json::{Value, json};

use super::link::RekeyPolicy;
use super::server::{Server, ServerConfig};
use super::store::parse_psk;
use crate::cluster::event::{ControlCommand, Emitter, NodeEvent, NodeRuntime, run_node};

/// The role's name.
pub const ROLE: &str = "chat-server";

/// Arguments of `wirelab node chat-server`.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Node id.
    #[arg(long)]
    pub id: u64,
    /// Data dir (registry and room logs).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Listen address.
    #[arg(long)]
    pub listen: SocketAddr,
    /// Rekey after this many messages per direction.
    #[arg(long, default_value_t = 50)]
    pub rekey_every: u64,
    /// Rekey after this many seconds.
    #[arg(long, default_value_t = 20)]
    pub rekey_secs: u64,
}

/// `wirelab node chat-server`.
pub fn run_cli(a: ServerArgs) -> i32 {
    run_node(NodeRuntime::Workers(2), |em| main(a, em))
}

async fn main(a: ServerArgs, em: Arc<Emitter>) -> Result<(), String> {
    let server = Server::open(ServerConfig {
        data_dir: a.data_dir.clone(),
        plain: false,
        rekey: RekeyPolicy {
            every: a.rekey_every,
            period: Duration::from_secs(a.rekey_secs),
        },
        coalesce: Duration::from_millis(1),
    })
    .map_err(|e| format!("cannot open the server's data: {e:#}"))?;
    let listener = crate::cluster::listen_reserved(a.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", a.listen))?;
    {
        let (server, em) = (server.clone(), em.clone());
        crate::cluster::event::watch_stdin(
            move |cmd| match cmd {
                ControlCommand::Report => em.emit(&NodeEvent::State {
                    fields: server.state(),
                }),
                ControlCommand::Lab { action, args } => {
                    match act(&server, &action, &args) {
                        Ok(msg) => em.log("info", msg),
                        Err(e) => em.log("warn", format!("{action}: {e:#}")),
                    }
                    em.emit(&NodeEvent::State {
                        fields: server.state(),
                    });
                }
                _ => {}
            },
            |_| {},
        )
        .map_err(|e| e.to_string())?;
    }
    em.emit(&NodeEvent::Ready {
        addr: a.listen.to_string(),
        http: None,
    });
    em.log("info", format!("chat server on {}", a.listen));
    {
        let (server, em) = (server.clone(), em.clone());
        tokio::spawn(async move {
            let mut last = server.messages();
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let now = server.messages();
                let mut fields = server.state();
                fields.insert("msgs_per_s".into(), json!(now - last));
                last = now;
                em.emit(&NodeEvent::State { fields });
            }
        });
    }
    server.serve(listener).await.map_err(|e| e.to_string())
}

fn act(server: &Server, action: &str, args: &Value) -> anyhow::Result<String> {
    let name = args["name"].as_str().unwrap_or("");
    match action {
        "enroll" => {
            let psk = parse_psk(args["psk"].as_str().unwrap_or(""))
                .ok_or_else(|| anyhow::anyhow!("bad key"))?;
            server.enroll(name, &psk)?;
            Ok(format!("enrolled {name}"))
        }
        "revoke" => {
            anyhow::ensure!(server.revoke(name)?, "{name} is not enrolled");
            Ok(format!("revoked {name}"))
        }
        other => anyhow::bail!("unknown action {other:?}"),
    }
}
