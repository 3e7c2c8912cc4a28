"""A GPT draft's actions and MCP servers (docs/tools.md)."""

from __future__ import annotations

import uuid

from litestar import Controller, delete, get, patch, post
from sqlalchemy.ext.asyncio import AsyncSession

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


async def _owned(db_session: AsyncSession, settings: Settings, user: User, gpt_id: uuid.UUID, *, lock: bool):
    return await GptService(db_session, settings).get_owned(user, gpt_id, for_update=lock)


class ActionController(Controller):
    path = "/api/gpts/{gpt_id:uuid}/actions"
    tags = ["tools"]

    @get("/")
    async def list_actions(
        self, gpt_id: uuid.UUID, current_user: User, db_session: AsyncSession, settings: Settings
    ) -> list[ActionRead]:
        """The draft's actions, oldest first; secrets show only whether one is set and its last 4."""
        gpt = await _owned(db_session, settings, current_user, gpt_id, lock=False)
        tools = ToolService(db_session, settings)
        return await tools.read_actions(await tools.actions(gpt))

    @post("/", status_code=201)
    async def create_action(
        self,
        gpt_id: uuid.UUID,
        data: ActionCreate,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
    ) -> ActionRead:
        """Add an action from an OpenAPI 3.0/3.1 document (pasted, or `import_url`); 422 names the problem."""
        gpt = await _owned(db_session, settings, current_user, gpt_id, lock=True)
        tools = ToolService(db_session, settings)
        return (await tools.read_actions([await tools.create_action(gpt, data)]))[0]

    @get("/{action_id:uuid}")
    async def get_action(
        self,
        gpt_id: uuid.UUID,
        action_id: uuid.UUID,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
    ) -> ActionRead:
        gpt = await _owned(db_session, settings, current_user, gpt_id, lock=False)
        tools = ToolService(db_session, settings)
        return (await tools.read_actions([await tools.action(gpt, action_id)]))[0]

    @patch("/{action_id:uuid}")
    async def update_action(
        self,
        gpt_id: uuid.UUID,
        action_id: uuid.UUID,
        data: ActionUpdate,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
    ) -> ActionRead:
        """Change what is sent; `auth.secret` omitted keeps the stored one, null removes it."""
        gpt = await _owned(db_session, settings, current_user, gpt_id, lock=True)
        tools = ToolService(db_session, settings)
        row = await tools.update_action(gpt, await tools.action(gpt, action_id), data)
        return (await tools.read_actions([row]))[0]

    @delete("/{action_id:uuid}", status_code=204)
    async def delete_action(
        self,
        gpt_id: uuid.UUID,
        action_id: uuid.UUID,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
    ) -> None:
        gpt = await _owned(db_session, settings, current_user, gpt_id, lock=True)
        tools = ToolService(db_session, settings)
        await tools.delete_action(gpt, await tools.action(gpt, action_id))

    @post("/{action_id:uuid}/test", status_code=200)
    async def test_action(
        self,
        gpt_id: uuid.UUID,
        action_id: uuid.UUID,
        data: ActionTestRequest,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
    ) -> ActionTestRead:
        """Run one operation once with these arguments, as the chat would (no approval asked: the creator
        is the one pressing the button); the result is what the model would read."""
        gpt = await _owned(db_session, settings, current_user, gpt_id, lock=False)
        action = await ToolService(db_session, settings).action(gpt, action_id)
        return await run_operation(db_session, settings, gpt, action, data)


class McpServerController(Controller):
    path = "/api/gpts/{gpt_id:uuid}/mcp_servers"
    tags = ["tools"]

    @get("/")
    async def list_mcp_servers(
        self, gpt_id: uuid.UUID, current_user: User, db_session: AsyncSession, settings: Settings
    ) -> list[McpServerRead]:
        """The draft's MCP servers with the tools each listed when saved; header values are never shown."""
        gpt = await _owned(db_session, settings, current_user, gpt_id, lock=False)
        tools = ToolService(db_session, settings)
        return await tools.read_mcp_servers(await tools.mcp_servers(gpt))

    @post("/", status_code=201)
    async def create_mcp_server(
        self,
        gpt_id: uuid.UUID,
        data: McpServerCreate,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
    ) -> McpServerRead:
        """Add a streamable-HTTP MCP server; its tools are listed now (422 when it cannot be reached)."""
        gpt = await _owned(db_session, settings, current_user, gpt_id, lock=True)
        tools = ToolService(db_session, settings)
        return (await tools.read_mcp_servers([await tools.create_mcp_server(gpt, data)]))[0]

    @get("/{server_id:uuid}")
    async def get_mcp_server(
        self,
        gpt_id: uuid.UUID,
        server_id: uuid.UUID,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
    ) -> McpServerRead:
        gpt = await _owned(db_session, settings, current_user, gpt_id, lock=False)
        tools = ToolService(db_session, settings)
        return (await tools.read_mcp_servers([await tools.mcp_server(gpt, server_id)]))[0]

    @patch("/{server_id:uuid}")
    async def update_mcp_server(
        self,
        gpt_id: uuid.UUID,
        server_id: uuid.UUID,
        data: McpServerUpdate,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
    ) -> McpServerRead:
        """Change what is sent; a new URL, headers or token lists the tools again."""
        gpt = await _owned(db_session, settings, current_user, gpt_id, lock=True)
        tools = ToolService(db_session, settings)
        row = await tools.update_mcp_server(gpt, await tools.mcp_server(gpt, server_id), data)
        return (await tools.read_mcp_servers([row]))[0]

    @delete("/{server_id:uuid}", status_code=204)
    async def delete_mcp_server(
        self,
        gpt_id: uuid.UUID,
        server_id: uuid.UUID,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
    ) -> None:
        gpt = await _owned(db_session, settings, current_user, gpt_id, lock=True)
        tools = ToolService(db_session, settings)
        await tools.delete_mcp_server(gpt, await tools.mcp_server(gpt, server_id))


route_handlers = [ActionController, McpServerController]
