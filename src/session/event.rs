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
    /// MQTT 5 PUBLISH properties, raw with their length prefix (empty under MQTT 3). They are
    /// the broker's bytes as received: a Topic Alias stays in them even though `topic` has
    /// been filled in from it, as paho leaves `TopicAlias` in `msg.properties`.
    pub properties: Bytes,
}

/// Why a connection ended; maps onto paho's `on_disconnect` codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The user's DISCONNECT was handed to the socket, or the connection died while one was
    /// pending (paho reports `MQTT_ERR_SUCCESS` in both cases).
    UserRequested,
    /// The transport reported the connection lost (paho `MQTT_ERR_CONN_LOST`), or, under
    /// MQTT 5, the broker ended it with DISCONNECT ([`FullEvent::Disconnected`] then carries
    /// the broker's reason code and properties in `server`).
    ConnectionLost,
    /// No CONNACK or PINGRESP within the keepalive (paho `MQTT_ERR_KEEPALIVE`).
    KeepaliveTimeout,
    /// The broker refused the CONNECT (paho `MQTT_ERR_CONN_REFUSED`) with a 3.x return code 1
    /// to 5 or an MQTT 5 reason code of 0x80 and above; [`Event::ConnectRefused`] came just
    /// before. A 3.x broker answering an MQTT 5 CONNECT with return code 1 is reported as
    /// 0x84, "Unsupported protocol version", as paho does.
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

/// A DISCONNECT sent by the broker (MQTT 5 only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerDisconnect {
    /// The broker's reason code; None when the packet had none (an empty DISCONNECT, which
    /// means "Normal disconnection"; paho's VERSION1 callback then gets None).
    pub reason_code: Option<u8>,
    /// Raw DISCONNECT properties; empty when the packet had none (paho then passes `None`).
    pub properties: Bytes,
}

/// Every event with everything MQTT 5 says about it: reason codes and raw properties (see
/// the `properties` module for the format; empty means none).
///
/// [`Event`] is its MQTT 3 view, kept unchanged while `src/py/` still matches on it; the two
/// come from one queue, so a caller uses either [`Session::drain_events`] or
/// [`Session::drain_full_events`], never both. Under MQTT 3 the extra fields hold what paho's
/// VERSION2 callbacks need: reason code 0 and empty properties on success, the 3.x return code
/// as `reason_code` of a refusal (the Python side converts it, as paho's
/// `convert_connack_rc_to_reason_code`), SUBACK's granted QoS bytes as reason codes, and no
/// UNSUBACK reason codes.
///
/// [`Session::drain_events`]: super::Session::drain_events
/// [`Session::drain_full_events`]: super::Session::drain_full_events
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FullEvent {
    /// CONNACK accepted the connection (paho `on_connect`, reason "Success").
    Connected {
        /// The broker's session-present flag.
        session_present: bool,
        /// CONNACK properties (Assigned Client Identifier, Server Keep Alive, Receive Maximum,
        /// Topic Alias Maximum, Maximum Packet Size, ...), already acted on by the session.
        properties: Bytes,
    },
    /// CONNACK refused the connection; a [`FullEvent::Disconnected`] follows.
    ConnectRefused {
        /// MQTT 5 reason code (0x80 and above; 0x84 for a 3.x broker's return code 1), or the
        /// MQTT 3 return code.
        reason_code: u8,
        /// The broker's session-present flag.
        session_present: bool,
        /// CONNACK properties (Reason String, Server Reference, ...); empty when absent.
        properties: Bytes,
    },
    /// An application message for `on_message`.
    Message(Message),
    /// paho's `on_publish`. QoS 0 once encoded (reason 0, no properties); QoS 1 at PUBACK;
    /// QoS 2 at PUBCOMP, or at a PUBREC with a failure reason, which ends the flow without
    /// PUBREL (MQTT 5 §4.3.3).
    Published {
        /// The message id returned by `publish()`.
        mid: u16,
        /// The ack's reason code; 0x80 and above means the broker did not accept the message.
        /// 0x95 ("Packet too large") when the session itself refused to send a message larger
        /// than the broker's Maximum Packet Size.
        reason_code: u8,
        /// The ack's properties (Reason String, User Property); empty when absent.
        properties: Bytes,
    },
    /// As [`Event::PublishDropped`].
    PublishDropped {
        /// The message id returned by `publish()`.
        mid: u16,
    },
    /// SUBACK (paho `on_subscribe`).
    Subscribed {
        /// The SUBSCRIBE's message id.
        mid: u16,
        /// One per filter: the granted QoS (0 to 2) or a failure code (0x80 and above; MQTT 3
        /// has only 0x80).
        reason_codes: Vec<u8>,
        /// SUBACK properties; empty under MQTT 3.
        properties: Bytes,
    },
    /// UNSUBACK (paho `on_unsubscribe`).
    Unsubscribed {
        /// The UNSUBSCRIBE's message id.
        mid: u16,
        /// One per filter under MQTT 5; empty under MQTT 3, as paho's VERSION2 list is.
        reason_codes: Vec<u8>,
        /// UNSUBACK properties; empty under MQTT 3.
        properties: Bytes,
    },
    /// The connection is over (see [`Event::Disconnected`]).
    Disconnected {
        /// Why, from the client's side. A broker's DISCONNECT is `ConnectionLost` here (or
        /// `UserRequested` if ours was pending) with `server` set.
        reason: DisconnectReason,
        /// The broker's DISCONNECT, when one ended the connection (paho's
        /// `DisconnectFlags.is_disconnect_packet_from_server`, with its reason and properties).
        server: Option<ServerDisconnect>,
    },
    /// As [`Event::RetryConnect`].
    RetryConnect {
        /// What the session changed for the next attempt.
        reason: RetryReason,
    },
}

impl From<FullEvent> for Event {
    /// The MQTT 3 view: reason codes and properties dropped, a refusal's reason as `rc`.
    fn from(event: FullEvent) -> Self {
        match event {
            FullEvent::Connected {
                session_present, ..
            } => Event::Connected { session_present },
            FullEvent::ConnectRefused {
                reason_code,
                session_present,
                ..
            } => Event::ConnectRefused {
                rc: reason_code,
                session_present,
            },
            FullEvent::Message(m) => Event::Message(m),
            FullEvent::Published { mid, .. } => Event::Published { mid },
            FullEvent::PublishDropped { mid } => Event::PublishDropped { mid },
            FullEvent::Subscribed {
                mid, reason_codes, ..
            } => Event::Subscribed {
                mid,
                granted: reason_codes,
            },
            FullEvent::Unsubscribed { mid, .. } => Event::Unsubscribed { mid },
            FullEvent::Disconnected { reason, .. } => Event::Disconnected { reason },
            FullEvent::RetryConnect { reason } => Event::RetryConnect { reason },
        }
    }
}

/// Why an MQTT 5 request (`*_with_properties`, `subscribe_with_options`, `disconnect_with`) was
/// refused: every [`SessionError`], plus a malformed property block.
///
/// A separate type so that `SessionError` keeps the variants `src/errors.rs` matches on; topic
/// alias problems are [`SessionError::InvalidTopic`] (the alias cannot stand for a topic, and
/// paho raises `ValueError('Invalid topic.')` for topic problems) and a packet above the
/// broker's Maximum Packet Size is [`SessionError::PacketTooLarge`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// As for the MQTT 3 request.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The property block is not valid for this packet (the text says why), or the
    /// subscription options byte is malformed. Python's `Properties.pack()` never produces one.
    #[error("invalid MQTT 5 properties: {0}")]
    InvalidProperties(String),
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
    /// A ticket to ask [`Session::publish_status`](super::Session::publish_status) how far
    /// the message got, without an event per message; 0 when there is nothing to follow (a
    /// QoS 0 message refused for want of a connection).
    pub track: u64,
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
