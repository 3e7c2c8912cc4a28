"""Tools in the web chat: each call's status line, and Approve / Decline for a call waiting for the user,
working without JavaScript (a form post) and streamed (what static/app.js reads)."""

from __future__ import annotations

import re

from tests.fake_openai import text, tool_call
from tests.tools.chatkit import create_tool_gpt, publish_and_start, sse_events
from tests.web.test_pages import HTML, log_in
from web.session import CSRF_COOKIE


async def test_the_chat_page_shows_calls_and_asks_before_a_consequential_one(
    tool_client, creator, creator_headers, tools_api, fake_openai
):
    gpt_id = await create_tool_gpt(tool_client, creator_headers, tools_api)
    conversation = await publish_and_start(tool_client, creator_headers, gpt_id)
    await log_in(tool_client, creator.email)
    token = tool_client.cookies.get(CSRF_COOKIE)
    chat = f"/chats/{conversation}"
    fake_openai.script(
        tool_call("listTrips", {}),
        tool_call("createTrip", {"body": {"destination": "Oslo <b>"}}),
    )

    sent = await tool_client.post(
        f"{chat}/messages", data={"content": "Book Oslo", "csrf_token": token}, headers=HTML
    )
    assert sent.status_code == 303
    page = (await tool_client.get(chat, headers=HTML)).text

    assert re.search(r"listTrips on 127\.0\.0\.1: completed \(\d+ ms\)", page)
    assert "wants to call <strong>createTrip</strong> on <strong>127.0.0.1</strong>" in page
    assert "Oslo &lt;b&gt;" in page or "Oslo \\u003cb\\u003e" in page  # arguments are escaped
    call_id = re.search(r'name="call_id" value="([^"]+)"', page).group(1)
    assert 'name="approve" value="true"' in page and 'name="approve" value="false"' in page

    fake_openai.script(text("Booked Oslo."))
    decided = await tool_client.post(
        f"{chat}/approvals",
        data={"call_id": call_id, "approve": "true", "always": "true", "csrf_token": token},
        headers=HTML,
    )

    assert decided.status_code == 303
    page = (await tool_client.get(chat, headers=HTML)).text
    assert "Booked Oslo." in page and 'name="call_id"' not in page
    assert re.search(r"createTrip on 127\.0\.0\.1: completed", page)
    assert [r.method for r in tools_api.requests] == ["GET", "POST"]

    # the GPT's page lists the approval for good, and revokes it
    gpt_page = (await tool_client.get(f"/g/{gpt_id}", headers=HTML)).text
    assert "Calls you allowed for good" in gpt_page and 'aria-label="Revoke createTrip"' in gpt_page
    revoked = await tool_client.post(
        f"/g/{gpt_id}/tool_approvals/createTrip/revoke", data={"csrf_token": token}, headers=HTML
    )
    assert revoked.status_code == 303 and revoked.headers["location"] == f"/g/{gpt_id}#h-approvals"
    assert "Calls you allowed for good" not in (await tool_client.get(f"/g/{gpt_id}", headers=HTML)).text


async def test_the_web_chat_streams_call_events(
    tool_client, creator, creator_headers, tools_api, fake_openai
):
    gpt_id = await create_tool_gpt(tool_client, creator_headers, tools_api)
    conversation = await publish_and_start(tool_client, creator_headers, gpt_id)
    await log_in(tool_client, creator.email)
    token = tool_client.cookies.get(CSRF_COOKIE)
    fake_openai.script(tool_call("getTrip", {"trip_id": "t1"}), text("Lisbon."))

    streamed = await tool_client.post(
        f"/chats/{conversation}/messages",
        data={"content": "Trip t1?"},
        headers={"Accept": "text/event-stream", "X-CSRF-Token": token},
    )

    names = [name for name, _ in sse_events(streamed.text)]
    assert names[:2] == ["tool_call.started", "tool_call.ended"] and names[-1] == "done"


async def test_the_builder_preview_shows_calls_and_asks_before_a_consequential_one(
    tool_client, creator, creator_headers, tools_api, fake_openai
):
    gpt_id = await create_tool_gpt(tool_client, creator_headers, tools_api)
    await log_in(tool_client, creator.email)
    token = tool_client.cookies.get(CSRF_COOKIE)
    fake_openai.script(tool_call("listTrips", {}), tool_call("createTrip", {"body": {"destination": "Oslo"}}))

    sent = await tool_client.post(
        f"/builder/{gpt_id}/preview", data={"content": "Book Oslo", "csrf_token": token}, headers=HTML
    )
    assert sent.status_code == 303
    page = (await tool_client.get(sent.headers["location"], headers=HTML)).text
    assert re.search(r"listTrips on 127\.0\.0\.1: completed \(\d+ ms\)", page)
    assert "wants to call <strong>createTrip</strong> on <strong>127.0.0.1</strong>" in page
    call_id = re.search(r'name="call_id" value="([^"]+)"', page).group(1)
    conversation_id = re.search(r'name="conversation_id" value="([^"]+)"', page).group(1)

    fake_openai.script(text("Booked Oslo."))
    decided = await tool_client.post(
        f"/builder/{gpt_id}/preview/approvals",
        data={"conversation_id": conversation_id, "call_id": call_id, "approve": "true", "csrf_token": token},
        headers=HTML,
    )

    assert decided.status_code == 303
    page = (await tool_client.get(decided.headers["location"], headers=HTML)).text
    assert "Booked Oslo." in page and 'name="call_id"' not in page
    assert [r.method for r in tools_api.requests] == ["GET", "POST"]
    # Without the CSRF token the decision is refused before anything runs.
    refused = await tool_client.post(
        f"/builder/{gpt_id}/preview/approvals",
        data={"conversation_id": conversation_id, "call_id": call_id, "approve": "true"},
        headers=HTML,
    )
    assert refused.status_code == 403


async def test_a_call_decided_in_another_tab_shows_the_chat_with_the_reason(
    tool_client, creator, creator_headers, tools_api, fake_openai
):
    gpt_id = await create_tool_gpt(tool_client, creator_headers, tools_api)
    conversation = await publish_and_start(tool_client, creator_headers, gpt_id)
    await log_in(tool_client, creator.email)
    token = tool_client.cookies.get(CSRF_COOKIE)
    chat = f"/chats/{conversation}"
    fake_openai.script(tool_call("createTrip", {"body": {"destination": "Oslo"}}), text("Booked Oslo."))
    await tool_client.post(
        f"{chat}/messages", data={"content": "Book Oslo", "csrf_token": token}, headers=HTML
    )
    page = (await tool_client.get(chat, headers=HTML)).text
    call_id = re.search(r'name="call_id" value="([^"]+)"', page).group(1)
    form = {"call_id": call_id, "always": "", "csrf_token": token}
    approved = await tool_client.post(f"{chat}/approvals", data={**form, "approve": "true"}, headers=HTML)
    assert approved.status_code == 303

    declined = await tool_client.post(f"{chat}/approvals", data={**form, "approve": "false"}, headers=HTML)

    assert declined.status_code == 404
    assert "Booked Oslo." in declined.text  # the chat, with the outcome of the first decision
    assert re.search(r"createTrip on 127\.0\.0\.1: completed", declined.text)
    assert 'id="e-call"' in declined.text and "no longer waits for approval" in declined.text
    assert call_id not in declined.text.replace(f'value="{call_id}"', "")  # no raw id in the reason
    assert 'name="content"' in declined.text  # the composer: the user goes on from here
