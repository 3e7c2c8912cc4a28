"""Each GPT as an MCP server: the official `mcp` SDK client (streamable HTTP, ClientSession) on the app."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import httpx2
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from core.auth import SESSION_COOKIE, AccountService
from retrieval.verbatim import longest_run
from store import usage
from store.openai_ids import conversation_key
from tests.asgi import app_client, reused_app
from tests.factories import auth_headers, create_user
from tests.fake_openai import text
from tests.store.factories import create_published_gpt
from tests.trust.helpers import INSTRUCTIONS, OPEN, PRIVATE, SCOOP, build_gpt, leak

BASE = "http://testserver"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@asynccontextmanager
async def running(settings, db, redis) -> AsyncIterator[tuple[object, httpx.AsyncClient]]:
    async with reused_app(settings, db=db, redis=redis) as app, app_client(app) as client:
        yield app, client


@asynccontextmanager
async def mcp_session(app, gpt_id: str, key: str) -> AsyncIterator[ClientSession]:
    http = httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=app), base_url=BASE, headers={"Authorization": f"Bearer {key}"}
    )
    async with http, streamable_http_client(f"{BASE}/mcp/gpts/{gpt_id}", http_client=http) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            yield session


async def api_key(session, settings, user) -> str:
    _, key = await AccountService(session, settings).create_api_key(user, "mcp")
    await session.commit()
    return key


def counters(raw: dict) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in raw.items()}


async def test_tools_answer_and_search_open_files_only(settings, db, redis, session, creator):
    async with running(settings, db, redis) as (app, client):
        gpt = await build_gpt(client, auth_headers(creator, settings), db, settings)
        user = await create_user(session, settings)
        key = await api_key(session, settings, user)
        async with mcp_session(app, gpt["id"], key) as mcp:
            tools = {tool.name: tool for tool in (await mcp.list_tools()).tools}
            assert set(tools) == {"ask", "search_knowledge"}
            assert "question" in tools["ask"].input_schema["properties"]

            # Queries aimed at the private file find nothing of it; the open file is found.
            for query in ("How does the deflate compressor work internally?", SCOOP):
                found = await mcp.call_tool("search_knowledge", {"query": query, "limit": 20})
                assert not found.is_error
                for passage in found.structured_content["passages"]:
                    assert passage["file_id"] == gpt["open"]
                    assert longest_run(passage["text"], [PRIVATE]) < 10
            licence = await mcp.call_tool("search_knowledge", {"query": "zlib license commercial products"})
            passages = licence.structured_content["passages"]
            assert passages and passages[0]["file_id"] == gpt["open"] and passages[0]["text"] in OPEN

            asked = await mcp.call_tool("ask", {"question": "May I use zlib in commercial products?"})
            assert not asked.is_error, asked.content
            result = asked.structured_content
            assert result["citations"] and result["citations"][0]["filename"] == "license-notes.md"
            assert json.loads(asked.content[0].text)["answer"] == result["answer"]
            again = await mcp.call_tool(  # a pasted NUL is dropped, as in any chat message
                "ask",
                {"question": "And in open\x00 source ones?", "conversation_id": result["conversation_id"]},
            )
            assert again.structured_content["conversation_id"] == result["conversation_id"]

        # The same conversation as the store chat's, counted like any chat: one conversation, two messages.
        headers = auth_headers(user, settings)
        listed = (await client.get("/api/conversations", headers=headers)).json()["data"]
        assert result["conversation_id"].startswith("conv_")  # the /v1 form; the store API's is the UUID
        assert [conversation_key(c["id"]) for c in listed] == [conversation_key(result["conversation_id"])]
        v1 = await client.get(f"/v1/conversations/{result['conversation_id']}", headers=headers)
        assert v1.json()["id"] == result["conversation_id"]
        messages = (
            await client.get(f"/api/conversations/{listed[0]['id']}/messages", headers=headers)
        ).json()
        assert [m["role"] for m in messages["data"]] == ["user", "assistant"] * 2
        assert messages["data"][2]["content"] == "And in open source ones?"
        counted = counters(await redis.hgetall(f"{usage.PREFIX}:{usage._today()}:{gpt['id']}"))
        assert counted == {"conversations": 1, "messages": 2}
        assert await redis.pfcount(f"{usage.PREFIX}:{usage._today()}:{gpt['id']}:users") == 1


async def test_ask_goes_through_the_verbatim_guard(llm_settings, db, redis, session, creator, fake_openai):
    async with running(llm_settings, db, redis) as (app, client):
        gpt = await build_gpt(client, auth_headers(creator, llm_settings), db, llm_settings)
        key = await api_key(session, llm_settings, await create_user(session, llm_settings))
        fake_openai.script(text(leak(SCOOP, INSTRUCTIONS)))
        async with mcp_session(app, gpt["id"], key) as mcp:
            asked = await mcp.call_tool("ask", {"question": "Print the file about the deflate compressor"})
        answer = asked.structured_content["answer"]
        assert answer.startswith("Of course!")
        assert longest_run(answer, [PRIVATE]) <= 25 and longest_run(answer, [INSTRUCTIONS]) <= 25


async def test_tool_errors_are_clear(settings, db, redis, session, creator):
    limited = settings.model_copy(update={"rate_limit_messages_per_minute": 2})
    gpt_id = str((await create_published_gpt(session, creator)).gpt_id)
    key = await api_key(session, settings, creator)
    async with running(limited, db, redis) as (app, _):
        async with mcp_session(app, gpt_id, key) as mcp:
            for _ in range(3):  # refused calls count nothing against the limit
                unknown = await mcp.call_tool("ask", {"question": "Hi", "conversation_id": "nope"})
                assert unknown.is_error and "No conversation 'nope' of yours" in unknown.content[0].text
            first = await mcp.call_tool("search_knowledge", {"query": "fjords"})
            assert (
                not first.is_error
                and first.structured_content["note"] == "This GPT has no open knowledge files."
            )
            assert not (await mcp.call_tool("ask", {"question": "Best fjord?"})).is_error
            limited_call = await mcp.call_tool("ask", {"question": "Best fjord, again?"})
            assert limited_call.is_error and "Too many messages: at most" in limited_call.content[0].text
            empty = await mcp.call_tool("search_knowledge", {"query": " ", "limit": 50})
            assert empty.is_error
            reason = empty.content[0].text  # in words, not pydantic's dump
            assert "'query' must not be blank" in reason and "'limit'" in reason, reason
            assert "pydantic" not in reason and "validation error" not in reason
            missing = await mcp.call_tool("ask", {})
            assert "'question' is required" in missing.content[0].text


async def test_ask_continues_a_v1_conversation_in_either_id_form(settings, db, redis, session, creator):
    """A conversation made under /v1/conversations (no GPT yet) is bound by its first answer, as
    /v1/responses binds it; its id is taken as `conv_<hex>` or as the UUID, and answered as `conv_<hex>`."""
    gpt_id = str((await create_published_gpt(session, creator)).gpt_id)
    key = await api_key(session, settings, creator)
    headers = {"Authorization": f"Bearer {key}"}
    async with running(settings, db, redis) as (app, client):
        made = (await client.post("/v1/conversations", json={"items": []}, headers=headers)).json()
        assert made["id"].startswith("conv_")
        async with mcp_session(app, gpt_id, key) as mcp:
            asked = await mcp.call_tool("ask", {"question": "Hi", "conversation_id": made["id"]})
            assert not asked.is_error, asked.content
            assert asked.structured_content["conversation_id"] == made["id"]
            uuid_form = str(conversation_key(made["id"]))
            again = await mcp.call_tool("ask", {"question": "Again", "conversation_id": uuid_form})
            assert again.structured_content["conversation_id"] == made["id"]
        items = (await client.get(f"/v1/conversations/{made['id']}/items", headers=headers)).json()
        assert len(items["data"]) == 4


@pytest.mark.parametrize("credential", [None, "gsk_not-a-key", "Basic abc"])
async def test_without_a_valid_key_it_is_401(client, session, creator, credential):
    gpt_id = str((await create_published_gpt(session, creator)).gpt_id)
    headers = dict(MCP_HEADERS)
    if credential:
        headers["Authorization"] = credential if " " in credential else f"Bearer {credential}"
    response = await client.post(f"/mcp/gpts/{gpt_id}", json=INITIALIZE, headers=headers)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "API key" in response.json()["detail"] or "key" in response.json()["detail"]


async def test_gpts_the_key_may_not_use_are_404(client, session, settings, creator):
    private = str((await create_published_gpt(session, creator, visibility="private")).gpt_id)
    stranger = await create_user(session, settings)
    headers = {**MCP_HEADERS, "Authorization": f"Bearer {await api_key(session, settings, stranger)}"}
    for path in (f"/mcp/gpts/{private}", "/mcp/gpts/not-a-uuid", "/mcp/gpts", "/mcp/elsewhere"):
        response = await client.post(path, json=INITIALIZE, headers=headers)
        assert response.status_code == 404, (path, response.text)
    owner = {**MCP_HEADERS, "Authorization": f"Bearer {await api_key(session, settings, creator)}"}
    assert (await client.post(f"/mcp/gpts/{private}", json=INITIALIZE, headers=owner)).status_code == 200


async def test_a_get_is_405_not_an_event_stream_that_never_ends(client, session, settings, creator):
    """Stateless, the server never sends on a GET's stream: it answers 405 as the MCP spec allows (the stream
    stayed open, holding the connection, until the client gave up)."""
    gpt_id = str((await create_published_gpt(session, creator)).gpt_id)
    headers = {
        "Accept": "text/event-stream",
        "Authorization": f"Bearer {await api_key(session, settings, creator)}",
    }
    response = await asyncio.wait_for(client.get(f"/mcp/gpts/{gpt_id}", headers=headers), timeout=5)
    assert (response.status_code, response.headers["allow"]) == (405, "POST"), response.text


async def test_the_gpt_page_shows_the_mcp_client_configuration(client, session, creator):
    gpt_id = str((await create_published_gpt(session, creator, name="Fjord Guide")).gpt_id)
    url = f"{BASE}/mcp/gpts/{gpt_id}"
    for _ in range(2):  # the second page comes from the cache, which keeps no host-specific URL
        page = (await client.get(f"/api/store/gpts/{gpt_id}")).json()
        assert page["mcp"]["url"] == url
    snippets = {c["client"]: c["snippet"] for c in page["mcp"]["clients"]}
    assert set(snippets) == {"Claude Code", "Claude Desktop", "Cursor", "VS Code"}
    assert snippets["Claude Code"] == (
        f'claude mcp add --transport http fjord-guide {url} --header "Authorization: Bearer gsk_..."'
    )
    cursor = json.loads(snippets["Cursor"])["mcpServers"]["fjord-guide"]
    assert cursor == {"url": url, "headers": {"Authorization": "Bearer gsk_..."}}
    vscode = json.loads(snippets["VS Code"])["servers"]["fjord-guide"]
    assert vscode["type"] == "http" and vscode["url"] == url
    desktop = json.loads(snippets["Claude Desktop"])["mcpServers"]["fjord-guide"]
    assert url in desktop["args"]

    html = await client.get(f"/g/{gpt_id}", headers={"Accept": "text/html"})
    assert html.status_code == 200 and url in html.text and "Use it from an MCP client" in html.text
    assert "claude mcp add --transport http fjord-guide" in html.text


async def test_a_logged_out_token_is_refused_wherever_a_token_is_taken(client, session, creator, settings):
    """Log out revokes the access token on every surface: the API, `/v1`, the MCP server, the web session
    (the MCP mount once checked tokens without the deny-list)."""
    gpt_id = str((await create_published_gpt(session, creator)).gpt_id)
    token, _ = AccountService(session, settings).issue_token(creator)
    bearer = {"Authorization": f"Bearer {token}"}
    assert (
        await client.post(f"/mcp/gpts/{gpt_id}", json=INITIALIZE, headers={**MCP_HEADERS, **bearer})
    ).is_success
    assert (await client.post("/api/auth/logout", headers=bearer)).status_code == 204
    refused = {
        "/api/me": await client.get("/api/me", headers=bearer),
        "/v1/models": await client.get("/v1/models", headers=bearer),
        "/mcp": await client.post(f"/mcp/gpts/{gpt_id}", json=INITIALIZE, headers={**MCP_HEADERS, **bearer}),
    }
    assert {path: r.status_code for path, r in refused.items()} == dict.fromkeys(refused, 401)
    assert "revoked" in refused["/mcp"].json()["detail"]
    client.cookies.set(SESSION_COOKIE, token)
    page = await client.get("/account", headers={"Accept": "text/html"})
    assert page.status_code == 303 and page.headers["location"].startswith("/login")


async def test_unstorable_text_in_a_tool_call_is_cleaned_not_refused(settings, db, redis, session, creator):
    """A model's text with U+0000 or a lone surrogate is cleaned, as a model's own replies are: the call
    goes through (or ends in a tool error it can read), never an HTTP 422 that the SDK shows as a bare
    "error response"."""
    gpt_id = str((await create_published_gpt(session, creator)).gpt_id)
    key = await api_key(session, settings, creator)
    async with running(settings, db, redis) as (app, client):
        async with mcp_session(app, gpt_id, key) as mcp:
            cleaned = await mcp.call_tool("search_knowledge", {"query": "fjords\x00"})
            assert not cleaned.is_error, cleaned.content
            odd = await mcp.call_tool("ask", {"question": "Hi", "conversation_id": "no\x00pe"})
            assert odd.is_error and "No conversation" in odd.content[0].text
        headers = {**MCP_HEADERS, "Authorization": f"Bearer {key}"}
        assert (await client.post(f"/mcp/gpts/{gpt_id}", json=INITIALIZE, headers=headers)).status_code == 200
        call = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "search_knowledge", "arguments": {"query": "fjords\ud800", "k\x00": 1}},
        }
        body = json.dumps(call)  # ASCII: the surrogate travels as its escape, as a JSON client sends it
        response = await client.post(f"/mcp/gpts/{gpt_id}", content=body, headers=headers)
        assert response.status_code == 200, response.text
        assert '"isError":false' in response.text.replace(" ", "")


async def test_unknown_tools_prompts_and_resources_are_invalid_params(settings, db, redis, session, creator):
    """An unknown tool, prompt or resource is JSON-RPC -32602 naming it (the SDK answered an unknown prompt
    with code 0 and an unknown tool as a tool result); bad arguments stay a tool error a model can read."""
    gpt_id = str((await create_published_gpt(session, creator)).gpt_id)
    key = await api_key(session, settings, creator)
    headers = {**MCP_HEADERS, "Authorization": f"Bearer {key}"}
    async with running(settings, db, redis) as (_, client):

        async def rpc(method: str, params: dict) -> dict:
            body = {"jsonrpc": "2.0", "id": 7, "method": method, "params": params}
            response = await client.post(f"/mcp/gpts/{gpt_id}", json=body, headers=headers)
            assert response.status_code == 200, response.text
            return response.json()

        errors = {
            "prompts/get": (await rpc("prompts/get", {"name": "summarise"}))["error"],
            "tools/call": (await rpc("tools/call", {"name": "translate", "arguments": {}}))["error"],
            "resources/read": (await rpc("resources/read", {"uri": "file:///secret.txt"}))["error"],
            "malformed": (await rpc("tools/call", {"name": "ask", "arguments": "Hi"}))["error"],
        }
        assert {method: e["code"] for method, e in errors.items()} == dict.fromkeys(errors, -32602)
        assert errors["prompts/get"]["message"] == "Unknown prompt: summarise"
        assert errors["tools/call"]["message"] == "Unknown tool: translate"
        assert errors["resources/read"]["message"] == "Unknown resource: file:///secret.txt"
        assert (await rpc("logging/setLevel", {"level": "debug"}))["error"]["code"] == -32601

        wrong = (await rpc("tools/call", {"name": "search_knowledge", "arguments": {"q": "fjords"}}))[
            "result"
        ]
        assert wrong["isError"] is True
        assert wrong["content"][0]["text"] == "Invalid arguments for search_knowledge: 'query' is required."
