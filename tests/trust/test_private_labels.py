"""A private file's labels (heading, file name) are private text too: bounded at ingestion and shown beside
an answer only within the verbatim limit, on every path (issue H1)."""

from __future__ import annotations

import uuid

from retrieval.parsing import parse_document
from retrieval.verbatim import longest_run, within_limit, words
from tests.factories import auth_headers, create_user
from tests.fake_openai import text
from tests.trust.helpers import build_gpt, leak, upload

LIMIT = 25
SECRET = (
    "Board minutes: the acquisition of Nimbus Robotics closes on March 3 at a price of 41 million euros and "
    "the chief financial officer will resign two weeks later after the audit committee has reviewed the "
    "final accounts of the year"
)  # 42 words
BODY = (
    f"# {SECRET}\n\nThe annex lists the board members present at the meeting on the acquisition and the "
    "votes they cast.\n"
)
QUESTION = "Nimbus Robotics acquisition board minutes annex"


def assert_label(label: str | None) -> None:
    assert label is not None
    assert longest_run(label, [SECRET]) <= LIMIT, label


async def _gpt(client, headers, db, settings) -> str:
    gpt = await build_gpt(client, headers, db, settings, publish=False)
    await upload(client, headers, db, settings, gpt["id"], "heading-private.md", BODY, "private")
    published = await client.post(
        f"/api/gpts/{gpt['id']}/publish", json={"visibility": "public"}, headers=headers
    )
    assert published.status_code == 201, published.text
    return gpt["id"]


def test_headings_are_bounded_at_ingestion() -> None:
    long_line = "# " + "lorem ipsum " * 2000 + "\n\nbody text under it\n"
    sections = parse_document(long_line.encode(), "long.md").sections
    assert sections[0].heading is not None and len(sections[0].heading) <= 160
    assert sections[0].heading.endswith("…")
    html = f"<h1>{'dolor sit ' * 500}</h1><p>Under the heading.</p>".encode()
    assert all(len(s.heading or "") <= 160 for s in parse_document(html, "a.html").sections)
    short = parse_document(b"# Prices\n\nSummer is dearer.\n", "a.md").sections
    assert short[0].heading == "Prices"


def test_within_limit_keeps_at_most_the_limits_words() -> None:
    assert within_limit("Board minutes", 25) == "Board minutes"
    cut = within_limit(SECRET, 25)
    assert cut.endswith(" …") and len(words(cut)) == 25
    assert SECRET.startswith(cut.removesuffix(" …"))


async def test_private_headings_stay_within_the_limit_on_every_path(
    client, creator_headers, creator, db, settings, session
):
    gpt = await _gpt(client, creator_headers, db, settings)
    user = auth_headers(await create_user(session, settings, plan="plus"), settings)

    conversation = (await client.post(f"/api/store/gpts/{gpt}/conversations", headers=user)).json()
    reply = await client.post(
        f"/api/conversations/{conversation['id']}/messages", json={"content": QUESTION}, headers=user
    )
    cited = [c for c in reply.json()["message"]["citations"] if c["filename"] == "heading-private.md"]
    assert cited and cited[0]["quote"] is None
    assert_label(cited[0]["heading"])
    assert cited[0]["heading"].startswith("Board minutes: the acquisition of Nimbus Robotics")

    # The owner's preview follows the answers' rule: private citations carry no quote, labels are bounded.
    preview = await client.post(
        f"/api/gpts/{gpt}/preview/messages", json={"content": QUESTION}, headers=creator_headers
    )
    for citation in preview.json()["message"]["citations"]:
        if citation["filename"] == "heading-private.md":
            assert_label(citation["heading"])

    response = await client.post(
        "/v1/responses",
        json={"model": gpt, "input": QUESTION, "include": ["file_search_call.results"]},
        headers=user,
    )
    assert response.status_code == 200, response.text
    results = [
        r for item in response.json()["output"] if item["type"] == "file_search_call" for r in item["results"]
    ]
    private = [r for r in results if r["filename"] == "heading-private.md"]
    assert private and private[0]["text"] is None
    assert_label(private[0]["attributes"]["heading"])

    completion = await client.post(
        "/v1/chat/completions",
        json={"model": gpt, "messages": [{"role": "user", "content": QUESTION}]},
        headers=user,
    )
    assert completion.status_code == 200, completion.text
    for citation in completion.json()["choices"][0]["message"].get("citations") or []:
        if citation["filename"] == "heading-private.md":
            assert_label(citation["heading"])


async def test_a_complying_model_cannot_hand_out_a_private_heading(
    llm_client, creator_headers, db, llm_settings, session, fake_openai
):
    gpt = await _gpt(llm_client, creator_headers, db, llm_settings)
    user = auth_headers(await create_user(session, llm_settings, plan="plus"), llm_settings)
    conversation = (await llm_client.post(f"/api/store/gpts/{gpt}/conversations", headers=user)).json()
    fake_openai.script(text(leak(SECRET) + " [1]"))
    reply = await llm_client.post(
        f"/api/conversations/{conversation['id']}/messages", json={"content": QUESTION}, headers=user
    )
    message = reply.json()["message"]
    assert longest_run(message["content"], [SECRET]) <= LIMIT, message["content"]
    for citation in message["citations"]:
        assert_label(citation["heading"]) if citation["heading"] else None


def test_a_private_files_name_and_heading_share_the_limit() -> None:
    """A citation shows "name · heading" side by side: together they hold at most the limit's words, so a
    file named with the words before a heading cannot show a run of twice the limit."""
    from retrieval.knowledge_search import SourcedHit
    from retrieval.search import Hit

    name, heading = " ".join(SECRET.split()[:24]), " ".join(SECRET.split()[24:60])
    hit = Hit(uuid.uuid4(), uuid.uuid4(), "", None, heading, 0.9, 1, None)
    shown_name, shown_heading = SourcedHit(hit, name, "private").labels(25)
    assert len(words(f"{shown_name} · {shown_heading or ''}".replace(" …", ""))) <= 25
    assert shown_name == name and shown_heading  # the name whole, the heading in the one word left
    long_name = SourcedHit(hit, SECRET, "private").labels(25)
    assert long_name[1] is None and len(words(long_name[0].removesuffix(" …"))) == 25
    assert SourcedHit(hit, name, "open").labels(25) == (name, heading)  # open labels stay whole
