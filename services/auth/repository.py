"""Everything the auth service stores, through the storage port.

One document per record, tagged with the instance's NAME partition:

- ``profiles``: a profile per clientid (the original's shape).
- ``accounts``: username and password hash per subject; ``usernames`` maps a
  case-folded username to its subject, so a name is taken once.
- ``external_identities``: users of the external issuer, per subject (their
  names are taken in ``usernames`` too).
- ``signing_keys``: the issuer's keys, private parts sealed (see ``keys``).
- ``authorization_codes``, ``refresh_tokens``, ``token_families``,
  ``login_sessions``: short-lived grants, stored under the SHA-256 of the
  secret the client holds, with their expiry; ``purge_expired`` removes them.
- ``last_seen``: per subject, when the user last signed in or used a refresh token.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from services.auth.domain import (
    Account,
    AuthorizationCode,
    ExternalIdentity,
    LoginSession,
    RefreshToken,
    TokenFamily,
)
from services.auth.schemas import ProfilePublic
from services.common.errors import ConflictError
from services.common.pictures import delete_picture
from services.common.storage import Document, Storage

PROFILES = "profiles"
ACCOUNTS = "accounts"
USERNAMES = "usernames"
SIGNING_KEYS = "signing_keys"
CODES = "authorization_codes"
REFRESH_TOKENS = "refresh_tokens"
FAMILIES = "token_families"
SESSIONS = "login_sessions"
EXTERNAL_IDENTITIES = "external_identities"
LAST_SEEN = "last_seen"

Record = TypeVar("Record")


class _Partitioned:
    """Reads and writes of one NAME partition."""

    def __init__(self, storage: Storage, partition: str) -> None:
        self._storage = storage
        self._partition = partition

    async def _get(self, collection: str, id: str) -> Document | None:
        doc = await self._storage.get(collection, id)
        if doc is None or doc.get("name") != self._partition:
            return None
        return doc

    async def _list(self, collection: str, **where: Any) -> list[Document]:
        return await self._storage.list(collection, where={"name": self._partition, **where})

    def _document(self, id: str, fields: dict[str, Any]) -> dict[str, Any]:
        return {**fields, "id": id, "name": self._partition}


def _fields(record: Any) -> dict[str, Any]:
    return dataclasses.asdict(record)


def _record(cls: type[Record], doc: Document) -> Record:
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{key: value for key, value in doc.items() if key in names})


class ProfileRepository(_Partitioned):
    @staticmethod
    def _profile(doc: Document) -> ProfilePublic:
        return ProfilePublic.model_validate(doc)

    def _profile_document(self, profile: ProfilePublic) -> dict[str, Any]:
        return self._document(profile.clientid, profile.model_dump(mode="json"))

    async def get(self, clientid: str) -> ProfilePublic | None:
        doc = await self._get(PROFILES, clientid)
        return None if doc is None else self._profile(doc)

    async def list_all(self) -> list[ProfilePublic]:
        return [self._profile(doc) for doc in await self._list(PROFILES)]

    async def insert(self, profile: ProfilePublic) -> None:
        """Store a new profile; ConflictError if its clientid is taken."""
        try:
            await self._storage.insert(PROFILES, self._profile_document(profile))
        except ConflictError:
            raise ConflictError(f"profile {profile.clientid!r} exists") from None

    async def replace(self, profile: ProfilePublic) -> None:
        await self._storage.upsert(PROFILES, self._profile_document(profile))

    async def delete(self, clientid: str) -> None:
        await self._storage.delete(PROFILES, clientid)


class AccountRepository(_Partitioned):
    async def delete_picture(self, subject: str) -> None:
        """Remove the user's picture, if any (with the account)."""
        await delete_picture(self._storage, subject)

    async def get(self, subject: str) -> Account | None:
        doc = await self._get(ACCOUNTS, subject)
        return None if doc is None else _record(Account, doc)

    async def find(self, username_key: str) -> Account | None:
        """The account of a (case-folded) username, or None."""
        entry = await self._get(USERNAMES, username_key)
        return None if entry is None else await self.get(str(entry["subject"]))

    async def insert(self, account: Account, username_key: str) -> None:
        """Store a new account; ConflictError if the username is taken."""
        try:
            await self._storage.insert(
                USERNAMES, self._document(username_key, {"subject": account.subject})
            )
        except ConflictError:
            raise ConflictError(f"the username {account.username!r} is taken") from None
        try:
            await self._storage.insert(ACCOUNTS, self._document(account.subject, _fields(account)))
        except BaseException:
            await self._storage.delete(USERNAMES, username_key)
            raise

    async def replace(self, account: Account) -> None:
        await self._storage.upsert(ACCOUNTS, self._document(account.subject, _fields(account)))

    async def delete(self, account: Account, username_key: str) -> None:
        await self._storage.delete(ACCOUNTS, account.subject)
        await self._storage.delete(USERNAMES, username_key)

    # -- users of the external issuer

    async def reserve_username(self, username_key: str, subject: str) -> bool:
        """Take a (case-folded) username for ``subject``; False if it is taken."""
        try:
            await self._storage.insert(
                USERNAMES, self._document(username_key, {"subject": subject})
            )
        except ConflictError:
            return False
        return True

    async def get_external(self, subject: str) -> ExternalIdentity | None:
        doc = await self._get(EXTERNAL_IDENTITIES, subject)
        return None if doc is None else _record(ExternalIdentity, doc)

    async def insert_external(self, identity: ExternalIdentity) -> None:
        """Store a new external user; ConflictError if the subject exists."""
        await self._storage.insert(
            EXTERNAL_IDENTITIES, self._document(identity.subject, _fields(identity))
        )

    async def delete_external(self, identity: ExternalIdentity, username_key: str) -> None:
        """Forget an external user and free its username (if it is still theirs)."""
        await self._storage.delete(EXTERNAL_IDENTITIES, identity.subject)
        entry = await self._get(USERNAMES, username_key)
        if entry is not None and entry.get("subject") == identity.subject:
            await self._storage.delete(USERNAMES, username_key)


class KeyRepository(_Partitioned):
    """Signing keys as ``{id: kid, sealed, created_at, sequence, retired_at}``."""

    async def list_all(self) -> list[Document]:
        return await self._list(SIGNING_KEYS)

    async def save(
        self,
        kid: str,
        sealed: str,
        *,
        created_at: float,
        sequence: int,
        retired_at: float | None,
    ) -> None:
        fields = {
            "sealed": sealed,
            "created_at": created_at,
            "sequence": sequence,
            "retired_at": retired_at,
        }
        await self._storage.upsert(SIGNING_KEYS, self._document(kid, fields))

    async def delete(self, kid: str) -> None:
        await self._storage.delete(SIGNING_KEYS, kid)


class GrantRepository(_Partitioned):
    """Authorization codes, refresh tokens and their families, login sessions."""

    # -- codes

    async def insert_code(self, code: AuthorizationCode) -> None:
        await self._storage.insert(CODES, self._document(code.digest, _fields(code)))

    async def get_code(self, digest: str) -> AuthorizationCode | None:
        doc = await self._get(CODES, digest)
        return None if doc is None else _record(AuthorizationCode, doc)

    async def claim_code(self, digest: str) -> bool:
        """Take the code out of storage; False if another request took it first."""
        return await self._storage.delete(CODES, digest)

    async def put_code(self, code: AuthorizationCode) -> None:
        await self._storage.upsert(CODES, self._document(code.digest, _fields(code)))

    # -- refresh tokens

    async def insert_refresh_token(self, token: RefreshToken) -> None:
        await self._storage.insert(REFRESH_TOKENS, self._document(token.digest, _fields(token)))

    async def get_refresh_token(self, digest: str) -> RefreshToken | None:
        doc = await self._get(REFRESH_TOKENS, digest)
        return None if doc is None else _record(RefreshToken, doc)

    async def claim_refresh_token(self, digest: str) -> bool:
        """Take the token out of storage; False if another request took it first."""
        return await self._storage.delete(REFRESH_TOKENS, digest)

    async def put_refresh_token(self, token: RefreshToken) -> None:
        await self._storage.upsert(REFRESH_TOKENS, self._document(token.digest, _fields(token)))

    # -- families

    async def put_family(self, family: TokenFamily) -> None:
        await self._storage.upsert(FAMILIES, self._document(family.family_id, _fields(family)))

    async def get_family(self, family_id: str) -> TokenFamily | None:
        doc = await self._get(FAMILIES, family_id)
        return None if doc is None else _record(TokenFamily, doc)

    async def families(
        self, *, subject: str | None = None, session_id: str | None = None
    ) -> list[TokenFamily]:
        """The families of a subject or of a login session that are not revoked yet."""
        where: dict[str, Any] = {"revoked": False}
        if subject is not None:
            where["subject"] = subject
        if session_id is not None:
            where["session_id"] = session_id
        return [_record(TokenFamily, doc) for doc in await self._list(FAMILIES, **where)]

    # -- login sessions

    async def insert_session(self, session: LoginSession) -> None:
        await self._storage.insert(SESSIONS, self._document(session.session_id, _fields(session)))

    async def get_session(self, session_id: str) -> LoginSession | None:
        doc = await self._get(SESSIONS, session_id)
        return None if doc is None else _record(LoginSession, doc)

    async def delete_session(self, session_id: str) -> None:
        await self._storage.delete(SESSIONS, session_id)

    async def sessions_of(self, subject: str) -> list[LoginSession]:
        return [_record(LoginSession, doc) for doc in await self._list(SESSIONS, subject=subject)]

    async def live_subjects(self, now: float) -> set[str]:
        """Every subject with a login session or a refresh token family that is still live."""
        families = await self._list(FAMILIES, revoked=False)
        sessions = await self._list(SESSIONS)
        return {
            str(doc["subject"])
            for doc in (*families, *sessions)
            if float(doc.get("expires_at", 0)) > now
        }

    # -- activity

    async def record_seen(self, subject: str, at: float) -> None:
        await self._storage.upsert(LAST_SEEN, self._document(subject, {"at": at}))

    async def last_seen(self) -> dict[str, float]:
        """When each user was last seen (signed in or refreshed), unix seconds."""
        return {str(doc["id"]): float(doc["at"]) for doc in await self._list(LAST_SEEN)}

    async def forget_seen(self, subject: str) -> None:
        await self._storage.delete(LAST_SEEN, subject)

    # -- housekeeping

    async def purge_expired(self, now: float) -> int:
        """Delete every code, refresh token, family and session that expired before ``now``."""
        removed = 0
        for collection in (CODES, REFRESH_TOKENS, FAMILIES, SESSIONS):
            for doc in await self._list(collection):
                if float(doc.get("expires_at", 0)) < now:
                    removed += await self._storage.delete(collection, str(doc["id"]))
        return removed
