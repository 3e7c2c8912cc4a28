"""Object storage (core/storage.py) against the local directory and a real S3-protocol server (moto)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from core.settings import Settings
from core.storage import CHUNK_BYTES, storage_of

# Over obstore's 5 MiB part size, so a bucket receives it as a multipart upload.
LARGE = random.Random(15).randbytes(6 * 1024 * 1024 + 123)


async def test_an_object_is_stored_streamed_copied_and_deleted(storage_settings, tmp_path):
    storage = storage_of(storage_settings)
    key = f"files/{uuid.uuid4()}"
    spooled = storage.spool_path(key)
    spooled.write_bytes(LARGE)

    await storage.put_file(key, spooled)
    spooled.unlink(missing_ok=True)

    assert await storage.exists(key)
    stored = await storage.open(key)
    chunks = [chunk async for chunk in stored.chunks]
    assert stored.size == len(LARGE) and b"".join(chunks) == LARGE
    assert len(chunks) > 1 and max(map(len, chunks)) < len(LARGE)  # streamed, never whole
    assert await storage.read(key) == LARGE
    async with storage.local_file(key) as path:
        assert path.read_bytes() == LARGE
    if not storage.is_local:  # a bucket's object was copied for the block, and the copy is gone
        assert not path.exists()

    await storage.delete([key])
    await storage.delete([key])  # deleting what is gone is no error
    assert not await storage.exists(key)
    with pytest.raises(FileNotFoundError):
        await storage.open(key)
    with pytest.raises(FileNotFoundError):
        async with storage.local_file(key):
            pass


async def test_deletes_after_a_commit_finish_and_listing_sees_age(storage_settings):
    storage = storage_of(storage_settings)
    keys = [f"files/ab/{uuid.uuid4()}" for _ in range(3)]
    for key in keys:
        spooled = storage.spool_path(key)
        spooled.write_bytes(b"x" * (CHUNK_BYTES // 4))
        await storage.put_file(key, spooled)
        spooled.unlink(missing_ok=True)

    later = datetime.now(UTC) + timedelta(minutes=1)
    listed = [key async for page in storage.keys_older_than("files", later) for key in page]
    assert sorted(listed) == sorted(keys)
    assert [page async for page in storage.keys_older_than("files", later - timedelta(hours=1))] == []

    storage.delete_soon(keys[:2])
    await storage.drain()
    assert [await storage.exists(key) for key in keys] == [False, False, True]


def test_the_storage_url_is_checked(tmp_path):
    for url in ("ftp://host/x", "s3://", "/srv/files", "file://relative"):
        with pytest.raises(ValidationError, match="GPTSTORE_STORAGE_URL"):
            Settings(data_dir=tmp_path, storage_url=url)
    with pytest.raises(ValidationError, match="set together"):
        Settings(data_dir=tmp_path, storage_url="s3://bucket", storage_access_key_id="key")
    other = Settings(data_dir=tmp_path, storage_url=f"file://{tmp_path}/up")
    assert storage_of(other).root == tmp_path / "up"
    assert storage_of(Settings(data_dir=tmp_path)).root == tmp_path  # keys start with files/: as before
