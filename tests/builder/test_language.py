"""A GPT's language: every tag the rule allows (ISO 639-1, optionally with a script or region) is stored
through every way in, and a wrong one is refused with the rule in words."""

from __future__ import annotations

import io
import json
import uuid
import zipfile

import pytest

# The longest forms the rule admits: language-script-region, with a numeric (UN M.49) region.
LONG_TAGS = ["zh-Hant-TW", "sr-Latn-RS", "es-Latn-419"]
RULE = (
    "must be an ISO 639-1 language code, optionally with a script or region, such as en, pt-BR or zh-Hant-TW"
)


@pytest.mark.parametrize("tag", LONG_TAGS)
async def test_a_tag_with_script_and_region_is_stored_on_create_and_patch(client, creator_headers, tag):
    created = await client.post(
        "/api/gpts", json={"name": "Polyglot", "language": tag}, headers=creator_headers
    )
    assert created.status_code == 201, created.text
    assert created.json()["language"] == tag
    gpt_id = created.json()["id"]
    cleared = await client.patch(f"/api/gpts/{gpt_id}", json={"language": None}, headers=creator_headers)
    assert cleared.json()["language"] is None
    patched = await client.patch(f"/api/gpts/{gpt_id}", json={"language": tag}, headers=creator_headers)
    assert patched.status_code == 200, patched.text
    assert (await client.get(f"/api/gpts/{gpt_id}", headers=creator_headers)).json()["language"] == tag


async def test_an_import_keeps_a_tag_with_script_and_region(client, creator_headers):
    gpt = (
        await client.post(
            "/api/gpts", json={"name": "Taipei Guide", "language": "zh-Hant-TW"}, headers=creator_headers
        )
    ).json()
    exported = await client.get(f"/api/gpts/{gpt['id']}/export", headers=creator_headers)
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(exported.content)).read("gptstore.json"))
    assert manifest["gpt"]["language"] == "zh-Hant-TW"
    imported = await client.post(
        "/api/gpts/import", files={"file": ("taipei.zip", exported.content)}, headers=creator_headers
    )
    assert imported.status_code == 201, imported.text
    assert imported.json()["language"] == "zh-Hant-TW"


@pytest.mark.parametrize("tag", ["klingon", "xx", "zz-DE", "en-Hant-TW-x", "en_US"])
async def test_a_wrong_tag_is_told_the_rule_not_the_pattern(client, creator_headers, tag):
    created = await client.post("/api/gpts", json={"language": tag}, headers=creator_headers)
    assert created.status_code == 422
    assert created.json()["errors"] == [{"field": "language", "message": RULE}]
    gpt_id = (await client.post("/api/gpts", headers=creator_headers)).json()["id"]
    patched = await client.patch(f"/api/gpts/{gpt_id}", json={"language": tag}, headers=creator_headers)
    assert patched.status_code == 422
    assert patched.json()["errors"] == [{"field": "language", "message": RULE}]
    assert len(patched.text) < 500


@pytest.mark.parametrize(
    ("tag", "config"),
    [
        ("pt-BR", "portuguese"),
        ("sr-Latn-RS", "serbian"),
        ("DE-at", "german"),
        ("en", "english"),
        ("is-IS", "simple"),
    ],
)
async def test_keyword_search_reads_the_language_of_a_tag_with_region(
    client, creator_headers, session, tag, config
):
    """The full-text configuration follows the tag's language (its first subtag): `pt-BR` stems as
    Portuguese, on create and on a change of language."""
    from retrieval.models import Dataset

    created = (
        await client.post("/api/gpts", json={"name": "G", "language": tag}, headers=creator_headers)
    ).json()
    home = await session.get(Dataset, uuid.UUID(created["id"]))
    assert home.text_search_config == config
    other = (await client.post("/api/gpts", json={"name": "H"}, headers=creator_headers)).json()
    await client.patch(f"/api/gpts/{other['id']}", json={"language": tag}, headers=creator_headers)
    home = await session.get(Dataset, uuid.UUID(other["id"]), populate_existing=True)
    assert home.text_search_config == config
