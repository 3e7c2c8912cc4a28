"""Generators run in parse children by tests/retrieval/test_streamed_children.py: a module of its own so a
child imports only this (a test module would bring the whole app into every child)."""

from __future__ import annotations

import time
from pathlib import Path

from retrieval.parsing import ParseError


def yield_then_wait(signal: str):
    """Yields 1, then waits until the parent creates `signal` (it can only if it got the 1), then 2."""
    yield 1
    deadline = time.monotonic() + 30
    while not Path(signal).exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    yield 2 if Path(signal).exists() else "the parent never answered"


def yield_then_fail():
    yield "first"
    raise ParseError("invalid_file", "damaged after the first part")


def yield_forever():
    while True:
        yield "more"
        time.sleep(0.05)


def sleep_before_the_end():
    yield "early"
    time.sleep(30)
    yield "late"
