//! pyo3 wrappers: take owned arguments, call the pure Rust functions, convert errors.

pub mod auth;
pub mod topic;
