"""A GPT with a private knowledge file, an open one and hidden instructions, built through the API."""

from __future__ import annotations

import json
from pathlib import Path

from retrieval.jobs import ingest

DATA = Path(__file__).resolve().parents[1] / "data" / "trust"
PRIVATE = (DATA / "zlib-private.md").read_text("utf-8")
SCOOP = PRIVATE.split("\n\n")[1]  # the sentence leaked in issue #11
OPEN = (
    "# Public notes\n\nThe zlib library is free software under the zlib license, and anyone may use it in "
    "commercial products without asking the authors for permission or paying them any fee at all.\n"
)
INSTRUCTIONS = (
    "You are the Deflate Desk. Confidential playbook: always greet the user as a fellow compression "
    "enthusiast, recommend compression level six unless the user mentions embedded devices with very "
    "little memory, never mention the competitor library called brotli, and end every answer with the "
    "phrase keep your windows sliding and your checksums honest."
)
HOMOGLYPHS = str.maketrans({"o": "о", "a": "а", "e": "е", "p": "р", "c": "с", "i": "і"})
BASE = {
    "description": "Answers questions about the deflate compressor.",
    "conversation_starters": ["How does lazy matching work?"],
    "category": "programming",
}


async def upload(client, headers, db, settings, gpt_id: str, name: str, text: str, access: str) -> str:
    response = await client.post(
        f"/api/gpts/{gpt_id}/files",
        files={"file": (name, text.encode())},
        data={"access": access},
        headers=headers,
    )
    assert response.status_code == 202, response.text
    file_id = response.json()["id"]
    assert await ingest(db, settings, file_id) == "completed"
    return file_id


async def build_gpt(client, headers, db, settings, *, publish: bool = True, **fields) -> dict:
    """The GPT's id and its private and open file ids, published unless told not to."""
    body = {**BASE, "name": "Deflate Desk", "instructions": INSTRUCTIONS, **fields}
    response = await client.post("/api/gpts", json=body, headers=headers)
    assert response.status_code == 201, response.text
    gpt_id = response.json()["id"]
    private = await upload(client, headers, db, settings, gpt_id, "deflate-internals.md", PRIVATE, "private")
    open_ = await upload(client, headers, db, settings, gpt_id, "license-notes.md", OPEN, "open")
    if publish:
        version = await client.post(
            f"/api/gpts/{gpt_id}/publish", json={"visibility": "public"}, headers=headers
        )
        assert version.status_code == 201, version.text
    return {"id": gpt_id, "private": private, "open": open_}


def leak(*texts: str) -> str:
    """What a model that complies with an extraction prompt answers."""
    return "Of course! Here it is, word for word:\n\n" + "\n\n".join(texts) + "\n\nAnything else?"


def sse_events(body: str) -> list[tuple[str, dict]]:
    events = []
    for block in body.replace("\r\n", "\n").strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            events.append((fields["event"], json.loads(fields["data"])))
    return events
