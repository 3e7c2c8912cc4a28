"""A version that moderation rejects never runs again: conversations (and embedded chat windows) pinned to it
go on with the GPT's live version, and the calls its replies left waiting for approval are refused."""

from __future__ import annotations

from tests.factories import auth_headers, create_user
from tests.fake_openai import text, tool_call
from tests.tools.servers import OPENAPI_DOCUMENT
from tests.web.test_embed import open_window

STREAM = {"Accept": "text/event-stream"}


async def two_versions(client, headers, tools_api) -> str:
    """A GPT published by link as version 1 without tools, then as version 2 with the trips action."""
    created = await client.post(
        "/api/gpts", json={"name": "Trip Planner", "instructions": "Plan."}, headers=headers
    )
    gpt_id = created.json()["id"]
    first = await client.post(f"/api/gpts/{gpt_id}/publish", json={"visibility": "link"}, headers=headers)
    assert first.status_code == 201, first.text
    action = await client.post(
        f"/api/gpts/{gpt_id}/actions",
        json={
            "document": OPENAPI_DOCUMENT.read_text(),
            "server_url": tools_api.base_url,
            "privacy_policy_url": "https://trips.example.com/privacy",
        },
        headers=headers,
    )
    assert action.status_code == 201, action.text
    second = await client.post(f"/api/gpts/{gpt_id}/publish", json={"visibility": "link"}, headers=headers)
    assert second.status_code == 201 and second.json()["number"] == 2, second.text
    return gpt_id


async def reject(client, session, settings, gpt_id: str, number: int) -> None:
    admin = auth_headers(await create_user(session, settings, is_admin=True), settings)
    moderated = await client.post(
        f"/api/admin/gpts/{gpt_id}/versions/{number}/moderate",
        json={"action": "reject", "reason": "test takedown"},
        headers=admin,
    )
    assert moderated.status_code == 200, moderated.text


def offered(request: dict) -> set[str]:
    return {t["function"]["name"] for t in request.get("tools", [])}


async def test_a_call_of_a_rejected_version_is_refused_and_the_live_version_answers_next(
    tool_client, creator_headers, tools_api, fake_openai, session, tool_settings
):
    gpt_id = await two_versions(tool_client, creator_headers, tools_api)
    user = auth_headers(await create_user(session, tool_settings), tool_settings)
    conversation = (await tool_client.post(f"/api/store/gpts/{gpt_id}/conversations", headers=user)).json()[
        "id"
    ]
    fake_openai.script(tool_call("createTrip", {"body": {"destination": "Oslo"}}))
    url = f"/api/conversations/{conversation}"
    paused = (await tool_client.post(f"{url}/messages", json={"content": "Book Oslo"}, headers=user)).json()
    call_id = paused["message"]["pending_call"]["call_id"]
    assert "createTrip" in offered(fake_openai.chat_requests[-1])

    await reject(tool_client, session, tool_settings, gpt_id, 2)

    for headers in (user, {**user, **STREAM}):
        refused = await tool_client.post(
            f"{url}/approvals", json={"call_id": call_id, "approve": True}, headers=headers
        )
        assert refused.status_code == 409, refused.text
        assert "taken down by moderation" in refused.json()["detail"]
    assert not [r for r in tools_api.requests if r.method == "POST"]  # createTrip never ran

    fake_openai.script(text("Version 1 here."))
    reply = await tool_client.post(f"{url}/messages", json={"content": "Hello again"}, headers=user)

    assert reply.status_code == 200 and reply.json()["message"]["content"] == "Version 1 here."
    assert "createTrip" not in offered(fake_openai.chat_requests[-1])  # version 1 has no tools
    listed = (await tool_client.get(f"{url}/messages", headers=user)).json()["data"]
    assert [m["status"] for m in listed if m["role"] == "assistant"] == ["cancelled", "completed"]
    late = await tool_client.post(
        f"{url}/approvals", json={"call_id": call_id, "approve": True}, headers=user
    )
    assert late.status_code == 404
    assert not [r for r in tools_api.requests if r.method == "POST"]


async def test_an_embedded_window_opened_on_a_rejected_version_is_answered_by_the_live_one(
    tool_client, creator_headers, tools_api, fake_openai, session, tool_settings
):
    gpt_id = await two_versions(tool_client, creator_headers, tools_api)
    response, token = await open_window(tool_client, gpt_id)
    assert response.status_code == 200 and token

    await reject(tool_client, session, tool_settings, gpt_id, 2)
    fake_openai.script(text("Version 1 here."))
    reply = await tool_client.post(
        f"/api/embed/{gpt_id}/messages",
        json={"content": "Hello"},
        headers={"Authorization": f"Bearer {token}"},
    )

    assert reply.status_code == 200 and reply.json()["content"] == "Version 1 here."
    assert "createTrip" not in offered(fake_openai.chat_requests[-1])
