"""Local references (`$ref: "#/..."`) of an OpenAPI document: JSON pointers, and why a reference is refused
before the document is validated or resolved (tools/openapi_actions.py; docs/tools.md "What is refused").
A document never makes the server fetch anything, so only references inside it are followed.
"""

from __future__ import annotations

import re
from typing import Any

# Where a reference must lead to a Parameter Object, or to a Request Body Object (JSON pointers).
PARAMETER_PLACE = re.compile(r"^(/paths/[^/]+(/[a-z]+)?/parameters/\d+|/components/parameters/[^/]+)$")
REQUEST_BODY_PLACE = re.compile(r"^(/paths/[^/]+/[a-z]+/requestBody|/components/requestBodies/[^/]+)$")


def pointer_target(document: Any, ref: str) -> tuple[bool, Any]:
    """Follow a local JSON pointer (`#/a/b~1c`); (found, node)."""
    node = document
    for part in ref[2:].split("/") if ref not in ("#", "#/") else []:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False, None
    return True, node


def pointer_part(key: Any) -> str:
    """`key` as one JSON pointer segment (RFC 6901: `~` as `~0`, `/` as `~1`)."""
    return str(key).replace("~", "~0").replace("/", "~1")


def _followed(document: Any, ref: str) -> tuple[Any, str | None]:
    """The node a chain of references (`$ref` to a node that is only a `$ref`, ...) ends at, or why it
    does not end (a cycle). Each reference was checked to point at something."""
    seen = [ref]
    node = pointer_target(document, ref)[1]
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#"):
        if node["$ref"] in seen:
            return None, " -> ".join([*seen, node["$ref"]])
        seen.append(node["$ref"])
        node = pointer_target(document, node["$ref"])[1]
    return node, None


def _misplaced_ref(document: Any, ref: str, where: str) -> str | None:
    """Why `ref` (at `where`) points at something that cannot stand there."""
    target, cycle = _followed(document, ref)
    if cycle is not None:
        return f"the reference {ref} (at {where}) refers back to itself: {cycle}"
    if not isinstance(target, dict | bool):
        kind = "a list" if isinstance(target, list) else f"a {type(target).__name__} value"
        return f"the reference {ref} (at {where}) points at {kind}, not an object"
    if PARAMETER_PLACE.match(where) and not (isinstance(target, dict) and {"name", "in"} <= target.keys()):
        return f"the reference {ref} (at {where}) does not point at a Parameter Object (with name and in)"
    if REQUEST_BODY_PLACE.match(where) and not (isinstance(target, dict) and "content" in target):
        return f"the reference {ref} (at {where}) does not point at a Request Body Object (with content)"
    return None


def bad_reference(document: Any) -> str | None:
    """Why the first unusable `$ref` is refused: one that leaves the document, points at nothing, at a
    value of the wrong kind, or back at itself; named with its place as a JSON pointer."""
    pending: list[tuple[Any, str]] = [(document, "")]
    while pending:
        node, path = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                if not ref.startswith("#"):
                    return (
                        f"only references inside the document (#/...) are followed, not {path or '/'}: {ref}"
                    )
                if not pointer_target(document, ref)[0]:
                    return f"the reference {ref} (at {path or '/'}) points at nothing"
                if problem := _misplaced_ref(document, ref, path or "/"):
                    return problem
            pending.extend((value, f"{path}/{pointer_part(key)}") for key, value in node.items())
        elif isinstance(node, list):
            pending.extend((value, f"{path}/{index}") for index, value in enumerate(node))
    return None
