"""An OpenAI-compatible API: every GPT the caller may use is a model, answering with its knowledge.

`model` is the GPT's id. Answers come from the same grounded-answer code as the store chat, so a GPT
behaves the same in any OpenAI client. Client `system`/`developer` messages add to the GPT's instructions and
never replace them. Citations ride along in a `citations` field of the message (streamed: of the last delta
of each choice), which clients may ignore. Every error under `/v1` is in OpenAI's shape
(`core.openai_errors`); `docs/api.md` lists the parameters (`store/data/openai_parameters.toml`).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import sqlalchemy as sa
from litestar import Controller, Request, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from pydantic import BaseModel
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound
from core.llm import get_llm
from core.models import User
from core.settings import Settings
from core.sse import RawEventStream
from orgs import access
from retrieval.citations import site_of
from store import openai_service
from store.dataset_stats import counted_choices
from store.models import Listing
from store.openai_checks import check_request
from store.openai_params import ChatCompletionRequest
from store.service import StoreService

MODELS_LIMIT = 1000
T = TypeVar("T")


class OpenAIErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIError(BaseModel):
    """OpenAI's error body."""

    error: OpenAIErrorDetail


def _error_specs(*statuses: int) -> dict[int, ResponseSpec]:
    descriptions = {
        400: "Invalid request: `param` names the parameter",
        401: "Missing or invalid API key (`invalid_api_key`)",
        404: "Unknown model (`model_not_found`)",
        429: "Rate limit (`rate_limit_exceeded`), with Retry-After",
        502: "The chat model provider failed",
        503: "The chat model provider is unavailable",
    }
    return {
        status: ResponseSpec(
            data_container=OpenAIError, description=descriptions[status], generate_examples=False
        )
        for status in statuses
    }


def _model(listing_row: Any) -> dict[str, Any]:
    return {
        "id": str(listing_row.gpt_id),
        "object": "model",
        "created": int((listing_row.first_approved_at or listing_row.updated_at).timestamp()),
        # The organisation owns its GPTs (whoever made one gains nothing and may leave): name it, not them.
        "owned_by": str(listing_row.organization_id or listing_row.owner_id),
    }


async def _prepend(first: T, rest: AsyncIterator[T]) -> AsyncIterator[T]:
    yield first
    async for item in rest:
        yield item


class OpenAIController(Controller):
    path = "/v1"
    tags = ["openai-compatible"]

    @get("/models", responses=_error_specs(401))
    async def models(self, current_user: User, db_session: AsyncSession) -> dict[str, Any]:
        """The caller's own published GPTs (and their organisations'), and the store's listed GPTs (by
        trending), as models."""
        editable = access.allowed(current_user, Listing.owner_id, Listing.organization_id, "edit")
        shared = sa.and_(
            Listing.visibility != "private",
            access.allowed(current_user, Listing.owner_id, Listing.organization_id, "view"),
        )
        rows = await db_session.execute(
            sa.select(
                Listing.gpt_id,
                Listing.owner_id,
                Listing.organization_id,
                Listing.first_approved_at,
                Listing.updated_at,
            )
            .where(Listing.live_version.is_not(None), sa.or_(Listing.listed, editable, shared))
            .order_by(sa.or_(editable, shared).desc(), Listing.trending_score.desc(), Listing.gpt_id)
            .limit(MODELS_LIMIT)
        )
        return {"object": "list", "data": [_model(row) for row in rows]}

    @get("/models/{model:str}", responses=_error_specs(401, 404))
    async def model(
        self, model: str, current_user: User, db_session: AsyncSession, settings: Settings
    ) -> dict[str, Any]:
        """One GPT the caller may use, as a model; 404 `model_not_found` otherwise."""
        try:
            listing = await StoreService(db_session, settings).visible_listing(uuid.UUID(model), current_user)
        except (ValueError, NotFound):
            raise openai_service.model_not_found(model) from None
        return _model(listing)

    @post(
        "/chat/completions",
        status_code=200,
        responses=_error_specs(400, 401, 404, 429, 502, 503),
    )
    async def chat_completions(
        self,
        request: Request,
        data: ChatCompletionRequest,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
        redis: Redis,
    ) -> Any:
        """Answer as the GPT named by `model`, streaming or not, in OpenAI's response shapes."""
        check_request(data, settings)
        plan = await openai_service.plan(db_session, settings, redis, current_user, data)
        plan.site = site_of(request.base_url)  # an API client follows whole URLs only
        answers = openai_service.choices(settings, get_llm(settings), plan)
        events = counted_choices(redis, plan.context.gpt_id, answers)
        if not data.stream:
            return Response(await openai_service.completion(events, plan))
        # The first event (the model's first token) before the status line: a provider that fails at once
        # answers with its own status, as OpenAI's does, not with a 200 and an error event.
        first = await anext(events)
        return RawEventStream(openai_service.chunks(_prepend(first, events), plan))


route_handlers = [OpenAIController]
