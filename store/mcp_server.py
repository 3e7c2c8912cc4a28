"""Each published GPT as an MCP server at `/mcp/gpts/{gpt_id}` (streamable HTTP, the official `mcp` SDK).

One `MCPServer` serves every GPT, stateless (each HTTP request stands alone, so any worker answers it) and
with JSON responses. Before the SDK sees a request, `McpMount` authenticates it (`Authorization: Bearer`
with an API key `gsk_...`, or an access token: 401 otherwise) and resolves the GPT from the path to one the
key's user may use, as `/v1/models` lists them (404 otherwise, never 403); the tools read both from the
request scope.

Tools:
- `ask(question, conversation_id?)`: answered by the GPT through the store chat (`store.chat.ChatService`):
  the grounded-answer path with its verbatim guard, citations, the rate limit of chat messages, usage
  counted (a new conversation when no `conversation_id` is given, a message per answer), and the
  conversation stored, so it shows in the web app and under `/v1/conversations`.
- `search_knowledge(query, limit)`: passages of the GPT's **open** knowledge files only (the live version's
  files marked open); private files are never searched here. Rate limited as a chat message, not counted
  as one.
Failures a caller can act on (rate limit, unknown conversation, the GPT gone, a provider failure) are MCP
tool errors (`isError: true`) with the reason in plain words; so are arguments that do not fit a tool's
input schema (named by field, so a model can correct them, as the spec's 2025-11-25 revision asks).
Protocol errors follow JSON-RPC and the MCP spec: an unknown tool, prompt or resource, or a request whose
params do not fit the method, is `-32602` (Invalid params) naming what was not found; a method the server
does not offer is `-32601`.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import asgi
from litestar.types import Receive, Scope, Send
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS
from pydantic import Field, ValidationError
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from core import ratelimit
from core.auth import AccountService
from core.db import Database
from core.errors import AppError, NotFound, Unauthorized
from core.llm import get_llm
from core.models import User
from core.schemas import MESSAGE_MAX_CHARS, NOT_BLANK, SHOWS_TEXT
from core.settings import Settings
from retrieval.answer import Answer
from retrieval.attribution import license_url
from retrieval.citations import cited_dataset, on_site, site_of
from retrieval.service import KnowledgeService
from store.chat import ChatService
from store.conversations import ConversationService
from store.mcp_schemas import AskResult, CitationOut, Passage, SearchResult
from store.models import Conversation
from store.openai_ids import conversation_key, conversation_public_id
from store.service import StoreService

MOUNT_PATH = "/mcp"
GPT_PATH = re.compile(r"^/gpts/(?P<gpt_id>[^/]+)/?$")
SCOPE_KEY = "gptstore.mcp"
QUESTION_MAX_CHARS = MESSAGE_MAX_CHARS  # as the store chat
SEARCH_LIMIT_MAX = 20


@dataclass(frozen=True)
class Caller:
    """What `McpMount` resolved for one request: who asks, which GPT, and the app's resources."""

    user_id: uuid.UUID
    gpt_id: uuid.UUID
    db: Database
    settings: Settings
    redis: Redis


def _caller(ctx: Context) -> Caller:
    request = ctx.request_context.request
    caller = request.scope.get(SCOPE_KEY) if request is not None else None
    if caller is None:  # only reachable through McpMount, which always sets it
        raise ToolError("This server answers only at /mcp/gpts/{gpt_id}.")
    return caller


@asynccontextmanager
async def _session(caller: Caller) -> AsyncIterator[tuple[AsyncSession, User]]:
    """A transaction of its own for one tool call, with the caller's user; app errors become tool errors."""
    try:
        async with caller.db.session_scope() as session:
            user = await session.get(User, caller.user_id)
            if user is None:
                raise NotFound("The account behind this API key no longer exists")
            yield session, user
    except AppError as exc:
        raise ToolError(exc.detail) from None


def argument_problems(tool: str, error: ValidationError) -> str:
    """A tool's refused arguments in words: each argument and what is wrong with it (not pydantic's dump)."""
    reasons = []
    for item in error.errors(include_url=False):
        where = ".".join(str(part) for part in item["loc"]) or "arguments"
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "missing":
            message = "is required"
        elif item["type"] == "extra_forbidden":
            message = "is not an argument of this tool"
        reasons.append(f"'{where}' {message[:1].lower()}{message[1:]}")
    return f"Invalid arguments for {tool}: " + "; ".join(reasons) + "."


class GptMcpServer(MCPServer):
    """`MCPServer` with the spec's error codes where the SDK answers otherwise.

    The SDK reports an unknown tool as a tool result and an unknown prompt as JSON-RPC code 0; both are
    `-32602` here. Arguments that fail a tool's schema stay tool errors, in words (`argument_problems`).
    """

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        if self._tool_manager.get_tool(name) is None:
            raise MCPError(code=INVALID_PARAMS, message=f"Unknown tool: {name}", data={"name": name})
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            if not isinstance(exc.__cause__, ValidationError):
                raise
            raise ToolError(argument_problems(name, exc.__cause__)) from exc.__cause__

    async def get_prompt(
        self, name: str, arguments: dict[str, Any] | None = None, context: Any = None
    ) -> Any:
        if self._prompt_manager.get_prompt(name) is None:
            raise MCPError(code=INVALID_PARAMS, message=f"Unknown prompt: {name}", data={"name": name})
        try:
            return await super().get_prompt(name, arguments, context)
        except ValueError as exc:  # the SDK's wrapper for a prompt's missing or invalid arguments
            raise MCPError(code=INVALID_PARAMS, message=str(exc), data={"name": name}) from exc


def build_server() -> MCPServer:
    """The MCP server with the tools `ask` and `search_knowledge` (the GPT comes from the request)."""
    server = GptMcpServer(
        "gptstore",
        title="A gptstore GPT",
        instructions=(
            "Tools of one custom GPT of a gptstore: `ask` answers as the GPT, from its instructions and "
            "knowledge, with citations; `search_knowledge` returns passages of its open knowledge files."
        ),
    )

    @server.tool(
        description=(
            "Ask this GPT a question. It answers from its knowledge with numbered citations [n]. Pass the "
            "returned conversation_id with the next question to continue the same conversation."
        )
    )
    async def ask(
        question: Annotated[str, Field(min_length=1, max_length=QUESTION_MAX_CHARS), NOT_BLANK, SHOWS_TEXT],
        ctx: Context,
        conversation_id: str | None = None,
    ) -> AskResult:
        caller = _caller(ctx)
        async with _session(caller) as (session, user):
            chat = ChatService(session, caller.settings, caller.redis, get_llm(caller.settings))
            if conversation_id is None:
                await StoreService(session, caller.settings, caller.redis).visible_listing(
                    caller.gpt_id, user
                )
                await chat.check_rate(user)  # after the checks: a refused call counts nothing
                conversation = await chat.start(user, caller.gpt_id)
            else:
                key = conversation_key(conversation_id)
                conversation = await session.get(Conversation, key) if key else None
                if conversation is None or conversation.user_id != user.id:
                    raise NotFound(
                        f"No conversation '{conversation_id}' of yours; leave conversation_id out to start "
                        "one"
                    )
                if conversation.gpt_id is None:  # made under /v1/conversations: its first answer binds it
                    conversations = ConversationService(session, caller.settings, caller.redis)
                    await conversations.bind(user, conversation, caller.gpt_id)
                if conversation.gpt_id != caller.gpt_id:
                    raise NotFound(
                        f"Conversation '{conversation_id}' is with another GPT; ask that GPT in it, or leave "
                        "conversation_id out to start one with this one"
                    )
                await chat.pinned_version(user, conversation, repin=False)
                await chat.check_rate(user)
            answer: Answer | None = None
            # An MCP client cannot approve a call: one that needs approval ends the answer with a note.
            async for event in chat.reply(user, conversation, question, can_ask=False):
                if isinstance(event, tuple):
                    answer = event[1]
            assert answer is not None
            site = site_of(ctx.request_context.request.base_url)  # an MCP client follows whole URLs only
            return AskResult(
                answer=answer.content,
                citations=[CitationOut(**c.as_json(site)) for c in answer.citations],
                conversation_id=conversation_public_id(conversation.id),
            )

    @server.tool(
        description=(
            "Search this GPT's open knowledge files (the ones anyone may read and download) for passages "
            "relevant to a query. Private knowledge files are never searched here."
        )
    )
    async def search_knowledge(
        query: Annotated[str, Field(min_length=1, max_length=QUESTION_MAX_CHARS), NOT_BLANK, SHOWS_TEXT],
        ctx: Context,
        limit: Annotated[int, Field(ge=1, le=SEARCH_LIMIT_MAX)] = 5,
    ) -> SearchResult:
        caller = _caller(ctx)
        async with _session(caller) as (session, user):
            settings = caller.settings
            store = StoreService(session, settings, caller.redis)
            version = await store.live_version(await store.visible_listing(caller.gpt_id, user))
            await ratelimit.enforce(
                caller.redis, user.id, "messages", settings.rate_limit_messages_per_minute, 60
            )
            knowledge = KnowledgeService(session, settings)
            files = await knowledge.files_by_ids(
                await knowledge.version_file_ids(version.file_ids, version.datasets)
            )
            open_ids = [f.id for f in files if f.access == "open"]
            if not open_ids:
                return SearchResult(passages=[], note="This GPT has no open knowledge files.")
            hits = await knowledge.search(caller.gpt_id, query, k=limit, file_ids=open_ids, for_answer=True)
            # An MCP client is elsewhere: the links it is given are whole URLs on this site.
            site = site_of(ctx.request_context.request.base_url)  # set: _caller found the request
            passages = [
                Passage(
                    text=h.hit.text,
                    file_id=str(h.hit.file_id),
                    filename=h.filename,
                    page=h.hit.page,
                    heading=h.hit.heading,
                    score=h.hit.score,
                    download_url=f"{site}/api/store/gpts/{caller.gpt_id}/files/{h.hit.file_id}/download",
                    license=h.license,
                    license_url=license_url(h.license),
                    dataset_id=str(h.dataset_id) if h.dataset_id else None,
                    dataset=on_site(cited_dataset(h), site),
                )
                for h in hits
                if h.access == "open"  # open_ids already say so; a file made private since stays out
            ]
            note = None if passages else "The open knowledge files hold nothing relevant to this query."
            return SearchResult(passages=passages, note=note)

    return server


async def _problem(send: Send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    titles = {401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed"}
    body = json.dumps({"type": "about:blank", "title": titles[status], "status": status, "detail": detail})
    raw_headers = [(b"content-type", b"application/problem+json")]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body.encode()})


class McpMount:
    """The MCP servers of all GPTs under `/mcp`: authentication and the GPT checked, then the SDK."""

    def __init__(self, settings: Settings):
        self.server = build_server()
        self.max_request_body_size = settings.max_request_body_bytes
        self.manager = self._session_manager()

    def _session_manager(self) -> StreamableHTTPSessionManager:
        return StreamableHTTPSessionManager(
            app=self.server._lowlevel_server,  # the SDK's own streamable_http_app() does the same
            json_response=True,
            stateless=True,
            max_request_body_size=self.max_request_body_size,
        )

    def lifespan(self) -> Any:
        """Runs the SDK's session manager for the app's lifetime (Litestar `lifespan` entry)."""

        @asynccontextmanager
        async def run(_: Any) -> AsyncIterator[None]:
            # A session manager runs once: an app started again (the tests reuse apps) gets a new one.
            self.manager = self._session_manager()
            async with self.manager.run():
                yield

        return run

    async def _resolve(self, scope: Scope, gpt_text: str) -> Caller:
        state = scope["app"].state
        header = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), "")
        scheme, _, credential = header.partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise Unauthorized("Use 'Authorization: Bearer <API key>' (create a key on your account page)")
        try:
            gpt_id = uuid.UUID(gpt_text)
        except ValueError:
            raise NotFound("No such GPT") from None
        async with state.db.session_scope() as session:
            # with Redis: the deny-list of logged-out tokens
            accounts = AccountService(session, state.settings, state.redis)
            user = await accounts.user_for_credential(credential.strip())
            await StoreService(session, state.settings).visible_listing(gpt_id, user)
        return Caller(user.id, gpt_id, state.db, state.settings, state.redis)

    def handler(self) -> Any:
        """The Litestar ASGI mount at `/mcp`."""

        # Tool arguments are a language model's text: the request guard cleans U+0000 and lone surrogates
        # from every string (as from a model's own replies) rather than refusing with an HTTP 422 that an
        # MCP client shows as a bare "error response".
        @asgi(MOUNT_PATH, is_mount=True, include_in_schema=False, opt={"model_text": True})
        async def mcp_gpts(scope: Scope, receive: Receive, send: Send) -> None:
            path = (
                scope["path"].removeprefix(MOUNT_PATH)
                if scope["path"].startswith(MOUNT_PATH + "/")
                else scope["path"]
            )
            match = GPT_PATH.match(path)
            if match is None:
                await _problem(send, 404, "MCP servers are at /mcp/gpts/{gpt_id}")
                return
            try:
                caller = await self._resolve(scope, match["gpt_id"])
            except Unauthorized as exc:
                await _problem(send, 401, exc.detail, {"WWW-Authenticate": 'Bearer realm="gptstore"'})
                return
            except NotFound as exc:
                await _problem(send, 404, exc.detail)
                return
            if (
                scope["method"] == "GET"
            ):  # stateless: no session, so a GET's event stream would never carry one
                await _problem(
                    send, 405, "This MCP server sends no event stream: POST requests", {"Allow": "POST"}
                )
                return
            await self.manager.handle_request({**scope, SCOPE_KEY: caller}, receive, send)

        return mcp_gpts
