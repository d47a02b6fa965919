"""``turbomqtt.install_as_paho()`` makes an unmodified paho-mqtt script run on turbomqtt."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from support.broker import MosquittoBroker

UNMODIFIED_PAHO_SCRIPT = """
import paho.mqtt.client as mqtt
import paho.mqtt.publish as publish
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt import MQTTException

got = []

def on_connect(client, userdata, flags, reason_code, properties):
    client.subscribe(TOPIC, qos=1)

def on_subscribe(client, userdata, mid, reason_codes, properties):
    publish.single(TOPIC, "via paho names", qos=1, hostname=HOST, port=PORT)

def on_message(client, userdata, msg):
    got.append(msg.payload)
    client.disconnect()

client = mqtt.Client(CallbackAPIVersion.VERSION2)
client.on_connect = on_connect
client.on_subscribe = on_subscribe
client.on_message = on_message
client.connect(HOST, PORT)
client.loop_forever()
assert got == [b"via paho names"], got
assert isinstance(mqtt.ReasonCode(mqtt.PacketTypes.CONNACK), ReasonCode)
print(type(client).__module__, mqtt.MQTTException is MQTTException)
"""


def test_unmodified_paho_script_runs_on_turbomqtt(
    broker: MosquittoBroker, unique_topic: str
) -> None:
    prologue = f"import turbomqtt\nturbomqtt.install_as_paho()\nHOST, PORT, TOPIC = {broker.host!r}, {broker.port}, {unique_topic!r}\n"
    out = subprocess.run(
        [sys.executable, "-c", prologue + textwrap.dedent(UNMODIFIED_PAHO_SCRIPT)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["turbomqtt.client", "True"]


def test_every_paho_module_resolves_to_turbomqtt() -> None:
    code = (
        "import turbomqtt, sys\nturbomqtt.install_as_paho()\nturbomqtt.install_as_paho()\n"
        "import paho.mqtt, paho.mqtt.client, paho.mqtt.subscribe, paho.mqtt.properties, "
        "paho.mqtt.subscribeoptions, paho.mqtt.packettypes, paho.mqtt.matcher\n"
        "mods = [m for m in sys.modules if m.startswith('paho.mqtt.')]\n"
        "print(all(sys.modules[m].__name__.startswith('turbomqtt.') for m in mods), len(mods), paho.mqtt.__version__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "10", "2.2.0"]
