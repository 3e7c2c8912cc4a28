"""Words for counts shown to people (pages, the CLI)."""

from __future__ import annotations


def counted(n: int, noun: str, shown: str | None = None) -> str:
    """`1 passage`, `2 passages`, `1,200 users`: a count with its noun (the nouns counted here take -s);
    `shown` replaces the number (`1K+ conversations`, the store's rounded label) and `n` picks the form."""
    return f"{shown if shown is not None else f'{n:,}'} {noun}{'' if n == 1 else 's'}"
