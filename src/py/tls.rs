//! `TlsConfig`: a rustls client configuration built once from `tls_set` arguments.

use crate::errors::{Error, Result};
use crate::transport::{TlsConfig, TlsOptions, TlsVersion, VerifyMode};
use pyo3::prelude::*;
use std::path::PathBuf;

/// A built TLS client configuration (cheap to clone; shared by every reconnect).
#[pyclass(name = "TlsConfig", module = "turbomqtt._core", frozen)]
pub struct PyTlsConfig {
    /// The rustls configuration.
    pub inner: TlsConfig,
}

fn version(v: Option<u8>) -> Option<TlsVersion> {
    match v {
        Some(12) => Some(TlsVersion::Tls12),
        Some(13) => Some(TlsVersion::Tls13),
        _ => None,
    }
}

#[pymethods]
impl PyTlsConfig {
    #[new]
    #[pyo3(signature = (*, ca_certs, ca_data, system_roots, certfile, keyfile, keyfile_password,
        verify, check_hostname, min_version, max_version, alpn_protocols, ciphers))]
    #[allow(clippy::too_many_arguments, clippy::fn_params_excessive_bools)]
    fn new(
        py: Python<'_>,
        ca_certs: Option<PathBuf>,
        ca_data: Option<Vec<u8>>,
        system_roots: bool,
        certfile: Option<PathBuf>,
        keyfile: Option<PathBuf>,
        keyfile_password: Option<Vec<u8>>,
        verify: bool,
        check_hostname: bool,
        min_version: Option<u8>,
        max_version: Option<u8>,
        alpn_protocols: Option<Vec<String>>,
        ciphers: Option<String>,
    ) -> Result<Self> {
        let mut options = TlsOptions::new();
        options.ca_certs = ca_certs;
        options.ca_data = ca_data;
        options.system_roots = system_roots;
        options.certfile = certfile;
        options.keyfile = keyfile;
        options.keyfile_password = keyfile_password;
        options.verify = if verify {
            VerifyMode::Required
        } else {
            VerifyMode::None
        };
        options.check_hostname = check_hostname;
        options.min_version = version(min_version);
        options.max_version = version(max_version);
        options.alpn_protocols = alpn_protocols.unwrap_or_default();
        options.ciphers = ciphers;
        // Reading files and the system store can take a while: release the GIL.
        let inner = py
            .detach(|| TlsConfig::build(&options))
            .map_err(Error::Transport)?;
        Ok(Self { inner })
    }
}
