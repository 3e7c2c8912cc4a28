"""Domain errors and their RFC 9457 `application/problem+json` rendering."""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from core.exhaustion import exhausted_resource
from core.patterns import parameter_message

logger = logging.getLogger("gptstore")

PROBLEM_JSON = "application/problem+json"


class AppError(Exception):
    """An error a client caused or should know about; rendered as a problem document."""

    status: int = 400
    title: str | None = None

    def __init__(
        self,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra


class BadRequest(AppError):
    status = 400


class Unauthorized(AppError):
    status = 401

    def __init__(self, detail: str = "Missing or invalid credentials", **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kwargs)


class Forbidden(AppError):
    status = 403


class NotFound(AppError):
    status = 404


class Conflict(AppError):
    status = 409


class Gone(AppError):
    """410: the thing existed but can no longer be used (an expired, revoked or used invitation)."""

    status = 410


class TooLarge(AppError):
    status = 413


class Invalid(AppError):
    """422: names the offending field(s) in `errors`."""

    status = 422

    def __init__(self, detail: str, *, field: str | None = None, **kwargs: Any) -> None:
        if field is not None and "errors" not in kwargs:
            kwargs["errors"] = [{"field": field, "message": detail}]
        super().__init__(detail, **kwargs)


class UnstorableText(Invalid):
    """422: text PostgreSQL cannot store (U+0000, a lone surrogate, bytes that are not UTF-8)."""


class BadShape(Invalid):
    """422: a request nested too deep, or a string or list longer than the limits allow."""


class BodyTooLarge(TooLarge):
    """413: a request body larger than its route kind allows."""


class RateLimited(AppError):
    status = 429

    def __init__(self, detail: str, *, retry_after: int, **extra: Any) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)}, retry_after=retry_after, **extra)


class ProviderError(AppError):
    """The language-model or embedding provider failed (502) or is unavailable (503)."""

    status = 502

    def __init__(self, detail: str, *, status: int = 502) -> None:
        super().__init__(detail)
        self.status = status


class ServiceUnavailable(AppError):
    """503; answered with `Retry-After` (settings `retry_after_seconds` unless given)."""

    status = 503


def unknown_form_fields(form: Any, known: tuple[str, ...]) -> list[dict[str, str]]:
    """A 422 error item for every multipart field the route does not take (as JSON bodies refuse them)."""
    return [
        {"field": key, "message": "Unknown field"} for key in dict.fromkeys(form.keys()) if key not in known
    ]


def problem(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response[dict[str, Any]]:
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body: dict[str, Any] = {
        "type": f"https://gptstore.dev/problems/{phrase.lower().replace(' ', '-')}",
        "title": title or phrase,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    body.update(extra)
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers or {})


def retry_after_seconds(request: Request) -> int:
    settings = request.app.state.get("settings")
    return settings.retry_after_seconds if settings is not None else 2


def _app_error_handler(request: Request, exc: AppError) -> Response[dict[str, Any]]:
    headers = dict(exc.headers)
    if exc.status == 503 and "Retry-After" not in headers:  # every 503 says when to come back
        headers["Retry-After"] = str(retry_after_seconds(request))
    return problem(exc.status, exc.detail, title=exc.title, errors=exc.errors, headers=headers, **exc.extra)


def unavailable(exc: BaseException, retry_after: int) -> ServiceUnavailable | None:
    """A 503 for an exhausted or unreachable resource behind `exc` (core.exhaustion), else None."""
    resource = exhausted_resource(exc)
    if resource is None:
        return None
    return ServiceUnavailable(
        f"The {resource} is busy or unavailable; try again in {retry_after} s.",
        headers={"Retry-After": str(retry_after)},
        retry_after=retry_after,
    )


BODY_PARAMETER = "data"  # Litestar's name for the request body; clients only ever see "body"
# pydantic names the branch of a union it tried in the error's path (`input.str`, `stop.list[str]`,
# `x.function-after[...]`): not a field, so the client's path leaves it out.
_UNION_BRANCH = re.compile(r"^(?:str|int|float|bool|bytes|none|[a-z-]+\[.*\])$")


def _client_path(key: str) -> str:
    parts = key.split(".")
    kept = [parts[0], *(p for p in parts[1:] if not _UNION_BRANCH.match(p))]
    return ".".join(kept)


def _field_errors(extra: Any) -> tuple[list[dict[str, Any]], bool]:
    """Litestar's error items as `{field, message}` in the client's terms, and whether the body is missing.

    Body fields are named by their path in the body (`name`, `tags.0`); an error about the body as a whole
    (missing, not an object, or an unnamed key such as `""`) is named `body`; parameters by their own name.
    """
    errors, missing_body = [], False
    for item in extra if isinstance(extra, list) else []:
        if not isinstance(item, dict):
            continue
        key, message = item.get("key"), item.get("message")
        if key == BODY_PARAMETER and message == repr(BODY_PARAMETER):  # a KeyError: no body was sent
            missing_body = True
            errors.append({"field": "body", "message": "A request body is required"})
            continue
        if isinstance(message, str):
            # pydantic's prefix for a validator's own ValueError: the message is the validator's sentence
            message = parameter_message(message.removeprefix("Value error, "))
        errors.append({"field": _client_path(key) if key else "body", "message": message})
    return errors, missing_body


def _validation_handler(_: Request, exc: ValidationException) -> Response[dict[str, Any]]:
    errors, missing_body = _field_errors(exc.extra)
    if missing_body:
        return problem(400, "A request body is required", errors=errors)
    if not errors:
        return problem(400, str(exc.detail) if exc.detail else "The request could not be read")
    names = ", ".join(sorted({str(e["field"]) for e in errors}))
    return problem(422, f"Invalid value for: {names}", errors=errors)


def _http_error_handler(_: Request, exc: HTTPException) -> Response[dict[str, Any]]:
    return problem(exc.status_code, str(exc.detail), headers=exc.headers)


_MISSING_KEY = re.compile(r'Key \((?P<column>[^)]*)\)=\(.*\) is not present in table "(?P<table>[^"]+)"')
_REFERENCED_KEY = re.compile(r'is still referenced from table "(?P<table>[^"]+)"')


def lost_reference(exc: BaseException) -> AppError | None:
    """What a foreign-key violation (SQLSTATE 23503) in `exc`'s chain means to the client, else None.

    Requests check that what they refer to exists, so a violation means another request deleted it (or
    referred to it) between that check and the write: answered as the later request would have been
    answered, 404 naming the column (`gpt_id`), or 409 when a row being deleted gained a reference.
    """
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if getattr(current, "sqlstate", None) == "23503":
            detail = str(getattr(current, "detail", "") or "")
            if missing := _MISSING_KEY.search(detail):
                column = missing["column"]
                return NotFound(
                    f"The {missing['table'].replace('_', ' ')} this request refers to was deleted meanwhile",
                    errors=[{"field": column, "message": "no longer exists"}],
                )
            if referenced := _REFERENCED_KEY.search(detail):
                return Conflict(
                    f"A concurrent request added a {referenced['table'].replace('_', ' ')} to what this "
                    "request deletes; try again"
                )
        pending += [current.__context__, current.__cause__, getattr(current, "orig", None)]
    return None


def _internal_error_handler(request: Request, exc: Exception) -> Response[dict[str, Any]]:
    busy = unavailable(exc, retry_after_seconds(request))
    if busy is not None:
        logger.warning("503 on %s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
        return _app_error_handler(request, busy)
    if (lost := lost_reference(exc)) is not None:
        logger.warning("%s on %s %s: %s", lost.status, request.method, request.url.path, exc)
        return _app_error_handler(request, lost)
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(500, "An unexpected error occurred; it has been logged.")


exception_handlers = {
    AppError: _app_error_handler,
    ValidationException: _validation_handler,
    HTTPException: _http_error_handler,
    Exception: _internal_error_handler,
}

__all__ = [
    "PROBLEM_JSON",
    "AppError",
    "BadRequest",
    "BadShape",
    "BodyTooLarge",
    "Conflict",
    "Forbidden",
    "Gone",
    "Invalid",
    "NotFound",
    "ProviderError",
    "RateLimited",
    "ServiceUnavailable",
    "TooLarge",
    "Unauthorized",
    "UnstorableText",
    "exception_handlers",
    "problem",
    "unavailable",
    "unknown_form_fields",
]
