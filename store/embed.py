"""The embedded chat: a published GPT's chat on other websites, for anonymous visitors (docs/embed.md).

A visitor's chat window (`/embed/{gpt_id}`, framed by the creator's site) gets a signed session token
scoped to that GPT and the version live when it opened (`EmbedClaims`), valid `GPTSTORE_EMBED_TOKEN_MINUTES`.
Its messages are answered by the store chat's grounded-answer path (`retrieval.answer.grounded_answer`,
with the verbatim guard). The visitor's conversation is kept only in Redis, for follow-up questions, until
the token expires: it is nobody's conversation, listed nowhere, and never reaches PostgreSQL. Usage is
counted like a store chat: one conversation at a visitor's first message, one message per answer, the
visitor among the GPT's users.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import urlsplit

import jwt
import sqlalchemy as sa
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from builder.models import Gpt
from builder.service import GptService
from core import ratelimit
from core.auth import JWT_ALGORITHM
from core.db import Database
from core.errors import Forbidden, NotFound, Unauthorized
from core.llm import Delta, Message, get_llm
from core.models import User
from core.settings import Settings
from retrieval.answer import Answer, grounded_answer
from retrieval.tool_loop import VISITOR_APPROVAL_NOTE, ToolCallEnded, ToolCallStarted, sse_event
from store import usage
from store.chat import version_context
from store.dataset_stats import count_citations
from store.models import GptVersion, Listing
from store.schemas import Citation
from store.service import StoreService
from tools.chat import open_toolset

TOKEN_AUDIENCE = "gptstore-embed"
EMBEDDABLE = ("public", "link")
# The 404 of a GPT that is not (or no longer) public or link, or unknown: shown in the visitor's window.
NOT_AVAILABLE = "This chat is not available: its GPT is not published for everyone (any more)"
MAX_ORIGINS = 20
HISTORY_KEY = "gptstore:embed:chat:{visitor}"
# scheme://host[:port]: a DNS name (a leading "*." for every subdomain, as CSP allows) or IPv4.
_HOST = re.compile(r"^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def web_origin(value: str) -> str:
    """A website's origin as CSP `frame-ancestors` takes it: `https://example.com[:port]`, lower case.

    Raises ValueError naming what is wrong (a path, a query, credentials, another scheme, a bad host).
    """
    text = value.strip()
    if not text or any(c.isspace() or c in ";,'\"" for c in text):
        raise ValueError(f"{value!r} is not an origin like https://example.com")
    parts = urlsplit(text)
    if parts.scheme not in _DEFAULT_PORTS or not parts.netloc:
        raise ValueError(f"{value!r}: an origin starts with https:// or http://")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{value!r}: an origin has no user name or password")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{value!r}: an origin has no path, query or fragment")
    host = parts.netloc.rsplit("@", 1)[-1]
    if host.startswith("["):
        # CSP's host-source grammar has no IPv6 literal (CSP Level 3, section 2.3.1: host-char is ALPHA,
        # DIGIT or "-"): browsers drop such a source and refuse every frame, so it is refused here.
        raise ValueError(
            f"{value!r}: an IPv6 address cannot be allowed (Content-Security-Policy has no syntax for it); "
            "use the website's host name"
        )
    name, _, port_text = host.partition(":")
    try:
        wildcard = name.startswith("*.")
        name = ("*." if wildcard else "") + name.removeprefix("*.").encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise ValueError(f"{value!r}: the host name is not valid") from None
    if not _HOST.match(name):
        raise ValueError(f"{value!r}: the host name is not valid")
    # A host whose last label is a number is an IPv4 address to a browser (the URL Standard's "ends in a
    # number"), which reads `2130706433`, `0x7f.1` or `127.1` as 127.0.0.1: CSP would never match the entry
    # as typed, so only the dotted form is taken.
    last = name.rsplit(".", 1)[-1]
    if last.isdigit() or (last.startswith("0x") and all(c in "0123456789abcdef" for c in last[2:])):
        try:
            canonical = str(ipaddress.IPv4Address(name))
        except ValueError:
            canonical = None
        if canonical != name:
            raise ValueError(
                f"{value!r}: write an IPv4 address as four decimal numbers, such as http://127.0.0.1:8080"
            )
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"{value!r}: the port must be a number from 1 to 65535")
        if int(port_text) == _DEFAULT_PORTS[parts.scheme]:
            port_text = None
    return f"{parts.scheme}://{name}" + (f":{int(port_text)}" if port_text else "")


WebOrigin = Annotated[str, Field(max_length=300), AfterValidator(web_origin)]


class EmbedSettings(BaseModel):
    """What a creator sets: the websites allowed to show the chat (empty: any website)."""

    model_config = ConfigDict(extra="forbid")

    allowed_origins: list[WebOrigin] = Field(
        default_factory=list,
        max_length=MAX_ORIGINS,
        description="Origins like `https://example.com` whose pages may frame the chat; empty: any",
    )


class EmbedRead(BaseModel):
    gpt_id: uuid.UUID
    embeddable: bool = Field(description="Published as public or link: the snippet works")
    visibility: str | None = Field(description="The live version's visibility; None before publishing")
    allowed_origins: list[str]
    snippet: str | None = Field(description="The one-line `<script>` to paste into a page, when embeddable")


class EmbedReplyRead(BaseModel):
    role: str = "assistant"
    content: str
    citations: list[Citation] = []


@dataclass(frozen=True)
class EmbedClaims:
    """An anonymous visitor's session: who (a random id), which GPT and which of its versions."""

    visitor: uuid.UUID
    gpt_id: uuid.UUID
    version: int
    expires_at: datetime


def snippet(base_url: str, gpt_id: uuid.UUID) -> str:
    return f'<script src="{base_url.rstrip("/")}/static/embed.js" data-gpt="{gpt_id}" async></script>'


def frame_ancestors(origins: list[str]) -> str:
    """The CSP `frame-ancestors` sources: the allowed origins, or `*` (any web page) when none are set."""
    return " ".join(origins) if origins else "*"


def client_key(address: str | None) -> str:
    """A client address as a rate-limit key (hashed: addresses are not kept in Redis as such)."""
    return hashlib.sha256((address or "unknown").encode()).hexdigest()[:32]


class EmbedService:
    def __init__(self, session: AsyncSession, settings: Settings, redis: Redis):
        self.session = session
        self.settings = settings
        self.redis = redis

    # The creator's side ---------------------------------------------------------------------------

    async def read(self, owner: User, gpt_id: uuid.UUID, base_url: str) -> EmbedRead:
        """The embed settings and snippet of the owner's GPT (404 for anyone else's)."""
        gpt = await GptService(self.session, self.settings).get_owned(owner, gpt_id)
        listing = await self.session.get(Listing, gpt.id)
        visibility = listing.visibility if listing is not None and listing.live_version else None
        embeddable = visibility in EMBEDDABLE
        return EmbedRead(
            gpt_id=gpt.id,
            embeddable=embeddable,
            visibility=visibility,
            allowed_origins=list(gpt.embed_origins),
            snippet=snippet(base_url, gpt.id) if embeddable else None,
        )

    async def configure(
        self, owner: User, gpt_id: uuid.UUID, data: EmbedSettings, base_url: str
    ) -> EmbedRead:
        """Set the allowed origins (validated and de-duplicated); applies to chat windows opened after."""
        gpt = await GptService(self.session, self.settings).get_owned(owner, gpt_id, for_update=True)
        gpt.embed_origins = list(dict.fromkeys(data.allowed_origins))
        await self.session.flush()
        return await self.read(owner, gpt_id, base_url)

    # The visitor's side ---------------------------------------------------------------------------

    async def open_session(self, gpt_id: uuid.UUID, address: str | None) -> tuple[Listing, list[str], str]:
        """A new visitor's session token for a public or link GPT, with the origins that may frame it.

        Limited to `GPTSTORE_EMBED_SESSIONS_PER_IP_PER_HOUR` per client address (429); a private,
        unpublished or unknown GPT is a 404.
        """
        listing = await self._embeddable(gpt_id)
        await ratelimit.enforce(
            self.redis,
            client_key(address),
            "embed-sessions",
            self.settings.embed_sessions_per_ip_per_hour,
            3600,
        )
        origins = await self.allowed_origins(gpt_id)
        now = datetime.now(UTC)
        claims = {
            "sub": str(uuid.uuid4()),
            "gpt": str(gpt_id),
            "ver": listing.live_version,
            "typ": "embed",
            "aud": TOKEN_AUDIENCE,
            "iat": now,
            "exp": now + timedelta(minutes=self.settings.embed_token_minutes),
        }
        return listing, origins, jwt.encode(claims, self.settings.secret(), algorithm=JWT_ALGORITHM)

    async def allowed_origins(self, gpt_id: uuid.UUID) -> list[str]:
        origins = await self.session.scalar(sa.select(Gpt.embed_origins).where(Gpt.id == gpt_id))
        return list(origins or [])

    def claims(self, token: str | None, gpt_id: uuid.UUID) -> EmbedClaims:
        """The session behind a token: 401 when missing, invalid or expired, 403 for another GPT's token."""
        if not token:
            raise Unauthorized("An embedded chat session token is required (Authorization: Bearer ...)")
        try:
            raw = jwt.decode(
                token,
                self.settings.secret(),
                algorithms=[JWT_ALGORITHM],
                audience=TOKEN_AUDIENCE,
                options={"require": ["exp", "sub", "aud", "gpt", "ver"]},
            )
            claims = EmbedClaims(
                visitor=uuid.UUID(raw["sub"]),
                gpt_id=uuid.UUID(raw["gpt"]),
                version=int(raw["ver"]),
                expires_at=datetime.fromtimestamp(raw["exp"], UTC),
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("The chat session has expired; reopen the chat") from None
        except (jwt.InvalidTokenError, ValueError, TypeError):
            raise Unauthorized("Invalid chat session token") from None
        if claims.gpt_id != gpt_id:
            raise Forbidden("This chat session belongs to another GPT")
        return claims

    async def check_rate(self, claims: EmbedClaims) -> None:
        """Count one message per visitor and per GPT (429 with Retry-After past either limit)."""
        limits = self.settings
        await ratelimit.enforce(
            self.redis, claims.visitor, "embed-messages", limits.embed_messages_per_visitor_per_minute, 60
        )
        await ratelimit.enforce(
            self.redis, claims.gpt_id, "embed-gpt-messages", limits.embed_messages_per_gpt_per_minute, 60
        )

    async def version(self, claims: EmbedClaims) -> GptVersion:
        """The version the session opened with, while the GPT is still public or link (else 404); once
        moderation has rejected that version, the GPT's live version (a rejected version never runs)."""
        listing = await self._embeddable(claims.gpt_id)
        for number in (claims.version, listing.live_version):
            version = await self.session.scalar(
                sa.select(GptVersion).where(GptVersion.gpt_id == claims.gpt_id, GptVersion.number == number)
            )
            if version is not None and version.review_status != "rejected":
                return version
        raise NotFound(NOT_AVAILABLE)

    async def reply(
        self, claims: EmbedClaims, content: str
    ) -> AsyncIterator[Delta | ToolCallStarted | ToolCallEnded | Answer]:
        """Stream the answer (text and the GPT's tool calls), then the whole `Answer`; callers `check_rate`
        first."""
        version = await self.version(claims)
        key = HISTORY_KEY.format(visitor=claims.visitor)
        history: list[Message] = [json.loads(m) for m in await self.redis.lrange(key, 0, -1)]
        answer = None
        llm = get_llm(self.settings)
        # The GPT's tools run as in /v1: an anonymous visitor cannot approve (nor allow for good), so a call
        # that needs approval ends the answer with a note saying so (docs/tools-chat.md); an action's
        # per-user id is the visitor's.
        toolset = await open_toolset(self.session, self.settings, claims.gpt_id, claims.visitor, version)
        try:
            async for event in grounded_answer(
                self.session, self.settings, llm, version_context(version), history, content, toolset,
                can_ask=False, approval_note=VISITOR_APPROVAL_NOTE,
            ):  # fmt: skip
                if isinstance(event, Answer):
                    answer = event
                else:
                    yield event
        finally:
            if toolset is not None:
                await toolset.aclose()
        ttl = max(int((claims.expires_at - datetime.now(UTC)).total_seconds()), 1)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, json.dumps({"role": "user", "content": content}))
            pipe.rpush(key, json.dumps({"role": "assistant", "content": answer.content}))
            pipe.ltrim(key, -self.settings.embed_history_messages, -1)
            pipe.expire(key, ttl)
            await pipe.execute()
        await usage.count(
            self.redis, claims.gpt_id, claims.visitor, conversations=0 if history else 1, messages=1
        )
        await count_citations(self.redis, claims.gpt_id, answer.citations)
        yield answer

    async def _embeddable(self, gpt_id: uuid.UUID) -> Listing:
        try:
            listing = await StoreService(self.session, self.settings, self.redis).visible_listing(
                gpt_id, None
            )
        except NotFound:
            raise NotFound(NOT_AVAILABLE) from None
        if listing.visibility not in EMBEDDABLE:
            raise NotFound(NOT_AVAILABLE)
        return listing


def reply_read(answer: Answer, site: str) -> EmbedReplyRead:
    """The answer for the embedded chat, its links whole URLs on `site` (`https://host`): the chat shows
    on another website, where `/datasets/{id}` would lead to that website's page."""
    return EmbedReplyRead(
        content=answer.content, citations=[Citation(**c.as_json(site)) for c in answer.citations]
    )


async def streamed_embed_reply(
    db: Database, settings: Settings, redis: Redis, claims: EmbedClaims, content: str, site: str
) -> AsyncIterator[tuple[str, object]]:
    """SSE events of one answer: `delta` `{text}` pieces, `tool_call.started`/`tool_call.ended`, then `done`
    with the `EmbedReplyRead`.

    The stream outlives the request's transaction, so it runs in a transaction of its own.
    """
    async with db.session_scope() as session:
        async for event in EmbedService(session, settings, redis).reply(claims, content):
            if isinstance(event, Delta):
                yield "delta", {"text": event.text}
            elif isinstance(event, ToolCallStarted | ToolCallEnded):
                yield sse_event(event)
            else:
                yield "done", reply_read(event, site).model_dump(mode="json")
