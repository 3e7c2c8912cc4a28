"""Alembic, driven from code: upgrade, and compare the database with the migration head."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.ext.asyncio import AsyncEngine

import migrations

MIGRATIONS_DIR = Path(migrations.__file__).parent


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["database_url"] = database_url
    return config


HAND_WRITTEN_INDEX_PREFIXES = (
    "ix_knowledge_chunk_hnsw_", "ix_listing_hnsw_", "ix_listing_trgm_",
    "ix_listing_ngram",  # the store's search in scripts without spaces (migration 0030)
    "ix_dataset_open_", "ix_gpt_version_datasets_",  # the dataset directory (migration 0019)
)  # fmt: skip


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Autogenerate skips what models cannot state exactly: the hand-written HNSW and trigram expression
    indexes."""
    return not (type_ == "index" and (name or "").startswith(HAND_WRITTEN_INDEX_PREFIXES))


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


def upgrade(database_url: str, revision: str = "head") -> None:
    """Apply migrations (blocking; call from a thread when inside an event loop)."""
    command.upgrade(alembic_config(database_url), revision)


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        exists = await conn.scalar(sa.text("SELECT to_regclass('alembic_version') IS NOT NULL"))
        if not exists:
            return None
        return await conn.scalar(sa.text("SELECT version_num FROM alembic_version"))


async def schema_state(engine: AsyncEngine) -> tuple[Literal["current", "behind", "ahead"], str | None]:
    """Where the database's schema stands against this version's migrations, with its revision: at the
    head; behind it (no schema yet, or one of our older revisions: `gptstore db upgrade`); or ahead, at a
    revision this version does not know (a newer version migrated it, as after rolling the app back),
    which no upgrade of ours can reach."""
    revision = await current_revision(engine)
    if revision == head_revision():
        return "current", revision
    if revision is None:
        return "behind", None
    try:
        ScriptDirectory.from_config(alembic_config("")).get_revision(revision)
    except CommandError:  # "Can't locate revision identified by ..."
        return "ahead", revision
    return "behind", revision
