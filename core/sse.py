"""Server-Sent Events: negotiation, a stream that ends with a problem event instead of a broken pipe, and
the polling loop of the progress streams (files, batches)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from litestar import Request
from litestar.response import ServerSentEvent, Stream
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import Database
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


Snapshot = dict[str, Any]
RECHECK_SECONDS = 5.0  # how soon a stream notices its caller lost access (one access check per period)
ACCESS_ENDED = "Your access ended (logged out, or no longer allowed here): reload the page."


async def polled_events(
    db: Database,
    ids: Sequence[uuid.UUID],
    read: Callable[[AsyncSession, list[uuid.UUID]], Awaitable[dict[uuid.UUID, Snapshot]]],
    *,
    final: Callable[[Snapshot], bool],
    poll_seconds: float,
    still_allowed: Callable[[AsyncSession], Awaitable[bool]] | None = None,
) -> AsyncIterator[dict[str, str]]:
    """SSE events of rows followed by polling (the caller checked access): per row, `progress` with its
    snapshot whenever it changes, `done` once `final(snapshot)`, or `deleted` `{id}` when `read` no longer
    returns it. `read` gets the ids still followed and answers in one statement, in a short transaction
    of its own each tick; the stream ends when no row is left.

    `still_allowed` is asked again every `RECHECK_SECONDS` (in that tick's transaction): once it says no
    (the caller logged out, left the organisation, lost the role), the stream sends `error` `{message}`
    and ends, rather than following private rows for as long as they run."""
    pending = list(dict.fromkeys(ids))
    last: dict[uuid.UUID, Snapshot] = {}
    checked = time.monotonic()
    while pending:
        async with db.session_scope() as session:
            if still_allowed is not None and time.monotonic() - checked >= RECHECK_SECONDS:
                checked = time.monotonic()
                if not await still_allowed(session):
                    yield {"event": "error", "data": json.dumps({"message": ACCESS_ENDED})}
                    return
            snapshots = await read(session, pending)
        for row_id in list(pending):
            snapshot = snapshots.get(row_id)
            if snapshot is None:
                yield {"event": "deleted", "data": json.dumps({"id": str(row_id)})}
                pending.remove(row_id)
            elif snapshot != last.get(row_id):
                event = "done" if final(snapshot) else "progress"
                yield {"event": event, "data": json.dumps(snapshot)}
                last[row_id] = snapshot
                if event == "done":
                    pending.remove(row_id)
        if pending:
            await asyncio.sleep(poll_seconds)
