"""The OpenAPI document states the rules the service enforces (the mechanisms, checked on every operation)."""

from __future__ import annotations

METHODS = ("get", "post", "put", "patch", "delete")


async def _document(client) -> dict:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    return response.json()


def _operations(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


async def test_every_integer_parameter_is_bounded_and_every_cursor_shaped(client):
    for path, method, operation in _operations(await _document(client)):
        for parameter in operation.get("parameters", []):
            schema = parameter["schema"]
            if schema.get("type") == "integer":
                assert "minimum" in schema and "maximum" in schema, (method, path, parameter["name"])
            if parameter["name"] == "cursor":
                assert schema.get("pattern") or any("pattern" in s for s in schema.get("oneOf", [])), path


async def test_errors_are_documented_as_problem_json_on_every_api_operation(client):
    for path, method, operation in _operations(await _document(client)):
        if not path.startswith(("/api/", "/v1/")):
            continue
        responses = operation["responses"]
        for status in ("400", "401", "404", "422", "429"):
            assert "application/problem+json" in responses[status]["content"], (method, path, status)
        assert "Retry-After" in responses["429"]["headers"]
        assert "extra" not in str(responses["400"]), (method, path)


async def test_request_bodies_state_the_enforced_rules(client):
    document = await _document(client)
    schemas = document["components"]["schemas"]
    for name in ("GptCreate", "GptUpdate", "RatingWrite", "ApiKeyCreate", "PublishRequest", "SearchRequest"):
        assert schemas[name]["additionalProperties"] is False, name
    update = schemas["GptUpdate"]["properties"]
    assert update["tags"]["anyOf"][0]["maxItems"] == 8
    assert update["conversation_starters"]["anyOf"][0]["maxItems"] == 4
    assert "lifestyle" in update["category"]["anyOf"][0]["enum"]
    assert schemas["SearchRequest"]["properties"]["file_ids"]["anyOf"][0]["maxItems"] == 100
    assert schemas["FeaturedRequest"]["properties"]["gpt_ids"]["uniqueItems"] is True
    assert schemas["ProfileUpdate"]["properties"]["website"]["anyOf"][0]["pattern"].startswith("^(https?://")
    assert document["paths"]["/api/gpts"]["post"]["requestBody"]["required"] is False
    assert schemas["RetrievalSettings"]["properties"]["top_k"]["anyOf"][0]["maximum"] == 50
    assert '"ge"' not in str(schemas).replace("'", '"'), "a bound pydantic could not render as minimum"


async def test_content_types_are_the_real_ones(client):
    paths = (await _document(client))["paths"]
    export = paths["/api/gpts/{gpt_id}/export"]["get"]["responses"]["200"]["content"]
    assert list(export) == ["application/zip"]
    for stream in ("/api/gpts/{gpt_id}/files/{file_id}/events", "/api/gpts/{gpt_id}/files/events"):
        assert list(paths[stream]["get"]["responses"]["200"]["content"]) == ["text/event-stream"]
    query = [
        p for p in paths["/api/datasets/{dataset_id}/files/events"]["get"]["parameters"] if p["in"] == "query"
    ]
    assert [(p["name"], p["required"]) for p in query] == [("ids", False)]
    chat = paths["/api/conversations/{conversation_id}/messages"]["post"]["responses"]["200"]["content"]
    assert set(chat) == {"application/json", "text/event-stream"}
    upload = paths["/api/gpts/{gpt_id}/files"]["post"]["requestBody"]["content"]["multipart/form-data"][
        "schema"
    ]
    assert upload["required"] == ["file"] and upload["properties"]["file"]["format"] == "binary"
    assert upload["properties"]["file"]["minLength"] == 1  # an empty file is a 422
    archive = paths["/api/gpts/import"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert archive["properties"]["file"]["minLength"] == 22  # the smallest zip


async def test_v1_chat_request_is_closed_and_bounded_from_the_table_and_settings(client, settings):
    schemas = (await _document(client))["components"]["schemas"]
    request = schemas["ChatCompletionRequest"]
    assert request["additionalProperties"] is False
    assert schemas["ChatCompletionMessage"]["additionalProperties"] is False
    properties = request["properties"]
    assert properties["max_tokens"]["anyOf"][0]["maximum"] == settings.chat_max_output_tokens
    assert properties["temperature"]["anyOf"][0] == {"type": "number", "minimum": 0, "maximum": 2}
    assert properties["metadata"]["enum"] == [None, {}] and properties["audio"]["enum"] == [None]
    assert "x-maximum-setting" not in str(schemas)
