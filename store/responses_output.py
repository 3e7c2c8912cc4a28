"""The Responses objects and stream events of an answer, in the shapes of the Open Responses specification.

One generator (`events`) writes every event of a response in order; the non-streamed response is the last
event's `response`, so both ways return the same object. Events: `response.created`, `response.in_progress`,
the knowledge search as a `file_search_call` item (`response.file_search_call.in_progress`/`searching`/
`completed`), the answer as a `message` item (`response.content_part.added`, `response.output_text.delta`s,
one `response.output_text.annotation.added` per `file_citation`, `.done`s), each call of the GPT's own tools
as it runs (an `mcp_call` or `gptstore:action_call` item, `store.responses_tools`), each client function
call as a `function_call` item (`response.function_call_arguments.delta`/`.done`), then `response.completed`
(or `response.incomplete` when `max_output_tokens` cut the answer). `sse` numbers them (`sequence_number`) and
turns a failure after the status line into `response.failed`.

`file_search_call` items and `file_citation` annotations are OpenAI Responses types beyond the Open Responses
core schema (which the specification allows as extensions); a search item appears only when the GPT's
knowledge had passages for the question or `include` asks for `file_search_call.results`. Results never carry
the text of private files, and their names and headings no more words than the verbatim guard's limit.
"""

from __future__ import annotations

import copy
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from core.errors import AppError
from core.llm import ChatModel, Delta
from core.openai_errors import openai_error, openai_status
from core.settings import Settings
from retrieval.answer import Answer
from retrieval.attribution import license_url
from retrieval.citations import cited_dataset, cited_numbers, on_site
from retrieval.tool_loop import ToolCallEnded, ToolCallStarted
from store.conversation_items import cited_dataset_fields
from store.openai_ids import conversation_public_id
from store.responses import Persist, answer
from store.responses_plan import ResponsePlan
from store.responses_tools import call_item, finish_item, item_events, server_labels

logger = logging.getLogger("gptstore.responses")
RESULTS = "file_search_call.results"


def _tool(tool: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "function",
        "name": tool["name"],
        "description": tool.get("description"),
        "parameters": tool.get("parameters"),
        "strict": tool.get("strict") if tool.get("strict") is not None else True,
    }


def _usage(answer: Answer | None) -> dict[str, Any] | None:
    if answer is None or answer.usage is None:
        return None
    prompt, completion = answer.usage.get("prompt_tokens", 0), answer.usage.get("completion_tokens", 0)
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + completion,
    }


def response_object(plan: ResponsePlan, status: str, output: list[dict[str, Any]]) -> dict[str, Any]:
    """The response object (every field the specification requires) as it stands."""
    request = plan.request
    return {
        "id": plan.id,
        "object": "response",
        "created_at": plan.created_at,
        "completed_at": None,
        "status": status,
        "incomplete_details": None,
        "model": str(plan.gpt_id),  # the id /v1/models lists, whichever form of it the request used
        "previous_response_id": request.previous_response_id,
        "instructions": request.instructions,  # the client's: the GPT's own may be confidential
        "output": output,
        "error": None,
        "tools": [_tool(t) for t in request.tools or []],
        "tool_choice": request.tool_choice or "auto",
        "truncation": request.truncation or "auto",
        "parallel_tool_calls": request.parallel_tool_calls is not False,
        "text": {"format": {"type": "text"}},
        "top_p": request.top_p if request.top_p is not None else 1.0,
        "presence_penalty": request.presence_penalty or 0.0,
        "frequency_penalty": request.frequency_penalty or 0.0,
        "top_logprobs": 0,
        "temperature": request.temperature if request.temperature is not None else 1.0,
        "reasoning": None,
        "user": request.user,
        "usage": None,
        "max_output_tokens": request.max_output_tokens,
        "max_tool_calls": None,
        "store": request.store is not False,
        "background": False,
        "service_tier": "default",
        "metadata": request.metadata or {},
        "safety_identifier": request.safety_identifier,
        "prompt_cache_key": request.prompt_cache_key,
        # The canonical id (`conv_<hex>`), whichever form the request named it in.
        "conversation": (
            {"id": conversation_public_id(plan.conversation_id)} if plan.conversation_id else None
        ),
    }


def annotations(content: str, plan: ResponsePlan, answer: Answer) -> list[dict[str, Any]]:
    """A `file_citation` per citation, at the first `[n]` marker that cites it (`index`: its offset); with
    gptstore's `dataset_id` and `dataset` (name, license, attribution, owner) beside OpenAI's fields."""
    seen = dict(cited_numbers(content, len(plan.sources)))
    return [
        {
            "type": "file_citation",
            "file_id": str(c.file_id),
            "filename": c.filename,
            "index": index,
            **cited_dataset_fields(c.as_json(plan.site)),
        }
        for c, index in zip(answer.citations, seen.values(), strict=False)
    ]


def _search_results(plan: ResponsePlan, max_words: int) -> list[dict[str, Any]]:
    results = []
    for s in plan.sources:
        filename, heading = s.labels(max_words)  # a private file's within the verbatim guard's limit
        # an open passage is handed out with its terms, as citations are
        dataset = on_site(cited_dataset(s), plan.site) or {}
        license = s.license if s.access == "open" else None
        results.append(
            {
                "file_id": str(s.hit.file_id),
                "filename": filename,
                "score": round(float(s.hit.score), 4),
                "text": s.hit.text if s.access == "open" else None,  # private files are never handed out
                "attributes": {
                    "page": s.hit.page,
                    "heading": heading,
                    "access": s.access,
                    "license": license,
                    "license_url": license_url(license),
                    "dataset": dataset.get("name"),
                    "attribution": dataset.get("attribution"),
                    "dataset_url": dataset.get("url"),
                },  # fmt: skip
            }
        )
    return results


async def events(
    settings: Settings, llm: ChatModel | None, plan: ResponsePlan, persist: Persist
) -> AsyncIterator[dict[str, Any]]:
    """Every event of the response, without `sequence_number`; `persist` keeps it before the last one."""
    output: list[dict[str, Any]] = []

    def snapshot(status: str) -> dict[str, Any]:
        return copy.deepcopy(response_object(plan, status, output))

    yield {"type": "response.created", "response": snapshot("in_progress")}
    yield {"type": "response.in_progress", "response": snapshot("in_progress")}
    include = plan.request.include or []
    if plan.sources or RESULTS in include:
        search = {
            "type": "file_search_call",
            "id": f"fs_{uuid.uuid4().hex}",
            "status": "in_progress",
            "queries": [plan.question],
            "results": None,
        }
        index = len(output)
        output.append(search)
        yield {"type": "response.output_item.added", "output_index": index, "item": copy.deepcopy(search)}
        for step in ("in_progress", "searching", "completed"):
            yield {
                "type": f"response.file_search_call.{step}",
                "output_index": index,
                "item_id": search["id"],
            }
        search["status"] = "completed"
        if RESULTS in include:
            limit = plan.context.verbatim_max_words or settings.verbatim_max_words
            search["results"] = _search_results(plan, limit)
        yield {"type": "response.output_item.done", "output_index": index, "item": copy.deepcopy(search)}

    message = {
        "type": "message",
        "id": f"msg_{uuid.uuid4().hex}",
        "status": "in_progress",
        "role": "assistant",
        "content": [],
    }
    part = {"type": "output_text", "text": "", "annotations": []}
    where: dict[str, Any] = {}

    def open_message() -> list[dict[str, Any]]:
        where.update(item_id=message["id"], output_index=len(output), content_index=0)
        output.append(message)
        message["content"].append(part)
        return [
            {
                "type": "response.output_item.added",
                "output_index": where["output_index"],
                "item": {**message, "content": []},
            },
            {"type": "response.content_part.added", **where, "part": {**part, "annotations": []}},
        ]

    result: Answer | None = None
    labels = server_labels(plan.toolset)
    running: dict[str, tuple[int, dict[str, Any]]] = {}  # call id -> (output index, item)
    async for event in answer(settings, llm, plan):
        if isinstance(event, ToolCallStarted):
            item = call_item(event, labels)
            at = len(output)
            running[event.call_id] = at, item
            output.append(item)
            yield {"type": "response.output_item.added", "output_index": at, "item": copy.deepcopy(item)}
            for extra in item_events(item, at, "started"):
                yield extra
        elif isinstance(event, ToolCallEnded):
            if event.call_id not in running:  # declined calls never started (not in a stateless API)
                continue
            index, item = running.pop(event.call_id)
            finish_item(item, event)
            for extra in item_events(item, index, "ended"):
                yield extra
            yield {"type": "response.output_item.done", "output_index": index, "item": copy.deepcopy(item)}
        elif isinstance(event, Delta):
            if not event.text:
                continue
            if not where:
                for opened in open_message():
                    yield opened
            part["text"] += event.text
            yield {"type": "response.output_text.delta", **where, "delta": event.text, "logprobs": []}
        else:
            result = event
    assert result is not None
    incomplete = result.finish_reason == "length"
    if where or not result.function_calls:
        if not where:
            for opened in open_message():
                yield opened
        part["text"] = result.content  # what the guard let through, as streamed
        for number, annotation in enumerate(annotations(result.content, plan, result)):
            part["annotations"].append(annotation)
            yield {
                "type": "response.output_text.annotation.added",
                **where,
                "annotation_index": number,
                "annotation": annotation,
            }
        yield {"type": "response.output_text.done", **where, "text": part["text"], "logprobs": []}
        yield {"type": "response.content_part.done", **where, "part": copy.deepcopy(part)}
        message["status"] = "incomplete" if incomplete else "completed"
        yield {
            "type": "response.output_item.done",
            "output_index": where["output_index"],
            "item": copy.deepcopy(message),
        }
    for call in result.function_calls:
        item = {
            "type": "function_call",
            "id": f"fc_{uuid.uuid4().hex}",
            "call_id": call.id,
            "name": call.name,
            "arguments": "",
            "status": "in_progress",
        }
        index = len(output)
        output.append(item)
        yield {"type": "response.output_item.added", "output_index": index, "item": copy.deepcopy(item)}
        at = {"item_id": item["id"], "output_index": index}
        yield {"type": "response.function_call_arguments.delta", **at, "delta": call.arguments}
        item.update(arguments=call.arguments, status="completed")
        yield {"type": "response.function_call_arguments.done", **at, "arguments": call.arguments}
        yield {"type": "response.output_item.done", "output_index": index, "item": copy.deepcopy(item)}
    final = response_object(plan, "incomplete" if incomplete else "completed", copy.deepcopy(output))
    final["completed_at"] = int(time.time())
    final["usage"] = _usage(result)
    if incomplete:
        final["incomplete_details"] = {"reason": "max_output_tokens"}
    await persist(plan, final, result)
    yield {"type": f"response.{final['status']}", "response": final}


async def sse(events: AsyncIterator[dict[str, Any]]) -> AsyncIterator[str]:
    """The events as SSE (`event:` and `data:` lines) with increasing `sequence_number`s; a failure after
    the status line ends the stream with `response.failed` (its `error` says what failed)."""
    number = 0
    last: dict[str, Any] | None = None

    def line(event: dict[str, Any]) -> str:
        nonlocal number
        body = {"type": event["type"], "sequence_number": number, **event}
        number += 1
        return f"event: {event['type']}\ndata: {json.dumps(body, ensure_ascii=False)}\n\n"

    try:
        async for event in events:
            last = event.get("response", last)
            yield line(event)
    except Exception as exc:  # the status line is sent: the failure travels in the stream
        if isinstance(exc, AppError):
            error = openai_error(openai_status(exc.status), exc.detail, code=exc.extra.get("code"))
        else:
            logger.exception("responses stream failed")
            error = openai_error(500, "The response failed; the error has been logged.")
        failed = dict(last or {})
        failed.update(
            status="failed", error={"code": error["code"] or error["type"], "message": error["message"]}
        )
        yield line({"type": "response.failed", "response": failed})
