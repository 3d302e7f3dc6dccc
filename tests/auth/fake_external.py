"""A fake external OpenID Connect issuer (an Okta stand-in), served by uvicorn on loopback.

It signs in whoever asks: ``/authorize`` redirects straight back with a code
and the state, and ``/token`` answers an ES256 ID token with the nonce it was
given. Tests change ``user`` (who signs in), ``id_token_overrides`` (to forge
a wrong audience or nonce) and ``forging_key`` (to sign with a key the JWKS
does not publish) between sign-ins.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any
from urllib.parse import urlencode

import uvicorn
from fastapi import FastAPI, Form, Header, Query
from fastapi.responses import JSONResponse, RedirectResponse
from joserfc import jwt
from joserfc.jwk import ECKey

CLIENT_ID = "gridmarket-at-okta"
CLIENT_SECRET = "an-external-client-secret"
DEFAULT_USER = {
    "sub": "00u1ada",
    "preferred_username": "ada@example.org",
    "email": "ada@example.org",
    "name": "Ada Lovelace",
}


class FakeExternalIssuer:
    """Discovery, JWKS, an auto-approving ``/authorize`` and ``/token``, for one client."""

    def __init__(self) -> None:
        self.key = ECKey.generate_key("P-256", parameters={"kid": "external-1"}, private=True)
        self.url = ""
        self.user: dict[str, Any] = dict(DEFAULT_USER)
        self.id_token_overrides: dict[str, Any] = {}
        self.forging_key: ECKey | None = None
        self._codes: dict[str, dict[str, Any]] = {}
        self.app = self._build_app()

    def reset(self) -> None:
        self.user = dict(DEFAULT_USER)
        self.id_token_overrides = {}
        self.forging_key = None
        self._codes.clear()

    def _build_app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/.well-known/openid-configuration")
        async def discovery() -> dict[str, Any]:
            return {
                "issuer": self.url,
                "authorization_endpoint": f"{self.url}/authorize",
                "token_endpoint": f"{self.url}/token",
                "jwks_uri": f"{self.url}/jwks.json",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["ES256"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
                "code_challenge_methods_supported": ["S256"],
            }

        @app.get("/jwks.json")
        async def jwks() -> dict[str, Any]:
            return {"keys": [self.key.as_dict(private=False)]}

        @app.get("/authorize")
        async def authorize(
            client_id: str,
            redirect_uri: str,
            state: str,
            response_type: str,
            nonce: str = "",
            code_challenge: str = "",
            scope: Annotated[str, Query()] = "",
        ) -> RedirectResponse:
            assert client_id == CLIENT_ID and response_type == "code" and "openid" in scope
            code = secrets.token_urlsafe(16)
            self._codes[code] = {
                "redirect_uri": redirect_uri,
                "nonce": nonce,
                "code_challenge": code_challenge,
                "user": dict(self.user),
            }
            query = urlencode({"code": code, "state": state})
            return RedirectResponse(f"{redirect_uri}?{query}", status_code=302)

        @app.post("/token", response_model=None)
        async def token(
            grant_type: Annotated[str, Form()],
            code: Annotated[str, Form()],
            redirect_uri: Annotated[str, Form()],
            code_verifier: Annotated[str, Form()] = "",
            client_id: Annotated[str, Form()] = "",
            client_secret: Annotated[str, Form()] = "",
            authorization: Annotated[str, Header()] = "",
        ) -> JSONResponse | dict[str, Any]:
            if authorization.startswith("Basic "):
                decoded = base64.b64decode(authorization[6:]).decode()
                client_id, _, client_secret = decoded.partition(":")
            if (client_id, client_secret) != (CLIENT_ID, CLIENT_SECRET):
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            grant = self._codes.pop(code, None)
            if grant_type != "authorization_code" or grant is None:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            challenge = base64.urlsafe_b64encode(hashlib.sha256(code_verifier.encode()).digest())
            if grant["redirect_uri"] != redirect_uri or (
                challenge.rstrip(b"=").decode() != grant["code_challenge"]
            ):
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            now = int(time.time())
            claims = {
                "iss": self.url,
                "aud": CLIENT_ID,
                "iat": now,
                "exp": now + 300,
                "nonce": grant["nonce"],
                **grant["user"],
                **self.id_token_overrides,
            }
            header = {"alg": "ES256", "kid": self.key.kid}
            return {
                "access_token": secrets.token_urlsafe(16),
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": jwt.encode(header, claims, self.forging_key or self.key),
            }

        return app


@contextmanager
def serving_on_loopback(app: FastAPI) -> Iterator[str]:
    """``app`` served by uvicorn in a thread on a free 127.0.0.1 port; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the fake issuer did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()
