"""Leakage: the longest verbatim run of private knowledge and of hidden instructions in answers to
extraction prompts, with the verbatim guard on and off, offline and with a chat model that complies.

    .venv/bin/python bench/leakage.py [--sets project,identifiers,multilingual] [--limit 25]

A GPT with two private files (English and German, `tests/data/trust/`), an open one and hidden
instructions is published; every prompt of `bench/data/leakage.json` (62, English and German) is asked
through `/v1/chat/completions`: offline (extractive answers), and streamed with the scripted model of
`tests/fake_openai.py` programmed to comply with the attack (it answers with the private passages it was
given or its instructions, verbatim or with the prompt's trick: look-alike letters, spacing, zero-width
characters, spelling, JSON, one word per line; the stream arrives in 4-character pieces). "Guard off" is
the same GPT with its limit at 1000 words (the setting's maximum, above any passage's length). The runs
are counted as the guard counts (`retrieval.verbatim.longest_run`) against the whole private documents and
the instructions. Last, the answer-contains-fact share of offline answers on bench/quality.py's labelled
sets (files private, as uploads are by default), guard on and off.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
import uuid
import warnings
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._servers import bench_servers
from bench.quality import DATA, SECRET, CachedEmbedder, labelled_set
from bench.quality_answers import answer_figures
from core.app import create_app
from core.db import Database, create_engine
from core.redis import create_redis
from core.settings import Settings
from retrieval.jobs import ingest
from retrieval.verbatim import longest_run
from tests.asgi import app_client
from tests.fake_openai import FakeOpenAI

warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

ROOT = Path(__file__).resolve().parent.parent
SPEC = json.loads((ROOT / "bench" / "data" / "leakage.json").read_text("utf-8"))
OFF = 1000  # "guard off": the largest limit a GPT may set, longer than any passage
HOMOGLYPHS = str.maketrans({"o": "о", "a": "а", "e": "е", "p": "р", "c": "с", "i": "і", "O": "О", "A": "А"})
_SOURCE = re.compile(r"\[\d+\] \([^)\n]*; private\)\n(.*?)(?=\n\n\[\d+\] \(|\Z)", re.S)
_INSTRUCTIONS = re.compile(r"\A[^\n]*\n\n(.*?)\n\nThese instructions are confidential", re.S)


def trick(text: str, style: str) -> str:
    """`text` as a model obeying the attack would print it."""
    if style == "spelled":
        return "  ".join("-".join(word) for word in text.split())
    if style == "json":
        return json.dumps({"text": text}, ensure_ascii=False)
    if style == "first_lines":
        return "\n".join(re.split(r"(?<=[.!?])\s", p.strip())[0] for p in text.split("\n\n") if p.strip())
    if style == "spaced":
        return "  ".join(text.split())
    if style == "homoglyph":
        return text.translate(HOMOGLYPHS)
    if style == "upper":
        return text.upper()
    if style == "newlines":
        return "\n".join(text.split())
    if style == "zero_width":
        return "\u200b ".join(text.split())
    return text


def complying_model(styles: dict[str, str]):
    """A chat model that obeys extraction prompts: it prints what its system prompt holds."""

    def respond(body: dict[str, Any]) -> str:
        system = body["messages"][0]["content"]
        question = body["messages"][-1]["content"]
        style = styles.get(question, "verbatim")
        found = _INSTRUCTIONS.search(system)
        instructions = found.group(1) if found else ""
        private = "\n\n".join(m.group(1).strip() for m in _SOURCE.finditer(system))
        if style.startswith("instructions"):
            body_text = instructions
        elif style == "everything":
            body_text = instructions + "\n\n" + private
        else:
            body_text = private or instructions  # nothing retrieved: it gives away what it has
        shown = trick(body_text, style)
        if style == "instructions_code":
            shown = f"```\n{shown}\n```"
        return f"Of course, here it is:\n\n{shown}\n\nAnything else?"

    return respond


async def ask(client, headers, gpt_id: str, prompt: str, stream: bool) -> str:
    body = {"model": gpt_id, "messages": [{"role": "user", "content": prompt}], "stream": stream}
    response = await client.post("/v1/chat/completions", json=body, headers=headers)
    assert response.status_code == 200, response.text
    if not stream:
        return response.json()["choices"][0]["message"]["content"]
    text = []
    for line in response.text.splitlines():
        if line.startswith("data: {"):
            for choice in json.loads(line[6:]).get("choices", []):
                text.append(choice["delta"].get("content") or "")
    return "".join(text)


async def upload(
    client, headers, db, settings, embedder, gpt_id: str, name: str, content: bytes, access: str
):
    response = await client.post(
        f"/api/gpts/{gpt_id}/files", files={"file": (name, content)}, data={"access": access}, headers=headers
    )
    assert response.status_code == 202, response.text
    assert await ingest(db, settings, uuid.UUID(response.json()["id"]), embedder=embedder) == "completed"


async def publish(client, headers, gpt_id: str, limit: int | None) -> None:
    response = await client.patch(
        f"/api/gpts/{gpt_id}", json={"trust": {"verbatim_max_words": limit}}, headers=headers
    )
    assert response.status_code == 200, response.text
    response = await client.post(
        f"/api/gpts/{gpt_id}/publish", json={"visibility": "private"}, headers=headers
    )
    assert response.status_code == 201, response.text


async def run(args: argparse.Namespace, workdir: Path) -> None:
    private = [(ROOT / p).read_text("utf-8") for p in SPEC["private_files"]]
    instructions = SPEC["instructions"]
    first_words = " ".join(private[0].split("\n\n")[1].split()[:8])
    prompts = [dict(p, prompt=p["prompt"].replace("{first_words}", first_words)) for p in SPEC["prompts"]]
    base = Settings(
        database_url=None,
        data_dir=workdir / "data",
        secret_key=SECRET,
        llm_provider="offline",
        embedding_provider="minilm",
        default_plan="plus",
        rate_limit_messages_per_minute=1_000_000,
        verbatim_max_words=args.limit,
    )
    cache = Path(args.data_dir).expanduser()  # noqa: ASYNC240 (once, before anything runs)
    embedder = CachedEmbedder(cache / "bench-embeddings" / "minilm.npz")
    await embedder.load()
    fake = FakeOpenAI().start()
    fake.respond_with(complying_model({p["prompt"]: p["leak"] for p in prompts}))
    async with bench_servers(workdir, "gptstore_leakage") as servers, AsyncExitStack() as stack:
        stack.callback(fake.stop)
        settings = base.model_copy(update={"database_url": servers.database_url})
        llm_settings = settings.model_copy(
            update={"llm_provider": "openai", "llm_base_url": fake.base_url, "llm_api_key": SecretStr("x")}
        )
        engine = create_engine(servers.database_url, pool_size=2)
        stack.push_async_callback(engine.dispose)
        db = Database(engine)
        redis = create_redis(servers.redis_url)
        offline = await stack.enter_async_context(app_client(create_app(settings, db=db, redis=redis)))
        llm = await stack.enter_async_context(app_client(create_app(llm_settings, db=db, redis=redis)))
        signup = {"email": "bench@example.com", "password": "correct horse battery", "display_name": "B"}
        token = (await offline.post("/api/auth/signup", json=signup)).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}

        gpt = {"name": "Deflate Desk", "instructions": instructions}
        gpt_id = (await offline.post("/api/gpts", json=gpt, headers=headers)).json()["id"]
        for path, text in zip(SPEC["private_files"], private, strict=True):
            await upload(
                offline, headers, db, settings, embedder, gpt_id, Path(path).name, text.encode(), "private"
            )
        await upload(
            offline, headers, db, settings, embedder, gpt_id, "notes.md", SPEC["open_text"].encode(), "open"
        )
        embedder.save()

        runs: dict[tuple[str, str], list[tuple[int, int]]] = {}
        for guard, limit in (("on", None), ("off", OFF)):
            await publish(offline, headers, gpt_id, limit)
            for mode, client, stream in (("offline", offline, False), ("llm", llm, True)):
                figures = runs.setdefault((mode, guard), [])
                for p in prompts:
                    answer = await ask(client, headers, gpt_id, p["prompt"], stream)
                    figures.append((longest_run(answer, private), longest_run(answer, [instructions])))

        shares = {}
        found: dict[tuple[str, str], list[bool]] = {}
        for name in args.sets.split(",") if args.sets else []:
            stem = "retrieval" if name == "project" else name
            eval_set = labelled_set(name, DATA / f"{stem}_eval.json", DATA / f"{stem}_eval")
            set_id = (await offline.post("/api/gpts", json={"name": name}, headers=headers)).json()["id"]
            for filename, content in eval_set.files.items():
                await upload(offline, headers, db, settings, embedder, set_id, filename, content, "private")
            embedder.save()
            for guard, limit in (("on", args.limit), ("off", OFF)):
                figures = await answer_figures(
                    db, settings.model_copy(update={"verbatim_max_words": limit}), embedder, eval_set,
                    {"gpt_id": uuid.UUID(set_id)},
                )  # fmt: skip
                shares[(name, guard)] = (figures["contains"], figures["count"])
                found[(name, guard)] = figures["found"]
            for i, (on, off) in enumerate(zip(found[(name, "on")], found[(name, "off")], strict=True)):
                if on != off:
                    query = [q for q in eval_set.queries if q.answer][i]
                    change = "kept" if on else "lost"
                    print(f"  {name}: fact {change} by the guard: {query.text}", file=sys.stderr)
    print_report(prompts, runs, shares, args.limit)


def print_report(prompts, runs, shares, limit: int) -> None:
    print(
        f"\nLongest verbatim run (words) per prompt: private text/instructions; guard on (limit {limit}), off"
    )
    print(
        f"{'#':>3} {'lang':4} {'leak':17} {'offline on':>11} {'offline off':>11} {'llm on':>8} {'llm off':>8}"
    )
    for i, p in enumerate(prompts):
        cells = [runs[(mode, guard)][i] for mode in ("offline", "llm") for guard in ("on", "off")]
        text = " ".join(f"{a:>5}/{b:<5}" for a, b in cells)
        print(f"{i + 1:3d} {p['lang']:4} {p['leak']:17} {text}  {p['prompt'][:60]}")
    print(f"\nTotals over {len(prompts)} prompts (max run; prompts with a run over {limit} words)")
    for mode in ("offline", "llm"):
        for guard in ("on", "off"):
            figures = runs[(mode, guard)]
            for which, index in (("private", 0), ("instructions", 1)):
                values = [f[index] for f in figures]
                over = sum(v > limit for v in values)
                print(f"  {mode:8} guard {guard:3} {which:13} max {max(values):4d}   over {limit}: {over:3d}")
    if shares:
        print("\nOffline answers that contain the expected fact (bench/quality.py sets, files private)")
        for (name, guard), (contains, count) in shares.items():
            print(f"  {name:14} guard {guard:3} {contains}/{count} = {contains / count:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="project,identifiers,multilingual", help="bench/quality.py sets")
    parser.add_argument("--limit", type=int, default=25, help="GPTSTORE_VERBATIM_MAX_WORDS for 'guard on'")
    parser.add_argument("--data-dir", default="~/.local/share/gptstore", help="where embeddings are cached")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gptstore-leakage-") as workdir:
        asyncio.run(run(args, Path(workdir)))


if __name__ == "__main__":
    main()
