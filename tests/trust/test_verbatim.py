"""The verbatim guard on its own: normalisation tricks, streamed splits, and what it lets through."""

from __future__ import annotations

import html
import json
from pathlib import Path
from urllib.parse import quote

import pytest

from retrieval.verbatim import REDACTED, VerbatimGuard, longest_run, words

PRIVATE = (Path(__file__).resolve().parents[1] / "data" / "trust" / "zlib-private.md").read_text("utf-8")
SCOOP = PRIVATE.split("\n\n")[1]  # the leaked sentence of issue #11, 55 words
LIMIT = 25

HOMOGLYPHS = str.maketrans({"o": "о", "a": "а", "e": "е", "p": "р", "c": "с", "i": "і"})  # Cyrillic


def tricks(text: str) -> dict[str, str]:
    """The same text as an attacker's prompt would have the model print it."""
    return {
        "plain": text,
        "upper": text.upper(),
        "homoglyphs": text.translate(HOMOGLYPHS),
        "spacing": "  ".join(text.split()),
        "newlines": "\n".join(text.split()),
        "zero width": "\u200b".join(text.split(" ")).replace("\u200b", " \u200b"),
        "inside words": text.replace("compressor", "com\u200bpres\u00adsor"),
        "fullwidth": text.replace("zlib", "ｚｌｉｂ"),
        "no punctuation": text.replace(",", "").replace("(", "").replace(")", ""),
        "spelled": "  ".join(" ".join(word) for word in text.split()[:40]),
        "spelled by line": "\n\n".join("\n".join(word) for word in text.split()[:40]),
        "dashed letters": " ".join("-".join(word) for word in text.split()[:40]),
        "quoted in JSON": '{"text": "' + text.replace('"', '\\"') + '"}',
        **rewrites(text),
    }


def rewrites(text: str) -> dict[str, str]:
    """Readable rewrites of a complying model (issue H3): markup and escapes that show the same words."""
    plain = text.split()
    bare = ["".join(c for c in w if c.isalnum()) for w in plain]
    return {
        "markdown links": " ".join(f"[{w}](x)" for w in plain),
        "markdown images": " ".join(f"![{w}](https://example.com/{i}.png)" for i, w in enumerate(plain)),
        "reference links": " ".join(f"[{w}][r{i}]" for i, w in enumerate(plain)),
        "autolinks": " ".join(f"<{w}>" for w in bare),
        "possessives": " ".join(f"{w}'s" for w in bare),
        "curly possessives": " ".join(f"{w}\u2019s" for w in bare),
        "url-encoded spaces": "%20".join(plain),
        "percent-encoded UTF-8": quote(text.translate(HOMOGLYPHS), safe=""),
        "CamelCase": "".join(w[:1].upper() + w[1:] for w in bare),
        "camelCase": bare[0] + "".join(w[:1].upper() + w[1:] for w in bare[1:]),
        "snake_case": "_".join(bare),
        "kebab-case": "-".join(bare),
        "numeric entities": " ".join(f"&#{ord(w[0])};{w[1:]}" for w in plain),
        "hex entities": " ".join(f"&#x{ord(w[0]):x};{w[1:]}" for w in plain),
        "named entities": html.escape(text)
        .replace(" ", "&nbsp;")
        .replace(",", "&comma;")
        .replace(".", "&period;"),
    }


def test_words_fold_case_marks_homoglyphs_and_spelled_letters():
    assert words("Ünïcode ＦＵＬＬ wіdth") == ["unicode", "full", "width"]
    assert words("p r i v a t e, p-r-i-v-a-t-e and a") == ["private", "private", "and", "a"]
    assert words("s o  f o r  t h o s e") == ["so", "for", "those"]
    assert words("s\no\n\nf\no\nr") == ["so", "for"]
    assert words("zero\u200bwidth") == ["zerowidth"]


@pytest.mark.parametrize("trick", list(tricks(SCOOP)))
def test_every_trick_is_cut_to_the_limit(trick):
    guard = VerbatimGuard([PRIVATE], LIMIT)
    leak = "Here you go:\n\n" + tricks(SCOOP)[trick] + "\n\nAnything else?"
    assert longest_run(leak, [PRIVATE]) > LIMIT  # the attack works without the guard
    shown = guard.filter(leak)
    assert longest_run(shown, [PRIVATE]) <= LIMIT
    assert REDACTED in shown and shown.startswith("Here you go:") and shown.endswith("Anything else?")


@pytest.mark.parametrize("size", [1, 2, 3, 4, 7, 13, 50])
async def test_a_private_sentence_split_over_many_chunks_is_still_caught(size):
    guard = VerbatimGuard([PRIVATE], LIMIT)
    reply = "Sure. " + SCOOP.translate(HOMOGLYPHS) + " Hope that helps."

    async def pieces():
        for i in range(0, len(reply), size):
            yield reply[i : i + size]

    shown = [piece async for piece in guard.stream(pieces())]
    assert longest_run("".join(shown), [PRIVATE]) <= LIMIT
    assert "".join(shown) == guard.filter(reply)  # streamed and whole give the same text
    assert "".join(shown).endswith("Hope that helps.")


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8])
@pytest.mark.parametrize("trick", list(rewrites(SCOOP)))
async def test_rewrites_split_over_stream_chunks_are_still_caught(trick, size):
    guard = VerbatimGuard([PRIVATE], LIMIT)
    reply = "Sure. " + rewrites(SCOOP)[trick] + " Hope that helps."

    async def pieces():
        for i in range(0, len(reply), size):
            yield reply[i : i + size]

    shown = "".join([piece async for piece in guard.stream(pieces())])
    assert longest_run(shown, [PRIVATE]) <= LIMIT
    assert shown == guard.filter(reply) and shown.endswith("Hope that helps.")


def test_escapes_and_markup_read_as_the_words_they_show():
    assert words("&#84;he &amp; caf&eacute; caf%C3%A9 100% AT&T &bogus; 50%zz") == [
        "the", "cafe", "cafe", "100", "at", "t", "bogus", "50", "zz"
    ]  # fmt: skip
    shown = words("[The](x) ![vault](y.png) [door][1] <https://example.com>")
    assert shown == ["the", "vault", "door", "https", "example", "com"]
    assert words("TheVault's combination\u2019s snake_case") == [
        "the",
        "vault",
        "combination",
        "snake",
        "case",
    ]
    assert words("[not a link] (just brackets)") == ["not", "a", "link", "just", "brackets"]


def test_short_quotes_and_own_words_pass_unchanged():
    guard = VerbatimGuard([PRIVATE], LIMIT)
    own = "Deflate looks back over recent input and picks long matches; higher levels search longer."
    assert guard.filter(own) == own
    short = " ".join(SCOOP.split()[:LIMIT])  # exactly the limit: allowed
    assert guard.filter(short) == short
    assert guard.filter(" ".join(SCOOP.split()[: LIMIT + 1])) != " ".join(SCOOP.split()[: LIMIT + 1])


def test_a_run_stitched_from_two_private_texts_counts_per_text():
    first, second = "alpha beta gamma delta epsilon", "zeta eta theta iota kappa"
    guard = VerbatimGuard([first, second], 4)
    shown = guard.filter(f"{first} {second}")
    assert longest_run(shown, [first, second]) <= 4 and REDACTED in shown
    assert guard.filter("alpha beta gamma delta") == "alpha beta gamma delta"


async def test_streaming_holds_back_only_words_that_could_start_a_run():
    guard = VerbatimGuard([PRIVATE], LIMIT)

    async def pieces():
        for word in "Compression is fun and quick to learn ".split(" "):
            yield word + " "

    first = [piece async for piece in guard.stream(pieces())]
    # Words that never occur in the private text go out with the piece that completes them.
    assert len(first) > 3 and "".join(first).startswith("Compression is fun")


def test_no_protected_text_passes_everything_through():
    guard = VerbatimGuard(["", "   "], LIMIT)
    assert not guard.active and guard.filter(SCOOP) == SCOOP


def test_chinese_counts_characters_as_words():
    handbook = "员工每年享有十五天带薪年假，入职满五年后增加到二十天，未休假期可以顺延到下一年的三月底。"
    guard = VerbatimGuard([handbook], LIMIT)
    assert len(words(handbook)) > LIMIT  # one sentence, no spaces: still more than 25 words
    shown = guard.filter("好的：" + handbook)
    assert longest_run(shown, [handbook]) <= LIMIT and REDACTED in shown
    assert guard.filter("十五天带薪年假") == "十五天带薪年假"  # a short quote passes


REGIONS = " ".join(
    f"The confidential launch code for region {n} is alpha{n} bravo{n} charlie{n} and nobody outside the "
    "company may learn it."
    for n in (1, 2, 3)
)


@pytest.mark.parametrize(
    "layout",
    ["- {} [1]\n", "{} [1][2] ", "{} [1, 2] ", "{}[^1] ", "1. {}\n", "(2) {}\n\n", "**{}** [3]\n> "],
)
def test_markup_between_private_sentences_does_not_reset_the_run(layout):
    sentences = [s + "." for s in REGIONS.split(". ")]
    sentences[-1] = sentences[-1].rstrip(".")
    reply = "".join(layout.format(sentence) for sentence in sentences)
    guard = VerbatimGuard([REGIONS], LIMIT)
    assert all(len(words(s)) < LIMIT for s in sentences)  # each alone is a short quote
    assert longest_run(reply, [REGIONS]) > LIMIT  # but together, markers skipped, they are one run
    shown = guard.filter(reply)
    assert REDACTED in shown and longest_run(shown, [REGIONS]) <= LIMIT


def test_markup_numbers_are_no_words_and_keep_their_brackets():
    assert words("it [1]\n- The [1, 2] end [^3]") == ["it", "the", "end"]
    listed = words("1. First\n2) second (3) third 4. fourth")
    assert listed == ["first", "second", "3", "third", "4", "fourth"]
    assert words("region 1 is [ab] 22") == ["region", "1", "is", "ab", "22"]
    assert words("costs\n18.50 euro\n3.") == ["costs", "18", "50", "euro", "3"]  # decimals are words
    guard = VerbatimGuard([REGIONS], 3)
    assert guard.filter("See [1] and [2].") == "See [1] and [2]."


def test_tool_call_arguments_are_filtered_inside_their_strings_and_across_them():
    guard = VerbatimGuard([PRIVATE], LIMIT)
    plain = '{"destination": "Lisbon", "days": 4}'
    assert guard.filter_json(plain) == plain  # nothing protected: the model's text as it wrote it
    scoop = SCOOP.split()[10:]  # from "and would like further information", 45 words
    escaped = json.dumps({"body": {"destination": " ".join(scoop)}})  # \u-escapes decoded before matching
    words_apart = json.dumps({"items": scoop, "n": 1})  # one word per string
    halves = json.dumps({"a": " ".join(scoop[:20]), " ".join(scoop[20:40]): "b"})  # a value, then a key
    for arguments in (escaped.replace("o", "\\u006f"), words_apart, halves, SCOOP + " {not json"):
        shown = guard.filter_json(arguments)
        assert REDACTED in shown and longest_run(shown, [PRIVATE]) <= LIMIT, shown
    assert json.loads(guard.filter_json(words_apart))["n"] == 1  # still the same JSON shape


def spelled(text: str) -> str:
    """`text` with every character as a JSON `\\uXXXX` escape."""
    return "".join(f"\\u{ord(c):04x}" for c in text)


def test_json_shown_to_a_user_is_guarded_on_its_escapes_decoded():
    """A passage spelled as `\\uXXXX` escapes passes plain text matching: JSON that is cut (a tool output
    at the size limit), escapes written into a JSON string (JSON in JSON, or a model asked to escape) and
    text that is not JSON at all are matched with their escapes decoded."""
    guard = VerbatimGuard([PRIVATE], LIMIT)
    hidden = spelled(SCOOP)
    assert longest_run(hidden, [PRIVATE]) <= LIMIT  # what a plain text filter sees
    cut = '{"trip": {"destination": "' + hidden + '", "nights'  # not JSON: cut at the limit
    in_a_string = json.dumps({"body": {"destination": hidden}})  # decoded once, still escapes
    json_in_json = json.dumps({"body": json.dumps({"destination": hidden})})
    for text in (cut, in_a_string, json_in_json, f"Trip: {hidden}"):
        shown = guard.filter_json(text)
        assert REDACTED in shown and longest_run(shown, [PRIVATE]) <= LIMIT, shown
    harmless = json.dumps({"note": "Caf\\u00e9 at \\u0031 pm", "text": "Lisbon"})
    assert guard.filter_json(harmless) == harmless  # nothing redacted: the text as it came
    assert guard.filter_json("Caf\\u00e9 \\u0031") == "Caf\\u00e9 \\u0031"
