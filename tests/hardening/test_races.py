"""Check-then-insert races: N requests at the same moment answer exactly as the same requests one by one.

These tests need real concurrency, so they do not use the rolled-back `db` of the other tests (one
connection serialises everything): the app runs on its own engine against a database of this module,
emptied before each test.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from redis.asyncio import Redis

from builder.models import Gpt
from core import migrate
from core.app import create_app
from core.db import Database, create_engine, unique_constraints, unique_or_conflict
from core.errors import Conflict
from core.models import ApiKey, User
from core.settings import Settings
from retrieval.models import KnowledgeFile
from retrieval.search import ensure_vector_index, vector_index_name
from store import usage
from store.models import Appeal, Listing, Rating, Report, UsageDaily
from tests.asgi import app_client
from tests.conftest import TEST_SECRET, _recreate_database, unique_email
from tests.factories import auth_headers, create_user
from tests.store.factories import create_conversation, create_published_gpt

DATA = Path(__file__).parent.parent / "data"
PARALLEL = 8


@pytest.fixture(scope="module")
async def race_database_url(server_urls: tuple[str, str]) -> AsyncIterator[str]:
    """A database of its own: committed rows of these tests never meet the other tests."""
    admin_url = server_urls[0]
    name = f"gptstore_races_{os.getpid()}"
    url = await _recreate_database(admin_url, name)
    await asyncio.to_thread(migrate.upgrade, url)
    yield url
    engine = create_engine(admin_url, pool_size=1)
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await engine.dispose()


@pytest.fixture
async def race_db(race_database_url: str) -> AsyncIterator[Database]:
    """Real, separate connections on an emptied database (every table hangs off an account)."""
    db = Database(create_engine(race_database_url, pool_size=2))
    async with db.session_scope() as session:
        await session.execute(sa.text("TRUNCATE user_account CASCADE"))
    yield db
    await db.dispose()


@pytest.fixture
def race_settings(race_database_url: str, server_urls: tuple[str, str], tmp_path: Path) -> Settings:
    return Settings(
        database_url=race_database_url,
        redis_url=server_urls[1],
        data_dir=tmp_path / "data",
        secret_key=TEST_SECRET,
        llm_provider="offline",
        db_pool_size=PARALLEL,
    )


async def app_for(settings: Settings, redis: Redis) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app, its pool already holding PARALLEL open connections (else opening them
    one by one staggers the requests enough to hide a race)."""
    async with app_client(create_app(settings, redis=redis)) as client:
        assert statuses(await together([client.get("/ready") for _ in range(PARALLEL)])) == {200: PARALLEL}
        yield client


@pytest.fixture
async def client(
    race_settings: Settings, race_db: Database, redis: Redis
) -> AsyncIterator[httpx.AsyncClient]:
    """The app on its own engine (a pool of PARALLEL connections), not on a test transaction."""
    async for client in app_for(race_settings, redis):
        yield client


async def together(requests: list[Awaitable[httpx.Response]]) -> list[httpx.Response]:
    """Send every request at once and wait for all answers."""
    return list(await asyncio.gather(*requests))


def statuses(responses: list[httpx.Response]) -> Counter:
    return Counter(r.status_code for r in responses)


async def new_user(db: Database, settings: Settings, **overrides: Any) -> User:
    async with db.session_scope() as session:
        return await create_user(session, settings, **overrides)


async def count(db: Database, query: sa.Select) -> int:
    async with db.session_scope() as session:
        return await session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))


def stored_blobs(settings: Settings) -> list[Path]:
    return sorted(p for p in (settings.data_dir / "files").rglob("*") if p.is_file())


async def new_gpt(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    response = await client.post("/api/gpts", json={"name": "Canteen"}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def upload(client, gpt_id: str, headers, content: bytes, filename: str = "notes.txt"):
    return client.post(
        f"/api/gpts/{gpt_id}/files", files={"file": (filename, content, "text/plain")}, headers=headers
    )


# Knowledge files ---------------------------------------------------------------------------------------


async def test_same_bytes_uploaded_in_parallel_keep_one_file(client, race_db, race_settings):
    """The handed input: 8 uploads of the same bytes to one GPT keep one file; 7 answers name it."""
    creator = await new_user(race_db, race_settings, plan="plus")
    headers = auth_headers(creator, race_settings)
    gpt_id = await new_gpt(client, headers)
    content = (DATA / "same-bytes-8-parallel-uploads.txt").read_bytes()

    responses = await together(
        [upload(client, gpt_id, headers, content, f"copy-{n}.txt") for n in range(PARALLEL)]
    )

    assert statuses(responses) == {202: 1, 409: PARALLEL - 1}
    [kept] = [r.json() for r in responses if r.status_code == 202]
    sequential = await upload(client, gpt_id, headers, content, "later.txt")
    assert sequential.status_code == 409
    assert sequential.json()["existing_file_id"] == kept["id"]
    for lost in (r for r in responses if r.status_code == 409):
        assert lost.headers["content-type"].startswith("application/problem+json")
        assert lost.json() == sequential.json()
    assert await count(race_db, sa.select(KnowledgeFile).where(KnowledgeFile.owner_id == creator.id)) == 1
    assert [p.name for p in stored_blobs(race_settings)] == [kept["id"]]


async def test_parallel_uploads_never_pass_the_file_limit(client, race_db, race_settings):
    """As reported: 30 distinct uploads at once to a GPT whose limit is 20 kept 25."""
    limit = race_settings.max_files_per_gpt
    creator = await new_user(race_db, race_settings, plan="plus")
    headers = auth_headers(creator, race_settings)
    gpt_id = await new_gpt(client, headers)

    responses = await together(
        [upload(client, gpt_id, headers, f"Fact number {n}.\n".encode()) for n in range(limit + 10)]
    )

    assert statuses(responses) == {202: limit, 422: 10}
    sequential = await upload(client, gpt_id, headers, b"One more fact.\n")
    assert sequential.status_code == 422
    assert sequential.json()["limit"] == "max_files_per_gpt"
    assert all(r.json() == sequential.json() for r in responses if r.status_code == 422)
    assert await count(race_db, sa.select(KnowledgeFile).where(KnowledgeFile.owner_id == creator.id)) == limit
    assert len(stored_blobs(race_settings)) == limit


def thirty_bytes(text: str) -> bytes:
    return text.ljust(29).encode() + b"\n"


async def test_parallel_uploads_never_pass_the_storage_quota(race_db, race_settings, redis):
    """The quota is per creator: uploads to two GPTs of one creator share it."""
    settings = race_settings.model_copy(update={"storage_quota_bytes": 100})
    creator = await new_user(race_db, settings, plan="plus")
    headers = auth_headers(creator, settings)
    async for client in app_for(settings, redis):
        gpts = [await new_gpt(client, headers), await new_gpt(client, headers)]
        responses = await together(
            [upload(client, gpts[n % 2], headers, thirty_bytes(f"Fact {n:02d}")) for n in range(8)]
        )
        sequential = await upload(client, gpts[0], headers, thirty_bytes("Fact 99"))

    assert statuses(responses) == {202: 3, 413: 5}
    assert sequential.status_code == 413
    assert sequential.json()["limit"] == "storage_quota_bytes"
    assert all(r.json() == sequential.json() for r in responses if r.status_code == 413)
    async with race_db.session_scope() as session:
        used = await session.scalar(
            sa.select(sa.func.sum(KnowledgeFile.bytes)).where(KnowledgeFile.owner_id == creator.id)
        )
    assert used == 90
    assert len(stored_blobs(settings)) == 3


async def test_parallel_deletes_of_one_file_delete_it_once(client, race_db, race_settings):
    creator = await new_user(race_db, race_settings, plan="plus")
    headers = auth_headers(creator, race_settings)
    gpt_id = await new_gpt(client, headers)
    file_id = (await upload(client, gpt_id, headers, b"Soup on Mondays.\n")).json()["id"]

    responses = await together(
        [client.delete(f"/api/gpts/{gpt_id}/files/{file_id}", headers=headers) for _ in range(PARALLEL)]
    )

    assert statuses(responses) == {204: 1, 404: PARALLEL - 1}
    assert stored_blobs(race_settings) == []


async def test_uploads_racing_the_deletion_of_their_gpt_leave_nothing_behind(client, race_db, race_settings):
    creator = await new_user(race_db, race_settings, plan="plus")
    headers = auth_headers(creator, race_settings)
    gpt_id = await new_gpt(client, headers)
    uploads = [upload(client, gpt_id, headers, f"Fact number {n}.\n".encode()) for n in range(PARALLEL - 1)]

    *uploaded, deleted = await together([*uploads, client.delete(f"/api/gpts/{gpt_id}", headers=headers)])

    assert deleted.status_code == 204
    assert set(statuses(uploaded)) <= {202, 404}
    assert await count(race_db, sa.select(KnowledgeFile).where(KnowledgeFile.owner_id == creator.id)) == 0
    assert stored_blobs(race_settings) == []


# Accounts -------------------------------------------------------------------------------------------------


def signup(client, email: str, name: str = "Ada"):
    return client.post(
        "/api/auth/signup", json={"email": email, "password": "long enough pw", "display_name": name}
    )


async def test_parallel_first_signups_make_one_admin_with_distinct_handles(client, race_db):
    responses = await together([signup(client, unique_email()) for _ in range(PARALLEL)])

    assert statuses(responses) == {201: PARALLEL}
    users = [r.json()["user"] for r in responses]
    assert sum(u["is_admin"] for u in users) == 1
    async with race_db.session_scope() as session:
        stored = list(await session.scalars(sa.select(User.handle)))
    assert len(set(stored)) == PARALLEL
    assert {u["handle"] for u in users} == set(stored)


async def test_parallel_signups_with_one_email_create_one_account(client, race_db):
    email = unique_email()

    responses = await together([signup(client, email) for _ in range(PARALLEL)])

    assert statuses(responses) == {201: 1, 409: PARALLEL - 1}
    sequential = await signup(client, email)
    assert sequential.status_code == 409
    assert all(r.json() == sequential.json() for r in responses if r.status_code == 409)
    assert await count(race_db, sa.select(User).where(User.email == email)) == 1


async def test_parallel_claims_of_one_handle_give_it_to_one_account(client, race_db, race_settings):
    users = [await new_user(race_db, race_settings) for _ in range(PARALLEL)]

    responses = await together(
        [
            client.patch(
                "/api/me/profile", json={"handle": "fjord-guide"}, headers=auth_headers(u, race_settings)
            )
            for u in users
        ]
    )

    assert statuses(responses) == {200: 1, 409: PARALLEL - 1}
    sequential = await client.patch(
        "/api/me/profile", json={"handle": "fjord-guide"}, headers=auth_headers(users[0], race_settings)
    )
    if responses[0].status_code == 200:  # users[0] won: ask with another loser
        loser = next(u for u, r in zip(users, responses, strict=True) if r.status_code == 409)
        sequential = await client.patch(
            "/api/me/profile", json={"handle": "fjord-guide"}, headers=auth_headers(loser, race_settings)
        )
    assert sequential.status_code == 409
    assert all(r.json() == sequential.json() for r in responses if r.status_code == 409)


async def test_a_signup_racing_a_handle_claim_still_gets_a_free_handle(client, race_db, race_settings):
    """Signups derive a handle from the name; a profile taking that handle at the same moment is no 500."""
    users = [await new_user(race_db, race_settings) for _ in range(PARALLEL // 2)]
    claims = [
        client.patch("/api/me/profile", json={"handle": "grace"}, headers=auth_headers(u, race_settings))
        for u in users
    ]
    signups = [signup(client, unique_email(), name="Grace") for _ in range(PARALLEL // 2)]

    responses = await together([x for pair in zip(claims, signups, strict=True) for x in pair])

    assert set(statuses(responses)) <= {200, 201, 409}
    async with race_db.session_scope() as session:
        handles = list(await session.scalars(sa.select(User.handle).where(User.handle.like("grace%"))))
    assert "grace" in handles and len(handles) == len(set(handles))


# Ratings, reports, appeals, featured -----------------------------------------------------------------


async def published(race_db: Database, settings: Settings, **overrides: Any) -> tuple[User, Listing]:
    creator = await new_user(race_db, settings, plan="plus")
    async with race_db.session_scope() as session:
        listing = await create_published_gpt(session, creator, **overrides)
    return creator, listing


async def test_parallel_ratings_by_one_user_keep_one_rating(client, race_db, race_settings):
    _, listing = await published(race_db, race_settings)
    user = await new_user(race_db, race_settings)
    async with race_db.session_scope() as session:
        await create_conversation(session, user, listing.gpt_id)
    headers = auth_headers(user, race_settings)

    responses = await together(
        [
            client.put(f"/api/store/gpts/{listing.gpt_id}/rating", json={"stars": 1 + n % 5}, headers=headers)
            for n in range(PARALLEL)
        ]
    )

    assert statuses(responses) == {200: PARALLEL}
    assert len({r.json()["id"] for r in responses}) == 1
    async with race_db.session_scope() as session:
        stars = list(await session.scalars(sa.select(Rating.stars).where(Rating.gpt_id == listing.gpt_id)))
        stored = await session.get(Listing, listing.gpt_id)
    assert len(stars) == 1
    assert (stored.rating_count, stored.rating_sum) == (1, stars[0])


async def test_parallel_reports_by_one_user_file_one_report(client, race_db, race_settings):
    _, listing = await published(race_db, race_settings)
    headers = auth_headers(await new_user(race_db, race_settings), race_settings)
    url = f"/api/store/gpts/{listing.gpt_id}/reports"

    responses = await together(
        [client.post(url, json={"reason": "spam"}, headers=headers) for _ in range(PARALLEL)]
    )

    assert statuses(responses) == {201: 1, 409: PARALLEL - 1}
    sequential = await client.post(url, json={"reason": "spam"}, headers=headers)
    assert sequential.status_code == 409
    assert all(r.json() == sequential.json() for r in responses if r.status_code == 409)
    assert await count(race_db, sa.select(Report).where(Report.gpt_id == listing.gpt_id)) == 1


async def test_parallel_reports_by_enough_users_hide_the_gpt(client, race_db, race_settings):
    _, listing = await published(race_db, race_settings)
    threshold = race_settings.report_hide_threshold
    reporters = [await new_user(race_db, race_settings) for _ in range(threshold)]
    url = f"/api/store/gpts/{listing.gpt_id}/reports"

    responses = await together(
        [client.post(url, json={"reason": "spam"}, headers=auth_headers(u, race_settings)) for u in reporters]
    )

    assert statuses(responses) == {201: threshold}
    async with race_db.session_scope() as session:
        stored = await session.get(Listing, listing.gpt_id)
    assert stored.hidden_by_reports and not stored.listed


async def test_parallel_appeals_open_one_appeal(client, race_db, race_settings):
    creator, listing = await published(race_db, race_settings)
    async with race_db.session_scope() as session:
        await session.execute(
            sa.update(Listing)
            .where(Listing.gpt_id == listing.gpt_id)
            .values(unlisted_reason="spam", listed=False)
        )
    headers = auth_headers(creator, race_settings)
    url = f"/api/gpts/{listing.gpt_id}/appeal"

    responses = await together(
        [
            client.post(url, json={"message": f"Please look again ({n})"}, headers=headers)
            for n in range(PARALLEL)
        ]
    )

    assert statuses(responses) == {201: 1, 409: PARALLEL - 1}
    sequential = await client.post(url, json={"message": "Please"}, headers=headers)
    assert sequential.status_code == 409
    assert all(r.json() == sequential.json() for r in responses if r.status_code == 409)
    assert await count(race_db, sa.select(Appeal).where(Appeal.gpt_id == listing.gpt_id)) == 1


async def test_parallel_appeal_decisions_decide_once(client, race_db, race_settings):
    creator, listing = await published(race_db, race_settings)
    admin_headers = auth_headers(await new_user(race_db, race_settings, is_admin=True), race_settings)
    async with race_db.session_scope() as session:
        await session.execute(
            sa.update(Listing)
            .where(Listing.gpt_id == listing.gpt_id)
            .values(unlisted_reason="spam", listed=False)
        )
    appeal = await client.post(
        f"/api/gpts/{listing.gpt_id}/appeal",
        json={"message": "Please"},
        headers=auth_headers(creator, race_settings),
    )
    url = f"/api/admin/appeals/{appeal.json()['id']}/resolve"

    responses = await together(
        [
            client.post(url, json={"decision": ("grant", "deny")[n % 2]}, headers=admin_headers)
            for n in range(PARALLEL)
        ]
    )

    assert statuses(responses) == {200: 1, 409: PARALLEL - 1}


async def test_parallel_featured_lists_leave_exactly_one_of_them(client, race_db, race_settings):
    admin_headers = auth_headers(await new_user(race_db, race_settings, is_admin=True), race_settings)
    gpt_ids = [str((await published(race_db, race_settings, name=f"Guide {n}"))[1].gpt_id) for n in range(4)]
    # Overlapping lists in other orders (row locks taken in opposite orders) and disjoint ones.
    lists = [
        gpt_ids[n % 4 :] + gpt_ids[: n % 4] if n % 2 else gpt_ids[n % 4 : n % 4 + 1] for n in range(PARALLEL)
    ]

    responses = await together(
        [client.put("/api/admin/featured", json={"gpt_ids": ids}, headers=admin_headers) for ids in lists]
    )

    assert statuses(responses) == {200: PARALLEL}
    async with race_db.session_scope() as session:
        featured = [
            str(g)
            for g in await session.scalars(
                sa.select(Listing.gpt_id)
                .where(Listing.featured_rank.is_not(None))
                .order_by(Listing.featured_rank)
            )
        ]
        ranks = list(
            await session.scalars(sa.select(Listing.featured_rank).where(Listing.featured_rank.is_not(None)))
        )
    assert featured in lists
    assert len(ranks) == len(set(ranks))


async def test_parallel_replies_to_one_review_keep_the_first(client, race_db, race_settings):
    creator, listing = await published(race_db, race_settings)
    reviewer = await new_user(race_db, race_settings)
    async with race_db.session_scope() as session:
        await create_conversation(session, reviewer, listing.gpt_id)
    rating = await client.put(
        f"/api/store/gpts/{listing.gpt_id}/rating",
        json={"stars": 4, "review": "Good trips"},
        headers=auth_headers(reviewer, race_settings),
    )
    url = f"/api/store/gpts/{listing.gpt_id}/reviews/{rating.json()['id']}/reply"
    headers = auth_headers(creator, race_settings)

    responses = await together(
        [client.post(url, json={"text": f"Thanks {n}"}, headers=headers) for n in range(PARALLEL)]
    )

    assert statuses(responses) == {201: 1, 409: PARALLEL - 1}


async def test_parallel_publishes_number_versions_once_each(client, race_db, race_settings):
    creator = await new_user(race_db, race_settings, plan="plus")
    headers = auth_headers(creator, race_settings)
    gpt_id = await new_gpt(client, headers)

    responses = await together(
        [
            client.post(f"/api/gpts/{gpt_id}/publish", json={"visibility": "private"}, headers=headers)
            for _ in range(PARALLEL)
        ]
    )

    assert statuses(responses) == {201: PARALLEL}
    assert sorted(r.json()["number"] for r in responses) == list(range(1, PARALLEL + 1))


async def test_parallel_public_publishes_of_one_name_approve_one(client, race_db, race_settings):
    """The review refuses a name nearly the same as another live GPT of the creator's: also at once."""
    creator = await new_user(race_db, race_settings, plan="plus")
    headers = auth_headers(creator, race_settings)
    draft = {
        "name": "Fjord Guide",
        "description": "Plans fjord trips.",
        "instructions": "Help people plan fjord trips.",
        "conversation_starters": ["Best fjord in May?"],
        "category": "lifestyle",
    }
    gpt_ids = []
    for _ in range(PARALLEL // 2):
        created = await client.post("/api/gpts", json=draft, headers=headers)
        gpt_ids.append(created.json()["id"])

    responses = await together(
        [
            client.post(f"/api/gpts/{g}/publish", json={"visibility": "public"}, headers=headers)
            for g in gpt_ids
        ]
    )

    assert statuses(responses) == {201: PARALLEL // 2}
    assert Counter(r.json()["review_status"] for r in responses) == {
        "approved": 1,
        "rejected": PARALLEL // 2 - 1,
    }
    for rejected in (r.json() for r in responses if r.json()["review_status"] == "rejected"):
        assert rejected["review_reasons"] == ["the name is nearly the same as your GPT 'Fjord Guide'"]


async def test_an_appeal_granted_while_the_creator_publishes_makes_one_listing(race_db, race_settings, redis):
    """Both go live for the first time at once: each creates the GPT's store listing if it is missing."""
    settings = race_settings.model_copy(update={"banned_terms": ["casino"]})
    creator = await new_user(race_db, settings, plan="plus")
    admin_headers = auth_headers(await new_user(race_db, settings, is_admin=True), settings)
    headers = auth_headers(creator, settings)
    async for client in app_for(settings, redis):
        gpt_id = await new_gpt(client, headers)
        await client.patch(f"/api/gpts/{gpt_id}", json={"name": "Casino Guide"}, headers=headers)
        rejected = await client.post(
            f"/api/gpts/{gpt_id}/publish", json={"visibility": "public", "category": "other"}, headers=headers
        )
        assert rejected.json()["review_status"] == "rejected"
        appeal = await client.post(
            f"/api/gpts/{gpt_id}/appeal", json={"message": "A card game"}, headers=headers
        )
        await client.patch(f"/api/gpts/{gpt_id}", json={"name": "Card Guide"}, headers=headers)

        granted, published = await together(
            [
                client.post(
                    f"/api/admin/appeals/{appeal.json()['id']}/resolve",
                    json={"decision": "grant"},
                    headers=admin_headers,
                ),
                client.post(f"/api/gpts/{gpt_id}/publish", json={"visibility": "private"}, headers=headers),
            ]
        )

    assert (granted.status_code, published.status_code) == (200, 201)
    assert await count(race_db, sa.select(Listing).where(Listing.gpt_id == gpt_id)) == 1


# Deletes and one-time decisions: the first wins, the others answer as they would a moment later ----------


async def test_parallel_removals_of_one_rating_remove_it_once(client, race_db, race_settings):
    _, listing = await published(race_db, race_settings)
    user = await new_user(race_db, race_settings)
    async with race_db.session_scope() as session:
        await create_conversation(session, user, listing.gpt_id)
    headers = auth_headers(user, race_settings)
    url = f"/api/store/gpts/{listing.gpt_id}/rating"
    assert (await client.put(url, json={"stars": 5}, headers=headers)).status_code == 200

    responses = await together([client.delete(url, headers=headers) for _ in range(PARALLEL)])

    assert statuses(responses) == {204: 1, 404: PARALLEL - 1}
    async with race_db.session_scope() as session:
        stored = await session.get(Listing, listing.gpt_id)
    assert (stored.rating_count, stored.rating_sum) == (0, 0)


async def test_parallel_revocations_of_one_api_key_revoke_it_once(client, race_db, race_settings):
    headers = auth_headers(await new_user(race_db, race_settings), race_settings)
    key = await client.post("/api/me/api-keys", json={"name": "laptop"}, headers=headers)

    responses = await together(
        [client.delete(f"/api/me/api-keys/{key.json()['id']}", headers=headers) for _ in range(PARALLEL)]
    )

    assert statuses(responses) == {204: 1, 404: PARALLEL - 1}


async def test_parallel_unpublishes_unpublish_once(client, race_db, race_settings):
    creator, listing = await published(race_db, race_settings)
    headers = auth_headers(creator, race_settings)

    responses = await together(
        [client.post(f"/api/gpts/{listing.gpt_id}/unpublish", headers=headers) for _ in range(PARALLEL)]
    )

    assert statuses(responses) == {204: 1, 409: PARALLEL - 1}


async def test_parallel_report_decisions_decide_once(client, race_db, race_settings):
    _, listing = await published(race_db, race_settings)
    admin_headers = auth_headers(await new_user(race_db, race_settings, is_admin=True), race_settings)
    reporter = auth_headers(await new_user(race_db, race_settings), race_settings)
    report = await client.post(
        f"/api/store/gpts/{listing.gpt_id}/reports", json={"reason": "spam"}, headers=reporter
    )
    url = f"/api/admin/reports/{report.json()['id']}/resolve"

    responses = await together(
        [
            client.post(url, json={"action": ("dismiss", "unlist")[n % 2]}, headers=admin_headers)
            for n in range(PARALLEL)
        ]
    )

    assert statuses(responses) == {200: 1, 409: PARALLEL - 1}


# The mechanism ---------------------------------------------------------------------------------------------


async def test_every_mapped_unique_constraint_exists(race_db):
    async with race_db.session_scope() as session:
        names = set(
            await session.scalars(sa.text("SELECT conname FROM pg_constraint WHERE contype IN ('u', 'p')"))
        )
        names |= set(
            await session.scalars(sa.text("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'"))
        )
    assert set(unique_constraints()) <= names


async def test_a_lost_unique_race_is_a_conflict_and_the_transaction_goes_on(race_db, race_settings):
    """Without any lock: the loser waits for the winner's commit, then gets a 409, not a 500."""
    email = unique_email()

    def account() -> User:
        return User(email=email, password_hash="x", display_name="Ada", handle=email[:20], plan="free")

    async with race_db.sessionmaker() as winner, race_db.sessionmaker() as loser:
        winner.add(account())
        await winner.flush()  # holds the email, uncommitted

        async def insert_too() -> None:
            async with unique_or_conflict(loser):
                loser.add(account())

        racing = asyncio.create_task(insert_too())
        await asyncio.sleep(0.2)
        assert not racing.done()  # blocked on the winner's uncommitted row
        await winner.commit()
        with pytest.raises(Conflict) as refused:
            await racing
        assert refused.value.status == 409
        assert refused.value.errors == [{"field": "email", "message": "taken"}]
        assert await loser.scalar(sa.select(sa.func.count()).where(User.email == email)) == 1
        await loser.rollback()


async def test_a_request_never_waits_for_another_request_of_the_same_api_key(client, race_db, race_settings):
    """Recording a key's use skips a row another request of the key holds (e.g. a long upload)."""
    headers = auth_headers(await new_user(race_db, race_settings), race_settings)
    created = (await client.post("/api/me/api-keys", json={"name": "laptop"}, headers=headers)).json()
    by_key = {"Authorization": f"Bearer {created['key']}"}

    async with race_db.sessionmaker() as other_request:
        await other_request.execute(
            sa.select(ApiKey.id).where(ApiKey.id == created["id"]).with_for_update()
        )  # holds the key's row as an unfinished request that recorded the key's use would
        # A hang guard, not a speed check: before, this waited for the other request to end.
        me = await asyncio.wait_for(client.get("/api/me", headers=by_key), timeout=30)
        await other_request.rollback()

    assert me.status_code == 200
    later = (await client.get("/api/me/api-keys", headers=by_key)).json()
    assert later[0]["last_used_at"] is not None


async def test_parallel_first_ingestions_of_a_new_model_create_its_vector_index_once(race_db):
    """`CREATE INDEX IF NOT EXISTS` alone is no guard: two at once, one fails on pg_class."""
    model = "race-test-model"

    sessions = [race_db.sessionmaker() for _ in range(4)]
    for session in sessions:  # connected first, so the four really start together
        await session.execute(sa.text("SELECT 1"))

    async def ensure(session) -> None:
        await ensure_vector_index(session, model, 8)
        await session.commit()

    try:
        await asyncio.gather(*(ensure(s) for s in sessions))
    finally:
        for session in sessions:
            await session.close()

    async with race_db.session_scope() as session:
        assert await session.scalar(
            sa.text("SELECT to_regclass(:n) IS NOT NULL"), {"n": vector_index_name(model, 8)}
        )
        await session.execute(sa.text(f"DROP INDEX {vector_index_name(model, 8)}"))


async def test_a_counter_flush_racing_the_deletion_of_its_gpt_skips_it(race_db, race_settings, redis):
    """The flush checked that the GPT exists, then wrote its usage: a deletion in between failed the job."""
    creator, listing = await published(race_db, race_settings)
    await usage.count(redis, listing.gpt_id, creator.id, conversations=1)

    async with race_db.sessionmaker() as deleting:
        await deleting.execute(sa.delete(Gpt).where(Gpt.id == listing.gpt_id))  # not yet committed
        flushing = asyncio.create_task(usage.flush(race_db, redis))
        await asyncio.sleep(0.5)  # the flush reaches the GPT the deletion holds
        await deleting.commit()
        await flushing

    assert await count(race_db, sa.select(UsageDaily).where(UsageDaily.gpt_id == listing.gpt_id)) == 0
