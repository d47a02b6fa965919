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
def valid_topic(topic: str) -> bool: ...
def valid_filter(filter: str) -> bool: ...

__all__ = [
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
