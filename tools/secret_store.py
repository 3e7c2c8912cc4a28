"""Tool secrets at rest: `tool_secret` rows sealed with AES-GCM (core/secrets.py), written once, read
decrypted only for calls, shown only as hints (set, last 4)."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.secrets import SecretBox, SecretUnreadable
from core.settings import Settings
from tools.models import ToolSecret

logger = logging.getLogger("gptstore")


def secret_context(secret_id: uuid.UUID) -> bytes:
    """AES-GCM associated data: a sealed value opens only in its own row."""
    return b"tool_secret:" + secret_id.bytes


class SecretStore:
    """The `tool_secret` rows of every GPT. A row is never changed but by `reseal_all`: a new value is a
    new row, so a published version keeps the row it pinned."""

    def __init__(self, session: AsyncSession, settings: Settings):
        self.session = session
        self.box = SecretBox(settings)

    # Secrets --------------------------------------------------------------------------------------------

    async def seal(self, gpt_id: uuid.UUID, payload: dict[str, Any], hints: dict[str, Any]) -> ToolSecret:
        row = ToolSecret(id=uuid.uuid4(), gpt_id=gpt_id, sealed=b"", hints=hints)
        row.sealed = self.box.seal(json.dumps(payload), context=secret_context(row.id))
        self.session.add(row)
        await self.session.flush()
        return row

    async def drop(self, secret_id: uuid.UUID | None) -> None:
        """Delete a secret the draft no longer uses, unless a published version still does."""
        if secret_id is not None:
            await self.session.execute(
                sa.delete(ToolSecret).where(ToolSecret.id == secret_id, ToolSecret.pinned.is_(False))
            )

    async def hints(self, secret_ids: list[uuid.UUID | None]) -> dict[uuid.UUID, dict[str, Any]]:
        return await self.hints_of(self.session, secret_ids)

    @staticmethod
    async def hints_of(
        session: AsyncSession, secret_ids: list[uuid.UUID | None]
    ) -> dict[uuid.UUID, dict[str, Any]]:
        """What reads may show of these secrets (set, last 4), by id; nothing is decrypted."""
        ids = [i for i in secret_ids if i is not None]
        if not ids:
            return {}
        rows = await session.execute(sa.select(ToolSecret.id, ToolSecret.hints).where(ToolSecret.id.in_(ids)))
        return {row.id: row.hints for row in rows}

    async def open(self, secret_ids: list[uuid.UUID | None]) -> dict[uuid.UUID, dict[str, Any]]:
        """The decrypted payloads by id; a value no configured key opens is left out (and logged, without
        the value), so the call goes without it."""
        ids = [i for i in secret_ids if i is not None]
        if not ids:
            return {}
        rows = await self.session.scalars(sa.select(ToolSecret).where(ToolSecret.id.in_(ids)))
        opened = {}
        for row in rows:
            try:
                opened[row.id] = json.loads(self.box.open(row.sealed, context=secret_context(row.id)))
            except SecretUnreadable as exc:
                logger.warning("tool secret %s of GPT %s cannot be opened: %s", row.id, row.gpt_id, exc)
        return opened

    async def reseal_all(self) -> int:
        """Re-encrypt every secret under the current key (after a rotation); returns how many changed."""
        changed = 0
        for row in await self.session.scalars(sa.select(ToolSecret).with_for_update()):
            if not self.box.is_current(row.sealed):
                row.sealed = self.box.reseal(row.sealed, context=secret_context(row.id))
                changed += 1
        await self.session.flush()
        return changed
