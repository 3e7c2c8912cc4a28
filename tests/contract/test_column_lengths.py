"""Every request field fits the column it is stored in: the longest text a request schema accepts for a
field (its `maxLength`, the longest string its `pattern` admits, its longest `enum` value; unbounded: the
guard's `max_json_string_chars`) is at most the `VARCHAR` length of the column of the same name in the table
the schema writes. A longer value would pass validation and end in a 500 from PostgreSQL.

The request schemas are those of `tests/contract/request_models.py`; the table a schema writes is found by
the house naming (`GptCreate`, `GptDatasetUpdate`, `ActionExport` -> `GptAction`), and only the schemas
whose name does not say it are listed in `WRITES`.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import BaseModel
from sqlmodel import SQLModel

from core.models import User
from core.registry import metadata
from core.settings import Settings
from retrieval.models import WebImport, WebPage
from store.models import GptVersion, Listing
from tests.contract.request_models import request_models

# Request schemas whose name does not name the table they write (their fields stored under the same name).
WRITES: dict[str, tuple[type[SQLModel], ...]] = {
    "SignupRequest": (User,),
    "ProfileUpdate": (User,),
    "PlanUpdate": (User,),
    "PublishRequest": (GptVersion, Listing),
    "ModerateRequest": (GptVersion,),
    "WebImportCreate": (WebImport, WebPage),
    # Fields that share a column's name but are not stored in it.
    "LoginRequest": (),
    "ChatCompletionRequest": (),
    "ChatCompletionMessage": (),
    "CreateResponseRequest": (),
    "McpToolSpecIn": (),  # an MCP server's tools, kept as JSON (`gpt_mcp_server.tools`)
}

TABLES: list[type[SQLModel]] = [mapper.class_ for mapper in SQLModel._sa_registry.mappers]
VARCHAR_COLUMNS = {
    column.name
    for table in metadata.tables.values()
    for column in table.columns
    if getattr(column.type, "length", None)
}


@pytest.fixture(scope="module")
def request_schemas(tmp_path_factory: pytest.TempPathFactory) -> dict[str, type[BaseModel]]:
    return request_models(tmp_path_factory.mktemp("data"))


def table_of(name: str) -> tuple[type[SQLModel], ...] | None:
    """The tables a request schema writes: the longest leading run of its name's words that is a table's
    name, or the end of one (`ActionCreate` -> `GptAction`); `WRITES` for the others, None if unknown."""
    if name in WRITES:
        return WRITES[name]
    words = re.findall(r"[A-Z][a-z0-9]*", name)
    for end in range(len(words) - 1, 0, -1):
        stem = "".join(words[:end])
        tables = [t for t in TABLES if t.__name__ == stem] or [t for t in TABLES if t.__name__.endswith(stem)]
        if tables:
            return tuple(tables)
    return None


def _pattern_width(pattern: str) -> int | None:
    """The length of the longest string `pattern` matches in whole, or None when it has no bound."""
    try:
        width = re._parser.parse(pattern).getwidth()[1]  # the parser knows each repeat's bound
    except re.error:
        return None
    return width if width < 2**31 - 1 else None


def longest_text(schema: dict[str, Any], unbounded: int) -> int | None:
    """The longest string a property's JSON schema accepts; None when it takes no string at all."""
    lengths = []
    for branch in schema.get("anyOf", [schema]):
        if "enum" in branch or "const" in branch:
            values = branch.get("enum", [branch.get("const")])
            lengths += [len(v) for v in values if isinstance(v, str)]
        elif branch.get("type") == "string":
            bounds = [branch.get("maxLength")]
            if "pattern" in branch:
                bounds.append(_pattern_width(branch["pattern"]))
            lengths.append(min([b for b in bounds if b is not None], default=unbounded))
    return max(lengths, default=None)


def test_the_schema_names_say_which_tables_they_write(request_schemas):
    # A schema whose fields share a column's name must be placed: by its name, or in WRITES.
    unplaced = [
        name
        for name, model in request_schemas.items()
        if table_of(name) is None and VARCHAR_COLUMNS & set(model.model_fields)
    ]
    assert unplaced == [], f"say in WRITES which tables these write: {unplaced}"
    assert {"GptUpdate", "GptExport", "KnowledgeFileExport", "ActionExport"} <= set(request_schemas)
    assert table_of("GptDatasetUpdate")[0].__name__ == "GptDataset"
    assert table_of("ActionExport")[0].__name__ == "GptAction"


def test_no_request_field_accepts_more_than_its_column_holds(request_schemas):
    unbounded = Settings.model_fields["max_json_string_chars"].default
    checked, too_long = 0, []
    for name, model in sorted(request_schemas.items()):
        properties = model.model_json_schema(mode="validation").get("properties", {})
        for table in table_of(name) or ():
            for field, column in table.__table__.columns.items():
                length = getattr(column.type, "length", None)
                if not length or field not in properties:
                    continue
                accepted = longest_text(properties[field], unbounded)
                if accepted is None:
                    continue
                checked += 1
                if accepted > length:
                    too_long.append(
                        f"{name}.{field} takes {accepted}, {table.__tablename__}.{field} holds {length}"
                    )
    assert too_long == []
    assert checked >= 40  # the sweep did look: GPTs, profiles, organisations, datasets, tools, the manifest


def test_the_longest_text_of_a_schema():
    assert longest_text({"type": "string", "maxLength": 16}, 100) == 16
    assert (
        longest_text(
            {"anyOf": [{"type": "string", "pattern": "^[a-z]{2}(-[A-Z]{2})?$"}, {"type": "null"}]}, 100
        )
        == 5
    )
    assert longest_text({"type": "string", "pattern": "^[a-z]+$", "maxLength": 40}, 100) == 40
    assert longest_text({"type": "string"}, 100) == 100
    assert longest_text({"enum": ["private", "organisation"]}, 100) == 12
    assert longest_text({"type": "integer"}, 100) is None
