"""Accuracy of legacy 8-bit/multi-byte text decoding on short samples: ours against the detectors.

Reads `tests/data/legacy_encoding_samples.json` (short invented texts, each encoded with several code pages)
and prints, per method, the share of samples decoded back to exactly the original text.

    .venv/bin/python bench/encodings.py [--detail]

The other detectors (charset-normalizer, chardet's defaults, chardetng-py, faust-cchardet) are measured
when installed.
"""

from __future__ import annotations

import codecs
import json
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from retrieval.parsing.encoding import decode_or_none

SAMPLES = Path(__file__).resolve().parents[1] / "tests" / "data" / "legacy_encoding_samples.json"
# WHATWG labels name supersets of the Python codecs of the same name.
_SUPERSETS = {
    "shift_jis": "cp932",
    "euc_kr": "cp949",
    "gbk": "gb18030",
    "gb2312": "gb18030",
    "big5": "big5hkscs",
}


def _decode_as(data: bytes, label: str | None) -> str | None:
    if not label:
        return None
    try:
        name = codecs.lookup(label).name.replace("-", "_")
    except LookupError:
        return None
    return data.decode(_SUPERSETS.get(name, name), errors="replace")


def _methods() -> dict[str, Callable[[bytes], str | None]]:
    methods: dict[str, Callable[[bytes], str | None]] = {"gptstore": decode_or_none}
    try:
        from charset_normalizer import from_bytes

        def normalizer(data: bytes) -> str | None:
            best = from_bytes(data).best()
            return _decode_as(data, best.encoding if best else None)

        methods["charset-normalizer"] = normalizer
    except ImportError:
        pass
    try:
        import chardet

        methods[f"chardet {chardet.__version__}"] = lambda data: _decode_as(
            data, chardet.detect(data)["encoding"]
        )
    except ImportError:
        pass
    try:
        import chardetng_py

        methods["chardetng-py"] = lambda data: _decode_as(data, chardetng_py.detect(data, allow_utf8=False))
    except ImportError:
        pass
    try:
        import cchardet

        methods["faust-cchardet"] = lambda data: _decode_as(data, cchardet.detect(data)["encoding"])
    except ImportError:
        pass
    return methods


def main() -> None:
    samples = json.loads(SAMPLES.read_text())["samples"]
    cases = [(s["language"], codec, s["text"]) for s in samples for codec in s["codecs"]]
    counts = {"words": sum(len(t) < 30 for _, _, t in cases)}
    counts["sentences"] = len(cases) - counts["words"]
    detail = "--detail" in sys.argv
    for name, method in _methods().items():
        right = {"words": 0, "sentences": 0}
        for language, codec, text in cases:
            try:
                decoded = method(text.encode(codec))
            except Exception as exc:  # a detector crashing counts as wrong
                decoded = repr(exc)
            right["words" if len(text) < 30 else "sentences"] += decoded == text
            if detail and decoded != text:
                print(f"  {name}: {language} {codec}: {str(decoded)[:60]!r}")
        total = sum(right.values())
        shares = ", ".join(f"{kind} {right[kind]}/{counts[kind]}" for kind in right)
        print(f"{name:>20}: {total}/{len(cases)} = {total / len(cases):.0%} decoded right ({shares})")


if __name__ == "__main__":
    main()
