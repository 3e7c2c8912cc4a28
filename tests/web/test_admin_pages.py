"""The admin desk over httpx: admins only, and every action through the API's services with errors at the
form: the review queue, appeals, reports, the featured list, users and plans."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from store.admin import reordered
from store.models import Appeal, Listing, Report
from tests.factories import create_user
from tests.orgs.factories import create_organization
from tests.store.factories import create_published_gpt
from tests.web.test_pages import HTML, log_in
from web.session import CSRF_COOKIE

ADMIN_PAGES = [
    "/admin",
    "/admin/appeals",
    "/admin/reports",
    "/admin/featured",
    "/admin/users",
    "/admin/organizations",
]


@pytest.fixture
async def admin(session, settings):
    return await create_user(session, settings, display_name="Desk Admin", is_admin=True)


@pytest.mark.parametrize("path", ADMIN_PAGES)
async def test_the_desk_is_for_admins_only(client, creator, path):
    signed_out = await client.get(path, headers=HTML)
    assert signed_out.status_code == 303 and signed_out.headers["location"].startswith("/login?next=")
    await log_in(client, creator.email)
    refused = await client.get(path, headers=HTML)
    assert refused.status_code == 403 and "for administrators only" in refused.text
    assert "text/html" in refused.headers["content-type"]
    posted = await client.post(
        "/admin/featured", data={"csrf_token": client.cookies.get(CSRF_COOKIE), "gpt_id": "x", "move": "add"}
    )
    assert posted.status_code == 403


@pytest.mark.parametrize("path", ADMIN_PAGES)
async def test_every_desk_page_renders_for_an_admin(client, admin, path):
    await log_in(client, admin.email)
    page = await client.get(path, headers=HTML)
    assert page.status_code == 200
    assert '<nav aria-label="Admin desk"' in page.text and 'aria-current="page"' in page.text
    assert '<a href="/admin">Admin</a>' in page.text  # in the main navigation too


async def test_moderating_from_the_review_queue(client, session, admin, creator):
    listing = await create_published_gpt(session, creator, name="<b>Queued</b>")
    await log_in(client, admin.email)
    token = client.cookies.get(CSRF_COOKIE)
    queue = await client.get("/admin?status=", headers=HTML)  # the filter form's "All"
    assert "&lt;b&gt;Queued&lt;/b&gt;" in queue.text and "<b>Queued" not in queue.text
    assert (
        "Nothing published with this status"
        in (await client.get("/admin?status=rejected", headers=HTML)).text
    )
    action = f"/admin/gpts/{listing.gpt_id}/versions/1/moderate"
    assert f'action="{action}"' in queue.text
    form = {"action": "unlist", "reason": "", "csrf_token": token}
    empty = await client.post(action, data=form, headers=HTML)
    assert empty.status_code == 422
    assert f'id="e-v-{listing.gpt_id}-1"' in empty.text and "reason" in empty.text
    missing = await client.post(
        f"/admin/gpts/{listing.gpt_id}/versions/9/moderate",
        data={"action": "reject", "reason": "Spam", "csrf_token": token},
        headers=HTML,
    )
    assert missing.status_code == 404 and "No version 9" in missing.text
    done = await client.post(action, data={"action": "unlist", "reason": "Off-topic", "csrf_token": token})
    assert done.status_code == 303
    await session.refresh(listing)
    assert not listing.listed and listing.unlisted_reason == "Off-topic"
    unlisted = (await client.get("/admin", headers=HTML)).text
    assert "unlisted: Off-topic" in unlisted
    assert 'value="relist"' in unlisted and 'value="approve"' not in unlisted  # what undoes the decision
    relisted = await client.post(action, data={"action": "relist", "reason": "Fine", "csrf_token": token})
    assert relisted.status_code == 303
    await session.refresh(listing)
    assert listing.listed and listing.unlisted_reason is None
    assert 'value="relist"' not in (await client.get("/admin", headers=HTML)).text


async def test_resolving_a_report_and_an_appeal(client, session, settings, admin, creator):
    listing = await create_published_gpt(session, creator, name="Reported GPT")
    reader = await create_user(session, settings)
    report = Report(gpt_id=listing.gpt_id, user_id=reader.id, reason="spam", details="Adverts")
    session.add(report)
    await session.commit()
    await log_in(client, admin.email)
    token = client.cookies.get(CSRF_COOKIE)
    queue = await client.get("/admin/reports", headers=HTML)
    assert "Reported GPT" in queue.text and "Adverts" in queue.text
    listing.hidden_by_reports, listing.listed = True, False  # as enough reports leave it
    await session.commit()
    review = await client.get("/admin", headers=HTML)
    assert 'href="/admin/reports">hidden by reports</a>' in review.text  # the queue says why it is out
    path = f"/admin/reports/{report.id}/resolve"
    bad = await client.post(path, data={"action": "ban", "note": "", "csrf_token": token}, headers=HTML)
    assert bad.status_code == 422 and f'id="e-r-{report.id}"' in bad.text
    done = await client.post(path, data={"action": "unlist", "note": "Adverts only", "csrf_token": token})
    assert done.status_code == 303
    again = await client.post(path, data={"action": "dismiss", "note": "", "csrf_token": token}, headers=HTML)
    assert again.status_code == 409 and "already resolved" in again.text
    actioned = await client.get("/admin/reports?status=actioned", headers=HTML)
    assert "Resolution: Adverts only" in actioned.text

    appeal = Appeal(gpt_id=listing.gpt_id, user_id=creator.id, version=1, message="It is not spam")
    session.add(appeal)
    await session.commit()
    appeals = await client.get("/admin/appeals", headers=HTML)
    assert "It is not spam" in appeals.text and "Reported GPT" in appeals.text
    assert "Appealed: the unlisting: Adverts only" in appeals.text  # what the moderator takes back
    from tests.factories import auth_headers

    twin = await client.get("/api/admin/appeals", headers=auth_headers(admin, settings))
    assert twin.json()["data"][0]["appealed"] == {
        "review_status": "approved",
        "review_reasons": [],
        "unlisted_reason": "Adverts only",
        "hidden_by_reports": False,
    }
    grant = f"/admin/appeals/{appeal.id}/resolve"
    granted = await client.post(grant, data={"decision": "grant", "note": "Fine", "csrf_token": token})
    assert granted.status_code == 303
    await session.refresh(listing)
    assert listing.listed and listing.unlisted_reason is None
    twice = await client.post(grant, data={"decision": "deny", "note": "", "csrf_token": token}, headers=HTML)
    assert twice.status_code == 409 and "already decided" in twice.text


async def test_featured_add_move_and_remove(client, session, admin, creator):
    first = await create_published_gpt(session, creator, name="First")
    second = await create_published_gpt(session, creator, name="Second")
    hidden = await create_published_gpt(session, creator, name="Private", visibility="private")
    first, second, hidden = first.gpt_id, second.gpt_id, hidden.gpt_id  # the rows expire below
    await log_in(client, admin.email)
    token = client.cookies.get(CSRF_COOKIE)

    async def change(gpt_id, move, **headers):
        return await client.post(
            "/admin/featured", data={"gpt_id": gpt_id, "move": move, "csrf_token": token}, headers=headers
        )

    assert (await change(str(first), "add")).status_code == 303
    assert (await change(f"http://localhost/g/{second}", "add")).status_code == 303  # a pasted link
    page = (await client.get("/admin/featured", headers=HTML)).text
    assert page.index("First") < page.index("Second")
    assert (await change(str(second), "up")).status_code == 303
    ranks = {row.gpt_id: row.featured_rank for row in await _featured(session)}
    assert ranks == {second: 1, first: 2}
    refused = await change(str(hidden), "add", **HTML)
    assert refused.status_code == 404 and 'id="e-gpt_id"' in refused.text and "not listed" in refused.text
    sideways = await change(str(first), "sideways", **HTML)
    assert sideways.status_code == 422 and "Move must be one of:" in sideways.text
    garbage = await change("not an id", "add", **HTML)
    assert garbage.status_code == 422 and "Enter a GPT" in garbage.text
    assert (await change(str(second), "remove")).status_code == 303
    assert [row.gpt_id for row in await _featured(session)] == [first]
    store = (await client.get("/admin/featured", headers=HTML)).text
    assert "Move up<span" not in store and "Move down<span" not in store  # the only one


async def _featured(session):
    session.expire_all()
    from sqlalchemy import select

    return list(
        await session.scalars(
            select(Listing).where(Listing.featured_rank.is_not(None)).order_by(Listing.featured_rank)
        )
    )


async def test_users_search_and_plan_change(client, session, settings, admin):
    target = await create_user(session, settings, display_name="Plan Seeker", plan="free")
    await create_user(session, settings, display_name="Someone Else")
    await log_in(client, admin.email)
    token = client.cookies.get(CSRF_COOKIE)
    found = await client.get("/admin/users", params={"q": "seeker"}, headers=HTML)
    assert "Plan Seeker" in found.text and "Someone Else" not in found.text
    assert "No accounts match" in (await client.get("/admin/users?q=%25_", headers=HTML)).text
    path = f"/admin/users/{target.id}/plan"
    bad = await client.post(path, data={"plan": "gold", "q": "seeker", "csrf_token": token}, headers=HTML)
    assert bad.status_code == 422 and f'id="e-u-{target.id}"' in bad.text
    done = await client.post(path, data={"plan": "plus", "q": "seeker", "csrf_token": token})
    assert done.status_code == 303 and done.headers["location"].startswith("/admin/users?q=seeker")
    await session.refresh(target)
    assert target.plan == "plus"


async def test_organisations_search_and_plan_change(client, session, settings, admin, creator):
    """An organisation's plan (`team` lets its builders create GPTs) was settable by API and CLI only."""
    other = await create_user(session, settings, display_name="Other Owner")
    team = await create_organization(
        session,
        settings,
        creator,
        handle="fjord-tours",
        name="Fjord Tours 100%_off",
        members={"member": other},
    )
    await create_organization(session, settings, other, handle="ski-club", name="Ski Club")
    await log_in(client, admin.email)
    token = client.cookies.get(CSRF_COOKIE)
    found = await client.get("/admin/organizations", params={"q": "fjord"}, headers=HTML)
    assert "Fjord Tours" in found.text and "Ski Club" not in found.text and "2 members" in found.text
    # `%` and `_` are letters of the search, not wildcards
    assert "Fjord Tours" in (await client.get("/admin/organizations?q=100%25_", headers=HTML)).text
    assert "No organisations match" in (await client.get("/admin/organizations?q=j_r", headers=HTML)).text
    path = f"/admin/organizations/{team.id}/plan"
    bad = await client.post(path, data={"plan": "plus", "q": "fjord", "csrf_token": token}, headers=HTML)
    assert bad.status_code == 422 and f'id="e-o-{team.id}"' in bad.text and "team" in bad.text
    done = await client.post(path, data={"plan": "team", "q": "fjord", "csrf_token": token})
    assert done.status_code == 303 and done.headers["location"] == f"/admin/organizations?q=fjord#o-{team.id}"
    await session.refresh(team)
    assert team.plan == "team"
    gone = await client.post(
        f"/admin/organizations/{uuid.uuid4()}/plan", data={"plan": "team", "q": "", "csrf_token": token}
    )
    assert gone.status_code == 404
    # the JSON twin, for administrators only
    from tests.factories import auth_headers

    twin = await client.get(
        "/api/admin/organizations", params={"q": "ski"}, headers=auth_headers(admin, settings)
    )
    assert [(o["handle"], o["plan"], o["members"]) for o in twin.json()["data"]] == [("ski-club", "free", 1)]
    refused = await client.get("/api/admin/organizations", headers=auth_headers(creator, settings))
    assert refused.status_code == 403


async def test_the_api_twins_of_the_desk(client, session, settings, admin, creator):
    from tests.factories import auth_headers

    listing = await create_published_gpt(session, creator, name="Twin")
    headers = auth_headers(admin, settings)
    queue = await client.get("/api/admin/versions", params={"status": "approved"}, headers=headers)
    assert queue.status_code == 200 and queue.json()["data"][0]["gpt_id"] == str(listing.gpt_id)
    put = await client.put("/api/admin/featured", json={"gpt_ids": [str(listing.gpt_id)]}, headers=headers)
    assert put.status_code == 200
    featured = await client.get("/api/admin/featured", headers=headers)
    assert featured.json() == [{"gpt_id": str(listing.gpt_id), "name": "Twin", "rank": 1}]
    users = await client.get("/api/admin/users", params={"q": creator.email}, headers=headers)
    assert [u["id"] for u in users.json()["data"]] == [str(creator.id)]
    assert (await client.get("/api/admin/users", headers=auth_headers(creator, settings))).status_code == 403


def test_one_featured_step():
    a, b, c = (uuid.uuid4() for _ in range(3))
    assert reordered([a, b, c], c, "up") == [a, c, b]
    assert reordered([a, b, c], a, "up") == [a, b, c]  # already first
    assert reordered([a, b, c], a, "down") == [b, a, c]
    assert reordered([a, b, c], c, "down") == [a, b, c]
    assert reordered([a, b], c, "add") == [a, b, c] and reordered([a, b], a, "add") == [a, b]
    assert reordered([a, b, c], b, "remove") == [a, c] and reordered([a], c, "remove") == [a]


async def test_a_creator_appeals_an_unlisting_from_the_publish_page(client, session, settings, creator):
    """The dashboard said "unlisted by a moderator" and the web had no way to appeal: the publish page has."""
    listing = await create_published_gpt(session, creator, name="Fjord Guide")
    path = f"/builder/{listing.gpt_id}/publish"
    await log_in(client, creator.email)
    assert 'id="appeal-form"' not in (await client.get(path, headers=HTML)).text  # nothing to appeal
    listing.unlisted_reason = "Adverts only"
    listing.listed = False
    await session.commit()
    assert 'id="appeal-form"' in (await client.get(path, headers=HTML)).text

    token = client.cookies.get(CSRF_COOKIE)
    appeal = f"/builder/{listing.gpt_id}/appeal"
    blank = await client.post(appeal, data={"message": "   ", "csrf_token": token}, headers=HTML)
    assert blank.status_code == 422 and 'id="e-appeal_message"' in blank.text
    sent = await client.post(
        appeal, data={"message": "It lists fjords, no adverts", "csrf_token": token}, headers=HTML
    )
    assert sent.status_code == 303 and sent.headers["location"] == f"{path}?done=appealed#appeal"
    shown = (await client.get(f"{path}?done=appealed", headers=HTML)).text
    assert "Your appeal went to the moderators." in shown and "waits for the moderators" in shown
    assert 'id="appeal-form"' not in shown  # pending: no second form
    twice = await client.post(appeal, data={"message": "Again", "csrf_token": token}, headers=HTML)
    assert twice.status_code == 409 and "already has an open appeal" in twice.text  # a stale tab's form
    messages = (
        await session.execute(sa.select(Appeal.message).where(Appeal.gpt_id == listing.gpt_id))
    ).scalars()
    assert list(messages) == ["It lists fjords, no adverts"]


async def test_every_report_is_reachable_a_page_at_a_time(client, session, settings, admin, creator):
    from datetime import UTC, datetime, timedelta

    from tests.factories import auth_headers

    listing = await create_published_gpt(session, creator, name="Often reported")
    reader = await create_user(session, settings)
    start = datetime.now(UTC) - timedelta(days=1)
    session.add_all(
        Report(
            gpt_id=listing.gpt_id,
            user_id=reader.id,
            reason="spam",
            details=f"report {n:03}",
            status="dismissed",
            created_at=start + timedelta(seconds=n),
        )
        for n in range(55)
    )
    await session.commit()
    headers = auth_headers(admin, settings)
    first = (await client.get("/api/admin/reports?status=dismissed&limit=50", headers=headers)).json()
    assert len(first["data"]) == 50 and first["next_cursor"]
    rest = await client.get(
        "/api/admin/reports", params={"status": "dismissed", "cursor": first["next_cursor"]}, headers=headers
    )
    assert [r["details"] for r in rest.json()["data"]] == [f"report {n:03}" for n in range(50, 55)]
    assert rest.json()["next_cursor"] is None

    await log_in(client, admin.email)
    page = await client.get("/admin/reports?status=dismissed", headers=HTML)
    assert "report 049" in page.text and "report 050" not in page.text
    more = page.text.split('href="/admin/reports?status=dismissed&amp;cursor=')[1].split('"')[0]
    following = await client.get(f"/admin/reports?status=dismissed&cursor={more}", headers=HTML)
    assert "report 054" in following.text and "report 000" not in following.text
