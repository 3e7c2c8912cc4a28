"""Which names an action's request carries, and refusing two sources for one name (docs/tools-safety.md).

A call's headers come from the action's API-key auth (`auth.name`, location `header`), the opaque per-user
id (`user_id_header`) and the document's header parameters, which the model fills in. Header names are
compared without regard to case (RFC 9110, 5.1), so `x-api-key` and `X-Api-Key` are one header: if two
sources name it, one would replace the other, and a document parameter would let the model (whom a user can
steer) choose the API key. Query names are compared the same way, as many servers read them so: an API key
in the query and a query parameter of that name would let the model send a second key.

`request_name_clashes` finds these at save time (`tools.service`); `tools.actions` lets the auth win at call
time as well, for an action saved before this check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.errors import Invalid
from tools.models import GptAction
from tools.openapi_actions import load_document
from tools.openapi_refs import pointer_part, pointer_target
from tools.schemas import ActionCreate, ActionUpdate


@dataclass(frozen=True)
class Source:
    """One place a request name comes from: `field` is the request field that sets it (`auth.name`,
    `user_id_header`, `document`), `label` how a message names it."""

    field: str
    label: str
    name: str
    where: tuple[str, str, str] | None = None  # a document parameter: (path, method, location)


@dataclass(frozen=True)
class Clash:
    first: Source
    second: Source
    location: str  # "header" or "query"


def _sources(
    operations: list[dict[str, Any]], auth: dict[str, Any], user_id_header: str | None
) -> dict[str, list[Source]]:
    found: dict[str, list[Source]] = {"header": [], "query": []}
    if auth.get("type") == "api_key" and auth.get("name"):
        location = "query" if auth.get("location") == "query" else "header"
        kind = "query parameter" if location == "query" else "header"
        found[location].append(Source("auth.name", f"the API key {kind} '{auth['name']}'", auth["name"]))
    if user_id_header:
        found["header"].append(
            Source(
                "user_id_header", f"the user id header (user_id_header) '{user_id_header}'", user_id_header
            )
        )
    for op in operations:
        for name, location in (op.get("locations") or {}).items():
            if location in found:
                label = f"the {location} parameter '{name}' of {op['name']}"
                found[location].append(Source("document", label, name, (op["path"], op["method"], location)))
    return found


def request_name_clashes(
    operations: list[dict[str, Any]], auth: dict[str, Any], user_id_header: str | None
) -> list[Clash]:
    """Every pair of sources that set one header (or one query parameter) of a call, names compared
    without regard to case. Two parameters of different operations never meet in one request."""
    clashes: list[Clash] = []
    for location, sources in _sources(operations, auth, user_id_header).items():
        for i, first in enumerate(sources):
            for second in sources[i + 1 :]:
                if first.name.lower() != second.name.lower():
                    continue
                both_document = first.where is not None and second.where is not None
                if both_document and first.where[:2] != second.where[:2]:
                    continue  # different operations
                clashes.append(Clash(first, second, location))
    return clashes


def parameter_pointer(document: Any, source: Source) -> str | None:
    """The JSON pointer of a document parameter (`/paths/~1trips/get/parameters/0`), operation-level before
    path-level as OpenAPI overrides them; None when it cannot be found (a `$ref` to a path item)."""
    if source.where is None or not isinstance(document, dict):
        return None
    path, method, location = source.where
    item = (document.get("paths") or {}).get(path)
    if not isinstance(item, dict):
        return None
    base = f"/paths/{pointer_part(path)}"
    for prefix, parameters in (
        (f"{base}/{method.lower()}", (item.get(method.lower()) or {}).get("parameters")),
        (base, item.get("parameters")),
    ):
        for index, parameter in enumerate(parameters if isinstance(parameters, list) else []):
            if isinstance(parameter, dict) and isinstance(parameter.get("$ref"), str):
                parameter = pointer_target(document, parameter["$ref"])[1]
            if isinstance(parameter, dict) and (parameter.get("name"), parameter.get("in")) == (
                source.name,
                location,
            ):
                return f"{prefix}/parameters/{index}"
    return None


def clash_problem(
    clashes: list[Clash], document: Any, sent: set[str], document_field: str = "document"
) -> tuple[str, list[dict[str, str]]]:
    """The 422's detail and errors for the first clash: each side the request changed is named (`sent`:
    `auth.name`, `user_id_header`, `document`), both when it changed neither (an action saved before this
    check); a document parameter with its JSON pointer."""
    clash = clashes[0]
    labels = []
    for source in (clash.first, clash.second):
        pointer = parameter_pointer(document, source)
        labels.append(f"{source.label} (document at {pointer})" if pointer else source.label)
    kind = "header" if clash.location == "header" else "query parameter"
    consequence = (
        ": the model, whom a user can steer, would choose the API key"
        if {clash.first.field, clash.second.field} == {"auth.name", "document"}
        else ", and one would replace the other"
    )
    case = " (names are compared without regard to case)" if clash.first.name != clash.second.name else ""
    detail = (
        f"{labels[0][0].upper()}{labels[0][1:]} and {labels[1]} are the same {kind}{case}{consequence}; "
        "give them different names"
    )
    fields = [s.field for s in (clash.first, clash.second) if s.field in sent] or [
        clash.first.field,
        clash.second.field,
    ]
    fields = [document_field if f == "document" else f for f in dict.fromkeys(fields)]
    return detail, [{"field": f, "message": detail} for f in fields]


def check_request_names(row: GptAction, data: ActionCreate | ActionUpdate) -> None:
    """422 when two sources set one header or query parameter of the action's calls (see above),
    naming the fields this request changed."""
    clashes = request_name_clashes(row.operations, row.auth or {}, row.user_id_header)
    if not clashes:
        return
    sent = data.model_fields_set
    changed = {
        "auth.name": "auth" in sent,
        "user_id_header": "user_id_header" in sent,
        "document": data.document is not None or data.import_url is not None,
    }
    try:
        document = load_document(row.document)
    except Invalid:
        document = None
    detail, errors = clash_problem(
        clashes, document, {k for k, v in changed.items() if v},
        "import_url" if data.import_url is not None else "document",
    )  # fmt: skip
    raise Invalid(detail, errors=errors)
