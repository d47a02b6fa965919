//! MQTT over WebSocket: the HTTP upgrade, then a byte-stream view of the message stream.
//!
//! MQTT over WebSocket carries MQTT bytes in binary messages with no alignment to MQTT packets,
//! so the connection task can treat it as any other byte stream: each write becomes one binary
//! message, and reads return the payloads of incoming messages back to back.
//! tokio-tungstenite runs over the stream we already opened (TCP or our TLS), so `wss` uses the
//! same rustls configuration as plain TLS.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_core::Stream as _;
use futures_sink::Sink;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Bytes, Message};
use tokio_tungstenite::WebSocketStream;

use super::TransportError;

/// The largest WebSocket message or frame accepted. tungstenite's defaults (64 MiB messages,
/// 16 MiB frames) are below MQTT's maximum packet (256 MiB + 5 bytes of header), which paho
/// accepts; the session layer enforces the real packet limit.
const MAX_WS_MESSAGE: usize = 512 << 20;

/// A WebSocket connection seen as a byte stream: writes are sent as binary messages, reads
/// return message payloads.
pub struct WsStream<S> {
    /// The WebSocket, which owns the underlying TCP or TLS stream.
    inner: WebSocketStream<S>,
    /// The unread rest of the last message received.
    pending: Bytes,
    /// Set once a Close message arrived or the socket ended: later reads return EOF.
    eof: bool,
}

/// Performs the HTTP upgrade on `stream` and returns the byte-stream view.
///
/// `host` and `port` make the URL and the `Host` header; `path` is paho's `ws_set_options` path
/// (a leading `/` is added if missing); `headers` are added to the request, each replacing a
/// default header of the same name (paho merges a dict over its defaults).
/// `Sec-WebSocket-Protocol: mqtt` is always requested, and tungstenite requires the server to
/// accept it (RFC 6455; every broker we know does; paho does not check).
pub(crate) async fn handshake<S>(
    stream: S,
    host: &str,
    port: u16,
    secure: bool,
    path: &str,
    headers: &[(String, String)],
) -> Result<WsStream<S>, TransportError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let scheme = if secure { "wss" } else { "ws" };
    let host_part = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    let slash = if path.starts_with('/') { "" } else { "/" };
    let url = format!("{scheme}://{host_part}:{port}{slash}{path}");
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| TransportError::InvalidArgument(format!("WebSocket URL {url:?}: {e}")))?;
    let request_headers = request.headers_mut();
    request_headers.insert("Sec-WebSocket-Protocol", HeaderValue::from_static("mqtt"));
    let mut seen: Vec<HeaderName> = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| {
            TransportError::InvalidArgument(format!("WebSocket header name {name:?}: {e}"))
        })?;
        let value = HeaderValue::from_str(value).map_err(|e| {
            TransportError::InvalidArgument(format!("WebSocket header {name} value: {e}"))
        })?;
        // The first user value replaces a default; repeats of one name are all sent.
        if seen.contains(&name) {
            request_headers.append(name, value);
        } else {
            request_headers.insert(name.clone(), value);
            seen.push(name);
        }
    }
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_WS_MESSAGE))
        .max_frame_size(Some(MAX_WS_MESSAGE));
    let (inner, _response) =
        tokio_tungstenite::client_async_with_config(request, stream, Some(config))
            .await
            .map_err(handshake_error)?;
    Ok(WsStream {
        inner,
        pending: Bytes::new(),
        eof: false,
    })
}

/// Classifies a failed upgrade: socket errors stay socket errors (so a reset is still a
/// `ConnectionResetError`), everything else is a handshake error.
fn handshake_error(err: tungstenite::Error) -> TransportError {
    match err {
        tungstenite::Error::Io(e) => TransportError::from_io(e),
        tungstenite::Error::Http(response) => TransportError::WebSocketHandshake(format!(
            "connection not upgraded: server answered {}",
            response.status()
        )),
        tungstenite::Error::Url(e) => TransportError::InvalidArgument(e.to_string()),
        other => TransportError::WebSocketHandshake(other.to_string()),
    }
}

/// A WebSocket error on an open stream as an `io::Error`, keeping socket errors intact so
/// [`TransportError::from_io`] still classifies them.
fn to_io(err: tungstenite::Error) -> io::Error {
    match err {
        tungstenite::Error::Io(e) => e,
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            io::Error::new(io::ErrorKind::BrokenPipe, "WebSocket closed")
        }
        other => io::Error::new(io::ErrorKind::InvalidData, other),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WsStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.pending.is_empty() {
                let n = this.pending.len().min(buf.remaining());
                buf.put_slice(&this.pending.split_to(n));
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            match ready!(Pin::new(&mut this.inner).poll_next(cx)) {
                Some(Ok(Message::Binary(data))) => this.pending = data,
                // MQTT requires binary messages; paho reads text payloads all the same.
                Some(Ok(Message::Text(text))) => this.pending = Bytes::from(text),
                // tungstenite answers pings itself (queued, sent with the next write or read).
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Ok(Message::Close(_)) | Err(tungstenite::Error::ConnectionClosed)) | None => {
                    this.eof = true;
                }
                Some(Err(e)) => return Poll::Ready(Err(to_io(e))),
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WsStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let this = self.get_mut();
        ready!(Pin::new(&mut this.inner).poll_ready(cx)).map_err(to_io)?;
        // One message per write: the connection task writes whole coalesced buffers, so this
        // is one frame per flush, not per MQTT packet.
        Pin::new(&mut this.inner)
            .start_send(Message::Binary(Bytes::copy_from_slice(buf)))
            .map_err(to_io)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner)
            .poll_flush(cx)
            .map_err(to_io)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Sends a Close message and shuts the underlying stream down.
        match ready!(Pin::new(&mut self.get_mut().inner).poll_close(cx)) {
            Ok(())
            | Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                Poll::Ready(Ok(()))
            }
            Err(e) => Poll::Ready(Err(to_io(e))),
        }
    }
}
