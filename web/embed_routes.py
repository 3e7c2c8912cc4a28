"""The embedded chat window (`/embed/{gpt_id}`, the one page other sites may frame) and the owner's embed
settings page (`/g/{gpt_id}/embed`: the snippet and the allowed origins). docs/embed.md.

The chat window is anonymous: it never reads the session cookie (a framed page does not get it anyway)
and sets no CSRF cookie. It carries a visitor's session token scoped to the GPT, which `embed-frame.js`
sends to `POST /api/embed/{gpt_id}/messages` (store/embed_routes.py).
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import MediaType, Request, get, post
from litestar.response import Redirect, Template
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from builder.service import GptService
from core.auth import client_ip
from core.errors import NotFound, RateLimited
from core.models import User
from core.settings import Settings
from store.embed import EmbedService, EmbedSettings, frame_ancestors
from store.schemas import GptPage
from store.service import StoreService
from web.forms import form_values, submit
from web.security import CONTENT_SECURITY_POLICY, FRAMEABLE_HEADER
from web.session import login_required
from web.templates import render


def _frameable_headers(origins: list[str]) -> dict[str, str]:
    policy = CONTENT_SECURITY_POLICY.replace(
        "frame-ancestors 'none'", f"frame-ancestors {frame_ancestors(origins)}"
    )
    return {"content-security-policy": policy, FRAMEABLE_HEADER.decode(): "1", "cache-control": "no-store"}


@get("/embed/{gpt_id:uuid}", name="embed")
async def embed_chat(
    request: Request, gpt_id: uuid.UUID, db_session: AsyncSession, settings: Settings, redis: Redis
) -> Template:
    """A visitor's chat window: a new session token for a public or link GPT. Otherwise a 404 saying the
    chat is not available, which any site may frame (it names nothing of the GPT): the GPT's sites show it
    in their window rather than the browser's refused-frame page."""
    service = EmbedService(db_session, settings, redis)
    address = client_ip(request)
    try:
        gpt = GptPage.model_validate(
            await StoreService(db_session, settings, redis).cached_page(gpt_id, None)
        )
        _, origins, token = await service.open_session(gpt_id, address)
    except NotFound:
        return Template(
            "embed_unavailable.html",
            status_code=404,
            headers=_frameable_headers([]),
            media_type=MediaType.HTML,
        )
    except RateLimited as exc:  # said inside the frame, where the visitor looks
        origins = await service.allowed_origins(gpt_id)
        headers = {**_frameable_headers(origins), **(exc.headers or {})}
        context = {"gpt": gpt, "token": "", "error": exc.detail}
        return Template(
            "embed.html", context=context, status_code=429, headers=headers, media_type=MediaType.HTML
        )
    context = {"gpt": gpt, "token": token, "error": None}
    return Template(
        "embed.html", context=context, headers=_frameable_headers(origins), media_type=MediaType.HTML
    )


@get("/g/{gpt_id:uuid}/embed", name="embed_settings")
async def embed_settings(
    request: Request, gpt_id: uuid.UUID, page_user: User | None, db_session: AsyncSession,
    settings: Settings, redis: Redis, saved: bool = False,
) -> Any:  # fmt: skip
    """The owner's snippet and allowed origins (`GET /api/gpts/{id}/embed`)."""
    if redirect := login_required(page_user, request):
        return redirect
    embed = await EmbedService(db_session, settings, redis).read(page_user, gpt_id, str(request.base_url))
    values = {"allowed_origins": "\n".join(embed.allowed_origins)}
    return render(
        request, "embed_settings.html", page_user, embed=embed, values=values, errors={}, saved=saved
    )


@post("/g/{gpt_id:uuid}/embed")
async def save_embed_settings(
    request: Request, gpt_id: uuid.UUID, page_user: User | None, db_session: AsyncSession,
    settings: Settings, redis: Redis,
) -> Any:  # fmt: skip
    """Set the allowed origins, one per line (`PUT /api/gpts/{id}/embed`); errors at the field."""
    if redirect := login_required(page_user, request, f"/g/{gpt_id}/embed"):
        return redirect
    service = EmbedService(db_session, settings, redis)
    base_url = str(request.base_url)
    values = await form_values(request, "allowed_origins")
    lines = [line.strip() for line in values["allowed_origins"].splitlines() if line.strip()]
    outcome = await submit(
        db_session,
        EmbedSettings,
        {"allowed_origins": lines},
        lambda data: service.configure(page_user, gpt_id, data, base_url),
        allowed=lambda: GptService(db_session, settings).get_owned(page_user, gpt_id),
    )
    if outcome.ok:
        return Redirect(f"/g/{gpt_id}/embed?saved=true", status_code=303)
    embed = await service.read(page_user, gpt_id, base_url)
    return render(
        request, "embed_settings.html", page_user, embed=embed, values=values, errors=outcome.errors,
        saved=False, status_code=outcome.status,
    )  # fmt: skip


embed_handlers = [embed_chat, embed_settings, save_embed_settings]
