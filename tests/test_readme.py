"""The README's Python examples run, and its set-up command is the one the tests check."""

from __future__ import annotations

import re
from pathlib import Path

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def test_python_examples_run(broker) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert len(blocks) >= 3
    ran = 0
    for block in blocks:
        if "client.username_pw_set(creds" in block:
            continue  # a fragment continuing the credentials example, not a program
        # The examples talk to "localhost", 1883; the test broker listens on a free port.
        code = block.replace('"localhost", 1883', f'"{broker.host}", {broker.port}')
        namespace: dict[str, object] = {}
        exec(compile(code, "README.md", "exec"), namespace)
        ran += 1
        if "got_reply" in namespace:
            assert namespace["got_reply"].is_set()  # type: ignore[attr-defined]
    assert ran >= 2


def test_install_command_is_the_done_when_command() -> None:
    assert (
        "pip install . && turbomqtt token onenet --product-id 469948 --device Chic_D "
        "--key rs2FaE5BuygJZkWKDA5okKt1RFpwOx53hbu6hwyCS4U= --et 1673053248"
    ) in README
