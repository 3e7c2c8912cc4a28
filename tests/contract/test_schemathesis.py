"""The contract test: Schemathesis against the running service, every operation, with reachable deep paths.

A fresh database, the app under uvicorn on loopback, fixtures made through the API (a published GPT with a
file, a conversation, a review, a report, a rejected GPT with an appeal, an API key), then a bounded
`st run` with the checks below and the stateful phase. Any failure is a bug in the service or in the
document. How it runs and what it checks: docs/contract.md.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_SECRET, migrated_database

CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
]
ROOT = Path(__file__).resolve().parents[2]
MAX_EXAMPLES = int(os.environ.get("GPTSTORE_CONTRACT_MAX_EXAMPLES", "2"))
TIME_BUDGET_SECONDS = 600  # a hang guard per run: the owner's run now works with a valid token throughout
LOGOUT = "^/api/auth/logout$"  # revokes the token it is called with
ACTION_DOCUMENT = {
    "openapi": "3.1.0",
    "info": {"title": "Fjord weather", "version": "1"},
    "servers": [{"url": "https://weather.fjords.example"}],
    "paths": {"/forecast": {"get": {"operationId": "forecast", "responses": {"200": {"description": "ok"}}}}},
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def service(server_urls, migrated_template, tmp_path_factory):
    """`gptstore serve` (with its job worker) on a free loopback port over its own database; yields its base
    URL. A process of its own, as in production: the server's work does not share this process's GIL and
    garbage collector with the test run's heap while `st` drives it."""
    database_url = asyncio.run(
        migrated_database(server_urls[0], f"gptstore_contract_{os.getpid()}", migrated_template)
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("GPTSTORE_")} | {
        "GPTSTORE_DATABASE_URL": database_url,
        "GPTSTORE_REDIS_URL": server_urls[1],
        "GPTSTORE_DATA_DIR": str(tmp_path_factory.mktemp("contract")),
        "GPTSTORE_SECRET_KEY": TEST_SECRET,
        "GPTSTORE_LLM_PROVIDER": "offline",
        "GPTSTORE_DEFAULT_PLAN": "plus",
        "GPTSTORE_LOG_LEVEL": "WARNING",
    }
    port = _free_port()
    log = (tmp_path_factory.getbasetemp() / "contract-serve.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "core.cli", "serve", "--port", str(port), "--with-worker"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(1200):
            assert server.poll() is None, Path(log.name).read_text()[-4000:]
            try:
                if httpx.get(f"{base}/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        yield base
    finally:
        server.terminate()
        server.wait(30)
        log.close()


def _seed(base: str) -> dict[str, str]:
    """Owner, other user, admin and an API key, and one of each resource the deep paths need."""
    with httpx.Client(base_url=base, timeout=60) as http:

        def signup(name: str) -> dict:
            body = {"email": f"{name}@example.com", "password": "correct horse battery", "display_name": name}
            return http.post("/api/auth/signup", json=body).raise_for_status().json()

        admin, owner, other = signup("admin"), signup("owner"), signup("other")
        auth = {
            k: {"Authorization": f"Bearer {v['access_token']}"}
            for k, v in [("admin", admin), ("owner", owner), ("other", other)]
        }
        gpt = (
            http.post(
                "/api/gpts",
                json={
                    "name": "Fjord Guide",
                    "description": "Plans fjord trips.",
                    "category": "lifestyle",
                    "instructions": "Help people plan fjord trips.",
                    "conversation_starters": ["Best fjord in May?"],
                },
                headers=auth["owner"],
            )
            .raise_for_status()
            .json()["id"]
        )
        file = (
            http.post(
                f"/api/gpts/{gpt}/files",
                files={"file": ("fjords.txt", b"Geirangerfjord is best in May. " * 20, "text/plain")},
                data={"access": "open"},
                headers=auth["owner"],
            )
            .raise_for_status()
            .json()["id"]
        )
        dataset = (
            http.post(
                "/api/datasets",
                json={"name": "Fjord facts", "access": "open", "license": "CC-BY-4.0"},
                headers=auth["owner"],
            )
            .raise_for_status()
            .json()["id"]
        )
        action = (
            http.post(
                f"/api/gpts/{gpt}/actions",
                json={
                    "document": ACTION_DOCUMENT,
                    "privacy_policy_url": "https://fjords.example/privacy",
                    "auth": {"type": "bearer", "secret": "contract-secret-token"},
                },
                headers=auth["owner"],
            )
            .raise_for_status()
            .json()["id"]
        )
        for _ in range(300):  # the server's worker ingests it: the download and citation paths answer
            status = http.get(f"/api/gpts/{gpt}/files/{file}", headers=auth["owner"]).json()["status"]
            if status != "in_progress":
                break
            time.sleep(0.1)
        assert status == "completed", status
        published = http.post(
            f"/api/gpts/{gpt}/publish", json={"visibility": "public"}, headers=auth["owner"]
        )
        assert published.json().get("review_status") == "approved", published.text
        conversation = (
            http.post(f"/api/store/gpts/{gpt}/conversations", headers=auth["other"])
            .raise_for_status()
            .json()["id"]
        )
        http.post(
            f"/api/conversations/{conversation}/messages", json={"content": "When?"}, headers=auth["other"]
        ).raise_for_status()
        # The same conversation under /v1 (OpenAI's Conversations API): its first message is an item.
        item = (
            http.get(f"/v1/conversations/{conversation}/items", headers=auth["other"])
            .raise_for_status()
            .json()["data"][0]["id"]
        )
        review = (
            http.put(
                f"/api/store/gpts/{gpt}/rating", json={"stars": 5, "review": "Helpful"}, headers=auth["other"]
            )
            .raise_for_status()
            .json()["id"]
        )
        report = (
            http.post(
                f"/api/store/gpts/{gpt}/reports",
                json={"reason": "spam", "details": "test"},
                headers=auth["other"],
            )
            .raise_for_status()
            .json()["id"]
        )
        rejected = http.post(
            "/api/gpts", json={"name": "Second", "category": "other"}, headers=auth["owner"]
        ).json()["id"]
        http.post(
            f"/api/gpts/{rejected}/publish", json={"visibility": "public"}, headers=auth["owner"]
        ).raise_for_status()
        http.post(
            f"/api/admin/gpts/{rejected}/versions/1/moderate",
            json={"action": "reject", "reason": "test"},
            headers=auth["admin"],
        ).raise_for_status()
        appeal = (
            http.post(f"/api/gpts/{rejected}/appeal", json={"message": "Please"}, headers=auth["owner"])
            .raise_for_status()
            .json()["id"]
        )
        key = (
            http.post("/api/me/api-keys", json={"name": "contract"}, headers=auth["admin"])
            .raise_for_status()
            .json()
        )
        response = (
            http.post(
                "/v1/responses",
                json={"model": gpt, "input": "When?"},
                headers=auth["owner"],
            )
            .raise_for_status()
            .json()["id"]
        )
        return {
            "owner": owner["access_token"],
            "other": other["access_token"],
            "admin_key": key["key"],
            "gpt_id": gpt,
            "file_id": file,
            "dataset_id": dataset,
            "action_id": action,
            "conversation_id": conversation,
            "item_id": item,
            "review_id": review,
            "report_id": report,
            "appeal_id": appeal,
            "key_id": key["id"],
            "user_id": other["user"]["id"],
            "handle": owner["user"]["handle"],
            "response_id": response,
        }


def _config(seed: dict[str, str]) -> str:
    names = [
        "gpt_id",
        "file_id",
        "dataset_id",
        "action_id",
        "conversation_id",
        "item_id",
        "review_id",
        "report_id",
        "appeal_id",
        "key_id",
        "user_id",
        "handle",
        "response_id",
    ]
    lines = ["[parameters]"] + [f'"path.{name}" = "{seed[name]}"' for name in names]
    return "\n".join(lines) + "\n"


def _run(base: str, config: Path, token: str, extra: list[str]) -> subprocess.CompletedProcess:
    st = shutil.which("st", path=str(Path(sys.executable).parent)) or "st"
    command = [
        st,
        "--config-file",
        str(config),
        "run",
        f"{base}/schema/openapi.json",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--header",
        f"Authorization: Bearer {token}",
        "--seed",
        "1",
        "--workers",
        "1",
        "--generation-allow-x00",
        "false",
        *extra,
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.contract.st_hooks", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=TIME_BUDGET_SECONDS,
        check=False,
        env=env,
        cwd=config.parent,
    )


async def test_the_service_keeps_its_openapi_contract(service, tmp_path):
    seed = await asyncio.to_thread(_seed, service)
    config = tmp_path / "schemathesis.toml"
    config.write_text(_config(seed))
    started = time.perf_counter()
    # Each run leaves the next one's fixtures reachable: the other user first, while the GPT is listed (the
    # owner's publish may make it private, the admin may reject it); destructive operations after; the
    # log-out, which revokes the owner's token (every later owner call would only get 401), last and alone.
    runs = [
        (
            "other user",
            seed["other"],
            [
                "--include-path-regex",
                "^/api/(conversations|store)|^/v1/conversations",
                "--exclude-method",
                "DELETE",
            ],
        ),
        (
            "owner",
            seed["owner"],
            [
                "--exclude-path-regex",
                f"^/api/admin|/unpublish$|{LOGOUT}",
                "--exclude-method",
                "DELETE",
            ],
        ),
        ("admin API key", seed["admin_key"], ["--include-path-regex", "^/api/admin"]),
        ("owner, destructive", seed["owner"], ["--include-method", "DELETE"]),
        ("owner, unpublish", seed["owner"], ["--include-path-regex", "/unpublish$"]),
        ("owner, log out", seed["owner"], ["--include-path-regex", LOGOUT]),
    ]
    for name, token, extra in runs:
        run_started = time.perf_counter()
        result = await asyncio.to_thread(_run, service, config, token, extra)
        print(f"--- {name} ({time.perf_counter() - run_started:.0f} s)\n" + result.stdout[-2500:])
        assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-4000:]
    print(f"contract run: {time.perf_counter() - started:.0f} s")
