"""OpenID Connect endpoints and the pages a browser sees: sign in, register, sign out.

With an external issuer configured (see ``external.py``) the login page also
offers "Sign in with <issuer>" (``/login/external``, whose answer comes back to
``/login/external/callback``), or goes straight there when ``oidc_only`` is set.

The token and revocation endpoints answer errors as OAuth 2.0 says
(``{"error": "invalid_grant", "error_description": ...}``, RFC 6749 section 5.2),
not in the suite's ``{"error", "detail"}`` shape: OAuth client libraries read
exactly those fields. Every other route keeps the suite's shape.

The HTML forms are protected against cross-site posts by a double-submit token
(a ``SameSite=Strict`` cookie that the form must repeat) and, when the browser
sends one, an ``Origin`` that must be the issuer's own.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote_plus, urlencode, urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.auth.domain import (
    MIN_PASSWORD_LENGTH,
    AuthorizePageError,
    AuthorizeRedirectError,
    AuthorizeRequest,
    new_secret,
)
from services.auth.external import ExternalLogin, ExternalLoginError
from services.auth.identity import ServiceDep, UserDep, client_address
from services.auth.issuer import OAuthError
from services.auth.schemas import (
    AuthorizeQuery,
    Discovery,
    Jwks,
    LoginForm,
    LogoutQuery,
    OAuthErrorBody,
    Registration,
    RegistrationForm,
    RevocationRequest,
    TokenRequest,
    TokenResponse,
    UserInfo,
    form_body,
    query_parameters,
)
from services.auth.service import AuthService, InvalidCredentialsError, TooManyAttemptsError
from services.common.errors import (
    AppError,
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    UnauthorizedError,
    error_responses,
)

SESSION_COOKIE = "gm_session"
CSRF_COOKIE = "gm_csrf"
AUTHORIZE_PARAMS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "nonce",
)
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
OAUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": OAuthErrorBody, "description": "OAuth 2.0 error (RFC 6749 section 5.2)"},
    401: {"model": OAuthErrorBody, "description": "invalid_client"},
}
PAGE: dict[str, Any] = {"content": {"text/html": {}}}
REDIRECT: dict[str, Any] = {"description": "redirect to the client or to the next page"}

AddressDep = Annotated[str, Depends(client_address)]

discovery = APIRouter(tags=["openid connect"])
pages = APIRouter(tags=["sign in"])


@functools.cache
def _templates() -> Jinja2Templates:
    return Jinja2Templates(directory=Path(__file__).parent / "templates")


def _page_headers(service: AuthService) -> dict[str, str]:
    # The login form posts to the issuer, which redirects to the client: browsers
    # apply form-action to that redirect too, so the clients' origins are allowed.
    origins = sorted({_origin(uri) for uri in service.issuer.clients.redirect_uris})
    return {
        **NO_STORE,
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
        f"form-action 'self' {' '.join(origins)}; frame-ancestors 'none'; base-uri 'none'",
        "X-Frame-Options": "DENY",
        # Not no-referrer: under it, browsers send `Origin: null` with the form's POST,
        # which the same-origin check must refuse. same-origin still sends no Referer
        # (with its state and PKCE challenge) to any other site.
        "Referrer-Policy": "same-origin",
    }


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _page(
    request: Request, service: AuthService, name: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    response = _templates().TemplateResponse(request, name, context, status_code=status_code)
    response.headers.update(_page_headers(service))
    return response


def _message(
    request: Request,
    service: AuthService,
    title: str,
    message: str,
    status_code: int = 200,
) -> HTMLResponse:
    return _page(
        request,
        service,
        "message.html",
        status_code,
        title=title,
        message=message,
        error=status_code >= 400,
    )


def _redirect(location: str, service: AuthService) -> RedirectResponse:
    response = RedirectResponse(location, status_code=303)
    response.headers.update(_page_headers(service))
    return response


def _secure(service: AuthService) -> bool:
    return service.issuer.issuer_url.startswith("https://")


def _set_session_cookie(response: Response, cookie: str, service: AuthService) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=service.issuer.settings.session_seconds,
        path="/",
        secure=_secure(service),
        httponly=True,
        samesite="lax",
    )


async def _form(request: Request) -> dict[str, list[str]]:
    """The form's fields, each with all its values; files are ignored."""
    try:
        form = await request.form()
    except (StarletteHTTPException, ValueError):
        raise OAuthError("invalid_request", "the body is not a readable form") from None
    return {
        key: [value for value in form.getlist(key) if isinstance(value, str)] for key in form.keys()
    }


def _query(request: Request) -> dict[str, list[str]]:
    return {key: request.query_params.getlist(key) for key in request.query_params.keys()}


def _first(fields: Mapping[str, Sequence[str]], name: str) -> str:
    values = fields.get(name) or [""]
    return values[0]


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + "."


def _passed_on(fields: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """The authorization request's parameters among ``fields``, to carry to the next page."""
    return {name: _first(fields, name) for name in AUTHORIZE_PARAMS if fields.get(name)}


# -- CSRF ----------------------------------------------------------------------------------------


def _csrf_token(request: Request) -> str:
    """The browser's form token: the one its cookie holds, or a new one."""
    current = request.cookies.get(CSRF_COOKIE, "")
    return current if 32 <= len(current) <= 64 else new_secret()


def _with_csrf_cookie(response: Response, token: str, service: AuthService) -> Response:
    response.set_cookie(
        CSRF_COOKIE, token, path="/", secure=_secure(service), httponly=True, samesite="strict"
    )
    return response


def _same_origin_post(
    request: Request, fields: Mapping[str, Sequence[str]], service: AuthService
) -> bool:
    """The form came from a page of this issuer: its token matches the cookie, its origin ours."""
    origin = request.headers.get("origin")
    own = {_origin(service.issuer.issuer_url), _origin(str(request.base_url))}
    if origin is not None and origin not in own:
        return False
    cookie = request.cookies.get(CSRF_COOKIE, "")
    submitted = _first(fields, "csrf_token")
    return bool(cookie) and hmac.compare_digest(cookie.encode(), submitted.encode())


# -- discovery and keys --------------------------------------------------------------------------


@discovery.get("/.well-known/openid-configuration", response_model=Discovery)
async def openid_configuration(service: ServiceDep) -> Discovery:
    """The issuer's OpenID Connect discovery document."""
    return service.issuer.discovery()


@discovery.get("/jwks.json", response_model=Jwks)
async def jwks(service: ServiceDep) -> JSONResponse:
    """The public keys that verify this issuer's tokens: the current one and recent ones."""
    return JSONResponse(service.issuer.jwks(), headers={"Cache-Control": "public, max-age=60"})


# -- sign in -------------------------------------------------------------------------------------


def _login_page(
    request: Request,
    service: AuthService,
    auth: AuthorizeRequest,
    *,
    status_code: int = 200,
    error: str | None = None,
    username: str = "",
    headers: Mapping[str, str] | None = None,
) -> Response:
    token = _csrf_token(request)
    params = auth.params()
    response = _page(
        request,
        service,
        "login.html",
        status_code,
        params=params,
        query=urlencode(params),
        csrf_token=token,
        error=error,
        username=username,
        external=service.external.name if service.external else None,
    )
    response.headers.update(headers or {})
    return _with_csrf_cookie(response, token, service)


def _checked(
    request: Request, service: AuthService, fields: Mapping[str, Sequence[str]]
) -> AuthorizeRequest | Response:
    """The authorization request, or the page or redirect that refuses it."""
    try:
        return service.issuer.authorize_request(fields)
    except AuthorizePageError as exc:
        return _message(request, service, "Cannot sign you in", str(exc), 400)
    except AuthorizeRedirectError as exc:
        return _redirect(exc.location, service)


AUTHORIZE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: PAGE,
    303: REDIRECT,
    400: {"description": "unknown client or redirect_uri (a page, never a redirect)"},
}


@pages.get(
    "/authorize",
    response_class=HTMLResponse,
    responses=AUTHORIZE_RESPONSES,
    openapi_extra=query_parameters(AuthorizeQuery),
)
async def authorize(request: Request, service: ServiceDep) -> Response:
    """Start a sign-in (code flow, PKCE S256): the login page, or straight back if signed in."""
    auth = _checked(request, service, _query(request))
    if isinstance(auth, Response):
        return auth
    session = await service.issuer.session(request.cookies.get(SESSION_COOKIE))
    if "none" in auth.prompt and session is None:
        refusal = service.issuer.refusal(auth, "login_required", "the user is not signed in")
        return _redirect(refusal, service)
    if session is not None and "login" not in auth.prompt:
        return _redirect(await service.issuer.issue_code(auth, session), service)
    if service.external is not None and service.external.only:
        return _redirect(_external_start(service, auth), service)
    return _login_page(request, service, auth)


@pages.post(
    "/authorize",
    response_class=HTMLResponse,
    responses={
        **AUTHORIZE_RESPONSES,
        400: {"description": "wrong credentials, or unknown client or redirect_uri"},
        403: {"description": "the form did not come from this issuer's page"},
        429: {"description": "too many failed attempts; see Retry-After"},
    },
    openapi_extra=form_body(LoginForm),
)
async def authorize_submit(request: Request, service: ServiceDep, address: AddressDep) -> Response:
    """Check the login form's credentials; redirects to the client with a one-time code."""
    fields = await _form(request)
    auth = _checked(request, service, fields)
    if isinstance(auth, Response):
        return auth
    username = _first(fields, "username")[:64]
    if not _same_origin_post(request, fields, service):
        return _login_page(
            request,
            service,
            auth,
            status_code=403,
            error="This form has expired. Please sign in again.",
            username=username,
        )
    try:
        account = await service.accounts.authenticate(username, _first(fields, "password"), address)
    except ForbiddenError as exc:
        return _message(request, service, "Cannot sign you in", _sentence(exc.message), 403)
    except TooManyAttemptsError as exc:
        return _login_page(
            request,
            service,
            auth,
            status_code=429,
            error=exc.message,
            username=username,
            headers=exc.headers,
        )
    except InvalidCredentialsError as exc:
        return _login_page(
            request, service, auth, status_code=400, error=exc.message, username=username
        )
    cookie, session = await service.issuer.start_session(account.subject)
    response = _redirect(await service.issuer.issue_code(auth, session), service)
    _set_session_cookie(response, cookie, service)
    return response


# -- sign in with the external issuer ------------------------------------------------------------


def _external_start(service: AuthService, auth: AuthorizeRequest) -> str:
    return f"{service.issuer.issuer_url}/login/external?{urlencode(auth.params())}"


def _external_refusal(
    request: Request, service: AuthService, external: ExternalLogin, message: str, status: int
) -> HTMLResponse:
    return _message(request, service, f"Cannot sign you in with {external.name}", message, status)


def _not_configured(request: Request, service: AuthService) -> HTMLResponse:
    return _message(
        request, service, "Not available", "No external issuer is configured here.", 404
    )


EXTERNAL_RESPONSES: dict[int | str, dict[str, Any]] = {
    302: {"description": "to the external issuer's sign-in"},
    400: {"description": "unknown client or redirect_uri (a page)"},
    404: {"description": "no external issuer is configured (a page)"},
    502: {"description": "the external issuer cannot be reached (a page)"},
}


@pages.get(
    "/login/external",
    response_class=HTMLResponse,
    responses=EXTERNAL_RESPONSES,
    openapi_extra=query_parameters(AuthorizeQuery),
)
async def external_login(request: Request, service: ServiceDep) -> Response:
    """Sign in with the external issuer: the dashboard's authorization request, sent there."""
    external = service.external
    if external is None:
        return _not_configured(request, service)
    auth = _checked(request, service, _query(request))
    if isinstance(auth, Response):
        return auth
    try:
        response = await external.start(request, auth.params())
    except ExternalLoginError as exc:
        return _external_refusal(request, service, external, exc.message, exc.status_code)
    response.headers.update(_page_headers(service))
    return response


@pages.get(
    "/login/external/callback",
    response_class=HTMLResponse,
    responses={
        303: {"description": "signed in: to the dashboard with a one-time code"},
        400: {"description": "refused: an error, a bad ID token, or no sign-in started (a page)"},
        404: {"description": "no external issuer is configured (a page)"},
        502: {"description": "the external issuer cannot be reached (a page)"},
    },
)
async def external_callback(request: Request, service: ServiceDep) -> Response:
    """The external issuer's answer: its user's profile signs in, and the dashboard gets a code."""
    external = service.external
    if external is None:
        return _not_configured(request, service)
    try:
        profile, params = await external.finish(request)
    except ExternalLoginError as exc:
        return _external_refusal(request, service, external, exc.message, exc.status_code)
    except AppError as exc:  # no free username for a new user
        return _external_refusal(
            request, service, external, _sentence(exc.message), exc.status_code
        )
    auth = _checked(request, service, {name: [value] for name, value in params.items()})
    if isinstance(auth, Response):
        return auth
    cookie, session = await service.issuer.start_session(profile.clientid)
    response = _redirect(await service.issuer.issue_code(auth, session), service)
    _set_session_cookie(response, cookie, service)
    return response


# -- register ------------------------------------------------------------------------------------


def _register_page(
    request: Request,
    service: AuthService,
    params: dict[str, str],
    *,
    status_code: int = 200,
    error: str | None = None,
    username: str = "",
) -> Response:
    token = _csrf_token(request)
    response = _page(
        request,
        service,
        "register.html",
        status_code,
        params=params,
        query=urlencode(params),
        csrf_token=token,
        error=error,
        username=username,
        min_password=MIN_PASSWORD_LENGTH,
    )
    return _with_csrf_cookie(response, token, service)


@pages.get("/register", response_class=HTMLResponse, responses={200: PAGE})
async def register_page(request: Request, service: ServiceDep) -> Response:
    """The registration form; carries a sign-in in progress along."""
    return _register_page(request, service, _passed_on(_query(request)))


@pages.post(
    "/register",
    response_class=HTMLResponse,
    status_code=201,
    responses={
        201: PAGE,
        303: {"description": "registered and signed in: back to the sign-in in progress"},
        403: {"description": "the form did not come from this issuer's page"},
        409: {"description": "the username is taken"},
        422: {"description": "the username or password is not acceptable"},
    },
    openapi_extra=form_body(RegistrationForm),
)
async def register_submit(request: Request, service: ServiceDep) -> Response:
    """Create an account from the form; signs in and resumes the sign-in in progress, if any."""
    fields = await _form(request)
    params = _passed_on(fields)
    username = _first(fields, "username")[:64]

    def again(status_code: int, error: str) -> Response:
        return _register_page(
            request, service, params, status_code=status_code, error=error, username=username
        )

    if not _same_origin_post(request, fields, service):
        return again(403, "This form has expired. Please try again.")
    password = _first(fields, "password")
    if password != _first(fields, "password_confirm"):
        return again(422, "The two passwords differ.")
    try:
        registration = Registration(username=username, password=password)
        profile = await service.accounts.register(registration.username, registration.password)
    except ValidationError as exc:
        field = str(exc.errors()[0]["loc"][0])
        return again(422, f"The {field} is not acceptable: {exc.errors()[0]['msg']}.")
    except (InvalidInputError, ConflictError, ForbiddenError) as exc:
        return again(exc.status_code, _sentence(exc.message))
    if not params.get("client_id"):
        return _message(request, service, "Account created", f"Welcome, {profile.username}.", 201)
    cookie, _ = await service.issuer.start_session(profile.clientid)
    response = _redirect(f"{service.issuer.issuer_url}/authorize?{urlencode(params)}", service)
    _set_session_cookie(response, cookie, service)
    return response


# -- tokens --------------------------------------------------------------------------------------


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    """HTTP Basic client credentials (RFC 6749 section 2.3.1: each part form-encoded)."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        raise OAuthError("invalid_client", "use HTTP Basic or client_secret_post", status_code=401)
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        decoded = ""
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise OAuthError(
            "invalid_client",
            "malformed Basic credentials",
            status_code=401,
            headers={"WWW-Authenticate": 'Basic realm="gridmarket"'},
        )
    return unquote_plus(client_id), unquote_plus(secret)


@discovery.post(
    "/token",
    response_model=TokenResponse,
    responses=OAUTH_ERRORS,
    openapi_extra=form_body(TokenRequest),
)
async def token(request: Request, service: ServiceDep) -> JSONResponse:
    """Tokens for an authorization code, a refresh token or a service's client credentials."""
    fields = await _form(request)
    answer = await service.issuer.token(fields, _basic_credentials(request))
    return JSONResponse(answer.model_dump(exclude_none=True), headers=NO_STORE)


@discovery.post(
    "/revoke",
    response_class=Response,
    responses={200: {"description": "revoked, or nothing to revoke"}, **OAUTH_ERRORS},
    openapi_extra=form_body(RevocationRequest),
)
async def revoke(request: Request, service: ServiceDep) -> Response:
    """Revoke a refresh token and its family (RFC 7009); access tokens simply expire."""
    fields = await _form(request)
    await service.issuer.revoke(fields, _basic_credentials(request))
    return Response(status_code=200, headers=NO_STORE)


async def oauth_error(_: Request, exc: Exception) -> JSONResponse:
    """Render an ``OAuthError`` as RFC 6749 section 5.2 says."""
    assert isinstance(exc, OAuthError)
    body = OAuthErrorBody(error=exc.error, error_description=exc.description)
    return JSONResponse(
        body.model_dump(), status_code=exc.status_code, headers={**NO_STORE, **exc.headers}
    )


# -- the signed-in user --------------------------------------------------------------------------


USERINFO_ERRORS = error_responses(UnauthorizedError, ForbiddenError, NotFoundError)


@discovery.get("/userinfo", response_model=UserInfo, responses=USERINFO_ERRORS)
async def userinfo(caller: UserDep, service: ServiceDep) -> UserInfo:
    """The caller's profile, with ``sub`` (OpenID Connect UserInfo)."""
    profile = await service.profiles.get(caller.subject)
    return UserInfo(
        **profile.model_dump(), sub=profile.clientid, preferred_username=profile.username
    )


@discovery.post("/userinfo", response_model=UserInfo, responses=USERINFO_ERRORS)
async def userinfo_by_post(caller: UserDep, service: ServiceDep) -> UserInfo:
    """The caller's profile, with ``sub``: UserInfo by POST, as OpenID Connect also allows."""
    return await userinfo(caller, service)


LOGOUT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: PAGE,
    303: {"description": "signed out: to the registered post_logout_redirect_uri"},
    400: {"description": "signed out, but post_logout_redirect_uri is not registered"},
}


@pages.get(
    "/logout",
    response_class=HTMLResponse,
    responses=LOGOUT_RESPONSES,
    openapi_extra=query_parameters(LogoutQuery),
)
async def logout(request: Request, service: ServiceDep) -> Response:
    """Sign out: ends the login session and revokes the refresh tokens it gave."""
    return await _logout(request, service, _query(request))


@pages.post(
    "/logout",
    response_class=HTMLResponse,
    responses=LOGOUT_RESPONSES,
    openapi_extra=form_body(LogoutQuery),
)
async def logout_by_post(request: Request, service: ServiceDep) -> Response:
    """Sign out, the parameters in a form: ends the session and revokes its refresh tokens."""
    return await _logout(request, service, _query(request) | await _form(request))


async def _logout(
    request: Request, service: AuthService, fields: Mapping[str, Sequence[str]]
) -> Response:
    await service.issuer.end_session(
        request.cookies.get(SESSION_COOKIE), _first(fields, "id_token_hint") or None
    )
    target = _first(fields, "post_logout_redirect_uri")
    response: Response
    if target and service.issuer.clients.post_logout_allowed(target):
        state = _first(fields, "state") or None
        if state:
            target += ("&" if "?" in target else "?") + urlencode({"state": state})
        response = _redirect(target, service)
    elif target:
        response = _message(
            request,
            service,
            "Signed out",
            "You are signed out. The page that sent you here is not registered, "
            "so you are not sent back to it.",
            400,
        )
    else:
        response = _message(request, service, "Signed out", "You are signed out.")
    response.delete_cookie(SESSION_COOKIE, path="/", secure=_secure(service), httponly=True)
    return response
