//! The system trust store, steered by SSL_CERT_FILE like Python's `load_default_certs()`.
//!
//! A separate test binary with a single test, because it changes the process environment,
//! which is not safe while other test threads may read it.

mod common;

use _core::transport::{connect, Endpoint, TlsConfig, TlsOptions};
use common::{round_trip, server_config, tls_echo_server, within, Pki, TempDir};
use tokio_rustls::rustls;

/// With no `ca_certs`, the CAs come from SSL_CERT_FILE; an SSL_CERT_FILE with no certificate
/// still builds (like an SSLContext with nothing loaded) and fails each connect with a
/// certificate error.
#[tokio::test]
async fn system_store_honours_ssl_cert_file() {
    let pki = Pki::new("ca");
    let (addr, _seen) = tls_echo_server(server_config(
        &pki,
        &["localhost"],
        None,
        &[],
        &[&rustls::version::TLS13],
    ))
    .await;
    let dir = TempDir::new();
    let endpoint = |tls: TlsConfig| Endpoint {
        tls: Some(tls),
        ..Endpoint::tcp("localhost", addr.port())
    };

    std::env::set_var("SSL_CERT_FILE", dir.write("bundle.pem", &pki.ca_pem));
    std::env::remove_var("SSL_CERT_DIR");
    let trusted = TlsConfig::build(&TlsOptions::new()).unwrap();
    let stream = within(connect(&endpoint(trusted))).await.unwrap();
    round_trip(stream, 10).await;

    std::env::set_var("SSL_CERT_FILE", dir.write("empty.pem", ""));
    let empty = TlsConfig::build(&TlsOptions::new()).unwrap();
    let err = within(connect(&endpoint(empty))).await.err().unwrap();
    assert!(err.is_certificate_error(), "{err:?}");
}
