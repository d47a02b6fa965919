//! The model broker: what it does with the client's packets, and the packets the ops make it
//! send. A child module of `model`, so it works on the model's state directly.

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;

use super::super::ops::Reason;
use super::super::wire::{self, BrokerPacket, ClientPacket};
use super::{fail, BrokerMessage, Flow, Model, Owed, Request, TOPICS};
use crate::session::AckMode;
use bytes::Bytes;

impl Model {
    pub(super) fn send(&mut self, packet: &BrokerPacket) {
        let bytes = packet.encode(self.v5());
        self.to_client.extend_from_slice(&bytes);
    }

    /// The broker reads every packet the client sent so far.
    pub(super) fn broker_read(&mut self) -> Result<(), TestCaseError> {
        while let Some(packet) = self.to_broker.pop_front() {
            let Some(conn) = &self.conn else {
                return Ok(());
            };
            if conn.broker_closed {
                continue;
            }
            self.broker_handle(packet)?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_lines)]
    pub(super) fn broker_handle(&mut self, packet: ClientPacket) -> Result<(), TestCaseError> {
        let v5 = self.v5();
        let max_inflight = self.setup.max_inflight;
        let Some(conn) = self.conn.as_mut() else {
            return Ok(());
        };
        prop_assert!(
            conn.connect_seen != matches!(packet, ClientPacket::Connect),
            "CONNECT must come first and once: {packet:?}"
        );
        match packet {
            ClientPacket::Connect => conn.connect_seen = true,
            ClientPacket::Publish {
                id,
                qos,
                dup: _,
                topic,
                payload,
                alias,
            } => {
                let mut topic = topic;
                if let Some(a) = alias {
                    prop_assert!(v5, "topic alias under MQTT 3");
                    let allowed = conn.connack.map_or(0, |(_, max)| max);
                    prop_assert!(
                        a >= 1 && a <= allowed,
                        "topic alias {a} above the broker's maximum {allowed}"
                    );
                    if topic.is_empty() {
                        let known = conn.client_aliases.get(&a).cloned();
                        prop_assert!(known.is_some(), "empty topic with unknown alias {a}");
                        topic = known.unwrap_or_default();
                    } else {
                        conn.client_aliases.insert(a, topic.clone());
                    }
                }
                let Some((want_topic, want_qos)) = self.sent.get(&payload).cloned() else {
                    return Err(fail(format!(
                        "PUBLISH of a message never published: {payload:?}"
                    )));
                };
                prop_assert_eq!(&topic[..], want_topic.as_bytes(), "topic of {:?}", payload);
                prop_assert_eq!(qos, want_qos, "QoS of {:?}", payload);
                if qos > 0 {
                    let owner = self.in_use.get(&id);
                    prop_assert!(
                        matches!(owner, Some(Request::Publish { payload: p, .. }) if *p == payload),
                        "PUBLISH id {id} with {payload:?}, but the id belongs to {owner:?}"
                    );
                    conn.unanswered.insert(id);
                    prop_assert!(
                        max_inflight == 0 || conn.unanswered.len() <= max_inflight,
                        "{:?} in flight, max_inflight {max_inflight}",
                        conn.unanswered
                    );
                    conn.owed.push(if qos == 1 {
                        Owed::PubAck(id)
                    } else {
                        Owed::PubRec(id)
                    });
                }
            }
            ClientPacket::PubRel(id) => {
                let owner = self.in_use.get(&id);
                prop_assert!(
                    matches!(owner, Some(Request::Publish { qos: 2, .. })),
                    "PUBREL {id}, but the id belongs to {owner:?}"
                );
                conn.owed.push(Owed::PubComp(id));
            }
            ClientPacket::Subscribe { id, filters } => {
                prop_assert_eq!(self.in_use.get(&id), Some(&Request::Subscribe(filters)));
                conn.owed.push(Owed::SubAck(id, filters));
            }
            ClientPacket::Unsubscribe { id, filters } => {
                prop_assert_eq!(self.in_use.get(&id), Some(&Request::Unsubscribe(filters)));
                conn.owed.push(Owed::UnsubAck(id, filters));
            }
            ClientPacket::PingReq => conn.owed.push(Owed::PingResp),
            ClientPacket::PingResp | ClientPacket::Disconnect => {}
            ClientPacket::PubAck(id) => {
                if let Some(m) = self.broker_out.get(&id).filter(|m| m.qos == 1).cloned() {
                    self.check_app_had(&m.payload)?;
                    self.broker_out.remove(&id);
                }
            }
            ClientPacket::PubRec(id) => {
                if let Some(m) = self.broker_out.get_mut(&id) {
                    if m.qos == 2 && m.flow == Flow::Sent {
                        m.flow = Flow::Received;
                    }
                }
            }
            ClientPacket::PubComp(id) => {
                let done = self
                    .broker_out
                    .get(&id)
                    .filter(|m| m.flow == Flow::Released);
                if let Some(m) = done.cloned() {
                    self.check_app_had(&m.payload)?;
                    let times = self.delivered.get(&m.payload).copied().unwrap_or(0);
                    prop_assert_eq!(times, 1, "QoS 2 flow of {:?} completed", m.payload);
                    self.broker_out.remove(&id);
                }
            }
        }
        Ok(())
    }

    /// With delivery-time or manual acks, an ack means the application had the message.
    pub(super) fn check_app_had(&self, payload: &Bytes) -> Result<(), TestCaseError> {
        let delivered = self.delivered.get(payload).copied().unwrap_or(0);
        let acked = self.app_acked.get(payload).copied().unwrap_or(0);
        match self.setup.ack_mode {
            AckMode::Immediate => {}
            AckMode::AfterDelivery => {
                prop_assert!(delivered > 0, "acked before delivery: {payload:?}");
            }
            // A QoS 2 flow whose PUBCOMP was held when the connection dropped completes at the
            // broker's PUBREL after the reconnect without the application's ack (the session
            // has forgotten the message, as paho does); it was delivered, which is checked.
            AckMode::Manual if self.broker_qos.get(payload) == Some(&1) => {
                prop_assert!(acked > 0, "acked before the application did: {payload:?}");
            }
            AckMode::Manual => {
                prop_assert!(delivered > 0, "acked before delivery: {payload:?}");
            }
        }
        Ok(())
    }

    /// The broker's connection is usable for ordinary packets.
    pub(super) fn broker_ready(&self) -> bool {
        self.conn
            .as_ref()
            .is_some_and(|c| !c.broker_closed && c.connack.is_some_and(|(ok, _)| ok))
    }

    pub(super) fn connack(
        &mut self,
        keep_session: bool,
        refuse: Option<u8>,
        limits: Option<(u16, u32, u16, Option<u16>)>,
        extra: Vec<Vec<u8>>,
    ) {
        let v5 = self.v5();
        let clean = self.setup.clean;
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        if !conn.connect_seen || conn.connack.is_some() || conn.broker_closed {
            return;
        }
        if let Some(seed) = refuse {
            let rc = if v5 {
                wire::CONNACK_REFUSALS[usize::from(seed) % wire::CONNACK_REFUSALS.len()]
            } else {
                1 + seed % 5
            };
            conn.connack = Some((false, 0));
            conn.broker_closed = true;
            let props = v5.then(|| wire::block(&extra));
            self.send(&BrokerPacket::ConnAck {
                session_present: false,
                rc,
                props,
            });
            return;
        }
        let present = !clean && self.broker_session && keep_session;
        if !present {
            self.broker_out.clear();
        }
        self.broker_session = !clean;
        let mut props = Vec::new();
        let mut alias_max = 0;
        if let Some((receive_max, max_packet, aliases, keepalive)) = limits.filter(|_| v5) {
            props.push(wire::property::u16(0x21, receive_max));
            props.push(wire::property::u32(0x27, max_packet));
            props.push(wire::property::u16(0x22, aliases));
            if let Some(k) = keepalive {
                props.push(wire::property::u16(0x13, k));
            }
            alias_max = aliases;
        }
        props.extend(extra);
        conn.connack = Some((true, alias_max));
        let props = v5.then(|| wire::block(&props));
        self.send(&BrokerPacket::ConnAck {
            session_present: present,
            rc: 0,
            props,
        });
    }

    pub(super) fn broker_publish(
        &mut self,
        qos: u8,
        topic: u8,
        retain: bool,
        props: Vec<Vec<u8>>,
        alias: Option<u8>,
    ) {
        if !self.broker_ready() {
            return;
        }
        self.counter += 1;
        let payload = Bytes::from(format!("b{}", self.counter));
        let full_topic = TOPICS[usize::from(topic) % TOPICS.len()]
            .as_bytes()
            .to_vec();
        let id = if qos == 0 {
            0
        } else {
            // A free id, somewhere in the whole range.
            let mut id = u16::try_from(u64::from(self.counter) * 7919 % 65_535).unwrap_or(1) + 1;
            while self.broker_out.contains_key(&id) {
                id = id % u16::MAX + 1;
            }
            id
        };
        let mut props = props;
        let mut wire_topic = full_topic.clone();
        let alias_max = self.setup.alias_max;
        if let (Some(seed), true) = (alias, alias_max > 0) {
            let a = 1 + u16::from(seed) % alias_max;
            if let Some(conn) = self.conn.as_mut() {
                if conn.broker_aliases.get(&a) == Some(&full_topic) {
                    wire_topic.clear();
                } else {
                    conn.broker_aliases.insert(a, full_topic.clone());
                }
            }
            props.push(wire::property::u16(0x23, a));
        }
        self.broker_qos.insert(payload.clone(), qos);
        if qos > 0 {
            self.broker_ids_ever.insert(id);
            self.broker_out.insert(
                id,
                BrokerMessage {
                    payload: payload.clone(),
                    topic: full_topic,
                    qos,
                    flow: Flow::Sent,
                },
            );
        }
        self.send(&BrokerPacket::Publish {
            topic: wire_topic,
            qos,
            id,
            dup: false,
            retain,
            props: wire::block(&props),
            payload: payload.to_vec(),
        });
    }

    /// A DUP re-send of a message the client has not acknowledged.
    pub(super) fn resend(&mut self, pick: Index) {
        if !self.broker_ready() {
            return;
        }
        let ids: Vec<u16> = self
            .broker_out
            .iter()
            .filter(|(_, m)| m.flow == Flow::Sent)
            .map(|(id, _)| *id)
            .collect();
        if ids.is_empty() {
            return;
        }
        let id = ids[pick.index(ids.len())];
        let m = self.broker_out[&id].clone();
        self.send(&BrokerPacket::Publish {
            topic: m.topic,
            qos: m.qos,
            id,
            dup: true,
            retain: false,
            props: wire::block(&[]),
            payload: m.payload.to_vec(),
        });
    }

    /// PUBREL (again) of a QoS 2 message the client has received.
    pub(super) fn release(&mut self, pick: Index, reason: Reason) {
        if !self.broker_ready() {
            return;
        }
        let ids: Vec<u16> = self
            .broker_out
            .iter()
            .filter(|(_, m)| matches!(m.flow, Flow::Received | Flow::Released))
            .map(|(id, _)| *id)
            .collect();
        if ids.is_empty() {
            return;
        }
        let id = ids[pick.index(ids.len())];
        if let Some(m) = self.broker_out.get_mut(&id) {
            m.flow = Flow::Released;
        }
        let reason = reason.map(|(seed, props)| (pick_code(wire::PUBREL_CODES, seed), props));
        self.send(&BrokerPacket::Ack {
            kind: 6,
            id,
            reason: reason.filter(|_| self.setup.v5),
        });
    }

    /// Sends one answer the broker owes, picked by `pick`, or the oldest.
    pub(super) fn answer(&mut self, pick: Option<Index>, reason: &Reason, codes: &[u8]) {
        if !self.broker_ready() {
            return;
        }
        let v5 = self.v5();
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        if conn.owed.is_empty() {
            return;
        }
        let at = pick.map_or(0, |p| p.index(conn.owed.len()));
        let owed = conn.owed.remove(at);
        let reason = |table: &'static [u8]| {
            reason
                .clone()
                .filter(|_| v5)
                .map(|(seed, props)| (pick_code(table, seed), props))
        };
        let packet = match owed {
            Owed::PubAck(id) => {
                conn.unanswered.remove(&id);
                BrokerPacket::Ack {
                    kind: 4,
                    id,
                    reason: reason(wire::PUBACK_CODES),
                }
            }
            Owed::PubRec(id) => {
                let reason = reason(wire::PUBACK_CODES);
                if reason.as_ref().is_some_and(|(code, _)| *code >= 0x80) {
                    // A failed PUBREC ends the flow.
                    conn.unanswered.remove(&id);
                }
                BrokerPacket::Ack {
                    kind: 5,
                    id,
                    reason,
                }
            }
            Owed::PubComp(id) => {
                conn.unanswered.remove(&id);
                BrokerPacket::Ack {
                    kind: 7,
                    id,
                    reason: reason(wire::PUBREL_CODES),
                }
            }
            Owed::SubAck(id, n) => {
                let table: &[u8] = if v5 {
                    wire::SUBACK_CODES
                } else {
                    &[0, 1, 2, 0x80]
                };
                BrokerPacket::SubAck {
                    id,
                    props: wire::block(&[]),
                    codes: codes
                        .iter()
                        .cycle()
                        .take(n)
                        .map(|c| pick_code(table, *c))
                        .collect(),
                }
            }
            Owed::UnsubAck(id, n) => BrokerPacket::UnsubAck {
                id,
                props: wire::block(&[]),
                codes: codes
                    .iter()
                    .cycle()
                    .take(n)
                    .map(|c| pick_code(wire::UNSUBACK_CODES, *c))
                    .collect(),
            },
            Owed::PingResp => BrokerPacket::PingResp,
        };
        self.send(&packet);
    }

    /// An ack for an id the client does not use (a confused or restarted broker).
    pub(super) fn unknown(&mut self, kind: u8, seed: u16) {
        if !self.broker_ready() {
            return;
        }
        let mut id = seed.max(1);
        // Client-side ids must be free at the client; PUBREL ids never used by the broker.
        while self.in_use.contains_key(&id) || self.broker_ids_ever.contains(&id) {
            id = id % u16::MAX + 1;
        }
        let packet = match kind {
            9 => BrokerPacket::SubAck {
                id,
                props: wire::block(&[]),
                codes: vec![0],
            },
            11 => BrokerPacket::UnsubAck {
                id,
                props: wire::block(&[]),
                codes: vec![0],
            },
            kind => BrokerPacket::Ack {
                kind,
                id,
                reason: None,
            },
        };
        self.send(&packet);
    }

    pub(super) fn server_disconnect(&mut self, reason: Reason) {
        if !self.v5() || !self.broker_ready() {
            return;
        }
        let reason = reason.map(|(seed, props)| (pick_code(wire::DISCONNECT_CODES, seed), props));
        self.send(&BrokerPacket::Disconnect { reason });
        if let Some(conn) = self.conn.as_mut() {
            conn.broker_closed = true;
        }
        self.broker_lost();
    }
}

fn pick_code(table: &[u8], seed: u8) -> u8 {
    table[usize::from(seed) % table.len()]
}
