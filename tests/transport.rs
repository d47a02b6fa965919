//! End-to-end tests of `transport::connect` against in-process servers on 127.0.0.1: TCP, TLS
//! (one-way and mutual), WebSocket (plain and over TLS) and unix sockets. Certificates are made
//! with rcgen at test time; every wait is bounded by `common::within`.

mod common;

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use _core::transport::{
    connect, Endpoint, TlsConfig, TlsOptions, TlsVersion, TransportError, TransportKind, VerifyMode,
};
use common::{
    http_404_server, round_trip, server_config, silent_server, tcp_echo_server, tls_echo_server,
    within, ws_echo_server, Pki, TempDir,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;

const MIB: usize = 1 << 20;
const BOTH: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];
const SANS: &[&str] = &["localhost", "127.0.0.1"];

/// A TLS endpoint for 127.0.0.1 (or `host`) on `port`.
fn tls_endpoint(host: &str, port: u16, tls: TlsConfig) -> Endpoint {
    Endpoint {
        tls: Some(tls),
        ..Endpoint::tcp(host, port)
    }
}

/// TLS options trusting the PEM CA written to `dir`.
fn trusting(dir: &TempDir, pki: &Pki) -> TlsOptions {
    TlsOptions {
        ca_certs: Some(dir.write("ca.pem", &pki.ca_pem)),
        ..TlsOptions::new()
    }
}

/// Plain TCP: small and 1 MiB echo round trips.
#[tokio::test]
async fn tcp_round_trip() {
    let addr = tcp_echo_server().await;
    let stream = within(connect(&Endpoint::tcp("127.0.0.1", addr.port())))
        .await
        .unwrap();
    let stream = round_trip(stream, 5).await;
    round_trip(stream, MIB).await;
}

/// A host name is resolved (localhost), and the first address that accepts wins.
#[tokio::test]
async fn tcp_by_name() {
    let addr = tcp_echo_server().await;
    let stream = within(connect(&Endpoint::tcp("localhost", addr.port())))
        .await
        .unwrap();
    round_trip(stream, 100).await;
}

/// A closed port is `Io(ConnectionRefused)` (Python: `ConnectionRefusedError`).
#[tokio::test]
async fn refused_port() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let err = within(connect(&Endpoint::tcp("127.0.0.1", port)))
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&err, TransportError::Io(e) if e.kind() == ErrorKind::ConnectionRefused),
        "{err:?}"
    );
}

/// An empty host is rejected before any I/O (paho: `ValueError('Invalid host.')`).
#[tokio::test]
async fn empty_host() {
    let err = connect(&Endpoint::tcp("", 1883)).await.err().unwrap();
    assert!(matches!(err, TransportError::InvalidArgument(_)), "{err:?}");
}

/// A name that cannot resolve is `Dns` (Python: `socket.gaierror`).
#[tokio::test]
async fn unresolvable_host() {
    let endpoint = Endpoint {
        connect_timeout: Duration::from_secs(8),
        ..Endpoint::tcp("no-such-host.invalid", 1883)
    };
    let err = within(connect(&endpoint)).await.err().unwrap();
    assert!(matches!(err, TransportError::Dns { .. }), "{err:?}");
}

/// With a server that accepts TCP but never answers, the TLS handshake is cut off at the
/// connect timeout. (A listener that never calls accept would not do: the kernel backlog
/// completes the TCP handshake anyway.)
#[tokio::test]
async fn tls_handshake_timeout() {
    let addr = silent_server().await;
    let dir = TempDir::new();
    let pki = Pki::new("ca");
    let mut endpoint = tls_endpoint(
        "127.0.0.1",
        addr.port(),
        TlsConfig::build(&trusting(&dir, &pki)).unwrap(),
    );
    endpoint.connect_timeout = Duration::from_millis(300);
    let start = Instant::now();
    let err = within(connect(&endpoint)).await.err().unwrap();
    assert!(
        matches!(err, TransportError::Timeout { after } if after == Duration::from_millis(300)),
        "{err:?}"
    );
    assert!(start.elapsed() < Duration::from_secs(3));
}

/// The same deadline covers the WebSocket upgrade.
#[tokio::test]
async fn ws_handshake_timeout() {
    let addr = silent_server().await;
    let endpoint = Endpoint {
        kind: TransportKind::WebSockets {
            path: "/mqtt".into(),
            headers: vec![],
        },
        connect_timeout: Duration::from_millis(300),
        ..Endpoint::tcp("127.0.0.1", addr.port())
    };
    let err = within(connect(&endpoint)).await.err().unwrap();
    assert!(matches!(err, TransportError::Timeout { .. }), "{err:?}");
}

/// TLS with the right CA file: handshake, SNI, ALPN offered and agreed, 1 MiB round trip.
#[tokio::test]
async fn tls_right_ca() {
    let pki = Pki::new("ca");
    let (addr, mut seen) = tls_echo_server(server_config(&pki, SANS, None, &["mqtt"], BOTH)).await;
    let dir = TempDir::new();
    let options = TlsOptions {
        alpn_protocols: vec!["mqtt".into()],
        ..trusting(&dir, &pki)
    };
    let stream = within(connect(&tls_endpoint(
        "localhost",
        addr.port(),
        TlsConfig::build(&options).unwrap(),
    )))
    .await
    .unwrap();
    let server = within(seen.recv()).await.unwrap().unwrap();
    assert_eq!(server.alpn.as_deref(), Some(&b"mqtt"[..]));
    assert_eq!(server.sni.as_deref(), Some("localhost"));
    assert_eq!(server.version, Some(rustls::ProtocolVersion::TLSv1_3));
    round_trip(stream, MIB).await;
}

/// Connecting by IP address checks the IP SAN (and sends no SNI, like Python).
#[tokio::test]
async fn tls_ip_address() {
    let pki = Pki::new("ca");
    let (addr, mut seen) = tls_echo_server(server_config(&pki, SANS, None, &[], BOTH)).await;
    let dir = TempDir::new();
    let stream = within(connect(&tls_endpoint(
        "127.0.0.1",
        addr.port(),
        TlsConfig::build(&trusting(&dir, &pki)).unwrap(),
    )))
    .await
    .unwrap();
    assert_eq!(within(seen.recv()).await.unwrap().unwrap().sni, None);
    round_trip(stream, 10).await;
}

/// `ca_data` accepts PEM text and concatenated DER (Python's `cadata` str or bytes).
#[tokio::test]
async fn tls_ca_data_pem_and_der() {
    let pki = Pki::new("ca");
    let other = Pki::new("other");
    let (addr, _seen) = tls_echo_server(server_config(&pki, SANS, None, &[], BOTH)).await;
    let mut der = other.ca_der.to_vec();
    der.extend_from_slice(&pki.ca_der);
    for data in [pki.ca_pem.clone().into_bytes(), der] {
        let options = TlsOptions {
            ca_data: Some(data),
            ..TlsOptions::new()
        };
        let stream = within(connect(&tls_endpoint(
            "localhost",
            addr.port(),
            TlsConfig::build(&options).unwrap(),
        )))
        .await
        .unwrap();
        round_trip(stream, 10).await;
    }
}

/// A server certificate from an untrusted CA is `TlsCertificateVerify`
/// (Python: `ssl.SSLCertVerificationError`), also with the host name check off.
#[tokio::test]
async fn tls_wrong_ca() {
    let pki = Pki::new("ca");
    let stranger = Pki::new("stranger");
    let (addr, _seen) = tls_echo_server(server_config(&pki, SANS, None, &[], BOTH)).await;
    let dir = TempDir::new();
    for check_hostname in [true, false] {
        let options = TlsOptions {
            check_hostname,
            ..trusting(&dir, &stranger)
        };
        let err = within(connect(&tls_endpoint(
            "localhost",
            addr.port(),
            TlsConfig::build(&options).unwrap(),
        )))
        .await
        .err()
        .unwrap();
        assert!(err.is_certificate_error(), "{err:?}");
    }
}

/// A certificate for another name fails verification unless `check_hostname` is off
/// (`tls_insecure_set(True)`), which still verifies the chain.
#[tokio::test]
async fn tls_hostname_mismatch() {
    let pki = Pki::new("ca");
    let (addr, _seen) = tls_echo_server(server_config(
        &pki,
        &["broker.example", "10.9.8.7"],
        None,
        &[],
        BOTH,
    ))
    .await;
    let dir = TempDir::new();
    for host in ["localhost", "127.0.0.1"] {
        let err = within(connect(&tls_endpoint(
            host,
            addr.port(),
            TlsConfig::build(&trusting(&dir, &pki)).unwrap(),
        )))
        .await
        .err()
        .unwrap();
        assert!(err.is_certificate_error(), "{host}: {err:?}");

        let insecure = TlsOptions {
            check_hostname: false,
            ..trusting(&dir, &pki)
        };
        let stream = within(connect(&tls_endpoint(
            host,
            addr.port(),
            TlsConfig::build(&insecure).unwrap(),
        )))
        .await
        .unwrap();
        round_trip(stream, 10).await;
    }
}

/// `cert_reqs=CERT_NONE` accepts an untrusted certificate for another name.
#[tokio::test]
async fn tls_verify_none() {
    let pki = Pki::new("untrusted");
    let (addr, _seen) =
        tls_echo_server(server_config(&pki, &["elsewhere.example"], None, &[], BOTH)).await;
    let options = TlsOptions {
        verify: VerifyMode::None,
        // No CA at all: nothing is trusted, and nothing needs to be.
        ca_data: None,
        ..TlsOptions::new()
    };
    let stream = within(connect(&tls_endpoint(
        "localhost",
        addr.port(),
        TlsConfig::build(&options).unwrap(),
    )))
    .await
    .unwrap();
    round_trip(stream, MIB).await;
}

/// Mutual TLS with a client certificate: separate key file, and key inside the certfile.
#[tokio::test]
async fn mutual_tls_with_client_cert() {
    let pki = Pki::new("ca");
    let clients = Pki::new("client-ca");
    let (addr, mut seen) =
        tls_echo_server(server_config(&pki, SANS, Some(&clients), &[], BOTH)).await;
    let dir = TempDir::new();
    let client = clients.leaf(&["device-1"], true);
    let certfile = dir.write("client.pem", &client.cert_pem);
    let keyfile = dir.write("client.key", client.key.serialize_pem());
    let combined = dir.write(
        "combined.pem",
        format!("{}{}", client.cert_pem, client.key.serialize_pem()),
    );
    for (certfile, keyfile) in [(certfile, Some(keyfile)), (combined, None)] {
        let options = TlsOptions {
            certfile: Some(certfile),
            keyfile,
            ..trusting(&dir, &pki)
        };
        let stream = within(connect(&tls_endpoint(
            "localhost",
            addr.port(),
            TlsConfig::build(&options).unwrap(),
        )))
        .await
        .unwrap();
        let stream = round_trip(stream, 10).await;
        assert!(within(seen.recv()).await.unwrap().unwrap().client_cert);
        round_trip(stream, MIB).await;
    }
}

/// Mutual TLS without a client certificate fails with `Tls`. With TLS 1.3 the client's
/// handshake completes before the server's refusal arrives, so the error shows on the first
/// read; with TLS 1.2 it is the handshake itself that fails.
#[tokio::test]
async fn mutual_tls_without_client_cert() {
    let pki = Pki::new("ca");
    let clients = Pki::new("client-ca");
    let (addr, mut seen) =
        tls_echo_server(server_config(&pki, SANS, Some(&clients), &[], BOTH)).await;
    let dir = TempDir::new();

    let tls13 = TlsConfig::build(&trusting(&dir, &pki)).unwrap();
    let err = match within(connect(&tls_endpoint("localhost", addr.port(), tls13))).await {
        Err(e) => e,
        Ok(mut stream) => {
            let _ = within(stream.write_all(b"hello")).await;
            let mut buf = [0u8; 5];
            let io_err = within(stream.read_exact(&mut buf)).await.err().unwrap();
            TransportError::from_io(io_err)
        }
    };
    assert!(
        matches!(&err, TransportError::Tls(m) if m.contains("Certificate")),
        "{err:?}"
    );
    assert!(within(seen.recv()).await.unwrap().is_err());

    let tls12 = TlsOptions {
        max_version: Some(TlsVersion::Tls12),
        ..trusting(&dir, &pki)
    };
    let err = within(connect(&tls_endpoint(
        "localhost",
        addr.port(),
        TlsConfig::build(&tls12).unwrap(),
    )))
    .await
    .err()
    .unwrap();
    assert!(matches!(err, TransportError::Tls(_)), "{err:?}");
}

/// An encrypted PKCS#8 key (as `openssl pkcs8 -topk8 -v2 aes-256-cbc` or Python's
/// `cryptography` write it) works with the right password; wrong or missing passwords are
/// `TlsConfig` errors at build time (Python: `ssl.SSLError` from `load_cert_chain`).
#[tokio::test]
async fn mutual_tls_encrypted_key() {
    use pkcs8::der::Encode as _;
    use pkcs8::pkcs5::pbes2;

    let pki = Pki::new("ca");
    let clients = Pki::new("client-ca");
    let (addr, _seen) = tls_echo_server(server_config(&pki, SANS, Some(&clients), &[], BOTH)).await;
    let dir = TempDir::new();
    let client = clients.leaf(&["device-1"], true);
    let plain = client.key.serialize_der();
    let info = pkcs8::PrivateKeyInfo::try_from(plain.as_slice()).unwrap();
    let params = pbes2::Parameters::pbkdf2_sha256_aes256cbc(2048, b"saltsalt", &[7u8; 16]).unwrap();
    let encrypted = info.encrypt_with_params(params, "s3cret").unwrap();
    let der = encrypted.as_bytes().to_vec();
    assert!(pkcs8::EncryptedPrivateKeyInfo::try_from(der.as_slice())
        .unwrap()
        .to_der()
        .is_ok());
    let pem = common::pem_wrap("ENCRYPTED PRIVATE KEY", &der);
    let certfile = dir.write("client.pem", &client.cert_pem);
    let keyfile = dir.write("client.key", pem);
    let options = |password: Option<&[u8]>| TlsOptions {
        certfile: Some(certfile.clone()),
        keyfile: Some(keyfile.clone()),
        keyfile_password: password.map(<[u8]>::to_vec),
        ..trusting(&dir, &pki)
    };

    let stream = within(connect(&tls_endpoint(
        "localhost",
        addr.port(),
        TlsConfig::build(&options(Some(b"s3cret"))).unwrap(),
    )))
    .await
    .unwrap();
    round_trip(stream, 10).await;

    for password in [Some(&b"wrong"[..]), None] {
        let err = TlsConfig::build(&options(password)).err().unwrap();
        assert!(matches!(err, TransportError::TlsConfig { .. }), "{err:?}");
    }
}

/// Bad files surface at build (`tls_set`) time: a missing file is `TlsFile` with its path and
/// `NotFound` (Python: `FileNotFoundError`); unparsable PEM or a key that does not match the
/// certificate is `TlsConfig` (Python: `ssl.SSLError`).
#[test]
fn tls_bad_files() {
    let dir = TempDir::new();
    let missing = dir.path("nope.pem");
    let err = TlsConfig::build(&TlsOptions {
        ca_certs: Some(missing.clone()),
        ..TlsOptions::new()
    })
    .err()
    .unwrap();
    match &err {
        TransportError::TlsFile { what, path, source } => {
            assert_eq!(*what, "ca_certs");
            assert_eq!(path, &missing);
            assert_eq!(source.kind(), ErrorKind::NotFound);
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("nope.pem"));

    let garbage = dir.write("garbage.pem", "this is not a certificate\n");
    let err = TlsConfig::build(&TlsOptions {
        ca_certs: Some(garbage),
        ..TlsOptions::new()
    })
    .err()
    .unwrap();
    assert!(matches!(err, TransportError::TlsConfig { .. }), "{err:?}");

    let pki = Pki::new("ca");
    let a = pki.leaf(&["a"], true);
    let b = pki.leaf(&["b"], true);
    let err = TlsConfig::build(&TlsOptions {
        certfile: Some(dir.write("a.pem", &a.cert_pem)),
        keyfile: Some(dir.write("b.key", b.key.serialize_pem())),
        ..TlsOptions::new()
    })
    .err()
    .unwrap();
    assert!(matches!(err, TransportError::TlsConfig { .. }), "{err:?}");

    let err = TlsConfig::build(&TlsOptions {
        certfile: Some(dir.path("missing-cert.pem")),
        ..TlsOptions::new()
    })
    .err()
    .unwrap();
    assert!(
        matches!(
            err,
            TransportError::TlsFile {
                what: "certfile",
                ..
            }
        ),
        "{err:?}"
    );

    let err = TlsConfig::build(&TlsOptions {
        min_version: Some(TlsVersion::Tls13),
        max_version: Some(TlsVersion::Tls12),
        ..TlsOptions::new()
    })
    .err()
    .unwrap();
    assert!(matches!(err, TransportError::InvalidArgument(_)), "{err:?}");
}

/// `tls_version=PROTOCOL_TLSv1_2` pins TLS 1.2, and an OpenSSL cipher name picks the suite.
#[tokio::test]
async fn tls_version_and_ciphers() {
    let pki = Pki::new("ca");
    let (addr, mut seen) = tls_echo_server(server_config(&pki, SANS, None, &[], BOTH)).await;
    let dir = TempDir::new();
    let options = TlsOptions {
        min_version: Some(TlsVersion::Tls12),
        max_version: Some(TlsVersion::Tls12),
        ciphers: Some("ECDHE-ECDSA-CHACHA20-POLY1305:!aNULL".into()),
        ..trusting(&dir, &pki)
    };
    let stream = within(connect(&tls_endpoint(
        "localhost",
        addr.port(),
        TlsConfig::build(&options).unwrap(),
    )))
    .await
    .unwrap();
    let server = within(seen.recv()).await.unwrap().unwrap();
    assert_eq!(server.version, Some(rustls::ProtocolVersion::TLSv1_2));
    assert_eq!(
        server.suite,
        Some(rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256)
    );
    round_trip(stream, 10).await;
}

/// WebSocket: path, the `mqtt` sub-protocol and user headers reach the server (a user header
/// replacing a default one), writes travel as binary messages (the server echoes only those),
/// reads join and split message payloads, and 1 MiB round trips.
#[tokio::test]
async fn ws_round_trip() {
    let (addr, mut upgrades) = ws_echo_server(None).await;
    let endpoint = Endpoint {
        kind: TransportKind::WebSockets {
            path: "/mqtt?x=1".into(),
            headers: vec![
                ("Authorization".into(), "Bearer t0k3n".into()),
                ("X-Repeat".into(), "one".into()),
                ("X-Repeat".into(), "two".into()),
                ("Sec-WebSocket-Protocol".into(), "mqtt".into()),
            ],
        },
        ..Endpoint::tcp("127.0.0.1", addr.port())
    };
    let mut stream = within(connect(&endpoint)).await.unwrap();
    let upgrade = within(upgrades.recv()).await.unwrap();
    assert_eq!(upgrade.path, "/mqtt?x=1");
    let header = |name: &str| -> Vec<&str> {
        upgrade
            .headers
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    assert_eq!(header("sec-websocket-protocol"), ["mqtt"]);
    assert_eq!(header("authorization"), ["Bearer t0k3n"]);
    assert_eq!(header("x-repeat"), ["one", "two"]);
    assert_eq!(
        header("host"),
        [format!("127.0.0.1:{}", addr.port()).as_str()]
    );

    // Two messages out, read back as one 5-byte read, then split across two reads.
    within(async {
        stream.write_all(b"ab").await.unwrap();
        stream.flush().await.unwrap();
        stream.write_all(b"cde").await.unwrap();
        stream.flush().await.unwrap();
        let mut buf = [0u8; 5];
        stream.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"abcde");
        stream.write_all(b"fghij").await.unwrap();
        stream.flush().await.unwrap();
        let mut head = [0u8; 2];
        stream.read_exact(&mut head).await.unwrap();
        let mut tail = [0u8; 3];
        stream.read_exact(&mut tail).await.unwrap();
        assert_eq!((&head, &tail), (b"fg", b"hij"));
    })
    .await;
    round_trip(stream, MIB).await;
}

/// WebSocket over TLS (`wss`), with a path missing its leading slash.
#[tokio::test]
async fn wss_round_trip() {
    let pki = Pki::new("ca");
    let (addr, mut upgrades) =
        ws_echo_server(Some(server_config(&pki, SANS, None, &[], BOTH))).await;
    let dir = TempDir::new();
    let endpoint = Endpoint {
        kind: TransportKind::WebSockets {
            path: "mqtt".into(),
            headers: vec![],
        },
        ..tls_endpoint(
            "localhost",
            addr.port(),
            TlsConfig::build(&trusting(&dir, &pki)).unwrap(),
        )
    };
    let stream = within(connect(&endpoint)).await.unwrap();
    assert_eq!(within(upgrades.recv()).await.unwrap().path, "/mqtt");
    round_trip(stream, MIB).await;
}

/// A server that does not upgrade is `WebSocketHandshake` (paho: `WebsocketConnectionError`).
#[tokio::test]
async fn ws_not_upgraded() {
    let addr = http_404_server().await;
    let endpoint = Endpoint {
        kind: TransportKind::WebSockets {
            path: "/mqtt".into(),
            headers: vec![],
        },
        ..Endpoint::tcp("127.0.0.1", addr.port())
    };
    let err = within(connect(&endpoint)).await.err().unwrap();
    assert!(
        matches!(&err, TransportError::WebSocketHandshake(m) if m.contains("404")),
        "{err:?}"
    );
}

/// A header that is not valid HTTP is `InvalidArgument` (paho: `ValueError`).
#[tokio::test]
async fn ws_bad_header() {
    let addr = tcp_echo_server().await;
    let endpoint = Endpoint {
        kind: TransportKind::WebSockets {
            path: "/mqtt".into(),
            headers: vec![("bad header".into(), "x".into())],
        },
        ..Endpoint::tcp("127.0.0.1", addr.port())
    };
    let err = within(connect(&endpoint)).await.err().unwrap();
    assert!(matches!(err, TransportError::InvalidArgument(_)), "{err:?}");
}

/// Unix socket: `host` is the path; small and 1 MiB round trips; a missing path is
/// `Io(NotFound)`.
#[cfg(unix)]
#[tokio::test]
async fn unix_round_trip() {
    let dir = TempDir::new();
    let path = dir.path("broker.sock");
    common::unix_echo_server(&path);
    let endpoint = Endpoint {
        kind: TransportKind::Unix,
        ..Endpoint::tcp(path.to_str().unwrap(), 0)
    };
    let stream = within(connect(&endpoint)).await.unwrap();
    let stream = round_trip(stream, 5).await;
    round_trip(stream, MIB).await;

    let missing = Endpoint {
        kind: TransportKind::Unix,
        ..Endpoint::tcp(dir.path("missing.sock").to_str().unwrap(), 0)
    };
    let err = within(connect(&missing)).await.err().unwrap();
    assert!(
        matches!(&err, TransportError::Io(e) if e.kind() == ErrorKind::NotFound),
        "{err:?}"
    );
}

/// TLS over a unix socket: the path is no server name, so it needs `check_hostname=false`
/// (as in Python, where the path would never match the certificate).
#[cfg(unix)]
#[tokio::test]
async fn unix_tls() {
    let dir = TempDir::new();
    let path = dir.path("tls.sock");
    let pki = Pki::new("ca");
    let config = server_config(&pki, SANS, None, &[], BOTH);
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            if let Ok(tls) = tokio_rustls::TlsAcceptor::from(config.clone())
                .accept(socket)
                .await
            {
                tokio::spawn(common::echo(tls));
            }
        }
    });
    let host = path.to_str().unwrap();
    let strict = TlsConfig::build(&trusting(&dir, &pki)).unwrap();
    let unix = |tls: TlsConfig| Endpoint {
        kind: TransportKind::Unix,
        tls: Some(tls),
        ..Endpoint::tcp(host, 0)
    };
    let err = within(connect(&unix(strict))).await.err().unwrap();
    assert!(matches!(err, TransportError::InvalidArgument(_)), "{err:?}");

    let insecure = TlsConfig::build(&TlsOptions {
        check_hostname: false,
        ..trusting(&dir, &pki)
    })
    .unwrap();
    let stream = within(connect(&unix(insecure))).await.unwrap();
    round_trip(stream, MIB).await;
}
