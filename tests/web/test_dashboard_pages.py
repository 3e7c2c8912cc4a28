"""The creator dashboard and per-GPT stats pages: SVG charts drawn on the server from
`CreatorService.stats` (the JSON twin's data), with accessible names, data tables and no inline style;
replies to reviews from the stats page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from store.models import Listing, Rating, UsageDaily
from tests.factories import auth_headers, create_user
from tests.store.factories import create_conversation, create_published_gpt
from tests.web.test_pages import HTML, log_in
from web import charts
from web.session import CSRF_COOKIE


async def _gpt_with_usage(session, settings, creator):
    listing = await create_published_gpt(session, creator, name="Fjord <Guide>", conversations=9)
    today = datetime.now(UTC).date()
    session.add(UsageDaily(gpt_id=listing.gpt_id, day=today, conversations=7, users=5, messages=41))
    session.add(
        UsageDaily(gpt_id=listing.gpt_id, day=today - timedelta(days=2), conversations=2, users=2, messages=6)
    )
    reader = await create_user(session, settings, display_name="Reader")
    await create_conversation(session, reader, listing.gpt_id)
    rating = Rating(gpt_id=listing.gpt_id, user_id=reader.id, stars=4, review="Good trips")
    session.add(rating)
    listing = await session.get(Listing, listing.gpt_id)
    listing.rating_distribution = [0, 0, 0, 1, 0]
    listing.rating_count, listing.rating_sum = 1, 4
    await session.commit()
    return listing.gpt_id, rating.id


async def test_stats_page_draws_the_api_numbers_as_accessible_svg(client, session, settings, creator):
    gpt_id, _ = await _gpt_with_usage(session, settings, creator)
    api = await client.get(f"/api/gpts/{gpt_id}/stats?days=7", headers=auth_headers(creator, settings))
    await log_in(client, creator.email)
    board = await client.get("/creator", headers=HTML)
    assert f'href="/creator/gpts/{gpt_id}/stats"' in board.text
    assert f'href="/g/{gpt_id}/embed"' in board.text  # a public GPT's embed settings and snippet
    page = await client.get(f"/creator/gpts/{gpt_id}/stats?days=7", headers=HTML)
    assert page.status_code == 200
    html = page.text
    assert "Stats of Fjord &lt;Guide&gt;" in html
    svgs = re.findall(r"<svg viewBox=\"0 0 360[^>]*>.*?</svg>", html, flags=re.S)
    assert len(svgs) == 5
    for svg in svgs:
        assert 'role="img"' in svg and "aria-labelledby=" in svg
        assert "style" not in svg and "<script" not in svg  # nothing the CSP blocks
    # Every day's numbers of the JSON twin are in the data tables; each bar says its value.
    for day in api.json()["days"]:
        label = datetime.fromisoformat(day["date"]).strftime("%b %d").replace(" 0", " ")
        row = re.search(rf"<tr><th scope=\"row\">{label}</th><td>(\d+)</td>", html)
        assert row is not None
    assert re.search(r"<title>[A-Z][a-z]{2} \d+: 41</title>", html)  # today's messages
    assert "<title>4 ★: 1</title>" in html  # the rating distribution
    assert 'aria-current="page">Last 7 days' in html
    assert "style=" not in html


async def test_stats_are_the_owners_only(client, session, settings, creator):
    gpt_id, _ = await _gpt_with_usage(session, settings, creator)
    other = await create_user(session, settings, plan="plus")
    await log_in(client, other.email)
    refused = await client.get(f"/creator/gpts/{gpt_id}/stats", headers=HTML)
    assert refused.status_code == 404 and "text/html" in refused.headers["content-type"]
    refused = await client.get(f"/creator/gpts/{gpt_id}/stats?days=0", headers=HTML)
    assert refused.status_code == 303 and refused.headers["location"] == f"/creator/gpts/{gpt_id}/stats"


async def test_reply_to_a_review_from_the_stats_page(client, session, settings, creator):
    gpt_id, rating_id = await _gpt_with_usage(session, settings, creator)
    await log_in(client, creator.email)
    token = client.cookies.get(CSRF_COOKIE)
    page = (await client.get(f"/creator/gpts/{gpt_id}/stats", headers=HTML)).text
    path = f"/g/{gpt_id}/reviews/{rating_id}/reply"
    assert f'action="{path}"' in page and "Good trips" in page
    form = {"text": "", "back": "stats", "csrf_token": token}
    empty = await client.post(path, data=form, headers=HTML)
    assert empty.status_code == 422 and f'id="e-reply-{rating_id}"' in empty.text and "Stats of" in empty.text
    done = await client.post(path, data={**form, "text": "Thanks!"}, headers=HTML)
    assert done.status_code == 303
    assert done.headers["location"] == f"/creator/gpts/{gpt_id}/stats#review-{rating_id}"
    page = (await client.get(done.headers["location"], headers=HTML)).text
    assert "Thanks!" in page and f'action="{path}"' not in page
    again = await client.post(path, data={**form, "text": "Again"}, headers=HTML)
    assert again.status_code == 409 and "already replied" in again.text and "Stats of" in again.text


def test_chart_scale_and_bars():
    assert [charts.nice_ceiling(v) for v in (0, 1, 3, 7, 10, 11, 41, 250)] == [1, 1, 5, 10, 10, 20, 50, 500]
    days = [datetime(2026, 1, d).date() for d in (1, 2, 3)]
    single = charts.stacked_bars(
        "n", "Conversations per day", ["Jan 1"], [[4]], series_names=["conversations"], series_classes=["bar"]
    )
    assert single.title == "Conversations per day" and single.columns == ["Conversations per day"]
    chart = charts.ratings_by_day(days, [[1, 0, 0, 0, 2], [0, 0, 0, 0, 0], [0, 3, 0, 0, 0]])
    assert [(b.css, b.title) for b in chart.bars] == [
        ("stars-1", "Jan 1, 1 ★: 1"),
        ("stars-5", "Jan 1, 5 ★: 2"),
        ("stars-2", "Jan 3, 2 ★: 3"),
    ]
    bottom = charts.HEIGHT - charts.BOTTOM
    first, stacked, third = chart.bars
    assert first.y + first.height == bottom and stacked.y + stacked.height == first.y  # stacked
    assert third.height == (bottom - charts.TOP) * 3 / 5  # the axis tops out at 5
    assert chart.rows[2] == ("Jan 3", [0, 3, 0, 0, 0]) and len(chart.legend) == 5
    assert chart.title == "Ratings per day, by stars"  # its own, not its last bar's ("Jan 3, 2 ★: 3")
