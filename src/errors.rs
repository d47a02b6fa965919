//! The one conversion from the core's errors to Python exceptions.
//!
//! Exception classes are defined once, in `python/turbomqtt/errors.py`, and bound here with
//! `import_exception!`, so Python code can `except turbomqtt.errors.TokenExpiredError` whether
//! the error came from Rust or Python.

use crate::auth::AuthError;
use pyo3::exceptions::PyValueError;
use pyo3::PyErr;

pyo3::import_exception!(turbomqtt.errors, TokenMalformedError);
pyo3::import_exception!(turbomqtt.errors, TokenExpiredError);
pyo3::import_exception!(turbomqtt.errors, TokenSignatureError);

/// Every error the core can hand to Python.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Credential signing or token verification failed.
    #[error(transparent)]
    Auth(#[from] AuthError),
}

/// The result type of the Python-facing layer.
pub type Result<T> = std::result::Result<T, Error>;

impl From<Error> for PyErr {
    fn from(err: Error) -> PyErr {
        match err {
            Error::Auth(e) => {
                let message = e.to_string();
                match e {
                    AuthError::InvalidArgument { .. } => PyValueError::new_err(message),
                    AuthError::TokenMalformed { field, .. } => {
                        TokenMalformedError::new_err((message, field))
                    }
                    AuthError::TokenSignatureMismatch => TokenSignatureError::new_err(message),
                    AuthError::TokenExpired { et, now, .. } => {
                        TokenExpiredError::new_err((message, et, now))
                    }
                }
            }
        }
    }
}
