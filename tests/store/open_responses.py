"""Test helpers for `/v1/responses`: the Open Responses schema check, the app on a real port, raw SSE events.

`required.json` (tests/data/open_responses/, vendored with its source) holds the `required` lists of the
specification's schemas and events; `check_response` and `check_events` hold every response and event to
them, recursively through output items, content parts, annotations and usage.
"""

from __future__ import annotations

import asyncio
import json
import socket
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from tests.asgi import reused_app

DATA = Path(__file__).resolve().parents[1] / "data" / "open_responses"
REQUIRED: dict[str, Any] = json.loads((DATA / "required.json").read_text())
CASES: dict[str, Any] = json.loads((DATA / "compliance_cases.json").read_text())
ITEM_SCHEMAS = {
    "message": "Message",
    "function_call": "FunctionCall",
    "function_call_output": "FunctionCallOutput",
    "file_search_call": "FileSearchCall",
    "mcp_call": "McpCall",
    "gptstore:action_call": "GptstoreActionCall",
}
CALL_ITEMS = ("mcp_call", "gptstore:action_call")  # the GPT's own tools, run on the server
PART_SCHEMAS = {
    "output_text": "OutputTextContent",
    "input_text": "InputTextContent",
    "input_image": "InputImageContent",
}


def _has(obj: dict[str, Any], schema: str, where: str) -> None:
    assert isinstance(obj, dict), f"{where}: not an object"
    missing = [name for name in REQUIRED[schema] if name not in obj]
    assert not missing, f"{where} ({schema}) lacks {missing}: {obj}"


def check_item(item: dict[str, Any], where: str = "item") -> None:
    assert item.get("type") in ITEM_SCHEMAS, f"{where}: unknown item type {item.get('type')!r}"
    _has(item, ITEM_SCHEMAS[item["type"]], where)
    assert item.get("status") in ("in_progress", "completed", "incomplete", "searching", "failed"), where
    if item["type"] == "message":
        assert item["role"] in ("user", "assistant", "system", "developer"), where
        for j, part in enumerate(item["content"]):
            check_part(part, f"{where}.content[{j}]")
    if item["type"] in CALL_ITEMS:
        check_call_item(item, where)


def check_call_item(item: dict[str, Any], where: str = "item") -> None:
    """A call of the GPT's own tools: JSON `arguments`; once done, `output` or `error` (never both)."""
    json.loads(item["arguments"])
    assert item.get("output") is None or isinstance(item["output"], str), where
    if item["status"] == "in_progress":
        assert item["output"] is None and item["error"] is None, where
    elif item["status"] == "completed":
        assert isinstance(item["output"], str) and item["error"] is None, where
    else:
        assert item["status"] == "failed" and item["output"] is None and item["error"], where
    if item["type"] == "mcp_call" and item["error"] is not None:  # OpenAI's McpToolCallError
        kinds = ("mcp_protocol_error", "mcp_tool_execution_error", "http_error")
        assert item["error"]["type"] in kinds, where


def check_part(part: dict[str, Any], where: str = "part") -> None:
    assert part.get("type") in PART_SCHEMAS, f"{where}: unknown part type {part.get('type')!r}"
    _has(part, PART_SCHEMAS[part["type"]], where)
    for k, annotation in enumerate(part.get("annotations") or []):
        check_annotation(annotation, f"{where}.annotations[{k}]")


def check_annotation(annotation: dict[str, Any], where: str = "annotation") -> None:
    assert annotation.get("type") == "file_citation", where
    _has(annotation, "FileCitation", where)
    assert isinstance(annotation["index"], int) and annotation["index"] >= 0, where


def check_response(response: dict[str, Any], where: str = "response") -> None:
    """Every field the specification requires, with the types clients rely on."""
    _has(response, "ResponseResource", where)
    assert response["object"] == "response" and response["id"].startswith("resp_"), where
    assert isinstance(response["created_at"], int), where
    assert response["status"] in ("in_progress", "completed", "incomplete", "failed"), where
    assert (response["completed_at"] is not None) == (
        response["status"] == "completed" or response["status"] == "incomplete"
    ), where
    _has(response["text"], "TextField", f"{where}.text")
    for name in ("top_p", "temperature", "presence_penalty", "frequency_penalty"):
        assert isinstance(response[name], int | float), f"{where}.{name}"
    assert isinstance(response["parallel_tool_calls"], bool) and isinstance(response["store"], bool), where
    assert response["truncation"] in ("auto", "disabled"), where
    if response["usage"] is not None:
        _has(response["usage"], "Usage", f"{where}.usage")
        _has(response["usage"]["input_tokens_details"], "InputTokensDetails", f"{where}.usage")
        _has(response["usage"]["output_tokens_details"], "OutputTokensDetails", f"{where}.usage")
        usage = response["usage"]
        assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"], where
    if response["error"] is not None:
        _has(response["error"], "Error", f"{where}.error")
    if response["incomplete_details"] is not None:
        _has(response["incomplete_details"], "IncompleteDetails", f"{where}.incomplete_details")
    for i, tool in enumerate(response["tools"]):
        _has(tool, "FunctionTool", f"{where}.tools[{i}]")
    for i, item in enumerate(response["output"]):
        check_item(item, f"{where}.output[{i}]")


def check_events(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Each event against its schema, `sequence_number` 0, 1, 2, ...; the final response."""
    assert events, "no events"
    for number, event in enumerate(events):
        kind = event.get("type")
        assert kind in REQUIRED["events"], f"unknown event type {kind!r}"
        missing = [name for name in REQUIRED["events"][kind] if name not in event]
        assert not missing, f"{kind} lacks {missing}"
        assert event["sequence_number"] == number, f"{kind}: sequence_number {event['sequence_number']}"
        if "response" in event:
            check_response(event["response"], kind)
        if event.get("item") is not None:
            check_item(event["item"], f"{kind}.item")
        if "part" in event:
            check_part(event["part"], f"{kind}.part")
        if event.get("annotation") is not None:
            check_annotation(event["annotation"], f"{kind}.annotation")
    assert events[0]["type"] == "response.created"
    assert events[-1]["type"] in ("response.completed", "response.incomplete", "response.failed")
    return events[-1]["response"]


def parse_sse(text: str) -> list[dict[str, Any]]:
    """The `data:` payloads of an SSE body, checking each `event:` line names its payload's `type`."""
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        event = json.loads(lines["data"])
        assert lines.get("event") == event["type"], block
        events.append(event)
    return events


@asynccontextmanager
async def serving(settings, db, redis):
    """The app on a real loopback port (the `openai` SDK over HTTP); yields its `/v1` base URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with reused_app(settings, db=db, redis=redis) as app:
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
        task = asyncio.create_task(server.serve())
        while not server.started:  # noqa: ASYNC110 - uvicorn offers no startup event
            await asyncio.sleep(0.02)
        try:
            yield f"http://127.0.0.1:{port}/v1"
        finally:
            server.should_exit = True
            await task


async def raw_create(base_url: str, key: str, body: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient(timeout=60) as http:
        return await http.post(f"{base_url}/responses", json=body, headers={"Authorization": f"Bearer {key}"})
