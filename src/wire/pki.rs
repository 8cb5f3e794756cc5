//! A run's own certificate authority, the way etcd secures its members: `up` makes a CA and
//! one certificate per member (`node-1`, `node-2`, …) plus one for the run's clients
//! (`client`), in `RUN_DIR/pki/` (0700; keys 0600). The CA's private key is dropped as soon as
//! the certificates are signed, so nothing can mint another member later, even with the run
//! dir in hand; a run made by an older wirelab gets its PKI on its next `up`.
//!
//! Every connection is mutual TLS 1.3 (rustls, ring provider): each side presents its
//! certificate and accepts only one chained to its run's CA. Who the peer is comes from which
//! certificate it presented ([`RunPki::identify`]: equal to the one issued to that name, not
//! merely any certificate of the CA), so a member cannot pose as another and a client cannot pose
//! as a member. Server names are `NAME.LAB.wirelab` (e.g. `node-2.raft.wirelab`), so a client
//! that dials node 2 and reaches another process, even another member, refuses it.
//!
//! What this defends against: any local process without read access to the run dir (it cannot
//! complete a handshake, so it never gets a byte to the protocol), and bytes altered on the
//! wire. What it does not: a user who can read the run dir (the owner, or root) holds every
//! key. Protocol limits behind the handshake (frame sizes, deadlines) still apply to members.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// The PKI's folder inside a run dir.
pub const PKI_DIR: &str = "pki";
/// The name of the run's client identity.
pub const CLIENT: &str = "client";
/// The run's client bearer token (64 hex digits, 0600), for HTTP faces where a client
/// certificate is impractical (wrk, curl one-liners): `Authorization: Bearer TOKEN`.
pub const TOKEN_FILE: &str = "client.token";

/// Why a PKI could not be made or used.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A file could not be read or written.
    #[error("{path}: {err}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        err: std::io::Error,
    },
    /// Certificate generation or TLS set-up failed.
    #[error("{0}")]
    Tls(String),
    /// The PKI lacks an identity (a run dir from another version, or damaged).
    #[error(
        "{dir} has no certificate for {name}: this run dir's PKI is incomplete (start a new run dir)"
    )]
    Missing {
        /// The PKI folder.
        dir: PathBuf,
        /// The missing name.
        name: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> PkiError + '_ {
    move |err| PkiError::Io {
        path: path.to_path_buf(),
        err,
    }
}

fn tls_err(e: impl std::fmt::Display) -> PkiError {
    PkiError::Tls(e.to_string())
}

/// The member name of node `id` (`node-3`).
pub fn node_name(id: u64) -> String {
    format!("node-{id}")
}

/// Writes `bytes` to `path` atomically (temp file, fsync, rename, fsync of the folder), with
/// `mode` permissions from the start.
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), PkiError> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io_err(&tmp))?;
    f.write_all(bytes).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(dir))?;
    }
    Ok(())
}

/// Makes `run_dir/pki` for `lab` with an identity for each of `names` and for [`CLIENT`],
/// unless it exists already (then it checks that every name has one).
pub fn ensure(run_dir: &Path, lab: &str, names: &[String]) -> Result<PathBuf, PkiError> {
    let dir = run_dir.join(PKI_DIR);
    let all: Vec<String> = names
        .iter()
        .cloned()
        .chain(std::iter::once(CLIENT.to_string()))
        .collect();
    if dir.join("ca.pem").exists() {
        if !dir.join(TOKEN_FILE).exists() {
            return Err(PkiError::Missing {
                dir,
                name: TOKEN_FILE.into(),
            });
        }
        for name in &all {
            if !dir.join(format!("{name}.key")).exists() {
                return Err(PkiError::Missing {
                    dir,
                    name: name.clone(),
                });
            }
        }
        return Ok(dir);
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(io_err(&dir))?;

    let ca_key = rcgen::KeyPair::generate().map_err(tls_err)?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(tls_err)?;
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("wirelab {lab} run CA"));
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).map_err(tls_err)?;
    for name in &all {
        let key = rcgen::KeyPair::generate().map_err(tls_err)?;
        let mut params =
            rcgen::CertificateParams::new(vec![server_name_of(name, lab)]).map_err(tls_err)?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("{lab} {name}"));
        params.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params.signed_by(&key, &ca).map_err(tls_err)?;
        write_file(
            &dir.join(format!("{name}.pem")),
            cert.pem().as_bytes(),
            0o644,
        )?;
        write_file(
            &dir.join(format!("{name}.key")),
            key.serialize_pem().as_bytes(),
            0o600,
        )?;
    }
    let token: [u8; 32] = rand::random();
    let hex: String = token.iter().map(|b| format!("{b:02x}")).collect();
    write_file(&dir.join(TOKEN_FILE), hex.as_bytes(), 0o600)?;
    // Last, so that a PKI with a CA certificate is complete (and the CA key is never written).
    write_file(&dir.join("ca.pem"), ca.pem().as_bytes(), 0o644)?;
    Ok(dir)
}

fn server_name_of(name: &str, lab: &str) -> String {
    format!("{name}.{lab}.wirelab")
}

/// A run's PKI, loaded: TLS acceptors and connectors for its identities.
#[derive(Clone)]
pub struct RunPki {
    dir: PathBuf,
    lab: String,
    roots: Arc<RootCertStore>,
}

impl std::fmt::Debug for RunPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunPki")
            .field("dir", &self.dir)
            .field("lab", &self.lab)
            .finish()
    }
}

impl RunPki {
    /// Loads the PKI folder `dir` (a run dir's `pki/`) of `lab`.
    pub fn open(dir: &Path, lab: &str) -> Result<Self, PkiError> {
        let ca_path = dir.join("ca.pem");
        let pem = read_bounded(&ca_path)?;
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&pem) {
            roots
                .add(cert.map_err(|e| tls_err(format!("{}: {e}", ca_path.display())))?)
                .map_err(|e| tls_err(format!("{}: {e}", ca_path.display())))?;
        }
        if roots.is_empty() {
            return Err(tls_err(format!("{}: no certificate", ca_path.display())));
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            lab: lab.to_string(),
            roots: Arc::new(roots),
        })
    }

    /// Loads the PKI of run dir `run_dir`.
    pub fn of_run(run_dir: &Path, lab: &str) -> Result<Self, PkiError> {
        Self::open(&run_dir.join(PKI_DIR), lab)
    }

    /// The certificate issued to `name`.
    pub fn cert(&self, name: &str) -> Result<CertificateDer<'static>, PkiError> {
        let path = self.dir.join(format!("{name}.pem"));
        if !path.exists() {
            return Err(PkiError::Missing {
                dir: self.dir.clone(),
                name: name.to_string(),
            });
        }
        let pem = read_bounded(&path)?;
        CertificateDer::from_pem_slice(&pem)
            .map_err(|e| tls_err(format!("{}: {e}", path.display())))
    }

    fn key(&self, name: &str) -> Result<PrivateKeyDer<'static>, PkiError> {
        let path = self.dir.join(format!("{name}.key"));
        if !path.exists() {
            return Err(PkiError::Missing {
                dir: self.dir.clone(),
                name: name.to_string(),
            });
        }
        let pem = read_bounded(&path)?;
        PrivateKeyDer::from_pem_slice(&pem).map_err(|e| tls_err(format!("{}: {e}", path.display())))
    }

    /// The run's client bearer token ([`TOKEN_FILE`]).
    pub fn client_token(&self) -> Result<String, PkiError> {
        let path = self.dir.join(TOKEN_FILE);
        let bytes = read_bounded(&path)?;
        let token = String::from_utf8(bytes)
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| tls_err(format!("{}: not a 64-hex-digit token", path.display())))?;
        Ok(token)
    }

    /// The server name under which `name` answers (`node-2.raft.wirelab`).
    pub fn server_name(&self, name: &str) -> Result<ServerName<'static>, PkiError> {
        ServerName::try_from(server_name_of(name, &self.lab)).map_err(tls_err)
    }

    /// An acceptor for `me`'s listener: TLS 1.3 only, and the other side must present a
    /// certificate of this run's CA.
    pub fn acceptor(&self, me: &str) -> Result<TlsAcceptor, PkiError> {
        let provider = Arc::new(ring::default_provider());
        let verifier =
            WebPkiClientVerifier::builder_with_provider(self.roots.clone(), provider.clone())
                .build()
                .map_err(tls_err)?;
        let config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&tokio_rustls::rustls::version::TLS13])
            .map_err(tls_err)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![self.cert(me)?], self.key(me)?)
            .map_err(tls_err)?;
        Ok(TlsAcceptor::from(Arc::new(config)))
    }

    /// A connector that presents `me`'s certificate and trusts only this run's CA.
    pub fn connector(&self, me: &str) -> Result<TlsConnector, PkiError> {
        let config = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_protocol_versions(&[&tokio_rustls::rustls::version::TLS13])
            .map_err(tls_err)?
            .with_root_certificates(self.roots.clone())
            .with_client_auth_cert(vec![self.cert(me)?], self.key(me)?)
            .map_err(tls_err)?;
        Ok(TlsConnector::from(Arc::new(config)))
    }

    /// Which of `names` presented `presented` (the other side's end-entity certificate, as
    /// the handshake verified it), if any.
    pub fn identify<'a>(
        &self,
        presented: &CertificateDer<'_>,
        names: &'a [(String, CertificateDer<'static>)],
    ) -> Option<&'a str> {
        names
            .iter()
            .find(|(_, c)| c.as_ref() == presented.as_ref())
            .map(|(n, _)| n.as_str())
    }

    /// The certificates of `names`, for [`RunPki::identify`].
    pub fn certs(
        &self,
        names: impl IntoIterator<Item = String>,
    ) -> Result<Vec<(String, CertificateDer<'static>)>, PkiError> {
        names
            .into_iter()
            .map(|n| self.cert(&n).map(|c| (n, c)))
            .collect()
    }
}

/// A client-side TLS stream.
pub type ClientStream = tokio_rustls::client::TlsStream<TcpStream>;
/// A server-side TLS stream.
pub type ServerStream = tokio_rustls::server::TlsStream<TcpStream>;

/// The end-entity certificate the other side of a server stream presented.
pub fn presented(stream: &ServerStream) -> Option<CertificateDer<'static>> {
    stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.clone().into_owned())
}

/// PKI files are a few hundred bytes; refuse to read anything much larger.
const MAX_PKI_FILE: u64 = 64 * 1024;

fn read_bounded(path: &Path) -> Result<Vec<u8>, PkiError> {
    let meta = std::fs::metadata(path).map_err(io_err(path))?;
    if meta.len() > MAX_PKI_FILE {
        return Err(tls_err(format!(
            "{}: {} bytes, more than a PKI file can be",
            path.display(),
            meta.len()
        )));
    }
    std::fs::read(path).map_err(io_err(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn keys_are_private_and_the_ca_key_is_never_written() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ensure(tmp.path(), "raft", &[node_name(1), node_name(2)]).unwrap();
        use std::os::unix::fs::PermissionsExt;
        for name in ["node-1.key", "node-2.key", "client.key", TOKEN_FILE] {
            let mode = std::fs::metadata(dir.join(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
        let files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            !files.iter().any(|f| f.starts_with("ca.") && f != "ca.pem"),
            "{files:?}"
        );
        // A second ensure keeps the same PKI.
        let before = std::fs::read(dir.join("ca.pem")).unwrap();
        ensure(tmp.path(), "raft", &[node_name(1), node_name(2)]).unwrap();
        assert_eq!(before, std::fs::read(dir.join("ca.pem")).unwrap());
        // …and says so when a member has no identity.
        let err = ensure(tmp.path(), "raft", &[node_name(3)]).unwrap_err();
        assert!(err.to_string().contains("node-3"), "{err}");
    }

    /// Runs one handshake: server `srv` of `pki_s`, client `cli` of `pki_c` dialling `want`.
    async fn handshake(
        pki_s: &RunPki,
        srv: &str,
        pki_c: &RunPki,
        cli: &str,
        want: &str,
    ) -> Result<Option<String>, String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = pki_s.acceptor(srv).unwrap();
        let names = pki_s
            .certs([node_name(1), node_name(2), CLIENT.into()])
            .unwrap();
        let pki = pki_s.clone();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut s = acceptor.accept(tcp).await.map_err(|e| e.to_string())?;
            let who = presented(&s).and_then(|c| pki.identify(&c, &names).map(str::to_string));
            let mut b = [0u8; 4];
            s.read_exact(&mut b).await.map_err(|e| e.to_string())?;
            s.write_all(&b).await.map_err(|e| e.to_string())?;
            Ok::<_, String>(who)
        });
        let tcp = TcpStream::connect(addr).await.unwrap();
        let connector = pki_c.connector(cli).unwrap();
        let client = async {
            let mut s = connector
                .connect(pki_c.server_name(want).unwrap(), tcp)
                .await
                .map_err(|e| e.to_string())?;
            s.write_all(b"ping").await.map_err(|e| e.to_string())?;
            let mut b = [0u8; 4];
            s.read_exact(&mut b).await.map_err(|e| e.to_string())?;
            Ok::<_, String>(b)
        };
        let c = client.await;
        let s = server.await.unwrap();
        c?;
        s
    }

    #[test]
    fn members_and_clients_of_a_run_are_told_apart_and_other_runs_are_refused() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let names = [node_name(1), node_name(2)];
        let pa = RunPki::open(&ensure(a.path(), "raft", &names).unwrap(), "raft").unwrap();
        let pb = RunPki::open(&ensure(b.path(), "raft", &names).unwrap(), "raft").unwrap();
        rt().block_on(async {
            // A member, and the client, are recognised by the certificate they present.
            let who = handshake(&pa, "node-1", &pa, "node-2", "node-1").await;
            assert_eq!(who, Ok(Some("node-2".into())));
            let who = handshake(&pa, "node-1", &pa, CLIENT, "node-1").await;
            assert_eq!(who, Ok(Some("client".into())));
            // Dialling node 2 and reaching node 1 fails: the name is checked.
            assert!(
                handshake(&pa, "node-1", &pa, "node-2", "node-2")
                    .await
                    .is_err()
            );
            // Another run's member is refused by the server, and its server by the client.
            assert!(
                handshake(&pa, "node-1", &pb, "node-2", "node-1")
                    .await
                    .is_err()
            );
        });
    }
}
