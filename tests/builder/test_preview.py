"""Preview answers from real ingested knowledge and cites the file that holds the fact."""

import uuid

from retrieval.jobs import ingest
from tests.fake_openai import text

KAYAKS = (
    "# Rentals\n\n## Gudvangen\n\nKayak rentals in Gudvangen open at 9 am and cost 600 NOK for half a day.\n"
)
FERRIES = "# Ferries\n\nThe Geirangerfjord ferry runs from May to September, four times a day.\n"


async def gpt_with_knowledge(client, headers, db, settings, access="open") -> str:
    gpt_id = (await client.post("/api/gpts", json={"name": "Fjord Guide"}, headers=headers)).json()["id"]
    for name, content in (("kayaks.md", KAYAKS), ("ferries.md", FERRIES)):
        url = f"/api/gpts/{gpt_id}/files"
        upload = {"file": (name, content.encode())}
        file = (await client.post(url, files=upload, data={"access": access}, headers=headers)).json()
        assert await ingest(db, settings, uuid.UUID(file["id"])) == "completed"
    return gpt_id


async def test_offline_preview_answers_extractively_with_citations(client, creator_headers, db, settings):
    gpt_id = await gpt_with_knowledge(client, creator_headers, db, settings)
    response = await client.post(
        f"/api/gpts/{gpt_id}/preview/messages",
        json={"content": "How much is a kayak?"},
        headers=creator_headers,
    )
    assert response.status_code == 200, response.text
    message = response.json()["message"]
    assert "600 NOK" in message["content"]
    assert "No language model" in message["content"]
    assert message["citations"][0]["filename"] == "kayaks.md"
    assert message["citations"][0]["heading"] == "Rentals > Gudvangen"


async def test_llm_preview_gets_sources_and_cites_what_it_used(
    llm_client, creator_headers, db, llm_settings, fake_openai
):
    gpt_id = await gpt_with_knowledge(llm_client, creator_headers, db, llm_settings)
    await llm_client.patch(
        f"/api/gpts/{gpt_id}", json={"instructions": "Be brief.", "language": "de"}, headers=creator_headers
    )
    fake_openai.script(text("Ein Kajak kostet 600 NOK für einen halben Tag [1]."))
    response = await llm_client.post(
        f"/api/gpts/{gpt_id}/preview/messages",
        json={"content": "What does a kayak cost?"},
        headers=creator_headers,
    )
    body = response.json()
    assert body["message"]["content"].startswith("Ein Kajak")
    assert [c["filename"] for c in body["message"]["citations"]] == ["kayaks.md"]
    assert "600 NOK" in body["message"]["citations"][0]["quote"]
    system = fake_openai.chat_requests[0]["messages"][0]["content"]
    assert "Be brief." in system and "Always answer in German." in system
    assert "[1]" in system and "600 NOK" in system

    fake_openai.script(text("Von Mai bis September."))
    follow_up = await llm_client.post(
        f"/api/gpts/{gpt_id}/preview/messages",
        json={"content": "And the ferry?", "conversation_id": body["conversation_id"]},
        headers=creator_headers,
    )
    assert follow_up.json()["conversation_id"] == body["conversation_id"]
    sent = fake_openai.chat_requests[-1]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert follow_up.json()["message"]["citations"] == []


async def test_a_list_of_source_numbers_cites_each_source(
    llm_client, creator_headers, db, llm_settings, fake_openai
):
    """`[1, 2]`, as models write for a sentence resting on two sources, cites both: it used to cite
    neither (only a lone `[n]` was read)."""
    gpt_id = await gpt_with_knowledge(llm_client, creator_headers, db, llm_settings)
    fake_openai.script(text("Kayaks cost 600 NOK and the ferry runs from May [1, 2]. Both open early [2;1]."))
    response = await llm_client.post(
        f"/api/gpts/{gpt_id}/preview/messages",
        json={"content": "What does a kayak cost and when does the ferry run?"},
        headers=creator_headers,
    )
    assert response.status_code == 200, response.text
    cited = [c["filename"] for c in response.json()["message"]["citations"]]
    assert sorted(cited) == ["ferries.md", "kayaks.md"]  # each once


async def test_private_files_are_cited_without_quotes(client, creator_headers, db, settings):
    gpt_id = await gpt_with_knowledge(client, creator_headers, db, settings, access="private")
    response = await client.post(
        f"/api/gpts/{gpt_id}/preview/messages", json={"content": "kayak price"}, headers=creator_headers
    )
    citation = response.json()["message"]["citations"][0]
    assert citation["filename"] == "kayaks.md" and citation["quote"] is None
