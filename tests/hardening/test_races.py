"""Check-then-insert races in knowledge files and accounts, and the mechanism that closes them: requests
sent at the same moment answer exactly as the same requests one by one (fixtures: conftest.py here).
"""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from core.concurrency import unique_constraints, unique_or_conflict
from core.errors import Conflict
from core.models import ApiKey, User
from retrieval.models import KnowledgeFile
from retrieval.search import ensure_vector_index, vector_index_name
from tests.conftest import unique_email
from tests.factories import auth_headers
from tests.hardening.concurrency import (
    DATA,
    PARALLEL,
    count,
    new_gpt,
    new_user,
    running_app,
    statuses,
    stored_blobs,
    together,
    upload,
)

# Knowledge files ---------------------------------------------------------------------------------------


async def test_same_bytes_uploaded_in_parallel_keep_one_file(race_client, race_db, race_settings):
    """The handed input: 8 uploads of the same bytes to one GPT keep one file; 7 answers name it."""
    creator = await new_user(race_db, race_settings, plan="plus")
    headers = auth_headers(creator, race_settings)
    gpt_id = await new_gpt(race_client, headers)
    content = (DATA / "same-bytes-8-parallel-uploads.txt").read_bytes()

    responses = await together(
        [upload(race_client, gpt_id, headers, content, f"copy-{n}.txt") for n in range(PARALLEL)]
    )

    assert statuses(responses) == {202: 1, 409: PARALLEL - 1}
    [kept] = [r.json() for r in responses if r.status_code == 202]
    sequential = await upload(race_client, gpt_id, headers, content, "later.txt")
    assert sequential.status_code == 409
    assert sequential.json()["existing_file_id"] == kept["id"]
    for lost in (r for r in responses if r.status_code == 409):
        assert lost.headers["content-type"].startswith("application/problem+json")
        assert lost.json() == sequential.json()
    assert await count(race_db, sa.select(KnowledgeFile).where(KnowledgeFile.owner_id == creator.id)) == 1
    assert [p.name for p in stored_blobs(race_settings)] == [kept["id"]]


async def test_parallel_uploads_never_pass_the_file_limit(race_client, race_db, race_settings):
    """As reported: 30 distinct uploads at once to a GPT whose limit is 20 kept 25."""
    limit = race_settings.max_files_per_gpt
    creator = await new_user(race_db, race_settings, plan="plus")
    headers = auth_headers(creator, race_settings)
    gpt_id = await new_gpt(race_client, headers)

    responses = await together(
        [upload(race_client, gpt_id, headers, f"Fact number {n}.\n".encode()) for n in range(limit + 10)]
    )

    assert statuses(responses) == {202: limit, 422: 10}
    sequential = await upload(race_client, gpt_id, headers, b"One more fact.\n")
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
    async with running_app(settings, redis) as client:
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


async def test_parallel_deletes_of_one_file_delete_it_once(race_client, race_db, race_settings):
    creator = await new_user(race_db, race_settings, plan="plus")
    headers = auth_headers(creator, race_settings)
    gpt_id = await new_gpt(race_client, headers)
    file_id = (await upload(race_client, gpt_id, headers, b"Soup on Mondays.\n")).json()["id"]

    responses = await together(
        [race_client.delete(f"/api/gpts/{gpt_id}/files/{file_id}", headers=headers) for _ in range(PARALLEL)]
    )

    assert statuses(responses) == {204: 1, 404: PARALLEL - 1}
    assert stored_blobs(race_settings) == []


async def test_uploads_racing_the_deletion_of_their_gpt_leave_nothing_behind(
    race_client, race_db, race_settings
):
    creator = await new_user(race_db, race_settings, plan="plus")
    headers = auth_headers(creator, race_settings)
    gpt_id = await new_gpt(race_client, headers)
    uploads = [
        upload(race_client, gpt_id, headers, f"Fact number {n}.\n".encode()) for n in range(PARALLEL - 1)
    ]

    *uploaded, deleted = await together(
        [*uploads, race_client.delete(f"/api/gpts/{gpt_id}", headers=headers)]
    )

    assert deleted.status_code == 204
    assert set(statuses(uploaded)) <= {202, 404}
    assert await count(race_db, sa.select(KnowledgeFile).where(KnowledgeFile.owner_id == creator.id)) == 0
    assert stored_blobs(race_settings) == []


# Accounts -------------------------------------------------------------------------------------------------


def signup(client, email: str, name: str = "Ada"):
    return client.post(
        "/api/auth/signup", json={"email": email, "password": "long enough pw", "display_name": name}
    )


async def test_parallel_first_signups_make_one_admin_with_distinct_handles(race_client, race_db):
    responses = await together([signup(race_client, unique_email()) for _ in range(PARALLEL)])

    assert statuses(responses) == {201: PARALLEL}
    users = [r.json()["user"] for r in responses]
    assert sum(u["is_admin"] for u in users) == 1
    async with race_db.session_scope() as session:
        stored = list(await session.scalars(sa.select(User.handle)))
    assert len(set(stored)) == PARALLEL
    assert {u["handle"] for u in users} == set(stored)


async def test_parallel_signups_with_one_email_create_one_account(race_client, race_db):
    email = unique_email()

    responses = await together([signup(race_client, email) for _ in range(PARALLEL)])

    assert statuses(responses) == {201: 1, 409: PARALLEL - 1}
    sequential = await signup(race_client, email)
    assert sequential.status_code == 409
    assert all(r.json() == sequential.json() for r in responses if r.status_code == 409)
    assert await count(race_db, sa.select(User).where(User.email == email)) == 1


async def test_parallel_claims_of_one_handle_give_it_to_one_account(race_client, race_db, race_settings):
    users = [await new_user(race_db, race_settings) for _ in range(PARALLEL)]

    responses = await together(
        [
            race_client.patch(
                "/api/me/profile", json={"handle": "fjord-guide"}, headers=auth_headers(u, race_settings)
            )
            for u in users
        ]
    )

    assert statuses(responses) == {200: 1, 409: PARALLEL - 1}
    loser = next(u for u, r in zip(users, responses, strict=True) if r.status_code == 409)
    sequential = await race_client.patch(
        "/api/me/profile", json={"handle": "fjord-guide"}, headers=auth_headers(loser, race_settings)
    )
    assert sequential.status_code == 409
    assert all(r.json() == sequential.json() for r in responses if r.status_code == 409)


async def test_a_signup_racing_a_handle_claim_still_gets_a_free_handle(race_client, race_db, race_settings):
    """Signups derive a handle from the name; a profile taking that handle at the same moment is no 500."""
    users = [await new_user(race_db, race_settings) for _ in range(PARALLEL // 2)]
    claims = [
        race_client.patch("/api/me/profile", json={"handle": "grace"}, headers=auth_headers(u, race_settings))
        for u in users
    ]
    signups = [signup(race_client, unique_email(), name="Grace") for _ in range(PARALLEL // 2)]

    responses = await together([x for pair in zip(claims, signups, strict=True) for x in pair])

    claimed, signed_up = statuses(responses[0::2]), statuses(responses[1::2])
    assert signed_up == {201: PARALLEL // 2}
    assert set(claimed) <= {200, 409} and claimed[200] <= 1
    async with race_db.session_scope() as session:
        handles = list(await session.scalars(sa.select(User.handle).where(User.handle.like("grace%"))))
    assert "grace" in handles and len(handles) == len(set(handles))


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


async def test_a_request_never_waits_for_another_request_of_the_same_api_key(
    race_client, race_db, race_settings
):
    """Recording a key's use skips a row another request of the key holds (e.g. a long upload)."""
    headers = auth_headers(await new_user(race_db, race_settings), race_settings)
    created = (await race_client.post("/api/me/api-keys", json={"name": "laptop"}, headers=headers)).json()
    by_key = {"Authorization": f"Bearer {created['key']}"}

    async with race_db.sessionmaker() as other_request:
        await other_request.execute(
            sa.select(ApiKey.id).where(ApiKey.id == created["id"]).with_for_update()
        )  # holds the key's row as an unfinished request that recorded the key's use would
        # A hang guard, not a speed check: before, this waited for the other request to end.
        me = await asyncio.wait_for(race_client.get("/api/me", headers=by_key), timeout=30)
        await other_request.rollback()

    assert me.status_code == 200
    assert (await race_client.get("/api/me", headers=by_key)).status_code == 200  # the row is free: recorded
    later = (await race_client.get("/api/me/api-keys", headers=headers)).json()  # a key lists no keys
    assert later["data"][0]["last_used_at"] is not None


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
