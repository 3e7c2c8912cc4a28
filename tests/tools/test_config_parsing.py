"""OpenAPI 3.0/3.1 documents (JSON and YAML) become an action's functions; every bad document is a 422
naming what is wrong."""

import json
from pathlib import Path

import pytest

from core.errors import Invalid
from tools.openapi_actions import LIMITS, function_name, parse_document

DATA = Path(__file__).resolve().parents[1] / "data" / "tools"
TRIPS = (DATA / "trips-3.0.yaml").read_text()
WEATHER = (DATA / "weather-3.1.json").read_text()


def ops(parsed) -> dict:
    return {op["name"]: op for op in parsed.operations}


def refused(document, *words: str) -> str:
    with pytest.raises(Invalid) as caught:
        parse_document(document)
    detail = caught.value.detail
    for word in words:
        assert word in detail, detail
    return detail


def test_openapi_30_yaml_becomes_functions_named_by_operation_id_or_derived():
    parsed = parse_document(TRIPS)
    assert parsed.version == "3.0" and parsed.title == "Fjord Trips"
    assert parsed.server_url == "https://api.fjords.example/v1"
    assert parsed.redirect_hosts == ["eu.fjords.example"]
    found = ops(parsed)
    assert set(found) == {"listTrips", "bookTrip", "get_trips_trip_id", "cancelTrip"}
    one = found["get_trips_trip_id"]
    assert (one["method"], one["path"], one["description"]) == ("GET", "/trips/{trip_id}", "One trip")
    assert one["parameters"]["required"] == ["trip_id"] and one["locations"] == {"trip_id": "path"}


def test_refs_are_resolved_and_openapi_30_nullable_is_json_schema():
    found = ops(parse_document(TRIPS))
    month = found["listTrips"]["parameters"]["properties"]["month"]
    assert month == {
        "type": ["integer", "null"],
        "minimum": 1,
        "maximum": 12,
        "description": "Month of travel",
    }
    body = found["bookTrip"]["parameters"]["properties"]["body"]
    assert found["bookTrip"]["parameters"]["required"] == ["body"]
    assert body["required"] == ["trip_id"]
    person = body["properties"]["travellers"]["items"]
    assert person["properties"]["name"] == {"type": "string"}
    assert person["properties"]["companion"] == {}  # a schema that contains itself is cut, not endless
    assert "$ref" not in json.dumps(found)


def test_consequential_defaults_every_non_get_and_honours_the_openai_flag():
    found = ops(parse_document(TRIPS))
    assert found["listTrips"]["default_consequential"] is False
    assert found["bookTrip"]["default_consequential"] is True
    assert found["cancelTrip"]["default_consequential"] is False  # x-openai-isConsequential: false
    weather = ops(parse_document(WEATHER))
    assert weather["setAlert"]["default_consequential"] is True


def test_openapi_31_json_with_server_variables_headers_and_form_bodies():
    parsed = parse_document(WEATHER)
    assert parsed.version == "3.1" and parsed.server_url == "https://eu.weather.example"
    forecast = ops(parsed)["getForecast"]
    assert forecast["locations"] == {"place": "query", "X-Units": "header"}
    assert forecast["parameters"]["properties"]["X-Units"] == {
        "type": "string",
        "enum": ["metric", "imperial"],
    }
    assert forecast["parameters"]["properties"]["place"] == {"type": ["string", "null"]}
    alert = ops(parsed)["setAlert"]
    assert alert["content_type"] == "application/x-www-form-urlencoded"
    assert alert["parameters"]["properties"]["body"]["properties"] == {"level": {"type": "string"}}


def test_the_same_document_as_yaml_json_or_object_parses_alike():
    import yaml

    as_object = yaml.safe_load(TRIPS)
    assert parse_document(json.dumps(as_object)).operations == parse_document(TRIPS).operations
    assert parse_document(as_object).operations == parse_document(TRIPS).operations


def test_relative_servers_resolve_against_the_import_url():
    document = json.loads(WEATHER)
    document["servers"] = [{"url": "/api"}]
    assert parse_document(document, "https://docs.example/spec.json").server_url == "https://docs.example/api"
    assert parse_document(document).server_url == "/api"  # the service then asks for a server_url


@pytest.mark.parametrize(
    ("method", "path", "operation_id", "expected"),
    [
        ("get", "/trips/{id}", None, "get_trips_id"),
        ("post", "/v1/räder", None, "post_v1_r_der"),
        ("get", "/x", "list trips!", "list_trips"),
        ("get", "/" + "a" * 100, None, "get_" + "a" * 60),
    ],
)
def test_derived_names_fit_function_names(method, path, operation_id, expected):
    name = function_name(method, path, operation_id)
    assert name == expected and len(name) <= 64


def test_not_json_nor_yaml_is_refused_with_the_line():
    refused("openapi: 3.0.0\ninfo: [unclosed", "not valid JSON or YAML", "line")
    refused('{"openapi": "3.0.0",', "not valid JSON", "line 1")
    refused("", "empty")
    refused("just text", "must be an object")


@pytest.mark.parametrize("syntax", ["yaml", "json"])
def test_a_number_longer_than_python_reads_is_refused(syntax):
    digits = "9" * 4301  # Python's int() reads at most 4,300 digits (sys.get_int_max_str_digits)
    document = (
        f"openapi: 3.1.0\nx: {digits}\n" if syntax == "yaml" else f'{{"openapi": "3.1.0", "x": {digits}}}'
    )
    refused(document, "not valid JSON or YAML", "4300 digits")


def test_other_versions_are_refused_by_name():
    refused({"swagger": "2.0", "info": {}, "paths": {}}, "Swagger 2.0")
    refused({"openapi": "3.2.0", "info": {}, "paths": {}}, "3.2.0", "not supported")
    refused({"info": {}, "paths": {}}, "`openapi` field")


def test_documents_that_break_the_specification_are_refused_with_where():
    document = json.loads(WEATHER)
    del document["paths"]["/forecast"]["get"]["responses"]
    document["openapi"] = "3.0.3"
    detail = refused(document, "responses")
    assert "/forecast" in detail


def test_references_outside_the_document_are_never_fetched():
    document = json.loads(WEATHER)
    document["components"]["schemas"]["Units"] = {"$ref": "http://169.254.169.254/latest/meta-data"}
    refused(document, "only references inside the document", "169.254.169.254")
    document["components"]["schemas"]["Units"] = {"$ref": "other.yaml#/Units"}
    refused(document, "other.yaml")


def test_references_to_nothing_are_refused_by_name():
    document = json.loads(WEATHER)
    del document["components"]["schemas"]["Units"]
    refused(document, "#/components/schemas/Units", "points at nothing")
    document["components"] = {}
    refused(document, "points at nothing")


def test_malformed_documents_are_422s_never_crashes():
    """Parts of valid documents replaced by values of the wrong kind: every outcome is a parse or a 422."""
    import copy
    import random

    import yaml

    bases = [yaml.safe_load(TRIPS), json.loads(WEATHER)]
    values = [
        None,
        [],
        {},
        "x",
        1,
        True,
        {"$ref": "#/components"},
        {"$ref": "#"},
        [{"name": "x", "in": "query"}],
    ]

    def paths(node, path=()):
        yield path
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            yield from paths(value, (*path, key))

    rng = random.Random(12)
    for _ in range(400):
        document = copy.deepcopy(rng.choice(bases))
        for _ in range(rng.randint(1, 3)):
            path = rng.choice(list(paths(document))[1:])
            parent = document
            for key in path[:-1]:
                parent = parent[key]
            parent[path[-1]] = copy.deepcopy(rng.choice(values))
        try:
            parse_document(document)
        except Invalid:
            pass


def test_escapes_that_decode_to_unstorable_text_are_refused_with_where():
    # The request guard sees only the escape (`\\u0000` is six storable characters); the parsed value is
    # a character PostgreSQL cannot store, in a column or in JSONB.
    yaml_text = TRIPS.replace("summary: List trips", 'summary: "List \\0 trips"')
    refused(yaml_text, "/paths/~1trips/get/summary", "U+0000")
    json_text = WEATHER.replace('"Forecast for a place"', '"Forecast \\ud800"')
    refused(json_text, "lone surrogate (U+D800)")


def test_yaml_aliases_are_refused_so_a_small_document_cannot_expand():
    bomb = "openapi: 3.0.0\na: &a [x, x, x]\nb: &b [*a, *a, *a]\nc: [*b, *b, *b]\n"
    refused(bomb, "aliases")


def test_more_than_30_operations_is_refused():
    paths = {f"/r{i}": {"get": {"responses": {"200": {"description": "ok"}}}} for i in range(31)}
    document = {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": paths}
    refused(document, "31 operations", f"at most {LIMITS['max_operations_per_action']}")
    del paths["/r30"]
    assert len(parse_document(document).operations) == 30


def test_names_that_collide_after_deriving_are_refused():
    ok = {"responses": {"200": {"description": "ok"}}}
    document = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/a-b": {"get": {**ok, "operationId": "get a"}},
            "/c": {"get": {**ok, "operationId": "get_a"}},
        },
    }
    # Each has an operationId: the message says they reduce to one name, not that one is missing.
    refused(
        document, "operationIds 'get a' (GET /a-b) and 'get_a' (GET /c) both become the function name 'get_a'"
    )
    document["paths"] = {"/a_b": {"get": ok}, "/a/b": {"get": ok}}  # derived names alike
    refused(document, "Duplicate function name 'get_a_b'", "give each an operationId of its own")


def test_an_openapi_version_written_as_a_yaml_number_is_named_as_such():
    refused(
        "openapi: 3.0\ninfo: {title: t, version: '1'}\npaths: {}\n", 'must be text such as "3.0.3"', "not 3.0"
    )


def test_a_document_without_operations_or_with_unsupported_bodies_is_refused():
    refused({"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {}}, "no operations")
    document = json.loads(WEATHER)
    document["paths"]["/forecast"]["put"]["requestBody"]["content"] = {"image/png": {}}
    refused(document, "image/png", "only JSON and form bodies")


def test_too_long_documents_are_refused_before_parsing():
    refused("x" * (LIMITS["max_document_chars"] + 1), "longer than")


def _with_parameter(parameter: dict, components: dict | None = None) -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/trips": {"get": {"parameters": [parameter], "responses": {"200": {"description": "ok"}}}}
        },
        "components": components or {},
    }


@pytest.mark.parametrize("version", ["3.0.3", "3.1.0"])
def test_a_reference_to_the_wrong_kind_of_object_names_its_place(version: str):
    document = {**_with_parameter({"$ref": "#/info"}), "openapi": version}
    detail = refused(document, "#/info", "/paths/~1trips/get/parameters/0", "Parameter Object")
    assert "KeyError" not in detail
    document = {**_with_parameter({"$ref": "#/info/title"}), "openapi": version}
    refused(document, "#/info/title", "/paths/~1trips/get/parameters/0", "a str value")


@pytest.mark.parametrize("version", ["3.0.3", "3.1.0"])
def test_a_reference_cycle_names_the_references(version: str):
    loop = {"parameters": {"P": {"$ref": "#/components/parameters/P"}}}
    document = {**_with_parameter({"$ref": "#/components/parameters/P"}, loop), "openapi": version}
    detail = refused(document, "refers back to itself", "#/components/parameters/P")
    assert "RecursionError" not in detail
    pair = {"schemas": {"A": {"$ref": "#/components/schemas/B"}, "B": {"$ref": "#/components/schemas/A"}}}
    parameter = {"name": "q", "in": "query", "schema": {"$ref": "#/components/schemas/A"}}
    document = {**_with_parameter(parameter, pair), "openapi": version}
    refused(document, "#/components/schemas/A -> #/components/schemas/B -> #/components/schemas/A")


def test_a_schema_that_contains_itself_is_still_accepted():
    tree = {
        "schemas": {
            "Node": {"type": "object", "properties": {"child": {"$ref": "#/components/schemas/Node"}}}
        }
    }
    parameter = {"name": "q", "in": "query", "schema": {"$ref": "#/components/schemas/Node"}}
    parsed = parse_document(_with_parameter(parameter, tree))
    assert parsed.operations[0]["parameters"]["properties"]["q"]["properties"]["child"] == {}


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("budget: {type: number, maximum: .inf}", "/paths/~1trips/get/x-budget/maximum is inf"),
        ("budget: {type: number, minimum: -.inf}", "/paths/~1trips/get/x-budget/minimum is -inf"),
        ("budget: {type: number, minimum: .nan}", "/paths/~1trips/get/x-budget/minimum is nan"),
    ],
)
def test_yaml_infinity_and_nan_are_refused_with_where(text: str, where: str):
    document = (
        "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /trips:\n    get:\n"
        f"      x-{text}\n      responses: {{'200': {{description: ok}}}}\n"
    )
    refused(document, where, "only finite numbers")


def test_server_variables_take_their_defaults_and_an_undefined_one_is_refused():
    document = json.loads(WEATHER)
    document["servers"] = [
        {"url": "https://{region}.weather.example/{version}", "variables": {"region": {"default": "eu"},
                                                                          "version": {"default": "v2"}}},
        {"url": "https://{env}.backup.example"},
    ]  # fmt: skip
    refused(document, "servers[1].url 'https://{env}.backup.example' uses the variable {env}")
    document["servers"][1]["variables"] = {"env": {"default": "prod", "enum": ["prod", "test"]}}
    parsed = parse_document(document)
    assert parsed.server_url == "https://eu.weather.example/v2"
    assert parsed.redirect_hosts == ["prod.backup.example"]
    document["servers"] = [{"url": "https://{env}.example.com"}]
    refused(document, "servers[0].url", "{env}", "does not define")
