//! `CoreClient`: the Rust half of `turbomqtt.client.Client`.
//!
//! Every method takes owned arguments, does its work on the session under the mutex, and wakes
//! the connection's writer; the only methods that wait (`connect`, `next_events`, `flush`,
//! `sleep`) release the GIL and wake every 50 ms to let Ctrl-C (Python signal handlers) run.

use crate::connection::{self, Inner, Shared};
use crate::errors::{Error, Result};
use crate::py::dispatch::PyLane;
use crate::py::tls::PyTlsConfig;
use crate::runtime;
use crate::session::{
    AckMode, ConnectProperties, DisconnectReason, FullEvent, ProtocolVersion, PublishHandle,
    PublishStatus, QoS, RequestError, RetryReason, ServerDisconnect, SessionError, SessionOptions,
    SubscribeOptions, Will, MAX_REMAINING_LENGTH,
};
use crate::transport::{self, Endpoint, TransportError, TransportKind};
use bytes::Bytes;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyByteArray, PyBytes, PyList, PyTuple};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, MutexGuard};
use std::time::{Duration, Instant};

/// How often a wait comes back to Python to run signal handlers (Ctrl-C).
pub(crate) const SIGNAL_SLICE: Duration = Duration::from_millis(50);

// Event kinds handed to Python; `client.py` reads them as `_core.EV_*`. `props` is always the
// raw MQTT 5 property block (length prefix included, as `Properties.unpack()` reads it; `b""`
// when the packet had none) under MQTT 5, and None under MQTT 3.

/// CONNACK: `(kind, rc, session_present, props)`; rc is the 3.x return code or the MQTT 5
/// reason code.
pub const EV_CONNACK: u8 = 0;
/// A message arrived: `(kind, topic, payload, qos, retain, mid, dup, props)`.
pub const EV_MESSAGE: u8 = 1;
/// A publish completed: `(kind, mid, rc, reason_code, props)`; rc 7 means a QoS 0 message was
/// dropped unsent; `reason_code` is the ack's (0x80 and above: refused by the broker).
pub const EV_PUBLISHED: u8 = 2;
/// `(kind, mid, reason_codes, props)`: granted QoS or failure code per filter.
pub const EV_SUBACK: u8 = 3;
/// `(kind, mid, reason_codes, props)`; `reason_codes` is empty under MQTT 3.
pub const EV_UNSUBACK: u8 = 4;
/// `(kind, rc, server)` with paho's `MQTT_ERR_*` code; `server` is None, or the broker's MQTT 5
/// DISCONNECT as `(reason_code or None when the packet had none, props)`.
pub const EV_DISCONNECTED: u8 = 5;
/// `(kind, level, message)` with paho's `MQTT_LOG_*` level.
pub const EV_LOG: u8 = 6;
/// `(kind, reason, protocol, client_id)`: reconnect at once (0: as MQTT 3.1, 1: with a new id).
pub const EV_RETRY: u8 = 7;
/// `(kind, ok, error)`: a `start_connect` attempt ended; `error` is the exception it would have
/// raised from `connect`, or None.
pub const EV_CONNECT_RESULT: u8 = 8;

const MQTT_ERR_SUCCESS: u8 = 0;
const MQTT_ERR_PROTOCOL: u8 = 2;
const MQTT_ERR_NO_CONN: u8 = 4;
const MQTT_ERR_CONN_REFUSED: u8 = 5;
const MQTT_ERR_CONN_LOST: u8 = 7;
const MQTT_ERR_QUEUE_SIZE: u8 = 15;
const MQTT_ERR_KEEPALIVE: u8 = 16;
const MQTT_LOG_ERR: u8 = 0x08;

/// The native client: session, connection and event queue of one `Client`.
#[pyclass(name = "CoreClient", module = "turbomqtt._core", frozen)]
pub struct PyCoreClient {
    shared: Arc<Shared>,
    /// The protocol of the session made before the first connect (`Client(protocol=...)`).
    protocol: ProtocolVersion,
    /// Whether the session reports finished publishes with events (`set_report_published`);
    /// kept here so a session made later gets it too. Off until Python asks (`on_publish`).
    report_published: std::sync::atomic::AtomicBool,
}

fn qos(value: u8) -> PyResult<QoS> {
    QoS::from_u8(value).ok_or_else(|| PyValueError::new_err("Invalid QoS level."))
}

/// Waits for `rx` with the GIL released, running signal handlers every [`SIGNAL_SLICE`].
fn wait_recv<T: Send>(
    py: Python<'_>,
    rx: Receiver<T>,
    timeout: Option<Duration>,
) -> PyResult<Option<T>> {
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut rx = rx;
    loop {
        let slice = match deadline {
            Some(d) => d
                .saturating_duration_since(Instant::now())
                .min(SIGNAL_SLICE),
            None => SIGNAL_SLICE,
        };
        // A Receiver is Send but not Sync: move it into the GIL-free section and back.
        let (result, back) = py.detach(move || (rx.recv_timeout(slice), rx));
        rx = back;
        match result {
            Ok(value) => return Ok(Some(value)),
            Err(RecvTimeoutError::Disconnected) => return Ok(None),
            Err(RecvTimeoutError::Timeout) => {
                py.check_signals()?;
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Ok(None);
                }
            }
        }
    }
}

/// `seconds` from now (negative: now; too large to represent: as far as possible).
pub(crate) fn deadline_after(seconds: f64) -> Instant {
    let now = Instant::now();
    Duration::try_from_secs_f64(seconds.max(0.0))
        .ok()
        .and_then(|d| now.checked_add(d))
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365 * 100))
}

fn resolve_bind(address: &str, port: u16) -> Result<Option<SocketAddr>> {
    if address.is_empty() && port == 0 {
        return Ok(None);
    }
    let host = if address.is_empty() {
        "0.0.0.0"
    } else {
        address
    };
    let resolved = (host, port).to_socket_addrs().map_err(Error::Io)?.next();
    resolved.map(Some).ok_or_else(|| {
        Error::Io(std::io::Error::new(
            std::io::ErrorKind::AddrNotAvailable,
            "cannot resolve bind address",
        ))
    })
}

/// A property block for Python: None under MQTT 3, the raw bytes under MQTT 5.
fn props<'py>(py: Python<'py>, v5: bool, raw: &[u8]) -> Bound<'py, PyAny> {
    if v5 {
        PyBytes::new(py, raw).into_any()
    } else {
        py.None().into_bound(py)
    }
}

fn disconnect_rc(reason: &DisconnectReason) -> u8 {
    match reason {
        DisconnectReason::UserRequested => MQTT_ERR_SUCCESS,
        DisconnectReason::ConnectionLost => MQTT_ERR_CONN_LOST,
        DisconnectReason::KeepaliveTimeout => MQTT_ERR_KEEPALIVE,
        // paho: only the 3.x return codes 1 to 5 are a refusal, anything else a protocol
        // error; 0x84 is how the session reports a 3.x broker's 1 under MQTT 5.
        DisconnectReason::Refused(1..=5 | 0x84) => MQTT_ERR_CONN_REFUSED,
        DisconnectReason::Refused(_) | DisconnectReason::ProtocolError(_) => MQTT_ERR_PROTOCOL,
    }
}

fn event_to_py(py: Python<'_>, event: FullEvent, v5: bool) -> PyResult<Bound<'_, PyTuple>> {
    match event {
        FullEvent::Message(m) => (
            EV_MESSAGE,
            PyBytes::new(py, &m.topic),
            PyBytes::new(py, &m.payload),
            m.qos.as_u8(),
            m.retain,
            m.mid,
            m.dup,
            props(py, v5, &m.properties),
        )
            .into_pyobject(py),
        FullEvent::Published {
            mid,
            reason_code,
            properties,
        } => (
            EV_PUBLISHED,
            mid,
            MQTT_ERR_SUCCESS,
            reason_code,
            props(py, v5, &properties),
        )
            .into_pyobject(py),
        FullEvent::PublishDropped { mid } => {
            (EV_PUBLISHED, mid, MQTT_ERR_CONN_LOST, 0u8, py.None()).into_pyobject(py)
        }
        FullEvent::Connected {
            session_present,
            properties,
        } => (EV_CONNACK, 0u8, session_present, props(py, v5, &properties)).into_pyobject(py),
        FullEvent::ConnectRefused {
            reason_code,
            session_present,
            properties,
        } => (
            EV_CONNACK,
            reason_code,
            session_present,
            props(py, v5, &properties),
        )
            .into_pyobject(py),
        FullEvent::Subscribed {
            mid,
            reason_codes,
            properties,
        } => (
            EV_SUBACK,
            mid,
            PyTuple::new(py, reason_codes)?,
            props(py, v5, &properties),
        )
            .into_pyobject(py),
        FullEvent::Unsubscribed {
            mid,
            reason_codes,
            properties,
        } => (
            EV_UNSUBACK,
            mid,
            PyTuple::new(py, reason_codes)?,
            props(py, v5, &properties),
        )
            .into_pyobject(py),
        FullEvent::Disconnected { reason, server } => {
            let rc = disconnect_rc(&reason);
            match server {
                Some(ServerDisconnect {
                    reason_code,
                    properties,
                }) => (
                    EV_DISCONNECTED,
                    rc,
                    (reason_code, PyBytes::new(py, &properties)),
                )
                    .into_pyobject(py),
                None => (EV_DISCONNECTED, rc, py.None()).into_pyobject(py),
            }
        }
        FullEvent::RetryConnect { reason } => {
            let reason = match reason {
                RetryReason::ProtocolDowngrade => 0u8,
                RetryReason::ClientIdAssigned => 1u8,
            };
            (EV_RETRY, reason).into_pyobject(py)
        }
    }
}

/// A log line for protocol errors, which paho reports through `on_log` before `on_disconnect`.
fn log_line(event: &FullEvent) -> Option<String> {
    match event {
        FullEvent::Disconnected {
            reason: DisconnectReason::ProtocolError(why),
            ..
        } => Some(format!(
            "Received malformed packet or protocol violation: {why}"
        )),
        _ => None,
    }
}

/// Adds the `EV_*` event kinds to the module.
pub fn add_constants(m: &Bound<'_, PyModule>) -> PyResult<()> {
    for (name, value) in [
        ("EV_CONNACK", EV_CONNACK),
        ("EV_MESSAGE", EV_MESSAGE),
        ("EV_PUBLISHED", EV_PUBLISHED),
        ("EV_SUBACK", EV_SUBACK),
        ("EV_UNSUBACK", EV_UNSUBACK),
        ("EV_DISCONNECTED", EV_DISCONNECTED),
        ("EV_LOG", EV_LOG),
        ("EV_RETRY", EV_RETRY),
        ("EV_CONNECT_RESULT", EV_CONNECT_RESULT),
    ] {
        m.add(name, value)?;
    }
    Ok(())
}

/// The client's session; before the first connect, one with default options (paho allocates
/// mids and stores QoS 1/2 messages published before any connection).
fn session_or_default<'a>(
    g: &'a mut Inner,
    client: &PyCoreClient,
) -> PyResult<&'a mut crate::session::Session> {
    if g.session.is_none() {
        let opts = SessionOptions {
            protocol: client.protocol,
            ..SessionOptions::default()
        };
        let mut session = crate::session::Session::new(opts).map_err(Error::Session)?;
        session.set_report_published(
            client
                .report_published
                .load(std::sync::atomic::Ordering::SeqCst),
        );
        g.session = Some(session);
    }
    g.session
        .as_mut()
        .ok_or_else(|| PyValueError::new_err("no session"))
}

fn protocol_version(level: u8) -> PyResult<ProtocolVersion> {
    match level {
        3 => Ok(ProtocolVersion::V31),
        4 => Ok(ProtocolVersion::V311),
        5 => Ok(ProtocolVersion::V5),
        other => Err(PyValueError::new_err(format!(
            "unsupported protocol version {other}"
        ))),
    }
}

/// `connect`'s arguments, read from the dict `Client._before_connect()` builds (one place
/// names them, for both `connect` and `start_connect`).
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct ConnectArgs {
    transport: String,
    host: String,
    port: u16,
    keepalive: u16,
    bind_address: String,
    bind_port: u16,
    timeout: f64,
    client_id: Vec<u8>,
    /// MQTT 3 clean session, or the MQTT 5 clean start flag of this attempt.
    clean_session: bool,
    protocol: u8,
    bridge: bool,
    username: Option<Vec<u8>>,
    password: Option<Vec<u8>>,
    will: Option<(Vec<u8>, Vec<u8>, u8, bool)>,
    max_inflight: usize,
    max_queued: usize,
    tls: Option<Py<PyTlsConfig>>,
    ws_path: String,
    ws_headers: Vec<(String, String)>,
    manual_ack: bool,
    /// MQTT 5 CONNECT properties, raw (`Properties.pack()`), `b""` for none.
    connect_properties: Vec<u8>,
    /// MQTT 5 will properties, raw, `b""` for none.
    will_properties: Vec<u8>,
}

impl PyCoreClient {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.shared.lock()
    }

    /// Waits with the GIL released until `ready` answers (checked under the lock whenever
    /// the client's state changes) or `deadline` (None: never) passes, then None. Signal
    /// handlers (Ctrl-C) run every [`SIGNAL_SLICE`].
    fn wait_for<T: Send>(
        &self,
        py: Python<'_>,
        deadline: Option<Instant>,
        ready: impl Fn(&Inner) -> Option<T> + Sync,
    ) -> PyResult<Option<T>> {
        loop {
            let found = py.detach(|| {
                let mut g = self.lock();
                if let Some(value) = ready(&g) {
                    return Some(Some(value));
                }
                let now = Instant::now();
                let slice = match deadline {
                    Some(d) if now >= d => return Some(None),
                    Some(d) => d.saturating_duration_since(now).min(SIGNAL_SLICE),
                    None => SIGNAL_SLICE,
                };
                g = self.shared.wait(g, slice);
                ready(&g).map(Some)
            });
            if let Some(result) = found {
                return Ok(result);
            }
            py.check_signals()?;
        }
    }

    /// Checks and owns `connect`'s arguments and prepares the session for a new connection
    /// (the old transport closed); returns where to connect and the connect attempt's number.
    fn prepare(&self, args: ConnectArgs) -> PyResult<(Endpoint, u64)> {
        let protocol = protocol_version(args.protocol)?;
        let username = args
            .username
            .map(String::from_utf8)
            .transpose()
            .map_err(|_| PyValueError::new_err("username must be UTF-8"))?;
        let will = match args.will {
            None => None,
            Some((topic, payload, q, retain)) => Some(Will {
                topic: String::from_utf8(topic)
                    .map_err(|_| PyValueError::new_err("Invalid topic."))?,
                payload: Bytes::from(payload),
                qos: qos(q)?,
                retain,
            }),
        };
        let opts = SessionOptions {
            client_id: args.client_id,
            clean_session: args.clean_session,
            keepalive: args.keepalive,
            username,
            password: args.password,
            will,
            protocol,
            bridge_mode: args.bridge,
            max_inflight: args.max_inflight,
            max_queued: args.max_queued,
            max_packet_size: MAX_REMAINING_LENGTH,
            reconnect_on_failure: true,
        };
        let connect_props = ConnectProperties {
            connect: Bytes::from(args.connect_properties),
            will: Bytes::from(args.will_properties),
        };
        let kind = match args.transport.as_str() {
            "tcp" => TransportKind::Tcp,
            "unix" => TransportKind::Unix,
            "websockets" => TransportKind::WebSockets {
                path: args.ws_path,
                headers: args.ws_headers,
            },
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown transport {other:?}"
                )))
            }
        };
        let timeout = args.timeout;
        if !(timeout > 0.0 && timeout.is_finite()) {
            return Err(PyValueError::new_err("timeout must be a positive number"));
        }
        let connect_timeout = Duration::from_secs_f64(timeout);
        let endpoint = Endpoint {
            host: args.host,
            port: args.port,
            kind,
            tls: args.tls.map(|t| t.get().inner.clone()),
            connect_timeout,
            bind_address: resolve_bind(&args.bind_address, args.bind_port)?,
        };
        // paho acknowledges a message after on_message returns (or, with manual_ack, when the
        // user calls ack()).
        let mode = if args.manual_ack {
            AckMode::Manual
        } else {
            AckMode::AfterDelivery
        };
        let seq = {
            let mut g = self.lock();
            g.close_link();
            g.connect_seq += 1;
            g.connect_results.clear();
            let session = g.prepare_session(opts).map_err(Error::Session)?;
            session.set_ack_mode(mode);
            session.set_report_published(
                self.report_published
                    .load(std::sync::atomic::Ordering::SeqCst),
            );
            session
                .set_connect_properties(connect_props)
                .map_err(Error::Request)?;
            g.connect_seq
        };
        Ok((endpoint, seq))
    }
}

/// Payloads at least this long are shared with Python instead of copied.
const SHARE_PAYLOAD: usize = 8 * 1024;

/// A `publish()` payload (`bytes` or `bytearray`) as `Bytes`. A large `bytes` object is not
/// copied: the message keeps a reference to it (immutable, so safe to share) until it is
/// written and acknowledged. Copying 64 KiB into a fresh allocation for every message cost
/// more than paho's whole publish (page faults on new memory, then the copy). Small payloads
/// are copied: cheaper than the reference, whose release off the GIL goes through pyo3's
/// deferred pool.
fn payload_bytes(payload: &Bound<'_, PyAny>) -> PyResult<Bytes> {
    if let Ok(bytes) = payload.cast::<PyBytes>() {
        let data = bytes.as_bytes();
        if data.len() < SHARE_PAYLOAD {
            return Ok(Bytes::copy_from_slice(data));
        }
        return Ok(Bytes::from_owner(payload.extract::<PyBackedBytes>()?));
    }
    if let Ok(array) = payload.cast::<PyByteArray>() {
        // Mutable: the caller may change it after publish() returns, so it is copied.
        return Ok(Bytes::from(array.to_vec()));
    }
    Err(pyo3::exceptions::PyTypeError::new_err(
        "payload must be a string, bytearray, int, float or None.",
    ))
}

/// `publish`'s `(rc, mid, track)` from what the session made of the message.
fn publish_outcome(
    result: std::result::Result<PublishHandle, RequestError>,
) -> PyResult<(u8, u16, u64)> {
    match result {
        Ok(h) => Ok(match h.status {
            PublishStatus::Sent | PublishStatus::Queued => (MQTT_ERR_SUCCESS, h.mid, h.track),
            PublishStatus::NotConnected => (MQTT_ERR_NO_CONN, h.mid, h.track),
        }),
        Err(RequestError::Session(SessionError::QueueFull { mid })) => {
            Ok((MQTT_ERR_QUEUE_SIZE, mid, 0))
        }
        Err(RequestError::Session(SessionError::NoFreeMid)) => Ok((MQTT_ERR_QUEUE_SIZE, 0, 0)),
        Err(e) => Err(Error::Request(e).into()),
    }
}

/// `subscribe`'s and `unsubscribe`'s `(rc, mid)`.
fn request_outcome(
    g: &Inner,
    result: std::result::Result<u16, RequestError>,
) -> PyResult<(u8, Option<u16>)> {
    match result {
        Ok(mid) => {
            g.wake_writer();
            Ok((MQTT_ERR_SUCCESS, Some(mid)))
        }
        Err(RequestError::Session(SessionError::NotConnected)) => Ok((MQTT_ERR_NO_CONN, None)),
        Err(e) => Err(Error::Request(e).into()),
    }
}

#[pymethods]
impl PyCoreClient {
    /// A client whose first session (before any connect) speaks `protocol` (3, 4 or 5).
    #[new]
    #[pyo3(signature = (protocol=4))]
    fn new(protocol: u8) -> PyResult<Self> {
        Ok(Self {
            shared: Arc::new(Shared::default()),
            protocol: protocol_version(protocol)?,
            report_published: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Opens the transport and sends CONNECT; blocks (GIL released) until CONNECT is written.
    /// `args` is the dict of [`ConnectArgs`].
    fn connect(&self, py: Python<'_>, args: ConnectArgs) -> PyResult<()> {
        let (endpoint, _) = self.prepare(args)?;
        let connect_timeout = endpoint.connect_timeout;
        let handle = runtime::handle().map_err(Error::Io)?;
        let (tx, rx) = std::sync::mpsc::channel();
        handle.spawn(async move {
            let _ = tx.send(transport::open(&endpoint).await);
        });
        let stream = match wait_recv(py, rx, None)? {
            Some(result) => result.map_err(Error::Transport)?,
            None => return Err(Error::Io(std::io::Error::other("connect task ended")).into()),
        };
        let first_write = connection::start(&self.shared, stream, &handle);
        // paho writes CONNECT before connect() returns; scripts that never run a loop rely on it.
        wait_recv(py, first_write, Some(connect_timeout))?;
        Ok(())
    }

    /// `connect` without waiting: the transport is opened on the runtime and the outcome
    /// arrives as an `EV_CONNECT_RESULT` event (`(kind, ok, exception or None)`), before the
    /// CONNACK. Used by the shared loop, whose threads must not block on one client's network.
    fn start_connect(&self, args: ConnectArgs) -> PyResult<()> {
        let (endpoint, seq) = self.prepare(args)?;
        let handle = runtime::handle().map_err(Error::Io)?;
        let shared = Arc::clone(&self.shared);
        let task_handle = handle.clone();
        handle.spawn(async move {
            let outcome = transport::open(&endpoint).await;
            connection::finish_attempt(&shared, seq, outcome, &task_handle);
        });
        Ok(())
    }

    /// Reports this client's events to `lane` under `key` (and queues it there once now, for
    /// the events that arrived before).
    #[allow(clippy::needless_pass_by_value)] // pyo3 hands extracted arguments over by value
    fn attach(&self, lane: PyRef<'_, PyLane>, key: u64) {
        self.shared.set_lane(Some((Arc::clone(&lane.inner), key)));
        lane.inner.push(key);
    }

    /// Stops reporting to a lane.
    fn detach(&self) {
        self.shared.set_lane(None);
    }

    /// Sets `max_inflight` and `max_queued` now (they also arrive with every `connect`).
    fn set_limits(&self, max_inflight: usize, max_queued: usize) -> PyResult<()> {
        let mut g = self.lock();
        session_or_default(&mut g, self)?.set_limits(max_inflight, max_queued);
        Ok(())
    }

    /// Sets the largest incoming remaining length accepted, now and for every later connection
    /// (`Client.max_incoming_packet_size`; the Python side checks the range).
    fn set_max_incoming_packet_size(&self, size: usize) {
        let mut g = self.lock();
        g.max_incoming_packet_size = Some(size);
        if let Some(session) = g.session.as_mut() {
            session.set_max_packet_size(size);
        }
    }

    /// Publishes; returns `(rc, mid, track)` at once. `track` (0: nothing to follow) is what
    /// `publish_status`/`wait_published` take.
    fn publish(
        &self,
        topic: String,
        payload: &Bound<'_, PyAny>,
        qos: u8,
        retain: bool,
    ) -> PyResult<(u8, u16, u64)> {
        let qos = self::qos(qos)?;
        let payload = payload_bytes(payload)?;
        let mut g = self.lock();
        let session = session_or_default(&mut g, self)?;
        let result = session.publish(topic, payload, qos, retain);
        if session.wants_write() {
            self.shared.send_queued(g);
        }
        publish_outcome(result.map_err(RequestError::Session))
    }

    /// `publish` with MQTT 5 properties (raw, `Properties.pack()`); under MQTT 5 the topic may
    /// be empty when a Topic Alias given an earlier topic stands for it.
    fn publish_with_properties(
        &self,
        topic: String,
        payload: &Bound<'_, PyAny>,
        qos: u8,
        retain: bool,
        properties: &[u8],
    ) -> PyResult<(u8, u16, u64)> {
        let qos = self::qos(qos)?;
        let payload = payload_bytes(payload)?;
        let mut g = self.lock();
        let session = session_or_default(&mut g, self)?;
        let result = session.publish_with_properties(
            topic,
            payload,
            qos,
            retain,
            Bytes::copy_from_slice(properties),
        );
        if session.wants_write() {
            self.shared.send_queued(g);
        }
        publish_outcome(result)
    }

    /// Subscribes in one packet to `[(filter, options byte), ...]` (the byte is the QoS under
    /// MQTT 3; `SubscribeOptions.pack()` under MQTT 5) with raw properties; `(rc, mid)` or
    /// `(4, None)` when not connected.
    fn subscribe(
        &self,
        topics: Vec<(String, u8)>,
        properties: &[u8],
    ) -> PyResult<(u8, Option<u16>)> {
        let filters = topics
            .into_iter()
            .map(|(t, byte)| {
                SubscribeOptions::from_byte(byte)
                    .map(|o| (t, o))
                    .ok_or_else(|| PyValueError::new_err("Invalid QoS level."))
            })
            .collect::<PyResult<Vec<_>>>()?;
        let mut g = self.lock();
        let Some(session) = g.session.as_mut() else {
            return Ok((MQTT_ERR_NO_CONN, None));
        };
        let result = session.subscribe_with_options(filters, Bytes::copy_from_slice(properties));
        request_outcome(&g, result)
    }

    /// Unsubscribes in one packet, with raw MQTT 5 properties; `(rc, mid)` or `(4, None)` when
    /// not connected.
    fn unsubscribe(&self, topics: Vec<String>, properties: &[u8]) -> PyResult<(u8, Option<u16>)> {
        let mut g = self.lock();
        let Some(session) = g.session.as_mut() else {
            return Ok((MQTT_ERR_NO_CONN, None));
        };
        let result =
            session.unsubscribe_with_properties(topics, Bytes::copy_from_slice(properties));
        request_outcome(&g, result)
    }

    /// Queues DISCONNECT after everything already queued, with an MQTT 5 reason code and raw
    /// properties (both ignored under MQTT 3); 0, or 4 when not connected.
    #[pyo3(signature = (reason_code=None, properties=None))]
    fn disconnect(&self, reason_code: Option<u8>, properties: Option<&[u8]>) -> PyResult<u8> {
        let mut g = self.lock();
        let Some(session) = g.session.as_mut() else {
            return Ok(MQTT_ERR_NO_CONN);
        };
        let properties = Bytes::copy_from_slice(properties.unwrap_or_default());
        match session.disconnect_with(reason_code, properties) {
            Ok(()) => {
                g.wake_writer();
                Ok(MQTT_ERR_SUCCESS)
            }
            Err(e @ RequestError::InvalidProperties(_)) => Err(Error::Request(e).into()),
            Err(RequestError::Session(_)) => Ok(MQTT_ERR_NO_CONN),
        }
    }

    /// Empties the outgoing QoS 1/2 store:
    /// `[(mid, topic, payload, qos, retain, props), ...]` (props as in the events).
    fn drop_out_messages<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let (dropped, v5) = {
            let mut g = self.lock();
            match g.session.as_mut() {
                Some(s) => (s.drop_out_messages(), s.protocol() == ProtocolVersion::V5),
                None => (Vec::new(), false),
            }
        };
        let list = PyList::empty(py);
        for m in dropped {
            let topic = PyBytes::new(py, m.topic.as_bytes());
            list.append((
                m.mid,
                topic,
                PyBytes::new(py, &m.payload),
                m.qos.as_u8(),
                m.retain,
                props(py, v5, &m.properties),
            ))?;
        }
        Ok(list)
    }

    /// Whether finished publishes report `EV_PUBLISHED` events (paho's `on_publish`, or a log
    /// line, needs them); without, their `MQTTMessageInfo` asks `publish_status`.
    fn set_report_published(&self, on: bool) {
        let mut g = self.lock();
        self.report_published
            .store(on, std::sync::atomic::Ordering::SeqCst);
        if let Some(session) = g.session.as_mut() {
            session.set_report_published(on);
        }
    }

    /// What became of the message with this `track`: None while on its way, False once
    /// published, True for a QoS 0 message whose connection closed first.
    fn publish_status(&self, track: u64) -> Option<bool> {
        self.lock()
            .session
            .as_ref()
            .and_then(|s| s.publish_status(track))
    }

    /// `publish_status`, waiting up to `timeout` seconds (None: for ever) for an answer, with
    /// the GIL released.
    #[pyo3(signature = (track, timeout=None))]
    fn wait_published(
        &self,
        py: Python<'_>,
        track: u64,
        timeout: Option<f64>,
    ) -> PyResult<Option<bool>> {
        let status = |g: &Inner| g.session.as_ref().and_then(|s| s.publish_status(track));
        self.wait_for(py, timeout.map(deadline_after), status)
    }

    /// Switches manual acknowledgement on or off now (paho's `manual_ack_set`).
    fn set_manual_ack(&self, on: bool) -> PyResult<()> {
        let mut g = self.lock();
        let mode = if on {
            AckMode::Manual
        } else {
            AckMode::AfterDelivery
        };
        session_or_default(&mut g, self)?.set_ack_mode(mode);
        Ok(())
    }

    /// With `manual_ack`: sends the PUBACK/PUBCOMP held for message `mid`; 0, or 4 when not
    /// connected.
    fn ack(&self, mid: u16) -> u8 {
        let mut g = self.lock();
        let Some(session) = g.session.as_mut() else {
            return MQTT_ERR_NO_CONN;
        };
        if !session.is_open() {
            return MQTT_ERR_NO_CONN;
        }
        if session.ack(mid) {
            g.wake_writer();
        }
        MQTT_ERR_SUCCESS
    }

    /// The events that arrived, oldest first, waiting up to `timeout` seconds for the first
    /// one (GIL released). Returns early, possibly empty, after `wakeup()`.
    fn next_events<'py>(&self, py: Python<'py>, timeout: f64) -> PyResult<Bound<'py, PyList>> {
        let deadline = deadline_after(timeout);
        // The caller has run the callbacks of the previous batch: acknowledge those messages.
        {
            let mut g = self.lock();
            if g.session
                .as_mut()
                .is_some_and(crate::session::Session::release_acks)
            {
                g.wake_writer();
            }
        }
        loop {
            type Batch = (
                Vec<(u8, String)>,
                Vec<std::result::Result<(), TransportError>>,
                Vec<FullEvent>,
                bool,
            );
            let batch: Option<Batch> = py.detach(|| {
                let mut g = self.lock();
                loop {
                    if g.has_events() {
                        let logs = std::mem::take(&mut g.logs);
                        let results = g.connect_results.drain(..).collect();
                        let (events, v5) = match g.session.as_mut() {
                            Some(s) => (
                                s.drain_full_events().collect(),
                                s.protocol() == ProtocolVersion::V5,
                            ),
                            None => (Vec::new(), false),
                        };
                        return Some((logs, results, events, v5));
                    }
                    if g.woken {
                        g.woken = false;
                        return Some((Vec::new(), Vec::new(), Vec::new(), false));
                    }
                    let now = Instant::now();
                    if now >= deadline {
                        return Some((Vec::new(), Vec::new(), Vec::new(), false));
                    }
                    let slice = deadline.saturating_duration_since(now).min(SIGNAL_SLICE);
                    g = self.shared.wait(g, slice);
                    if Instant::now() >= now + slice && Instant::now() < deadline {
                        return None;
                    }
                }
            });
            match batch {
                Some((logs, results, events, v5)) => {
                    let list = PyList::empty(py);
                    for (level, line) in logs {
                        list.append((EV_LOG, level, line))?;
                    }
                    for result in results {
                        match result {
                            Ok(()) => list.append((EV_CONNECT_RESULT, true, py.None()))?,
                            Err(e) => {
                                let err = PyErr::from(Error::Transport(e));
                                list.append((EV_CONNECT_RESULT, false, err.into_value(py)))?;
                            }
                        }
                    }
                    for event in events {
                        if let Some(line) = log_line(&event) {
                            list.append((EV_LOG, MQTT_LOG_ERR, line))?;
                        }
                        list.append(event_to_py(py, event, v5)?)?;
                    }
                    return Ok(list);
                }
                None => py.check_signals()?,
            }
        }
    }

    /// Makes a waiting `next_events` (and `sleep`) return now.
    fn wakeup(&self) {
        self.lock().woken = true;
        self.shared.notify();
    }

    /// Sleeps `seconds` with the GIL released; returns early on `wakeup()` or a signal.
    fn sleep(&self, py: Python<'_>, seconds: f64) -> PyResult<()> {
        let woken = |g: &Inner| g.woken.then_some(());
        self.wait_for(py, Some(deadline_after(seconds)), woken)?;
        Ok(())
    }

    /// Waits up to `timeout` seconds until everything queued is written (or the connection is
    /// gone); returns whether it was.
    fn flush(&self, py: Python<'_>, timeout: f64) -> PyResult<bool> {
        // Written out, and a closed connection has finished draining (its link is gone).
        let flushed = |g: &Inner| {
            (g.session.as_ref().is_none_or(|s| !s.wants_write())
                && g.idle
                && (g.is_open() || !g.has_link()))
            .then_some(())
        };
        Ok(self
            .wait_for(py, Some(deadline_after(timeout)), flushed)?
            .is_some())
    }

    /// Whether a transport is open (paho's `_sock is not None`).
    fn is_open(&self) -> bool {
        self.lock().is_open()
    }

    /// Whether packets are waiting to be written.
    fn want_write(&self) -> bool {
        self.lock()
            .session
            .as_ref()
            .is_some_and(crate::session::Session::wants_write)
    }

    /// Whether QoS 1/2 messages await their acknowledgement or bytes await the socket.
    fn has_pending(&self) -> bool {
        let g = self.lock();
        g.session
            .as_ref()
            .is_some_and(|s| s.stored() > 0 || s.wants_write())
    }

    /// How many QoS 1/2 messages await their final acknowledgement.
    fn stored(&self) -> usize {
        self.lock()
            .session
            .as_ref()
            .map_or(0, crate::session::Session::stored)
    }

    /// The protocol level and client id the next CONNECT will carry (they change after an
    /// automatic retry).
    fn connect_identity(&self) -> (u8, Vec<u8>) {
        let g = self.lock();
        match g.session.as_ref() {
            Some(s) => (s.protocol().level(), s.client_id().to_vec()),
            None => (4, Vec::new()),
        }
    }

    /// Drops the transport without a DISCONNECT and without an event.
    fn close(&self) {
        {
            let mut g = self.lock();
            g.close_link();
            // A start_connect still under way must not open a link after this.
            g.connect_seq += 1;
        }
        self.shared.notify();
    }
}
