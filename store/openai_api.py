"""An OpenAI-compatible API: every GPT the caller may use is a model, answering with its knowledge.

`model` is the GPT's id. Answers come from the same grounded-answer code as the store chat, so a GPT
behaves the same in any OpenAI client. Client `system` messages are ignored: a GPT keeps its own
instructions. Citations ride along in a `citations` field of the message, which clients may ignore.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

import sqlalchemy as sa
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from pydantic import BaseModel, ConfigDict, Field
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from core import ratelimit
from core.errors import Invalid, NotFound
from core.llm import Delta, get_llm
from core.models import User
from core.schemas import StrictBool
from core.settings import Settings
from core.sse import RawEventStream
from retrieval.answer import Answer, grounded_answer
from store import usage
from store.chat import version_context
from store.models import Listing
from store.service import StoreService

MODELS_LIMIT = 1000


class ChatCompletionMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # temperature, top_p, ...: accepted, the GPT decides

    model: str
    messages: list[ChatCompletionMessage] = Field(min_length=1)
    stream: StrictBool = False


def _text(content: str | list[dict[str, Any]] | None) -> str:
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if part.get("type") == "text")
    return content or ""


def _completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


class OpenAIController(Controller):
    path = "/v1"
    tags = ["openai-compatible"]

    @get("/models")
    async def models(self, current_user: User, db_session: AsyncSession) -> dict[str, Any]:
        """The caller's own published GPTs and the store's listed GPTs (by trending), as models."""
        rows = await db_session.execute(
            sa.select(Listing.gpt_id, Listing.owner_id, Listing.first_approved_at, Listing.updated_at)
            .where(
                Listing.live_version.is_not(None),
                sa.or_(Listing.listed, Listing.owner_id == current_user.id),
            )
            .order_by(
                (Listing.owner_id == current_user.id).desc(), Listing.trending_score.desc(), Listing.gpt_id
            )
            .limit(MODELS_LIMIT)
        )
        return {
            "object": "list",
            "data": [
                {
                    "id": str(row.gpt_id),
                    "object": "model",
                    "created": int((row.first_approved_at or row.updated_at).timestamp()),
                    "owned_by": str(row.owner_id),
                }
                for row in rows
            ],
        }

    @post("/chat/completions", status_code=200)
    async def chat_completions(
        self,
        data: ChatCompletionRequest,
        request: Request,
        current_user: User,
        db_session: AsyncSession,
        settings: Settings,
        redis: Redis,
        state: State,
    ) -> Any:
        """Answer as the GPT named by `model`, streaming or not, in OpenAI's response shapes."""
        try:
            gpt_id = uuid.UUID(data.model)
        except ValueError:
            raise NotFound(f"The model '{data.model}' does not exist; use a GPT id from /v1/models") from None
        dialogue = [m for m in data.messages if m.role in ("user", "assistant")]
        if not dialogue or dialogue[-1].role != "user":
            raise Invalid("The last message must come from the user", field="messages")
        await ratelimit.enforce(
            redis, current_user.id, "messages", settings.rate_limit_messages_per_minute, 60
        )
        store = StoreService(db_session, settings, redis)
        listing = await store.visible_listing(gpt_id, current_user)
        version = await store.live_version(listing)
        history = [{"role": m.role, "content": _text(m.content)} for m in dialogue[:-1]]
        question = _text(dialogue[-1].content)
        context = version_context(version)
        await usage.count(redis, gpt_id, current_user.id, messages=1)
        completion_id, created = _completion_id(), int(time.time())
        if data.stream:

            async def events() -> AsyncIterator[Any]:
                async with (
                    state.db.session_scope() as session
                ):  # the request's session ends before the stream
                    async for event in grounded_answer(
                        session, settings, get_llm(settings), context, history, question
                    ):
                        yield event

            return RawEventStream(_chunks(events(), completion_id, created, data.model))
        answer: Answer | None = None
        async for event in grounded_answer(
            db_session, settings, get_llm(settings), context, history, question
        ):
            if isinstance(event, Answer):
                answer = event
        usage_numbers = answer.usage or {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        return Response(
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": data.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": answer.content,
                            "refusal": None,
                            "citations": [c.as_json() for c in answer.citations],
                        },
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage_numbers,
            }
        )


async def _chunks(
    events: AsyncIterator[Any], completion_id: str, created: int, model: str
) -> AsyncIterator[str]:
    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        body = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            **extra,
        }
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    answer: Answer | None = None
    async for event in events:
        if isinstance(event, Delta):
            yield chunk({"content": event.text})
        elif isinstance(event, Answer):
            answer = event
    yield chunk({}, "stop", citations=[c.as_json() for c in answer.citations] if answer else [])
    yield "data: [DONE]\n\n"


route_handlers = [OpenAIController]
