"""A GPT's tools for one chat turn: its `Toolset` with the opaque id of the user it acts for."""

from __future__ import annotations

import hashlib
import hmac
import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.settings import Settings
from store.models import GptVersion, Listing
from tools.approvals import grants
from tools.runtime import Toolset
from tools.schemas import ToolApprovalRead
from tools.snapshot import load_definitions


def user_ref(settings: Settings, gpt_id: uuid.UUID, user_id: uuid.UUID) -> str:
    """An opaque id for this user at this GPT (HMAC-SHA256 under the secret key, 32 hex characters): the
    same on every call, unlinkable across GPTs, and never the user's own id."""
    digest = hmac.new(settings.secret().encode(), f"{gpt_id}:{user_id}".encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


async def open_toolset(
    session: AsyncSession,
    settings: Settings,
    gpt_id: uuid.UUID,
    user_id: uuid.UUID,
    version: GptVersion | None = None,
) -> Toolset | None:
    """The tools of the GPT's draft (or of its published `version`) for `user_id`; None when it has none.
    The caller closes it (`aclose`) when the turn ends."""
    definitions = await load_definitions(session, settings, gpt_id, version)
    if not definitions:
        return None
    return Toolset(definitions, settings, user_ref=user_ref(settings, gpt_id, user_id))


async def approval_reads(
    session: AsyncSession, settings: Settings, gpt_id: uuid.UUID, user_id: uuid.UUID
) -> list[ToolApprovalRead]:
    """The user's approvals for good in the GPT, by function name, each marked `outdated` when the published
    version's function of that name reaches elsewhere than it did when allowed (or is gone, or the GPT is
    no longer published): store chats answer with the published version, so such a grant does not apply."""
    rows = await grants(session, user_id, gpt_id)
    if not rows:
        return []
    version = await session.scalar(
        sa.select(GptVersion)
        .join(Listing, Listing.gpt_id == GptVersion.gpt_id)
        .where(GptVersion.gpt_id == gpt_id, GptVersion.number == Listing.live_version)
    )
    targets: dict[str, str] = {}
    if version is not None:
        definitions = await load_definitions(session, settings, gpt_id, version, secrets=False)
        toolset = Toolset(definitions, settings)  # never calls: only names and targets are read
        targets = {row.name: toolset.grant_target(row.name) for row in rows}
    return [ToolApprovalRead.of(row, targets.get(row.name) or None) for row in rows]
