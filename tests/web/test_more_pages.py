"""Lists past one page (chats, API keys, drafts) go on with "More" through the API's cursors."""

from __future__ import annotations

import re

import pytest

from builder.models import Gpt
from core.auth import AccountService
from store.models import Conversation
from tests.store.factories import create_published_gpt
from tests.web.test_pages import HTML, log_in

PAGE = 50


async def _conversations(session, settings, user):
    listing = await create_published_gpt(session, user)
    for n in range(PAGE + 3):
        session.add(Conversation(user_id=user.id, gpt_id=listing.gpt_id, version=1, title=f"Chat {n:02d}"))


async def _keys(session, settings, user):
    for n in range(PAGE + 3):
        await AccountService(session, settings).create_api_key(user, f"Key {n:02d}")


async def _drafts(session, settings, user):
    for n in range(PAGE + 3):
        session.add(Gpt(owner_id=user.id, name=f"Draft {n:02d}"))


@pytest.mark.parametrize(
    ("fill", "path", "item", "more"),
    [
        (_conversations, "/chats", r"Chat \d\d", "More chats"),
        (_keys, "/account", r"<strong>Key \d\d</strong>", "More keys"),
        (_drafts, "/builder", r"Draft \d\d", "More GPTs"),
    ],
)
async def test_more_follows_the_cursor_to_every_item(
    client, session, settings, creator, fill, path, item, more
):
    await fill(session, settings, creator)
    await session.commit()
    await log_in(client, creator.email)
    first = await client.get(path, headers=HTML)
    seen = re.findall(item, first.text)
    assert len(seen) == PAGE and more in first.text
    link = re.search(rf'href="([^"#]+)[^"]*" hx-get=[^\n]*>{more}</a>', first.text).group(1)
    second = await client.get(link.replace("&amp;", "&"), headers=HTML)
    rest = re.findall(item, second.text)
    assert len(rest) == 3 and more not in second.text
    assert len(set(seen + rest)) == PAGE + 3  # every item once
    name = "keys_cursor" if path == "/account" else "cursor"
    stale = await client.get(f"{path}?{name}=%25%25", headers=HTML)  # a cursor it never gave: page one
    assert stale.status_code == 303 and stale.headers["location"] == path
