"""`/v1/responses`: the Open Responses API (OpenAI's Responses shape), every GPT the caller may use a model.

Create (streamed or not), retrieve, delete and list the input items of the caller's own responses. Auth, rate
limits, usage counting and OpenAI's error shape are those of the rest of `/v1` (`store.openai_api`); the
parameters are in `store/data/responses_parameters.toml` and `docs/api.md`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import State
from litestar.params import Parameter
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from core.llm import get_llm
from core.models import User
from core.settings import Settings
from core.sse import RawEventStream
from retrieval.citations import site_of
from store import responses as service
from store import responses_plan
from store.conversation_items import refuse
from store.dataset_stats import count_citations
from store.openai_api import _error_specs
from store.responses_output import events, sse
from store.responses_params import CreateResponseRequest, check_request

ITEMS_LIMIT_MAX = 100
# Events before the model's first output: a stream is held back until it answers, so a provider that
# fails at once answers with its own status, not with a 200 and a failed event.
_BEFORE_MODEL = {
    "response.created",
    "response.in_progress",
    "response.file_search_call.in_progress",
    "response.file_search_call.searching",
    "response.file_search_call.completed",
}


def _before_model(event: dict[str, Any]) -> bool:
    item = event.get("item") or {}
    return event["type"] in _BEFORE_MODEL or item.get("type") == "file_search_call"


async def _held_back(stream) -> Any:
    """The events up to the model's first, read now (a failure raises here), then the rest as they come."""
    held = []
    async for event in stream:
        held.append(event)
        if not _before_model(event):
            break

    async def replay():
        for event in held:
            yield event
        async for event in stream:
            yield event

    return replay()


class ResponsesController(Controller):
    path = "/v1/responses"
    tags = ["openai-compatible"]

    @post("/", status_code=200, responses=_error_specs(400, 401, 404, 429, 502, 503))
    async def create(
        self,
        request: Request,
        data: CreateResponseRequest,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
        redis: Redis,
        state: State,
    ) -> Any:
        """Answer as the GPT named by `model`: the response object, or its events with `stream: true`."""
        check_request(data, settings)
        llm = get_llm(settings)
        plan = await responses_plan.plan(db_session, settings, redis, llm, current_user, data)
        plan.site = site_of(request.base_url)  # an API client follows whole URLs only
        if not data.stream:

            async def in_request(plan, response, result) -> None:
                await service.save(db_session, plan, response, result)
                await count_citations(redis, plan.gpt_id, result.citations)

            last = None
            async for event in events(settings, llm, plan, in_request):
                last = event
            return Response(last["response"])

        async def own_transaction(plan, response, result) -> None:
            async with state.db.session_scope() as session:  # the stream outlives the request's
                await service.save(session, plan, response, result)
            await count_citations(state.redis, plan.gpt_id, result.citations)

        stream = await _held_back(events(settings, llm, plan, own_transaction))
        return RawEventStream(sse(stream))

    @get("/{response_id:str}", responses=_error_specs(400, 401, 404))
    async def retrieve(
        self,
        response_id: str,
        current_user: User,
        db_session: AsyncSession,
        stream: Annotated[
            bool,
            Parameter(
                description="Only `false`: a stored response is finished, never streamed again",
                schema_extra={"enum": [False]},  # the document says so; `true` is a 400 naming it
            ),
        ] = False,
        include: Annotated[
            list[str] | None,
            Parameter(
                description="Refused: what a response includes is chosen when it is made",
                schema_extra={"maxItems": 0},
            ),
        ] = None,
    ) -> dict[str, Any]:
        """One of the caller's stored responses, as it was made (`stream` or `include`: a 400 naming it)."""
        row = await responses_plan.owned_response(db_session, current_user, response_id)
        if stream:
            raise refuse(
                "Streaming a stored response is not supported: responses here are made while you wait (or "
                "streamed as they are made), never in the background; retrieve it without 'stream'.",
                "stream",
                "unsupported_value",
            )
        if include and any(include):  # `?include=` alone is the empty list
            raise refuse(
                "'include' is not supported here: a stored response is returned as it was made; ask for "
                "'file_search_call.results' in 'include' of POST /v1/responses.",
                "include",
                "unsupported_parameter",
            )
        return row.body

    @delete("/{response_id:str}", status_code=200, responses=_error_specs(401, 404))
    async def delete(self, response_id: str, current_user: User, db_session: AsyncSession) -> dict[str, Any]:
        """Delete one of the caller's stored responses (a conversation keeps its messages)."""
        row = await responses_plan.owned_response(db_session, current_user, response_id)
        await db_session.delete(row)
        return {"id": response_id, "object": "response", "deleted": True}

    @get("/{response_id:str}/input_items", responses=_error_specs(400, 401, 404))
    async def input_items(
        self,
        response_id: str,
        current_user: User,
        db_session: AsyncSession,
        limit: Annotated[int, Parameter(ge=1, le=ITEMS_LIMIT_MAX, description="Items per page, 1-100")] = 20,
        order: Annotated[
            Literal["asc", "desc"], Parameter(description="`desc` (default): newest first")
        ] = "desc",
        after: Annotated[
            str | None, Parameter(max_length=100, description="List items after this id")
        ] = None,
    ) -> dict[str, Any]:
        """The input items of one of the caller's stored responses, in OpenAI's list shape."""
        row = await responses_plan.owned_response(db_session, current_user, response_id)
        return await service.input_items_page(row, limit, order, after)


route_handlers = [ResponsesController]
