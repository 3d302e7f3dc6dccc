"""Who is calling: bearer tokens from the suite's OpenID Connect issuer, checked locally.

The auth service is the issuer. Every other service verifies access tokens
itself against the issuer's published keys (JWKS), so no request waits on the
auth service once the keys are cached:

- ``TokenVerifier`` reads ``{issuer}/.well-known/openid-configuration`` and the
  JWKS it names, on first use (from the issuer's internal URL when one is set,
  below); caches the keys; refetches them, at most once
  per ``min_refetch_interval_s``, when a token names a key it does not know (the
  issuer rotated its keys). Tokens must be ES256 JWTs of type ``at+jwt`` whose
  ``iss``, ``aud``, ``exp``, ``iat`` and ``nbf`` hold, with a small leeway.
- ``PrincipalDep`` / ``OptionalPrincipalDep``: FastAPI dependencies giving the
  caller as a ``Principal``; ``require_scope``, ``require_manager`` and
  ``require_prosumer_access`` are the checks routes make with it.
- ``ServiceTokenClient``: a service's own client-credentials token, for the
  requests it makes to its peers.

Where a service reaches the issuer may differ from the URL tokens name: under
docker-compose browsers reach it at ``http://localhost:8001`` and containers at
``http://auth:8001``. Tokens name one issuer, the public one (``issuer_url``);
a service given an ``internal_url`` fetches discovery from there, still
requires the document to name ``issuer_url``, and reaches the endpoints it
lists under ``issuer_url`` (JWKS, token) through ``internal_url`` instead.

The token format is the suite's identity design: ``sub``, ``client_id``,
``scope`` (space separated), and for users ``gm_prosumers`` / ``gm_managers``
(the ids the user's profile holds a privilege over).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import httpx
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import ECKey, KeySet
from joserfc.jws import extract_compact

from services.common.errors import ForbiddenError, UnauthorizedError, UnavailableError

if TYPE_CHECKING:
    from services.common.settings import ServiceSettings

log = logging.getLogger(__name__)

ALGORITHM = "ES256"
"""The only signature algorithm accepted: the issuer signs with EC P-256 keys."""
ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
"""``typ`` of an access token (RFC 9068); an ID token is refused even if its audience fits."""
DISCOVERY_PATH = "/.well-known/openid-configuration"
REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "sub", "client_id")
USER_CLAIMS = ("gm_prosumers", "gm_managers")
"""Claims only a user's token carries; a token without both is a service's."""

WallTime = Callable[[], float]
"""Wall time in unix seconds (``time.time``; tests pass a clock they move)."""


def derive_client_secret(secret_key: str, client_id: str) -> str:
    """The development secret of ``client_id``: HMAC-SHA256 of the id under ``secret_key``.

    A service and the issuer derive the same value from the same ``secret_key``,
    so the suite runs with no client registered by hand. Production settings
    refuse it: there every client secret is set explicitly.
    """
    message = f"gridmarket client secret:{client_id}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Principal:
    """The caller a valid access token names."""

    subject: str
    """``sub``: a user's clientid, or a service's client id."""
    client_id: str
    """The client the token was issued to (the dashboard for users)."""
    scopes: frozenset[str] = frozenset()
    prosumers: frozenset[str] = frozenset()
    """Prosumer ids the user holds a privilege over."""
    managers: frozenset[str] = frozenset()
    """Manager (plant) ids the user holds a privilege over."""
    is_service: bool = False
    """A service calling with its client credentials, not a user."""

    @property
    def is_manager(self) -> bool:
        """A grid manager: holds a privilege over a plant, or is an administrator client."""
        return bool(self.managers) or ADMIN_SCOPE in self.scopes


class _IssuerError(Exception):
    """The issuer did not answer, or not with what an OpenID Connect issuer serves."""


async def _get_json(http: httpx.AsyncClient, url: str, timeout_s: float) -> dict[str, Any]:
    try:
        response = await http.get(url, timeout=timeout_s)
        response.raise_for_status()
        document = response.json()
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
        raise _IssuerError(f"GET {url}: {exc}") from exc
    if not isinstance(document, dict):
        raise _IssuerError(f"GET {url}: not a JSON object")
    return document


@dataclass(frozen=True)
class IssuerAddress:
    """The issuer as tokens name it (``url``), and where this service reaches it."""

    url: str
    internal_url: str

    @classmethod
    def of(cls, issuer_url: str, internal_url: str | None = None) -> IssuerAddress:
        """``internal_url`` unset or empty: the issuer is reached at ``issuer_url`` itself."""
        url = issuer_url.rstrip("/")
        return cls(url, (internal_url or url).rstrip("/"))

    def reach(self, url: str) -> str:
        """``url`` as this service reaches it: moved onto the internal URL if under ``self.url``."""
        if url == self.url or url.startswith(self.url + "/"):
            return self.internal_url + url[len(self.url) :]
        return url

    async def discover(self, http: httpx.AsyncClient, timeout_s: float) -> dict[str, Any]:
        """The issuer's discovery document, read where it is reached, checked to name ``url``."""
        document = await _get_json(http, self.internal_url + DISCOVERY_PATH, timeout_s)
        if document.get("issuer") != self.url:
            raise _IssuerError(
                f"discovery names issuer {document.get('issuer')!r}, expected {self.url!r}"
            )
        return document

    def endpoint(self, document: dict[str, Any], name: str) -> str:
        """The endpoint ``name`` of a discovery document, as this service reaches it."""
        url = document.get(name)
        if not isinstance(url, str) or not url:
            raise _IssuerError(f"discovery document has no {name}")
        return self.reach(url)


def _invalid_token(reason: str) -> UnauthorizedError:
    return UnauthorizedError(reason, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def _string_set(claims: dict[str, Any], name: str) -> frozenset[str]:
    value = claims.get(name, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _invalid_token(f"malformed claim '{name}'")
    return frozenset(value)


def _principal(claims: dict[str, Any]) -> Principal:
    subject, client_id, scope = claims["sub"], claims["client_id"], claims.get("scope", "")
    if not isinstance(client_id, str) or not isinstance(scope, str):
        raise _invalid_token("malformed claims")
    return Principal(
        subject=subject,
        client_id=client_id,
        scopes=frozenset(scope.split()),
        prosumers=_string_set(claims, "gm_prosumers"),
        managers=_string_set(claims, "gm_managers"),
        is_service=not any(name in claims for name in USER_CLAIMS),
    )


class TokenVerifier:
    """Checks access tokens against the issuer's keys, fetched lazily and cached."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        issuer_url: str,
        audience: str,
        *,
        internal_url: str | None = None,
        leeway_s: int = 30,
        min_refetch_interval_s: float = 30.0,
        timeout_s: float = 3.0,
        clock: WallTime = time.time,
    ) -> None:
        self.issuer = IssuerAddress.of(issuer_url, internal_url)
        self.issuer_url = self.issuer.url
        self.audience = audience
        self.leeway_s = leeway_s
        self.min_refetch_interval_s = min_refetch_interval_s
        self.timeout_s = timeout_s
        self._http = http
        self._clock = clock
        self._jwks_uri: str | None = None
        self._keys: KeySet | None = None
        self._last_fetch_at: float | None = None
        self._fetches = 0
        """Fetch attempts so far: lets callers that waited on the lock reuse the last one."""
        self._lock = asyncio.Lock()

    async def verify(self, token: str) -> Principal:
        """The principal ``token`` names; ``UnauthorizedError`` when it is not valid.

        ``UnavailableError`` (503) when the issuer cannot be reached and no keys
        are cached yet: the token may well be valid.
        """
        header = self._header(token)
        key = await self._key(header["kid"])
        try:
            decoded = jwt.decode(token, key, algorithms=[ALGORITHM])
        except BadSignatureError:
            raise _invalid_token("invalid signature") from None
        except JoseError:
            raise _invalid_token("malformed token") from None
        self._check_claims(decoded.claims)
        return _principal(decoded.claims)

    def _header(self, token: str) -> dict[str, Any]:
        """The token's header, refused unless it announces an ES256 access token with a kid."""
        try:
            header = extract_compact(token.encode()).headers()
        except (JoseError, ValueError, UnicodeError):
            raise _invalid_token("malformed token") from None
        if header.get("alg") != ALGORITHM:
            # Refuses "none" and HS256 signed with the public key (algorithm confusion).
            raise _invalid_token("unsupported signature algorithm")
        if str(header.get("typ", "")).lower() not in ACCESS_TOKEN_TYPES:
            raise _invalid_token("not an access token")
        if not isinstance(header.get("kid"), str):
            raise _invalid_token("token names no signing key")
        return dict(header)

    def _check_claims(self, claims: dict[str, Any]) -> None:
        options: dict[str, jwt.ClaimsOption] = {
            name: {"essential": True} for name in REQUIRED_CLAIMS
        }
        options["iss"]["value"] = self.issuer_url
        options["aud"]["value"] = self.audience  # a list "aud" passes if it holds this one
        registry = jwt.JWTClaimsRegistry(
            now=lambda: int(self._clock()), leeway=self.leeway_s, **options
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            raise _invalid_token("token expired") from None
        except MissingClaimError:
            raise _invalid_token("token lacks required claims") from None
        except InvalidClaimError as exc:
            reason = {
                "iss": "wrong issuer",
                "aud": "wrong audience",
                "nbf": "token not yet valid",
                "iat": "token issued in the future",
            }.get(exc.claim, "malformed claims")
            raise _invalid_token(reason) from None
        except ClaimError:
            raise _invalid_token("malformed claims") from None

    async def _key(self, kid: str) -> ECKey:
        key = self._cached_key(kid)
        if key is None:
            await self._refresh()
            key = self._cached_key(kid)
        if key is None:
            if self._keys is None:
                raise UnavailableError("the identity issuer cannot be reached")
            raise _invalid_token("unknown signing key")
        return key

    def _cached_key(self, kid: str) -> ECKey | None:
        if self._keys is None:
            return None
        for key in self._keys:
            if key.kid == kid and isinstance(key, ECKey):
                return key
        return None

    async def _refresh(self) -> None:
        """Fetch the key set, unless one fetch served this wait or the last is too recent.

        Concurrent callers queue on the lock; whoever gets it after a fetch
        happened while they waited uses that fetch's result. With keys cached, an
        unknown kid cannot make the verifier hit the issuer more than once per
        ``min_refetch_interval_s``; without any keys every wait tries again, since
        there is nothing else to verify with.
        """
        fetches_seen = self._fetches
        async with self._lock:
            if self._fetches != fetches_seen:
                return
            recent = (
                self._last_fetch_at is not None
                and self._clock() - self._last_fetch_at < self.min_refetch_interval_s
            )
            if self._keys is not None and recent:
                return
            self._fetches += 1
            self._last_fetch_at = self._clock()
            try:
                self._keys = await self._fetch_keys()
            except _IssuerError as exc:
                kept = "keeping the cached keys" if self._keys is not None else "no keys yet"
                log.warning("identity issuer %s: %s (%s)", self.issuer_url, exc, kept)

    async def _fetch_keys(self) -> KeySet:
        if self._jwks_uri is None:
            document = await self.issuer.discover(self._http, self.timeout_s)
            self._jwks_uri = self.issuer.endpoint(document, "jwks_uri")
        jwks = await _get_json(self._http, self._jwks_uri, self.timeout_s)
        try:
            keys = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
        except (JoseError, ValueError, KeyError, TypeError) as exc:
            raise _IssuerError(f"unusable JWKS: {exc}") from exc
        log.info("identity issuer %s: %d signing keys", self.issuer_url, len(keys.keys))
        return keys


_bearer = HTTPBearer(
    auto_error=False,
    description="an access token from the gridmarket issuer (`Authorization: Bearer ...`)",
)


def _verifier(request: Request) -> TokenVerifier:
    runtime = getattr(request.app.state, "runtime", None)
    verifier = getattr(runtime, "verifier", None)
    if not isinstance(verifier, TokenVerifier):
        raise UnavailableError("token verification is not configured")
    return verifier


async def optional_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal | None:
    """The caller, or None without an Authorization header; 401 when a token is not valid."""
    if credentials is None:
        if "authorization" in request.headers:
            raise _invalid_token("the Authorization header must be 'Bearer <token>'")
        return None
    return await _verifier(request).verify(credentials.credentials)


async def current_principal(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    """The caller; 401 without a valid bearer token."""
    if principal is None:
        # RFC 6750 section 3.1: no error code when the request carried no credentials.
        raise UnauthorizedError("a bearer token is required")
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]
"""The authenticated caller of a route (401 otherwise)."""
OptionalPrincipalDep = Annotated[Principal | None, Depends(optional_principal)]
"""The caller if a token was sent (401 if it is not valid), else None."""


ADMIN_SCOPE = "admin"
"""Administrator clients (``gridmarket up`` seeding, operators): everything a manager may do."""
PUSH_SCOPE = "grid.push"
"""Services that push member state to simulation cells."""
POLL_SCOPE = "grid.poll"
"""Services that read cells' member data."""


def require_scope(principal: Principal, scope: str) -> None:
    """403 unless the token was granted ``scope``."""
    if scope not in principal.scopes:
        raise ForbiddenError(
            f"the token lacks the scope '{scope}'",
            headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
        )


def require_manager(principal: Principal) -> None:
    """403 unless the caller is a manager (holds a privilege over a plant)."""
    if not principal.is_manager:
        raise ForbiddenError("only a manager may do this")


ACCESS_ERRORS = (UnauthorizedError, ForbiddenError)
"""What a route that checks tokens may answer besides its own errors (for ``responses=``)."""


async def managers_only(principal: PrincipalDep) -> None:
    """Route dependency: 401 without a valid token; 403 unless the caller is a manager."""
    require_manager(principal)


MANAGERS_ONLY = Depends(managers_only)
"""``dependencies=[MANAGERS_ONLY]`` on a route only managers (or administrators) may call."""


def require_manager_or_scope(principal: Principal, scope: str) -> None:
    """403 unless the caller is a manager or a service granted ``scope``."""
    if not principal.is_manager and scope not in principal.scopes:
        raise ForbiddenError(f"only a manager or a service with the scope '{scope}' may do this")


def require_plant_access(principal: Principal, plant_id: str) -> None:
    """403 unless the caller holds a privilege over ``plant_id`` (or is an administrator)."""
    if plant_id not in principal.managers and ADMIN_SCOPE not in principal.scopes:
        raise ForbiddenError(f"no privilege over plant '{plant_id}'")


def require_prosumer_access(principal: Principal, prosumer_id: str) -> None:
    """403 unless the caller is a manager or holds a privilege over ``prosumer_id``."""
    if not principal.is_manager and prosumer_id not in principal.prosumers:
        raise ForbiddenError(f"no privilege over prosumer '{prosumer_id}'")


class ServiceTokenClient:
    """A service's own access token (client credentials), cached until shortly before expiry.

    ``await client.headers()`` gives the ``Authorization`` header for a request
    to a peer. Failures raise ``UnavailableError``; call ``invalidate()`` when a
    peer answers 401 so the next call fetches a new token.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        issuer_url: str,
        client_id: str,
        client_secret: str,
        scopes: Iterable[str],
        *,
        internal_url: str | None = None,
        refresh_margin_s: float = 60.0,
        timeout_s: float = 3.0,
        clock: WallTime = time.time,
    ) -> None:
        self.issuer = IssuerAddress.of(issuer_url, internal_url)
        self.issuer_url = self.issuer.url
        self.client_id = client_id
        self.scopes = tuple(scopes)
        self.refresh_margin_s = refresh_margin_s
        self.timeout_s = timeout_s
        self._client_secret = client_secret
        self._http = http
        self._clock = clock
        self._token_endpoint: str | None = None
        self._token: str | None = None
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()
        self._failing = False

    @classmethod
    def for_service(
        cls, http: httpx.AsyncClient, settings: ServiceSettings, scopes: Iterable[str]
    ) -> ServiceTokenClient:
        """The client of the service ``settings`` describe, at its configured issuer."""
        return cls(
            http,
            settings.issuer_url,
            settings.client_id,
            settings.client_secret.get_secret_value(),
            scopes,
            internal_url=settings.issuer_internal_url,
        )

    async def headers(self) -> dict[str, str]:
        """``{"Authorization": "Bearer <token>"}`` with a token valid for a while yet."""
        return {"Authorization": f"Bearer {await self.token()}"}

    async def token(self) -> str:
        """The cached access token, or a new one when it is about to expire."""
        if self._token is not None and self._clock() < self._refresh_at:
            return self._token
        async with self._lock:
            # Another caller may have fetched one while this one waited.
            if self._token is not None and self._clock() < self._refresh_at:
                return self._token
            try:
                token, expires_in_s = await self._request_token()
            except _IssuerError as exc:
                # Callers retry every tick: say so once per outage, not once per tick.
                if not self._failing:
                    log.warning("token for %s: %s", self.client_id, exc)
                self._failing = True
                raise UnavailableError("no access token from the identity issuer") from None
            if self._failing:
                log.info("token for %s: the identity issuer answers again", self.client_id)
            self._failing = False
            self._token = token
            # Half the lifetime for short-lived tokens, so they are not refetched on every call.
            self._refresh_at = (
                self._clock() + expires_in_s - min(self.refresh_margin_s, expires_in_s / 2)
            )
            return token

    def invalidate(self) -> None:
        """Forget the token: the next call gets a new one (e.g. after a peer's 401)."""
        self._token = None

    async def _request_token(self) -> tuple[str, float]:
        if self._token_endpoint is None:
            document = await self.issuer.discover(self._http, self.timeout_s)
            self._token_endpoint = self.issuer.endpoint(document, "token_endpoint")
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self._client_secret,
        }
        if self.scopes:
            form["scope"] = " ".join(self.scopes)
        try:
            response = await self._http.post(
                self._token_endpoint, data=form, timeout=self.timeout_s
            )
        except httpx.HTTPError as exc:
            raise _IssuerError(f"POST {self._token_endpoint}: {exc}") from exc
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if response.status_code != 200 or not isinstance(answer, dict):
            error = answer.get("error") if isinstance(answer, dict) else None
            raise _IssuerError(f"token request refused: {response.status_code} {error or ''}")
        token, expires_in = answer.get("access_token"), answer.get("expires_in", 300)
        if not isinstance(token, str) or not token:
            raise _IssuerError("token response has no access_token")
        if isinstance(expires_in, bool) or not isinstance(expires_in, int | float):
            raise _IssuerError("token response has a malformed expires_in")
        return token, float(expires_in)
