"""Signing in with an external OpenID Connect issuer (Okta, Keycloak, Entra ID, ...).

The original suite signed its users in with an external OpenID provider (Okta).
This issuer can still do that: for the sign-in it is a relying party of the
external issuer, and it stays the issuer of the suite's own tokens, so nothing
changes for the dashboard or the other services.

Configure it in the auth service's environment:

- ``AUTH_OIDC_ISSUER``: the external issuer's URL, as its discovery document
  names it (e.g. ``https://dev-123456.okta.com/oauth2/default``). Its metadata
  is read from ``{AUTH_OIDC_ISSUER}/.well-known/openid-configuration``; an
  ``https`` URL is required in production.
- ``AUTH_OIDC_CLIENT_ID`` and ``AUTH_OIDC_CLIENT_SECRET``: a confidential web
  client registered there for the authorization code grant, with the sign-in
  redirect URI ``{AUTH_ISSUER_URL}/login/external/callback``.
- ``AUTH_OIDC_SCOPES`` (default ``openid profile email``): must include ``openid``.
- ``AUTH_OIDC_ONLY`` (default false): ``/authorize`` goes straight to the external
  issuer, and local passwords and registration are refused.

The flow. The dashboard starts its code + PKCE sign-in at ``/authorize``; the
login page offers "Sign in with <issuer>" (``/login/external``), which keeps
the dashboard's request in a signed cookie (Starlette's ``SessionMiddleware``,
where authlib also keeps its state, nonce and PKCE verifier) and sends the
browser to the external issuer. It answers at ``/login/external/callback``:
authlib exchanges the code and checks the ID token (its signature against the
external JWKS, ``iss``, ``aud``, ``exp`` and ``nonce``). The external user is
the profile ``ext-`` + the first 32 hex digits of SHA-256(``iss|sub``), made at
their first sign-in without privileges (a manager grants them) and named after
``preferred_username``, ``email`` or ``name``, numbered if the name is taken.
Then the dashboard's sign-in resumes: a login session here, and a one-time code
to its redirect URI.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx
from authlib.common.errors import AuthlibBaseError
from authlib.deprecate import AuthlibDeprecationWarning
from authlib.integrations.base_client import MismatchingStateError, OAuthError
from joserfc.errors import JoseError
from starlette.requests import Request
from starlette.responses import Response

from services.auth.domain import LEEWAY_S, new_secret
from services.auth.schemas import ProfilePublic
from services.auth.service import AccountService
from services.common.clock import Clock
from services.common.settings import AuthSettings

with warnings.catch_warnings():
    # authlib announces, on import, that it falls back from httpx2 (not a dependency
    # of the suite) to httpx; the fallback is what the suite wants.
    warnings.filterwarnings("ignore", category=AuthlibDeprecationWarning)
    from authlib.integrations.starlette_client import OAuth

log = logging.getLogger(__name__)

CALLBACK_PATH = "/login/external/callback"
SESSION_COOKIE = "gm_external"
PENDING_KEY = "gm_authorize"
SIGN_IN_SECONDS = 600
"""How long a browser may take at the external issuer before the sign-in must start again."""
HTTP_TIMEOUT_S = 10.0
_SESSION_LABEL = b"gridmarket external sign-in cookie"

STARTED_ELSEWHERE = (
    "This sign-in was not started in this browser, or it has expired. "
    "Please start again from the dashboard."
)


class ExternalLoginError(Exception):
    """Why a sign-in with the external issuer failed, in words for the user's page."""

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


def session_middleware_options(settings: AuthSettings) -> dict[str, Any]:
    """Keyword arguments of Starlette's ``SessionMiddleware`` for the sign-in cookie.

    Its key is derived from ``secret_key``, so the cookie cannot be signed with a
    key that also seals the issuer's signing keys. ``lax``: the external issuer
    sends the browser back with a top-level GET from another site.
    """
    secret_key = settings.secret_key.get_secret_value().encode()
    return {
        "secret_key": hmac.new(secret_key, _SESSION_LABEL, hashlib.sha256).hexdigest(),
        "session_cookie": SESSION_COOKIE,
        "max_age": SIGN_IN_SECONDS,
        "same_site": "lax",
        "https_only": settings.issuer_url.startswith("https://"),
    }


class ExternalLogin:
    """Sign-in delegated to the external issuer, through authlib's Starlette client."""

    def __init__(self, settings: AuthSettings, clock: Clock, accounts: AccountService) -> None:
        if not (settings.oidc_issuer and settings.oidc_client_id and settings.oidc_client_secret):
            raise ValueError("oidc_issuer, oidc_client_id and oidc_client_secret are required")
        self.issuer = settings.oidc_issuer
        self.name = urlsplit(self.issuer).netloc or self.issuer
        """What the login page calls the external issuer: its host."""
        self.only = settings.oidc_only
        self.callback_url = f"{settings.issuer_url}{CALLBACK_PATH}"
        self._client_id = settings.oidc_client_id
        self._clock = clock
        self._accounts = accounts
        self._client = OAuth().register(
            name="external",
            server_metadata_url=f"{self.issuer}/.well-known/openid-configuration",
            client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret.get_secret_value(),
            client_kwargs={
                "scope": settings.oidc_scopes,
                "code_challenge_method": "S256",
                "timeout": HTTP_TIMEOUT_S,
            },
        )

    @classmethod
    def configured(
        cls, settings: AuthSettings, clock: Clock, accounts: AccountService
    ) -> ExternalLogin | None:
        """The external sign-in, or None when no external issuer is configured."""
        return cls(settings, clock, accounts) if settings.oidc_issuer else None

    async def start(self, request: Request, params: dict[str, str]) -> Response:
        """The redirect to the external issuer; keeps the dashboard's request ``params``."""
        state = new_secret()
        async with self._translated_errors():
            await self._metadata()
            response: Response = await self._client.authorize_redirect(
                request, self.callback_url, state=state
            )
        request.session[PENDING_KEY] = {
            "state": state,
            "params": params,
            "expires_at": self._clock.now().timestamp() + SIGN_IN_SECONDS,
        }
        return response

    async def finish(self, request: Request) -> tuple[ProfilePublic, dict[str, str]]:
        """Check the external issuer's answer; the user's profile and the dashboard's request.

        ``ExternalLoginError`` when the answer is refused, and then no profile is
        made or changed.
        """
        pending = request.session.pop(PENDING_KEY, None)
        if not self._is_pending(pending, request.query_params.get("state")):
            raise ExternalLoginError(STARTED_ELSEWHERE)
        async with self._translated_errors():
            metadata = await self._metadata()
            token = await self._client.authorize_access_token(
                request,
                claims_options={
                    # authlib only checks ``aud`` through ``azp``: ask for it exactly.
                    "iss": {"essential": True, "value": metadata["issuer"]},
                    "aud": {"essential": True, "value": self._client_id},
                    "sub": {"essential": True},
                },
                leeway=LEEWAY_S,
            )
        claims = token.get("userinfo")
        if not claims or not isinstance(claims.get("sub"), str):
            raise ExternalLoginError(f"{self.name} did not answer with an ID token.")
        profile = await self._accounts.sign_in_external(claims["iss"], claims["sub"], claims)
        log.info("signed in with %s: %s", self.name, profile.clientid)
        return profile, pending["params"]

    def _is_pending(self, pending: Any, state: str | None) -> bool:
        return (
            isinstance(pending, dict)
            and isinstance(pending.get("params"), dict)
            and state is not None
            and hmac.compare_digest(str(pending.get("state", "")).encode(), state.encode())
            and float(pending.get("expires_at", 0)) > self._clock.now().timestamp()
        )

    async def _metadata(self) -> dict[str, Any]:
        """The external issuer's discovery document (authlib keeps it once read)."""
        metadata: dict[str, Any] = await self._client.load_server_metadata()
        named = str(metadata.get("issuer", ""))
        if named.rstrip("/") != self.issuer:
            self._client.server_metadata.clear()  # read it again next time
            raise ExternalLoginError(
                f"The discovery document of {self.name} names another issuer ({named!r}); "
                "check AUTH_OIDC_ISSUER.",
                502,
            )
        return metadata

    @asynccontextmanager
    async def _translated_errors(self) -> AsyncIterator[None]:
        """Turn what authlib, joserfc and httpx raise into an ``ExternalLoginError``."""
        try:
            yield
        except MismatchingStateError:
            raise ExternalLoginError(STARTED_ELSEWHERE) from None
        except OAuthError as exc:
            reason = exc.error + (f": {exc.description}" if exc.description else "")
            raise ExternalLoginError(f"{self.name} did not sign you in ({reason}).") from None
        except JoseError as exc:
            log.warning("ID token from %s refused: %s", self.name, exc)
            raise ExternalLoginError(
                f"The ID token from {self.name} could not be verified "
                f"({exc.description or exc.error}). Nobody was signed in."
            ) from None
        except httpx.HTTPError as exc:
            log.warning("%s could not be reached: %r", self.name, exc)
            raise ExternalLoginError(
                f"{self.name} cannot be reached or answered with an error; try again later.", 502
            ) from None
        except (AuthlibBaseError, ValueError, KeyError, TypeError, RuntimeError):
            log.exception("unexpected answer from %s", self.name)
            raise ExternalLoginError(
                f"{self.name} answered with something this issuer does not understand.", 502
            ) from None
