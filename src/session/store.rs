//! The outgoing message store: QoS 1/2 messages from `publish()` until their final ack.
//!
//! paho keeps these in an insertion-ordered dict (`_out_messages`) and walks it in order to
//! re-send after a reconnect and to release queued messages when a slot frees. Here a
//! `BTreeMap` keyed by an insertion sequence gives that order, a `HashMap` finds a message by
//! mid for acks in O(1), and a FIFO of queued sequences releases messages without rescanning the
//! whole store on every PUBACK (paho's `_update_inflight` rescans, which is O(n) per ack).

use std::collections::{BTreeMap, HashMap, VecDeque};

use bytes::Bytes;

use super::options::QoS;

/// Where a stored message stands; the names follow paho's `mqtt_ms_*` states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutState {
    /// To be sent when the next CONNACK arrives (published while disconnected, or reset by a
    /// reconnect).
    Publish,
    /// Waiting behind `max_inflight` on an open connection.
    Queued,
    /// QoS 1 sent, PUBACK awaited.
    WaitPuback,
    /// QoS 2 sent, PUBREC awaited.
    WaitPubrec,
    /// QoS 2 PUBREL sent, PUBCOMP awaited.
    WaitPubcomp,
    /// QoS 2 whose PUBREC arrived on a previous connection of a persistent session: PUBREL is
    /// re-sent at the next CONNACK.
    ResendPubrel,
}

impl OutState {
    /// Whether the message occupies a `max_inflight` slot.
    pub(crate) fn in_flight(self) -> bool {
        matches!(
            self,
            Self::WaitPuback | Self::WaitPubrec | Self::WaitPubcomp
        )
    }

    /// The state right after sending the PUBLISH of a message with this QoS.
    pub(crate) fn sent(qos: QoS) -> Self {
        if qos == QoS::ExactlyOnce {
            Self::WaitPubrec
        } else {
            Self::WaitPuback
        }
    }
}

/// One stored QoS 1/2 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OutMessage {
    pub(crate) mid: u16,
    pub(crate) topic: String,
    pub(crate) payload: Bytes,
    pub(crate) qos: QoS,
    pub(crate) retain: bool,
    /// Set once the message may have reached the broker before a reconnect; stays set.
    pub(crate) dup: bool,
    pub(crate) state: OutState,
    /// MQTT 5 properties, raw (empty for none).
    pub(crate) properties: Bytes,
    /// The user gave an empty topic with a Topic Alias; `topic` holds the topic it stood for.
    pub(crate) omit_topic: bool,
}

/// Insertion-ordered messages, addressable by mid.
#[derive(Debug, Default)]
pub(crate) struct OutStore {
    next_seq: u64,
    by_seq: BTreeMap<u64, OutMessage>,
    seq_of: HashMap<u16, u64>,
    /// Sequences of messages put in [`OutState::Queued`], oldest first. An entry may be stale
    /// (message acked or reset meanwhile); [`OutStore::pop_queued`] skips those.
    queued: VecDeque<u64>,
    /// Sequences of messages removed by [`OutStore::drain`] (`drop_out_messages`): never
    /// published. Only that rare call adds to it.
    dropped: std::collections::BTreeSet<u64>,
}

impl OutStore {
    pub(crate) fn len(&self) -> usize {
        self.by_seq.len()
    }

    pub(crate) fn contains(&self, mid: u16) -> bool {
        self.seq_of.contains_key(&mid)
    }

    /// Adds a message at the end of the order and returns its sequence number. The caller
    /// guarantees the mid is not stored.
    pub(crate) fn insert(&mut self, message: OutMessage) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        if message.state == OutState::Queued {
            self.queued.push_back(seq);
        }
        self.seq_of.insert(message.mid, seq);
        self.by_seq.insert(seq, message);
        seq
    }

    /// Whether the message [`OutStore::insert`] numbered `seq` is done: it left the store
    /// other than by [`OutStore::drain`]. Sequence numbers only grow and a message leaves the
    /// store once, so this needs no record of each completion.
    pub(crate) fn is_done(&self, seq: u64) -> bool {
        seq < self.next_seq && !self.by_seq.contains_key(&seq) && !self.dropped.contains(&seq)
    }

    pub(crate) fn get(&self, mid: u16) -> Option<&OutMessage> {
        self.seq_of.get(&mid).and_then(|seq| self.by_seq.get(seq))
    }

    pub(crate) fn get_mut(&mut self, mid: u16) -> Option<&mut OutMessage> {
        self.seq_of
            .get(&mid)
            .and_then(|seq| self.by_seq.get_mut(seq))
    }

    pub(crate) fn remove(&mut self, mid: u16) -> Option<OutMessage> {
        let seq = self.seq_of.remove(&mid)?;
        self.by_seq.remove(&seq)
    }

    /// Every message in publish order.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut OutMessage> {
        self.by_seq.values_mut()
    }

    /// Puts a stored message, already set to [`OutState::Queued`], at the back of the queued
    /// FIFO (MQTT 5's Receive Maximum holding back a re-send at CONNACK).
    pub(crate) fn push_queued(&mut self, mid: u16) {
        if let Some(seq) = self.seq_of.get(&mid) {
            self.queued.push_back(*seq);
        }
    }

    /// Forgets the queued FIFO; used when a reconnect moves every message out of `Queued`.
    pub(crate) fn clear_queued(&mut self) {
        self.queued.clear();
    }

    /// The oldest message still in [`OutState::Queued`], if any.
    pub(crate) fn pop_queued(&mut self) -> Option<&mut OutMessage> {
        while let Some(seq) = self.queued.pop_front() {
            // Re-borrowing inside the loop would fight the borrow checker; look up first.
            let live = self
                .by_seq
                .get(&seq)
                .is_some_and(|m| m.state == OutState::Queued);
            if live {
                return self.by_seq.get_mut(&seq);
            }
        }
        None
    }

    /// Removes and returns every message (paho 2.2's `drop_out_messages`), in publish order.
    pub(crate) fn drain(&mut self) -> Vec<OutMessage> {
        self.seq_of.clear();
        self.queued.clear();
        self.dropped.extend(self.by_seq.keys().copied());
        std::mem::take(&mut self.by_seq).into_values().collect()
    }
}
