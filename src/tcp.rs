//! Plain TCP sockets that sit in the runtime's poller only while a task waits on them.
//!
//! tokio's `TcpStream` stays registered with the runtime's poller (edge-triggered) for its whole
//! life, and the poller's thread wakes for every segment that arrives, whether a task waits for
//! it or not. A connection receiving a stream of small messages wants the opposite: to read
//! once a millisecond or so with nothing waking in between (`connection.rs`, "batched reads").
//! A [`TcpSock`] is a non-blocking std socket that is registered (both directions, one
//! registration shared by the reader and the writer) only while some task holds a
//! [`Registered`] for it; reads and writes go straight to the socket, from any thread.

use bytes::BytesMut;
use std::cell::Cell;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex, PoisonError, Weak};

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

    /// One non-blocking read of at most `max` bytes (up to [`SCRATCH`]), appended to `buf`.
    pub fn read_into(&self, buf: &mut BytesMut, max: usize) -> std::io::Result<usize> {
        let mut scratch = BUF
            .take()
            .unwrap_or_else(|| vec![0u8; SCRATCH].into_boxed_slice());
        let max = max.min(scratch.len());
        let result = loop {
            match (&self.stream).read(&mut scratch[..max]) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                other => break other,
            }
        };
        if let Ok(n) = result {
            buf.extend_from_slice(&scratch[..n]);
        }
        BUF.set(Some(scratch));
        result
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
        #[cfg(unix)]
        match &self.reg {
            Some(reg) => reg.readable().await.map(|guard| Ready { guard }),
            None => Err(std::io::ErrorKind::NotConnected.into()),
        }
        #[cfg(not(unix))]
        Err(std::io::ErrorKind::Unsupported.into())
    }

    /// Waits until the socket may be writable; [`Ready::clear`] when a write would block.
    pub async fn writable(&self) -> std::io::Result<Ready<'_>> {
        #[cfg(unix)]
        match &self.reg {
            Some(reg) => reg.writable().await.map(|guard| Ready { guard }),
            None => Err(std::io::ErrorKind::NotConnected.into()),
        }
        #[cfg(not(unix))]
        Err(std::io::ErrorKind::Unsupported.into())
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
