"""Use cases of the auth service: profiles, accounts, passwords and sign-in.

A profile says what a user may do; an account says how they prove who they
are. Registering makes both, with the same subject (the profile's clientid,
the tokens' ``sub``). A user of the external issuer (``external.py``) gets a
profile at their first sign-in there, and no password here. Tokens are the
issuer's business (``issuer.py``); this module asks it to revoke them when a
password changes or an account goes.

Online status: a user is online while they hold a live login session or
refresh token and were seen (signed in, or refreshed their tokens) within
``online_window_seconds``; see ``domain.is_online``.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services.auth.domain import (
    INVALID_CREDENTIALS,
    Account,
    ExternalIdentity,
    LoginThrottle,
    external_clientid,
    external_username,
    is_online,
    numbered_username,
    password_problem,
    username_key,
)
from services.auth.issuer import Issuer
from services.auth.repository import AccountRepository, ProfileRepository
from services.auth.schemas import ProfileCreate, ProfilePublic, ProfileUpdate, ProsumerStatus
from services.common.clock import Clock
from services.common.errors import (
    AppError,
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
)
from services.common.settings import AuthSettings

if TYPE_CHECKING:
    from services.auth.external import ExternalLogin

USERNAME_ATTEMPTS = 20
"""Numbered names tried for an external user (``ada``, ``ada-2``, ...) before a random suffix."""


class InvalidCredentialsError(AppError):
    """A wrong password, or an unknown user: the same answer for both."""

    status_code = 401
    kind = "invalid_credentials"

    def __init__(self) -> None:
        super().__init__(INVALID_CREDENTIALS)


class TooManyAttemptsError(AppError):
    """Too many failed logins for an account or from an address; try again later."""

    status_code = 429
    kind = "too_many_requests"

    def __init__(self, retry_after_s: float) -> None:
        self.retry_after_s = max(1, math.ceil(retry_after_s))
        super().__init__(
            f"too many failed attempts; try again in {self.retry_after_s} s",
            headers={"Retry-After": str(self.retry_after_s)},
        )


class Passwords:
    """Argon2id hashing, off the event loop (each hash takes tens of milliseconds)."""

    def __init__(self, settings: AuthSettings) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.password_hash_time_cost,
            memory_cost=settings.password_hash_memory_kib,
            parallelism=settings.password_hash_parallelism,
        )
        self._unknown_user_hash: str | None = None

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Whether ``password`` matches; with no hash (unknown user) it takes as long and fails."""
        if password_hash is None:
            if self._unknown_user_hash is None:
                self._unknown_user_hash = await self.hash(uuid4().hex)
            password_hash = self._unknown_user_hash
            password = ""  # never matches a random hash
        try:
            return await asyncio.to_thread(self._hasher.verify, password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash was made with other parameters than today's settings."""
        return self._hasher.check_needs_rehash(password_hash)


class ProfileService:
    def __init__(self, repository: ProfileRepository, now: Callable[[], datetime]) -> None:
        self.repository = repository
        self._now = now
        # A replace reads then writes; one write at a time so a delete cannot slip between.
        self._writes = asyncio.Lock()

    async def get(self, clientid: str) -> ProfilePublic:
        profile = await self.repository.get(clientid)
        if profile is None:
            raise NotFoundError(f"no profile {clientid!r}")
        return profile

    async def find(self, clientid: str) -> ProfilePublic | None:
        return await self.repository.get(clientid)

    async def list_profiles(self) -> list[ProfilePublic]:
        return await self.repository.list_all()

    async def create(self, request: ProfileCreate) -> ProfilePublic:
        """Store a new profile; its ``last_login`` is now, whatever the request said."""
        profile = ProfilePublic(
            **request.model_dump(exclude={"last_login"}), last_login=self._now()
        )
        async with self._writes:
            await self.repository.insert(profile)
        return profile

    async def replace(self, clientid: str, request: ProfileUpdate) -> ProfilePublic:
        """New username and privileges for an existing profile; ``last_login`` is kept."""
        if request.clientid is not None and request.clientid != clientid:
            raise InvalidInputError(
                "clientid in the body differs from the path",
                detail=[{"field": "clientid", "message": f"expected {clientid!r} or none"}],
            )
        async with self._writes:
            current = await self.get(clientid)
            profile = ProfilePublic(
                **request.model_dump(exclude={"clientid", "last_login"}),
                clientid=clientid,
                last_login=current.last_login,
            )
            await self.repository.replace(profile)
        return profile

    async def touch(self, clientid: str) -> ProfilePublic | None:
        """Record a login now; answers the profile, or None if there is none."""
        async with self._writes:
            profile = await self.repository.get(clientid)
            if profile is not None:
                profile = profile.model_copy(update={"last_login": self._now()})
                await self.repository.replace(profile)
        return profile

    async def delete(self, clientid: str) -> ProfilePublic:
        async with self._writes:
            profile = await self.get(clientid)
            await self.repository.delete(clientid)
        return profile


class AccountService:
    """Registration, sign-in with throttling, password change, deletion."""

    def __init__(
        self,
        settings: AuthSettings,
        clock: Clock,
        accounts: AccountRepository,
        profiles: ProfileService,
        issuer: Issuer,
    ) -> None:
        self._clock = clock
        self._accounts = accounts
        self._profiles = profiles
        self._issuer = issuer
        self.passwords = Passwords(settings)
        self._external_only = settings.oidc_only
        # A first external sign-in reads, then creates: one at a time.
        self._external_writes = asyncio.Lock()

        def now() -> float:
            return clock.now().timestamp()

        window = settings.login_window_seconds
        self.account_throttle = LoginThrottle(settings.login_max_failures, window, now)
        self.address_throttle = LoginThrottle(settings.login_max_failures_per_address, window, now)

    def _refuse_if_external_only(self) -> None:
        if self._external_only:
            raise ForbiddenError(
                "accounts here are made by signing in with the external issuer (oidc_only)"
            )

    async def register(self, username: str, password: str) -> ProfilePublic:
        """A new account and its profile, without privileges; 409 if the name is taken."""
        self._refuse_if_external_only()
        problem = password_problem(password, username)
        if problem:
            raise InvalidInputError(problem, detail=[{"field": "password", "message": problem}])
        key = username_key(username)
        if await self._accounts.find(key) is not None:
            raise ConflictError(f"the username {username!r} is taken")
        now = self._clock.now()
        account = Account(
            subject=uuid4().hex,
            username=username,
            password_hash=await self.passwords.hash(password),
            created_at=now.timestamp(),
        )
        await self._accounts.insert(account, key)
        profile = ProfilePublic(
            username=username,
            clientid=account.subject,
            managers=[],
            prosumers=[],
            consumers=[],
            last_login=now,
        )
        try:
            await self._profiles.repository.insert(profile)
        except BaseException:
            await self._accounts.delete(account, key)
            raise
        return profile

    async def authenticate(self, username: str, password: str, address: str) -> Account:
        """The account these credentials open; refused alike for a wrong name or password.

        ``TooManyAttemptsError`` while the account or the address has failed too
        often; nothing is checked then, so guessing cannot go on.
        """
        self._refuse_if_external_only()
        key = username_key(username)
        self._check_throttle(key, address)
        account = await self._accounts.find(key)
        matches = await self.passwords.verify(account.password_hash if account else None, password)
        if account is None or not matches:
            self.account_throttle.failed(key)
            self.address_throttle.failed(address)
            raise InvalidCredentialsError()
        self.account_throttle.succeeded(key)
        if self.passwords.needs_rehash(account.password_hash):
            account = replace(account, password_hash=await self.passwords.hash(password))
            await self._accounts.replace(account)
        await self._profiles.touch(account.subject)
        return account

    def _check_throttle(self, key: str, address: str) -> None:
        wait_s = max(
            self.account_throttle.retry_after(key), self.address_throttle.retry_after(address)
        )
        if wait_s > 0:
            raise TooManyAttemptsError(wait_s)

    async def change_password(
        self, subject: str, old_password: str, new_password: str, address: str
    ) -> None:
        """A new password; every refresh token and login session of the account ends."""
        account = await self._accounts.get(subject)
        if account is None:
            raise NotFoundError("this token's user has no account")
        key = username_key(account.username)
        self._check_throttle(key, address)
        if not await self.passwords.verify(account.password_hash, old_password):
            self.account_throttle.failed(key)
            self.address_throttle.failed(address)
            raise ForbiddenError("the current password is wrong")
        problem = password_problem(new_password, account.username)
        if problem is None and new_password == old_password:
            problem = "the new password is the current one"
        if problem:
            raise InvalidInputError(problem, detail=[{"field": "new_password", "message": problem}])
        new_hash = await self.passwords.hash(new_password)
        await self._accounts.replace(replace(account, password_hash=new_hash))
        await self._issuer.revoke_subject(subject)

    async def delete_user(self, subject: str) -> ProfilePublic:
        """Delete a user: account, profile, sessions and refresh tokens; 404 without a profile."""
        account = await self._accounts.get(subject)
        if account is not None:
            await self._accounts.delete(account, username_key(account.username))
        identity = await self._accounts.get_external(subject)
        if identity is not None:
            await self._accounts.delete_external(identity, username_key(identity.username))
        await self._issuer.forget_subject(subject)
        await self._accounts.delete_picture(subject)
        return await self._profiles.delete(subject)

    # -- users of the external issuer

    async def sign_in_external(
        self, issuer: str, external_subject: str, claims: Mapping[str, Any]
    ) -> ProfilePublic:
        """The profile of an external issuer's user, made at their first sign-in; records it.

        ``claims`` are those of a verified ID token; they name a new user.
        """
        subject = external_clientid(issuer, external_subject)
        async with self._external_writes:
            identity = await self._accounts.get_external(subject)
            if identity is None:
                identity = await self._new_external_identity(
                    subject, issuer, external_subject, external_username(claims)
                )
            profile = await self._profiles.touch(subject)
            if profile is None:
                profile = await self._profiles.create(
                    ProfileCreate(username=identity.username, clientid=subject)
                )
        return profile

    async def _new_external_identity(
        self, subject: str, issuer: str, external_subject: str, stem: str
    ) -> ExternalIdentity:
        """Store a new external user under the first free name of ``stem``, ``stem-2``, ..."""
        candidates = [numbered_username(stem, attempt) for attempt in range(1, USERNAME_ATTEMPTS)]
        candidates.append(f"{stem[:48]}-{uuid4().hex[:8]}")
        for username in candidates:
            if await self._accounts.reserve_username(username_key(username), subject):
                break
        else:
            raise ConflictError(f"no free username for {stem!r}; try again")
        identity = ExternalIdentity(
            subject=subject,
            issuer=issuer,
            external_subject=external_subject,
            username=username,
            created_at=self._clock.now().timestamp(),
        )
        try:
            await self._accounts.insert_external(identity)
        except BaseException:
            await self._accounts.delete_external(identity, username_key(username))
            raise
        return identity


class OnlineStatus:
    """Which users of the prosumers are online now, for the managers' dashboard."""

    def __init__(
        self, settings: AuthSettings, clock: Clock, profiles: ProfileService, issuer: Issuer
    ) -> None:
        self._window_s = settings.online_window_seconds
        self._clock = clock
        self._profiles = profiles
        self._issuer = issuer

    async def prosumers(self) -> list[ProsumerStatus]:
        """One row per prosumer privilege of every profile, by prosumer id then clientid."""
        now = self._clock.now()
        live, last_seen = await self._issuer.activity()
        rows: list[ProsumerStatus] = []
        for profile in await self._profiles.list_profiles():
            seen_s = last_seen.get(profile.clientid)
            online = is_online(
                seen_s,
                now.timestamp(),
                self._window_s,
                has_live_grant=profile.clientid in live,
            )
            seen = None if seen_s is None else datetime.fromtimestamp(seen_s, tz=now.tzinfo)
            rows.extend(
                ProsumerStatus(
                    prosumer_id=privilege.id,
                    clientid=profile.clientid,
                    username=profile.username,
                    online=online,
                    last_login=profile.last_login,
                    last_seen=seen,
                )
                for privilege in profile.prosumers
            )
        return sorted(rows, key=lambda row: (row.prosumer_id, row.clientid))


@dataclass(frozen=True)
class AuthService:
    """Everything the routes use, as ``app.state.service``."""

    profiles: ProfileService
    accounts: AccountService
    issuer: Issuer
    online: OnlineStatus
    external: ExternalLogin | None = None
    """Sign-in with the external issuer, when one is configured."""
