"""Streaming from a parse child (`retrieval.isolation.stream_in_child`) and ingestion that writes a large
file's first chunks while the child cuts the rest (`retrieval.jobs`, `retrieval.child_tasks`)."""

from __future__ import annotations

import asyncio
import contextlib
import time

import psutil
import pytest
import sqlalchemy as sa

from retrieval.chunking import GROUP_CHARS, chunk_document
from retrieval.isolation import ChildLimits, running_pids, stream_in_child
from retrieval.jobs import ingest
from retrieval.models import KnowledgeChunk, KnowledgeFile
from retrieval.parsing import ParseError, parse_document
from tests.retrieval.child_generators import (
    sleep_before_the_end,
    yield_forever,
    yield_then_fail,
    yield_then_wait,
)
from tests.retrieval.test_ingestion import (
    FakeEmbedder,
    chunk_ords,
    chunk_texts,
    create_gpt,
    file_state,
    upload,
)

LIMITS = ChildLimits(60, 2**31)


async def test_items_arrive_while_the_child_still_runs(tmp_path):
    signal = tmp_path / "go"
    got = []
    async with contextlib.aclosing(
        stream_in_child(yield_then_wait, str(signal), limits=LIMITS, what="t")
    ) as items:
        async for item in items:
            got.append(item)
            signal.touch()
    assert got == [1, 2]
    assert not running_pids()


async def test_an_error_after_some_items_is_raised_after_them():
    got = []
    with pytest.raises(ParseError) as raised:
        async with contextlib.aclosing(stream_in_child(yield_then_fail, limits=LIMITS, what="t")) as items:
            async for item in items:
                got.append(item)
    assert got == ["first"]
    assert raised.value.code == "invalid_file" and "damaged" in raised.value.message
    assert not running_pids()


async def test_leaving_early_kills_the_child():
    async with contextlib.aclosing(stream_in_child(yield_forever, limits=LIMITS, what="t")) as items:
        async for _ in items:
            assert running_pids()
            break
    assert not running_pids()


async def test_the_time_limit_ends_a_child_that_streams_too_long():
    got = []
    with pytest.raises(ParseError) as raised:
        limits = ChildLimits(5, 2**31)  # the start of a child on a loaded host fits in it
        async with contextlib.aclosing(
            stream_in_child(sleep_before_the_end, limits=limits, what="t")
        ) as items:
            async for item in items:
                got.append(item)
    assert got == ["early"]
    assert raised.value.code == "parse_timeout"
    assert not running_pids()


def large_markdown(sections: int) -> str:
    return "\n\n".join(
        f"## Harbour {n}\n\n"
        + " ".join(f"Berth {n}-{i} costs {i * 7 % 97} kroner a night." for i in range(60))
        for n in range(sections)
    )


async def test_a_file_cut_in_several_parts_is_written_whole_and_in_order(
    client, creator_headers, db, settings, session
):
    text = large_markdown(240)
    assert len(text) > 3 * GROUP_CHARS  # several parts
    gpt_id = await create_gpt(client, creator_headers)
    file_id = await upload(client, creator_headers, gpt_id, "harbours.md", text.encode())
    assert await ingest(db, settings, file_id, embedder=FakeEmbedder()) == "completed"
    row = await session.get(KnowledgeFile, file_id)
    sections = parse_document(text.encode(), "harbours.md").sections
    expected = chunk_document(sections, chunk_size=row.chunk_size, chunk_overlap=row.chunk_overlap)
    state = await file_state(client, creator_headers, gpt_id, file_id)
    assert state["chunk_count"] == state["progress"]["chunks_total"] == len(expected)
    assert await chunk_ords(session, file_id) == list(range(len(expected)))
    texts = await chunk_texts(session, file_id)
    assert texts == [c.text for c in expected]


async def test_a_file_over_the_token_limit_in_a_later_part_leaves_no_chunk(
    client, creator_headers, db, settings, session
):
    text = large_markdown(240)
    gpt_id = await create_gpt(client, creator_headers)
    file_id = await upload(client, creator_headers, gpt_id, "harbours.md", text.encode())
    words = len(text.split())
    settings.max_file_tokens = words + 10  # passes the word bound, fails on the tokens of a later part
    assert await ingest(db, settings, file_id, embedder=FakeEmbedder()) == "failed"
    row = await session.get(KnowledgeFile, file_id)
    assert row.error_code == "too_large" and f"the limit is {words + 10:,}" in row.error_message
    assert await chunk_ords(session, file_id) == []
    assert not running_pids()


@pytest.mark.parametrize("delay", [0.001, 0.005])
async def test_a_second_cancellation_while_the_child_is_stopped_leaves_nothing_behind(delay):
    started = asyncio.Event()

    async def consume() -> None:
        async with contextlib.aclosing(stream_in_child(yield_forever, limits=LIMITS, what="t")) as items:
            async for _ in items:
                started.set()

    task = asyncio.create_task(consume())
    await started.wait()
    pids = list(running_pids())
    task.cancel()
    await asyncio.sleep(delay)  # the first cancellation is in the clean-up, waiting for the child
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not running_pids()  # the old clean-up left the child listed here (a stale entry)
    for pid in pids:  # killed, not only forgotten (gone, or a zombie until its forkserver reaps it)
        assert await ended(pid)


async def ended(pid: int, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        await asyncio.sleep(0.05)
    return False


async def texts_of(session, file_id) -> list[str]:
    query = sa.select(KnowledgeChunk.text).where(KnowledgeChunk.file_id == file_id)
    return list(await session.scalars(query.order_by(KnowledgeChunk.ord)))


# Paired writes (retrieval.writes.PairedWriter): two transactions at once need a real pool, as in a worker.


class SlowEmbedder(FakeEmbedder):
    """A model's pace, so a deletion lands while writes are running."""

    async def embed_documents(self, texts):
        await asyncio.sleep(0.02)
        return await super().embed_documents(texts)


async def test_paired_writes_write_a_large_file_whole_and_in_order(live, settings):
    text = large_markdown(240)
    gpt_id = await create_gpt(live.client, live.headers, chunk_size=100, chunk_overlap=10)
    file_id = await upload(live.client, live.headers, gpt_id, "harbours.md", text.encode())
    assert live.db.concurrent_sessions
    assert await ingest(live.db, settings, file_id, embedder=FakeEmbedder()) == "completed"
    async with live.db.session_scope() as session:
        row = await session.get(KnowledgeFile, file_id)
        ords = await chunk_ords(session, file_id)
    assert row.chunk_count > 8 * 256  # many pairs of 256-row writes
    assert ords == list(range(row.chunk_count))
    assert row.chunks_done == row.chunks_total == row.chunk_count


async def test_a_deletion_during_paired_writes_leaves_nothing(live, settings):
    text = large_markdown(240)
    gpt_id = await create_gpt(live.client, live.headers, chunk_size=100, chunk_overlap=10)
    file_id = await upload(live.client, live.headers, gpt_id, "harbours.md", text.encode())
    running = asyncio.create_task(ingest(live.db, settings, file_id, embedder=SlowEmbedder()))
    for _ in range(600):  # until a few pairs are in
        async with live.db.session_scope() as session:
            if len(await chunk_ords(session, file_id)) >= 4 * 256:
                break
        await asyncio.sleep(0.05)
    # The writes take the file row FOR SHARE in turns; the deletion (FOR UPDATE) gets it between pairs.
    deleted = await asyncio.wait_for(
        live.client.delete(f"/api/gpts/{gpt_id}/files/{file_id}", headers=live.headers), 60
    )
    assert deleted.status_code == 204
    assert await asyncio.wait_for(running, 60) in ("cancelled", "deleted")
    async with live.db.session_scope() as session:
        assert await chunk_ords(session, file_id) == []
        assert await session.get(KnowledgeFile, file_id) is None


async def test_a_resumed_run_rewrites_what_follows_a_gap(client, creator_headers, db, settings, session):
    """A pair commits in order, but a run may die with the second write of a pair committed and the first
    not (its commit failed): the resumed run continues at the first missing chunk, once each."""
    gpt_id = await create_gpt(client, creator_headers, chunk_size=100, chunk_overlap=10)
    file_id = await upload(client, creator_headers, gpt_id, "harbours.md", large_markdown(40).encode())
    assert await ingest(db, settings, file_id, embedder=FakeEmbedder()) == "completed"
    before = await chunk_texts(session, file_id)
    assert len(before) > 100
    await session.execute(  # the first write of the last pair never committed
        sa.delete(KnowledgeChunk).where(KnowledgeChunk.file_id == file_id, KnowledgeChunk.ord.between(40, 71))
    )
    await session.execute(
        sa.update(KnowledgeFile).where(KnowledgeFile.id == file_id).values(status="in_progress", attempts=1)
    )
    await session.commit()
    embedder = FakeEmbedder()
    assert await ingest(db, settings, file_id, embedder=embedder) == "completed"
    session.expire_all()
    assert await chunk_ords(session, file_id) == list(range(len(before)))
    after = await chunk_texts(session, file_id)
    assert after == before
    assert embedder.batches == -(-(len(before) - 40) // 32)  # from the gap on, not the whole file
