//! A sans-I/O MQTT session with paho-mqtt's semantics, for MQTT 3.1, 3.1.1 and 5.
//!
//! No sockets, no clock, no pyo3: the connection task feeds it bytes and instants and gets
//! bytes and events back, so every behaviour is tested here with scripted packet sequences.
//! See [`Session`] for the driving protocol and `DESIGN.md` for why the state machine is ours
//! while the wire format is rumqttc's.
//!
//! - `options`: configuration and the small value types (`QoS`, `ProtocolVersion`, `Will`).
//! - `event`: what comes out (events, publish results, errors).
//! - `codec`: bytes to protocol-neutral packets and back; the only module that knows the wire
//!   (MQTT 3 in `codec.rs`, MQTT 5 in `codec/v5.rs`).
//! - `properties`: MQTT 5 property blocks, carried raw (the format is described there).
//! - `store`: the ordered outgoing store of QoS 1/2 messages.
//! - `state`: the state machine itself.

mod codec;
mod event;
mod options;
mod properties;
mod state;
mod store;
#[cfg(test)]
mod tests;

pub use event::{
    DisconnectReason, Event, FullEvent, Message, PublishHandle, PublishStatus, RequestError,
    RetryReason, ServerDisconnect, SessionError,
};
pub use options::{
    ConnectProperties, ProtocolVersion, QoS, SessionOptions, SubscribeOptions, Will,
    MAX_REMAINING_LENGTH,
};
pub use state::{AckMode, Session, StoredMessage};
