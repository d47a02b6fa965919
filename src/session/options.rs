//! What a session is configured with: identity, credentials, will, protocol and limits.
//!
//! The defaults are paho-mqtt's (`Client.__init__` and `connect()`), not rumqttc's, because the
//! Python layer promises paho's behaviour: 20 messages in flight, an unbounded queue, a 60 s
//! keepalive and no incoming size limit beyond what MQTT itself can encode.

use bytes::Bytes;

/// The largest remaining length MQTT's four-byte variable integer can express.
///
/// paho-mqtt accepts any packet up to this size, so it is the default incoming limit: a lower
/// default would refuse messages paho delivers. Memory stays bounded anyway, because the session
/// never allocates from the header; the read buffer grows only as bytes actually arrive.
pub const MAX_REMAINING_LENGTH: usize = 268_435_455;

/// MQTT protocol revision spoken on the wire.
///
/// The state machine reaches the wire only through the codec module, so MQTT 5 is a second
/// codec (`codec/v5.rs`) producing the same packet enums, not a second state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtocolVersion {
    /// MQTT 3.1: protocol name `MQIsdp`, level 3 (paho's `MQTTv31`).
    V31,
    /// MQTT 3.1.1: protocol name `MQTT`, level 4 (paho's `MQTTv311`, the default).
    V311,
    /// MQTT 5.0: protocol name `MQTT`, level 5 (paho's `MQTTv5`). Never downgraded: paho's
    /// automatic fallback to 3.1 exists for 3.1.1 only.
    V5,
}

impl ProtocolVersion {
    /// The protocol level byte of CONNECT (before the bridge bit is added).
    pub fn level(self) -> u8 {
        match self {
            Self::V31 => 3,
            Self::V311 => 4,
            Self::V5 => 5,
        }
    }

    /// The protocol name string of CONNECT.
    pub fn name(self) -> &'static [u8] {
        match self {
            Self::V31 => b"MQIsdp",
            Self::V311 | Self::V5 => b"MQTT",
        }
    }
}

/// Quality of service of a message or subscription.
///
/// Our own type rather than rumqttc's, so the public API does not change when the codec does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum QoS {
    /// At most once: no acknowledgement.
    AtMostOnce = 0,
    /// At least once: PUBLISH, PUBACK.
    AtLeastOnce = 1,
    /// Exactly once: PUBLISH, PUBREC, PUBREL, PUBCOMP.
    ExactlyOnce = 2,
}

impl QoS {
    /// The QoS for a wire value, or `None` for 3 and above.
    pub fn from_u8(value: u8) -> Option<Self> {
        match value {
            0 => Some(Self::AtMostOnce),
            1 => Some(Self::AtLeastOnce),
            2 => Some(Self::ExactlyOnce),
            _ => None,
        }
    }

    /// The wire value, 0 to 2.
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    pub(crate) fn to_rumqttc(self) -> rumqttc::mqttbytes::QoS {
        match self {
            Self::AtMostOnce => rumqttc::mqttbytes::QoS::AtMostOnce,
            Self::AtLeastOnce => rumqttc::mqttbytes::QoS::AtLeastOnce,
            Self::ExactlyOnce => rumqttc::mqttbytes::QoS::ExactlyOnce,
        }
    }
}

/// MQTT 5 subscription options (paho's `SubscribeOptions`), one byte on the wire.
///
/// Under MQTT 3 only `qos` is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubscribeOptions {
    /// Maximum QoS the broker may deliver with.
    pub qos: QoS,
    /// Do not receive our own publications on this subscription (paho's `noLocal`).
    pub no_local: bool,
    /// Keep the retain flag as published instead of clearing it (paho's `retainAsPublished`).
    pub retain_as_published: bool,
    /// 0: send retained messages on subscribe, 1: only for a new subscription, 2: never
    /// (paho's `retainHandling`).
    pub retain_handling: u8,
}

impl SubscribeOptions {
    /// The options byte: bits 0-1 QoS, 2 no local, 3 retain as published, 4-5 retain handling.
    pub fn to_byte(self) -> u8 {
        self.qos.as_u8()
            | u8::from(self.no_local) << 2
            | u8::from(self.retain_as_published) << 3
            | (self.retain_handling & 0x03) << 4
    }

    /// Options from their byte (what Python's `SubscribeOptions.pack()` returns), or `None`
    /// for QoS 3, retain handling 3 or a reserved bit set, which MQTT 5 calls malformed.
    pub fn from_byte(byte: u8) -> Option<Self> {
        let retain_handling = (byte >> 4) & 0x03;
        if byte & 0xC0 != 0 || retain_handling == 3 {
            return None;
        }
        Some(Self {
            qos: QoS::from_u8(byte & 0x03)?,
            no_local: byte & 0x04 != 0,
            retain_as_published: byte & 0x08 != 0,
            retain_handling,
        })
    }

    /// Whether the options are valid as they stand (a direct struct literal may not be).
    pub(crate) fn is_valid(self) -> bool {
        self.retain_handling <= 2
    }
}

impl From<QoS> for SubscribeOptions {
    /// Just a QoS, every MQTT 5 option at its default (what paho sends for an int QoS).
    fn from(qos: QoS) -> Self {
        Self {
            qos,
            no_local: false,
            retain_as_published: false,
            retain_handling: 0,
        }
    }
}

/// MQTT 5 property blocks of CONNECT, set with
/// [`Session::set_connect_properties`](super::Session::set_connect_properties).
///
/// Kept apart from [`SessionOptions`] and [`Will`] so that code building those with struct
/// literals keeps compiling. Both blocks are raw (see the `properties` module): the Variable
/// Byte Integer length and the properties, as Python's `Properties.pack()` returns them;
/// empty means none. Ignored under MQTT 3.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectProperties {
    /// CONNECT properties (Session Expiry Interval, Receive Maximum, Maximum Packet Size,
    /// Topic Alias Maximum, User Property, Authentication Method, ...). The session reads Topic
    /// Alias Maximum from it, to accept the broker's topic aliases up to it.
    pub connect: Bytes,
    /// Will properties (Will Delay Interval, Message Expiry Interval, Content Type, ...); sent
    /// only with a will.
    pub will: Bytes,
}

/// The Last Will message the broker publishes if the connection dies without DISCONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Will {
    /// Topic of the will. paho's `will_set` does not check it for wildcards, nor do we.
    pub topic: String,
    /// Payload; may be empty (paho sends a zero-length will payload).
    pub payload: Bytes,
    /// QoS the broker publishes the will with.
    pub qos: QoS,
    /// Whether the broker retains the will.
    pub retain: bool,
}

/// Everything a [`Session`](super::Session) needs before its first CONNECT.
///
/// Its `Debug` output, and so the session's, shows whether a password is set but never the
/// password itself, so that no log line or panic message can carry it.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionOptions {
    /// Client identifier as sent. Empty is sent as a zero-length string (the broker assigns
    /// one), exactly as paho does. Bytes rather than `String` because paho accepts `bytes` ids.
    pub client_id: Vec<u8>,
    /// MQTT 3 clean-session flag, and MQTT 5 Clean Start (paho's `clean_start`; its
    /// `MQTT_CLEAN_START_FIRST_ONLY` is resolved by the caller, which passes the flag for each
    /// connect). MQTT 5 session expiry travels in the CONNECT properties. Even when true, our own un-acknowledged QoS 1/2 messages are
    /// kept and re-sent after a reconnect, as paho does.
    pub clean_session: bool,
    /// Keepalive in seconds; 0 disables PINGREQ and every timeout.
    pub keepalive: u16,
    /// Username; `None` sends neither username nor password (paho ignores a password without
    /// a username).
    pub username: Option<String>,
    /// Password as raw bytes. `Some(vec![])` sets the password flag with a zero-length field,
    /// as paho's `username_pw_set("u", "")` does.
    pub password: Option<Vec<u8>>,
    /// Last Will, if any.
    pub will: Option<Will>,
    /// Protocol revision.
    pub protocol: ProtocolVersion,
    /// Sets bit 0x80 of the protocol level (paho's `enable_bridge_mode`).
    pub bridge_mode: bool,
    /// Most QoS 1/2 messages in flight at once; 0 means unlimited (paho's
    /// `max_inflight_messages_set`, default 20).
    pub max_inflight: usize,
    /// Most QoS 1/2 messages stored (in flight plus waiting); 0 means unlimited (paho's
    /// `max_queued_messages_set`, default 0). A publish beyond it fails with
    /// [`SessionError::QueueFull`](super::SessionError::QueueFull).
    pub max_queued: usize,
    /// Largest incoming remaining length accepted; a larger packet is a protocol error detected
    /// from its header alone. Defaults to [`MAX_REMAINING_LENGTH`] (see there for why).
    pub max_packet_size: usize,
    /// paho's `reconnect_on_failure`: on a MQTT 3.1.1 CONNACK refusing the protocol version, or
    /// refusing an empty client id, paho retries at once with MQTT 3.1 or a generated id
    /// instead of reporting the refusal. When false such a CONNACK is a protocol error.
    pub reconnect_on_failure: bool,
}

impl std::fmt::Debug for SessionOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionOptions")
            .field("client_id", &String::from_utf8_lossy(&self.client_id))
            .field("clean_session", &self.clean_session)
            .field("keepalive", &self.keepalive)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("will", &self.will)
            .field("protocol", &self.protocol)
            .field("bridge_mode", &self.bridge_mode)
            .field("max_inflight", &self.max_inflight)
            .field("max_queued", &self.max_queued)
            .field("max_packet_size", &self.max_packet_size)
            .field("reconnect_on_failure", &self.reconnect_on_failure)
            .finish()
    }
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            client_id: Vec::new(),
            clean_session: true,
            keepalive: 60,
            username: None,
            password: None,
            will: None,
            protocol: ProtocolVersion::V311,
            bridge_mode: false,
            max_inflight: 20,
            max_queued: 0,
            max_packet_size: MAX_REMAINING_LENGTH,
            reconnect_on_failure: true,
        }
    }
}
