"""Probes of the merged hardening (#8) with other inputs of each fault kind than the issue's own.

Each test is one kind of input a new user or an attacker sends that the first round did not name: an
e-mail in another Unicode form, an empty list of content parts, a seed no provider takes, a command to the
offline builder that is not a rule.
"""

from __future__ import annotations

import pytest

from builder.offline import offline_turn

NFD_EMAIL = "jose\u0301@example.com"  # "josé" with a combining accent, as macOS keyboards type it
NFC_EMAIL = "jos\u00e9@example.com"


async def test_an_account_is_found_by_its_email_in_any_unicode_form(client):
    signup = await client.post(
        "/api/auth/signup", json={"email": NFD_EMAIL, "password": "xxxxxxxx", "display_name": "José"}
    )
    assert signup.status_code == 201, signup.text
    for email in (NFD_EMAIL, NFC_EMAIL, NFC_EMAIL.upper()):
        login = await client.post("/api/auth/login", json={"email": email, "password": "xxxxxxxx"})
        assert login.status_code == 200, (email, login.text)
    again = await client.post(
        "/api/auth/signup", json={"email": NFC_EMAIL, "password": "xxxxxxxx", "display_name": "José"}
    )
    assert again.status_code == 409


@pytest.fixture
async def gpt_id(session, creator) -> str:
    from tests.store.factories import create_published_gpt

    return str((await create_published_gpt(session, creator)).gpt_id)


V1_REFUSALS = [
    pytest.param({"messages": [{"role": "user", "content": []}]}, "messages[0].content", id="empty-parts"),
    pytest.param({"seed": 2**63}, "seed", id="seed-above-int64"),
    pytest.param({"seed": -(2**63) - 1}, "seed", id="seed-below-int64"),
]


@pytest.mark.parametrize(("change", "param"), V1_REFUSALS)
async def test_v1_refuses_what_no_provider_takes_naming_the_parameter(
    client, creator_headers, gpt_id, change, param
):
    body = {"model": gpt_id, "messages": [{"role": "user", "content": "hi"}], **change}
    response = await client.post("/v1/chat/completions", json=body, headers=creator_headers)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", param)


# Commands to the builder that name no value, and requests to the builder itself: never instruction lines.
BUILDER_COMMANDS = [
    "Nenne ihn",
    "Nenne ihn bitte",
    "Benenne ihn um",
    "Call it something nicer",
    "Give it a better name",
    "Translate the instructions to German",
    "Start over",
    "Tell me a joke",
    "Write me a poem about mountains",
]
DRAFT = {
    "name": "Alpine Buddy",
    "description": "Helps plan trips in the Alps.",
    "instructions": "You help hikers plan trips in the Alps.",
    "welcome_message": "",
    "conversation_starters": ["What should I pack?"],
    "tags": [],
    "category": None,
    "language": "en",
}


@pytest.mark.parametrize("message", BUILDER_COMMANDS)
def test_an_offline_builder_command_without_a_value_changes_nothing_and_says_so(message):
    turn = offline_turn(DRAFT, message, categories=["travel"], undoable=None)
    assert turn.updates == {}, turn.updates
    assert message.rstrip(".") in turn.reply
