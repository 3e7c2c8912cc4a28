"""A secret shown once, across the redirect after the post that made it (post/redirect/get).

A page that answered its post with the new API key or invitation link made another one on every reload
(the browser posts again). Now the post keeps what it shows under a random token, for its user only and for
`ONCE_SECONDS`, and redirects to the page with `?once=<token>`; the page takes it (Redis `GETDEL`), so a
reload shows nothing new and creates nothing. The secret waits in Redis for at most that long.
"""

from __future__ import annotations

import json
import secrets
import uuid
from typing import Any

from redis.asyncio import Redis

ONCE_SECONDS = 60  # the redirect follows at once; a page opened later no longer shows the secret
_PREFIX = "web:once:"


def _key(user_id: uuid.UUID, token: str) -> str:
    return f"{_PREFIX}{user_id}:{token}"


async def keep_once(redis: Redis, user_id: uuid.UUID, value: dict[str, Any]) -> str:
    """Keep `value` (JSON) for `user_id`'s next page; returns the token its URL carries."""
    token = secrets.token_urlsafe(16)
    await redis.set(_key(user_id, token), json.dumps(value), ex=ONCE_SECONDS)
    return token


async def take_once(redis: Redis, user_id: uuid.UUID, token: str | None) -> dict[str, Any] | None:
    """What `keep_once` kept under `token` for this user, once; None for an unknown, spent or other
    user's token."""
    if not token or len(token) > 64:
        return None
    raw = await redis.getdel(_key(user_id, token))
    return json.loads(raw) if raw else None
