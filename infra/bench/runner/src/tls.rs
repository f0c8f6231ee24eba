//! TLS in front of the bench's plain-HTTP services, as every dependency is in AWS: a
//! development CA made at start (rcgen), a leaf certificate for 127.0.0.1, and a front that
//! terminates TLS and pipes the bytes to the service behind. The functions trust the CA only
//! in the bench (`BENCH_TRUST_ROOT_PEM`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;
use url::Url;

use crate::seed::Error;

pub struct DevCa {
    /// The root, for the functions to trust.
    pub root_pem: String,
    acceptor: TlsAcceptor,
}

impl DevCa {
    pub fn new() -> Result<Self, Error> {
        let mut root = CertificateParams::new(Vec::<String>::new())?;
        root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        root.distinguished_name
            .push(DnType::CommonName, "fps-checkout bench CA");
        root.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let root_key = KeyPair::generate()?;
        let root_cert = root.self_signed(&root_key)?;
        let issuer = Issuer::new(root, root_key);

        let mut leaf = CertificateParams::new(vec!["localhost".to_owned()])?;
        leaf.subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        let leaf_key = KeyPair::generate()?;
        let leaf_cert = leaf.signed_by(&leaf_key, &issuer)?;

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(leaf_cert.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
            )?;
        Ok(Self {
            root_pem: root_cert.pem(),
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// An `https://127.0.0.1:<port>/` front for the plain service at `upstream`.
    pub async fn front(&self, upstream: &Url) -> Result<Url, Error> {
        let host = upstream.host_str().ok_or("upstream without a host")?;
        let port = upstream
            .port_or_known_default()
            .ok_or("upstream without a port")?;
        let behind: SocketAddr = format!("{host}:{port}").parse()?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let acceptor = self.acceptor.clone();
        tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // No Nagle on either leg: a relay that holds back small writes adds a
                    // delayed-ACK stall (~40 ms) that no real endpoint has.
                    let _ = socket.set_nodelay(true);
                    let Ok(mut tls) = acceptor.accept(socket).await else {
                        return;
                    };
                    let Ok(mut plain) = tokio::net::TcpStream::connect(behind).await else {
                        return;
                    };
                    let _ = plain.set_nodelay(true);
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
        Ok(Url::parse(&format!("https://{address}/"))?)
    }
}
