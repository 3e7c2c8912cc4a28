"""The builder's "test this operation": one operation of a draft's action run once through the Toolset."""

from __future__ import annotations

import json
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from builder.models import Gpt
from core.errors import Invalid
from core.llm import ToolCall
from core.settings import Settings
from tools.chat import user_ref
from tools.definitions import ToolDefinitions
from tools.models import GptAction
from tools.runtime import Toolset
from tools.schemas import ActionTestRead, ActionTestRequest
from tools.snapshot import load_definitions


async def run_operation(
    session: AsyncSession,
    settings: Settings,
    gpt: Gpt,
    action: GptAction,
    data: ActionTestRequest,
    *,
    tester_id: uuid.UUID,
) -> ActionTestRead:
    """The call's outcome as the model would read it, sent as a chat of `tester_id` would send it (with the
    action's `user_id_header`, the tester's opaque id); 422 when the action has no such operation. A failing
    call is a `failed` result, not an error: the API it calls answered (or did not), ours did not fail."""
    definitions = await load_definitions(session, settings, gpt.id)
    tool = next(a for a in definitions.actions if a.id == action.id)
    if data.operation not in {op.name for op in tool.operations}:
        names = ", ".join(op.name for op in tool.operations)
        raise Invalid(f"This action has no operation '{data.operation}'; it has: {names}", field="operation")
    tester = user_ref(settings, gpt.id, tester_id)
    toolset = Toolset(ToolDefinitions(actions=(tool,)), settings, user_ref=tester)
    try:
        call = ToolCall(
            id=f"test_{uuid.uuid4().hex[:12]}", name=data.operation, arguments=json.dumps(data.arguments)
        )
        output = await toolset.call(call)
    finally:
        await toolset.aclose()
    return ActionTestRead(
        name=output.name,
        domain=output.domain,
        status=output.status,
        duration_ms=output.duration_ms,
        content=output.content,
    )
