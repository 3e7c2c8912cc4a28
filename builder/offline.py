"""Offline builder: a deterministic stand-in for the LLM builder when no language model is configured.

It understands short instructions in English and German ("call it Fjord Guide", "freundlicher Ton",
"starter: ...") through a table of regular expressions, one row per intent, and turns every other
sentence into a line of the instructions. It only ever touches the fields a message addresses.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

NAME_MAX = 64
DESCRIPTION_MAX = 300
INSTRUCTIONS_MAX = 32_000
WELCOME_MESSAGE_MAX = 300
STARTERS_MAX = 4
STARTER_MAX = 200
TAGS_MAX = 8
TAG_MAX = 32

_TEXT_FIELDS = ("name", "description", "instructions", "welcome_message", "category")
_LIST_FIELDS = ("conversation_starters", "tags")


@dataclass
class OfflineTurn:
    reply: str
    updates: dict[str, object]  # field -> its full new value; only fields that changed


def offline_turn(current: dict[str, object], message: str, *, categories: list[str]) -> OfflineTurn:
    """Apply one creator message to the draft `current` without a language model."""
    draft = _Draft.start(current, message, categories)
    first_time = not draft.original["name"] and not draft.original["instructions"]
    _apply_message(draft, message)
    return OfflineTurn(reply=_reply(draft, first_time), updates=draft.updates())


# --- vocabulary ------------------------------------------------------------------------------------

# code -> (English name, German name, spellings a creator may use)
LANGUAGES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "en": ("English", "Englisch", ("english", "englisch")),
    "de": ("German", "Deutsch", ("german", "deutsch")),
    "fr": ("French", "Französisch", ("french", "französisch", "français", "francais")),
    "es": ("Spanish", "Spanisch", ("spanish", "spanisch", "español", "espanol")),
    "it": ("Italian", "Italienisch", ("italian", "italienisch", "italiano")),
    "nl": ("Dutch", "Niederländisch", ("dutch", "niederländisch", "holländisch", "nederlands")),
    "is": ("Icelandic", "Isländisch", ("icelandic", "isländisch", "íslenska")),
    "da": ("Danish", "Dänisch", ("danish", "dänisch", "dansk")),
    "sv": ("Swedish", "Schwedisch", ("swedish", "schwedisch", "svenska")),
    "no": ("Norwegian", "Norwegisch", ("norwegian", "norwegisch", "norsk")),
    "nb": ("Norwegian Bokmål", "Bokmål", ("norwegian bokmål", "bokmål", "bokmal")),
    "fi": ("Finnish", "Finnisch", ("finnish", "finnisch", "suomi")),
    "pl": ("Polish", "Polnisch", ("polish", "polnisch", "polski")),
    "pt": ("Portuguese", "Portugiesisch", ("portuguese", "portugiesisch", "português", "portugues")),
}
_LANGUAGE_BY_WORD = {word: code for code, (_, _, words) in LANGUAGES.items() for word in words}


def _pairs(table: str) -> dict[str, str]:
    """Parse "key=value key=value ..." vocabulary tables."""
    return dict(pair.split("=") for pair in table.split())


# English tone -> German adjective (uninflected); the German tone line declines it with "-en".
TONES = _pairs(
    "friendly=freundlich formal=förmlich casual=locker professional=professionell playful=verspielt "
    "concise=knapp warm=herzlich humorous=humorvoll witty=witzig serious=ernst neutral=neutral "
    "objective=sachlich enthusiastic=begeistert cheerful=fröhlich encouraging=ermutigend "
    "supportive=unterstützend empathetic=einfühlsam academic=akademisch technical=technisch "
    "patient=geduldig polite=höflich direct=direkt calm=ruhig"
)
_TONE_BY_WORD = (
    {en: en for en in TONES}
    | {de: en for en, de in TONES.items()}
    | _pairs(
        "funny=humorous brief=concise short=concise succinct=concise fun=playful kind=friendly "
        "relaxed=casual informal=casual empathic=empathetic lässig=casual entspannt=casual "
        "informell=casual formell=formal kurz=concise prägnant=concise lustig=humorous "
        "empathisch=empathetic seriös=serious wissenschaftlich=academic motivierend=encouraging"
    )
)
# German (and a few English) names of the default categories
_CATEGORY_ALIASES = _pairs(
    "schreiben=writing texten=writing produktivität=productivity forschung=research "
    "wissenschaft=research bildung=education lernen=education learning=education "
    "programmierung=programming programmieren=programming coding=programming geschäft=business "
    "wirtschaft=business sonstiges=other andere=other anderes=other"
)

_GERMAN_WORDS = set(
    "der die das und ist nicht ein eine einen einem ich du er es mit für auf bitte namens erstelle erstell "
    "nenne nenn sei antworte ton tonfall hilft helfen soll kategorie beschreibung begrüßung wie was wer "
    "heißen heißt mach mache baue zu bei von den dem im auch oder aber immer nur sprache deutsch ja nein "
    "danke hallo hinzu freundlich freundlicher freundlichen gesprächseinstieg".split()
)
_ENGLISH_WORDS = set(
    "the a an and is it that make create build call name use tone answer respond with for to please of who "
    "which helps help be should add category description welcome yes no thanks hello hi my me you your "
    "always never starter".split()
)


def _alternation(words: list[str] | set[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


_QUOTES = "\"'“”„‚‘’«»`"
_Q = r"[\"“„'‘«][^\"”“'’»]+[\"”“'’»]"  # a quoted name
_LANG = rf"(?P<lang>{_alternation(_LANGUAGE_BY_WORD)})"
_LANG_WORD = rf"(?:{_alternation(_LANGUAGE_BY_WORD)})"
_TONE_WORD = rf"(?:{_alternation(_TONE_BY_WORD)})(?:ally|ly|em|en|er|es|e)?\b"
_TONES = rf"(?P<tones>{_TONE_WORD}(?:(?:\s*,\s*|\s+(?:and|und|but|aber|&)\s+){_TONE_WORD}){{0,2}})"
_MODAL = r"(?:will|can|should|would|must|shall|could|may|is\s+going\s+to|is\s+meant\s+to)"
_SUBJECT_EN = r"(?:it|the\s+gpt|the\s+bot|the\s+assistant|this\s+gpt|my\s+gpt)"
_SUBJECT_DE = r"(?:er|es|der\s+gpt|der\s+bot|der\s+assistent|mein\s+gpt)"

_TONE_LINE = re.compile(r"^(?:use an? .+ tone|verwende einen .+ ton)\.?$", re.I)
_LANGUAGE_LINE = re.compile(
    r"^(?:always answer in .+|answer in the language the user writes in|antworte immer auf .+"
    r"|antworte in der sprache, in der der nutzer schreibt)\.?$",
    re.I,
)
_PURPOSE_LINE = re.compile(
    r"^(?:you help|you assist|you are an assistant|du hilfst|du bist ein assistent)\b", re.I
)


# --- the draft being edited ------------------------------------------------------------------------


@dataclass
class _Draft:
    original: dict[str, Any]
    values: dict[str, Any]
    lang: str  # language of the message: the reply and generated lines use it
    categories: list[str]
    changes: list[tuple[str, str]] = field(default_factory=list)  # (kind, text), listed in _CHANGE_ORDER
    notes: list[str] = field(default_factory=list)
    added_lines: list[str] = field(default_factory=list)
    wants_help: bool = False
    small_talk: bool = False

    @classmethod
    def start(cls, current: dict[str, object], message: str, categories: list[str]) -> _Draft:
        original: dict[str, Any] = {f: str(current.get(f) or "") for f in _TEXT_FIELDS}
        original |= {f: [str(v) for v in current.get(f) or []] for f in _LIST_FIELDS}
        original["language"] = current.get("language") or None
        values = {k: list(v) if isinstance(v, list) else v for k, v in original.items()}
        context = f"{original['name']} {original['description']} {original['instructions']}"
        return cls(original, values, _detect_language(message, context), categories)

    def t(self, key: str, **kwargs: object) -> str:
        return _TEXT[self.lang][key].format(**kwargs)

    def changed(self, kind: str, **kwargs: object) -> None:
        self.changes.append((kind, self.t(f"changed_{kind}", **kwargs)))

    def note(self, key: str, **kwargs: object) -> None:
        text = self.t(key, **kwargs)
        if text not in self.notes:
            self.notes.append(text)

    def updates(self) -> dict[str, object]:
        return {k: v for k, v in self.values.items() if v != self.original[k]}

    @property
    def lines(self) -> list[str]:
        text = str(self.values["instructions"])
        return text.split("\n") if text.strip() else []

    def set_text(self, name: str, value: str, limit: int) -> None:
        raw = _unquote(value)
        value = _fit(raw, limit)
        if not value:
            return
        if value != raw:
            self.note("shortened", field=self.t(f"field_{name}"), limit=limit)
        if value != self.values[name]:
            self.values[name] = value
            self.changed(name, value=_preview(value))

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
        if any(_same(line, existing) for existing in self.lines):
            self.note("duplicate", value=_preview(line))
        elif self.set_instructions([*self.lines, line]):
            self.added_lines.append(line)

    def put_line(self, pattern: re.Pattern[str], line: str) -> bool:
        """Replace the line(s) matching `pattern` by `line`, or append it; never stack two."""
        lines = self.lines
        hits = [i for i, existing in enumerate(lines) if pattern.match(existing.strip())]
        if hits:
            lines[hits[0]] = line
            lines = [existing for i, existing in enumerate(lines) if i not in hits[1:]]
        else:
            lines.append(line)
        return self.set_instructions(lines)

    def set_purpose(self, description: str, line: str) -> None:
        old_description = str(self.values["description"])
        self.set_text("description", description, DESCRIPTION_MAX)
        lines = self.lines
        if any(_same(line, existing) for existing in lines):
            return
        if lines and _is_purpose_line(lines[0], old_description):
            lines[0] = line
        else:
            lines.insert(0, line)
        if self.set_instructions(lines):
            self.added_lines.append(line)

    def add_starter(self, text: str) -> None:
        text = _unquote(text)
        starters: list[str] = self.values["conversation_starters"]
        if not text:
            return
        if len(text) > STARTER_MAX:
            self.note("starter_too_long", limit=STARTER_MAX)
        elif any(_same(text, s) for s in starters):
            self.note("duplicate", value=_preview(text))
        elif len(starters) >= STARTERS_MAX:
            self.note("starters_full", limit=STARTERS_MAX)
        else:
            starters.append(text)
            self.changed("starter", value=_preview(text))

    def set_tags(self, raw: str, *, replace: bool) -> None:
        tags: list[str] = [] if replace else list(self.values["tags"])
        for item in re.split(r"[,;|]", raw):
            tag = _unquote(item).lstrip("#").strip().lower()
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


# --- intents: one row per handler, with the ways of saying it ---------------------------------------

Handler = Callable[[_Draft, re.Match[str]], bool]  # False: "not mine after all", try the next pattern


def _on_create(draft: _Draft, m: re.Match[str]) -> bool:
    draft.small_talk = True  # a bare "make a GPT" is understood even when it changes nothing
    german = m.re is _CREATE_DE
    rest = m["rest"]
    called = (_CALLED_DE if german else _CALLED_EN).match(rest)
    if called:
        _on_name(draft, called)
        rest = rest[called.end() :]
    elif not german and (tail := re.search(rf",?\s+(?:called|named)\s+(?P<name>{_Q}|.+)$", rest, re.I)):
        _on_name(draft, tail)
        rest = rest[: tail.start()]
    purpose = (_purpose_de if german else _purpose_en)(rest)
    if purpose:
        draft.set_purpose(*purpose)
    elif len(rest.strip(" ,:").split()) > 1:
        # "create a GPT in the style of a pirate": keep what we can't parse as an instruction
        draft.add_line(_sentence(rest.strip(" ,:")))
    return True


def _on_purpose_en(draft: _Draft, m: re.Match[str]) -> bool:
    if m.groupdict().get("only_first") is not None and draft.values["description"]:
        return False  # once the purpose is known, "help users with X" is an ordinary instruction
    what = m.groupdict().get("what")
    purpose = _purpose_en(f" for {what}" if what else f" that {m['verb']}{m['obj']}")
    if purpose:
        draft.set_purpose(*purpose)
    return purpose is not None


def _on_purpose_de(draft: _Draft, m: re.Match[str]) -> bool:
    groups = m.groupdict()
    if groups.get("only_first") is not None and draft.values["description"]:
        return False
    if groups.get("what"):
        purpose = _purpose_de(f" für {groups['what']}")
    else:  # "er hilft Touristen ..." / "er soll Touristen helfen, ..." -> "Hilft Touristen ..."
        obj = groups.get("obj") or f"{groups['a']}{groups['b']}"
        purpose = _purpose_de(f" der {obj} hilft")
    if purpose:
        draft.set_purpose(*purpose)
    return purpose is not None


def _on_name(draft: _Draft, m: re.Match[str]) -> bool:
    name = _clean_name(m["name"])
    if not name:
        return False
    draft.set_text("name", name, NAME_MAX)
    return True


def _on_tone(draft: _Draft, m: re.Match[str]) -> bool:
    words = re.split(r"\s*,\s*|\s+(?:and|und|but|aber|&)\s+", m["tones"].strip())
    tones = list(dict.fromkeys(_tone(w) for w in words))
    if not all(tones):
        return False
    if draft.lang == "de":
        line = f"Verwende einen {_join([f'{TONES[t]}en' for t in tones], 'und')} Ton."
        shown = ", ".join(TONES[t] for t in tones)
    else:
        joined = _join(tones, "and")
        line = f"Use {'an' if joined[0] in 'aeiou' else 'a'} {joined} tone."
        shown = ", ".join(tones)
    if draft.put_line(_TONE_LINE, line):
        draft.changed("tone", value=shown)
    return True


def _on_language(draft: _Draft, m: re.Match[str]) -> bool:
    word = m["lang"].lower()
    code = word if word in LANGUAGES else _LANGUAGE_BY_WORD.get(word)
    if code is None:
        return False
    english, german, _ = LANGUAGES[code]
    line = f"Antworte immer auf {german}." if draft.lang == "de" else f"Always answer in {english}."
    if draft.put_line(_LANGUAGE_LINE, line) or draft.values["language"] != code:
        draft.values["language"] = code
        draft.changed("language", value=german if draft.lang == "de" else english)
    return True


def _on_user_language(draft: _Draft, m: re.Match[str]) -> bool:
    if draft.put_line(_LANGUAGE_LINE, draft.t("user_language_line")) or draft.values["language"] is not None:
        draft.values["language"] = None
        draft.changed("language", value=draft.t("user_language"))
    return True


def _on_category(draft: _Draft, m: re.Match[str]) -> bool:
    value = _unquote(m["value"])
    by_lower = {c.lower(): c for c in draft.categories}
    category = by_lower.get(value.lower()) or by_lower.get(_CATEGORY_ALIASES.get(value.lower(), ""))
    if category is None:
        draft.note("unknown_category", value=value, choices=", ".join(draft.categories))
    elif category != draft.values["category"]:
        draft.values["category"] = category
        draft.changed("category", value=category)
    return True


def _on_small_talk(draft: _Draft, m: re.Match[str]) -> bool:
    draft.small_talk = True
    return True


def _on_help(draft: _Draft, m: re.Match[str]) -> bool:
    draft.wants_help = True
    return True


def _intent(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_CREATE_EN = _intent(
    r"(?:i\s+(?:want|need|would\s+like|'d\s+like)(?:\s+to\s+(?:make|create|build))?|make|create|build|design"
    r"|set\s+up|draft)\s+(?:me\s+|us\s+)?(?:a|an|my|one)\s+(?:(?:new|custom|little|simple|small)\s+)*"
    r"(?:gpt|bot|chatbot|assistant|agent|helper)\b(?P<rest>.*)"
)
_CREATE_DE = _intent(
    r"(?:erstelle|erstell|erstellen|mache|mach|machen|baue|bau|bauen|erzeuge|entwirf|entwickle"
    r"|ich\s+(?:möchte|will|brauche|hätte\s+gerne?))\s+(?:(?:mir|uns|bitte)\s+)*(?:einen|ein|eine|meinen)\s+"
    r"(?:(?:neuen|eigenen|kleinen|einfachen)\s+)*(?:gpt|bot|chatbot|assistenten|assistent|helfer|agenten)\b"
    r"(?P<rest>.*)"
)
_CALLED_EN = _intent(
    rf"\s*,?\s*(?:called|named|with\s+the\s+name|name\s*:)\s+(?P<name>{_Q}|.+?)"
    r"(?=\s*[,;]|\s*$|\s+(?:that|which|who|to|for|about)\s)"
)
_CALLED_DE = _intent(
    rf"\s*,?\s*(?:namens|mit\s+(?:dem\s+)?namen|genannt)\s+(?P<name>{_Q}|.+?)"
    r"(?=\s*[,;]|\s*$|\s+(?:der|die|das|für|zum|zur|welcher)\s)"
)
_NAME = rf"(?P<name>{_Q}|.+?)"

_ROWS: list[tuple[Handler, list[str | re.Pattern[str]]]] = [
    (_on_create, [_CREATE_EN, _CREATE_DE]),
    (
        _on_name,
        [
            rf"(?:call|name|rename)\s+(?:it|him|her|the\s+gpt|the\s+bot|this\s+gpt)\s+(?:to\s+|as\s+)?{_NAME}",
            rf"rename\s+(?:it\s+)?to\s+{_NAME}",
            rf"(?:(?:its|the|his|her)\s+)?name\s*(?::|is|should\s+be|=|-)\s*{_NAME}",
            rf"{_SUBJECT_EN}\s+(?:should\s+be|is|will\s+be)\s+(?:called|named)\s+{_NAME}",
            rf"(?:nenne|nenn|benenne|benenn)\s+(?:ihn|es|sie|den\s+gpt|den\s+bot)\s+(?:um\s+)?(?:in\s+)?{_NAME}",
            rf"(?:der\s+|sein\s+|ihr\s+)?name\s*(?::|ist|lautet|soll|=|-)\s*{_NAME}(?:\s+sein|\s+lauten)?",
            rf"{_SUBJECT_DE}\s+(?:soll\s+)?{_NAME}\s+heißen",
            rf"{_SUBJECT_DE}\s+heißt\s+{_NAME}",
            rf"(?:ihn|es|sie)\s+{_NAME}\s+nennen",
        ],
    ),
    (
        _on_user_language,
        [
            r"(?:always\s+|only\s+)?(?:answer|respond|reply|write|speak|talk)\s+(?:always\s+|only\s+)?in\s+"
            r"(?:the\s+)?(?:user'?s'?|same)\s+language(?:\s+as\s+the\s+user)?",
            r"(?:antworte|antwortet|schreibe|sprich)\s+(?:immer\s+)?in\s+der\s+sprache\s+des\s+"
            r"(?:nutzers|benutzers|users|fragenden)",
        ],
    ),
    (
        _on_language,
        [
            rf"(?:always\s+|only\s+)?(?:answer|respond|reply|write|speak|talk|chat)\s+(?:always\s+|only\s+)?"
            rf"in\s+{_LANG}(?:\s+only)?",
            rf"(?:the\s+)?language\s*(?::|is|should\s+be|=|-)\s*(?P<lang>{_LANG_WORD}|[a-z]{{2}})",
            rf"(?:(?:speak|in)\s+)?{_LANG}\s+only",
            rf"(?:speak|in)\s+{_LANG}",
            rf"(?:antworte|antwortet|antworten|schreibe|schreib|sprich|rede)\s+(?:bitte\s+)?"
            rf"(?:(?:immer|nur|ausschließlich)\s+)*(?:auf|in)\s+{_LANG}",
            rf"{_SUBJECT_DE}\s+soll\s+(?:(?:immer|nur)\s+)?(?:auf|in)\s+{_LANG}\s+antworten",
            rf"(?:(?:nur|immer)\s+)?auf\s+{_LANG}",
            rf"(?:die\s+)?sprache\s*(?::|ist|=|-|soll)\s*(?P<lang>{_LANG_WORD}|[a-z]{{2}})(?:\s+sein)?",
        ],
    ),
    (
        _on_tone,
        [
            r"(?:(?:use|with|have|adopt|keep|take|in|using|write\s+in|speak\s+in|answer\s+in|respond\s+in)\s+)?"
            rf"(?:an?\s+)?{_TONES}\s+(?:tone|voice|style)(?:\s+of\s+voice)?",
            rf"(?:the\s+|its\s+)?(?:tone|voice|style)(?:\s+of\s+voice)?\s*(?::|should\s+be|must\s+be|is|=|-)\s*{_TONES}",
            r"(?:be|sound|stay|keep\s+it|make\s+it|act|answer|respond|reply|talk|speak|write)\s+"
            rf"(?:(?:very|more|always|a\s+bit|a\s+little)\s+)*{_TONES}",
            rf"(?:(?:verwende|nutze|benutze|nimm|mit|in|wähle)\s+)?(?:einen?\s+|einem\s+)?{_TONES}\s+"
            r"(?:ton|tonfall|stil|umgangston)",
            rf"(?:der\s+)?(?:ton|tonfall|stil)\s*(?::|=|-|ist|soll)\s*{_TONES}(?:\s+sein)?",
            rf"(?:sei|seid|bleib|bleibe|antworte|schreibe|schreib|sprich|klinge)\s+(?:bitte\s+)?"
            rf"(?:(?:immer|sehr|eher|etwas|ein\s+bisschen)\s+)*{_TONES}",
        ],
    ),
    (
        _on_category,
        [
            r"(?:(?:set|change|put)\s+(?:the\s+|its\s+)?)?category\s*(?::|to|is|=|-|should\s+be)?\s*"
            r"(?P<value>[^\s,;]+(?:\s+[^\s,;]+)?)",
            r"put\s+it\s+in(?:to)?\s+(?:the\s+)?(?P<value>\S+)\s+category",
            r"(?:(?:setze|ändere|stelle|leg)\s+(?:die\s+)?)?kategorie\s*(?::|auf|ist|=|-|zu|soll)?\s*"
            r"(?P<value>[^\s,;]+?)(?:\s+(?:setzen|ändern|sein|fest))?",
        ],
    ),
    (
        _on_purpose_en,
        [
            rf"{_SUBJECT_EN}\s+(?:{_MODAL}\s+)?(?P<verb>helps?|assists?)\b(?P<obj>.+)",
            r"(?P<verb>helps|assists)\b(?P<obj>.+)",
            r"(?P<only_first>)(?P<verb>help|assist)\b(?P<obj>.+)",
            rf"(?:it's|it\s+is|this\s+is|it\s+should\s+be|{_SUBJECT_EN}\s+is)\s+for\s+(?P<what>.+)",
        ],
    ),
    (
        _on_purpose_de,
        [
            rf"{_SUBJECT_DE}\s+hilft\s+(?P<obj>.+)",
            rf"{_SUBJECT_DE}\s+soll\s+(?P<a>.+?)\s+helfen(?P<b>.*)",
            rf"{_SUBJECT_DE}\s+(?:ist|soll)\s+für\s+(?P<what>.+?)(?:\s+sein)?",
            r"(?P<only_first>)hilf\s+(?P<obj>.+)",
        ],
    ),
    (
        _on_small_talk,
        [
            r"(?:hi|hello|hey|hallo|moin|servus|good\s+(?:morning|afternoon|evening)|guten\s+(?:tag|morgen|abend))"
            r"(?:\s+(?:there|zusammen))?",
            r"thanks?(?:\s+(?:a\s+lot|so\s+much|you))?|thank\s+you(?:\s+(?:very|so)\s+much)?"
            r"|danke(?:\s+(?:schön|sehr))?|vielen\s+dank",
            r"ok(?:ay)?|yes|yep|no|nope|ja|nein|cool|great|super|gut|prima|perfect|perfekt|fine|nice|toll|klasse"
            r"|sounds\s+good|passt|alles\s+klar",
        ],
    ),
    (
        _on_help,
        [
            r"help|hilfe|what\s+can\s+you\s+do|was\s+kannst\s+du(?:\s+(?:tun|alles))?|what\s+(?:now|next)"
            r"|how\s+does\s+(?:this|it)\s+work|wie\s+funktioniert\s+das|wie\s+geht(?:'s|\s+es)\s+weiter",
        ],
    ),
]
_INTENTS = [
    (_intent(pattern) if isinstance(pattern, str) else pattern, handler)
    for handler, patterns in _ROWS
    for pattern in patterns
]


# Fields given as "key: value" take the rest of the line, commas and all.
_KEYS = {
    "description": r"(?:short\s+)?description|(?:kurz)?beschreibung",
    "welcome_message": r"welcome(?:\s+message)?|greeting|begrüßung(?:snachricht|stext)?"
    r"|willkommens(?:nachricht|text)",
    "starter": r"(?:add\s+(?:a\s+|another\s+|one\s+more\s+)?(?:new\s+)?)?(?:conversation\s+)?starters?"
    r"|(?:neuer\s+|weiterer\s+)?(?:gesprächseinstieg|gesprächsstarter|einstiegsfrage)(?:e|n)?"
    r"|füge\s+(?:einen\s+)?(?:gesprächseinstieg|gesprächsstarter)\s+hinzu",
    "add_tags": r"add\s+(?:a\s+)?tags?|füge\s+tags?\s+hinzu|weitere\s+tags",
    "tags": r"tags?|schlagw(?:ö|o)rte?r?|stichw(?:ö|o)rte?r?",
    "instruction": r"instructions?|anweisungen?|rules?|regeln?",
}
_KEYED = re.compile(
    r"(?:^|(?<=[.!?;,])\s*)(?:(?:and|und|also|please|bitte|außerdem)\s+)?(?:"
    + "|".join(f"(?P<{kind}>{pattern})" for kind, pattern in _KEYS.items())
    + r")\s*:\s*(?P<value>.*)$",
    re.IGNORECASE,
)
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+(?P<item>.+)$")

# A comma, semicolon or "and" starts a new clause only when what follows starts an intent, so that
# "helps tourists plan trips, museums and hikes" stays one clause.
_SEPARATOR = re.compile(r"\s*,\s*(?:(?:and|und)\s+)?|\s+(?:and|und|also|außerdem|plus)\s+", re.I)
_CLAUSE_START = _intent(
    r"(?:call|name|rename|nenne|nenn|benenne|use|verwende|nutze|be|sei|seid|answer|respond|reply|antworte"
    r"|speak|sprich|category|kategorie|tone|ton|tonfall|language|sprache|make\s+it|keep\s+it"
    r"|thanks|thank\s+you|danke"
    rf"|(?:the|its|der|sein)\s+name|it\s+should\s+be\s+called|(?:it|er|es)\s+(?:should\s+|soll\s+)?"
    rf"(?:helps?|hilft|helfen)|(?:in|auf)\s+{_LANG_WORD})\b"
)
_TONE_START = _intent(rf"(?:an?\s+|einen?\s+)?{_TONES}\s+(?:tone|voice|ton|tonfall|stil)\b")
_TONE_SUFFIX = _intent(
    rf"\s+((?:with|in|using|mit)\s+(?:an?\s+|einem\s+)?{_TONES}\s+(?:tone|ton|tonfall))[.!]?\s*$"
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\s*;\s*")
_ABBREVIATIONS = set("e.g. i.e. z. b. z.b. bzw. etc. usw. dr. mr. mrs. ms. ca.".split())
_LEADING_FILLER = _intent(
    r"^(?:(?:please|bitte|also|and|und|außerdem|then|dann|now|jetzt|ok(?:ay)?)\b[\s,]*)+"
)
_REQUEST = _intent(
    r"^(?:(?:can|could|would|will)\s+you\s+(?:please\s+)?|(?:kannst|könntest|würdest)\s+du\s+(?:bitte\s+)?"
    r"|i\s+(?:want|would\s+like|'d\s+like)\s+you\s+to\s+|let's\s+)"
)
_NOT_A_NAME_START = set(
    "be use help answer respond write explain keep make add always never don't do ask give show please "
    "you your sei hilf antworte schreibe schreib erkläre erklär nutze verwende gib zeige frage mach "
    "mache immer nie nenne bitte du dein".split()
)
_NAME_JOINERS = {"of", "the", "and", "for", "a", "de", "der", "die", "das", "von", "und", "für", "&", "-"}


def _apply_message(draft: _Draft, message: str) -> None:
    list_kind = None  # after "starters:" on its own line, bullet lines are starters
    for line in message.splitlines():
        line = line.strip()
        if not line:
            continue
        bullet = _BULLET.match(line)
        if bullet and list_kind:
            _apply_keyed(draft, list_kind, bullet["item"])
            list_kind = "add_tags" if list_kind == "tags" else list_kind
            continue
        list_kind = None
        keyed = _KEYED.search(line)
        head = line[: keyed.start()] if keyed else line
        for sentence in _sentences(head):
            for clause in _clauses(sentence):
                _apply_clause(draft, clause)
        if keyed:
            kind = next(k for k in _KEYS if keyed.group(k))
            if keyed["value"].strip():
                _apply_keyed(draft, kind, keyed["value"])
            elif kind in ("starter", "tags", "add_tags"):
                list_kind = kind


def _apply_keyed(draft: _Draft, kind: str, value: str) -> None:
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
    else:
        draft.add_line(_sentence(_unquote(value)))


def _apply_clause(draft: _Draft, raw: str) -> None:
    text = _BULLET.sub(r"\g<item>", raw.strip())
    text = _LEADING_FILLER.sub("", text)
    request = _REQUEST.match(text)
    text = text[request.end() :] if request else text
    question = text.rstrip().endswith("?") and not request
    text = re.sub(r"(?:,?\s+(?:please|bitte))?[\s.!?]*$", "", text).strip()
    if not text:
        draft.small_talk = True
        return
    for pattern, handler in _INTENTS:
        match = pattern.fullmatch(text)
        if match and handler(draft, match):
            return
    if question:
        draft.wants_help = True
    elif not draft.values["name"] and _looks_like_name(text):
        draft.set_text("name", _clean_name(text), NAME_MAX)
    else:
        draft.add_line(_sentence(_second_person(text)))


def _sentences(text: str) -> list[str]:
    sentences: list[str] = []
    for piece in _SENTENCE_END.split(text):
        if sentences and sentences[-1].split()[-1].lower() in _ABBREVIATIONS:
            sentences[-1] += " " + piece
        elif piece.strip():
            sentences.append(piece)
    return sentences


def _clauses(sentence: str) -> list[str]:
    clauses, start = [], 0
    for sep in _SEPARATOR.finditer(sentence):
        rest = sentence[sep.end() :]
        if _CLAUSE_START.match(rest) or ("," in sep.group() and _TONE_START.match(rest)):
            clauses.append(sentence[start : sep.start()])
            start = sep.end()
    clauses.append(sentence[start:])
    split = []
    for clause in clauses:
        # "make a bot that helps tourists with a friendly tone", but not "answer in a friendly tone"
        suffix = _TONE_SUFFIX.search(clause)
        long_head = suffix and len(clause[: suffix.start()].split()) >= 4
        split += [clause[: suffix.start()], suffix.group(1)] if long_head else [clause]
    return [c for c in split if c.strip()]


# --- wording ---------------------------------------------------------------------------------------


def _purpose_en(text: str) -> tuple[str, str] | None:
    """(description, instruction line) from "that helps X", "to help X" or "for X"."""
    m = re.match(
        rf",?\s*(?:(?:that|which|who)\s+(?P<modal>{_MODAL}\s+)?|(?P<to>to)\s+)(?P<verb>[a-z]+)\b(?P<obj>.*)$",
        text,
        re.I,
    )
    if m:
        verb = m["verb"].lower()
        base = verb if m["modal"] or m["to"] else _base_form(verb)
        obj = f" {m['obj'].strip()}" if m["obj"].strip() else ""
        description = _sentence(obj) if base == "are" else _sentence(_third_person(base) + obj)
        return description, _sentence(f"You {base}{obj}")
    m = re.match(r",?\s*(?P<prep>for|about)\s+(?P<what>.+)$", text, re.I)
    if m:
        what = f"{m['prep'].lower()} {m['what'].strip()}"
        return _sentence(f"An assistant {what}"), _sentence(f"You are an assistant {what}")
    return None


def _purpose_de(text: str) -> tuple[str, str] | None:
    """(description, instruction line) from ", der X hilft" or "für X"."""
    m = re.match(r",?\s*(?:der|die|das|welcher|welches)\s+(?P<clause>.+)$", text, re.I)
    if m:
        clause = m["clause"].strip()
        if re.search(r"\bhilft\b", clause):
            obj = re.sub(r"\s+,", ",", re.sub(r"\s*\bhilft\b", "", clause)).strip(" ,")
            return _sentence(f"Hilft {obj}"), _sentence(f"Du hilfst {obj}")
        return _sentence(f"Ein Assistent, der {clause}"), _sentence(f"Du bist ein Assistent, der {clause}")
    m = re.match(r",?\s*(?P<prep>für|zum|zur)\s+(?P<what>.+)$", text, re.I)
    if m:
        what = f"{m['prep'].lower()} {m['what'].strip()}"
        return _sentence(f"Ein Assistent {what}"), _sentence(f"Du bist ein Assistent {what}")
    return None


def _is_purpose_line(line: str, description: str) -> bool:
    """Whether `line` is the purpose line written with `description`: "You write X." for "Writes X."."""
    if _PURPOSE_LINE.match(line):
        return True
    words, described = _words(line), _words(description)
    return len(words) > 2 and words[:1] in (["you"], ["du"]) and words[2:] in (described, described[1:])


def _base_form(verb: str) -> str:
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


def _third_person(base: str) -> str:
    irregular = {"are": "is", "have": "has", "do": "does", "go": "goes"}
    if base in irregular:
        return irregular[base]
    if base.endswith("y") and len(base) > 1 and base[-2] not in "aeiou":
        return base[:-1] + "ies"
    if base.endswith(("ch", "sh", "ss", "x", "z", "o")):
        return base + "es"
    return base + "s"


def _second_person(text: str) -> str:
    """Address the GPT directly: "It should cite sources" -> "You should cite sources"."""
    m = re.match(rf"{_SUBJECT_EN}\s+(should|must|will|can|may|shall|needs\s+to|has\s+to)\b", text, re.I)
    if m:
        verb = {"needs to": "need to", "has to": "have to"}.get(" ".join(m[1].lower().split()), m[1].lower())
        return f"You {verb}{text[m.end() :]}"
    m = re.match(rf"{_SUBJECT_DE}\s+(soll|sollte|muss|darf|kann)\b", text, re.I)
    if m:
        verb = {"soll": "sollst", "sollte": "solltest", "muss": "musst", "darf": "darfst", "kann": "kannst"}
        return f"Du {verb[m[1].lower()]}{text[m.end() :]}"
    return text


def _tone(word: str) -> str | None:
    word = word.lower()
    candidates = [word]
    if word.endswith("ally"):
        candidates.append(word[:-4])
    if word.endswith("ly"):
        candidates.append(word[:-2])
    candidates += [word[: -len(s)] for s in ("em", "en", "er", "es", "e") if word.endswith(s)]
    return next((_TONE_BY_WORD[c] for c in candidates if c in _TONE_BY_WORD), None)


def _looks_like_name(text: str) -> bool:
    """A bare answer like "Fjord Guide" to "What should it be called?"."""
    if re.fullmatch(_Q, text):
        return True
    words = text.split()
    if not 1 <= len(words) <= 5 or len(text) > NAME_MAX or words[0].lower() in _NOT_A_NAME_START:
        return False
    return words[0][0].isupper() and all(
        w[0].isupper() or w[0].isdigit() or w.lower() in _NAME_JOINERS for w in words
    )


def _detect_language(message: str, context: str) -> str:
    def score(text: str) -> int:
        words = re.findall(r"[a-zäöüß']+", text.lower())
        german = sum(w in _GERMAN_WORDS for w in words) + 2 * len(re.findall(r"[äöüß]", text.lower()))
        return german - sum(w in _ENGLISH_WORDS for w in words)

    lead = score(message) or score(context)
    return "de" if lead > 0 else "en"


def _unquote(text: str) -> str:
    text = " ".join(text.split())
    if len(text) >= 2 and text[0] in _QUOTES and text[-1] in _QUOTES:
        text = text[1:-1].strip()
    return text


def _clean_name(text: str) -> str:
    return _unquote(text.strip().rstrip(".!?,;:").strip()).rstrip(".!?,;:").strip()


def _sentence(text: str) -> str:
    text = " ".join(text.split()).rstrip(",;: ")
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in '.!?:)"”' else text + "."


def _fit(text: str, limit: int) -> str:
    """`text`, or its longest word-boundary prefix that fits with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-") + "…"


def _preview(text: str) -> str:
    return _fit(text, 80)


def _words(text: str) -> list[str]:
    return re.sub(r"[\W_]+", " ", text.casefold()).split()


def _same(a: str, b: str) -> bool:
    return _words(a) == _words(b)


def _join(words: list[str], conjunction: str) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} {conjunction} {words[-1]}"


# --- the reply -------------------------------------------------------------------------------------

_TEXT = {
    "en": {
        "intro": (
            "I'm the offline builder: no language model is configured, so I understand simple "
            "instructions such as “call it Fjord Guide”, “use a friendly tone”, “answer in German”, "
            "“starter: …”, “description: …” or “category: education”. Any other sentence becomes a line"
            " of the instructions."
        ),
        "prefix": "(Offline builder: no language model is configured.)",
        "updated": "Updated: {items}.",
        "nothing": "I didn't find anything to change in that.",
        "help": (
            "Without a language model I can't answer questions, but I can change your GPT. Try “call it"
            " …”, “it helps … with …”, “use a formal tone”, “answer in German”, “starter: …”, "
            "“category: …”, “description: …”, “welcome message: …” or “tags: a, b”."
        ),
        "changed_name": "name → “{value}”",
        "changed_description": "description → “{value}”",
        "changed_welcome_message": "welcome message → “{value}”",
        "changed_starter": "conversation starter + “{value}”",
        "changed_category": "category → {value}",
        "changed_tags": "tags → {value}",
        "changed_language": "language → {value}",
        "changed_tone": "tone → {value}",
        "changed_line": "instructions + “{value}”",
        "changed_lines": "instructions (+{count} lines)",
        "user_language": "the user's language",
        "user_language_line": "Answer in the language the user writes in.",
        "field_name": "name",
        "field_description": "description",
        "field_welcome_message": "welcome message",
        "shortened": "I shortened the {field} to fit {limit} characters.",
        "duplicate": "“{value}” is already there.",
        "starters_full": (
            "There are already {limit} conversation starters, the maximum. Remove one in the editor first."
        ),
        "starter_too_long": "That conversation starter is longer than {limit} characters; please shorten it.",
        "tags_full": "A GPT can have at most {limit} tags; I skipped the rest.",
        "tag_too_long": "I skipped the tag “{value}”: tags can have at most {limit} characters.",
        "unknown_category": "“{value}” is not a category. Choose one of: {choices}.",
        "instructions_full": "The instructions would grow past {limit} characters, so I didn't add that.",
        "ask_name": "What should your GPT be called? For example: “call it Fjord Guide”.",
        "ask_purpose": (
            "Who is it for, and what should it help with? For example: “it helps tourists plan fjord trips”."
        ),
        "ask_tone": "Which tone should it use: friendly, formal, casual, professional, playful or concise?",
        "ask_starters": (
            "Which conversation starters should people see (up to 4)? For example: “starter: What "
            "should I pack for a fjord cruise?”"
        ),
        "ask_category": "Pick a category too, for example “category: education”.",
        "ask_knowledge": (
            "You can upload files (PDF, DOCX, ...) in the Knowledge section so your GPT can answer from"
            " your data. Then try it in the preview, and publish it when you're happy."
        ),
    },
    "de": {
        "intro": (
            "Ich bin der Offline-Baukasten: Es ist kein Sprachmodell konfiguriert, deshalb verstehe ich"
            " einfache Anweisungen wie „nenne ihn Fjord-Guide“, „freundlicher Ton“, „antworte auf "
            "Deutsch“, „Gesprächseinstieg: …“, „Beschreibung: …“ oder „Kategorie: Bildung“. Jeder "
            "andere Satz wird eine Zeile der Anweisungen."
        ),
        "prefix": "(Offline-Baukasten: Es ist kein Sprachmodell konfiguriert.)",
        "updated": "Geändert: {items}.",
        "nothing": "Darin habe ich nichts gefunden, das ich ändern kann.",
        "help": (
            "Ohne Sprachmodell kann ich keine Fragen beantworten, aber deinen GPT ändern. Probiere "
            "„nenne ihn …“, „er hilft … bei …“, „sei förmlich“, „antworte auf Deutsch“, "
            "„Gesprächseinstieg: …“, „Kategorie: …“, „Beschreibung: …“, „Begrüßung: …“ oder „Tags: a, "
            "b“."
        ),
        "changed_name": "Name → „{value}“",
        "changed_description": "Beschreibung → „{value}“",
        "changed_welcome_message": "Begrüßung → „{value}“",
        "changed_starter": "Gesprächseinstieg + „{value}“",
        "changed_category": "Kategorie → {value}",
        "changed_tags": "Tags → {value}",
        "changed_language": "Sprache → {value}",
        "changed_tone": "Ton → {value}",
        "changed_line": "Anweisungen + „{value}“",
        "changed_lines": "Anweisungen (+{count} Zeilen)",
        "user_language": "Sprache des Nutzers",
        "user_language_line": "Antworte in der Sprache, in der der Nutzer schreibt.",
        "field_name": "den Namen",
        "field_description": "die Beschreibung",
        "field_welcome_message": "die Begrüßung",
        "shortened": "Ich habe {field} auf {limit} Zeichen gekürzt.",
        "duplicate": "„{value}“ ist schon vorhanden.",
        "starters_full": (
            "Es gibt schon {limit} Gesprächseinstiege, mehr geht nicht. Entferne zuerst einen im Editor."
        ),
        "starter_too_long": "Dieser Gesprächseinstieg ist länger als {limit} Zeichen; bitte kürze ihn.",
        "tags_full": "Ein GPT kann höchstens {limit} Tags haben; den Rest habe ich weggelassen.",
        "tag_too_long": "Den Tag „{value}“ habe ich weggelassen: Tags haben höchstens {limit} Zeichen.",
        "unknown_category": "„{value}“ ist keine Kategorie. Wähle eine von: {choices}.",
        "instructions_full": (
            "Die Anweisungen würden länger als {limit} Zeichen, deshalb habe ich das nicht hinzugefügt."
        ),
        "ask_name": "Wie soll dein GPT heißen? Zum Beispiel: „nenne ihn Fjord-Guide“.",
        "ask_purpose": (
            "Für wen ist er, und wobei soll er helfen? Zum Beispiel: „er hilft Touristen, Fjordreisen "
            "zu planen“."
        ),
        "ask_tone": (
            "Welchen Ton soll er verwenden: freundlich, förmlich, locker, professionell, verspielt oder"
            " knapp?"
        ),
        "ask_starters": (
            "Welche Gesprächseinstiege sollen Nutzer sehen (bis zu 4)? Zum Beispiel: "
            "„Gesprächseinstieg: Was soll ich für eine Fjordkreuzfahrt einpacken?“"
        ),
        "ask_category": "Wähle auch eine Kategorie, zum Beispiel „Kategorie: Bildung“.",
        "ask_knowledge": (
            "Im Bereich Wissen (Knowledge) kannst du Dateien (PDF, DOCX, …) hochladen, damit dein GPT "
            "aus deinen Daten antworten kann. Probiere ihn dann in der Vorschau aus und veröffentliche "
            "ihn, wenn alles passt."
        ),
    },
}


_CHANGE_ORDER = "name description instructions tone language welcome_message starter category tags".split()


def _reply(draft: _Draft, first_time: bool) -> str:
    parts = [draft.t("intro") if first_time else draft.t("prefix")]
    changes = list(draft.changes)
    if len(draft.added_lines) == 1:
        changes.append(("instructions", draft.t("changed_line", value=_preview(draft.added_lines[0]))))
    elif draft.added_lines:
        changes.append(("instructions", draft.t("changed_lines", count=len(draft.added_lines))))
    changes = sorted(changes, key=lambda change: _CHANGE_ORDER.index(change[0]))
    if changes:
        parts.append(draft.t("updated", items=", ".join(text for _, text in changes)))
    parts += draft.notes
    if draft.wants_help and not first_time:
        parts.append(draft.t("help"))
    if not (changes or draft.notes or draft.wants_help or draft.small_talk):
        parts.append(draft.t("nothing"))
    parts.append(_next_question(draft))
    return "\n\n".join(parts)


def _next_question(draft: _Draft) -> str:
    values = draft.values
    if not values["name"]:
        return draft.t("ask_name")
    if not values["description"]:
        return draft.t("ask_purpose")
    if not any(_TONE_LINE.match(line.strip()) for line in draft.lines):
        return draft.t("ask_tone")
    if not values["conversation_starters"]:
        return draft.t("ask_starters")
    if not values["category"]:
        return f"{draft.t('ask_category')} {draft.t('ask_knowledge')}"
    return draft.t("ask_knowledge")
