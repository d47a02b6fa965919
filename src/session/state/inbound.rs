//! Packets from the broker: paho's `_handle_*` functions, one arm per packet type.
//!
//! A child module of `state` so it can reach the session's private fields while keeping the
//! request and lifecycle code apart from the incoming-packet rules.

use super::super::codec::{Incoming, Outgoing};
use super::super::event::{DisconnectReason, Event, Message, RetryReason};
use super::super::options::{ProtocolVersion, QoS};
use super::super::store::OutState;
use super::{random_client_id, Link, Session};

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
            } if !acked => self.handle_connack(session_present, rc),
            // Both are MQTT protocol violations ([MQTT-3.2.0-1]: CONNACK comes first and once).
            // paho would process them anyway; we close instead of acting on a confused broker.
            Incoming::ConnAck { .. } => {
                self.close(DisconnectReason::ProtocolError(
                    "second CONNACK on one connection".to_owned(),
                ));
            }
            _ if !acked => self.close(DisconnectReason::ProtocolError(
                "packet before CONNACK".to_owned(),
            )),
            Incoming::Publish(message) => self.handle_publish(message),
            // paho's `_handle_pubackcomp`: any PUBACK or PUBCOMP for a stored mid completes it,
            // whatever its QoS; an unknown one is ignored.
            Incoming::PubAck(mid) | Incoming::PubComp(mid) => {
                if let Some(m) = self.store.remove(mid) {
                    self.events.push_back(Event::Published { mid });
                    if m.state.in_flight() {
                        self.inflight = self.inflight.saturating_sub(1);
                    }
                    self.release_queued();
                }
            }
            // paho's `_handle_pubrec`: an unknown PUBREC is ignored (no PUBREL is sent).
            Incoming::PubRec(mid) => {
                if let Some(m) = self.store.get_mut(mid) {
                    m.state = OutState::WaitPubcomp;
                    self.tx.push_back(Outgoing::PubRel(mid));
                }
            }
            // paho's `_handle_pubrel`: deliver once, then always answer PUBCOMP, even for an
            // unknown id (the message may predate a restart; answering avoids a hung flow).
            Incoming::PubRel(mid) => {
                if let Some(message) = self.incoming_qos2.remove(&mid) {
                    self.events.push_back(Event::Message(message));
                    self.release_queued();
                    self.queue_ack(mid, Outgoing::PubComp(mid));
                } else {
                    self.tx.push_back(Outgoing::PubComp(mid));
                }
            }
            Incoming::SubAck { mid, granted } => {
                self.pending_acks.remove(&mid);
                self.events.push_back(Event::Subscribed { mid, granted });
            }
            Incoming::UnsubAck(mid) => {
                self.pending_acks.remove(&mid);
                self.events.push_back(Event::Unsubscribed { mid });
            }
            Incoming::PingReq => self.tx.push_back(Outgoing::PingResp),
            Incoming::PingResp => {
                if let Some(timers) = &mut self.timers {
                    timers.ping_sent = None;
                }
            }
        }
    }

    /// paho's `_handle_publish`: QoS 0/1 delivered now (PUBACK queued after the event); QoS 2
    /// answered with PUBREC and held until PUBREL. A re-sent QoS 2 PUBLISH before PUBREL
    /// replaces the held copy and is answered again, so it is still delivered once.
    fn handle_publish(&mut self, message: Message) {
        match message.qos {
            QoS::AtMostOnce => self.events.push_back(Event::Message(message)),
            QoS::AtLeastOnce => {
                let mid = message.mid;
                self.events.push_back(Event::Message(message));
                self.queue_ack(mid, Outgoing::PubAck(mid));
            }
            QoS::ExactlyOnce => {
                let mid = message.mid;
                self.tx.push_back(Outgoing::PubRec(mid));
                self.incoming_qos2.insert(mid, message);
            }
        }
    }

    /// paho's `_handle_connack` for MQTT 3.x.
    fn handle_connack(&mut self, session_present: bool, rc: u8) {
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
                self.events.push_back(Event::RetryConnect { reason });
                return;
            }
        }
        if rc != 0 {
            self.events.push_back(Event::ConnectRefused {
                rc,
                session_present,
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
        self.events.push_back(Event::Connected { session_present });
        // Re-send, in publish order, what the reset before CONNECT left to send. paho stops
        // at the first still-queued message; everything after it is newer and already handled.
        // Unlike paho, the in-flight window is respected here too: paho re-sends every stored
        // message at once, and a broker that enforces its own receive limit (mosquitto does)
        // then drops the excess. The rest waits in the queue and goes out as acks come.
        let mut pending = Vec::new();
        for m in self.store.iter_mut() {
            match m.state {
                OutState::Queued => break,
                OutState::Publish | OutState::ResendPubrel => pending.push((m.mid, m.state)),
                // Sent before CONNACK on this connection, so already counted in flight.
                OutState::WaitPuback | OutState::WaitPubrec | OutState::WaitPubcomp => {}
            }
        }
        for (mid, state) in pending {
            // A PUBREL completes a flow the broker already holds: always send it.
            let send = state == OutState::ResendPubrel || self.window_open();
            let next = match (state, send) {
                (OutState::ResendPubrel, _) => {
                    self.tx.push_back(Outgoing::PubRel(mid));
                    OutState::WaitPubcomp
                }
                (_, true) => {
                    self.tx.push_back(Outgoing::PublishStored { mid });
                    match self.store.get(mid) {
                        Some(m) => OutState::sent(m.qos),
                        None => continue,
                    }
                }
                (_, false) => {
                    self.store.requeue(mid);
                    continue;
                }
            };
            if let Some(m) = self.store.get_mut(mid) {
                m.state = next;
            }
            self.inflight += 1;
        }
    }
}
