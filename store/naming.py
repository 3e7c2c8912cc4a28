"""The near-duplicate name check of the store review: typos, case, spacing, punctuation and look-alike
letters make the same name; a different word makes a different name.

Rules and limits are in `store/data/name_review.toml`; docs/store.md "Review" describes them.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any

from rapidfuzz.distance import OSA

from retrieval.verbatim_words import words


@cache
def _rules() -> dict[str, Any]:
    return tomllib.loads(resources.files("store").joinpath("data/name_review.toml").read_text("utf-8"))


def name_words(name: str) -> list[str]:
    """A name as the words it compares as: look-alike digits and signs inside words folded to letters,
    then case, accents, Unicode look-alikes and punctuation folded (`retrieval.verbatim_words.words`)."""
    look_alikes = _rules()["look_alikes"]
    tokens = []
    for token in name.split():
        if any(c.isalpha() for c in token):
            token = "".join(look_alikes.get(c, c) for c in token)
        tokens.append(token)
    return words(" ".join(tokens))


def _typo_edits(word: str) -> int:
    """How many edits still make `word` a typo of another (0 for short words)."""
    rules, allowed = _rules(), 0
    if len(word) < rules["min_typo_length"]:
        return 0
    for length, edits in rules["typo_edits"]:
        if len(word) >= length:
            allowed = edits
    return allowed


def near_duplicate(a: str, b: str) -> bool:
    """Whether two names are the same name but for typos, case, spacing, punctuation or look-alikes."""
    left, right = name_words(a), name_words(b)
    if not left or not right:
        return False
    if "".join(left) == "".join(right):  # spacing and punctuation: "Fjord-Guide", "FjordGuide"
        return True
    if len(left) != len(right):
        return False
    differing = [(x, y) for x, y in zip(left, right, strict=True) if x != y]
    if len(differing) > _rules()["max_typo_words"]:
        return False
    return all(OSA.distance(x, y) <= min(_typo_edits(x), _typo_edits(y)) for x, y in differing)
