"""Check-then-insert races in the store: ratings, reports, appeals, publishing, the featured list, usage
counters (fixtures: conftest.py here).
"""

from __future__ import annotations

import asyncio
from collections import Counter

import sqlalchemy as sa

from builder.models import Gpt
from store import usage
from store.models import Appeal, Listing, Rating, Report, UsageDaily
from tests.factories import auth_headers
from tests.hardening.concurrency import (
    PARALLEL,
    count,
    new_gpt,
    new_user,
    published,
    running_app,
    statuses,
    together,
)
from tests.store.factories import create_conversation

# Ratings, reports, appeals, featured -----------------------------------------------------------------


async def test_parallel_ratings_by_one_user_keep_one_rating(race_client, race_db, race_settings):
    _, listing = await published(race_db, race_settings)
    user = await new_user(race_db, race_settings)
    async with race_db.session_scope() as session:
        await create_conversation(session, user, listing.gpt_id)
    headers = auth_headers(user, race_settings)

    responses = await together(
        [
            race_client.put(
                f"/api/store/gpts/{listing.gpt_id}/rating", json={"stars": 1 + n % 5}, headers=headers
            )
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


async def test_parallel_reports_by_one_user_file_one_report(race_client, race_db, race_settings):
    _, listing = await published(race_db, race_settings)
    headers = auth_headers(await new_user(race_db, race_settings), race_settings)
    url = f"/api/store/gpts/{listing.gpt_id}/reports"

    responses = await together(
        [race_client.post(url, json={"reason": "spam"}, headers=headers) for _ in range(PARALLEL)]
    )

    assert statuses(responses) == {201: 1, 409: PARALLEL - 1}
    sequential = await race_client.post(url, json={"reason": "spam"}, headers=headers)
    assert sequential.status_code == 409
    assert all(r.json() == sequential.json() for r in responses if r.status_code == 409)
    assert await count(race_db, sa.select(Report).where(Report.gpt_id == listing.gpt_id)) == 1


async def test_parallel_reports_by_enough_users_hide_the_gpt(race_client, race_db, race_settings):
    _, listing = await published(race_db, race_settings)
    threshold = race_settings.report_hide_threshold
    reporters = [await new_user(race_db, race_settings) for _ in range(threshold)]
    url = f"/api/store/gpts/{listing.gpt_id}/reports"

    responses = await together(
        [
            race_client.post(url, json={"reason": "spam"}, headers=auth_headers(u, race_settings))
            for u in reporters
        ]
    )

    assert statuses(responses) == {201: threshold}
    async with race_db.session_scope() as session:
        stored = await session.get(Listing, listing.gpt_id)
    assert stored.hidden_by_reports and not stored.listed


async def test_parallel_appeals_open_one_appeal(race_client, race_db, race_settings):
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
            race_client.post(url, json={"message": f"Please look again ({n})"}, headers=headers)
            for n in range(PARALLEL)
        ]
    )

    assert statuses(responses) == {201: 1, 409: PARALLEL - 1}
    sequential = await race_client.post(url, json={"message": "Please"}, headers=headers)
    assert sequential.status_code == 409
    assert all(r.json() == sequential.json() for r in responses if r.status_code == 409)
    assert await count(race_db, sa.select(Appeal).where(Appeal.gpt_id == listing.gpt_id)) == 1


async def test_parallel_appeal_decisions_decide_once(race_client, race_db, race_settings):
    creator, listing = await published(race_db, race_settings)
    admin_headers = auth_headers(await new_user(race_db, race_settings, is_admin=True), race_settings)
    async with race_db.session_scope() as session:
        await session.execute(
            sa.update(Listing)
            .where(Listing.gpt_id == listing.gpt_id)
            .values(unlisted_reason="spam", listed=False)
        )
    appeal = await race_client.post(
        f"/api/gpts/{listing.gpt_id}/appeal",
        json={"message": "Please"},
        headers=auth_headers(creator, race_settings),
    )
    url = f"/api/admin/appeals/{appeal.json()['id']}/resolve"

    responses = await together(
        [
            race_client.post(url, json={"decision": ("grant", "deny")[n % 2]}, headers=admin_headers)
            for n in range(PARALLEL)
        ]
    )

    assert statuses(responses) == {200: 1, 409: PARALLEL - 1}


async def test_parallel_featured_lists_leave_exactly_one_of_them(race_client, race_db, race_settings):
    admin_headers = auth_headers(await new_user(race_db, race_settings, is_admin=True), race_settings)
    gpt_ids = [str((await published(race_db, race_settings, name=f"Guide {n}"))[1].gpt_id) for n in range(4)]
    # Overlapping lists in other orders (row locks taken in opposite orders) and disjoint ones.
    lists = [
        gpt_ids[n % 4 :] + gpt_ids[: n % 4] if n % 2 else gpt_ids[n % 4 : n % 4 + 1] for n in range(PARALLEL)
    ]

    responses = await together(
        [
            race_client.put("/api/admin/featured", json={"gpt_ids": ids}, headers=admin_headers)
            for ids in lists
        ]
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


async def test_parallel_replies_to_one_review_keep_the_first(race_client, race_db, race_settings):
    creator, listing = await published(race_db, race_settings)
    reviewer = await new_user(race_db, race_settings)
    async with race_db.session_scope() as session:
        await create_conversation(session, reviewer, listing.gpt_id)
    rating = await race_client.put(
        f"/api/store/gpts/{listing.gpt_id}/rating",
        json={"stars": 4, "review": "Good trips"},
        headers=auth_headers(reviewer, race_settings),
    )
    url = f"/api/store/gpts/{listing.gpt_id}/reviews/{rating.json()['id']}/reply"
    headers = auth_headers(creator, race_settings)

    responses = await together(
        [race_client.post(url, json={"text": f"Thanks {n}"}, headers=headers) for n in range(PARALLEL)]
    )

    assert statuses(responses) == {201: 1, 409: PARALLEL - 1}


async def test_parallel_publishes_number_versions_once_each(race_client, race_db, race_settings):
    creator = await new_user(race_db, race_settings, plan="plus")
    headers = auth_headers(creator, race_settings)
    gpt_id = await new_gpt(race_client, headers)

    responses = await together(
        [
            race_client.post(
                f"/api/gpts/{gpt_id}/publish",
                json={"visibility": "private", "release_notes": f"n{n}"},
                headers=headers,
            )
            for n in range(PARALLEL)
        ]
    )

    assert statuses(responses) == {201: PARALLEL}
    assert sorted(r.json()["number"] for r in responses) == list(range(1, PARALLEL + 1))


async def test_parallel_identical_publishes_make_one_version(race_client, race_db, race_settings):
    """A double-click (or a retried request) on Publish: the second finds the first's version live."""
    creator = await new_user(race_db, race_settings, plan="plus")
    headers = auth_headers(creator, race_settings)
    gpt_id = await new_gpt(race_client, headers)
    body = {"visibility": "private", "release_notes": "once"}

    responses = await together(
        [race_client.post(f"/api/gpts/{gpt_id}/publish", json=body, headers=headers) for _ in range(PARALLEL)]
    )

    assert statuses(responses) == {201: 1, 200: PARALLEL - 1}
    assert {r.json()["number"] for r in responses} == {1}
    versions = (await race_client.get(f"/api/gpts/{gpt_id}/versions", headers=headers)).json()["data"]
    assert [v["number"] for v in versions] == [1]


async def test_parallel_public_publishes_of_one_name_approve_one(race_client, race_db, race_settings):
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
        created = await race_client.post("/api/gpts", json=draft, headers=headers)
        gpt_ids.append(created.json()["id"])

    responses = await together(
        [
            race_client.post(f"/api/gpts/{g}/publish", json={"visibility": "public"}, headers=headers)
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
    async with running_app(settings, redis) as client:
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

        granted, republished = await together(
            [
                client.post(
                    f"/api/admin/appeals/{appeal.json()['id']}/resolve",
                    json={"decision": "grant"},
                    headers=admin_headers,
                ),
                client.post(f"/api/gpts/{gpt_id}/publish", json={"visibility": "private"}, headers=headers),
            ]
        )

    # Whichever comes first: a publish first closes the appeal as outdated (the grant then answers 409 as
    # it would a moment later), a grant first goes live; never a deadlock (a 503) nor two listings.
    assert republished.status_code == 201, republished.text
    assert granted.status_code in (200, 409), granted.text
    if granted.status_code == 409:
        assert "outdated" in granted.json()["detail"]
    assert await count(race_db, sa.select(Listing).where(Listing.gpt_id == gpt_id)) == 1


# Deletes and one-time decisions: the first wins, the others answer as they would a moment later ----------


async def test_parallel_removals_of_one_rating_remove_it_once(race_client, race_db, race_settings):
    _, listing = await published(race_db, race_settings)
    user = await new_user(race_db, race_settings)
    async with race_db.session_scope() as session:
        await create_conversation(session, user, listing.gpt_id)
    headers = auth_headers(user, race_settings)
    url = f"/api/store/gpts/{listing.gpt_id}/rating"
    assert (await race_client.put(url, json={"stars": 5}, headers=headers)).status_code == 200

    responses = await together([race_client.delete(url, headers=headers) for _ in range(PARALLEL)])

    assert statuses(responses) == {204: 1, 404: PARALLEL - 1}
    async with race_db.session_scope() as session:
        stored = await session.get(Listing, listing.gpt_id)
    assert (stored.rating_count, stored.rating_sum) == (0, 0)


async def test_parallel_revocations_of_one_api_key_revoke_it_once(race_client, race_db, race_settings):
    headers = auth_headers(await new_user(race_db, race_settings), race_settings)
    key = await race_client.post("/api/me/api-keys", json={"name": "laptop"}, headers=headers)

    responses = await together(
        [race_client.delete(f"/api/me/api-keys/{key.json()['id']}", headers=headers) for _ in range(PARALLEL)]
    )

    assert statuses(responses) == {204: 1, 404: PARALLEL - 1}


async def test_parallel_unpublishes_unpublish_once(race_client, race_db, race_settings):
    creator, listing = await published(race_db, race_settings)
    headers = auth_headers(creator, race_settings)

    responses = await together(
        [race_client.post(f"/api/gpts/{listing.gpt_id}/unpublish", headers=headers) for _ in range(PARALLEL)]
    )

    assert statuses(responses) == {204: 1, 409: PARALLEL - 1}


async def test_parallel_report_decisions_decide_once(race_client, race_db, race_settings):
    _, listing = await published(race_db, race_settings)
    admin_headers = auth_headers(await new_user(race_db, race_settings, is_admin=True), race_settings)
    reporter = auth_headers(await new_user(race_db, race_settings), race_settings)
    report = await race_client.post(
        f"/api/store/gpts/{listing.gpt_id}/reports", json={"reason": "spam"}, headers=reporter
    )
    url = f"/api/admin/reports/{report.json()['id']}/resolve"

    responses = await together(
        [
            race_client.post(url, json={"action": ("dismiss", "unlist")[n % 2]}, headers=admin_headers)
            for n in range(PARALLEL)
        ]
    )

    assert statuses(responses) == {200: 1, 409: PARALLEL - 1}


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
