//! pyo3 wrappers: take owned arguments, call the pure Rust code, convert errors.

pub mod auth;
pub mod client;
pub mod dispatch;
pub mod tls;
pub mod topic;
