//! Plain TCP sockets that sit in the runtime's poller only while a task waits on them.
//!
//! tokio's `TcpStream` stays registered with the runtime's poller (edge-triggered) for its whole
//! life, and the poller's thread wakes for every segment that arrives, whether a task waits for
//! it or not. A connection receiving a stream of small messages wants the opposite: to read
//! once a millisecond or so with nothing waking in between (`connection.rs`, "batched reads").
//! A [`TcpSock`] is a non-blocking std socket that is registered (both directions, one
//! registration shared by the reader and the writer) only while some task holds a
//! [`Registered`] for it; reads and writes go straight to the socket, from any thread.
//! [`TcpIo`] is the same socket as a tokio byte stream, for TLS and WebSocket to run over.

use bytes::BytesMut;
use std::cell::Cell;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::{Context, Poll};

/// The largest read into the per-thread scratch buffer.
pub const SCRATCH: usize = 64 * 1024;

thread_local! {
    /// Initialised memory to read into, one per thread that reads (a runtime worker, a lane):
    /// safe code must hand `read` initialised bytes, and zeroing 64 KiB per read, or keeping
    /// 64 KiB zeroed per connection, both cost more than copying what was read.
    static BUF: Cell<Option<Box<[u8]>>> = const { Cell::new(None) };
}

/// A plain TCP connection's socket (non-blocking), shared by its reader, its writer and the
/// Python threads that read or write it directly.
#[derive(Debug)]
pub struct TcpSock {
    stream: std::net::TcpStream,
    /// The registration with the runtime's poller while any task holds it.
    #[cfg(unix)]
    reg: Mutex<Weak<Reg>>,
}

#[cfg(unix)]
type Reg = tokio::io::unix::AsyncFd<Arc<TcpSock>>;

#[cfg(unix)]
impl std::os::fd::AsRawFd for TcpSock {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.stream.as_raw_fd()
    }
}

impl TcpSock {
    /// Takes `stream` out of tokio's poller.
    pub fn new(stream: tokio::net::TcpStream) -> std::io::Result<Arc<Self>> {
        let stream = stream.into_std()?;
        stream.set_nonblocking(true)?;
        Ok(Arc::new(Self {
            stream,
            #[cfg(unix)]
            reg: Mutex::default(),
        }))
    }

    /// The socket, for socket options.
    pub fn socket(&self) -> socket2::SockRef<'_> {
        socket2::SockRef::from(&self.stream)
    }

    /// One non-blocking read of at most [`SCRATCH`] bytes, appended to `buf`.
    pub fn read_into(&self, buf: &mut BytesMut) -> std::io::Result<usize> {
        let mut scratch = BUF
            .take()
            .unwrap_or_else(|| vec![0u8; SCRATCH].into_boxed_slice());
        let result = self.read(&mut scratch);
        if let Ok(n) = result {
            buf.extend_from_slice(&scratch[..n]);
        }
        BUF.set(Some(scratch));
        result
    }

    /// One non-blocking read.
    pub fn read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            match (&self.stream).read(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                other => return other,
            }
        }
    }

    /// One non-blocking write.
    pub fn write(&self, buf: &[u8]) -> std::io::Result<usize> {
        loop {
            match (&self.stream).write(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                other => return other,
            }
        }
    }

    /// Sends FIN after what was written.
    pub fn shutdown_write(&self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
    }

    /// Puts the socket into the runtime's poller (if no other task has) for as long as the
    /// result lives. Call from a runtime task.
    #[cfg(unix)]
    pub fn register(self: &Arc<Self>) -> std::io::Result<Registered> {
        let mut slot = self.reg.lock().unwrap_or_else(PoisonError::into_inner);
        let reg = if let Some(reg) = slot.upgrade() {
            reg
        } else {
            use tokio::io::Interest;
            // Deprecated since tokio 1.53.3 (#8587) because nothing stops a caller from closing
            // the descriptor while it is registered; its successor is `unsafe`, which this
            // crate forbids. Here the registration owns an `Arc` of the socket, so the
            // descriptor stays open (and the same) until it is dropped: the sound use.
            #[allow(deprecated)]
            let reg = Arc::new(Reg::with_interest(
                Arc::clone(self),
                Interest::READABLE | Interest::WRITABLE,
            )?);
            *slot = Arc::downgrade(&reg);
            reg
        };
        Ok(Registered {
            sock: Arc::clone(self),
            reg: Some(reg),
        })
    }

    /// Without `AsyncFd` no socket is ever handed to a [`TcpSock`] (`transport::open` boxes
    /// plain TCP there).
    #[cfg(not(unix))]
    pub fn register(self: &Arc<Self>) -> std::io::Result<Registered> {
        Err(std::io::ErrorKind::Unsupported.into())
    }

    /// Back into a tokio stream (for [`crate::transport::connect`]'s boxed stream); fails if
    /// another handle on the socket is still alive.
    pub fn into_tokio(self: Arc<Self>) -> std::io::Result<tokio::net::TcpStream> {
        let sock = Arc::try_unwrap(self)
            .map_err(|_| std::io::Error::other("the TCP socket is still in use"))?;
        tokio::net::TcpStream::from_std(sock.stream)
    }
}

/// A task's hold on its socket's registration: the socket leaves the poller when the last
/// holder drops it.
#[derive(Debug)]
pub struct Registered {
    #[cfg(unix)]
    sock: Arc<TcpSock>,
    #[cfg(unix)]
    reg: Option<Arc<Reg>>,
}

impl Registered {
    /// Waits until the socket may be readable; [`Ready::clear`] when a read finds nothing.
    pub async fn readable(&self) -> std::io::Result<Ready<'_>> {
        std::future::poll_fn(|cx| self.poll_read_ready(cx)).await
    }

    /// Waits until the socket may be writable; [`Ready::clear`] when a write would block.
    pub async fn writable(&self) -> std::io::Result<Ready<'_>> {
        std::future::poll_fn(|cx| self.poll_write_ready(cx)).await
    }

    /// [`Registered::readable`] for a hand-written future.
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<std::io::Result<Ready<'_>>> {
        #[cfg(unix)]
        return match &self.reg {
            Some(reg) => reg.poll_read_ready(cx).map_ok(|guard| Ready { guard }),
            None => Poll::Ready(Err(std::io::ErrorKind::NotConnected.into())),
        };
        #[cfg(not(unix))]
        {
            let _ = cx;
            Poll::Ready(Err(std::io::ErrorKind::Unsupported.into()))
        }
    }

    /// [`Registered::writable`] for a hand-written future.
    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<std::io::Result<Ready<'_>>> {
        #[cfg(unix)]
        return match &self.reg {
            Some(reg) => reg.poll_write_ready(cx).map_ok(|guard| Ready { guard }),
            None => Poll::Ready(Err(std::io::ErrorKind::NotConnected.into())),
        };
        #[cfg(not(unix))]
        {
            let _ = cx;
            Poll::Ready(Err(std::io::ErrorKind::Unsupported.into()))
        }
    }
}

/// Readiness the poller reported, until [`Ready::clear`] says it is used up.
pub struct Ready<'a> {
    #[cfg(unix)]
    guard: tokio::io::unix::AsyncFdReadyGuard<'a, Arc<TcpSock>>,
    #[cfg(not(unix))]
    _never: std::marker::PhantomData<&'a ()>,
}

impl Ready<'_> {
    /// The socket would block: the next wait sleeps until the poller reports it again.
    pub fn clear(&mut self) {
        #[cfg(unix)]
        self.guard.clear_ready();
    }
}

#[cfg(unix)]
impl Drop for Registered {
    fn drop(&mut self) {
        // The last holder deregisters under the lock, so a task registering again meanwhile
        // cannot find the descriptor still in the poller (and fail with "already there").
        let _slot = self.sock.reg.lock().unwrap_or_else(PoisonError::into_inner);
        self.reg = None;
    }
}

/// Plain TCP as a tokio byte stream for the layers above it (TLS, WebSocket), in the runtime's
/// poller only while a read or a write waits. A read polled with a no-op waker (the boxed
/// reader's batch reads in `connection.rs`, which look without waiting) that finds nothing
/// leaves the poller instead of waiting: while a flood is read in batches, no thread wakes per
/// arrival.
#[cfg(unix)]
#[derive(Debug)]
pub struct TcpIo {
    sock: Arc<TcpSock>,
    registered: Option<Registered>,
    /// A write waits for room: the registration stays.
    write_waits: bool,
}

#[cfg(unix)]
impl TcpIo {
    /// `sock` as a stream.
    pub fn new(sock: Arc<TcpSock>) -> Self {
        Self {
            sock,
            registered: None,
            write_waits: false,
        }
    }
}

/// `slot`'s registration of `sock`, made now if there is none.
#[cfg(unix)]
fn registration<'a>(
    sock: &Arc<TcpSock>,
    slot: &'a mut Option<Registered>,
) -> std::io::Result<&'a Registered> {
    Ok(match slot {
        Some(registered) => registered,
        None => slot.insert(sock.register()?),
    })
}

#[cfg(unix)]
impl tokio::io::AsyncRead for TcpIo {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let Self {
            sock,
            registered,
            write_waits,
        } = self.get_mut();
        let read = |buf: &mut tokio::io::ReadBuf<'_>| match sock.read(buf.initialize_unfilled()) {
            Ok(n) => {
                buf.advance(n);
                Some(Ok(()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => None,
            Err(e) => Some(Err(e)),
        };
        if let Some(done) = read(buf) {
            return Poll::Ready(done);
        }
        if cx.waker().will_wake(std::task::Waker::noop()) {
            // Nobody will wait: out of the poller (unless a write waits there).
            if !*write_waits {
                *registered = None;
            }
            return Poll::Pending;
        }
        loop {
            let mut ready = match registration(sock, registered)?.poll_read_ready(cx) {
                Poll::Ready(ready) => ready?,
                Poll::Pending => return Poll::Pending,
            };
            match read(buf) {
                Some(done) => return Poll::Ready(done),
                None => ready.clear(),
            }
        }
    }
}

#[cfg(unix)]
impl tokio::io::AsyncWrite for TcpIo {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let Self {
            sock,
            registered,
            write_waits,
        } = self.get_mut();
        loop {
            match sock.write(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                done => {
                    *write_waits = false;
                    return Poll::Ready(done);
                }
            }
            let mut ready = match registration(sock, registered)?.poll_write_ready(cx) {
                Poll::Ready(ready) => ready?,
                Poll::Pending => {
                    *write_waits = true;
                    return Poll::Pending;
                }
            };
            match sock.write(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => ready.clear(),
                done => {
                    *write_waits = false;
                    return Poll::Ready(done);
                }
            }
        }
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        self.sock.shutdown_write();
        Poll::Ready(Ok(()))
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::io::Write;
    use std::pin::Pin;
    use std::task::{Wake, Waker};
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

    const LIMIT: Duration = Duration::from_secs(5);

    struct NoWake;

    impl Wake for NoWake {
        fn wake(self: Arc<Self>) {}
    }

    fn registered(sock: &TcpSock) -> bool {
        sock.reg
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .upgrade()
            .is_some()
    }

    fn read(io: &mut TcpIo, waker: &Waker, out: &mut [u8]) -> Poll<std::io::Result<usize>> {
        let mut buf = ReadBuf::new(out);
        let polled = Pin::new(io).poll_read(&mut Context::from_waker(waker), &mut buf);
        polled.map_ok(|()| buf.filled().len())
    }

    /// A read that waits puts the socket into the runtime's poller; a look with a no-op waker
    /// that finds nothing takes it out (and the next look still reads what came), unless a
    /// write is waiting there for room.
    #[test]
    fn a_read_nobody_waits_for_leaves_the_poller_unless_a_write_waits() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let _context = rt.enter();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let client = std::net::TcpStream::connect(listener.local_addr().expect("its address"))
            .expect("connected");
        let (mut peer, _) = listener.accept().expect("accepted");
        client.set_nonblocking(true).expect("non-blocking");
        let tcp = tokio::net::TcpStream::from_std(client).expect("a tokio stream");
        let sock = TcpSock::new(tcp).expect("out of tokio's poller");
        assert!(!registered(&sock));
        let mut io = TcpIo::new(Arc::clone(&sock));
        let waker = Waker::from(Arc::new(NoWake));
        let mut out = [0u8; 16];
        assert!(read(&mut io, &waker, &mut out).is_pending());
        assert!(registered(&sock), "a waiting read is in the poller");
        assert!(read(&mut io, Waker::noop(), &mut out).is_pending());
        assert!(
            !registered(&sock),
            "a look that found nothing left the poller"
        );
        peer.write_all(b"hello").expect("sent");
        let start = Instant::now();
        let n = loop {
            if let Poll::Ready(n) = read(&mut io, Waker::noop(), &mut out) {
                break n.expect("read");
            }
            assert!(start.elapsed() < LIMIT, "never arrived");
            std::thread::sleep(Duration::from_millis(1));
        };
        assert_eq!(&out[..n], b"hello");
        // Fill the socket (the peer reads nothing) until a write has to wait.
        let chunk = vec![0u8; 1 << 16];
        let mut waiting = false;
        for _ in 0..10_000 {
            let polled = Pin::new(&mut io).poll_write(&mut Context::from_waker(&waker), &chunk);
            if polled.is_pending() {
                waiting = true;
                break;
            }
        }
        assert!(waiting, "the socket never filled");
        assert!(read(&mut io, Waker::noop(), &mut out).is_pending());
        assert!(registered(&sock), "left the poller under a waiting write");
    }
}
