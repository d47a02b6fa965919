//! What the structured fuzzer generates: the session's configuration and the sequence of
//! operations (application requests, network events, broker packets) that `model.rs` runs.

use proptest::prelude::*;
use proptest::sample::Index;

use super::wire;
use crate::session::AckMode;

/// The session's configuration for one case.
#[derive(Debug, Clone)]
pub(super) struct Setup {
    pub(super) v5: bool,
    pub(super) clean: bool,
    pub(super) keepalive: u16,
    /// 0 means unlimited.
    pub(super) max_inflight: usize,
    /// 0 means unlimited.
    pub(super) max_queued: usize,
    pub(super) ack_mode: AckMode,
    /// Topic Alias Maximum our CONNECT declares (MQTT 5).
    pub(super) alias_max: u16,
    /// Where the mid counter starts, to cross the wrap-around at 65535.
    pub(super) last_mid: u16,
}

/// An MQTT 5 reason choice: a seed into the code table of the packet, and properties.
pub(super) type Reason = Option<(u8, Option<Vec<u8>>)>;

#[derive(Debug, Clone)]
pub(super) enum Op {
    // The application.
    Publish {
        qos: u8,
        topic: u8,
        retain: bool,
        /// MQTT 5 Topic Alias (seed) and whether to leave the topic out.
        alias: Option<(u8, bool)>,
        /// A payload larger than a small broker Maximum Packet Size.
        big: bool,
    },
    Subscribe(u8),
    Unsubscribe(u8),
    Disconnect(Option<u8>),
    /// Manual acks: the application acks one delivered message.
    AppAck(Index),
    /// Delivery-time acks: the owner's `on_message` calls returned.
    ReleaseAcks,
    Tick(u8),
    // The network.
    /// The client reads up to this many bytes; with `true`, the owner releases held acks
    /// before it has taken the events (which must not release the new messages' acks).
    ClientRead(usize, bool),
    BrokerRead,
    Lose,
    /// The owner opens a transport; with `true` also while one is open (paho's `reconnect()`
    /// closing the old socket without `on_disconnect`).
    Reconnect(bool),
    /// The owner closes the transport on purpose, reporting nothing (`abandon`).
    Abandon,
    /// The socket stops accepting writes (`true`) or accepts them again: packets wait in the
    /// session while it goes on reading.
    Stall(bool),
    /// The socket takes writes again, the broker reads everything and accepts a pending
    /// CONNECT, and the client reads everything: a quiet moment on a good network.
    Settle,
    // The broker.
    ConnAck {
        keep_session: bool,
        refuse: Option<u8>,
        /// Receive Maximum, Maximum Packet Size, Topic Alias Maximum, Server Keep Alive.
        limits: Option<(u16, u32, u16, Option<u16>)>,
        /// Reason String and User Property.
        props: Vec<Vec<u8>>,
    },
    BrokerPublish {
        qos: u8,
        topic: u8,
        retain: bool,
        props: Vec<Vec<u8>>,
        alias: Option<u8>,
    },
    Resend(Index),
    Release(Index, Reason),
    Answer(Index, Reason, Vec<u8>),
    /// An ack of `kind` (4 PUBACK .. 7 PUBCOMP, 9 SUBACK, 11 UNSUBACK) for an id nobody uses.
    Unknown(u8, u16),
    PingReq,
    ServerDisconnect(Reason),
}

pub(super) fn setup(v5: bool) -> impl Strategy<Value = Setup> {
    (
        any::<bool>(),
        prop::sample::select(&[0u16, 10, 60][..]),
        prop_oneof![Just(0usize), 1usize..=4, Just(20)],
        prop_oneof![3 => Just(0usize), 1 => 1usize..=6],
        prop::sample::select(&[AckMode::Immediate, AckMode::AfterDelivery, AckMode::Manual][..]),
        0u16..=4,
        prop_oneof![Just(0u16), 65_500u16..=65_535],
    )
        .prop_map(
            move |(clean, keepalive, max_inflight, max_queued, ack_mode, alias_max, last_mid)| {
                Setup {
                    v5,
                    clean,
                    keepalive,
                    max_inflight,
                    max_queued,
                    ack_mode,
                    alias_max: if v5 { alias_max } else { 0 },
                    last_mid,
                }
            },
        )
}

fn reason() -> impl Strategy<Value = Reason> {
    prop::option::of((any::<u8>(), wire::ack_props()))
}

fn app_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (
            0u8..=2,
            0u8..4,
            any::<bool>(),
            prop::option::weighted(0.3, (any::<u8>(), any::<bool>())),
            prop::bool::weighted(0.1),
        )
            .prop_map(|(qos, topic, retain, alias, big)| Op::Publish {
                qos,
                topic,
                retain,
                alias,
                big
            }),
        2 => (1u8..=3).prop_map(Op::Subscribe),
        1 => (1u8..=2).prop_map(Op::Unsubscribe),
        1 => prop::option::of(any::<u8>()).prop_map(Op::Disconnect),
        2 => any::<Index>().prop_map(Op::AppAck),
        2 => Just(Op::ReleaseAcks),
        2 => (0u8..=12).prop_map(Op::Tick),
    ]
}

fn network_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (
            prop_oneof![1usize..=8, 1usize..=200, Just(usize::MAX)],
            prop::bool::weighted(0.2)
        )
            .prop_map(|(n, release)| Op::ClientRead(n, release)),
        5 => Just(Op::BrokerRead),
        1 => Just(Op::Lose),
        3 => prop::bool::weighted(0.1).prop_map(Op::Reconnect),
        1 => Just(Op::Abandon),
        1 => prop::bool::weighted(0.3).prop_map(Op::Stall),
        3 => Just(Op::Settle),
    ]
}

fn broker_op() -> impl Strategy<Value = Op> {
    let limits = (
        prop_oneof![1u16..=3, Just(65_535)],
        prop_oneof![30u32..=150, Just(268_435_460)],
        0u16..=3,
        prop::option::of(0u16..=30),
    );
    prop_oneof![
        3 => (
            prop::bool::weighted(0.9),
            prop::option::weighted(0.1, any::<u8>()),
            prop::option::weighted(0.4, limits),
            wire::ack_prop_list(),
        )
            .prop_map(|(keep_session, refuse, limits, props)| Op::ConnAck {
                keep_session,
                refuse,
                limits,
                props,
            }),
        5 => (
            0u8..=2,
            0u8..4,
            any::<bool>(),
            wire::publish_props(),
            prop::option::weighted(0.3, any::<u8>()),
        )
            .prop_map(|(qos, topic, retain, props, alias)| Op::BrokerPublish {
                qos,
                topic,
                retain,
                props,
                alias
            }),
        2 => any::<Index>().prop_map(Op::Resend),
        3 => (any::<Index>(), reason()).prop_map(|(i, r)| Op::Release(i, r)),
        8 => (any::<Index>(), reason(), prop::collection::vec(any::<u8>(), 3))
            .prop_map(|(i, r, codes)| Op::Answer(i, r, codes)),
        1 => (prop::sample::select(&[4u8, 5, 6, 7, 9, 11][..]), any::<u16>())
            .prop_map(|(kind, id)| Op::Unknown(kind, id)),
        1 => Just(Op::PingReq),
        1 => reason().prop_map(Op::ServerDisconnect),
    ]
}

pub(super) fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![3 => app_op(), 4 => network_op(), 4 => broker_op()],
        1..150,
    )
}
