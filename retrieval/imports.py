"""Import from the web: pages, lists of pages and sitemaps become knowledge files, re-synced on demand.

`WebImportService` (session in, no commit) records an import of a knowledge base; `run_import`, the job
`retrieval.import_web`, fetches its pages with `retrieval.web_import.Fetcher` and adds each one through
`KnowledgeService.add_file` (the same limits, quota and duplicate check as an upload), one transaction per
page so the import's counts move as it goes. A run keeps a page whose content is unchanged (304 Not Modified
to a conditional request, or the same sha256), replaces a changed one, and, for a sitemap, deletes the files
of pages the sitemap no longer lists. One URL failing is recorded on that URL and the run goes on.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from saq import Queue
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import Database, utcnow
from core.errors import AppError, Conflict, Invalid, NotFound
from core.settings import Settings
from retrieval.file_handling import upload_rights
from retrieval.models import KnowledgeBase, KnowledgeFile, WebImport, WebPage
from retrieval.scheduling import dispatch
from retrieval.schemas import WebImportCreate
from retrieval.service import KnowledgeService
from retrieval.web_documents import ImportLimits, PageError
from retrieval.web_import import MAX_URL_CHARS, Fetcher, Page, normalize_url

logger = logging.getLogger("gptstore.retrieval")

RUNNING = ("queued", "in_progress")
# A run commits after every page; one silent this long died with its worker and may be started again.
STALE_AFTER = timedelta(minutes=10)


class WebImportService:
    def __init__(self, session: AsyncSession, settings: Settings):
        self.session = session
        self.settings = settings

    async def create(self, base: KnowledgeBase, data: WebImportCreate) -> WebImport:
        """Record an import of `data`'s pages into `base` (queued; the caller enqueues `enqueue_import`).
        `Invalid` (422) names the field: not exactly one source, a URL the SSRF rules refuse, too many URLs.
        """
        given = [name for name in ("url", "urls", "sitemap_url") if getattr(data, name) is not None]
        if len(given) != 1:
            raise Invalid(
                "Give exactly one of url, urls or sitemap_url",
                errors=[{"field": name, "message": "give exactly one of these"} for name in given or ["url"]],
            )
        limits = ImportLimits.of(self.settings)
        if data.urls is not None and len(data.urls) > limits.max_pages:
            raise Invalid(
                f"An import takes at most {limits.max_pages} pages",
                field="urls",
                limit="web_import_max_pages",
            )
        sent = {name: getattr(data, name) for name in ("access", "license") if name in data.model_fields_set}
        access, license = upload_rights(base, data.access, data.license, sent)
        row = WebImport(dataset_id=base.id, owner_id=base.owner_id, access=access, license=license)
        if data.sitemap_url is not None:
            row.sitemap_url = self._checked(data.sitemap_url, "sitemap_url")
        else:
            raw = [data.url] if data.url is not None else data.urls or []
            field = "url" if data.url is not None else "urls"
            checked = [self._checked(u, field if field == "url" else f"urls[{i}]") for i, u in enumerate(raw)]
            row.urls = list(dict.fromkeys(checked))
        self.session.add(row)
        await self.session.flush()
        return row

    def _checked(self, url: str, field: str) -> str:
        try:
            return normalize_url(self.settings, url)
        except PageError as exc:
            raise Invalid(f"{field}: {exc}", field=field) from None

    async def list_imports(self, base: KnowledgeBase) -> list[WebImport]:
        rows = await self.session.scalars(
            sa.select(WebImport).where(WebImport.dataset_id == base.id).order_by(WebImport.created_at)
        )
        return list(rows)

    async def get(self, base: KnowledgeBase, import_id: uuid.UUID) -> WebImport:
        row = await self.session.get(WebImport, import_id)
        if row is None or row.dataset_id != base.id:
            raise NotFound("No such import")
        return row

    async def pages(self, row: WebImport) -> list[WebPage]:
        pages = await self.session.scalars(
            sa.select(WebPage).where(WebPage.import_id == row.id).order_by(WebPage.created_at, WebPage.url)
        )
        return list(pages)

    async def resync(self, base: KnowledgeBase, import_id: uuid.UUID) -> WebImport:
        """Queue another run of the import; `Conflict` (409) while one is queued or running."""
        row = await self.session.scalar(
            sa.select(WebImport)
            .where(WebImport.id == import_id, WebImport.dataset_id == base.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if row is None:
            raise NotFound("No such import")
        if row.status in RUNNING and row.updated_at > utcnow() - STALE_AFTER:
            raise Conflict("This import is already queued or running; ask again once it has finished")
        row.status = "queued"
        await self.session.flush()
        return row


async def enqueue_import(queue: Queue, import_id: uuid.UUID) -> None:
    await queue.enqueue(
        "retrieval.import_web",
        key=f"web-import:{import_id}:{uuid.uuid4().hex}",
        import_id=str(import_id),
        timeout=0,
        retries=1,
    )


async def _one(content: bytes) -> AsyncIterator[bytes]:
    yield content


class _Stop(Exception):
    """The import was deleted or another run took it over."""


async def run_import(
    db: Database, settings: Settings, import_id: uuid.UUID, *, queue: Queue | None = None
) -> str:
    """Run a queued import to its end; returns its final status (`completed`, `failed`), or `deleted`,
    `skipped` (not queued). New files are queued for ingestion on `queue` as each page commits."""
    async with db.session_scope() as session:
        row = await session.scalar(sa.select(WebImport).where(WebImport.id == import_id).with_for_update())
        if row is None:
            return "deleted"
        if row.status != "queued":
            return "skipped"
        row.status, row.runs, row.started_at = "in_progress", row.runs + 1, utcnow()
        row.finished_at, row.error, row.capped, row.sitemap_errors = None, None, False, []
        for name in ("total", "done", "added", "updated", "unchanged", "removed", "failed"):
            setattr(row, f"pages_{name}", 0)
        run, sitemap_url, urls = row.runs, row.sitemap_url, list(row.urls)
    limits = ImportLimits.of(settings)
    complete = sitemap_url is not None
    try:
        async with Fetcher(settings, limits) as fetcher:
            if sitemap_url is not None:
                try:
                    listed = await fetcher.sitemap(sitemap_url, limits.max_pages)
                except PageError as exc:
                    return await _finish(db, import_id, run, "failed", f"{sitemap_url}: {exc}")
                urls, complete = listed.urls, listed.complete
                async with db.session_scope() as session:
                    row = await _current(session, import_id, run)
                    row.capped = listed.capped
                    row.sitemap_errors = [{"url": u, "error": e[:1000]} for u, e in listed.errors[:100]]
            async with db.session_scope() as session:
                row = await _current(session, import_id, run)
                row.pages_total = len(urls)
            for url in urls:
                file_id = await _import_page(db, settings, fetcher, import_id, run, url)
                if file_id is not None and queue is not None:  # owners take turns (retrieval.scheduling)
                    async with db.session_scope() as session:
                        owner_id = await session.scalar(
                            sa.select(KnowledgeFile.owner_id).where(KnowledgeFile.id == file_id)
                        )
                    if owner_id is not None:
                        await dispatch(db, settings, queue, owner_id)
        if complete:  # a sitemap not read whole says nothing of the pages it did not list
            await _remove_unlisted(db, settings, import_id, run, set(urls))
        return await _finish(db, import_id, run, "completed", None)
    except _Stop:
        return "deleted"
    except Exception:
        logger.exception("web import %s failed", import_id)
        try:
            await _finish(
                db, import_id, run, "failed", "The import stopped on an unexpected error; re-sync it"
            )
        except _Stop:
            pass
        raise


async def _current(session: AsyncSession, import_id: uuid.UUID, run: int) -> WebImport:
    """The import row, locked, if this run still owns it; else `_Stop`."""
    row = await session.scalar(
        sa.select(WebImport)
        .where(WebImport.id == import_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None or row.runs != run or row.status != "in_progress":
        raise _Stop
    return row


async def _finish(db: Database, import_id: uuid.UUID, run: int, status: str, error: str | None) -> str:
    async with db.session_scope() as session:
        row = await _current(session, import_id, run)
        row.status, row.error, row.finished_at = status, error and error[:1000], utcnow()
    return status


async def _import_page(
    db: Database, settings: Settings, fetcher: Fetcher, import_id: uuid.UUID, run: int, url: str
) -> uuid.UUID | None:
    """Fetch one URL and record the outcome in one transaction; the id of a new file to ingest, if any."""
    async with db.session_scope() as session:
        row = await _current(session, import_id, run)
        page = await session.scalar(
            sa.select(WebPage).where(WebPage.import_id == import_id, WebPage.url == url)
        )
        service = KnowledgeService(session, settings)
        base = await service.knowledge_base_of(row.dataset_id)
        has_file = page is not None and page.file_id is not None
        no_slot = not has_file and await service.file_slots_left(base) == 0
        validators = (page.etag, page.last_modified) if has_file else (None, None)
    fetched: Page | None = None
    error = None
    if no_slot:
        error = (
            f"not fetched: the knowledge base holds {service.file_limit(base)} files already "
            "(GPTSTORE_MAX_FILES_PER_GPT)"
        )
    else:
        try:
            fetched = await fetcher.page(url, etag=validators[0], last_modified=validators[1])
        except PageError as exc:
            error = str(exc)
        except Exception:  # one page's surprise is that page's failure, not the import's
            logger.exception("web import %s: fetching %s failed", import_id, url)
            error = "could not be fetched: an unexpected error (logged on the server)"
    async with db.session_scope() as session:
        row = await _current(session, import_id, run)
        page = await session.scalar(
            sa.select(WebPage).where(WebPage.import_id == import_id, WebPage.url == url)
        )
        if page is None:
            page = WebPage(import_id=import_id, url=url)
            session.add(page)
        service = KnowledgeService(session, settings)
        base = await service.knowledge_base_of(row.dataset_id)
        new_file = None
        if fetched is not None:
            try:
                async with session.begin_nested():
                    outcome, new_file = await _store(service, base, row, page, fetched)
            except AppError as exc:
                error = exc.detail
        if error is not None:
            outcome, page.error = "failed", error[:1000]
        else:
            page.error = None
        page.status = outcome
        page.fetched_at = utcnow()
        row.pages_done += 1
        counter = f"pages_{'unchanged' if outcome == 'duplicate' else outcome}"
        setattr(row, counter, getattr(row, counter) + 1)
    return new_file


async def _store(
    service: KnowledgeService, base: KnowledgeBase, row: WebImport, page: WebPage, fetched: Page
) -> tuple[str, uuid.UUID | None]:
    """Keep, add or replace the page's file; returns the outcome and the id of a file to ingest."""
    page.etag, page.last_modified = _clip(fetched.etag, 500), _clip(fetched.last_modified, 100)
    if page.file_id is not None and (fetched.content is None or fetched.sha256 == page.sha256):
        return "unchanged", None
    if fetched.content is None or fetched.filename is None:  # 304, but the file went while we asked
        raise Conflict("The page's file was deleted while the page was fetched; re-sync to fetch it again")
    previous, owned = page.file_id, page.owns_file
    if previous is not None and owned:
        # The old file goes first so a full knowledge base has room for the new one; a refusal below
        # rolls both back, and the old upload is only removed once this commits.
        await _release(service, base, page)
    page.sha256 = fetched.sha256
    try:
        added = await service.add_file(
            base,
            fetched.filename,
            _one(fetched.content),
            access=row.access,
            license=row.license,
            source_url=_source_url(page, fetched),
        )
    except Conflict as exc:  # the same content is already a file of the knowledge base
        existing = exc.extra.get("existing_file_id")
        if existing is None:
            raise
        page.file_id, page.owns_file = uuid.UUID(existing), False
        return "duplicate", None
    page.file_id, page.owns_file = added.id, True
    return ("updated" if previous is not None else "added"), added.id


async def _release(service: KnowledgeService, base: KnowledgeBase, page: WebPage) -> None:
    """Let go of the file `page` made: another page of the same content takes it over (and the file's
    `source_url` becomes that page's, so its citations no longer link a page that says something else
    now), else it is deleted."""
    heir = await service.session.scalar(
        sa.select(WebPage)
        .join(WebImport, WebImport.id == WebPage.import_id)
        .where(WebImport.dataset_id == base.id, WebPage.file_id == page.file_id, WebPage.id != page.id)
        .limit(1)
    )
    if heir is not None:
        heir.owns_file = True
        kept = await service.session.get(KnowledgeFile, page.file_id)
        if kept is not None:
            kept.source_url = heir.url
    else:
        try:
            await service.delete_file(base, page.file_id)
        except NotFound:  # deleted by hand meanwhile
            pass
    page.file_id, page.owns_file = None, False


async def _remove_unlisted(
    db: Database, settings: Settings, import_id: uuid.UUID, run: int, listed: set[str]
) -> None:
    """Delete the pages (and the files they made) that the sitemap no longer lists."""
    async with db.session_scope() as session:
        row = await _current(session, import_id, run)
        service = KnowledgeService(session, settings)
        base = await service.knowledge_base_of(row.dataset_id)
        pages = await session.scalars(sa.select(WebPage).where(WebPage.import_id == import_id))
        for page in pages:
            if page.url in listed:
                continue
            if page.file_id is not None and page.owns_file:
                await _release(service, base, page)
            await session.delete(page)
            row.pages_removed += 1
        await session.flush()


def _source_url(page: WebPage, fetched: Page) -> str:
    """Where the content came from: the URL after redirects, if it fits the column, else the one asked."""
    return fetched.url if len(fetched.url) <= MAX_URL_CHARS else page.url


def _clip(value: str | None, limit: int) -> str | None:
    return value if value is None or len(value) <= limit else None  # a cut validator would never match


# SAQ entry point ------------------------------------------------------------------------------------------


async def import_web(ctx: dict[str, Any], *, import_id: str) -> str:
    return await run_import(ctx["db"], ctx["settings"], uuid.UUID(import_id), queue=ctx["queue"])


functions = [("retrieval.import_web", import_web)]
