"""`gptstore ingest`: a folder into a dataset as file batches, resumable by content."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner

from core.cli import main
from core.db import create_engine
from core.models import User
from core.settings import get_settings
from retrieval.bulk_ingest import IngestPlan, summary
from retrieval.models import Dataset, KnowledgeFile


def _run(coro):
    return asyncio.new_event_loop().run_until_complete(coro)


async def _setup(database_url: str) -> tuple[uuid.UUID, uuid.UUID]:
    engine = create_engine(database_url, pool_size=1)
    user_id, dataset_id = uuid.uuid4(), uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(
            sa.insert(User).values(
                id=user_id, email=f"{user_id}@example.com", password_hash="x", display_name="Ingest",
                handle=f"ingest-{user_id.hex[:8]}", plan="plus",
            )
        )  # fmt: skip
        await conn.execute(sa.insert(Dataset).values(id=dataset_id, owner_id=user_id, name="Docs"))
    await engine.dispose()
    return user_id, dataset_id


async def _files(database_url: str, dataset_id: uuid.UUID) -> list[tuple[str, bool, uuid.UUID | None]]:
    engine = create_engine(database_url, pool_size=1)
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(KnowledgeFile.filename, KnowledgeFile.dispatched, KnowledgeFile.batch_id)
            .where(KnowledgeFile.dataset_id == dataset_id)
            .order_by(KnowledgeFile.filename)
        )
        result = [tuple(r) for r in rows.all()]
    await engine.dispose()
    return result


async def _cleanup(database_url: str, user_id: uuid.UUID) -> None:
    engine = create_engine(database_url, pool_size=1)
    async with engine.begin() as conn:
        await conn.execute(sa.delete(User).where(User.id == user_id))
    await engine.dispose()


def _command_settings(monkeypatch, database_url: str, server_urls, tmp_path) -> None:
    """The command's settings: the suite's servers, a data directory of the test's own."""
    monkeypatch.setenv("GPTSTORE_DATABASE_URL", database_url)
    monkeypatch.setenv("GPTSTORE_REDIS_URL", server_urls[1])
    monkeypatch.setenv("GPTSTORE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GPTSTORE_SECRET_KEY", "test-secret-" + "x" * 40)


def test_ingest_uploads_a_folder_once_and_resumes(database_url, server_urls, tmp_path, monkeypatch):
    folder = tmp_path / "docs"
    (folder / "guides" / "deep").mkdir(parents=True)
    (folder / ".git").mkdir()
    (folder / "a.md").write_text("# A\n\nThe ferry leaves at nine.\n")
    (folder / "guides" / "b.txt").write_text("Kayaks rent for 600 NOK.\n")
    (folder / "guides" / "deep" / "c.md").write_text("# C\n\nThe tide is 2.3 metres.\n")
    (folder / "guides" / "deep" / "a.md").write_text("# Another A\n\nThe ferry returns at six.\n")
    (folder / "guides" / "empty.txt").write_text("")
    (folder / ".git" / "config").write_text("[core]\n")
    (folder / ".DS_Store").write_bytes(b"\0\1")
    user_id, dataset_id = _run(_setup(database_url))
    _command_settings(monkeypatch, database_url, server_urls, tmp_path)
    get_settings.cache_clear()
    try:
        first = CliRunner().invoke(main, ["ingest", str(folder), "--dataset", str(dataset_id), "--no-wait"])
        assert first.exit_code == 0, first.output
        assert "4 files to upload; 0 already in the dataset, 1 empty" in first.output
        files = _run(_files(database_url, dataset_id))
        # Folders are kept below the folder given, as an archive's members keep theirs: both a.md arrive.
        assert [name for name, _, _ in files] == [
            "a.md",
            "guides/b.txt",
            "guides/deep/a.md",
            "guides/deep/c.md",
        ]
        assert len({batch for _, _, batch in files}) == 1 and files[0][2] is not None
        assert all(dispatched for _, dispatched, _ in files)  # handed to the job queue

        (folder / "guides" / "d.md").write_text("# D\n\nA new page.\n")
        # names as an upload's are kept: bytes that are not UTF-8 shown as U+FFFD, controls removed
        (folder / os.fsdecode(b"bad\xffname.txt")).write_text("Walruses haul out in June.\n")
        (folder / "new\nline.txt").write_text("Narwhals are rarely seen.\n")
        again = CliRunner().invoke(main, ["ingest", str(folder), "--dataset", str(dataset_id), "--no-wait"])
        assert again.exit_code == 0, again.output
        assert "3 files to upload; 4 already in the dataset" in again.output
        assert [name for name, _, _ in _run(_files(database_url, dataset_id))] == [
            "a.md",
            "bad\ufffdname.txt",
            "guides/b.txt",
            "guides/d.md",
            "guides/deep/a.md",
            "guides/deep/c.md",
            "newline.txt",
        ]

        missing = CliRunner().invoke(main, ["ingest", str(folder), "--dataset", str(uuid.uuid4())])
        assert missing.exit_code == 1 and "No such dataset" in missing.output
    finally:
        get_settings.cache_clear()
        _run(_cleanup(database_url, user_id))


async def _delete_dataset_when_filled(database_url: str, dataset_id: uuid.UUID, files: int) -> None:
    engine = create_engine(database_url, pool_size=1)
    try:
        for _ in range(600):
            async with engine.connect() as conn:
                count = await conn.scalar(
                    sa.select(sa.func.count()).where(KnowledgeFile.dataset_id == dataset_id)
                )
            if count == files:
                break
            await asyncio.sleep(0.05)
        async with engine.begin() as conn:
            await conn.execute(sa.delete(KnowledgeFile).where(KnowledgeFile.dataset_id == dataset_id))
    finally:
        await engine.dispose()


def test_ingest_names_files_over_the_limit_and_ends_when_its_files_are_deleted(
    database_url, server_urls, tmp_path, monkeypatch
):
    """A file over `max_file_bytes` is left out and named (it used to refuse the whole folder, naming no
    file); waiting ends when no file of the batches is in progress, deleted ones included (no worker runs
    here, so they would wait for ever)."""
    folder = tmp_path / "notes"
    folder.mkdir()
    for n in range(3):
        (folder / f"n{n}.md").write_text(f"# Note {n}\n\nQuay {n} is open.\n")
    (folder / "zbig.txt").write_text("x" * 5_000)
    user_id, dataset_id = _run(_setup(database_url))
    _command_settings(monkeypatch, database_url, server_urls, tmp_path)
    monkeypatch.setenv("GPTSTORE_MAX_FILE_BYTES", "4096")
    get_settings.cache_clear()
    try:
        runner = CliRunner()

        async def run_and_delete():
            ingest = asyncio.to_thread(
                runner.invoke, main, ["ingest", str(folder), "--dataset", str(dataset_id)]
            )
            result, _ = await asyncio.wait_for(
                asyncio.gather(ingest, _delete_dataset_when_filled(database_url, dataset_id, 3)), 60
            )
            return result

        result = asyncio.run(run_and_delete())
        assert result.exit_code == 0, result.output
        assert "3 files to upload; 0 already in the dataset, 0 empty" in result.output
        assert "1 over the limit of 4,096 bytes per file (left out): " in result.output
        assert "zbig.txt" in result.output
        assert "3 no longer in the dataset (deleted)" in result.output
    finally:
        get_settings.cache_clear()
        _run(_cleanup(database_url, user_id))


async def _complete_after(database_url: str, dataset_id: uuid.UUID, seconds: float) -> None:
    """What a worker would do: the dataset's files ingested, a while after the command started waiting."""
    await asyncio.sleep(seconds)
    engine = create_engine(database_url, pool_size=1)
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(KnowledgeFile).where(KnowledgeFile.dataset_id == dataset_id).values(status="completed")
        )
    await engine.dispose()


def test_a_rerun_waits_for_the_files_an_interrupted_run_left_ingesting(
    database_url, server_urls, tmp_path, monkeypatch
):
    """Ctrl-C while ingesting, then the same command again: it used to say "0 files to upload" and end
    at once, showing nothing of the files still in progress; it waits for them with a progress bar."""
    folder = tmp_path / "notes"
    folder.mkdir()
    for n in range(3):
        (folder / f"n{n}.md").write_text(f"# Note {n}\n\nPier {n} is open.\n")
    (folder / "copy.md").write_text("# Note 0\n\nPier 0 is open.\n")  # the same content as n0.md
    user_id, dataset_id = _run(_setup(database_url))
    _command_settings(monkeypatch, database_url, server_urls, tmp_path)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        first = runner.invoke(main, ["ingest", str(folder), "--dataset", str(dataset_id), "--no-wait"])
        assert first.exit_code == 0, first.output  # no worker runs here: the files stay in progress

        async def rerun():
            again = asyncio.to_thread(
                runner.invoke, main, ["ingest", str(folder), "--dataset", str(dataset_id)]
            )
            result, _ = await asyncio.wait_for(
                asyncio.gather(again, _complete_after(database_url, dataset_id, 1.5)), 60
            )
            return result

        result = asyncio.run(rerun())
        assert result.exit_code == 0, result.output
        assert "0 files to upload; 4 already in the dataset (3 of them still ingesting)" in result.output
        assert "Ingesting" in result.output and "ingested: 3 completed" in result.output
    finally:
        get_settings.cache_clear()
        _run(_cleanup(database_url, user_id))


def test_links_inside_a_folder_are_left_out_and_named(database_url, server_urls, tmp_path, monkeypatch):
    """A symbolic link inside the folder is neither read nor followed: a folder someone handed over with
    `notes/link.txt -> /etc/passwd` used to upload the machine's file (named `passwd`) into the dataset.
    A path named on the command line is taken as given, a link too."""
    outside = tmp_path / "outside"
    (outside / "sub").mkdir(parents=True)
    (outside / "secret.txt").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (outside / "sub" / "deep.txt").write_text("A file of another folder.\n")
    folder = tmp_path / "handed-over"
    folder.mkdir()
    (folder / "a.md").write_text("# A\n\nThe ferry leaves at nine.\n")
    (folder / "link.txt").symlink_to(outside / "secret.txt")
    (folder / "linked").symlink_to(outside / "sub", target_is_directory=True)
    named = tmp_path / "named.md"
    named.symlink_to(outside / "sub" / "deep.txt")
    user_id, dataset_id = _run(_setup(database_url))
    _command_settings(monkeypatch, database_url, server_urls, tmp_path)
    get_settings.cache_clear()
    try:
        args = ["ingest", str(folder), str(named), "--dataset", str(dataset_id), "--no-wait"]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        assert "2 files to upload; 0 already in the dataset, 0 empty" in result.output
        assert "2 symbolic links inside the folders (left out): " in result.output
        assert "link.txt" in result.output and "linked" in result.output
        assert [name for name, _, _ in _run(_files(database_url, dataset_id))] == ["a.md", "named.md"]
    finally:
        get_settings.cache_clear()
        _run(_cleanup(database_url, user_id))


def test_the_plan_line_groups_thousands_in_every_count():
    """It said "2,500 files to upload; 2500 already in the dataset (2444 of them still ingesting)"."""
    work = IngestPlan(files=[Path("a")] * 2_500, already=2_500, empty=1_000, waiting=[uuid.uuid4()] * 2_444)
    assert summary(work, 100) == (
        "2,500 files to upload; 2,500 already in the dataset (2,444 of them still ingesting), 1,000 empty"
    )
