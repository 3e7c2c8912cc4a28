"""What a published version answers from: the datasets a GPT draft uses, the files a publish pins, and
the files a published version reads (pinned, or its followed datasets' current ones).

A part of `retrieval.service.KnowledgeService` (a mixin over its session); callers use it through that
class.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from retrieval.dataset_access import same_owner
from retrieval.models import Dataset, GptDataset, KnowledgeFile

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession


class PublishedFiles:
    """`KnowledgeService`'s datasets of a draft and files of a version."""

    session: AsyncSession

    async def attached_datasets(self, gpt_id: uuid.UUID) -> list[tuple[Dataset, bool]]:
        """The datasets a GPT draft uses, home first, each with its `follow_latest` choice."""
        return (await self.attached_datasets_of([gpt_id]))[gpt_id]

    async def attached_datasets_of(
        self, gpt_ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, list[tuple[Dataset, bool]]]:
        """`attached_datasets` of many drafts in one statement (a list page): `{gpt_id: [...]}`, every
        asked id present."""
        if not gpt_ids:
            return {}
        rows = (
            await self.session.execute(
                sa.select(GptDataset.gpt_id, Dataset, GptDataset.follow_latest)
                .join(GptDataset, GptDataset.dataset_id == Dataset.id)
                .where(GptDataset.gpt_id.in_(gpt_ids))
                .order_by(
                    GptDataset.gpt_id,
                    (Dataset.id == GptDataset.gpt_id).desc(),
                    GptDataset.created_at,
                    Dataset.id,
                )
            )
        ).all()
        attached: dict[uuid.UUID, list[tuple[Dataset, bool]]] = {gpt_id: [] for gpt_id in gpt_ids}
        for gpt_id, dataset, follow in rows:
            attached[gpt_id].append((dataset, follow))
        return attached

    async def pin_files(self, gpt_id: uuid.UUID) -> tuple[list[uuid.UUID], list[dict[str, Any]]]:
        """What a version publishes: the completed files of the datasets the draft uses (marked as used by a
        published version, so deleting them from a dataset only detaches them), and the datasets
        `[{"id", "version", "follow_latest"}]`. Files of "follow latest" datasets are not listed: the
        version reads those datasets' current files (`version_file_ids`)."""
        # A dataset being deleted waits for this publish (then refuses: the version uses it), or this
        # publish waits for the deletion and no longer finds it attached.
        await self.session.execute(
            sa.select(Dataset.id)
            .where(Dataset.id.in_(sa.select(GptDataset.dataset_id).where(GptDataset.gpt_id == gpt_id)))
            .with_for_update(key_share=True)
        )
        attached = await self.attached_datasets(gpt_id)
        pinned = [dataset.id for dataset, follow in attached if not follow]
        rows = []
        if pinned:
            rows = list(
                await self.session.scalars(
                    sa.select(KnowledgeFile).where(
                        KnowledgeFile.dataset_id.in_(pinned),
                        KnowledgeFile.detached_at.is_(None),
                        KnowledgeFile.status == "completed",
                    )
                )
            )
        for row in rows:
            row.pinned = True
        await self.session.flush()
        datasets = [
            {"id": str(dataset.id), "version": dataset.version, "follow_latest": follow}
            for dataset, follow in attached
        ]
        return [row.id for row in rows], datasets

    async def version_file_ids(
        self, file_ids: Iterable[str], datasets: Iterable[dict[str, Any]]
    ) -> list[uuid.UUID]:
        """The files a published version answers from: those it pinned, plus the current completed files
        of the datasets it follows (`follow_latest`)."""
        ids = [uuid.UUID(str(f)) for f in file_ids]
        follow = [uuid.UUID(d["id"]) for d in datasets if d.get("follow_latest")]
        if follow:
            ids += list(
                await self.session.scalars(
                    sa.select(KnowledgeFile.id).where(
                        KnowledgeFile.dataset_id.in_(follow),
                        KnowledgeFile.detached_at.is_(None),
                        KnowledgeFile.status == "completed",
                    )
                )
            )
        return list(dict.fromkeys(ids))

    async def answering_files(
        self,
        file_ids: Iterable[str],
        datasets: Iterable[dict[str, Any]],
        owner_id: uuid.UUID,
        organization_id: uuid.UUID | None,
    ) -> list[KnowledgeFile]:
        """The files a published version of a GPT (its `owner_id`, `organization_id`) answers from, as
        rows (`version_file_ids`), less the withdrawn (`not_withdrawn`)."""
        rows = await self.files_by_ids(await self.version_file_ids(file_ids, datasets))
        return await self.not_withdrawn(rows, owner_id, organization_id)

    async def not_withdrawn(
        self, rows: list[KnowledgeFile], owner_id: uuid.UUID, organization_id: uuid.UUID | None
    ) -> list[KnowledgeFile]:
        """`rows` a GPT of `owner_id` / `organization_id` may still use: a file its dataset's owner deleted
        stops answering in other owners' GPTs, pinned or not, as a dataset made private does; the owner's
        own versions keep their copy (`retrieval.knowledge_search`, docs/data-library.md)."""
        if not any(row.detached_at is not None for row in rows):
            return rows
        organizations = await self.session.execute(
            sa.select(Dataset.id, Dataset.organization_id).where(Dataset.id.in_({r.dataset_id for r in rows}))
        )
        owners = {dataset_id: organization for dataset_id, organization in organizations}
        return [
            row
            for row in rows
            if row.detached_at is None
            or same_owner(owner_id, organization_id, row.owner_id, owners.get(row.dataset_id))
        ]

    async def files_by_ids(self, file_ids: Iterable[uuid.UUID]) -> list[KnowledgeFile]:
        ids = list(file_ids)
        if not ids:
            return []
        rows = await self.session.scalars(
            sa.select(KnowledgeFile).where(KnowledgeFile.id.in_(ids)).order_by(KnowledgeFile.created_at)
        )
        return list(rows)
