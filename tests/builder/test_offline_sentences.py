"""Realistic creator sentences (English and German) and exactly what the offline builder makes of them.

The table is tests/data/offline_sentences.yaml. Commands do what they say, statements refine what is there,
rules become one instruction line, questions and sentences it does not understand change nothing, and no
command or question is ever pasted into the instructions.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from builder.offline import offline_turn
from core.settings import DEFAULT_CATEGORIES

_TABLE = yaml.safe_load((Path(__file__).parent.parent / "data" / "offline_sentences.yaml").read_text("utf-8"))
DRAFTS: dict[str, dict[str, object]] = _TABLE["drafts"]
SENTENCES: list[dict[str, object]] = _TABLE["sentences"]
ALPS = DRAFTS["alps"]


def turn(message: str, draft: dict[str, object], undoable: dict[str, object] | None = None):
    return offline_turn(dict(draft), message, categories=list(DEFAULT_CATEGORIES), undoable=undoable)


def chat(draft: dict[str, object], *messages: str) -> tuple[dict[str, object], str]:
    """Send `messages` one after another; the draft with every update applied, and the last reply."""
    draft = dict(draft)
    reply = ""
    for message in messages:
        result = turn(message, draft)
        draft |= (result.reverted or {}) | result.updates
        reply = result.reply
    return draft, reply


def _core(text: str) -> str:
    return re.sub(r"[\s.!?]+$", "", text).casefold()


def test_the_table_has_enough_sentences_in_both_languages() -> None:
    german_word = re.compile(r"\b(?:ich|ist|er|es|für|ihn|den|die|der|das|und|sei|nenne)\b|[äöüß]", re.I)
    german = [s for s in SENTENCES if german_word.search(s["say"])]
    assert len(SENTENCES) >= 60
    assert len(german) >= 25 and len(SENTENCES) - len(german) >= 25
    assert {s["kind"] for s in SENTENCES} == {"command", "statement", "rule", "question", "unknown"}


@pytest.mark.parametrize("case", SENTENCES, ids=[str(s["say"])[:60] for s in SENTENCES])
def test_sentence(case: dict[str, object]) -> None:
    draft = DRAFTS[case["draft"]]
    result = turn(case["say"], draft, case.get("undoable"))

    assert result.updates == case["expect"]
    assert result.reverted == case.get("reverted")
    if "reply" in case:
        assert case["reply"] in result.reply
    instructions = str(result.updates.get("instructions", draft.get("instructions", "")))
    if case["kind"] != "rule":
        assert _core(case["say"]) not in instructions.casefold()
    if case["kind"] in ("question", "unknown"):
        assert result.updates == {}


@pytest.mark.parametrize(
    "message",
    [
        "The huts open in June.",
        "Make the description shorter.",
        "Hmm, maybe something with more mountains",
        "Do the thing from before",
        "Die Hütten öffnen im Juni.",
        "Mach die Beschreibung kürzer.",
        "Irgendwas mit Bergen vielleicht",
        "Entferne das da.",
    ],
)
def test_a_sentence_it_does_not_understand_is_asked_back_and_changes_nothing(message: str) -> None:
    result = turn(message, ALPS)

    assert result.updates == {}
    assert "didn't understand" in result.reply or "nicht verstanden" in result.reply
    assert result.reply.count("?") >= 1  # a specific question back


def test_refinement_over_several_turns_keeps_what_is_there() -> None:
    draft, _ = chat(
        ALPS,
        "It is for beginners who have never slept in a mountain hut.",
        "It also helps them book huts.",
        "Always mention the weather forecast.",
        "Actually, it is for families with kids.",
        "more formal",
    )

    assert (
        draft["description"]
        == "Helps hikers plan trips in the Alps and helps them book huts. For families with kids."
    )
    assert draft["instructions"] == (
        "You help hikers plan trips in the Alps and help them book huts.\n"
        "Your users are families with kids.\n"
        "Use a formal tone.\n"
        "Always mention the weather forecast."
    )
    assert draft["name"] == "Hut Buddy"


def test_german_refinement_over_several_turns() -> None:
    draft, reply = chat(
        DRAFTS["alpen"],
        "Es ist für Anfänger, die noch nie in einer Berghütte geschlafen haben.",
        "Er kennt alle Hütten in Tirol.",
        "Nenne ihn Alpen-Kumpel wieder, freundlicher Ton",
        "Entferne den Einstieg über Eis.",
    )

    assert draft["name"] == "Alpen-Kumpel"
    assert draft["description"] == (
        "Hilft Wanderern, Touren in den Alpen zu planen. Kennt alle Hütten in Tirol. "
        "Für Anfänger, die noch nie in einer Berghütte geschlafen haben."
    )
    assert draft["instructions"] == (
        "Du hilfst Wanderern, Touren in den Alpen zu planen.\n"
        "Deine Nutzer sind Anfänger, die noch nie in einer Berghütte geschlafen haben.\n"
        "Verwende einen freundlichen Ton.\n"
        "Du kennst alle Hütten in Tirol."
    )
    assert draft["conversation_starters"] == [
        "Was packe ich für die Hüttennacht ein?",
        "Welche Hütte hat im Juni offen?",
    ]
    assert "Gesprächseinstieg − „Wie gehe ich sicher über Eis?“" in reply


def test_undo_then_a_change_in_one_message() -> None:
    result = turn("undo, then call it Ridge Runner", ALPS, undoable={"name": "Hut Pal", "tags": []})

    assert result.reverted == {"name": "Hut Pal", "tags": []}
    assert result.updates == {"name": "Ridge Runner"}


def test_a_starter_that_matches_twice_is_asked_about() -> None:
    draft = {**ALPS, "conversation_starters": ["Which hut has showers?", "Which hut takes dogs?"]}

    result = turn("Remove the starter about hut.", draft)

    assert result.updates == {}
    assert "Which one do you mean?" in result.reply


async def test_undo_typed_in_the_chat_is_the_undo_endpoint(client, creator_headers) -> None:
    gpt_id = (await client.post("/api/gpts", headers=creator_headers)).json()["id"]
    url = f"/api/gpts/{gpt_id}/builder/messages"
    await client.post(url, json={"content": "call it Hut Buddy"}, headers=creator_headers)
    await client.post(url, json={"content": "rename it Hut Pal"}, headers=creator_headers)

    undone = (await client.post(url, json={"content": "undo"}, headers=creator_headers)).json()
    assert undone["gpt"]["name"] == "Hut Buddy"
    assert undone["changes"] == [
        {"field": "name", "before": "Hut Pal", "after": "Hut Buddy", "label": "Name"}
    ]
    again = (await client.post(url, json={"content": "mach das rückgängig"}, headers=creator_headers)).json()
    assert again["gpt"]["name"] == ""  # like the endpoint: one more turn back, not a redo

    history = (await client.get(url, headers=creator_headers)).json()["data"]
    assistant = [m for m in history if m["role"] == "assistant"]
    assert [m["undone"] for m in assistant] == [True, True, False, False]
    assert assistant[2]["changes"] == [] and assistant[3]["changes"] == []
    nothing = await client.post(f"/api/gpts/{gpt_id}/builder/undo", headers=creator_headers)
    assert nothing.status_code == 409  # nothing left to undo on a GPT that exists
    assert "undo" not in (again["gpt"]["instructions"] or "")


@pytest.mark.parametrize(
    ("message", "value"),
    [
        ("Delete the fifth starter", "fifth"),
        ("remove the 6th starter", "6th"),
        ("Lösche den fünften Einstieg", "fünften"),
    ],
)
def test_a_starter_past_the_last_is_said_not_to_exist(message: str, value: str) -> None:
    """Not searched for as a topic ("No conversation starter is about 'fifth'")."""
    draft = {**ALPS, "conversation_starters": ["One?", "Two?", "Three?", "Four?"]}

    result = turn(message, draft)

    assert result.updates == {}
    assert f"4 {'conversation starters' if value != 'fünften' else 'Gesprächseinstiege'}" in result.reply
    assert value in result.reply and "is about" not in result.reply
