"""What the request guard costs: its checks of a JSON body against the decode the route does anyway.

    .venv/bin/python bench/guard.py

For bodies from a 60-byte login to a 1 MiB `/v1/chat/completions` request at the body limit, it prints the
time of `core.guard` (depth scan, parse, field walk), of a bare `json.loads` (the floor: the guard has to
parse the body once) and of `msgspec.json.decode` (what Litestar runs after it), best of 5. Targets
(docs/performance.md): guard / `json.loads` at most 3, and a body at the limit checked in under 30 ms.
"""

from __future__ import annotations

import json
import time

import msgspec

from core.settings import Settings
from core.storable import clean_json, load_json


def _bodies(settings: Settings) -> dict[str, bytes]:
    limit = settings.max_request_body_bytes
    turn = {"role": "user", "content": "How long does the ferry from Bergen take in winter? " * 21}
    many = {"model": "m", "messages": [turn] * (limit // (len(json.dumps(turn)) + 2) - 1)}
    return {
        "login (60 B)": json.dumps({"email": "ada@example.com", "password": "correct horse"}).encode(),
        "chat message (8 KB)": json.dumps({"content": "Fjords and ferries. " * 400}).encode(),
        "GPT PATCH, 32,000-char instructions": json.dumps(
            {"name": "Fjord Guide", "instructions": "Plan trips. " * 2666, "tags": ["travel", "norway"]}
        ).encode(),
        f"/v1, {len(many['messages'])} messages (~1 MiB)": json.dumps(many).encode(),
        "/v1, Chinese text (~1 MiB)": json.dumps(
            {"model": "m", "messages": [{"role": "user", "content": "员工手册第四章：发票原件。" * 26_000}]},
            ensure_ascii=False,
        ).encode(),
        "/v1, one 1 MiB string": json.dumps(
            {"model": "m", "messages": [{"role": "user", "content": "x" * (limit - 80)}]}
        ).encode(),
    }


def _best(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    settings = Settings(max_json_string_chars=2_000_000)  # the last body measures a string at the body limit
    print(f"{'body':42} {'bytes':>9} {'guard ms':>9} {'json.loads':>10} {'ratio':>6} {'msgspec ms':>10}")
    for name, body in _bodies(settings).items():
        assert len(body) <= settings.max_request_body_bytes, name
        guard = _best(lambda body=body: clean_json(load_json(body, settings), settings))
        floor = _best(lambda body=body: json.loads(body))
        decode = _best(lambda body=body: msgspec.json.decode(body))
        print(
            f"{name:42} {len(body):9,} {guard * 1000:9.2f} {floor * 1000:10.2f} {guard / floor:6.1f}"
            f" {decode * 1000:10.2f}"
        )


if __name__ == "__main__":
    main()
