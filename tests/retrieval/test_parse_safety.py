"""Parsing safety: hostile files end `failed` within hard bounds, never take the server's memory, never
run twice, and stop when their file is deleted or the worker shuts down.

`inflating-157mb-xml.docx` (tests/data) is the issue's file: 1.26 MB whose `word/document.xml` inflates to
157 MB, under both zip-bomb guards. Each test sets small parse limits so it takes seconds.
"""

from __future__ import annotations

import asyncio
import io
import os
import random
import signal
import socket
import sys
import zipfile
from pathlib import Path

import httpx
import psutil
import pytest
import sqlalchemy as sa

from core.db import Database
from core.jobs import create_queue
from core.models import User
from core.redis import create_redis
from core.tokens import get_encoding
from retrieval.child_tasks import count_words
from retrieval.isolation import running_pids
from retrieval.jobs import enqueue_ingestion, ingest, resume_stale
from retrieval.models import KnowledgeFile
from tests.conftest import TEST_SECRET
from tests.factories import create_user
from tests.retrieval.test_ingestion import chunk_ords, create_gpt, file_state, upload

INFLATING_DOCX = (Path(__file__).parent.parent / "data" / "inflating-157mb-xml.docx").read_bytes()
PARENT_RSS_GROWTH_BOUND = 64 * 1024 * 1024  # the parent never holds the inflated XML (157 MB)


def tiny_paragraphs_docx(paragraphs: int) -> bytes:
    """The issue's DOCX with its body replaced by many one-word paragraphs: a tree many times its XML.

    Random words keep the compression ratio ordinary (about 6), under the zip-bomb guard."""
    source = zipfile.ZipFile(io.BytesIO(INFLATING_DOCX))
    rng = random.Random(5)
    letters = "abcdefghijklmnopqrstuvwxyz"
    body = "".join(
        f"<w:p><w:r><w:t>{''.join(rng.choices(letters, k=6))}</w:t></w:r></w:p>" for _ in range(paragraphs)
    )
    document = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w='
        f'"http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>{body}</w:body></w:document>'
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = document.encode() if info.filename == "word/document.xml" else source.read(info)
            target.writestr(info.filename, data)
    return buffer.getvalue()


async def wait_for_parse_child() -> int:
    for _ in range(600):
        pids = [pid for pid, what in running_pids().items() if what == "parse"]
        if pids:
            return pids[0]
        await asyncio.sleep(0.05)
    raise AssertionError("no parse child started")


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


# Bounded failure --------------------------------------------------------------------------------------


async def test_the_inflating_docx_is_refused_before_it_is_inflated_when_it_cannot_fit(
    client, creator_headers, db, settings, session
):
    settings.parse_memory_mb = 256  # python-docx would hold 157 MB of XML twice, at least
    gpt_id = await create_gpt(client, creator_headers)
    file_id = await upload(client, creator_headers, gpt_id, "handbook.docx", INFLATING_DOCX)
    assert await ingest(db, settings, file_id) == "failed"
    error = (await file_state(client, creator_headers, gpt_id, file_id))["last_error"]
    assert error["code"] == "too_large"
    assert "needs at least" in error["message"] and "the limit is 256 MB" in error["message"]


async def test_the_inflating_docx_fails_on_the_time_limit_without_growing_the_server(
    client, creator_headers, db, settings, session, redis
):
    settings.parse_timeout_seconds = 2
    gpt_id = await create_gpt(client, creator_headers)
    file_id = await upload(client, creator_headers, gpt_id, "handbook.docx", INFLATING_DOCX)
    parent = psutil.Process()
    before = parent.memory_info().rss
    peak = before

    async def sample() -> None:
        nonlocal peak
        while True:
            peak = max(peak, parent.memory_info().rss)
            await asyncio.sleep(0.05)

    sampler = asyncio.create_task(sample())
    try:
        assert await ingest(db, settings, file_id) == "failed"
    finally:
        sampler.cancel()
    assert peak - before < PARENT_RSS_GROWTH_BOUND
    state = await file_state(client, creator_headers, gpt_id, file_id)
    assert state["status"] == "failed"
    assert state["last_error"]["code"] == "parse_timeout"
    assert "2 seconds" in state["last_error"]["message"]
    assert await chunk_ords(session, file_id) == []
    assert not running_pids()
    # A failed file is final: the resume cron never takes it for an interrupted one.
    await session.execute(
        sa.update(KnowledgeFile)
        .where(KnowledgeFile.id == file_id)
        .values(updated_at=sa.func.now() - sa.text("interval '1 hour'"))
    )
    await session.commit()
    assert await resume_stale(db, settings, create_queue(redis), redis) == 0


async def test_a_tree_bomb_fails_on_the_memory_limit(client, creator_headers, db, settings, session):
    settings.parse_memory_mb = 128  # 16 MB of XML passes the cheap floor; its tree does not fit
    gpt_id = await create_gpt(client, creator_headers)
    file_id = await upload(client, creator_headers, gpt_id, "tiny.docx", tiny_paragraphs_docx(400_000))
    assert await ingest(db, settings, file_id) == "failed"
    error = (await file_state(client, creator_headers, gpt_id, file_id))["last_error"]
    assert error["code"] == "parse_memory"
    assert "128 MB" in error["message"]


# Cheap token estimate ---------------------------------------------------------------------------------


async def test_text_with_more_words_than_the_token_limit_is_refused_before_tokenising(
    client, creator_headers, db, settings, session
):
    settings.max_file_tokens = 1000
    words = " ".join(f"word{i % 97}" for i in range(5000))
    gpt_id = await create_gpt(client, creator_headers)
    file_id = await upload(client, creator_headers, gpt_id, "long.txt", words.encode())
    assert await ingest(db, settings, file_id) == "failed"
    error = (await file_state(client, creator_headers, gpt_id, file_id))["last_error"]
    assert error["code"] == "too_large"
    assert "5,000 tokens (at least one per word)" in error["message"]
    assert "the limit is 1,000" in error["message"]


async def test_few_words_of_many_tokens_are_counted_exactly(client, creator_headers, db, settings):
    settings.max_file_tokens = 30
    text = " ".join(["Supercalifragilisticexpialidocious-Nærøyfjordskipsreiarlag"] * 10)  # 10 words
    gpt_id = await create_gpt(client, creator_headers)
    file_id = await upload(client, creator_headers, gpt_id, "words.txt", text.encode())
    assert await ingest(db, settings, file_id) == "failed"
    error = (await file_state(client, creator_headers, gpt_id, file_id))["last_error"]
    assert error["code"] == "too_large"
    assert error["message"].startswith("The file has ") and "at least" not in error["message"]
    assert "the limit is 30" in error["message"]


SAMPLES = [
    "plain words, with punctuation!  And   runs of spaces\n\n\nand lines",
    "don't won't it's they're I'll we've",
    "https://example.com/a/b?c=d&e=f user@example.com 3.14159 1,000,000 2024-05-01T10:00:00Z",
    "Flüsse und Fjorde — Ærøskøbing, Þingvellir; naïve café",
    "員工手冊 第四章 發票原件 必須 保存 五年",
    "tabs\tbetween\twords\x0bvertical\x0cfeed\r\nwindows",
    "emoji 🙂🙂🙂 and 👩‍👩‍👧 family",
    "      leading and trailing      ",
    "",
]


def random_text(rng: random.Random) -> str:
    alphabet = "ab zé,.\n\t🙂字'-0123456789" + "x" * 10
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 400)))


def test_the_word_count_never_exceeds_the_token_count():
    encoding = get_encoding("cl100k_base")
    rng = random.Random(11)
    texts = SAMPLES + [random_text(rng) for _ in range(300)]
    for text in texts:
        assert count_words(text) <= len(encoding.encode_ordinary(text)), text
    assert count_words("one two  three\nfour") == 4


# The lock and the resume cron -------------------------------------------------------------------------


async def test_a_live_parse_keeps_its_lock_and_is_not_queued_again(live, settings, redis):
    settings.parse_timeout_seconds = 4
    settings.parse_memory_mb = 1500
    gpt_id = await create_gpt(live.client, live.headers)
    file_id = await upload(live.client, live.headers, gpt_id, "handbook.docx", INFLATING_DOCX)
    running = asyncio.create_task(ingest(live.db, settings, file_id, redis=redis))
    await wait_for_parse_child()
    # Parsing shows no progress: to the cron the file looks stale, but its lock is alive.
    async with live.db.session_scope() as session:
        await session.execute(
            sa.update(KnowledgeFile)
            .where(KnowledgeFile.id == file_id)
            .values(updated_at=sa.func.now() - sa.text("interval '10 minutes'"))
        )
    await asyncio.sleep(1.5)  # past a heartbeat: the lock was renewed, not merely still young
    queue = create_queue(redis)
    assert await resume_stale(live.db, settings, queue, redis) == 0
    assert await queue.job(f"ingest:{file_id}:1") is None
    assert await asyncio.wait_for(running, 60) == "failed"
    assert (await file_state(live.client, live.headers, gpt_id, file_id))["last_error"]["code"] in (
        "parse_timeout",
        "parse_memory",
    )


# Deleting stops the work ------------------------------------------------------------------------------


@pytest.mark.parametrize("what", ["file", "gpt"])
async def test_deleting_the_file_or_its_gpt_kills_the_parse(what, live, settings, redis):
    settings.parse_timeout_seconds = 120
    settings.parse_memory_mb = 1500
    gpt_id = await create_gpt(live.client, live.headers)
    file_id = await upload(live.client, live.headers, gpt_id, "handbook.docx", INFLATING_DOCX)
    running = asyncio.create_task(ingest(live.db, settings, file_id, redis=redis))
    pid = await wait_for_parse_child()
    await asyncio.sleep(0.5)  # the child has read the upload and is inflating it
    assert not gone(pid)

    url = f"/api/gpts/{gpt_id}/files/{file_id}" if what == "file" else f"/api/gpts/{gpt_id}"
    deleted = await live.client.delete(url, headers=live.headers)
    assert deleted.status_code == 204
    assert await asyncio.wait_for(running, 15) == "deleted"
    assert gone(pid)
    assert not running_pids()
    async with live.db.session_scope() as session:
        assert await session.get(KnowledgeFile, file_id) is None
        assert await chunk_ords(session, file_id) == []
    assert not await redis.exists(f"gptstore:ingest:{file_id}")


# Shutdown ---------------------------------------------------------------------------------------------


def parse_children(worker: psutil.Process) -> list[psutil.Process]:
    """The processes forked by the worker's forkserver (not, say, the embedded PostgreSQL's backends)."""
    found = []
    for server in worker.children():
        try:
            if "multiprocessing.forkserver" in " ".join(server.cmdline()):
                found += server.children()
        except psutil.NoSuchProcess:  # a short-lived child of the worker
            continue
    return found


async def wait_for_children(process: psutil.Process, log: Path) -> list[psutil.Process]:
    for _ in range(600):
        children = parse_children(process)
        if children:
            await asyncio.sleep(0.5)  # not the upload's short sniffing child: the parse
            if still := [child for child in parse_children(process) if child.is_running()]:
                return still
        await asyncio.sleep(0.1)
    raise AssertionError(tail(log))


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


async def test_sigterm_stops_the_worker_and_its_parse_within_seconds(
    engine, database_url, server_urls, settings, tmp_path
):
    db = Database(engine)  # committed transactions: the worker is another process
    async with db.session_scope() as session:
        from builder.service import GptService
        from retrieval.service import KnowledgeService

        user = await create_user(session, settings, plan="plus")
        gpt = await GptService(session, settings).create(user)
        knowledge = KnowledgeService(session, settings)

        async def content():
            yield INFLATING_DOCX

        file = await knowledge.add_file(await knowledge.knowledge_base_of(gpt.id), "handbook.docx", content())
        user_id, file_id = user.id, file.id
    redis = create_redis(server_urls[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith("GPTSTORE_")}
    env.update(
        GPTSTORE_DATABASE_URL=database_url,
        GPTSTORE_REDIS_URL=server_urls[1],
        GPTSTORE_DATA_DIR=str(settings.data_dir),
        GPTSTORE_SECRET_KEY=TEST_SECRET,
        GPTSTORE_PARSE_TIMEOUT_SECONDS="120",
        GPTSTORE_PARSE_MEMORY_MB="1500",
    )
    log = (tmp_path / "worker.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "core.cli", "worker", env=env, stderr=log
    )
    worker = psutil.Process(process.pid)
    try:
        await enqueue_ingestion(create_queue(redis), file_id)
        children = await wait_for_children(worker, tmp_path / "worker.log")

        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 20)
        assert all(gone(child.pid) for child in children)
        async with db.session_scope() as session:  # interrupted, not failed: the cron resumes it later
            assert (
                await session.scalar(sa.select(KnowledgeFile.status).where(KnowledgeFile.id == file_id))
                == "in_progress"
            )
        assert not await redis.exists(f"gptstore:ingest:{file_id}")
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        log.close()
        await redis.aclose()
        async with db.session_scope() as session:
            await session.execute(sa.delete(User).where(User.id == user_id))


async def test_ctrl_c_stops_serve_and_its_parse_within_seconds(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GPTSTORE_")}
    env.update(
        GPTSTORE_DATA_DIR=str(tmp_path / "data"),
        GPTSTORE_DEFAULT_PLAN="plus",
        GPTSTORE_PARSE_TIMEOUT_SECONDS="120",
        GPTSTORE_PARSE_MEMORY_MB="1500",
    )
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "core.cli", "serve", "--port", str(port), env=env, stderr=out, stdout=out
        )
    serve = psutil.Process(process.pid)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            for _ in range(450):
                try:
                    if (await http.get("/ready")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
            account = {"email": "c@example.com", "password": "long enough pw", "display_name": "C"}
            signup = await http.post("/api/auth/signup", json=account)
            assert signup.status_code == 201, tail(log)
            headers = {"Authorization": f"Bearer {signup.json()['access_token']}"}
            gpt_id = await create_gpt(http, headers)
            await upload(http, headers, gpt_id, "handbook.docx", INFLATING_DOCX)
        children = await wait_for_children(serve, log)

        process.send_signal(signal.SIGINT)
        await asyncio.wait_for(process.wait(), 30)
        assert all(gone(child.pid) for child in children)
        assert "gptstore stopped" in tail(log)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
