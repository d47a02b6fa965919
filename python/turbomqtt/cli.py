"""The ``turbomqtt`` command line: ``turbomqtt token <platform> ...``.

Prints an MQTT password (or, with ``--json``, client id, user name and password) for an IoT
cloud, and checks OneNET tokens. Errors are one line on stderr and a non-zero exit status: 2 for
a command line that cannot be parsed, 1 for input that is wrong.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Callable, Optional

from turbomqtt import __version__, auth
from turbomqtt.errors import TokenError

__all__ = ["main"]

_STDIN_HINT = " ('-' reads it from standard input, keeping it out of the process list)"


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line rather than the whole usage text."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _secret(value: str) -> str:
    return sys.stdin.readline().strip() if value == "-" else value


def _print_credentials(creds: auth.Credentials, as_json: bool) -> None:
    if as_json:
        print(json.dumps(creds._asdict()))
    else:
        print(creds.password)


def _onenet(a: argparse.Namespace) -> None:
    creds = auth.onenet(
        a.product_id,
        a.device,
        _secret(a.key),
        et=a.et,
        expires_in=a.expires_in,
        method=a.method,
        product_level=a.product_level,
    )
    _print_credentials(creds, a.json)


def _verify(a: argparse.Namespace) -> None:
    token = auth.verify_onenet_token(_secret(a.token), _secret(a.key), now=a.now)
    if a.json:
        print(json.dumps({"valid": True, **token._asdict()}))
    else:
        print(f"valid: res={token.res} et={token.et} method={token.method} version={token.version}")


def _aliyun(a: argparse.Namespace) -> None:
    creds = auth.aliyun(
        a.product_key,
        a.device,
        _secret(a.secret),
        client_id=a.client_id,
        timestamp=a.timestamp,
        sign_method=a.sign_method,
        secure_mode=a.secure_mode,
    )
    _print_credentials(creds, a.json)


def _huawei(a: argparse.Namespace) -> None:
    creds = auth.huawei(
        a.device_id, _secret(a.secret), timestamp=a.timestamp, sign_type=a.sign_type
    )
    _print_credentials(creds, a.json)


def _tencent(a: argparse.Namespace) -> None:
    creds = auth.tencent(
        a.product_id,
        a.device,
        _secret(a.psk),
        expiry=a.expiry,
        conn_id=a.conn_id,
        sdkappid=a.sdkappid,
        sign_method=a.sign_method,
    )
    _print_credentials(creds, a.json)


def _baidu(a: argparse.Namespace) -> None:
    creds = auth.baidu(
        a.iot_core_id,
        a.device_key,
        _secret(a.device_secret),
        timestamp=a.timestamp,
        algorithm=a.algorithm,
        client_id=a.client_id,
    )
    _print_credentials(creds, a.json)


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="turbomqtt", description="turbomqtt: MQTT tools.")
    parser.add_argument("--version", action="version", version=f"turbomqtt {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    token = commands.add_parser(
        "token",
        help="make or check MQTT credentials for IoT clouds",
        description=(
            "Print the MQTT password for an IoT cloud device (with --json: client id, "
            "user name and password), or check a OneNET token."
        ),
    )
    platforms = token.add_subparsers(dest="platform", metavar="PLATFORM", required=True)

    def sub(
        name: str, help_: str, run: Callable[[argparse.Namespace], None]
    ) -> argparse.ArgumentParser:
        p = platforms.add_parser(name, help=help_, description=help_)
        p.set_defaults(run=run)
        return p

    def json_flag(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--json", action="store_true", help="print client_id, username and password as JSON"
        )

    p = sub("onenet", "China Mobile OneNET token (device or product level)", _onenet)
    p.add_argument("--product-id", required=True, help="product id (the MQTT user name)")
    p.add_argument("--device", required=True, help="device name (the MQTT client id)")
    p.add_argument(
        "--key",
        required=True,
        help="device key, or product access key with --product-level" + _STDIN_HINT,
    )
    when = p.add_mutually_exclusive_group()
    when.add_argument("--et", type=int, help="expiry, Unix seconds")
    when.add_argument(
        "--expires-in",
        type=int,
        metavar="SECONDS",
        help=f"expiry relative to now (default {auth.DEFAULT_ONENET_EXPIRES_IN} s, one year)",
    )
    p.add_argument("--method", default="sha1", help="md5, sha1 (default) or sha256")
    p.add_argument(
        "--product-level", action="store_true", help="sign res=products/{id} with the product key"
    )
    json_flag(p)

    p = sub("verify", "check a OneNET token against its key: why is my password refused?", _verify)
    p.add_argument("--token", required=True, help="the token (MQTT password)" + _STDIN_HINT)
    p.add_argument(
        "--key", required=True, help="the access key it should be signed with" + _STDIN_HINT
    )
    p.add_argument("--now", type=int, help="check the expiry against this Unix time (default: now)")
    p.add_argument("--json", action="store_true", help="print the parsed token as JSON")

    p = sub("aliyun", "Alibaba Cloud IoT Platform", _aliyun)
    p.add_argument("--product-key", required=True)
    p.add_argument("--device", required=True, help="device name")
    p.add_argument("--secret", required=True, help="device secret" + _STDIN_HINT)
    p.add_argument("--client-id", help="your id for the device (default {product_key}.{device})")
    p.add_argument("--timestamp", type=int, help="Unix milliseconds (default: now)")
    p.add_argument(
        "--sign-method", default="hmacsha256", help="hmacmd5, hmacsha1 or hmacsha256 (default)"
    )
    p.add_argument("--secure-mode", type=int, default=3, help="3 = TCP (default), 2 = TLS")
    json_flag(p)

    p = sub("huawei", "Huawei Cloud IoTDA", _huawei)
    p.add_argument("--device-id", required=True, help="{product_id}_{node_id}")
    p.add_argument("--secret", required=True, help="device secret" + _STDIN_HINT)
    p.add_argument("--timestamp", help="UTC hour YYYYMMDDHH (default: now)")
    p.add_argument(
        "--sign-type", type=int, default=0, help="0 = timestamp not checked (default), 1 = checked"
    )
    json_flag(p)

    p = sub("tencent", "Tencent Cloud IoT Hub / IoT Explorer", _tencent)
    p.add_argument("--product-id", required=True)
    p.add_argument("--device", required=True, help="device name")
    p.add_argument("--psk", required=True, help="base64 device key" + _STDIN_HINT)
    p.add_argument("--expiry", type=int, help="Unix seconds (default: one hour from now)")
    p.add_argument("--conn-id", help="5 random characters (default: fresh ones)")
    p.add_argument("--sdkappid", default="12010126")
    p.add_argument("--sign-method", default="hmacsha256", help="hmacsha1 or hmacsha256 (default)")
    json_flag(p)

    p = sub("baidu", "Baidu IoT Core", _baidu)
    p.add_argument("--iot-core-id", required=True)
    p.add_argument("--device-key", required=True)
    p.add_argument("--device-secret", required=True, help=_STDIN_HINT.strip(" ()"))
    p.add_argument("--timestamp", type=int, help="Unix seconds (default: now)")
    p.add_argument("--algorithm", default="MD5", help="MD5 (default) or SHA256")
    p.add_argument("--client-id", help="default: the device key")
    json_flag(p)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except TokenError as exc:
        print(f"turbomqtt: invalid token: {exc}", file=sys.stderr)
        return 1
    except (ValueError, TypeError) as exc:
        print(f"turbomqtt: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
