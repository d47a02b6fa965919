//! The one tokio runtime every client of the process shares.
//!
//! Two worker threads serve any number of clients: a thousand clients need no thousand threads.
//! The runtime is built on first use and never dropped (it lives as long as the process). After
//! `fork()` the child has none of the parent's threads, so a runtime inherited from the parent
//! would never run anything: the process id is recorded with the runtime, and a child gets a new
//! one on first use.

use std::io;
use std::sync::Mutex;
use tokio::runtime::{Builder, Handle, Runtime};

static RUNTIME: Mutex<Option<(u32, &'static Runtime)>> = Mutex::new(None);

/// A handle to the process-wide runtime, building it if this process has none yet.
pub fn handle() -> io::Result<Handle> {
    let pid = std::process::id();
    // A poisoned lock only means another thread panicked while building; the data (an
    // Option) is still consistent, so take it.
    let mut slot = RUNTIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((owner, rt)) = *slot {
        if owner == pid {
            return Ok(rt.handle().clone());
        }
    }
    let runtime = Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("turbomqtt-io")
        .enable_all()
        .build()?;
    // Leaked on purpose: dropping a runtime blocks on its threads, and in a forked child the
    // parent's runtime has no threads to join.
    let runtime: &'static Runtime = Box::leak(Box::new(runtime));
    *slot = Some((pid, runtime));
    Ok(runtime.handle().clone())
}
