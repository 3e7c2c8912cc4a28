"""Text PostgreSQL cannot store, and request shapes: every route answers a 4xx problem, never a 500."""

from __future__ import annotations

import base64
import io
import json
import uuid
import zipfile

import pytest
import sqlalchemy as sa

from builder.models import BuilderMessage, Gpt
from retrieval.jobs import ingest
from retrieval.models import KnowledgeChunk
from tests.asgi import app_client_for
from tests.factories import auth_headers
from tests.fake_openai import text, tool_call
from tests.store.factories import create_conversation, create_published_gpt

NUL = "a\u0000b"
SURROGATE = "a\ud800b"
UNSTORABLE = [pytest.param(NUL, id="nul"), pytest.param(SURROGATE, id="surrogate")]


def _raw_json(body: dict) -> bytes:
    """JSON as a client sends it: `\\u0000` and `\\ud800` escapes (httpx itself cannot encode surrogates)."""
    return json.dumps(body).encode("ascii")


@pytest.fixture
async def world(client, session, settings, creator, creator_headers):
    """A draft GPT of the creator, a published GPT, and the creator's conversation with the published one.

    One account plays every role: the guard answers before any permission check, and a second account
    would only cost an argon2 hash per test.
    """
    draft = (await client.post("/api/gpts", json={"name": "Draft"}, headers=creator_headers)).json()["id"]
    listing = await create_published_gpt(session, creator)
    conversation = await create_conversation(session, creator, listing.gpt_id, question=None)
    return {
        "draft": draft,
        "gpt": str(listing.gpt_id),
        "conversation": str(conversation.id),
        "creator": creator_headers,
        "user": creator_headers,
    }


# (method, url, body with {} where the bad text goes, the field the 422 names, whose headers)
REFUSED = [
    ("POST", "/api/auth/login", {"email": "{}@example.com", "password": "xxxxxxxx"}, "email", None),
    ("POST", "/api/auth/signup", {"email": "new@example.com", "password": "xxxxxxxx", "display_name": "{}"},
     "display_name", None),
    ("POST", "/api/gpts", {"name": "{}"}, "name", "creator"),
    ("PATCH", "/api/gpts/{draft}", {"description": "{}"}, "description", "creator"),
    ("PATCH", "/api/gpts/{draft}", {"welcome_message": "{}"}, "welcome_message", "creator"),
    ("PATCH", "/api/gpts/{draft}", {"conversation_starters": ["ok", "{}"]}, "conversation_starters[1]",
     "creator"),
    ("PATCH", "/api/gpts/{draft}", {"tags": ["{}"]}, "tags[0]", "creator"),
    ("PATCH", "/api/gpts/{draft}", {"category": "{}"}, "category", "creator"),
    ("PATCH", "/api/gpts/{draft}", {"model": "{}"}, "model", "creator"),
    ("POST", "/api/gpts/{draft}/search", {"query": "{}"}, "query", "creator"),
    ("POST", "/api/gpts/{draft}/publish", {"visibility": "public", "release_notes": "{}"}, "release_notes",
     "creator"),
    ("POST", "/api/gpts/{gpt}/appeal", {"message": "{}"}, "message", "creator"),
    ("PUT", "/api/store/gpts/{gpt}/rating", {"stars": 4, "review": "{}"}, "review", "user"),
    ("POST", "/api/store/gpts/{gpt}/reports", {"reason": "spam", "details": "{}"}, "details", "user"),
    ("PATCH", "/api/me/profile", {"bio": "{}"}, "bio", "user"),
    ("PATCH", "/api/me/profile", {"display_name": "{}"}, "display_name", "user"),
    ("POST", "/api/me/api-keys", {"name": "{}"}, "name", "user"),
    ("POST", "/v1/chat/completions", {"model": "{}", "messages": [{"role": "user", "content": "hi"}]},
     "model", "user"),
]  # fmt: skip


def _refusal(response) -> tuple[int, list[str], str, str | None]:
    """(status, named fields, message, limit) of a refusal, read from problem+json, or from OpenAI's error
    shape on `/v1`, where a 422 is answered as 400 naming the field in `param` and the limit in `code`."""
    body = response.json()
    if "error" in body and response.headers["content-type"].startswith("application/json"):
        error = body["error"]
        status = 422 if response.status_code == 400 else response.status_code
        return status, [error["param"]] if error.get("param") else [], error["message"], error.get("code")
    assert response.headers["content-type"].startswith("application/problem+json")
    errors = body.get("errors") or []
    message = errors[0]["message"] if errors else body["detail"]
    return response.status_code, [e["field"] for e in errors], message, body.get("limit")


def _fill(body, text: str):
    if isinstance(body, str):
        return body.replace("{}", text)
    if isinstance(body, list):
        return [_fill(v, text) for v in body]
    if isinstance(body, dict):
        return {k: _fill(v, text) for k, v in body.items()}
    return body


@pytest.mark.parametrize("text", UNSTORABLE)
async def test_unstorable_text_is_a_422_naming_the_field(client, world, text):
    wrong = []
    for method, url, body, field, who in REFUSED:
        response = await client.request(
            method,
            url.format(**world),
            content=_raw_json(_fill(body, text)),
            headers={"Content-Type": "application/json", **(world[who] if who else {})},
        )
        status, fields, message, _ = _refusal(response)
        if status != 422 or fields != [field] or "cannot be stored" not in message:
            wrong.append((method, url, field, response.status_code, response.json()))
    assert wrong == []


async def test_the_issue_login_case_names_email(client):
    response = await client.post(
        "/api/auth/login",
        content=b'{"email": "a\\u0000@example.com", "password": "xxxxxxxx"}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "email", "message": "contains U+0000 (NUL), which cannot be stored"}
    ]


async def test_every_bad_field_is_named_at_once(client, world):
    body = {"name": NUL, "description": SURROGATE, "tags": ["fine", NUL]}
    response = await client.patch(
        f"/api/gpts/{world['draft']}",
        content=_raw_json(body),
        headers={"Content-Type": "application/json", **world["creator"]},
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["name", "description", "tags[1]"]


QUERIES = [
    ("/api/store/gpts?q=a%00b", "q"),
    ("/api/store/gpts?q=%C3%28", "q"),  # not UTF-8
    ("/api/store/gpts?q=%ED%A0%80", "q"),  # a surrogate encoded as UTF-8 bytes
    ("/api/store/gpts?category=writing&q=ok&sort=a%00", "sort"),
    ("/api/store/gpts?category=a+%00", "category"),
    ("/api/store/gpts?cursor=%FF", "cursor"),
    ("/api/store/gpts/{gpt}/reviews?sort=%00", "sort"),
    ("/api/gpts/{gpt}/stats?days=1%00", "days"),
    ("/api/me?x%00y=1", "x\x00y"),
]
PATHS = [
    ("/api/store/creators/a%00b", "handle"),
    ("/api/store/creators/%FF%FE", "handle"),
    ("/api/store/creators/%ED%A0%80", "handle"),
]


async def test_unstorable_query_values_and_path_segments_are_a_422_naming_them(client, world):
    wrong = []
    for url, field in QUERIES + PATHS:
        response = await client.get(url.format(**world), headers=world["creator"])
        source = "query" if "?" in url else "path"
        errors = response.json().get("errors") or [{}]
        if response.status_code != 422 or (errors[0].get("field"), errors[0].get("source")) != (
            field,
            source,
        ):
            wrong.append((url, response.status_code, response.json()))
    assert wrong == []


async def test_multipart_text_fields_are_checked_and_file_content_is_cleaned(
    client, world, db, settings, session
):
    url = f"/api/gpts/{world['draft']}/files"
    refused = await client.post(
        url, files={"file": ("a.txt", b"hello")}, data={"license": NUL}, headers=world["creator"]
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "license"
    for part_header, value, status in (
        (b"", b"CC\xff\xfe", 422),  # not UTF-8
        (b"Content-Type: text/plain; charset=klingon\r\n", b"CC", 400),
    ):
        body = (
            b'--b0undary\r\nContent-Disposition: form-data; name="license"\r\n' + part_header + b"\r\n"
            + value + b'\r\n--b0undary\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n'
            b"\r\nhello\r\n--b0undary--\r\n"
        )  # fmt: skip
        response = await client.post(
            url,
            content=body,
            headers={**world["creator"], "Content-Type": "multipart/form-data; boundary=b0undary"},
        )
        assert response.status_code == status, response.text

    # Parsed file text reaches the chunks through binary COPY: NULs inside the file are dropped there.
    content = b"# Fer\x00ries\n\nThe ferry\x00 leaves at nine from the north pier.\n"
    accepted = await client.post(url, files={"file": ("ferry.md", content)}, headers=world["creator"])
    assert accepted.status_code == 202, accepted.text
    assert await ingest(db, settings, uuid.UUID(accepted.json()["id"])) == "completed"
    texts = (
        await session.execute(
            sa.select(KnowledgeChunk.text, KnowledgeChunk.heading).where(
                KnowledgeChunk.file_id == uuid.UUID(accepted.json()["id"])
            )
        )
    ).all()
    assert texts and all("\x00" not in t and "\x00" not in (h or "") for t, h in texts)
    assert any("The ferry leaves at nine" in t for t, _ in texts)


# Pasted free text: the characters are removed and the request goes through.


@pytest.mark.parametrize("text", UNSTORABLE)
async def test_pasted_text_loses_the_characters(client, world, session, text):
    response = await client.patch(
        f"/api/gpts/{world['draft']}",
        content=_raw_json({"instructions": f"Answer {text} briefly."}),
        headers={"Content-Type": "application/json", **world["creator"]},
    )
    assert response.status_code == 200, response.text
    joined = "a b" if text == NUL else "ab"  # a NUL between two letters separated them: a space
    assert response.json()["instructions"] == f"Answer {joined} briefly."
    stored = await session.scalar(sa.select(Gpt.instructions).where(Gpt.id == uuid.UUID(world["draft"])))
    assert stored == f"Answer {joined} briefly."

    builder = await client.post(
        f"/api/gpts/{world['draft']}/builder/messages",
        content=_raw_json({"content": f"Make it about fjords {text}"}),
        headers={"Content-Type": "application/json", **world["creator"]},
    )
    assert builder.status_code == 200, builder.text
    said = await session.scalars(
        sa.select(BuilderMessage.content).where(
            BuilderMessage.gpt_id == uuid.UUID(world["draft"]), BuilderMessage.role == "user"
        )
    )
    assert list(said) == [f"Make it about fjords {joined}"]

    preview = await client.post(
        f"/api/gpts/{world['draft']}/preview/messages",
        content=_raw_json({"content": f"When {text}?"}),
        headers={"Content-Type": "application/json", **world["creator"]},
    )
    assert preview.status_code == 200, preview.text

    chat = await client.post(
        f"/api/conversations/{world['conversation']}/messages",
        content=_raw_json({"content": f"When {text}?"}),
        headers={"Content-Type": "application/json", **world["user"]},
    )
    assert chat.status_code == 200, chat.text
    history = await client.get(f"/api/conversations/{world['conversation']}/messages", headers=world["user"])
    assert history.json()["data"][0]["content"] == f"When {joined}?"

    v1 = await client.post(
        "/v1/chat/completions",
        content=_raw_json(
            {
                "model": world["gpt"],
                "messages": [
                    {"role": "user", "content": f"Hi {text}"},
                    {"role": "assistant", "content": f"Hello {text}"},
                    {"role": "user", "content": [{"type": "text", "text": f"Ferries {text}?"}]},
                ],
            }
        ),
        headers={"Content-Type": "application/json", **world["user"]},
    )
    assert v1.status_code == 200, v1.text


# Request shape ----------------------------------------------------------------------------------------

DEEP = b'{"email":' + b"[" * 1000 + b"]" * 1000 + b"}"


async def test_deep_nesting_is_a_422_not_a_recursion_error(client, world):
    wrong = []
    for method, url, _, _, who in REFUSED:
        response = await client.request(
            method,
            url.format(**world),
            content=DEEP,
            headers={"Content-Type": "application/json", **(world[who] if who else {})},
        )
        status, _, message, limit = _refusal(response)
        if status != 422 or limit != "max_json_depth" or "nested deeper than 32 levels" not in message:
            wrong.append((method, url, response.status_code, response.json()))
    assert wrong == []


async def test_nesting_within_the_limit_still_reaches_validation(client):
    body = b'{"email":' + b"[" * 20 + b"]" * 20 + b', "password": "x"}'
    response = await client.post(
        "/api/auth/login", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "email"


def _v1(world, messages) -> dict:
    return {"model": world["gpt"], "messages": messages}


async def test_bodies_over_the_limit_are_413_on_every_json_route(client, world):
    ten_mb = _v1(world, [{"role": "user", "content": "x" * (10 * 1024 * 1024)}])
    response = await client.post("/v1/chat/completions", json=ten_mb, headers=world["user"])
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "request_too_large"  # /v1: OpenAI's shape
    big_login = await client.post("/api/auth/login", json={"email": "x" * (2 * 1024 * 1024)})
    assert big_login.status_code == 413
    assert big_login.headers["content-type"].startswith("application/problem+json")
    assert (big_login.json()["limit"], big_login.json()["limit_bytes"]) == (
        "max_request_body_bytes",
        1024 * 1024,
    )

    many = _v1(world, [{"role": "user", "content": "hi"}] * 100_000)
    assert (await client.post("/v1/chat/completions", json=many, headers=world["user"])).status_code == 413

    big = {"content": "x" * (1024 * 1024)}
    builder = await client.post(
        f"/api/gpts/{world['draft']}/builder/messages", json=big, headers=world["creator"]
    )
    assert builder.status_code == 413

    async def chunked():  # no Content-Length: the guard counts what arrives
        for _ in range(3):
            yield b" " * (512 * 1024)

    streamed = await client.post(
        "/api/auth/login", content=chunked(), headers={"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413


async def test_long_lists_and_strings_are_a_422_naming_the_field(client, world):
    many = _v1(world, [{"role": "user"}] * 1001)
    response = await client.post("/v1/chat/completions", json=many, headers=world["user"])
    assert (response.status_code, response.json()["error"]["param"]) == (400, "messages"), response.text

    long = _v1(world, [{"role": "user", "content": "x" * 100_001}])
    response = await client.post("/v1/chat/completions", json=long, headers=world["user"])
    assert (response.status_code, response.json()["error"]["param"]) == (400, "messages[0].content")

    review = await client.put(
        f"/api/store/gpts/{world['gpt']}/rating",
        json={"stars": 3, "review": "x" * 2001},
        headers=world["user"],
    )
    assert review.status_code == 422
    assert review.json()["errors"][0]["field"] == "review"


async def test_uploads_take_files_up_to_their_own_limit(settings, db, redis, session, creator):
    small = settings.model_copy(update={"max_file_bytes": 50_000, "max_request_body_bytes": 10_000})
    headers = auth_headers(creator, small)
    async with app_client_for(small, db=db, redis=redis) as client:
        gpt = (await client.post("/api/gpts", json={"name": "Small"}, headers=headers)).json()["id"]
        fits = await client.post(
            f"/api/gpts/{gpt}/files", files={"file": ("a.txt", b"word " * 6_000)}, headers=headers
        )
        assert fits.status_code == 202, fits.text  # larger than a JSON body may be
        too_big = await client.post(
            f"/api/gpts/{gpt}/files", files={"file": ("b.txt", b"x" * 70_000)}, headers=headers
        )
        assert too_big.status_code == 413
        assert too_big.json()["limit"] == "max_file_bytes"
        json_body = await client.patch(
            f"/api/gpts/{gpt}", json={"instructions": "x" * 12_000}, headers=headers
        )
        assert json_body.status_code == 413


@pytest.mark.parametrize(
    "value",
    [
        "[" * 1000 + "]" * 1000,  # recursion in the decoder
        ["a\u0000b", "00000000-0000-0000-0000-000000000000"],  # text PostgreSQL cannot compare
    ],
)
async def test_forged_cursors_are_a_422_naming_cursor(client, world, value):
    raw = value.encode() if isinstance(value, str) else json.dumps(value).encode()
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    for url in (f"/api/store/gpts/{world['gpt']}/reviews", "/api/store/gpts?sort=top"):
        response = await client.get(url, params={"cursor": cursor})
        assert response.status_code == 422, (url, response.text)
        assert response.json()["errors"][0]["field"] == "cursor"


def _archive(manifest: bytes, **members: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("gptstore.json", manifest)
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        (b'{"format":' + b"[" * 2000 + b"]" * 2000 + b"}", "nested deeper"),
        (_raw_json({"format": "gptstore.gpt", "version": 1, "gpt": {"name": NUL}}), "gpt.name"),
        (
            _raw_json(
                {
                    "format": "gptstore.gpt",
                    "version": 1,
                    "gpt": {"name": "Ok"},
                    "files": [{"path": "knowledge/a.txt", "license": SURROGATE}],
                }
            ),
            "files[0].license",
        ),
    ],
)
async def test_import_manifests_are_held_to_the_same_rules(client, creator_headers, manifest, message):
    archive = _archive(manifest, **{"knowledge/a.txt": b"hello"})
    response = await client.post(
        "/api/gpts/import", files={"file": ("x.zip", archive)}, headers=creator_headers
    )
    assert response.status_code == 422, response.text
    assert message in response.json()["detail"]
    assert response.json()["errors"][0]["field"] == "file"


async def test_text_a_model_writes_is_stored_without_the_characters(llm_client, creator_headers, fake_openai):
    """A user can talk a model into writing U+0000: its replies and tool arguments reach the database too."""
    fake_openai.script(
        tool_call("update_gpt", '{"description":' + "[" * 1000 + "]" * 1000 + "}"),
        tool_call("update_gpt", {"name": "Fjord\u0000 Guide", "conversation_starters": ["When\u0000?"]}),
        text("Named it\u0000."),
    )
    gpt_id = (await llm_client.post("/api/gpts", json={}, headers=creator_headers)).json()["id"]
    turn = await llm_client.post(
        f"/api/gpts/{gpt_id}/builder/messages", json={"content": "name it"}, headers=creator_headers
    )
    assert turn.status_code == 200, turn.text
    assert turn.json()["message"]["content"] == "Named it."
    assert turn.json()["gpt"]["name"] == "Fjord Guide"
    assert turn.json()["gpt"]["conversation_starters"] == ["When?"]
    assert fake_openai.chat_requests[1]["messages"][-1]["content"].startswith("error")  # the deep one
    history = await llm_client.get(f"/api/gpts/{gpt_id}/builder/messages", headers=creator_headers)
    assert [m["content"] for m in history.json()["data"]] == ["name it", "Named it."]


async def test_surrogate_pairs_pass_and_bodies_that_are_not_utf8_are_a_400(client, world):
    emoji = await client.patch(
        f"/api/gpts/{world['draft']}",
        content=b'{"name": "Fjord \\ud83c\\udf0a Guide"}',  # a pair: one character, U+1F30A
        headers={"Content-Type": "application/json", **world["creator"]},
    )
    assert emoji.status_code == 200, emoji.text
    assert emoji.json()["name"] == "Fjord \U0001f30a Guide"

    latin1 = await client.patch(
        f"/api/gpts/{world['draft']}",
        content='{"name": "Café"}'.encode("latin-1"),
        headers={"Content-Type": "application/json", **world["creator"]},
    )
    assert latin1.status_code == 400, latin1.text
    assert latin1.headers["content-type"].startswith("application/problem+json")
