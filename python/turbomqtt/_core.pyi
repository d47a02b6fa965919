from typing import Any, TypedDict, final

# Stub of the private native module; checked against the binary by `make lint` (stubtest).

__version__: str

def onenet_token(res: str, access_key: str, et: int, method: str, version: str) -> str: ...
def onenet_credentials(
    product_id: str,
    device_name: str,
    access_key: str,
    et: int,
    method: str,
    product_level: bool,
) -> tuple[str, str, str]: ...
def parse_onenet_token(token: str) -> tuple[str, str, int, str, str]: ...
def verify_onenet_token(
    token: str, access_key: str, now: int
) -> tuple[str, str, int, str, str]: ...
def aliyun(
    product_key: str,
    device_name: str,
    device_secret: str,
    client_id: str,
    timestamp_ms: int,
    sign_method: str,
    secure_mode: int,
) -> tuple[str, str, str]: ...
def huawei(device_id: str, secret: str, timestamp: str, sign_type: int) -> tuple[str, str, str]: ...
def tencent(
    product_id: str,
    device_name: str,
    device_psk: str,
    expiry: int,
    conn_id: str,
    sdkappid: str,
    sign_method: str,
) -> tuple[str, str, str]: ...
def baidu(
    iot_core_id: str,
    device_key: str,
    device_secret: str,
    timestamp: int,
    algorithm: str,
    client_id: str,
) -> tuple[str, str, str]: ...
def topic_matches_sub(sub: str, topic: str) -> bool: ...

EV_CONNACK: int
EV_MESSAGE: int
EV_PUBLISHED: int
EV_SUBACK: int
EV_UNSUBACK: int
EV_DISCONNECTED: int
EV_LOG: int
EV_RETRY: int
EV_CONNECT_RESULT: int

@final
class TlsConfig:
    def __new__(
        cls,
        *,
        ca_certs: str | None,
        ca_data: bytes | None,
        system_roots: bool,
        certfile: str | None,
        keyfile: str | None,
        keyfile_password: bytes | None,
        verify: bool,
        check_hostname: bool,
        min_version: int | None,
        max_version: int | None,
        alpn_protocols: list[str] | None,
        ciphers: str | None,
    ) -> TlsConfig: ...

class _ConnectArgs(TypedDict):
    """What ``Client._before_connect()`` hands to ``connect``/``start_connect``."""

    transport: str
    host: str
    port: int
    keepalive: int
    bind_address: str
    bind_port: int
    timeout: float
    client_id: bytes
    clean_session: bool
    protocol: int
    bridge: bool
    username: bytes | None
    password: bytes | None
    will: tuple[bytes, bytes, int, bool] | None
    max_inflight: int
    max_queued: int
    tls: TlsConfig | None
    ws_path: str
    ws_headers: list[tuple[str, str]]
    manual_ack: bool
    connect_properties: bytes
    will_properties: bytes

@final
class CoreClient:
    def __new__(cls, protocol: int = 4) -> CoreClient: ...
    def connect(self, args: _ConnectArgs) -> None: ...
    def start_connect(self, args: _ConnectArgs) -> None: ...
    def attach(self, lane: Lane, key: int) -> None: ...
    def detach(self) -> None: ...
    def set_limits(self, max_inflight: int, max_queued: int) -> None: ...
    def set_max_incoming_packet_size(self, size: int) -> None: ...
    def publish(
        self, topic: str, payload: bytes | bytearray, qos: int, retain: bool
    ) -> tuple[int, int, int]: ...
    def publish_with_properties(
        self, topic: str, payload: bytes | bytearray, qos: int, retain: bool, properties: bytes
    ) -> tuple[int, int, int]: ...
    def subscribe(
        self, topics: list[tuple[str, int]], properties: bytes
    ) -> tuple[int, int | None]: ...
    def unsubscribe(self, topics: list[str], properties: bytes) -> tuple[int, int | None]: ...
    def disconnect(
        self, reason_code: int | None = None, properties: bytes | None = None
    ) -> int: ...
    def ack(self, mid: int) -> int: ...
    def set_manual_ack(self, on: bool) -> None: ...
    def set_report_published(self, on: bool) -> None: ...
    def publish_status(self, track: int) -> bool | None: ...
    def wait_published(self, track: int, timeout: float | None = None) -> bool | None: ...
    def drop_out_messages(self) -> list[tuple[int, bytes, bytes, int, bool, bytes | None]]: ...
    def next_events(self, timeout: float) -> list[tuple[Any, ...]]: ...
    def wakeup(self) -> None: ...
    def sleep(self, seconds: float) -> None: ...
    def flush(self, timeout: float) -> bool: ...
    def is_open(self) -> bool: ...
    def want_write(self) -> bool: ...
    def has_pending(self) -> bool: ...
    def stored(self) -> int: ...
    def connect_identity(self) -> tuple[int, bytes]: ...
    def close(self) -> None: ...

@final
class Lane:
    def __new__(cls) -> Lane: ...
    def wait(self, timeout: float) -> list[int]: ...
    def push(self, key: int) -> None: ...
    def wakeup(self) -> None: ...

def valid_topic(topic: str) -> bool: ...
def valid_filter(filter: str) -> bool: ...

__all__ = [
    "EV_CONNACK",
    "EV_CONNECT_RESULT",
    "EV_DISCONNECTED",
    "EV_LOG",
    "EV_MESSAGE",
    "EV_PUBLISHED",
    "EV_RETRY",
    "EV_SUBACK",
    "EV_UNSUBACK",
    "CoreClient",
    "Lane",
    "TlsConfig",
    "__version__",
    "aliyun",
    "baidu",
    "huawei",
    "onenet_credentials",
    "onenet_token",
    "parse_onenet_token",
    "tencent",
    "topic_matches_sub",
    "valid_filter",
    "valid_topic",
    "verify_onenet_token",
]
