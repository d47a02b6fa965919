"""The `turbomqtt` command line, run as a user runs it: a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from turbomqtt import auth

KEY = "rs2FaE5BuygJZkWKDA5okKt1RFpwOx53hbu6hwyCS4U="
TOKEN = (
    "version=2018-10-31&res=products%2F469948%2Fdevices%2FChic_D&et=1673053248"
    "&method=sha1&sign=prIMDQ23WFI6PMj2IWpaRJJL4eE%3D"
)
ONENET = ["token", "onenet", "--product-id", "469948", "--device", "Chic_D", "--key", KEY]


def run(*args: str, stdin: str = "", module: bool = False) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "turbomqtt"] if module else ["turbomqtt"]
    return subprocess.run([*cmd, *args], input=stdin, capture_output=True, text=True, timeout=30)


def test_done_when_command_prints_exact_token() -> None:
    out = run(*ONENET, "--et", "1673053248")
    assert out.returncode == 0, out.stderr
    assert out.stdout == TOKEN + "\n"
    assert out.stderr == ""


def test_python_dash_m_and_json() -> None:
    out = run(*ONENET, "--et", "1673053248", "--json", module=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {
        "client_id": "Chic_D",
        "username": "469948",
        "password": TOKEN,
    }


def test_expires_in_method_and_secret_from_stdin() -> None:
    args = ["token", "onenet", "--product-id", "1", "--device", "d", "--key", "-"]
    out = run(*args, "--expires-in", "120", "--method", "SHA256", stdin=KEY + "\n")
    assert out.returncode == 0, out.stderr
    token = auth.verify_onenet_token(out.stdout.strip(), KEY)
    assert token.method == "sha256"


def test_verify_valid_expired_and_mismatch() -> None:
    ok = run("token", "verify", "--token", TOKEN, "--key", KEY, "--now", "1673053000")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("valid: res=products/469948/devices/Chic_D et=1673053248")
    expired = run("token", "verify", "--token", TOKEN, "--key", KEY)
    assert expired.returncode == 1
    assert expired.stdout == ""
    assert expired.stderr.startswith("turbomqtt: invalid token: token expired: et=1673053248")
    assert expired.stderr.count("\n") == 1
    other = "kKsubaG7FzMgzR6N3eUD53319Qu+K4MCvw6KzOYc5eI="
    bad = run("token", "verify", "--token", TOKEN, "--key", other, "--now", "0")
    assert bad.returncode == 1
    assert "signature mismatch" in bad.stderr
    assert other not in bad.stderr
    malformed = run("token", "verify", "--token", "abc", "--key", KEY, "--json")
    assert malformed.returncode == 1
    assert "malformed token" in malformed.stderr


def test_other_platforms() -> None:
    out = run(
        "token",
        "aliyun",
        "--product-key",
        "pk",
        "--device",
        "device",
        "--secret",
        "secret",
        "--client-id",
        "12345",
        "--timestamp",
        "789",
        "--sign-method",
        "hmacsha1",
    )
    assert out.stdout == "fafd82a3d602b37fb0fa8b7892f24a477f851a14\n", out.stderr
    out = run(
        "token",
        "huawei",
        "--device-id",
        "p_n",
        "--secret",
        "12345678",
        "--timestamp",
        "2025041401",
        "--json",
    )
    assert (
        json.loads(out.stdout)["password"]
        == "c75150e6cb841417396819e4d2ee4358a416344a03a083e3a8567074ddec820a"
    )
    out = run(
        "token",
        "tencent",
        "--product-id",
        "J5M4D6INI9",
        "--device",
        "pi_dht11",
        "--psk",
        "u/nAbSmZKbCW7lugludvLg==",
        "--expiry",
        "1645079520",
        "--conn-id",
        "13GB9",
    )
    assert (
        out.stdout
        == "995566e2241a06391c30d9ac23de2706a0e9e59247830c556eb55ccfdee5f127;hmacsha256\n"
    )
    out = run(
        "token",
        "baidu",
        "--iot-core-id",
        "abcd123",
        "--device-key",
        "mydevice",
        "--device-secret",
        "ImSeCrEt0I1M2jkl",
        "--timestamp",
        "1583826857",
        "--json",
    )
    assert json.loads(out.stdout) == {
        "client_id": "mydevice",
        "username": "thingidp@abcd123|mydevice|1583826857|MD5",
        "password": "7f0e63d2c6e122100edde19e34e7df5b",
    }


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        ([*ONENET, "--et", "-5"], 1, "turbomqtt: error: et: must be between 0 and"),
        (
            [*ONENET, "--method", "sha512"],
            1,
            "turbomqtt: error: method: must be md5, sha1 or sha256",
        ),
        ([*ONENET[:-1], "%%%%"], 1, "turbomqtt: error: access_key: is not valid base64"),
        ([*ONENET, "--et", "1", "--expires-in", "5"], 2, "not allowed with argument"),
        ([*ONENET, "--et", "soon"], 2, "invalid int value"),
        (["token", "onenet", "--device", "d", "--key", KEY], 2, "required: --product-id"),
        (["token", "nope"], 2, "invalid choice"),
        ([], 2, "required: COMMAND"),
    ],
)
def test_errors_are_one_line_and_non_zero(args: list[str], status: int, message: str) -> None:
    out = run(*args)
    assert out.returncode == status
    assert out.stdout == ""
    assert message in out.stderr
    assert out.stderr.count("\n") == 1, out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    "args", [[], ["token"], ["token", "onenet"], ["token", "verify"], ["token", "baidu"]]
)
def test_help_everywhere(args: list[str]) -> None:
    out = run(*args, "--help")
    assert out.returncode == 0
    assert out.stdout.startswith("usage: turbomqtt")


def test_version() -> None:
    import turbomqtt

    out = run("--version")
    assert out.stdout.strip() == f"turbomqtt {turbomqtt.__version__}"
