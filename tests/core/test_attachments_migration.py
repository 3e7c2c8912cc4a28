"""Migration 0025: drafts let go of private datasets of another owner (an organisation's private dataset in
its maker's personal GPT, a maker's personal one in the organisation's GPT); every allowed one stays."""

import asyncio
import uuid

import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import AsyncSession

from builder.models import Gpt
from core import migrate
from core.db import create_engine
from core.models import User
from orgs.models import Organization
from retrieval.models import Dataset, GptDataset
from tests.conftest import _recreate_database

PREVIOUS = "0024_gpt_language_length"


async def test_attachments_of_another_owners_private_dataset_go(server_urls):
    url = await _recreate_database(server_urls[0], "gptstore_attachments_migration")
    await asyncio.to_thread(migrate.upgrade, url)
    await asyncio.to_thread(command.downgrade, migrate.alembic_config(url), PREVIOUS)
    engine = create_engine(url, pool_size=2)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            maker = User(
                email="m@example.com", handle="maker", display_name="M", password_hash="x", plan="plus"
            )
            other = User(
                email="o@example.com", handle="other", display_name="O", password_hash="x", plan="plus"
            )
            session.add_all([maker, other])
            await session.flush()
            team = Organization(handle="team", name="Team")
            session.add(team)
            await session.flush()

            def gpt(owner: User, organization: Organization | None = None) -> uuid.UUID:
                row = Gpt(owner_id=owner.id, organization_id=organization and organization.id, name="G")
                session.add(row)
                session.add(
                    Dataset(id=row.id, home_gpt_id=row.id, owner_id=owner.id,
                            organization_id=organization and organization.id, name="")
                )  # fmt: skip
                return row.id

            def dataset(owner: User, access: str, organization: Organization | None = None) -> uuid.UUID:
                row = Dataset(owner_id=owner.id, organization_id=organization and organization.id, name="D",
                              access=access, license="CC0-1.0" if access == "open" else None)  # fmt: skip
                session.add(row)
                return row.id

            personal, team_gpt, others = gpt(maker), gpt(maker, team), gpt(other)
            team_private, team_open = dataset(maker, "private", team), dataset(maker, "open", team)
            own_private, others_open = dataset(maker, "private"), dataset(other, "open")
            await session.flush()
            attached = {
                (personal, team_private): False,  # the organisation's, in its maker's own GPT
                (personal, team_open): True,
                (personal, own_private): True,
                (personal, others_open): True,
                (team_gpt, team_private): True,
                (team_gpt, own_private): False,  # the maker's own, in the organisation's GPT
                (team_gpt, others_open): True,
                (others, team_open): True,
            }
            homes = [(g, g) for g in (personal, team_gpt, others)]
            for gpt_id, dataset_id in [*attached, *homes]:
                session.add(GptDataset(gpt_id=gpt_id, dataset_id=dataset_id))
            await session.commit()

        await asyncio.to_thread(migrate.upgrade, url)
        async with engine.connect() as conn:
            rows = set((await conn.execute(sa.text("SELECT gpt_id, dataset_id FROM gpt_dataset"))).all())
        assert rows == {pair for pair, kept in attached.items() if kept} | set(homes)
    finally:
        await engine.dispose()
