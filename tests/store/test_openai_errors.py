"""Every error under /v1 is OpenAI's `{"error": {"message", "type", "param", "code"}}`, so the SDK raises the
right exception with the right details; the rest of the API keeps RFC 9457 problem documents."""

import openai
import pytest
from litestar import Litestar, get
from litestar.testing import AsyncTestClient

from core.errors import AppError, exception_handlers
from core.openai_errors import with_openai_errors
from tests.asgi import app_client_for
from tests.factories import auth_headers, create_user
from tests.fake_openai import error, text
from tests.store.conftest import sdk_for
from tests.store.factories import create_published_gpt

HI = [{"role": "user", "content": "Hi"}]


def assert_openai_error(body: dict, *, type: str, param=None, code=None) -> None:
    assert set(body) == {"message", "type", "param", "code"}, body
    assert body["message"] and body["type"] == type and body["param"] == param and body["code"] == code


@pytest.mark.parametrize("model", ["00000000-0000-4000-8000-000000000000", "gpt-4o", ""])
async def test_unknown_model_is_404_model_not_found(sdk, model):
    with pytest.raises(openai.NotFoundError) as caught:
        await sdk.chat.completions.create(model=model, messages=HI)
    assert caught.value.response.headers["content-type"] == "application/json"
    assert_openai_error(
        caught.value.body, type="invalid_request_error", param="model", code="model_not_found"
    )
    with pytest.raises(openai.NotFoundError) as caught:
        await sdk.models.retrieve(model or "x")
    assert caught.value.code == "model_not_found"


async def test_someone_elses_private_gpt_is_model_not_found(sdk, session, settings):
    owner = await create_user(session, settings, plan="plus")
    private = await create_published_gpt(session, owner, visibility="private")
    with pytest.raises(openai.NotFoundError) as caught:
        await sdk.chat.completions.create(model=str(private.gpt_id), messages=HI)
    assert caught.value.code == "model_not_found" and caught.value.param == "model"


async def test_retrieve_a_visible_model(sdk, gpt_id):
    model = await sdk.models.retrieve(gpt_id)
    assert model.id == gpt_id and model.object == "model"


async def test_bad_or_missing_key_is_401_invalid_api_key(client, gpt_id):
    bad = openai.AsyncOpenAI(
        base_url="http://testserver/v1", api_key="gsk_wrong", http_client=client, max_retries=0
    )
    with pytest.raises(openai.AuthenticationError) as caught:
        await bad.chat.completions.create(model=gpt_id, messages=HI)
    assert_openai_error(caught.value.body, type="invalid_request_error", code="invalid_api_key")
    missing = await client.get("/v1/models")
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert missing.headers["content-type"] == "application/json"
    assert missing.json()["error"]["code"] == "invalid_api_key"


async def test_validation_errors_are_400_naming_the_param(client, creator_headers, gpt_id):
    cases = [
        ({"model": gpt_id}, "messages"),
        ({"model": gpt_id, "messages": []}, "messages"),
        ({"model": gpt_id, "messages": HI, "temperature": "hot"}, "temperature"),
        ({"model": gpt_id, "messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        ({"messages": HI}, "model"),
        # JSON types as OpenAI checks them, not coerced: "yes" is not true, true is not 1.
        ({"model": gpt_id, "messages": HI, "stream": "yes"}, "stream"),
        ({"model": gpt_id, "messages": HI, "n": True}, "n"),
        ({"model": gpt_id, "messages": HI, "seed": 1.5}, "seed"),
        ({"model": gpt_id, "messages": HI, "top_p": "0.5"}, "top_p"),
        ({"model": gpt_id, "messages": HI, "logit_bias": {"hello": 5}}, "logit_bias"),
        (
            {"model": gpt_id, "messages": HI, "stream": True, "stream_options": {"include_usage": "1"}},
            "stream_options.include_usage",
        ),
    ]
    for body, param in cases:
        response = await client.post("/v1/chat/completions", json=body, headers=creator_headers)
        assert response.status_code == 400, (body, response.text)
        assert response.headers["content-type"] == "application/json"
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error" and error["param"] == param, (body, error)
    broken = await client.post(
        "/v1/chat/completions",
        content=b'{"model": ',
        headers={**creator_headers, "content-type": "application/json"},
    )
    assert broken.status_code == 400 and broken.json()["error"]["type"] == "invalid_request_error"


async def test_unknown_routes_and_methods_answer_in_openai_shape(client, creator_headers, sdk):
    with pytest.raises(openai.NotFoundError) as caught:
        await sdk.post("/assistants", cast_to=object, body={})
    assert caught.value.body["message"] == "Invalid URL (POST /v1/assistants)"
    assert caught.value.message.endswith("Invalid URL (POST /v1/assistants)")  # what the SDK shows
    wrong_method = await client.get("/v1/chat/completions", headers=creator_headers)
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["message"] == "Invalid method for URL (GET /v1/chat/completions)"
    # The rest of the API keeps problem documents.
    outside = await client.get("/api/no-such-route")
    assert outside.status_code == 404 and outside.headers["content-type"] == "application/problem+json"


async def test_oversized_body_is_413_in_openai_shape(settings, db, redis, creator_headers, gpt_id):
    small = settings.model_copy(update={"max_file_bytes": 1024})
    async with app_client_for(small, db=db, redis=redis) as client:
        body = {"model": gpt_id, "messages": [{"role": "user", "content": "x" * (1024 * 1024 + 4096)}]}
        response = await client.post("/v1/chat/completions", json=body, headers=creator_headers)
    assert response.status_code == 413
    assert_openai_error(response.json()["error"], type="invalid_request_error", code="request_too_large")


async def test_rate_limit_is_429_with_retry_after(settings, db, redis, creator, gpt_id):
    limited = settings.model_copy(update={"rate_limit_messages_per_minute": 1})
    async with app_client_for(limited, db=db, redis=redis) as client:
        sdk = sdk_for(client, auth_headers(creator, limited))
        await sdk.chat.completions.create(model=gpt_id, messages=HI)
        with pytest.raises(openai.RateLimitError) as caught:
            await sdk.chat.completions.create(model=gpt_id, messages=HI, stream=True)
    assert int(caught.value.response.headers["retry-after"]) >= 1
    assert_openai_error(caught.value.body, type="requests", code="rate_limit_exceeded")


async def test_refused_requests_do_not_use_up_the_rate_limit(settings, db, redis, creator, gpt_id):
    """Checked, then rate-limited: a 400 or 404 counts nothing, on Chat Completions and Responses."""
    limited = settings.model_copy(update={"rate_limit_messages_per_minute": 1})
    async with app_client_for(limited, db=db, redis=redis) as client:
        sdk = sdk_for(client, auth_headers(creator, limited))
        for _ in range(3):
            with pytest.raises(openai.BadRequestError):
                await sdk.chat.completions.create(model=gpt_id, messages=[{"role": "user", "content": " "}])
            with pytest.raises(openai.NotFoundError):
                await sdk.chat.completions.create(model="gpt-4o", messages=HI)
            with pytest.raises(openai.BadRequestError):
                await sdk.responses.create(model=gpt_id, input=[{"role": "user", "content": "  "}])
            with pytest.raises(openai.BadRequestError):
                await sdk.responses.create(
                    model=gpt_id, input=[{"type": "function_call_output", "call_id": "c", "output": "1"}]
                )
        await sdk.chat.completions.create(model=gpt_id, messages=HI)  # the one message of the minute
        with pytest.raises(openai.RateLimitError):
            await sdk.responses.create(model=gpt_id, input="Hi")


async def test_each_choice_counts_against_the_rate_limit(settings, db, redis, creator, gpt_id):
    limited = settings.model_copy(update={"rate_limit_messages_per_minute": 3})
    async with app_client_for(limited, db=db, redis=redis) as client:
        sdk = sdk_for(client, auth_headers(creator, limited))
        with pytest.raises(openai.BadRequestError) as caught:  # never within the limit: not a 429
            await sdk.chat.completions.create(model=gpt_id, messages=HI, n=4)
        assert caught.value.param == "n" and "3 messages a minute" in caught.value.message
        answered = await sdk.chat.completions.create(model=gpt_id, messages=HI, n=2)
        assert len(answered.choices) == 2
        with pytest.raises(openai.RateLimitError):  # 2 + 2 > 3
            await sdk.chat.completions.create(model=gpt_id, messages=HI, n=2)


@pytest.mark.parametrize("stream", [False, True])
async def test_provider_failures_are_5xx_server_errors(llm_sdk, gpt_id, fake_openai, stream):
    fake_openai.script(error(401, "bad provider key"))
    with pytest.raises(openai.InternalServerError) as caught:
        await llm_sdk.chat.completions.create(model=gpt_id, messages=HI, stream=stream)
    assert caught.value.status_code == 502
    assert_openai_error(caught.value.body, type="server_error")
    fake_openai.fail_next(503)
    with pytest.raises(openai.InternalServerError) as caught:
        await llm_sdk.chat.completions.create(model=gpt_id, messages=HI, stream=stream)
    assert caught.value.status_code == 503
    assert_openai_error(caught.value.body, type="server_error", code="service_unavailable")


async def test_a_failure_mid_stream_is_an_error_event(llm_sdk, gpt_id, fake_openai):
    fake_openai.script(text("First choice."), error(500))
    stream = await llm_sdk.chat.completions.create(model=gpt_id, messages=HI, stream=True, n=2)
    received = []
    with pytest.raises(openai.APIError) as caught:
        async for chunk in stream:
            received += [c.delta.content or "" for c in chunk.choices]
    assert "".join(received) == "First choice."
    assert_openai_error(caught.value.body, type="server_error")


class Guarded(AppError):
    """Stands for any AppError, such as a request guard's refusal."""

    status = 413


@get("/v1/guarded")
async def guarded() -> None:
    raise Guarded("The body is too large", code="body_too_large", field="body")


@get("/v1/boom")
async def boom() -> None:
    raise RuntimeError("boom")


@get("/api/guarded")
async def guarded_elsewhere() -> None:
    raise Guarded("The body is too large")


async def test_any_app_error_and_crash_render_in_openai_shape_on_v1_only():
    app = Litestar(
        [guarded, boom, guarded_elsewhere], exception_handlers=with_openai_errors(exception_handlers)
    )
    async with AsyncTestClient(app) as client:
        response = await client.get("/v1/guarded")
        assert response.status_code == 413 and response.headers["content-type"] == "application/json"
        assert_openai_error(response.json()["error"], type="invalid_request_error", code="body_too_large")
        crash = await client.get("/v1/boom")
        assert crash.status_code == 500
        assert_openai_error(crash.json()["error"], type="server_error")
        elsewhere = await client.get("/api/guarded")
        assert elsewhere.headers["content-type"] == "application/problem+json"
        assert elsewhere.json()["status"] == 413


async def test_the_openapi_document_declares_the_openai_error_shape(client):
    document = (await client.get("/schema/openapi.json")).json()
    responses = document["paths"]["/v1/chat/completions"]["post"]["responses"]
    assert {"400", "401", "404", "429", "502", "503"} <= set(responses)
    schema = responses["404"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/OpenAIError")
    assert set(document["components"]["schemas"]["OpenAIErrorDetail"]["properties"]) == {
        "message", "type", "param", "code"
    }  # fmt: skip


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/responses", "/mcp/gpts/x"])
async def test_browsers_may_send_the_official_sdks_headers(client, path):
    """The openai JS SDK in a browser (`dangerouslyAllowBrowser`) sends `X-Stainless-*` headers: its CORS
    preflight must pass, or no request is made."""
    sent = (
        "authorization,content-type,x-stainless-arch,x-stainless-lang,x-stainless-os,"
        "x-stainless-package-version,x-stainless-retry-count,x-stainless-runtime,"
        "x-stainless-runtime-version,x-stainless-timeout,openai-organization,openai-project,"
        "mcp-protocol-version"
    )
    preflight = await client.options(
        path,
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": sent,
        },
    )
    assert preflight.status_code in (200, 204), preflight.text
    allowed = {h.strip().lower() for h in preflight.headers["access-control-allow-headers"].split(",")}
    assert set(sent.split(",")) <= allowed
    refused = await client.options(
        path,
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-made-up",
        },
    )
    assert refused.status_code == 400


@pytest.mark.parametrize("path", ["/v1/models", "/mcp/gpts/x", "/api/store/gpts"])
async def test_browsers_may_read_retry_after_and_a_downloads_terms(client, path):
    """A cross-origin script reads only the response headers exposed to it: without `Retry-After` the openai
    JS SDK cannot wait as a 429 says, an MCP client cannot read `WWW-Authenticate`, and a download's terms
    (`Link`, `Dataset-License`, `Dataset-Attribution`) are hidden from the page that fetched it."""
    answer = await client.get(path, headers={"Origin": "https://app.example"})
    assert answer.headers["access-control-allow-origin"] == "*"
    exposed = {h.strip().lower() for h in answer.headers["access-control-expose-headers"].split(",")}
    assert {"retry-after", "www-authenticate", "mcp-session-id", "content-disposition", "link"} <= exposed
    assert {"dataset-license", "dataset-attribution"} <= exposed
