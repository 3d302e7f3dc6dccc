"""An in-process OpenID Connect issuer for tests: discovery, JWKS, client-credentials tokens.

It serves what the suite's auth service serves to resource servers (the
identity design), signs with EC P-256 keys (ES256) through ``joserfc``, and
mints tokens with any claims, good or bad::

    clock = ManualClock()
    issuer = FakeIssuer(clock=clock)
    verifier = issuer.verifier()                 # a TokenVerifier that reaches it
    principal = await verifier.verify(issuer.user_token("ada", prosumers=["p-1"]))

    issuer.user_token(aud="someone-else")        # any claim overridden; None drops it
    issuer.sign(issuer.user_claims(), key=issuer.stranger_key())   # forged signature
    issuer.unsigned(issuer.user_claims())        # alg "none"
    issuer.hs256(issuer.user_claims())           # HS256 keyed with the public key
    issuer.rotate()                              # a new signing key, the old one still published
    issuer.down = True                           # every request fails to connect
    issuer.hits["/jwks.json"]                    # requests per path so far
    issuer.origins["http://auth:8001"]           # requests per origin (scheme://host:port)

    # Tokens name http://localhost:8001; only http://auth:8001 answers (docker-compose):
    FakeIssuer("http://localhost:8001", reachable_at=["http://auth:8001"])

To make a service under test accept its tokens, after the lifespan has started::

    app.state.runtime.verifier = issuer.verifier()

Nothing is bound to a port: requests reach the FastAPI app through
``httpx.MockTransport`` (so ``down`` can fail them like a refused connection).
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
from fastapi import FastAPI, Form, Request
from fastapi.responses import JSONResponse
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OctKey

from services.common.security import TokenVerifier

ISSUER_URL = "http://issuer.test"
AUDIENCE = "gridmarket"
USER_SCOPE = "openid profile gridmarket"
DASHBOARD_CLIENT = "dashboard"


class ManualClock:
    """Wall time in unix seconds that moves only when told: share it with the verifier."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(frozen=True)
class FakeClient:
    """A client registered at the issuer for the client-credentials grant."""

    secret: str
    scopes: frozenset[str]


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class FakeIssuer:
    """An OpenID Connect issuer in the test's process. See the module docstring."""

    def __init__(
        self,
        url: str = ISSUER_URL,
        *,
        audience: str = AUDIENCE,
        clock: ManualClock | None = None,
        token_lifetime_s: int = 600,
        reachable_at: Iterable[str] | None = None,
    ) -> None:
        self.url = url
        self.reachable_at = None if reachable_at is None else frozenset(reachable_at)
        """Origins the transport answers at (others fail to connect); None: any."""
        self.audience = audience
        self.clock = clock or ManualClock(time.time())
        self.token_lifetime_s = token_lifetime_s
        self.signing_key = self._new_key()
        self.published: list[ECKey] = [self.signing_key]
        """Keys the JWKS lists: the signing key and those rotated out but still valid."""
        self.clients: dict[str, FakeClient] = {}
        self.down = False
        """When True every request fails as a refused connection would."""
        self.hits: Counter[str] = Counter()
        """Requests per path, counted also while ``down``."""
        self.origins: Counter[str] = Counter()
        """Requests per origin (``http://host:port``), counted also when refused."""
        self.app = self._build_app()
        self._asgi = httpx.ASGITransport(app=self.app)

    # --- keys ---------------------------------------------------------------

    @staticmethod
    def _new_key() -> ECKey:
        return ECKey.generate_key("P-256", parameters={"alg": "ES256", "use": "sig"}, auto_kid=True)

    def rotate(self) -> ECKey:
        """Sign with a new key from now on; the previous one stays in the JWKS."""
        self.signing_key = self._new_key()
        self.published.append(self.signing_key)
        return self.signing_key

    def retire(self, key: ECKey) -> None:
        """Take ``key`` out of the JWKS."""
        self.published = [published for published in self.published if published.kid != key.kid]

    def stranger_key(self) -> ECKey:
        """A valid P-256 key the issuer never publishes: for forged signatures and unknown kids."""
        return self._new_key()

    def jwks(self) -> dict[str, Any]:
        """The published key set, public parts only."""
        return dict(KeySet(list(self.published)).as_dict(private=False))

    # --- claims and tokens ----------------------------------------------------

    def _claims(self, base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
        now = int(self.clock())
        claims = {
            "iss": self.url,
            "aud": self.audience,
            "iat": now,
            "exp": now + self.token_lifetime_s,
            "jti": uuid.uuid4().hex,
            **base,
            **overrides,
        }
        return {name: value for name, value in claims.items() if value is not None}

    def user_claims(
        self,
        subject: str = "ada",
        *,
        prosumers: Iterable[str] = (),
        managers: Iterable[str] = (),
        **overrides: Any,
    ) -> dict[str, Any]:
        """A user's access-token claims as the dashboard gets them; an override of None drops."""
        base = {
            "sub": subject,
            "client_id": DASHBOARD_CLIENT,
            "scope": USER_SCOPE,
            "gm_prosumers": list(prosumers),
            "gm_managers": list(managers),
        }
        return self._claims(base, overrides)

    def service_claims(
        self,
        client_id: str = "prosumer",
        *,
        scopes: Iterable[str] = ("grid.push",),
        **overrides: Any,
    ) -> dict[str, Any]:
        """A service's client-credentials claims (no user claims); an override of None drops."""
        base = {"sub": client_id, "client_id": client_id, "scope": " ".join(scopes)}
        return self._claims(base, overrides)

    def sign(self, claims: dict[str, Any], *, key: ECKey | None = None, **header: Any) -> str:
        """``claims`` signed with ES256 by ``key`` (the signing key).

        The header is ``{"alg": "ES256", "kid": <the key's>, "typ": "at+jwt"}``;
        ``header`` overrides ``kid`` or ``typ`` (None drops one). For another
        algorithm see ``unsigned`` and ``hs256``.
        """
        key = key or self.signing_key
        fields = {"kid": key.kid, "typ": "at+jwt", **header, "alg": "ES256"}
        protected = {name: value for name, value in fields.items() if value is not None}
        # default_type=None: no "typ" unless asked for, so its absence can be tested.
        return jwt.encode(protected, claims, key, algorithms=["ES256"], default_type=None)

    def user_token(self, subject: str = "ada", **kwargs: Any) -> str:
        """A signed user token; takes ``user_claims``'s arguments."""
        return self.sign(self.user_claims(subject, **kwargs))

    def service_token(self, client_id: str = "prosumer", **kwargs: Any) -> str:
        """A signed service token; takes ``service_claims``'s arguments."""
        return self.sign(self.service_claims(client_id, **kwargs))

    def unsigned(self, claims: dict[str, Any]) -> str:
        """``claims`` with ``alg: none`` and no signature, naming the signing key's kid."""
        header = {"alg": "none", "kid": self.signing_key.kid, "typ": "at+jwt"}
        return f"{_b64(header)}.{_b64(claims)}."

    def hs256(self, claims: dict[str, Any]) -> str:
        """``claims`` signed with HS256 keyed by the published public key (algorithm confusion)."""
        public = json.dumps(self.signing_key.as_dict(private=False), sort_keys=True)
        header = {"alg": "HS256", "kid": self.signing_key.kid, "typ": "at+jwt"}
        return jwt.encode(header, claims, OctKey.import_key(public.encode()), algorithms=["HS256"])

    # --- clients --------------------------------------------------------------

    def register_client(self, client_id: str, secret: str, scopes: Iterable[str]) -> None:
        """Let ``client_id`` get client-credentials tokens for (a subset of) ``scopes``."""
        self.clients[client_id] = FakeClient(secret, frozenset(scopes))

    # --- HTTP -------------------------------------------------------------------

    @property
    def transport(self) -> httpx.MockTransport:
        """A transport that reaches the issuer in-process (or fails while ``down``).

        A request to an origin outside ``reachable_at`` fails as if no such host answered.
        """

        async def handle(request: httpx.Request) -> httpx.Response:
            origin = f"{request.url.scheme}://{request.url.netloc.decode()}"
            self.hits[request.url.path] += 1
            self.origins[origin] += 1
            if self.down:
                raise httpx.ConnectError(
                    "connection refused (fake issuer is down)", request=request
                )
            if self.reachable_at is not None and origin not in self.reachable_at:
                raise httpx.ConnectError(f"no issuer answers at {origin}", request=request)
            return await self._asgi.handle_async_request(request)

        return httpx.MockTransport(handle)

    def client(self) -> httpx.AsyncClient:
        """A new HTTP client that reaches the issuer."""
        return httpx.AsyncClient(transport=self.transport)

    def verifier(self, **kwargs: Any) -> TokenVerifier:
        """A ``TokenVerifier`` of this issuer on this issuer's clock; kwargs go to it."""
        kwargs.setdefault("clock", self.clock)
        return TokenVerifier(self.client(), self.url, self.audience, **kwargs)

    def _build_app(self) -> FastAPI:
        app = FastAPI(title="fake issuer")

        @app.get("/.well-known/openid-configuration")
        async def discovery() -> dict[str, Any]:
            return {
                "issuer": self.url,
                "authorization_endpoint": f"{self.url}/authorize",
                "token_endpoint": f"{self.url}/token",
                "jwks_uri": f"{self.url}/jwks.json",
                "revocation_endpoint": f"{self.url}/revoke",
                "end_session_endpoint": f"{self.url}/logout",
                "userinfo_endpoint": f"{self.url}/userinfo",
                "response_types_supported": ["code"],
                "grant_types_supported": [
                    "authorization_code",
                    "refresh_token",
                    "client_credentials",
                ],
                "code_challenge_methods_supported": ["S256"],
                "id_token_signing_alg_values_supported": ["ES256"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "client_secret_basic",
                    "none",
                ],
            }

        @app.get("/jwks.json")
        async def jwks() -> dict[str, Any]:
            return self.jwks()

        @app.post("/token")
        async def token(
            request: Request,
            grant_type: Annotated[str, Form()],
            scope: Annotated[str, Form()] = "",
            client_id: Annotated[str | None, Form()] = None,
            client_secret: Annotated[str | None, Form()] = None,
        ) -> JSONResponse:
            return self._token(request, grant_type, scope, client_id, client_secret)

        return app

    def _token(
        self,
        request: Request,
        grant_type: str,
        scope: str,
        client_id: str | None,
        client_secret: str | None,
    ) -> JSONResponse:
        basic = request.headers.get("authorization", "")
        if basic.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(basic[6:], validate=True).decode()
            except ValueError:
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            client_id, _, client_secret = decoded.partition(":")
        client = self.clients.get(client_id or "")
        if client is None or client.secret != client_secret:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        if grant_type != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        requested = frozenset(scope.split()) or client.scopes
        if not requested <= client.scopes:
            return JSONResponse({"error": "invalid_scope"}, status_code=400)
        assert client_id is not None
        access_token = self.service_token(client_id, scopes=sorted(requested))
        return JSONResponse(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": self.token_lifetime_s,
                "scope": " ".join(sorted(requested)),
            }
        )
