"""The OpenAPI document made exact: error responses, real content types, and the rules the service enforces.

Litestar generates the document from the handlers; its pydantic support drops some rules (it writes list
limits as `maxLength`, leaves out `additionalProperties: false`) and documents every error as a JSON 400.
`refine` runs once at startup over that document and
- replaces every request body schema with pydantic's own JSON schema of the model (`maxItems`,
  `additionalProperties: false`, `minimum`/`maximum`, enums of `Literal`s, and what a model's
  `json_schema_extra` adds), categories as an `enum` from the settings, and a bound a model names as
  `x-maximum-setting` as the `maximum` that setting has;
- documents the errors every operation can answer as RFC 9457 `application/problem+json` (`/v1` also in
  OpenAI's error shape), 429 with `Retry-After`;
- writes the real content types: SSE (`text/event-stream`), zip exports, binary downloads, and the
  `multipart/form-data` bodies of uploads and imports (a file's `minLength` is its byte count).
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar._openapi.plugin import OpenAPIPlugin
from pydantic import BaseModel

from core.errors import PROBLEM_JSON
from core.settings import Settings

COMPONENTS = "#/components/schemas/"

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "Each bad field: its name (a path in the body, or a parameter) and why",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": ["string", "null"]}},
            },
        },
    },
}
OPENAI_ERROR_SCHEMA = {
    "type": "object",
    "description": "OpenAI's error shape",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}
ERROR_STATUSES = {
    "400": "The request could not be read (malformed JSON, a missing body)",
    "401": "Missing or invalid credentials",
    "403": "Not allowed for this account (plan, owner, admin, organisation role)",
    "404": "No such resource, or one the caller cannot use",
    "409": "Conflicts with the current state",
    "413": "The body or a file is too large",
    "422": "A field or parameter is invalid; `errors` names each one",
    "429": "Rate limited; retry after `Retry-After` seconds",
    "502": "A provider (language model, embeddings, reranker, SMTP server) failed",
    "503": "A dependency (database, Redis, language model) is unavailable",
}
SSE = {
    "text/event-stream": {
        "schema": {
            "type": "object",
            "description": "One Server-Sent Event; `data` is JSON",
            "properties": {"event": {"type": "string"}, "data": {"type": "string"}, "id": {"type": "string"}},
        }
    }
}
BINARY = {"schema": {"type": "string", "format": "binary"}}
# Operations whose success body is not JSON, or JSON and (with `Accept: text/event-stream`) an SSE stream.
SUCCESS_CONTENT: dict[str, dict[str, Any]] = {
    "ApiGptsGptIdExportExport": {"application/zip": BINARY},
    "ApiStoreGptsGptIdFilesFileIdDownloadDownload": {"*/*": BINARY},
    "ApiStoreGptsGptIdFilesFileIdDownloadDownloadHeaders": {"*/*": BINARY},  # HEAD: the file's own type
    "ApiGptsGptIdFilesFileIdEventsFileEvents": SSE,
    "ApiDatasetsDatasetIdFilesFileIdEventsFileEvents": SSE,
    "ApiGptsGptIdFilesEventsFilesEvents": SSE,
    "ApiDatasetsDatasetIdFilesEventsFilesEvents": SSE,
    "ApiDatasetsDatasetIdFileBatchesBatchIdEventsBatchEvents": SSE,
    "ApiGptsGptIdFileBatchesBatchIdEventsBatchEvents": SSE,
    "ApiStoreDatasetsDatasetIdFilesFileIdDownloadDownloadFile": {"*/*": BINARY},
    "ApiStoreDatasetsDatasetIdFilesFileIdDownloadDownloadFileHeaders": {"*/*": BINARY},
    "ApiStoreDatasetsDatasetIdDownloadDownloadZip": {"application/zip": BINARY},
}
STREAMING = {
    "ApiGptsGptIdBuilderMessagesSend": ("builder.schemas", "BuilderTurnRead"),
    "ApiGptsGptIdPreviewMessagesPreview": ("builder.schemas", "PreviewRead"),
    "ApiConversationsConversationIdMessagesSend": ("store.schemas", "ChatReplyRead"),
}
ZIP_MINIMUM = 22  # bytes: a zip archive ends in a 22-byte end-of-central-directory record (APPNOTE 4.3.16)
MULTIPART: dict[str, dict[str, Any]] = {
    "ApiGptsGptIdFilesUpload": {
        "type": "object",
        "additionalProperties": False,
        "required": ["file"],
        "properties": {
            "file": {
                "type": "string",
                "format": "binary",
                "minLength": 1,  # an empty file is refused (422)
                "description": "The knowledge file",
            },
            "access": {"type": "string", "enum": ["private", "open"], "default": "private"},
            "license": {"type": "string", "maxLength": 200},
        },
    },
    "ApiDatasetsDatasetIdFilesUpload": {  # a file takes the dataset's access and license
        "type": "object",
        "additionalProperties": False,
        "required": ["file"],
        "properties": {
            "file": {"type": "string", "format": "binary", "minLength": 1, "description": "The file"}
        },
    },
    **{
        op_id: {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "file": {
                    "type": "array",
                    "items": {"type": "string", "format": "binary", "minLength": 1},
                    "minItems": 1,
                    "maxItems": 2000,
                    "description": "The files, one part each (up to `max_files_per_batch`)",
                },
                "archive": {"type": "string", "format": "binary", "description": "Or one zip or tar archive"},
            },
        }
        for op_id in ("ApiDatasetsDatasetIdFileBatchesCreateBatch", "ApiGptsGptIdFileBatchesCreateBatch")
    },
    "ApiGptsImportImportGpt": {
        "type": "object",
        "additionalProperties": False,
        "required": ["file"],
        "properties": {
            "file": {
                "type": "string",
                "format": "binary",
                "minLength": ZIP_MINIMUM,
                "description": "A gptstore export zip",
            }
        },
    },
}
OPTIONAL_BODY = {"ApiGptsCreateGpt"}  # every field optional: no body is an empty draft


def _our_models() -> list[type[BaseModel]]:
    found, pending = [], list(BaseModel.__subclasses__())
    while pending:
        model = pending.pop()
        pending.extend(model.__subclasses__())
        if model.__module__.split(".")[0] in ("core", "builder", "store", "retrieval", "tools", "orgs"):
            found.append(model)
    return found


def _request_models() -> dict[str, type[BaseModel]]:
    """Request body models by name: the pydantic models that refuse (or pass through) unknown fields."""
    return {m.__name__: m for m in _our_models() if m.model_config.get("extra") in ("forbid", "allow")}


def _add_component(components: dict[str, Any], model: type[BaseModel], name: str) -> None:
    schema = model.model_json_schema(ref_template=COMPONENTS + "{model}", mode="serialization")
    for def_name, definition in schema.pop("$defs", {}).items():
        components.setdefault(def_name, definition)
    components[name] = schema


def _with_categories(schema: Any, categories: list[str]) -> None:
    if isinstance(schema, dict):
        for name, value in schema.get("properties", {}).items():
            if name == "category":
                schema["properties"][name] = {
                    "anyOf": [{"type": "string", "enum": categories}, {"type": "null"}],
                    "description": "One of the configured store categories",
                }
            else:
                _with_categories(value, categories)


def _with_setting_bounds(schema: Any, settings: Settings) -> None:
    if isinstance(schema, dict):
        if "x-maximum-setting" in schema:
            schema["maximum"] = getattr(settings, schema.pop("x-maximum-setting"))
        for value in schema.values():
            _with_setting_bounds(value, settings)
    elif isinstance(schema, list):
        for value in schema:
            _with_setting_bounds(value, settings)


def _request_schemas(document: dict[str, Any], categories: list[str]) -> None:
    components = document["components"]["schemas"]
    for name, model in _request_models().items():
        if name not in components:
            continue
        schema = model.model_json_schema(ref_template=COMPONENTS + "{model}", mode="validation")
        for def_name, definition in schema.pop("$defs", {}).items():
            _with_categories(definition, categories)
            components[def_name] = definition
        _with_categories(schema, categories)
        components[name] = schema


def _error_responses(path: str, operation: dict[str, Any], *, body: bool = True) -> None:
    """The error statuses every operation may answer, each a problem+json (on `/v1`, OpenAI's error
    shape too); `body=False` for HEAD, whose answers carry the status and headers only."""
    responses = operation.setdefault("responses", {})
    content = {PROBLEM_JSON: {"schema": {"$ref": COMPONENTS + "Problem"}}}
    if path.startswith("/v1/"):
        content["application/json"] = {"schema": {"$ref": COMPONENTS + "OpenAIError"}}
    for status, description in ERROR_STATUSES.items():
        response: dict[str, Any] = {"description": description}
        if body:
            response["content"] = content
        if status == "429":
            response["headers"] = {
                "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer", "minimum": 0}}
            }
        if status == "401":
            response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
        responses[status] = response
    if path.startswith("/api/invitations/"):
        responses["410"] = {
            "description": "The invitation was used, revoked or has expired",
            "content": content,
        }


OPERATION_METHODS = ("get", "head", "post", "put", "patch", "delete")


def refine(document: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The document with the corrections above; idempotent."""
    categories = settings.categories
    components = document.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    components["OpenAIError"] = OPENAI_ERROR_SCHEMA
    _request_schemas(document, categories)
    _with_setting_bounds(components, settings)
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if method not in ("get", "head", "post", "put", "patch", "delete") or not isinstance(
                operation, dict
            ):
                continue
            op_id = operation.get("operationId", "")
            for parameter in operation.get("parameters", []):
                if parameter.get("name") == "category" and parameter.get("in") == "query":
                    parameter["schema"] = {"type": "string", "enum": categories}
            if path not in ("/health", "/ready") and not path.startswith("/schema"):
                _error_responses(path, operation, body=method != "head")
            elif path == "/ready":
                operation["responses"]["503"] = {
                    "description": "Not ready",
                    "content": {PROBLEM_JSON: {"schema": {"$ref": COMPONENTS + "Problem"}}},
                }
            success = next((s for s in operation["responses"] if s.startswith("2")), None)
            if op_id in SUCCESS_CONTENT and success:
                operation["responses"][success]["content"] = SUCCESS_CONTENT[op_id]
            if op_id in STREAMING and success:
                module, name = STREAMING[op_id]
                model = next(m for m in _our_models() if (m.__module__, m.__name__) == (module, name))
                _add_component(components, model, name)
                json_schema = {"schema": {"$ref": COMPONENTS + name}}
                operation["responses"][success]["content"] = {"application/json": json_schema, **SSE}
            if op_id in MULTIPART:
                operation["requestBody"] = {
                    "required": True,
                    "content": {"multipart/form-data": {"schema": MULTIPART[op_id]}},
                }
            if op_id in OPTIONAL_BODY and "requestBody" in operation:
                operation["requestBody"]["required"] = False
    return document


# Refined documents by (the app's routes, its settings but for the data dir). Building one takes 0.5-3 s
# on 2 cores, as long as the rest of the app's startup: a process serves one app and builds it once, but
# the tests start some thousand apps of a few dozen kinds, one per test.
_documents: dict[tuple[Any, ...], dict[str, Any]] = {}
_MAX_DOCUMENTS = 64


def _document_key(app: Litestar, settings: Settings) -> tuple[Any, ...]:
    routes = tuple(
        sorted((type(r).__name__, r.path, tuple(sorted(getattr(r, "methods", ())))) for r in app.routes)
    )
    return routes, settings.model_dump_json(exclude={"data_dir"})


def install(app: Litestar, settings: Settings) -> None:
    """Startup hook body: build the document once and keep the refined one for `/schema`; an app with
    the same routes and settings (the data dir aside) gets the document built for the first one."""
    plugin = app.plugins.get(OpenAPIPlugin)
    key = _document_key(app, settings)
    document = _documents.get(key)
    if document is None:
        document = refine(plugin.provide_openapi_schema(), settings)
        if len(_documents) >= _MAX_DOCUMENTS:
            _documents.clear()
        _documents[key] = document
    else:
        plugin._openapi_schema = document  # what `provide_openapi_schema` serves (built on first use)
