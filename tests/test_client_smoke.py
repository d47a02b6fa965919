"""A first end-to-end check of turbomqtt.client against the session's real mosquitto: the
paho-style flow every tutorial uses, in both callback API versions, and delivery of what a
script publishes right before it disconnects without running a loop."""

from __future__ import annotations

import threading

import pytest
import turbomqtt.client as mqtt


def test_v2_connect_subscribe_publish_receive(broker, unique_topic) -> None:
    got: list[tuple[str, bytes, int]] = []
    events: list[str] = []
    done = threading.Event()
    loop_threads: set[str] = set()

    def on_connect(client, userdata, flags, reason_code, properties):
        loop_threads.add(threading.current_thread().name)
        events.append(f"connect {reason_code} {flags.session_present}")
        client.subscribe(unique_topic + "/#", qos=2)

    def on_subscribe(client, userdata, mid, reason_codes, properties):
        events.append(f"subscribe {[str(r) for r in reason_codes]}")
        for qos in (0, 1, 2):
            client.publish(f"{unique_topic}/q{qos}", f"payload {qos}", qos=qos)

    def on_message(client, userdata, msg):
        loop_threads.add(threading.current_thread().name)
        got.append((msg.topic, msg.payload, msg.qos))
        if len(got) == 3:
            done.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="smoke-v2")
    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    assert client.connect(broker.host, broker.port) == mqtt.MQTT_ERR_SUCCESS
    client.loop_start()
    try:
        assert done.wait(5), (events, got)
    finally:
        client.disconnect()
        client.loop_stop()
    assert events[:2] == ["connect Success False", "subscribe ['Granted QoS 2']"]
    assert sorted(got) == [(f"{unique_topic}/q{q}", f"payload {q}".encode(), q) for q in (0, 1, 2)]
    assert len(loop_threads) == 1  # one shared-loop lane ("turbomqtt-loop-N"), not main
    assert next(iter(loop_threads)).startswith("turbomqtt-loop-")
    assert not client.is_connected()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_v1_script_with_positional_client_id_and_loop_forever(broker, unique_topic) -> None:
    seen: list[object] = []

    def on_connect(client, userdata, flags, rc):
        seen.append(("connect", flags, rc))
        client.subscribe(unique_topic)

    def on_subscribe(client, userdata, mid, granted_qos):
        seen.append(("subscribe", granted_qos))
        client.publish(unique_topic, b"\x00\xff", qos=1)

    def on_message(client, userdata, msg):
        seen.append(("message", msg.payload))
        client.disconnect()

    def on_disconnect(client, userdata, rc):
        seen.append(("disconnect", rc))

    client = mqtt.Client("smoke-v1")  # paho 1.x style: paho 2 raises TypeError here
    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.on_disconnect = on_disconnect
    client.connect(broker.host, broker.port, keepalive=30)
    rc = client.loop_forever()
    assert rc == mqtt.MQTT_ERR_NO_CONN
    assert seen == [
        ("connect", {"session present": 0}, 0),
        ("subscribe", (0,)),
        ("message", b"\x00\xff"),
        ("disconnect", mqtt.MQTT_ERR_SUCCESS),
    ]


def test_publish_then_disconnect_without_a_loop_delivers_everything(broker, unique_topic) -> None:
    received: list[bytes] = []
    ready = threading.Event()
    all_in = threading.Event()

    def on_message(client, userdata, msg):
        received.append(msg.payload)
        if len(received) == 20:
            all_in.set()

    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="smoke-sub")
    sub.on_subscribe = lambda *args: ready.set()
    sub.on_message = on_message
    sub.on_connect = lambda c, *args: c.subscribe(unique_topic, 1)
    sub.connect(broker.host, broker.port)
    sub.loop_start()
    try:
        assert ready.wait(5)
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="smoke-pub")
        pub.connect(broker.host, broker.port)
        infos = [pub.publish(unique_topic, f"m{i}", qos=i % 2) for i in range(20)]
        assert [info.mid for info in infos] == list(range(1, 21))
        assert pub.disconnect() == mqtt.MQTT_ERR_SUCCESS
        assert all_in.wait(5), received
    finally:
        sub.disconnect()
        sub.loop_stop()
    assert sorted(received) == sorted(f"m{i}".encode() for i in range(20))


def test_connection_refused_raises(broker) -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    with pytest.raises(ConnectionRefusedError):
        client.connect("127.0.0.1", port)
