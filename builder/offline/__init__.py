"""Offline builder: a deterministic stand-in for the LLM builder when no language model is configured.

It understands short requests in English and German through the phrase tables in
`builder/data/offline_*.toml`: commands (undo, rename, add/remove/reorder starters, language, tone,
audience, category), statements about the GPT (its purpose, what it does, who it is for), and rules for
the GPT ("Always cite sources"). Statements refine what is there: a new audience replaces only the audience
of the description and instructions. Questions change nothing, and a sentence it does not understand is
answered with a question, never pasted into the instructions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from builder.offline import reply
from builder.offline.draft import (
    DESCRIPTION_MAX,
    INSTRUCTIONS_MAX,
    NAME_MAX,
    STARTER_MAX,
    STARTERS_MAX,
    TAG_MAX,
    TAGS_MAX,
    WELCOME_MESSAGE_MAX,
    Draft,
)
from builder.offline.parse import apply_message
from builder.offline.vocabulary import LANGUAGES
from builder.offline.wording import detect_language

__all__ = [
    "DESCRIPTION_MAX",
    "INSTRUCTIONS_MAX",
    "LANGUAGES",
    "NAME_MAX",
    "STARTERS_MAX",
    "STARTER_MAX",
    "TAGS_MAX",
    "TAG_MAX",
    "WELCOME_MESSAGE_MAX",
    "OfflineTurn",
    "offline_turn",
]


@dataclass
class OfflineTurn:
    reply: str
    updates: dict[str, object]  # field -> its full new value, relative to the draft after `reverted`
    # Set when the message said "undo": the field values the undo restores (the latest undoable turn's
    # `before` values). The caller undoes that turn exactly as `POST .../builder/undo` does, then applies
    # `updates`.
    reverted: dict[str, object] | None = field(default=None)


def offline_turn(
    current: dict[str, object],
    message: str,
    *,
    categories: list[str],
    undoable: dict[str, Any] | None = None,
) -> OfflineTurn:
    """Apply one creator message to the draft `current` without a language model.

    `undoable` maps each field the latest not-yet-undone builder turn changed to its value before that
    turn (None: nothing to undo).
    """
    context = " ".join(str(current.get(f) or "") for f in ("name", "description", "instructions"))
    draft = Draft.start(current, detect_language(message, context), categories, undoable)
    first_time = not draft.original["name"] and not draft.original["instructions"]
    apply_message(draft, message)
    text = reply.compose(draft, first_time)
    return OfflineTurn(reply=text, updates=draft.updates(), reverted=draft.reverted)
