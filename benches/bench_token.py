"""OneNET token signing: turbomqtt's Rust core against the plain-Python reference (hmac,
base64, urllib.parse.quote), alternating A B A B in one run. Prints medians with min and max.

    python benches/bench_token.py [--rounds 7] [--n 20000]
"""

from __future__ import annotations

import argparse
import base64
import hmac
import statistics
import time
from typing import Callable
from urllib.parse import quote

from turbomqtt import auth

KEY = "rs2FaE5BuygJZkWKDA5okKt1RFpwOx53hbu6hwyCS4U="
RES = "products/469948/devices/Chic_D"


def python_reference(
    res: str, key: str, et: int, method: str = "sha1", version: str = "2018-10-31"
) -> str:
    text = f"{et}\n{method}\n{res}\n{version}"
    sign = base64.b64encode(
        hmac.new(base64.b64decode(key), text.encode(), method).digest()
    ).decode()
    return f"version={version}&res={quote(res, safe='')}&et={et}&method={method}&sign={quote(sign, safe='')}"


def turbomqtt_token(res: str, key: str, et: int, method: str = "sha1") -> str:
    return auth.onenet_token(res, key, et=et, method=method)


def run(fn: Callable[..., str], n: int, method: str) -> float:
    start = time.perf_counter()
    for et in range(1673053248, 1673053248 + n):
        fn(RES, KEY, et, method)
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--n", type=int, default=20000)
    args = parser.parse_args()
    for method in ("sha1", "sha256", "md5"):
        assert turbomqtt_token(RES, KEY, 5, method) == python_reference(RES, KEY, 5, method)
    print(f"OneNET token signing, tokens/s ({args.rounds} rounds of {args.n}, alternating)")
    print(f"{'method':8} {'implementation':16} {'median':>10} {'min':>10} {'max':>10}")
    for method in ("sha1", "sha256"):
        results: dict[str, list[float]] = {"python (hmac)": [], "turbomqtt": []}
        for _ in range(args.rounds):
            results["python (hmac)"].append(run(python_reference, args.n, method))
            results["turbomqtt"].append(run(turbomqtt_token, args.n, method))
        for name, rates in results.items():
            print(
                f"{method:8} {name:16} {statistics.median(rates):10.0f} {min(rates):10.0f} {max(rates):10.0f}"
            )
        ratio = statistics.median(results["turbomqtt"]) / statistics.median(
            results["python (hmac)"]
        )
        print(f"{method:8} ratio turbomqtt / python: {ratio:.2f}x")


if __name__ == "__main__":
    main()
