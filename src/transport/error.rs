//! The transport's error type, shaped so the Python layer can raise exactly the exception paho
//! raises for the same failure (paho_api.md section 13).
//!
//! The conversion to Python lives in `src/errors.rs` (one place for every Rust → Python error);
//! this module only classifies. The one subtle part is TLS: tokio-rustls reports every TLS failure
//! as an `io::Error` wrapping a `rustls::Error`, so [`TransportError::from_io`] looks inside to
//! tell a certificate-verification failure (`ssl.SSLCertVerificationError`) from any other TLS
//! failure (`ssl.SSLError`) and from a plain socket error (`OSError`).

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use tokio_rustls::rustls;

/// Why opening a transport (or, via [`TransportError::from_io`], reading or writing one) failed.
///
/// Intended mapping to Python exceptions (implemented by `src/errors.rs`, not here):
///
/// | variant | Python exception (what paho raises) |
/// |---|---|
/// | `Io(e)` | the `OSError` subclass for `e.kind()`: `ConnectionRefused` → `ConnectionRefusedError`, `ConnectionReset` → `ConnectionResetError`, `ConnectionAborted` → `ConnectionAbortedError`, `BrokenPipe` → `BrokenPipeError`, `NotFound` → `FileNotFoundError` (a missing unix socket path), `PermissionDenied` → `PermissionError`, `TimedOut` → `TimeoutError`; otherwise `OSError(e.raw_os_error(), str(e))` |
/// | `Dns` | `socket.gaierror` |
/// | `Timeout` | `TimeoutError("timed out")` (`socket.timeout` is an alias since Python 3.10) |
/// | `TlsCertificateVerify` | `ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: …")` |
/// | `Tls` | `ssl.SSLError` |
/// | `TlsFile` | the `OSError` subclass for the I/O error (`FileNotFoundError` for a missing file, with `filename=path`), as `SSLContext.load_cert_chain`/`load_verify_locations` raise |
/// | `TlsConfig` | `ssl.SSLError` (bad PEM, wrong key password, key not matching the certificate) |
/// | `WebSocketHandshake` | paho's `WebsocketConnectionError` (`turbomqtt.errors`) |
/// | `InvalidArgument` | `ValueError` |
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// A socket-level failure; the `io::ErrorKind` (and raw OS errno) is preserved so Python can
    /// pick `ConnectionRefusedError`, `ConnectionResetError`, ... exactly.
    #[error("{0}")]
    Io(io::Error),

    /// The host name could not be resolved (paho: `socket.gaierror`).
    #[error("cannot resolve host {host:?}: {reason}")]
    Dns {
        /// The host name as given to `connect`.
        host: String,
        /// The resolver's message.
        reason: String,
    },

    /// The whole connect (resolve, TCP, TLS handshake, WebSocket upgrade) exceeded its deadline.
    #[error("timed out after {after:?}")]
    Timeout {
        /// The deadline that was exceeded (paho's `connect_timeout`).
        after: Duration,
    },

    /// The server's certificate was rejected: unknown issuer, expired, wrong host name, ...
    #[error("certificate verify failed: {0}")]
    TlsCertificateVerify(String),

    /// Like `TlsCertificateVerify`, with OpenSSL's `X509_V_ERR_*` code and reason text for the
    /// cases Python's `ssl.SSLCertVerificationError` reports them (`verify_code`,
    /// `verify_message`): 10 expired, 9 not yet valid, 20 unknown issuer, 62 host name
    /// mismatch, 64 IP address mismatch, 23 revoked.
    #[error("certificate verify failed: {message}")]
    TlsCertificateVerifyCode {
        /// rustls's description.
        message: String,
        /// OpenSSL's verification error number.
        code: i32,
        /// OpenSSL's text for it.
        reason: &'static str,
    },

    /// Any other TLS failure: handshake failure, an alert from the peer (such as the server
    /// rejecting our client certificate), no common protocol version or cipher suite.
    #[error("TLS error: {0}")]
    Tls(String),

    /// A certificate, key or CA file named in the TLS options could not be read.
    #[error("cannot read {what} file {}: {source}", path.display())]
    TlsFile {
        /// Which option named the file: `"ca_certs"`, `"certfile"` or `"keyfile"`.
        what: &'static str,
        /// The path as given.
        path: PathBuf,
        /// The I/O error, with its kind (`NotFound`, `PermissionDenied`, ...) preserved.
        #[source]
        source: io::Error,
    },

    /// The TLS options could not be turned into a client configuration: unparsable PEM, no
    /// certificate in a file, a wrong key password, a key that does not match its certificate.
    #[error("invalid {what}: {reason}")]
    TlsConfig {
        /// What was being loaded, e.g. `"ca_certs /etc/ca.pem"` or `"keyfile_password"`.
        what: String,
        /// Why it was rejected.
        reason: String,
    },

    /// The WebSocket upgrade failed: a non-101 answer, a bad accept key, a missing `mqtt`
    /// sub-protocol (paho: `WebsocketConnectionError`).
    #[error("WebSocket handshake error: {0}")]
    WebSocketHandshake(String),

    /// A caller-supplied value is unusable (empty host, bad header name, empty ALPN id, ...).
    #[error("{0}")]
    InvalidArgument(String),
}

impl TransportError {
    /// Classifies an I/O error from any transport stream, during connect or afterwards.
    ///
    /// The connection task should use this for read/write errors too: with TLS 1.3 a server
    /// that refuses our client certificate does so only *after* the client's handshake has
    /// finished, so that failure first shows up on a read, as a rustls alert inside an
    /// `io::Error`.
    pub fn from_io(err: io::Error) -> Self {
        if let Some(tls) = err
            .get_ref()
            .and_then(|e| e.downcast_ref::<rustls::Error>())
        {
            return Self::from_rustls(tls);
        }
        Self::Io(err)
    }

    /// Classifies a rustls error: certificate problems versus every other TLS failure.
    pub fn from_rustls(err: &rustls::Error) -> Self {
        match err {
            rustls::Error::InvalidCertificate(cert) => {
                use rustls::CertificateError as C;
                let known = match cert {
                    C::Expired | C::ExpiredContext { .. } => Some((10, "certificate has expired")),
                    C::NotValidYet | C::NotValidYetContext { .. } => {
                        Some((9, "certificate is not yet valid"))
                    }
                    C::UnknownIssuer => Some((20, "unable to get local issuer certificate")),
                    C::NotValidForNameContext {
                        expected: rustls::pki_types::ServerName::IpAddress(_),
                        ..
                    } => Some((64, "IP address mismatch, certificate is not valid")),
                    C::NotValidForName | C::NotValidForNameContext { .. } => {
                        Some((62, "Hostname mismatch, certificate is not valid"))
                    }
                    C::Revoked => Some((23, "certificate revoked")),
                    _ => None,
                };
                match known {
                    Some((code, reason)) => Self::TlsCertificateVerifyCode {
                        message: err.to_string(),
                        code,
                        reason,
                    },
                    None => Self::TlsCertificateVerify(err.to_string()),
                }
            }
            _ => Self::Tls(err.to_string()),
        }
    }

    /// Whether this error is about the server's certificate (Python's
    /// `ssl.SSLCertVerificationError`, which paho's users catch separately).
    pub fn is_certificate_error(&self) -> bool {
        matches!(
            self,
            Self::TlsCertificateVerify(_) | Self::TlsCertificateVerifyCode { .. }
        )
    }
}

impl From<io::Error> for TransportError {
    fn from(err: io::Error) -> Self {
        Self::from_io(err)
    }
}
