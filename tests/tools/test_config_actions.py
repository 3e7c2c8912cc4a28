"""Actions over HTTP: create from a pasted document, change, delete, every 422, write-only secrets sealed in
the database, export/import without secrets, version snapshots and the store page."""

import io
import json
import logging
import uuid
import zipfile
from pathlib import Path

import sqlalchemy as sa

from core.secrets import SecretBox
from tests.factories import auth_headers, create_user
from tools.snapshot import load_definitions

DATA = Path(__file__).resolve().parents[1] / "data" / "tools"
TRIPS = (DATA / "trips-3.0.yaml").read_text()
WEATHER = (DATA / "weather-3.1.json").read_text()
SECRET = "sk-live-fjord-7f3a9c2e41d8b6"
GOOD = {
    "name": "Fjord Guide",
    "description": "Plans fjord trips in Norway.",
    "instructions": "You help tourists plan fjord trips.",
    "conversation_starters": ["Best fjord in May?"],
    "category": "lifestyle",
}


async def make_gpt(client, headers) -> str:
    response = await client.post("/api/gpts", json=GOOD, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def add_action(client, headers, gpt_id, **body):
    return await client.post(f"/api/gpts/{gpt_id}/actions", json={"document": TRIPS, **body}, headers=headers)


def problem_fields(response) -> set[str]:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return {e["field"] for e in response.json().get("errors") or []}


async def test_a_pasted_yaml_action_lists_its_operations_as_functions(client, creator_headers):
    gpt_id = await make_gpt(client, creator_headers)
    response = await add_action(
        client, creator_headers, gpt_id, privacy_policy_url="https://fjords.example/p"
    )
    assert response.status_code == 201, response.text
    action = response.json()
    assert action["domain"] == "api.fjords.example" and action["title"] == "Fjord Trips"
    assert action["auth"] == {
        "type": "none", "name": None, "location": None, "username": None, "client_id": None,
        "token_url": None, "scope": None, "secret": None, "needs_credentials": False,
    }  # fmt: skip
    flags = {op["name"]: op["consequential"] for op in action["operations"]}
    assert flags == {"listTrips": False, "bookTrip": True, "get_trips_trip_id": False, "cancelTrip": False}
    listed = (await client.get(f"/api/gpts/{gpt_id}/actions", headers=creator_headers)).json()
    assert [a["id"] for a in listed] == [action["id"]]
    one = await client.get(f"/api/gpts/{gpt_id}/actions/{action['id']}", headers=creator_headers)
    assert one.json()["document"] == TRIPS


async def test_the_creator_overrides_consequential_per_operation(client, creator_headers):
    gpt_id = await make_gpt(client, creator_headers)
    action = (await add_action(client, creator_headers, gpt_id, consequential={"listTrips": True})).json()
    flags = {op["name"]: op["consequential"] for op in action["operations"]}
    assert flags["listTrips"] is True and flags["bookTrip"] is True
    url = f"/api/gpts/{gpt_id}/actions/{action['id']}"
    changed = await client.patch(url, json={"consequential": {"bookTrip": False}}, headers=creator_headers)
    flags = {op["name"]: op["consequential"] for op in changed.json()["operations"]}
    assert flags["listTrips"] is False and flags["bookTrip"] is False
    unknown = await client.patch(url, json={"consequential": {"nope": True}}, headers=creator_headers)
    assert unknown.status_code == 422 and problem_fields(unknown) == {"consequential"}
    assert "nope" in unknown.json()["detail"]


async def test_every_bad_action_is_a_422_naming_the_problem(client, creator_headers):
    gpt_id = await make_gpt(client, creator_headers)
    cases = [
        ({"document": "openapi: [3"}, "document", "not valid JSON or YAML"),
        ({"document": {"swagger": "2.0"}}, "document", "Swagger 2.0"),
        (
            {"document": [1, 2]},
            "document",
            "must be an OpenAPI document: a JSON object, or JSON or YAML text",
        ),
        ({"auth": {"type": "oauth_authorization_code"}}, "auth.type", "Input should be"),
        ({"auth": {"type": "digest", "secret": SECRET}}, "auth.type", "Input should be"),
        ({"auth": {"type": "api_key", "secret": SECRET}}, "auth", "needs name, location"),
        ({"auth": {"type": "basic"}}, "auth", "needs username"),
        ({"server_url": "ftp://files.example"}, "server_url", "http or https"),
        ({"privacy_policy_url": "javascript:alert(1)"}, "privacy_policy_url", "http or https"),
        ({"consequential": {"nope": True}}, "consequential", "nope"),
        (
            {"consequential": {"listTrips": "yes"}},
            "consequential.listTrips",
            "Input should be a valid boolean",
        ),
    ]
    for extra, field, words in cases:
        response = await add_action(client, creator_headers, gpt_id, **extra)
        assert response.status_code == 422, (extra, response.text)
        assert field in problem_fields(response), (extra, response.json())
        assert words in json.dumps(response.json()), (extra, response.json())
    neither = await client.post(f"/api/gpts/{gpt_id}/actions", json={}, headers=creator_headers)
    assert neither.status_code == 422 and "exactly one of document and import_url" in neither.text
    document = json.loads(WEATHER)
    document["servers"] = [{"url": "/relative"}]
    relative = await add_action(client, creator_headers, gpt_id, document=document)
    assert relative.status_code == 422 and problem_fields(relative) == {"server_url"}
    paths = {f"/r{i}": {"get": {"responses": {"200": {"description": "ok"}}}} for i in range(31)}
    many = {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": paths}
    too_many = await add_action(
        client, creator_headers, gpt_id, document=many, server_url="https://x.example"
    )
    assert too_many.status_code == 422 and "31 operations" in too_many.json()["detail"]
    assert (await client.get(f"/api/gpts/{gpt_id}/actions", headers=creator_headers)).json() == []


async def test_function_names_are_unique_across_all_the_gpts_actions(client, creator_headers):
    gpt_id = await make_gpt(client, creator_headers)
    assert (await add_action(client, creator_headers, gpt_id)).status_code == 201
    again = await add_action(client, creator_headers, gpt_id)
    assert again.status_code == 422 and problem_fields(again) == {"document"}
    assert "Duplicate function name 'listTrips'" in again.json()["detail"]
    other = await add_action(client, creator_headers, gpt_id, document=WEATHER)
    assert other.status_code == 201
    # Changing the second to the first's document collides too; changing it to itself does not.
    url = f"/api/gpts/{gpt_id}/actions/{other.json()['id']}"
    assert (await client.patch(url, json={"document": TRIPS}, headers=creator_headers)).status_code == 422
    assert (await client.patch(url, json={"document": WEATHER}, headers=creator_headers)).status_code == 200


async def test_secrets_are_write_only_and_sealed_in_the_database(client, creator_headers, session, settings):
    gpt_id = await make_gpt(client, creator_headers)
    auth = {"type": "api_key", "name": "X-Api-Key", "location": "header", "secret": SECRET}
    created = await add_action(client, creator_headers, gpt_id, auth=auth)
    assert created.status_code == 201 and SECRET not in created.text
    assert created.json()["auth"]["secret"] == {"set": True, "last4": SECRET[-4:]}
    url = f"/api/gpts/{gpt_id}/actions/{created.json()['id']}"
    for response in (
        await client.get(url, headers=creator_headers),
        await client.get(f"/api/gpts/{gpt_id}/actions", headers=creator_headers),
        await client.patch(url, json={"privacy_policy_url": "https://p.example"}, headers=creator_headers),
        await client.get(f"/api/gpts/{gpt_id}", headers=creator_headers),
    ):
        assert response.status_code == 200 and SECRET not in response.text
        assert SECRET[:-4] not in response.text
    # Omitted in an update: kept.
    kept = await client.patch(
        url, json={"auth": {k: v for k, v in auth.items() if k != "secret"}}, headers=creator_headers
    )
    assert kept.json()["auth"]["secret"]["last4"] == SECRET[-4:]
    row = (await session.execute(sa.text("SELECT id, sealed, hints::text FROM tool_secret"))).one()
    assert SECRET.encode() not in bytes(row.sealed) and SECRET[:-4] not in row.hints
    dump = (await session.execute(sa.text("SELECT row_to_json(a)::text FROM gpt_action a"))).scalar()
    assert SECRET not in dump
    definitions = await load_definitions(session, settings, uuid.UUID(gpt_id))
    assert definitions.actions[0].auth.secret == SECRET
    assert definitions.actions[0].auth.name == "X-Api-Key"
    # An auth without a type changes the stored one's fields: here its secret only.
    rotated = await client.patch(
        url, json={"auth": {"secret": "sk-rotated-00000042"}}, headers=creator_headers
    )
    assert rotated.json()["auth"]["type"] == "api_key" and rotated.json()["auth"]["name"] == "X-Api-Key"
    assert rotated.json()["auth"]["secret"]["last4"] == "0042"
    incomplete = await client.patch(url, json={"auth": {"type": "basic"}}, headers=creator_headers)
    assert incomplete.status_code == 422 and "needs username" in incomplete.text
    # A short secret shows no characters; null removes it.
    short = await client.patch(url, json={"auth": {**auth, "secret": "abc123"}}, headers=creator_headers)
    assert short.json()["auth"]["secret"] == {"set": True, "last4": None}
    cleared = await client.patch(url, json={"auth": {**auth, "secret": None}}, headers=creator_headers)
    assert cleared.json()["auth"]["secret"] is None and cleared.json()["auth"]["needs_credentials"] is True
    count = await session.scalar(sa.text("SELECT count(*) FROM tool_secret"))
    assert count == 0  # replaced and removed secrets no version uses are deleted


async def test_every_auth_type_reaches_the_definitions(client, creator_headers, session, settings):
    gpt_id = await make_gpt(client, creator_headers)
    kinds = [
        {"type": "bearer", "secret": SECRET},
        {"type": "basic", "username": "ola", "secret": SECRET},
        {"type": "api_key", "name": "key", "location": "query", "secret": SECRET},
        {"type": "oauth_client_credentials", "client_id": "c1", "token_url": "https://auth.example/token",
         "scope": "trips", "secret": SECRET},
    ]  # fmt: skip
    url = None
    for auth in kinds:
        if url is None:
            response = await add_action(client, creator_headers, gpt_id, auth=auth)
            url = f"/api/gpts/{gpt_id}/actions/{response.json()['id']}"
        else:
            response = await client.patch(url, json={"auth": auth}, headers=creator_headers)
        assert response.status_code in (200, 201), response.text
        definitions = await load_definitions(session, settings, uuid.UUID(gpt_id))
        got = definitions.actions[0].auth
        assert got.type == auth["type"] and got.secret == SECRET
        assert {k: getattr(got, k) for k in auth} == auth


async def test_only_the_owner_sees_and_changes_actions(client, creator_headers, session, settings):
    gpt_id = await make_gpt(client, creator_headers)
    action = (await add_action(client, creator_headers, gpt_id)).json()
    other = auth_headers(await create_user(session, settings, plan="plus"), settings)
    url = f"/api/gpts/{gpt_id}/actions/{action['id']}"
    assert (await client.get(url, headers=other)).status_code == 404
    assert (await client.delete(url, headers=other)).status_code == 404
    assert (await client.delete(url, headers=creator_headers)).status_code == 204
    assert (await client.get(url, headers=creator_headers)).status_code == 404


async def test_export_leaves_secrets_out_and_the_import_asks_for_credentials(client, creator_headers):
    gpt_id = await make_gpt(client, creator_headers)
    auth = {"type": "bearer", "secret": SECRET}
    await add_action(client, creator_headers, gpt_id, auth=auth, privacy_policy_url="https://p.example")
    export = await client.get(f"/api/gpts/{gpt_id}/export", headers=creator_headers)
    assert export.status_code == 200 and SECRET.encode() not in export.content
    with zipfile.ZipFile(io.BytesIO(export.content)) as archive:
        manifest = json.loads(archive.read("gptstore.json"))
    [exported] = manifest["tools"]["actions"]
    assert exported["needs_credentials"] is True and exported["auth"] == {"type": "bearer"}
    assert "secret_id" not in json.dumps(manifest)
    files = {"file": ("g.zip", export.content, "application/zip")}
    imported = await client.post("/api/gpts/import", files=files, headers=creator_headers)
    assert imported.status_code == 201, imported.text
    new_id = imported.json()["id"]
    [action] = (await client.get(f"/api/gpts/{new_id}/actions", headers=creator_headers)).json()
    assert action["auth"]["type"] == "bearer" and action["auth"]["secret"] is None
    assert action["auth"]["needs_credentials"] is True
    assert action["privacy_policy_url"] == "https://p.example" and action["document"] == TRIPS


async def test_an_archive_with_a_bad_action_imports_nothing(client, creator_headers):
    manifest = {
        "format": "gptstore.gpt", "version": 1, "gpt": {"name": "Broken"}, "files": [],
        "tools": {"actions": [{"document": "openapi: 3.1.0\ninfo: {}\n"}]},
    }  # fmt: skip
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("gptstore.json", json.dumps(manifest))
    files = {"file": ("g.zip", buffer.getvalue(), "application/zip")}
    response = await client.post("/api/gpts/import", files=files, headers=creator_headers)
    assert response.status_code == 422 and "tools.actions[0]" in response.json()["detail"]
    assert (await client.get("/api/gpts", headers=creator_headers)).json()["data"] == []


async def database_text(session) -> str:
    """Every row of every table of the test database as JSON text (a dump to search)."""
    tables = await session.scalars(
        sa.text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename")
    )
    rows = []
    for table in list(tables):
        rows += list(await session.scalars(sa.text(f'SELECT row_to_json(t)::text FROM "{table}" t')))
    return "\n".join(rows)


async def test_publishing_snapshots_tools_and_the_version_keeps_its_secret(
    client, creator_headers, session, settings, caplog
):
    caplog.set_level(logging.DEBUG)  # every log line of the requests below, access log included
    gpt_id = await make_gpt(client, creator_headers)
    auth = {"type": "bearer", "secret": SECRET}
    created = await add_action(
        client, creator_headers, gpt_id, auth=auth, privacy_policy_url="https://p.example/"
    )
    url = f"/api/gpts/{gpt_id}/actions/{created.json()['id']}"
    published = await client.post(
        f"/api/gpts/{gpt_id}/publish", json={"visibility": "public"}, headers=creator_headers
    )
    assert published.status_code == 201 and published.json()["review_status"] == "approved", published.text
    version = await session.scalar(
        sa.text("SELECT config::text FROM gpt_version WHERE gpt_id = :g"), {"g": gpt_id}
    )
    assert SECRET not in version and "listTrips" in version
    # The draft moves on (a new token, then no action at all); version 1 keeps calling with its token.
    await client.patch(
        url, json={"auth": {"type": "bearer", "secret": "sk-new-token-000000"}}, headers=creator_headers
    )
    await client.delete(url, headers=creator_headers)
    from store.models import GptVersion

    live = await session.scalar(sa.select(GptVersion).where(GptVersion.gpt_id == uuid.UUID(gpt_id)))
    kept = await load_definitions(session, settings, uuid.UUID(gpt_id), live)
    assert kept.actions[0].auth.secret == SECRET and kept.actions[0].operations[0].name == "listTrips"
    assert not await load_definitions(session, settings, uuid.UUID(gpt_id))
    page = await client.get(f"/api/store/gpts/{gpt_id}")
    assert page.json()["tools"] == [
        {"kind": "action", "name": "Fjord Trips", "domain": "api.fjords.example",
         "privacy_policy_url": "https://p.example/"}
    ]  # fmt: skip
    assert SECRET not in page.text
    html = await client.get(f"/g/{gpt_id}")
    assert "api.fjords.example" in html.text and "https://p.example/" in html.text
    # Restoring version 1 brings the action back with the token it had.
    restored = await client.post(f"/api/gpts/{gpt_id}/versions/1/restore", headers=creator_headers)
    assert restored.status_code in (200, 201), restored.text
    [action] = (await client.get(f"/api/gpts/{gpt_id}/actions", headers=creator_headers)).json()
    assert action["auth"]["secret"]["last4"] == SECRET[-4:]
    draft = await load_definitions(session, settings, uuid.UUID(gpt_id))
    assert draft.actions[0].auth.secret == SECRET
    # Nowhere in clear: not in any table (draft, versions, secrets, listings), not in any log line.
    dump = await database_text(session)
    assert "listTrips" in dump and SECRET not in dump and "sk-new-token-000000" not in dump
    assert caplog.records and SECRET not in caplog.text


async def test_a_public_gpt_needs_a_privacy_policy_for_every_action(client, creator_headers):
    gpt_id = await make_gpt(client, creator_headers)
    await add_action(client, creator_headers, gpt_id)
    rejected = await client.post(
        f"/api/gpts/{gpt_id}/publish", json={"visibility": "public"}, headers=creator_headers
    )
    assert rejected.json()["review_status"] == "rejected"
    assert any("privacy policy" in r for r in rejected.json()["review_reasons"])
    linked = await client.post(
        f"/api/gpts/{gpt_id}/publish", json={"visibility": "link"}, headers=creator_headers
    )
    assert linked.json()["review_status"] == "approved"


async def test_old_secret_keys_still_open_and_resealing_moves_to_the_new_key(
    client, creator_headers, session, settings
):
    from pydantic import SecretStr

    from tools.secret_store import SecretStore

    gpt_id = await make_gpt(client, creator_headers)
    await add_action(client, creator_headers, gpt_id, auth={"type": "bearer", "secret": SECRET})
    rotated = settings.model_copy(
        update={"secret_key": SecretStr("rotated-" + "k" * 40), "previous_secret_keys": [settings.secret_key]}
    )
    assert (await load_definitions(session, rotated, uuid.UUID(gpt_id))).actions[0].auth.secret == SECRET
    assert await SecretStore(session, rotated).reseal_all() == 1
    assert await SecretStore(session, rotated).reseal_all() == 0
    sealed = await session.scalar(sa.text("SELECT sealed FROM tool_secret"))
    assert SecretBox(rotated).is_current(sealed)
    without_old = rotated.model_copy(update={"previous_secret_keys": []})
    assert (await load_definitions(session, without_old, uuid.UUID(gpt_id))).actions[0].auth.secret == SECRET
    # The old key alone no longer opens it: the call goes without its secret (and the log says why).
    assert (await load_definitions(session, settings, uuid.UUID(gpt_id))).actions[0].auth.secret is None


def test_the_reseal_command_reencrypts_under_the_current_key(
    database_url, server_urls, tmp_path, monkeypatch
):
    """`gptstore secrets reseal` after a rotation: old secrets open, and end sealed under the new key."""
    import asyncio

    from click.testing import CliRunner
    from pydantic import SecretStr

    from builder.models import Gpt
    from core.cli import main
    from core.db import create_engine
    from core.models import User
    from core.settings import Settings, get_settings
    from tests.conftest import TEST_SECRET
    from tools.models import ToolSecret

    old = Settings(secret_key=SecretStr(TEST_SECRET), data_dir=tmp_path)
    secret_id = uuid.uuid4()
    sealed = SecretBox(old).seal(json.dumps({"secret": SECRET}), context=b"tool_secret:" + secret_id.bytes)

    async def run(statement):
        engine = create_engine(database_url, pool_size=1)
        async with engine.begin() as conn:
            result = await conn.execute(statement)
            found = result.scalar() if result.returns_rows else None
        await engine.dispose()
        return found

    owner, gpt = uuid.uuid4(), uuid.uuid4()
    asyncio.run(run(sa.insert(User).values(
        id=owner, email=f"{owner.hex[:8]}@example.com", password_hash="x", display_name="Cli",
        handle=f"cli-{owner.hex[:8]}", plan="plus",
    )))  # fmt: skip
    asyncio.run(run(sa.insert(Gpt).values(id=gpt, owner_id=owner)))
    asyncio.run(run(sa.insert(ToolSecret).values(id=secret_id, gpt_id=gpt, sealed=sealed, hints={})))
    monkeypatch.setenv("GPTSTORE_DATABASE_URL", database_url)
    monkeypatch.setenv("GPTSTORE_REDIS_URL", server_urls[1])
    monkeypatch.setenv("GPTSTORE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GPTSTORE_SECRET_KEY", "rotated-" + "n" * 40)
    get_settings.cache_clear()
    try:
        missing_key = CliRunner().invoke(main, ["secrets", "reseal"])
        monkeypatch.setenv("GPTSTORE_PREVIOUS_SECRET_KEYS", json.dumps([TEST_SECRET]))
        get_settings.cache_clear()
        resealed = CliRunner().invoke(main, ["secrets", "reseal"])
        new = get_settings()
    finally:
        get_settings.cache_clear()
        resealed_value = asyncio.run(run(sa.select(ToolSecret.sealed).where(ToolSecret.id == secret_id)))
        asyncio.run(run(sa.delete(User).where(User.id == owner)))
    assert missing_key.exit_code == 1 and "GPTSTORE_PREVIOUS_SECRET_KEYS" in missing_key.output
    assert resealed.exit_code == 0 and "1 tool secrets re-encrypted" in resealed.output, resealed.output
    only_new = new.model_copy(update={"previous_secret_keys": []})
    opened = SecretBox(only_new).open(resealed_value, context=b"tool_secret:" + secret_id.bytes)
    assert json.loads(opened) == {"secret": SECRET}
