//! The connection's life as the session sees it: opening, bytes in, time passing (keepalive),
//! bytes out, and the end of the transport. A child module of `state`, like `inbound` and `v5`.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::super::codec::{self, Outgoing};
use super::super::event::{DisconnectReason, FullEvent};
use super::super::options::QoS;
use super::super::store::{OutMessage, OutState};
use super::v5::{self, ServerLimits};
use super::{Link, Session, Timers};

impl Session {
    /// The transport is open: queue CONNECT. paho's `reconnect()`: whatever the previous
    /// connection left unsent is dropped, every stored message is reset to be re-sent at
    /// CONNACK (with DUP where it may have reached the broker), and incoming QoS 2 state is
    /// kept only for a persistent session.
    pub fn on_connected(&mut self, now: Instant) {
        if self.link != Link::Closed {
            // The owner re-opened without reporting a loss; paho's reconnect() closes the old
            // socket without calling on_disconnect, so no event here either.
            self.shut(None);
        }
        self.link = Link::Connecting;
        self.timers = Some(Timers {
            last_out: now,
            last_in: now,
            ping_sent: None,
        });
        self.reset_out_messages();
        self.server = ServerLimits::default();
        self.in_alias_max = self.declared_alias_max();
        self.in_aliases.clear();
        self.wire_aliases.clear();
        if self.clean_session() {
            self.incoming_qos2.clear();
        }
        self.tx.push_back(Outgoing::Connect);
    }

    /// The transport died (EOF, I/O error). Reports [`Event::Disconnected`](crate::session::Event::Disconnected) unless the session
    /// was already closed. Takes `now` for symmetry with the other inputs.
    pub fn on_connection_lost(&mut self, _now: Instant) {
        if self.link != Link::Closed {
            self.close(DisconnectReason::ConnectionLost);
        }
    }

    /// Decodes and handles every complete packet at the front of `buf`, leaving a trailing
    /// partial packet in it for the next call. Call it after every successful read: a non-empty
    /// buffer counts as traffic from the broker for the keepalive, as paho counts every byte.
    ///
    /// Malformed bytes, an over-limit packet or a packet a client must never receive end the
    /// connection with [`DisconnectReason::ProtocolError`]; nothing here panics on input.
    ///
    /// Returns the number of packets handled (the connection's reader tells a stream of
    /// messages by it).
    pub fn handle_bytes(&mut self, buf: &mut BytesMut, now: Instant) -> usize {
        if !buf.is_empty() {
            if let Some(timers) = &mut self.timers {
                timers.last_in = now;
            }
        }
        let mut handled = 0;
        while self.link != Link::Closed {
            match codec::decode(buf, self.opts.max_packet_size, self.protocol) {
                Ok(None) => return handled,
                Ok(Some(packet)) => {
                    self.handle_packet(packet);
                    handled += 1;
                }
                Err(e) => self.close(DisconnectReason::ProtocolError(e.0)),
            }
        }
        // Bytes after the end of the connection belong to nobody.
        buf.clear();
        handled
    }

    /// Keepalive; paho's `_check_keepalive`. When nothing was sent, or nothing received, for
    /// `keepalive` seconds, sends PINGREQ; when the previous PINGREQ (or the CONNECT) got no
    /// answer within `keepalive`, ends the connection with
    /// [`DisconnectReason::KeepaliveTimeout`].
    ///
    /// "Nothing was sent" follows paho's intent (its `_packet_write` stamps `_last_msg_out`);
    /// in paho 2.2 that stamp is unreachable after a drained queue, so paho in practice pings
    /// every `keepalive` seconds even under outgoing traffic. Both satisfy MQTT; fewer pings
    /// is the behaviour paho's code asks for.
    pub fn tick(&mut self, now: Instant) {
        let Some(timers) = self.timers else { return };
        if self.keepalive() == 0 {
            return;
        }
        let keepalive = Duration::from_secs(u64::from(self.keepalive()));
        let since = |t: Instant| now.saturating_duration_since(t);
        if let Some(sent) = timers.ping_sent {
            // Nothing at all from the broker for a reply window after our PINGREQ: the link is
            // dead (a black hole: a NAT that forgot us, a pulled cable). paho waits a whole
            // keepalive, which detects it only after 2x keepalive in the worst case; half a
            // keepalive keeps detection within 1.5x, as a broker's own check is.
            if timers.last_in <= sent && since(sent) >= ping_reply_window(keepalive) {
                self.close(DisconnectReason::KeepaliveTimeout);
                return;
            }
        }
        if since(timers.last_out) < keepalive && since(timers.last_in) < keepalive {
            return;
        }
        // Traffic from the broker since the last PINGREQ proves the link alive even without
        // a PINGRESP (a large message may be trickling in).
        let alive = timers.ping_sent.is_none() || since(timers.last_in) < keepalive;
        if self.link == Link::Connected && alive {
            let mut timers = timers;
            if timers.ping_sent.is_none_or(|t| since(t) >= keepalive) {
                self.tx.push_back(Outgoing::PingReq);
                timers.ping_sent = Some(now);
            }
            // paho restarts both clocks here, so the PINGRESP deadline is one keepalive away.
            timers.last_out = now;
            timers.last_in = now;
            self.timers = Some(timers);
        } else {
            self.close(DisconnectReason::KeepaliveTimeout);
        }
    }

    /// When [`Session::tick`] next needs to run, or `None` if no timer is armed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let timers = self.timers?;
        if self.keepalive() == 0 {
            return None;
        }
        let keepalive = Duration::from_secs(u64::from(self.keepalive()));
        let next = timers.last_out.min(timers.last_in) + keepalive;
        Some(match timers.ping_sent {
            Some(sent) if timers.last_in <= sent => next.min(sent + ping_reply_window(keepalive)),
            _ => next,
        })
    }

    /// Appends every queued packet to `buf`, so one write carries them all, and returns the
    /// number of bytes appended. Encoding a QoS 0 PUBLISH reports [`Event::Published`](crate::session::Event::Published) (paho
    /// calls `on_publish` once the bytes are handed to the socket); encoding DISCONNECT ends the
    /// connection and stops there.
    pub fn poll_transmit(&mut self, buf: &mut BytesMut, now: Instant) -> usize {
        let start = buf.len();
        while self.link != Link::Closed {
            let Some(packet) = self.tx.pop_front() else {
                break;
            };
            let result = match packet {
                Outgoing::Connect => {
                    codec::encode_connect(&self.opts, self.protocol, &self.connect_props, buf)
                }
                Outgoing::PublishQos0 {
                    mid,
                    topic,
                    payload,
                    retain,
                    properties,
                    omit_topic,
                } => {
                    let out = OutMessage {
                        mid,
                        topic,
                        payload,
                        qos: QoS::AtMostOnce,
                        retain,
                        dup: false,
                        state: OutState::Publish,
                        properties,
                        omit_topic,
                    };
                    // Published once handed to the socket (paho); not sent when larger than
                    // the broker's Maximum Packet Size, which was unknown at publish() time.
                    self.qos0.done += 1;
                    self.encode_out_publish(buf, out).map(|sent| {
                        if self.qos0.report {
                            self.events.push_back(FullEvent::Published {
                                mid,
                                reason_code: if sent { 0 } else { v5::PACKET_TOO_LARGE },
                                properties: Bytes::new(),
                            });
                        }
                    })
                }
                Outgoing::PublishStored { mid } => match self.store.get(mid).cloned() {
                    Some(m) => self.encode_out_publish(buf, m).map(|sent| {
                        if !sent {
                            self.fail_stored(mid, v5::PACKET_TOO_LARGE);
                        }
                    }),
                    // Acknowledged or dropped before it was encoded: nothing to send.
                    None => Ok(()),
                },
                disconnect @ Outgoing::Disconnect { .. } => {
                    let result = codec::encode_simple(disconnect, self.protocol, buf);
                    self.close(DisconnectReason::UserRequested);
                    result
                }
                other => codec::encode_simple(other, self.protocol, buf),
            };
            if let Err(e) = result {
                // Requests are validated when queued, so this is a bug; skipping the packet
                // keeps the stream well-formed. Not logged here: the caller holds a lock, and
                // a log record may need the GIL (pyo3-log), which a Python thread waiting for
                // that lock holds. The owner logs `skipped` after unlocking.
                self.skipped.push(e.to_string());
            }
        }
        let written = buf.len() - start;
        if written > 0 {
            if let Some(timers) = &mut self.timers {
                timers.last_out = now;
            }
        }
        written
    }
}

/// How long a PINGREQ may go without a word from the broker: half the keepalive, at least a
/// second (a PINGRESP needs a round trip, and keepalive is counted in whole seconds).
fn ping_reply_window(keepalive: Duration) -> Duration {
    (keepalive / 2).max(Duration::from_secs(1))
}
