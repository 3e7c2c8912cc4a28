"""Form posts validated by the JSON API's own schemas, with the same field names its 422 reports."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, TypeVar

from litestar import Request
from litestar.datastructures import FormMultiDict
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import AppError
from core.forms import read_clean_form

M = TypeVar("M", bound=BaseModel)
SEARCH_MAX_CHARS = 200  # the store's and the dataset directory's `q` (`GET /api/store/gpts`, `…/datasets`)


# The fields of the form being handled that held text no database keeps (U+0000, a lone surrogate), with
# the reason: `form_values` sets them, the next `parse` (or `submit`) of the request refuses at each field.
# A context variable, not an attribute of the values: handlers build the API's body from them
# (`approval_fields`, dropping blank fields, ...) before it is parsed.
_REFUSED: ContextVar[dict[str, str] | None] = ContextVar("form_refused", default=None)


async def page_form(request: Request) -> FormMultiDict:
    """The whole form of a page post that answers at its fields (url-encoded or multipart), checked as the
    API's JSON fields are: pasted text cleaned; other unstorable text (U+0000, a lone surrogate) removed
    here, so the page can show what was typed, and refused at its field by the `parse` (or
    `refused_fields`) that follows (`core.forms.read_clean_form`). Every page form reads through this."""
    form, refused = await read_clean_form(request)
    _REFUSED.set({e["field"]: e["message"] for e in refused})
    return form


def refused_fields() -> dict[str, str]:
    """`{field: message}` for the fields of the form `page_form` read that held unstorable text; taken, so
    a second call (or the next `parse`) finds none."""
    refused = _REFUSED.get() or {}
    _REFUSED.set(None)
    return refused


async def form_values(request: Request, *names: str) -> dict[str, str]:
    """The named fields of `page_form`, as strings ('' when absent); unstorable text in one of them is
    refused at its field by the `parse` that follows (a 422, as the API names it)."""
    form = await page_form(request)
    _REFUSED.set({field: message for field, message in refused_fields().items() if field in names})
    values = {}
    for name in names:
        value = form.get(name)
        values[name] = value if isinstance(value, str) else ""
    return values


@cache
def _wording() -> dict[str, dict[str, str]]:
    return tomllib.loads(resources.files("web").joinpath("data/form_messages.toml").read_text("utf-8"))


def label(name: str) -> str:
    """A field's name as a form labels it: `release_notes` is "Release notes" (`[labels]` in the table)."""
    return _wording()["labels"].get(name) or name.replace("_", " ").capitalize()


RULE_START = "must "  # how our validators' messages begin when they state a rule without the field


def worded(error: dict[str, Any]) -> str:
    """One pydantic error as a page says it: the rule in words, naming the field once
    (`web/data/form_messages.toml`); a validator's own message (written for people) as it is."""
    messages = _wording()["messages"]
    own = str(error["msg"]).removeprefix("Value error, ")
    ctx = {k: v for k, v in (error.get("ctx") or {}).items() if k != "error"}
    kind = error["type"]
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        kind = "string_too_short_one"
    if kind in ("literal_error", "enum") and error.get("input") == "":  # nothing chosen (a blank <select>)
        kind = "choice_missing"
    template = messages.get(kind) or messages.get(own)
    name = ".".join(str(part) for part in error["loc"] if not isinstance(part, int))
    if template is None and own.startswith(RULE_START):
        # A validator's rule ("must not be blank", core.patterns.Matches): said of the field by its label.
        return f"{label(name) if name else 'This'} {own}" + ("" if own.endswith(".") else ".")
    if template is None:
        return own
    try:
        return template.format(label=label(name) if name else "This", **ctx)
    except (KeyError, IndexError):
        return own


def worded_errors(model: type[BaseModel], data: dict[str, Any]) -> dict[str, str]:
    """`{dotted field: worded message}` for what `model` refuses in `data` (empty when it passes): for a form
    whose inputs are named by dotted paths (`retrieval.top_k`), as the builder's Configure."""
    try:
        model.model_validate(data)
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"] if not isinstance(part, int)) or "form"
            errors.setdefault(field, worded(error))
        return errors
    return {}


def field_errors(exc: ValidationError | AppError) -> dict[str, str]:
    """`{field: message}` from a pydantic error (worded for a page: `worded`) or a problem's `errors`
    (first message per field)."""
    errors: dict[str, str] = {}
    if isinstance(exc, ValidationError):
        for error in exc.errors():
            # A form shows an error at its input: `conversation_starters.2` is `conversation_starters`'s.
            field = str(error["loc"][0]) if error["loc"] else "form"
            errors.setdefault(field, worded(error))
        return errors
    for error in exc.errors or []:
        field = str(error.get("field") or "form").split(".")[0]
        errors.setdefault(field, str(error.get("message") or exc.detail))
    return errors or {"form": exc.detail}


def _json_types(schema: dict[str, Any]) -> set[str]:
    types = schema.get("type", [])
    found = {types} if isinstance(types, str) else set(types)
    for option in schema.get("anyOf", []):
        found |= _json_types(option)
    return found


def _typed(model: type[M], values: dict[str, Any]) -> dict[str, Any]:
    """Form fields are text; the API's schemas take JSON numbers strictly, so a numeric field's text that
    is a number becomes one (anything else is left for the schema to refuse, naming the field). A blank
    field that takes no text (stars left unchosen) is not given: the schema's default, or "is required"."""
    properties = model.model_json_schema().get("properties", {})
    typed = dict(values)
    for name, value in values.items():
        types = _json_types(properties.get(name, {}))
        text = value.strip() if isinstance(value, str) else None
        if text == "" and types and "string" not in types:
            del typed[name]
        elif text and "integer" in types and re.fullmatch(r"[+-]?\d{1,10}", text):
            typed[name] = int(text)
        elif text and "number" in types and re.fullmatch(r"[+-]?\d{1,10}(\.\d{1,10})?", text):
            typed[name] = float(text)
    return typed


def parse(model: type[M], values: dict[str, Any]) -> tuple[M | None, dict[str, str]]:
    """The validated model, or None and the field errors the API's 422 would name (with the fields the form
    sent unstorable text in: `form_values`)."""
    refused = refused_fields()
    try:
        data, errors = model.model_validate(_typed(model, values)), {}
    except ValidationError as exc:
        data, errors = None, field_errors(exc)
    if refused:
        return None, {**errors, **refused}
    return data, errors


@dataclass
class Outcome:
    """What a form post came to: `ok` with the action's `value`, or the field `errors` and the status the
    API would answer (422 for the schema, the service's own status for a refusal)."""

    ok: bool
    value: Any = None
    errors: dict[str, str] = field(default_factory=dict)
    status: int = 200


async def submit(
    session: AsyncSession,
    model: type[M],
    values: dict[str, Any],
    action: Callable[[M], Awaitable[Any]],
    *,
    allowed: Callable[[], Awaitable[Any]] | None = None,
) -> Outcome:
    """Validate `values` with the API's `model`, then run `action` in a savepoint: nothing of a refused
    action is kept, and the request's transaction goes on to render the form again.

    `allowed`: the check of who may post the form (the role a route needs), run first, as the API's
    providers run before its body is validated: a caller below the role gets its 403 (or 404), not the
    form's field errors."""
    if allowed is not None:
        try:
            await allowed()
        except AppError as exc:
            return Outcome(False, errors=field_errors(exc), status=exc.status)
    data, errors = parse(model, values)
    if data is None:
        return Outcome(False, errors=errors, status=422)
    try:
        async with session.begin_nested():
            value = await action(data)
    except AppError as exc:
        return Outcome(False, errors=field_errors(exc), status=exc.status)
    return Outcome(True, value)


def search_words(value: str | None, limit: int) -> tuple[str, str | None]:
    """A page's search text as the API takes it (at most `limit` characters) and, when it was longer, the
    error for the search box: a page cuts it and searches for the rest, never a bare 422."""
    text = value or ""
    if len(text) <= limit:
        return text, None
    return text[:limit], f"A search can be at most {limit} characters; it was cut to the first {limit}."


def safe_next(target: str | None, default: str = "/") -> str:
    """A redirect target on this site only: a path, never `//host` or a scheme (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target
