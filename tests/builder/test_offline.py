"""The offline builder turns plain English and German instructions into draft fields."""

from __future__ import annotations

import pytest

from builder.offline import LANGUAGES, offline_turn
from core.settings import DEFAULT_CATEGORIES

FJORD_GUIDE = {
    "name": "Fjord Guide",
    "description": "Helps tourists plan fjord trips.",
    "instructions": "You help tourists plan fjord trips.\nUse a friendly tone.",
    "welcome_message": "Hej! Where are you headed?",
    "conversation_starters": ["What should I pack?"],
    "category": "lifestyle",
    "tags": ["travel"],
    "language": "en",
}


def chat(*messages: str, draft: dict[str, object] | None = None) -> tuple[dict[str, object], str]:
    """Send `messages` one after another; the draft with every update applied, and the last reply."""
    draft = dict(draft or {})
    reply = ""
    for message in messages:
        turn = offline_turn(draft, message, categories=list(DEFAULT_CATEGORIES))
        draft |= turn.updates
        reply = turn.reply
    return draft, reply


def updates(message: str, draft: dict[str, object] | None = None) -> dict[str, object]:
    return offline_turn(dict(draft or FJORD_GUIDE), message, categories=list(DEFAULT_CATEGORIES)).updates


def lines(draft: dict[str, object]) -> list[str]:
    return str(draft["instructions"]).split("\n")


# --- saying what it is -----------------------------------------------------------------------------


def test_first_reply_says_plainly_that_no_language_model_runs() -> None:
    _, english = chat("hi")
    _, german = chat("hallo")
    _, later = chat("use a formal tone", draft=FJORD_GUIDE)

    assert "no language model" in english
    assert "kein Sprachmodell" in german
    assert "no language model" in later


def test_create_with_name_and_purpose_in_english() -> None:
    draft, _ = chat("Make a GPT called Fjord Guide that helps tourists plan fjord trips.")

    assert draft["name"] == "Fjord Guide"
    assert draft["description"] == "Helps tourists plan fjord trips."
    assert draft["instructions"] == "You help tourists plan fjord trips."


def test_create_with_name_and_purpose_in_german() -> None:
    draft, _ = chat("Erstelle einen GPT namens Fjord-Guide, der Touristen hilft, Fjordreisen zu planen.")

    assert draft["name"] == "Fjord-Guide"
    assert draft["description"] == "Hilft Touristen, Fjordreisen zu planen."
    assert draft["instructions"] == "Du hilfst Touristen, Fjordreisen zu planen."


def test_create_in_one_message_of_several_clauses() -> None:
    draft, reply = chat("make a bot that helps tourists plan fjord trips, call it Fjord Guide, friendly tone")

    assert draft["name"] == "Fjord Guide"
    assert draft["description"] == "Helps tourists plan fjord trips."
    assert lines(draft) == ["You help tourists plan fjord trips.", "Use a friendly tone."]
    assert "name → “Fjord Guide”" in reply
    assert "tone → friendly" in reply


@pytest.mark.parametrize(
    ("message", "description", "line"),
    [
        ("Create a GPT that writes limericks", "Writes limericks.", "You write limericks."),
        ("build me an assistant who teaches kids math", "Teaches kids math.", "You teach kids math."),
        (
            "I want a bot for planning fjord trips",
            "An assistant for planning fjord trips.",
            "You are an assistant for planning fjord trips.",
        ),
        (
            "Erstelle einen GPT, der Rezepte vorschlägt",
            "Ein Assistent, der Rezepte vorschlägt.",
            "Du bist ein Assistent, der Rezepte vorschlägt.",
        ),
        # the example the builder's greeting gives (web/templates/builder/editor.html), typed as shown
        ("A GPT that plans fjord trips", "Plans fjord trips.", "You plan fjord trips."),
        (
            "an assistant for planning fjord trips",
            "An assistant for planning fjord trips.",
            "You are an assistant for planning fjord trips.",
        ),
        (
            "Ein GPT, der Rezepte vorschlägt",
            "Ein Assistent, der Rezepte vorschlägt.",
            "Du bist ein Assistent, der Rezepte vorschlägt.",
        ),
    ],
)
def test_create_with_other_ways_to_say_the_purpose(message: str, description: str, line: str) -> None:
    draft, _ = chat(message)

    assert draft["description"] == description
    assert draft["instructions"] == line


def test_purpose_said_later_replaces_the_purpose_line_and_keeps_the_rest() -> None:
    draft, _ = chat("it helps hikers find huts", draft=FJORD_GUIDE)

    assert draft["description"] == "Helps hikers find huts."
    assert lines(draft) == ["You help hikers find huts.", "Use a friendly tone."]


def test_german_purpose_said_later() -> None:
    draft, _ = chat("Er soll Wanderern helfen, Hütten zu finden.", draft={"name": "Hüttenwirt"})

    assert draft["description"] == "Hilft Wanderern, Hütten zu finden."
    assert draft["instructions"] == "Du hilfst Wanderern, Hütten zu finden."


# --- single fields ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        "call it Fjord Pro",
        'name it "Fjord Pro".',
        "rename it to “Fjord Pro”!",
        "The name is Fjord Pro",
        "nenne ihn Fjord Pro",
        "der Name ist „Fjord Pro“",
        "Er soll Fjord Pro heißen.",
    ],
)
def test_naming(message: str) -> None:
    assert updates(message) == {"name": "Fjord Pro"}


def test_a_bare_answer_to_the_name_question_is_the_name() -> None:
    draft, reply = chat("Fjord Guide")

    assert draft == {"name": "Fjord Guide"}
    assert "what should it help with" in reply


@pytest.mark.parametrize(
    ("message", "line"),
    [
        ("use a friendly tone", "Use a friendly tone."),
        ("Formal tone, please.", "Use a formal tone."),
        ("be concise", "Use a concise tone."),
        ("The tone should be playful and warm", "Use a playful and warm tone."),
        ("freundlicher Ton", "Verwende einen freundlichen Ton."),
        ("sei förmlich", "Verwende einen förmlichen Ton."),
        ("Der Ton soll locker sein.", "Verwende einen lockeren Ton."),
    ],
)
def test_tone_becomes_one_instruction_line(message: str, line: str) -> None:
    draft, _ = chat(message, draft={"name": "Fjord Guide", "instructions": "You help tourists."})

    assert lines(draft) == ["You help tourists.", line]


def test_a_new_tone_replaces_the_old_one_in_place() -> None:
    draft, _ = chat(
        "use a formal tone", "Always cite sources.", "casual tone", "sei freundlich", draft=FJORD_GUIDE
    )

    assert lines(draft) == [
        "You help tourists plan fjord trips.",
        "Verwende einen freundlichen Ton.",
        "Always cite sources.",
    ]


@pytest.mark.parametrize(
    ("message", "language", "line"),
    [
        ("answer in German", "de", "Always answer in German."),
        ("Respond in English only.", "en", "Always answer in English."),
        ("antworte auf Deutsch", "de", "Antworte immer auf Deutsch."),
        ("auf Englisch", "en", "Antworte immer auf Englisch."),
        ("antworte immer auf Isländisch", "is", "Antworte immer auf Isländisch."),
        ("language: nb", "nb", "Always answer in Norwegian Bokmål."),
    ],
)
def test_answer_language(message: str, language: str, line: str) -> None:
    draft, _ = chat(message, draft={"name": "Fjord Guide", "instructions": "You help tourists."})

    assert draft["language"] == language
    assert lines(draft) == ["You help tourists.", line]


@pytest.mark.parametrize("code", sorted(LANGUAGES))
def test_every_supported_language_by_its_english_and_german_name(code: str) -> None:
    english, german, _ = LANGUAGES[code]

    assert updates(f"answer in {english}", draft={"name": "Polyglot"})["language"] == code
    assert updates(f"antworte auf {german}", draft={"name": "Polyglot"})["language"] == code


def test_a_new_language_replaces_the_old_language_line() -> None:
    draft, _ = chat("answer in German", "Never guess ferry times.", "respond in French", draft=FJORD_GUIDE)

    assert draft["language"] == "fr"
    assert lines(draft) == [
        "You help tourists plan fjord trips.",
        "Use a friendly tone.",
        "Always answer in French.",
        "Never guess ferry times.",
    ]


def test_answering_in_the_users_language_clears_the_language() -> None:
    draft, _ = chat("answer in German", "answer in the user's language", draft=FJORD_GUIDE)

    assert draft["language"] is None
    assert lines(draft)[-1] == "Answer in the language the user writes in."


@pytest.mark.parametrize(
    "message",
    [
        "add a conversation starter: When is the best time to visit?",
        "starter: When is the best time to visit?",
        "Gesprächseinstieg: When is the best time to visit?",
    ],
)
def test_conversation_starters_are_appended(message: str) -> None:
    assert updates(message) == {
        "conversation_starters": ["What should I pack?", "When is the best time to visit?"]
    }


def test_several_starters_at_once() -> None:
    draft, _ = chat("starters:\n- Which fjord first?\n- What does a ferry cost?", draft=FJORD_GUIDE)

    assert draft["conversation_starters"] == [
        "What should I pack?",
        "Which fjord first?",
        "What does a ferry cost?",
    ]


def test_starters_are_not_duplicated() -> None:
    assert updates("starter: what should I pack") == {}


def test_a_fifth_starter_is_refused_politely() -> None:
    full = {**FJORD_GUIDE, "conversation_starters": ["A?", "B?", "C?", "D?"]}

    turn = offline_turn(full, "starter: E?", categories=list(DEFAULT_CATEGORIES))

    assert turn.updates == {}
    assert "already 4 conversation starters" in turn.reply


@pytest.mark.parametrize(
    ("message", "category"),
    [
        ("category: education", "education"),
        ("set the category to Programming", "programming"),
        ("Kategorie: Bildung", "education"),
        ("Kategorie: Produktivität", "productivity"),
        ("Kategorie: Geschäft", "business"),
        ("Kategorie: Sonstiges", "other"),
    ],
)
def test_category(message: str, category: str) -> None:
    assert updates(message) == {"category": category}


def test_an_unknown_category_changes_nothing_and_lists_the_valid_ones() -> None:
    turn = offline_turn(FJORD_GUIDE, "category: cooking", categories=list(DEFAULT_CATEGORIES))
    german = offline_turn(FJORD_GUIDE, "Kategorie: Kochen", categories=list(DEFAULT_CATEGORIES))

    assert turn.updates == {} and german.updates == {}
    assert ", ".join(DEFAULT_CATEGORIES) in turn.reply
    assert "keine Kategorie" in german.reply


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("description: Your fjord trip planner, from ferries to huts.", {
            "description": "Your fjord trip planner, from ferries to huts."}),
        ("Beschreibung: Dein Reiseplaner für Fjorde.", {"description": "Dein Reiseplaner für Fjorde."}),
        ("welcome message: Hi! Which fjord?", {"welcome_message": "Hi! Which fjord?"}),
        ("Begrüßung: „Hallo! Welcher Fjord?“", {"welcome_message": "Hallo! Welcher Fjord?"}),
        ("tags: Travel, #Norway, hiking", {"tags": ["travel", "norway", "hiking"]}),
    ],
)  # fmt: skip
def test_keyed_fields(message: str, expected: dict[str, object]) -> None:
    assert updates(message) == expected


# --- instructions and safety -----------------------------------------------------------------------


def test_other_sentences_become_instruction_lines_once() -> None:
    draft, reply = chat(
        "Always mention the ferry schedule. It should suggest hidden gems.",
        "Always mention the ferry schedule.",
        draft=FJORD_GUIDE,
    )

    assert lines(draft) == [
        "You help tourists plan fjord trips.",
        "Use a friendly tone.",
        "Always mention the ferry schedule.",
        "You should suggest hidden gems.",
    ]
    assert "already there" in reply


def test_german_sentences_are_addressed_to_the_gpt() -> None:
    draft, _ = chat("Er soll keine Fährzeiten erfinden.", draft=FJORD_GUIDE)

    assert lines(draft)[-1] == "Du sollst keine Fährzeiten erfinden."


def test_questions_and_small_talk_do_not_become_instructions() -> None:
    assert updates("What can you do?") == {}
    assert updates("thanks!") == {}
    assert updates("Wer bist du?") == {}


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ("call it Fjord Pro", "name"),
        ("use a formal tone", "instructions"),
        ("Never invent prices.", "instructions"),
        ("starter: Best time to go?", "conversation_starters"),
        ("category: education", "category"),
        ("description: Fjord trips made easy.", "description"),
        ("welcome message: Hi!", "welcome_message"),
        ("tags: norway", "tags"),
    ],
)
def test_a_message_changes_only_the_field_it_addresses(message: str, field: str) -> None:
    changed = updates(message)

    assert list(changed) == [field]
    if field == "instructions":
        assert lines(changed)[0] == "You help tourists plan fjord trips."


def test_fields_stay_within_their_limits() -> None:
    long_name = "Fjord " * 20
    draft, reply = chat(f"call it {long_name}", f"description: {'very long text ' * 40}")

    assert len(draft["name"]) <= 64 and draft["name"].startswith("Fjord Fjord")
    assert len(draft["description"]) <= 300
    assert "shortened" in reply
    assert updates(f"starter: {'why ' * 60}?") == {}
    assert updates("Be brief.", draft={**FJORD_GUIDE, "instructions": "x" * 31_995}) == {}


# --- the conversation ------------------------------------------------------------------------------


def test_the_reply_lists_changes_in_the_language_of_the_message() -> None:
    _, english = chat("call it Fjord Pro, use a formal tone", draft=FJORD_GUIDE)
    _, german = chat("nenne ihn Fjord Pro und sei förmlich", draft=FJORD_GUIDE)

    assert "Updated: name → “Fjord Pro”, tone → formal." in english
    assert "Geändert: Name → „Fjord Pro“, Ton → förmlich." in german


def test_it_asks_the_next_useful_question_in_order() -> None:
    asked = []
    draft: dict[str, object] = {}
    for message in [
        "hi",
        "call it Fjord Guide",
        "it helps tourists plan fjord trips",
        "friendly tone",
        "starter: What should I pack?",
    ]:
        draft, reply = chat(message, draft=draft)
        asked.append(reply.split("\n\n")[-1])

    assert "called" in asked[0]
    assert "what should it help with" in asked[1]
    assert "Which tone" in asked[2]
    assert "conversation starters" in asked[3]
    assert "Knowledge section" in asked[4] and "publish" in asked[4]


def test_the_example_in_the_builders_greeting_is_understood() -> None:
    """The first thing a new creator types is often the greeting's own example: it was turned down."""
    import re
    from pathlib import Path

    editor = (Path(__file__).parents[2] / "web" / "templates" / "builder" / "editor.html").read_text()
    example = re.search(r'e\.g\. "([^"]+)"', editor).group(1)
    draft, reply = chat(example)
    assert draft.get("description") and "didn't understand" not in reply
