"""The OpenID Connect issuer: authorization codes, tokens, refresh, revocation, logout, keys.

Flows (OAuth 2.0 as profiled by the Security BCP, RFC 9700):

- A user signs in at ``/authorize`` (code flow with PKCE S256 only) and the
  dashboard exchanges the one-time code at ``/token`` for an access token
  (JWT, 10 min), an ID token and a refresh token.
- Refresh tokens rotate on every use. A used one presented again means it was
  copied: the whole family (every token descended from that login) is revoked.
  A code presented twice revokes what the first exchange issued (RFC 6749 4.1.2).
- Services get access tokens with ``client_credentials`` and their secret.

Access tokens are stateless JWTs checked by every service against the JWKS, so
revoking a refresh token (logout, password change, account deletion) stops new
access tokens; one already issued lives out its 10 minutes.

The issuer also notes when each user was last seen (a sign-in, tokens issued
for a code or a refresh token), for the managers' online status.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any
from uuid import uuid4

from services.auth.domain import (
    ADMIN_SCOPE,
    DASHBOARD_CLIENT_ID,
    LEEWAY_S,
    USER_SCOPES,
    AuthorizationCode,
    AuthorizeRequest,
    Clients,
    LoginSession,
    RefreshToken,
    ServiceClient,
    TokenFamily,
    check_authorize_request,
    digest,
    error_redirect,
    new_secret,
    one_value,
    parse_scope,
    pkce_matches,
    with_query,
)
from services.auth.keys import InvalidTokenError, KeyRing, SigningKey, seal, unseal
from services.auth.repository import GrantRepository, KeyRepository, ProfileRepository
from services.auth.schemas import Discovery, KeyRotation, ProfilePublic, TokenResponse
from services.common.clock import Clock
from services.common.settings import AuthSettings

log = logging.getLogger(__name__)

ACCESS_TOKEN_TYPE = "at+jwt"
ID_TOKEN_TYPE = "JWT"
PURGE_EVERY_S = 3600.0


class OAuthError(Exception):
    """An error of the token or revocation endpoint, answered as RFC 6749 section 5.2 says."""

    def __init__(
        self,
        error: str,
        description: str,
        *,
        status_code: int = 400,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status_code = status_code
        self.headers = headers or {}


def invalid_grant(description: str) -> OAuthError:
    return OAuthError("invalid_grant", description)


class Issuer:
    """Use cases of the authorization server."""

    def __init__(
        self,
        settings: AuthSettings,
        clock: Clock,
        grants: GrantRepository,
        keys: KeyRepository,
        profiles: ProfileRepository,
    ) -> None:
        self.settings = settings
        self.issuer_url = settings.issuer_url
        self.audience = settings.audience
        self.clients = Clients(
            redirect_uris=tuple(settings.redirect_uris),
            post_logout_redirect_uris=tuple(settings.post_logout_redirect_uris),
            services={
                client_id: ServiceClient(
                    client_id, config.secret.get_secret_value(), tuple(config.scopes)
                )
                for client_id, config in settings.service_client_configs().items()
            },
        )
        self._clock = clock
        self._grants = grants
        self._keys = keys
        self._profiles = profiles
        self._ring: KeyRing | None = None
        self._secret_key = settings.secret_key.get_secret_value()
        # Exchanges read a grant, then write: one at a time, so a grant is used once.
        self._lock = asyncio.Lock()
        self._next_purge = 0.0

    def now(self) -> float:
        return self._clock.now().timestamp()

    @property
    def retention_s(self) -> float:
        """How long a retired key stays published: the longest token lifetime, plus leeway."""
        return self.settings.access_token_seconds + LEEWAY_S

    @property
    def ring(self) -> KeyRing:
        if self._ring is None:
            raise RuntimeError("the issuer has not been started")
        return self._ring

    # -- start-up and keys -----------------------------------------------------------------------

    async def start(self) -> None:
        """Load the signing keys (making current and next ones if missing); drop old grants."""
        now = self.now()
        stored: list[SigningKey] = []
        for doc in await self._keys.list_all():
            retired_at = doc.get("retired_at")
            if retired_at is not None and now >= retired_at + self.retention_s:
                await self._keys.delete(doc["id"])
                continue
            key = unseal(str(doc.get("sealed", "")), self._secret_key)
            if key is None:
                log.warning("signing key %s cannot be unsealed (secret_key changed?)", doc["id"])
                continue
            stored.append(
                SigningKey(
                    kid=doc["id"],
                    key=key,
                    created_at=float(doc["created_at"]),
                    sequence=int(doc.get("sequence", 0)),
                    retired_at=retired_at,
                )
            )
        self._ring = KeyRing.started(stored, now, self.retention_s)
        await self._save_keys(self._ring, unchanged=stored)
        await self._purge(now)

    async def _save_keys(self, ring: KeyRing, unchanged: list[SigningKey]) -> None:
        """Store the keys of ``ring`` that are not among ``unchanged``."""
        for key in ring.keys:
            if key not in unchanged:
                await self._keys.save(
                    key.kid,
                    seal(key, self._secret_key),
                    created_at=key.created_at,
                    sequence=key.sequence,
                    retired_at=key.retired_at,
                )

    async def rotate_keys(self) -> KeyRotation:
        """The next key signs from now on and a new next key is published; the retired
        one verifies what it signed until that expires."""
        async with self._lock:
            now = self.now()
            before = self.ring
            rotated = before.rotated(now)
            live = rotated.published(now)
            for key in rotated.keys:
                if key not in live:
                    await self._keys.delete(key.kid)  # every token it signed has expired
            ring = KeyRing(live, self.retention_s)
            await self._save_keys(ring, unchanged=before.keys)
            self._ring = ring
        published = [key.kid for key in live]
        log.info("signing key rotated: %s signs now; published %s", ring.current.kid, published)
        return KeyRotation(kid=ring.current.kid, published=published)

    def jwks(self) -> dict[str, Any]:
        return self.ring.jwks(self.now())

    def discovery(self) -> Discovery:
        issuer = self.issuer_url
        return Discovery(
            issuer=issuer,
            authorization_endpoint=f"{issuer}/authorize",
            token_endpoint=f"{issuer}/token",
            jwks_uri=f"{issuer}/jwks.json",
            revocation_endpoint=f"{issuer}/revoke",
            end_session_endpoint=f"{issuer}/logout",
            userinfo_endpoint=f"{issuer}/userinfo",
            response_types_supported=["code"],
            response_modes_supported=["query"],
            grant_types_supported=["authorization_code", "refresh_token", "client_credentials"],
            code_challenge_methods_supported=["S256"],
            id_token_signing_alg_values_supported=["ES256"],
            token_endpoint_auth_methods_supported=[
                "client_secret_post",
                "client_secret_basic",
                "none",
            ],
            revocation_endpoint_auth_methods_supported=[
                "client_secret_post",
                "client_secret_basic",
                "none",
            ],
            subject_types_supported=["public"],
            # The admin scope is configured, not asked for: it is not advertised.
            scopes_supported=sorted(
                {*USER_SCOPES, *(s for c in self.clients.services.values() for s in c.scopes)}
                - {ADMIN_SCOPE}
            ),
            claims_supported=[
                "iss",
                "sub",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "sid",
                "preferred_username",
                "gm_prosumers",
                "gm_managers",
            ],
            authorization_response_iss_parameter_supported=True,
        )

    # -- the authorization endpoint --------------------------------------------------------------

    def authorize_request(self, params: Mapping[str, Sequence[str]]) -> AuthorizeRequest:
        """The checked request, or ``AuthorizePageError`` / ``AuthorizeRedirectError``."""
        return check_authorize_request(params, self.clients, self.issuer_url)

    def refusal(self, request: AuthorizeRequest, error: str, description: str) -> str:
        """Where to send the browser to tell the client its request is refused."""
        return error_redirect(
            request.redirect_uri, request.state, self.issuer_url, error, description
        )

    async def issue_code(self, request: AuthorizeRequest, session: LoginSession) -> str:
        """A one-time code for the signed-in user; answers the redirect that delivers it."""
        code = new_secret()
        await self._grants.insert_code(
            AuthorizationCode(
                digest=digest(code),
                client_id=request.client_id,
                redirect_uri=request.redirect_uri,
                code_challenge=request.code_challenge,
                scope=request.scope,
                subject=session.subject,
                session_id=session.session_id,
                auth_time=session.auth_time,
                expires_at=self.now() + self.settings.authorization_code_seconds,
                nonce=request.nonce,
            )
        )
        return with_query(
            request.redirect_uri, {"code": code, "state": request.state, "iss": self.issuer_url}
        )

    # -- login sessions --------------------------------------------------------------------------

    async def start_session(self, subject: str) -> tuple[str, LoginSession]:
        """A new login session; answers the cookie value and the session."""
        cookie = new_secret()
        now = self.now()
        session = LoginSession(
            session_id=digest(cookie),
            subject=subject,
            auth_time=now,
            expires_at=now + self.settings.session_seconds,
        )
        await self._grants.insert_session(session)
        await self._grants.record_seen(subject, now)
        return cookie, session

    async def session(self, cookie: str | None) -> LoginSession | None:
        """The live session of a login cookie, or None."""
        if not cookie:
            return None
        session = await self._grants.get_session(digest(cookie))
        if session is None or session.expires_at <= self.now():
            return None
        return session

    async def end_session(self, cookie: str | None, id_token_hint: str | None) -> None:
        """Log out: the session of the cookie (or of the ID token's ``sid``) and its tokens."""
        session_ids = set()
        if cookie:
            session_ids.add(digest(cookie))
        if id_token_hint:
            claims = self.verify_id_token_hint(id_token_hint)
            if claims is not None and isinstance(claims.get("sid"), str):
                session_ids.add(claims["sid"])
        for session_id in session_ids:
            for family in await self._grants.families(session_id=session_id):
                await self._grants.put_family(replace(family, revoked=True))
            await self._grants.delete_session(session_id)

    def verify_id_token_hint(self, token: str) -> dict[str, Any] | None:
        """The claims of an ID token this issuer signed, expired or not; None otherwise."""
        try:
            return self.ring.verify(
                token,
                now=self.now(),
                issuer=self.issuer_url,
                audience=DASHBOARD_CLIENT_ID,
                typ=None,
                check_expiry=False,
            )
        except InvalidTokenError:
            return None

    async def revoke_subject(self, subject: str) -> None:
        """End every session and revoke every refresh token of a user."""
        for family in await self._grants.families(subject=subject):
            await self._grants.put_family(replace(family, revoked=True))
        for session in await self._grants.sessions_of(subject):
            await self._grants.delete_session(session.session_id)

    async def forget_subject(self, subject: str) -> None:
        """A user is deleted: revoke everything they hold and forget when they were seen."""
        await self.revoke_subject(subject)
        await self._grants.forget_seen(subject)

    async def activity(self) -> tuple[set[str], dict[str, float]]:
        """Who holds a live session or refresh token, and when each user was last seen."""
        return await self._grants.live_subjects(self.now()), await self._grants.last_seen()

    # -- the token endpoint ----------------------------------------------------------------------

    def authenticate_client(
        self, form: Mapping[str, Sequence[str]], basic: tuple[str, str] | None
    ) -> tuple[str, ServiceClient | None]:
        """The client making the request: the public dashboard, or a service with its secret."""
        try:
            form_id, form_secret = one_value(form, "client_id"), one_value(form, "client_secret")
        except ValueError as exc:
            raise OAuthError("invalid_request", str(exc)) from None
        if basic is not None and form_secret is not None:
            raise OAuthError("invalid_request", "use one client authentication method, not two")
        client_id: str | None
        secret: str | None
        if basic is not None:
            if form_id is not None and form_id != basic[0]:
                raise OAuthError("invalid_request", "client_id differs from the Basic credentials")
            client_id, secret = basic
        else:
            client_id, secret = form_id, form_secret
        challenge = {"WWW-Authenticate": 'Basic realm="gridmarket"'} if basic else {}
        if secret is None and self.clients.is_dashboard(client_id):
            return DASHBOARD_CLIENT_ID, None
        service = self.clients.service(client_id)
        if secret is None or service is None or not service.secret_matches(secret):
            raise OAuthError(
                "invalid_client",
                "client authentication failed",
                status_code=401,
                headers=challenge,
            )
        return service.client_id, service

    async def token(
        self, form: Mapping[str, Sequence[str]], basic: tuple[str, str] | None
    ) -> TokenResponse:
        """Answer a token request of any supported grant."""
        client_id, service = self.authenticate_client(form, basic)
        try:
            grant_type = one_value(form, "grant_type")
        except ValueError as exc:
            raise OAuthError("invalid_request", str(exc)) from None
        await self._purge_now_and_then()
        if grant_type == "client_credentials":
            if service is None:
                raise OAuthError("unauthorized_client", "a public client has no credentials")
            return self._client_credentials(form, service)
        if grant_type in ("authorization_code", "refresh_token"):
            if service is not None:
                raise OAuthError("unauthorized_client", f"a service may not use {grant_type}")
            async with self._lock:
                if grant_type == "authorization_code":
                    return await self._authorization_code(form, client_id)
                return await self._refresh(form, client_id)
        if grant_type is None:
            raise OAuthError("invalid_request", "grant_type is required")
        raise OAuthError("unsupported_grant_type", f"grant_type {grant_type!r} is not supported")

    def _required(self, form: Mapping[str, Sequence[str]], name: str) -> str:
        try:
            value = one_value(form, name)
        except ValueError as exc:
            raise OAuthError("invalid_request", str(exc)) from None
        if not value:
            raise OAuthError("invalid_request", f"{name} is required")
        return value

    async def _authorization_code(
        self, form: Mapping[str, Sequence[str]], client_id: str
    ) -> TokenResponse:
        code_value = self._required(form, "code")
        redirect_uri = self._required(form, "redirect_uri")
        verifier = self._required(form, "code_verifier")
        code = await self._grants.get_code(digest(code_value))
        if code is None:
            raise invalid_grant("the code is not valid")
        if code.used:
            if code.family_id is not None:
                await self._revoke_family(code.family_id)
            raise invalid_grant("the code was used already; the tokens it gave are revoked")
        if code.expires_at <= self.now():
            raise invalid_grant("the code has expired")
        if code.client_id != client_id or code.redirect_uri != redirect_uri:
            raise invalid_grant("the code was issued to another client or redirect_uri")
        if not pkce_matches(verifier, code.code_challenge):
            raise invalid_grant("the code_verifier does not match the code_challenge")
        if not await self._grants.claim_code(code.digest):
            raise invalid_grant("the code was used already")
        # Signed out, password changed or account deleted since the code was issued.
        if await self._grants.get_session(code.session_id) is None:
            raise invalid_grant("the sign-in that gave the code has ended")
        profile = await self._profiles.get(code.subject)
        if profile is None:
            raise invalid_grant("the account no longer exists")
        family = TokenFamily(
            family_id=uuid4().hex,
            subject=code.subject,
            client_id=client_id,
            scope=code.scope,
            session_id=code.session_id,
            auth_time=code.auth_time,
            expires_at=self.now() + self.settings.refresh_token_seconds,
        )
        await self._grants.put_family(family)
        # Kept (used) until it expires, so a second exchange can revoke what this one issued.
        await self._grants.put_code(replace(code, used=True, family_id=family.family_id))
        return await self._user_tokens(family, profile, code.scope, nonce=code.nonce)

    async def _refresh(self, form: Mapping[str, Sequence[str]], client_id: str) -> TokenResponse:
        presented = self._required(form, "refresh_token")
        token = await self._grants.get_refresh_token(digest(presented))
        if token is None:
            raise invalid_grant("the refresh token is not valid")
        family = await self._grants.get_family(token.family_id)
        if family is None or family.revoked:
            raise invalid_grant("the refresh token has been revoked")
        if family.client_id != client_id:
            raise invalid_grant("the refresh token was issued to another client")
        scopes = self._narrowed(form, family.scope.split())
        if token.used or not await self._grants.claim_refresh_token(token.digest):
            # A rotated-out token came back: someone holds a copy. Revoke the whole line.
            await self._revoke_family(family.family_id)
            log.warning(
                "refresh token reused; family %s of %s revoked", family.family_id, family.subject
            )
            raise invalid_grant("the refresh token was used already; its family is revoked")
        await self._grants.put_refresh_token(replace(token, used=True))
        if token.expires_at <= self.now():
            raise invalid_grant("the refresh token has expired")
        profile = await self._profiles.get(family.subject)
        if profile is None:
            await self._revoke_family(family.family_id)
            raise invalid_grant("the account no longer exists")
        family = replace(family, expires_at=self.now() + self.settings.refresh_token_seconds)
        await self._grants.put_family(family)
        return await self._user_tokens(family, profile, " ".join(scopes), nonce=None)

    def _narrowed(self, form: Mapping[str, Sequence[str]], granted: Sequence[str]) -> list[str]:
        """The scopes asked for, which must be among ``granted``; all of them if none asked."""
        try:
            asked = parse_scope(one_value(form, "scope"))
        except ValueError as exc:
            raise OAuthError("invalid_request", str(exc)) from None
        if asked is None or not set(asked) <= set(granted):
            raise OAuthError("invalid_scope", f"scopes available: {' '.join(granted)}")
        return asked or list(granted)

    def _client_credentials(
        self, form: Mapping[str, Sequence[str]], service: ServiceClient
    ) -> TokenResponse:
        scopes = self._narrowed(form, service.scopes)
        now = self.now()
        claims = self._access_claims(service.client_id, service.client_id, scopes, now)
        return TokenResponse(
            access_token=self.ring.sign(claims, typ=ACCESS_TOKEN_TYPE),
            expires_in=self.settings.access_token_seconds,
            scope=" ".join(scopes),
        )

    async def _user_tokens(
        self, family: TokenFamily, profile: ProfilePublic, scope: str, *, nonce: str | None
    ) -> TokenResponse:
        now = self.now()
        refresh = new_secret()
        await self._grants.record_seen(family.subject, now)
        await self._grants.insert_refresh_token(
            RefreshToken(
                digest=digest(refresh), family_id=family.family_id, expires_at=family.expires_at
            )
        )
        scopes = scope.split()
        claims = self._access_claims(family.subject, family.client_id, scopes, now)
        claims["gm_prosumers"] = [privilege.id for privilege in profile.prosumers]
        claims["gm_managers"] = [privilege.id for privilege in profile.managers]
        id_token = None
        if "openid" in scopes:
            id_claims: dict[str, Any] = {
                "iss": self.issuer_url,
                "sub": family.subject,
                "aud": family.client_id,
                "iat": int(now),
                "exp": int(now) + self.settings.access_token_seconds,
                "auth_time": int(family.auth_time),
                "sid": family.session_id,
            }
            if nonce is not None:
                id_claims["nonce"] = nonce
            if "profile" in scopes:
                id_claims["preferred_username"] = profile.username
            id_token = self.ring.sign(id_claims, typ=ID_TOKEN_TYPE)
        return TokenResponse(
            access_token=self.ring.sign(claims, typ=ACCESS_TOKEN_TYPE),
            expires_in=self.settings.access_token_seconds,
            scope=scope,
            refresh_token=refresh,
            id_token=id_token,
        )

    def _access_claims(
        self, subject: str, client_id: str, scopes: Sequence[str], now: float
    ) -> dict[str, Any]:
        return {
            "iss": self.issuer_url,
            "aud": self.audience,
            "sub": subject,
            "client_id": client_id,
            "iat": int(now),
            "exp": int(now) + self.settings.access_token_seconds,
            "jti": uuid4().hex,
            "scope": " ".join(scopes),
        }

    async def _revoke_family(self, family_id: str) -> None:
        family = await self._grants.get_family(family_id)
        if family is not None and not family.revoked:
            await self._grants.put_family(replace(family, revoked=True))

    # -- revocation (RFC 7009) -------------------------------------------------------------------

    async def revoke(
        self, form: Mapping[str, Sequence[str]], basic: tuple[str, str] | None
    ) -> None:
        """Revoke a refresh token's family; anything else is answered alike and ignored.

        Access tokens are not revocable: they are checked without asking the
        issuer and expire within ``access_token_seconds``.
        """
        client_id, _ = self.authenticate_client(form, basic)
        presented = self._required(form, "token")
        token = await self._grants.get_refresh_token(digest(presented))
        if token is None:
            return
        family = await self._grants.get_family(token.family_id)
        # RFC 7009 section 2.1: only the client a token was issued to may revoke it.
        if family is not None and family.client_id == client_id:
            await self._revoke_family(family.family_id)

    # -- access tokens, for this service's own routes ----------------------------------------------

    def verify_access_token(self, token: str) -> dict[str, Any]:
        """The claims of a valid access token of this issuer; ``InvalidTokenError`` otherwise."""
        return self.ring.verify(
            token,
            now=self.now(),
            issuer=self.issuer_url,
            audience=self.audience,
            typ=ACCESS_TOKEN_TYPE,
        )

    def is_service_client(self, client_id: str) -> bool:
        return self.clients.service(client_id) is not None

    # -- housekeeping ----------------------------------------------------------------------------

    async def _purge_now_and_then(self) -> None:
        now = self.now()
        if now >= self._next_purge:
            await self._purge(now)

    async def _purge(self, now: float) -> None:
        self._next_purge = now + PURGE_EVERY_S
        removed = await self._grants.purge_expired(now)
        if removed:
            log.info("removed %d expired grants", removed)
