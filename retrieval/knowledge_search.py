"""Search over the datasets a GPT uses: the scope (which datasets and files, may this GPT use them), the
hybrid search itself (`retrieval.search`), and what a citation names about each hit."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import plans_without_sorts, release_connection
from core.models import User
from core.settings import Settings
from core.sql import in_select
from orgs.models import Organization, OrganizationMember
from retrieval.attribution import DatasetOwner, owner_of
from retrieval.dataset_access import gpt_may_use, same_owner
from retrieval.embedding import Embedder
from retrieval.fusion import DEFAULT_FUSION, Fusion
from retrieval.models import Dataset, KnowledgeFile
from retrieval.rerank import Reranker, rerank_hits
from retrieval.search import SORTS_BACK_ON_VALUE, SORTS_OFF, Hit, Mode, search_chunks
from retrieval.verbatim import within_limit, words


@dataclass
class SourcedHit:
    """A hit with what a citation names: the file, its dataset and the dataset's license."""

    hit: Hit
    filename: str
    access: str
    dataset_id: uuid.UUID | None = None
    dataset_name: str = ""
    license: str | None = None
    attribution: str | None = None
    source_url: str | None = None  # the web page the file was imported from
    home: bool = True  # the answering GPT's own home dataset: its citations name no dataset (data-library.md)
    owner: DatasetOwner | None = None

    def labels(self, max_words: int) -> tuple[str, str | None]:
        """(file name, heading) as an answer shows them: an open file's whole; a private file's within
        `max_words` words *together* (the verbatim guard's limit, `retrieval.verbatim.within_limit`), since a
        citation shows them side by side ("name · heading"): the name first, the heading in the words
        left (None when none are)."""
        if self.access == "open":
            return self.filename, self.hit.heading
        filename = within_limit(self.filename, max_words)
        left = max_words - len(words(filename.removesuffix(" …")))
        heading = within_limit(self.hit.heading, left) if self.hit.heading and left > 0 else None
        return filename, heading


GPT_ID = sa.bindparam("gpt_id", type_=sa.Uuid)
USER_ID = sa.bindparam("user_id", type_=sa.Uuid)


@dataclass(frozen=True)
class Caller:
    """The searching user as the scope statement read them (`KnowledgeSearch.search(caller_id=...)`): what
    `orgs.access` needs to decide, without a statement of its own."""

    id: uuid.UUID
    is_admin: bool
    role: str | None  # in the GPT's organisation (None: not a member, or a personal GPT)


def _scope(
    datasets: sa.ColumnElement[bool], in_scope: sa.ColumnElement[bool], *, sorts_off: bool = True
) -> sa.Select:
    """The scope statement: each dataset in `datasets` with its owner (user and organisation, for the
    citations) and its files in `in_scope` (a row per file; one with no file columns for a dataset without
    any). Its `sorts_off` column turns sorts off for the search statement to plan with
    (`retrieval.search.SORTS_OFF`); without it (`sorts_off=False`) for a session whose connection plans
    without sorts anyway (`core.db.plans_without_sorts`)."""
    return (
        sa.select(
            Dataset.id.label("dataset_id"),
            Dataset.name.label("dataset_name"),
            Dataset.access.label("dataset_access"),
            Dataset.owner_id,
            Dataset.organization_id,
            Dataset.attribution,
            Dataset.text_search_config,
            Dataset.score_threshold,
            User.handle.label("owner_handle"),
            User.display_name.label("owner_name"),
            Organization.handle.label("organization_handle"),
            Organization.name.label("organization_name"),
            KnowledgeFile.id,
            KnowledgeFile.filename,
            KnowledgeFile.access,
            KnowledgeFile.license,
            KnowledgeFile.source_url,
            KnowledgeFile.chunks_done,
            KnowledgeFile.embedding_model,
            KnowledgeFile.detached_at,
            *([sa.literal_column(SORTS_OFF).label("sorts_off")] if sorts_off else []),
        )
        .select_from(Dataset)
        .join(User, User.id == Dataset.owner_id)
        .outerjoin(Organization, Organization.id == Dataset.organization_id)
        .outerjoin(KnowledgeFile, sa.and_(KnowledgeFile.dataset_id == Dataset.id, in_scope))
        .where(datasets)
    )


def with_caller(scope: sa.Select) -> sa.Select:
    """`scope` with two columns about the searching user: `caller_is_admin` (NULL when the user no longer
    exists) and `caller_role`, their role in the organisation of the GPT's home dataset: the access
    token's user and the edit check read by the statement that reads the scope, not by two more. Both
    are uncorrelated sub-selects, run once per statement (init plans); as columns rather than a join they
    cost ~0.2 ms less to plan (bench/endpoint.py, docs/performance.md). A scope without rows (no such GPT)
    says nothing of the user: `KnowledgeSearch.search` then reads them apart."""
    home_organization = sa.select(Dataset.organization_id).where(Dataset.id == GPT_ID).scalar_subquery()
    role = (
        sa.select(OrganizationMember.role)
        .where(OrganizationMember.user_id == USER_ID, OrganizationMember.organization_id == home_organization)
        .scalar_subquery()
    )
    is_admin = sa.select(User.is_admin).where(User.id == USER_ID).scalar_subquery()
    return scope.add_columns(is_admin.label("caller_is_admin"), role.label("caller_role"))


# A draft's scope: the current files of its home dataset and of every dataset attached to it, with the
# caller's columns (`with_caller`; NULL without a `user_id`), read by a PL/pgSQL function whose statement is
# planned once per connection (migration 0033: ~0.3 ms less per search than sending `_scope` to be planned
# each time, docs/performance.md). `tests/retrieval/test_draft_scope_function.py` holds its rows to
# `_scope`'s. Built once, by whether the statement turns sorts off for the search to plan with.
_DRAFT_SCOPES = {
    sorts_off: sa.text(
        "SELECT scope.*"
        + (f", {SORTS_OFF} AS sorts_off" if sorts_off else "")
        + " FROM gptstore_draft_scope(:gpt_id, :user_id) AS scope"
    ).bindparams(GPT_ID, USER_ID)
    for sorts_off in (False, True)
}


def version_files(file_ids: list[uuid.UUID], follow: list[uuid.UUID]) -> sa.ColumnElement[bool]:
    """The files a published version answers from: its pinned `file_ids` and the current completed files
    of the datasets it follows."""
    return sa.or_(
        KnowledgeFile.id.in_(file_ids),
        sa.and_(
            KnowledgeFile.dataset_id.in_(follow),
            KnowledgeFile.detached_at.is_(None),
            KnowledgeFile.status == "completed",
        ),
    )


def version_scope(file_ids: list[uuid.UUID], follow: list[uuid.UUID], *, sorts_off: bool = True) -> sa.Select:
    """A published version's scope: its GPT's home dataset, the datasets holding its pinned `file_ids`
    and those it follows, with `version_files`."""
    holding = sa.select(KnowledgeFile.dataset_id).where(KnowledgeFile.id.in_(file_ids))
    datasets = sa.or_(Dataset.id == GPT_ID, in_select(Dataset.id, holding), Dataset.id.in_(follow))
    return _scope(datasets, version_files(file_ids, follow), sorts_off=sorts_off)


class KnowledgeSearch:
    """The search half of `KnowledgeService` (which holds the session, settings, embedder and reranker)."""

    session: AsyncSession
    settings: Settings
    reranker: Reranker | None
    embedder: Embedder

    async def search(
        self,
        gpt_id: uuid.UUID,
        query: str,
        *,
        k: int = 8,
        file_ids: list[uuid.UUID] | None = None,
        follow: Iterable[uuid.UUID] = (),
        only: Iterable[uuid.UUID] | None = None,
        score_threshold: float | None = None,
        mode: Mode = "hybrid",
        fusion: Fusion | None = None,
        for_answer: bool = False,
        check_home: Callable[[Any | None, Caller | None], Awaitable[None]] | None = None,
        caller_id: uuid.UUID | None = None,
    ) -> list[SourcedHit]:
        """Hybrid search over the datasets a GPT uses, chunks embedded by the current model.

        `file_ids`: these files (a published version's pinned ones) plus the current completed files of the
        datasets in `follow` (those it follows, `follow_latest`); without `file_ids`, the current files of
        every dataset attached to the draft. `only` (a client's filter) narrows that scope and never widens
        it: a file outside it finds nothing. All datasets are searched in one query (`dataset_id =
        ANY(...)`), never one round trip per dataset. Keyword search reads the query with the GPT's own
        (home dataset's) text search configuration.

        `for_answer`: without a `score_threshold`, apply the GPT's own (else the setting's), so an answer
        gets no passage when the knowledge holds nothing on the question.

        `check_home`: awaited with the home dataset's row as the scope statement read it (its `owner_id`,
        `organization_id`, ...; None when the GPT has none) and the `Caller` before anything is searched;
        it raises to refuse. A caller's permission check on the same row (the retrieval test's edit check,
        retrieval/routes.py), so the home dataset is read once per search. `caller_id`: the user whose
        row (and role in the GPT's organisation) the scope statement reads beside it (`with_caller`; one
        statement more when the GPT does not exist): the `Caller` handed to `check_home`, None when that
        user no longer exists (or no `caller_id`).

        Two statements: the datasets' files (for the strategy, the filter and the sources, with the
        owners' names; it also turns sorts off for the search to plan with, `retrieval.search.SORTS_OFF`),
        then the search (which turns them back on). On a session that plans without sorts
        (`core.db.plans_without_sorts`: no transaction, `Database.search_session`) neither statement
        touches the setting; each statement then has its own snapshot, so a change committed between the
        two (a dataset made private, a file detached) shows from the next search on, as if this one had
        run a moment earlier. Such a session also gives its connection back to the pool while a hosted
        model embeds the query and while the reranker answers (`core.db.release_connection`).
        """
        embedder = self.embedder
        await embedder.load()
        model_id = embedder.model_id
        sorts_off = not plans_without_sorts(self.session)
        # the draft: files detached from it stay searchable only for their versions
        if file_ids is None:
            scope, params = _DRAFT_SCOPES[sorts_off], {"gpt_id": gpt_id, "user_id": caller_id}
        else:
            scope = version_scope(file_ids, list(follow), sorts_off=sorts_off)
            scope = with_caller(scope) if caller_id is not None else scope
            params = {"gpt_id": gpt_id} if caller_id is None else {"gpt_id": gpt_id, "user_id": caller_id}
        rows = (await self.session.execute(scope, params)).all()
        caller = None
        if caller_id is not None:
            if rows:  # the caller's columns, the same on every row
                is_admin, role = rows[0].caller_is_admin, rows[0].caller_role
            else:  # no such GPT: whether the user still exists decides between 401 and 404
                is_admin, role = (
                    await self.session.scalar(sa.select(User.is_admin).where(User.id == caller_id)),
                    None,
                )
            caller = Caller(caller_id, is_admin, role) if is_admin is not None else None
        try:
            home = next((row for row in rows if row.dataset_id == gpt_id), None)
            if check_home is not None:
                await check_home(home, caller)
            hits = await self._search_in_scope(
                home, query, rows, model_id, k, only, score_threshold, mode, fusion, for_answer, sorts_off
            )
        except Exception as error:
            # Not the database's (the query's embedding, say): sorts back on for the rest of the transaction.
            # After a database error the transaction is aborted and takes the setting with it.
            if rows and sorts_off and not isinstance(error, sa.exc.DBAPIError):
                await self.session.execute(sa.text(f"SELECT {SORTS_BACK_ON_VALUE}"))
            raise
        if hits is None:  # nothing in scope: the search statement did not run
            if rows and sorts_off:
                await self.session.execute(sa.text(f"SELECT {SORTS_BACK_ON_VALUE}"))
            return []
        files = {row.id: row for row in rows}
        return [_sourced(h, files[h.file_id], gpt_id) for h in hits]

    async def _search_in_scope(
        self,
        home: Any | None,
        query: str,
        rows: list[Any],
        model_id: str,
        k: int,
        only: Iterable[uuid.UUID] | None,
        score_threshold: float | None,
        mode: Mode,
        fusion: Fusion | None,
        for_answer: bool,
        sorts_off: bool,
    ) -> list[Hit] | None:
        """The search over the scope's rows (`search`'s first statement, which turned sorts off unless the
        session plans without them); None when nothing is in scope, before the search statement (which
        turns them back on) runs."""
        embedder = self.embedder
        if home is None:
            return None
        # A dataset made private since it was attached no longer answers in other owners' GPTs, nor does a
        # file its owner deleted (a version that pinned it keeps it only when it is the owner's own).
        files = {
            row.id: row
            for row in rows
            if row.id is not None
            and gpt_may_use(
                home.owner_id, home.organization_id, row.dataset_access, row.owner_id, row.organization_id
            )
            and (
                row.detached_at is None
                or same_owner(home.owner_id, home.organization_id, row.owner_id, row.organization_id)
            )
        }
        if only is not None:
            wanted = set(only)
            files = {file_id: row for file_id, row in files.items() if file_id in wanted}
        total = sum(row.chunks_done for row in files.values() if row.embedding_model == model_id)
        if not total:
            return None
        if for_answer and score_threshold is None:
            own = home.score_threshold
            score_threshold = own if own is not None else self.settings.retrieval_score_threshold
        query_vector = None
        if mode != "keyword":
            if embedder.remote:  # a hosted model's round trip holds no connection (a local one's CPU may)
                await release_connection(self.session)
            query_vector = await embedder.embed_query(query)
        # A reranker reorders the fused best `rerank_candidates` (hybrid search only; the scores stay).
        rerank = self.reranker is not None and mode == "hybrid"
        window = max(k, self.settings.rerank_candidates) if rerank else k
        hits = await search_chunks(
            self.session,
            dataset_ids=sorted({row.dataset_id for row in files.values()}),
            model_id=model_id,
            dimensions=embedder.dimensions,
            query_vector=query_vector,
            query_text=query,
            text_search_config=home.text_search_config,
            k=window,
            chunk_total=total,
            file_ids=list(files),
            mode=mode,
            score_threshold=score_threshold,
            fusion=fusion or DEFAULT_FUSION,
            sorts_off=sorts_off,
        )
        if rerank:
            await release_connection(self.session)  # nor while the reranker answers
            hits = await rerank_hits(self.reranker, query, hits, lambda h: h.text, k)
        return hits


def _sourced(hit: Hit, row: Any, gpt_id: uuid.UUID) -> SourcedHit:
    # A file's access and license follow its dataset's (kept in step when the dataset changes), except in
    # a GPT's home dataset, where each file has its own.
    return SourcedHit(
        hit=hit,
        filename=row.filename,
        access=row.access,
        dataset_id=row.dataset_id,
        dataset_name=row.dataset_name,
        license=row.license,
        attribution=row.attribution,
        source_url=row.source_url,
        home=row.dataset_id == gpt_id,  # another GPT's open home dataset is named like any dataset
        owner=owner_of(row.organization_handle, row.organization_name, row.owner_handle, row.owner_name),
    )
