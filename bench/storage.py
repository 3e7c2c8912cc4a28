"""Object storage (core/storage.py): throughput and memory of storing, streaming and copying one large
upload, in the local directory and in an S3-protocol server (moto's server, as in the tests).

.venv/bin/python bench/storage.py [--mb 128]

For each backend: `put_file` (a rename locally, a multipart put to the bucket), `open` streamed to the end,
`local_file` (what the ingestion worker hands the parse child) and `read` (the whole object in memory, as an
export does). Each line prints MB/s and this process's peak RSS growth over its level before the step
(sampled every 5 ms with psutil) as a ratio of the file's size: a streamed step should stay far below 1,
`read` is about 1 by design. moto runs as a process of its own (its memory is not counted); its MB/s say
nothing about a real S3, only that nothing here is held whole.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.settings import Settings
from core.storage import PUT_PARTS, Storage, storage_of


class PeakRss:
    """This process's peak RSS while the block runs, sampled in a thread."""

    def __enter__(self) -> PeakRss:
        self.process = psutil.Process()
        self.start = self.peak = self.process.memory_info().rss
        self.running = True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.005)

    def __exit__(self, *exc: object) -> None:
        self.running = False
        self.thread.join()

    @property
    def growth(self) -> int:
        return self.peak - self.start


async def measure(name: str, storage: Storage, source: Path, size: int) -> None:
    key = f"files/{uuid.uuid4()}"
    spool = storage.spool_path(key)
    if storage.is_local:  # the put renames the spool file: give it a copy
        await asyncio.to_thread(shutil.copyfile, source, spool)
    steps = []

    async def put() -> None:
        await storage.put_file(key, spool if storage.is_local else source)

    async def stream() -> None:
        stored = await storage.open(key)
        async for _ in stored.chunks:
            pass

    async def copy() -> None:
        async with storage.local_file(key) as path:
            assert path.stat().st_size == size

    async def read() -> None:
        assert len(await storage.read(key)) == size

    for label, step in (("put_file", put), ("open (streamed)", stream), ("local_file", copy), ("read", read)):
        with PeakRss() as rss:
            start = time.perf_counter()
            await step()
            elapsed = time.perf_counter() - start
        steps.append((label, size / elapsed / 2**20, rss.growth / size))
    await storage.delete([key])
    for label, rate, memory in steps:
        print(f"{name:6} {label:16} {rate:9.0f} MB/s   peak RSS growth / file size {memory:5.2f}")


async def main(args: argparse.Namespace) -> None:
    size = args.mb * 2**20
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "upload.bin"
        with source.open("wb") as out:
            for _ in range(args.mb):
                out.write(os.urandom(2**20))
        local = Settings(data_dir=Path(tmp) / "local")
        await measure("local", storage_of(local), source, size)

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            import boto3

            endpoint = f"http://127.0.0.1:{port}"
            for _ in range(100):  # until it listens
                with socket.socket() as probe:
                    if probe.connect_ex(("127.0.0.1", port)) == 0:
                        break
                await asyncio.sleep(0.1)
            boto3.client(
                "s3", endpoint_url=endpoint, region_name="us-east-1",
                aws_access_key_id="bench", aws_secret_access_key="bench",
            ).create_bucket(Bucket="bench")  # fmt: skip
            s3 = Settings(
                data_dir=Path(tmp) / "s3",
                storage_url="s3://bench/uploads",
                storage_endpoint=endpoint,
                storage_region="us-east-1",
                storage_access_key_id="bench",
                storage_secret_access_key="bench",
            )
            await measure("s3", storage_of(s3), source, size)
        finally:
            server.terminate()
            await server.wait()
    print(f"file: {args.mb} MiB; streamed reads: 1 MiB chunks; multipart: 5 MiB parts, {PUT_PARTS} at once")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=128, help="size of the upload in MiB")
    asyncio.run(main(parser.parse_args()))
