//! Packets from the broker: paho's `_handle_*` functions, one arm per packet type.
//!
//! A child module of `state` so it can reach the session's private fields while keeping the
//! request and lifecycle code apart from the incoming-packet rules.

use bytes::Bytes;

use super::super::codec::{Ack, Incoming, Outgoing};
use super::super::event::{DisconnectReason, FullEvent, Message, RetryReason, ServerDisconnect};
use super::super::options::{ProtocolVersion, QoS};
use super::super::store::OutState;
use super::{random_client_id, Link, Session};

/// MQTT 5's "Unsupported protocol version", paho's reading of a 3.x broker's return code 1.
const UNSUPPORTED_PROTOCOL_VERSION: u8 = 0x84;

impl Session {
    pub(super) fn handle_packet(&mut self, packet: Incoming) {
        let acked = match self.link {
            Link::Connected | Link::Disconnecting { acked: true } => true,
            Link::Connecting | Link::Disconnecting { acked: false } => false,
            Link::Closed => return,
        };
        match packet {
            Incoming::ConnAck {
                session_present,
                rc,
                properties,
            } if !acked => self.handle_connack(session_present, rc, properties),
            // Both are MQTT protocol violations ([MQTT-3.2.0-1]: CONNACK comes first and once).
            // paho would process them anyway; we close instead of acting on a confused broker.
            Incoming::ConnAck { .. } => {
                self.close(DisconnectReason::ProtocolError(
                    "second CONNACK on one connection".to_owned(),
                ));
            }
            // paho's `_handle_disconnect` (MQTT 5): the broker ends the connection with a
            // reason; reported even before CONNACK, where MQTT forbids it, since it is over
            // either way and the reason is the useful part.
            Incoming::Disconnect {
                reason_code,
                properties,
            } => self.close_with(
                DisconnectReason::ConnectionLost,
                Some(ServerDisconnect {
                    reason_code,
                    properties,
                }),
            ),
            _ if !acked => self.close(DisconnectReason::ProtocolError(
                "packet before CONNACK".to_owned(),
            )),
            Incoming::Publish {
                mut message,
                topic_alias,
            } => {
                if self.protocol == ProtocolVersion::V5 {
                    if let Err(why) = self.resolve_in_topic(&mut message, topic_alias) {
                        self.close(DisconnectReason::ProtocolError(why));
                        return;
                    }
                }
                self.handle_publish(message);
            }
            // paho's `_handle_pubackcomp`: any PUBACK or PUBCOMP for a stored mid completes it,
            // whatever its QoS and reason code (0x80 and above reports a failure); an unknown
            // one is ignored.
            Incoming::PubAck(ack) | Incoming::PubComp(ack) => self.complete(ack),
            // MQTT 5 §4.3.3: a PUBREC with a failure reason ends the flow; no PUBREL follows.
            // paho 2.2 ignores the reason and sends PUBREL anyway, so its on_publish then
            // reports the broker's answer to that PUBREL (typically 0x92, "Packet identifier
            // not found"); here it reports the PUBREC's own reason.
            Incoming::PubRec(ack) if ack.reason_code >= 0x80 => self.complete(ack),
            // paho's `_handle_pubrec`: an unknown PUBREC is ignored (no PUBREL is sent).
            Incoming::PubRec(Ack { mid, .. }) => {
                if let Some(m) = self.store.get_mut(mid) {
                    m.state = OutState::WaitPubcomp;
                    self.tx.push_back(Outgoing::PubRel(mid));
                }
            }
            // paho's `_handle_pubrel`: deliver once, then always answer PUBCOMP, even for an
            // unknown id (the message may predate a restart; answering avoids a hung flow).
            // paho ignores an MQTT 5 PUBREL's reason code, and so do we.
            Incoming::PubRel(Ack { mid, .. }) => {
                if let Some(message) = self.incoming_qos2.remove(&mid) {
                    self.events.push_back(FullEvent::Message(message));
                    self.release_queued();
                    self.queue_ack(mid, Outgoing::PubComp(mid));
                } else {
                    self.tx.push_back(Outgoing::PubComp(mid));
                }
            }
            Incoming::SubAck {
                mid,
                reason_codes,
                properties,
            } => {
                self.pending_acks.remove(&mid);
                self.events.push_back(FullEvent::Subscribed {
                    mid,
                    reason_codes,
                    properties,
                });
            }
            Incoming::UnsubAck {
                mid,
                reason_codes,
                properties,
            } => {
                self.pending_acks.remove(&mid);
                self.events.push_back(FullEvent::Unsubscribed {
                    mid,
                    reason_codes,
                    properties,
                });
            }
            Incoming::PingReq => self.tx.push_back(Outgoing::PingResp),
            Incoming::PingResp => {
                if let Some(timers) = &mut self.timers {
                    timers.ping_sent = None;
                }
            }
        }
    }

    /// Completes the stored message an ack names, if any (paho's `_do_on_publish`).
    fn complete(&mut self, ack: Ack) {
        if let Some(m) = self.store.remove(ack.mid) {
            if self.reports_published() {
                self.events.push_back(FullEvent::Published {
                    mid: ack.mid,
                    reason_code: ack.reason_code,
                    properties: ack.properties,
                });
            }
            if m.state.in_flight() {
                self.inflight = self.inflight.saturating_sub(1);
            }
            self.release_queued();
        }
    }

    /// paho's `_handle_publish`: QoS 0/1 delivered now (PUBACK queued after the event); QoS 2
    /// answered with PUBREC and held until PUBREL. A re-sent QoS 2 PUBLISH before PUBREL
    /// replaces the held copy and is answered again, so it is still delivered once.
    fn handle_publish(&mut self, message: Message) {
        match message.qos {
            QoS::AtMostOnce => self.events.push_back(FullEvent::Message(message)),
            QoS::AtLeastOnce => {
                let mid = message.mid;
                self.events.push_back(FullEvent::Message(message));
                self.queue_ack(mid, Outgoing::PubAck(mid));
            }
            QoS::ExactlyOnce => {
                let mid = message.mid;
                self.tx.push_back(Outgoing::PubRec(mid));
                self.incoming_qos2.insert(mid, message);
            }
        }
    }

    /// paho's `_handle_connack`.
    fn handle_connack(&mut self, session_present: bool, rc: u8, properties: Bytes) {
        if self.protocol == ProtocolVersion::V5 {
            // MQTT 5 has no automatic downgrade in paho. Its reason codes are 0 or 0x80 and
            // above; a 3.x broker answers return code 1, which paho reads as "Unsupported
            // protocol version". Anything else is no MQTT 5 CONNACK.
            let reason_code = match rc {
                0 => 0,
                1 => UNSUPPORTED_PROTOCOL_VERSION,
                code if code >= 0x80 => code,
                code => {
                    self.close(DisconnectReason::ProtocolError(format!(
                        "CONNACK with reason code {code}, not an MQTT 5 CONNACK code"
                    )));
                    return;
                }
            };
            if reason_code != 0 {
                self.events.push_back(FullEvent::ConnectRefused {
                    reason_code,
                    session_present,
                    properties,
                });
                self.close(DisconnectReason::Refused(reason_code));
                return;
            }
            self.apply_connack_properties(&properties);
        }
        if self.protocol == ProtocolVersion::V311 {
            let retry = match rc {
                1 => Some(RetryReason::ProtocolDowngrade),
                2 if self.opts.client_id.is_empty() => Some(RetryReason::ClientIdAssigned),
                _ => None,
            };
            if let Some(reason) = retry {
                if !self.opts.reconnect_on_failure {
                    self.close(DisconnectReason::ProtocolError(format!(
                        "CONNACK refused with rc {rc}"
                    )));
                    return;
                }
                match reason {
                    RetryReason::ProtocolDowngrade => self.protocol = ProtocolVersion::V31,
                    RetryReason::ClientIdAssigned => self.opts.client_id = random_client_id(),
                }
                // paho calls reconnect() straight from the CONNACK handler: no on_connect, no
                // on_disconnect; the owner must re-open the transport.
                self.shut(None);
                self.events.push_back(FullEvent::RetryConnect { reason });
                return;
            }
        }
        if rc != 0 {
            self.events.push_back(FullEvent::ConnectRefused {
                reason_code: rc,
                session_present,
                properties: Bytes::new(),
            });
            let reason = if rc <= 5 {
                DisconnectReason::Refused(rc)
            } else {
                DisconnectReason::ProtocolError(format!("CONNACK with unknown return code {rc}"))
            };
            self.close(reason);
            return;
        }

        self.link = match self.link {
            Link::Disconnecting { .. } => Link::Disconnecting { acked: true },
            _ => Link::Connected,
        };
        self.events.push_back(FullEvent::Connected {
            session_present,
            properties,
        });
        // Re-send, in publish order, what the reset before CONNECT left to send. paho stops
        // at the first still-queued message; everything after it is newer and already handled.
        // Unlike paho, the in-flight window (max_inflight, and MQTT 5's Receive Maximum) is
        // respected here too: paho re-sends every stored message at once, and a broker that
        // enforces its own receive limit (mosquitto does, 20 by default) then acks and drops
        // the excess. The rest waits in the queue and goes out as acks come.
        let limit = self.inflight_limit();
        let mut held = Vec::new();
        for m in self.store.iter_mut() {
            let next = match m.state {
                OutState::Queued => break,
                OutState::Publish if limit != 0 && self.inflight >= limit => {
                    m.state = OutState::Queued;
                    held.push(m.mid);
                    continue;
                }
                OutState::Publish => {
                    self.tx.push_back(Outgoing::PublishStored { mid: m.mid });
                    OutState::sent(m.qos)
                }
                // A PUBREL completes a flow the broker already holds: always send it.
                OutState::ResendPubrel => {
                    self.tx.push_back(Outgoing::PubRel(m.mid));
                    OutState::WaitPubcomp
                }
                // Sent before CONNACK on this connection, so already counted in flight.
                OutState::WaitPuback | OutState::WaitPubrec | OutState::WaitPubcomp => continue,
            };
            m.state = next;
            self.inflight += 1;
        }
        for mid in held {
            self.store.push_queued(mid);
        }
    }
}
