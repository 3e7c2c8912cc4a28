"""A page asked for with a query parameter it refuses (a stale "More" link, a sort or category that is no
more, a link edited by hand) goes to the same page without it, never a bare 422 page."""

from __future__ import annotations

from tests.store.factories import create_published_gpt
from tests.web.test_pages import HTML


async def test_refused_query_parameters_are_dropped_not_a_dead_end(client, session, creator):
    listing = await create_published_gpt(session, creator, name="Fjord Guide")
    cases = {
        "/search?q=fjord&sort=top_rated": "/search?q=fjord",
        "/search?category=no-such-category&sort=new": "/search?sort=new",
        "/search?q=fjord&cursor=garbage": "/search?q=fjord",
        "/search?q=a%00b&sort=new": "/search?sort=new",
        "/datasets?sort=bogus&q=maps": "/datasets?q=maps",
        f"/g/{listing.gpt_id}?reviews_cursor=garbage": f"/g/{listing.gpt_id}",
    }
    for asked, target in cases.items():
        response = await client.get(asked, headers=HTML)
        assert response.status_code == 303, (asked, response.text[:300])
        assert response.headers["location"] == target
        assert (await client.get(target, headers=HTML)).status_code == 200

    # The API keeps its 422 naming the field, and a page refused for another reason keeps its error page.
    api = await client.get("/api/store/gpts?sort=top_rated")
    assert api.status_code == 422 and api.json()["errors"][0]["field"] == "sort"
    assert (await client.get("/g/not-a-gpt", headers=HTML)).status_code == 404

    # A path asked for with a doubled slash redirects on this site: `//search` as a Location would send the
    # browser to a host named "search" (a protocol-relative URL).
    doubled = await client.get(f"{client.base_url}//search?q=fjord&sort=top_rated", headers=HTML)
    assert doubled.status_code == 303 and doubled.headers["location"] == "/search?q=fjord"
