"""Shared fixtures: TLS material, a real mosquitto, a scripted fake broker.

========================= ======== =====================================================
fixture                   scope    what
========================= ======== =====================================================
``tls_files``             session  :class:`~support.certs.TLSFiles`: CA, server, wrong-host,
                                   client (clear and encrypted key), rogue CA
``broker``                session  a running :class:`~support.broker.MosquittoBroker`
                                   shared by all tests: never stop or kill it
``fresh_broker``          function a private running mosquitto, for tests that
                                   ``stop()``/``kill()``/``start()`` it (same ports)
``fake_broker``           function a :class:`~support.fake_broker.FakeBroker` on a free port
``unique_topic``          function a topic no other test uses, e.g. ``turbomqtt-test/<hex>``
``mqtt``                  function the client module under test, parametrized over
                                   ``paho.mqtt.client`` and ``turbomqtt.client``
                                   (``$TURBOMQTT_TEST_IMPLS``, default ``paho,turbomqtt``)
``make_client``           function ``make_client(mqtt, version, **kwargs)``: a Client that is
                                   stopped and disconnected at teardown
========================= ======== =====================================================

mosquitto missing is a failure, not a skip: a skipped integration test looks
like a passing one. When a test using a broker fails, the tail of that broker's
log is added to the report ("mosquitto log tail" section).
"""

from __future__ import annotations

import importlib
import os
import sys
import uuid
import warnings
from collections.abc import Callable, Generator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from support.broker import BrokerError, MosquittoBroker
from support.certs import TLSFiles, generate_tls_files
from support.fake_broker import FakeBroker


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    """CA, server/client certificates and keys, generated once per session."""
    return generate_tls_files(tmp_path_factory.mktemp("certs"))


def _started_broker(
    workdir: Path, tls_files: TLSFiles, *, persistence: bool = False
) -> MosquittoBroker:
    try:
        broker = MosquittoBroker(workdir, tls_files, persistence=persistence)
        broker.start()
    except BrokerError as exc:
        error = str(exc)
    else:
        return broker
    pytest.fail(error, pytrace=False)  # outside `except`: no chained traceback noise


@pytest.fixture(scope="session")
def broker(
    tmp_path_factory: pytest.TempPathFactory, tls_files: TLSFiles
) -> Generator[MosquittoBroker, None, None]:
    """The session-wide mosquitto (all listeners). Shared: do not stop or kill it."""
    broker = _started_broker(tmp_path_factory.mktemp("mosquitto"), tls_files)
    yield broker
    broker.stop()


@pytest.fixture
def fresh_broker(tmp_path: Path, tls_files: TLSFiles) -> Generator[MosquittoBroker, None, None]:
    """A mosquitto owned by one test; ``stop()``, ``kill()`` and ``start()`` freely."""
    broker = _started_broker(tmp_path / "mosquitto", tls_files)
    yield broker
    broker.stop()


@pytest.fixture
def persistent_broker(
    tmp_path: Path, tls_files: TLSFiles
) -> Generator[MosquittoBroker, None, None]:
    """Like ``fresh_broker``, with persistence on: a graceful ``stop()`` keeps sessions and
    their queued messages for the next ``start()``."""
    broker = _started_broker(tmp_path / "mosquitto", tls_files, persistence=True)
    yield broker
    broker.stop()


@pytest.fixture
def fake_broker() -> Generator[FakeBroker, None, None]:
    """A scripted fake broker listening on 127.0.0.1; call ``accept()`` first."""
    fake = FakeBroker()
    yield fake
    fake.close()


@pytest.fixture
def unique_topic() -> str:
    """A topic private to this test, so tests sharing ``broker`` cannot cross-talk."""
    return f"turbomqtt-test/{uuid.uuid4().hex}"


#: Implementation name -> module that must behave like ``paho.mqtt.client``.
CLIENT_IMPLS = {"paho": "paho.mqtt.client", "turbomqtt": "turbomqtt.client"}


def _selected_impls() -> list[str]:
    raw = os.environ.get("TURBOMQTT_TEST_IMPLS", "paho,turbomqtt")
    names = [name.strip() for name in raw.split(",") if name.strip()]
    unknown = [name for name in names if name not in CLIENT_IMPLS]
    if unknown or not names:
        raise pytest.UsageError(
            f"TURBOMQTT_TEST_IMPLS={raw!r}: expected a comma-separated subset of {list(CLIENT_IMPLS)}"
        )
    return names


@pytest.fixture(params=_selected_impls())
def mqtt(request: pytest.FixtureRequest) -> ModuleType:
    """The client module under test. An implementation that cannot be imported is a
    failure, not a skip (turbomqtt must not silently drop out of the run)."""
    name = CLIENT_IMPLS[request.param]
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        error = f"cannot import {name}: {exc!r}"
    pytest.fail(error, pytrace=False)


@pytest.fixture
def make_client() -> Generator[Callable[..., Any], None, None]:
    """``make_client(mqtt, version=2, **kwargs)`` builds ``mqtt.Client`` with callback API
    ``version`` (1 or 2; VERSION1's DeprecationWarning is swallowed here, tests about the
    warning build their clients themselves). Every client is ``loop_stop()``-ed and
    ``disconnect()``-ed at teardown, so a failing test cannot leave a loop thread behind."""
    made: list[Any] = []

    def make(module: ModuleType, version: int = 2, **kwargs: Any) -> Any:
        api = (
            module.CallbackAPIVersion.VERSION1
            if version == 1
            else module.CallbackAPIVersion.VERSION2
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            client = module.Client(api, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        # disconnect() first: it wakes paho's loop thread, so loop_stop() need not wait
        # for the 1 s select() timeout
        for stop in (client.disconnect, client.loop_stop):
            try:
                stop()
            except Exception:  # teardown must go on for the other clients
                pass


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        funcargs = getattr(item, "funcargs", {})
        for value in funcargs.values():
            if isinstance(value, MosquittoBroker):
                report.sections.append((f"mosquitto log tail ({value.log_path})", value.log_tail()))
    return report
