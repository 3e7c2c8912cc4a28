"""Markup: Markdown (heading paths from `#` and setext headings) and HTML (BeautifulSoup)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from retrieval.parsing.base import SPACES, Detected, HeadingPath, Limits, Section, clean, one_line

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n.*?\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)


def parse_markdown(data: bytes, detected: Detected, limits: Limits) -> list[Section]:
    text = clean(detected.text or "")
    lines = text.split("\n")
    front = _FRONT_MATTER.match(text)
    skip = text[: front.end()].count("\n") if front else 0
    headings = HeadingPath()
    sections: list[Section] = []
    start, path = 0, None
    for line, level, title in _markdown_headings(lines, skip):
        sections.append(Section("\n".join(lines[start:line]), heading=path))
        headings.enter(level, title)
        start, path = line, headings.path()
    sections.append(Section("\n".join(lines[start:]), heading=path))
    return sections


_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})(.*)")
_ATX_HEADING = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT_UNDERLINE = re.compile(r" {0,3}(=+|-+)[ \t]*$")
_THEMATIC_BREAK = re.compile(r" {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_LIST_OR_QUOTE = re.compile(r" {0,3}(?:[-*+][ \t]|\d{1,9}[.)][ \t]|>)")


def _markdown_headings(lines: list[str], first: int = 0) -> Iterator[tuple[int, int, str]]:
    """(line, level, title) of the ATX (`## Title`) and setext (`Title` over `---`) headings.

    A line scan of CommonMark's heading and code block rules: markdown-it-py finds the same headings in
    ordinary documents but parses about 1.5 MB/s, far slower than the rest of ingestion.
    """
    fence = ""
    paragraph: int | None = None  # first line of the paragraph a setext underline would turn into a heading
    for number in range(first, len(lines)):
        line = lines[number]
        if fence:
            match = _FENCE.match(line)
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
                fence = "" if not match.group(2).strip() else fence
            continue
        if not line.strip():
            paragraph = None
            continue
        match = _FENCE.match(line)
        if match and not (match.group(1)[0] == "`" and "`" in match.group(2)):
            fence, paragraph = match.group(1), None
            continue
        if match := _ATX_HEADING.match(line):
            yield number, len(match.group(1)), match.group(2) or ""
            paragraph = None
        elif paragraph is not None and (match := _SETEXT_UNDERLINE.match(line)):
            yield paragraph, 1 if match.group(1)[0] == "=" else 2, " ".join(lines[paragraph:number])
            paragraph = None
        elif _THEMATIC_BREAK.match(line):
            paragraph = None
        elif paragraph is None and (line.startswith(("    ", "\t")) or _LIST_OR_QUOTE.match(line)):
            continue  # indented code, list items and quotes never become setext headings here
        elif paragraph is None:
            paragraph = number


_HTML_DROP = ("script", "style", "nav", "noscript", "template", "svg", "canvas", "iframe", "head")
_HTML_BLOCKS = (
    "p", "div", "section", "article", "main", "header", "footer", "aside", "blockquote", "pre", "table",
    "ul", "ol", "dl", "figure", "figcaption", "form", "fieldset", "address", "details", "hr",
)  # fmt: skip
_HTML_LINES = ("li", "tr", "dt", "dd", "summary", "caption", "option")
_HEADING_MARK = re.compile(r"\x00([0-6])\x00(.*?)\x00", re.S)


def parse_html(data: bytes, detected: Detected, limits: Limits) -> list[Section]:
    from bs4 import BeautifulSoup, CData, NavigableString
    from bs4.element import PreformattedString

    # NUL is removed from the input, so it can mark headings in the extracted text.
    soup = BeautifulSoup(clean(detected.text or ""), "lxml")
    for tag in soup.find_all(_HTML_DROP):
        tag.decompose()
    for string in soup.find_all(string=True):
        if isinstance(string, PreformattedString) and not isinstance(string, CData):
            string.extract()  # comments, doctype, processing instructions
        elif string.find_parent(("pre", "textarea")) is None:
            # HTML collapses whitespace except in <pre>; our own line breaks are inserted afterwards.
            string.replace_with(SPACES.sub(" ", str(string)))
    for tag in soup.find_all("br"):
        tag.replace_with("\n")
    for tag in soup.find_all(_HTML_BLOCKS):
        tag.insert_before("\n\n")
        tag.insert_after("\n\n")
    for tag in soup.find_all(_HTML_LINES):
        tag.insert_before("\n")
    for tag in soup.find_all(("td", "th")):
        if tag.find_previous_sibling(("td", "th")) is not None:
            tag.insert_before(" | ")
    for tag in soup.find_all(("h1", "h2", "h3", "h4", "h5", "h6")):
        title = one_line(tag.get_text(" "))
        tag.replace_with(NavigableString(f"\n\n\x00{tag.name[1]}\x00{title}\x00\n\n") if title else "")
    text = soup.get_text()
    text = "\n".join(line.strip(" ") for line in text.split("\n"))
    headings = HeadingPath()
    sections = []
    parts = _HEADING_MARK.split(text)
    sections.append(Section(parts[0]))
    for level, title, body in zip(parts[1::3], parts[2::3], parts[3::3], strict=True):
        headings.enter(int(level), title)
        sections.append(Section(f"{title}\n\n{body}", heading=headings.path()))
    return sections
