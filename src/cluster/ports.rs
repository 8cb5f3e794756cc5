//! Loopback ports for nodes: drawn once, then held in reserve while the lab lives.
//!
//! A node's addresses are fixed when its lab starts (they are on every peer's command line and
//! in `cluster.json`), but a node binds its port only when it starts, and binds it again each
//! time it is restarted after a SIGKILL. In between, any other program on the machine could
//! take the port: a parallel test's cluster that drew the same number, say, and the node would
//! then fail to start with "address in use".
//!
//! So the process that draws a port keeps a *placeholder* on it: a TCP socket bound to the port
//! without `SO_REUSEPORT`, which proves no one else holds it, then switched to `SO_REUSEPORT`,
//! and never put to listen. The kernel then refuses the port to every other bind (a program that
//! does not set `SO_REUSEPORT`, or another wirelab process drawing ports, whose first bind has
//! no `SO_REUSEPORT`), while the lab's nodes, processes of the same user that bind with
//! `SO_REUSEPORT` ([`listen_reserved`]), can bind it. A socket that does not listen takes no
//! connections: with its node down, a port answers "connection refused", as a dead node must.
//!
//! Placeholders live as long as the process that drew them (a foreground supervisor such as
//! `wirelab raft up`, the TUI, a test binary), at most [`MAX_RESERVED`] at a time: the oldest
//! is released first, long after its lab is gone.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard};

use tokio::net::{TcpListener, TcpSocket};

/// The most placeholders a process holds (each is a file descriptor).
pub const MAX_RESERVED: usize = 512;

/// The lowest port [`free_loopback_addrs`] draws.
const LOWEST: u16 = 10_000;

/// Placeholders held by this process, oldest first.
static RESERVED: Mutex<VecDeque<(SocketAddr, TcpSocket)>> = Mutex::new(VecDeque::new());

fn reserved() -> MutexGuard<'static, VecDeque<(SocketAddr, TcpSocket)>> {
    RESERVED.lock().unwrap_or_else(|p| p.into_inner())
}

/// A TCP socket of `addr`'s family.
fn tcp_socket(addr: SocketAddr) -> std::io::Result<TcpSocket> {
    if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
}

/// Binds a placeholder on `addr`: fails if anything holds the port, including another
/// process's placeholder.
fn placeholder(addr: SocketAddr) -> std::io::Result<TcpSocket> {
    let socket = tcp_socket(addr)?;
    socket.bind(addr)?;
    socket.set_reuseport(true)?;
    Ok(socket)
}

fn keep(held: &mut VecDeque<(SocketAddr, TcpSocket)>, addr: SocketAddr, socket: TcpSocket) {
    while held.len() >= MAX_RESERVED {
        held.pop_front();
    }
    held.push_back((addr, socket));
}

/// The first port of the kernel's ephemeral range (`/proc/sys/net/ipv4/ip_local_port_range`).
fn ephemeral_low() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768)
}

/// Draws `n` distinct free loopback ports for a lab's nodes, and holds each in reserve (see the
/// module docs) so that only processes binding with `SO_REUSEPORT`, its nodes, can take it.
///
/// Ports are drawn at random *below* the kernel's ephemeral range: outgoing connections and
/// `bind(0)` never take those, so a busy machine's own traffic leaves them alone. Without room
/// below the range, the kernel picks (`bind(0)`).
pub fn free_loopback_addrs(n: usize) -> std::io::Result<Vec<SocketAddr>> {
    use rand::Rng;
    let high = ephemeral_low();
    let mut rng = rand::rng();
    let mut drawn = Vec::with_capacity(n);
    let mut attempts = 0;
    while drawn.len() < n {
        let (addr, socket) = if high > LOWEST + 1_000 && attempts < 64 * n.max(1) {
            attempts += 1;
            let addr = SocketAddr::from(([127, 0, 0, 1], rng.random_range(LOWEST..high)));
            match placeholder(addr) {
                Ok(s) => (addr, s),
                Err(_) => continue,
            }
        } else {
            let s = placeholder(SocketAddr::from(([127, 0, 0, 1], 0)))?;
            (s.local_addr()?, s)
        };
        drawn.push((addr, socket));
    }
    let addrs = drawn.iter().map(|(a, _)| *a).collect();
    let mut held = reserved();
    for (addr, socket) in drawn {
        keep(&mut held, addr, socket);
    }
    Ok(addrs)
}

/// Holds in reserve the ports of a lab restarted on the addresses it had (its `cluster.json`),
/// as far as they are free; a port someone else holds is left alone, and its node will say so.
pub fn reserve_ports(addrs: &[SocketAddr]) {
    let mut held = reserved();
    for &addr in addrs {
        if held.iter().any(|(a, _)| *a == addr) {
            continue;
        }
        if let Ok(socket) = placeholder(addr) {
            keep(&mut held, addr, socket);
        }
    }
}

/// Listens on `addr` with `SO_REUSEADDR` and `SO_REUSEPORT`: how a node binds its port, held
/// in reserve by its supervisor's process or not. (`SO_REUSEPORT` also lets a new server
/// process bind the port while the old one still serves, for a reload without a gap.)
pub fn listen_reserved(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = tcp_socket(addr)?;
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::io::ErrorKind;

    #[test]
    fn drawn_ports_are_distinct_below_the_ephemeral_range_and_held_from_other_binds() {
        let low = ephemeral_low();
        let mut seen = HashSet::new();
        for _ in 0..20 {
            let addrs = free_loopback_addrs(5).expect("ports");
            assert_eq!(addrs.len(), 5);
            for a in &addrs {
                assert!(a.ip().is_loopback());
                assert!(seen.insert(a.port()), "port {} handed out twice", a.port());
                if low > LOWEST + 1_000 {
                    assert!(a.port() < low, "{a} is in the ephemeral range");
                }
                // Nobody else can take it, a plain listener or a placeholder of its own.
                let err = std::net::TcpListener::bind(a).expect_err("the port is held");
                assert_eq!(err.kind(), ErrorKind::AddrInUse, "{a}: {err}");
                assert!(placeholder(*a).is_err(), "{a} reserved twice");
            }
        }
    }

    #[tokio::test]
    async fn a_node_binds_its_reserved_port_and_a_down_node_refuses_connections() {
        let addr = free_loopback_addrs(1).expect("a port")[0];
        // No node yet: the placeholder does not listen.
        let refused = tokio::net::TcpStream::connect(addr)
            .await
            .expect_err("nobody listens");
        assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
        for _incarnation in 0..2 {
            let node = listen_reserved(addr).expect("the node binds its reserved port");
            let client = tokio::net::TcpStream::connect(addr)
                .await
                .expect("connects");
            let (_conn, peer) = node.accept().await.expect("the node accepts");
            assert_eq!(peer, client.local_addr().expect("addr"));
            drop(node); // SIGKILLed: its listener is gone, the reservation is not.
            let err = std::net::TcpListener::bind(addr).expect_err("still held");
            assert_eq!(err.kind(), ErrorKind::AddrInUse);
        }
    }

    #[test]
    fn a_restarted_lab_reserves_the_ports_it_had() {
        let addr = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("probe");
            probe.local_addr().expect("addr")
        };
        reserve_ports(&[addr, addr]);
        assert!(std::net::TcpListener::bind(addr).is_err(), "{addr} held");
        // A port someone else holds is left to them.
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("taken");
        let taken_addr = taken.local_addr().expect("addr");
        reserve_ports(&[taken_addr]);
        assert!(!reserved().iter().any(|(a, _)| *a == taken_addr));
        assert_eq!(reserved().iter().filter(|(a, _)| *a == addr).count(), 1);
    }
}
