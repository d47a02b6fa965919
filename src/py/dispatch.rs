//! `Lane`: the pyo3 face of [`crate::dispatch::Lane`], waited on by a shared-loop thread.

use crate::dispatch::{Lane, Wait};
use crate::errors::Error;
use crate::py::client::{deadline_after, SIGNAL_SLICE};
use pyo3::prelude::*;
use std::sync::Arc;

/// A ready queue of client keys that one shared-loop thread waits on.
#[pyclass(name = "Lane", module = "turbomqtt._core", frozen)]
pub struct PyLane {
    /// Shared with the `Shared` of every client attached to this lane.
    pub(crate) inner: Arc<Lane>,
}

#[pymethods]
impl PyLane {
    #[new]
    fn new() -> PyResult<Self> {
        Ok(Self {
            inner: Arc::new(Lane::new().map_err(Error::Io)?),
        })
    }

    /// The keys of the clients that became ready, in order, waiting up to `timeout` seconds
    /// for the first (GIL released). Returns early, possibly empty, after `wakeup()`.
    fn wait(&self, py: Python<'_>, timeout: f64) -> PyResult<Vec<u64>> {
        let deadline = deadline_after(timeout);
        loop {
            match py.detach(|| self.inner.wait_slice(deadline, SIGNAL_SLICE)) {
                Wait::Done(keys) => return Ok(keys),
                Wait::Pending => py.check_signals()?,
            }
        }
    }

    /// Queues `key` (once until taken) and wakes the waiter.
    fn push(&self, key: u64) {
        self.inner.push(key);
    }

    /// Makes a waiting `wait()` return now.
    fn wakeup(&self) {
        self.inner.wakeup();
    }
}
