"""The offline builder's words and patterns, read once from `builder/data/offline_*.toml`.

The data files hold every phrase table (languages, tones, audience nouns, the regular expressions of
each intent, the replies); this module only loads them and fills the `<<NAME>>` fragments in.
"""

from __future__ import annotations

import re
import tomllib
from importlib.resources import files
from typing import Any


def _load(name: str) -> dict[str, Any]:
    return tomllib.loads(files("builder").joinpath("data", name).read_text(encoding="utf-8"))


_VOCABULARY = _load("offline_vocabulary.toml")
_PATTERNS = _load("offline_patterns.toml")
_REPLIES = _load("offline_replies.toml")


def _words(text: str) -> list[str]:
    return text.split()


# code -> (English name, German name, spellings a creator may use)
LANGUAGES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    code: (english, german, tuple(spellings))
    for code, (english, german, spellings) in _VOCABULARY["languages"].items()
}
LANGUAGE_BY_WORD = {word: code for code, (_, _, words) in LANGUAGES.items() for word in words}
TONES: dict[str, str] = _VOCABULARY["tones"]  # English tone -> German adjective
TONE_BY_WORD = {en: en for en in TONES} | {de: en for en, de in TONES.items()} | _VOCABULARY["tone_aliases"]
TONE_OPPOSITES: dict[str, str] = _VOCABULARY["tone_opposites"]
CATEGORY_ALIASES: dict[str, str] = _VOCABULARY["category_aliases"]
DETECT = {lang: set(_words(text)) for lang, text in _VOCABULARY["detect"].items()}
AUDIENCE_WORDS = {word for text in _VOCABULARY["audience"].values() for word in _words(text)}
BUILDER_VERBS = {kind: set(_words(text)) for kind, text in _VOCABULARY["builder_verbs"].items()}
ORDINALS: dict[str, int] = _VOCABULARY["ordinals"]
NAME_TRAILING: list[str] = _VOCABULARY["fillers"]["name_trailing"]
NAME_LEADING: list[str] = _VOCABULARY["fillers"]["name_leading"]
STOPWORDS = set(_words(_VOCABULARY["fillers"]["stopwords"]))
TEXT: dict[str, dict[str, str]] = {lang: _REPLIES[lang] for lang in ("en", "de")}


def _alternation(words: Any) -> str:
    return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))


# "funnier", "simpler": comparatives that are not the word plus a suffix
_COMPARATIVES = [w[:-1] + "ier" for w in TONE_BY_WORD if w.endswith("y")] + [
    w + "r" for w in TONE_BY_WORD if w.endswith("e")
]
_TONE_WORD = rf"(?:{_alternation([*TONE_BY_WORD, *_COMPARATIVES])})(?:ally|ly|em|en|er|es|e)?\b"
_FRAGMENTS: dict[str, str] = dict(_PATTERNS["fragments"])
_FRAGMENTS |= {
    "LANG": rf"(?P<lang>{_alternation(LANGUAGE_BY_WORD)})",
    "LANG_WORD": rf"(?:{_alternation(LANGUAGE_BY_WORD)})",
    "TONES": rf"(?P<tones>{_TONE_WORD}(?:(?:\s*,\s*|\s+(?:and|und|but|aber|&)\s+){_TONE_WORD}){{0,2}})",
    "ORD": _alternation(ORDINALS),
    "AUDIENCE": _alternation(AUDIENCE_WORDS),
    "RULE_VERB_EN": _alternation(_words(_VOCABULARY["rule_verbs"]["en"])),
    "RULE_VERB_DE": _alternation(_words(_VOCABULARY["rule_verbs"]["de"])),
    "FACT_VERB_DE": _alternation(_words(_VOCABULARY["fact_verbs"]["de"])),
}
_FRAGMENTS["NAME"] = rf"(?P<name>{_FRAGMENTS['Q']}|.+?)"


def _fill(pattern: str) -> str:
    for _ in range(3):  # fragments may use fragments
        pattern = re.sub(r"<<(\w+)>>", lambda m: _FRAGMENTS[m[1]], pattern)
    return pattern


def compile_pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(_fill(pattern), re.IGNORECASE)


# (intent, compiled pattern) in the order of the data file: the first accepted match wins
INTENTS: list[tuple[str, re.Pattern[str]]] = [
    (intent, compile_pattern(p)) for intent, patterns in _PATTERNS["intents"].items() for p in patterns
]
RULES = [compile_pattern(p) for p in _PATTERNS["rules"]["patterns"]]
RULE_PREFIX = compile_pattern(_PATTERNS["rules"]["prefix"])
NOT_RULES = [compile_pattern(p) for p in _PATTERNS["rules"]["not_rules"]]
_CLAUSES = _PATTERNS["clauses"]
SEPARATOR = compile_pattern(_CLAUSES["separator"])
CLAUSE_START = compile_pattern(_CLAUSES["start"])
TONE_START = compile_pattern(_CLAUSES["tone_start"])
TONE_SUFFIX = compile_pattern(_CLAUSES["tone_suffix"])
SENTENCE_END = re.compile(_CLAUSES["sentence_end"])
ABBREVIATIONS = set(_CLAUSES["abbreviations"])
LEADING_FILLER = compile_pattern(_CLAUSES["leading_filler"])
REQUEST = compile_pattern(_CLAUSES["request"])
QUESTION_START = compile_pattern(_CLAUSES["question_start"])
BULLET = re.compile(_CLAUSES["bullet"])
REWRITES = [(compile_pattern(p), replacement) for p, replacement in _CLAUSES["rewrites"]]
KEYS = list(_PATTERNS["keyed"])
KEYED = re.compile(
    r"(?:^|(?<=[.!?;,])\s*|\s+(?=(?:and|und|also|außerdem)\s))(?:(?:and|und|also|please|bitte|außerdem)\s+)?(?:"
    + "|".join(f"(?P<{kind}>{pattern})" for kind, pattern in _PATTERNS["keyed"].items())
    + r")\s*:\s*(?P<value>.*)$",
    re.IGNORECASE,
)
OWNED_LINES = {kind: re.compile(p, re.IGNORECASE) for kind, p in _REPLIES["owned_lines"].items()}
_FILLER_END = re.compile(rf"(?:[\s,]+(?:{_alternation(NAME_TRAILING)}))+[\s.!?,;:]*$", re.IGNORECASE)
_FILLER_START = re.compile(rf"^(?:(?:{_alternation(NAME_LEADING)})\s+)+", re.IGNORECASE)


def strip_fillers(text: str) -> str:
    """ "Alpen-Kumpel wieder" -> "Alpen-Kumpel", "just Hut Buddy again please" -> "Hut Buddy"."""
    stripped = _FILLER_START.sub("", _FILLER_END.sub("", text.strip()))
    return stripped or text.strip()


def is_vague_name(text: str) -> bool:
    """Whether a "name" only asks for one: fillers alone ("Benenne ihn um") or "something nicer" (in lower
    case: "Better Hikes" is a name)."""
    words = text.split()
    fillers = {word.lower() for word in NAME_TRAILING + NAME_LEADING}
    if not words or text.lower().strip(" .!?") in fillers:
        return True
    return words[0].islower() and words[0] in VAGUE_NAME_START


def tone_of(word: str) -> str | None:
    """The English tone a word names, inflected or not: "freundlicher", "friendlier" -> friendly."""
    word = word.lower()
    candidates = [word]
    if word.endswith("ally"):
        candidates.append(word[:-4])
    if word.endswith("ly"):
        candidates.append(word[:-2])
    if word.endswith("ier"):
        candidates.append(word[:-3] + "y")
    if word.endswith("r"):
        candidates.append(word[:-1])
    candidates += [word[: -len(s)] for s in ("em", "en", "er", "es", "e") if word.endswith(s)]
    return next((TONE_BY_WORD[c] for c in candidates if c in TONE_BY_WORD), None)


def builder_verb(text: str) -> str | None:
    """The kind of builder command a clause starts with ("remove", "add", "change", "show"), if any."""
    first = text.split(maxsplit=1)[0].lower().strip(",.:") if text.split() else ""
    return next((kind for kind, verbs in BUILDER_VERBS.items() if first in verbs), None)


CREATE = {part: compile_pattern(p) for part, p in _PATTERNS["create"].items()}
NOT_A_NAME_START = set(_words(_VOCABULARY["names"]["not_a_start"]))
NAME_JOINERS = set(_words(_VOCABULARY["names"]["joiners"]))
VAGUE_NAME_START = set(_words(_VOCABULARY["names"]["vague_start"]))
