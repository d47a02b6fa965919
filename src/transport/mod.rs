//! Async byte streams for the connection task: TCP, TLS (rustls), WebSocket and unix socket.
//!
//! The connection task keeps one [`Endpoint`] per client and calls [`connect`] for the first
//! connect and every reconnect; what it gets back is a [`BoxedStream`], one type whatever the
//! layering (TCP, TCP+TLS, TCP+WS, TCP+TLS+WS, unix, unix+TLS), so the MQTT code above never
//! knows which. TLS settings are turned into a rustls configuration once, by
//! [`TlsConfig::build`] at `tls_set` time, and only cloned (an `Arc`) per connect.
//!
//! Every failure is a [`TransportError`] whose variants map one-to-one onto the exceptions paho
//! raises from `connect()` (see its docs for the table).

mod error;
mod tls;
mod ws;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crate::tcp::TcpSock;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpSocket, TcpStream};

pub use error::TransportError;
pub use tls::{TlsConfig, TlsOptions, TlsVersion, VerifyMode};
pub use ws::WsStream;

/// A connected transport: bytes in, bytes out, whatever is underneath.
pub trait ByteStream: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> ByteStream for T {}

/// The stream [`connect`] returns. Boxed because the layers differ per transport, and one
/// virtual call per read or write is noise next to a syscall.
pub type BoxedStream = Box<dyn ByteStream>;

/// What [`open`] returns: plain TCP kept as itself, so the connection can share the socket's
/// write half with the threads that publish (a write with no task wake-up when the link is
/// idle); every other layering boxed.
pub enum Stream {
    /// MQTT straight over TCP: no TLS, no WebSocket. Outside tokio's poller (see
    /// [`crate::tcp`]); unix only (elsewhere plain TCP comes boxed).
    Tcp(Arc<TcpSock>),
    /// Anything else (TLS, WebSocket, unix socket), with a second handle on the TCP socket
    /// underneath when there is one, for socket options only (`TCP_QUICKACK`); whoever holds
    /// it must drop it with the stream, or the socket outlives the connection.
    Boxed(BoxedStream, Option<TcpHandle>),
}

/// A second handle on the TCP socket under TLS or WebSocket.
#[derive(Debug)]
pub enum TcpHandle {
    /// The socket [`crate::tcp::TcpIo`] runs over, shared (no second descriptor).
    Shared(Arc<TcpSock>),
    /// A duplicate descriptor, where the stream is tokio's own.
    Dup(socket2::Socket),
}

impl TcpHandle {
    /// The socket, for socket options.
    pub fn socket(&self) -> socket2::SockRef<'_> {
        match self {
            Self::Shared(sock) => sock.socket(),
            Self::Dup(socket) => socket2::SockRef::from(socket),
        }
    }
}

impl Stream {
    /// The stream as a [`BoxedStream`], whatever it is. Call from a runtime task.
    pub fn into_boxed(self) -> Result<BoxedStream, TransportError> {
        match self {
            Self::Tcp(tcp) => Ok(Box::new(tcp.into_tokio().map_err(TransportError::Io)?)),
            Self::Boxed(boxed, _) => Ok(boxed),
        }
    }
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tcp(tcp) => f.debug_tuple("Tcp").field(tcp).finish(),
            Self::Boxed(..) => f.write_str("Boxed(..)"),
        }
    }
}

/// paho's `transport` argument, with the WebSocket options of `ws_set_options`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportKind {
    /// `transport="tcp"`: MQTT straight over TCP (or TLS over TCP).
    Tcp,
    /// `transport="websockets"`: MQTT in binary WebSocket messages, over TCP or TLS (`wss`).
    WebSockets {
        /// The request path, paho's default `"/mqtt"`.
        path: String,
        /// Extra request headers, in order; each replaces a default header of the same name.
        headers: Vec<(String, String)>,
    },
    /// `transport="unix"`: the endpoint's `host` is the socket path and `port` is ignored.
    Unix,
}

/// Where and how to connect: everything paho's `connect()` needs, kept by the connection task
/// and reused for each reconnect.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Host name or IP address (`connect(host)`), or the socket path for [`TransportKind::Unix`].
    pub host: String,
    /// TCP port (`connect(port)`); ignored for unix sockets.
    pub port: u16,
    /// Which transport, with its options.
    pub kind: TransportKind,
    /// TLS, when `tls_set`/`tls_set_context` was called.
    pub tls: Option<TlsConfig>,
    /// Deadline for the whole connect: resolving, TCP, the TLS handshake and the WebSocket
    /// upgrade together (paho's `connect_timeout`, 5 s by default). paho applies its timeout
    /// to each socket operation; one overall deadline bounds `connect()` more predictably.
    pub connect_timeout: Duration,
    /// Local address to bind before connecting (`connect(bind_address, bind_port)`); only
    /// target addresses of the same family are tried. The Python layer resolves a bind host
    /// name, as `socket.create_connection(source_address=...)` would.
    pub bind_address: Option<SocketAddr>,
}

impl Endpoint {
    /// A plain TCP endpoint with paho's 5 s connect timeout, no TLS and no bind address.
    pub fn tcp(host: impl Into<String>, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
            kind: TransportKind::Tcp,
            tls: None,
            connect_timeout: Duration::from_secs(5),
            bind_address: None,
        }
    }
}

/// Opens the transport described by `endpoint`: resolve, connect, TLS handshake, WebSocket
/// upgrade, all under `endpoint.connect_timeout`.
///
/// TCP sockets get `TCP_NODELAY`: the connection task coalesces writes itself, so Nagle's
/// algorithm only adds latency (a PUBACK waiting 40 ms behind delayed ACKs).
pub async fn connect(endpoint: &Endpoint) -> Result<BoxedStream, TransportError> {
    open(endpoint).await.and_then(Stream::into_boxed)
}

/// [`connect`], keeping a plain TCP stream unboxed ([`Stream::Tcp`]).
pub async fn open(endpoint: &Endpoint) -> Result<Stream, TransportError> {
    if endpoint.host.is_empty() {
        return Err(TransportError::InvalidArgument("Invalid host.".to_owned()));
    }
    let after = endpoint.connect_timeout;
    tokio::time::timeout(after, connect_inner(endpoint))
        .await
        .map_err(|_| TransportError::Timeout { after })?
}

/// [`connect`] without the deadline.
async fn connect_inner(endpoint: &Endpoint) -> Result<Stream, TransportError> {
    let host = endpoint.host.as_str();
    #[cfg(unix)]
    if endpoint.kind == TransportKind::Tcp && endpoint.tls.is_none() {
        let tcp = connect_tcp(host, endpoint.port, endpoint.bind_address).await?;
        return Ok(Stream::Tcp(TcpSock::new(tcp).map_err(TransportError::Io)?));
    }
    let mut socket = None;
    let base: BoxedStream = match endpoint.kind {
        TransportKind::Unix => Box::new(connect_unix(host).await?),
        TransportKind::Tcp | TransportKind::WebSockets { .. } => {
            let tcp = connect_tcp(host, endpoint.port, endpoint.bind_address).await?;
            let (stream, handle) = tcp_io(tcp)?;
            socket = handle;
            stream
        }
    };
    let stream: BoxedStream = match &endpoint.tls {
        Some(tls) => Box::new(tls.handshake(host, base).await?),
        None => base,
    };
    match &endpoint.kind {
        TransportKind::WebSockets { path, headers } => {
            let secure = endpoint.tls.is_some();
            Ok(Stream::Boxed(
                Box::new(ws::handshake(stream, host, endpoint.port, secure, path, headers).await?),
                socket,
            ))
        }
        TransportKind::Tcp | TransportKind::Unix => Ok(Stream::Boxed(stream, socket)),
    }
}

/// The TCP stream under TLS or WebSocket, outside tokio's poller while nobody waits on it
/// ([`crate::tcp::TcpIo`]) where that exists, and a handle on its socket.
fn tcp_io(tcp: TcpStream) -> Result<(BoxedStream, Option<TcpHandle>), TransportError> {
    #[cfg(unix)]
    {
        let sock = TcpSock::new(tcp).map_err(TransportError::Io)?;
        let handle = TcpHandle::Shared(Arc::clone(&sock));
        Ok((Box::new(crate::tcp::TcpIo::new(sock)), Some(handle)))
    }
    #[cfg(not(unix))]
    {
        let handle = socket2::SockRef::from(&tcp).try_clone().ok();
        Ok((Box::new(tcp), handle.map(TcpHandle::Dup)))
    }
}

/// Resolves `host` and connects to the first address that accepts, like Python's
/// `socket.create_connection`, which also reports the *first* error when all fail.
async fn connect_tcp(
    host: &str,
    port: u16,
    bind: Option<SocketAddr>,
) -> Result<TcpStream, TransportError> {
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| TransportError::Dns {
                host: host.to_owned(),
                reason: e.to_string(),
            })?
            .collect(),
    };
    let candidates: Vec<SocketAddr> = addrs
        .into_iter()
        .filter(|a| bind.is_none_or(|b| b.is_ipv4() == a.is_ipv4()))
        .collect();
    if candidates.is_empty() {
        return Err(TransportError::Dns {
            host: host.to_owned(),
            reason: "no address (of the bind address's family) found".to_owned(),
        });
    }
    let mut first_error = None;
    for addr in candidates {
        match connect_one(addr, bind).await {
            Ok(stream) => {
                stream.set_nodelay(true).map_err(TransportError::Io)?;
                return Ok(stream);
            }
            // Not logged: this runs on a runtime thread, which must not reach for the GIL
            // (pyo3-log); the first error is what connect() raises, as socket.create_connection.
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(TransportError::Io(first_error.unwrap_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::NotFound, "no address to connect to")
    })))
}

/// One TCP connect attempt, from `bind` when given.
async fn connect_one(addr: SocketAddr, bind: Option<SocketAddr>) -> std::io::Result<TcpStream> {
    let Some(bind) = bind else {
        return TcpStream::connect(addr).await;
    };
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.bind(bind)?;
    socket.connect(addr).await
}

/// Connects to the unix socket at `path`.
#[cfg(unix)]
async fn connect_unix(path: &str) -> Result<tokio::net::UnixStream, TransportError> {
    tokio::net::UnixStream::connect(path)
        .await
        .map_err(TransportError::Io)
}

/// Unix sockets are not available here (tokio has no AF_UNIX on Windows; neither has paho).
#[cfg(not(unix))]
async fn connect_unix(_path: &str) -> Result<TcpStream, TransportError> {
    Err(TransportError::InvalidArgument(
        "unix sockets are not supported on this platform".to_owned(),
    ))
}
