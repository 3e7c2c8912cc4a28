"""OpenAPI 3.0 / 3.1 documents (JSON or YAML) turned into the functions of one action.

The document is parsed with PyYAML (JSON is YAML; aliases are refused, so a small document cannot expand
into a huge one), checked against the OpenAPI specification with `openapi-spec-validator` (3.0 and 3.1
schemas plus its semantic checks: duplicate operationIds, path parameters), and only local `$ref`s
(`#/...`) are accepted: a document never makes the server fetch anything. Each operation becomes a function:
its name is the `operationId` (or `<method>_<path>` when missing), its parameters and request body one JSON
Schema object with every `$ref` resolved. Every problem is an `Invalid` (422) naming the document part.
Limits: `tools/data/limits.toml`.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime
from importlib import resources
from typing import Any
from urllib.parse import urljoin, urlsplit

import yaml
from jsonschema.exceptions import ValidationError as SchemaError
from openapi_spec_validator import OpenAPIV30SpecValidator, OpenAPIV31SpecValidator
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from core.errors import Invalid
from core.storable import has_unstorable, unstorable_message
from tools.openapi_refs import bad_reference, pointer_part, pointer_target

LIMITS: dict[str, int] = tomllib.loads(resources.files("tools").joinpath("data/limits.toml").read_text())
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
JSON_TYPES = re.compile(r"^application/(?:[\w.+-]+\+)?json$")
FORM_TYPE = "application/x-www-form-urlencoded"
SERVER_VARIABLE = re.compile(r"\{([^{}]*)\}")  # `{name}` in a Server Object's url
# OpenAPI 3.0 schema keywords JSON Schema does not have (3.0's Schema Object is a JSON Schema dialect).
OPENAPI_ONLY_KEYWORDS = ("nullable", "discriminator", "xml", "externalDocs", "example")


@dataclass
class ParsedDocument:
    """What an action keeps of a document: its title, server, other hosts and operations (as dicts in the
    shape of `tools.definitions.Operation`, with `default_consequential` instead of `consequential`)."""

    version: str
    title: str
    server_url: str | None
    redirect_hosts: list[str] = field(default_factory=list)
    operations: list[dict[str, Any]] = field(default_factory=list)


def _invalid(message: str, where: str = "schema") -> Invalid:
    return Invalid(f"Invalid OpenAPI document: {message}", field=where)


class _NoAliasLoader(yaml.SafeLoader):
    """YAML without aliases (`*ref`), which would let a few bytes expand to gigabytes once walked."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(None, None, "YAML aliases are not accepted", mark)
        return super().compose_node(parent, index)


# Timestamps stay text: JSON has no dates, and an OpenAPI `example: 2024-01-01` is just text.
_NoAliasLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.copy().items()
}


def load_document(text: str | dict[str, Any]) -> dict[str, Any]:
    """The document as a JSON object: `text` is JSON or YAML (or already an object)."""
    if isinstance(text, dict):
        document = text
    else:
        if len(text) > LIMITS["max_document_chars"]:
            raise _invalid(f"it is longer than {LIMITS['max_document_chars']:,} characters")
        if not text.strip():
            raise _invalid("it is empty")
        try:
            document = json.loads(text) if text.lstrip().startswith("{") else yaml.load(text, _NoAliasLoader)
        except json.JSONDecodeError as exc:
            raise _invalid(f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise _invalid(f"not valid JSON or YAML{where}: {problem}") from None
        except RecursionError:
            raise _invalid("it is nested too deeply") from None
        except ValueError as exc:  # a number of more than 4,300 digits (Python's int limit), ...
            raise _invalid(f"not valid JSON or YAML: {str(exc)[:200]}") from None
    if not isinstance(document, dict):
        raise _invalid("the document must be an object with an `openapi` field")
    return _plain(document)


def _plain(value: Any, depth: int = 0, path: str = "") -> Any:
    """JSON values only (YAML may give dates, non-text keys, `.inf`, ...), bounded depth, and text PostgreSQL
    can store: an escape such as `"\\u0000"` or `"\\ud800"` decodes to a character no column takes."""
    if depth > 64:
        raise _invalid("it is nested more than 64 levels deep")
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            key = _text(str(key), f"{path}/{pointer_part(key)}")
            out[key] = _plain(item, depth + 1, f"{path}/{pointer_part(key)}")
        return out
    if isinstance(value, list):
        return [_plain(v, depth + 1, f"{path}/{i}") for i, v in enumerate(value)]
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, str):
        return _text(value, path)
    if isinstance(value, float) and not math.isfinite(value):
        # YAML's .inf and .nan (and JSON's Infinity, NaN): no JSON number, so no JSON column takes them.
        raise _invalid(f"the number at {path or '/'} is {value}; only finite numbers are accepted")
    if value is None or isinstance(value, int | float | bool):
        return value
    return _text(str(value), path)


def _text(value: str, path: str) -> str:
    if has_unstorable(value):
        raise _invalid(f"the text at {path or '/'} {unstorable_message(value)}")
    return value


def validate_document(document: dict[str, Any]) -> str:
    """The OpenAPI version ("3.0" or "3.1") once the document passes the specification's checks."""
    version = document.get("openapi")
    if not isinstance(version, str):
        if "swagger" in document:
            raise _invalid("Swagger 2.0 is not supported; convert it to OpenAPI 3.0 or 3.1")
        if version is not None:  # YAML reads `openapi: 3.0` as a number
            raise _invalid(
                f'the `openapi` field must be text such as "3.0.3" or "3.1.0", not {json.dumps(version)} '
                "(in YAML, write the full version, 3.0.3, or quote it)"
            )
        raise _invalid("the `openapi` field (3.0.x or 3.1.x) is missing")
    if not re.match(r"^3\.[01]\.\d+", version):
        raise _invalid(f"OpenAPI {version} is not supported; use 3.0.x or 3.1.x")
    if problem := bad_reference(document):
        raise _invalid(problem)
    cls = OpenAPIV30SpecValidator if version.startswith("3.0") else OpenAPIV31SpecValidator
    try:
        error = next(iter(cls(document).iter_errors()), None)
    except Exception as exc:  # the validator's own failure on a malformed document is the document's fault
        raise _invalid(f"it cannot be read as OpenAPI {version[:3]} ({type(exc).__name__})") from None
    if error is not None:
        raise _invalid(_describe(error))
    return version[:3]


def _describe(error: SchemaError | OpenAPIValidationError) -> str:
    path = " > ".join(str(p) for p in getattr(error, "absolute_path", ()) or ())
    message = (error.message or "").strip().splitlines()[0] if error.message else "it is not valid"
    message = message if len(message) <= 300 else message[:300] + "…"
    return f"{message} (at {path})" if path else message


class _Resolver:
    """Inlines local `$ref`s; a schema that refers to itself is cut at its second appearance (`{}`: any
    value), since a function's parameters must be a finite JSON Schema."""

    def __init__(self, document: dict[str, Any], version: str):
        self.document = document
        self.version = version
        self.nodes = 0

    def target(self, ref: str) -> Any:
        found, node = pointer_target(self.document, ref)
        if not found:
            raise _invalid(f"the reference {ref} points at nothing")
        return node

    def resolve(self, node: Any, stack: tuple[str, ...] = ()) -> Any:
        self.nodes += 1
        if self.nodes > LIMITS["max_schema_nodes"]:
            raise _invalid(f"its schemas expand to more than {LIMITS['max_schema_nodes']:,} nodes")
        if isinstance(node, list):
            return [self.resolve(v, stack) for v in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str):
            if ref in stack:
                return {}
            resolved = self.resolve(self.target(ref), (*stack, ref))
            siblings = {k: v for k, v in node.items() if k != "$ref"}  # 3.1 allows keywords beside $ref
            if siblings and isinstance(resolved, dict):
                return {**resolved, **self.resolve(siblings, stack)}
            return resolved
        return {key: self.resolve(value, stack) for key, value in node.items()}

    def schema(self, node: Any) -> dict[str, Any]:
        """A JSON Schema from an OpenAPI Schema Object (3.0's `nullable` as a `null` type, `x-` removed)."""
        resolved = self.resolve(node if node is not None else {})
        return _json_schema(resolved, self.version) if isinstance(resolved, dict) else {}


def _json_schema(node: Any, version: str) -> Any:
    if isinstance(node, list):
        return [_json_schema(v, version) for v in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key.startswith("x-") or (version == "3.0" and key in OPENAPI_ONLY_KEYWORDS):
            continue
        if key in ("properties", "patternProperties", "$defs", "definitions") and isinstance(value, dict):
            out[key] = {name: _json_schema(v, version) for name, v in value.items()}
        else:
            out[key] = _json_schema(value, version)
    if version == "3.0" and node.get("nullable") is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        elif "enum" in out:
            out["enum"] = [*out["enum"], None]
    return out


def function_name(method: str, path: str, operation_id: str | None) -> str:
    """The function name: the operationId, else `<method>_<path>`, reduced to `^[a-zA-Z0-9_-]{1,64}$`."""
    raw = operation_id or f"{method}_{path}"
    name = re.sub(r"_+", "_", re.sub(r"[^a-zA-Z0-9_-]+", "_", raw)).strip("_") or method
    return name[: LIMITS["max_function_name_chars"]]


def _server_url(index: int, server: dict[str, Any]) -> str:
    """`servers[index].url` with each `{name}` replaced by its variable's default (OpenAPI's Server
    Object); 422 for one it does not define."""
    template = server.get("url") or ""
    variables = server.get("variables") if isinstance(server.get("variables"), dict) else {}

    def substitute(match: re.Match[str]) -> str:
        variable = variables.get(match.group(1))
        if not isinstance(variable, dict) or "default" not in variable:
            raise _invalid(
                f"servers[{index}].url '{template}' uses the variable {match.group(0)}, which "
                f"servers[{index}].variables does not define with a default"
            )
        return str(variable["default"])

    return SERVER_VARIABLE.sub(substitute, template)


def server_url_of(document: dict[str, Any], source_url: str | None) -> tuple[str | None, list[str]]:
    """The first server's URL (variables at their defaults, relative ones against `source_url`) and the
    hosts of the others. A `{name}` no `variables` entry defines is a 422 naming the server: left in, it
    would become part of the host name."""
    urls = []
    for index, server in enumerate(document.get("servers") or []):
        url = _server_url(index, server)
        if source_url and not urlsplit(url).scheme:
            url = urljoin(source_url, url)
        urls.append(url)
    hosts = list(dict.fromkeys(h for u in urls[1:] if (h := urlsplit(u).hostname)))
    return (urls[0] if urls else None), hosts


def _description(operation: dict[str, Any], method: str, path: str) -> str:
    text = " ".join(part.strip() for part in (operation.get("summary"), operation.get("description")) if part)
    return (text or f"{method.upper()} {path}")[: LIMITS["max_description_chars"]]


def _body(resolver: _Resolver, operation: dict[str, Any], where: str) -> tuple[dict | None, str, bool]:
    body = resolver.resolve(operation.get("requestBody"))
    if not isinstance(body, dict) or not body.get("content"):
        return None, "application/json", False
    content = body["content"]
    media = next((m for m in content if JSON_TYPES.match(m.split(";")[0].strip())), None)
    if media is None and FORM_TYPE in content:
        media = FORM_TYPE
    if media is None:
        kinds = ", ".join(content)
        raise _invalid(f"the request body of {where} is {kinds}; only JSON and form bodies are supported")
    schema = resolver.schema(content[media].get("schema"))
    if body.get("description") and "description" not in schema:
        schema["description"] = body["description"][: LIMITS["max_description_chars"]]
    return schema, media.split(";")[0].strip(), bool(body.get("required"))


def parse_operations(document: dict[str, Any], version: str) -> list[dict[str, Any]]:
    """Every operation of the document as a function (see the module's docstring)."""
    resolver = _Resolver(document, version)
    count = sum(
        1 for item in (document.get("paths") or {}).values() if isinstance(item, dict)
        for method in METHODS if isinstance(item.get(method), dict)
    )  # fmt: skip
    if count > LIMITS["max_operations_per_action"]:  # before any schema is resolved
        limit = LIMITS["max_operations_per_action"]
        raise _invalid(f"it has {count} operations; an action has at most {limit}")
    operations: list[dict[str, Any]] = []
    operation_ids: list[Any] = []  # as written, to say why two functions have one name
    for path, item in (document.get("paths") or {}).items():
        item = resolver.resolve(item)
        if not isinstance(item, dict):
            continue
        shared = item.get("parameters") or []
        for method in METHODS:
            operation = item.get(method)
            if not isinstance(operation, dict):
                continue
            where = f"{method.upper()} {path}"
            name = function_name(method, path, operation.get("operationId"))
            properties: dict[str, Any] = {}
            required: list[str] = []
            locations: dict[str, str] = {}
            merged = {(p.get("name"), p.get("in")): p for p in shared + (operation.get("parameters") or [])}
            for (pname, location), parameter in merged.items():
                if pname in properties or pname == "body":
                    raise _invalid(f"{where} has two inputs named '{pname}' (in {location} and elsewhere)")
                if parameter.get("schema") is not None:
                    schema = resolver.schema(parameter["schema"])
                else:
                    media = next(iter((parameter.get("content") or {}).values()), {})
                    schema = resolver.schema(media.get("schema"))
                if parameter.get("description") and "description" not in schema:
                    schema["description"] = parameter["description"][: LIMITS["max_description_chars"]]
                properties[pname] = schema
                locations[pname] = location
                if parameter.get("required") or location == "path":
                    required.append(pname)
            body, content_type, body_required = _body(resolver, operation, where)
            if body is not None:
                properties["body"], locations["body"] = body, "body"
                if body_required:
                    required.append("body")
            parameters: dict[str, Any] = {"type": "object", "properties": properties}
            if required:
                parameters["required"] = required
            flag = operation.get("x-openai-isConsequential")
            operation_ids.append(operation.get("operationId"))
            operations.append(
                {
                    "name": name,
                    "method": method.upper(),
                    "path": path,
                    "description": _description(operation, method, path),
                    "parameters": parameters,
                    "locations": locations,
                    "content_type": content_type,
                    "default_consequential": flag if isinstance(flag, bool) else method != "get",
                }
            )
    if not operations:
        raise _invalid("it has no operations under `paths`")
    if len(operations) > LIMITS["max_operations_per_action"]:
        limit = LIMITS["max_operations_per_action"]
        raise _invalid(f"it has {len(operations)} operations; an action has at most {limit}")
    seen: dict[str, tuple[str, Any]] = {}
    for op, operation_id in zip(operations, operation_ids, strict=True):
        where = f"{op['method']} {op['path']}"
        if op["name"] in seen:
            first, first_id = seen[op["name"]]
            if isinstance(first_id, str) and isinstance(operation_id, str) and first_id != operation_id:
                raise Invalid(
                    f"The operationIds '{first_id}' ({first}) and '{operation_id}' ({where}) both become the "
                    f"function name '{op['name']}' (a function name has only letters, digits, '_' and '-'); "
                    "give them operationIds that differ in those characters",
                    field="schema",
                )
            raise Invalid(
                f"Duplicate function name '{op['name']}': {first} and {where}; give each an "
                "operationId of its own",
                field="schema",
            )
        seen[op["name"]] = (where, operation_id)
    return operations


def parse_document(text: str | dict[str, Any], source_url: str | None = None) -> ParsedDocument:
    """Load, validate and turn a document into an action's parts; 422 `Invalid` naming any problem."""
    document = load_document(text)
    version = validate_document(document)
    server_url, hosts = server_url_of(document, source_url)
    info = document.get("info") or {}
    return ParsedDocument(
        version=version,
        title=str(info.get("title") or "")[:200],
        server_url=server_url,
        redirect_hosts=hosts,
        operations=parse_operations(document, version),
    )
