"""From a creator message to clauses, and each clause to exactly one outcome.

A clause is, in this order: an intent of `offline_patterns.toml` (a command or a statement about the
GPT), a question (answered, nothing changed), a rule for the GPT (one instruction line), a bare name, or
not understood (said so, with a question back, nothing changed). A question or a command to the builder
never becomes an instruction line.
"""

from __future__ import annotations

import re

from builder.offline import wording as w
from builder.offline.draft import DESCRIPTION_MAX, NAME_MAX, WELCOME_MESSAGE_MAX, Draft
from builder.offline.intents import HANDLERS
from builder.offline.vocabulary import (
    ABBREVIATIONS,
    BULLET,
    CLAUSE_START,
    INTENTS,
    KEYED,
    KEYS,
    LEADING_FILLER,
    NAME_JOINERS,
    NOT_A_NAME_START,
    NOT_RULES,
    QUESTION_START,
    REQUEST,
    REWRITES,
    RULE_PREFIX,
    RULES,
    SENTENCE_END,
    SEPARATOR,
    TONE_START,
    TONE_SUFFIX,
    builder_verb,
)

_TRAILING_PLEASE = re.compile(r"(?:,?\s+(?:please|bitte))?[\s.!?]*$", re.IGNORECASE)


def apply_message(draft: Draft, message: str) -> None:
    list_kind = None  # after "starters:" on its own line, bullet lines are starters
    for line in message.splitlines():
        line = line.strip()
        if not line:
            continue
        bullet = BULLET.match(line)
        if bullet and list_kind:
            _apply_keyed(draft, list_kind, bullet["item"])
            list_kind = "add_tags" if list_kind == "tags" else list_kind
            continue
        list_kind = None
        keyed = KEYED.search(line)
        head = line[: keyed.start()] if keyed else line
        for sentence in _sentences(head):
            for clause in _clauses(sentence):
                apply_clause(draft, clause)
        if keyed:
            kind = next(k for k in KEYS if keyed.group(k))
            if keyed["value"].strip():
                _apply_keyed(draft, kind, keyed["value"])
            elif kind in ("starter", "tags", "add_tags"):
                list_kind = kind


def _apply_keyed(draft: Draft, kind: str, value: str) -> None:
    value = value.strip()
    if kind == "description":
        draft.set_text("description", value, DESCRIPTION_MAX)
    elif kind == "welcome_message":
        draft.set_text("welcome_message", value, WELCOME_MESSAGE_MAX)
    elif kind == "starter":
        for starter in value.split("|"):
            draft.add_starter(starter)
    elif kind in ("tags", "add_tags"):
        draft.set_tags(value, replace=kind == "tags")
    elif kind == "audience":
        draft.set_audience(w.clean_value(value))
    else:
        draft.add_line(w.sentence(w.unquote(value)))


def apply_clause(draft: Draft, raw: str) -> None:
    text = BULLET.sub(r"\g<item>", raw.strip())
    text = LEADING_FILLER.sub("", text)
    request = REQUEST.match(text)
    if request:
        text = LEADING_FILLER.sub("", text[request.end() :])
    for pattern, replacement in REWRITES:
        if rewritten := pattern.match(text):
            text, request = replacement + text[rewritten.end() :], rewritten
    asked = text.rstrip().endswith("?")
    text = _TRAILING_PLEASE.sub("", text).strip()
    if not text:
        draft.small_talk = True
        return
    for intent, pattern in INTENTS:
        match = pattern.fullmatch(text)
        if match and HANDLERS[intent](draft, match):
            return
    shown = w.preview(raw.strip())
    rule = RULE_PREFIX.sub("", text)
    if asked and not request:
        draft.note("question", value=shown)
        draft.wants_help = True
    elif _is_rule(rule):
        draft.add_line(w.sentence(w.second_person(rule)))
    elif QUESTION_START.match(text) and not request:
        draft.note("question", value=shown)
        draft.wants_help = True
    elif not draft.values["name"] and _looks_like_name(text):
        draft.set_text("name", w.clean_value(text), NAME_MAX)
    elif builder_verb(text) == "show":
        draft.note("ask_show")
    else:
        draft.note("not_understood", value=shown)
        draft.note(f"ask_{builder_verb(text) or 'rule'}")


def _is_rule(text: str) -> bool:
    """A line for the GPT's instructions, not a command or a request to the builder."""
    if builder_verb(text) is not None or any(pattern.fullmatch(text) for pattern in NOT_RULES):
        return False
    return any(pattern.fullmatch(text) for pattern in RULES)


def _looks_like_name(text: str) -> bool:
    """A bare answer like "Fjord Guide" to "What should it be called?"."""
    words = text.split()
    if not 1 <= len(words) <= 5 or len(text) > NAME_MAX or words[0].lower() in NOT_A_NAME_START:
        return False
    if text[0] in w.QUOTES:
        return True
    return words[0][0].isupper() and all(
        word[0].isupper() or word[0].isdigit() or word.lower() in NAME_JOINERS for word in words
    )


def _sentences(text: str) -> list[str]:
    sentences: list[str] = []
    for piece in SENTENCE_END.split(text):
        if sentences and sentences[-1].split()[-1].lower() in ABBREVIATIONS:
            sentences[-1] += " " + piece
        elif piece.strip():
            sentences.append(piece)
    return sentences


def _clauses(sentence: str) -> list[str]:
    clauses, start = [], 0
    for sep in SEPARATOR.finditer(sentence):
        rest = sentence[sep.end() :]
        if CLAUSE_START.match(rest) or ("," in sep.group() and TONE_START.match(rest)):
            clauses.append(sentence[start : sep.start()])
            start = sep.end()
    clauses.append(sentence[start:])
    split = []
    for clause in clauses:
        # "make a bot that helps tourists with a friendly tone", but not "answer in a friendly tone"
        suffix = TONE_SUFFIX.search(clause)
        long_head = suffix and len(clause[: suffix.start()].split()) >= 4
        split += [clause[: suffix.start()], suffix.group(1)] if long_head else [clause]
    return [c for c in split if c.strip()]
