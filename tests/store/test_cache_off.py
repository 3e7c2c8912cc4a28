"""`GPTSTORE_CACHE_TTL_SECONDS=0` turns the store page cache off: pages are computed on every request."""

from __future__ import annotations

from core.app import create_app
from tests.asgi import app_client
from tests.store.factories import create_published_gpt


async def test_a_zero_ttl_serves_every_store_page_fresh(settings, db, redis, session, creator):
    app = create_app(settings.model_copy(update={"cache_ttl_seconds": 0}), db=db, redis=redis)
    async with app_client(app) as client:
        first = await client.get("/api/store/gpts")
        assert first.status_code == 200, first.text
        listing = await create_published_gpt(session, creator, name="Harbour Guide")
        await session.commit()
        page = await client.get(f"/api/store/gpts/{listing.gpt_id}")
        assert page.status_code == 200, page.text
        again = await client.get("/api/store/gpts")
        assert again.status_code == 200
        assert [g["name"] for g in again.json()["data"]] == ["Harbour Guide"]
    assert await redis.keys("gptstore:cache:*:*:*") == []  # nothing stored (generations aside)
