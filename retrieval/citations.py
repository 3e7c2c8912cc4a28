"""What an answer cites: the `Citation` of a retrieved source (an open file's quote, a private file's
none) and of its dataset (docs/data-library.md), and the sources a model's reply cites by number."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from retrieval.attribution import license_url
from retrieval.knowledge_search import SourcedHit

QUOTE_CHARS = 240
# `[1]`, and the lists models write when one sentence rests on several sources: `[1, 2]`, `[1,3]`, `[2; 4]`
# (a model told to cite "like [1]" writes them often; they used to cite nothing).
_CITE = re.compile(r"\[(\d{1,2}(?:\s*[,;]\s*\d{1,2})*)\]")
_NUMBER = re.compile(r"\d+")


@dataclass
class Citation:
    """A cited source: the file, where in it, a quote of an open file, and (added by datasets) the dataset:
    `dataset_id` always, and `dataset` (`{id, name, license, license_url, attribution, owner, url}`) for a
    file of a dataset other than the GPT's home dataset (docs/data-library.md)."""

    file_id: uuid.UUID
    filename: str
    page: int | None
    heading: str | None
    quote: str | None
    url: str | None = None  # the web page an imported file came from
    dataset_id: uuid.UUID | None = None
    dataset: dict[str, Any] | None = None
    license: str | None = None  # an open file's own SPDX id (home files too); None: private or none given

    def as_json(self, site: str = "") -> dict[str, object]:
        """The citation's JSON; `site` (`https://host`, no slash at the end): its dataset's and owner's
        pages as whole URLs on it, for a client that is not a page of this site (`on_site`)."""
        dataset_id = str(self.dataset_id) if self.dataset_id else None
        return {"file_id": str(self.file_id), "filename": self.filename, "page": self.page,
                "heading": self.heading, "quote": self.quote, "url": self.url, "dataset_id": dataset_id,
                "dataset": on_site(self.dataset, site), "license": self.license,
                "license_url": license_url(self.license)}  # fmt: skip


def on_site(dataset: dict[str, Any] | None, site: str) -> dict[str, Any] | None:
    """A cited dataset (`cited_dataset`) with its page and its owner's page as whole URLs on `site`
    (`https://host`): an API or MCP client cannot follow `/datasets/{id}`. Unchanged when `site` is empty
    (this site's own pages) or a link is already whole."""
    if dataset is None or not site:
        return dataset
    owner = dataset.get("owner")
    if owner and _relative(owner.get("url")):
        owner = {**owner, "url": site + owner["url"]}
    url = dataset.get("url")
    return {**dataset, "url": site + url if _relative(url) else url, "owner": owner}


def site_of(base_url: object) -> str:
    """The site's origin for whole links, from a request's `base_url` (`https://host/`): no final slash."""
    return str(base_url).rstrip("/")


def _relative(url: object) -> bool:
    return isinstance(url, str) and url.startswith("/") and not url.startswith("//")


def citation_of(source: SourcedHit, max_run: int, quote: str | None = None) -> Citation:
    """The citation of a source: an open file's quote (`quote`, else its passage's start), none of a
    private one, whose file name and heading are cut to the guard's `max_run` words (`SourcedHit.labels`)."""
    if source.access != "open":
        quote = None
    elif quote is None:
        quote = source.hit.text.strip()[:QUOTE_CHARS]
    filename, heading = source.labels(max_run)
    return Citation(
        source.hit.file_id, filename, source.hit.page, heading, quote,
        source.source_url, source.dataset_id, cited_dataset(source),
        source.license if source.access == "open" else None,
    )  # fmt: skip


def cited_dataset(source: SourcedHit) -> dict[str, Any] | None:
    """What a citation says of a source's dataset (None for the GPT's home dataset): id, name, license,
    its SPDX page, attribution, owner (`{type, handle, name, url}`) and `url`, the dataset's public page
    (`/datasets/{id}`, whose file rows are `#file-{file_id}`) when it is open, None when private (its files
    follow the dataset's access)."""
    if source.home or source.dataset_id is None:
        return None
    return {
        "id": str(source.dataset_id),
        "name": source.dataset_name,
        "license": source.license,
        "license_url": license_url(source.license),
        "attribution": source.attribution,
        "owner": source.owner.as_json() if source.owner else None,
        "url": f"/datasets/{source.dataset_id}" if source.access == "open" else None,
    }


def cited_numbers(content: str, count: int) -> Iterator[tuple[int, int]]:
    """(n, offset of its marker) for each source number 1..`count` a reply cites (`[n]`, `[n, m]`), each
    once, in the order first cited."""
    seen: set[int] = set()
    for match in _CITE.finditer(content):
        for digits in _NUMBER.findall(match.group(1)):
            number = int(digits)
            if 1 <= number <= count and number not in seen:
                seen.add(number)
                yield number, match.start()


def used_citations(content: str, sources: Sequence[SourcedHit], max_run: int) -> list[Citation]:
    """The sources a model's reply cites (`[n]`, `[n, m]`: `cited_numbers`), each once, in the order first
    cited."""
    return [citation_of(sources[n - 1], max_run) for n, _ in cited_numbers(content, len(sources))]
