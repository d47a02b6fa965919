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
//! Over plain TCP a `publish()` that finds the writer idle, and does not come in a burst,
//! writes its packet itself, on the calling thread, under the mutex ([`Inner::send_now`]): a
//! lone message then reaches the wire without waking a runtime thread first, which is most of a
//! round trip's cost on a machine whose idle cores take tens of microseconds to wake. A burst
//! still goes through the writer, which puts many packets in one syscall.
//!
//! The read side of plain TCP is shared the same way ([`TcpRead`]): a `loop_start()` lane
//! thread has the socket in its poller and, woken by it, reads and handles the bytes itself
//! ([`Shared::read_now`]) instead of waiting for the reader task to do it and wake the lane.
//! Whichever of the two comes first reads; one mutex keeps the bytes in order. While messages
//! stream in, the socket leaves the lane's poller: the lane then wakes only for finished
//! events, and the reader task decodes on another core while the lane runs Python (each
//! arrival would otherwise wake both threads, and the lane would do the reading too). And while
//! small QoS 0 messages stream in with nothing to answer, the reader task leaves every poller
//! and reads in batches, once a millisecond or so ([`read_step`]): a wake-up per arrival cost
//! several times the Python work of such a message.
//!
//! Events pile up in the session; Python threads wait for them on a condition variable with the
//! GIL released (`next_events`). The tasks never call Python.
//!
//! Each transport gets a generation number. `reconnect()` or `close()` bumps it and aborts the
//! old tasks, and a task that finds itself superseded leaves the session alone, so a late read
//! from a dead socket can never touch the next connection's state.

use crate::dispatch::{Lane, Source};
use crate::session::{Session, SessionError, SessionOptions};
use crate::tcp::TcpSock;
use crate::transport::{BoxedStream, Stream, TcpHandle, TransportError};
use bytes::BytesMut;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt, WriteHalf};
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
    /// What a direct write ([`Inner::send_now`]) could not hand to the socket; the writer sends
    /// it before anything else. Never holds bytes while `idle` is true.
    pending: BytesMut,
    /// When the last `send_now` came: one within [`BURST_GAP`] of the one before is part of a
    /// burst and left to the writer.
    last_send_now: Option<Instant>,
}

/// Requests closer together than this are a burst: the writer, woken once, carries them all in
/// one write. Further apart, each goes out on its own thread at once. A `publish()` loop calls
/// every 2-5 µs; a script that does anything between two messages takes longer.
const BURST_GAP: Duration = Duration::from_micros(20);

/// paho's `MQTT_LOG_DEBUG`.
pub const LOG_DEBUG: u8 = 0x10;
/// paho's `MQTT_LOG_ERR`.
pub const LOG_ERR: u8 = 0x08;

#[derive(Debug)]
struct Link {
    wake: Arc<Notify>,
    reader: AbortHandle,
    writer: AbortHandle,
    /// Plain TCP: the socket, shared with the writer task for [`Inner::send_now`].
    direct: Option<Arc<TcpSock>>,
    /// Plain TCP: the socket's read side, shared with the reader task for [`Shared::read_now`].
    read: Option<Arc<TcpRead>>,
    /// The socket is out of the lane's poller while messages stream in ([`STREAM_READS`]).
    paused: bool,
}

/// Plain TCP's read side: the socket and the bytes read but not yet handled.
/// Both the reader task and the Python threads that wait for events read here, one at a time
/// (the mutex, always taken before `inner`), so the session sees the bytes in order.
#[derive(Debug)]
struct TcpRead {
    sock: Arc<TcpSock>,
    state: Mutex<ReadBuf>,
}

#[derive(Debug)]
struct ReadBuf {
    buf: BytesMut,
    /// The end was reported (EOF, an error) or the session closed: only the reader task reads
    /// from now on, to drain.
    done: bool,
    flow: Flow,
}

/// How reads have been coming in: whether they stream, and whether the reader batches.
#[derive(Debug, Default)]
struct Flow {
    /// When bytes last came in.
    last_read: Option<Instant>,
    /// Reads in a row that came within [`STREAM_GAP`] of the one before, or brought
    /// [`STREAM_PACKETS`] packets or more (they piled up faster than the reader read).
    streak: u32,
    /// The reader task reads in batches ([`Mode::Batch`]).
    batching: bool,
}

impl Flow {
    /// Counts a read of `n` bytes holding `packets` packets at `now` by `mode`. `quiet`: it did
    /// not fill its buffer and the session has nothing to answer and no message of ours in
    /// flight. Returns whether the reader task reads the next batch after [`BATCH_WAIT`], and
    /// whether the socket goes into (`true`) or out of the lane's poller.
    fn after_read(
        &mut self,
        mode: Mode,
        now: Instant,
        n: usize,
        packets: usize,
        quiet: bool,
    ) -> (bool, Option<bool>) {
        let gap = self.last_read.map(|t| now.saturating_duration_since(t));
        self.last_read = Some(now);
        let mut watch = None;
        if mode != Mode::Batch {
            let streaming = packets >= STREAM_PACKETS || gap.is_some_and(|gap| gap < STREAM_GAP);
            self.streak = if streaming {
                self.streak.saturating_add(1)
            } else {
                0
            };
            if self.streak >= STREAM_READS {
                watch = Some(false);
            } else if gap.is_some_and(|gap| gap >= QUIET_GAP) && !self.batching {
                watch = Some(true);
            }
        }
        if mode == Mode::Direct {
            return (false, watch);
        }
        let batch = quiet
            && if mode == Mode::Batch {
                n >= BATCH_MIN
            } else {
                self.streak >= STREAM_READS
            };
        if batch {
            // Out of the lane's poller while batching, even if attached to a lane meanwhile.
            watch = Some(false);
        } else if self.batching {
            self.streak = 0;
            watch = Some(true);
        }
        self.batching = batch;
        (batch, watch)
    }

    /// A batch found nothing: the stream stopped, back to waking for each arrival.
    fn end_batch(&mut self) {
        self.batching = false;
        self.streak = 0;
    }
}

/// Reads closer together than this are a stream of messages...
const STREAM_GAP: Duration = Duration::from_micros(50);
/// ...and so are reads that find this many packets waiting, however far apart.
const STREAM_PACKETS: usize = 4;
/// After this many streaming reads in a row the socket leaves the lane's poller...
const STREAM_READS: u32 = 16;
/// ...until a read comes after this long a quiet spell.
const QUIET_GAP: Duration = Duration::from_millis(1);
/// While a stream of small QoS 0 messages comes in, the reader task reads once per this long
/// (the runtime's timer rounds it up to its next millisecond), out of every poller meanwhile.
const BATCH_WAIT: Duration = Duration::from_micros(500);
/// A batch smaller than this ends batching: the stream has thinned out.
const BATCH_MIN: usize = 512;

/// Who calls [`read_step`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The reader task, the poller having reported the socket readable.
    Task,
    /// The reader task, batching: a timer woke it, the socket is in no poller.
    Batch,
    /// A Python thread (a lane) that its own poller woke for the socket.
    Direct,
}

/// What one [`read_step`] did.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// Nothing to read now.
    Empty,
    /// Bytes read and handed to the session; `more` when the read filled what it offered, so
    /// there may be more waiting; `batch` when the reader task should read the next batch
    /// after [`BATCH_WAIT`] instead of waiting for the poller.
    Handled { more: bool, batch: bool },
    /// The connection ended (or was superseded): stop reading, except to drain.
    Done,
}

/// How much a read takes at most: plain TCP reads through the per-thread scratch buffer.
const READ_CHUNK: usize = crate::tcp::SCRATCH;
/// Direct reads per `read_now` at most: the reader task takes a longer backlog.
const DIRECT_READS: usize = 4;

impl Source for Shared {
    fn read_now(&self) -> bool {
        Shared::read_now(self)
    }
}

/// Reads once from `tcp`, without waiting, and hands the bytes to the session.
///
/// [`Mode::Direct`]: a Python thread reads, past tokio's readiness (the lane's poller has just
/// seen the socket readable); it then sends the session's answers (PUBACK) itself when it can,
/// and wakes only other waiters: it drains the events itself next.
///
/// Batched reads: one wake-up per arrival, of the reader task and then of the lane, cost
/// several times the Python work of a small message (the broker writes each message on its
/// own, so a flood arrives a few messages per wake-up). When a stream of reads comes in
/// ([`STREAM_READS`] within [`STREAM_GAP`] of each other) with nothing to answer (QoS 0, no
/// message of ours in flight), the reader task leaves every poller and reads once per
/// [`BATCH_WAIT`] instead, handing dozens of messages over per wake-up, until a batch comes
/// back small, empty or with something to answer. A message in such a stream waits up to
/// about a millisecond and a half more; a lone message or a request-response exchange never
/// streams, and a QoS 1 or 2 flood (whose PUBACKs the broker's window waits for) never batches.
fn read_step(shared: &Shared, generation: u64, tcp: &TcpRead, mode: Mode) -> Step {
    let mut st = if mode == Mode::Direct {
        match tcp.state.try_lock() {
            Ok(st) => st,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            // The reader task is reading: it hands the bytes over itself.
            Err(std::sync::TryLockError::WouldBlock) => return Step::Empty,
        }
    } else {
        tcp.state.lock().unwrap_or_else(PoisonError::into_inner)
    };
    if st.done {
        return Step::Done;
    }
    let n = match tcp.sock.read_into(&mut st.buf) {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
            if mode == Mode::Batch {
                st.flow.end_batch();
                let mut g = shared.lock();
                if g.generation == generation {
                    g.set_watched(shared, true);
                }
            }
            return Step::Empty;
        }
        Ok(0) => {
            st.done = true;
            drop(st);
            lost(shared, generation, None);
            return Step::Done;
        }
        Err(e) => {
            st.done = true;
            drop(st);
            lost(shared, generation, Some(&e));
            return Step::Done;
        }
        Ok(n) => n,
    };
    let full = n == READ_CHUNK;
    quick_ack(&tcp.sock.socket());
    let now = Instant::now();
    let mut g = shared.lock();
    let current = g.generation == generation;
    let Some(session) = g.session.as_mut().filter(|_| current) else {
        st.done = true;
        return Step::Done;
    };
    let packets = session.handle_bytes(&mut st.buf, now);
    let (open, wants_write) = (session.is_open(), session.wants_write());
    let mut events = session.has_events();
    let quiet = open && !wants_write && !full && session.inflight() == 0;
    let (batch, watch) = st.flow.after_read(mode, now, n, packets, quiet);
    if !open {
        st.done = true;
    }
    drop(st);
    if let Some(watch) = watch {
        g.set_watched(shared, watch);
    }
    if mode == Mode::Direct && open && wants_write {
        events |= g.send_now();
    } else if wants_write || !open {
        g.wake_writer();
    }
    drop(g);
    if mode == Mode::Direct {
        shared.notify();
    } else {
        shared.notify_changed(events);
    }
    if open {
        Step::Handled { more: full, batch }
    } else {
        Step::Done
    }
}

/// Asks the kernel to acknowledge what came in at once rather than after its delayed-ACK timer
/// (up to 40 ms). A broker with Nagle's algorithm on (mosquitto's default: `set_tcp_nodelay
/// false`) holds its next small packet until the previous one is acknowledged: a PUBCOMP
/// followed by the next PUBLISH then waits for the timer, and a QoS 2 round trip took 44 ms
/// instead of a fraction of one. Linux leaves quick-ack mode on its own, so it is asked again
/// after every read (one setsockopt per read, not per message).
fn quick_ack(socket: &socket2::Socket) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let _ = socket.set_tcp_quickack(true);
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = socket;
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
        if let Some((lane, key)) = self.attached_lane() {
            lane.push(key);
        }
    }

    /// The lane this client reports to, and its key there. The lane lock is taken after
    /// `inner`, never before it.
    fn attached_lane(&self) -> Option<(Arc<Lane>, u64)> {
        self.lane
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
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

    /// Reports this client's events to `lane` under `key` from now on (`None`: to nobody), and
    /// moves the plain TCP socket, if any, into that lane's poller.
    pub fn set_lane(self: &Arc<Self>, lane: Option<(Arc<Lane>, u64)>) {
        let old = std::mem::replace(
            &mut *self.lane.lock().unwrap_or_else(PoisonError::into_inner),
            lane.clone(),
        );
        // Under `inner`: the link (and so the socket) cannot go away meanwhile.
        let mut g = self.lock();
        if let Some((old, key)) = old {
            g.unwatch(&old, key);
        }
        if let Some((lane, key)) = lane {
            g.watch(&lane, key, self);
        }
    }

    /// Reads what the plain TCP socket holds now, without waiting, and hands it to the session
    /// (a lane thread woken by the socket). Nothing for other transports, or when the reader
    /// task is reading this very moment (it then hands over the bytes itself). Returns whether
    /// the client has events for Python now.
    pub fn read_now(&self) -> bool {
        let (tcp, generation) = {
            let g = self.lock();
            if g.has_events() {
                // The reader task is ahead (messages streaming in): let it read while the lane
                // runs the callbacks of what it has already handled.
                return true;
            }
            match &g.link {
                Some(Link {
                    read: Some(tcp), ..
                }) => (Arc::clone(tcp), g.generation),
                _ => return false,
            }
        };
        for _ in 0..DIRECT_READS {
            if !matches!(
                read_step(self, generation, &tcp, Mode::Direct),
                Step::Handled { more: true, .. }
            ) {
                break;
            }
        }
        self.lock().has_events()
    }

    /// Gets what the session queued onto the wire ([`Inner::send_now`]) and tells whoever
    /// waits, after releasing `g`.
    pub fn send_queued(&self, mut g: MutexGuard<'_, Inner>) {
        let events = g.send_now();
        drop(g);
        self.notify_changed(events);
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

    /// The current link, when it is plain TCP, with its socket's descriptor (open as long as
    /// the link is: it holds the socket).
    #[cfg(unix)]
    fn tcp_link(&mut self) -> Option<(&mut Link, std::os::fd::RawFd)> {
        use std::os::fd::AsRawFd;
        let link = self.link.as_mut()?;
        let fd = link.read.as_ref()?.sock.as_raw_fd();
        Some((link, fd))
    }

    /// Puts the current plain TCP socket into `lane`'s poller, reporting `key` and reading
    /// through `shared` (this client's).
    fn watch(&mut self, lane: &Lane, key: u64, shared: &Arc<Shared>) {
        #[cfg(unix)]
        if let Some((link, fd)) = self.tcp_link() {
            link.paused = false;
            let source: std::sync::Weak<dyn Source> = Arc::downgrade(shared) as _;
            // Already there (attached twice): nothing to do. Any other failure leaves the
            // reader task to do all the reading, as for TLS.
            let _ = lane.register(fd, key, source);
        }
        #[cfg(not(unix))]
        let _ = (lane, key, shared);
    }

    /// Puts the current plain TCP socket back into its lane's poller, or takes it out for a
    /// while (messages streaming in), when it is not there already.
    fn set_watched(&mut self, shared: &Shared, watched: bool) {
        #[cfg(unix)]
        if let Some((link, fd)) = self.tcp_link().filter(|(l, _)| l.paused == watched) {
            if let Some((lane, key)) = shared.attached_lane() {
                link.paused = !watched;
                let _ = if watched {
                    lane.resume(fd, key)
                } else {
                    lane.pause(fd)
                };
            }
        }
        #[cfg(not(unix))]
        let _ = (shared, watched);
    }

    /// Takes the current plain TCP socket out of `lane`'s poller.
    fn unwatch(&mut self, lane: &Lane, key: u64) {
        #[cfg(unix)]
        if let Some((_, fd)) = self.tcp_link() {
            let _ = lane.deregister(fd, key);
        }
        #[cfg(not(unix))]
        let _ = (lane, key);
    }

    /// Tells the current writer there is something to send.
    pub fn wake_writer(&self) {
        if let Some(link) = &self.link {
            link.wake.notify_one();
        }
    }

    /// Gets what the session has queued onto the wire. Over plain TCP, with the writer idle and
    /// no burst under way, the bytes are written here, on the calling thread: no task wake-up
    /// between a lone `publish()` and the socket. Whatever the socket does not take at once
    /// (a full send buffer, an error) goes to the writer, which sends it first and reports an
    /// error as a lost connection. Otherwise the writer is woken, as [`Inner::wake_writer`].
    ///
    /// Returns whether the session has events now (a QoS 0 `on_publish`): the caller then
    /// calls [`Shared::notify_changed`] after releasing the lock; waiters of `flush()` or
    /// `wait_published()` need the same call in any case.
    pub fn send_now(&mut self) -> bool {
        let now = Instant::now();
        let burst = self
            .last_send_now
            .is_some_and(|last| now.saturating_duration_since(last) < BURST_GAP);
        self.last_send_now = Some(now);
        let direct = match &self.link {
            Some(Link {
                direct: Some(direct),
                ..
            }) if self.idle && !burst => Arc::clone(direct),
            _ => {
                self.wake_writer();
                return false;
            }
        };
        let Some(session) = self.session.as_mut().filter(|s| s.is_open()) else {
            self.wake_writer();
            return false;
        };
        let mut buf = std::mem::take(&mut self.pending);
        session.poll_transmit(&mut buf, now);
        let events = session.has_events();
        let mut written = 0;
        while written < buf.len() {
            match direct.write(&buf[written..]) {
                Ok(0) | Err(_) => break,
                Ok(n) => written += n,
            }
        }
        if written < buf.len() {
            let _ = buf.split_to(written);
            self.pending = buf;
            self.idle = false;
            self.wake_writer();
        } else {
            buf.clear();
            self.pending = buf;
        }
        events
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
    stream: Stream,
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
    outcome: Result<Stream, TransportError>,
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
    stream: Stream,
    handle: &Handle,
) -> std::sync::mpsc::Receiver<()> {
    let wake = Arc::new(Notify::new());
    let (first_tx, first_rx) = std::sync::mpsc::channel();
    g.close_link();
    let generation = g.generation;
    if let Some(session) = &mut g.session {
        session.on_connected(Instant::now());
    }
    g.idle = false;
    g.pending.clear();
    let (reader, write_side, direct, read) = match stream {
        Stream::Tcp(sock) => {
            let rd = Arc::new(TcpRead {
                sock: Arc::clone(&sock),
                state: Mutex::new(ReadBuf {
                    buf: BytesMut::new(),
                    done: false,
                    flow: Flow::default(),
                }),
            });
            let task = tcp_reader(Arc::clone(shared), generation, Arc::clone(&rd));
            let reader = handle.spawn(task);
            (
                reader,
                WriteSide::Tcp(Arc::clone(&sock)),
                Some(sock),
                Some(rd),
            )
        }
        Stream::Boxed(boxed, socket) => {
            let (rd, wr) = tokio::io::split(boxed);
            let task = reader(
                Arc::clone(shared),
                generation,
                rd,
                socket,
                Arc::clone(&wake),
            );
            (handle.spawn(task), WriteSide::Split(wr), None, None)
        }
    };
    let reader_abort = reader.abort_handle();
    let first_now = first_tx.clone();
    let writer = handle.spawn(writer(
        Arc::clone(shared),
        generation,
        write_side,
        Arc::clone(&wake),
        reader,
        first_tx,
    ));
    g.link = Some(Link {
        wake,
        reader: reader_abort,
        writer: writer.abort_handle(),
        direct,
        read,
        paused: false,
    });
    if let Some((lane, key)) = shared.attached_lane() {
        g.watch(&lane, key, shared);
    }
    if g.link.as_ref().is_some_and(|link| link.direct.is_some()) {
        // Plain TCP: the CONNECT goes out from this thread now, as a lone publish() would, so
        // connect() returns without waiting for the writer task to be scheduled (two thread
        // hand-offs per client: a thousand clients connected in a loop each waited for them).
        // What the socket does not take is left to the writer, which then reports the write.
        g.idle = true;
        g.last_send_now = None;
        g.send_now();
        if g.idle {
            let _ = first_now.send(());
        }
    }
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

/// The read side of a transport other than plain TCP.
type ReadSide = tokio::io::ReadHalf<BoxedStream>;

/// The reader task of plain TCP: waits for the socket to be readable and reads, as
/// [`read_step`] does for Python threads, or reads in batches while small messages stream in;
/// after the end, drains.
async fn tcp_reader(shared: Arc<Shared>, generation: u64, tcp: Arc<TcpRead>) {
    let failed = |e: std::io::Error| {
        tcp.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .done = true;
        lost(&shared, generation, Some(&e));
    };
    'connection: loop {
        let registered = match tcp.sock.register() {
            Ok(registered) => registered,
            Err(e) => return failed(e),
        };
        loop {
            let mut ready = match registered.readable().await {
                Ok(ready) => ready,
                Err(e) => return failed(e),
            };
            match read_step(&shared, generation, &tcp, Mode::Task) {
                Step::Done => break 'connection,
                Step::Handled { batch: true, .. } => break,
                // A short read emptied the socket: the next arrival is a new edge.
                Step::Empty | Step::Handled { more: false, .. } => ready.clear(),
                Step::Handled { more: true, .. } => {}
            }
        }
        // Out of the poller (unless the writer waits on it) until the stream ends.
        drop(registered);
        loop {
            tokio::time::sleep(BATCH_WAIT).await;
            match read_step(&shared, generation, &tcp, Mode::Batch) {
                Step::Done => break 'connection,
                Step::Handled { batch: true, .. } => {}
                Step::Empty | Step::Handled { .. } => break,
            }
        }
    }
    let Ok(registered) = tcp.sock.register() else {
        return;
    };
    loop {
        let Ok(mut ready) = registered.readable().await else {
            return;
        };
        let mut st = tcp.state.lock().unwrap_or_else(PoisonError::into_inner);
        st.buf.clear();
        match tcp.sock.read_into(&mut st.buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => ready.clear(),
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// The write side of a transport.
enum WriteSide {
    /// Written by the writer task only.
    Split(WriteHalf<BoxedStream>),
    /// Plain TCP, shared with [`Link::direct`]: a thread holding the mutex may write while the
    /// writer is idle, so the writer only ever writes what it took under the mutex.
    Tcp(Arc<TcpSock>),
}

impl WriteSide {
    async fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            Self::Split(wr) => {
                wr.write_all(buf).await?;
                wr.flush().await
            }
            Self::Tcp(sock) => {
                // Into the poller only if the socket's buffer fills.
                let mut registered = None;
                let mut written = 0;
                while written < buf.len() {
                    match sock.write(&buf[written..]) {
                        Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                        Ok(n) => written += n,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            let registered = match &mut registered {
                                Some(registered) => registered,
                                slot @ None => slot.insert(sock.register()?),
                            };
                            registered.writable().await?.clear();
                        }
                        Err(e) => return Err(e),
                    }
                }
                Ok(())
            }
        }
    }

    /// Half-closes the transport (FIN after everything written). `link.direct` is dropped
    /// under the mutex first, so no thread writes after the FIN.
    async fn shutdown(self) {
        match self {
            Self::Split(mut wr) => {
                let _ = wr.shutdown().await;
            }
            Self::Tcp(sock) => sock.shutdown_write(),
        }
    }
}

/// The reader task of every transport but plain TCP. `socket`, the TCP socket under TLS or
/// WebSocket, is there for [`quick_ack`] and is dropped with the task.
///
/// It batches small QoS 0 floods as [`read_step`] does: between batches it sleeps, and a batch
/// takes what arrived without waiting (one poll with a no-op waker). Under TLS the TCP stream
/// ([`crate::tcp::TcpIo`]) then leaves the runtime's poller as plain TCP does; under WebSocket
/// (whose layer wraps the waker) it stays there, and only the runtime's poller thread wakes
/// per arrival.
async fn reader(
    shared: Arc<Shared>,
    generation: u64,
    mut rd: ReadSide,
    socket: Option<TcpHandle>,
    wake: Arc<Notify>,
) {
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let mut flow = Flow::default();
    loop {
        let mode = if flow.batching {
            Mode::Batch
        } else {
            Mode::Task
        };
        let (n, end) = if mode == Mode::Batch {
            tokio::time::sleep(BATCH_WAIT).await;
            read_ready(&mut rd, &mut buf)
        } else {
            reserve_read(&mut buf);
            match rd.read_buf(&mut buf).await {
                Ok(0) => (0, Some(Ok(()))),
                Ok(n) => (n, None),
                Err(e) => (0, Some(Err(e))),
            }
        };
        if n == 0 && end.is_none() {
            // Nothing came during the wait: the stream stopped.
            flow.end_batch();
            continue;
        }
        if n > 0 {
            if let Some(socket) = &socket {
                quick_ack(&socket.socket());
            }
            let now = Instant::now();
            let Some((packets, open, wants_write, events, inflight)) = ({
                let mut g = shared.lock();
                let current = g.generation == generation;
                match &mut g.session {
                    Some(session) if current => {
                        let packets = session.handle_bytes(&mut buf, now);
                        Some((
                            packets,
                            session.is_open(),
                            session.wants_write(),
                            session.has_events(),
                            session.inflight(),
                        ))
                    }
                    _ => None,
                }
            }) else {
                return;
            };
            let quiet = open && !wants_write && inflight == 0 && n < READ_CHUNK / 4;
            flow.after_read(mode, now, n, packets, quiet);
            if wants_write || !open {
                wake.notify_one();
            }
            shared.notify_changed(events);
            if !open {
                return drain(rd, buf).await;
            }
        }
        if let Some(end) = end {
            return lost(&shared, generation, end.err().as_ref());
        }
    }
}

/// Room for the next read of the boxed reader.
fn reserve_read(buf: &mut BytesMut) {
    if buf.capacity() - buf.len() < READ_CHUNK / 4 {
        buf.reserve(READ_CHUNK);
    }
}

/// What `rd` holds now (up to about [`READ_CHUNK`]), read without waiting: the number of bytes
/// and, when the stream ended, how (`Ok`: EOF).
fn read_ready(rd: &mut ReadSide, buf: &mut BytesMut) -> (usize, Option<std::io::Result<()>>) {
    let mut n = 0;
    while n < READ_CHUNK {
        reserve_read(buf);
        match poll_once(rd.read_buf(buf)) {
            None => break,
            Some(Ok(0)) => return (n, Some(Ok(()))),
            Some(Ok(k)) => n += k,
            Some(Err(e)) => return (n, Some(Err(e))),
        }
    }
    (n, None)
}

/// Polls `future` once: its output if it is ready now. (A read that is not ready leaves a
/// no-op waker behind; the next real wait replaces it, and readiness is kept meanwhile.)
fn poll_once<F: std::future::Future>(future: F) -> Option<F::Output> {
    let future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.poll(&mut cx) {
        std::task::Poll::Ready(output) => Some(output),
        std::task::Poll::Pending => None,
    }
}

/// After the session ended the connection, reads and discards until the broker closes its side.
/// Closing a socket with unread data in it (the broker's PUBACKs, say) makes the kernel send a
/// reset, and a reset makes the broker's kernel throw away what it had received but not yet
/// read: the last PUBLISHes and the DISCONNECT. Draining first lets them all be handled.
async fn drain(mut rd: ReadSide, mut buf: BytesMut) {
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
    mut wr: WriteSide,
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
            // A direct write's leftover goes first.
            buf.extend_from_slice(&g.pending);
            g.pending.clear();
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
            let result = wr.write_all(&buf).await;
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
            {
                let mut g = shared.lock();
                if g.generation == generation {
                    if let Some(link) = &mut g.link {
                        link.direct = None;
                    }
                }
            }
            wr.shutdown().await;
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

/// The direct paths, on a current-thread runtime driven only when a test says so: whatever
/// reaches the peer (or the session) between two drives was done by the test's own thread.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{FullEvent, QoS};
    use bytes::Bytes;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use tokio::runtime::Runtime;

    const LIMIT: Duration = Duration::from_secs(5);

    /// Reads one MQTT packet (fixed header, remaining length, body) from the fake broker.
    fn read_packet(peer: &mut TcpStream) -> Vec<u8> {
        let mut packet = vec![0u8; 2];
        peer.read_exact(&mut packet)
            .expect("a packet's first bytes");
        let (mut len, mut shift) = (usize::from(packet[1] & 0x7f), 7);
        while packet[packet.len() - 1] & 0x80 != 0 {
            let mut byte = [0u8; 1];
            peer.read_exact(&mut byte).expect("a length byte");
            packet.push(byte[0]);
            len |= usize::from(byte[0] & 0x7f) << shift;
            shift += 7;
        }
        let head = packet.len();
        packet.resize(head + len, 0);
        peer.read_exact(&mut packet[head..])
            .expect("a packet's body");
        packet
    }

    /// Drives `rt` until `done` holds for the client (bounded).
    fn drive_until(rt: &Runtime, shared: &Shared, done: impl Fn(&Inner) -> bool) {
        rt.block_on(async {
            let start = Instant::now();
            while !done(&shared.lock()) {
                assert!(start.elapsed() < LIMIT, "the runtime never got there");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        });
    }

    /// A client connected over loopback TCP to a fake broker (the returned socket), its writer
    /// idle, its runtime not running.
    fn connected() -> (Runtime, Arc<Shared>, TcpStream) {
        connected_over(|tcp| Stream::Tcp(TcpSock::new(tcp).expect("out of tokio's poller")))
    }

    /// [`connected`] over the transport `wrap` makes of the TCP stream.
    fn connected_over(
        wrap: impl FnOnce(tokio::net::TcpStream) -> Stream,
    ) -> (Runtime, Arc<Shared>, TcpStream) {
        let (rt, shared, stream, mut peer) = unstarted();
        drop(start(&shared, wrap(stream), rt.handle()));
        drive_until(&rt, &shared, |g| g.idle);
        assert_eq!(read_packet(&mut peer)[0], 0x10, "CONNECT");
        peer.write_all(&[0x20, 0x02, 0x00, 0x00]).expect("CONNACK");
        drive_until(&rt, &shared, |g| {
            g.idle && g.session.as_ref().is_some_and(Session::is_connected)
        });
        // Python would have taken the CONNACK's event by now.
        if let Some(session) = shared.lock().session.as_mut() {
            session.drain_full_events().for_each(drop);
        }
        (rt, shared, peer)
    }

    /// A runtime (not running), a client with its session made, its TCP stream to a fake
    /// broker, and the broker's end; nothing started yet.
    fn unstarted() -> (Runtime, Arc<Shared>, tokio::net::TcpStream, TcpStream) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let addr = listener.local_addr().expect("its address");
        let stream = rt
            .block_on(tokio::net::TcpStream::connect(addr))
            .expect("connected");
        let (peer, _) = listener.accept().expect("accepted");
        peer.set_read_timeout(Some(LIMIT)).expect("a timeout");
        let shared = Arc::new(Shared::default());
        let opts = SessionOptions {
            client_id: b"direct".to_vec(),
            ..SessionOptions::default()
        };
        shared.lock().prepare_session(opts).expect("a session");
        (rt, shared, stream, peer)
    }

    fn publish(shared: &Shared, topic: &str, payload: Bytes, qos: QoS) -> bool {
        let mut g = shared.lock();
        let session = g.session.as_mut().expect("a session");
        session
            .publish(topic.to_owned(), payload, qos, false)
            .expect("accepted");
        g.send_now()
    }

    /// Over plain TCP `start` writes the CONNECT itself and reports it written, the runtime
    /// not running.
    #[test]
    fn start_writes_the_connect_on_the_calling_thread() {
        let (rt, shared, stream, mut peer) = unstarted();
        let sock = TcpSock::new(stream).expect("out of tokio's poller");
        let written = start(&shared, Stream::Tcp(sock), rt.handle());
        assert_eq!(written.try_recv(), Ok(()), "CONNECT not reported written");
        assert_eq!(read_packet(&mut peer)[0], 0x10, "CONNECT");
        assert!(shared.lock().idle);
    }

    /// A lone publish reaches the socket from the publishing thread, the runtime not running;
    /// one inside a burst waits for the writer.
    #[test]
    fn a_lone_publish_is_written_by_the_calling_thread() {
        let (rt, shared, mut peer) = connected();
        publish(&shared, "a/b", Bytes::from_static(b"one"), QoS::AtMostOnce);
        assert_eq!(read_packet(&mut peer), b"\x30\x08\x00\x03a/bone");
        // Part of a burst (the last request "just now"): left to the writer.
        shared.lock().last_send_now = Some(Instant::now() + Duration::from_secs(60));
        publish(&shared, "a/b", Bytes::from_static(b"two"), QoS::AtMostOnce);
        peer.set_nonblocking(true).expect("non-blocking");
        let mut byte = [0u8; 1];
        let early = peer.read(&mut byte);
        assert!(
            matches!(&early, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "written before the writer ran: {early:?}"
        );
        peer.set_nonblocking(false).expect("blocking");
        drive_until(&rt, &shared, |g| {
            g.idle && !g.session.as_ref().is_some_and(Session::wants_write)
        });
        assert_eq!(read_packet(&mut peer), b"\x30\x08\x00\x03a/btwo");
    }

    /// What a direct write cannot hand to the socket at once is sent by the writer before any
    /// later packet, and no later publish writes past it.
    #[test]
    fn a_partial_direct_write_is_finished_by_the_writer_in_order() {
        let (rt, shared, mut peer) = connected();
        let big = Bytes::from(vec![0x5a_u8; 32 << 20]);
        publish(&shared, "big", big.clone(), QoS::AtMostOnce);
        assert!(!shared.lock().idle, "32 MiB fit in the socket at once?");
        shared.lock().last_send_now = None;
        publish(&shared, "next", Bytes::from_static(b"!"), QoS::AtMostOnce);
        let reader = std::thread::spawn(move || {
            let first = read_packet(&mut peer);
            let second = read_packet(&mut peer);
            (first, second)
        });
        drive_until(&rt, &shared, |g| g.idle);
        let (first, second) = reader.join().expect("the reader thread");
        // Type byte, 4 length bytes, topic length and "big", payload.
        assert_eq!(first.len(), 1 + 4 + 2 + 3 + big.len());
        assert!(
            first[10..].iter().all(|&b| b == 0x5a),
            "the payload arrived whole"
        );
        assert_eq!(second, b"\x30\x07\x00\x04next!");
    }

    /// `read_now` reads and handles what the socket holds with the runtime not running, and
    /// answers a QoS 1 message with its PUBACK from the same thread.
    #[test]
    fn read_now_handles_a_message_without_the_runtime() {
        let (_rt, shared, mut peer) = connected();
        // PUBLISH QoS 1, topic "t", packet id 7, payload "hi".
        peer.write_all(b"\x32\x07\x00\x01t\x00\x07hi")
            .expect("PUBLISH");
        let start = Instant::now();
        let message = loop {
            shared.read_now();
            let mut g = shared.lock();
            let session = g.session.as_mut().expect("a session");
            let found = session.drain_full_events().find_map(|e| match e {
                FullEvent::Message(m) => Some(m),
                _ => None,
            });
            drop(g);
            if let Some(message) = found {
                break message;
            }
            assert!(start.elapsed() < LIMIT, "never read");
            std::thread::sleep(Duration::from_millis(1));
        };
        assert_eq!(
            (&message.topic[..], &message.payload[..]),
            (&b"t"[..], &b"hi"[..])
        );
        assert_eq!(read_packet(&mut peer), b"\x40\x02\x00\x07", "PUBACK");
    }

    /// A lane with the client attached wakes for the socket itself and reads it, with the
    /// runtime not running, and stops after the client is detached.
    #[test]
    fn a_lane_wakes_for_its_clients_socket() {
        let (_rt, shared, mut peer) = connected();
        let lane = Arc::new(Lane::new().expect("a poller"));
        shared.set_lane(Some((Arc::clone(&lane), 41)));
        let _ = lane.wait_slice(Instant::now(), Duration::ZERO);
        peer.write_all(b"\x30\x05\x00\x01tab").expect("PUBLISH");
        let deadline = Instant::now() + LIMIT;
        assert_eq!(
            lane.wait_slice(deadline, LIMIT),
            crate::dispatch::Wait::Done(vec![41])
        );
        assert_eq!(
            take_payloads(&shared),
            vec![Bytes::from_static(b"ab")],
            "read by the lane"
        );
        shared.set_lane(None);
        peer.write_all(b"\x30\x05\x00\x01tcd").expect("PUBLISH");
        let soon = Instant::now() + Duration::from_millis(200);
        assert_eq!(
            lane.wait_slice(soon, LIMIT),
            crate::dispatch::Wait::Done(vec![])
        );
    }

    /// Reads that stream in take the socket out of the lane's poller (the reader task reads
    /// alone); a read after a quiet spell puts it back.
    #[test]
    fn streaming_reads_pause_the_lane_and_a_quiet_spell_resumes_it() {
        let (_rt, shared, peer) = connected();
        let lane = Arc::new(Lane::new().expect("a poller"));
        shared.set_lane(Some((Arc::clone(&lane), 5)));
        let tcp = tcp_read(&shared);
        let read_one = |payload: &[u8], last_read: Instant| {
            {
                let mut st = tcp.state.lock().expect("the read state");
                st.flow.last_read = Some(last_read);
            }
            let len = u8::try_from(3 + payload.len()).expect("a short packet");
            let mut packet = vec![0x30, len, 0, 1, b't'];
            packet.extend_from_slice(payload);
            (&peer).write_all(&packet).expect("PUBLISH");
            let start = Instant::now();
            while !shared.lock().has_events() {
                assert!(start.elapsed() < LIMIT, "never read");
                shared.read_now();
            }
            if let Some(session) = shared.lock().session.as_mut() {
                session.drain_full_events().for_each(drop);
            }
        };
        let paused = || shared.lock().link.as_ref().is_some_and(|l| l.paused);
        // "Just now" (in the future, even): every read counts as streaming.
        for _ in 0..STREAM_READS {
            assert!(!paused());
            read_one(b"s", Instant::now() + Duration::from_secs(60));
        }
        assert!(paused(), "still in the poller after a stream of reads");
        (&peer).write_all(b"\x30\x04\x00\x01tq").expect("PUBLISH");
        let soon = Instant::now() + Duration::from_millis(200);
        assert_eq!(
            lane.wait_slice(soon, LIMIT),
            crate::dispatch::Wait::Done(vec![]),
            "the lane woke for a paused socket"
        );
        shared.read_now();
        let earlier = Instant::now();
        std::thread::sleep(QUIET_GAP * 3);
        read_one(b"q", earlier);
        assert!(!paused(), "a read after a quiet spell did not resume");
        (&peer).write_all(b"\x30\x04\x00\x01tr").expect("PUBLISH");
        let deadline = Instant::now() + LIMIT;
        assert_eq!(
            lane.wait_slice(deadline, LIMIT),
            crate::dispatch::Wait::Done(vec![5])
        );
    }

    /// The read side of the client's plain TCP link.
    fn tcp_read(shared: &Shared) -> Arc<TcpRead> {
        let g = shared.lock();
        let read = g.link.as_ref().and_then(|l| l.read.as_ref());
        Arc::clone(read.expect("plain TCP"))
    }

    /// The payloads of the messages the session has for Python, taken.
    fn take_payloads(shared: &Shared) -> Vec<Bytes> {
        let mut g = shared.lock();
        let session = g.session.as_mut().expect("a session");
        session
            .drain_full_events()
            .filter_map(|e| match e {
                FullEvent::Message(m) => Some(m.payload),
                _ => None,
            })
            .collect()
    }

    /// A QoS 0 PUBLISH to topic "t" carrying `payload`.
    fn qos0(payload: &[u8]) -> Vec<u8> {
        let len = u8::try_from(3 + payload.len()).expect("a short packet");
        let mut packet = vec![0x30, len, 0, 1, b't'];
        packet.extend_from_slice(payload);
        packet
    }

    /// Waits (bounded) until the socket under `tcp` has bytes to read.
    fn wait_readable(tcp: &TcpRead) {
        let start = Instant::now();
        let mut byte = [std::mem::MaybeUninit::<u8>::uninit(); 1];
        while tcp.sock.socket().peek(&mut byte).is_err() {
            assert!(start.elapsed() < LIMIT, "nothing arrived");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Reads far apart are a stream when each finds several packets piled up; lone packets far
    /// apart are not.
    #[test]
    fn reads_that_find_packets_piled_up_are_a_stream() {
        let mut flow = Flow::default();
        let mut now = Instant::now();
        for _ in 0..STREAM_READS * 2 {
            now += QUIET_GAP;
            assert!(!flow.after_read(Mode::Task, now, 20, 1, true).0);
        }
        assert_eq!(flow.streak, 0);
        let mut last = (false, None);
        for _ in 0..STREAM_READS {
            now += QUIET_GAP;
            last = flow.after_read(Mode::Task, now, 80, STREAM_PACKETS, true);
        }
        assert_eq!(
            last,
            (true, Some(false)),
            "batching, out of the lane's poller"
        );
    }

    /// The batching rules, step by step on a runtime that never runs: a stream of small QoS 0
    /// reads switches the reader to batches (out of the lane's poller), and a small batch, an
    /// empty one, one with something to answer, or a message of ours in flight ends it.
    #[test]
    fn small_qos0_streams_are_read_in_batches_until_they_thin_out() {
        let (_rt, shared, peer) = connected();
        let lane = Arc::new(Lane::new().expect("a poller"));
        shared.set_lane(Some((Arc::clone(&lane), 9)));
        let tcp = tcp_read(&shared);
        let paused = || shared.lock().link.as_ref().is_some_and(|l| l.paused);
        let batching = || tcp.state.lock().expect("the read state").flow.batching;
        let step = |bytes: &[u8], mode: Mode| {
            (&peer).write_all(bytes).expect("PUBLISH");
            wait_readable(&tcp);
            read_step(&shared, 1, &tcp, mode)
        };
        // A stream of reads: the next one (QoS 0, nothing of ours in flight) starts batching.
        let streaming = || {
            let mut st = tcp.state.lock().expect("the read state");
            st.flow.streak = STREAM_READS - 1;
            st.flow.last_read = Some(Instant::now() + Duration::from_secs(60));
        };
        let generation = shared.lock().generation;
        assert_eq!(generation, 1, "the helper's connection is the first");
        streaming();
        assert_eq!(
            step(&qos0(b"a"), Mode::Task),
            Step::Handled {
                more: false,
                batch: true
            }
        );
        assert!(batching() && paused(), "batching, out of the lane's poller");
        // A batch of 40 small messages (over BATCH_MIN bytes) keeps it up.
        let many: Vec<u8> = (0..40).flat_map(|_| qos0(b"0123456789")).collect();
        assert!(many.len() >= BATCH_MIN);
        assert_eq!(
            step(&many, Mode::Batch),
            Step::Handled {
                more: false,
                batch: true
            }
        );
        assert!(batching() && paused());
        // One message in a batch: the stream thinned out; the lane watches the socket again.
        assert_eq!(
            step(&qos0(b"b"), Mode::Batch),
            Step::Handled {
                more: false,
                batch: false
            }
        );
        assert!(!batching() && !paused());
        // A QoS 1 message has a PUBACK to send: the batch ends.
        streaming();
        assert_eq!(
            step(&qos0(b"c"), Mode::Task),
            Step::Handled {
                more: false,
                batch: true
            }
        );
        let mut qos1: Vec<u8> = many.clone();
        qos1.extend_from_slice(b"\x32\x07\x00\x01t\x00\x07hi");
        assert_eq!(
            step(&qos1, Mode::Batch),
            Step::Handled {
                more: false,
                batch: false
            }
        );
        assert!(!batching() && !paused());
        shared.lock().last_send_now = None;
        shared.send_queued(shared.lock());
        let mut wire = peer.try_clone().expect("the peer socket");
        assert_eq!(read_packet(&mut wire), b"\x40\x02\x00\x07", "PUBACK");
        // Nothing came during the wait: the stream stopped.
        streaming();
        assert_eq!(
            step(&qos0(b"d"), Mode::Task),
            Step::Handled {
                more: false,
                batch: true
            }
        );
        assert_eq!(read_step(&shared, 1, &tcp, Mode::Batch), Step::Empty);
        assert!(!batching() && !paused());
        // A message of ours in flight: its PUBACK must not wait for a batch.
        publish(&shared, "mine", Bytes::from_static(b"1"), QoS::AtLeastOnce);
        assert_eq!(
            shared.lock().session.as_ref().map(Session::inflight),
            Some(1)
        );
        streaming();
        assert_eq!(
            step(&qos0(b"e"), Mode::Task),
            Step::Handled {
                more: false,
                batch: false
            }
        );
        // Every message above reached the session once, in order.
        let payloads = take_payloads(&shared);
        let mut expected: Vec<&[u8]> = vec![b"a"];
        expected.extend([&b"0123456789"[..]; 40]);
        expected.extend([&b"b"[..], b"c"]);
        expected.extend([&b"0123456789"[..]; 40]);
        expected.extend([&b"hi"[..], b"d", b"e"]);
        assert_eq!(payloads, expected);
    }

    /// A boxed transport (as TLS or WebSocket make) over a tokio TCP stream that counts the
    /// reads that brought bytes to a poll with a no-op waker: the boxed reader's batch reads.
    struct Counted<T> {
        tcp: T,
        batch_reads: Arc<AtomicUsize>,
    }

    impl<T: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Counted<T> {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            let before = buf.filled().len();
            let polled = std::pin::Pin::new(&mut self.tcp).poll_read(cx, buf);
            if buf.filled().len() > before && cx.waker().will_wake(std::task::Waker::noop()) {
                self.batch_reads.fetch_add(1, Ordering::SeqCst);
            }
            polled
        }
    }

    impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Counted<T> {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            std::pin::Pin::new(&mut self.tcp).poll_write(cx, buf)
        }

        fn poll_flush(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::pin::Pin::new(&mut self.tcp).poll_flush(cx)
        }

        fn poll_shutdown(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::pin::Pin::new(&mut self.tcp).poll_shutdown(cx)
        }
    }

    /// On a running runtime, plain TCP: a flood of small QoS 0 messages switches the reader to
    /// batches, every message arrives once and in order, and a lone message after the flood is
    /// read too.
    #[test]
    fn a_flood_is_read_in_batches_and_a_lone_message_after_it_at_once() {
        let (rt, shared, peer) = connected();
        let tcp = tcp_read(&shared);
        let batching = || tcp.state.lock().expect("the read state").flow.batching;
        flood_then_lone_message(rt, &shared, &peer, batching);
    }

    /// The same over a boxed transport (TLS, WebSocket): its reader batches too.
    #[test]
    fn a_boxed_transport_reads_a_flood_in_batches_too() {
        boxed_flood(|tcp| Box::new(tcp));
    }

    /// The same over [`crate::tcp::TcpIo`], the TCP stream under TLS and WebSocket.
    #[cfg(unix)]
    #[test]
    fn tcp_io_under_a_boxed_transport_reads_a_flood_in_batches() {
        boxed_flood(|tcp| {
            let sock = TcpSock::new(tcp).expect("out of tokio's poller");
            Box::new(crate::tcp::TcpIo::new(sock))
        });
    }

    /// [`flood_then_lone_message`] over a boxed transport made by `wrap`, counting batch reads.
    fn boxed_flood(wrap: impl FnOnce(tokio::net::TcpStream) -> crate::transport::BoxedStream) {
        let batch_reads = Arc::new(AtomicUsize::new(0));
        let reads = Arc::clone(&batch_reads);
        let (rt, shared, peer) = connected_over(move |tcp| {
            let stream = Counted {
                tcp: wrap(tcp),
                batch_reads: reads,
            };
            Stream::Boxed(Box::new(stream), None)
        });
        let batched = || batch_reads.load(Ordering::SeqCst) > 0;
        flood_then_lone_message(rt, &shared, &peer, batched);
    }

    /// Floods `peer`'s client with 20,000 small QoS 0 messages while `rt` runs on another
    /// thread; checks that they all arrived once and in order, that `batched()` held at some
    /// point during the flood, and that a lone message after it arrives too.
    fn flood_then_lone_message(
        rt: Runtime,
        shared: &Shared,
        peer: &TcpStream,
        batched: impl Fn() -> bool,
    ) {
        const FLOOD: u32 = 20_000;
        const WINDOW: usize = 256;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let driver = std::thread::spawn(move || {
            rt.block_on(async {
                let _ = tokio::time::timeout(LIMIT * 4, stopped).await;
            });
        });
        let mut received: Vec<u32> = Vec::new();
        let take = |received: &mut Vec<u32>| {
            if let Some(session) = shared.lock().session.as_mut() {
                received.extend(session.drain_full_events().filter_map(|e| match e {
                    FullEvent::Message(m) => {
                        Some(u32::from_be_bytes(m.payload[..].try_into().ok()?))
                    }
                    _ => None,
                }));
            }
            received.len()
        };
        // Never more than WINDOW messages ahead of the reader: a slow reader (a debug build
        // on a busy machine) then still sees a stream, not one long backlog read in full
        // buffers, which is no stream of small messages. Eight messages per write: every read
        // finds STREAM_PACKETS or more waiting, so the reader sees a stream however the
        // threads are scheduled (one write per message left that to timing, and two tests at
        // once on two cores broke the streak).
        let mut seen = false;
        let mut sent: u32 = 0;
        while sent < FLOOD {
            seen |= batched();
            if sent as usize - take(&mut received) >= WINDOW {
                std::thread::yield_now();
                continue;
            }
            let end = (sent + 8).min(FLOOD);
            let chunk: Vec<u8> = (sent..end).flat_map(|i| qos0(&i.to_be_bytes())).collect();
            (&*peer).write_all(&chunk).expect("PUBLISH");
            sent = end;
        }
        let start = Instant::now();
        while take(&mut received) < FLOOD as usize {
            assert!(start.elapsed() < LIMIT, "the flood never arrived whole");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(
            received.iter().copied().eq(0..FLOOD),
            "lost, doubled or out of order"
        );
        assert!(seen, "never read in batches");
        (&*peer)
            .write_all(&qos0(&FLOOD.to_be_bytes()))
            .expect("PUBLISH");
        let start = Instant::now();
        while take(&mut received) <= FLOOD as usize {
            assert!(start.elapsed() < LIMIT, "the lone message was never read");
            std::thread::sleep(Duration::from_micros(100));
        }
        assert_eq!(received.last(), Some(&FLOOD));
        let _ = stop.send(());
        driver.join().expect("the runtime thread");
    }
}
