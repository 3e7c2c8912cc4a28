"""Words for counts shown to people (pages, the CLI)."""

from __future__ import annotations


def counted(n: int, noun: str) -> str:
    """`1 passage`, `2 passages`, `1,200 users`: a count with its noun (the nouns counted here take -s)."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"
