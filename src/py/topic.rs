//! Topic helpers exposed to Python.

use pyo3::prelude::*;

/// Whether `topic` matches the subscription filter `sub` (paho's rules).
#[pyfunction]
pub fn topic_matches_sub(sub: &str, topic: &str) -> bool {
    crate::topic::matches_sub(sub, topic)
}

/// Whether `topic` may be published to.
#[pyfunction]
pub fn valid_topic(topic: &str) -> bool {
    crate::topic::valid_topic(topic)
}

/// Whether `filter` is a valid subscription filter.
#[pyfunction]
pub fn valid_filter(filter: &str) -> bool {
    crate::topic::valid_filter(filter)
}
