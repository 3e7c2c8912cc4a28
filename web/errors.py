"""Error pages in the app's look for browsers; problem+json for everyone else.

`negotiated` wraps the app's exception handlers (core/errors.py) without changing them: the handler still
decides status, detail and logging; when the request is a page request (a path outside the API whose
`Accept` prefers text/html) its problem document is rendered as `error.html` instead. A page asked for with
a query parameter it refuses (a stale "More" link's cursor, a sort or category that is no more, a link
edited by hand) is no dead end: it redirects to the same page without the refused parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from litestar import MediaType, Request, Response

from web.security import page_headers
from web.session import SESSION_COOKIE, csrf_token, minted_csrf_cookie

API_PREFIXES = ("/api/", "/v1/", "/schema", "/static/", "/health", "/ready")


def wants_page(request: Request) -> bool:
    """A browser asking for a page: not an API path, and text/html preferred over JSON."""
    path = request.url.path
    if path.startswith(API_PREFIXES) or path in ("/api", "/v1"):
        return False
    accept = request.headers.get("accept", "")
    return (
        "text/html" in accept and request.accept.best_match(["text/html", "application/json"]) == "text/html"
    )


def _page(request: Request, problem: Response) -> Response:
    content = problem.content if isinstance(problem.content, dict) else {}
    status = problem.status_code
    engine = request.app.template_engine
    html = engine.get_template("error.html").render(
        status=status,
        title=content.get("title") or "Error",
        detail=content.get("detail") or "",
        signed_in=bool(request.cookies.get(SESSION_COOKIE)),
        csrf_token=csrf_token(request),
        user=None,
        service=request.app.state.get("service", "all"),
    )
    headers = {k: v for k, v in (problem.headers or {}).items() if k.lower() != "www-authenticate"}
    headers.update(page_headers())
    # Outside the page router (an unknown path) no middleware sets the token the page's forms carry.
    cookie = None if request.scope.get("route_handler") else minted_csrf_cookie(request)
    cookies = [cookie] if cookie else None
    return Response(html, status_code=status, media_type=MediaType.HTML, headers=headers, cookies=cookies)


def without_refused_query(request: Request, problem: Response) -> str | None:
    """The page's URL without the query parameters a 422 named (`cursor` names every `*_cursor` too, as a
    page's "More" links carry them), or None when the refusal was not of its query alone or not of a GET."""
    if request.method not in ("GET", "HEAD") or problem.status_code != 422:
        return None
    content = problem.content if isinstance(problem.content, dict) else {}
    fields = {e.get("field") for e in content.get("errors") or [] if isinstance(e, dict)}
    present = set(request.query_params.keys())
    drop: set[str] = set()
    for field in fields:
        named = {field} & present or (
            {k for k in present if k.endswith("_cursor")} if field == "cursor" else set()
        )
        if not named:
            return None  # a refusal the query does not explain: the error page says it
        drop |= named
    if not drop:
        return None
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in drop]
    # One leading slash: a path asked for as `//host/...` must not become a protocol-relative Location.
    return "/" + request.url.path.lstrip("/") + (f"?{urlencode(kept)}" if kept else "")


def negotiated(handlers: dict[Any, Callable[..., Response]]) -> dict[Any, Callable[..., Response]]:
    """The same handlers, answering page requests with the HTML error page."""

    def wrap(handler: Callable[..., Response]) -> Callable[..., Response]:
        def negotiate(request: Request, exc: Exception) -> Response:
            problem = handler(request, exc)
            if request.app.template_engine is None or not wants_page(request):
                return problem
            try:
                if target := without_refused_query(request, problem):
                    return Response(None, status_code=303, headers={"Location": target, **page_headers()})
                return _page(request, problem)
            except Exception:  # an error page must never hide the error behind another
                return problem

        return negotiate

    return {key: wrap(handler) for key, handler in handlers.items()}
