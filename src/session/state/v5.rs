//! MQTT 5 on top of the shared state machine: requests with properties, what CONNACK allows,
//! and topic aliases in both directions.
//!
//! A child module of `state`, like `inbound`, so the MQTT 3 request and lifecycle code stays
//! as it was. paho 2.2 acts on Server Keep Alive only; the other CONNACK limits are MQTT 5
//! requirements on the client ([MQTT-3.3.4-7], [MQTT-3.1.2-24], [MQTT-3.3.2-9]) that paho
//! leaves to the broker to punish, and the session honours them instead.

use bytes::{Bytes, BytesMut};

use super::super::codec::{self, EncodeError, PublishFields};
use super::super::event::{FullEvent, Message, PublishHandle, RequestError, SessionError};
use super::super::options::{ConnectProperties, ProtocolVersion, QoS, SubscribeOptions};
use super::super::properties;
use super::super::store::OutMessage;
use super::Session;

/// Reason code "Packet too large", reported for a message the session would not send.
pub(crate) const PACKET_TOO_LARGE: u8 = 0x95;

/// What the broker's CONNACK set for this connection; defaults until it arrives.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ServerLimits {
    /// Server Keep Alive, replacing ours (MQTT 5 §3.2.2.3.14; paho does the same).
    pub(crate) keepalive: Option<u16>,
    /// Receive Maximum: QoS 1/2 PUBLISHes unacknowledged at once (absent means 65535).
    pub(crate) receive_max: Option<u16>,
    /// Maximum Packet Size the broker accepts, whole packet (absent means no limit).
    pub(crate) max_packet_size: Option<u32>,
    /// Topic Alias Maximum: our aliases may go up to it (absent means 0: none).
    pub(crate) topic_alias_max: u16,
}

fn invalid(e: String) -> RequestError {
    RequestError::InvalidProperties(e)
}

impl Session {
    // ----- MQTT 5 requests -----------------------------------------------------------------

    /// Sets the MQTT 5 CONNECT and will property blocks (raw, see the `properties` module),
    /// used from the next CONNECT on; paho's `connect(properties=...)` and
    /// `will_set(properties=...)`. A Topic Alias Maximum in them lets the broker use topic
    /// aliases up to it on the connections they are sent on. Fails, changing nothing, if a
    /// block is malformed for its packet or the CONNECT would exceed MQTT's size limit.
    pub fn set_connect_properties(&mut self, props: ConnectProperties) -> Result<(), RequestError> {
        properties::parse(&props.connect, properties::CONNECT).map_err(invalid)?;
        properties::parse(&props.will, properties::WILL).map_err(invalid)?;
        let remaining = codec::connect_remaining_length(&self.opts, ProtocolVersion::V5, &props);
        if remaining > crate::session::MAX_REMAINING_LENGTH {
            return Err(SessionError::PacketTooLarge.into());
        }
        self.connect_props = props;
        Ok(())
    }

    /// The Topic Alias Maximum the CONNECT about to be sent declares (0 when absent, or under
    /// MQTT 3): latched at `on_connected`, so it holds for the whole connection.
    pub(crate) fn declared_alias_max(&self) -> u16 {
        if self.protocol != ProtocolVersion::V5 {
            return 0;
        }
        properties::parse(&self.connect_props.connect, properties::CONNECT)
            .ok()
            .and_then(|props| properties::number(&props, properties::TOPIC_ALIAS_MAXIMUM))
            .and_then(|n| u16::try_from(n).ok())
            .unwrap_or(0)
    }

    /// The CONNECT and will property blocks in use.
    pub fn connect_properties(&self) -> &ConnectProperties {
        &self.connect_props
    }

    /// [`Session::publish`] with MQTT 5 properties (raw; empty for none; ignored under MQTT 3).
    ///
    /// Under MQTT 5 the topic may be empty when the properties carry a Topic Alias that an
    /// earlier publish gave a topic; the message is stored with that topic, and sent with the
    /// empty topic while the broker knows the alias (with the full topic again after a
    /// reconnect). A Topic Alias above the broker's Topic Alias Maximum is refused while
    /// connected, and dropped from the packet if a later connection allows fewer. A message
    /// larger than the broker's Maximum Packet Size is refused (paho would send it and let the
    /// broker disconnect).
    pub fn publish_with_properties(
        &mut self,
        topic: String,
        payload: Bytes,
        qos: QoS,
        retain: bool,
        properties: Bytes,
    ) -> Result<PublishHandle, RequestError> {
        let props = properties::parse(&properties, properties::PUBLISH).map_err(invalid)?;
        let alias =
            properties::number(&props, properties::TOPIC_ALIAS).and_then(|n| u16::try_from(n).ok());
        if self.protocol == ProtocolVersion::V5
            && props
                .iter()
                .any(|p| p.id == properties::SUBSCRIPTION_IDENTIFIER)
        {
            // MQTT 5 §3.3.2.3.8: only the broker puts Subscription Identifiers on a PUBLISH.
            return Err(invalid(
                "a client PUBLISH cannot carry a Subscription Identifier".to_owned(),
            ));
        }
        Ok(self.publish_checked(topic, payload, qos, retain, properties, alias)?)
    }

    /// [`Session::subscribe`] with MQTT 5 subscription options and properties (raw; may carry
    /// a Subscription Identifier and User Properties). Under MQTT 3 only each QoS is sent.
    pub fn subscribe_with_options(
        &mut self,
        filters: Vec<(String, SubscribeOptions)>,
        properties: Bytes,
    ) -> Result<u16, RequestError> {
        properties::parse(&properties, properties::SUBSCRIBE).map_err(invalid)?;
        if let Some((_, bad)) = filters.iter().find(|(_, o)| !o.is_valid()) {
            return Err(invalid(format!(
                "retain handling {} is not 0, 1 or 2",
                bad.retain_handling
            )));
        }
        Ok(self.subscribe_checked(filters, properties)?)
    }

    /// [`Session::unsubscribe`] with MQTT 5 properties (raw; User Properties only).
    pub fn unsubscribe_with_properties(
        &mut self,
        filters: Vec<String>,
        properties: Bytes,
    ) -> Result<u16, RequestError> {
        properties::parse(&properties, properties::UNSUBSCRIBE).map_err(invalid)?;
        Ok(self.unsubscribe_checked(filters, properties)?)
    }

    /// [`Session::disconnect`] with an MQTT 5 reason code and properties, written as paho's
    /// `disconnect(reasoncode, properties)` writes them: `None` and no properties is the
    /// two-byte DISCONNECT; a reason code alone is one byte more. Ignored under MQTT 3.
    pub fn disconnect_with(
        &mut self,
        reason_code: Option<u8>,
        properties: Bytes,
    ) -> Result<(), RequestError> {
        properties::parse(&properties, properties::DISCONNECT).map_err(invalid)?;
        Ok(self.disconnect_checked(reason_code, properties)?)
    }

    // ----- what CONNACK allows -------------------------------------------------------------

    /// The keepalive in force: the broker's Server Keep Alive on this connection, else ours.
    pub fn keepalive(&self) -> u16 {
        self.server.keepalive.unwrap_or(self.opts.keepalive)
    }

    /// Most QoS 1/2 messages in flight: `max_inflight`, capped under MQTT 5 by the broker's
    /// Receive Maximum; 0 means unlimited.
    pub(crate) fn inflight_limit(&self) -> usize {
        let server = match self.protocol {
            ProtocolVersion::V5 => self.server.receive_max.map(usize::from),
            _ => None,
        };
        match (self.opts.max_inflight, server) {
            (mine, None) => mine,
            (0, Some(theirs)) => theirs,
            (mine, Some(theirs)) => mine.min(theirs),
        }
    }

    /// Acts on an accepted MQTT 5 CONNACK's properties (validated by the codec).
    pub(crate) fn apply_connack_properties(&mut self, block: &Bytes) {
        let Ok(props) = properties::parse(block, properties::CONNACK) else {
            return;
        };
        let get16 = |id| properties::number(&props, id).and_then(|n| u16::try_from(n).ok());
        self.server = ServerLimits {
            keepalive: get16(properties::SERVER_KEEP_ALIVE),
            receive_max: get16(properties::RECEIVE_MAXIMUM),
            max_packet_size: properties::number(&props, properties::MAXIMUM_PACKET_SIZE),
            topic_alias_max: get16(properties::TOPIC_ALIAS_MAXIMUM).unwrap_or(0),
        };
        // MQTT 5 §3.2.2.3.7: the broker named the session it made for our empty id. Using it
        // in later CONNECTs lets a reconnect resume that session; paho keeps sending the empty
        // id (and so gets a new session each time, whatever clean_start says).
        if self.opts.client_id.is_empty() {
            if let Some(id) = props
                .iter()
                .find(|p| p.id == properties::ASSIGNED_CLIENT_IDENTIFIER)
            {
                self.opts.client_id = id.data.to_vec();
            }
        }
    }

    /// Whether a packet with this remaining length fits the broker's Maximum Packet Size.
    pub(crate) fn fits_server(&self, remaining: usize) -> bool {
        match (self.protocol, self.server.max_packet_size) {
            (ProtocolVersion::V5, Some(max)) => {
                u64::try_from(codec::wire_size(remaining)).unwrap_or(u64::MAX) <= u64::from(max)
            }
            _ => true,
        }
    }

    /// The remaining length of a SUBSCRIBE (`per_filter` 1) or UNSUBSCRIBE (0).
    pub(crate) fn sub_unsub_length<'a>(
        &self,
        filters: impl Iterator<Item = &'a str>,
        per_filter: usize,
        props: &[u8],
    ) -> usize {
        if self.protocol == ProtocolVersion::V5 {
            codec::subscribe_remaining_length(filters, per_filter, props)
        } else {
            codec::filters_remaining_length(filters, per_filter)
        }
    }

    /// Refuses a PUBLISH MQTT cannot carry, or (MQTT 5, connected) the broker would not take.
    pub(crate) fn check_publish_size(&self, p: &PublishFields<'_>) -> Result<(), SessionError> {
        let remaining = if self.protocol == ProtocolVersion::V5 {
            codec::v5_publish_remaining_length(p)
        } else {
            codec::publish_remaining_length(p.topic, p.payload, p.qos)
        };
        if remaining > crate::session::MAX_REMAINING_LENGTH || !self.fits_server(remaining) {
            return Err(SessionError::PacketTooLarge);
        }
        Ok(())
    }

    // ----- topic aliases -------------------------------------------------------------------

    /// The full topic of a publish and whether the user left it out for its alias. An empty
    /// topic needs MQTT 5 and an alias given a topic earlier; an alias above the broker's
    /// maximum is refused while connected (both [`SessionError::InvalidTopic`]).
    pub(crate) fn resolve_out_topic(
        &mut self,
        topic: String,
        alias: Option<u16>,
    ) -> Result<(String, bool), SessionError> {
        let v5 = self.protocol == ProtocolVersion::V5;
        let Some(alias) = alias.filter(|_| v5) else {
            return if topic.is_empty() {
                Err(SessionError::InvalidTopic)
            } else {
                Ok((topic, false))
            };
        };
        if self.is_connected() && alias > self.server.topic_alias_max {
            return Err(SessionError::InvalidTopic);
        }
        if topic.is_empty() {
            let known = self
                .user_aliases
                .get(&alias)
                .ok_or(SessionError::InvalidTopic)?;
            return Ok((known.clone(), true));
        }
        self.user_aliases.insert(alias, topic.clone());
        Ok((topic, false))
    }

    /// Encodes a PUBLISH of ours; under MQTT 5 applying topic aliases as this connection
    /// allows. Returns `false`, writing nothing, when the packet exceeds the broker's Maximum
    /// Packet Size.
    pub(crate) fn encode_out_publish(
        &mut self,
        buf: &mut BytesMut,
        m: OutMessage,
    ) -> Result<bool, EncodeError> {
        if self.protocol != ProtocolVersion::V5 {
            codec::encode_publish(buf, m.mid, m.topic, m.payload, m.qos, m.retain, m.dup)?;
            return Ok(true);
        }
        let mut properties = m.properties.clone();
        let mut topic = m.topic.as_str();
        // The alias this packet gives a topic; recorded only once the packet is written, since
        // the broker learns nothing from a packet that is not sent.
        let mut sets_alias = None;
        match properties::topic_alias(&m.properties) {
            Some(alias) if alias <= self.server.topic_alias_max => {
                if m.omit_topic && self.wire_aliases.get(&alias) == Some(&m.topic) {
                    topic = "";
                } else {
                    sets_alias = Some(alias);
                }
            }
            // The broker does not allow this alias (any more): send the topic itself.
            Some(_) => properties = properties::without(&m.properties, properties::TOPIC_ALIAS),
            None => {}
        }
        let fields = PublishFields {
            topic,
            payload: &m.payload,
            qos: m.qos,
            retain: m.retain,
            dup: m.dup,
            properties: &properties,
        };
        let size = codec::publish_wire_size(&fields);
        if self
            .server
            .max_packet_size
            .is_some_and(|max| u64::try_from(size).unwrap_or(u64::MAX) > u64::from(max))
        {
            return Ok(false);
        }
        codec::encode_publish_v5(buf, m.mid, &fields);
        if let Some(alias) = sets_alias {
            self.wire_aliases.insert(alias, m.topic.clone());
        }
        Ok(true)
    }

    /// Ends a stored message the session could not send, as a failed publish.
    pub(crate) fn fail_stored(&mut self, mid: u16, reason_code: u8) {
        if let Some(m) = self.store.remove(mid) {
            if m.state.in_flight() {
                self.inflight = self.inflight.saturating_sub(1);
            }
            if self.reports_published() {
                self.events.push_back(FullEvent::Published {
                    mid,
                    reason_code,
                    properties: Bytes::new(),
                });
            }
            self.release_queued();
        }
    }

    /// Fills in the topic of a broker's PUBLISH from its Topic Alias, or records the alias
    /// (MQTT 5 §3.3.2.3.4). An alias of 0 or above our Topic Alias Maximum, an unknown alias
    /// with an empty topic, or an empty topic without alias is a protocol error.
    pub(crate) fn resolve_in_topic(
        &mut self,
        message: &mut Message,
        alias: Option<u16>,
    ) -> Result<(), String> {
        let Some(alias) = alias else {
            return if message.topic.is_empty() {
                Err("PUBLISH with an empty topic and no topic alias".to_owned())
            } else {
                Ok(())
            };
        };
        if alias == 0 || alias > self.in_alias_max {
            return Err(format!(
                "topic alias {alias} outside 1..={} (our Topic Alias Maximum)",
                self.in_alias_max
            ));
        }
        if message.topic.is_empty() {
            match self.in_aliases.get(&alias) {
                Some(topic) => message.topic = topic.clone(),
                None => return Err(format!("unknown topic alias {alias}")),
            }
        } else {
            self.in_aliases.insert(alias, message.topic.clone());
        }
        Ok(())
    }
}
