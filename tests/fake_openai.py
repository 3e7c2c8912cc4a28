"""A local OpenAI-compatible HTTP server for tests: the real `openai` SDK talks to it over 127.0.0.1.

    with FakeOpenAI() as llm:
        llm.script(tool_call("update_gpt", {"name": "Chef"}), text("Done."))
        ...  # point the app at llm.base_url
        assert llm.chat_requests[0]["tools"]

Chat replies come from a queue filled by `script()`; when it is empty the reply echoes the last user
message. Embeddings are a hashed bag of words: deterministic, and texts sharing words are close.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import re
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import uvicorn

CHAT_MODELS = ["gpt-4o-mini", "gpt-4o"]
EMBEDDING_MODELS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
DEFAULT_EMBEDDING_DIMENSIONS = 1536
STATUS_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "model_not_found"),
    408: ("timeout", None),
    409: ("conflict", None),
    422: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
}
WORD = re.compile(r"\w+", re.UNICODE)


@dataclass
class ToolCall:
    name: str
    arguments: str  # JSON text, as OpenAI sends it
    id: str | None = None


@dataclass
class Reply:
    """One scripted chat completion: content and/or tool calls, or an HTTP error."""

    content: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str | None = None  # default: "tool_calls" when there are tool calls, else "stop"
    status: int = 200
    error: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering, to exercise timeouts
    report_usage: bool = True  # False: no `usage`, as some OpenAI-compatible servers answer
    stream_error: dict[str, Any] | None = None  # streamed: this error event after the content, no finish


def text(
    content: str, *, finish_reason: str | None = None, delay: float = 0.0, report_usage: bool = True
) -> Reply:
    return Reply(content=content, finish_reason=finish_reason, delay=delay, report_usage=report_usage)


def tool_call(
    name: str, arguments: dict[str, Any] | str, *, id: str | None = None, content: str | None = None
) -> Reply:
    return tool_calls((name, arguments, id), content=content)


def tool_calls(*calls: tuple[Any, ...], content: str | None = None) -> Reply:
    """Several calls in one reply: each `(name, arguments)` or `(name, arguments, id)`."""
    made = []
    for call in calls:
        name, arguments, *rest = call
        encoded = arguments if isinstance(arguments, str) else json.dumps(arguments)
        made.append(ToolCall(name=name, arguments=encoded, id=rest[0] if rest else None))
    return Reply(content=content, tool_calls=made)


def error(
    status: int,
    message: str | None = None,
    *,
    type: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    default_type, default_code = STATUS_TYPES.get(
        status, ("server_error" if status >= 500 else "error", None)
    )
    body = {
        "message": message or f"fake error {status}",
        "type": type or default_type,
        "param": None,
        "code": code if code is not None else default_code,
    }
    return Reply(status=status, error=body, headers=dict(headers or {}))


@dataclass
class Call:
    """A request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None


def fake_embedding(text: str, dimensions: int) -> list[float]:
    """Hashed bag of words, L2-normalised: identical for identical word sets, close when words overlap."""
    vector = [0.0] * dimensions
    for word in WORD.findall(text.lower()):
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        index = int.from_bytes(digest[:4], "little") % dimensions
        vector[index] += 1.0 if digest[4] & 1 else -1.0
    norm = sum(v * v for v in vector) ** 0.5
    if norm == 0:
        vector[0], norm = 1.0, 1.0
    return [v / norm for v in vector]


def _count_tokens(value: Any) -> int:
    # Words are close enough to tokens for usage numbers that tests only compare.
    if isinstance(value, str):
        return len(WORD.findall(value))
    if isinstance(value, list):
        return sum(_count_tokens(item) for item in value)
    if isinstance(value, dict):
        return sum(_count_tokens(item) for item in value.values())
    return 0


def _pieces(value: str, size: int) -> list[str]:
    return [value[i : i + size] for i in range(0, len(value), size)] or [""]


class FakeOpenAI:
    """The server: `start()`/`stop()` or a `with` block; `base_url` ends in /v1."""

    def __init__(self, *, api_key: str | None = None, host: str = "127.0.0.1") -> None:
        self.api_key = api_key  # when set, requests without `Bearer <api_key>` get a 401
        self.host = host
        self.port = 0
        self.calls: list[Call] = []
        self._replies: deque[Reply] = deque()
        self.responder: Any = None  # a function of the request body to a reply, used when nothing is scripted
        self._failures: deque[int] = deque()
        self._rerank_scores: dict[str, float] = {}
        self._rerank_delay = 0.0
        self.embedding_delay = 0.0  # seconds before each embeddings answer: a model's pace
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> FakeOpenAI:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app, interface="asgi3", log_level="warning", lifespan="off", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="fake-openai", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("fake OpenAI server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- what tests use --

    def script(self, *replies: Reply | str) -> None:
        """Queue chat replies, answered in order; a plain string is `text(...)`."""
        with self._lock:
            self._replies.extend(text(r) if isinstance(r, str) else r for r in replies)

    def respond_with(self, responder: Any) -> None:
        """Answer unscripted chat requests with `responder(body) -> Reply | str` (a model with a policy,
        e.g. one that complies with extraction prompts in bench/leakage.py) instead of echoing."""
        with self._lock:
            self.responder = responder

    def fail_next(self, status: int, n: int = 1) -> None:
        """Answer the next `n` POST requests (chat or embeddings) with `status`."""
        with self._lock:
            self._failures.extend([status] * n)

    def script_rerank(self, scores: dict[str, float], *, delay: float = 0.0) -> None:
        """`/v1/rerank` scores a document by the first key of `scores` it contains (else 0), after
        `delay` seconds."""
        with self._lock:
            self._rerank_scores = dict(scores)
            self._rerank_delay = delay

    def reset(self) -> None:
        with self._lock:
            self._rerank_scores, self._rerank_delay = {}, 0.0
            self._replies.clear()
            self._failures.clear()
            self.calls.clear()
            self.responder = None

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every JSON body received, in order."""
        with self._lock:
            return [call.body for call in self.calls if call.body is not None]

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        return self._bodies("/v1/chat/completions")

    @property
    def embedding_requests(self) -> list[dict[str, Any]]:
        return self._bodies("/v1/embeddings")

    @property
    def rerank_requests(self) -> list[dict[str, Any]]:
        return self._bodies("/v1/rerank")

    @property
    def pending(self) -> int:
        """Scripted replies not yet used."""
        with self._lock:
            return len(self._replies)

    def _bodies(self, path: str) -> list[dict[str, Any]]:
        with self._lock:
            return [call.body for call in self.calls if call.path == path and call.body is not None]

    # -- the ASGI app --

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path = scope["path"].rstrip("/")
        method = scope["method"]
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
            if method == "POST":
                await self._send_error(send, error(400, "We could not parse the JSON body of your request."))
                return
        with self._lock:
            self.calls.append(Call(method=method, path=path, headers=headers, body=body))
            failure = self._failures.popleft() if method == "POST" and self._failures else None

        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            await self._send_error(send, error(401, "Incorrect API key provided."))
        elif failure is not None:
            await self._send_error(send, error(failure))
        elif method == "GET" and path == "/v1/models":
            await self._send_json(send, 200, self._models())
        elif method == "POST" and path == "/v1/embeddings":
            await self._embeddings(send, body or {})
        elif method == "POST" and path == "/v1/chat/completions":
            await self._chat(send, body or {})
        elif method == "POST" and path == "/v1/rerank":
            await self._rerank(send, body or {})
        else:
            await self._send_error(send, error(404, f"Invalid URL ({method} {scope['path']})", code=None))

    def _models(self) -> dict[str, Any]:
        names = CHAT_MODELS + list(EMBEDDING_MODELS)
        return {
            "object": "list",
            "data": [{"id": n, "object": "model", "created": 1700000000, "owned_by": "fake"} for n in names],
        }

    async def _embeddings(self, send: Any, body: dict[str, Any]) -> None:
        inputs = body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) and i for i in inputs):
            await self._send_error(send, error(400, "'$.input' is invalid."))
            return
        if len(inputs) > 2048:
            await self._send_error(send, error(400, "'$.input' must have at most 2048 items."))
            return
        if self.embedding_delay:
            await asyncio.sleep(self.embedding_delay)
        model = body.get("model", "text-embedding-3-small")
        dimensions = body.get("dimensions") or EMBEDDING_MODELS.get(model, DEFAULT_EMBEDDING_DIMENSIONS)
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for index, item in enumerate(inputs):
            vector: Any = fake_embedding(item, dimensions)
            if as_base64:
                vector = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": vector})
        tokens = _count_tokens(inputs)
        await self._send_json(
            send,
            200,
            {
                "object": "list",
                "data": data,
                "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )

    async def _rerank(self, send: Any, body: dict[str, Any]) -> None:
        """The `/rerank` shape of Cohere, Jina, vLLM and Infinity, with scripted scores."""
        query, documents = body.get("query"), body.get("documents")
        if not isinstance(query, str) or not isinstance(documents, list) or not documents:
            await self._send_error(send, error(400, "'query' and a non-empty 'documents' list are required."))
            return
        with self._lock:
            scores, delay = dict(self._rerank_scores), self._rerank_delay
        if delay:
            await asyncio.sleep(delay)

        def score(document: str) -> float:
            return next((value for key, value in scores.items() if key in document), 0.0)

        results = [{"index": i, "relevance_score": score(str(d))} for i, d in enumerate(documents)]
        results.sort(key=lambda r: -r["relevance_score"])
        top_n = body.get("top_n")
        if isinstance(top_n, int) and top_n > 0:
            results = results[:top_n]
        await self._send_json(send, 200, {"id": f"rerank-{next(self._ids)}", "results": results})

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            if self._replies:
                return self._replies.popleft()
            responder = self.responder
        if responder is not None:
            reply = responder(body)
            return text(reply) if isinstance(reply, str) else reply
        last_user = next(
            (m.get("content") for m in reversed(body.get("messages", [])) if m.get("role") == "user"), ""
        )
        if isinstance(last_user, list):  # content parts
            last_user = " ".join(p.get("text", "") for p in last_user if isinstance(p, dict))
        return text(f"echo: {last_user or ''}")

    async def _chat(self, send: Any, body: dict[str, Any]) -> None:
        reply = self._next_reply(body)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.error is not None:
            await self._send_error(send, reply)
            return
        completion_id = f"chatcmpl-fake{next(self._ids)}"
        calls = [
            {
                "id": call.id or f"call_fake{next(self._ids)}",
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in reply.tool_calls
        ]
        finish_reason = reply.finish_reason or ("tool_calls" if calls else "stop")
        prompt_tokens = _count_tokens(body.get("messages", []))
        completion_tokens = _count_tokens(reply.content or "") + _count_tokens([c["function"] for c in calls])
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        if not reply.report_usage:
            usage = None
        common = {
            "id": completion_id,
            "created": int(time.time()),
            "model": body.get("model", CHAT_MODELS[0]),
            "system_fingerprint": "fp_fake",
        }
        if not body.get("stream"):
            message: dict[str, Any] = {
                "role": "assistant",
                "content": reply.content,
                "refusal": None,
                "annotations": [],
            }
            if calls:
                message["tool_calls"] = calls
            choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
            payload = {**common, "object": "chat.completion", "choices": [choice], "usage": usage}
            await self._send_json(send, 200, payload, reply.headers)
            return

        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            payload = {
                **common,
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            }
            if include_usage:
                payload["usage"] = None
            return payload

        chunks = [chunk({"role": "assistant", "content": "" if reply.content is not None else None})]
        for piece in _pieces(reply.content or "", 4) if reply.content else []:
            chunks.append(chunk({"content": piece}))
        for index, call in enumerate(calls):
            head = {"index": index, "id": call["id"], "type": "function"}
            head["function"] = {"name": call["function"]["name"], "arguments": ""}
            chunks.append(chunk({"tool_calls": [head]}))
            for piece in _pieces(call["function"]["arguments"], 7):
                chunks.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
        if reply.stream_error is not None:  # a provider failing mid-stream, as OpenAI's streams report it
            chunks.append({"error": reply.stream_error})
        else:
            chunks.append(chunk({}, finish_reason))
        if include_usage and usage is not None and reply.stream_error is None:
            chunks.append({**common, "object": "chat.completion.chunk", "choices": [], "usage": usage})

        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": self._headers("text/event-stream", reply.headers),
            }
        )
        for item in chunks:
            await send(
                {
                    "type": "http.response.body",
                    "body": f"data: {json.dumps(item)}\n\n".encode(),
                    "more_body": True,
                }
            )
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": False})

    @staticmethod
    def _headers(content_type: str, extra: dict[str, str] | None = None) -> list[tuple[bytes, bytes]]:
        headers = [(b"content-type", content_type.encode())]
        headers += [(k.lower().encode(), str(v).encode()) for k, v in (extra or {}).items()]
        return headers

    async def _send_json(
        self, send: Any, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": self._headers("application/json", headers),
            }
        )
        await send({"type": "http.response.body", "body": data})

    async def _send_error(self, send: Any, reply: Reply) -> None:
        await self._send_json(send, reply.status, {"error": reply.error}, reply.headers)
