//! Lanes of the shared `loop_start()` loop: ready queues that many clients report into.
//!
//! A [`Lane`] is waited on by one Python thread (a "turbomqtt-loop-N" thread). A client attached
//! to a lane pushes its key when its session has new events (see `Shared::notify_events` in
//! `connection.rs`); the key is queued once until the lane takes it, so a client that keeps
//! receiving costs one entry, not one per packet. The lane thread then drains that client's
//! events in Python and moves on to the next ready key.
//!
//! The lane thread sleeps in the operating system's poller (epoll, kqueue) rather than on a
//! condition variable: pushes and wakeups reach it through a [`mio::Waker`], and the plain TCP
//! sockets of its clients are registered there too, under their keys ([`Lane::register`]). A
//! message arriving on such a socket wakes the lane thread at once, in parallel with the
//! runtime's reader, and the lane reads it itself (`Shared::read_now`), instead of waiting for
//! the reader to be woken first and then to wake the lane: one thread hand-off less per
//! round trip.
//!
//! Nothing here touches Python or logs: pushes come from tokio tasks while other locks may be
//! held by threads that hold the GIL (pyo3-log needs the GIL).

use mio::{Events, Poll, Token, Waker};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

/// The poller's token for the waker; a client's key `k` is registered as token `k + 1`.
const WAKER: Token = Token(0);

/// A client whose socket is in a lane's poller: what the lane thread calls when the socket
/// woke it, before it reports the client ready.
pub trait Source: Send + Sync {
    /// Reads and handles whatever the socket holds now, without waiting; returns whether the
    /// client has events for Python now.
    fn read_now(&self) -> bool;
}

/// One lane's ready queue.
pub struct Lane {
    state: Mutex<LaneState>,
    /// The poller the lane thread sleeps in, with its event buffer. Only that thread polls;
    /// the mutex makes the lane `Sync`.
    poll: Mutex<(Poll, Events)>,
    /// A handle to register sockets with, usable from any thread.
    registry: mio::Registry,
    /// Ends a sleep in `poll` (a key pushed, a wakeup asked).
    waker: Waker,
    /// The clients whose sockets are registered, by key.
    sources: Mutex<HashMap<u64, Weak<dyn Source>>>,
}

impl std::fmt::Debug for Lane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lane")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct LaneState {
    /// Keys of clients with events, in the order they became ready.
    queue: VecDeque<u64>,
    /// The keys in `queue`: a key is queued once until taken.
    queued: HashSet<u64>,
    /// A Python thread asked the waiter to return early (a timer, shutdown).
    woken: bool,
    /// Threads asleep in the poller (the lane's one thread, normally). A push while it is busy
    /// (the common case when messages stream in) then needs no wake-up, and so no syscall.
    sleepers: usize,
}

/// What [`Lane::wait_slice`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Wait {
    /// Ready keys (possibly none: a wakeup, or the deadline passed).
    Done(Vec<u64>),
    /// Nothing yet and the deadline is still ahead: the caller may run signal handlers and wait
    /// again.
    Pending,
}

impl Lane {
    /// A lane with an empty queue. Fails only when the operating system refuses a poller
    /// (out of file descriptors, say).
    pub fn new() -> std::io::Result<Self> {
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        Ok(Self {
            state: Mutex::default(),
            poll: Mutex::new((poll, Events::with_capacity(64))),
            registry,
            waker,
            sources: Mutex::default(),
        })
    }

    /// Wakes the lane thread when the socket `fd` has something to read: it then calls
    /// `source.read_now()` and reports `key` as ready. The caller keeps `fd` open until it
    /// calls [`Lane::deregister`] or closes it (a closed socket leaves the poller by itself).
    #[cfg(unix)]
    pub fn register(
        &self,
        fd: std::os::fd::RawFd,
        key: u64,
        source: Weak<dyn Source>,
    ) -> std::io::Result<()> {
        self.sources_lock().insert(key, source);
        self.resume(fd, key)
    }

    /// Takes `fd` out of the poller for a while, keeping its source: the reader task reads
    /// alone while messages stream in (see `connection.rs`).
    #[cfg(unix)]
    pub fn pause(&self, fd: std::os::fd::RawFd) -> std::io::Result<()> {
        self.registry.deregister(&mut mio::unix::SourceFd(&fd))
    }

    /// Puts `fd` (registered before, for `key`) back into the poller.
    #[cfg(unix)]
    pub fn resume(&self, fd: std::os::fd::RawFd, key: u64) -> std::io::Result<()> {
        let token = Token(usize::try_from(key).map_or(usize::MAX, |k| k.saturating_add(1)));
        self.registry.register(
            &mut mio::unix::SourceFd(&fd),
            token,
            mio::Interest::READABLE,
        )
    }

    /// Stops watching `fd` (for `key`), which must still be open (a closed descriptor's number
    /// may belong to another client's socket by now).
    #[cfg(unix)]
    pub fn deregister(&self, fd: std::os::fd::RawFd, key: u64) -> std::io::Result<()> {
        self.sources_lock().remove(&key);
        self.registry.deregister(&mut mio::unix::SourceFd(&fd))
    }

    fn sources_lock(&self) -> MutexGuard<'_, HashMap<u64, Weak<dyn Source>>> {
        self.sources.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock(&self) -> MutexGuard<'_, LaneState> {
        // The state is a queue and a flag: consistent at every step, so a poisoned lock is safe
        // to keep using.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `key` (once until taken) and wakes the waiter.
    pub fn push(&self, key: u64) {
        let mut g = self.lock();
        if g.queued.insert(key) {
            g.queue.push_back(key);
            let sleeping = g.sleepers > 0;
            drop(g);
            if sleeping {
                self.wake();
            }
        }
    }

    fn wake(&self) {
        // Fails only if the eventfd's counter is full, in which case a wake-up is pending.
        let _ = self.waker.wake();
    }

    /// Makes the waiter return now, with whatever is ready.
    pub fn wakeup(&self) {
        let mut g = self.lock();
        g.woken = true;
        let sleeping = g.sleepers > 0;
        drop(g);
        if sleeping {
            self.wake();
        }
    }

    /// Takes every ready key, waiting until `deadline` for the first, but for no longer than
    /// `slice` in this call.
    pub fn wait_slice(&self, deadline: Instant, slice: Duration) -> Wait {
        let mut g = self.lock();
        let started = Instant::now();
        loop {
            if !g.queue.is_empty() {
                g.queued.clear();
                return Wait::Done(g.queue.drain(..).collect());
            }
            if g.woken {
                g.woken = false;
                return Wait::Done(Vec::new());
            }
            let now = Instant::now();
            if now >= deadline {
                return Wait::Done(Vec::new());
            }
            let end = (started + slice).min(deadline);
            if now >= end {
                return Wait::Pending;
            }
            // Counted before the state is released: a push from then on wakes the poller, and
            // a wake-up that comes before the poll makes it return at once.
            g.sleepers += 1;
            drop(g);
            let mut ready = Vec::new();
            {
                let mut poller = self.poll.lock().unwrap_or_else(PoisonError::into_inner);
                let (poll, events) = &mut *poller;
                // An error (EINTR: a signal) is a spurious wake-up: the loop looks again.
                if poll.poll(events, Some(end - now)).is_ok() {
                    ready.extend(
                        events.iter().filter(|e| e.token() != WAKER).map(|e| {
                            u64::try_from(e.token().0.saturating_sub(1)).unwrap_or(u64::MAX)
                        }),
                    );
                }
            }
            // The sockets that woke the lane are read here, on its thread, before their keys
            // are reported: no other thread has to wake first to read them. A socket with
            // nothing new for Python (the reader task got there first, and reports the client
            // itself) is not worth a trip through Python.
            let sources: Vec<_> = {
                let sources = self.sources_lock();
                ready
                    .iter()
                    .filter_map(|&k| Some((k, sources.get(&k)?.upgrade()?)))
                    .collect()
            };
            ready.clear();
            for (key, source) in sources {
                if source.read_now() {
                    ready.push(key);
                }
            }
            g = self.lock();
            g.sleepers -= 1;
            for key in ready {
                if g.queued.insert(key) {
                    g.queue.push_back(key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Default for Lane {
        fn default() -> Self {
            Self::new().expect("a poller")
        }
    }

    fn take(lane: &Lane) -> Vec<u64> {
        match lane.wait_slice(Instant::now(), Duration::ZERO) {
            Wait::Done(keys) => keys,
            Wait::Pending => panic!("pending at the deadline"),
        }
    }

    /// A key pushed twice before the lane takes it is handed out once, in first-push order.
    #[test]
    fn keys_are_queued_once_until_taken() {
        let lane = Lane::default();
        lane.push(3);
        lane.push(1);
        lane.push(3);
        assert_eq!(take(&lane), vec![3, 1]);
        lane.push(3);
        assert_eq!(take(&lane), vec![3]);
        assert_eq!(take(&lane), Vec::<u64>::new());
    }

    /// A wakeup ends a wait early, empty-handed, once.
    #[test]
    fn wakeup_returns_early() {
        let lane = Lane::default();
        lane.wakeup();
        let far = Instant::now() + Duration::from_secs(60);
        assert_eq!(
            lane.wait_slice(far, Duration::from_secs(60)),
            Wait::Done(vec![])
        );
        assert_eq!(
            lane.wait_slice(far, Duration::from_millis(1)),
            Wait::Pending
        );
    }

    /// A push from another thread wakes a waiting lane.
    #[test]
    fn push_from_another_thread_wakes_the_waiter() {
        let lane = std::sync::Arc::new(Lane::default());
        let pusher = std::sync::Arc::clone(&lane);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            pusher.push(7);
        });
        let far = Instant::now() + Duration::from_secs(10);
        assert_eq!(
            lane.wait_slice(far, Duration::from_secs(10)),
            Wait::Done(vec![7])
        );
        t.join().ok();
    }
}
