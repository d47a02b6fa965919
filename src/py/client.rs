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
    AckMode, DisconnectReason, Event, ProtocolVersion, PublishStatus, QoS, RetryReason,
    SessionError, SessionOptions, Will, MAX_REMAINING_LENGTH,
};
use crate::transport::{self, Endpoint, TransportError, TransportKind};
use bytes::Bytes;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, MutexGuard};
use std::time::{Duration, Instant};

/// How often a wait comes back to Python to run signal handlers (Ctrl-C).
const SIGNAL_SLICE: Duration = Duration::from_millis(50);

/// Event kinds handed to Python; `client.py` reads them as `_core.EV_*`.
pub const EV_CONNACK: u8 = 0;
/// A message arrived: `(kind, topic, payload, qos, retain, mid, dup)`.
pub const EV_MESSAGE: u8 = 1;
/// A publish completed: `(kind, mid, rc)`; rc 7 means a QoS 0 message was dropped unsent.
pub const EV_PUBLISHED: u8 = 2;
/// `(kind, mid, granted)`.
pub const EV_SUBACK: u8 = 3;
/// `(kind, mid)`.
pub const EV_UNSUBACK: u8 = 4;
/// `(kind, rc)` with paho's `MQTT_ERR_*` code.
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

fn event_to_py(py: Python<'_>, event: Event) -> PyResult<Bound<'_, PyTuple>> {
    match event {
        Event::Message(m) => (
            EV_MESSAGE,
            PyBytes::new(py, &m.topic),
            PyBytes::new(py, &m.payload),
            m.qos.as_u8(),
            m.retain,
            m.mid,
            m.dup,
        )
            .into_pyobject(py),
        Event::Published { mid } => (EV_PUBLISHED, mid, MQTT_ERR_SUCCESS).into_pyobject(py),
        Event::PublishDropped { mid } => (EV_PUBLISHED, mid, MQTT_ERR_CONN_LOST).into_pyobject(py),
        Event::Connected { session_present } => {
            (EV_CONNACK, 0u8, session_present).into_pyobject(py)
        }
        Event::ConnectRefused {
            rc,
            session_present,
        } => (EV_CONNACK, rc, session_present).into_pyobject(py),
        Event::Subscribed { mid, granted } => {
            (EV_SUBACK, mid, PyTuple::new(py, granted)?).into_pyobject(py)
        }
        Event::Unsubscribed { mid } => (EV_UNSUBACK, mid).into_pyobject(py),
        Event::Disconnected { reason } => {
            let rc = match reason {
                DisconnectReason::UserRequested => MQTT_ERR_SUCCESS,
                DisconnectReason::ConnectionLost => MQTT_ERR_CONN_LOST,
                DisconnectReason::KeepaliveTimeout => MQTT_ERR_KEEPALIVE,
                DisconnectReason::Refused(_) => MQTT_ERR_CONN_REFUSED,
                DisconnectReason::ProtocolError(_) => MQTT_ERR_PROTOCOL,
            };
            (EV_DISCONNECTED, rc).into_pyobject(py)
        }
        Event::RetryConnect { reason } => {
            let reason = match reason {
                RetryReason::ProtocolDowngrade => 0u8,
                RetryReason::ClientIdAssigned => 1u8,
            };
            (EV_RETRY, reason).into_pyobject(py)
        }
    }
}

/// A log line for protocol errors, which paho reports through `on_log` before `on_disconnect`.
fn log_line(event: &Event) -> Option<String> {
    match event {
        Event::Disconnected {
            reason: DisconnectReason::ProtocolError(why),
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
fn session_or_default(g: &mut Inner) -> PyResult<&mut crate::session::Session> {
    if g.session.is_none() {
        let session =
            crate::session::Session::new(SessionOptions::default()).map_err(Error::Session)?;
        g.session = Some(session);
    }
    g.session
        .as_mut()
        .ok_or_else(|| PyValueError::new_err("no session"))
}

impl PyCoreClient {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.shared.lock()
    }

    /// Checks and owns `connect`'s arguments and prepares the session for a new connection
    /// (the old transport closed); returns where to connect and the connect attempt's number.
    #[allow(clippy::too_many_arguments, clippy::fn_params_excessive_bools)]
    fn prepare(
        &self,
        transport: &str,
        host: String,
        port: u16,
        keepalive: u16,
        bind_address: &str,
        bind_port: u16,
        timeout: f64,
        client_id: Vec<u8>,
        clean_session: bool,
        protocol: u8,
        bridge: bool,
        username: Option<Vec<u8>>,
        password: Option<Vec<u8>>,
        will: Option<(Vec<u8>, Vec<u8>, u8, bool)>,
        max_inflight: usize,
        max_queued: usize,
        tls: Option<&PyTlsConfig>,
        ws_path: String,
        ws_headers: Vec<(String, String)>,
        manual_ack: bool,
    ) -> PyResult<(Endpoint, u64)> {
        let protocol = match protocol {
            3 => ProtocolVersion::V31,
            4 => ProtocolVersion::V311,
            _ => return Err(PyValueError::new_err("MQTT 5 is not supported yet")),
        };
        let username = username
            .map(String::from_utf8)
            .transpose()
            .map_err(|_| PyValueError::new_err("username must be UTF-8"))?;
        let will = match will {
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
            client_id,
            clean_session,
            keepalive,
            username,
            password,
            will,
            protocol,
            bridge_mode: bridge,
            max_inflight,
            max_queued,
            max_packet_size: MAX_REMAINING_LENGTH,
            reconnect_on_failure: true,
        };
        let kind = match transport {
            "tcp" => TransportKind::Tcp,
            "unix" => TransportKind::Unix,
            "websockets" => TransportKind::WebSockets {
                path: ws_path,
                headers: ws_headers,
            },
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown transport {other:?}"
                )))
            }
        };
        if !(timeout > 0.0 && timeout.is_finite()) {
            return Err(PyValueError::new_err("timeout must be a positive number"));
        }
        let connect_timeout = Duration::from_secs_f64(timeout);
        let endpoint = Endpoint {
            host,
            port,
            kind,
            tls: tls.map(|t| t.inner.clone()),
            connect_timeout,
            bind_address: resolve_bind(bind_address, bind_port)?,
        };
        let seq = {
            let mut g = self.lock();
            g.close_link();
            g.connect_seq += 1;
            g.connect_results.clear();
            // paho acknowledges a message after on_message returns (or, with manual_ack, when
            // the user calls ack()).
            let mode = if manual_ack {
                AckMode::Manual
            } else {
                AckMode::AfterDelivery
            };
            g.prepare_session(opts)
                .map_err(Error::Session)?
                .set_ack_mode(mode);
            g.connect_seq
        };
        Ok((endpoint, seq))
    }
}

#[pymethods]
impl PyCoreClient {
    #[new]
    fn new() -> Self {
        Self {
            shared: Arc::new(Shared::default()),
        }
    }

    /// Opens the transport and sends CONNECT; blocks (GIL released) until CONNECT is written.
    #[pyo3(signature = (*, transport, host, port, keepalive, bind_address, bind_port, timeout,
        client_id, clean_session, protocol, bridge, username, password, will, max_inflight,
        max_queued, tls, ws_path, ws_headers, manual_ack))]
    #[allow(
        clippy::too_many_arguments,
        clippy::fn_params_excessive_bools,
        clippy::needless_pass_by_value
    )]
    fn connect(
        &self,
        py: Python<'_>,
        transport: &str,
        host: String,
        port: u16,
        keepalive: u16,
        bind_address: &str,
        bind_port: u16,
        timeout: f64,
        client_id: Vec<u8>,
        clean_session: bool,
        protocol: u8,
        bridge: bool,
        username: Option<Vec<u8>>,
        password: Option<Vec<u8>>,
        will: Option<(Vec<u8>, Vec<u8>, u8, bool)>,
        max_inflight: usize,
        max_queued: usize,
        tls: Option<PyRef<'_, PyTlsConfig>>,
        ws_path: String,
        ws_headers: Vec<(String, String)>,
        manual_ack: bool,
    ) -> PyResult<()> {
        let (endpoint, _) = self.prepare(
            transport,
            host,
            port,
            keepalive,
            bind_address,
            bind_port,
            timeout,
            client_id,
            clean_session,
            protocol,
            bridge,
            username,
            password,
            will,
            max_inflight,
            max_queued,
            tls.as_deref(),
            ws_path,
            ws_headers,
            manual_ack,
        )?;
        let connect_timeout = endpoint.connect_timeout;
        let handle = runtime::handle().map_err(Error::Io)?;
        let (tx, rx) = std::sync::mpsc::channel();
        handle.spawn(async move {
            let _ = tx.send(transport::connect(&endpoint).await);
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
    #[pyo3(signature = (*, transport, host, port, keepalive, bind_address, bind_port, timeout,
        client_id, clean_session, protocol, bridge, username, password, will, max_inflight,
        max_queued, tls, ws_path, ws_headers, manual_ack))]
    #[allow(
        clippy::too_many_arguments,
        clippy::fn_params_excessive_bools,
        clippy::needless_pass_by_value
    )]
    fn start_connect(
        &self,
        transport: &str,
        host: String,
        port: u16,
        keepalive: u16,
        bind_address: &str,
        bind_port: u16,
        timeout: f64,
        client_id: Vec<u8>,
        clean_session: bool,
        protocol: u8,
        bridge: bool,
        username: Option<Vec<u8>>,
        password: Option<Vec<u8>>,
        will: Option<(Vec<u8>, Vec<u8>, u8, bool)>,
        max_inflight: usize,
        max_queued: usize,
        tls: Option<PyRef<'_, PyTlsConfig>>,
        ws_path: String,
        ws_headers: Vec<(String, String)>,
        manual_ack: bool,
    ) -> PyResult<()> {
        let (endpoint, seq) = self.prepare(
            transport,
            host,
            port,
            keepalive,
            bind_address,
            bind_port,
            timeout,
            client_id,
            clean_session,
            protocol,
            bridge,
            username,
            password,
            will,
            max_inflight,
            max_queued,
            tls.as_deref(),
            ws_path,
            ws_headers,
            manual_ack,
        )?;
        let handle = runtime::handle().map_err(Error::Io)?;
        let shared = Arc::clone(&self.shared);
        let task_handle = handle.clone();
        handle.spawn(async move {
            let outcome = transport::connect(&endpoint).await;
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
        session_or_default(&mut g)?.set_limits(max_inflight, max_queued);
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

    /// Publishes; returns `(rc, mid)` at once.
    fn publish(&self, topic: String, payload: &[u8], qos: u8, retain: bool) -> PyResult<(u8, u16)> {
        let qos = self::qos(qos)?;
        let mut g = self.lock();
        let session = session_or_default(&mut g)?;
        let result = session.publish(topic, Bytes::copy_from_slice(payload), qos, retain);
        let wants_write = session.wants_write();
        let outcome = match result {
            Ok(h) => match h.status {
                PublishStatus::Sent | PublishStatus::Queued => (MQTT_ERR_SUCCESS, h.mid),
                PublishStatus::NotConnected => (MQTT_ERR_NO_CONN, h.mid),
            },
            Err(SessionError::QueueFull { mid }) => (MQTT_ERR_QUEUE_SIZE, mid),
            Err(SessionError::NoFreeMid) => (MQTT_ERR_QUEUE_SIZE, 0),
            Err(e) => return Err(Error::Session(e).into()),
        };
        if wants_write {
            g.wake_writer();
        }
        Ok(outcome)
    }

    /// Subscribes in one packet; `(rc, mid)` or `(4, None)` when not connected.
    fn subscribe(&self, topics: Vec<(String, u8)>) -> PyResult<(u8, Option<u16>)> {
        let filters = topics
            .into_iter()
            .map(|(t, q)| Ok((t, qos(q)?)))
            .collect::<PyResult<Vec<_>>>()?;
        let mut g = self.lock();
        let Some(session) = g.session.as_mut() else {
            return Ok((MQTT_ERR_NO_CONN, None));
        };
        match session.subscribe(filters) {
            Ok(mid) => {
                g.wake_writer();
                Ok((MQTT_ERR_SUCCESS, Some(mid)))
            }
            Err(SessionError::NotConnected) => Ok((MQTT_ERR_NO_CONN, None)),
            Err(e) => Err(Error::Session(e).into()),
        }
    }

    /// Unsubscribes in one packet; `(rc, mid)` or `(4, None)` when not connected.
    fn unsubscribe(&self, topics: Vec<String>) -> PyResult<(u8, Option<u16>)> {
        let mut g = self.lock();
        let Some(session) = g.session.as_mut() else {
            return Ok((MQTT_ERR_NO_CONN, None));
        };
        match session.unsubscribe(topics) {
            Ok(mid) => {
                g.wake_writer();
                Ok((MQTT_ERR_SUCCESS, Some(mid)))
            }
            Err(SessionError::NotConnected) => Ok((MQTT_ERR_NO_CONN, None)),
            Err(e) => Err(Error::Session(e).into()),
        }
    }

    /// Queues DISCONNECT after everything already queued; 0, or 4 when not connected.
    fn disconnect(&self) -> u8 {
        let mut g = self.lock();
        let Some(session) = g.session.as_mut() else {
            return MQTT_ERR_NO_CONN;
        };
        match session.disconnect() {
            Ok(()) => {
                g.wake_writer();
                MQTT_ERR_SUCCESS
            }
            Err(_) => MQTT_ERR_NO_CONN,
        }
    }

    /// Empties the outgoing QoS 1/2 store: `[(mid, topic, payload, qos, retain), ...]`.
    fn drop_out_messages<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let dropped = {
            let mut g = self.lock();
            g.session
                .as_mut()
                .map(crate::session::Session::drop_out_messages)
                .unwrap_or_default()
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
            ))?;
        }
        Ok(list)
    }

    /// Switches manual acknowledgement on or off now (paho's `manual_ack_set`).
    fn set_manual_ack(&self, on: bool) -> PyResult<()> {
        let mut g = self.lock();
        let mode = if on {
            AckMode::Manual
        } else {
            AckMode::AfterDelivery
        };
        session_or_default(&mut g)?.set_ack_mode(mode);
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
        let deadline =
            Instant::now() + Duration::try_from_secs_f64(timeout.max(0.0)).unwrap_or(Duration::MAX);
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
                Vec<Event>,
            );
            let batch: Option<Batch> = py.detach(|| {
                let mut g = self.lock();
                loop {
                    if g.has_events() {
                        let logs = std::mem::take(&mut g.logs);
                        let results = g.connect_results.drain(..).collect();
                        let events = g
                            .session
                            .as_mut()
                            .map(|s| s.drain_events().collect())
                            .unwrap_or_default();
                        return Some((logs, results, events));
                    }
                    if g.woken {
                        g.woken = false;
                        return Some((Vec::new(), Vec::new(), Vec::new()));
                    }
                    let now = Instant::now();
                    if now >= deadline {
                        return Some((Vec::new(), Vec::new(), Vec::new()));
                    }
                    let slice = deadline.saturating_duration_since(now).min(SIGNAL_SLICE);
                    g = self.shared.wait(g, slice);
                    if Instant::now() >= now + slice && Instant::now() < deadline {
                        return None;
                    }
                }
            });
            match batch {
                Some((logs, results, events)) => {
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
                        list.append(event_to_py(py, event)?)?;
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
        let deadline =
            Instant::now() + Duration::try_from_secs_f64(seconds.max(0.0)).unwrap_or(Duration::MAX);
        loop {
            let done = py.detach(|| {
                let mut g = self.lock();
                let now = Instant::now();
                if g.woken || now >= deadline {
                    return true;
                }
                g = self
                    .shared
                    .wait(g, deadline.saturating_duration_since(now).min(SIGNAL_SLICE));
                g.woken || Instant::now() >= deadline
            });
            if done {
                return Ok(());
            }
            py.check_signals()?;
        }
    }

    /// Waits up to `timeout` seconds until everything queued is written (or the connection is
    /// gone); returns whether it was.
    fn flush(&self, py: Python<'_>, timeout: f64) -> PyResult<bool> {
        let deadline =
            Instant::now() + Duration::try_from_secs_f64(timeout.max(0.0)).unwrap_or(Duration::MAX);
        loop {
            let done = py.detach(|| {
                let mut g = self.lock();
                // Written out, and a closed connection has finished draining (its link is gone).
                let flushed = |g: &Inner| {
                    g.session.as_ref().is_none_or(|s| !s.wants_write())
                        && g.idle
                        && (g.is_open() || !g.has_link())
                };
                if flushed(&g) {
                    return Some(true);
                }
                let now = Instant::now();
                if now >= deadline {
                    return Some(false);
                }
                g = self
                    .shared
                    .wait(g, deadline.saturating_duration_since(now).min(SIGNAL_SLICE));
                flushed(&g).then_some(true)
            });
            if let Some(result) = done {
                return Ok(result);
            }
            py.check_signals()?;
        }
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
