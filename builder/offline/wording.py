"""Small English and German grammar for the offline builder: verb forms, sentences, quotes, fitting."""

from __future__ import annotations

import re

from builder.offline.vocabulary import DETECT

QUOTES = "\"'“”„‚‘’«»`"
_SUBJECT_EN = r"(?:it|the\s+gpt|the\s+bot|the\s+assistant|this\s+gpt|my\s+gpt|this\s+bot)"
_SUBJECT_DE = r"(?:er|es|der\s+gpt|der\s+bot|der\s+assistent|mein\s+gpt)"
_MODALS_EN = {"needs to": "need to", "has to": "have to", "doesn't": "don't", "does not": "do not"}
_POSSESSIVES_EN = {"its": "your", "itself": "yourself", "it's": "you're"}
_MODALS_DE = {"soll": "sollst", "sollte": "solltest", "muss": "musst", "darf": "darfst", "kann": "kannst"}


def base_form(verb: str) -> str:
    """The verb as it follows "you": helps -> help, teaches -> teach, studies -> study."""
    irregular = {"is": "are", "are": "are", "be": "are", "has": "have", "does": "do", "goes": "go"}
    if verb in irregular:
        return irregular[verb]
    if verb.endswith("ies") and len(verb) > 4:
        return verb[:-3] + "y"
    if verb.endswith(("ches", "shes", "sses", "xes", "zes", "oes")):
        return verb[:-2]
    if verb.endswith("s") and not verb.endswith("ss"):
        return verb[:-1]
    return verb


def third_person(base: str) -> str:
    irregular = {"are": "is", "have": "has", "do": "does", "go": "goes"}
    if base in irregular:
        return irregular[base]
    if base.endswith("y") and len(base) > 1 and base[-2] not in "aeiou":
        return base[:-1] + "ies"
    if base.endswith(("ch", "sh", "ss", "x", "z", "o")):
        return base + "es"
    return base + "s"


def german_second_person(verb: str) -> str:
    """Er kennt -> du kennst, er weiß -> du weißt, er kann -> du kannst, er fasst -> du fasst."""
    verb = verb.lower()
    if verb in _MODALS_DE:
        return _MODALS_DE[verb]
    if verb.endswith(("st", "ß")):
        return verb + ("t" if verb.endswith("ß") else "")
    return verb[:-1] + "st" if verb.endswith("t") else verb + "st"


def second_person(text: str) -> str:
    """Address the GPT directly: "It should cite sources" -> "You should cite sources"."""
    m = re.match(
        rf"{_SUBJECT_EN}\s+(should|shouldn't|must|mustn't|will|won't|can|can't|cannot|may|shall|needs\s+to"
        r"|has\s+to|doesn't|does\s+not|never|always)(?!\w)",
        text,
        re.I,
    )
    if m:
        verb = " ".join(m[1].lower().split())
        rest = re.sub(r"\b(its|itself|it's)\b", lambda p: _POSSESSIVES_EN[p[1].lower()], text[m.end() :])
        return f"You {_MODALS_EN.get(verb, verb)}{rest}"
    m = re.match(rf"{_SUBJECT_DE}\s+(soll|sollte|muss|darf|kann)\b", text, re.I)
    if m:
        return f"Du {_MODALS_DE[m[1].lower()]}{text[m.end() :]}"
    return text


def detect_language(message: str, context: str) -> str:
    """ "de" when the message (or, if it has no telling words, the draft) reads as German, else "en"."""

    def score(text: str) -> int:
        words = re.findall(r"[a-zäöüß']+", text.lower())
        german = sum(w in DETECT["de"] for w in words) + 2 * len(re.findall(r"[äöüß]", text.lower()))
        return german - sum(w in DETECT["en"] for w in words)

    lead = score(message) or score(context)
    return "de" if lead > 0 else "en"


def unquote(text: str) -> str:
    text = " ".join(text.split())
    if len(text) >= 2 and text[0] in QUOTES and text[-1] in QUOTES:
        text = text[1:-1].strip()
    return text


def clean_value(text: str) -> str:
    return unquote(text.strip().rstrip(".!?,;:").strip()).rstrip(".!?,;:").strip()


def sentence(text: str) -> str:
    text = " ".join(text.split()).rstrip(",;: ")
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in '.!?:)"”' else text + "."


def lower_first(text: str) -> str:
    """For joining a sentence behind "and": "Finds huts." -> "finds huts" (acronyms such as "GPS" stay)."""
    text = text.rstrip(".")
    return text if text[:2].isupper() else text[:1].lower() + text[1:]


def fit(text: str, limit: int) -> str:
    """`text`, or its longest word-boundary prefix that fits with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-") + "…"


def preview(text: str) -> str:
    return fit(text, 80)


def words(text: str) -> list[str]:
    return re.sub(r"[\W_]+", " ", text.casefold()).split()


def same(a: str, b: str) -> bool:
    return words(a) == words(b)


def join(items: list[str], conjunction: str) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


def split_sentences(text: str) -> list[str]:
    """Sentences of a description or line: split after . ! ? followed by a space."""
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]
