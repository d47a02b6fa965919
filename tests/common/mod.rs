//! Test fixtures shared by the transport tests: a throw-away directory, a small PKI made with
//! rcgen at test time, and in-process echo servers on 127.0.0.1 port 0 (or a unix socket).
// Fixture code panics on setup failure like the tests themselves; clippy.toml's
// allow-unwrap-in-tests only covers `#[test]` fns and `#[cfg(test)]` modules, not test helpers.
// dead_code: each test binary uses a subset; result_large_err: tungstenite's callback signature.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::result_large_err
)]

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message;

/// Upper bound for any single test step; a hang fails the test instead of the CI job.
pub const WAIT: Duration = Duration::from_secs(10);

/// Runs `f` under [`WAIT`].
pub async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(WAIT, f)
        .await
        .expect("test step timed out")
}

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh, empty directory under the system temp dir.
    pub fn new() -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "turbomqtt-transport-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    /// Writes `data` to `name` inside the directory.
    pub fn write(&self, name: &str, data: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, data).unwrap();
        path
    }

    /// A path inside the directory, not created.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A certificate with its private key.
pub struct Leaf {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The certificate, DER.
    pub cert_der: CertificateDer<'static>,
    /// The key pair.
    pub key: KeyPair,
}

impl Leaf {
    /// The private key as rustls wants it.
    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.serialize_der()))
    }
}

/// A test certificate authority.
pub struct Pki {
    /// The CA certificate, PEM.
    pub ca_pem: String,
    /// The CA certificate, DER.
    pub ca_der: CertificateDer<'static>,
    /// Signs leaf certificates.
    issuer: Issuer<'static, KeyPair>,
}

impl Pki {
    /// A new self-signed CA.
    pub fn new(name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).unwrap();
        Self {
            ca_pem: cert.pem(),
            ca_der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A leaf certificate for `sans` (IP strings become IP SANs), for server or client use.
    pub fn leaf(&self, sans: &[&str], client: bool) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(sans.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name.push(
            DnType::CommonName,
            sans.first().copied().unwrap_or("client"),
        );
        params.extended_key_usages = vec![if client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            key,
        }
    }
}

/// A rustls server configuration with a certificate for `sans` from `pki`; requires a client
/// certificate from `client_ca` when given; offers `alpn`.
pub fn server_config(
    pki: &Pki,
    sans: &[&str],
    client_ca: Option<&Pki>,
    alpn: &[&str],
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let leaf = pki.leaf(sans, false);
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .unwrap();
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            roots.add(ca.ca_der.clone()).unwrap();
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(vec![leaf.cert_der.clone()], leaf.key_der())
        .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    Arc::new(config)
}

/// What a TLS server saw of one handshake.
#[derive(Debug)]
pub struct Seen {
    /// The ALPN protocol agreed on.
    pub alpn: Option<Vec<u8>>,
    /// The SNI name the client sent.
    pub sni: Option<String>,
    /// The protocol version agreed on.
    pub version: Option<rustls::ProtocolVersion>,
    /// The cipher suite agreed on.
    pub suite: Option<rustls::CipherSuite>,
    /// Whether the client presented a certificate.
    pub client_cert: bool,
}

/// Copies everything read back to the writer until EOF or an error.
pub async fn echo<S: AsyncRead + AsyncWrite + Unpin>(stream: S) {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let _ = tokio::io::copy(&mut reader, &mut writer).await;
    let _ = writer.shutdown().await;
}

/// A plain TCP echo server.
pub async fn tcp_echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(echo(socket));
        }
    });
    addr
}

/// A TLS echo server reporting each handshake (or its error) on the returned channel.
pub async fn tls_echo_server(
    config: Arc<ServerConfig>,
) -> (SocketAddr, mpsc::UnboundedReceiver<Result<Seen, String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let acceptor = TlsAcceptor::from(config);
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                match acceptor.accept(socket).await {
                    Ok(tls) => {
                        let (_, conn) = tls.get_ref();
                        let _ = tx.send(Ok(Seen {
                            alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
                            sni: conn.server_name().map(str::to_owned),
                            version: conn.protocol_version(),
                            suite: conn.negotiated_cipher_suite().map(|s| s.suite()),
                            client_cert: conn.peer_certificates().is_some(),
                        }));
                        echo(tls).await;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                    }
                }
            });
        }
    });
    (addr, rx)
}

/// A server that accepts TCP connections and never says a word.
pub async fn silent_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    addr
}

/// What a WebSocket server saw of one upgrade request.
#[derive(Debug)]
pub struct Upgrade {
    /// The request path (with query).
    pub path: String,
    /// Every request header, names lower-cased.
    pub headers: Vec<(String, String)>,
}

/// A WebSocket echo server (over TLS when `tls` is given) that accepts the `mqtt` sub-protocol
/// and echoes binary messages only, so a text frame from the client would never come back.
pub async fn ws_echo_server(
    tls: Option<Arc<ServerConfig>>,
) -> (SocketAddr, mpsc::UnboundedReceiver<Upgrade>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let tx = tx.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    Some(config) => {
                        if let Ok(stream) = TlsAcceptor::from(config).accept(socket).await {
                            ws_echo(stream, tx).await;
                        }
                    }
                    None => ws_echo(socket, tx).await,
                }
            });
        }
    });
    (addr, rx)
}

/// Accepts one WebSocket upgrade on `stream`, reports it, and echoes binary messages.
async fn ws_echo<S: AsyncRead + AsyncWrite + Unpin>(stream: S, tx: mpsc::UnboundedSender<Upgrade>) {
    let callback = move |request: &Request, mut response: Response| {
        let _ = tx.send(Upgrade {
            path: request
                .uri()
                .path_and_query()
                .map(ToString::to_string)
                .unwrap_or_default(),
            headers: request
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                .collect(),
        });
        response
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", "mqtt".parse().unwrap());
        Ok(response)
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
        return;
    };
    while let Some(Ok(message)) = ws.next().await {
        let Message::Binary(data) = message else {
            if message.is_close() {
                break;
            }
            continue;
        };
        if ws.send(Message::Binary(data)).await.is_err() {
            break;
        }
    }
}

/// An HTTP server that answers every request with 404, for a failed upgrade.
pub async fn http_404_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                    .await;
            });
        }
    });
    addr
}

/// A unix-socket echo server at `path`.
#[cfg(unix)]
pub fn unix_echo_server(path: &Path) {
    let listener = tokio::net::UnixListener::bind(path).unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(echo(socket));
        }
    });
}

/// `len` bytes of a recognisable pattern.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| u8::try_from(i % 251).unwrap()).collect()
}

/// Writes `len` bytes and reads them back, concurrently (an echo of 1 MiB would otherwise fill
/// both socket buffers and deadlock).
pub async fn round_trip<S: AsyncRead + AsyncWrite + Unpin>(stream: S, len: usize) -> S {
    let data = pattern(len);
    let (mut reader, mut writer) = tokio::io::split(stream);
    let write = async {
        writer.write_all(&data).await.unwrap();
        writer.flush().await.unwrap();
    };
    let read = async {
        let mut got = vec![0u8; len];
        reader.read_exact(&mut got).await.unwrap();
        got
    };
    let ((), got) = within(async { tokio::join!(write, read) }).await;
    assert!(got == data, "echoed bytes differ");
    reader.unsplit(writer)
}

/// PEM-wraps DER with `label`.
pub fn pem_wrap(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    use std::fmt::Write as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    let _ = writeln!(out, "-----END {label}-----");
    out
}
