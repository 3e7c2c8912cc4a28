"""The Toolset: functions offered to the model, and calls to the local trips API and MCP server as the chat
loop makes them (issue #12, items 3 and 4)."""

import base64
import json
import logging
import uuid
from dataclasses import replace

import pytest

from core.llm import ToolCall
from tests.tools.servers import (
    API_KEY,
    MCP_TOKEN,
    LocalMcpServer,
    TripsApi,
    auth_for,
    mcp_server_tool,
    tool_definitions,
    trips_action,
)
from tools.definitions import ActionAuth, Operation, ToolDefinitions
from tools.runtime import Toolset

# What an action call may carry: HTTP plumbing, the operation's own parameters, auth, the opt-in user id.
PLUMBING = {"host", "user-agent", "accept", "accept-encoding", "connection", "content-length", "content-type"}


def call(name: str, arguments: dict | str | None = None) -> ToolCall:
    text = arguments if isinstance(arguments, str) else json.dumps(arguments or {})
    return ToolCall(id=f"call_{uuid.uuid4().hex[:8]}", name=name, arguments=text)


@pytest.fixture
async def toolset(tools_api: TripsApi, mcp_server: LocalMcpServer, tools_settings):
    toolset = Toolset(tool_definitions(tools_api, mcp_server), tools_settings)
    yield toolset
    await toolset.aclose()


async def run(definitions: ToolDefinitions, settings, tool_call: ToolCall, **options):
    toolset = Toolset(definitions, settings, **options)
    try:
        return await toolset.call(tool_call)
    finally:
        await toolset.aclose()


def test_functions_are_offered_in_the_chat_completions_shape(toolset: Toolset):
    functions = toolset.functions()
    names = [f["function"]["name"] for f in functions]
    assert names[:3] == ["listTrips", "getTrip", "createTrip"]
    assert {"add", "weather", "echo_headers", "fail"} <= set(names)
    assert all(f["type"] == "function" and f["function"]["parameters"]["type"] == "object" for f in functions)
    list_trips = functions[0]["function"]
    assert list_trips["parameters"]["properties"]["destination"]["type"] == "string"
    assert (
        "properties"
        in next(f for f in functions if f["function"]["name"] == "echo_headers")["function"]["parameters"]
    )


def test_approval_and_domain(toolset: Toolset, tools_api: TripsApi):
    assert toolset.requires_approval("createTrip")  # consequential (a POST)
    assert not toolset.requires_approval("listTrips")
    assert toolset.requires_approval("weather")  # in the MCP server's require_approval
    assert not toolset.requires_approval("add")
    assert not toolset.requires_approval("nope")
    assert toolset.domain("listTrips") == "127.0.0.1" == toolset.domain("add")
    assert toolset.domain("nope") == ""


async def test_a_get_operation_with_query_parameters(toolset: Toolset, tools_api: TripsApi):
    output = await toolset.call(call("listTrips", {"destination": "kyoto", "limit": 5}))
    assert output.status == "completed"
    assert json.loads(output.content)["trips"] == [{"id": "t2", "destination": "Kyoto", "days": 9}]
    assert tools_api.last.query == {"destination": "kyoto", "limit": "5"}
    assert output.name == "listTrips" and output.domain == "127.0.0.1" and output.duration_ms >= 0


async def test_a_post_operation_sends_its_json_body(toolset: Toolset, tools_api: TripsApi):
    output = await toolset.call(call("createTrip", {"body": {"destination": "Oslo", "days": 3}}))
    assert output.status == "completed"
    assert json.loads(output.content)["destination"] == "Oslo"
    assert tools_api.last.method == "POST"
    assert json.loads(tools_api.last.body) == {"destination": "Oslo", "days": 3}
    assert tools_api.last.headers["content-type"] == "application/json"


async def test_path_query_header_and_cookie_parameters_arrive(toolset: Toolset, tools_api: TripsApi):
    arguments = {"q": "a b&c", "X-Trace": "trace-1", "session": "s 1", "body": {"k": [1, 2]}}
    output = await toolset.call(call("echo", arguments))
    echoed = json.loads(output.content)
    assert echoed["query"] == {"q": "a b&c"}
    assert echoed["headers"]["x-trace"] == "trace-1"
    assert echoed["cookies"] == {"session": "s%201"}
    assert json.loads(echoed["body"]) == {"k": [1, 2]}


async def test_a_path_parameter_cannot_leave_its_segment(toolset: Toolset, tools_api: TripsApi):
    output = await toolset.call(call("getTrip", {"trip_id": "t1?x=1"}))
    assert output.status == "failed" and "no such trip" in output.content
    assert tools_api.last.path.startswith("/trips/t1%3F") and tools_api.last.query == {}  # one segment
    escape = await toolset.call(call("getTrip", {"trip_id": "../echo"}))
    assert escape.status == "failed" and "HTTP 404" in escape.content
    assert all(r.path != "/echo" for r in tools_api.requests)
    up = await toolset.call(call("getTrip", {"trip_id": ".."}))  # not a step up to /
    assert up.status == "failed" and "no such trip" in up.content
    assert tools_api.last.path.startswith("/trips/")


async def test_a_missing_required_parameter_is_told_to_the_model(toolset: Toolset, tools_api: TripsApi):
    output = await toolset.call(call("getTrip", {}))
    assert output.status == "failed" and "trip_id" in output.content
    assert tools_api.requests == []


@pytest.mark.parametrize("kind", ["api_key_header", "api_key_query", "bearer", "basic", "oauth"])
async def test_every_auth_type_arrives(kind: str, tools_api: TripsApi, tools_settings):
    definitions = ToolDefinitions(actions=(trips_action(tools_api, auth=auth_for(kind, tools_api)),))
    output = await run(definitions, tools_settings, call("secureTrips"))
    assert output.status == "completed", output.content
    assert json.loads(output.content) == {"auth": kind}


async def test_without_credentials_the_api_answer_is_a_failed_call(tools_api: TripsApi, tools_settings):
    output = await run(tool_definitions(tools_api), tools_settings, call("secureTrips"))
    assert output.status == "failed"
    assert output.content.startswith("Error: HTTP 401 Unauthorized from 127.0.0.1")


async def test_oauth_tokens_are_cached_until_they_expire(tools_api: TripsApi, tools_settings):
    definitions = ToolDefinitions(actions=(trips_action(tools_api, auth=auth_for("oauth", tools_api)),))
    toolset = Toolset(definitions, tools_settings)
    try:
        for _ in range(3):
            assert (await toolset.call(call("secureTrips"))).status == "completed"
        assert len(tools_api.token_requests) == 1
        token_request = tools_api.token_requests[0]
        assert token_request.body.decode() == "grant_type=client_credentials&scope=trips"
        assert token_request.headers["authorization"].startswith("Basic ")
        # A token about to expire (within 30 s) is fetched anew.
        tools_api.token_lifetime_seconds = 10
        from tools.actions import TOKENS

        TOKENS.clear()
        for _ in range(2):
            assert (await toolset.call(call("secureTrips"))).status == "completed"
        assert len(tools_api.token_requests) == 3
    finally:
        await toolset.aclose()


async def test_a_rejected_oauth_client_is_a_failed_call(tools_api: TripsApi, tools_settings):
    auth = auth_for("oauth", tools_api)
    wrong = type(auth)(**{**auth.__dict__, "secret": "wrong"})
    output = await run(
        ToolDefinitions(actions=(trips_action(tools_api, auth=wrong),)), tools_settings, call("secureTrips")
    )
    assert output.status == "failed" and "token endpoint answered HTTP 401" in output.content
    assert [r.path for r in tools_api.requests] == []


async def test_only_the_operation_auth_and_opt_in_user_id_are_sent(tools_api: TripsApi, tools_settings):
    action = trips_action(tools_api, auth=auth_for("bearer"), user_id_header="X-GPT-User")
    output = await run(
        ToolDefinitions(actions=(action,)), tools_settings, call("echo", {"q": "1"}), user_ref="user-42"
    )
    headers = json.loads(output.content)["headers"]
    assert {"authorization", "x-gpt-user"} <= set(headers) <= PLUMBING | {"authorization", "x-gpt-user"}
    assert headers["x-gpt-user"] != "user-42" and len(headers["x-gpt-user"]) == 32  # opaque
    assert "user-42" not in output.content
    # The same user gets the same id from the same action, and no id where the creator did not turn it on.
    again = await run(ToolDefinitions(actions=(action,)), tools_settings, call("echo"), user_ref="user-42")
    assert json.loads(again.content)["headers"]["x-gpt-user"] == headers["x-gpt-user"]
    off = await run(tool_definitions(tools_api), tools_settings, call("echo"), user_ref="user-42")
    assert "x-gpt-user" not in json.loads(off.content)["headers"]
    assert set(json.loads(off.content)["headers"]) <= PLUMBING


async def test_an_http_error_status_is_a_failed_call_with_the_body(toolset: Toolset):
    output = await toolset.call(call("status", {"code": 503}))
    assert output.status == "failed"
    assert "HTTP 503 Service Unavailable" in output.content and "status 503" in output.content


async def test_a_slow_api_times_out_as_a_failed_call(tools_api: TripsApi, tools_settings):
    hasty = tools_settings.model_copy(update={"actions_timeout_seconds": 0.3})
    output = await run(tool_definitions(tools_api), hasty, call("slow", {"seconds": 2}))
    assert output.status == "failed" and "timed out" in output.content


async def test_a_large_response_is_cut_with_a_note(toolset: Toolset, tools_settings):
    output = await toolset.call(call("big"))
    assert output.status == "completed"
    assert output.content.startswith("x" * 1000)
    assert output.content.endswith("the rest was not read]")
    assert output.content.count("x") == tools_settings.actions_max_response_bytes


async def test_refused_addresses_are_failed_calls(
    tools_api: TripsApi, tools_settings, plain_settings, mcp_server
):
    calls_before = len(mcp_server.calls)
    loopback = await run(tool_definitions(tools_api, mcp_server), plain_settings, call("listTrips"))
    assert loopback.status == "failed" and "loopback address" in loopback.content
    mcp = await run(tool_definitions(tools_api, mcp_server), plain_settings, call("add", {"a": 1, "b": 2}))
    assert mcp.status == "failed" and "loopback address" in mcp.content
    assert tools_api.requests == [] and len(mcp_server.calls) == calls_before
    metadata = await run(tool_definitions(tools_api), tools_settings, call("metadata"))
    assert metadata.status == "failed"
    assert "169.254.169.254 is a cloud metadata address" in metadata.content


async def test_redirects_follow_the_action_rules(tools_api: TripsApi, tools_settings):
    elsewhere = f"http://localhost:{tools_api.port}/trips"
    refused = await run(tool_definitions(tools_api), tools_settings, call("redirect", {"to": elsewhere}))
    assert refused.status == "failed" and "another host (localhost)" in refused.content
    listed = tool_definitions(tools_api, redirect_hosts=("localhost",))
    followed = await run(listed, tools_settings, call("redirect", {"to": elsewhere}))
    assert followed.status == "completed" and "Lisbon" in followed.content
    too_many = await run(tool_definitions(tools_api), tools_settings, call("redirectChain", {"n": 4}))
    assert too_many.status == "failed" and "more than 3 redirects" in too_many.content


@pytest.mark.parametrize(
    ("name", "arguments", "message"),
    [
        ("nope", "{}", "no function named 'nope'"),
        ("listTrips", "[1]", "not a JSON object"),
        ("listTrips", "{", "not a JSON"),
    ],
)
async def test_bad_calls_are_failed_calls(toolset: Toolset, name: str, arguments: str, message: str):
    output = await toolset.call(ToolCall(id="call_1", name=name, arguments=arguments))
    assert output.status == "failed" and message in output.content
    assert output.call_id == "call_1"


async def test_mcp_tools_are_called(toolset: Toolset, mcp_server: LocalMcpServer):
    output = await toolset.call(call("add", {"a": 2, "b": 40}))
    assert (output.status, output.content) == ("completed", "42")
    assert mcp_server.calls[-1] == ("add", {"a": 2, "b": 40})
    failed = await toolset.call(call("fail", {"reason": "the river is closed"}))
    assert failed.status == "failed" and "the river is closed" in failed.content


async def test_mcp_server_headers_arrive_and_nothing_else(toolset: Toolset, mcp_server: LocalMcpServer):
    output = await toolset.call(call("echo_headers"))
    lines = dict(line.split(": ", 1) for line in output.content.splitlines())
    assert mcp_server.headers_seen[-1]["authorization"] == f"Bearer {MCP_TOKEN}"
    assert not {k for k in lines if k.startswith(("cookie", "x-forwarded", "x-gpt"))}


async def test_an_mcp_server_refusing_the_token_is_a_failed_call(mcp_server: LocalMcpServer, tools_settings):
    server = mcp_server_tool(mcp_server, headers={"Authorization": "Bearer wrong"})
    output = await run(ToolDefinitions(mcp_servers=(server,)), tools_settings, call("add", {"a": 1, "b": 1}))
    assert output.status == "failed" and "MCP server" in output.content


async def test_oauth_falls_back_to_client_credentials_in_the_form(tools_api: TripsApi, tools_settings):
    tools_api.token_client_auth = {"post"}
    definitions = ToolDefinitions(actions=(trips_action(tools_api, auth=auth_for("oauth", tools_api)),))
    output = await run(definitions, tools_settings, call("secureTrips"))
    assert output.status == "completed" and json.loads(output.content) == {"auth": "oauth"}
    basic, posted = tools_api.token_requests
    assert "authorization" in basic.headers and b"client_secret=" not in basic.body
    assert "authorization" not in posted.headers and b"client_secret=" in posted.body


@pytest.mark.parametrize("kind", ["api_key_header", "api_key_query", "bearer", "basic", "oauth"])
async def test_credentials_never_reach_the_logs(kind: str, tools_api: TripsApi, tools_settings, caplog):
    caplog.set_level(logging.DEBUG)
    auth = auth_for(kind, tools_api)
    definitions = ToolDefinitions(actions=(trips_action(tools_api, auth=auth),))
    toolset = Toolset(definitions, tools_settings)
    try:
        assert (await toolset.call(call("secureTrips"))).status == "completed"
        elsewhere = f"http://localhost:{tools_api.port}/trips"
        assert (await toolset.call(call("redirect", {"to": elsewhere}))).status == "failed"
    finally:
        await toolset.aclose()
    assert any(getattr(r, "tool", None) == "secureTrips" and r.status == "completed" for r in caplog.records)
    assert auth.secret and all(auth.secret not in _logged(r) for r in caplog.records)


async def test_mcp_headers_never_reach_the_logs(toolset: Toolset, caplog):
    caplog.set_level(logging.DEBUG)
    assert (await toolset.call(call("add", {"a": 1, "b": 1}))).status == "completed"
    assert all(MCP_TOKEN not in _logged(r) for r in caplog.records)


def _logged(record: logging.LogRecord) -> str:
    return record.getMessage() + " " + " ".join(str(v) for v in record.__dict__.values())


@pytest.mark.parametrize(
    ("value", "message"),
    [("a\r\nX-Injected: 1", "line break"), ("ünïcode", "outside ASCII")],
)
async def test_header_parameters_cannot_inject_headers(toolset: Toolset, tools_api: TripsApi, value, message):
    output = await toolset.call(call("echo", {"X-Trace": value}))
    assert output.status == "failed" and message in output.content
    assert tools_api.requests == []


@pytest.mark.parametrize("trip_id", [None, ""])
async def test_a_null_or_empty_path_parameter_is_missing(trip_id, toolset: Toolset, tools_api: TripsApi):
    """`/trips/{trip_id}` with "" would call `/trips/`, another endpoint (the list of every trip)."""
    output = await toolset.call(call("getTrip", {"trip_id": trip_id}))
    assert output.status == "failed" and output.content == "Error: missing required parameter 'trip_id'"
    assert tools_api.requests == []


async def test_a_null_optional_parameter_is_not_sent(toolset: Toolset, tools_api: TripsApi):
    output = await toolset.call(call("listTrips", {"destination": None}))
    assert output.status == "completed" and tools_api.last.query == {}


SAVED_SECRETS = [
    ActionAuth(type="bearer", secret="sk-live-CREATORKEY-9911\r\n"),
    ActionAuth(type="bearer", secret="sk-live-ü-unicode-secret"),
    ActionAuth(type="api_key", name="X-Api-Key", location="header", secret="sk-live-key\r\nX-Evil: 1"),
]


@pytest.mark.parametrize("auth", SAVED_SECRETS, ids=["crlf", "unicode", "api key injection"])
async def test_a_secret_http_cannot_carry_never_reaches_the_output(
    auth: ActionAuth, tools_api: TripsApi, tools_settings, caplog
):
    """Saved before the write-time check (or sealed elsewhere): the call fails by name, never quoting it."""
    output = await run(ToolDefinitions(actions=(trips_action(tools_api, auth=auth),)), tools_settings,
                       call("secureTrips"))  # fmt: skip
    assert output.status == "failed" and "cannot be sent" in output.content, output.content
    assert "sk-live" not in output.content and "inside gptstore" not in output.content
    assert not any("sk-live" in _logged(r) for r in caplog.records)
    assert tools_api.requests == []


async def test_an_api_key_in_a_reserved_header_is_not_sent(tools_api: TripsApi, tools_settings):
    auth = ActionAuth(type="api_key", name="Host", location="header", secret="evil.example.com")
    output = await run(ToolDefinitions(actions=(trips_action(tools_api, auth=auth),)), tools_settings,
                       call("echo"))  # fmt: skip
    assert output.status == "failed" and "'Host' is reserved" in output.content
    assert tools_api.requests == []


KEY_ECHO = Operation(
    name="echoKey",
    method="GET",
    path="/echo",
    description="Echo, with parameters named like the API key.",
    parameters={
        "type": "object",
        "properties": {"x-api-key": {"type": "string"}, "API_KEY": {"type": "string"}},
    },
    locations={"x-api-key": "header", "API_KEY": "query"},
    consequential=False,
)


@pytest.mark.parametrize("kind", ["api_key_header", "api_key_query"])
async def test_the_api_key_wins_over_parameters_and_the_user_id_of_its_name(
    kind: str, tools_api: TripsApi, tools_settings
):
    """An action saved before the save-time check: header names in any case are one header, and the
    model's arguments (or the user id) never replace the key nor travel beside it."""
    action = replace(
        trips_action(tools_api, auth=auth_for(kind), user_id_header="X-API-KEY"), operations=(KEY_ECHO,)
    )
    arguments = {"x-api-key": "model-chosen", "API_KEY": "model-chosen"}
    output = await run(ToolDefinitions(actions=(action,)), tools_settings, call("echoKey", arguments),
                       user_ref="user-42")  # fmt: skip
    assert output.status == "completed", output.content
    sent = tools_api.requests[-1]
    header = [v for k, v in sent.header_list if k.lower() == "x-api-key"]
    query = [(k, v) for k, v in sent.query_list if k.lower() == "api_key"]
    if kind == "api_key_header":
        assert header == [API_KEY] and query == [("API_KEY", "model-chosen")]
    else:  # the user id still wins over the model's header
        assert len(header) == 1 and header[0] not in ("model-chosen", "user-42")
        assert query == [("api_key", API_KEY)]


async def test_a_basic_user_id_beyond_ascii_is_sent_as_utf8(tools_api: TripsApi, tools_settings):
    """RFC 7617's charset="UTF-8": the user-id and password are UTF-8 inside the base64."""
    auth = ActionAuth(type="basic", username="jürgen", secret="pässword")
    output = await run(ToolDefinitions(actions=(trips_action(tools_api, auth=auth),)), tools_settings,
                       call("echo"))  # fmt: skip
    assert output.status == "completed", output.content
    sent = tools_api.last.headers["authorization"]  # the output shows no credential (tools.redact)
    assert base64.b64decode(sent.removeprefix("Basic ")).decode("utf-8") == "jürgen:pässword"
