"""Object storage for uploads: a local directory or an S3-compatible bucket, behind one interface.

`GPTSTORE_STORAGE_URL` chooses it: unset keeps objects in the data dir (`<data dir>/files/...`, as before),
`file:///srv/gptstore` in another directory, `s3://bucket/prefix` in a bucket of AWS S3, MinIO, Cloudflare
R2 or any S3-compatible server (`GPTSTORE_STORAGE_ENDPOINT`, `..._REGION`, `..._ACCESS_KEY_ID`,
`..._SECRET_ACCESS_KEY`; unset credentials fall back to the AWS chain: `AWS_*` variables, instance roles).

The library is obstore (the Rust `object_store` crate of Apache Arrow): native asyncio calls, puts that
stream a file in 5 MiB multipart parts and gets that stream in chunks (no object is held in memory whole),
the same calls for a local directory and a bucket, and one ~6 MB wheel with no Python dependencies
(boto3/botocore is ~15 MB and sync; aiobotocore adds aiohttp; s3fs adds fsspec and aiobotocore).

Keys are `/`-separated names (`files/ab/ab12...`); a put is atomic (a reader never sees half an object),
and a put of a local directory is a rename of a file spooled beside its place. Errors: a missing object
raises `FileNotFoundError`; anything else from the store raises as it comes (`obstore.exceptions`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import obstore
import obstore.exceptions
from obstore.store import LocalStore, S3Store

from core.settings import Settings

logger = logging.getLogger("gptstore.storage")

StorageError = obstore.exceptions.BaseError  # any failure of the store but a missing object

CHUNK_BYTES = 1024 * 1024  # a streamed get yields chunks of about this size
DELETE_BATCH = 1000  # keys per S3 DeleteObjects request (the protocol's maximum)


@dataclass
class StoredObject:
    """An object opened for reading: its size in bytes and its content as chunks (stream them once)."""

    size: int
    chunks: AsyncIterator[bytes]


class Storage:
    """Objects by key in a local directory (`root`) or a bucket (`store`); see the module docstring."""

    def __init__(self, store: LocalStore | S3Store, *, url: str, root: Path | None, spool_dir: Path):
        self.store = store
        self.url = url
        self.root = root  # the directory of a local store, else None
        self.spool_dir = spool_dir
        self._pending: set[asyncio.Task] = set()

    @property
    def is_local(self) -> bool:
        return self.root is not None

    def spool_path(self, key: str) -> Path:
        """Where the bytes of a new object are written before `put_file` stores them: beside their place in
        a local directory (so storing is a rename), under `<data dir>/spool` for a bucket."""
        if self.root is not None:
            path = self.root / f"{key}.part"
        else:
            path = self.spool_dir / f"{uuid.uuid4()}.part"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    async def put_file(self, key: str, path: Path) -> None:
        """Store the local file `path` as `key`, atomically; a local store moves it, a bucket copies it in
        multipart parts (the caller removes the file)."""
        if self.root is not None:
            target = self.root / key
            await asyncio.to_thread(_move, path, target)
        else:
            await obstore.put_async(self.store, key, path)

    async def open(self, key: str) -> StoredObject:
        """The object for streaming; raises `FileNotFoundError` before anything is read when it is missing."""
        result = await obstore.get_async(self.store, key)
        return StoredObject(size=result.meta["size"], chunks=result.stream(min_chunk_size=CHUNK_BYTES))

    async def read(self, key: str) -> bytes:
        """The whole object in memory (for callers that need it whole, such as a zip member)."""
        result = await obstore.get_async(self.store, key)
        return bytes(await result.bytes_async())

    @contextlib.asynccontextmanager
    async def local_file(self, key: str) -> AsyncIterator[Path]:
        """The object as a local file for the block: the file itself in a local store, else a copy streamed
        into the spool directory and removed afterwards. `FileNotFoundError` when it is missing."""
        if self.root is not None:
            path = self.root / key
            if not await asyncio.to_thread(path.is_file):
                raise FileNotFoundError(key)
            yield path
            return
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
        """Delete the objects (missing ones are no error)."""
        keys = list(keys)
        if self.root is not None:
            await asyncio.to_thread(self._delete_local, keys)
            return
        for start in range(0, len(keys), DELETE_BATCH):
            await obstore.delete_async(self.store, keys[start : start + DELETE_BATCH])

    def delete_soon(self, keys: Iterable[str]) -> None:
        """Delete the objects without waiting (for a transaction's commit hook): at once in a local store, in
        a background task for a bucket. A delete that fails is logged; `collect_orphans` removes it later."""
        keys = list(keys)
        if not keys:
            return
        if self.root is not None:
            self._delete_local(keys)
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

    def _delete_local(self, keys: list[str]) -> None:
        for key in keys:
            (self.root / key).unlink(missing_ok=True)

    def sweep_spool(self, cutoff: datetime) -> int:
        """Remove spool files of a bucket's uploads and reads last modified before `cutoff` (a process that
        died mid-upload leaves one); returns how many."""
        if self.root is not None or not self.spool_dir.is_dir():
            return 0
        removed = 0
        for path in self.spool_dir.glob("*.part"):
            with contextlib.suppress(FileNotFoundError):
                if datetime.fromtimestamp(path.stat().st_mtime, UTC) < cutoff:
                    path.unlink()
                    removed += 1
        return removed

    async def keys_older_than(self, prefix: str, cutoff: datetime) -> AsyncIterator[list[str]]:
        """Keys under `prefix` last modified before `cutoff`, a page at a time."""
        async for page in obstore.list(self.store, prefix=prefix, chunk_size=DELETE_BATCH):
            keys = [meta["path"] for meta in page if meta["last_modified"] < cutoff]
            if keys:
                yield keys


def _move(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(source, target)


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
        return Storage(LocalStore(root), url=url or root.as_uri(), root=root, spool_dir=spool)
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
    return Storage(store, url=url, root=None, spool_dir=spool)
