"""A GPT draft's actions and MCP servers (docs/tools.md)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from litestar import Controller, delete, get, patch, post
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from builder.models import Gpt
from builder.service import GptService
from core.models import User
from core.settings import Settings
from tools.schemas import (
    ActionCreate,
    ActionRead,
    ActionTestRead,
    ActionTestRequest,
    ActionUpdate,
    McpServerCreate,
    McpServerRead,
    McpServerUpdate,
)
from tools.service import ToolService
from tools.testing import run_operation


@dataclass
class Draft:
    """The signed-in creator's draft `gpt_id` and its `tools`; `gpt()` checks ownership (404/403)."""

    gpt_id: uuid.UUID
    user: User
    session: AsyncSession
    settings: Settings
    tools: ToolService

    async def gpt(self, *, lock: bool) -> Gpt:
        """The owned draft; `lock` takes its row lock for a change."""
        return await GptService(self.session, self.settings).get_owned(
            self.user, self.gpt_id, for_update=lock
        )


async def provide_draft(
    gpt_id: uuid.UUID, current_user: User, db_session: AsyncSession, settings: Settings
) -> Draft:
    """The draft's tools, once the caller is found to own it: checked here, before the body is validated
    (litestar resolves dependencies first), so who may not edit it is told that, not what is wrong with
    what they sent."""
    await GptService(db_session, settings).get_owned(current_user, gpt_id)
    return Draft(gpt_id, current_user, db_session, settings, ToolService(db_session, settings))


class ActionController(Controller):
    path = "/api/gpts/{gpt_id:uuid}/actions"
    tags = ["tools"]
    dependencies = {"draft": Provide(provide_draft)}

    @get("/")
    async def list_actions(self, draft: Draft) -> list[ActionRead]:
        """The draft's actions, oldest first; secrets show only whether one is set and its last 4."""
        gpt = await draft.gpt(lock=False)
        return await draft.tools.read_actions(await draft.tools.actions(gpt))

    @post("/", status_code=201)
    async def create_action(self, draft: Draft, data: ActionCreate) -> ActionRead:
        """Add an action from an OpenAPI 3.0/3.1 document (pasted, or `import_url`); 422 names the problem."""
        gpt = await draft.gpt(lock=True)
        return (await draft.tools.read_actions([await draft.tools.create_action(gpt, data)]))[0]

    @get("/{action_id:uuid}")
    async def get_action(self, draft: Draft, action_id: uuid.UUID) -> ActionRead:
        gpt = await draft.gpt(lock=False)
        return (await draft.tools.read_actions([await draft.tools.action(gpt, action_id)]))[0]

    @patch("/{action_id:uuid}")
    async def update_action(self, draft: Draft, action_id: uuid.UUID, data: ActionUpdate) -> ActionRead:
        """Change what is sent; `auth.secret` omitted keeps the stored one, null removes it."""
        gpt = await draft.gpt(lock=True)
        row = await draft.tools.update_action(gpt, await draft.tools.action(gpt, action_id), data)
        return (await draft.tools.read_actions([row]))[0]

    @delete("/{action_id:uuid}", status_code=204)
    async def delete_action(self, draft: Draft, action_id: uuid.UUID) -> None:
        gpt = await draft.gpt(lock=True)
        await draft.tools.delete_action(gpt, await draft.tools.action(gpt, action_id))

    @post("/{action_id:uuid}/test", status_code=200)
    async def test_action(
        self, draft: Draft, action_id: uuid.UUID, data: ActionTestRequest
    ) -> ActionTestRead:
        """Run one operation once with these arguments, as the chat would (no approval asked: the creator
        is the one pressing the button); the result is what the model would read."""
        gpt = await draft.gpt(lock=False)
        action = await draft.tools.action(gpt, action_id)
        return await run_operation(draft.session, draft.settings, gpt, action, data, tester_id=draft.user.id)


class McpServerController(Controller):
    path = "/api/gpts/{gpt_id:uuid}/mcp_servers"
    tags = ["tools"]
    dependencies = {"draft": Provide(provide_draft)}

    @get("/")
    async def list_mcp_servers(self, draft: Draft) -> list[McpServerRead]:
        """The draft's MCP servers with the tools each listed when saved; header values are never shown."""
        gpt = await draft.gpt(lock=False)
        return await draft.tools.read_mcp_servers(await draft.tools.mcp_servers(gpt))

    @post("/", status_code=201)
    async def create_mcp_server(self, draft: Draft, data: McpServerCreate) -> McpServerRead:
        """Add a streamable-HTTP MCP server; its tools are listed now (422 when it cannot be reached)."""
        gpt = await draft.gpt(lock=True)
        return (await draft.tools.read_mcp_servers([await draft.tools.create_mcp_server(gpt, data)]))[0]

    @get("/{server_id:uuid}")
    async def get_mcp_server(self, draft: Draft, server_id: uuid.UUID) -> McpServerRead:
        gpt = await draft.gpt(lock=False)
        return (await draft.tools.read_mcp_servers([await draft.tools.mcp_server(gpt, server_id)]))[0]

    @patch("/{server_id:uuid}")
    async def update_mcp_server(
        self, draft: Draft, server_id: uuid.UUID, data: McpServerUpdate
    ) -> McpServerRead:
        """Change what is sent; a new URL, headers or token lists the tools again."""
        gpt = await draft.gpt(lock=True)
        row = await draft.tools.update_mcp_server(gpt, await draft.tools.mcp_server(gpt, server_id), data)
        return (await draft.tools.read_mcp_servers([row]))[0]

    @delete("/{server_id:uuid}", status_code=204)
    async def delete_mcp_server(self, draft: Draft, server_id: uuid.UUID) -> None:
        gpt = await draft.gpt(lock=True)
        await draft.tools.delete_mcp_server(gpt, await draft.tools.mcp_server(gpt, server_id))


route_handlers = [ActionController, McpServerController]
