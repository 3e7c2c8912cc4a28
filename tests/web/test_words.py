"""Counts and sizes as pages write them: the right plural, and no "0 KB" for a small file."""

from __future__ import annotations

import pytest

from core.text import counted
from tests.store.factories import create_published_gpt
from tests.web.test_pages import HTML
from web.templates import kilobytes


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (0, "0 bytes"),
        (1, "1 byte"),
        (700, "700 bytes"),
        (1536, "1.5 KB"),
        (12 * 1024, "12 KB"),
        (int(3.4 * 1024 * 1024), "3.4 MB"),
    ],
)
def test_sizes_for_people(size, shown):
    assert kilobytes(size) == shown


def test_a_rounded_label_takes_the_plural_of_its_count():
    assert counted(1, "conversation", "1") == "1 conversation"
    assert counted(1_250, "conversation", "1K+") == "1K+ conversations"
    assert counted(0, "conversation") == "0 conversations"


@pytest.mark.parametrize(
    ("conversations", "words"), [(1, "1 conversation ·"), (2_400, "2K+ conversations ·")]
)
async def test_the_gpt_page_and_its_card_count_conversations_in_words(
    client, session, creator, conversations, words
):
    listing = await create_published_gpt(session, creator, name="Fjord Guide", conversations=conversations)
    page = (await client.get(f"/g/{listing.gpt_id}", headers=HTML)).text
    assert words in " ".join(page.split())
    card = (await client.get("/search?q=Fjord", headers=HTML)).text
    assert words.removesuffix(" ·") in " ".join(card.split())
