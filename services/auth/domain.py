"""The issuer's rules, in plain Python: no framework, no storage.

Who the clients are, what a scope or a PKCE verifier must look like, how
secrets are hashed before they are stored, when a profile makes its holder a
manager, how failed logins are counted, when a user counts as online, and how
a user of an external issuer is named here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import unicodedata
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

DASHBOARD_CLIENT_ID = "gridmarket-dashboard"
"""The one public client (no secret): the dashboard, which signs users in with code + PKCE."""

USER_SCOPES = ("openid", "profile", "gridmarket")
"""What a user's token may carry; a request without ``scope`` gets all of them."""

ADMIN_SCOPE = "admin"
"""A service client configured with this scope may manage profiles and rotate keys."""

LEEWAY_S = 30
"""Clock skew tolerated on ``exp``/``iat``/``nbf``, as every verifier of the suite does."""

MANAGER_LEVEL = 2
"""A manager privilege at this level or above lets a user manage profiles and keys."""

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256
INVALID_CREDENTIALS = "invalid username or password"
"""The one answer to a wrong password and to an unknown user, so neither can be told apart."""

USERNAME_PATTERN = r"^[A-Za-z0-9_.@+-]{3,64}$"
SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")  # RFC 6749 section 3.3
PKCE_VALUE = re.compile(r"[A-Za-z0-9._~-]{43,128}")  # RFC 7636 section 4.1
S256_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")  # base64url of a SHA-256 digest, unpadded
PROMPTS = frozenset({"none", "login", "consent", "select_account"})
STATE_MAX_LENGTH = 512


def new_secret() -> str:
    """A fresh unguessable token (256 bits), URL-safe."""
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """SHA-256 of a token, hex: what is stored instead of the token itself.

    Codes, refresh tokens and session cookies carry 256 random bits, so a plain
    hash is enough: no salt or slow hash is needed to stop a dictionary attack.
    """
    return hashlib.sha256(secret.encode()).hexdigest()


def pkce_matches(verifier: str, challenge: str) -> bool:
    """Whether ``verifier`` answers an S256 ``challenge`` (RFC 7636 section 4.6)."""
    if not PKCE_VALUE.fullmatch(verifier):
        return False
    computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return hmac.compare_digest(computed.rstrip(b"=").decode(), challenge)


def parse_scope(text: str | None) -> list[str] | None:
    """The scope tokens of ``text`` in order, each once; None if one is malformed."""
    tokens: list[str] = []
    for token in (text or "").split(" "):
        if not token:
            continue
        if not SCOPE_TOKEN.fullmatch(token):
            return None
        if token not in tokens:
            tokens.append(token)
    return tokens


def username_key(username: str) -> str:
    """Usernames are unique regardless of case: 'Ada' and 'ada' are one account."""
    return username.casefold()


def password_problem(password: str, username: str) -> str | None:
    """Why ``password`` may not be used, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"a password needs at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"a password has at most {MAX_PASSWORD_LENGTH} characters"
    if password.casefold() == username.casefold():
        return "the password may not be the username"
    return None


# -- what the issuer stores ----------------------------------------------------------------------
# Times are unix seconds. Codes, refresh tokens and sessions are stored under the
# digest of the secret the client holds, never under the secret itself.


@dataclass(frozen=True)
class Account:
    """Who may sign in: a username and an Argon2id hash; ``subject`` is the profile's clientid."""

    subject: str
    username: str
    password_hash: str
    created_at: float


@dataclass(frozen=True)
class ExternalIdentity:
    """A user who signs in with the external issuer: no password here, a profile and a name.

    ``subject`` is the profile's clientid, derived from ``issuer`` and ``external_subject``.
    """

    subject: str
    issuer: str
    external_subject: str
    username: str
    created_at: float


@dataclass(frozen=True)
class AuthorizationCode:
    """A one-time code, bound to everything the token request must repeat."""

    digest: str
    client_id: str
    redirect_uri: str
    code_challenge: str
    scope: str
    subject: str
    session_id: str
    auth_time: float
    expires_at: float
    nonce: str | None = None
    used: bool = False
    family_id: str | None = None
    """Once used: the refresh token family it started, revoked if the code comes back."""


@dataclass(frozen=True)
class TokenFamily:
    """Every refresh token descended from one login; revoked together (OAuth Security BCP)."""

    family_id: str
    subject: str
    client_id: str
    scope: str
    session_id: str
    auth_time: float
    expires_at: float
    revoked: bool = False


@dataclass(frozen=True)
class RefreshToken:
    """One refresh token of a family; ``used`` once exchanged, kept to detect its reuse."""

    digest: str
    family_id: str
    expires_at: float
    used: bool = False


@dataclass(frozen=True)
class LoginSession:
    """A browser signed in at the issuer (the login cookie), so /authorize need not ask again."""

    session_id: str
    """The digest of the cookie's value."""
    subject: str
    auth_time: float
    expires_at: float


# -- clients -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceClient:
    """A confidential client of the ``client_credentials`` grant."""

    client_id: str
    secret: str
    scopes: tuple[str, ...]

    def secret_matches(self, presented: str) -> bool:
        return hmac.compare_digest(presented.encode(), self.secret.encode())


@dataclass(frozen=True)
class Clients:
    """Every client the issuer knows: the dashboard and the configured services."""

    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    services: Mapping[str, ServiceClient] = field(default_factory=dict)

    def is_dashboard(self, client_id: str | None) -> bool:
        return client_id == DASHBOARD_CLIENT_ID

    def redirect_allowed(self, redirect_uri: str | None) -> bool:
        """Exact string match against the registered URIs (OAuth 2.0 Security BCP 4.1)."""
        return redirect_uri is not None and redirect_uri in self.redirect_uris

    def post_logout_allowed(self, uri: str | None) -> bool:
        return uri is not None and uri in self.post_logout_redirect_uris

    def service(self, client_id: str | None) -> ServiceClient | None:
        return self.services.get(client_id) if client_id else None


# -- the authorization request -------------------------------------------------------------------


class AuthorizePageError(Exception):
    """An authorization request that names no known client or redirect URI.

    It must not be answered with a redirect (that would make the issuer an open
    redirector): the user sees a page instead.
    """


class AuthorizeRedirectError(Exception):
    """An authorization request from a known client that is refused: the client hears why."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


@dataclass(frozen=True)
class AuthorizeRequest:
    """A checked authorization request."""

    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str
    state: str | None = None
    nonce: str | None = None
    prompt: frozenset[str] = frozenset()

    def params(self) -> dict[str, str]:
        """The request as query parameters, to carry it through a form or a redirect.

        ``prompt`` is left out: it asked for the login form, which is shown by then.
        """
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.scope,
            "code_challenge": self.code_challenge,
            "code_challenge_method": "S256",
        }
        if self.state is not None:
            params["state"] = self.state
        if self.nonce is not None:
            params["nonce"] = self.nonce
        return params


def with_query(uri: str, params: Mapping[str, str | None]) -> str:
    """``uri`` with ``params`` (those not None) added to its query."""
    query = urlencode({key: value for key, value in params.items() if value is not None})
    return f"{uri}{'&' if '?' in uri else '?'}{query}"


def one_value(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    """The one value of a parameter, or None; ValueError if repeated (RFC 6749 section 3.1)."""
    values = params.get(name) or []
    if len(values) > 1:
        raise ValueError(f"the parameter {name!r} is repeated")
    return values[0] if values else None


def error_redirect(
    redirect_uri: str, state: str | None, issuer: str, error: str, description: str
) -> str:
    """The redirect telling a client why its request is refused (with ``iss``, RFC 9207)."""
    return with_query(
        redirect_uri,
        {"error": error, "error_description": description, "state": state, "iss": issuer},
    )


def check_authorize_request(
    params: Mapping[str, Sequence[str]], clients: Clients, issuer: str
) -> AuthorizeRequest:
    """The checked request, ``AuthorizePageError`` or ``AuthorizeRedirectError``.

    Client and redirect URI are checked first: until both are known good, no
    error may be sent by redirect (RFC 6749 section 4.1.2.1). PKCE with S256
    is required (OAuth 2.0 Security BCP); ``plain`` is refused.
    """
    try:
        client_id, redirect_uri = one_value(params, "client_id"), one_value(params, "redirect_uri")
    except ValueError as exc:
        raise AuthorizePageError(str(exc)) from None
    if client_id is None or not clients.is_dashboard(client_id):
        raise AuthorizePageError(f"unknown client {client_id!r}")
    if redirect_uri is None or not clients.redirect_allowed(redirect_uri):
        raise AuthorizePageError("the redirect_uri is not registered for this client")
    try:
        state = one_value(params, "state")
    except ValueError:
        state = None

    def refuse(error: str, description: str) -> AuthorizeRedirectError:
        return AuthorizeRedirectError(
            error_redirect(redirect_uri, state, issuer, error, description)
        )

    try:
        response_type = one_value(params, "response_type")
        scope_text = one_value(params, "scope")
        challenge = one_value(params, "code_challenge")
        method = one_value(params, "code_challenge_method")
        nonce = one_value(params, "nonce")
        prompt_text = one_value(params, "prompt")
        one_value(params, "state")
    except ValueError as exc:
        raise refuse("invalid_request", str(exc)) from None
    if response_type != "code":
        raise refuse("unsupported_response_type", "only response_type=code is supported")
    if method != "S256" or challenge is None:
        raise refuse("invalid_request", "PKCE is required, with code_challenge_method=S256")
    if not S256_CHALLENGE.fullmatch(challenge):
        raise refuse("invalid_request", "code_challenge is not an S256 challenge")
    scopes = parse_scope(scope_text)
    if scopes is None or not set(scopes) <= set(USER_SCOPES):
        raise refuse("invalid_scope", f"scopes offered: {' '.join(USER_SCOPES)}")
    for name, value in (("state", state), ("nonce", nonce)):
        if value is not None and len(value) > STATE_MAX_LENGTH:
            raise refuse("invalid_request", f"{name} is longer than {STATE_MAX_LENGTH} characters")
    prompt = frozenset((prompt_text or "").split())
    if not prompt <= PROMPTS or ("none" in prompt and len(prompt) > 1):
        raise refuse("invalid_request", "prompt is none, login, consent or select_account")
    return AuthorizeRequest(
        client_id=client_id,
        redirect_uri=redirect_uri,
        scope=" ".join(scopes or USER_SCOPES),
        code_challenge=challenge,
        state=state,
        nonce=nonce,
        prompt=prompt,
    )


# -- privileges ----------------------------------------------------------------------------------


def is_manager(manager_levels: Iterable[int]) -> bool:
    """Whether a profile with these manager privilege levels is a manager of the suite."""
    return any(level >= MANAGER_LEVEL for level in manager_levels)


# -- online status -------------------------------------------------------------------------------


def is_online(
    last_seen_s: float | None, now_s: float, window_s: float, *, has_live_grant: bool
) -> bool:
    """Whether a user is online: signed in (a live session or refresh token) and seen lately.

    Seen = signed in, or tokens issued or refreshed, within ``window_s``: the
    dashboard refreshes its access token before it expires, so an open dashboard
    is seen at least once per access-token lifetime. Signing out ends the live
    grants, so it goes offline at once.
    """
    return has_live_grant and last_seen_s is not None and now_s - last_seen_s <= window_s


# -- users of an external issuer -----------------------------------------------------------------

EXTERNAL_CLIENTID_PREFIX = "ext-"
_USERNAME_OUTSIDE = re.compile(r"[^A-Za-z0-9_.@+-]+")
_USERNAME_CLAIMS = ("preferred_username", "email", "name")
_USERNAME_STEM_MAX = 56
"""Room for a ``-NNN`` suffix within the 64 characters of a username."""


def external_clientid(issuer: str, subject: str) -> str:
    """The clientid of an external user: stable for (issuer, sub), and a valid id here.

    OpenID Connect promises ``sub`` unique only within its issuer, so both are
    hashed together; the external ``sub`` may hold any characters, the digest none.
    """
    digest_hex = hashlib.sha256(f"{issuer}|{subject}".encode()).hexdigest()
    return f"{EXTERNAL_CLIENTID_PREFIX}{digest_hex[:32]}"


def external_username(claims: Mapping[str, Any]) -> str:
    """A username for an external user, from ``preferred_username``, ``email`` or ``name``.

    Made to fit the usernames of local accounts (3 to 64 of ``A-Z a-z 0-9 _ . @ + -``):
    accents are dropped and other characters become ``_``; ``user`` when nothing fits.
    """
    for claim in _USERNAME_CLAIMS:
        value = claims.get(claim)
        if not isinstance(value, str):
            continue
        ascii_text = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
        stem = _USERNAME_OUTSIDE.sub("_", ascii_text.strip()).strip("_")[:_USERNAME_STEM_MAX]
        if len(stem) >= 3:
            return stem
    return "user"


def numbered_username(stem: str, attempt: int) -> str:
    """The ``attempt``-th choice of a username: ``stem``, then ``stem-2``, ``stem-3``, ..."""
    return stem if attempt <= 1 else f"{stem[:_USERNAME_STEM_MAX]}-{attempt}"


# -- login throttling ----------------------------------------------------------------------------


class LoginThrottle:
    """Counts failed logins per key (an account, an address) in a sliding window.

    After ``max_failures`` failures within ``window_s`` the key is refused until
    the oldest of them leaves the window. Refused attempts are not counted, so a
    locked account opens again on time whatever an attacker keeps sending.
    State is per process: a restart forgets it, which errs on the side of the users.
    """

    _PRUNE_ABOVE = 1_000

    def __init__(self, max_failures: int, window_s: float, now: Callable[[], float]) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._now = now
        self._failures: dict[str, deque[float]] = {}

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may try again; 0 when it may now."""
        failures = self._failures.get(key)
        if failures is None or len(failures) < self.max_failures:
            return 0.0
        return max(0.0, failures[0] + self.window_s - self._now())

    def failed(self, key: str) -> None:
        now = self._now()
        self._failures.setdefault(key, deque(maxlen=self.max_failures)).append(now)
        if len(self._failures) > self._PRUNE_ABOVE:
            self._forget_before(now - self.window_s)

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)

    def _forget_before(self, cutoff: float) -> None:
        stale = [key for key, times in self._failures.items() if times[-1] < cutoff]
        for key in stale:
            del self._failures[key]
