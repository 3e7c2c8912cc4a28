"""What a newcomer met on the store pages: long searches, signing up when signed in, line breaks in reviews,
the chat list naming its GPTs, "Top rated", instructions added through /v1 in the web chat, and the way to
rate or report when signed out."""

from __future__ import annotations

import re

import sqlalchemy as sa

from store.models import ChatMessage, Listing, Rating
from tests.factories import auth_headers, create_user
from tests.store.factories import create_conversation, create_published_gpt
from tests.web.test_pages import HTML, log_in


async def test_a_search_past_200_characters_is_cut_with_the_error_at_the_box(client, session, creator):
    await create_published_gpt(session, creator)
    long = "fjord " * 50  # 300 characters
    page = await client.get("/search", params={"q": long}, headers=HTML)
    assert page.status_code == 200
    assert 'aria-describedby="e-q"' in page.text and "at most 200 characters" in page.text
    kept = re.search(r'<input id="q" name="q" type="search" value="([^"]*)"', page.text).group(1)
    assert kept == long[:200]
    datasets = await client.get("/datasets", params={"q": long}, headers=HTML)
    assert datasets.status_code == 200 and "at most 200 characters" in datasets.text


async def test_the_admin_user_search_cuts_a_long_query_too(client, session, settings):
    admin = await create_user(session, settings, is_admin=True)
    await log_in(client, admin.email)
    page = await client.get("/admin/users", params={"q": "x" * 400}, headers=HTML)
    assert page.status_code == 200 and "at most 320 characters" in page.text


async def test_signup_and_login_say_you_are_signed_in(client, creator):
    await log_in(client, creator.email)
    for path, action in (
        ("/signup", "Log out to create another account"),
        ("/login", "Log out to log in as"),
    ):
        page = (await client.get(path, headers=HTML)).text
        assert "You are signed in" in page and action in page
        assert 'action="/signup"' not in page and 'action="/login"' not in page


async def test_line_breaks_in_reviews_and_replies_are_kept(client, session, settings, creator):
    listing = await create_published_gpt(session, creator)
    reader = await create_user(session, settings)
    await create_conversation(session, reader, listing.gpt_id)
    session.add(Rating(gpt_id=listing.gpt_id, user_id=reader.id, stars=4, review="First line\nSecond line"))
    await session.commit()
    page = (await client.get(f"/g/{listing.gpt_id}", headers=HTML)).text
    assert '<p class="user-text">First line\nSecond line</p>' in page
    css = (await client.get("/static/app.css")).text
    assert re.search(r"\.user-text\s*\{[^}]*white-space:\s*pre-line", css)


async def test_the_chat_list_names_each_gpt_and_marks_one_gone(client, session, settings, creator):
    kept = await create_published_gpt(session, creator, name="Fjord Guide")
    gone = await create_published_gpt(session, creator, name="Glacier Guide")
    reader = await create_user(session, settings)
    await create_conversation(session, reader, kept.gpt_id)
    await create_conversation(session, reader, gone.gpt_id)
    await session.execute(sa.update(Listing).where(Listing.gpt_id == gone.gpt_id).values(live_version=None))
    await session.commit()
    api = (await client.get("/api/conversations", headers=auth_headers(reader, settings))).json()["data"]
    assert {(c["gpt_name"], c["gpt_available"]) for c in api} == {
        ("Fjord Guide", True),
        ("Glacier Guide", False),
    }
    await log_in(client, reader.email)
    page = (await client.get("/chats", headers=HTML)).text
    assert "with Fjord Guide" in page and "with Glacier Guide" in page
    assert page.count("no longer available") == 1


async def test_top_rated_lists_rated_gpts_only(client, session, settings, creator):
    rated = await create_published_gpt(session, creator, name="Fjord Guide")
    unrated = await create_published_gpt(session, creator, name="Glacier Guide")
    await session.execute(
        sa.update(Listing)
        .where(Listing.gpt_id == rated.gpt_id)
        .values(rating_count=1, rating_sum=5, top_score=3.7)
    )
    await session.commit()
    top = (await client.get("/api/store/gpts?sort=top")).json()["data"]
    assert [g["id"] for g in top] == [str(rated.gpt_id)]
    page = (await client.get("/search?sort=top", headers=HTML)).text
    assert "Fjord Guide" in page and "Glacier Guide" not in page and str(unrated.gpt_id) not in page


async def test_instructions_added_through_the_api_are_labelled_in_the_web_chat(
    client, session, settings, creator
):
    listing = await create_published_gpt(session, creator)
    reader = await create_user(session, settings)
    conversation = await create_conversation(session, reader, listing.gpt_id, question=None)
    session.add(ChatMessage(conversation_id=conversation.id, role="system", content="Answer in French."))
    await session.commit()
    await log_in(client, reader.email)
    page = (await client.get(f"/chats/{conversation.id}", headers=HTML)).text
    item = re.search(r'<li class="message system instructions"[^>]*>\s*<p class="who">([^<]*)</p>', page)
    assert item and item.group(1) == "Instructions added through the API (system message)"


async def test_a_signed_out_visitor_is_told_how_to_rate_or_report(client, session, creator):
    listing = await create_published_gpt(session, creator)
    page = (await client.get(f"/g/{listing.gpt_id}", headers=HTML)).text
    assert f'<a href="/login?next=/g/{listing.gpt_id}">Log in</a> to rate and review' in page
    assert "or to report it" in page
