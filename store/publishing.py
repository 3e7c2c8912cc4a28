"""Store publishing: immutable versions, automated review, going live, restoring and unpublishing.

`PublishingMixin` is `store.service.StoreService`'s publishing half (it provides the session, settings,
Redis and the listing helpers).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import numpy as np
import sqlalchemy as sa
from pydantic_core import to_jsonable_python
from redis.asyncio import Redis
from sqlalchemy.dialects.postgresql import insert

from builder.models import Gpt
from core import cache
from core.concurrency import serialize
from core.errors import Conflict, Invalid, NotFound
from core.models import User
from core.pagination import keyset_page
from core.schemas import has_visible
from retrieval.embedding import get_embedder
from retrieval.service import KnowledgeService
from store.models import GptVersion, Listing
from store.naming import near_duplicate
from tools.portability import pin_secrets, restore_snapshot, tools_review_reasons
from tools.snapshot import draft_snapshot

SNAPSHOT_FIELDS = (
    "name", "description", "instructions", "welcome_message", "conversation_starters", "category", "tags",
    "language", "top_k", "model", "instructions_visibility", "verbatim_max_words",
)  # fmt: skip
IMPERSONATION_TERMS = ("openai", "chatgpt", "official")
LISTING_SCOPE = "listing"


def review_reasons(config: dict[str, Any], other_names: list[str], banned_terms: list[str]) -> list[str]:
    """Every reason a public version is rejected (empty: approved)."""
    reasons = []
    for field in ("name", "description", "instructions", "category"):
        if not config.get(field):
            reasons.append(f"{field} is required for a public GPT")
    if not config.get("conversation_starters"):
        reasons.append("a public GPT needs at least one conversation starter")
    text = f"{config.get('name') or ''} {config.get('description') or ''}".lower()
    for term in (*IMPERSONATION_TERMS, *(t.lower() for t in banned_terms)):
        if term and re.search(rf"(?<![a-z0-9]){re.escape(term)}(?![a-z0-9])", text):
            reasons.append(f"name and description must not use the term '{term}'")
    name = config.get("name") or ""
    for other in other_names:
        if near_duplicate(name, other):
            reasons.append(f"the name is nearly the same as your GPT '{other}'")
            break
    return reasons + tools_review_reasons(config)


async def invalidate(redis: Redis | None, gpt_id: uuid.UUID | None = None) -> None:
    """Drop cached listing pages (and one GPT's page) after a change the store shows."""
    if redis is None:
        return
    scopes = [LISTING_SCOPE] + ([cache.gpt_scope(gpt_id)] if gpt_id else [])
    await cache.bump(redis, *scopes)


class PublishingMixin:
    """`StoreService`'s publishing methods."""

    async def publish(
        self, owner: User, gpt_id: uuid.UUID, visibility: str, category: str | None, release_notes: str | None
    ) -> tuple[GptVersion, bool]:
        """Snapshot the draft as the next version; public versions pass the automated review first.

        Returns the version and whether it is new. Publishing what the newest version already holds (the
        same snapshot, files, datasets, visibility and notes) while that version is live, or was refused
        for the same reasons, returns it instead of a copy: a double-click, a reloaded form or a retried
        request publishes once. Publishes of one GPT take turns on its row (`for_update`), so the second of
        two at once sees the first's version."""
        gpt = await self.gpts.get_owned(owner, gpt_id, for_update=True)
        if category is not None:
            if category not in self.settings.categories:
                raise Invalid(
                    f"category must be one of: {', '.join(self.settings.categories)}", field="category"
                )
            gpt.category = category
        if visibility == "organisation" and gpt.organization_id is None:
            raise Conflict(  # the request is fine; the draft has no organisation to share it with
                "visibility 'organisation' is for GPTs owned by an organisation",
                errors=[{"field": "visibility", "message": "the GPT has no organisation"}],
            )
        if not has_visible(gpt.name):
            raise Conflict(  # a version's page, chat and listing are headed by its name
                "name is required to publish: give the draft a name",
                errors=[{"field": "name", "message": "the draft has no name"}],
            )
        if visibility == "public" and not gpt.category:
            raise Conflict(  # the request is fine; the draft it publishes lacks a category
                "category is required to publish publicly: send one or set the draft's",
                errors=[{"field": "category", "message": "required to publish publicly"}],
            )
        config = {field: getattr(gpt, field) for field in SNAPSHOT_FIELDS}
        # Actions and MCP servers without their secrets, which stay sealed in rows the version pins.
        config["tools"] = await draft_snapshot(self.session, gpt.id)
        await pin_secrets(self.session, config["tools"])
        reasons: list[str] = []
        if visibility == "public":
            # A creator's public publishes take turns: two GPTs of one name at once cannot both pass.
            await serialize(self.session, "publish", gpt.organization_id or gpt.owner_id)
            same_creator = (
                Listing.organization_id == gpt.organization_id
                if gpt.organization_id
                else sa.and_(Listing.owner_id == gpt.owner_id, Listing.organization_id.is_(None))
            )
            others = await self.session.scalars(
                sa.select(Listing.name).where(
                    same_creator,
                    Listing.gpt_id != gpt.id,
                    Listing.live_version.is_not(None),
                )
            )
            reasons = review_reasons(config, list(others), self.settings.banned_terms)
        number = 1 + (
            await self.session.scalar(
                sa.select(sa.func.coalesce(sa.func.max(GptVersion.number), 0)).where(
                    GptVersion.gpt_id == gpt.id
                )
            )
        )
        file_ids, datasets = await KnowledgeService(self.session, self.settings).pin_files(gpt.id)
        release = {
            "visibility": visibility,
            "config": to_jsonable_python(config),
            "file_ids": [str(f) for f in file_ids],
            "datasets": datasets,
            "release_notes": release_notes,
        }
        newest = await self._newest_version(gpt.id)
        if newest is not None and await self._already_out(gpt, newest, release, reasons):
            return newest, False
        version = GptVersion(
            gpt_id=gpt.id,
            number=number,
            visibility=visibility,
            review_status="rejected" if reasons else "approved",
            review_reasons=reasons,
            config=config,
            file_ids=[str(f) for f in file_ids],
            datasets=datasets,
            release_notes=release_notes,
        )
        self.session.add(version)
        await self.session.flush()
        if not reasons:
            await self._go_live(gpt, version)
        await self.close_outdated_appeals(gpt.id, version)
        await invalidate(self.redis, gpt.id)
        return version, True

    async def _newest_version(self, gpt_id: uuid.UUID) -> GptVersion | None:
        return await self.session.scalar(
            sa.select(GptVersion)
            .where(GptVersion.gpt_id == gpt_id)
            .order_by(GptVersion.number.desc())
            .limit(1)
        )

    async def _already_out(
        self, gpt: Gpt, newest: GptVersion, release: dict[str, Any], reasons: list[str]
    ) -> bool:
        """Whether `newest` is what this publish would make (`release`: its fields as stored) and stands
        as it would: live with that visibility, or refused for the same `reasons`."""
        stored = {
            "visibility": newest.visibility,
            "config": newest.config,
            "file_ids": [str(f) for f in newest.file_ids],
            "datasets": newest.datasets,
            "release_notes": newest.release_notes,
        }
        if stored != release:
            return False
        if newest.review_status == "rejected":
            return list(newest.review_reasons) == reasons
        live = await self.session.scalar(
            sa.select(Listing.live_version).where(
                Listing.gpt_id == gpt.id, Listing.visibility == newest.visibility
            )
        )
        return live == newest.number

    async def _listing_for(self, gpt: Gpt) -> Listing:
        """The GPT's listing, created on first use, locked: a publish and an appeal granted at the same
        moment both find (or make) the one row instead of inserting two."""
        await self.session.execute(
            insert(Listing)
            .values(gpt_id=gpt.id, owner_id=gpt.owner_id, organization_id=gpt.organization_id)
            .on_conflict_do_nothing(index_elements=["gpt_id"])
        )
        return await self.session.scalar(
            sa.select(Listing)
            .where(Listing.gpt_id == gpt.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    async def _go_live(self, gpt: Gpt, version: GptVersion) -> None:
        listing = await self._listing_for(gpt)
        config = version.config
        listing.live_version = version.number
        listing.visibility = version.visibility
        listing.unlisted_reason = None
        listing.name, listing.description = config["name"], config["description"]
        listing.category, listing.tags = config.get("category"), list(config.get("tags") or [])
        await self.follow_owner(listing, gpt)
        if version.visibility == "public" and listing.first_approved_at is None:
            listing.first_approved_at = datetime.now(UTC)
        if version.visibility == "public":
            embedder = get_embedder(self.settings)
            await embedder.load()
            listing.embedding = np.asarray(await embedder.embed_query(listing.search_text), dtype=np.float32)
            listing.embedding_model = embedder.model_id
        self._relist(listing)
        await self.session.flush()

    @staticmethod
    def _relist(listing: Listing) -> None:
        listing.listed = (
            listing.live_version is not None
            and listing.visibility == "public"
            and listing.unlisted_reason is None
            and not listing.hidden_by_reports
        )

    async def versions(
        self, owner: User, gpt_id: uuid.UUID, limit: int, cursor: str | None
    ) -> tuple[list[GptVersion], str | None]:
        """One page of the GPT's versions, newest first."""
        gpt = await self.gpts.get_owned(owner, gpt_id)
        query = sa.select(GptVersion).where(GptVersion.gpt_id == gpt.id)
        return await keyset_page(
            self.session, query, GptVersion.number, GptVersion.id, limit=limit, cursor=cursor
        )

    async def restore(self, owner: User, gpt_id: uuid.UUID, number: int) -> Gpt:
        """Copy a version's config back into the draft (knowledge files stay as they are)."""
        gpt = await self.gpts.get_owned(owner, gpt_id, for_update=True)
        version = await self.session.scalar(
            sa.select(GptVersion).where(GptVersion.gpt_id == gpt.id, GptVersion.number == number)
        )
        if version is None:
            raise NotFound(f"This GPT has no version {number}")
        config = version.config
        direct = ("top_k", "model", "instructions_visibility", "verbatim_max_words", "tools")
        self.gpts.apply_fields(gpt, {k: v for k, v in config.items() if k not in direct})
        await restore_snapshot(self.session, self.settings, gpt, config)
        gpt.top_k, gpt.model = config.get("top_k", gpt.top_k), config.get("model")
        # Versions published before the trust policy had none: their instructions were hidden.
        gpt.instructions_visibility = config.get("instructions_visibility") or "hidden"
        gpt.verbatim_max_words = config.get("verbatim_max_words")
        await self.session.flush()
        return gpt

    async def unpublish(self, owner: User, gpt_id: uuid.UUID) -> None:
        gpt = await self.gpts.get_owned(owner, gpt_id)
        listing = await self.session.get(Listing, gpt.id, with_for_update=True)
        if listing is None or listing.live_version is None:
            raise Conflict("This GPT is not published")
        listing.live_version = None
        self._relist(listing)
        await self.session.flush()
        await invalidate(self.redis, gpt.id)

    # Review by admins and appeals ---------------------------------------------------------------------
