"""The auth service: the suite's OpenID Connect issuer, user accounts and profiles."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.middleware.sessions import SessionMiddleware

from services.auth import api, oidc, pictures
from services.auth.external import ExternalLogin, session_middleware_options
from services.auth.issuer import Issuer, OAuthError
from services.auth.repository import (
    AccountRepository,
    GrantRepository,
    KeyRepository,
    ProfileRepository,
)
from services.auth.service import AccountService, AuthService, OnlineStatus, ProfileService
from services.common.app import create_service_app
from services.common.clock import Clock, SimClock
from services.common.runtime import service_runtime
from services.common.settings import AuthSettings

DESCRIPTION = (
    "The suite's OpenID Connect issuer: accounts (username + Argon2id password), sign-in "
    "with the code flow and PKCE, ES256 access and ID tokens, rotating refresh tokens, "
    "client credentials for services, and the user profiles whose privileges the tokens "
    "carry. Discovery at `/.well-known/openid-configuration`."
)


def create_app(settings: AuthSettings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """The auth app; settings from the environment (``AUTH_*``) when not given.

    Logins and tokens run on real time, not simulated time: without a ``clock``
    the service uses the wall clock whatever the suite's speed. Tests pass a
    ``FakeClock`` to move time (token expiry, login throttling) by hand.
    """
    settings = settings or AuthSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        wall_clock = clock or SimClock(1.0, settings.timezone)
        async with service_runtime(settings, clock=wall_clock) as runtime:
            storage, partition = runtime.storage, settings.name
            profile_repository = ProfileRepository(storage, partition)
            issuer = Issuer(
                settings,
                runtime.clock,
                GrantRepository(storage, partition),
                KeyRepository(storage, partition),
                profile_repository,
            )
            await issuer.start()
            profiles = ProfileService(profile_repository, now=runtime.clock.now)
            accounts = AccountService(
                settings,
                runtime.clock,
                AccountRepository(storage, partition),
                profiles,
                issuer,
            )
            app.state.runtime = runtime
            app.state.service = AuthService(
                profiles=profiles,
                accounts=accounts,
                issuer=issuer,
                online=OnlineStatus(settings, runtime.clock, profiles, issuer),
                external=ExternalLogin.configured(settings, runtime.clock, accounts),
            )
            # No tick loop: everything here happens on request.
            yield

    app = create_service_app(
        title="Auth",
        description=DESCRIPTION,
        lifespan=lifespan,
        routers=[oidc.discovery, oidc.pages, api.login, api.account, api.profiles, api.keys],
        settings=settings,
    )
    app.include_router(pictures.router)
    app.add_exception_handler(OAuthError, oidc.oauth_error)
    if settings.oidc_issuer:
        # Where authlib keeps the state, nonce and PKCE verifier of a sign-in in progress.
        app.add_middleware(SessionMiddleware, **session_middleware_options(settings))
    app.state.settings = settings
    return app
