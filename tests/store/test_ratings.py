"""Ratings and reviews: who may rate, one rating per user, exact aggregates, review pages, creator replies."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import sqlalchemy as sa

from core.db import Database
from core.models import User
from store.models import Listing, Rating
from store.ranking import bayesian_average
from tests.asgi import app_client_for
from tests.factories import auth_headers, create_user
from tests.store.factories import create_conversation, create_published_gpt


async def _rater(session, settings, gpt_id, **overrides):
    """A user who chatted with the GPT, and their headers."""
    user = await create_user(session, settings, **overrides)
    await create_conversation(session, user, gpt_id)
    return user, auth_headers(user, settings)


async def _listing(session, gpt_id) -> Listing:
    return await session.scalar(
        sa.select(Listing).where(Listing.gpt_id == gpt_id).execution_options(populate_existing=True)
    )


async def test_only_users_who_chatted_rate_and_never_the_creator(
    client, session, settings, creator, creator_headers
):
    listing = await create_published_gpt(session, creator)
    url = f"/api/store/gpts/{listing.gpt_id}/rating"
    await create_conversation(session, creator, listing.gpt_id)

    own = await client.put(url, json={"stars": 5}, headers=creator_headers)
    assert own.status_code == 403
    assert "own GPT" in own.json()["detail"]

    stranger = auth_headers(await create_user(session, settings), settings)
    not_chatted = await client.put(url, json={"stars": 5}, headers=stranger)
    assert not_chatted.status_code == 403
    assert "rate a GPT after chatting with it" in not_chatted.json()["detail"]

    assert (await client.put(url, json={"stars": 5})).status_code == 401

    private = await create_published_gpt(session, creator, name="Secret", visibility="private")
    _, headers = await _rater(session, settings, private.gpt_id)
    hidden = await client.put(f"/api/store/gpts/{private.gpt_id}/rating", json={"stars": 4}, headers=headers)
    assert hidden.status_code == 404


async def test_an_empty_conversation_does_not_make_a_rater(client, session, settings, creator):
    listing = await create_published_gpt(session, creator)
    url = f"/api/store/gpts/{listing.gpt_id}/rating"
    headers = auth_headers(await create_user(session, settings), settings)
    started = await client.post(f"/api/store/gpts/{listing.gpt_id}/conversations", headers=headers)
    assert started.status_code == 201
    refused = await client.put(url, json={"stars": 1, "review": "Never asked it anything"}, headers=headers)
    assert refused.status_code == 403 and "after chatting with it" in refused.json()["detail"]

    messages = f"/api/conversations/{started.json()['id']}/messages"
    assert (await client.post(messages, json={"content": "Which fjord?"}, headers=headers)).status_code == 200
    assert (await client.put(url, json={"stars": 4}, headers=headers)).status_code == 200


async def test_stars_and_review_are_validated(client, session, settings, creator):
    listing = await create_published_gpt(session, creator)
    _, headers = await _rater(session, settings, listing.gpt_id)
    url = f"/api/store/gpts/{listing.gpt_id}/rating"
    for body in ({"stars": 0}, {"stars": 6}, {"stars": 4, "review": "x" * 2001}):
        response = await client.put(url, json=body, headers=headers)
        assert response.status_code == 422, body
    assert (await client.get(url, headers=headers)).status_code == 404
    # a review that shows nothing is no review (it was listed as an empty-looking one)
    blank = await client.put(url, json={"stars": 4, "review": "\u200b\u3000"}, headers=headers)
    assert blank.status_code == 200 and blank.json()["review"] is None


async def test_rating_again_replaces_it_and_delete_removes_it(client, session, settings, creator):
    listing = await create_published_gpt(session, creator)
    url = f"/api/store/gpts/{listing.gpt_id}/rating"
    _, first = await _rater(session, settings, listing.gpt_id)
    _, second = await _rater(session, settings, listing.gpt_id)

    created = await client.put(url, json={"stars": 4, "review": "  Great tips.  "}, headers=first)
    assert created.status_code == 200
    assert (created.json()["stars"], created.json()["review"]) == (4, "Great tips.")
    replaced = await client.put(url, json={"stars": 2}, headers=first)
    assert replaced.json()["id"] == created.json()["id"]
    assert (replaced.json()["stars"], replaced.json()["review"]) == (2, "Great tips.")  # omitted: kept
    cleared = await client.put(url, json={"stars": 2, "review": ""}, headers=first)
    assert (cleared.json()["stars"], cleared.json()["review"]) == (2, None)
    assert (await client.put(url, json={"stars": 5, "review": "Superb"}, headers=second)).status_code == 200

    after = await _listing(session, listing.gpt_id)
    assert (after.rating_count, after.rating_sum, after.rating_distribution) == (2, 7, [0, 1, 0, 0, 1])
    assert after.top_score == pytest.approx(bayesian_average(7, 2))
    assert (await client.get(url, headers=first)).json()["stars"] == 2

    assert (await client.delete(url, headers=first)).status_code == 204
    assert (await client.delete(url, headers=first)).status_code == 404
    after = await _listing(session, listing.gpt_id)
    assert (after.rating_count, after.rating_sum, after.rating_distribution) == (1, 5, [0, 0, 0, 0, 1])
    assert after.top_score == pytest.approx(bayesian_average(5, 1))

    page = (await client.get(f"/api/store/creators/{creator.handle}")).json()
    assert page["gpts"][0]["rating"] == {"average": 5.0, "count": 1}


async def test_reviews_sort_and_page_with_a_stable_cursor(client, session, settings, creator):
    listing = await create_published_gpt(session, creator)
    url = f"/api/store/gpts/{listing.gpt_id}"
    stars = [3, 5, 1, 5, 3, 4]
    written = []
    for n, count in enumerate(stars):
        user, headers = await _rater(session, settings, listing.gpt_id, display_name=f"Reviewer {n}")
        body = {"stars": count, "review": f"review {n}"}
        response = await client.put(f"{url}/rating", json=body, headers=headers)
        written.append((response.json()["id"], count, user.handle))
    _, silent = await _rater(session, settings, listing.gpt_id)
    await client.put(f"{url}/rating", json={"stars": 2}, headers=silent)  # no text: not a review

    newest = [w for w in reversed(written)]
    expected = {
        "newest": [w[0] for w in newest],
        "highest": [w[0] for w in sorted(newest, key=lambda w: -w[1])],
        "lowest": [w[0] for w in sorted(newest, key=lambda w: w[1])],
    }
    for sort, ids in expected.items():
        seen, cursor, pages = [], None, 0
        while True:
            params = (
                {"sort": sort, "limit": 4} if cursor is None else {"sort": sort, "limit": 4, "cursor": cursor}
            )
            page = (await client.get(f"{url}/reviews", params=params)).json()  # no account needed
            seen += [r["id"] for r in page["data"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert (seen, pages) == (ids, 2), sort

    first = (await client.get(f"{url}/reviews", params={"limit": 1})).json()
    review = first["data"][0]
    assert review["review"] == "review 5" and review["stars"] == 4 and review["reply"] is None
    assert review["author"] == {"handle": written[-1][2], "display_name": "Reviewer 5"}

    other_sort = await client.get(f"{url}/reviews", params={"sort": "lowest", "cursor": first["next_cursor"]})
    assert other_sort.status_code == 422
    garbage = await client.get(f"{url}/reviews", params={"cursor": "not-a-cursor"})
    assert garbage.status_code == 422 and garbage.json()["errors"][0]["field"] == "cursor"
    assert (await client.get(f"{url}/reviews", params={"sort": "funniest"})).status_code == 422


async def test_reviews_follow_visibility(client, session, settings, creator, creator_headers):
    private = await create_published_gpt(session, creator, visibility="private")
    url = f"/api/store/gpts/{private.gpt_id}/reviews"
    assert (await client.get(url)).status_code == 404
    assert (await client.get(url, headers=creator_headers)).status_code == 200


async def test_the_creator_replies_once(client, session, settings, creator, creator_headers):
    listing = await create_published_gpt(session, creator)
    url = f"/api/store/gpts/{listing.gpt_id}"
    _, headers = await _rater(session, settings, listing.gpt_id)
    review = (
        await client.put(f"{url}/rating", json={"stars": 2, "review": "Too slow."}, headers=headers)
    ).json()

    assert (
        await client.post(f"{url}/reviews/{review['id']}/reply", json={"text": "Hi"}, headers=headers)
    ).status_code == 403
    replied = await client.post(
        f"{url}/reviews/{review['id']}/reply", json={"text": "Faster now!"}, headers=creator_headers
    )
    assert replied.status_code == 201 and replied.json()["text"] == "Faster now!"
    again = await client.post(
        f"{url}/reviews/{review['id']}/reply", json={"text": "Again"}, headers=creator_headers
    )
    assert again.status_code == 409

    shown = (await client.get(f"{url}/reviews")).json()["data"][0]
    assert shown["reply"]["text"] == "Faster now!"
    assert shown["updated_at"] == review["updated_at"]  # a reply is not an edit of the review

    _, quiet = await _rater(session, settings, listing.gpt_id)
    bare = (await client.put(f"{url}/rating", json={"stars": 3}, headers=quiet)).json()
    no_text = await client.post(
        f"{url}/reviews/{bare['id']}/reply", json={"text": "?"}, headers=creator_headers
    )
    assert no_text.status_code == 404


async def test_an_edited_review_drops_the_reply_to_the_old_text(
    client, session, settings, creator, creator_headers
):
    listing = await create_published_gpt(session, creator)
    url = f"/api/store/gpts/{listing.gpt_id}"
    _, headers = await _rater(session, settings, listing.gpt_id)
    review = (
        await client.put(f"{url}/rating", json={"stars": 5, "review": "Great!"}, headers=headers)
    ).json()
    reply = f"{url}/reviews/{review['id']}/reply"
    assert (await client.post(reply, json={"text": "Thanks!"}, headers=creator_headers)).status_code == 201

    # new stars, the same words (or none sent): the reply still answers them
    for body in ({"stars": 4}, {"stars": 4, "review": "Great!"}):
        assert (await client.put(f"{url}/rating", json=body, headers=headers)).status_code == 200
        assert (await client.get(f"{url}/reviews")).json()["data"][0]["reply"]["text"] == "Thanks!"

    # other words: "Thanks!" must not stand under them
    await client.put(f"{url}/rating", json={"stars": 1, "review": "It leaked my data."}, headers=headers)
    shown = (await client.get(f"{url}/reviews")).json()["data"][0]
    assert shown["review"] == "It leaked my data." and shown["reply"] is None
    answered = await client.post(reply, json={"text": "Please write to us."}, headers=creator_headers)
    assert answered.status_code == 201

    # removed, then written again: the old reply does not come back
    await client.put(f"{url}/rating", json={"stars": 1, "review": None}, headers=headers)
    await client.put(f"{url}/rating", json={"stars": 1, "review": "Still bad."}, headers=headers)
    assert (await client.get(f"{url}/reviews")).json()["data"][0]["reply"] is None


async def test_a_rating_is_withdrawn_after_the_gpt_went_out_of_sight(
    client, session, settings, creator_headers
):
    gpt = (
        await client.post(
            "/api/gpts",
            json={"name": "Fjord Guide", "description": "Plans fjord trips.", "instructions": "Help."},
            headers=creator_headers,
        )
    ).json()["id"]
    publish = f"/api/gpts/{gpt}/publish"
    assert (
        await client.post(publish, json={"visibility": "link"}, headers=creator_headers)
    ).status_code == 201
    headers = auth_headers(await create_user(session, settings), settings)
    chat = (await client.post(f"/api/store/gpts/{gpt}/conversations", headers=headers)).json()["id"]
    await client.post(
        f"/api/conversations/{chat}/messages", json={"content": "Which fjord?"}, headers=headers
    )
    rating = f"/api/store/gpts/{gpt}/rating"
    assert (await client.put(rating, json={"stars": 1, "review": "Slow"}, headers=headers)).status_code == 200
    assert (
        await client.post(publish, json={"visibility": "private"}, headers=creator_headers)
    ).status_code == 201

    stranger = auth_headers(await create_user(session, settings), settings)
    # without a rating, the hidden GPT answers as any unknown id
    unknown = await client.delete(f"/api/store/gpts/{uuid.uuid4()}/rating", headers=stranger)
    hidden = await client.delete(rating, headers=stranger)
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json()["detail"] == unknown.json()["detail"]
    assert (await client.delete(rating, headers=headers)).status_code == 204
    assert (await _listing(session, uuid.UUID(gpt))).rating_count == 0
    assert (await client.delete(rating, headers=headers)).status_code == 404


async def test_aggregates_stay_exact_under_concurrent_ratings(engine, settings, redis):
    """20 users rate at once, then change or withdraw at once: the listing matches the rating table."""
    db = Database(engine)  # real commits: concurrent requests need their own connections
    async with db.session_scope() as session:
        owner = await create_user(session, settings, plan="plus")
        listing = await create_published_gpt(session, owner)
        raters = [await create_user(session, settings) for _ in range(20)]
        for user in raters:
            await create_conversation(session, user, listing.gpt_id)
    gpt_id = listing.gpt_id
    url = f"/api/store/gpts/{gpt_id}/rating"
    headers = [auth_headers(user, settings) for user in raters]
    try:
        async with app_client_for(settings, db=db, redis=redis) as client:
            first = [n % 5 + 1 for n in range(20)]
            responses = await asyncio.gather(
                *(client.put(url, json={"stars": s}, headers=h) for s, h in zip(first, headers, strict=True))
            )
            assert [r.status_code for r in responses] == [200] * 20
            async with db.session_scope() as session:
                after = await session.get(Listing, gpt_id)
                assert (after.rating_count, after.rating_sum) == (20, sum(first))
                assert after.rating_distribution == [4, 4, 4, 4, 4]

            changed = [5 if n % 2 else 1 for n in range(10)]
            responses = await asyncio.gather(
                *(
                    client.put(url, json={"stars": s}, headers=h)
                    for s, h in zip(changed, headers, strict=False)
                ),
                *(client.delete(url, headers=h) for h in headers[10:]),
            )
            assert [r.status_code for r in responses] == [200] * 10 + [204] * 10
        async with db.session_scope() as session:
            after = await session.get(Listing, gpt_id)
            stars = list(await session.scalars(sa.select(Rating.stars).where(Rating.gpt_id == gpt_id)))
            assert sorted(stars) == sorted(changed)
            assert (after.rating_count, after.rating_sum) == (10, sum(changed))
            assert after.rating_distribution == [5, 0, 0, 0, 5]
            assert after.top_score == pytest.approx(bayesian_average(sum(changed), 10))
    finally:
        async with db.session_scope() as session:
            # Deleting the accounts cascades to the GPT, its listing, conversations and ratings.
            await session.execute(sa.delete(User).where(User.id.in_([owner.id, *(u.id for u in raters)])))
