//! Structured fuzzing: a session and a model broker on a model network, driven by generated
//! sequences of application requests, broker packets (all valid) and connection losses.
//!
//! The network carries bytes both ways with delays: the client reads the broker's bytes in
//! arbitrary chunks when an op says so, and the broker reads the client's packets when an op
//! says so; a lost connection loses whatever was still in flight. The broker follows MQTT
//! (3.1.1 or 5) and keeps its session across connections when the client's is persistent,
//! unless an op makes it forget it. It answers, re-sends and releases only when ops say so,
//! with random reason codes and properties under MQTT 5.
//!
//! Checked after every step:
//! - the session never reports a protocol error (every packet here is valid);
//! - every QoS 1/2 message `publish()` accepted gets at most one `Published`, and is stored
//!   until it does: `stored()` equals the accepted messages not yet published;
//! - a QoS 0 message sent gets exactly one `Published` or `PublishDropped`;
//! - a new mid is never one still in use, and every PUBLISH, PUBREL, SUBSCRIBE and UNSUBSCRIBE
//!   on the wire carries the id of the request it belongs to, with that request's payload,
//!   QoS and topic (topic aliases resolved as the broker resolves them);
//! - no more QoS 1/2 messages unanswered at the broker than `max_inflight`;
//! - a broker QoS 2 message reaches the application at most once, whatever the DUP re-sends
//!   and reconnects, and exactly once when the broker's flow completes;
//! - with delivery-time or manual acks, no ack reaches the broker before the application had the
//!   message (and acked it, for manual acks);
//! - the session is open exactly when the model's transport is.
//!
//! At the end a cooperative broker reconnects and answers everything: then every accepted
//! QoS 1/2 message must have been published exactly once and the store must be empty.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use proptest::sample::Index;

mod broker;

use super::ops::{Op, Setup};
use super::wire::{self, BrokerPacket, ClientPacket};
use super::*;

// ----- the model ---------------------------------------------------------------------------

/// A request the application made whose mid is in use.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Request {
    Publish {
        qos: u8,
        payload: Bytes,
        topic: String,
    },
    Subscribe(usize),
    Unsubscribe(usize),
}

/// Where a broker QoS 1/2 message stands at the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    /// PUBLISH sent, PUBACK/PUBREC awaited.
    Sent,
    /// PUBREC received, PUBREL not sent yet.
    Received,
    /// PUBREL sent, PUBCOMP awaited.
    Released,
}

#[derive(Debug, Clone)]
struct BrokerMessage {
    payload: Bytes,
    topic: Vec<u8>,
    qos: u8,
    flow: Flow,
}

/// Something the broker owes the client on this connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owed {
    PubAck(u16),
    PubRec(u16),
    PubComp(u16),
    SubAck(u16, usize),
    UnsubAck(u16, usize),
    PingResp,
}

/// One transport connection, as the broker sees it.
#[derive(Debug, Default)]
struct Conn {
    connect_seen: bool,
    /// The CONNACK the broker sent: accepted, and the Topic Alias Maximum it allowed.
    connack: Option<(bool, u16)>,
    /// The broker sent DISCONNECT or a refusal: it sends and reads nothing more.
    broker_closed: bool,
    owed: Vec<Owed>,
    /// Ids of the client's QoS 1/2 PUBLISHes received and not finally answered.
    unanswered: HashSet<u16>,
    client_aliases: HashMap<u16, Bytes>,
    broker_aliases: HashMap<u16, Vec<u8>>,
}

struct Model {
    setup: Setup,
    s: Session,
    now: Instant,
    /// The client's read buffer.
    rbuf: BytesMut,
    /// The socket accepts no writes: the session's output waits in it.
    stalled: bool,
    conn: Option<Conn>,
    to_client: BytesMut,
    to_broker: VecDeque<ClientPacket>,
    // The application's view.
    in_use: HashMap<u16, Request>,
    /// Every message the application published: topic and QoS by payload.
    sent: HashMap<Bytes, (String, u8)>,
    /// The topic each alias was last given (MQTT 5 publish with a topic and an alias).
    user_aliases: HashMap<u16, String>,
    counter: u32,
    /// How often each broker message (by payload) reached the application.
    delivered: HashMap<Bytes, u32>,
    /// Delivered QoS 1/2 messages the application has not acked (manual acks).
    to_ack: Vec<(u16, Bytes)>,
    /// How often the application acked each broker message.
    app_acked: HashMap<Bytes, u32>,
    // The broker.
    broker_session: bool,
    broker_out: BTreeMap<u16, BrokerMessage>,
    /// Every packet id the broker ever used, so an "unknown" PUBREL really is unknown.
    broker_ids_ever: HashSet<u16>,
    /// QoS of every broker message, by payload.
    broker_qos: HashMap<Bytes, u8>,
    steps: u64,
}

const TOPICS: [&str; 4] = ["a", "a/b", "c/d/e", "f"];

fn fail(msg: String) -> TestCaseError {
    TestCaseError::fail(msg)
}

impl Model {
    fn new(setup: Setup) -> Result<Self, TestCaseError> {
        let mut o = opts("fuzz");
        o.clean_session = setup.clean;
        o.keepalive = setup.keepalive;
        o.max_inflight = setup.max_inflight;
        o.max_queued = setup.max_queued;
        if setup.v5 {
            o.protocol = ProtocolVersion::V5;
        }
        let mut s = Session::new(o).map_err(|e| fail(e.to_string()))?;
        s.set_ack_mode(setup.ack_mode);
        s.set_last_mid(setup.last_mid);
        if setup.alias_max > 0 {
            let props = wire::block(&[wire::property::u16(0x22, setup.alias_max)]);
            s.set_connect_properties(ConnectProperties {
                connect: Bytes::from(props),
                will: Bytes::new(),
            })
            .map_err(|e| fail(e.to_string()))?;
        }
        Ok(Self {
            setup,
            s,
            now: Instant::now(),
            rbuf: BytesMut::new(),
            stalled: false,
            conn: None,
            to_client: BytesMut::new(),
            to_broker: VecDeque::new(),
            in_use: HashMap::new(),
            sent: HashMap::new(),
            user_aliases: HashMap::new(),
            counter: 0,
            delivered: HashMap::new(),
            to_ack: Vec::new(),
            app_acked: HashMap::new(),
            broker_session: false,
            broker_out: BTreeMap::new(),
            broker_ids_ever: HashSet::new(),
            broker_qos: HashMap::new(),
            steps: 0,
        })
    }

    fn v5(&self) -> bool {
        self.setup.v5
    }

    // ----- the session's outputs -------------------------------------------------------

    /// Takes the session's output and events until there are none, checking each.
    fn pump(&mut self) -> Result<(), TestCaseError> {
        loop {
            let mut out = BytesMut::new();
            if !self.stalled {
                self.s.poll_transmit(&mut out, self.now);
            }
            let packets = parse_client(&out, self.v5()).map_err(fail)?;
            prop_assert!(
                packets.is_empty() || self.conn.is_some(),
                "output with no transport: {packets:?}"
            );
            self.to_broker.extend(packets);
            let events: Vec<FullEvent> = self.s.drain_full_events().collect();
            if events.is_empty() && (self.stalled || !self.s.wants_write()) {
                break;
            }
            for e in events {
                self.on_event(e)?;
            }
        }
        self.check_state()
    }

    fn on_event(&mut self, e: FullEvent) -> Result<(), TestCaseError> {
        match e {
            FullEvent::Connected { .. } => {
                let accepted = self.conn.as_ref().and_then(|c| c.connack);
                prop_assert!(
                    matches!(accepted, Some((true, _))),
                    "Connected without an accepting CONNACK"
                );
            }
            FullEvent::ConnectRefused { .. } => {}
            FullEvent::Message(m) => {
                let count = self.delivered.entry(m.payload.clone()).or_insert(0);
                *count += 1;
                let qos = self.broker_qos.get(&m.payload).copied();
                prop_assert!(qos.is_some(), "message the broker never sent: {m:?}");
                prop_assert!(
                    !(qos == Some(2) && *count > 1),
                    "QoS 2 message delivered {count} times: {m:?}"
                );
                if m.qos != QoS::AtMostOnce {
                    self.to_ack.push((m.mid, m.payload));
                }
            }
            FullEvent::Published { mid, .. } => match self.in_use.remove(&mid) {
                Some(Request::Publish { .. }) => {}
                other => {
                    return Err(fail(format!(
                        "Published for mid {mid}, which was {other:?} (published twice?)"
                    )))
                }
            },
            FullEvent::PublishDropped { mid } => match self.in_use.remove(&mid) {
                Some(Request::Publish { qos: 0, .. }) => {}
                other => return Err(fail(format!("PublishDropped for mid {mid}: {other:?}"))),
            },
            FullEvent::Subscribed { mid, .. } => {
                if matches!(self.in_use.get(&mid), Some(Request::Subscribe(_))) {
                    self.in_use.remove(&mid);
                }
            }
            FullEvent::Unsubscribed { mid, .. } => {
                if matches!(self.in_use.get(&mid), Some(Request::Unsubscribe(_))) {
                    self.in_use.remove(&mid);
                }
            }
            FullEvent::Disconnected { reason, .. } => {
                prop_assert!(
                    !matches!(reason, DisconnectReason::ProtocolError(_)),
                    "protocol error on valid input: {reason:?}"
                );
                prop_assert!(self.conn.is_some(), "Disconnected twice: {reason:?}");
                self.end_connection(true)?;
            }
            FullEvent::RetryConnect { .. } => {
                prop_assert!(self.conn.is_some(), "RetryConnect with no connection");
                self.end_connection(true)?;
            }
        }
        Ok(())
    }

    fn check_state(&self) -> Result<(), TestCaseError> {
        prop_assert_eq!(self.s.is_open(), self.conn.is_some());
        let stored = self
            .in_use
            .values()
            .filter(|r| matches!(r, Request::Publish { qos: 1 | 2, .. }))
            .count();
        prop_assert_eq!(
            self.s.stored(),
            stored,
            "store and accepted messages differ"
        );
        Ok(())
    }

    // ----- connections -----------------------------------------------------------------

    /// The transport is closed. When the session ended it, the owner flushed the session's
    /// last output first (`deliver`); a lost connection loses what was in flight.
    fn end_connection(&mut self, deliver: bool) -> Result<(), TestCaseError> {
        if deliver {
            self.broker_read()?;
        }
        self.to_broker.clear();
        self.to_client.clear();
        self.rbuf.clear();
        if let Some(conn) = self.conn.take() {
            if !conn.broker_closed {
                self.broker_lost();
            }
        }
        // The session forgets unanswered SUBSCRIBE/UNSUBSCRIBE ids with the connection.
        self.in_use
            .retain(|_, r| matches!(r, Request::Publish { .. }));
        Ok(())
    }

    /// The broker's side of a connection ending: a clean session ends with it.
    fn broker_lost(&mut self) {
        if self.setup.clean {
            self.broker_session = false;
            self.broker_out.clear();
        }
    }

    fn reconnect(&mut self) {
        if self.conn.is_none() {
            self.s.on_connected(self.now);
            self.conn = Some(Conn::default());
        }
    }

    fn lose(&mut self) -> Result<(), TestCaseError> {
        if self.conn.is_some() {
            self.to_broker.clear();
            self.to_client.clear();
            self.s.on_connection_lost(self.now);
            // Disconnected ends the model's connection.
            self.pump()?;
        }
        Ok(())
    }

    fn client_read(&mut self, n: usize) {
        if self.conn.is_none() || self.to_client.is_empty() {
            return;
        }
        let n = n.min(self.to_client.len());
        let chunk = self.to_client.split_to(n);
        self.rbuf.extend_from_slice(&chunk);
        self.s.handle_bytes(&mut self.rbuf, self.now);
        self.steps += 1;
    }

    // ----- the application -------------------------------------------------------------

    fn publish(
        &mut self,
        qos: u8,
        topic: u8,
        retain: bool,
        alias: Option<(u8, bool)>,
        big: bool,
    ) -> Result<(), TestCaseError> {
        self.counter += 1;
        let mut payload = format!("c{}", self.counter).into_bytes();
        if big {
            payload.resize(200, b'.');
        }
        let payload = Bytes::from(payload);
        let mut topic = TOPICS[usize::from(topic) % TOPICS.len()].to_owned();
        let qos_ = QoS::from_u8(qos).ok_or_else(|| fail(format!("QoS {qos}")))?;
        let stored_before = self.s.stored();
        let alias = alias
            .filter(|_| self.v5())
            .map(|(seed, omit)| (1 + u16::from(seed) % 4, omit));
        let result = if self.v5() {
            let mut props = Vec::new();
            if let Some((a, omit)) = alias {
                props.push(wire::property::u16(0x23, a));
                if omit {
                    topic = String::new();
                }
            }
            self.s
                .publish_with_properties(
                    topic.clone(),
                    payload.clone(),
                    qos_,
                    retain,
                    Bytes::from(wire::block(&props)),
                )
                .map_err(session_error)
        } else {
            self.s.publish(topic.clone(), payload.clone(), qos_, retain)
        };
        // The full topic the message stands for.
        let full_topic = match alias {
            Some((a, true)) => self.user_aliases.get(&a).cloned(),
            _ => Some(topic.clone()),
        };
        match (&result, alias) {
            (Err(SessionError::InvalidTopic), _) => {}
            (_, Some((a, false))) => {
                self.user_aliases.insert(a, topic.clone());
            }
            _ => {}
        }
        match result {
            Ok(handle) => {
                let owner = self.in_use.get(&handle.mid);
                prop_assert!(owner.is_none(), "mid {} reused while {owner:?}", handle.mid);
                let Some(full_topic) = full_topic else {
                    return Err(fail(
                        "empty topic with an unknown alias accepted".to_owned(),
                    ));
                };
                self.sent.insert(payload.clone(), (full_topic.clone(), qos));
                if qos > 0 || handle.status == PublishStatus::Sent {
                    self.in_use.insert(
                        handle.mid,
                        Request::Publish {
                            qos,
                            payload,
                            topic: full_topic,
                        },
                    );
                }
            }
            Err(SessionError::QueueFull { .. }) => {
                prop_assert!(
                    self.setup.max_queued > 0 && stored_before >= self.setup.max_queued,
                    "queue full with {stored_before} stored, max_queued {}",
                    self.setup.max_queued
                );
            }
            // Bigger than the broker allows (MQTT 5), or an alias it does not allow.
            Err(SessionError::PacketTooLarge | SessionError::InvalidTopic) if self.v5() => {}
            Err(e) => return Err(fail(format!("publish refused: {e:?}"))),
        }
        Ok(())
    }

    fn subscribe(&mut self, n: u8, unsubscribe: bool) -> Result<(), TestCaseError> {
        let filters: Vec<String> = (0..n).map(|i| format!("f/{i}/#")).collect();
        let n = filters.len();
        let result = match (unsubscribe, self.v5()) {
            (false, false) => self
                .s
                .subscribe(filters.into_iter().map(|f| (f, QoS::ExactlyOnce)).collect()),
            (false, true) => self
                .s
                .subscribe_with_options(
                    filters
                        .into_iter()
                        .map(|f| (f, SubscribeOptions::from(QoS::AtLeastOnce)))
                        .collect(),
                    Bytes::from(wire::block(&[wire::property::vbi(0x0B, 7)])),
                )
                .map_err(session_error),
            (true, _) => self.s.unsubscribe(filters),
        };
        match result {
            Ok(mid) => {
                let owner = self.in_use.get(&mid);
                prop_assert!(owner.is_none(), "mid {mid} reused while {owner:?}");
                let request = if unsubscribe {
                    Request::Unsubscribe(n)
                } else {
                    Request::Subscribe(n)
                };
                self.in_use.insert(mid, request);
            }
            Err(SessionError::NotConnected) => prop_assert!(!self.s.is_open()),
            // Bigger than the broker's Maximum Packet Size (MQTT 5).
            Err(SessionError::PacketTooLarge) if self.v5() => {}
            Err(e) => return Err(fail(format!("subscribe refused: {e:?}"))),
        }
        Ok(())
    }

    /// Manual acks: the application acks one delivered message, picked by `pick`, or the
    /// oldest.
    fn app_ack(&mut self, pick: Option<Index>) {
        if self.setup.ack_mode != AckMode::Manual || self.to_ack.is_empty() {
            return;
        }
        let at = pick.map_or(0, |p| p.index(self.to_ack.len()));
        let (mid, payload) = self.to_ack.remove(at);
        *self.app_acked.entry(payload).or_insert(0) += 1;
        self.s.ack(mid);
    }

    // ----- driving ---------------------------------------------------------------------

    fn apply(&mut self, op: Op) -> Result<(), TestCaseError> {
        match op {
            Op::Publish {
                qos,
                topic,
                retain,
                alias,
                big,
            } => self.publish(qos, topic, retain, alias, big)?,
            Op::Subscribe(n) => self.subscribe(n, false)?,
            Op::Unsubscribe(n) => self.subscribe(n, true)?,
            Op::Disconnect(reason) => {
                let result = if self.v5() {
                    self.s
                        .disconnect_with(reason, Bytes::new())
                        .map_err(session_error)
                } else {
                    self.s.disconnect()
                };
                prop_assert_eq!(
                    result.is_ok(),
                    self.conn.is_some(),
                    "disconnect: {:?}",
                    result
                );
            }
            Op::AppAck(pick) => self.app_ack(Some(pick)),
            Op::ReleaseAcks => {
                self.s.release_acks();
            }
            Op::Tick(secs) => {
                self.now += Duration::from_secs(u64::from(secs));
                self.s.tick(self.now);
            }
            Op::ClientRead(n, release) => {
                self.client_read(n);
                if release {
                    self.s.release_acks();
                }
            }
            Op::BrokerRead => self.broker_read()?,
            Op::Lose => self.lose()?,
            Op::Reconnect(force) => {
                if force && self.conn.is_some() {
                    self.end_connection(false)?;
                    self.s.on_connected(self.now);
                    self.conn = Some(Conn::default());
                } else {
                    self.reconnect();
                }
            }
            Op::Abandon => {
                if self.conn.is_some() {
                    self.s.abandon();
                    self.end_connection(false)?;
                }
            }
            Op::Stall(on) => self.stalled = on,
            Op::Settle => {
                self.stalled = false;
                self.pump()?;
                self.broker_read()?;
                self.connack(true, None, None, Vec::new());
                self.client_read(usize::MAX);
            }
            Op::ConnAck {
                keep_session,
                refuse,
                limits,
                props,
            } => self.connack(keep_session, refuse, limits, props),
            Op::BrokerPublish {
                qos,
                topic,
                retain,
                props,
                alias,
            } => self.broker_publish(qos, topic, retain, props, alias),
            Op::Resend(pick) => self.resend(pick),
            Op::Release(pick, reason) => self.release(pick, reason),
            Op::Answer(pick, reason, codes) => self.answer(Some(pick), &reason, &codes),
            Op::Unknown(kind, id) => self.unknown(kind, id),
            Op::PingReq => {
                if self.broker_ready() {
                    self.send(&BrokerPacket::PingReq);
                }
            }
            Op::ServerDisconnect(reason) => self.server_disconnect(reason),
        }
        self.steps += 1;
        self.pump()
    }

    /// A cooperative broker finishes every flow: reconnects, answers everything, re-sends and
    /// releases its own messages, and the application acks whatever it is given.
    fn finish(&mut self) -> Result<(), TestCaseError> {
        self.stalled = false;
        self.lose()?;
        for _attempt in 0..3 {
            self.reconnect();
            self.pump()?;
            let mut resent = false;
            for _round in 0..10_000 {
                self.steps += 1;
                let mut progress = !self.to_broker.is_empty() || !self.to_client.is_empty();
                self.broker_read()?;
                if self
                    .conn
                    .as_ref()
                    .is_some_and(|c| c.connect_seen && c.connack.is_none())
                {
                    self.connack(true, None, None, Vec::new());
                }
                if self.broker_ready() {
                    if !resent {
                        resent = true;
                        let ids: Vec<u16> = self.broker_out.keys().copied().collect();
                        for id in ids {
                            let m = self.broker_out[&id].clone();
                            if m.flow == Flow::Sent {
                                self.send(&BrokerPacket::Publish {
                                    topic: m.topic,
                                    qos: m.qos,
                                    id,
                                    dup: true,
                                    retain: false,
                                    props: wire::block(&[]),
                                    payload: m.payload.to_vec(),
                                });
                            } else if m.flow == Flow::Released {
                                self.send(&BrokerPacket::Ack {
                                    kind: 6,
                                    id,
                                    reason: None,
                                });
                            }
                        }
                    }
                    while self.conn.as_ref().is_some_and(|c| !c.owed.is_empty()) {
                        self.answer(None, &None, &[0]);
                        progress = true;
                    }
                    let received: Vec<u16> = self
                        .broker_out
                        .iter()
                        .filter(|(_, m)| m.flow == Flow::Received)
                        .map(|(id, _)| *id)
                        .collect();
                    for id in received {
                        if let Some(m) = self.broker_out.get_mut(&id) {
                            m.flow = Flow::Released;
                        }
                        self.send(&BrokerPacket::Ack {
                            kind: 6,
                            id,
                            reason: None,
                        });
                        progress = true;
                    }
                }
                self.client_read(usize::MAX);
                while !self.to_ack.is_empty() && self.setup.ack_mode == AckMode::Manual {
                    self.app_ack(None);
                }
                self.s.release_acks();
                self.pump()?;
                progress |= !self.to_broker.is_empty() || !self.to_client.is_empty();
                if !progress {
                    break;
                }
            }
            if self.conn.is_some() {
                break;
            }
        }
        prop_assert!(self.conn.is_some(), "no connection after three attempts");
        prop_assert_eq!(self.s.stored(), 0, "messages left in the store");
        let left: Vec<_> = self
            .in_use
            .iter()
            .filter(|(_, r)| matches!(r, Request::Publish { .. }))
            .collect();
        prop_assert!(left.is_empty(), "never published: {left:?}");
        prop_assert!(
            self.broker_out.is_empty(),
            "broker flows left: {:?}",
            self.broker_out
        );
        Ok(())
    }
}

/// The session's refusal of an MQTT 5 request; the properties here are always valid.
fn session_error(e: RequestError) -> SessionError {
    match e {
        RequestError::Session(e) => e,
        RequestError::InvalidProperties(why) => panic!("valid properties refused: {why}"),
    }
}

pub(super) fn run(setup: Setup, ops: Vec<Op>) -> Result<u64, TestCaseError> {
    let mut m = Model::new(setup)?;
    for op in ops {
        m.apply(op)?;
    }
    m.finish()?;
    Ok(m.steps)
}
