"""turbomqtt.auth: every published vector of spec/iot_auth.md, the errors, and random inputs
checked against the plain-Python reference."""

from __future__ import annotations

import base64
import datetime as dt
import random
import time

import pytest
from turbomqtt import auth
from turbomqtt.errors import (
    TokenError,
    TokenExpiredError,
    TokenMalformedError,
    TokenSignatureError,
)

from tests import reference_signing as ref

KEY = "rs2FaE5BuygJZkWKDA5okKt1RFpwOx53hbu6hwyCS4U="
PRODUCT_KEY = "kKsubaG7FzMgzR6N3eUD53319Qu+K4MCvw6KzOYc5eI="
TOKEN = (
    "version=2018-10-31&res=products%2F469948%2Fdevices%2FChic_D&et=1673053248"
    "&method=sha1&sign=prIMDQ23WFI6PMj2IWpaRJJL4eE%3D"
)


# --- OneNET -------------------------------------------------------------------------------


def test_onenet_reference_vector() -> None:
    assert auth.onenet_token("products/469948/devices/Chic_D", KEY, et=1673053248) == TOKEN
    creds = auth.onenet("469948", "Chic_D", KEY, et=1673053248)
    assert creds == ("Chic_D", "469948", TOKEN)
    assert (creds.client_id, creds.username, creds.password) == ("Chic_D", "469948", TOKEN)


def test_onenet_method_any_case_emitted_lower() -> None:
    for method in ("md5", "sha1", "sha256"):
        upper = auth.onenet_token("products/1", KEY, et=10, method=method.upper())
        assert upper == auth.onenet_token("products/1", KEY, et=10, method=method)
        assert f"&method={method}&" in upper
        assert upper == ref.onenet_token("products/1", KEY, 10, method)


def test_onenet_luatos_lenient_key() -> None:
    # Non-canonical base64 (non-zero spare bits): Python's b64decode accepts it, and so must we.
    key = "adfasdfadsfadsf="
    assert base64.b64decode(key).hex() == "69d7dab1d7da76c7da76c7"
    token = auth.onenet_token("products/1/devices/d", key, et=32472115200, method="md5")
    assert token == ref.onenet_token("products/1/devices/d", key, 32472115200, "md5")
    assert "&et=32472115200&" in token


def test_onenet_key_with_whitespace_or_missing_padding() -> None:
    expected = auth.onenet_token("products/1", KEY, et=1)
    assert auth.onenet_token("products/1", KEY + "\n", et=1) == expected
    assert auth.onenet_token("products/1", " " + KEY.rstrip("="), et=1) == expected


def test_onenet_product_level_and_expiry() -> None:
    creds = auth.onenet("469948", "Chic_D", PRODUCT_KEY, et=2000000000, product_level=True)
    assert "res=products%2F469948&" in creds.password
    assert creds.password == ref.onenet_token("products/469948", PRODUCT_KEY, 2000000000)
    before = int(time.time())
    creds = auth.onenet("469948", "Chic_D", KEY, expires_in=60)
    et = auth.parse_onenet_token(creds.password).et
    assert before + 60 <= et <= int(time.time()) + 60
    default = auth.parse_onenet_token(auth.onenet("1", "d", KEY).password).et
    assert abs(default - (time.time() + auth.DEFAULT_ONENET_EXPIRES_IN)) < 5


def test_onenet_random_inputs_match_reference() -> None:
    rng = random.Random(1234)
    for _ in range(300):
        key = base64.b64encode(rng.randbytes(rng.choice([16, 32, 48, 64]))).decode()
        res = f"products/{rng.randrange(10**6)}/devices/dev_{rng.randrange(10**4)}-x"
        et = rng.randrange(2**40)
        method = rng.choice(["md5", "sha1", "sha256"])
        assert auth.onenet_token(res, key, et=et, method=method) == ref.onenet_token(
            res, key, et, method
        )


@pytest.mark.parametrize(
    ("kwargs", "arg"),
    [
        ({"res": "", "access_key": KEY, "et": 1}, "res"),
        ({"res": "products/1", "access_key": "", "et": 1}, "access_key"),
        ({"res": "products/1", "access_key": "not*base64", "et": 1}, "access_key"),
        ({"res": "products/1", "access_key": "abcde", "et": 1}, "access_key"),
        ({"res": "products/1", "access_key": KEY, "et": -1}, "et"),
        ({"res": "products/1", "access_key": KEY, "et": 2**64}, "et"),
        ({"res": "products/1", "access_key": KEY, "et": 1, "method": "sha512"}, "method"),
        ({"res": "products/1", "access_key": KEY, "et": 1, "version": ""}, "version"),
    ],
)
def test_onenet_token_bad_input_names_argument(kwargs: dict, arg: str) -> None:
    with pytest.raises(ValueError, match=rf"^{arg}: ") as info:
        auth.onenet_token(**kwargs)
    if arg == "access_key" and kwargs["access_key"]:
        assert kwargs["access_key"] not in str(info.value)


def test_onenet_bad_input() -> None:
    with pytest.raises(ValueError, match=r"^product_id: "):
        auth.onenet("", "d", KEY, et=1)
    with pytest.raises(ValueError, match=r"^device_name: "):
        auth.onenet("1", "", KEY, et=1)
    with pytest.raises(ValueError, match="et, expires_in"):
        auth.onenet("1", "d", KEY, et=1, expires_in=5)
    with pytest.raises(ValueError, match=r"^expires_in: "):
        auth.onenet("1", "d", KEY, expires_in=-5)
    with pytest.raises(TypeError, match="et must be an int"):
        auth.onenet("1", "d", KEY, et="1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="et must be an int"):
        auth.onenet("1", "d", KEY, et=True)
    with pytest.raises(TypeError):
        auth.onenet_token(5, KEY, et=1)  # type: ignore[arg-type]


def test_secrets_never_in_errors_or_repr() -> None:
    secret_key = "c2VjcmV0LWtleS0x$"
    with pytest.raises(ValueError) as info:
        auth.onenet_token("products/1", secret_key, et=1)
    assert secret_key not in str(info.value)
    assert "secret" not in repr(info.value)
    creds = auth.onenet("1", "d", KEY, et=1)
    assert creds.password not in repr(creds)
    assert "password='***'" in repr(creds)
    with pytest.raises(TokenSignatureError) as sig:
        auth.verify_onenet_token(TOKEN, PRODUCT_KEY, now=0)
    assert PRODUCT_KEY not in str(sig.value)


# --- OneNET token verification -------------------------------------------------------------


def test_parse_and_verify() -> None:
    parsed = auth.parse_onenet_token(TOKEN)
    assert parsed == auth.OneNetToken(
        "2018-10-31",
        "products/469948/devices/Chic_D",
        1673053248,
        "sha1",
        "prIMDQ23WFI6PMj2IWpaRJJL4eE=",
    )
    assert auth.verify_onenet_token(TOKEN, KEY, now=1673053248) == parsed
    fresh = auth.onenet("469948", "Chic_D", KEY, expires_in=100).password
    assert auth.verify_onenet_token(fresh, KEY).res == "products/469948/devices/Chic_D"


def test_verify_expired_says_when() -> None:
    with pytest.raises(
        TokenExpiredError, match=r"expired: et=1673053248 is 52 s before now=1673053300"
    ) as info:
        auth.verify_onenet_token(TOKEN, KEY, now=1673053300)
    assert (info.value.et, info.value.now) == (1673053248, 1673053300)
    assert isinstance(info.value, TokenError)
    assert isinstance(info.value, ValueError)


def test_verify_signature_mismatch() -> None:
    with pytest.raises(TokenSignatureError, match="signature mismatch"):
        auth.verify_onenet_token(TOKEN, PRODUCT_KEY, now=0)
    edited = TOKEN.replace("Chic_D", "Chic_E")
    with pytest.raises(TokenSignatureError):
        auth.verify_onenet_token(edited, KEY, now=0)


@pytest.mark.parametrize(
    ("token", "field"),
    [
        (TOKEN.replace("&et=1673053248", ""), "et"),
        (TOKEN.replace("et=1673053248", "et=soon"), "et"),
        (TOKEN.replace("method=sha1", "method=sha384"), "method"),
        (TOKEN.replace("sign=prIMDQ23WFI6PMj2IWpaRJJL4eE%3D", "sign=%%%"), "sign"),
        (TOKEN.replace("version=2018-10-31&", ""), "version"),
        (TOKEN + "&res=x", "res"),
        ("password123", "token"),
        ("", "token"),
    ],
)
def test_verify_malformed_names_field(token: str, field: str) -> None:
    with pytest.raises(TokenMalformedError, match=field) as info:
        auth.verify_onenet_token(token, KEY, now=0)
    assert info.value.field == field
    with pytest.raises(TokenMalformedError):
        auth.parse_onenet_token(token)


# --- Other platforms -----------------------------------------------------------------------


def test_aliyun_vector() -> None:
    creds = auth.aliyun(
        "pk", "device", "secret", client_id="12345", timestamp=789, sign_method="hmacsha1"
    )
    assert creds.password.upper() == "FAFD82A3D602B37FB0FA8B7892F24A477F851A14"
    assert creds.client_id == "12345|securemode=3,signmethod=hmacsha1,timestamp=789|"
    assert creds.username == "device&pk"


def test_aliyun_defaults_and_reference() -> None:
    before = int(time.time() * 1000)
    creds = auth.aliyun("a1B2c3", "dev", "s3cret", secure_mode=2)
    cid, params, _ = creds.client_id.split("|")
    assert cid == "a1B2c3.dev"
    fields = dict(kv.split("=") for kv in params.split(","))
    assert fields["securemode"] == "2"
    assert fields["signmethod"] == "hmacsha256"
    ts = int(fields["timestamp"])
    assert before <= ts <= int(time.time() * 1000)
    assert creds.password == ref.aliyun_password("a1B2c3", "dev", "s3cret", cid, ts, "sha256")
    md5 = auth.aliyun("p", "d", "s", client_id="c", timestamp=1, sign_method="HMACMD5")
    assert md5.password == ref.aliyun_password("p", "d", "s", "c", 1, "md5")
    with pytest.raises(ValueError, match=r"^sign_method: "):
        auth.aliyun("p", "d", "s", sign_method="sha256")
    with pytest.raises(ValueError, match=r"^secure_mode: "):
        auth.aliyun("p", "d", "s", secure_mode=1)
    with pytest.raises(ValueError, match=r"^device_secret: "):
        auth.aliyun("p", "d", "")


def test_huawei_vector_and_timestamps() -> None:
    creds = auth.huawei("pid_node", "12345678", timestamp="2025041401")
    assert creds.password == "c75150e6cb841417396819e4d2ee4358a416344a03a083e3a8567074ddec820a"
    assert creds.client_id == "pid_node_0_0_2025041401"
    assert creds.username == "pid_node"
    beijing = dt.timezone(dt.timedelta(hours=8))
    aware = auth.huawei("d", "12345678", timestamp=dt.datetime(2025, 4, 14, 9, 30, tzinfo=beijing))
    assert aware.password == creds.password
    naive = auth.huawei("d", "12345678", timestamp=dt.datetime(2025, 4, 14, 1, 59))
    assert naive.password == creds.password
    before = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d%H")
    now = auth.huawei("d", "s", sign_type=1)
    after = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d%H")
    assert now.client_id.startswith("d_0_1_")
    assert now.client_id[-10:] in {before, after}
    assert now.password == ref.huawei_password("s", now.client_id[-10:])
    with pytest.raises(ValueError, match=r"^timestamp: "):
        auth.huawei("d", "s", timestamp="2025-04-14")
    with pytest.raises(ValueError, match=r"^sign_type: "):
        auth.huawei("d", "s", sign_type=2)
    with pytest.raises(TypeError):
        auth.huawei("d", "s", timestamp=2025041401)  # type: ignore[arg-type]


def test_tencent_vector_and_defaults() -> None:
    creds = auth.tencent(
        "J5M4D6INI9", "pi_dht11", "u/nAbSmZKbCW7lugludvLg==", expiry=1645079520, conn_id="13GB9"
    )
    assert creds.client_id == "J5M4D6INI9pi_dht11"
    assert creds.username == "J5M4D6INI9pi_dht11;12010126;13GB9;1645079520"
    assert (
        creds.password
        == "995566e2241a06391c30d9ac23de2706a0e9e59247830c556eb55ccfdee5f127;hmacsha256"
    )
    fresh = auth.tencent("P", "d", "u/nAbSmZKbCW7lugludvLg==", sign_method="hmacsha1")
    _, sdkappid, conn_id, expiry = fresh.username.split(";")
    assert sdkappid == "12010126"
    assert len(conn_id) == 5 and conn_id.isalnum()
    assert abs(int(expiry) - (time.time() + 3600)) < 5
    digest, suffix = fresh.password.split(";")
    assert suffix == "hmacsha1"
    assert digest == ref.tencent_password(fresh.username, "u/nAbSmZKbCW7lugludvLg==", "sha1")
    with pytest.raises(ValueError, match=r"^device_psk: "):
        auth.tencent("P", "d", "%%")
    with pytest.raises(ValueError, match=r"^sign_method: "):
        auth.tencent("P", "d", "aGk=", sign_method="md5")


def test_baidu_vector_and_sha256() -> None:
    creds = auth.baidu("abcd123", "mydevice", "ImSeCrEt0I1M2jkl", timestamp=1583826857)
    assert creds.username == "thingidp@abcd123|mydevice|1583826857|MD5"
    assert creds.password == "7f0e63d2c6e122100edde19e34e7df5b"
    assert creds.client_id == "mydevice"
    sha = auth.baidu("c", "k", "s", timestamp=5, algorithm="sha256", client_id="me")
    assert sha.password == ref.baidu_password("k", "s", 5, "SHA256")
    assert sha.client_id == "me"
    with pytest.raises(ValueError, match=r"^algorithm: "):
        auth.baidu("c", "k", "s", algorithm="SHA1")
    with pytest.raises(ValueError, match=r"^iot_core_id: "):
        auth.baidu("", "k", "s")
