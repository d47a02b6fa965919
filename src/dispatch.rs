//! Lanes of the shared `loop_start()` loop: ready queues that many clients report into.
//!
//! A [`Lane`] is waited on by one Python thread (a "turbomqtt-loop-N" thread). A client attached
//! to a lane pushes its key when its session has new events (see `Shared::notify_events` in
//! `connection.rs`); the key is queued once until the lane takes it, so a client that keeps
//! receiving costs one entry, not one per packet. The lane thread then drains that client's
//! events in Python and moves on to the next ready key.
//!
//! Nothing here touches Python or logs: pushes come from tokio tasks while other locks may be
//! held by threads that hold the GIL (pyo3-log needs the GIL).

use std::collections::{HashSet, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// One lane's ready queue.
#[derive(Debug, Default)]
pub struct Lane {
    state: Mutex<LaneState>,
    /// Signalled when a key is pushed or a wakeup is asked.
    ready: Condvar,
}

#[derive(Debug, Default)]
struct LaneState {
    /// Keys of clients with events, in the order they became ready.
    queue: VecDeque<u64>,
    /// The keys in `queue`: a key is queued once until taken.
    queued: HashSet<u64>,
    /// A Python thread asked the waiter to return early (a timer, shutdown).
    woken: bool,
    /// Threads blocked on `ready` (the lane's one thread, normally). A push while it is busy
    /// (the common case when messages stream in) then needs no notification, and so no futex
    /// syscall: std's condition variable makes one on every notify.
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
                self.ready.notify_one();
            }
        }
    }

    /// Makes the waiter return now, with whatever is ready.
    pub fn wakeup(&self) {
        let mut g = self.lock();
        g.woken = true;
        let sleeping = g.sleepers > 0;
        drop(g);
        if sleeping {
            self.ready.notify_one();
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
            g.sleepers += 1;
            g = match self.ready.wait_timeout(g, end - now) {
                Ok((g, _)) => g,
                Err(poisoned) => poisoned.into_inner().0,
            };
            g.sleepers -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
