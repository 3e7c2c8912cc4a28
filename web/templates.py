"""The Jinja environment of the pages: autoescaping everywhere, a few display filters, and `render`."""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import MediaType, Request
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template import TemplateConfig

from core.models import User
from core.text import counted
from web.session import csrf_token

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


def initials(name: str) -> str:
    """Up to two letters standing in for a GPT's icon: 'Fjord Guide' -> 'FG'."""
    words = [w for w in name.split() if w[:1].isalnum()]
    letters = "".join(w[0] for w in words[:2]).upper()
    return letters or "?"


def stars(average: float | None) -> str:
    return "No ratings" if average is None else f"{average:.1f} ★"


def kilobytes(size: int) -> str:
    """A file's size for people: `512 bytes`, `1.5 KB`, `12 KB`, `3.4 MB` (binary units; a small file
    was "0 KB")."""
    if size < 1024:
        return counted(size, "byte")
    if size < 10 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024:.0f} KB" if size < 1024 * 1024 else f"{size / 1024 / 1024:.1f} MB"


@cache
def _skip_reasons() -> dict[str, str]:
    return tomllib.loads((Path(__file__).parent / "data" / "skip_reasons.toml").read_text("utf-8"))


def skip_reason(reason: str) -> str:
    """Why a batch's file was not added, in words (`web/data/skip_reasons.toml`); an unknown code as is."""
    return _skip_reasons().get(reason, reason)


def _nothing_for_none(value: Any) -> Any:
    return "" if value is None else value


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        # An absent value prints nothing, never "None": a profile without a website showed value="None"
        # in its Website field, and the form could not be saved until the user cleared it.
        finalize=_nothing_for_none,
    )
    env.filters.update(
        initials=initials, stars=stars, kilobytes=kilobytes, counted=counted, skip_reason=skip_reason
    )
    return env


def template_config() -> TemplateConfig:
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment()))


def render(
    request: Request, name: str, user: User | None, *, status_code: int = 200, **context: Any
) -> Template:
    """A page: the template with the signed-in user, the CSRF token and the service mode in context.

    A signed-in user's page is `Cache-Control: no-store`: after logging out, Back would show it again from
    the browser's cache (a new API key, a private chat), on a shared computer to the next person."""
    settings = request.app.state.settings
    return Template(
        headers={"Cache-Control": "no-store"} if user is not None else None,
        template_name=name,
        context={
            "user": user,
            "csrf_token": csrf_token(request),
            "service": request.app.state.get("service", settings.service),
            **context,
        },
        status_code=status_code,
        media_type=MediaType.HTML,  # also from handlers that may answer with a redirect instead
    )
