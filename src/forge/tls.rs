//! Optional TLS through rustls (ring provider): an acceptor from PEM certificate and key, and a
//! self-signed certificate for local demos (`wirelab forge serve --tls` without files).

use std::sync::Arc;

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::error::ServeError;

/// Builds a TLS acceptor (TLS 1.2 and 1.3, ALPN `http/1.1`) from PEM data.
pub fn acceptor_from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<TlsAcceptor, ServeError> {
    let certs = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ServeError::Tls(format!("certificate: {e}")))?;
    if certs.is_empty() {
        return Err(ServeError::Tls("no certificate in PEM".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| ServeError::Tls(format!("private key: {e}")))?;
    let mut config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| ServeError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| ServeError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// A fresh self-signed certificate and key (PEM) for `names` (e.g. `localhost`, `127.0.0.1`).
pub fn self_signed(names: &[&str]) -> Result<(String, String), ServeError> {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let ck =
        rcgen::generate_simple_self_signed(names).map_err(|e| ServeError::Tls(e.to_string()))?;
    Ok((ck.cert.pem(), ck.signing_key.serialize_pem()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_certificate_builds_an_acceptor() {
        let (cert, key) = self_signed(&["localhost"]).unwrap();
        assert!(acceptor_from_pem(cert.as_bytes(), key.as_bytes()).is_ok());
        assert!(acceptor_from_pem(b"junk", key.as_bytes()).is_err());
        assert!(acceptor_from_pem(cert.as_bytes(), b"junk").is_err());
    }
}
