"""OpenAI's error shape for the OpenAI-compatible routes: `{"error": {"message", "type", "param", "code"}}`.

One mechanism for every error under `/v1`: the central exception handlers (`core.errors`) render a problem
document as usual and, on a `/v1` path, `with_openai_errors` re-renders it in OpenAI's shape, so domain
errors, validation errors, Litestar's 404/405/413 and unknown routes all look as the `openai` SDK expects.
Validation errors (422 elsewhere) are 400 `invalid_request_error` naming the field in `param`, as OpenAI
answers; headers such as `Retry-After` and `WWW-Authenticate` are kept.

Types and codes as in the error bodies OpenAI's API returns
(platform.openai.com/docs/guides/error-codes).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from litestar import Request, Response

from core.errors import AppError

OPENAI_PATH_PREFIX = "/v1"
_INDEX = re.compile(r"\.(\d+)(?=\.|$)")
# status -> (type, default code); other 4xx are invalid_request_error, other 5xx server_error.
ERROR_TYPES: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", None),
    405: ("invalid_request_error", None),
    413: ("invalid_request_error", "request_too_large"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    502: ("server_error", None),
    503: ("server_error", "service_unavailable"),
}

Handler = Callable[[Request, Any], Response[Any]]


def is_openai_path(path: str) -> bool:
    return path == OPENAI_PATH_PREFIX or path.startswith(OPENAI_PATH_PREFIX + "/")


def openai_status(status: int) -> int:
    """OpenAI answers invalid parameters with 400, where the rest of the API says 422."""
    return 400 if status == 422 else status


def openai_error(
    status: int, message: str, *, param: str | None = None, code: str | None = None, type: str | None = None
) -> dict[str, Any]:
    """The `error` object for a response of `status` (after `openai_status`)."""
    default_type, default_code = ERROR_TYPES.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None)
    )
    return {"message": message, "type": type or default_type, "param": param, "code": code or default_code}


def _param(body: dict[str, Any]) -> str | None:
    if isinstance(body.get("param"), str):
        return body["param"]
    for error in body.get("errors") or []:
        if isinstance(error, dict) and error.get("field") not in (None, "body"):
            # Validation names list items `messages.0.role`; OpenAI writes `messages[0].role`.
            return _INDEX.sub(r"[\1]", str(error["field"]))
    return None


def from_problem(request: Request, response: Response[Any]) -> Response[dict[str, Any]]:
    """Re-render a problem document response in OpenAI's shape (status, headers kept; 422 becomes 400)."""
    body = response.content if isinstance(response.content, dict) else {}
    status = openai_status(response.status_code)
    message = str(body.get("detail") or body.get("title") or "Error")
    reasons = [e["message"] for e in body.get("errors") or [] if isinstance(e, dict) and e.get("message")]
    if reasons and reasons[0] not in message:
        message = f"{message} ({reasons[0]})"
    if status == 404 and request.scope.get("route_handler") is None:
        message = f"Invalid URL ({request.method} {request.url.path})"
    elif status == 405:
        message = f"Invalid method for URL ({request.method} {request.url.path})"
    code = body.get("code") if isinstance(body.get("code"), str) else None
    error = openai_error(status, message, param=_param(body), code=code)
    if error["code"] is None and isinstance(body.get("limit"), str):
        error["code"] = body["limit"]  # a refused limit names its setting: the closest thing to a code
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-type"}
    return Response({"error": error}, status_code=status, media_type="application/json", headers=headers)


def with_openai_errors(handlers: dict[Any, Handler]) -> dict[Any, Handler]:
    """The same exception handlers, answering in OpenAI's shape on `/v1` paths."""

    def switch(handler: Handler) -> Handler:
        def handle(request: Request, exc: Any) -> Response[Any]:
            response = handler(request, exc)
            return from_problem(request, response) if is_openai_path(request.url.path) else response

        return handle

    return {exc_type: switch(handler) for exc_type, handler in handlers.items()}


def stream_error_event(exc: Exception) -> str:
    """A mid-stream failure as OpenAI streams it: `data: {"error": {...}}` (the SDK raises `APIError`)."""
    if isinstance(exc, AppError):
        param = exc.extra.get("param") or next(
            (e.get("field") for e in exc.errors or [] if isinstance(e, dict)), None
        )
        code = exc.extra.get("code")
        error = openai_error(openai_status(exc.status), exc.detail, param=param, code=code)
    else:
        error = openai_error(500, "The stream failed; the error has been logged.")
    return f"data: {json.dumps({'error': error}, ensure_ascii=False)}\n\n"
