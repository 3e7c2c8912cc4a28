"""What a GPT's page says is public about it: its instructions' visibility and its open and private files."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from store.schemas import TrustSummary


def trust_summary(public_instructions: bool, files: Sequence[Any]) -> TrustSummary:
    """The trust section of a GPT page from its version's policy and knowledge files (`access` and
    `filename` of each)."""
    open_files = [f.filename for f in files if f.access == "open"]
    private = sum(1 for f in files if f.access != "open")
    parts = [
        "Its instructions are public and shown on this page."
        if public_instructions
        else "Its instructions are hidden: answers follow them but never repeat them."
    ]
    if open_files:
        parts.append(f"{_count(len(open_files), 'knowledge file')} open: anyone may read and download them.")
    if private:
        parts.append(
            f"{_count(private, 'knowledge file')} private: they inform answers, are never downloadable and "
            "are never quoted beyond a short fragment."
        )
    if not open_files and not private:
        parts.append("It has no knowledge files.")
    return TrustSummary(
        instructions="public" if public_instructions else "hidden",
        open_files=open_files,
        private_files=private,
        summary=" ".join(parts),
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'} {'is' if n == 1 else 'are'}"
