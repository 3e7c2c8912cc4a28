"""Running a GPT's tools (`Toolset`): the functions offered to the model and the calls it makes.

Owned by the execution work (SSRF-safe HTTP in `tools.net`, actions, the MCP client); the chat loop
(`retrieval.answer`) uses only this interface.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from core.llm import ToolCall
from core.settings import Settings
from tools.definitions import ToolDefinitions


@dataclass
class ToolOutput:
    """One finished call. `content` is what the model reads as the tool message: the response (capped at
    100 KB with a note) or the error text; it is untrusted data, never instructions."""

    call_id: str
    name: str
    content: str
    status: Literal["completed", "failed"]
    duration_ms: int
    domain: str


class Toolset:
    """The functions of one GPT for one turn. `call` never raises for a tool's own failure: an error is a
    `ToolOutput` with status `failed` whose content tells the model what went wrong."""

    def __init__(self, definitions: ToolDefinitions, settings: Settings, *, user_ref: str | None = None):
        self.definitions = definitions
        self.settings = settings
        self.user_ref = user_ref  # opaque per-user id (only sent where the creator turned it on)

    def functions(self) -> list[dict[str, Any]]:
        """Chat Completions `tools` entries (`{"type": "function", "function": {name, description,
        parameters}}`) for every operation and enabled MCP tool."""
        raise NotImplementedError

    def requires_approval(self, name: str) -> bool:
        """True for a consequential operation or an MCP tool in its server's `require_approval`."""
        raise NotImplementedError

    def domain(self, name: str) -> str:
        """The host a function calls, shown to the user (and in approval requests)."""
        raise NotImplementedError

    async def call(self, call: ToolCall) -> ToolOutput:
        """Run one call (5 s connect, 30 s total; SSRF rules of docs/tools.md)."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release connections (HTTP clients, MCP sessions)."""
