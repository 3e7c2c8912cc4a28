"""The draft a message edits: its fields, and edits by fact (purpose, audience, tone, ...), not by text.

Every edit keeps what the creator did not address: a new audience replaces the audience sentence of the
description and the audience line of the instructions, and leaves the purpose, other lines and rules alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from builder.offline import wording as w
from builder.offline.vocabulary import OWNED_LINES, TEXT

NAME_MAX = 64
DESCRIPTION_MAX = 300
INSTRUCTIONS_MAX = 32_000
WELCOME_MESSAGE_MAX = 300
STARTERS_MAX = 4
STARTER_MAX = 200
TAGS_MAX = 8
TAG_MAX = 32

TEXT_FIELDS = ("name", "description", "instructions", "welcome_message", "category")
LIST_FIELDS = ("conversation_starters", "tags")


@dataclass
class Draft:
    original: dict[str, Any]
    values: dict[str, Any]
    lang: str  # language of the message: the reply and generated lines use it
    categories: list[str]
    undoable: dict[str, Any] | None  # field -> value the latest undoable turn replaced
    changes: list[tuple[str, str]] = field(default_factory=list)  # (kind, text) for the reply
    notes: list[str] = field(default_factory=list)
    added_lines: list[str] = field(default_factory=list)
    reverted: dict[str, Any] | None = None  # set when this message undid the latest turn
    wants_help: bool = False
    small_talk: bool = False

    @classmethod
    def start(
        cls,
        current: dict[str, object],
        lang: str,
        categories: list[str],
        undoable: dict[str, Any] | None,
    ) -> Draft:
        original: dict[str, Any] = {f: str(current.get(f) or "") for f in TEXT_FIELDS}
        original |= {f: [str(v) for v in current.get(f) or []] for f in LIST_FIELDS}
        original["language"] = current.get("language") or None
        values = {k: list(v) if isinstance(v, list) else v for k, v in original.items()}
        return cls(original, values, lang, categories, undoable)

    # --- bookkeeping ---------------------------------------------------------------------------

    def t(self, key: str, **kwargs: object) -> str:
        return TEXT[self.lang][key].format(**kwargs)

    def changed(self, kind: str, **kwargs: object) -> None:
        self.changes.append((kind, self.t(f"changed_{kind}", **kwargs)))

    def note(self, key: str, **kwargs: object) -> None:
        text = self.t(key, **kwargs)
        if text not in self.notes:
            self.notes.append(text)

    @property
    def baseline(self) -> dict[str, Any]:
        """The fields before this message's own edits: after its undo, if it had one."""
        return self.original | (self.reverted or {})

    def updates(self) -> dict[str, object]:
        baseline = self.baseline
        return {k: v for k, v in self.values.items() if v != baseline[k] and k in baseline}

    def undo(self) -> None:
        if self.reverted is not None:
            self.note("undo_once")
        elif not self.undoable:
            self.note("nothing_to_undo")
        else:
            self.reverted = {k: v for k, v in self.undoable.items() if k in self.values}
            for name, value in self.reverted.items():
                self.values[name] = list(value) if isinstance(value, list) else value
            self.changes.append(("undo", self.t("undone", fields=", ".join(self.reverted))))

    # --- plain fields --------------------------------------------------------------------------

    def set_text(self, name: str, value: str, limit: int) -> None:
        raw = w.unquote(value)
        value = w.fit(raw, limit)
        if not value:
            return
        if value != raw:
            self.note("shortened", field=self.t(f"field_{name}"), limit=limit)
        if value != self.values[name]:
            self.values[name] = value
            self.changed(name, value=w.preview(value))

    # --- instructions: lines the builder owns are replaced in place, others kept -----------------

    @property
    def lines(self) -> list[str]:
        text = str(self.values["instructions"])
        return text.split("\n") if text.strip() else []

    def set_instructions(self, lines: list[str]) -> bool:
        text = "\n".join(lines)
        if len(text) > INSTRUCTIONS_MAX:
            self.note("instructions_full", limit=INSTRUCTIONS_MAX)
            return False
        if text == self.values["instructions"]:
            return False
        self.values["instructions"] = text
        return True

    def add_line(self, line: str) -> None:
        """A rule or fact: appended once."""
        if any(w.same(line, existing) for existing in self.lines):
            self.note("duplicate", value=w.preview(line))
        elif self.set_instructions([*self.lines, line]):
            self.added_lines.append(line)

    def put_line(self, kind: str, line: str, *, after_purpose: bool = False) -> bool:
        """Replace the line(s) of `kind` ("tone", "language", "audience") by `line`, or add it."""
        pattern = OWNED_LINES[kind]
        lines = self.lines
        hits = [i for i, existing in enumerate(lines) if pattern.match(existing.strip())]
        if hits:
            lines[hits[0]] = line
            lines = [existing for i, existing in enumerate(lines) if i not in hits[1:]]
        elif after_purpose and lines and self._is_purpose_line(lines[0]):
            lines.insert(1, line)
        else:
            lines.append(line)
        return self.set_instructions(lines)

    def _is_purpose_line(self, line: str) -> bool:
        """Whether `line` is the purpose line written with the description: "You write X." for "Writes X."."""
        if OWNED_LINES["purpose"].match(line):
            return True
        words, described = w.words(line), w.words(self._sentences()[0] if self._sentences() else "")
        return len(words) > 2 and words[:1] in (["you"], ["du"]) and words[2:] in (described, described[1:])

    # --- description: purpose sentence, facts, audience sentence ---------------------------------

    def _sentences(self) -> list[str]:
        return w.split_sentences(str(self.values["description"]))

    def _set_description(self, sentences: list[str]) -> bool:
        text = " ".join(sentences)
        if len(text) > DESCRIPTION_MAX:
            self.note("description_full", limit=DESCRIPTION_MAX)
            return False
        if text != self.values["description"]:
            self.values["description"] = text
            self.changed("description", value=w.preview(text))
        return True

    def _split_audience(self) -> tuple[list[str], list[str]]:
        sentences = self._sentences()
        audience = [s for s in sentences if OWNED_LINES["description_audience"].match(s)]
        return [s for s in sentences if s not in audience], audience

    def set_purpose(self, description: str, line: str, *, also: bool = False) -> None:
        """The first sentence of the description and the first line of the instructions; "also" adds."""
        rest, audience = self._split_audience()
        lines = self.lines
        has_purpose_line = bool(lines) and self._is_purpose_line(lines[0])
        joiner = self.t("joiner")
        if also and rest:
            description = f"{rest[0].rstrip('.')} {joiner} {w.lower_first(description)}."
        if also and has_purpose_line:
            tail = line.split(" ", 1)[1] if " " in line else line
            line = f"{lines[0].rstrip('.')} {joiner} {tail}"
        self._set_description([description, *rest[1:], *audience])
        if any(w.same(line, existing) for existing in lines):
            return
        if has_purpose_line:
            lines[0] = line
        else:
            lines.insert(0, line)
        if self.set_instructions(lines):
            self.added_lines.append(line)

    def add_fact(self, description: str, line: str) -> None:
        """ "It knows every hut in Tyrol": one more sentence of the description, one more line."""
        rest, audience = self._split_audience()
        if not any(w.same(description, s) for s in rest):
            self._set_description([*rest, description, *audience])
        self.add_line(line)

    def set_audience(self, who: str) -> None:
        rest, _ = self._split_audience()
        self._set_description([*rest, self.t("description_audience", value=who)])
        if self.put_line("audience", self.t("line_audience", value=who), after_purpose=True):
            self.changed("audience", value=w.preview(who))

    # --- conversation starters and tags --------------------------------------------------------

    @property
    def starters(self) -> list[str]:
        return self.values["conversation_starters"]

    def add_starter(self, text: str) -> None:
        text = w.unquote(text)
        if not text:
            return
        if len(text) > STARTER_MAX:
            self.note("starter_too_long", limit=STARTER_MAX)
        elif any(w.same(text, s) for s in self.starters):
            self.note("duplicate", value=w.preview(text))
        elif len(self.starters) >= STARTERS_MAX:
            self.note("starters_full", limit=STARTERS_MAX)
        else:
            self.values["conversation_starters"] = [*self.starters, text]
            self.changed("starter", value=w.preview(text))

    def remove_starter(self, index: int) -> None:
        starters = list(self.starters)
        removed = starters.pop(index)
        self.values["conversation_starters"] = starters
        self.changed("starter_removed", value=w.preview(removed))

    def move_starter(self, index: int, *, top: bool) -> None:
        starters = list(self.starters)
        moved = starters.pop(index)
        starters = [moved, *starters] if top else [*starters, moved]
        if starters != self.starters:
            self.values["conversation_starters"] = starters
            where = self.t("where_top" if top else "where_bottom")
            self.changed("starter_moved", value=w.preview(moved), where=where)

    def clear_starters(self) -> None:
        if self.starters:
            self.values["conversation_starters"] = []
            self.changed("starters_cleared")
        else:
            self.note("no_starters")

    def set_tags(self, raw: str, *, replace: bool) -> None:
        tags: list[str] = [] if replace else list(self.values["tags"])
        for item in re.split(r"[,;|]", raw):
            tag = w.unquote(item).lstrip("#").strip().lower()
            if not tag or tag in tags:
                continue
            if len(tag) > TAG_MAX:
                self.note("tag_too_long", value=tag, limit=TAG_MAX)
            elif len(tags) >= TAGS_MAX:
                self.note("tags_full", limit=TAGS_MAX)
            else:
                tags.append(tag)
        if tags and tags != self.values["tags"]:
            self.values["tags"] = tags
            self.changed("tags", value=", ".join(tags))

    def remove_tag(self, raw: str) -> None:
        tag = w.clean_value(raw).lstrip("#").lower()
        tags: list[str] = self.values["tags"]
        if tag in tags:
            self.values["tags"] = [t for t in tags if t != tag]
            self.changed("tag_removed", value=tag)
        else:
            self.note("no_tag_match", value=tag, choices=", ".join(tags) or "–")
