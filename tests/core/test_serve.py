"""`gptstore serve` on the embedded default, as a newcomer runs it: real processes, real signals."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest


@pytest.fixture(scope="module")
def fresh_upgrade(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """`gptstore db upgrade` on a fresh data dir, as a newcomer's first command: initdb, the migrations.
    Its data dir is the template the tests below copy (`_data_dir`) when what they test is not the first
    start: initdb and every migration cost ~2.5 s (more on a loaded machine) per test otherwise."""
    data_dir = tmp_path_factory.mktemp("template") / "data"
    env = {k: v for k, v in _env(data_dir).items() if k != "XDG_RUNTIME_DIR"}
    result = subprocess.run(
        [sys.executable, "-m", "core.cli", "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return data_dir, result


def _data_dir(fresh_upgrade, tmp_path: Path) -> Path:
    """A copy of the migrated template (owners kept: PostgreSQL's files belong to its own system user when
    the tests run as root)."""
    template, result = fresh_upgrade
    assert result.returncode == 0, result.stderr
    data_dir = tmp_path / "data"
    subprocess.run(["cp", "-a", str(template), str(data_dir)], check=True)
    return data_dir


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GPTSTORE_")}
    env["GPTSTORE_DATA_DIR"] = str(data_dir)
    return env


def _start(data_dir: Path, port: int, **settings: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "core.cli", "serve", "--port", str(port)],
        env=_env(data_dir) | {f"GPTSTORE_{name.upper()}": value for name, value in settings.items()},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_ready(proc: subprocess.Popen, port: int, timeout: float = 90) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            pytest.fail(f"serve exited early:\n{proc.stdout.read()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200:
                return time.monotonic() - start
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    pytest.fail("serve did not become ready")


def _servers_using(data_dir: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if proc.info["name"] in ("postgres", "redis-server") and str(data_dir) in cmdline:
            found.append(proc)
    return found


def _stop(proc: subprocess.Popen, sig: int) -> None:
    proc.send_signal(sig)
    proc.wait(60)


def test_serve_starts_embedded_servers_keeps_data_and_leaves_no_orphans(tmp_path):
    """Stopped by Ctrl-C (SIGINT) the first time, by SIGTERM (systemd, Docker) the second: both clean."""
    data_dir = tmp_path / "data"
    port = _free_port()
    proc = _start(data_dir, port)
    _wait_ready(proc, port)
    assert len(_servers_using(data_dir)) >= 2  # the postmaster and redis-server at least
    base = f"http://127.0.0.1:{port}"
    account = {"email": "first@example.com", "password": "long enough pw", "display_name": "First"}
    assert httpx.post(f"{base}/api/auth/signup", json=account).status_code == 201

    second = subprocess.run(
        [sys.executable, "-m", "core.cli", "serve", "--port", str(_free_port())],
        env=_env(data_dir), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert second.returncode != 0
    assert "in use" in second.stderr

    _stop(proc, signal.SIGINT)
    assert proc.returncode == 0
    assert _servers_using(data_dir) == []

    proc = _start(data_dir, port)
    _wait_ready(proc, port)
    login = httpx.post(
        f"{base}/api/auth/login", json={"email": account["email"], "password": account["password"]}
    )
    assert login.status_code == 200
    _stop(proc, signal.SIGTERM)
    assert proc.returncode == 0
    assert _servers_using(data_dir) == []


def test_servers_die_with_a_killed_parent(fresh_upgrade, tmp_path):
    data_dir = _data_dir(fresh_upgrade, tmp_path)
    port = _free_port()
    proc = _start(data_dir, port)
    _wait_ready(proc, port)
    proc.kill()
    proc.wait(10)
    deadline = time.monotonic() + 30
    while _servers_using(data_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _servers_using(data_dir) == []


def _json_lines_only(stderr: str) -> None:
    """Every line a command writes to stderr is a JSON log record (or click's one-line `Error: ...`)."""
    for line in stderr.splitlines():
        if line.startswith("Error: "):
            continue
        record = json.loads(line)
        assert "setup plugin" not in record["message"]


def test_cli_commands_work_against_a_running_serve(fresh_upgrade, tmp_path):
    data_dir = _data_dir(fresh_upgrade, tmp_path)
    port = _free_port()
    proc = _start(data_dir, port)
    try:
        _wait_ready(proc, port)
        base = f"http://127.0.0.1:{port}"
        account = {"email": "plan@example.com", "password": "long enough pw", "display_name": "Plan"}
        signup = httpx.post(f"{base}/api/auth/signup", json=account)
        assert signup.status_code == 201
        token = signup.json()["access_token"]

        env = {k: v for k, v in _env(data_dir).items() if k != "XDG_RUNTIME_DIR"}
        command = [sys.executable, "-m", "core.cli", "users", "set-plan", account["email"], "plus"]
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert "now on the plus plan" in result.stdout
        _json_lines_only(result.stderr)
        me = httpx.get(f"{base}/api/me/", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["plan"] == "plus"

        upgrade = subprocess.run(
            [sys.executable, "-m", "core.cli", "db", "upgrade"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert upgrade.returncode == 0, upgrade.stderr
        assert "database at revision" in upgrade.stdout
        _json_lines_only(upgrade.stderr)
        assert httpx.get(f"{base}/ready").status_code == 200  # serve's servers were not touched
    finally:
        _stop(proc, signal.SIGTERM)
    assert not (data_dir / "servers.json").exists()


def test_serve_refuses_an_embedded_database_a_newer_version_migrated(fresh_upgrade, tmp_path):
    """After rolling the app back past a migration, `serve` on the embedded default says which revision
    it does not know, not alembic's traceback from upgrading to it."""
    import asyncio

    import sqlalchemy as sa

    from core.db import create_engine
    from core.embedded import EmbeddedServers

    data_dir = _data_dir(fresh_upgrade, tmp_path)
    servers = EmbeddedServers(data_dir, postgres=True, redis=False).start()
    try:

        async def newer() -> None:
            engine = create_engine(servers.database_url, pool_size=1)
            async with engine.begin() as conn:
                await conn.execute(
                    sa.text("UPDATE alembic_version SET version_num = '0099_from_a_newer_version'")
                )
            await engine.dispose()

        asyncio.run(newer())
    finally:
        servers.stop()
    result = subprocess.run(
        [sys.executable, "-m", "core.cli", "serve", "--port", str(_free_port())],
        env=_env(data_dir), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "0099_from_a_newer_version" in result.stderr and "newer version of gptstore" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_on_a_busy_port_says_so_before_starting_anything(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "core.cli", "serve", "--port", str(port)],
            env=_env(tmp_path / "data"), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert result.returncode != 0
    assert f"port {port} on 127.0.0.1 is in use; choose another with --port" in result.stderr
    assert "Errno" not in result.stderr
    assert not (tmp_path / "data").exists()  # no PostgreSQL, Redis or migration was started


def test_a_fresh_data_dir_logs_only_json(fresh_upgrade):
    _, result = fresh_upgrade
    assert result.returncode == 0, result.stderr
    _json_lines_only(result.stderr)
    assert "XDG_RUNTIME_DIR" not in result.stderr


def test_every_worker_process_logs_json_lines(fresh_upgrade, tmp_path):
    """`serve --workers 2` (as the compose file's store service runs): uvicorn spawns the workers, and their
    logs are JSON lines too, one per request."""
    data_dir = _data_dir(fresh_upgrade, tmp_path)
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "core.cli", "serve", "--port", str(port), "--workers", "2"],
        env=_env(data_dir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        _wait_ready(proc, port, timeout=300)  # initdb, migrations, then two workers each build the app
        for _ in range(6):
            assert httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200
    finally:
        _stop(proc, signal.SIGTERM)
    lines = [line for line in proc.stdout.read().splitlines() if not line.startswith("gptstore ")]
    records = [json.loads(line) for line in lines]  # no console text
    requests = [r for r in records if r["logger"] == "gptstore.access" and r["path"] == "/health"]
    assert len(requests) == 6


def _child(proc: subprocess.Popen, name: str) -> psutil.Process:
    """The embedded server `name` (`postgres`: the postmaster) that `serve` started."""
    return next(c for c in psutil.Process(proc.pid).children() if c.name() == name)


def _wait(predicate, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def _status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=5).status_code
    except httpx.HTTPError:
        return None


def test_a_killed_embedded_server_is_restarted(fresh_upgrade, tmp_path):
    data_dir = _data_dir(fresh_upgrade, tmp_path)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _start(data_dir, port, embedded_restart_first_delay_seconds="0.2")
    try:
        _wait_ready(proc, port, timeout=300)
        account = {"email": "kept@example.com", "password": "long enough pw", "display_name": "Kept"}
        assert httpx.post(f"{base}/api/auth/signup", json=account).status_code == 201
        for name in ("redis-server", "postgres"):
            killed = _child(proc, name)
            killed.kill()  # kill -9: no shutdown of its own
            _wait(lambda killed=killed: not killed.is_running() or killed.status() == psutil.STATUS_ZOMBIE)
            _wait(lambda: _status(f"{base}/ready") == 200)
            assert proc.poll() is None
            assert _child(proc, name).pid != killed.pid
            assert _status(f"{base}/health") == 200
            login = httpx.post(f"{base}/api/auth/login", json={k: account[k] for k in ("email", "password")})
            assert login.status_code == 200, login.text  # the data survived, Redis answers again
    finally:
        _stop(proc, signal.SIGTERM)
    assert proc.returncode == 0
    assert _servers_using(data_dir) == []
    log = [json.loads(line) for line in proc.stdout.read().splitlines() if line.startswith("{")]
    messages = [r["message"] for r in log if r["logger"] == "gptstore.embedded"]
    for name in ("Redis", "PostgreSQL"):  # once when it died, once when it was back
        assert len([m for m in messages if m.startswith(f"the embedded {name} exited")]) == 1
        assert len([m for m in messages if m.startswith(f"the embedded {name} is running again")]) == 1
    assert not [r for r in log if r["logger"] == "saq" and "exception" in r]  # no traceback per second


def test_serve_exits_1_when_an_embedded_server_cannot_be_restarted(fresh_upgrade, tmp_path):
    data_dir = _data_dir(fresh_upgrade, tmp_path)
    port = _free_port()
    # two attempts, after 0.2 and 0.4 s (the default five take 15.5 s)
    proc = _start(data_dir, port, embedded_restart_attempts="2", embedded_restart_first_delay_seconds="0.2")
    try:
        _wait_ready(proc, port, timeout=300)
        redis = _child(proc, "redis-server")
        (data_dir / "redis").rename(tmp_path / "redis-moved")
        (data_dir / "redis").write_text("not a directory: Redis cannot start here")
        redis.kill()
        _wait(lambda: _status(f"http://127.0.0.1:{port}/health") == 503 or proc.poll() is not None)
        proc.wait(90)
    finally:
        if proc.poll() is None:
            _stop(proc, signal.SIGTERM)
    output = proc.stdout.read()
    assert proc.returncode == 1, output
    assert "Error: The embedded Redis exited with code -9 and could not be restarted" in output
    assert _servers_using(data_dir) == []
