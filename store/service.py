"""Store: visibility, the listing, its page and its admin actions (publishing: store/publishing.py)."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import sqlalchemy as sa
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from builder.models import Gpt
from builder.service import GptService
from core import cache
from core.concurrency import serialize
from core.db import replica_lag
from core.errors import Forbidden, Invalid, NotFound
from core.models import User
from core.settings import Settings
from orgs import access
from orgs.models import Organization
from retrieval.embedding import get_embedder
from retrieval.service import KnowledgeService
from store.appeals import AppealsMixin
from store.models import ChatMessage, Conversation, GptVersion, Listing
from store.moderation import ModerationMixin
from store.publishing import LISTING_SCOPE, PublishingMixin, invalidate
from store.ranking import conversations_label, rating_average
from store.schemas import Creator, GptPage, OpenFile, RatingDetail
from store.trust import trust_summary
from tools.portability import tool_domains


class StoreService(ModerationMixin, AppealsMixin, PublishingMixin):
    def __init__(self, session: AsyncSession, settings: Settings, redis: Redis | None = None):
        self.session = session
        self.settings = settings
        self.redis = redis
        self.gpts = GptService(session, settings)

    # Visibility ---------------------------------------------------------------------------------------

    async def visible_listing(self, gpt_id: uuid.UUID, user: User | None) -> Listing:
        """The listing of a GPT the caller may use: public or link with a live version, organisation for
        the members of its organisation, private for its owners (`orgs.access`).

        Anything else is a 404 (never 403), so ids cannot be probed.
        """
        listing = await self.session.get(Listing, gpt_id)
        if listing is None or listing.live_version is None:
            raise NotFound("No such GPT")
        need = {"private": "edit", "organisation": "view"}.get(listing.visibility)
        if need and not await access.can(self.session, user, listing.owner_id, listing.organization_id, need):
            raise NotFound("No such GPT")
        return listing

    async def is_owner(self, user: User | None, listing: Listing) -> bool:
        """Whether `user` edits the GPT (its creator, its organisation's builders, site admins)."""
        return await access.can_edit(self.session, user, listing.owner_id, listing.organization_id)

    async def creates(self, user: User | None, gpt_id: uuid.UUID) -> bool:
        """Whether `user` is among the GPT's creators (its owner, its organisation's builders), who may not
        rate or report it and who embed it; not by being a site administrator."""
        listing = await self.session.get(Listing, gpt_id)
        return listing is not None and await access.can_edit(
            self.session, user, listing.owner_id, listing.organization_id, site_admin=False
        )

    async def creator_of(self, listing: Listing) -> tuple[Creator, User, Organization | None]:
        """Who the store names as the GPT's creator: its organisation, else the user who owns it."""
        owner = await self.session.get(User, listing.owner_id)
        if listing.organization_id is None:
            return Creator(handle=owner.handle, display_name=owner.display_name), owner, None
        organization = await self.session.get(Organization, listing.organization_id)
        creator = Creator(handle=organization.handle, display_name=organization.name, kind="organization")
        return creator, owner, organization

    async def live_version(self, listing: Listing) -> GptVersion:
        version = await self.session.scalar(
            sa.select(GptVersion).where(
                GptVersion.gpt_id == listing.gpt_id, GptVersion.number == listing.live_version
            )
        )
        assert version is not None
        return version

    async def cached_page(self, gpt_id: uuid.UUID, user: User | None) -> dict[str, Any]:
        """The page as JSON; what everyone but the owner sees is cached in Redis until the GPT changes."""
        listing = await self.visible_listing(gpt_id, user)
        # Pages only some may see, or that show an owner more, are not cached.
        if (
            self.redis is None
            or listing.visibility in ("private", "organisation")
            or await self.is_owner(user, listing)
        ):
            return (await self.page(gpt_id, user)).model_dump(mode="json")

        async def compute() -> dict[str, Any]:
            return (await self.page(gpt_id, None)).model_dump(mode="json")

        ttl, lag = self.settings.cache_ttl_seconds, replica_lag(self.session, self.settings)
        return await cache.cached(self.redis, cache.gpt_scope(gpt_id), "page", ttl, compute, lag=lag)

    async def served_page(self, gpt_id: uuid.UUID, user: User | None, base_url: str) -> GptPage:
        """The page as served: the cached page with its MCP server URL on this site (`base_url`, the
        request's) and the client snippets, which the cache leaves out since they depend on the host."""
        from store.mcp_clients import mcp_access

        page = GptPage.model_validate(await self.cached_page(gpt_id, user))
        page.mcp = mcp_access(base_url, gpt_id, page.name)
        return page

    async def page(self, gpt_id: uuid.UUID, user: User | None) -> GptPage:
        """The public page of a GPT; instructions only for its owner, open files only."""
        from store.datasets import cited_datasets
        from store.search import listing_item

        listing = await self.visible_listing(gpt_id, user)
        version = await self.live_version(listing)
        creator, owner, organization = await self.creator_of(listing)
        knowledge = KnowledgeService(self.session, self.settings)
        files = await knowledge.answering_files(
            version.file_ids, version.datasets, listing.owner_id, listing.organization_id
        )
        same_creator = (
            Listing.organization_id == listing.organization_id
            if listing.organization_id
            else sa.and_(Listing.owner_id == listing.owner_id, Listing.organization_id.is_(None))
        )
        others = await self.session.execute(
            sa.select(Listing)
            .where(same_creator, Listing.gpt_id != gpt_id, Listing.listed)
            .order_by(Listing.trending_score.desc(), Listing.gpt_id)
            .limit(6)
        )
        config = version.config
        count = listing.rating_count
        is_owner = await self.is_owner(user, listing)
        open_files = [f for f in files if f.access == "open"]
        # A file of another (open) dataset is listed with that dataset's terms, as a citation names them.
        named = await cited_datasets(
            self.session, [f.dataset_id for f in open_files if f.dataset_id != gpt_id]
        )
        public_instructions = config.get("instructions_visibility") == "public"
        return GptPage(
            id=gpt_id,
            name=config["name"],
            description=config["description"],
            welcome_message=config.get("welcome_message") or "",
            conversation_starters=list(config.get("conversation_starters") or []),
            category=config.get("category"),
            tags=list(config.get("tags") or []),
            creator=creator,
            rating=RatingDetail(
                average=rating_average(listing.rating_sum, count),
                count=count,
                distribution={str(stars): n for stars, n in enumerate(listing.rating_distribution, 1)},
            ),
            conversations=listing.conversations,
            conversations_label=conversations_label(listing.conversations),
            version=version.number,
            visibility=listing.visibility,
            updated_at=listing.updated_at,
            knowledge=[
                OpenFile(
                    id=f.id,
                    filename=f.filename,
                    media_type=f.media_type,
                    bytes=f.bytes,
                    license=f.license,
                    download_url=f"/api/store/gpts/{gpt_id}/files/{f.id}/download",
                    dataset=named.get(f.dataset_id),
                )
                for f in open_files
            ],
            more_by_creator=[listing_item(other, owner, organization) for other in others.scalars()],
            instructions=config.get("instructions") if is_owner or public_instructions else None,
            trust=trust_summary(public_instructions, files),
            tools=tool_domains(config),
        )

    async def open_file(self, gpt_id: uuid.UUID, file_id: uuid.UUID, user: User | None):
        """An open-access file of the live version, for download; private files are never handed out."""
        listing = await self.visible_listing(gpt_id, user)
        version = await self.live_version(listing)
        knowledge = KnowledgeService(self.session, self.settings)
        if file_id not in await knowledge.version_file_ids(version.file_ids, version.datasets):
            raise NotFound("No such file")
        files = await knowledge.not_withdrawn(
            await knowledge.files_by_ids([file_id]), listing.owner_id, listing.organization_id
        )
        if not files or files[0].access != "open":
            raise NotFound("No such file")
        return files[0]

    async def has_asked(self, user: User, gpt_id: uuid.UUID) -> bool:
        """Whether the user asked the GPT something: a conversation of theirs with it holds a message they
        sent. Opening a chat and leaving it empty is not using the GPT."""
        found = await self.session.scalar(
            sa.select(Conversation.id)
            .join(ChatMessage, ChatMessage.conversation_id == Conversation.id)
            .where(Conversation.gpt_id == gpt_id, Conversation.user_id == user.id, ChatMessage.role == "user")
            .limit(1)
        )
        return found is not None

    # Publishing ---------------------------------------------------------------------------------------

    async def set_featured(self, gpt_ids: list[uuid.UUID]) -> list[uuid.UUID]:
        """The ordered featured list; every GPT in it must be listed. Concurrent calls take turns: the
        last one replaces the list whole, never a mix of two."""
        if len(set(gpt_ids)) != len(gpt_ids):
            raise Invalid("The featured list repeats a GPT", field="gpt_ids")
        await serialize(self.session, "featured")
        listed = set(
            await self.session.scalars(
                sa.select(Listing.gpt_id).where(Listing.gpt_id.in_(gpt_ids), Listing.listed)
            )
        )
        missing = [str(g) for g in gpt_ids if g not in listed]
        if missing:
            raise NotFound(  # ids the caller cannot use are a 404, as everywhere
                f"Not listed in the store: {', '.join(missing)}",
                errors=[{"field": "gpt_ids", "message": f"not listed: {', '.join(missing)}"}],
            )
        await self.session.execute(
            sa.update(Listing).where(Listing.featured_rank.is_not(None)).values(featured_rank=None)
        )
        for rank, gpt_id in enumerate(gpt_ids, 1):
            await self.session.execute(
                sa.update(Listing).where(Listing.gpt_id == gpt_id).values(featured_rank=rank)
            )
        await self.session.flush()
        await invalidate(self.redis)
        return gpt_ids

    async def follow_owner(self, listing: Listing, gpt: Gpt) -> None:
        """Give the listing the GPT's owners and their name as its creator (searchable by it)."""
        listing.owner_id, listing.organization_id = gpt.owner_id, gpt.organization_id
        creator, _, _ = await self.creator_of(listing)
        listing.creator_handle = creator.handle
        listing.search_text = listing_text(listing, creator)

    async def refresh_creator(self, owner: User | Organization) -> None:
        """Keep listing text (searchable by creator) in step with the creator's profile (a user's or an
        organisation's)."""
        if isinstance(owner, Organization):
            mine = Listing.organization_id == owner.id
            creator = Creator(handle=owner.handle, display_name=owner.name, kind="organization")
        else:
            mine = sa.and_(Listing.owner_id == owner.id, Listing.organization_id.is_(None))
            creator = Creator(handle=owner.handle, display_name=owner.display_name)
        rows = list(await self.session.scalars(sa.select(Listing).where(mine)))
        for listing in rows:
            listing.creator_handle = creator.handle
            listing.search_text = listing_text(listing, creator)
        await self.session.flush()
        if self.redis is not None:  # every GPT page names the creator: drop each one's cached page too
            pages = (cache.gpt_scope(listing.gpt_id) for listing in rows)
            await cache.bump(self.redis, LISTING_SCOPE, *pages)

    async def set_hidden_by_reports(self, gpt_id: uuid.UUID, hidden: bool) -> None:
        listing = await self.session.get(Listing, gpt_id, with_for_update=True)
        if listing is not None and listing.hidden_by_reports != hidden:
            listing.hidden_by_reports = hidden
            self._relist(listing)
            await self.session.flush()
            await invalidate(self.redis, gpt_id)

    async def unlist(self, gpt_id: uuid.UUID, reason: str) -> None:
        listing = await self.session.get(Listing, gpt_id, with_for_update=True)
        if listing is None:
            raise NotFound("No such GPT")
        listing.unlisted_reason = reason
        self._relist(listing)
        await self.session.flush()
        await invalidate(self.redis, gpt_id)


def listing_text(listing: Listing, owner: User | Creator) -> str:
    """What `q` searches: name, description, tags and creator."""
    return " ".join(
        part
        for part in (
            listing.name,
            listing.description,
            " ".join(listing.tags),
            owner.handle,
            owner.display_name,
        )
        if part
    )


async def forbid_owner(session: AsyncSession, user: User, listing: Listing, what: str) -> None:
    """Creators (and the builders of the GPT's organisation) may not `what` their own GPT: 403."""
    if await access.can_edit(session, user, listing.owner_id, listing.organization_id, site_admin=False):
        raise Forbidden(f"Creators cannot {what} their own GPT")


async def reembed_listings(session: AsyncSession, settings: Settings) -> int:
    """Give listings embedded by an earlier model vectors of the current one (semantic store search)."""
    embedder = get_embedder(settings)
    await embedder.load()
    stale = list(
        await session.scalars(
            sa.select(Listing).where(
                Listing.embedding.is_not(None), Listing.embedding_model.is_distinct_from(embedder.model_id)
            )
        )
    )
    for start in range(0, len(stale), 64):
        batch = stale[start : start + 64]
        vectors = await embedder.embed_documents([listing.search_text for listing in batch])
        for listing, vector in zip(batch, vectors, strict=True):
            listing.embedding = np.asarray(vector, dtype=np.float32)
            listing.embedding_model = embedder.model_id
    await session.flush()
    return len(stale)
