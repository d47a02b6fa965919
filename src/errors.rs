//! The one conversion from the core's errors to Python exceptions.
//!
//! Exception classes are defined once, in Python (`turbomqtt/errors.py`, and the standard
//! library's `socket` and `ssl`), and bound here with `import_exception!`, so Python code can
//! catch them whether an error came from Rust or Python.

use crate::auth::AuthError;
use crate::session::{RequestError, SessionError};
use crate::transport::TransportError;
use pyo3::exceptions::{PyOSError, PyTimeoutError, PyValueError};
use pyo3::prelude::*;
use pyo3::PyErr;

pyo3::import_exception!(turbomqtt.errors, TokenMalformedError);
pyo3::import_exception!(turbomqtt.errors, TokenExpiredError);
pyo3::import_exception!(turbomqtt.errors, TokenSignatureError);
pyo3::import_exception!(turbomqtt.errors, WebsocketConnectionError);
pyo3::import_exception!(socket, gaierror);
pyo3::import_exception!(ssl, SSLError);
pyo3::import_exception!(ssl, SSLCertVerificationError);

/// Every error the core can hand to Python.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Credential signing or token verification failed.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// Opening a connection failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The session refused a request.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The session refused an MQTT 5 request (malformed properties or options).
    #[error(transparent)]
    Request(#[from] RequestError),
    /// An operating-system error outside a transport (runtime start, bind address).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The result type of the Python-facing layer.
pub type Result<T> = std::result::Result<T, Error>;

#[allow(clippy::needless_pass_by_value)] // consumed by the match arms that move fields
fn auth_error(e: AuthError) -> PyErr {
    let message = e.to_string();
    match e {
        AuthError::InvalidArgument { .. } => PyValueError::new_err(message),
        AuthError::TokenMalformed { field, .. } => TokenMalformedError::new_err((message, field)),
        AuthError::TokenSignatureMismatch => TokenSignatureError::new_err(message),
        AuthError::TokenExpired { et, now, .. } => TokenExpiredError::new_err((message, et, now)),
    }
}

fn transport_error(e: TransportError) -> PyErr {
    match e {
        // The standard mapping keeps the kind: ConnectionRefusedError, TimeoutError, ...
        TransportError::Io(io) => PyErr::from(io),
        TransportError::TlsFile { path, source, .. } => {
            let errno = source.raw_os_error().unwrap_or(0);
            let kind_err = PyErr::from(std::io::Error::new(source.kind(), source.to_string()));
            // Rebuild with (errno, strerror, filename), as open() raises it.
            Python::attach(|py| {
                let cls = kind_err.get_type(py);
                match cls.call1((errno, source.to_string(), path.display().to_string())) {
                    Ok(obj) => PyErr::from_value(obj),
                    Err(err) => err,
                }
            })
        }
        TransportError::Dns { .. } => gaierror::new_err((-2, e.to_string())),
        TransportError::Timeout { .. } => PyTimeoutError::new_err("timed out"),
        TransportError::TlsCertificateVerify(_) => {
            SSLCertVerificationError::new_err((1, e.to_string()))
        }
        TransportError::TlsCertificateVerifyCode { code, reason, .. } => {
            let err = SSLCertVerificationError::new_err((1, e.to_string()));
            // Python's ssl fills these in from OpenSSL; scripts print them.
            Python::attach(|py| {
                let value = err.value(py);
                let _ = value.setattr("verify_code", code);
                let _ = value.setattr("verify_message", reason);
            });
            err
        }
        TransportError::Tls(_) | TransportError::TlsConfig { .. } => {
            SSLError::new_err((1, e.to_string()))
        }
        TransportError::WebSocketHandshake(_) => WebsocketConnectionError::new_err(e.to_string()),
        TransportError::InvalidArgument(_) => PyValueError::new_err(e.to_string()),
    }
}

#[allow(clippy::needless_pass_by_value)]
fn session_error(e: SessionError) -> PyErr {
    match e {
        SessionError::InvalidTopic => PyValueError::new_err("Invalid topic."),
        SessionError::InvalidFilter => PyValueError::new_err("Invalid subscription filter."),
        SessionError::EmptyTopicList => PyValueError::new_err("Empty topic list"),
        SessionError::PacketTooLarge => PyValueError::new_err("Payload too large."),
        SessionError::NotConnected | SessionError::QueueFull { .. } | SessionError::NoFreeMid => {
            PyOSError::new_err(e.to_string())
        }
    }
}

impl From<Error> for PyErr {
    fn from(err: Error) -> PyErr {
        match err {
            Error::Auth(e) => auth_error(e),
            Error::Transport(e) => transport_error(e),
            Error::Session(e) | Error::Request(RequestError::Session(e)) => session_error(e),
            Error::Request(e @ RequestError::InvalidProperties(_)) => {
                PyValueError::new_err(e.to_string())
            }
            Error::Io(e) => PyErr::from(e),
        }
    }
}
