"""Datasets on their own (create, list, change, delete) and the datasets a GPT draft uses.

Files of a dataset go through `KnowledgeService` (add_file, list_files, delete_file, search) exactly like a
GPT's home dataset. Who may do what is asked of `retrieval.dataset_access` only. Services never commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import sqlalchemy as sa
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from core import cache
from core.concurrency import serialize, unique_or_conflict
from core.db import utcnow
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.models import User
from core.pagination import keyset_page
from core.settings import Settings
from orgs import access
from retrieval.dataset_access import can_attach, can_view, require_edit, same_owner_sql
from retrieval.dataset_schemas import AttachedDatasetRead, DatasetCreate, DatasetRead, DatasetUpdate
from retrieval.licenses import license_name
from retrieval.models import Dataset, GptDataset, KnowledgeFile
from retrieval.service import KnowledgeService


def _no_dataset() -> NotFound:
    return NotFound("No such dataset")


def _check_licensed(access: str, license: str | None) -> None:
    if access == "open" and not license:
        raise Invalid("An open dataset needs a license (an SPDX id such as CC-BY-4.0)", field="license")


class DatasetService:
    """`redis`: the store's page cache, whose pages of GPTs using a dataset are dropped when its access or
    license changes or it is deleted (a file made private must not stay listed for the cache's minute)."""

    def __init__(self, session: AsyncSession, settings: Settings, redis: Redis | None = None):
        self.session = session
        self.settings = settings
        self.redis = redis
        self.knowledge = KnowledgeService(session, settings)

    # Datasets -------------------------------------------------------------------------------------------

    async def create(self, owner: User, data: DatasetCreate) -> Dataset:
        """A new, empty dataset owned by `owner`, or by the organisation `data.organization_id` when `owner`
        is one of its builders (404 to a non-member, 403 to a lower role); its files count against the
        creator's storage quota."""
        _check_licensed(data.access, data.license)
        if data.organization_id is not None:
            await self._check_organization_editor(owner, data.organization_id)
        dataset = Dataset(
            owner_id=owner.id,
            organization_id=data.organization_id,
            name=data.name,
            description=data.description or "",
            access=data.access,
            license=data.license,
            attribution=data.attribution or None,
        )
        self.session.add(dataset)
        await self.session.flush()
        return dataset

    async def _check_organization_editor(self, user: User, organization_id: uuid.UUID) -> None:
        role = await access.role_in(self.session, user, organization_id)
        if role is None and not user.is_admin:
            raise NotFound(
                "No such organisation", errors=[{"field": "organization_id", "message": "not found"}]
            )
        if not user.is_admin and not access.allows(role, "edit"):
            needed = access.needed_role("edit")
            raise Forbidden(
                f"Creating the organisation's datasets needs the role '{needed}' or higher; yours: '{role}'",
                required_role=needed,
            )

    async def list_owned(
        self, owner: User, limit: int, cursor: str | None, *, include_home: bool = True
    ) -> tuple[list[Dataset], str | None]:
        """One page of the datasets `owner` may edit (their own and their organisations'), last changed
        first (GPTs' home datasets unless excluded)."""
        query = sa.select(Dataset).where(
            access.allowed(owner, Dataset.owner_id, Dataset.organization_id, "edit")
        )
        if not include_home:
            query = query.where(Dataset.home_gpt_id.is_(None))
        return await keyset_page(
            self.session, query, Dataset.updated_at, Dataset.id, limit=limit, cursor=cursor
        )

    async def get_viewable(self, user: User | None, dataset_id: uuid.UUID) -> Dataset:
        """The dataset if `user` may see it; 404 otherwise (private datasets are not probed)."""
        dataset = await self.session.get(Dataset, dataset_id)
        if dataset is None or not await can_view(self.session, user, dataset):
            raise _no_dataset()
        return dataset

    async def get_editable(self, user: User, dataset_id: uuid.UUID, *, for_update: bool = False) -> Dataset:
        """The dataset if `user` may change it; 404 if it may not even see it, 403 if it only may see it."""
        query = sa.select(Dataset).where(Dataset.id == dataset_id)
        if for_update:
            query = query.with_for_update().execution_options(populate_existing=True)
        dataset = await self.session.scalar(query)
        if dataset is None:
            raise _no_dataset()
        await require_edit(self.session, user, dataset, doing="Changing")
        return dataset

    async def update(self, dataset: Dataset, data: DatasetUpdate) -> None:
        """Apply the sent fields; a new access or license is written to all of its files in one statement,
        since files of a dataset follow it (a GPT's home dataset keeps per-file access: 409)."""
        sent = data.model_dump(exclude_unset=True)
        if "name" in sent and sent["name"] is None:
            raise Invalid("A dataset needs a name", field="name")
        if "access" in sent and sent["access"] is None:
            raise Invalid("access must be 'open' or 'private'", field="access")
        rights = {key: sent[key] for key in ("access", "license") if key in sent}
        if dataset.home_gpt_id is not None and rights:
            field = next(iter(rights))
            raise Conflict(
                "A GPT's home dataset has access and license per file; set them when uploading",
                errors=[{"field": field, "message": "not settable on a home dataset"}],
            )
        access = rights.get("access", dataset.access)
        license = rights["license"] if "license" in rights else dataset.license
        _check_licensed(access, license)
        if "name" in sent:
            dataset.name = sent["name"]
        if "description" in sent:
            dataset.description = sent["description"] or ""
        if "attribution" in sent:
            dataset.attribution = sent["attribution"] or None
        if access == "private" and dataset.access == "open":
            await self._detach_from_others(dataset)
        if (access, license) != (dataset.access, dataset.license):
            await self._drop_store_pages(dataset.id)
            dataset.access, dataset.license = access, license
            await self.session.execute(
                sa.update(KnowledgeFile)
                .where(KnowledgeFile.dataset_id == dataset.id)
                .values(access=access, license=license, updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )
        dataset.updated_at = utcnow()
        await self.session.flush()

    async def _detach_from_others(self, dataset: Dataset) -> None:
        """A dataset made private leaves the drafts of GPTs that may not use it (other owners, other
        organisations); their published versions stop answering from it at search (`gpt_may_use`)."""
        home = aliased(Dataset)
        others = sa.select(home.id).where(home.home_gpt_id.isnot(None), ~same_owner_sql(home, dataset))
        await self.session.execute(
            sa.delete(GptDataset)
            .where(GptDataset.dataset_id == dataset.id, GptDataset.gpt_id.in_(others))
            .execution_options(synchronize_session=False)
        )

    async def delete(self, user: User, dataset_id: uuid.UUID) -> None:
        """Delete the dataset, its files, chunks and uploads; 409 for a GPT's home dataset (it goes with its
        GPT) and while a live published version uses it (unpublish or republish without it first).

        Locks in the order uploads take them (the owner's upload lock, then the dataset row), so an
        upload racing the deletion waits or finds the dataset gone (404), never a deadlock."""
        owner_id = (await self.get_editable(user, dataset_id)).owner_id
        await serialize(self.session, "knowledge", owner_id)
        dataset = await self.get_editable(user, dataset_id, for_update=True)
        if dataset.home_gpt_id is not None:
            raise Conflict(
                "This is a GPT's own dataset: it is deleted with its GPT",
                home_gpt_id=str(dataset.home_gpt_id),
            )
        # Only its owner's own published GPTs hold the deletion back (they can be unpublished or published
        # again without it); other owners' GPTs that use it (an open dataset) lose it, and are not named.
        used_by = await self.live_versions_using(dataset.id)
        home = aliased(Dataset)
        own = list(
            await self.session.scalars(
                sa.select(home.id)
                .where(home.id.in_(used_by), same_owner_sql(home, dataset))
                .order_by(home.id)
            )
        ) if used_by else []  # fmt: skip
        if own:
            raise Conflict(
                "A published GPT uses this dataset; unpublish it or publish it without this dataset first",
                gpt_ids=[str(gpt_id) for gpt_id in own],
            )
        await self._drop_store_pages(dataset.id, used_by)
        await self.knowledge.forget_blobs(dataset.id)
        await self.session.delete(dataset)
        await self.session.flush()

    async def _drop_store_pages(self, dataset_id: uuid.UUID, used_by: list[uuid.UUID] | None = None) -> None:
        """Drop the cached store pages of the GPTs whose live version uses the dataset (their file lists and
        trust summaries show its files' access). Fails (503, the change rolled back) when Redis does."""
        if self.redis is None:
            return
        used_by = await self.live_versions_using(dataset_id) if used_by is None else used_by
        if used_by:
            await cache.bump(self.redis, *(cache.gpt_scope(gpt_id) for gpt_id in used_by))

    async def live_versions_using(self, dataset_id: uuid.UUID) -> list[uuid.UUID]:
        """Ids of GPTs whose live published version was published with this dataset."""
        rows = await self.session.scalars(
            sa.text(
                "SELECT v.gpt_id FROM gpt_version v JOIN listing l"
                " ON l.gpt_id = v.gpt_id AND l.live_version = v.number"
                " WHERE v.datasets @> jsonb_build_array(jsonb_build_object('id', CAST(:id AS text)))"
            ),
            {"id": str(dataset_id)},
        )
        return list(rows)

    async def read_all(self, datasets: Iterable[Dataset]) -> list[DatasetRead]:
        """`DatasetRead`s with file counts and sizes of all of them from one query."""
        datasets = list(datasets)
        sizes: dict[uuid.UUID, tuple[int, int]] = {}
        if datasets:
            rows = await self.session.execute(
                sa.select(
                    KnowledgeFile.dataset_id,
                    sa.func.count(),
                    sa.func.coalesce(sa.func.sum(KnowledgeFile.bytes), 0),
                )
                .where(
                    KnowledgeFile.dataset_id.in_([d.id for d in datasets]),
                    KnowledgeFile.detached_at.is_(None),
                )
                .group_by(KnowledgeFile.dataset_id)
            )
            sizes = {row[0]: (row[1], int(row[2])) for row in rows}
        return [_read(d, *sizes.get(d.id, (0, 0))) for d in datasets]

    async def read(self, dataset: Dataset) -> DatasetRead:
        return (await self.read_all([dataset]))[0]

    # The datasets a GPT uses ----------------------------------------------------------------------------

    async def gpt_home(self, user: User, gpt_id: uuid.UUID) -> Dataset:
        """The home dataset of a GPT `user` may edit (its datasets are part of the draft); 404 if they may not
        see the draft, 403 for an organisation's member below builder (`orgs.access`)."""
        home = await self.session.get(Dataset, gpt_id)
        if home is None or home.home_gpt_id != gpt_id:
            raise NotFound("No such GPT")
        await access.require(
            self.session, user, home.owner_id, home.organization_id, "edit", not_found="No such GPT"
        )
        return home

    async def attached(self, gpt_id: uuid.UUID) -> list[AttachedDatasetRead]:
        """The datasets a GPT draft uses, its home dataset first."""
        return (await self.attached_of([gpt_id]))[gpt_id]

    async def attached_of(self, gpt_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[AttachedDatasetRead]]:
        """`attached` for every GPT of a list, in one statement."""
        return {
            gpt_id: [
                AttachedDatasetRead(
                    id=d.id,
                    name=d.name,
                    access=d.access,
                    license=d.license,
                    version=d.version,
                    follow_latest=follow,
                    home=d.id == gpt_id,
                )
                for d, follow in rows
            ]
            for gpt_id, rows in (await self.knowledge.attached_datasets_of(gpt_ids)).items()
        }

    async def attach(self, user: User, home: Dataset, dataset_id: uuid.UUID, follow_latest: bool) -> None:
        """Let the GPT use a dataset: any open one, its owner's and its organisation's; others are 404
        (nothing changes); 409 if it already uses it. Nothing is copied or ingested again."""
        # KEY SHARE: a deletion of the dataset waits for this attachment, or this finds it gone (a 404).
        dataset = await self.session.scalar(
            sa.select(Dataset).where(Dataset.id == dataset_id).with_for_update(key_share=True)
        )
        if dataset is None or not await can_attach(self.session, user, home, dataset):
            raise NotFound("No such dataset", errors=[{"field": "dataset_id", "message": "no such dataset"}])
        await self._check_not_attached(home, dataset_id)
        async with unique_or_conflict(self.session, lambda: self._check_not_attached(home, dataset_id)):
            self.session.add(GptDataset(gpt_id=home.id, dataset_id=dataset_id, follow_latest=follow_latest))

    async def _check_not_attached(self, home: Dataset, dataset_id: uuid.UUID) -> None:
        exists = await self.session.scalar(
            sa.select(GptDataset.gpt_id).where(
                GptDataset.gpt_id == home.id, GptDataset.dataset_id == dataset_id
            )
        )
        if exists is not None:
            raise Conflict(
                "The GPT already uses this dataset",
                errors=[{"field": "dataset_id", "message": "already attached"}],
            )

    async def _link(self, home: Dataset, dataset_id: uuid.UUID) -> GptDataset:
        """The attachment, locked: a detach at the same moment commits first (then this is a 404) or waits
        for this request (an UPDATE or DELETE of a row already gone was a 500)."""
        link = await self.session.get(
            GptDataset, (home.id, dataset_id), with_for_update=True, populate_existing=True
        )
        if link is None:
            raise NotFound("The GPT does not use this dataset")
        return link

    async def set_follow_latest(self, home: Dataset, dataset_id: uuid.UUID, follow_latest: bool) -> None:
        (await self._link(home, dataset_id)).follow_latest = follow_latest
        await self.session.flush()

    async def detach(self, home: Dataset, dataset_id: uuid.UUID) -> None:
        """Stop using a dataset in the draft (published versions keep theirs); 409 for the home dataset."""
        if dataset_id == home.id:
            raise Conflict("A GPT's own dataset cannot be detached")
        await self.session.delete(await self._link(home, dataset_id))
        await self.session.flush()


def _read(dataset: Dataset, file_count: int, size: int) -> DatasetRead:
    return DatasetRead(
        id=dataset.id,
        name=dataset.name,
        description=dataset.description,
        access=dataset.access,
        license=dataset.license,
        license_name=license_name(dataset.license),
        attribution=dataset.attribution,
        owner_id=dataset.owner_id,
        organization_id=dataset.organization_id,
        home_gpt_id=dataset.home_gpt_id,
        version=dataset.version,
        file_count=file_count,
        bytes=size,
        created_at=dataset.created_at,
        updated_at=dataset.updated_at,
    )
