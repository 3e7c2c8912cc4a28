"""Probes of the merged hardening (#8) with other inputs of each fault kind than the issue's own.

Each test is one kind of input a new user or an attacker sends that the first round did not name: an
e-mail in another Unicode form, an empty list of content parts, a seed no provider takes, a command to the
offline builder that is not a rule.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from builder.models import Gpt
from builder.offline import offline_turn
from retrieval.parsing.encoding import decode_or_none
from tests.factories import auth_headers
from tests.hardening.concurrency import count, new_user, published, stored_blobs, together, upload
from tests.store.factories import create_conversation, create_published_gpt

NFD_EMAIL = "jose\u0301@example.com"  # "josé" with a combining accent, as macOS keyboards type it
NFC_EMAIL = "jos\u00e9@example.com"


async def test_an_account_is_found_by_its_email_and_password_in_any_unicode_form(client):
    signup = await client.post(
        "/api/auth/signup", json={"email": NFD_EMAIL, "password": "xxxxxxxx", "display_name": "José"}
    )
    assert signup.status_code == 201, signup.text
    for email in (NFD_EMAIL, NFC_EMAIL, NFC_EMAIL.upper()):
        login = await client.post("/api/auth/login", json={"email": email, "password": "xxxxxxxx"})
        assert login.status_code == 200, (email, login.text)
    nfd_password = await client.post(
        "/api/auth/signup",
        json={"email": "pw@example.com", "password": "pa\u0308sswort1", "display_name": "P"},
    )
    assert nfd_password.status_code == 201
    login = await client.post(
        "/api/auth/login", json={"email": "pw@example.com", "password": "p\u00e4sswort1"}
    )
    assert login.status_code == 200, login.text
    again = await client.post(
        "/api/auth/signup", json={"email": NFC_EMAIL, "password": "xxxxxxxx", "display_name": "José"}
    )
    assert again.status_code == 409


@pytest.fixture
async def gpt_id(session, creator) -> str:
    return str((await create_published_gpt(session, creator)).gpt_id)


V1_REFUSALS = [
    pytest.param({"messages": [{"role": "user", "content": []}]}, "messages[0].content", id="empty-parts"),
    pytest.param(
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {}}]}]},
        "messages[0].content[0].cache_control",
        id="unknown-key-in-a-text-part",
    ),
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


# A GPT deleted while it is in use ----------------------------------------------------------------------


async def test_a_gpt_deleted_while_in_use_is_deleted_whole_or_kept_whole(race_client, race_db, race_settings):
    creator, listing = await published(race_db, race_settings)
    gpt_id = str(listing.gpt_id)
    owner = auth_headers(creator, race_settings)
    added = await upload(race_client, gpt_id, owner, b"The ferry leaves at nine from the north pier.")
    assert added.status_code == 202, added.text
    user = await new_user(race_db, race_settings)
    async with race_db.session_scope() as session:
        conversation = await create_conversation(session, user, listing.gpt_id)
    reader = auth_headers(user, race_settings)

    gpt_url, chat_url = f"/api/gpts/{gpt_id}", f"/api/conversations/{conversation.id}/messages"
    hi = {"content": "hi"}
    responses = await together(
        [
            race_client.delete(gpt_url, headers=owner),
            race_client.delete(gpt_url, headers=owner),
            race_client.put(f"/api/store/gpts/{gpt_id}/rating", json={"stars": 4}, headers=reader),
            race_client.post(chat_url, json=hi, headers=reader),
            race_client.post(f"{gpt_url}/builder/messages", json={"content": "Always cite."}, headers=owner),
            race_client.post(f"{gpt_url}/preview/messages", json=hi, headers=owner),
            race_client.post(f"{gpt_url}/unpublish", headers=owner),
            race_client.post(f"{gpt_url}/publish", json={"visibility": "public"}, headers=owner),
        ]
    )

    assert not [r.text for r in responses if r.status_code >= 500 and r.status_code != 503]
    assert all("retry-after" in r.headers for r in responses if r.status_code == 503)
    deletes = sorted(r.status_code for r in responses[:2])
    kept = await count(race_db, sa.select(Gpt.id).where(Gpt.id == listing.gpt_id))
    if 204 in deletes:  # as one after the other: the second deletion finds nothing
        assert deletes in ([204, 404], [204, 503]) and kept == 0 and stored_blobs(race_settings) == []
    else:  # refused under load: nothing is lost, the upload is still there
        assert deletes == [503, 503] and kept == 1 and len(stored_blobs(race_settings)) == 1


# Short legacy 8-bit texts whose likeliest chardet guess puts foreign letters inside Latin words ----------

LEGACY_TEXTS = [
    ("cp1250", "Zażółć gęślą jaźń. Příliš žluťoučký kůň úpěl ďábelské ódy."),  # was read as Greek
    ("cp1252", "Café crème brûlée à la carte."),  # was read as Cyrillic ("Cafй")
    ("cp1251", "Привет, мир! Сотрудники компании."),
    ("koi8_r", "Привет, мир! Сотрудники компании."),
    ("cp1253", "Καλημέρα κόσμε, οι υπάλληλοι."),
    ("cp1254", "Şirket çalışanları için kurallar."),
    ("cp1255", "שלום עולם, עובדי החברה."),
    ("cp1256", "مرحبا بالعالم، موظفو الشركة."),
    ("cp1257", "Labdien, darbinieki. Ačiū labai, ąžuolas."),
    ("cp1252", "Größe und Maße für Bücher."),
]


@pytest.mark.parametrize(("codec", "text"), LEGACY_TEXTS)
def test_a_short_legacy_text_decodes_to_its_own_script(codec, text):
    assert decode_or_none(text.encode(codec)) == text
