"""Text in legacy code pages decodes to the right letters, and text is never refused as binary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retrieval.parsing import PLAIN, parse_document

DATA = Path(__file__).resolve().parents[1] / "data"
SAMPLES = json.loads((DATA / "legacy_encoding_samples.json").read_text())["samples"]
CASES = [
    pytest.param(sample["text"], codec, id=f"{sample['language']}-{codec}-{len(sample['text'])}")
    for sample in SAMPLES
    for codec in sample["codecs"]
    if codec not in sample.get("known_wrong", ())
]
ALL_CASES = [
    pytest.param(sample["text"], codec, id=f"{sample['language']}-{codec}-{len(sample['text'])}")
    for sample in SAMPLES
    for codec in sample["codecs"]
]


@pytest.mark.parametrize(
    ("name", "start"),
    [
        ("turkish-cp1254-145-bytes.txt", "Şirket çalışanları için güvenlik kılavuzu."),
        ("turkish-cp1254-270-bytes.txt", "Şirket çalışanları için ağ güvenliği kılavuzu."),
    ],
)
def test_short_turkish_cp1254_files_decode_to_turkish_letters(name: str, start: str) -> None:
    data = (DATA / name).read_bytes()
    document = parse_document(data, name)
    assert document.media_type == PLAIN
    assert document.sections[0].text.startswith(start)
    assert document.sections[0].text == data.decode("cp1254").strip()


@pytest.mark.parametrize(("text", "codec"), CASES)
def test_short_legacy_texts_decode_right(text: str, codec: str) -> None:
    assert parse_document(text.encode(codec), "note.txt").sections[0].text == text


@pytest.mark.parametrize(("text", "codec"), ALL_CASES)
def test_legacy_text_is_never_refused_as_binary(text: str, codec: str) -> None:
    # Even where the code page is guessed wrong, the file is indexed as text, with its ASCII words intact.
    decoded = parse_document(text.encode(codec), "note").sections[0].text
    assert [w for w in text.split() if w.isascii()] == [w for w in decoded.split() if w.isascii()]


def test_utf16_without_bom_and_repeated_short_text() -> None:
    text = "Zażółć gęślą jaźń. Спасибо. Ελλάδα."
    assert parse_document(text.encode("utf-16-le"), "a.txt").sections[0].text == text
    repeated = ("Öğle arası saat 12:30'da başlar. " * 40).strip()
    assert parse_document(repeated.encode("cp1254"), "a.txt").sections[0].text == repeated


async def test_uploaded_turkish_cp1254_file_is_accepted_and_searchable(client, creator_headers, db, settings):
    import uuid

    from retrieval.jobs import ingest
    from tests.retrieval.test_files import create_gpt, upload

    gpt_id = await create_gpt(client, creator_headers)
    data = (DATA / "turkish-cp1254-270-bytes.txt").read_bytes()
    response = await upload(client, creator_headers, gpt_id, "kilavuz.txt", data)
    assert response.status_code == 202, response.text
    assert await ingest(db, settings, uuid.UUID(response.json()["id"])) == "completed"
    found = await client.post(
        f"/api/gpts/{gpt_id}/search",
        json={"query": "güvenliği kılavuzu", "mode": "keyword"},
        headers=creator_headers,
    )
    assert "Şirket çalışanları için ağ güvenliği kılavuzu" in found.json()["data"][0]["text"]
