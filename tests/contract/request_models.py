"""The pydantic models requests are validated with: every route's body (the app's own list of handlers),
their nested models, and the bodies that arrive other than as JSON (`OTHER_BODIES`)."""

from __future__ import annotations

import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from builder.schemas import ExportManifest
from core.app import create_app
from core.settings import Settings
from tests.conftest import TEST_SECRET

OTHER_BODIES: list[Any] = [ExportManifest]  # `gptstore.json` of an archive `POST /api/gpts/import` takes


def request_models(data_dir: Path) -> dict[str, type[BaseModel]]:
    """Every model a request is validated with, nested ones included, by class name."""
    settings = Settings(
        database_url="postgresql+asyncpg://localhost/unused",  # the app is built, never started
        redis_url="redis://localhost/0",
        data_dir=data_dir,
        secret_key=TEST_SECRET,
        llm_provider="offline",
    )
    bodies: list[Any] = list(OTHER_BODIES)
    for route in create_app(settings).routes:
        for handler in getattr(route, "route_handlers", []):
            try:
                hints = typing.get_type_hints(handler.fn, include_extras=True)
            except NameError:  # Litestar's own handlers (OPTIONS, static files, the schema pages)
                continue
            if "data" in hints:
                bodies.append(hints["data"])
    found: dict[str, type[BaseModel]] = {}
    for body in bodies:
        for model in _models(body, set()):
            found[model.__name__] = model
    return found


def _models(annotation: Any, seen: set[type]) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation not in seen:
            seen.add(annotation)
            yield annotation
            for field in annotation.model_fields.values():
                yield from _models(field.annotation, seen)
        return
    for argument in typing.get_args(annotation):
        yield from _models(argument, seen)
