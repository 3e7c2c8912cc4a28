"""Object storage for uploads: a local directory or an S3-compatible bucket, behind one interface.

`GPTSTORE_STORAGE_URL` chooses it: unset keeps objects in the data dir (`<data dir>/files/...`, as before),
`file:///srv/gptstore` in another directory, `s3://bucket/prefix` in a bucket of AWS S3, MinIO, Cloudflare
R2 or any S3-compatible server (`GPTSTORE_STORAGE_ENDPOINT`, `..._REGION`, `..._ACCESS_KEY_ID`,
`..._SECRET_ACCESS_KEY`; unset credentials fall back to the AWS chain: `AWS_*` variables, instance roles).

Buckets go through obstore (the Rust `object_store` crate of Apache Arrow): native asyncio calls, puts
that stream a file in 5 MiB multipart parts and gets that stream in chunks (no object is held in memory
whole), any S3-compatible server, and one ~6 MB wheel with no Python dependencies (boto3/botocore is
~15 MB and sync; aiobotocore adds aiohttp; s3fs adds fsspec and aiobotocore). A local directory uses plain
file calls in threads.

Keys are `/`-separated names (`files/ab/ab12...`); a put is atomic (a reader never sees half an object):
a rename of a file spooled beside its place in a directory, a (multipart) upload completed at once.
Errors: a missing object raises `FileNotFoundError`; anything else from a bucket raises as it comes
(`StorageError`, obstore's; core/exhaustion.py answers an unreachable bucket with 503).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO

import obstore
import obstore.exceptions
from obstore.store import S3Store

from core.settings import Settings

logger = logging.getLogger("gptstore.storage")

StorageError = obstore.exceptions.BaseError  # any failure of a bucket but a missing object

CHUNK_BYTES = 1024 * 1024  # a streamed read yields chunks of about this size
# Multipart parts of one put in flight at once (obstore's default is 12): its memory is this many 5 MiB
# parts, 20 MiB per upload (bench/storage.py).
PUT_PARTS = 4
DELETE_BATCH = 1000  # keys per S3 DeleteObjects request (the protocol's maximum)


@dataclass
class StoredObject:
    """An object opened for reading: its size in bytes and its content as chunks (stream them once)."""

    size: int
    chunks: AsyncIterator[bytes]


class Storage(ABC):
    """Objects by key: `LocalStorage` (a directory) or `BucketStorage` (S3 protocol); see the module."""

    def __init__(self, *, url: str, spool_dir: Path):
        self.url = url
        self.spool_dir = spool_dir
        self._pending: set[asyncio.Task] = set()

    is_local = False

    @abstractmethod
    def spool_path(self, key: str) -> Path:
        """Where the bytes of a new object are written before `put_file` stores them."""

    @abstractmethod
    async def put_file(self, key: str, path: Path) -> None:
        """Store the local file `path` as `key`, atomically (the caller removes `path` if it is left)."""

    @abstractmethod
    async def open(self, key: str) -> StoredObject:
        """The object for streaming; `FileNotFoundError` before anything is read when it is missing."""

    @abstractmethod
    async def read(self, key: str) -> bytes:
        """The whole object in memory (for callers that need it whole, such as a zip member)."""

    @abstractmethod
    def local_file(self, key: str) -> contextlib.AbstractAsyncContextManager[Path]:
        """The object as a local file for the block; `FileNotFoundError` when it is missing."""

    @abstractmethod
    async def exists(self, key: str) -> bool: ...

    @abstractmethod
    async def delete(self, keys: Iterable[str]) -> None:
        """Delete the objects (missing ones are no error)."""

    @abstractmethod
    def keys_older_than(self, prefix: str, cutoff: datetime) -> AsyncIterator[list[str]]:
        """Keys under `prefix` last modified before `cutoff`, a page at a time."""

    def delete_soon(self, keys: Iterable[str]) -> None:
        """Delete the objects without waiting (for a transaction's commit hook), in a background task. A
        delete that fails is logged; `retrieval.orphans` removes the object later."""
        keys = list(keys)
        if not keys:
            return
        task = asyncio.get_running_loop().create_task(self.delete(keys))
        self._pending.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.warning("could not delete stored objects: %s", task.exception())

    async def drain(self) -> None:
        """Wait for the deletes `delete_soon` started (before a process ends, and in tests)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    def sweep_spool(self, cutoff: datetime) -> int:
        """Remove spool files last modified before `cutoff` (a process that died mid-upload or mid-copy
        leaves one); returns how many."""
        removed = 0
        for path in self.spool_dir.glob("*.part") if self.spool_dir.is_dir() else ():
            with contextlib.suppress(FileNotFoundError):
                if datetime.fromtimestamp(path.stat().st_mtime, UTC) < cutoff:
                    path.unlink()
                    removed += 1
        return removed


class LocalStorage(Storage):
    """Objects as files under `root`: `root/<key>`. Plain file calls in threads (obstore's `LocalStore`
    streams at a fraction of the disk's speed: bench/storage.py)."""

    is_local = True

    def __init__(self, root: Path, *, url: str, spool_dir: Path):
        super().__init__(url=url, spool_dir=spool_dir)
        self.root = root

    def spool_path(self, key: str) -> Path:
        """Beside the object's place, so storing it is a rename."""
        path = self.root / f"{key}.part"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    async def put_file(self, key: str, path: Path) -> None:
        await asyncio.to_thread(_move, path, self.root / key)

    async def open(self, key: str) -> StoredObject:
        file = await asyncio.to_thread((self.root / key).open, "rb")  # FileNotFoundError when missing
        return StoredObject(size=os.fstat(file.fileno()).st_size, chunks=_file_chunks(file))

    async def read(self, key: str) -> bytes:
        return await asyncio.to_thread((self.root / key).read_bytes)

    @contextlib.asynccontextmanager
    async def local_file(self, key: str) -> AsyncIterator[Path]:
        """The file itself."""
        path = self.root / key
        if not await asyncio.to_thread(path.is_file):
            raise FileNotFoundError(key)
        yield path

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread((self.root / key).is_file)

    async def delete(self, keys: Iterable[str]) -> None:
        await asyncio.to_thread(self._delete, list(keys))

    def delete_soon(self, keys: Iterable[str]) -> None:
        """Deleting files takes microseconds: done at once."""
        self._delete(list(keys))

    def _delete(self, keys: list[str]) -> None:
        for key in keys:
            (self.root / key).unlink(missing_ok=True)

    async def keys_older_than(self, prefix: str, cutoff: datetime) -> AsyncIterator[list[str]]:
        paths = await asyncio.to_thread(_files_older_than, self.root / prefix, cutoff.timestamp())
        for start in range(0, len(paths), DELETE_BATCH):
            yield [path.relative_to(self.root).as_posix() for path in paths[start : start + DELETE_BATCH]]


class BucketStorage(Storage):
    """Objects in an S3-compatible bucket through obstore: puts in 5 MiB multipart parts, streamed gets."""

    def __init__(self, store: S3Store, *, url: str, spool_dir: Path):
        super().__init__(url=url, spool_dir=spool_dir)
        self.store = store

    def spool_path(self, key: str) -> Path:
        """A fresh file in `<data dir>/spool`."""
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        return self.spool_dir / f"{uuid.uuid4()}.part"

    async def put_file(self, key: str, path: Path) -> None:
        await obstore.put_async(self.store, key, path, max_concurrency=PUT_PARTS)

    async def open(self, key: str) -> StoredObject:
        result = await obstore.get_async(self.store, key)
        return StoredObject(size=result.meta["size"], chunks=result.stream(min_chunk_size=CHUNK_BYTES))

    async def read(self, key: str) -> bytes:
        result = await obstore.get_async(self.store, key)
        return bytes(await result.bytes_async())

    @contextlib.asynccontextmanager
    async def local_file(self, key: str) -> AsyncIterator[Path]:
        """A copy streamed into the spool directory, removed after the block."""
        stored = await self.open(key)
        path = self.spool_path(key)
        try:
            with path.open("wb") as out:
                async for chunk in stored.chunks:
                    await asyncio.to_thread(out.write, chunk)
            yield path
        finally:
            path.unlink(missing_ok=True)

    async def exists(self, key: str) -> bool:
        try:
            await obstore.head_async(self.store, key)
        except FileNotFoundError:
            return False
        return True

    async def delete(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        for start in range(0, len(keys), DELETE_BATCH):
            await obstore.delete_async(self.store, keys[start : start + DELETE_BATCH])

    async def keys_older_than(self, prefix: str, cutoff: datetime) -> AsyncIterator[list[str]]:
        async for page in obstore.list(self.store, prefix=prefix, chunk_size=DELETE_BATCH):
            keys = [meta["path"] for meta in page if meta["last_modified"] < cutoff]
            if keys:
                yield keys


def _move(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(source, target)


async def _file_chunks(file: BinaryIO) -> AsyncIterator[bytes]:
    try:
        while chunk := await asyncio.to_thread(file.read, CHUNK_BYTES):
            yield chunk
    finally:
        file.close()


def _files_older_than(directory: Path, cutoff: float) -> list[Path]:
    if not directory.is_dir():
        return []
    return [path for path in directory.rglob("*") if path.is_file() and path.stat().st_mtime < cutoff]


def storage_of(settings: Settings) -> Storage:
    """The storage the settings choose (one per distinct configuration, so pending deletes are shared)."""
    secret = settings.storage_secret_access_key
    return _storage(
        settings.storage_url or "",
        str(settings.data_dir),
        settings.storage_endpoint,
        settings.storage_region,
        settings.storage_access_key_id,
        secret.get_secret_value() if secret else None,
        settings.storage_timeout_seconds,
        settings.storage_max_retries,
    )


@lru_cache(maxsize=64)
def _storage(
    url: str,
    data_dir: str,
    endpoint: str | None,
    region: str | None,
    access_key_id: str | None,
    secret_access_key: str | None,
    timeout_seconds: float,
    max_retries: int,
) -> Storage:
    spool = Path(data_dir) / "spool"
    if not url or url.startswith("file://"):
        root = Path(url.removeprefix("file://")) if url else Path(data_dir)
        root.mkdir(parents=True, exist_ok=True)
        return LocalStorage(root, url=url or root.as_uri(), spool_dir=spool)
    config: dict[str, Any] = {}
    if endpoint:
        config["endpoint"] = endpoint
    if region:
        config["region"] = region
    if access_key_id:
        config["access_key_id"] = access_key_id
    if secret_access_key:
        config["secret_access_key"] = secret_access_key
    client: dict[str, Any] = {"timeout": timedelta(seconds=timeout_seconds), "connect_timeout": "10s"}
    if endpoint and endpoint.startswith("http://"):
        client["allow_http"] = True
    retry = {"max_retries": max_retries, "retry_timeout": timedelta(seconds=timeout_seconds)}
    store = S3Store.from_url(url, config=config, client_options=client, retry_config=retry)
    return BucketStorage(store, url=url, spool_dir=spool)
