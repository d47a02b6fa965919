"""The README's Python examples run, and its set-up command is the one the tests check."""

from __future__ import annotations

import re
from pathlib import Path

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def test_python_examples_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert blocks
    namespace: dict[str, object] = {}
    for block in blocks:
        if "mqtt.Client" in block:
            continue  # needs the client (not yet released); shown for the migration only
        exec(compile(block, "README.md", "exec"), namespace)


def test_install_command_is_the_done_when_command() -> None:
    assert (
        "pip install . && turbomqtt token onenet --product-id 469948 --device Chic_D "
        "--key rs2FaE5BuygJZkWKDA5okKt1RFpwOx53hbu6hwyCS4U= --et 1673053248"
    ) in README
