//! The session state machine: paho-mqtt's client semantics with no socket and no clock.
//!
//! Inputs are user requests (`publish`, `subscribe`, ...), connection facts (`on_connected`,
//! `handle_bytes`, `on_connection_lost`) and time (`tick`), each with an explicit `now`.
//! Outputs are bytes (`poll_transmit`) and events (`poll_event`). Each rule below names the paho
//! 2.2 function it follows (`paho/mqtt/client.py`), so a reader can check it against the source.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Instant;

use bytes::Bytes;

use super::codec::{self, Outgoing, PublishFields};
use super::event::{
    DisconnectReason, Event, FullEvent, Message, PublishHandle, PublishStatus, ServerDisconnect,
    SessionError,
};
use super::options::{
    ConnectProperties, ProtocolVersion, QoS, SessionOptions, SubscribeOptions, MAX_REMAINING_LENGTH,
};
use super::store::{OutMessage, OutState, OutStore};

mod inbound;
mod lifecycle;
mod progress;
mod v5;

use progress::{Qos0Progress, DROPPED_RANGES_KEPT, STORED_TRACK};

use v5::ServerLimits;

/// A QoS 1/2 message handed back by [`Session::drop_out_messages`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// The mid `publish()` returned.
    pub mid: u16,
    /// Topic.
    pub topic: String,
    /// Payload.
    pub payload: Bytes,
    /// QoS (1 or 2).
    pub qos: QoS,
    /// Retain flag.
    pub retain: bool,
    /// MQTT 5 properties given to `publish_with_properties` (raw; empty for none).
    pub properties: Bytes,
}

/// Keepalive bookkeeping of one open connection (paho's `_last_msg_out`,
/// `_last_bytes_received` and `_ping_t`).
#[derive(Debug, Clone, Copy)]
struct Timers {
    last_out: Instant,
    last_in: Instant,
    ping_sent: Option<Instant>,
}

/// Where the connection stands. Mirrors paho's `_state` together with `_sock is None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// No transport (paho: `_sock is None`). Requests other than QoS 1/2 publish fail.
    Closed,
    /// Transport open, CONNECT queued, CONNACK awaited (paho `MQTT_CS_CONNECTING`).
    Connecting,
    /// CONNACK accepted (paho `MQTT_CS_CONNECTED`).
    Connected,
    /// `disconnect()` queued DISCONNECT (paho `MQTT_CS_DISCONNECTING`); `acked` says whether
    /// CONNACK had arrived, because packets are still processed until the socket closes.
    Disconnecting { acked: bool },
}

/// A sans-I/O MQTT 3.1/3.1.1/5 client session with paho-mqtt's semantics.
///
/// The owner (the connection task) opens a transport and calls [`Session::on_connected`], feeds
/// every byte read to [`Session::handle_bytes`], writes whatever [`Session::poll_transmit`]
/// appends, calls [`Session::tick`] at [`Session::poll_timeout`], and reports a dead transport
/// with [`Session::on_connection_lost`]. After an [`Event::Disconnected`] it closes the
/// transport once the last transmit buffer is flushed.
#[derive(Debug)]
pub struct Session {
    opts: SessionOptions,
    /// The protocol actually spoken: starts as `opts.protocol`, may be downgraded to 3.1.
    protocol: ProtocolVersion,
    link: Link,
    timers: Option<Timers>,
    /// Last mid handed out; paho's `_last_mid`.
    last_mid: u16,
    store: OutStore,
    /// Messages occupying a `max_inflight` slot; paho's `_inflight_messages`. Deliberately not
    /// reset when the connection drops, only at the next `on_connected`, because paho's
    /// `publish()` while disconnected looks at this stale count (see [`Session::publish`]).
    inflight: usize,
    /// Mids of SUBSCRIBE/UNSUBSCRIBE awaiting their ack, so new mids skip them.
    pending_acks: HashSet<u16>,
    /// Incoming QoS 2 messages between PUBLISH and PUBREL, by packet id; paho's `_in_messages`.
    incoming_qos2: HashMap<u16, Message>,
    tx: VecDeque<Outgoing>,
    events: VecDeque<FullEvent>,
    /// MQTT 5 CONNECT and will properties.
    connect_props: ConnectProperties,
    /// What the broker's CONNACK allowed on this connection (MQTT 5).
    server: ServerLimits,
    /// Topic Alias Maximum this connection's CONNECT declared: the broker's aliases may go up
    /// to it.
    in_alias_max: u16,
    /// The broker's topic aliases on this connection (MQTT 5 §3.3.2.3.4).
    in_aliases: HashMap<u16, Bytes>,
    /// Our topic aliases as the broker knows them on this connection, updated as PUBLISHes
    /// are encoded.
    wire_aliases: HashMap<u16, String>,
    /// The topic the user last gave each alias (with a non-empty topic), so a later publish
    /// with an empty topic and that alias can be stored with its full topic and re-sent
    /// correctly after a reconnect, where the broker forgot the alias.
    user_aliases: HashMap<u16, String>,
    /// Why packets could not be encoded (a bug if ever non-empty), for the owner to log.
    skipped: Vec<String>,
    /// When acknowledgements of received messages are sent.
    ack_mode: AckMode,
    /// PUBACK/PUBCOMP of delivered messages held back by `ack_mode`, in arrival order.
    held_acks: VecDeque<(u16, Outgoing)>,
    /// How many of `held_acks` (from the front) belong to messages already handed to the owner
    /// by `drain_events`: only those may be released. A message still waiting in `events` has
    /// not been through `on_message` yet.
    drained_acks: usize,
    /// QoS 0 messages queued for the socket so far, and how many of them are done (encoded, or
    /// dropped with their connection). They leave `tx` in order, so "done" is a watermark.
    qos0: Qos0Progress,
}

/// When the PUBACK (QoS 1) or PUBCOMP (QoS 2) of a delivered message is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AckMode {
    /// As soon as the message is decoded.
    #[default]
    Immediate,
    /// When the owner says the delivered messages were handled ([`Session::release_acks`]):
    /// paho sends the ack after `on_message` returns.
    AfterDelivery,
    /// Only when the owner acknowledges that message ([`Session::ack`]): paho's `manual_ack`.
    Manual,
}

impl Session {
    /// A closed session. Fails if a CONNECT field (client id, will, username, password) is
    /// longer than MQTT's 65535-byte string limit, as paho's `connect()` fails.
    pub fn new(opts: SessionOptions) -> Result<Self, SessionError> {
        if !codec::connect_fields_fit(&opts) {
            return Err(SessionError::PacketTooLarge);
        }
        Ok(Self {
            protocol: opts.protocol,
            opts,
            link: Link::Closed,
            timers: None,
            last_mid: 0,
            store: OutStore::default(),
            inflight: 0,
            pending_acks: HashSet::new(),
            incoming_qos2: HashMap::new(),
            tx: VecDeque::new(),
            events: VecDeque::new(),
            connect_props: ConnectProperties::default(),
            server: ServerLimits::default(),
            in_alias_max: 0,
            in_aliases: HashMap::new(),
            wire_aliases: HashMap::new(),
            user_aliases: HashMap::new(),
            skipped: Vec::new(),
            ack_mode: AckMode::Immediate,
            held_acks: VecDeque::new(),
            drained_acks: 0,
            qos0: Qos0Progress::default(),
        })
    }

    // ----- user requests -------------------------------------------------------------------

    /// Publishes a message; paho's `Client.publish`.
    ///
    /// A mid is allocated at once for every QoS, from the counter shared with subscribe and
    /// unsubscribe. QoS 0 is queued for the socket, or dropped with
    /// [`PublishStatus::NotConnected`] when there is none. QoS 1/2 is stored until its final
    /// ack, even while disconnected, and sent now if a `max_inflight` slot is free.
    pub fn publish(
        &mut self,
        topic: String,
        payload: Bytes,
        qos: QoS,
        retain: bool,
    ) -> Result<PublishHandle, SessionError> {
        self.publish_checked(topic, payload, qos, retain, Bytes::new(), None)
    }

    /// `publish` with properties already validated and their Topic Alias extracted.
    fn publish_checked(
        &mut self,
        topic: String,
        payload: Bytes,
        qos: QoS,
        retain: bool,
        properties: Bytes,
        alias: Option<u16>,
    ) -> Result<PublishHandle, SessionError> {
        // paho's `_raise_for_invalid_topic` plus its v3 empty-topic check; MQTT 5 allows an
        // empty topic that a Topic Alias stands for.
        let (topic, omit_topic) = self.resolve_out_topic(topic, alias)?;
        if !codec::fits_u16(topic.len()) || topic.contains(['+', '#']) {
            return Err(SessionError::InvalidTopic);
        }
        self.check_publish_size(&PublishFields {
            // The full topic even when the alias will stand for it: after a reconnect it is sent.
            topic: &topic,
            payload: &payload,
            qos,
            retain,
            dup: false,
            properties: &properties,
        })?;
        let mid = self.next_mid()?;
        let open = self.link != Link::Closed;

        if qos == QoS::AtMostOnce {
            if !open {
                return Ok(PublishHandle {
                    mid,
                    status: PublishStatus::NotConnected,
                    track: 0,
                });
            }
            self.tx.push_back(Outgoing::PublishQos0 {
                mid,
                topic,
                payload,
                retain,
                properties,
                omit_topic,
            });
            self.qos0.queued += 1;
            return Ok(PublishHandle {
                mid,
                status: PublishStatus::Sent,
                track: self.qos0.queued,
            });
        }

        if self.opts.max_queued > 0 && self.store.len() >= self.opts.max_queued {
            return Err(SessionError::QueueFull { mid });
        }
        // paho tests the in-flight window before it knows whether there is a socket: with
        // a free slot it tries to send and, finding no socket, stores the message for the next
        // CONNACK (rc NO_CONN); with no free slot it queues it and reports success.
        let (state, status) = if self.window_open() {
            if open {
                self.inflight += 1;
                self.tx.push_back(Outgoing::PublishStored { mid });
                (OutState::sent(qos), PublishStatus::Sent)
            } else {
                (OutState::Publish, PublishStatus::NotConnected)
            }
        } else {
            (OutState::Queued, PublishStatus::Queued)
        };
        let seq = self.store.insert(OutMessage {
            mid,
            topic,
            payload,
            qos,
            retain,
            dup: false,
            state,
            properties,
            omit_topic,
        });
        Ok(PublishHandle {
            mid,
            status,
            track: STORED_TRACK | (seq + 1),
        })
    }

    /// Subscribes to filters in one SUBSCRIBE packet; paho's `Client.subscribe`.
    ///
    /// Fails with [`SessionError::NotConnected`] without using a mid when there is no
    /// connection, as paho returns `(MQTT_ERR_NO_CONN, None)`.
    pub fn subscribe(&mut self, filters: Vec<(String, QoS)>) -> Result<u16, SessionError> {
        let filters = filters
            .into_iter()
            .map(|(f, qos)| (f, SubscribeOptions::from(qos)))
            .collect();
        self.subscribe_checked(filters, Bytes::new())
    }

    fn subscribe_checked(
        &mut self,
        filters: Vec<(String, SubscribeOptions)>,
        properties: Bytes,
    ) -> Result<u16, SessionError> {
        if filters.is_empty() {
            return Err(SessionError::EmptyTopicList);
        }
        if !filters.iter().all(|(f, _)| paho_filter_ok(f)) {
            return Err(SessionError::InvalidFilter);
        }
        let len = self.sub_unsub_length(filters.iter().map(|(f, _)| f.as_str()), 1, &properties);
        self.request_with_mid(len, |mid| Outgoing::Subscribe {
            mid,
            filters,
            properties,
        })
    }

    /// Unsubscribes from filters in one UNSUBSCRIBE packet; paho's `Client.unsubscribe`.
    pub fn unsubscribe(&mut self, filters: Vec<String>) -> Result<u16, SessionError> {
        self.unsubscribe_checked(filters, Bytes::new())
    }

    fn unsubscribe_checked(
        &mut self,
        filters: Vec<String>,
        properties: Bytes,
    ) -> Result<u16, SessionError> {
        if filters.is_empty() {
            return Err(SessionError::EmptyTopicList);
        }
        if filters
            .iter()
            .any(|f| f.is_empty() || !codec::fits_u16(f.len()))
        {
            return Err(SessionError::InvalidTopic);
        }
        let len = self.sub_unsub_length(filters.iter().map(String::as_str), 0, &properties);
        self.request_with_mid(len, |mid| Outgoing::Unsubscribe {
            mid,
            filters,
            properties,
        })
    }

    fn request_with_mid(
        &mut self,
        remaining_length: usize,
        packet: impl FnOnce(u16) -> Outgoing,
    ) -> Result<u16, SessionError> {
        if self.link == Link::Closed {
            return Err(SessionError::NotConnected);
        }
        if remaining_length > MAX_REMAINING_LENGTH || !self.fits_server(remaining_length) {
            return Err(SessionError::PacketTooLarge);
        }
        let mid = self.next_mid()?;
        self.pending_acks.insert(mid);
        self.tx.push_back(packet(mid));
        Ok(mid)
    }

    /// Queues DISCONNECT; paho's `Client.disconnect`. The connection ends, with
    /// [`Event::Disconnected`]`{ reason: UserRequested }`, when `poll_transmit` hands the
    /// DISCONNECT to the socket; anything queued after it is not sent.
    pub fn disconnect(&mut self) -> Result<(), SessionError> {
        self.disconnect_checked(None, Bytes::new())
    }

    fn disconnect_checked(
        &mut self,
        reason_code: Option<u8>,
        properties: Bytes,
    ) -> Result<(), SessionError> {
        self.link = match self.link {
            Link::Closed => return Err(SessionError::NotConnected),
            Link::Connecting => Link::Disconnecting { acked: false },
            Link::Connected => Link::Disconnecting { acked: true },
            already @ Link::Disconnecting { .. } => already,
        };
        self.tx.push_back(Outgoing::Disconnect {
            reason_code,
            properties,
        });
        Ok(())
    }

    /// Empties the outgoing store and returns its messages; paho 2.2's `drop_out_messages`.
    /// Unlike paho, the in-flight count is reset too, so later publishes are not stuck behind
    /// slots no ack will ever free.
    pub fn drop_out_messages(&mut self) -> Vec<StoredMessage> {
        self.inflight = 0;
        self.store
            .drain()
            .into_iter()
            .map(|m| StoredMessage {
                mid: m.mid,
                topic: m.topic,
                payload: m.payload,
                qos: m.qos,
                retain: m.retain,
                properties: m.properties,
            })
            .collect()
    }

    /// Replaces the options the next CONNECT is built from (paho reads user name, password,
    /// will, keepalive and limits afresh at every connect), keeping the outgoing store and the
    /// mid counter. Fails, changing nothing, if a CONNECT field is over 65535 bytes.
    pub fn set_options(&mut self, opts: SessionOptions) -> Result<(), SessionError> {
        if !codec::connect_fields_fit(&opts) {
            return Err(SessionError::PacketTooLarge);
        }
        self.protocol = opts.protocol;
        self.opts = opts;
        Ok(())
    }

    /// Sets `max_inflight` and `max_queued` (paho's setters, allowed while disconnected), so
    /// they apply to messages published before the next connect too.
    pub fn set_limits(&mut self, max_inflight: usize, max_queued: usize) {
        self.opts.max_inflight = max_inflight;
        self.opts.max_queued = max_queued;
    }

    /// Sets the largest incoming remaining length accepted
    /// ([`SessionOptions::max_packet_size`]), from the next byte handled on; a larger packet
    /// then ends the connection with a protocol error as soon as its header is read.
    pub fn set_max_packet_size(&mut self, max: usize) {
        self.opts.max_packet_size = max;
    }

    /// The largest incoming remaining length accepted.
    pub fn max_packet_size(&self) -> usize {
        self.opts.max_packet_size
    }

    /// Chooses when received messages are acknowledged (see [`AckMode`]).
    pub fn set_ack_mode(&mut self, mode: AckMode) {
        self.ack_mode = mode;
    }

    /// Sends the acknowledgements held for messages delivered so far (`AckMode::AfterDelivery`).
    /// Returns whether there were any.
    pub fn release_acks(&mut self) -> bool {
        if self.ack_mode != AckMode::AfterDelivery || self.held_acks.is_empty() {
            return false;
        }
        let n = self.drained_acks.min(self.held_acks.len());
        if n == 0 {
            return false;
        }
        let acks: Vec<Outgoing> = self.held_acks.drain(..n).map(|(_, ack)| ack).collect();
        self.drained_acks = 0;
        self.tx.extend(acks);
        true
    }

    /// Sends the held acknowledgement of message `mid` (`AckMode::Manual`, paho's `ack()`).
    /// Returns whether one was held.
    pub fn ack(&mut self, mid: u16) -> bool {
        match self.held_acks.iter().position(|(m, _)| *m == mid) {
            Some(pos) => {
                if let Some((_, ack)) = self.held_acks.remove(pos) {
                    self.tx.push_back(ack);
                    if pos < self.drained_acks {
                        self.drained_acks -= 1;
                    }
                }
                true
            }
            None => false,
        }
    }

    /// Queues the acknowledgement of a delivered message, or holds it (see [`AckMode`]).
    pub(crate) fn queue_ack(&mut self, mid: u16, ack: Outgoing) {
        if self.ack_mode == AckMode::Immediate {
            self.tx.push_back(ack);
        } else {
            self.held_acks.push_back((mid, ack));
        }
    }

    /// The owner closed the transport on purpose without a loss to report (paho's
    /// `reconnect()` closing the old socket, or the client going away): no `Disconnected`
    /// event. Unsent QoS 0 publishes are still reported as dropped.
    pub fn abandon(&mut self) {
        if self.link != Link::Closed {
            self.shut(None);
        }
    }

    /// The next event, oldest first, in its MQTT 3 view.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front().map(Event::from)
    }

    /// The next event, oldest first, with its MQTT 5 reason codes and properties.
    pub fn poll_full_event(&mut self) -> Option<FullEvent> {
        self.events.pop_front()
    }

    /// Takes the reasons packets were skipped by `poll_transmit` (encoding bugs), to log them
    /// once no lock is held.
    pub fn take_skipped(&mut self) -> Vec<String> {
        std::mem::take(&mut self.skipped)
    }

    /// Whether events are waiting to be taken.
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// Every pending event, oldest first, in one batch, in their MQTT 3 view.
    pub fn drain_events(&mut self) -> impl Iterator<Item = Event> + '_ {
        // Every held ack's message is among the events handed out now.
        self.drained_acks = self.held_acks.len();
        self.events.drain(..).map(Event::from)
    }

    /// Every pending event, oldest first, in one batch, with their MQTT 5 reason codes and
    /// properties.
    pub fn drain_full_events(&mut self) -> impl Iterator<Item = FullEvent> + '_ {
        // Every held ack's message is among the events handed out now.
        self.drained_acks = self.held_acks.len();
        self.events.drain(..)
    }

    // ----- state queries -------------------------------------------------------------------

    /// Whether CONNACK accepted the current connection (paho's `is_connected()`).
    pub fn is_connected(&self) -> bool {
        self.link == Link::Connected
    }

    /// Whether a transport is open (paho's `_sock is not None`).
    pub fn is_open(&self) -> bool {
        self.link != Link::Closed
    }

    /// Whether `poll_transmit` has something to write (paho's `want_write()`).
    pub fn wants_write(&self) -> bool {
        self.is_open() && !self.tx.is_empty()
    }

    /// QoS 1/2 messages currently occupying a `max_inflight` slot.
    pub fn inflight(&self) -> usize {
        self.inflight
    }

    /// QoS 1/2 messages stored, in flight or waiting.
    pub fn stored(&self) -> usize {
        self.store.len()
    }

    /// The protocol the next CONNECT will use (3.1 after an automatic downgrade).
    pub fn protocol(&self) -> ProtocolVersion {
        self.protocol
    }

    /// The client id the next CONNECT will carry (generated after a refused empty id).
    pub fn client_id(&self) -> &[u8] {
        &self.opts.client_id
    }

    /// Moves the mid counter, so tests can reach the wrap-around without 65535 publishes.
    #[cfg(test)]
    pub(crate) fn set_last_mid(&mut self, mid: u16) {
        self.last_mid = mid;
    }

    // ----- internals -----------------------------------------------------------------------

    fn clean_session(&self) -> bool {
        self.opts.clean_session
    }

    /// Whether `max_inflight` (and MQTT 5's Receive Maximum) leaves room for one more message.
    fn window_open(&self) -> bool {
        let limit = self.inflight_limit();
        limit == 0 || self.inflight < limit
    }

    /// paho's `_mid_generate`: 1..=65535, wrapping to 1. Unlike paho it skips mids still in use
    /// (paho would fail such a publish with `MQTT_ERR_QUEUE_SIZE` and reuse the id for a
    /// SUBSCRIBE), which only differs once 65535 requests are outstanding.
    fn next_mid(&mut self) -> Result<u16, SessionError> {
        for _ in 0..u16::MAX {
            self.last_mid = if self.last_mid == u16::MAX {
                1
            } else {
                self.last_mid + 1
            };
            let mid = self.last_mid;
            if !self.store.contains(mid) && !self.pending_acks.contains(&mid) {
                return Ok(mid);
            }
        }
        Err(SessionError::NoFreeMid)
    }

    /// paho's `_messages_reconnect_reset_out`: every stored message goes back to `Publish`
    /// (or `ResendPubrel`), to be sent at CONNACK regardless of `max_inflight`, as paho does.
    fn reset_out_messages(&mut self) {
        self.inflight = 0;
        self.store.clear_queued();
        let clean = self.clean_session();
        for m in self.store.iter_mut() {
            let (dup, state) = match (m.qos, m.state) {
                (QoS::ExactlyOnce, OutState::WaitPubcomp | OutState::ResendPubrel) if !clean => {
                    (false, OutState::ResendPubrel)
                }
                // A clean session forgets the broker side of any QoS 2 flow, so the PUBLISH
                // itself is re-sent; paho marks it DUP whenever it had left the `Publish` state,
                // even if it was only queued.
                (QoS::ExactlyOnce, state) if clean => {
                    (state != OutState::Publish, OutState::Publish)
                }
                (_, OutState::WaitPuback | OutState::WaitPubrec) => (true, OutState::Publish),
                _ => (false, OutState::Publish),
            };
            m.dup |= dup;
            m.state = state;
        }
    }

    /// paho's `_update_inflight`: releases queued messages, oldest first, into free slots.
    fn release_queued(&mut self) {
        let limit = self.inflight_limit();
        if limit == 0 {
            return;
        }
        while self.inflight < limit {
            let Some(m) = self.store.pop_queued() else {
                return;
            };
            m.state = OutState::sent(m.qos);
            let mid = m.mid;
            self.inflight += 1;
            self.tx.push_back(Outgoing::PublishStored { mid });
        }
    }

    /// Ends the connection: reports why (paho reports success whenever a DISCONNECT was
    /// pending), then drops what was left to send.
    fn close(&mut self, reason: DisconnectReason) {
        self.close_with(reason, None);
    }

    /// [`Session::close`], reporting the broker's DISCONNECT if one ended the connection.
    fn close_with(&mut self, reason: DisconnectReason, server: Option<ServerDisconnect>) {
        let reason = if matches!(self.link, Link::Disconnecting { .. }) {
            DisconnectReason::UserRequested
        } else {
            reason
        };
        self.shut(Some((reason, server)));
    }

    /// Closes the link. Unsent QoS 0 publishes are reported as dropped (paho marks them
    /// `MQTT_ERR_CONN_LOST` at its next reconnect; we do it now so a waiter is released even
    /// if no reconnect comes). Unanswered SUBSCRIBE/UNSUBSCRIBE mids are freed: a broker never
    /// answers them on a later connection. Stored QoS 1/2 messages stay for the next one.
    fn shut(&mut self, reason: Option<(DisconnectReason, Option<ServerDisconnect>)>) {
        self.link = Link::Closed;
        // The broker re-sends unacknowledged messages on the next connection.
        self.held_acks.clear();
        self.drained_acks = 0;
        self.timers = None;
        self.pending_acks.clear();
        if let Some((reason, server)) = reason {
            self.events
                .push_back(FullEvent::Disconnected { reason, server });
        }
        let first_dropped = self.qos0.done + 1;
        for packet in self.tx.drain(..) {
            if let Outgoing::PublishQos0 { mid, .. } = packet {
                self.qos0.done += 1;
                if self.qos0.report {
                    self.events.push_back(FullEvent::PublishDropped { mid });
                }
            }
        }
        if self.qos0.done >= first_dropped {
            if self.qos0.dropped.len() == DROPPED_RANGES_KEPT {
                self.qos0.dropped.pop_front();
            }
            self.qos0.dropped.push_back((first_dropped, self.qos0.done));
        }
    }
}

/// paho's `_filter_wildcard_len_check`: not empty, at most 65535 bytes, `+`/`#` only as a whole
/// level, nothing after `#`.
fn paho_filter_ok(filter: &str) -> bool {
    !filter.is_empty()
        && codec::fits_u16(filter.len())
        && !filter
            .split('/')
            .any(|level| level.len() > 1 && level.contains(['+', '#']))
        && !filter.contains("#/")
}

/// A 22-character base-62 client id from 128 random bits, the shape paho generates with
/// `_base62(uuid4().int, padding=22)`. The bits come from std's randomly keyed hasher, which
/// is enough for an identifier and needs no extra dependency.
fn random_client_id() -> Vec<u8> {
    use std::hash::{BuildHasher, Hasher};
    const DIGITS: &[u8; 62] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let state = std::collections::hash_map::RandomState::new();
    let mut bits: u128 = 0;
    for word in 0..2u64 {
        let mut hasher = state.build_hasher();
        hasher.write_u64(word);
        bits = (bits << 64) | u128::from(hasher.finish());
    }
    let mut id = vec![b'0'; 22];
    for slot in id.iter_mut().rev() {
        // `bits % 62` is below 62, so the index cast cannot truncate.
        #[allow(clippy::cast_possible_truncation)]
        let digit = (bits % 62) as usize;
        *slot = DIGITS[digit];
        bits /= 62;
    }
    id
}
