//! TLS client configuration: paho's `tls_set` / `tls_insecure_set` / `tls_set_context` options
//! turned into one rustls `ClientConfig`, and the handshake itself.
//!
//! The configuration is built once per `tls_set` call ([`TlsConfig::build`]) and shared by every
//! reconnect, so bad files fail at `tls_set` time like paho's `SSLContext.load_*` calls, and a
//! reconnect never re-reads the disk. rustls (ring provider) only speaks TLS 1.2 and 1.3, which is
//! all a broker needs; TLS 1.0/1.1 (`ssl.PROTOCOL_TLSv1`) cannot be offered.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use pkcs8::EncryptedPrivateKeyInfo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::crypto::{ring, CryptoProvider, WebPkiSupportedAlgorithms};
use tokio_rustls::rustls::pki_types::pem::{self, PemObject};
use tokio_rustls::rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime,
};
use tokio_rustls::rustls::{
    self, CertificateError, CipherSuite, ClientConfig, DigitallySignedStruct, OtherError,
    RootCertStore, SignatureScheme, SupportedProtocolVersion,
};
use tokio_rustls::TlsConnector;

use super::TransportError;

/// Whether the server's certificate is checked (Python's `cert_reqs`).
///
/// Python's `ssl.CERT_OPTIONAL` behaves exactly like `CERT_REQUIRED` on a client socket, so the
/// Python layer maps both to [`VerifyMode::Required`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VerifyMode {
    /// `ssl.CERT_REQUIRED` (paho's default): the chain must lead to a trusted CA.
    #[default]
    Required,
    /// `ssl.CERT_NONE`: any certificate is accepted (the handshake signature is still checked,
    /// so the peer must hold the key of the certificate it sent). Implies no host name check.
    None,
}

/// A TLS protocol version rustls can negotiate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// TLS 1.2 (`ssl.PROTOCOL_TLSv1_2`, `ssl.TLSVersion.TLSv1_2`).
    Tls12,
    /// TLS 1.3 (`ssl.TLSVersion.TLSv1_3`).
    Tls13,
}

/// Everything paho's TLS calls can set, as plain owned data.
///
/// Mapping from paho: `tls_set(ca_certs, certfile, keyfile, cert_reqs, tls_version, ciphers,
/// keyfile_password, alpn_protocols)` fills the fields of the same names;
/// `tls_insecure_set(True)` sets `check_hostname = false`; `tls_set_context(ctx)` is mapped by
/// the Python layer from what an `SSLContext` exposes (`verify_mode`, `check_hostname`,
/// `minimum_version`/`maximum_version`, `get_ca_certs(binary_form=True)` into `ca_data`).
#[derive(Clone, Default)]
pub struct TlsOptions {
    /// PEM file of trusted CA certificates (`ca_certs`).
    pub ca_certs: Option<PathBuf>,
    /// In-memory trusted CA certificates, PEM text or one or more concatenated DER certificates
    /// (`SSLContext.load_verify_locations(cadata=...)`, which accepts both).
    pub ca_data: Option<Vec<u8>>,
    /// Also trust the system store (SSL_CERT_FILE / SSL_CERT_DIR when set, else the platform
    /// store). The system store is always used when neither `ca_certs` nor `ca_data` is given,
    /// as paho's `tls_set()` calls `load_default_certs()` then; this flag adds it on top of them
    /// (an `ssl.create_default_context()` context given to `tls_set_context`).
    pub system_roots: bool,
    /// PEM file with our certificate chain, leaf first (`certfile`, for mutual TLS).
    pub certfile: Option<PathBuf>,
    /// PEM file with our private key (`keyfile`); when absent the key is read from `certfile`,
    /// as `SSLContext.load_cert_chain` does. Ignored without `certfile`, like paho.
    pub keyfile: Option<PathBuf>,
    /// Password of an encrypted `keyfile` (`keyfile_password`; bytes, since Python accepts
    /// `str` or `bytes`). Only PKCS#8 `ENCRYPTED PRIVATE KEY` PEM (PBES2) can be decrypted.
    pub keyfile_password: Option<Vec<u8>>,
    /// Whether the server's certificate chain is verified (`cert_reqs`).
    pub verify: VerifyMode,
    /// Whether the certificate must name the host we connect to (`not tls_insecure`). With
    /// `false` the chain is still verified against the trusted CAs.
    pub check_hostname: bool,
    /// Lowest version offered; `None` means TLS 1.2, the lowest rustls has.
    pub min_version: Option<TlsVersion>,
    /// Highest version offered; `None` means TLS 1.3. `tls_version=ssl.PROTOCOL_TLSv1_2` pins
    /// both to [`TlsVersion::Tls12`].
    pub max_version: Option<TlsVersion>,
    /// ALPN protocol ids to offer, in preference order (`alpn_protocols`).
    pub alpn_protocols: Vec<String>,
    /// An OpenSSL cipher string (`ciphers`). rustls cannot take OpenSSL syntax, so only names of
    /// TLS 1.2 suites rustls implements are honoured (in OpenSSL or IANA spelling); keywords
    /// (`HIGH`, `!aNULL`, `ECDHE+AESGCM`, ...) and unknown names are logged and ignored. If no
    /// name is usable the defaults stay, so scripts that worked with paho keep connecting.
    /// TLS 1.3 suites are never restricted, as OpenSSL's `set_ciphers` does not touch them.
    pub ciphers: Option<String>,
}

impl TlsOptions {
    /// The options of a bare `tls_set()`: system CAs, certificate and host name required.
    pub fn new() -> Self {
        Self {
            check_hostname: true,
            ..Self::default()
        }
    }
}

impl fmt::Debug for TlsOptions {
    // Hand-written so a password never reaches a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsOptions")
            .field("ca_certs", &self.ca_certs)
            .field("ca_data", &self.ca_data.as_ref().map(Vec::len))
            .field("system_roots", &self.system_roots)
            .field("certfile", &self.certfile)
            .field("keyfile", &self.keyfile)
            .field(
                "keyfile_password",
                &self.keyfile_password.as_ref().map(|_| "***"),
            )
            .field("verify", &self.verify)
            .field("check_hostname", &self.check_hostname)
            .field("min_version", &self.min_version)
            .field("max_version", &self.max_version)
            .field("alpn_protocols", &self.alpn_protocols)
            .field("ciphers", &self.ciphers)
            .finish()
    }
}

/// A ready rustls client configuration, built once and shared by every (re)connect.
///
/// Cloning is cheap (an `Arc`), so the connection task keeps its own copy.
#[derive(Clone)]
pub struct TlsConfig {
    /// The rustls configuration handed to each handshake.
    client: Arc<ClientConfig>,
    /// Whether the host name is checked; when not, a host that is no valid TLS server name (a
    /// unix socket path) can still be connected with a placeholder name.
    check_hostname: bool,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("check_hostname", &self.check_hostname)
            .field("alpn_protocols", &self.client.alpn_protocols)
            .finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// Reads every file, parses every certificate and key, and builds the rustls configuration.
    ///
    /// Blocking (file reads, maybe the system store): call it from `tls_set`, not from a task.
    pub fn build(options: &TlsOptions) -> Result<Self, TransportError> {
        let provider = Arc::new(provider_with_ciphers(options.ciphers.as_deref()));
        let versions = protocol_versions(options.min_version, options.max_version)?;
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| config_error("tls_version", &e))?;

        let check_hostname = options.check_hostname && options.verify == VerifyMode::Required;
        let verifier: Arc<dyn ServerCertVerifier> = match options.verify {
            VerifyMode::None => Arc::new(AcceptAnyCertificate {
                algorithms: provider.signature_verification_algorithms,
            }),
            VerifyMode::Required => {
                let roots = root_store(options)?;
                if roots.is_empty() {
                    // Like an SSLContext with no CA loaded: configuring succeeds, and every
                    // connect fails certificate verification (not a setup error at tls_set).
                    log::warn!("no trusted CA certificates found; every TLS connect will fail");
                    Arc::new(NoTrustAnchors {
                        algorithms: provider.signature_verification_algorithms,
                    })
                } else {
                    let webpki =
                        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                            .build()
                            .map_err(|e| config_error("trusted CA certificates", &e))?;
                    if check_hostname {
                        webpki
                    } else {
                        Arc::new(IgnoreHostname { inner: webpki })
                    }
                }
            }
        };
        let builder = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier);

        let mut client = if let Some(certfile) = &options.certfile {
            let (chain, key) = load_client_identity(
                certfile,
                options.keyfile.as_deref(),
                options.keyfile_password.as_deref(),
            )?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| config_error(&format!("certfile {}", certfile.display()), &e))?
        } else {
            if options.keyfile.is_some() {
                log::warn!("keyfile given without certfile: ignored, as paho does");
            }
            builder.with_no_client_auth()
        };
        client.alpn_protocols = alpn_ids(&options.alpn_protocols)?;
        Ok(Self {
            client: Arc::new(client),
            check_hostname,
        })
    }

    /// Runs the TLS handshake over `stream` for `host` (the name or IP address given to
    /// `connect`, used for SNI and the certificate check).
    pub(crate) async fn handshake<S>(
        &self,
        host: &str,
        stream: S,
    ) -> Result<TlsStream<S>, TransportError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let name = self.server_name(host)?;
        TlsConnector::from(self.client.clone())
            .connect(name, stream)
            .await
            .map_err(TransportError::from_io)
    }

    /// The rustls server name for `host`: a DNS name or an IP address (matched against IP SANs,
    /// no SNI sent, as Python does).
    fn server_name(&self, host: &str) -> Result<ServerName<'static>, TransportError> {
        // An IPv6 literal may come bracketed from a URL-minded caller.
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        match ServerName::try_from(bare.to_owned()) {
            Ok(name) => Ok(name),
            // Python would send this host as-is and fail the name check; without a name check
            // (e.g. TLS over a unix socket path with tls_insecure_set) any name will do.
            Err(_) if !self.check_hostname => Ok(ServerName::try_from("localhost")
                .map_err(|e| TransportError::InvalidArgument(e.to_string()))?),
            Err(e) => Err(TransportError::InvalidArgument(format!(
                "host {host:?} is not a valid TLS server name ({e}); \
                 use tls_insecure_set(True) to connect without a host name check"
            ))),
        }
    }
}

/// Builds a `TlsConfig { what, reason }` error from anything displayable.
fn config_error(what: &str, reason: &dyn fmt::Display) -> TransportError {
    TransportError::TlsConfig {
        what: what.to_owned(),
        reason: reason.to_string(),
    }
}

/// Reads a file named by a TLS option, keeping the path and the I/O error kind.
fn read_file(what: &'static str, path: &Path) -> Result<Vec<u8>, TransportError> {
    std::fs::read(path).map_err(|source| TransportError::TlsFile {
        what,
        path: path.to_owned(),
        source,
    })
}

/// The versions between `min` and `max` (inclusive) that rustls implements.
fn protocol_versions(
    min: Option<TlsVersion>,
    max: Option<TlsVersion>,
) -> Result<Vec<&'static SupportedProtocolVersion>, TransportError> {
    let min = min.unwrap_or(TlsVersion::Tls12);
    let max = max.unwrap_or(TlsVersion::Tls13);
    let mut versions = Vec::with_capacity(2);
    // Preference order matters to rustls: newest first.
    if min <= TlsVersion::Tls13 && TlsVersion::Tls13 <= max {
        versions.push(&rustls::version::TLS13);
    }
    if min <= TlsVersion::Tls12 && TlsVersion::Tls12 <= max {
        versions.push(&rustls::version::TLS12);
    }
    if versions.is_empty() {
        return Err(TransportError::InvalidArgument(format!(
            "no TLS version between {min:?} and {max:?}"
        )));
    }
    Ok(versions)
}

/// OpenSSL names of the TLS 1.2 suites the ring provider implements, with their rustls ids.
const OPENSSL_TLS12_NAMES: &[(&str, CipherSuite)] = &[
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

/// The ring provider, with its TLS 1.2 suites narrowed to those named in an OpenSSL cipher
/// string (see [`TlsOptions::ciphers`] for what is honoured and why).
fn provider_with_ciphers(ciphers: Option<&str>) -> CryptoProvider {
    let mut provider = ring::default_provider();
    let Some(ciphers) = ciphers else {
        return provider;
    };
    let mut wanted = Vec::new();
    for token in ciphers
        .split([':', ',', ' '])
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        let suite = OPENSSL_TLS12_NAMES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(token))
            .map(|(_, suite)| *suite)
            .or_else(|| {
                provider
                    .cipher_suites
                    .iter()
                    .map(rustls::SupportedCipherSuite::suite)
                    .find(|s| s.as_str().is_some_and(|n| n.eq_ignore_ascii_case(token)))
            });
        match suite {
            Some(suite) => wanted.push(suite),
            None => log::info!("cipher {token:?} is not a rustls suite; ignored"),
        }
    }
    let keeps = |s: &rustls::SupportedCipherSuite| {
        s.version() == &rustls::version::TLS13 || wanted.contains(&s.suite())
    };
    if wanted.is_empty()
        || !provider
            .cipher_suites
            .iter()
            .any(|s| keeps(s) && is_tls12(s))
    {
        log::warn!("ciphers {ciphers:?} name no TLS 1.2 suite rustls implements; using defaults");
        return provider;
    }
    provider.cipher_suites.retain(keeps);
    provider
}

/// Whether a suite is a TLS 1.2 one (the only kind a cipher string restricts).
fn is_tls12(suite: &rustls::SupportedCipherSuite) -> bool {
    matches!(suite, rustls::SupportedCipherSuite::Tls12(_))
}

/// The trusted CAs: `ca_certs` and `ca_data`, and the system store when asked for or when
/// neither is given.
fn root_store(options: &TlsOptions) -> Result<RootCertStore, TransportError> {
    let mut roots = RootCertStore::empty();
    if let Some(path) = &options.ca_certs {
        let what = format!("ca_certs {}", path.display());
        let certs = parse_pem_certs(&read_file("ca_certs", path)?, &what)?;
        add_all(&mut roots, certs, &what)?;
    }
    if let Some(data) = &options.ca_data {
        let certs = if looks_like_pem(data) {
            parse_pem_certs(data, "ca_data")?
        } else {
            split_der_certs(data).map_err(|reason| config_error("ca_data", &reason))?
        };
        add_all(&mut roots, certs, "ca_data")?;
    }
    if options.system_roots || (options.ca_certs.is_none() && options.ca_data.is_none()) {
        // rustls-native-certs reads SSL_CERT_FILE / SSL_CERT_DIR instead of the platform store
        // when either is set, like OpenSSL's default verify paths behind Python's
        // load_default_certs().
        let found = rustls_native_certs::load_native_certs();
        for err in &found.errors {
            log::warn!("system CA store: {err}");
        }
        let (added, ignored) = roots.add_parsable_certificates(found.certs);
        log::debug!("system CA store: {added} certificates trusted, {ignored} unparsable");
    }
    Ok(roots)
}

/// Adds CA certificates, failing on the first unusable one, as OpenSSL's loaders do.
fn add_all(
    roots: &mut RootCertStore,
    certs: Vec<CertificateDer<'static>>,
    what: &str,
) -> Result<(), TransportError> {
    for cert in certs {
        roots.add(cert).map_err(|e| config_error(what, &e))?;
    }
    Ok(())
}

/// Whether `data` is PEM text rather than DER (DER always starts with a SEQUENCE tag, 0x30).
fn looks_like_pem(data: &[u8]) -> bool {
    data.windows(11).any(|w| w == b"-----BEGIN ")
}

/// Every certificate in a PEM buffer; an error if there is none (OpenSSL's
/// `NO_CERTIFICATE_OR_CRL_FOUND`).
fn parse_pem_certs(
    data: &[u8],
    what: &str,
) -> Result<Vec<CertificateDer<'static>>, TransportError> {
    let certs = CertificateDer::pem_slice_iter(data)
        .collect::<Result<Vec<_>, pem::Error>>()
        .map_err(|e| config_error(what, &e))?;
    if certs.is_empty() {
        return Err(config_error(what, &"no PEM certificate found"));
    }
    Ok(certs)
}

/// Splits concatenated DER certificates (Python's `cadata` as bytes) by their outer
/// SEQUENCE lengths.
fn split_der_certs(mut data: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let mut certs = Vec::new();
    while !data.is_empty() {
        let len = der_element_len(data)
            .ok_or_else(|| "not PEM, and not a sequence of DER certificates".to_owned())?;
        let (cert, rest) = data.split_at(len);
        certs.push(CertificateDer::from(cert.to_vec()));
        data = rest;
    }
    if certs.is_empty() {
        return Err("empty".to_owned());
    }
    Ok(certs)
}

/// Total length (header included) of the DER SEQUENCE at the start of `data`, if well formed.
fn der_element_len(data: &[u8]) -> Option<usize> {
    if data.first() != Some(&0x30) {
        return None;
    }
    let first = usize::from(*data.get(1)?);
    let (header, body) = if first < 0x80 {
        (2, first)
    } else {
        let n = first & 0x7f;
        // A certificate longer than 4 GiB is not a certificate.
        if n == 0 || n > 4 {
            return None;
        }
        let len_bytes = data.get(2..2 + n)?;
        let body = len_bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (2 + n, body)
    };
    let total = header.checked_add(body)?;
    (total <= data.len()).then_some(total)
}

/// Our certificate chain and private key for mutual TLS.
fn load_client_identity(
    certfile: &Path,
    keyfile: Option<&Path>,
    password: Option<&[u8]>,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TransportError> {
    let cert_pem = read_file("certfile", certfile)?;
    let chain = parse_pem_certs(&cert_pem, &format!("certfile {}", certfile.display()))?;
    let key = match keyfile {
        Some(path) => {
            let pem = read_file("keyfile", path)?;
            parse_private_key(&pem, password, &format!("keyfile {}", path.display()))?
        }
        None => parse_private_key(
            &cert_pem,
            password,
            &format!("certfile {} (no keyfile given)", certfile.display()),
        )?,
    };
    Ok((chain, key))
}

/// PEM label of a PKCS#8 encrypted key.
const ENCRYPTED_KEY_BEGIN: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
/// End marker of a PKCS#8 encrypted key.
const ENCRYPTED_KEY_END: &str = "-----END ENCRYPTED PRIVATE KEY-----";

/// The private key in a PEM buffer: PKCS#1, SEC1 or PKCS#8, or PKCS#8 encrypted with PBES2.
fn parse_private_key(
    pem_data: &[u8],
    password: Option<&[u8]>,
    what: &str,
) -> Result<PrivateKeyDer<'static>, TransportError> {
    let text = String::from_utf8_lossy(pem_data);
    if let Some(start) = text.find(ENCRYPTED_KEY_BEGIN) {
        let Some(password) = password else {
            return Err(config_error(
                what,
                &"the private key is encrypted; pass keyfile_password",
            ));
        };
        let body_start = start + ENCRYPTED_KEY_BEGIN.len();
        let body_len = text[body_start..]
            .find(ENCRYPTED_KEY_END)
            .ok_or_else(|| config_error(what, &"unterminated ENCRYPTED PRIVATE KEY block"))?;
        let b64: String = text[body_start..body_start + body_len]
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| config_error(what, &e))?;
        let info = EncryptedPrivateKeyInfo::try_from(der.as_slice())
            .map_err(|e| config_error(what, &e))?;
        let plain = info.decrypt(password).map_err(|e| {
            config_error(
                what,
                &format!("cannot decrypt the private key (wrong keyfile_password?): {e}"),
            )
        })?;
        return Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            plain.as_bytes().to_vec(),
        )));
    }
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        // OpenSSL's legacy per-format encryption (DEK-Info, MD5-based key derivation): no
        // maintained pure-Rust implementation, and it is weak; a one-line conversion exists.
        return Err(config_error(
            what,
            &"legacy OpenSSL-encrypted PEM keys are not supported; convert with \
              `openssl pkcs8 -topk8 -v2 aes-256-cbc -in old.key -out new.key`",
        ));
    }
    PrivateKeyDer::from_pem_slice(pem_data).map_err(|e| match e {
        pem::Error::NoItemsFound => config_error(what, &"no PEM private key found"),
        other => config_error(what, &other),
    })
}

/// ALPN ids as bytes; each must be 1..=255 bytes long (RFC 7301).
fn alpn_ids(protocols: &[String]) -> Result<Vec<Vec<u8>>, TransportError> {
    protocols
        .iter()
        .map(|p| {
            if p.is_empty() || p.len() > 255 {
                Err(TransportError::InvalidArgument(format!(
                    "ALPN protocol {p:?} must be 1 to 255 bytes long"
                )))
            } else {
                Ok(p.as_bytes().to_vec())
            }
        })
        .collect()
}

/// `tls_insecure_set(True)`: the chain must still lead to a trusted CA, but the certificate
/// need not name the host.
#[derive(Debug)]
struct IgnoreHostname {
    /// The standard verifier; its name-mismatch verdict is the only one overridden.
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for IgnoreHostname {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // webpki checks the chain (and revocation) before the name, so a name error means
        // everything else already passed.
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `cert_reqs=ssl.CERT_NONE`: any certificate is accepted. The handshake signature is still
/// verified, so the session key is at least bound to the certificate the server sent.
#[derive(Debug)]
struct AcceptAnyCertificate {
    /// The provider's signature algorithms, for the handshake signature.
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Verification with an empty trust store: every certificate is from an unknown issuer.
/// (rustls refuses to build a WebPKI verifier with no roots; OpenSSL just fails each connect.)
#[derive(Debug)]
struct NoTrustAnchors {
    /// The provider's signature algorithms, so the handshake gets as far as the certificate.
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for NoTrustAnchors {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Err(rustls::Error::InvalidCertificate(CertificateError::Other(
            OtherError(Arc::new(std::io::Error::other(
                "unknown issuer: no trusted CA certificates are loaded \
                 (empty system store; set SSL_CERT_FILE or pass ca_certs)",
            ))),
        )))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths() {
        assert_eq!(der_element_len(&[0x30, 0x03, 1, 2, 3]), Some(5));
        assert_eq!(der_element_len(&[0x30, 0x81, 0x01, 9]), Some(4));
        assert_eq!(der_element_len(&[0x30, 0x05, 1]), None);
        assert_eq!(der_element_len(&[0x31, 0x00]), None);
        assert_eq!(split_der_certs(&[0x30, 0, 0x30, 1, 7]).unwrap().len(), 2);
        assert!(split_der_certs(b"junk").is_err());
    }

    #[test]
    fn versions() {
        assert_eq!(protocol_versions(None, None).unwrap().len(), 2);
        let only12 = protocol_versions(None, Some(TlsVersion::Tls12)).unwrap();
        assert_eq!(only12.len(), 1);
        assert_eq!(only12[0].version, rustls::ProtocolVersion::TLSv1_2);
        assert!(protocol_versions(Some(TlsVersion::Tls13), Some(TlsVersion::Tls12)).is_err());
    }

    #[test]
    fn cipher_strings() {
        let all = ring::default_provider().cipher_suites.len();
        // Keywords only: defaults.
        assert_eq!(
            provider_with_ciphers(Some("HIGH:!aNULL:!MD5"))
                .cipher_suites
                .len(),
            all
        );
        // One OpenSSL name and one IANA name: those two TLS 1.2 suites plus every TLS 1.3 one.
        let p = provider_with_ciphers(Some(
            "ECDHE-RSA-AES128-GCM-SHA256:TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384:AES256-SHA",
        ));
        let tls12: Vec<_> = p.cipher_suites.iter().filter(|s| is_tls12(s)).collect();
        assert_eq!(tls12.len(), 2);
        assert!(p.cipher_suites.iter().any(|s| s.tls13().is_some()));
    }

    #[test]
    fn alpn_validation() {
        assert_eq!(alpn_ids(&["mqtt".into()]).unwrap(), vec![b"mqtt".to_vec()]);
        assert!(alpn_ids(&[String::new()]).is_err());
    }

    #[test]
    fn password_not_in_debug() {
        let options = TlsOptions {
            keyfile_password: Some(b"hunter2".to_vec()),
            ..TlsOptions::new()
        };
        assert!(!format!("{options:?}").contains("hunter2"));
    }
}
