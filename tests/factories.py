"""Plain factories: `create_x(session, **overrides)`."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from core.auth import AccountService
from core.models import User
from core.settings import Settings


async def create_user(session: AsyncSession, settings: Settings, **overrides) -> User:
    fields = {
        "email": f"user-{uuid.uuid4().hex[:10]}@example.com",
        "password": "correct horse battery",
        "display_name": "Test User",
    }
    attrs = {k: overrides.pop(k) for k in list(overrides) if k not in fields}
    fields.update(overrides)
    user = await AccountService(session, settings).signup(**fields)
    for key, value in attrs.items():
        setattr(user, key, value)
    await session.flush()
    await session.commit()
    return user


def auth_headers(user: User, settings: Settings) -> dict[str, str]:
    token, _ = AccountService(None, settings).issue_token(user)  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {token}"}
