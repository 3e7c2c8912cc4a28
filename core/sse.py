"""Server-Sent Events: negotiation and a stream that ends with a problem event instead of a broken pipe."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from litestar import Request
from litestar.response import ServerSentEvent, Stream

from core.errors import AppError, unavailable

logger = logging.getLogger("gptstore.sse")


def wants_stream(request: Request) -> bool:
    return "text/event-stream" in request.headers.get("accept", "")


async def _encoded(events: AsyncIterator[tuple[str, Any]]) -> AsyncIterator[dict[str, str]]:
    try:
        async for name, data in events:
            yield {"event": name, "data": json.dumps(data, default=str, ensure_ascii=False)}
    except AppError as exc:
        problem = {
            "type": "about:blank",
            "title": type(exc).__name__,
            "status": exc.status,
            "detail": exc.detail,
        }
        yield {"event": "error", "data": json.dumps(problem)}
    except Exception as exc:
        busy = unavailable(exc, retry_after=2)
        if busy is not None:  # a pool ran dry mid-stream: say so, as the 503 before a stream would
            logger.warning("stream ended by an exhausted resource: %s", exc)
            problem = {"title": "Service Unavailable", "status": 503, "detail": busy.detail, "retry_after": 2}
            yield {"event": "error", "data": json.dumps(problem)}
            return
        logger.exception("stream failed")
        problem = {
            "title": "Internal Server Error",
            "status": 500,
            "detail": "The stream failed; it has been logged.",
        }
        yield {"event": "error", "data": json.dumps(problem)}


class EventStream(ServerSentEvent):
    """An SSE response that keeps its media type even from handlers that also answer JSON."""

    def to_asgi_response(self, *args: Any, **kwargs: Any):
        kwargs["media_type"] = "text/event-stream"
        return super().to_asgi_response(*args, **kwargs)


class RawEventStream(Stream):
    """Pre-formatted `data: ...` lines (OpenAI's streaming format) as `text/event-stream`."""

    def __init__(self, content: AsyncIterator[str]) -> None:
        super().__init__(content, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    def to_asgi_response(self, *args: Any, **kwargs: Any):
        kwargs["media_type"] = "text/event-stream"
        return super().to_asgi_response(*args, **kwargs)


def sse(events: AsyncIterator[tuple[str, Any]]) -> ServerSentEvent:
    """Stream `(event name, JSON-able data)` pairs; an error mid-stream becomes a final `error` event."""
    return EventStream(_encoded(events))
