//! What the session reports back: events for Python's callbacks, results of user requests.
//!
//! Every type here owns its data and holds nothing from pyo3, so the connection task can pass
//! events across threads and the Python side can turn them into paho's callbacks in batches.

use bytes::Bytes;

use super::options::QoS;

/// An incoming application message, as paho's `MQTTMessage` needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Packet id (0 for QoS 0), paho's `msg.mid`.
    pub mid: u16,
    /// Raw topic bytes. Not checked for UTF-8: paho delivers such messages and only raises
    /// `UnicodeDecodeError` when `msg.topic` is read.
    pub topic: Bytes,
    /// Payload, a zero-copy slice of the read buffer.
    pub payload: Bytes,
    /// QoS the message was delivered with.
    pub qos: QoS,
    /// Retain flag.
    pub retain: bool,
    /// DUP flag as received.
    pub dup: bool,
}

/// Why a connection ended; maps onto paho's `on_disconnect` codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The user's DISCONNECT was handed to the socket, or the connection died while one was
    /// pending (paho reports `MQTT_ERR_SUCCESS` in both cases).
    UserRequested,
    /// The transport reported the connection lost (paho `MQTT_ERR_CONN_LOST`).
    ConnectionLost,
    /// No CONNACK or PINGRESP within the keepalive (paho `MQTT_ERR_KEEPALIVE`).
    KeepaliveTimeout,
    /// The broker refused the CONNECT with a 3.x return code 1 to 5 (paho
    /// `MQTT_ERR_CONN_REFUSED`); [`Event::ConnectRefused`] came just before.
    Refused(u8),
    /// Malformed or unexpected packet (paho `MQTT_ERR_PROTOCOL`); the text says what.
    ProtocolError(String),
}

/// Why the session asks to be reconnected at once instead of reporting a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryReason {
    /// The broker refused MQTT 3.1.1; the session switched itself to MQTT 3.1.
    ProtocolDowngrade,
    /// The broker refused the empty client id; the session generated a 22-character one.
    ClientIdAssigned,
}

/// Something Python must hear about, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// CONNACK accepted the connection (paho `on_connect` with rc 0). The return code is not
    /// carried because it is always 0; refusals are [`Event::ConnectRefused`].
    Connected {
        /// The broker's session-present flag.
        session_present: bool,
    },
    /// CONNACK refused the connection (paho `on_connect` with this rc); a
    /// [`Event::Disconnected`] follows.
    ConnectRefused {
        /// The CONNACK return code (1 to 5, or any other non-zero byte the broker sent).
        rc: u8,
        /// The broker's session-present flag, which paho passes to `on_connect` too.
        session_present: bool,
    },
    /// An application message for `on_message`. QoS 2 arrives here at PUBREL, once.
    Message(Message),
    /// paho's `on_publish`: QoS 0 once encoded for the socket, QoS 1 on PUBACK, QoS 2 on PUBCOMP.
    Published {
        /// The message id returned by `publish()`.
        mid: u16,
    },
    /// A QoS 0 publish was still unsent when the connection closed. paho sets its
    /// `info.rc = MQTT_ERR_CONN_LOST` and marks it published, without calling `on_publish`.
    PublishDropped {
        /// The message id returned by `publish()`.
        mid: u16,
    },
    /// SUBACK (paho `on_subscribe`); reported even for an id we did not send, as paho does.
    Subscribed {
        /// The SUBSCRIBE's message id.
        mid: u16,
        /// One return code per filter: the granted QoS, or 0x80 for failure.
        granted: Vec<u8>,
    },
    /// UNSUBACK (paho `on_unsubscribe`).
    Unsubscribed {
        /// The UNSUBSCRIBE's message id.
        mid: u16,
    },
    /// The connection is over; the transport must be closed (after flushing what
    /// [`Session::poll_transmit`](super::Session::poll_transmit) produced).
    Disconnected {
        /// Why.
        reason: DisconnectReason,
    },
    /// The connection must be closed and re-opened at once, without backoff and without any
    /// callback (paho's automatic downgrade in `_handle_connack`).
    RetryConnect {
        /// What the session changed for the next attempt.
        reason: RetryReason,
    },
}

/// What became of a `publish()`; paho's `MQTTMessageInfo.rc` is derived from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishStatus {
    /// Queued for the socket now (paho `MQTT_ERR_SUCCESS`).
    Sent,
    /// Stored behind `max_inflight`; sent when a slot frees (paho `MQTT_ERR_SUCCESS`).
    Queued,
    /// No connection (paho `MQTT_ERR_NO_CONN`): QoS 0 is dropped, QoS 1/2 is kept and sent after
    /// the next CONNACK.
    NotConnected,
}

/// The result of a successful `publish()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishHandle {
    /// Message id, allocated at call time; equals the wire packet id for QoS 1/2.
    pub mid: u16,
    /// What happened to the message.
    pub status: PublishStatus,
}

/// Why a user request was refused. The Python layer validates first and raises paho's
/// exceptions; these checks only guarantee the session never encodes an invalid packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// No connection is open (paho `MQTT_ERR_NO_CONN`); nothing was queued and, for subscribe
    /// and unsubscribe, no mid was used.
    #[error("not connected")]
    NotConnected,
    /// `max_queued` is reached (paho `MQTT_ERR_QUEUE_SIZE`). The mid was still consumed, as in
    /// paho, so it is reported.
    #[error("message queue is full (mid {mid})")]
    QueueFull {
        /// The mid paho would put in the returned `MQTTMessageInfo`.
        mid: u16,
    },
    /// All 65535 message ids are in use by unacknowledged requests.
    #[error("no free message id")]
    NoFreeMid,
    /// Empty, containing a wildcard, or longer than 65535 bytes.
    #[error("invalid topic")]
    InvalidTopic,
    /// Not a valid subscription filter.
    #[error("invalid subscription filter")]
    InvalidFilter,
    /// Subscribe or unsubscribe with no filter.
    #[error("empty topic list")]
    EmptyTopicList,
    /// The packet would exceed MQTT's maximum remaining length.
    #[error("packet too large")]
    PacketTooLarge,
}
