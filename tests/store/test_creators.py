"""Creators: profile editing, the public creator page, the dashboard and per-GPT statistics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from builder.models import Gpt
from store.models import GptVersion, Listing, UsageDaily
from tests.factories import auth_headers, create_user
from tests.store.factories import create_conversation, create_published_gpt


async def test_profile_patch_renames_the_creator_everywhere(client, session, creator, creator_headers):
    listing = await create_published_gpt(session, creator)
    before = (await client.get("/api/me/profile", headers=creator_headers)).json()
    assert before == {"handle": creator.handle, "display_name": "Test User", "website": None, "bio": None}
    old_handle = creator.handle
    assert (await client.get(f"/api/store/creators/{old_handle}")).status_code == 200  # now cached

    patched = await client.patch(
        "/api/me/profile",
        json={
            "handle": "fjord-fan",
            "display_name": "Fjord Fan",
            "website": "https://fjords.example/about",
            "bio": "I plan trips.",
        },
        headers=creator_headers,
    )
    assert patched.status_code == 200
    assert patched.json() == {
        "handle": "fjord-fan",
        "display_name": "Fjord Fan",
        "website": "https://fjords.example/about",
        "bio": "I plan trips.",
    }
    assert (await client.get("/api/me/profile", headers=creator_headers)).json() == patched.json()
    assert (await client.get(f"/api/store/creators/{old_handle}")).status_code == 404
    page = (await client.get("/api/store/creators/fjord-fan")).json()
    assert (page["display_name"], page["website"], page["bio"]) == (
        "Fjord Fan",
        "https://fjords.example/about",
        "I plan trips.",
    )
    stored = await session.scalar(
        sa.select(Listing).where(Listing.gpt_id == listing.gpt_id).execution_options(populate_existing=True)
    )
    assert stored.creator_handle == "fjord-fan" and "Fjord Fan" in stored.search_text

    cleared = await client.patch("/api/me/profile", json={"website": "", "bio": ""}, headers=creator_headers)
    assert (cleared.json()["website"], cleared.json()["bio"], cleared.json()["handle"]) == (
        None,
        None,
        "fjord-fan",
    )


async def test_profile_rejects_taken_handles_and_bad_values(client, session, settings, creator_headers):
    other = await create_user(session, settings, display_name="Taken Name")
    clash = await client.patch("/api/me/profile", json={"handle": other.handle}, headers=creator_headers)
    assert clash.status_code == 409 and clash.json()["errors"][0]["field"] == "handle"

    for body, field in (
        ({"website": "ftp://files.example"}, "website"),
        ({"website": "not a url"}, "website"),
        ({"handle": "ab"}, "handle"),
        ({"handle": "Bad_Handle"}, "handle"),
        ({"handle": "x" * 41}, "handle"),
        ({"bio": "x" * 1001}, "bio"),
        ({"display_name": ""}, "display_name"),
    ):
        response = await client.patch("/api/me/profile", json=body, headers=creator_headers)
        assert response.status_code == 422, body
        assert [e["field"] for e in response.json()["errors"]] == [field], body
    assert (await client.patch("/api/me/profile", json={"handle": "fine-1"})).status_code == 401


async def test_creator_page_shows_only_listed_gpts(client, session, settings, creator):
    await create_published_gpt(session, creator, name="Busy Guide", conversations=40)
    quiet = await create_published_gpt(session, creator, name="Quiet Guide", conversations=3)
    await create_published_gpt(session, creator, name="Link Only", visibility="link")
    await create_published_gpt(session, creator, name="Private", visibility="private")
    rater = await create_user(session, settings)
    await create_conversation(session, rater, quiet.gpt_id)
    rated = await client.put(
        f"/api/store/gpts/{quiet.gpt_id}/rating", json={"stars": 4}, headers=auth_headers(rater, settings)
    )
    assert rated.status_code == 200

    page = await client.get(f"/api/store/creators/{creator.handle}")
    assert page.status_code == 200
    body = page.json()
    assert (body["handle"], body["display_name"]) == (creator.handle, "Test User")
    assert [g["name"] for g in body["gpts"]] == ["Busy Guide", "Quiet Guide"]
    assert body["gpts"][1] == {
        "id": str(quiet.gpt_id),
        "name": "Quiet Guide",
        "description": "Plans fjord trips.",
        "category": "lifestyle",
        "rating": {"average": 4.0, "count": 1},
        "conversations": 3,
    }
    assert (await client.get("/api/store/creators/nobody-here")).status_code == 404


async def test_dashboard_lists_own_gpts_with_review_and_store_state(client, session, settings, creator):
    listing = await create_published_gpt(session, creator, conversations=12)
    session.add(
        GptVersion(
            gpt_id=listing.gpt_id,
            number=2,
            visibility="public",
            review_status="rejected",
            review_reasons=["name and description must not use the term 'official'"],
            config={},
        )
    )
    draft = Gpt(owner_id=creator.id, name="Half done")
    session.add(draft)
    await session.commit()
    await create_published_gpt(session, await create_user(session, settings, plan="plus"), name="Not mine")

    response = await client.get("/api/creator/gpts", headers=auth_headers(creator, settings))
    assert response.status_code == 200
    rows = {row["name"]: row for row in response.json()["data"]}
    assert set(rows) == {"Fjord Guide", "Half done"}
    published = rows["Fjord Guide"]
    assert published == {
        "id": str(listing.gpt_id),
        "name": "Fjord Guide",
        "visibility": "public",
        "live_version": 1,
        "latest_version": 2,
        "review_status": "rejected",
        "review_reasons": ["name and description must not use the term 'official'"],
        "approved_on_appeal": False,
        "appeal": None,
        "listed": True,
        "unlisted_reason": None,
        "hidden_by_reports": False,
        "totals": {"conversations": 12, "users": 0, "messages": 0, "rating_average": None, "rating_count": 0},
    }
    assert rows["Half done"]["visibility"] == "draft"
    assert (rows["Half done"]["live_version"], rows["Half done"]["latest_version"]) == (None, None)
    assert (await client.get("/api/creator/gpts")).status_code == 401


async def test_stats_are_zero_filled_and_only_for_the_owner(
    client, session, settings, creator, creator_headers
):
    listing = await create_published_gpt(session, creator)
    today = datetime.now(UTC).date()
    for days_ago, conversations in ((0, 5), (3, 2), (40, 9)):
        session.add(
            UsageDaily(
                gpt_id=listing.gpt_id,
                day=today - timedelta(days=days_ago),
                conversations=conversations,
                users=conversations,
                messages=conversations * 4,
            )
        )
    await session.commit()
    rater = await create_user(session, settings)
    await create_conversation(session, rater, listing.gpt_id)
    rating = {"stars": 2}
    url = f"/api/store/gpts/{listing.gpt_id}/rating"
    assert (await client.put(url, json=rating, headers=auth_headers(rater, settings))).status_code == 200

    response = await client.get(
        f"/api/gpts/{listing.gpt_id}/stats", params={"days": 7}, headers=creator_headers
    )
    assert response.status_code == 200
    stats = response.json()
    assert [d["date"] for d in stats["days"]] == [str(today - timedelta(days=n)) for n in range(6, -1, -1)]
    assert [d["conversations"] for d in stats["days"]] == [0, 0, 0, 2, 0, 0, 5]
    assert stats["days"][-1] == {"date": str(today), "conversations": 5, "users": 5, "messages": 20}
    assert stats["rating_distribution"] == [0, 1, 0, 0, 0]
    assert [d["date"] for d in stats["ratings_by_day"]] == [d["date"] for d in stats["days"]]
    assert stats["ratings_by_day"][-1]["distribution"] == [0, 1, 0, 0, 0]
    assert all(d["distribution"] == [0] * 5 for d in stats["ratings_by_day"][:-1])

    default = (await client.get(f"/api/gpts/{listing.gpt_id}/stats", headers=creator_headers)).json()
    assert len(default["days"]) == 30
    for bad in (0, 366):
        invalid = await client.get(
            f"/api/gpts/{listing.gpt_id}/stats", params={"days": bad}, headers=creator_headers
        )
        assert invalid.status_code == 422 and invalid.json()["errors"][0]["field"] == "days"
    others = auth_headers(await create_user(session, settings), settings)
    assert (await client.get(f"/api/gpts/{listing.gpt_id}/stats", headers=others)).status_code == 404
    admin = auth_headers(await create_user(session, settings, is_admin=True), settings)
    assert (await client.get(f"/api/gpts/{listing.gpt_id}/stats", headers=admin)).status_code == 200
