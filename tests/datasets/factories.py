"""Datasets written through the models and `KnowledgeService` (the dataset CRUD API lives elsewhere), and
GPTs that use them, published through the API."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.models import User
from core.settings import Settings
from retrieval.jobs import ingest
from retrieval.models import Dataset, GptDataset
from retrieval.service import KnowledgeService


async def content(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def create_dataset(
    session: AsyncSession,
    settings: Settings,
    owner: User,
    *,
    files: dict[str, str] | None = None,
    db: Any = None,
    **fields: Any,
) -> Dataset:
    """A dataset (open under CC-BY-4.0 unless told otherwise) with `files` ({filename: text}); they are
    ingested when `db` is given, else marked completed with one chunk each (enough for the directory)."""
    values: dict[str, Any] = {
        "name": "Fjord ferry timetables",
        "description": "Departures of Norwegian fjord ferries.",
        "access": "open",
        "license": "CC-BY-4.0",
    }
    values.update(fields)
    dataset = Dataset(owner_id=owner.id, **values)
    session.add(dataset)
    await session.flush()
    knowledge = KnowledgeService(session, settings)
    added = []
    for name, text in (files or {}).items():
        row = await knowledge.add_file(
            dataset, name, content(text.encode()), access=dataset.access, license=dataset.license
        )
        added.append(row)
        if db is None:
            row.status, row.chunk_count, row.chunks_done, row.chunks_total = "completed", 1, 1, 1
    await session.flush()
    await session.commit()
    if db is not None:
        for row in added:
            assert await ingest(db, settings, str(row.id)) == "completed"
    await session.refresh(dataset)
    return dataset


async def create_gpt_using(
    client, headers: dict[str, str], session: AsyncSession, datasets: list[Dataset], **fields: Any
) -> str:
    """A GPT that attaches `datasets`, published publicly (listed) unless `publish=False`."""
    publish = fields.pop("publish", True)
    body = {
        "name": "Ferry Planner",
        "description": "Plans trips across the fjords.",
        "instructions": "Answer from the timetables.",
        "category": "lifestyle",
        "conversation_starters": ["When does the first ferry leave?"],
        **fields,
    }
    response = await client.post("/api/gpts", json=body, headers=headers)
    assert response.status_code == 201, response.text
    gpt_id = response.json()["id"]
    for dataset in datasets:
        session.add(GptDataset(gpt_id=uuid.UUID(gpt_id), dataset_id=dataset.id))
    await session.commit()
    if publish:
        body = {"visibility": "public"}
        version = await client.post(f"/api/gpts/{gpt_id}/publish", json=body, headers=headers)
        assert version.status_code == 201, version.text
    return gpt_id
