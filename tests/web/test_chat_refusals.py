"""A chat message the server cannot answer, posted without JavaScript, comes back to the chat with the
reason at the message box and the message still in it: never an error page that loses what was typed.
And a chat is the user's to delete."""

from __future__ import annotations

import re

from tests.factories import create_user
from tests.fake_openai import error
from tests.store.factories import create_conversation, create_published_gpt
from tests.web.test_builder_pages import signed_in_draft
from tests.web.test_pages import HTML, log_in
from web.session import CSRF_COOKIE

TYPED = "A long question, typed with care: which fjord in June? 🐙"


def message_box(page: str) -> str:
    found = re.search(r'<textarea id="content"[^>]*>(.*?)</textarea>', page, re.S)
    assert found, "the chat keeps its message box"
    return found.group(1)


async def test_a_failing_provider_keeps_the_typed_message_at_the_box(
    llm_client, fake_openai, session, creator, llm_settings
):
    listing = await create_published_gpt(session, creator, name="Fjord Guide")
    user = await create_user(session, llm_settings)
    await log_in(llm_client, user.email)
    token = llm_client.cookies.get(CSRF_COOKIE)
    start = await llm_client.post(f"/g/{listing.gpt_id}/chat", data={"csrf_token": token}, headers=HTML)
    chat_path = start.headers["location"]

    fake_openai.script(error(500))
    sent = await llm_client.post(
        f"{chat_path}/messages", data={"content": TYPED, "csrf_token": token}, headers=HTML
    )
    assert sent.status_code == 502 and "Fjord Guide" in sent.text  # the chat, not an error page
    assert message_box(sent.text) == "A long question, typed with care: which fjord in June? 🐙"
    assert 'id="e-content"' in sent.text and "provider" in sent.text
    again = await llm_client.get(chat_path, headers=HTML)
    assert 'class="message user"' not in again.text  # the failed turn left nothing behind

    sent = await llm_client.post(  # sent again, it is answered
        f"{chat_path}/messages", data={"content": TYPED, "csrf_token": token}, headers=HTML
    )
    assert sent.status_code == 303


async def test_a_refused_message_keeps_what_was_typed(client, session, creator, settings):
    listing = await create_published_gpt(session, creator, name="Fjord Guide")
    user = await create_user(session, settings)
    await log_in(client, user.email)
    token = client.cookies.get(CSRF_COOKIE)
    start = await client.post(f"/g/{listing.gpt_id}/chat", data={"csrf_token": token}, headers=HTML)
    too_long = "fjord " * 2000
    sent = await client.post(
        f"{start.headers['location']}/messages", data={"content": too_long, "csrf_token": token}, headers=HTML
    )
    assert sent.status_code == 422 and 'id="e-content"' in sent.text
    assert message_box(sent.text) == too_long


async def test_the_builder_and_the_preview_keep_a_message_the_provider_failed(
    llm_client, fake_openai, session, creator, llm_settings
):
    path = await signed_in_draft(llm_client, session, llm_settings, creator, name="Chef")
    csrf = llm_client.cookies.get(CSRF_COOKIE)
    fake_openai.script(error(500))
    built = await llm_client.post(
        f"{path}/messages", data={"csrf_token": csrf, "content": "Make it cook pasta"}, headers=HTML
    )
    assert built.status_code == 502 and 'id="e-builder_content"' in built.text
    assert ">Make it cook pasta</textarea>" in built.text

    fake_openai.script("Boil water.")
    first = await llm_client.post(
        f"{path}/preview", data={"csrf_token": csrf, "content": "How?"}, headers=HTML
    )
    conversation = first.headers["location"].split("c=")[1].split("#")[0]
    fake_openai.script(error(503))
    asked = await llm_client.post(
        f"{path}/preview",
        data={"csrf_token": csrf, "content": "And then?", "conversation_id": conversation},
        headers=HTML,
    )
    assert asked.status_code == 503 and 'id="e-preview_content"' in asked.text
    assert ">And then?</textarea>" in asked.text
    assert "Boil water." in asked.text  # the preview chat it belongs to stays on the page
    assert f'name="conversation_id" value="{conversation}"' in asked.text


async def test_a_user_deletes_a_chat_once_the_box_is_ticked(client, session, settings, creator):
    listing = await create_published_gpt(session, creator, name="Fjord Guide")
    user = await create_user(session, settings)
    mine = await create_conversation(session, user, listing.gpt_id, "Packing for Norway")
    theirs = await create_conversation(session, creator, listing.gpt_id, "Not yours")
    await session.commit()
    await log_in(client, user.email)
    token = client.cookies.get(CSRF_COOKIE)
    assert 'action="/chats/' in (await client.get(f"/chats/{mine.id}", headers=HTML)).text

    unticked = await client.post(f"/chats/{mine.id}/delete", data={"csrf_token": token}, headers=HTML)
    assert unticked.status_code == 422 and 'id="e-confirm"' in unticked.text
    assert f'href="/chats/{mine.id}"' in (await client.get("/chats", headers=HTML)).text
    form = {"csrf_token": token, "confirm": "yes"}
    other = await client.post(f"/chats/{theirs.id}/delete", data=form, headers=HTML)
    assert other.status_code == 404  # another user's chat is none of theirs to delete
    assert (await client.post(f"/chats/{mine.id}/delete", data={"confirm": "yes"})).status_code == 403

    deleted = await client.post(f"/chats/{mine.id}/delete", data=form, headers=HTML)
    assert deleted.status_code == 303 and deleted.headers["location"] == "/chats?deleted=1"
    listing_page = (await client.get("/chats?deleted=1", headers=HTML)).text
    assert "The chat was deleted." in listing_page and f'href="/chats/{mine.id}"' not in listing_page
    assert (await client.get(f"/chats/{mine.id}", headers=HTML)).status_code == 404
