"""Accounts: password hashing, access tokens, API keys, plans, and the dependencies that authenticate."""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
import sqlalchemy as sa
from anyascii import anyascii
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.handlers import BaseRouteHandler
from pwdlib import PasswordHash
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from core.concurrency import serialize, unique_or_conflict
from core.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from core.models import ApiKey, User
from core.pagination import keyset_page
from core.ratelimit import LoginThrottle
from core.settings import Settings

API_KEY_PREFIX = "gsk_"
PAID_PLANS = ("plus", "team")
JWT_ALGORITHM = "HS256"
INVALID_LOGIN = "Incorrect email or password"
ACCOUNTS_LOCK = "accounts"  # held by signups and handle changes until their transaction ends
REVOKED_TOKEN_PREFIX = "gptstore:revoked-token:"

password_hash = PasswordHash.recommended()
# Verifying against a dummy hash keeps the response time the same whether the email exists or not.
_DUMMY_HASH = password_hash.hash(secrets.token_urlsafe(16))


def _key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def normalize_email(email: str) -> str:
    """The one form an e-mail is stored and looked up in: trimmed, lowercase, Unicode NFC.

    Keyboards differ in how they type "é" (one code point, or "e" and a combining accent); signup's e-mail
    validator stores NFC, so every lookup must compare in NFC too, or an account cannot log in.
    """
    return unicodedata.normalize("NFC", email.strip().lower())


def normalize_password(password: str) -> str:
    """A password as it is hashed and checked: Unicode NFKC (NIST SP 800-63B, 5.1.1.2), so that "ä" typed
    as one code point or as "a" and a combining diaeresis is the same password."""
    return unicodedata.normalize("NFKC", password)


def _handle_from(display_name: str, email: str) -> str:
    """A new account's handle (up to 30 of a-z, 0-9 and "-"): its display name with letters and digits of
    any script written in ASCII (`anyascii`: "Bjørn Ødegård" -> "bjorn-odegard", "北京" -> "beijing"),
    every other sign (spaces, emoji) a "-"; else the email's local part; else "creator"."""
    ascii_name = "".join(anyascii(c) if unicodedata.category(c)[0] in "LN" else " " for c in display_name)
    base = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-") or email.split("@")[0].lower()
    return re.sub(r"[^a-z0-9-]+", "", base)[:30].strip("-") or "creator"


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class VerifiedCredential:
    """A bearer credential checked as far as it can be without the user's row (`AccountService.verify`):
    whose it is, and for an access token the Redis deny-list check under way (`revoked`)."""

    user_id: uuid.UUID
    revoked: asyncio.Future[int] | None

    async def confirm(self, user_exists: bool) -> None:
        """401 when the access token was revoked (logged out), else when the user's row (read by the
        caller) no longer exists; in that order, as `user_for_credential` answers."""
        if self.revoked is not None and await self.revoked:
            raise Unauthorized("The access token was revoked (logged out)")
        if not user_exists:
            raise Unauthorized("The account behind this credential no longer exists")

    def cancel(self) -> None:
        """The row could not be read: stop waiting for Redis."""
        if self.revoked is not None:
            self.revoked.cancel()


class AccountService:
    """Accounts and credentials. With `redis`, access tokens are checked against the revocation
    deny-list (log out) and log-ins are throttled; every request path hands it in."""

    def __init__(self, session: AsyncSession, settings: Settings, redis: Redis | None = None):
        self.session = session
        self.settings = settings
        self.redis = redis

    async def signup(self, email: str, password: str, display_name: str) -> User:
        """Create an account; the first account ever created is an admin.

        Signups and handle changes take turns (`serialize(..., "accounts")`), so under concurrency
        there is still one first account, one account per email and one account per handle.
        """
        email = normalize_email(email)
        # Hashed before the lock (signups take turns only for the checks) and off the event loop: argon2id
        # takes a CPU-second on purpose, and every other request would wait that long.
        hashed = await asyncio.to_thread(password_hash.hash, normalize_password(password))
        await serialize(self.session, ACCOUNTS_LOCK)
        await self.check_email_free(email)
        is_first = not await self.session.scalar(sa.select(sa.func.count()).select_from(User))
        user = User(
            email=email,
            password_hash=hashed,
            display_name=display_name.strip(),
            handle=await self._free_handle(_handle_from(display_name, email)),
            plan=self.settings.default_plan,
            is_admin=is_first,
        )
        async with unique_or_conflict(self.session, lambda: self.check_email_free(email)):
            self.session.add(user)
        return user

    async def check_email_free(self, email: str) -> None:
        if await self.session.scalar(sa.select(User.id).where(User.email == email)):
            raise Conflict("An account with this email already exists", errors=[{"field": "email"}])

    async def _free_handle(self, base: str) -> str:
        taken = set(await self.session.scalars(sa.select(User.handle).where(User.handle.like(f"{base}%"))))
        if base not in taken:
            return base
        n = 2
        while f"{base}-{n}" in taken:
            n += 1
        return f"{base}-{n}"

    async def authenticate(self, email: str, password: str) -> User:
        user = await self.session.scalar(sa.select(User).where(User.email == normalize_email(email)))
        stored = user.password_hash if user is not None else _DUMMY_HASH
        normalized = normalize_password(password)
        # Accounts made before passwords were normalized were hashed as typed: those are tried too, and
        # as many hashes are checked whether the account exists or not.
        candidates = [normalized] if normalized == password else [normalized, password]
        matched = [
            await asyncio.to_thread(password_hash.verify, candidate, stored) for candidate in candidates
        ]
        if user is None or not any(matched):
            raise Unauthorized(INVALID_LOGIN)
        return user

    async def log_in(self, email: str, password: str, ip: str | None) -> User:
        """`authenticate`, throttled: failed log-ins per account and per client IP are counted, and past
        the limits (`LoginThrottle`) every attempt is a 429 until the window ends."""
        if self.redis is None:
            raise RuntimeError("log_in needs Redis for its throttle")
        throttle = LoginThrottle(
            self.redis,
            per_account=self.settings.login_failures_per_account,
            per_ip=self.settings.login_failures_per_ip,
            window_seconds=self.settings.login_window_seconds,
        )
        account = normalize_email(email)
        await throttle.check(account, ip)
        try:
            user = await self.authenticate(email, password)
        except Unauthorized:
            await throttle.failed(account, ip)
            raise
        await throttle.succeeded(account)
        return user

    def issue_token(self, user: User) -> tuple[str, int]:
        ttl = self.settings.access_token_minutes * 60
        now = datetime.now(UTC)
        claims = {
            "sub": str(user.id),
            "iat": now,
            "exp": now + timedelta(seconds=ttl),
            "typ": "access",
            "jti": secrets.token_urlsafe(16),  # two tokens issued in the same second differ
        }
        return jwt.encode(claims, self.settings.secret(), algorithm=JWT_ALGORITHM), ttl

    async def revoke_token(self, token: str) -> None:
        """Revoke an access token before it expires (log out): its digest stays on a deny-list in Redis
        until the token's own expiry, and `user_for_credential` refuses it from then on. An invalid or
        expired token needs nothing; an API key is refused (422): keys are revoked by id."""
        if token.startswith(API_KEY_PREFIX):
            raise Invalid(
                "Log out revokes access tokens; revoke an API key with DELETE /api/me/api-keys/{id}",
                field="authorization",
            )
        if self.redis is None:
            raise RuntimeError("revoke_token needs Redis for its deny-list")
        try:
            claims = jwt.decode(token, self.settings.secret(), algorithms=[JWT_ALGORITHM])
        except jwt.InvalidTokenError:
            return
        remaining = int(claims.get("exp", 0) - datetime.now(UTC).timestamp()) + 1
        if remaining > 0:
            await self.redis.set(REVOKED_TOKEN_PREFIX + _token_digest(token), 1, ex=remaining)

    async def user_for_credential(self, credential: str, *, api_key: bool = True) -> User:
        """The user behind a bearer credential: a JWT or a `gsk_` API key (401 otherwise). With
        `api_key=False` (a web session cookie) only an access token is a credential."""
        if credential.startswith(API_KEY_PREFIX) and not api_key:
            raise Unauthorized("A session is an access token, not an API key")
        verified = await self.verify(credential)
        try:
            user = await self.session.get(User, verified.user_id)
        except BaseException:
            verified.cancel()
            raise
        await verified.confirm(user is not None)
        return user

    async def verify(self, credential: str) -> VerifiedCredential:
        """A bearer credential's user id, the user's row not read yet: for a route that reads it in a
        statement of its own (`retrieval.routes`' search), then calls `VerifiedCredential.confirm`.

        An access token is checked here (signature, expiry: 401) and Redis is asked whether it was revoked
        while the caller reads the row (one wait instead of two); a `gsk_` API key is looked up (401 when
        unknown or revoked) and its use recorded (`_touch`)."""
        if credential.startswith(API_KEY_PREFIX):
            key = await self.session.scalar(
                sa.select(ApiKey).where(ApiKey.key_hash == _key_digest(credential))
            )
            if key is None:
                raise Unauthorized("Invalid or revoked API key")
            now = datetime.now(UTC)
            if key.last_used_at is None or now - key.last_used_at > timedelta(minutes=1):
                await self._touch(key, now)
            return VerifiedCredential(key.user_id, None)
        try:
            claims = jwt.decode(
                credential,
                self.settings.secret(),
                algorithms=[JWT_ALGORITHM],
                options={"require": ["exp", "sub"]},
            )
            user_id = uuid.UUID(claims["sub"])
        except jwt.ExpiredSignatureError:
            raise Unauthorized("The access token has expired") from None
        except (jwt.InvalidTokenError, ValueError):
            raise Unauthorized("Invalid access token") from None
        if self.redis is None:  # never a token check without the deny-list of logged-out tokens
            raise RuntimeError("user_for_credential needs Redis to check access tokens")
        # The deny-list check and the user's row are two servers: one waits while the other works.
        revoked = asyncio.ensure_future(self.redis.exists(REVOKED_TOKEN_PREFIX + _token_digest(credential)))
        return VerifiedCredential(user_id, revoked)

    async def _touch(self, key: ApiKey, now: datetime) -> None:
        """Record the key's use, unless another request of the same key is doing so right now.

        The row lock of that UPDATE lasts until the request ends (a long upload, a streamed answer):
        waiting for it would make every request of one key queue behind the first, so a locked row is
        skipped instead.
        """
        free = sa.select(ApiKey.id).where(ApiKey.id == key.id).with_for_update(skip_locked=True)
        await self.session.execute(
            sa.update(ApiKey)
            .where(ApiKey.id.in_(free))
            .values(last_used_at=now)
            .execution_options(synchronize_session="fetch")
        )

    async def create_api_key(self, user: User, name: str) -> tuple[ApiKey, str]:
        key = API_KEY_PREFIX + secrets.token_urlsafe(32)
        row = ApiKey(user_id=user.id, name=name.strip(), prefix=key[:12], key_hash=_key_digest(key))
        self.session.add(row)
        await self.session.flush()
        return row, key

    async def list_api_keys(
        self, user: User, limit: int, cursor: str | None
    ) -> tuple[list[ApiKey], str | None]:
        """One page of the user's keys, newest first."""
        query = sa.select(ApiKey).where(ApiKey.user_id == user.id)
        return await keyset_page(
            self.session, query, ApiKey.created_at, ApiKey.id, limit=limit, cursor=cursor
        )

    async def revoke_api_key(self, user: User, key_id: uuid.UUID) -> None:
        result = await self.session.execute(
            sa.delete(ApiKey).where(ApiKey.id == key_id, ApiKey.user_id == user.id)
        )
        if not result.rowcount:
            raise NotFound("No such API key")

    async def search_users(
        self, q: str | None, limit: int, cursor: str | None
    ) -> tuple[list[User], str | None]:
        """One page of accounts, newest first; `q` matches part of the e-mail, handle or display name."""
        query = sa.select(User)
        if q and q.strip():
            term = q.strip()  # `%` and `_` literally (SQLAlchemy's autoescape)
            query = query.where(
                sa.or_(
                    User.email.icontains(term, autoescape=True),
                    User.handle.icontains(term, autoescape=True),
                    User.display_name.icontains(term, autoescape=True),
                )
            )
        return await keyset_page(self.session, query, User.created_at, User.id, limit=limit, cursor=cursor)

    async def set_plan(self, user_id: uuid.UUID, plan: str) -> User:
        user = await self.session.get(User, user_id)
        if user is None:
            raise NotFound("No such user")
        user.plan = plan
        await self.session.flush()
        return user

    async def set_plan_by_email(self, email: str, plan: str) -> User:
        user = await self.session.scalar(sa.select(User).where(User.email == normalize_email(email)))
        if user is None:
            raise NotFound(f"No account with email {email}")
        return await self.set_plan(user.id, plan)


def client_ip(request: Request) -> str | None:
    """The client's address as the ASGI server reports it (behind a proxy, run uvicorn with
    `--forwarded-allow-ips` so that it is the browser's, not the proxy's)."""
    return request.client.host if request.client else None


SESSION_COOKIE = "gptstore_session"  # the web app's session: an access token in a cookie (web/session.py)


def carries_credentials(request: Request) -> bool:
    """Whether the request names a user (a bearer header or the web session cookie), valid or not: such
    a request may read what it has just written, so it reads on the primary (`core.deps.read_session`)."""
    return "authorization" in request.headers or SESSION_COOKIE in request.cookies


def request_credential(request: Request) -> str | None:
    """The credential a request came with: its bearer header, else the web session cookie."""
    header = request.headers.get("authorization", "")
    scheme, _, credential = header.partition(" ")
    if scheme.lower() == "bearer" and credential.strip():
        return credential.strip()
    return request.cookies.get(SESSION_COOKIE) or None


def required_bearer(request: Request) -> str:
    """The request's bearer credential (an access token or an API key); 401 as `current_user` answers
    when there is none or the header is malformed. For a route that reads the user itself
    (`AccountService.verify`)."""
    credential = _bearer(request)
    if credential is None:
        raise Unauthorized("Authentication required")
    return credential


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise Unauthorized("Use 'Authorization: Bearer <access token or API key>'")
    return credential.strip()


async def _user_for_request(request: Request, db_session: AsyncSession, state: State, *, required: bool):
    credential = _bearer(request)
    try:
        if credential is None:
            if required:
                raise Unauthorized("Authentication required")
            return None
        service = AccountService(db_session, state.settings, state.redis)
        return await service.user_for_credential(credential)
    except BaseException:
        # Litestar does not clean up generator dependencies resolved before one that raises
        # (`KwargsModel.resolve_dependencies` returns no cleanup group then), so the request's session
        # would keep its connection until garbage collection: give it back now.
        await db_session.close()
        raise


async def provide_optional_user(request: Request, db_session: AsyncSession, state: State) -> User | None:
    return await _user_for_request(request, db_session, state, required=False)


async def provide_current_user(request: Request, db_session: AsyncSession, state: State) -> User:
    return await _user_for_request(request, db_session, state, required=True)


SESSION_ONLY = (
    "This needs a signed-in session (an access token from POST /api/auth/login, or the web app): an API "
    "key cannot manage API keys or the account, so a leaked key cannot outlive its revocation."
)


def session_only(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Guard of account management (API keys, profile): 403 for a request made with an API key.

    A `gsk_` key answers GPTs and manages GPTs; making another key or changing who the account is would let
    a leaked key survive being revoked, so only a signed-in session (an access token) may."""
    scheme, _, credential = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credential.strip().startswith(API_KEY_PREFIX):
        raise Forbidden(SESSION_ONLY, code="session_required")


def require_paid_plan(user: User) -> None:
    """Creating GPTs is for the paid plans."""
    if user.plan not in PAID_PLANS:
        raise Forbidden(
            f"Creating GPTs needs the 'plus' or 'team' plan; your plan is '{user.plan}'.",
            required_plans=list(PAID_PLANS),
        )


def require_admin(user: User) -> None:
    if not user.is_admin:
        raise Forbidden("This needs an administrator account")
