"""`gptstore ingest`: a folder into a dataset as file batches, through the service layer (docs/ingestion.md).

Files whose sha256 the dataset already has (ingesting or done) are skipped, so running the command again
after an interruption uploads only what is missing; a failed or cancelled file is uploaded again. Those
an earlier run left still ingesting are waited for with the new ones (the progress bar counts them too).
Hidden files and folders (`.git`, `.DS_Store`) are left out, and so are symbolic links inside the folders: a
link to `/etc/passwd` in a folder someone handed over would otherwise upload the machine's file (a tar's
links are refused for the same reason, `core.archives`).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import click
import sqlalchemy as sa
from saq import Queue

from core.db import Database
from core.errors import NotFound
from core.filenames import clean_member_name
from core.settings import Settings
from core.storage import storage_of
from core.text import counted
from retrieval.batch_upload import READ_SIZE, StagedBatch, StagedFile
from retrieval.batches import BatchService
from retrieval.file_uploads import GONE_STATES
from retrieval.models import Dataset, KnowledgeFile
from retrieval.scheduling import dispatch
from retrieval.uploads import upload_blobs

PROGRESS_POLL_SECONDS = 0.5


@dataclass
class IngestPlan:
    files: list[tuple[Path, str]]  # to upload, in path order, with the names they are stored under
    already: int = 0  # skipped: the dataset has their content
    empty: int = 0
    too_large: list[Path] = field(default_factory=list)  # skipped: over `max_file_bytes`, named in the report
    links: list[Path] = field(default_factory=list)  # skipped: symbolic links inside the folders, named too
    waiting: list[uuid.UUID] = field(default_factory=list)  # of `already`: still ingesting (an earlier run's)
    batch_ids: list[uuid.UUID] = field(default_factory=list)


def collect(paths: Iterable[Path]) -> tuple[list[tuple[Path, str]], list[Path]]:
    """(regular files under `paths` with the names they are stored under, symbolic links left out), each
    sorted. Folders are walked recursively, hidden files and folders left out; a path named on the command
    line is taken as given (a link too: the operator chose it), but a link found inside a folder is neither
    read nor followed, so a handed-over folder cannot pull in files from elsewhere on the machine. A file
    reached twice is kept once. A file found in a folder keeps its path below that folder
    (`guides/a.md`, as an archive's member keeps its folders), so files of one name in two folders both
    arrive; a file named on the command line, its name."""
    found: dict[Path, tuple[Path, str]] = {}
    links: set[Path] = set()
    for path in paths:
        if path.is_file():
            found.setdefault(path.resolve(), (path, stored_name(Path(path.name))))
            continue
        for folder, folders, names in os.walk(path):  # never follows links to folders
            base = Path(folder)
            for name in [*folders, *names]:
                if not name.startswith(".") and (base / name).is_symlink():
                    links.add(base / name)
            folders[:] = [n for n in folders if not n.startswith(".") and not (base / n).is_symlink()]
            for name in names:
                item = base / name
                if not name.startswith(".") and not item.is_symlink() and item.is_file():
                    found.setdefault(item.resolve(), (item, stored_name(item.relative_to(path))))
    return sorted(found.values(), key=lambda f: f[0].resolve()), sorted(links)


def stored_name(path: Path) -> str:
    """A relative path as the file's name, as an archive member's is kept (`core.filenames.clean_member_name`:
    folders joined with `/`, no controls, at most 255 bytes); bytes of the local name that are not UTF-8
    become U+FFFD, as a browser shows them."""
    return clean_member_name(os.fsencode(path.as_posix()).decode("utf-8", "replace"))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while piece := handle.read(READ_SIZE):
            digest.update(piece)
    return digest.hexdigest()


async def plan(
    db: Database, dataset_id: uuid.UUID, paths: Iterable[Path], max_bytes: int | None = None
) -> IngestPlan:
    """What to upload: the files whose content the dataset does not have yet (404 for no dataset). Empty
    files and files over `max_bytes` (`max_file_bytes`, which an upload would refuse) are left out and
    counted, so one of them does not refuse the whole folder."""
    files, links = await asyncio.to_thread(collect, paths)
    async with db.session_scope() as session:
        if await session.get(Dataset, dataset_id) is None:
            raise NotFound("No such dataset or GPT")
        rows = await session.execute(
            sa.select(KnowledgeFile.sha256, KnowledgeFile.id, KnowledgeFile.status).where(
                KnowledgeFile.dataset_id == dataset_id,
                KnowledgeFile.detached_at.is_(None),
                KnowledgeFile.status.not_in(GONE_STATES),  # uploaded again, they replace those
            )
        )
        have: set[str] = set()
        ingesting: dict[str, list[uuid.UUID]] = {}
        for digest, file_id, status in rows:
            have.add(digest)
            if status == "in_progress":
                ingesting.setdefault(digest, []).append(file_id)
    result = IngestPlan(files=[], links=links)
    for path, name in files:
        size = path.stat().st_size
        if size == 0:
            result.empty += 1
            continue
        if max_bytes is not None and size > max_bytes:
            result.too_large.append(path)
            continue
        digest = await asyncio.to_thread(sha256_of, path)
        if digest in have:
            result.already += 1
            result.waiting.extend(ingesting.pop(digest, ()))  # once, however many local copies
        else:
            have.add(digest)
            result.files.append((path, name))
    return result


async def _read(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as handle:
        while piece := await asyncio.to_thread(handle.read, READ_SIZE):
            yield piece


async def upload(
    db: Database,
    settings: Settings,
    queue: Queue,
    dataset_id: uuid.UUID,
    work: IngestPlan,
    on_file: Callable[[int], object] = lambda n: None,
) -> list[uuid.UUID]:
    """Upload the planned files as batches of at most `max_files_per_batch`, each committed and queued
    (fairly) before the next is read; returns the batch ids. `on_file(1)` after each stored file."""
    blobs = upload_blobs(settings)
    size = settings.max_files_per_batch
    for start in range(0, len(work.files), size):
        staged = StagedBatch()
        try:
            for path, name in work.files[start : start + size]:
                file_id = uuid.uuid4()
                stored, digest, blank = await blobs.write_stream(
                    file_id, _read(path), settings.max_file_bytes, name
                )
                staged.files.append(StagedFile(file_id, name, stored, digest, blank))
                on_file(1)
            async with db.session_scope() as session:
                base = await session.get(Dataset, dataset_id)
                if base is None:
                    raise NotFound("No such dataset or GPT")
                batch = await BatchService(session, settings).create(base, staged)
                owner_id = base.owner_id
        except BaseException:
            for item in staged.files:
                blobs.delete(item.id)
            raise
        work.batch_ids.append(batch.id)
        await dispatch(db, settings, queue, owner_id)
    return work.batch_ids


async def settled(
    db: Database, batch_ids: Iterable[uuid.UUID], file_ids: Iterable[uuid.UUID] = ()
) -> tuple[int, dict[str, int]]:
    """(files no longer in progress, counts by status) over the batches' files and `file_ids` (an earlier
    run's, still ingesting when this one planned), in one grouped statement."""
    async with db.session_scope() as session:
        rows = await session.execute(
            sa.select(KnowledgeFile.status, sa.func.count())
            .where(sa.or_(KnowledgeFile.batch_id.in_(list(batch_ids)), KnowledgeFile.id.in_(list(file_ids))))
            .group_by(KnowledgeFile.status)
        )
        totals = {status: count for status, count in rows}
    return sum(n for s, n in totals.items() if s != "in_progress"), totals


async def ingest_with_progress(
    settings: Settings, dataset_id: uuid.UUID, paths: Iterable[Path], *, wait: bool = True
) -> dict[str, int]:
    """The `gptstore ingest` command: plan, upload with a progress bar of files stored, then (`wait`) a
    bar of files ingested; returns the files' counts by status."""
    from core.jobs import create_queue
    from core.redis import redis_from_settings

    db = Database.from_settings(settings, settings.database_url)
    redis = redis_from_settings(settings)
    counts: dict[str, int] = {}
    try:
        work = await plan(db, dataset_id, paths, settings.max_file_bytes)
        click.echo(summary(work, settings.max_file_bytes), err=True)
        batch_ids: list[uuid.UUID] = []
        if work.files:
            with click.progressbar(length=len(work.files), label="Uploading", file=sys.stderr) as bar:
                batch_ids = await upload(
                    db, settings, create_queue(redis), dataset_id, work, on_file=bar.update
                )
            click.echo(f"batches: {', '.join(map(str, batch_ids))}", err=True)
        if not wait or not (work.files or work.waiting):
            return counts
        done, expected = 0, len(work.files) + len(work.waiting)
        # Until none of the files is in progress: a file deleted meanwhile (or its dataset) is not waited
        # for; it is counted as gone.
        with click.progressbar(length=expected, label="Ingesting", file=sys.stderr) as bar:
            while True:
                await asyncio.sleep(PROGRESS_POLL_SECONDS)
                now_done, counts = await settled(db, batch_ids, work.waiting)
                gone = max(0, expected - sum(counts.values()))
                bar.update(now_done + gone - done)
                done = now_done + gone
                if not counts.get("in_progress"):
                    break
        report = [f"{n} {status}" for status, n in sorted(counts.items())]
        if gone:
            report.append(f"{gone} no longer in the dataset (deleted)")
        click.echo("ingested: " + ", ".join(report))
        return counts
    finally:
        await redis.aclose()
        await db.dispose()
        await storage_of(settings).drain()  # a refused batch's stored uploads go before the process ends


def summary(work: IngestPlan, max_file_bytes: int) -> str:
    """The plan's line: `2,500 files to upload; 1,200 already in the dataset (3 of them still ingesting),
    0 empty`, then the files left out (too large, links), every count with thousands separators."""
    still = f" ({len(work.waiting):,} of them still ingesting)" if work.waiting else ""
    return (
        f"{counted(len(work.files), 'file')} to upload; {work.already:,} already in the dataset{still},"
        f" {work.empty:,} empty"
        + _too_large(work.too_large, max_file_bytes)
        + _left_out(work.links, "symbolic links inside the folders")
    )


def _too_large(paths: list[Path], limit: int) -> str:
    """`, 2 over the limit of 200,000 bytes per file (left out): a.pdf, b.pdf`; "" for none."""
    return _left_out(paths, f"over the limit of {limit:,} bytes per file")


def _left_out(paths: list[Path], why: str, shown: int = 5) -> str:
    """`, 2 {why} (left out): a, b` naming at most `shown` of `paths`; "" for none."""
    if not paths:
        return ""
    names = ", ".join(str(p) for p in paths[:shown]) + (
        f" and {len(paths) - shown} more" if len(paths) > shown else ""
    )
    return f", {len(paths):,} {why} (left out): {names}"
