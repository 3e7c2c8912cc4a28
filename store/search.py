"""Browsing and searching the store: sorted, filtered, cursor-paginated listings and hybrid listing search."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
import sqlalchemy as sa
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from core import cache
from core.db import replica_lag
from core.errors import Invalid
from core.models import User
from core.pagination import decode_cursor, decode_keyset, encode_cursor
from core.settings import Settings
from orgs.models import Organization
from retrieval.embedding import get_embedder
from retrieval.fusion import calibration_for
from retrieval.ngrams import separate_scripts
from retrieval.script_query import NGRAM_TSV_OF, script_tsqueries
from retrieval.terms import content_words
from store.models import Listing
from store.publishing import LISTING_SCOPE
from store.ranking import conversations_label, rating_average
from store.schemas import CategoryRead, Creator, ListingItem, ListingPage, RatingSummary

SORTS = ("trending", "top", "new", "featured")
RRF_K = 60
NGRAM_TSV = NGRAM_TSV_OF.format("search_text")  # as ix_listing_ngram (migration 0030)
SEARCH_CANDIDATES = 200
# A listing is a semantic match only when its calibrated similarity (retrieval.fusion) reaches this: below
# it the vector list would rank every GPT, and "xyzzyqwerty" would list the whole store. Both values are
# measured by bench/store_quality.py (docs/store.md): 0.375 keeps the recall of 0.35 at higher precision.
MIN_DENSE = 0.375
# pg_trgm word similarity of the query to a GPT's name at which a typo still finds it ("Hut Budy").
NAME_SIMILARITY = 0.5
# A common word matches most of the store; ranking every match cost ~165 ms at 100k GPTs (bench/store.py).
KEYWORD_CANDIDATES = 2_000
# A common word is in thousands of names, each rechecked and ranked by word similarity: 34,656 rows and
# ~500 ms for "assistant" at 100k GPTs (bench/store.py). Only this many name matches are ranked.
FUZZY_CANDIDATES = 2_000
# Keyset order of each sort: (column, direction); ties broken by gpt_id in the same direction.
SORT_KEYS = {
    "trending": (Listing.trending_score, "desc"),
    "top": (Listing.top_score, "desc"),
    "new": (Listing.first_approved_at, "desc"),
    "featured": (Listing.featured_rank, "asc"),
}


def listing_item(listing: Listing, owner: User, organization: Organization | None = None) -> ListingItem:
    """A listing as the store lists it; an organisation's GPT names the organisation as its creator."""
    count = listing.rating_count
    if organization is not None:
        creator = Creator(handle=organization.handle, display_name=organization.name, kind="organization")
    else:
        creator = Creator(handle=owner.handle, display_name=owner.display_name)
    return ListingItem(
        id=listing.gpt_id,
        name=listing.name,
        description=listing.description,
        category=listing.category,
        tags=list(listing.tags),
        creator=creator,
        rating=RatingSummary(average=rating_average(listing.rating_sum, count), count=count),
        conversations=listing.conversations,
        conversations_label=conversations_label(listing.conversations),
        version=listing.live_version or 0,
        updated_at=listing.updated_at,
    )


class StoreSearch:
    def __init__(
        self,
        session: AsyncSession,
        settings: Settings,
        redis: Redis,
        *,
        min_dense: float = MIN_DENSE,
        name_similarity: float = NAME_SIMILARITY,
    ):
        self.session = session
        self.settings = settings
        self.redis = redis
        self.min_dense = min_dense  # other values only for bench/store_quality.py
        self.name_similarity = name_similarity

    async def browse(
        self, *, q: str | None, category: str | None, sort: str, limit: int, cursor: str | None
    ) -> dict[str, Any]:
        """One page of listed GPTs (cached until the listing changes)."""
        if category is not None and category not in self.settings.categories:
            raise Invalid(f"category must be one of: {', '.join(self.settings.categories)}", field="category")
        key = hashlib.sha256(json.dumps([q, category, sort, limit, cursor]).encode()).hexdigest()

        async def compute() -> dict[str, Any]:
            if q and q.strip():
                page = await self._search(q.strip(), category, limit, cursor)
            else:
                page = await self._sorted(category, sort, limit, cursor)
            return page.model_dump(mode="json")

        ttl, lag = self.settings.cache_ttl_seconds, replica_lag(self.session, self.settings)
        return await cache.cached(self.redis, LISTING_SCOPE, key, ttl, compute, lag=lag)

    def _listed(self, category: str | None) -> sa.Select:
        query = (
            sa.select(Listing, User, Organization)
            .join(User, User.id == Listing.owner_id)
            .outerjoin(Organization, Organization.id == Listing.organization_id)
            .where(Listing.listed)
        )
        if category:
            query = query.where(Listing.category == category)
        return query

    async def _sorted(self, category: str | None, sort: str, limit: int, cursor: str | None) -> ListingPage:
        column, direction = SORT_KEYS[sort]
        query = self._listed(category)
        if sort == "featured":
            query = query.where(Listing.featured_rank.is_not(None))
        if sort == "top":  # "Top rated" lists rated GPTs only: one without a rating has no place in it
            query = query.where(Listing.rating_count > 0)
        if cursor:
            value, last_id = decode_keyset(cursor, column)
            key = sa.tuple_(column, Listing.gpt_id)
            bound = sa.tuple_(sa.literal(value, column.type), sa.literal(last_id))
            query = query.where(key < bound if direction == "desc" else key > bound)
        order = (
            (column.desc(), Listing.gpt_id.desc()) if direction == "desc" else (column.asc(), Listing.gpt_id)
        )
        rows = (await self.session.execute(query.order_by(*order).limit(limit + 1))).all()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = None
        if more and rows:
            last = rows[-1][0]
            next_cursor = encode_cursor([getattr(last, column.key), str(last.gpt_id)])
        return ListingPage(data=[listing_item(*row) for row in rows], next_cursor=next_cursor)

    async def _search(self, q: str, category: str | None, limit: int, cursor: str | None) -> ListingPage:
        """Full-text, semantic and name-trigram search over listings, fused by Reciprocal Rank Fusion.

        Only listings that match are ranked: every query word (or any, ranked lower) in the listing's text,
        a semantic similarity above `MIN_DENSE`, or a name within `NAME_SIMILARITY` of the query (a typo).
        Words also match where scripts meet without spaces (`コードはJP-7070です`) and inside CJK, Hangul
        and Thai text, by character pairs (retrieval.script_query, index `ix_listing_ngram`).
        A query that matches nothing gets an empty page.
        """
        offset = decode_cursor(cursor) if cursor else 0
        if not isinstance(offset, int) or offset < 0 or offset > SEARCH_CANDIDATES:
            raise Invalid("The cursor is not one this API returned", field="cursor")
        embedder = get_embedder(self.settings)
        await embedder.load()
        vector = np.asarray(await embedder.embed_query(q), dtype=np.float32)
        dims = int(embedder.dimensions)
        category_filter = "AND category = :category" if category else ""
        script = script_tsqueries(q)
        every, some = "search_tsv @@ query.q", "search_tsv @@ query.any_q"
        rank = "ts_rank_cd(search_tsv, query.any_q)"
        if script.every:
            every += " OR ngram_tsv @@ query.script_q"
        if script.some:
            some += f" OR {NGRAM_TSV} @@ query.script_any_q"
            rank += " + ts_rank_cd(ngram_tsv, query.script_any_q)"
        sql = f"""
            WITH query AS (
                SELECT websearch_to_tsquery('simple', :q) AS q,
                       websearch_to_tsquery('simple', :any_words) AS any_q
                       {f", {script.every} AS script_q" if script.every else ""}
                       {f", {script.some} AS script_any_q" if script.some else ""}
            ),
            matches AS (
                SELECT gpt_id, search_tsv, {NGRAM_TSV if script.some else "NULL::tsvector"} AS ngram_tsv
                FROM listing, query
                WHERE listed AND ({some}) {category_filter}
                LIMIT :keyword_candidates
            ),
            kw AS (
                SELECT gpt_id,
                       row_number() OVER (ORDER BY ({every}) DESC, {rank} DESC, gpt_id) AS rank
                FROM matches, query
                ORDER BY rank LIMIT :candidates
            ),
            vec AS (
                SELECT gpt_id, row_number() OVER (ORDER BY distance, gpt_id) AS rank FROM (
                    SELECT gpt_id, embedding::vector({dims}) <=> CAST(:vector AS vector({dims})) AS distance
                    FROM listing WHERE listed AND embedding_model = :model {category_filter}
                    ORDER BY distance LIMIT :candidates
                ) nearest
                WHERE 1 - distance >= :min_similarity
            ),
            fuzzy AS (
                SELECT gpt_id, row_number() OVER (ORDER BY distance, gpt_id) AS rank FROM (
                    SELECT gpt_id, :lower_q <<-> lower(name) AS distance FROM listing
                    WHERE listed AND :lower_q <% lower(name) {category_filter}
                    LIMIT :fuzzy_candidates
                ) named
                ORDER BY rank LIMIT :candidates
            )
            SELECT coalesce(kw.gpt_id, vec.gpt_id, fuzzy.gpt_id) AS gpt_id,
                   coalesce(1.0 / ({RRF_K} + kw.rank), 0) + coalesce(1.0 / ({RRF_K} + vec.rank), 0)
                   + coalesce(1.0 / ({RRF_K} + fuzzy.rank), 0) AS score
            FROM kw FULL OUTER JOIN vec ON kw.gpt_id = vec.gpt_id
            FULL OUTER JOIN fuzzy ON fuzzy.gpt_id = coalesce(kw.gpt_id, vec.gpt_id)
            ORDER BY score DESC, gpt_id
            OFFSET :offset LIMIT :limit
        """
        levels = calibration_for(embedder.model_id)
        spaced = separate_scripts(q)
        words = content_words(spaced) or [spaced]
        params: dict[str, Any] = {
            **script.params,
            "q": spaced,
            "any_words": " or ".join(f'"{w}"' for w in words if '"' not in w),
            "lower_q": q.lower(),
            "min_similarity": levels.unrelated + self.min_dense * (levels.duplicate - levels.unrelated),
            "vector": vector,
            "model": embedder.model_id,
            "candidates": SEARCH_CANDIDATES,
            "keyword_candidates": KEYWORD_CANDIDATES,
            "fuzzy_candidates": FUZZY_CANDIDATES,
            "offset": offset,
            "limit": limit + 1,
        }
        if category:
            params["category"] = category
        # `<%` (word similarity, through the trigram index) compares with this transaction-local threshold.
        await self.session.execute(
            sa.text("SELECT set_config('pg_trgm.word_similarity_threshold', :t, true)"),
            {"t": str(self.name_similarity)},
        )
        ranked = [row.gpt_id for row in await self.session.execute(sa.text(sql), params)]
        more = len(ranked) > limit
        ranked = ranked[:limit]
        rows = {row[0].gpt_id: tuple(row) for row in await self.session.execute(
            self._listed(None).where(Listing.gpt_id.in_(ranked))
        )}  # fmt: skip
        return ListingPage(
            data=[listing_item(*rows[g]) for g in ranked if g in rows],
            next_cursor=encode_cursor(offset + limit) if more else None,
        )

    async def categories(self) -> list[CategoryRead]:
        """The categories with their listed GPTs' counts, cached like the listings (every store page shows
        them; counting 100,000 listings cost each page view 6-10 ms of PostgreSQL, bench/store.py)."""

        async def compute() -> dict[str, int]:
            count = sa.select(Listing.category, sa.func.count()).where(Listing.listed)
            query = count.group_by(Listing.category)
            return dict((await self.session.execute(query)).all())

        ttl, lag = self.settings.cache_ttl_seconds, replica_lag(self.session, self.settings)
        counts = await cache.cached(self.redis, LISTING_SCOPE, "categories", ttl, compute, lag=lag)
        return [
            CategoryRead(slug=slug, name=slug.replace("-", " ").title(), count=counts.get(slug, 0))
            for slug in self.settings.categories
        ]
