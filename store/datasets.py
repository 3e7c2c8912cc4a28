"""The dataset directory: open datasets found, read, downloaded and reused by anyone (docs/data-library.md).

Only datasets whose access is `open` are listed, shown and downloaded, and of them only the files whose own
access is open (a GPT's home dataset may mix open and private files); everything else is a 404, as if it did
not exist. Owners see their private datasets through the dataset API (`/api/datasets`), not here.

"Used by" is the number of listed GPTs whose live version uses the dataset. The directory reads it from
`dataset.used_by`, which `refresh_used_by` recomputes for all open datasets in one statement each time the
counters are flushed (`store.flush_counters`, every `GPTSTORE_COUNTERS_FLUSH_SECONDS`), like the trending
scores: counting per dataset and request (a GIN lookup of `gpt_version.datasets @> [{"id"}]` each) cost
seconds for the `used` sort at 20,000 GPTs (bench/dataset_directory.py, docs/performance.md). A dataset's own
page counts its users exactly, through that GIN index. Each sort of the directory reads its page from a
partial index in its order (migration 0023), not by sorting every open dataset.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from builder.service import GptService
from core.errors import Conflict, Invalid, NotFound
from core.models import User
from core.pagination import decode_cursor, encode_cursor
from core.settings import Settings
from retrieval.attribution import license_url, owner_of
from retrieval.datasets import DatasetService
from retrieval.models import Dataset, KnowledgeFile
from retrieval.ngrams import separate_scripts
from retrieval.schemas import CitedDatasetRead, DatasetOwnerRead
from retrieval.script_query import NGRAM_TSV_OF, script_tsqueries
from retrieval.terms import content_words
from store.dataset_schemas import (
    DatasetDirectoryPage,
    DatasetFileItem,
    DatasetItem,
    DatasetPageRead,
    DatasetSize,
    LicenseCount,
    UsedByItem,
)

MAX_OFFSET = 10_000  # deepest page of the directory (offset cursor); past it, narrow the search
USED_BY_SHOWN = 50
# pg_trgm word similarity of the query to a dataset's name at which a typo still finds it (as GPT names,
# store.search.NAME_SIMILARITY).
NAME_SIMILARITY = 0.5
# A common word matches most of a large directory, and ranking every match cost ~200 ms a page at 100,000
# open datasets (bench/dataset_directory.py). As in the store's search (store.search.KEYWORD_CANDIDATES),
# only this many of each kind of match are ranked: those with every word, with any word, and by name.
RANKED_CANDIDATES = 2_000
TSV = "to_tsvector('simple'::regconfig, d.name || ' ' || d.description)"  # as ix_dataset_open_tsv
NGRAM_TSV = NGRAM_TSV_OF.format("d.name || ' ' || d.description")  # as ix_dataset_open_ngram (0030)
# Every open dataset's listed users in one pass over the listed GPTs' live versions, written to the rows
# whose count changed (and back to 0 on a dataset no longer open, so one opened again starts from 0).
REFRESH_USED_BY = sa.text(
    """
    WITH used AS (
        SELECT d.id AS dataset_id, count(*) AS n
        FROM listing l
        JOIN gpt_version v ON v.gpt_id = l.gpt_id AND v.number = l.live_version
        CROSS JOIN LATERAL jsonb_array_elements(v.datasets) e
        JOIN dataset d ON d.id::text = e->>'id' AND d.access = 'open'
        WHERE l.listed
        GROUP BY d.id
    )
    UPDATE dataset d SET used_by = coalesce(used.n, 0)
    FROM dataset counted LEFT JOIN used ON used.dataset_id = counted.id
    WHERE d.id = counted.id AND (counted.access = 'open' OR counted.used_by <> 0)
      AND d.used_by <> coalesce(used.n, 0)
    """
)
ORDERS = {  # `relevance` (only with `q`) is built in `browse`
    "used": "d.used_by DESC, d.updated_at DESC",  # each as its index (migration 0023), then d.id
    "new": "d.created_at DESC",
    "name": "lower(d.name), d.created_at DESC",
}
# The open files of an open dataset: what anyone may see and download.
OPEN_FILE = sa.and_(
    KnowledgeFile.detached_at.is_(None), KnowledgeFile.status == "completed", KnowledgeFile.access == "open"
)


class DatasetDirectory:
    def __init__(self, session: AsyncSession, settings: Settings | None = None):
        self.session = session
        self.settings = settings

    async def browse(
        self, *, q: str | None, license: str | None, sort: str | None, limit: int, cursor: str | None
    ) -> DatasetDirectoryPage:
        """One page of open datasets: matching `q` (every word in the name or description ranked first, then
        any word, then a name within `NAME_SIMILARITY` of it), under `license` (an SPDX id, any case), in
        `sort` order (default: `relevance` with `q`, else `used`, which `relevance` without `q` means
        too; `relevance` ranks at most `RANKED_CANDIDATES` matches of each kind). The cursor is an offset
        (at most `MAX_OFFSET`)."""
        q = (q or "").strip() or None
        if sort is None or (sort == "relevance" and not q):  # no text to be relevant to: most used first
            sort = "relevance" if q else "used"
        offset = decode_cursor(cursor) if cursor else 0
        if not isinstance(offset, int) or not 0 <= offset <= MAX_OFFSET:
            raise Invalid("The cursor is not one this API returned", field="cursor")
        where = ["d.access = 'open'"]
        params: dict[str, Any] = {"offset": offset, "limit": limit + 1}
        if license:
            where.append("lower(d.license) = lower(:license)")
            params["license"] = license
        source, ctes = "dataset d", ""
        order = ORDERS.get(sort, "")  # `relevance`: below
        if q:
            # Text where scripts meet without spaces: its Latin words and CJK/Hangul/Thai parts are also
            # matched in the script-aware vector (retrieval.script_query).
            spaced = separate_scripts(q)
            script = script_tsqueries(q)
            words = content_words(spaced) or [spaced]
            params.update(
                script.params,
                q=spaced,
                any_words=" or ".join(f'"{w}"' for w in words if '"' not in w) or spaced,
                lower_q=q.lower(),
            )
            ctes = (
                "WITH query AS (SELECT websearch_to_tsquery('simple', :q) AS q,"
                " websearch_to_tsquery('simple', :any_words) AS any_q"
                + (f", {script.every} AS script_q" if script.every else "")
                + (f", {script.some} AS script_any_q" if script.some else "")
                + ")"
            )
            every = f"{TSV} @@ query.q" + (f" OR {NGRAM_TSV} @@ query.script_q" if script.every else "")
            some = f"{TSV} @@ query.any_q" + (f" OR {NGRAM_TSV} @@ query.script_any_q" if script.some else "")
            rank = f"ts_rank_cd({TSV}, query.any_q)" + (
                f" + ts_rank_cd({NGRAM_TSV}, query.script_any_q)" if script.some else ""
            )
            if sort == "relevance":
                order = f"({every}) DESC, {rank} DESC, :lower_q <<-> lower(d.name)"
            source = "dataset d, query"
            if sort == "relevance":  # rank at most RANKED_CANDIDATES matches of each kind
                base = " AND ".join(where)
                ctes += (
                    ", matches AS ("
                    f"(SELECT d.id FROM dataset d, query WHERE {base} AND ({every}) LIMIT :candidates)"
                    f" UNION (SELECT d.id FROM dataset d, query WHERE {base} AND ({some})"
                    " LIMIT :candidates)"
                    f" UNION (SELECT d.id FROM dataset d WHERE {base} AND :lower_q <% lower(d.name)"
                    " LIMIT :candidates))"
                )
                source = "matches JOIN dataset d ON d.id = matches.id, query"
                params["candidates"] = RANKED_CANDIDATES
            else:
                where.append(f"({every} OR {some} OR :lower_q <% lower(d.name))")
            await self.session.execute(
                sa.text("SELECT set_config('pg_trgm.word_similarity_threshold', :t, true)"),
                {"t": str(NAME_SIMILARITY)},
            )
        sql = (
            f"{ctes} SELECT d.id FROM {source} WHERE {' AND '.join(where)}"
            f" ORDER BY {order}, d.id OFFSET :offset LIMIT :limit"
        )
        ids = [row.id for row in await self.session.execute(sa.text(sql), params)]
        more = len(ids) > limit
        items = await self.items(ids[:limit])
        return DatasetDirectoryPage(data=items, next_cursor=encode_cursor(offset + limit) if more else None)

    async def items(self, ids: list[uuid.UUID]) -> list[DatasetItem]:
        """The directory items of these open datasets, in this order (one statement)."""
        if not ids:
            return []
        rows = await self.session.execute(
            sa.text(
                """
                SELECT d.id, d.name, d.description, d.license, d.attribution, d.version, d.updated_at,
                       u.handle, u.display_name, o.handle AS organization_handle,
                       o.name AS organization_name, d.used_by,
                       coalesce(f.bytes, 0) AS bytes, coalesce(f.files, 0) AS files,
                       coalesce(f.chunks, 0) AS chunks
                FROM dataset d JOIN user_account u ON u.id = d.owner_id
                LEFT JOIN organization o ON o.id = d.organization_id
                LEFT JOIN LATERAL (
                    SELECT sum(kf.bytes) AS bytes, count(*) AS files, sum(kf.chunk_count) AS chunks
                    FROM knowledge_file kf
                    WHERE kf.dataset_id = d.id AND kf.detached_at IS NULL AND kf.status = 'completed'
                      AND kf.access = 'open'
                ) f ON true
                WHERE d.id = ANY(:ids) AND d.access = 'open'
                """
            ),
            {"ids": ids},
        )
        found = {row.id: row for row in rows}
        items = []
        for dataset_id in ids:
            row = found.get(dataset_id)
            if row is None:
                continue
            owner = owner_of(row.organization_handle, row.organization_name, row.handle, row.display_name)
            items.append(
                DatasetItem(
                    id=row.id,
                    name=row.name,
                    description=row.description,
                    license=row.license,
                    license_url=license_url(row.license),
                    attribution=row.attribution,
                    owner=DatasetOwnerRead(**owner.as_json()),
                    size=DatasetSize(bytes=int(row.bytes), files=int(row.files), chunks=int(row.chunks)),
                    used_by=row.used_by,
                    version=row.version,
                    updated_at=row.updated_at,
                )
            )
        return items

    async def licenses(self) -> list[LicenseCount]:
        """The licenses of open datasets with how many use each, most used first (the directory's filter)."""
        count = sa.func.count().label("count")
        rows = await self.session.execute(
            sa.select(Dataset.license, count)
            .where(Dataset.access == "open", Dataset.license.is_not(None))
            .group_by(Dataset.license)
            .order_by(count.desc(), Dataset.license)
        )
        return [
            LicenseCount(license=r.license, license_url=license_url(r.license), count=r.count) for r in rows
        ]

    async def open_dataset(self, dataset_id: uuid.UUID) -> Dataset:
        """The dataset if it is open; 404 for a private or unknown one, to anyone."""
        dataset = await self.session.get(Dataset, dataset_id)
        if dataset is None or dataset.access != "open":
            raise NotFound("No such dataset")
        return dataset

    async def open_files(self, dataset_id: uuid.UUID) -> list[KnowledgeFile]:
        """The dataset's files anyone may download, oldest first."""
        rows = await self.session.scalars(
            sa.select(KnowledgeFile)
            .where(KnowledgeFile.dataset_id == dataset_id, OPEN_FILE)
            .order_by(KnowledgeFile.created_at, KnowledgeFile.id)
        )
        return list(rows)

    async def open_file(self, dataset_id: uuid.UUID, file_id: uuid.UUID) -> tuple[Dataset, KnowledgeFile]:
        """An open file of an open dataset with its dataset; 404 otherwise."""
        dataset = await self.open_dataset(dataset_id)
        file = await self.session.scalar(
            sa.select(KnowledgeFile).where(
                KnowledgeFile.id == file_id, KnowledgeFile.dataset_id == dataset_id, OPEN_FILE
            )
        )
        if file is None:
            raise NotFound("No such file")
        return dataset, file

    async def page(self, dataset_id: uuid.UUID) -> DatasetPageRead:
        """An open dataset's page: its directory item, files with download links, and the listed GPTs that
        use it (most conversations first, at most `USED_BY_SHOWN`). 404 unless open."""
        await self.open_dataset(dataset_id)
        [item] = await self.items([dataset_id])
        files = await self.open_files(dataset_id)
        base = f"/api/store/datasets/{dataset_id}"
        rows = await self.session.execute(
            sa.text(
                """
                SELECT l.gpt_id, l.name, l.description, l.creator_handle, count(*) OVER () AS total
                FROM listing l
                JOIN gpt_version v ON v.gpt_id = l.gpt_id AND v.number = l.live_version
                WHERE l.listed
                  AND v.datasets @> jsonb_build_array(jsonb_build_object('id', CAST(:id AS text)))
                ORDER BY l.conversations DESC, l.gpt_id LIMIT :limit
                """
            ),
            {"id": str(dataset_id), "limit": USED_BY_SHOWN},
        )
        rows = rows.all()
        item.used_by = rows[0].total if rows else 0  # exact here, not as of the last refresh
        return DatasetPageRead(
            **item.model_dump(),
            files=[
                DatasetFileItem(
                    id=f.id,
                    filename=f.filename,
                    media_type=f.media_type,
                    bytes=f.bytes,
                    chunks=f.chunk_count,
                    download_url=f"{base}/files/{f.id}/download",
                )
                for f in files
            ],
            download_url=f"{base}/download",
            used_by_gpts=[
                UsedByItem(
                    id=r.gpt_id,
                    name=r.name,
                    description=r.description,
                    creator_handle=r.creator_handle,
                    url=f"/g/{r.gpt_id}",
                )
                for r in rows
            ],
        )


async def cited_datasets(
    session: AsyncSession, dataset_ids: list[uuid.UUID]
) -> dict[uuid.UUID, CitedDatasetRead]:
    """What to name beside a file of each of these datasets that is open, as citations name it (name,
    license, attribution, owner, public page): a GPT's page lists and hands out such files too. A private
    dataset has no entry (its files are never handed out). One statement (`DatasetDirectory.items`)."""
    items = await DatasetDirectory(session).items(list(dict.fromkeys(dataset_ids)))
    return {
        item.id: CitedDatasetRead(
            id=item.id,
            name=item.name,
            license=item.license,
            license_url=item.license_url,
            attribution=item.attribution,
            owner=item.owner,
            url=f"/datasets/{item.id}",
        )  # fmt: skip
        for item in items
    }


async def refresh_used_by(session: AsyncSession) -> None:
    """Recompute `dataset.used_by` ("used by N listed GPTs") for every open dataset (one statement)."""
    await session.execute(REFRESH_USED_BY)


async def open_datasets_of_organization(
    session: AsyncSession, organization_id: uuid.UUID, limit: int = 50
) -> list[DatasetItem]:
    """An organisation's open datasets for its page (`/o/{handle}`), most used first (at most `limit`)."""
    ids = list(
        await session.scalars(
            sa.select(Dataset.id)
            .where(Dataset.organization_id == organization_id, Dataset.access == "open")
            .order_by(Dataset.updated_at.desc(), Dataset.id)
            .limit(limit)
        )
    )
    items = await DatasetDirectory(session).items(ids)
    return sorted(items, key=lambda item: -item.used_by)


async def attach_dataset(
    session: AsyncSession,
    settings: Settings,
    user: User,
    gpt_id: uuid.UUID,
    dataset_id: uuid.UUID,
    follow_latest: bool = False,
) -> None:
    """'Use in my GPT': attach a dataset to a draft the user edits by the one attach rule
    (`DatasetService.attach`: any open dataset, the GPT's owner's and organisation's), or change its
    `follow_latest` when it is attached already. 404 for a draft or dataset the user may not use; the
    GPT's live version changes only with its next publish. The dataset API's `POST /api/gpts/{id}/datasets`
    is the JSON twin (which answers 409 for one attached already)."""
    gpt = await GptService(session, settings).get_owned(user, gpt_id, for_update=True)
    service = DatasetService(session, settings)
    home = await session.get(Dataset, gpt.id)
    if home is None:
        raise NotFound("No such GPT")
    try:
        await service.attach(user, home, dataset_id, follow_latest)
    except Conflict:  # attached already (nothing was written): "use" again sets its follow_latest
        await service.set_follow_latest(home, dataset_id, follow_latest)
