"""The authorization matrix: every row of the permission table in docs/data-library.md, for every column,
against one setup; the status exactly as documented, and a refused request (or a read) changes no row.

The table is parsed from the document, so the doc and the test cannot drift. Every case starts from the
same state: it runs inside a SAVEPOINT of the module's outer transaction (the app's sessions join it with
savepoints of their own) that is rolled back after the case, and uploads deleted by an allowed case are
written back.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker

from core.db import Database
from core.settings import Settings
from core.storage import storage_of
from orgs.models import OrganizationMember
from retrieval.jobs import ingest
from retrieval.uploads import upload_key
from tests.asgi import app_client_for
from tests.conftest import TEST_SECRET
from tests.factories import auth_headers, create_user

DOC = Path(__file__).resolve().parents[2] / "docs" / "data-library.md"
COLUMNS = {
    "personal owner": "owner",
    "org owner": "org_owner",
    "admin": "admin",
    "builder": "builder",
    "member": "member",
    "another user": "other",
    "anonymous": None,
    "site admin": "site_admin",
}
# What a request may change (docs/data-library.md "Permission table").
TABLES = (
    "organization",
    "organization_member",
    "organization_invitation",
    "dataset",
    "gpt_dataset",
    "gpt",
    "knowledge_file",
    "listing",
    "gpt_version",
)
FILES = {
    "private": ("ferry-notes.md", "# Crew notes\n\nThe night ferry to Flam leaves from quay 3 at 23:40.\n"),
    "open": ("timetable.md", "# Timetable\n\nThe first ferry from Bergen to Flam leaves at 08:00 daily.\n"),
    "org_private": ("fares.md", "# Fares\n\nStaff travel on the Flam ferry at half price on weekdays.\n"),
}

FILE_IDS = {"private": "private_file", "open": "open_file", "org_private": "org_file"}


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    body: str
    expected: dict[str, int]  # column -> status

    def __str__(self) -> str:
        return f"{self.method} {self.path} {self.body}".strip()


def permission_table(text: str) -> list[Row]:
    """The rows of the markdown table under '## Permission table'."""
    section = text.split("## Permission table", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header[:2] == ["request", "body"] and set(header[2:]) == set(COLUMNS), header
    rows = []
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        method, path = cells[0].strip("`").split(" ", 1)
        statuses = {name: int(cell) for name, cell in zip(header[2:], cells[2:], strict=True)}
        rows.append(Row(method, path, cells[1].strip("`"), statuses))
    return rows


ROWS = permission_table(DOC.read_text("utf-8"))
CASES = [pytest.param(row, column, id=f"{row}-{column}") for row in ROWS for column in COLUMNS]


@dataclass
class World:
    client: httpx.AsyncClient
    connection: AsyncConnection
    settings: Settings
    headers: dict[str, dict[str, str]]
    ids: dict[str, str]
    uploads: dict[uuid.UUID, bytes]


@pytest.fixture(scope="module")
async def world(
    engine: AsyncEngine, server_urls: tuple[str, str], redis_server, tmp_path_factory
) -> AsyncIterator[World]:
    """One setup for the module, in a transaction rolled back at its end."""
    settings = Settings(
        database_url=engine.url.render_as_string(hide_password=False),
        redis_url=server_urls[1],
        data_dir=tmp_path_factory.mktemp("matrix") / "data",
        secret_key=TEST_SECRET,
        llm_provider="offline",
    )
    await redis_server.flushdb()
    async with engine.connect() as connection:
        outer = await connection.begin()
        db = Database(
            engine,
            async_sessionmaker(
                bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
            ),
        )
        async with app_client_for(settings, db=db, redis=redis_server) as client:
            yield await _build(client, db, settings, connection)
        await outer.rollback()


async def _build(
    client: httpx.AsyncClient, db: Database, settings: Settings, connection: AsyncConnection
) -> World:
    async with db.sessionmaker() as session:
        people = {
            "owner": await create_user(session, settings, display_name="Owner", plan="plus", is_admin=False),
            "site_admin": await create_user(session, settings, display_name="Admin", is_admin=True),
            "other": await create_user(session, settings, display_name="Other", plan="plus", is_admin=False),
        }
        for role in ("org_owner", "admin", "builder", "member"):
            people[role] = await create_user(
                session, settings, display_name=role, plan="free", is_admin=False
            )
    headers = {name: auth_headers(user, settings) for name, user in people.items()}
    ids: dict[str, str] = {"member_id": str(people["member"].id), "admin_id": str(people["admin"].id)}
    uploads: dict[uuid.UUID, bytes] = {}

    async def call(who: str, method: str, path: str, status: int, **kw: Any) -> dict:
        response = await client.request(method, path, headers=headers[who], **kw)
        assert response.status_code == status, (method, path, response.text)
        return response.json() if response.content else {}

    org = await call(
        "org_owner", "POST", "/api/organizations", 201, json={"handle": "fjords", "name": "Fjords"}
    )
    ids["org"], ids["handle"] = org["id"], org["handle"]
    async with db.sessionmaker() as session:
        for role in ("admin", "builder", "member"):
            session.add(
                OrganizationMember(organization_id=uuid.UUID(org["id"]), user_id=people[role].id, role=role)
            )
        await session.commit()
    await call("site_admin", "PATCH", f"/api/admin/organizations/{org['id']}", 200, json={"plan": "team"})
    invitation = await call("org_owner", "POST", f"/api/organizations/{org['id']}/invitations", 201, json={})
    ids["invitation"], ids["token"] = invitation["id"], invitation["token"]

    datasets = {
        "private": ("owner", {"name": "Crew notes", "access": "private"}),
        "open": ("owner", {"name": "Timetables", "access": "open", "license": "CC-BY-4.0"}),
        "org_private": ("builder", {"name": "Fares", "access": "private", "organization_id": org["id"]}),
    }
    for key, (who, body) in datasets.items():
        ids[key] = (await call(who, "POST", "/api/datasets", 201, json=body))["id"]
        name, text = FILES[key]
        uploaded = await call(
            who, "POST", f"/api/datasets/{ids[key]}/files", 202, files={"file": (name, text.encode())}
        )
        ids[FILE_IDS[key]] = uploaded["id"]
        assert await ingest(db, settings, uuid.UUID(uploaded["id"])) == "completed"
        uploads[uuid.UUID(uploaded["id"])] = text.encode()

    gpt = {
        "name": "Ferry Planner",
        "description": "Plans trips across the fjords.",
        "instructions": "Answer from the timetables.",
        "category": "lifestyle",
        "conversation_starters": ["When does the first ferry leave?"],
    }
    ids["gpt"] = (await call("owner", "POST", "/api/gpts", 201, json=gpt))["id"]
    await call("owner", "POST", f"/api/gpts/{ids['gpt']}/datasets", 201, json={"dataset_id": ids["private"]})
    ids["org_gpt"] = (
        await call("builder", "POST", "/api/gpts", 201, json={**gpt, "organization_id": org["id"]})
    )["id"]
    await call(
        "builder", "POST", f"/api/gpts/{ids['org_gpt']}/publish", 201, json={"visibility": "organisation"}
    )
    body = {"dataset_id": ids["org_private"]}
    await call("builder", "POST", f"/api/gpts/{ids['org_gpt']}/datasets", 201, json=body)
    return World(client, connection, settings, headers, ids, uploads)


async def snapshot(connection: AsyncConnection) -> tuple[str, ...]:
    """A digest of every row of each table a request may change (`TABLES`), in one statement."""
    digests = ", ".join(
        f"(SELECT md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM {table} t)"
        for table in TABLES
    )
    return tuple((await connection.execute(sa.text(f"SELECT {digests}"))).one())


def fill(template: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)] if m.group(1) in ids else m.group(0), template)


@pytest.mark.parametrize(("row", "column"), CASES)
async def test_permission(world: World, redis_server, row: Row, column: str) -> None:
    who = COLUMNS[column]
    request: dict[str, Any] = {"headers": world.headers[who] if who else {}}
    if row.body == "file":
        request["files"] = {"file": ("tides.md", b"# Tides\n\nHigh tide in Bergen at 06:12.\n")}
    elif row.body:
        request["json"] = json.loads(fill(row.body, world.ids))
    await redis_server.flushdb()  # rate limits and caches of earlier cases
    case = await world.connection.begin_nested()
    try:
        before = await snapshot(world.connection)
        response = await world.client.request(row.method, fill(row.path, world.ids), **request)
        after = await snapshot(world.connection)
    finally:
        await case.rollback()
        storage = storage_of(world.settings)
        for file_id, data in world.uploads.items():  # an allowed deletion removed it after its commit
            await storage.drain()
            if not await storage.exists(upload_key(file_id)):
                spool = storage.spool_path(upload_key(file_id))
                spool.parent.mkdir(parents=True, exist_ok=True)
                spool.write_bytes(data)
                await storage.put_file(upload_key(file_id), spool)
                spool.unlink(missing_ok=True)
    assert response.status_code == row.expected[column], response.text[:500]
    if response.status_code == 403 and column in ("admin", "builder", "member") and "{org" in row.path:
        if not row.path.startswith("/api/admin/"):  # a member refused for their role is told the role needed
            assert response.json().get("required_role"), response.text[:500]
    changed = [table for table, old, new in zip(TABLES, before, after, strict=True) if old != new]
    if (
        response.status_code >= 400 or row.method == "GET" or row.path.endswith("/search")
    ):  # refused or a read
        assert not changed, f"{row} as {column} ({response.status_code}) changed {changed}"
    else:  # an allowed change is made (and undone before the next case)
        assert changed, f"{row} as {column} ({response.status_code}) changed nothing"


# Refused for what the body names though the path lets them in: the personal owner may move their GPT, but
# not into an organisation they are not in (its id, in the body).
BODY_JUDGED = {("POST /api/gpts/{gpt}/transfer", "personal owner")}


def refused_first(row: Row) -> str | None:
    """The first column refused this row for who they are (403, else 404), when the row takes a body. A
    column that another row of the same request lets through (or refuses for its body, 422) is refused
    for what this row's body names (an organisation, a dataset), not for who they are: it is left out."""
    if not row.body:
        return None
    twins = [other for other in ROWS if (other.method, other.path) == (row.method, row.path)]

    def for_who(column: str) -> bool:
        return (
            COLUMNS[column] is not None
            and (f"{row.method} {row.path}", column) not in BODY_JUDGED
            and not any(other.expected[column] < 400 or other.expected[column] == 422 for other in twins)
        )

    return next((c for c in COLUMNS if for_who(c) and row.expected[c] == 403), None) or next(
        (c for c in COLUMNS if for_who(c) and row.expected[c] == 404), None
    )


REFUSED_FIRST = [
    pytest.param(row, column, id=f"{row}-{column}") for row in ROWS if (column := refused_first(row))
]


@pytest.mark.parametrize(("row", "column"), REFUSED_FIRST)
async def test_a_refused_role_is_told_before_its_body_is_judged(world: World, row: Row, column: str) -> None:
    """Who may not make the request learns that (403 naming the role, or 404), not what is wrong with the
    body they sent: an invalid body gets the status of a valid one."""
    request: dict[str, Any] = {"headers": world.headers[COLUMNS[column]]}
    if row.body == "file":
        request["files"] = {"not_a_file": ("tides.md", b"")}
    else:
        request["json"] = {"no_such_field": ["not", "valid"]}
    case = await world.connection.begin_nested()
    try:
        response = await world.client.request(row.method, fill(row.path, world.ids), **request)
    finally:
        await case.rollback()
    assert response.status_code == row.expected[column], response.text[:500]
