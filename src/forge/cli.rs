//! `wirelab forge …`: the command-line face of forge. [`ForgeVerb`] is the clap subcommand enum
//! of forge's own verbs, which the forge lab ([`super::lab::cli::ForgeLab`]) adds to the common
//! lab verbs; [`run`] executes one.
//! `serve` lives here; the lab verbs (`load`, `slowloris`, `smuggle`, `reload`) in
//! [`super::lab::cli`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::demo::{DemoOptions, bare_app, demo_app, demo_token};
use super::server::{Server, ServerConfig};
use super::tls;
use crate::lab::args::RunDirArg;

/// The forge verbs.
#[derive(Debug, Subcommand)]
pub enum ForgeVerb {
    /// Serve the demo app (hello, echo, static files, WebSocket, SSE, JWT, metrics).
    Serve(ServeArgs),
    /// Start or stop the load generator.
    Load {
        /// start | stop.
        #[command(subcommand)]
        action: LoadAction,
    },
    /// Open N connections that send their request head one line every 200 ms, and report how
    /// the server's header timeout closes them.
    Slowloris {
        /// How many connections.
        #[arg(default_value_t = 50)]
        connections: usize,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Send a CL.TE request-smuggling attempt over raw TCP and show the 400 and the close.
    Smuggle {
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Replace the server by a new process on the same port (SO_REUSEPORT) while the old one
    /// drains, under load, and report the load generator's failed requests (exit 1 if any).
    Reload {
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Measure the demo app's throughput and latency: a server node under the supervisor,
    /// keep-alive clients driven from one thread of this process, a warm-up, then the window.
    Bench(super::lab::bench::BenchArgs),
}

/// `forge load …`
#[derive(Debug, Subcommand)]
pub enum LoadAction {
    /// Start keep-alive clients against the server (restarting them if running).
    Start {
        /// Connections (default from labs/forge/lab.toml).
        #[arg(long)]
        connections: Option<usize>,
        /// Request path.
        #[arg(long)]
        path: Option<String>,
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
    /// Stop the clients and print their totals.
    Stop {
        /// Run dir.
        #[command(flatten)]
        run: RunDirArg,
    },
}

/// Options of `wirelab forge serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free one; the real address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Directory served under /static/.
    #[arg(long)]
    pub root: Option<PathBuf>,
    /// Serve HTTPS (a self-signed certificate unless --cert and --key are given).
    #[arg(long)]
    pub tls: bool,
    /// PEM certificate chain for --tls.
    #[arg(long, requires = "tls", requires = "key")]
    pub cert: Option<PathBuf>,
    /// PEM private key for --tls.
    #[arg(long, requires = "tls", requires = "cert")]
    pub key: Option<PathBuf>,
    /// HS256 secret for /secret (else $WIRELAB_FORGE_JWT_SECRET, else random per run).
    #[arg(long)]
    pub jwt_secret: Option<String>,
    /// Do not log each request to stderr.
    #[arg(long)]
    pub quiet: bool,
    /// Serve only `GET /` → `hello`, with no middleware (and so no access log): the benchmark
    /// baseline.
    #[arg(long, conflicts_with = "root")]
    pub bare: bool,
    /// Most concurrent connections (shared out between the threads).
    #[arg(long, default_value_t = 1024)]
    pub max_connections: usize,
    /// Event-loop threads, each a single-threaded runtime with its own SO_REUSEPORT listener on
    /// the same port (the kernel spreads connections over them, as nginx's workers with
    /// `reuseport`); default: one per core.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Seconds to let in-flight requests finish on shutdown.
    #[arg(long, default_value_t = 10)]
    pub grace: u64,
}

/// Runs one verb to completion; returns the exit code.
pub fn run(verb: ForgeVerb) -> i32 {
    let args = match verb {
        ForgeVerb::Serve(args) => args,
        ForgeVerb::Bench(args) => return super::lab::bench::run(args),
        verb => {
            return super::lab::cli::run_verb(
                verb,
                crate::lab::Target::RunDir,
                &mut std::io::stdout(),
                &mut std::io::stderr(),
            );
        }
    };
    match serve(args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("wirelab forge: {}", crate::error_chain(&e));
            1
        }
    }
}

fn current_thread_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")
}

/// Serves the demo app on `--threads` single-threaded runtimes, one SO_REUSEPORT listener each:
/// no work stealing and no cross-thread wake-ups on the hot path. The main thread is the first
/// of them and also waits for Ctrl-C/SIGTERM, which drains every thread.
fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, 256);
    let main_rt = current_thread_runtime()?;
    let (server, listener) = main_rt.block_on(build_server(&args, threads))?;
    let addr = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    let mut workers = Vec::new();
    for i in 1..threads {
        let (thread_server, thread_shutdown) = (server.clone(), shutdown.clone());
        let (bound_tx, bound_rx) = std::sync::mpsc::channel::<std::io::Result<()>>();
        let worker = std::thread::Builder::new()
            .name(format!("forge-{i}"))
            .spawn(move || -> anyhow::Result<()> {
                let rt = current_thread_runtime()?;
                rt.block_on(async move {
                    let listener = match super::server::bind_reuseport(addr) {
                        Ok(l) => {
                            let _ = bound_tx.send(Ok(()));
                            l
                        }
                        Err(e) => {
                            let _ = bound_tx.send(Err(e));
                            return Ok(());
                        }
                    };
                    thread_server.serve(listener, thread_shutdown).await?;
                    anyhow::Ok(())
                })
            })?;
        let bound = bound_rx
            .recv()
            .unwrap_or_else(|_| Err(std::io::Error::other("worker thread died")));
        if let Err(e) = bound {
            shutdown.cancel();
            anyhow::bail!("cannot listen on {addr} from thread {i}: {e}");
        }
        workers.push(worker);
    }
    let result = main_rt.block_on(async {
        tokio::spawn(cancel_on_signal(shutdown.clone()));
        server.serve(listener, shutdown.clone()).await
    });
    shutdown.cancel();
    for w in workers {
        match w.join() {
            Ok(Err(e)) => eprintln!("wirelab forge: {}", crate::error_chain(&e)),
            Err(_) => eprintln!("wirelab forge: a server thread panicked"),
            Ok(Ok(())) => {}
        }
    }
    result?;
    eprintln!("forge stopped");
    Ok(())
}

/// Builds the server of `args` and binds the first listener (printing the address).
async fn build_server(
    args: &ServeArgs,
    threads: usize,
) -> anyhow::Result<(Server, tokio::net::TcpListener)> {
    let from_env = std::env::var("WIRELAB_FORGE_JWT_SECRET").ok();
    let secret = match args.jwt_secret.as_ref().or(from_env.as_ref()) {
        Some(s) => s.as_bytes().to_vec(),
        None => rand::random::<[u8; 32]>().to_vec(),
    };
    let opts = DemoOptions {
        root: args.root.clone(),
        jwt_secret: secret.clone(),
        access_log: !args.quiet,
        tick: Duration::from_secs(1),
    };
    let (app, metrics) = if args.bare {
        Ok((bare_app(), super::layers::Metrics::new()))
    } else {
        demo_app(&opts)
    }
    .with_context(|| match &args.root {
        Some(root) => format!("cannot serve --root {}", root.display()),
        None => "cannot build the demo app".to_owned(),
    })?;
    let config = ServerConfig {
        max_connections: args.max_connections.div_ceil(threads).max(1),
        shutdown_grace: Duration::from_secs(args.grace),
        ..ServerConfig::default()
    };
    let mut server = Server::new(app)
        .with_config(config)
        .with_connection_gauge(metrics.connection_gauge());
    if args.tls {
        let (cert, key) = match (&args.cert, &args.key) {
            (Some(c), Some(k)) => (
                std::fs::read(c).with_context(|| format!("reading {}", c.display()))?,
                std::fs::read(k).with_context(|| format!("reading {}", k.display()))?,
            ),
            _ => {
                let (c, k) = tls::self_signed(&["localhost", "127.0.0.1"])?;
                (c.into_bytes(), k.into_bytes())
            }
        };
        server = server.with_tls(tls::acceptor_from_pem(&cert, &key)?);
    }
    let listener = if threads > 1 {
        super::server::bind_reuseport(args.addr)
    } else {
        TcpListener::bind(args.addr).await
    }
    .with_context(|| format!("cannot listen on {}", args.addr))?;
    let scheme = if args.tls { "https" } else { "http" };
    println!("forge listening on {scheme}://{}", listener.local_addr()?);
    println!("demo token for /secret: {}", demo_token(&secret));
    Ok((server, listener))
}

/// Cancels `token` on Ctrl-C or SIGTERM.
async fn cancel_on_signal(token: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    eprintln!("forge: shutting down, draining in-flight requests");
    token.cancel();
}
