//! turbomqtt's native core, `turbomqtt._core`: module registration only.
//!
//! The logic lives in plain Rust modules (`auth`, `topic`, `session`, `transport`) that
//! `cargo test` checks without a Python interpreter; `connection` drives a session over a
//! transport on the shared `runtime`; `py` holds the thin pyo3 wrappers; `errors` is the one
//! place a Rust error becomes a Python exception.

pub mod auth;
pub mod connection;
pub mod dispatch;
pub mod errors;
mod py;
pub mod runtime;
pub mod session;
pub mod tcp;
pub mod topic;
pub mod transport;

use pyo3::prelude::*;

/// The private native module behind the `turbomqtt` package.
#[pymodule]
mod _core {
    #[pymodule_export]
    use crate::py::auth::{
        aliyun, baidu, huawei, onenet_credentials, onenet_token, parse_onenet_token, tencent,
        verify_onenet_token,
    };
    #[pymodule_export]
    use crate::py::client::PyCoreClient;
    #[pymodule_export]
    use crate::py::dispatch::PyLane;
    #[pymodule_export]
    use crate::py::tls::PyTlsConfig;
    #[pymodule_export]
    use crate::py::topic::{topic_matches_sub, valid_filter, valid_topic};

    use pyo3::prelude::*;

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        // Rust `log` records go to Python's `logging` (logger names start with `_core`).
        // A second init (a re-imported module) is harmless, so its error is ignored.
        let _ = pyo3_log::try_init();
        crate::py::client::add_constants(m)?;
        m.add("__version__", env!("CARGO_PKG_VERSION"))
    }
}
