"""A value refused by a pattern is told the rule in words: the 422 message of every pattern-checked field of
every request schema, and of every path and query parameter with a pattern, is short and never shows the
regular expression (the language pattern alone is ~3,000 characters)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from core.patterns import RULES
from tests.contract.request_models import request_models

MAX_MESSAGE = 200
# Values one of which each pattern refuses (the first refused is sent).
CANDIDATES = ["klingon", " ", "-abc-", "a b c", "!", "ftp://example.com", "é"]


@pytest.fixture(scope="module")
def request_schemas(tmp_path_factory: pytest.TempPathFactory) -> dict[str, type[BaseModel]]:
    return request_models(tmp_path_factory.mktemp("data"))


def pattern_sites(schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Where a property's JSON schema checks a pattern (on the value, on each item, on each key), with the
    string's schema there."""
    for branch in schema.get("anyOf", [schema]):
        if "pattern" in branch:
            yield "value", branch
        if "pattern" in branch.get("items", {}):
            yield "item", branch["items"]
        for key_pattern in branch.get("patternProperties", {}):
            yield "key", {"pattern": key_pattern}


def refused_by(string: dict[str, Any]) -> str:
    """A value of the allowed length that the pattern refuses."""
    return next(
        value
        for value in CANDIDATES
        if re.search(string["pattern"], value) is None
        and string.get("minLength", 0) <= len(value) <= string.get("maxLength", len(value))
    )


def errors_of(model: type[BaseModel], field: str, shape: str, text: str) -> list[dict[str, Any]]:
    """The errors about `field` when it holds `text` as its value, an item or a key."""
    bodies = {"value": [text], "item": [[text]], "key": [{text: True}, {text: "x"}]}[shape]
    errors = []
    for value in bodies:
        try:
            model.model_validate({field: value})
        except ValidationError as exc:
            errors += [e for e in exc.errors() if e["loc"][:1] == (field,)]
    return errors


def test_every_pattern_of_a_request_schema_is_refused_with_a_short_rule(request_schemas):
    sites = 0
    for name, model in sorted(request_schemas.items()):
        properties = model.model_json_schema(mode="validation").get("properties", {})
        for field, schema in properties.items():
            for shape, string in pattern_sites(schema):
                sites += 1
                pattern = string["pattern"]
                errors = errors_of(model, field, shape, refused_by(string))
                where = f"{name}.{field} ({shape})"
                assert errors, f"{where} took a value its pattern refuses"
                for error in errors:
                    assert len(error["msg"]) <= MAX_MESSAGE, (where, error["msg"])
                    assert pattern not in error["msg"] and "match pattern" not in error["msg"], where
                if shape in ("value", "item"):
                    assert any(e["msg"] == RULES[pattern] for e in errors), (where, errors)
    # language, starters, handles (profile, organisation), website, header and function names
    assert sites >= 15


def test_the_language_rule_names_the_form_and_examples(request_schemas):
    (error,) = errors_of(request_schemas["GptUpdate"], "language", "value", "klingon")
    assert error["msg"] == (
        "must be an ISO 639-1 language code, optionally with a script or region,"
        " such as en, pt-BR or zh-Hant-TW"
    )
    (unlisted,) = errors_of(request_schemas["GptUpdate"], "language", "value", "xx-DE")
    assert unlisted["msg"] == error["msg"]


async def test_every_parameter_pattern_has_a_rule(client):
    document = (await client.get("/schema/openapi.json")).json()
    patterns = set()
    for item in document["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                schema = parameter["schema"]
                for branch in [schema, *schema.get("oneOf", []), *schema.get("anyOf", [])]:
                    if "pattern" in branch:
                        patterns.add(branch["pattern"])
    assert patterns and all(p in RULES for p in patterns), patterns - RULES.keys()


async def test_a_parameter_refused_by_its_pattern_is_told_the_rule(client, creator_headers):
    rule = "may hold only letters, digits, '-' and '_'"
    cursor = await client.get("/api/gpts", params={"cursor": "a/b"}, headers=creator_headers)
    token = await client.get("/api/invitations/" + "!" * 24, headers=creator_headers)
    for response, field in ((cursor, "cursor"), (token, "token")):
        assert response.status_code == 422
        assert response.json()["errors"] == [{"field": field, "message": rule}]


async def test_a_validators_own_sentence_comes_without_pydantics_prefix(client, creator_headers):
    """A validator's ValueError reaches the client as its sentence, not as "Value error, ..." (pydantic's)."""
    gpt = (await client.post("/api/gpts", json={"name": "Starters"}, headers=creator_headers)).json()
    url = f"/api/gpts/{gpt['id']}"
    refused = {
        "each tag has at most 32 characters": await client.patch(
            url, json={"tags": ["x" * 40]}, headers=creator_headers
        ),
        "chunk_overlap must be at most 50, half of chunk_size (100)": await client.patch(
            url, json={"retrieval": {"chunk_size": 100, "chunk_overlap": 90}}, headers=creator_headers
        ),
        "'ftp://x': an origin starts with https:// or http://": await client.put(
            f"{url}/embed", json={"allowed_origins": ["ftp://x"]}, headers=creator_headers
        ),
    }
    for sentence, response in refused.items():
        assert response.status_code == 422
        assert [e["message"] for e in response.json()["errors"]] == [sentence]
