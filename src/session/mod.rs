//! A sans-I/O MQTT session with paho-mqtt's semantics, for MQTT 3.1 and 3.1.1.
//!
//! No sockets, no clock, no pyo3: the connection task feeds it bytes and instants and gets
//! bytes and events back, so every behaviour is tested here with scripted packet sequences.
//! See [`Session`] for the driving protocol and `DESIGN.md` for why the state machine is ours
//! while the wire format is rumqttc's.
//!
//! - `options`: configuration and the small value types (`QoS`, `ProtocolVersion`, `Will`).
//! - `event`: what comes out (events, publish results, errors).
//! - `codec`: bytes to protocol-neutral packets and back; the only module that knows MQTT 3.
//! - `store`: the ordered outgoing store of QoS 1/2 messages.
//! - `state`: the state machine itself.

mod codec;
#[allow(dead_code)] // used by the MQTT 5 codec in the next commit
mod properties;
mod event;
mod options;
mod state;
mod store;
#[cfg(test)]
mod tests;

pub use event::{
    DisconnectReason, Event, Message, PublishHandle, PublishStatus, RetryReason, SessionError,
};
pub use options::{ProtocolVersion, QoS, SessionOptions, Will, MAX_REMAINING_LENGTH};
pub use state::{AckMode, Session, StoredMessage};
