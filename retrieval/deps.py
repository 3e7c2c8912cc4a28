"""Providers of the dataset a knowledge route works on, checked as every such route checks it: a GPT's
home dataset (`gpt_id` in the path) or any dataset (`dataset_id`). 404 for one the caller may not see,
403 (naming the role) for one it may only see. Each scope's controller picks its pair with `Provide`."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from core.models import User
from core.settings import Settings
from retrieval.datasets import DatasetService
from retrieval.models import Dataset
from retrieval.service import KnowledgeService


async def editable_home_dataset(
    gpt_id: uuid.UUID, current_user: User, db_session: AsyncSession, settings: Settings
) -> Dataset:
    """The GPT's home dataset if the caller may edit the GPT (`KnowledgeService.knowledge_base_for`)."""
    return await KnowledgeService(db_session, settings).knowledge_base_for(current_user, gpt_id)


async def editable_dataset(
    dataset_id: uuid.UUID, current_user: User, db_session: AsyncSession, settings: Settings
) -> Dataset:
    """The dataset if the caller may change it (`DatasetService.get_editable`)."""
    return await DatasetService(db_session, settings).get_editable(current_user, dataset_id)


async def viewable_dataset(
    dataset_id: uuid.UUID, current_user: User, db_session: AsyncSession, settings: Settings
) -> Dataset:
    """The dataset if the caller may see it: open ones for anyone (`DatasetService.get_viewable`)."""
    return await DatasetService(db_session, settings).get_viewable(current_user, dataset_id)


async def readable_home_dataset(
    gpt_id: uuid.UUID, current_user: User, db_session: AsyncSession, settings: Settings
) -> Dataset:
    """A GPT's files are read by its editors only: the same check as `editable_home_dataset` (litestar
    wants one provider function per key)."""
    return await editable_home_dataset(gpt_id, current_user, db_session, settings)
