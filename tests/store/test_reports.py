"""Reports: one open report per user, enough of them hide a GPT, admins dismiss or unlist."""

from __future__ import annotations

import pytest

from tests.factories import auth_headers, create_user
from tests.store.factories import create_published_gpt


@pytest.fixture
async def admin_headers(session, settings):
    return auth_headers(await create_user(session, settings, is_admin=True), settings)


async def _reporters(session, settings, count):
    return [auth_headers(await create_user(session, settings), settings) for _ in range(count)]


async def _listed_names(client, handle):
    return [g["name"] for g in (await client.get(f"/api/store/creators/{handle}")).json()["gpts"]]


async def test_one_open_report_per_user_and_gpt(client, session, settings, creator, creator_headers):
    listing = await create_published_gpt(session, creator)
    url = f"/api/store/gpts/{listing.gpt_id}/reports"
    [headers] = await _reporters(session, settings, 1)

    created = await client.post(url, json={"reason": "spam", "details": "Ads everywhere"}, headers=headers)
    assert created.status_code == 201
    assert (created.json()["status"], created.json()["reason"]) == ("open", "spam")
    again = await client.post(url, json={"reason": "harmful"}, headers=headers)
    assert again.status_code == 409

    assert (await client.post(url, json={"reason": "spam"})).status_code == 401
    assert (await client.post(url, json={"reason": "boring"}, headers=headers)).status_code == 422
    assert (
        await client.post(url, json={"reason": "other", "details": "x" * 2001}, headers=headers)
    ).status_code == 422
    own = await client.post(url, json={"reason": "spam"}, headers=creator_headers)
    assert own.status_code == 403


async def test_reports_reaching_the_threshold_hide_the_gpt_from_lists(
    client, session, settings, creator, admin_headers
):
    listing = await create_published_gpt(session, creator)
    url = f"/api/store/gpts/{listing.gpt_id}/reports"
    reporters = await _reporters(session, settings, settings.report_hide_threshold)
    assert await _listed_names(client, creator.handle) == ["Fjord Guide"]

    for headers in reporters[:-1]:
        assert (await client.post(url, json={"reason": "spam"}, headers=headers)).status_code == 201
    assert await _listed_names(client, creator.handle) == ["Fjord Guide"]
    assert (await client.post(url, json={"reason": "harmful"}, headers=reporters[-1])).status_code == 201
    assert await _listed_names(client, creator.handle) == []

    dashboard = (await client.get("/api/creator/gpts", headers=auth_headers(creator, settings))).json()[
        "data"
    ]
    assert (dashboard[0]["listed"], dashboard[0]["hidden_by_reports"]) == (False, True)
    queue = (await client.get("/api/admin/reports", params={"status": "open"}, headers=admin_headers)).json()
    assert len(queue["data"]) == settings.report_hide_threshold
    assert {r["open_reports"] for r in queue["data"]} == {settings.report_hide_threshold}
    assert queue["data"][0]["gpt_name"] == "Fjord Guide"
    # Hidden from lists, not gone: people with the link still reach it.
    assert (await client.get(f"/api/store/gpts/{listing.gpt_id}/reviews")).status_code == 200


async def test_only_admins_see_and_resolve_reports(client, session, settings, creator, creator_headers):
    listing = await create_published_gpt(session, creator)
    [headers] = await _reporters(session, settings, 1)
    report = (
        await client.post(
            f"/api/store/gpts/{listing.gpt_id}/reports", json={"reason": "spam"}, headers=headers
        )
    ).json()
    for caller in (headers, creator_headers):
        assert (await client.get("/api/admin/reports", headers=caller)).status_code == 403
        resolve = await client.post(
            f"/api/admin/reports/{report['id']}/resolve", json={"action": "dismiss"}, headers=caller
        )
        assert resolve.status_code == 403


async def test_dismissing_below_the_threshold_lists_the_gpt_again(
    client, session, settings, creator, admin_headers
):
    listing = await create_published_gpt(session, creator)
    url = f"/api/store/gpts/{listing.gpt_id}/reports"
    reporters = await _reporters(session, settings, settings.report_hide_threshold)
    reports = [(await client.post(url, json={"reason": "spam"}, headers=h)).json() for h in reporters]
    assert await _listed_names(client, creator.handle) == []

    resolve = f"/api/admin/reports/{reports[0]['id']}/resolve"
    dismissed = await client.post(
        resolve, json={"action": "dismiss", "note": "Not spam"}, headers=admin_headers
    )
    assert dismissed.status_code == 200
    assert (dismissed.json()["status"], dismissed.json()["note"]) == ("dismissed", "Not spam")
    assert dismissed.json()["open_reports"] == settings.report_hide_threshold - 1
    assert await _listed_names(client, creator.handle) == ["Fjord Guide"]
    assert (await client.post(resolve, json={"action": "dismiss"}, headers=admin_headers)).status_code == 409

    # A dismissed report no longer blocks its author from reporting again.
    assert (await client.post(url, json={"reason": "other"}, headers=reporters[0])).status_code == 201
    assert await _listed_names(client, creator.handle) == []
    queue = (
        await client.get("/api/admin/reports", params={"status": "dismissed"}, headers=admin_headers)
    ).json()
    assert [r["id"] for r in queue["data"]] == [reports[0]["id"]]


async def test_unlisting_actions_every_open_report(client, session, settings, creator, admin_headers):
    listing = await create_published_gpt(session, creator)
    url = f"/api/store/gpts/{listing.gpt_id}/reports"
    reports = [
        (await client.post(url, json={"reason": "copyright"}, headers=h)).json()
        for h in await _reporters(session, settings, 2)
    ]
    unlisted = await client.post(
        f"/api/admin/reports/{reports[1]['id']}/resolve",
        json={"action": "unlist", "note": "Copies a paid course"},
        headers=admin_headers,
    )
    assert unlisted.status_code == 200
    assert (unlisted.json()["status"], unlisted.json()["open_reports"]) == ("actioned", 0)

    everything = (await client.get("/api/admin/reports", headers=admin_headers)).json()["data"]
    assert {r["id"]: r["status"] for r in everything} == {r["id"]: "actioned" for r in reports}
    assert await _listed_names(client, creator.handle) == []
    dashboard = (await client.get("/api/creator/gpts", headers=auth_headers(creator, settings))).json()[
        "data"
    ]
    assert (dashboard[0]["listed"], dashboard[0]["unlisted_reason"]) == (False, "Copies a paid course")


async def test_a_moderators_unlisting_shows_its_reason_not_hidden_by_reports(
    client, session, settings, creator, admin_headers
):
    """Reports hide a GPT until an admin decides; once a moderator unlists it, the creator reads why."""
    from tests.web.test_pages import HTML, log_in

    listing = await create_published_gpt(session, creator)
    url = f"/api/store/gpts/{listing.gpt_id}/reports"
    reports = [
        (await client.post(url, json={"reason": "spam"}, headers=h)).json()
        for h in await _reporters(session, settings, settings.report_hide_threshold)
    ]
    creator_headers = auth_headers(creator, settings)
    hidden = (await client.get("/api/creator/gpts", headers=creator_headers)).json()["data"][0]
    assert hidden["hidden_by_reports"]
    unlisted = await client.post(
        f"/api/admin/reports/{reports[0]['id']}/resolve",
        json={"action": "unlist", "note": "Links to a scam shop"},
        headers=admin_headers,
    )
    assert unlisted.status_code == 200
    row = (await client.get("/api/creator/gpts", headers=creator_headers)).json()["data"][0]
    assert (row["listed"], row["hidden_by_reports"], row["unlisted_reason"]) == (
        False,
        False,
        "Links to a scam shop",
    )
    await log_in(client, creator.email)
    page = await client.get("/creator", headers=HTML)
    assert "unlisted: Links to a scam shop" in page.text and "hidden by reports" not in page.text
