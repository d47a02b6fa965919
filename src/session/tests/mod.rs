//! Scripted packet sequences against the session, compared byte for byte with packets
//! encoded by rumqttc's codecs (or written out by hand where rumqttc cannot encode them).
//!
//! This file holds the harness; the tests are grouped by topic in the submodules.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rumqttc::mqttbytes::v4 as wire;
use rumqttc::mqttbytes::QoS as WireQoS;

use super::*;

mod connect;
mod fuzz;
mod inbound;
mod lifecycle;
mod mqtt5;
mod outgoing;

// ----- harness -----------------------------------------------------------------------------

fn encode(packets: Vec<wire::Packet>) -> Vec<u8> {
    let mut buf = BytesMut::new();
    for p in packets {
        p.write(&mut buf, usize::MAX).unwrap();
    }
    buf.to_vec()
}

fn wqos(qos: u8) -> WireQoS {
    rumqttc::mqttbytes::qos(qos).unwrap()
}

/// A PUBLISH as the broker or the client would put it on the wire.
fn publish(topic: &str, payload: &[u8], qos: u8, pkid: u16, dup: bool) -> wire::Packet {
    wire::Packet::Publish(wire::Publish {
        dup,
        qos: wqos(qos),
        retain: false,
        topic: topic.to_owned(),
        pkid,
        payload: Bytes::copy_from_slice(payload),
    })
}

fn connack(code: wire::ConnectReturnCode, session_present: bool) -> wire::Packet {
    wire::Packet::ConnAck(wire::ConnAck::new(code, session_present))
}

fn connack_ok() -> wire::Packet {
    connack(wire::ConnectReturnCode::Success, false)
}

fn puback(id: u16) -> wire::Packet {
    wire::Packet::PubAck(wire::PubAck::new(id))
}

fn pubrec(id: u16) -> wire::Packet {
    wire::Packet::PubRec(wire::PubRec::new(id))
}

fn pubrel(id: u16) -> wire::Packet {
    wire::Packet::PubRel(wire::PubRel::new(id))
}

fn pubcomp(id: u16) -> wire::Packet {
    wire::Packet::PubComp(wire::PubComp::new(id))
}

fn opts(client_id: &str) -> SessionOptions {
    SessionOptions {
        client_id: client_id.as_bytes().to_vec(),
        ..SessionOptions::default()
    }
}

/// A session plus a fake clock.
struct Harness {
    s: Session,
    now: Instant,
}

impl Harness {
    fn new(opts: SessionOptions) -> Self {
        Self {
            s: Session::new(opts).unwrap(),
            now: Instant::now(),
        }
    }

    /// Opened, CONNECT written, CONNACK accepted, events drained.
    fn connected(opts: SessionOptions) -> Self {
        let mut h = Self::new(opts);
        h.connect();
        h
    }

    fn connect(&mut self) {
        self.s.on_connected(self.now);
        let connect = self.tx();
        assert_eq!(connect[0], 0x10, "CONNECT first");
        self.feed(connack_ok());
        assert!(self.s.is_connected());
        self.events();
    }

    fn feed(&mut self, packet: wire::Packet) {
        self.feed_raw(&encode(vec![packet]));
    }

    fn feed_raw(&mut self, bytes: &[u8]) {
        let mut buf = BytesMut::from(bytes);
        self.s.handle_bytes(&mut buf, self.now);
    }

    fn tx(&mut self) -> Vec<u8> {
        let mut buf = BytesMut::new();
        let n = self.s.poll_transmit(&mut buf, self.now);
        assert_eq!(n, buf.len());
        buf.to_vec()
    }

    fn expect_tx(&mut self, packets: Vec<wire::Packet>) {
        assert_eq!(self.tx(), encode(packets));
    }

    fn events(&mut self) -> Vec<Event> {
        self.s.drain_events().collect()
    }

    fn advance(&mut self, secs: u64) {
        self.now += Duration::from_secs(secs);
        self.s.tick(self.now);
    }

    fn pub_(&mut self, topic: &str, payload: &[u8], qos: QoS) -> PublishHandle {
        self.s
            .publish(
                topic.to_owned(),
                Bytes::copy_from_slice(payload),
                qos,
                false,
            )
            .unwrap()
    }
}

fn protocol_error(events: &[Event]) -> bool {
    events.iter().any(|e| {
        matches!(
            e,
            Event::Disconnected {
                reason: DisconnectReason::ProtocolError(_)
            }
        )
    })
}

fn connect_bytes(opts: SessionOptions) -> Vec<u8> {
    let mut h = Harness::new(opts);
    h.s.on_connected(h.now);
    h.tx()
}
