"""What each understood clause does to the draft: one handler per intent of `offline_patterns.toml`.

A handler gets the draft and the match and returns False when the match is not its after all (for
example "it is for planning trips" is a purpose, not an audience), so the next pattern is tried.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from builder.offline import wording as w
from builder.offline.draft import DESCRIPTION_MAX, NAME_MAX, Draft
from builder.offline.vocabulary import (
    AUDIENCE_WORDS,
    CATEGORY_ALIASES,
    CREATE,
    LANGUAGE_BY_WORD,
    LANGUAGES,
    ORDINALS,
    STOPWORDS,
    TEXT,
    TONE_OPPOSITES,
    TONES,
    is_vague_name,
    strip_fillers,
    tone_of,
)

Handler = Callable[[Draft, re.Match[str]], bool]


def _group(m: re.Match[str], name: str) -> str | None:
    return m.groupdict().get(name)


def on_undo(draft: Draft, m: re.Match[str]) -> bool:
    draft.undo()
    return True


def on_create(draft: Draft, m: re.Match[str], *, german: bool) -> bool:
    draft.small_talk = True  # a bare "make a GPT" is understood even when it changes nothing
    rest = m["rest"]
    called = CREATE["called_de" if german else "called_en"].match(rest)
    if called:
        on_name(draft, called)
        rest = rest[called.end() :]
    elif not german and (tail := CREATE["called_tail_en"].search(rest)):
        on_name(draft, tail)
        rest = rest[: tail.start()]
    rest = rest.strip(" ,:")
    audience = CREATE["purpose_for_de" if german else "purpose_for_en"].match(rest)
    if audience and is_audience(audience["what"]):
        draft.set_audience(w.clean_value(audience["what"]))
    elif purpose := (purpose_de if german else purpose_en)(draft, rest):
        draft.set_purpose(*purpose)
    elif rest:
        draft.note("not_understood", value=w.preview(rest))
        draft.note("ask_rule")
    return True


def on_name(draft: Draft, m: re.Match[str]) -> bool:
    name = strip_fillers(w.clean_value(m["name"]))
    name = w.clean_value(name)
    if is_vague_name(name):
        return False
    draft.set_text("name", name, NAME_MAX)
    return True


def on_tone(draft: Draft, m: re.Match[str]) -> bool:
    words = re.split(r"\s*,\s*|\s+(?:and|und|but|aber|&)\s+", m["tones"].strip())
    tones = list(dict.fromkeys(tone_of(word) for word in words))
    if _group(m, "less"):
        tones = [TONE_OPPOSITES.get(tone or "") for tone in tones]
    if not tones or not all(tones):
        return False
    if draft.lang == "de":
        value = w.join([f"{TONES[t]}en" for t in tones], "und")
        shown = ", ".join(TONES[t] for t in tones)
        line = draft.t("line_tone", value=value)
    else:
        shown = value = w.join(tones, "and")
        line = draft.t("line_tone", value=value, article="an" if value[0] in "aeiou" else "a")
    if draft.put_line("tone", line):
        draft.changed("tone", value=shown)
    return True


def on_language(draft: Draft, m: re.Match[str]) -> bool:
    word = m["lang"].lower()
    code = word if word in LANGUAGES else LANGUAGE_BY_WORD.get(word)
    if code is None:
        return False
    english, german, _ = LANGUAGES[code]
    name = german if draft.lang == "de" else english
    if draft.put_line("language", draft.t("line_language", value=name)) or draft.values["language"] != code:
        draft.values["language"] = code
        draft.changed("language", value=name)
    return True


def on_user_language(draft: Draft, m: re.Match[str]) -> bool:
    if draft.put_line("language", draft.t("line_user_language")) or draft.values["language"] is not None:
        draft.values["language"] = None
        draft.changed("language", value=draft.t("user_language"))
    return True


def on_category(draft: Draft, m: re.Match[str]) -> bool:
    value = w.clean_value(m["value"])
    by_lower = {c.lower(): c for c in draft.categories}
    category = by_lower.get(value.lower()) or by_lower.get(CATEGORY_ALIASES.get(value.lower(), ""))
    if category is None:
        draft.note("unknown_category", value=value, choices=", ".join(draft.categories))
    elif category != draft.values["category"]:
        draft.values["category"] = category
        draft.changed("category", value=category)
    return True


def is_audience(text: str) -> bool:
    """Whether "for X" names people: a word of the audience table before any "who"/", die" clause."""
    head = re.split(r"\s+who\s+|,\s*(?:die|der|denen)\s+", text, maxsplit=1)[0]
    content = [word for word in w.words(head) if word not in STOPWORDS]
    if content and content[0].endswith(("ing", "ung")):
        return False  # "for planning trips for families", "für die Planung ...": an activity
    return any(word in AUDIENCE_WORDS for word in w.words(head)) or bool(re.search(r"\bwho\b", text, re.I))


def on_audience(draft: Draft, m: re.Match[str]) -> bool:
    who = w.clean_value(m["who"])
    if not is_audience(who):
        return False
    draft.set_audience(who)
    return True


def on_description(draft: Draft, m: re.Match[str]) -> bool:
    draft.set_text("description", w.clean_value(m["value"]) + ".", DESCRIPTION_MAX)
    return True


def _assistant(lang: str, what: str) -> tuple[str, str]:
    return TEXT[lang]["purpose_assistant"].format(value=what), TEXT[lang]["line_assistant"].format(value=what)


def purpose_en(draft: Draft, text: str) -> tuple[str, str] | None:
    """(description, instruction line) from "that helps X", "to help X" or "for X"."""
    if m := CREATE["purpose_that_en"].match(text):
        verb = m["verb"].lower()
        base = verb if m["modal"] or m["to"] else w.base_form(verb)
        obj = f" {m['obj'].strip()}" if m["obj"].strip() else ""
        description = w.sentence(obj) if base == "are" else w.sentence(w.third_person(base) + obj)
        return description, w.sentence(f"You {base}{obj}")
    if m := CREATE["purpose_for_en"].match(text):
        what = f"{m['prep'].lower()} {m['what'].strip().rstrip('.')}"
        return _assistant("en", what)
    return None


def purpose_de(draft: Draft, text: str) -> tuple[str, str] | None:
    """(description, instruction line) from ", der X hilft" or "für X"."""
    if m := CREATE["purpose_that_de"].match(text):
        clause = m["clause"].strip().rstrip(".")
        if CREATE["helps_de"].search(clause):
            obj = re.sub(r"\s+,", ",", CREATE["helps_de"].sub("", clause)).strip(" ,")
            return w.sentence(f"Hilft {obj}"), w.sentence(f"Du hilfst {obj}")
        return w.sentence(f"Ein Assistent, der {clause}"), w.sentence(f"Du bist ein Assistent, der {clause}")
    if m := CREATE["purpose_for_de"].match(text):
        what = f"{m['prep'].lower()} {m['what'].strip().rstrip('.')}"
        return _assistant("de", what)
    return None


def on_purpose_en(draft: Draft, m: re.Match[str]) -> bool:
    if _group(m, "only_first") is not None and draft.values["description"]:
        return False  # once the purpose is known, "help users with X" is a rule
    what = _group(m, "what")
    if what and is_audience(what):
        return False
    purpose = purpose_en(draft, f" for {what}" if what else f" that {m['verb']}{m['obj']}")
    if purpose:
        draft.set_purpose(*purpose, also=bool(_group(m, "also")))
    return purpose is not None


def on_purpose_de(draft: Draft, m: re.Match[str]) -> bool:
    groups = m.groupdict()
    if groups.get("only_first") is not None and draft.values["description"]:
        return False
    if groups.get("what"):
        if is_audience(groups["what"]):
            return False
        purpose = purpose_de(draft, f" für {groups['what']}")
    else:  # "er hilft Touristen ..." / "er soll Touristen helfen, ..." -> "Hilft Touristen ..."
        obj = groups.get("obj") or f"{groups['a']}{groups['b']}"
        purpose = purpose_de(draft, f" der {obj} hilft")
    if purpose:
        draft.set_purpose(*purpose, also=bool(groups.get("also") or groups.get("also2")))
    return purpose is not None


def on_fact_en(draft: Draft, m: re.Match[str]) -> bool:
    verb = m["verb"].lower()
    obj = m["obj"].strip().rstrip(".")
    draft.add_fact(w.sentence(f"{verb} {obj}"), w.sentence(f"You {w.base_form(verb)} {obj}"))
    return True


def on_fact_de(draft: Draft, m: re.Match[str]) -> bool:
    verb = m["verb"].lower()
    obj = m["obj"].strip().rstrip(".")
    second = w.german_second_person(verb)
    draft.add_fact(w.sentence(f"{verb} {obj}"), w.sentence(f"Du {second} {obj}"))
    return True


def _matches(query: list[str], starter: str) -> bool:
    def stem(word: str) -> str:
        return re.sub(r"(?:ing|ed|es|en|s|n|e)$", "", word) if len(word) > 3 else word

    words = w.words(starter)
    return all(any(stem(q) == stem(s) or (len(q) >= 3 and s.startswith(q)) for s in words) for q in query)


def _which_starter(draft: Draft, m: re.Match[str]) -> int | None:
    """The index of the starter a clause names ("the second starter", "the starter about ice")."""
    starters = draft.starters
    if not starters:
        draft.note("no_starters")
        return None
    listed = ", ".join(draft.t("quoted", value=s) for s in starters)
    number = _group(m, "num") or _group(m, "ord")
    if number:
        index = ORDINALS.get(number.lower(), 0)
        index = len(starters) if index == -1 else index
        if not 1 <= index <= len(starters):
            draft.note("no_starter_number", value=number, count=len(starters))
            return None
        return index - 1
    what = w.clean_value(_group(m, "what") or "")
    exact = [i for i, s in enumerate(starters) if what and w.same(s, what)]
    query = [q for q in w.words(what) if q not in STOPWORDS]
    hits = exact or [i for i, s in enumerate(starters) if _matches(query, s)]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        draft.note("no_starter_match", value=what, choices=listed)
    else:
        draft.note(
            "which_starter", value=what, choices=", ".join(draft.t("quoted", value=starters[i]) for i in hits)
        )
    return None


def on_starter_remove(draft: Draft, m: re.Match[str]) -> bool:
    index = _which_starter(draft, m)
    if index is not None:
        draft.remove_starter(index)
    return True


def on_starter_move(draft: Draft, m: re.Match[str]) -> bool:
    index = _which_starter(draft, m)
    if index is not None:
        draft.move_starter(index, top=_group(m, "top") is not None)
    return True


def on_starters_clear(draft: Draft, m: re.Match[str]) -> bool:
    draft.clear_starters()
    return True


def on_tag_remove(draft: Draft, m: re.Match[str]) -> bool:
    draft.remove_tag(m["what"])
    return True


def on_small_talk(draft: Draft, m: re.Match[str]) -> bool:
    draft.small_talk = True
    return True


def on_help(draft: Draft, m: re.Match[str]) -> bool:
    draft.wants_help = True
    return True


# intent name in offline_patterns.toml -> its handler
HANDLERS: dict[str, Handler] = {
    "undo": on_undo,
    "create_en": lambda draft, m: on_create(draft, m, german=False),
    "create_de": lambda draft, m: on_create(draft, m, german=True),
    "starters_clear": on_starters_clear,
    "starter_remove": on_starter_remove,
    "starter_move": on_starter_move,
    "tag_remove": on_tag_remove,
    "name": on_name,
    "user_language": on_user_language,
    "language": on_language,
    "tone": on_tone,
    "category": on_category,
    "audience": on_audience,
    "description": on_description,
    "purpose_en": on_purpose_en,
    "purpose_de": on_purpose_de,
    "fact_en": on_fact_en,
    "fact_de": on_fact_de,
    "small_talk": on_small_talk,
    "help": on_help,
}
