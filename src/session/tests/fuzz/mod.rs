//! Property-based fuzzing of the packet-to-session path, with proptest.
//!
//! - `bytes_*`: arbitrary byte streams (valid broker packets, mutated ones, garbage and hostile
//!   headers), cut into reads at arbitrary points, into a connected session. Whatever arrives,
//!   the session must not panic, must keep at most one partial packet buffered, must end a
//!   connection with exactly one `Disconnected`, and must only ever write well-formed packets.
//! - `model`: sequences of valid broker packets, client requests and connection losses run
//!   against a model broker, checking the delivery invariants (see `model.rs`).
//!
//! `cargo test` runs a fixed number of cases per property, from a fixed seed, in a few seconds.
//! `PROPTEST_CASES=N` (what `make soak` sets) runs N cases from a random seed instead;
//! `PROPTEST_RNG_SEED` replays a seed. A failure prints the shrunk input. Run with
//! `-- --nocapture` to see the executions and time of each property.

use std::cell::Cell;
use std::fmt::Debug;

use proptest::prelude::*;
use proptest::test_runner::{RngSeed, TestCaseError, TestRunner};

use super::*;

mod model;
mod ops;
mod wire;

use wire::{any_broker_packet, parse_client, BrokerPacket};

/// The seed of `cargo test` runs, so CI is reproducible.
const CI_SEED: u64 = 0x7475_7262_6f6d_7174;

/// proptest's configuration for one property: `cases` unless `PROPTEST_CASES` says otherwise,
/// and the fixed CI seed unless a count or a seed is asked for.
fn config(cases: u32) -> ProptestConfig {
    let set = |name: &str| std::env::var_os(name).is_some();
    // `default()` reads the PROPTEST_* variables.
    let mut config = ProptestConfig::default();
    if !set("PROPTEST_CASES") {
        config.cases = cases;
        if !set("PROPTEST_RNG_SEED") {
            config.rng_seed = RngSeed::Fixed(CI_SEED);
        }
    }
    // The shrunk input is printed on failure; no regression files in the source tree.
    config.failure_persistence = None;
    config
}

/// Runs one property and prints how much it executed; fails with the shrunk input.
///
/// `test` returns the number of session steps (inputs fed to the session) it made.
fn check<S>(
    name: &str,
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<u64, TestCaseError>,
) where
    S: Strategy,
    S::Value: Debug,
{
    let runs = Cell::new(0u64);
    let steps = Cell::new(0u64);
    let start = Instant::now();
    let mut runner = TestRunner::new(config(cases));
    let result = runner.run(&strategy, |input| {
        runs.set(runs.get() + 1);
        steps.set(steps.get() + test(input)?);
        Ok(())
    });
    eprintln!(
        "fuzz {name}: {} executions, {} session steps, {:.2?}",
        runs.get(),
        steps.get(),
        start.elapsed()
    );
    if let Err(e) = result {
        panic!("fuzz {name} failed: {e}");
    }
}

// ----- arbitrary byte streams --------------------------------------------------------------

/// A piece of what the broker sends.
#[derive(Debug, Clone)]
enum Piece {
    /// A well-formed packet (which may still be wrong where it arrives).
    Packet(BrokerPacket),
    /// A well-formed packet with bytes overwritten (`(position, xor)`, positions modulo its
    /// length) and possibly cut short.
    Mutated(BrokerPacket, Vec<(usize, u8)>, Option<usize>),
    /// Random bytes.
    Garbage(Vec<u8>),
    /// A fixed header announcing a huge remaining length (up to MQTT's 268,435,455), then a
    /// few bytes of it.
    HugeHeader(u8, usize, Vec<u8>),
}

impl Piece {
    fn bytes(&self, v5: bool) -> Vec<u8> {
        match self {
            Self::Packet(p) => p.encode(v5),
            Self::Mutated(p, flips, cut) => {
                let mut bytes = p.encode(v5);
                let len = bytes.len();
                for (at, xor) in flips {
                    bytes[at % len] ^= xor;
                }
                if let Some(cut) = cut {
                    bytes.truncate(cut % len);
                }
                bytes
            }
            Self::Garbage(bytes) => bytes.clone(),
            Self::HugeHeader(byte1, len, rest) => {
                let mut out = vec![*byte1];
                wire::put_vbi(&mut out, *len);
                out.extend_from_slice(rest);
                out
            }
        }
    }
}

fn piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        16 => any_broker_packet().prop_map(Piece::Packet),
        2 => (
            any_broker_packet(),
            prop::collection::vec((any::<usize>(), 1u8..=255), 1..3),
            prop::option::weighted(0.3, any::<usize>()),
        )
            .prop_map(|(p, flips, cut)| Piece::Mutated(p, flips, cut)),
        1 => prop::collection::vec(any::<u8>(), 1..32).prop_map(Piece::Garbage),
        1 => (
            any::<u8>(),
            1000usize..=268_435_455,
            prop::collection::vec(any::<u8>(), 0..16)
        )
            .prop_map(|(b, len, rest)| Piece::HugeHeader(b, len, rest)),
    ]
}

/// One byte-stream case: the session's setup, the stream, and how it is cut into reads.
#[derive(Debug, Clone)]
struct StreamCase {
    v5: bool,
    /// The session's incoming limit: small, so that the bound on buffering means something.
    max_packet_size: usize,
    keepalive: u16,
    /// Topic Alias Maximum declared in CONNECT (MQTT 5), so some broker aliases are valid.
    alias_max: u16,
    /// Whether each connection starts with a valid accepting CONNACK before the stream.
    connack_first: bool,
    pieces: Vec<Piece>,
    /// Read sizes, used in turn; each read may be followed by a clock advance in seconds.
    reads: Vec<(usize, Option<u8>)>,
}

fn stream_case(v5: bool) -> impl Strategy<Value = StreamCase> {
    (
        prop_oneof![3 => 8usize..=200, 1 => Just(MAX_REMAINING_LENGTH)],
        prop::sample::select(&[0u16, 5, 60][..]),
        0u16..=6,
        prop::bool::weighted(0.8),
        prop::collection::vec(piece(), 1..40),
        prop::collection::vec((1usize..=48, prop::option::weighted(0.1, 0u8..=8)), 1..8),
    )
        .prop_map(
            move |(max_packet_size, keepalive, alias_max, connack_first, pieces, reads)| {
                StreamCase {
                    v5,
                    max_packet_size,
                    keepalive,
                    alias_max,
                    connack_first,
                    pieces,
                    reads,
                }
            },
        )
}

/// The session's state as the byte-stream test follows it.
struct StreamRun {
    h: Harness,
    v5: bool,
    /// `Disconnected` (or `RetryConnect`) events of the current connection.
    ends: usize,
    connections: usize,
}

impl StreamRun {
    fn open(&mut self, connack_first: bool) -> Result<(), TestCaseError> {
        self.h.s.on_connected(self.h.now);
        self.ends = 0;
        self.connections += 1;
        self.transmit()?;
        if connack_first {
            let connack = BrokerPacket::ConnAck {
                session_present: false,
                rc: 0,
                props: Some(wire::block(&[])),
            };
            let mut buf = BytesMut::from(&connack.encode(self.v5)[..]);
            self.h.s.handle_bytes(&mut buf, self.h.now);
            self.after_input(&buf, usize::MAX, true)?;
        }
        Ok(())
    }

    /// Checks what one input left: events, output, and the read buffer (`read`: the input
    /// was `handle_bytes`, which must drop what it cannot use once the connection ends).
    fn after_input(
        &mut self,
        buf: &BytesMut,
        max_packet_size: usize,
        read: bool,
    ) -> Result<(), TestCaseError> {
        // A partial packet is at most a 5-byte header and one byte short of its body.
        prop_assert!(
            buf.len() < max_packet_size.saturating_add(5),
            "{} bytes buffered with max_packet_size {max_packet_size}",
            buf.len()
        );
        self.transmit()?;
        let events: Vec<FullEvent> = self.h.s.drain_full_events().collect();
        for e in &events {
            if matches!(
                e,
                FullEvent::Disconnected { .. } | FullEvent::RetryConnect { .. }
            ) {
                self.ends += 1;
            }
        }
        prop_assert!(self.ends <= 1, "connection ended twice: {events:?}");
        let protocol_error = events.iter().any(|e| {
            matches!(
                e,
                FullEvent::Disconnected {
                    reason: DisconnectReason::ProtocolError(_),
                    ..
                }
            )
        });
        if read && self.ends == 1 {
            prop_assert!(buf.is_empty(), "bytes kept after the end: {buf:?}");
        }
        if protocol_error {
            prop_assert!(!self.h.s.is_open(), "open after {events:?}");
        }
        prop_assert_eq!(self.h.s.is_open(), self.ends == 0, "events {:?}", events);
        Ok(())
    }

    /// Everything the session writes must be complete, well-formed client packets.
    fn transmit(&mut self) -> Result<(), TestCaseError> {
        let mut out = BytesMut::new();
        self.h.s.poll_transmit(&mut out, self.h.now);
        parse_client(&out, self.v5).map_err(TestCaseError::fail)?;
        Ok(())
    }
}

fn run_stream(case: &StreamCase) -> Result<u64, TestCaseError> {
    let mut o = opts("fuzz");
    o.max_packet_size = case.max_packet_size;
    o.keepalive = case.keepalive;
    if case.v5 {
        o.protocol = ProtocolVersion::V5;
    }
    let mut h = Harness::new(o);
    if case.v5 && case.alias_max > 0 {
        let props = wire::block(&[wire::property::u16(0x22, case.alias_max)]);
        h.s.set_connect_properties(ConnectProperties {
            connect: Bytes::from(props),
            will: Bytes::new(),
        })
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
    // Outstanding requests, so that acks for the low packet ids find something.
    let _ = h.s.publish(
        "q/1".into(),
        Bytes::from_static(b"1"),
        QoS::AtLeastOnce,
        false,
    );
    let _ = h.s.publish(
        "q/2".into(),
        Bytes::from_static(b"2"),
        QoS::ExactlyOnce,
        false,
    );
    let mut run = StreamRun {
        h,
        v5: case.v5,
        ends: 0,
        connections: 0,
    };
    run.open(case.connack_first)?;
    let _ = run.h.s.subscribe(vec![("s/#".into(), QoS::ExactlyOnce)]);
    run.transmit()?;

    let stream: Vec<u8> = case.pieces.iter().flat_map(|p| p.bytes(case.v5)).collect();
    let mut buf = BytesMut::new();
    let mut at = 0;
    let mut steps = 0u64;
    for (size, advance) in case.reads.iter().cycle() {
        if at >= stream.len() {
            break;
        }
        if !run.h.s.is_open() {
            // The owner reconnects; the stream goes on on the new connection.
            if run.connections >= 16 {
                break;
            }
            buf.clear();
            run.open(case.connack_first)?;
        }
        let end = (at + size).min(stream.len());
        buf.extend_from_slice(&stream[at..end]);
        at = end;
        run.h.s.handle_bytes(&mut buf, run.h.now);
        steps += 1;
        run.after_input(&buf, case.max_packet_size, true)?;
        if let Some(secs) = advance {
            run.h.now += Duration::from_secs(u64::from(*secs));
            run.h.s.tick(run.h.now);
            run.after_input(&buf, case.max_packet_size, false)?;
        }
    }
    // The transport dies: one end at most, whatever came before.
    run.h.s.on_connection_lost(run.h.now);
    run.after_input(&BytesMut::new(), case.max_packet_size, false)?;
    prop_assert!(run.ends == 1 || run.connections == 0);
    Ok(steps)
}

/// MQTT 3.1.1: arbitrary bytes in arbitrary reads.
#[test]
fn bytes_mqtt3() {
    check("bytes_mqtt3", 1500, stream_case(false), |case| {
        run_stream(&case)
    });
}

/// MQTT 5: arbitrary bytes in arbitrary reads.
#[test]
fn bytes_mqtt5() {
    check("bytes_mqtt5", 1500, stream_case(true), |case| {
        run_stream(&case)
    });
}

// ----- structured sequences ----------------------------------------------------------------

/// MQTT 3.1.1: valid broker packets, requests and connection losses; delivery invariants.
#[test]
fn model_mqtt3() {
    let cases = (ops::setup(false), ops::ops());
    check("model_mqtt3", 1000, cases, |(setup, ops)| {
        model::run(setup, ops)
    });
}

/// MQTT 5: the same, with properties, reason codes, CONNACK limits and topic aliases.
#[test]
fn model_mqtt5() {
    let cases = (ops::setup(true), ops::ops());
    check("model_mqtt5", 1000, cases, |(setup, ops)| {
        model::run(setup, ops)
    });
}
