//! The connection: one transport driven by two tokio tasks on the shared runtime, around the
//! sans-I/O [`Session`].
//!
//! The session sits behind one mutex that Python's calls (`publish`, `subscribe`, ...) and the
//! tasks take briefly, never across an `.await` and never while holding the GIL inside it:
//! - the **writer** task takes every packet the session has queued into one buffer and writes
//!   it with one syscall (so a burst of `publish()` calls costs one write), and runs the
//!   keepalive timer;
//! - the **reader** task reads whole buffers and hands every complete packet to the session.
//!
//! Events pile up in the session; Python threads wait for them on a condition variable with the
//! GIL released (`next_events`). The tasks never call Python.
//!
//! Each transport gets a generation number. `reconnect()` or `close()` bumps it and aborts the
//! old tasks, and a task that finds itself superseded leaves the session alone, so a late read
//! from a dead socket can never touch the next connection's state.

use crate::dispatch::Lane;
use crate::session::{Session, SessionError, SessionOptions};
use crate::transport::{BoxedStream, TransportError};
use bytes::BytesMut;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::runtime::Handle;
use tokio::sync::Notify;
use tokio::task::AbortHandle;

/// State shared between Python's threads and one client's tasks.
#[derive(Debug, Default)]
pub struct Shared {
    inner: Mutex<Inner>,
    /// Signalled when the session has new events, the writer went idle, or a wakeup was asked.
    changed: Condvar,
    /// Threads blocked on `changed`. Counted (under `inner`, before they block) so that a
    /// notification with nobody waiting, the common case on the receive path, costs no futex
    /// syscall: std's condition variable makes one on every notify.
    waiters: AtomicUsize,
    /// The shared-loop lane this client reports to, and its key there (`loop_start()`).
    /// A lock of its own, taken after `inner` is released, so a push never waits on the session.
    lane: Mutex<Option<(Arc<Lane>, u64)>>,
}

/// What the mutex guards.
#[derive(Debug, Default)]
pub struct Inner {
    /// The session, made at the first `connect()` and kept for the client's life (its outgoing
    /// store survives reconnects).
    pub session: Option<Session>,
    /// Generation of the current transport; 0 before the first.
    generation: u64,
    /// The current transport's tasks and the writer's wake-up, while it lives.
    link: Option<Link>,
    /// The writer has written everything the session gave it (or there is no transport).
    pub idle: bool,
    /// A Python thread asked the waiters to return early (`loop_stop`).
    pub woken: bool,
    /// Number of the latest connect attempt; a `start_connect` that finds a newer one (or a
    /// `close()`) when its transport is ready drops it instead of replacing the newer link.
    pub connect_seq: u64,
    /// Outcomes of `start_connect` attempts not yet handed to Python, oldest first.
    pub connect_results: VecDeque<Result<(), TransportError>>,
    /// Log lines for Python (paho's `MQTT_LOG_*` level, text), handed over with the events.
    /// The tasks never log through `log`/pyo3-log: that needs the GIL from a runtime thread,
    /// which can block a worker behind Python code, and panics once the interpreter is gone.
    pub logs: Vec<(u8, String)>,
    /// The largest incoming remaining length the user allowed
    /// (`Client.max_incoming_packet_size`); `None` keeps the session's default, MQTT's maximum.
    pub max_incoming_packet_size: Option<usize>,
}

/// paho's `MQTT_LOG_DEBUG`.
pub const LOG_DEBUG: u8 = 0x10;
/// paho's `MQTT_LOG_ERR`.
pub const LOG_ERR: u8 = 0x08;

#[derive(Debug)]
struct Link {
    wake: Arc<Notify>,
    reader: AbortHandle,
    writer: AbortHandle,
}

impl Shared {
    /// Locks the state. A poisoned lock means a thread panicked while holding it; the session
    /// has no invariant a half-finished call could break badly enough to matter more than
    /// staying usable, so the poison is ignored rather than turned into a second panic.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes every Python thread waiting on this client. Call after changing, under `inner`,
    /// what they wait for: a waiter counts itself under `inner` before it blocks, so it is
    /// either counted here or has not yet looked at the state.
    pub fn notify(&self) {
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.changed.notify_all();
        }
    }

    /// Wakes the waiters and, when the client is attached to a lane, queues it there: there are
    /// events to hand to Python. Call without holding `inner`.
    pub fn notify_events(&self) {
        self.notify();
        let attached = self
            .lane
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some((lane, key)) = attached {
            lane.push(key);
        }
    }

    /// After a task changed the session: the lane too when there are events, else only the
    /// waiters, who may wait for something that makes no event (flush() for an idle writer,
    /// wait_published() for a write or an ack nobody asked an event for). Free when nobody
    /// waits.
    pub fn notify_changed(&self, events: bool) {
        if events {
            self.notify_events();
        } else {
            self.notify();
        }
    }

    /// Reports this client's events to `lane` under `key` from now on (`None`: to nobody).
    pub fn set_lane(&self, lane: Option<(Arc<Lane>, u64)>) {
        *self.lane.lock().unwrap_or_else(PoisonError::into_inner) = lane;
    }

    /// Waits on the condition variable for at most `timeout`, returning the guard.
    pub fn wait<'a>(
        &self,
        guard: MutexGuard<'a, Inner>,
        timeout: Duration,
    ) -> MutexGuard<'a, Inner> {
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let guard = match self.changed.wait_timeout(guard, timeout) {
            Ok((guard, _)) => guard,
            Err(poisoned) => poisoned.into_inner().0,
        };
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        guard
    }
}

impl Inner {
    /// The session with `opts` (made now, or given the new options), for a new connection.
    pub fn prepare_session(
        &mut self,
        mut opts: SessionOptions,
    ) -> Result<&mut Session, SessionError> {
        if let Some(max) = self.max_incoming_packet_size {
            opts.max_packet_size = max;
        }
        let session = match self.session.take() {
            Some(mut session) => {
                session.set_options(opts)?;
                session
            }
            None => Session::new(opts)?,
        };
        Ok(self.session.insert(session))
    }

    /// Tells the current writer there is something to send.
    pub fn wake_writer(&self) {
        if let Some(link) = &self.link {
            link.wake.notify_one();
        }
    }

    /// Drops the current transport without reporting a loss (paho's `reconnect()` closing the
    /// old socket): its tasks are aborted and the session forgets the link.
    pub fn close_link(&mut self) {
        self.generation += 1;
        if let Some(link) = self.link.take() {
            link.reader.abort();
            link.writer.abort();
        }
        if let Some(session) = &mut self.session {
            session.abandon();
        }
        self.idle = true;
    }

    /// Whether a transport's tasks still run (a closed connection keeps its link while it drains).
    pub fn has_link(&self) -> bool {
        self.link.is_some()
    }

    /// Whether a transport is open.
    pub fn is_open(&self) -> bool {
        self.session.as_ref().is_some_and(Session::is_open)
    }

    /// Whether Python has something to take: session events or connect outcomes.
    pub fn has_events(&self) -> bool {
        !self.connect_results.is_empty() || self.session.as_ref().is_some_and(Session::has_events)
    }
}

/// Starts driving `stream` for the client: the session queues CONNECT and the tasks start.
/// Returns a receiver that yields once the first write (the CONNECT) has been handed to the
/// socket, or the connection failed.
pub fn start(
    shared: &Arc<Shared>,
    stream: BoxedStream,
    handle: &Handle,
) -> std::sync::mpsc::Receiver<()> {
    let g = shared.lock();
    start_locked(shared, g, stream, handle)
}

/// The end of a `start_connect` attempt number `seq`: a transport (started now, unless a newer
/// attempt or a `close()` came first) or the error, reported to Python as an event.
pub fn finish_attempt(
    shared: &Arc<Shared>,
    seq: u64,
    outcome: Result<BoxedStream, TransportError>,
    handle: &Handle,
) {
    let mut g = shared.lock();
    if g.connect_seq != seq {
        return;
    }
    match outcome {
        Ok(stream) => {
            // Queued before the link starts, so Python sees it before the CONNACK.
            g.connect_results.push_back(Ok(()));
            drop(start_locked(shared, g, stream, handle));
        }
        Err(e) => {
            g.connect_results.push_back(Err(e));
            drop(g);
        }
    }
    shared.notify_events();
}

fn start_locked(
    shared: &Arc<Shared>,
    mut g: MutexGuard<'_, Inner>,
    stream: BoxedStream,
    handle: &Handle,
) -> std::sync::mpsc::Receiver<()> {
    let (read_half, write_half) = tokio::io::split(stream);
    let wake = Arc::new(Notify::new());
    let (first_tx, first_rx) = std::sync::mpsc::channel();
    g.close_link();
    let generation = g.generation;
    if let Some(session) = &mut g.session {
        session.on_connected(Instant::now());
    }
    g.idle = false;
    let reader = handle.spawn(reader(
        Arc::clone(shared),
        generation,
        read_half,
        Arc::clone(&wake),
    ));
    let reader_abort = reader.abort_handle();
    let writer = handle.spawn(writer(
        Arc::clone(shared),
        generation,
        write_half,
        Arc::clone(&wake),
        reader,
        first_tx,
    ));
    g.link = Some(Link {
        wake,
        reader: reader_abort,
        writer: writer.abort_handle(),
    });
    drop(g);
    first_rx
}

/// Reports the transport of `generation` dead (EOF or an I/O error), once.
///
/// Never log while the lock is held: a log record goes to Python's `logging` (pyo3-log) and
/// needs the GIL, which a Python thread blocked on this lock may hold.
fn lost(shared: &Shared, generation: u64, error: Option<&std::io::Error>) {
    let mut g = shared.lock();
    if g.generation != generation {
        return;
    }
    if let Some(session) = &mut g.session {
        if session.is_open() {
            session.on_connection_lost(Instant::now());
            let line = match error {
                Some(e) => format!("Connection lost: {e}"),
                None => "Connection closed by the broker".to_owned(),
            };
            g.logs.push((LOG_DEBUG, line));
        }
    }
    g.wake_writer();
    drop(g);
    shared.notify_events();
}

async fn reader(
    shared: Arc<Shared>,
    generation: u64,
    mut rd: ReadHalf<BoxedStream>,
    wake: Arc<Notify>,
) {
    const CHUNK: usize = 64 * 1024;
    let mut buf = BytesMut::with_capacity(CHUNK);
    loop {
        if buf.capacity() - buf.len() < CHUNK / 4 {
            buf.reserve(CHUNK);
        }
        match rd.read_buf(&mut buf).await {
            Ok(0) => return lost(&shared, generation, None),
            Err(e) => return lost(&shared, generation, Some(&e)),
            Ok(_) => {}
        }
        let Some((open, wants_write, events)) = ({
            let mut g = shared.lock();
            let current = g.generation == generation;
            match &mut g.session {
                Some(session) if current => {
                    session.handle_bytes(&mut buf, Instant::now());
                    Some((
                        session.is_open(),
                        session.wants_write(),
                        session.has_events(),
                    ))
                }
                _ => None,
            }
        }) else {
            return;
        };
        if wants_write || !open {
            wake.notify_one();
        }
        shared.notify_changed(events);
        if !open {
            return drain(rd, buf).await;
        }
    }
}

/// After the session ended the connection, reads and discards until the broker closes its side.
/// Closing a socket with unread data in it (the broker's PUBACKs, say) makes the kernel send a
/// reset, and a reset makes the broker's kernel throw away what it had received but not yet
/// read: the last PUBLISHes and the DISCONNECT. Draining first lets them all be handled.
async fn drain(mut rd: ReadHalf<BoxedStream>, mut buf: BytesMut) {
    loop {
        buf.clear();
        match rd.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

async fn writer(
    shared: Arc<Shared>,
    generation: u64,
    mut wr: WriteHalf<BoxedStream>,
    wake: Arc<Notify>,
    reader: tokio::task::JoinHandle<()>,
    first_write: std::sync::mpsc::Sender<()>,
) {
    /// How long a closed connection may take to drain before the socket is dropped anyway.
    const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
    let mut buf = BytesMut::with_capacity(16 * 1024);
    let mut first = Some(first_write);
    loop {
        let (deadline, open) = {
            let mut g = shared.lock();
            if g.generation != generation {
                return;
            }
            let Some(session) = &mut g.session else {
                return;
            };
            let now = Instant::now();
            session.tick(now);
            session.poll_transmit(&mut buf, now);
            let open = session.is_open();
            let deadline = session.poll_timeout();
            let events = session.has_events();
            let skipped = session.take_skipped();
            g.logs.extend(
                skipped
                    .into_iter()
                    .map(|why| (LOG_ERR, format!("packet skipped: {why}"))),
            );
            g.idle = buf.is_empty();
            drop(g);
            shared.notify_changed(events);
            (deadline, open)
        };
        if !buf.is_empty() {
            let result = match wr.write_all(&buf).await {
                Ok(()) => wr.flush().await,
                Err(e) => Err(e),
            };
            buf.clear();
            if let Some(tx) = first.take() {
                let _ = tx.send(());
            }
            if let Err(e) = result {
                reader.abort();
                return lost(&shared, generation, Some(&e));
            }
            continue;
        }
        if !open {
            // DISCONNECT (or the last packet before a protocol error) is out: half-close, let the
            // reader drain until the broker closes its side, then drop the socket.
            let _ = wr.shutdown().await;
            let abort = reader.abort_handle();
            let _ = tokio::time::timeout(DRAIN_TIMEOUT, reader).await;
            abort.abort();
            let mut g = shared.lock();
            if g.generation == generation {
                g.link = None;
                g.idle = true;
            }
            drop(g);
            shared.notify_events();
            return;
        }
        match deadline {
            Some(at) => {
                tokio::select! {
                    () = wake.notified() => {}
                    () = tokio::time::sleep_until(tokio::time::Instant::from_std(at)) => {}
                }
            }
            None => wake.notified().await,
        }
        // Let the publisher that woke us queue a few more packets first: one write then carries
        // several, which halves the syscalls of a publish loop at no latency cost worth a word
        // (a yield is a trip through the scheduler, microseconds).
        tokio::task::yield_now().await;
    }
}
