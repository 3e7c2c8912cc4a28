"""A malformed export manifest is a 422 naming the bad key, and the import leaves nothing behind: no GPT,
no file, no tool, no stored upload.

The cases come from real exports: a GPT with every field set, two knowledge files, a dataset, two actions
and an MCP server, and a bare GPT. Every key of the full export (nested file entries, actions, servers,
starters, retrieval settings included) is made null and given a value of another JSON type; null is left
out where one of the exports itself writes null there (a file without licence, a draft without language).
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from typing import Any

import pytest
import sqlalchemy as sa

from tests.asgi import app_client_for
from tests.tools.servers import MCP_TOKEN, loopback_settings
from tests.tools.servers import mcp_server as mcp_server  # the fixture

MANIFEST = "gptstore.json"
WEATHER = {
    "openapi": "3.1.0",
    "info": {"title": "Weather", "version": "1"},
    "servers": [{"url": "https://weather.example"}],
    "paths": {"/w": {"get": {"operationId": "current", "responses": {"200": {"description": "ok"}}}}},
}
FULL = {
    "name": "Fjord Guide",
    "description": "Plans fjord trips.",
    "instructions": "Help with fjord trips.",
    "welcome_message": "Hei!",
    "conversation_starters": ["Best fjord in May?", "What to pack?"],
    "category": "lifestyle",
    "tags": ["norway", "travel"],
    "language": "zh-Hant-TW",
    "retrieval": {"chunk_size": 300, "chunk_overlap": 50, "top_k": 4, "score_threshold": 0.4},
    "trust": {"instructions": "public", "verbatim_max_words": 40},
    "model": "gpt-4o-mini",
}
# Values inside these are the content of a free-form object (an MCP tool's JSON Schema), not manifest keys.
FREE_FORM = ("tools.mcp_servers[].tools[].input_schema.",)
TABLES = ("gpt", "knowledge_file", "gpt_action", "gpt_mcp_server", "gpt_dataset", "dataset")


@pytest.fixture
async def tools_client(settings, db, redis):
    """The app with 127.0.0.1 allowed for tools (the local MCP server)."""
    async with app_client_for(loopback_settings(settings), db=db, redis=redis) as client:
        yield client


async def _exports(client, headers, server) -> tuple[bytes, dict[str, Any]]:
    """The archive of a GPT with everything set, and the manifest of a bare GPT (an MCP server saved with
    nothing but its URL)."""
    gpt_id = (await client.post("/api/gpts", json=FULL, headers=headers)).json()["id"]
    files = [
        ("notes.txt", b"Ferries run in summer.", "open", "CC-BY-4.0"),
        ("plan.txt", b"Day 1: Bergen.", "private", ""),
    ]
    for name, content, access, license in files:
        form = {"access": access, **({"license": license} if license else {})}
        uploaded = await client.post(
            f"/api/gpts/{gpt_id}/files", files={"file": (name, content)}, data=form, headers=headers
        )
        assert uploaded.status_code == 202, uploaded.text
    dataset = (await client.post("/api/datasets", json={"name": "Handbook"}, headers=headers)).json()
    body = {"dataset_id": dataset["id"], "follow_latest": True}
    assert (await client.post(f"/api/gpts/{gpt_id}/datasets", json=body, headers=headers)).is_success
    actions = [
        {
            "document": WEATHER,
            "privacy_policy_url": "https://weather.example/privacy",
            "user_id_header": "X-User",
            "consequential": {"current": True},
            "auth": {"type": "api_key", "name": "X-Key", "location": "header", "secret": "sk-weather-1234"},
        },
        {
            "document": {
                **WEATHER,
                "paths": {
                    "/f": {"get": {"operationId": "forecast", "responses": {"200": {"description": "ok"}}}}
                },
            }
        },
    ]
    for action in actions:
        added = await client.post(f"/api/gpts/{gpt_id}/actions", json=action, headers=headers)
        assert added.status_code == 201, added.text
    server_body = {
        "server_url": server.url,
        "authorization": MCP_TOKEN,
        "server_label": "local",
        "server_description": "Adds numbers",
        "allowed_tools": ["add", "weather"],
        "headers": {"X-Team": "team-secret"},
        "require_approval": {"never": {"tool_names": ["add"]}},
    }
    added = await client.post(f"/api/gpts/{gpt_id}/mcp_servers", json=server_body, headers=headers)
    assert added.status_code == 201, added.text
    full = (await client.get(f"/api/gpts/{gpt_id}/export", headers=headers)).content
    bare_id = (await client.post("/api/gpts", headers=headers)).json()["id"]
    plain = {"server_url": server.url, "authorization": MCP_TOKEN, "server_label": "plain"}
    added = await client.post(f"/api/gpts/{bare_id}/mcp_servers", json=plain, headers=headers)
    assert added.status_code == 201, added.text
    bare = (await client.get(f"/api/gpts/{bare_id}/export", headers=headers)).content
    return full, json.loads(zipfile.ZipFile(io.BytesIO(bare)).read(MANIFEST))


def _leaves(value: Any, path: tuple = ()) -> list[tuple[tuple, Any]]:
    """Every key of a manifest with its value, containers and what they hold alike."""
    found = [(path, value)] if path else []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, inner in items:
        found += _leaves(inner, (*path, key))
    return found


def key_of(path: tuple) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def _general(path: tuple) -> str:
    """The key with its list positions left out: `files[].license`."""
    return re.sub(r"\[\d+\]", "[]", key_of(path))


def other_type(value: Any) -> Any:
    """A value of another JSON type: a number for a string, a string for a number or a list, a list for an
    object, ..."""
    if isinstance(value, bool):
        return "true"
    if isinstance(value, int | float):
        return "5"
    if isinstance(value, list):
        return "x"
    if isinstance(value, dict):
        return ["x"]
    return 5  # a string or null


def with_value(manifest: dict, path: tuple, value: Any) -> dict:
    changed = json.loads(json.dumps(manifest))
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return changed


def archive_with(original: bytes, manifest: dict) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(original))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for info in source.infolist():
            data = json.dumps(manifest).encode() if info.filename == MANIFEST else source.read(info.filename)
            archive.writestr(info.filename, data)
    return buffer.getvalue()


async def _state(session, settings) -> tuple:
    counts = [await session.scalar(sa.text(f"SELECT count(*) FROM {table}")) for table in TABLES]
    stored = settings.data_dir / "files"
    return (*counts, sorted(p.name for p in stored.rglob("*") if p.is_file()) if stored.is_dir() else [])


async def test_every_malformed_key_is_a_422_naming_it_and_leaves_nothing(
    tools_client,
    creator_headers,
    mcp_server,
    session,
    settings,
):
    full, bare = await _exports(tools_client, creator_headers, mcp_server)
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(full)).read(MANIFEST))
    assert len(manifest["files"]) == 2 and len(manifest["tools"]["actions"]) == 2 and manifest["datasets"]
    nullable = {
        _general(path) for source in (manifest, bare) for path, value in _leaves(source) if value is None
    }
    assert {"gpt.language", "gpt.trust.verbatim_max_words", "files[].license"} <= nullable
    imported = await tools_client.post(
        "/api/gpts/import", files={"file": ("g.zip", full)}, headers=creator_headers
    )
    assert imported.status_code == 201, imported.text  # the export itself is fine
    before = await _state(session, settings)

    cases = []
    for path, value in _leaves(manifest):
        if _general(path).startswith(FREE_FORM):
            continue
        if _general(path) not in nullable:
            cases.append((path, None))
        cases.append((path, other_type(value)))
    assert len(cases) > 150
    refused = []
    for path, value in cases:
        data = archive_with(full, with_value(manifest, path, value))
        response = await tools_client.post(
            "/api/gpts/import", files={"file": ("g.zip", data)}, headers=creator_headers
        )
        key = key_of(path)
        case = f"{key} = {value!r}"
        assert response.status_code == 422, (case, response.text)
        problem = response.json()
        assert response.headers["content-type"].startswith("application/problem+json")
        assert problem["errors"] and {e["field"] for e in problem["errors"]} == {"file"}, case
        parent, _, last = key.rpartition(".")
        assert key in problem["detail"] or (parent in problem["detail"] and last in problem["detail"]), (
            case, problem["detail"],
        )  # fmt: skip
        assert await _state(session, settings) == before, case
        refused.append(key)
    assert "files" in refused and "gpt.retrieval.top_k" in refused and "tools.actions[0].auth.type" in refused


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (lambda m: m.pop("files"), "files"),
        (lambda m: m.pop("gpt"), "gpt"),
        (lambda m: m["files"][0].pop("path"), "files[0].path"),
        (lambda m: m["datasets"][0].pop("id"), "datasets[0].id"),
        (lambda m: m["tools"]["actions"][0].pop("document"), "tools.actions[0].document"),
        (lambda m: m["tools"]["mcp_servers"][0].pop("server_url"), "tools.mcp_servers[0].server_url"),
        (lambda m: m.update(extra={"a": 1}), "extra"),
        (lambda m: m["gpt"].update(nmae="Fjord"), "gpt.nmae"),
        (lambda m: m["files"][0].update(size=3), "files[0].size"),
        (lambda m: m["gpt"].update(name={"text": "Fjord Guide"}), "gpt.name"),
        (
            lambda m: m["gpt"].update(conversation_starters=[["Best fjord in May?"]]),
            "gpt.conversation_starters[0]",
        ),
        (lambda m: m["gpt"]["retrieval"].update(top_k={"value": 4}), "gpt.retrieval.top_k"),
        (lambda m: m["files"][0].update(access="public"), "files[0].access"),
        (lambda m: m["files"][0].update(sha256="abc"), "files[0].sha256"),
        (lambda m: m.update(version=True), "version"),
        (
            lambda m: m["tools"]["actions"][0].update(source_url="https://x.example/" + "a" * 2000),
            "source_url",
        ),
        (lambda m: m["files"][0].update(license="x" * 201), "files[0].license"),
    ],
)
async def test_missing_unknown_and_nested_keys_are_422s(client, creator_headers, change, key):
    gpt = (await client.post("/api/gpts", json={"name": "Fjord Guide"}, headers=creator_headers)).json()
    await client.post(
        f"/api/gpts/{gpt['id']}/files", files={"file": ("a.txt", b"Ferries.")}, headers=creator_headers
    )
    dataset = (await client.post("/api/datasets", json={"name": "Handbook"}, headers=creator_headers)).json()
    await client.post(
        f"/api/gpts/{gpt['id']}/datasets", json={"dataset_id": dataset["id"]}, headers=creator_headers
    )
    await client.post(f"/api/gpts/{gpt['id']}/actions", json={"document": WEATHER}, headers=creator_headers)
    exported = (await client.get(f"/api/gpts/{gpt['id']}/export", headers=creator_headers)).content
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(exported)).read(MANIFEST))
    manifest["tools"]["mcp_servers"] = [{"server_label": "local", "server_url": "https://mcp.example/mcp"}]
    change(manifest)
    listed = (await client.get("/api/gpts", headers=creator_headers)).json()["data"]
    response = await client.post(
        "/api/gpts/import",
        files={"file": ("g.zip", archive_with(exported, manifest))},
        headers=creator_headers,
    )
    assert response.status_code == 422, response.text
    assert key in response.json()["detail"]
    assert (await client.get("/api/gpts", headers=creator_headers)).json()["data"] == listed
