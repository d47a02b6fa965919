//! How far published messages have got, without an event per message: QoS 0 messages by a
//! watermark over their own sequence numbers (they leave in order), QoS 1/2 messages by the
//! store's sequence numbers (a message leaves the store once). `MQTTMessageInfo` asks
//! [`Session::publish_status`] with the ticket `publish()` returned.

use std::collections::VecDeque;

use super::Session;

/// How far the QoS 0 messages have got: what lets the owner tell a `publish()` caller that its
/// QoS 0 message is out without an event per message (see [`Session::set_report_published`]).
#[derive(Debug)]
pub(super) struct Qos0Progress {
    /// Sequence number of the last QoS 0 message queued.
    pub(super) queued: u64,
    /// Every message with a sequence number up to this one is done.
    pub(super) done: u64,
    /// Sequence ranges (inclusive) dropped unsent with their connection, the latest
    /// [`DROPPED_RANGES_KEPT`] of them.
    pub(super) dropped: VecDeque<(u64, u64)>,
    /// Whether a finished publish (of any QoS) reports an event (paho's `on_publish`).
    pub(super) report: bool,
}

/// Marks a [`PublishHandle::track`] of a QoS 1/2 message (the rest is its store sequence
/// number plus one); QoS 0 tickets are their QoS 0 sequence number, far below it.
pub(super) const STORED_TRACK: u64 = 1 << 62;

/// Dropped ranges remembered for [`Session::publish_status`]; one is added per connection that
/// closed with QoS 0 messages still queued, so older ones only matter to very old messages.
pub(super) const DROPPED_RANGES_KEPT: usize = 256;

impl Default for Qos0Progress {
    fn default() -> Self {
        Self {
            queued: 0,
            done: 0,
            dropped: VecDeque::new(),
            report: true,
        }
    }
}

impl Session {
    /// Whether a finished publish reports [`FullEvent::Published`](crate::session::FullEvent::Published) (QoS 0 once encoded, QoS
    /// 1/2 at their final ack) and a QoS 0 message dropped with its connection
    /// [`FullEvent::PublishDropped`](crate::session::FullEvent::PublishDropped) (the default). An owner with no use for them (no
    /// `on_publish`) turns them off and asks [`Session::publish_status`] instead.
    pub fn set_report_published(&mut self, on: bool) {
        self.qos0.report = on;
    }

    pub(crate) fn reports_published(&self) -> bool {
        self.qos0.report
    }

    /// What became of the message with this [`PublishHandle::track`](crate::session::PublishHandle::track): `None` while it is on
    /// its way (and for ever for a QoS 1/2 message thrown away by `drop_out_messages`),
    /// `Some(false)` once published (QoS 0 encoded, QoS 1/2 acknowledged, whatever the reason
    /// code), `Some(true)` for a QoS 0 message whose connection closed first (paho's
    /// `MQTT_ERR_CONN_LOST`). A QoS 0 message dropped so long ago that its range was
    /// forgotten reads as published.
    pub fn publish_status(&self, track: u64) -> Option<bool> {
        if track & STORED_TRACK != 0 {
            let seq = (track & !STORED_TRACK).checked_sub(1)?;
            return self.store.is_done(seq).then_some(false);
        }
        if track == 0 || track > self.qos0.done {
            return None;
        }
        Some(
            self.qos0
                .dropped
                .iter()
                .any(|&(first, last)| (first..=last).contains(&track)),
        )
    }
}
