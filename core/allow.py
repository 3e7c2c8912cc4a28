"""`OPTIONS` answers with every method of the path.

Litestar builds the `OPTIONS` handler of a path from the handlers registered first; handlers added to the
same path later (another controller, another method) are missing from its `Allow`, while a 405 on the
path lists them all. This hook answers `OPTIONS` from the app's full route map instead.
"""

from __future__ import annotations

from litestar import Litestar, Request, Response
from litestar.routes import HTTPRoute
from litestar.status_codes import HTTP_204_NO_CONTENT


def _methods_by_path(app: Litestar) -> dict[str, str]:
    if (known := app.state.get("allow_by_path")) is not None:
        return known
    methods: dict[str, set[str]] = {}
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            methods.setdefault(route.path_format, set()).update(route.methods)
    app.state["allow_by_path"] = {
        path: ", ".join(sorted(names | {"OPTIONS"})) for path, names in methods.items()
    }
    return app.state["allow_by_path"]


async def complete_allow(request: Request) -> Response | None:
    """Before-request hook: the 204 of an `OPTIONS` request, with `Allow` listing every method of the path."""
    if request.method != "OPTIONS":
        return None
    allow = _methods_by_path(request.app).get(request.scope.get("path_template", ""))
    if allow is None:
        return None
    return Response(content=None, status_code=HTTP_204_NO_CONTENT, headers={"Allow": allow})
