"""The GPT's own tools in `/v1/responses`: opened for the turn, shown as output items, kept for the next turn.

The GPT's actions and MCP servers run on the server through the same loop as the chats and Chat Completions
(`retrieval.tool_loop.run_turn`, stateless: only calls that need no approval, or that the user allowed for
good, run; any other ends the answer with a note). Each call that ran is an output item:

- an MCP tool: OpenAI's `mcp_call` item (`id`, `type`, `server_label`, `name`, `arguments`, `output`, `error`,
  `status`), with OpenAI's `response.mcp_call.in_progress` / `.completed` / `.failed` events;
- an action operation: `gptstore:action_call` (`id`, `type`, `domain`, `name`, `arguments`, `output`,
  `error`, `status`), a provider item named with our slug as the Open Responses specification asks of items
  it does not define ("Items are extensible"), with no events of its own besides the item's added/done.

`output` is what the call returned after the turn's verbatim guard (at most 100 KB, docs/tools-chat.md);
`error` is set when the call failed (then `output` is null). The client's `function` tools are offered next
to the GPT's as Chat Completions entries (`chat_tool`); their names may not repeat a name of the GPT's tools
(400 naming `tools[i].name`).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Invalid
from core.llm import Message
from core.settings import Settings
from retrieval.answer import Answer
from retrieval.tool_loop import ToolCallEnded, ToolCallStarted
from store.models import GptVersion
from tools.approvals import allowed_grants
from tools.chat import open_toolset
from tools.runtime import Toolset

ACTION_ITEM = "gptstore:action_call"
NOT_RUN = "Not run: this call ended the answer before it could run."


async def open_server_tools(
    session: AsyncSession,
    settings: Settings,
    gpt_id: uuid.UUID,
    user_id: uuid.UUID,
    version: GptVersion,
    client_tools: list[dict[str, Any]],
) -> tuple[Toolset | None, frozenset[str]]:
    """The toolset of the GPT's live `version` for this user (None without tools) and the functions the user
    allowed for good. A client function named like one of the GPT's tools is a 400 (`tools[i].name`). The
    caller closes the toolset (`aclose`) after the turn."""
    toolset = await open_toolset(session, settings, gpt_id, user_id, version)
    if toolset is None:
        return None, frozenset()
    own = set(toolset.definitions.names())
    for i, tool in enumerate(client_tools):
        if tool.get("name") in own:
            await toolset.aclose()
            raise Invalid(
                f"The function name '{tool['name']}' is taken by one of this GPT's own tools; rename yours.",
                field=f"tools[{i}].name",
                param=f"tools[{i}].name",
                code="invalid_value",
            )
    return toolset, await allowed_grants(session, user_id, gpt_id)


def chat_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """A client `function` tool of the request as a Chat Completions `tools` entry."""
    function = {
        "name": tool["name"],
        "parameters": tool.get("parameters") or {"type": "object", "properties": {}},
    }
    if tool.get("description"):
        function["description"] = tool["description"]
    if tool.get("strict") is not None:
        function["strict"] = tool["strict"]
    return {"type": "function", "function": function}


def chat_tool_choice(choice: str | dict[str, Any] | None) -> Any:
    """The request's `tool_choice` as Chat Completions takes it."""
    if isinstance(choice, dict):
        return {"type": "function", "function": {"name": choice["name"]}}
    return choice


def server_labels(toolset: Toolset | None) -> dict[str, str]:
    """The MCP server label of each MCP tool the GPT offers (an action's operation wins a shared name, as in
    `Toolset`); names not here are operations."""
    if toolset is None:
        return {}
    operations = {o.name for a in toolset.definitions.actions for o in a.operations}
    labels: dict[str, str] = {}
    for server in toolset.definitions.mcp_servers:
        for spec in server.tools:
            if spec.name not in operations:
                labels.setdefault(spec.name, server.server_label)
    return labels


def call_item(started: ToolCallStarted, labels: dict[str, str]) -> dict[str, Any]:
    """The output item of a call as it starts (`status: in_progress`)."""
    if started.name in labels:
        head = {"type": "mcp_call", "id": f"mcp_{uuid.uuid4().hex}", "server_label": labels[started.name]}
    else:
        head = {"type": ACTION_ITEM, "id": f"act_{uuid.uuid4().hex}", "domain": started.domain}
    return {
        **head,
        "status": "in_progress",
        "name": started.name,
        "arguments": started.arguments or "{}",
        "output": None,
        "error": None,
    }


def finish_item(item: dict[str, Any], ended: ToolCallEnded) -> None:
    """Fill in the call's outcome: `output`, or `error` when it failed (status `completed` or `failed`)."""
    if ended.status == "completed":
        item.update(status="completed", output=ended.output)
        return
    reason = ended.output.removeprefix("Error: ") or "The call failed."
    if item["type"] == "mcp_call":  # OpenAI's `McpToolCallError` shape
        error: Any = {"type": "mcp_tool_execution_error", "content": [{"type": "text", "text": reason}]}
    else:
        error = reason
    item.update(status="failed", error=error)


def item_events(item: dict[str, Any], index: int, phase: str) -> list[dict[str, Any]]:
    """The call's own events besides `response.output_item.*`: OpenAI's for an `mcp_call`, none for ours."""
    if item["type"] != "mcp_call":
        return []
    kind = "in_progress" if phase == "started" else item["status"]
    return [{"type": f"response.mcp_call.{kind}", "item_id": item["id"], "output_index": index}]


def turn_messages(result: Answer) -> list[Message]:
    """The turn as chat messages for the stored response (what `previous_response_id` continues): the
    model's replies with the calls that ran on the server and their outputs, then its answer, or its last
    reply whose client function calls the next input answers. A call that never ran (the turn ended first)
    gets a "not run" output, so the transcript stays one a chat model accepts."""
    state = result.state
    transcript = list(state.transcript) if state is not None else []
    answered = {m["tool_call_id"] for m in transcript if m["role"] == "tool"}
    client = {c.id for c in result.function_calls}
    out: list[Message] = []
    for message in transcript:
        out.append(message)
        if message["role"] != "assistant":
            continue
        for call in message.get("tool_calls") or []:
            if call["id"] not in answered and call["id"] not in client:
                out.append({"role": "tool", "tool_call_id": call["id"], "content": NOT_RUN})
    if result.function_calls and transcript:
        return out  # the last reply carries the client's calls
    turn: Message = {"role": "assistant", "content": result.content or None}
    if result.function_calls:
        turn["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in result.function_calls
        ]
    return [*out, turn]
