"""Signing keys: EC P-256 (ES256): one current, one next, the retired ones while tokens live.

The *next* key is published in the JWKS before it signs anything. A rotation
makes it current and publishes a new next key, so every verifier that has read
the JWKS since the previous rotation already knows the key that signs now: a
verifier that refetches its keys only now and then never meets an unknown kid.

A rotated-out key is *retired* but stays in the JWKS for ``retention_s`` (the
longest token lifetime plus the verifiers' leeway), so every token it signed
keeps verifying until it expires: a rotation logs nobody out. (After a key
leaks, rotate twice: the next key is stored alongside the current one.)

At rest a private key is sealed (JWE ``dir`` + ``A256GCM``) with a key derived
from ``secret_key``: a copy of the database alone does not let anyone sign
tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from joserfc import jwe, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, OctKey
from joserfc.jwt import JWTClaimsRegistry

from services.auth.domain import LEEWAY_S

log = logging.getLogger(__name__)

ALGORITHM = "ES256"
_SEAL_LABEL = b"gridmarket/auth/signing-key-seal/v1"


class InvalidTokenError(Exception):
    """A token whose signature, header or claims do not verify."""


@dataclass(frozen=True)
class SigningKey:
    kid: str
    key: ECKey
    created_at: float
    sequence: int
    """Order of creation: of the keys not retired, the lowest signs."""
    retired_at: float | None = None

    @classmethod
    def generate(cls, now: float, sequence: int) -> SigningKey:
        key = ECKey.generate_key("P-256", parameters={"alg": ALGORITHM, "use": "sig"})
        key.ensure_kid()  # the RFC 7638 thumbprint
        assert key.kid is not None
        return cls(kid=key.kid, key=key, created_at=now, sequence=sequence)

    def retired(self, now: float) -> SigningKey:
        return replace(self, retired_at=now)

    def public_jwk(self) -> dict[str, Any]:
        return dict(self.key.as_dict(private=False))


def _next_sequence(keys: Iterable[SigningKey]) -> int:
    return max((k.sequence for k in keys), default=-1) + 1


def _seal_key(secret_key: str) -> OctKey:
    return OctKey.import_key(hmac.new(secret_key.encode(), _SEAL_LABEL, hashlib.sha256).digest())


def seal(key: SigningKey, secret_key: str) -> str:
    """The private JWK of ``key`` encrypted for storage."""
    plaintext = json.dumps(key.key.as_dict(private=True)).encode()
    return jwe.encrypt_compact({"alg": "dir", "enc": "A256GCM"}, plaintext, _seal_key(secret_key))


def unseal(sealed: str, secret_key: str) -> ECKey | None:
    """The private key sealed by ``seal``; None if ``secret_key`` has changed since."""
    try:
        plaintext = jwe.decrypt_compact(sealed, _seal_key(secret_key)).plaintext
        assert plaintext is not None
        key = ECKey.import_key(json.loads(plaintext))
    except (JoseError, ValueError, AssertionError):
        return None
    return key if isinstance(key, ECKey) else None


class KeyRing:
    """The issuer's keys: signs with the current one, verifies with every published one.

    Of the keys not retired, the first made is current and the others (normally
    one) are next in line.
    """

    def __init__(self, keys: Iterable[SigningKey], retention_s: float) -> None:
        self.retention_s = retention_s
        self._keys = sorted(keys, key=lambda k: k.sequence)
        if not self._active():
            raise ValueError("a key ring needs a key that is not retired")

    @classmethod
    def started(cls, keys: Iterable[SigningKey], now: float, retention_s: float) -> KeyRing:
        """A ring of ``keys`` with a current and a next key, made if missing."""
        ring_keys = list(keys)
        while sum(k.retired_at is None for k in ring_keys) < 2:
            ring_keys.append(SigningKey.generate(now, _next_sequence(ring_keys)))
        return cls(ring_keys, retention_s)

    def _active(self) -> list[SigningKey]:
        return [k for k in self._keys if k.retired_at is None]

    @property
    def current(self) -> SigningKey:
        return self._active()[0]

    @property
    def keys(self) -> list[SigningKey]:
        return list(self._keys)

    def published(self, now: float) -> list[SigningKey]:
        """The keys that may verify a live token: current, next, then retired, newest first."""
        retired = [
            k
            for k in reversed(self._keys)
            if k.retired_at is not None and now < k.retired_at + self.retention_s
        ]
        return self._active() + retired

    def rotated(self, now: float) -> KeyRing:
        """The current key retired (as of ``now``), the next one current, a new one next."""
        current = self.current
        keys = [k.retired(now) if k.kid == current.kid else k for k in self._keys]
        keys.append(SigningKey.generate(now, _next_sequence(keys)))
        return KeyRing.started(keys, now, self.retention_s)

    def jwks(self, now: float) -> dict[str, Any]:
        return {"keys": [k.public_jwk() for k in self.published(now)]}

    def sign(self, claims: Mapping[str, Any], *, typ: str) -> str:
        key = self.current
        header = {"alg": ALGORITHM, "kid": key.kid, "typ": typ}
        return jwt.encode(header, dict(claims), key.key, algorithms=[ALGORITHM])

    def verify(
        self,
        token: str,
        *,
        now: float,
        issuer: str,
        audience: str,
        typ: str | None,
        check_expiry: bool = True,
    ) -> dict[str, Any]:
        """The claims of ``token`` if a published key signed it and it is meant for ``audience``.

        ``check_expiry=False`` still checks signature, issuer and audience: for an
        ``id_token_hint``, which may have expired by the time the user logs out.
        """
        published = KeySet([k.key for k in self.published(now)])
        try:
            decoded = jwt.decode(token, published, algorithms=[ALGORITHM])
            if typ is not None and decoded.header.get("typ") != typ:
                raise InvalidTokenError(f"not a token of type {typ}")
            expected: dict[str, Any] = {
                "iss": {"essential": True, "value": issuer},
                "aud": {"essential": True, "value": audience},
                "sub": {"essential": True},
            }
            if check_expiry:
                expected |= {"exp": {"essential": True}, "iat": {"essential": True}}
            registry = JWTClaimsRegistry(now=int(now), leeway=LEEWAY_S, **expected)
            claims = dict(decoded.claims)
            if not check_expiry:
                claims = {k: v for k, v in claims.items() if k not in ("exp", "iat", "nbf")}
            registry.validate(claims)
        except (JoseError, ValueError) as exc:
            raise InvalidTokenError(str(exc) or type(exc).__name__) from exc
        return dict(decoded.claims)
