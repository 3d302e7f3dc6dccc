"""The dashboard's server over HTTP: configuration, the app's files and routes, refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from services.auth.domain import DASHBOARD_CLIENT_ID as ISSUER_DASHBOARD_CLIENT_ID
from services.common.settings import DASHBOARD_CLIENT_ID, DashboardSettings
from services.dashboard.main import create_app
from services.serve import APPS, SERVICES, load_app
from tests.conftest import serving
from tests.dashboard.conftest import (
    INDEX_HTML,
    SCRIPT,
    SCRIPT_PATH,
    SECRET,
    STYLE_PATH,
    make_build,
    make_settings,
)

IMMUTABLE = "public, max-age=31536000, immutable"
DEFAULT_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' blob: data:; "
    "connect-src 'self' http://127.0.0.1:8001 http://127.0.0.1:8002 http://127.0.0.1:8003 "
    "http://127.0.0.1:8004 http://127.0.0.1:8005 http://127.0.0.1:8006; "
    "form-action http://127.0.0.1:8001; frame-ancestors 'none'; base-uri 'self'; "
    "object-src 'none'"
)


def assert_index(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    assert response.text == INDEX_HTML
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"


# -- runtime configuration ---------------------------------------------------------------------


async def test_config_names_the_client_the_environment_and_every_service(client):
    response = await client.get("/config.json")

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-cache"
    assert response.json() == {
        "clientId": "gridmarket-dashboard",
        "environment": "development",
        "services": {
            "auth": "http://127.0.0.1:8001",
            "manager": "http://127.0.0.1:8002",
            "prosumer": "http://127.0.0.1:8003",
            "market": "http://127.0.0.1:8004",
            "simulation": "http://127.0.0.1:8005",
            "weather": "http://127.0.0.1:8006",
        },
    }


async def test_config_comes_from_the_environment_without_trailing_slashes(
    build: Path, monkeypatch: pytest.MonkeyPatch
):
    environment = {
        "GRIDMARKET_ENVIRONMENT": "production",
        "GRIDMARKET_ISSUER_URL": "https://auth.grid.example/",
        "DASHBOARD_MANAGER_URL": "https://grid.example/manager/",
        "DASHBOARD_PROSUMER_URL": "https://grid.example/prosumer",
        "DASHBOARD_MARKET_URL": "https://market.grid.example",
        "DASHBOARD_SIMULATION_URL": "https://cells.grid.example:8443/",
        "DASHBOARD_WEATHER_URL": "https://weather.grid.example",
        "DASHBOARD_DIST_DIR": str(build),
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    async with serving(create_app()) as client:
        config = (await client.get("/config.json")).json()
        index = await client.get("/")

    assert config["environment"] == "production"
    assert config["services"] == {
        "auth": "https://auth.grid.example",
        "manager": "https://grid.example/manager",
        "prosumer": "https://grid.example/prosumer",
        "market": "https://market.grid.example",
        "simulation": "https://cells.grid.example:8443",
        "weather": "https://weather.grid.example",
    }
    assert_index(index)
    assert index.headers["strict-transport-security"].startswith("max-age=")


def test_the_client_id_is_the_one_the_issuer_knows():
    assert DASHBOARD_CLIENT_ID == ISSUER_DASHBOARD_CLIENT_ID


def test_the_build_directory_defaults_to_the_repository_frontend(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("DASHBOARD_DIST_DIR", raising=False)
    repository = Path(__file__).resolve().parents[2]
    assert DashboardSettings().dist_dir == repository / "frontend" / "dist"


@pytest.mark.parametrize(
    "url",
    ["ftp://grid.example", "grid.example", "http://grid.example; script-src *", "http://a b"],
)
def test_a_service_url_that_is_not_a_plain_http_base_is_refused(build: Path, url: str):
    with pytest.raises(ValueError, match="weather_url"):
        make_settings(build, weather_url=url)


# -- the app's files and routes ----------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/index.html",
        "/callback",
        "/callback?code=abc&state=xyz",
        "/manager",
        "/prosumer/house-01",
        "/profile",
        "/prosumer/house-01/",
    ],
)
async def test_the_app_s_routes_answer_index_html_revalidated(client, path: str):
    assert_index(await client.get(path))


async def test_an_asset_is_cached_for_a_year_as_immutable(client):
    response = await client.get(SCRIPT_PATH)

    assert response.status_code == 200
    assert response.text == SCRIPT
    assert response.headers["cache-control"] == IMMUTABLE
    assert response.headers["content-type"].startswith("text/javascript")
    stylesheet = await client.get(STYLE_PATH)
    assert stylesheet.headers["content-type"].startswith("text/css")
    assert stylesheet.headers["cache-control"] == IMMUTABLE


async def test_a_file_of_the_build_outside_assets_is_revalidated(client):
    response = await client.get("/favicon.svg")

    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    assert response.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize(
    "path",
    ["/assets/index-00000000.js", "/assets/old-chunk", "/assets", "/assets/", "/robots.txt"],
)
async def test_a_missing_asset_or_file_is_not_found(client, path: str):
    response = await client.get(path)

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


async def test_an_unchanged_file_is_not_sent_again(client):
    first = await client.get("/")
    again = await client.get("/callback", headers={"If-None-Match": first.headers["etag"]})

    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["cache-control"] == "no-cache"


async def test_head_answers_the_headers_only(client):
    response = await client.head(SCRIPT_PATH)

    assert response.status_code == 200
    assert response.content == b""
    assert int(response.headers["content-length"]) == len(SCRIPT)


async def test_other_methods_are_not_allowed(client):
    response = await client.post("/callback", json={})

    assert response.status_code == 405


async def test_a_build_made_after_start_is_served_without_a_restart(tmp_path: Path):
    dist = tmp_path / "dist"
    async with serving(create_app(make_settings(dist))) as client:
        before = await client.get("/")
        make_build(dist)
        after = await client.get("/")

    assert before.status_code == 503
    assert_index(after)


# -- never outside the build -------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/assets/%2e%2e/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/%2e%2e%2fsecret.txt",
        "/assets/..%2f..%2fsecret.txt",
        "/..%5csecret.txt",
        "/%2e%2e/dist/../secret",
        "/.%2e/secret",
        "/assets/%00.js",
        "/index.html%00.js",
    ],
)
async def test_an_encoded_path_out_of_the_build_is_refused(client, path: str):
    response = await client.get(path)

    assert response.status_code == 404
    assert SECRET not in response.text


async def raw_get(app: Any, path: str) -> tuple[int, bytes]:
    """GET ``path`` exactly as written: no client in between to normalise the dots away."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "server": ("test", 80),
        "client": ("127.0.0.1", 1234),
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"test")],
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    body = b"".join(message.get("body", b"") for message in sent[1:])
    return sent[0]["status"], body


@pytest.mark.parametrize(
    "path", ["/../secret.txt", "/assets/../../secret.txt", "/./../secret", "//../secret.txt"]
)
async def test_dot_segments_out_of_the_build_are_refused(build: Path, path: str):
    status, body = await raw_get(create_app(make_settings(build)), path)

    assert status == 404
    assert SECRET.encode() not in body


async def test_a_link_out_of_the_build_is_not_followed(build: Path, client):
    (build / "assets" / "leak.js").symlink_to(build.parent / "secret.txt")

    response = await client.get("/assets/leak.js")

    assert response.status_code == 404
    assert SECRET not in response.text


# -- not built ---------------------------------------------------------------------------------


async def test_without_a_build_pages_say_how_to_build_it(tmp_path: Path):
    async with serving(create_app(make_settings(tmp_path / "missing"))) as client:
        responses = [await client.get(path) for path in ("/", "/callback", SCRIPT_PATH)]

    for response in responses:
        assert response.status_code == 503
        assert response.headers["content-type"].startswith("text/html")
        assert response.headers["cache-control"] == "no-store"
        page = response.text
        assert "The dashboard is not built" in page
        assert "make run" in page
        assert "npm --prefix frontend ci &amp;&amp; npm --prefix frontend run build" in page
        assert response.headers["content-security-policy"] == DEFAULT_POLICY


async def test_without_a_build_it_is_alive_but_not_ready(tmp_path: Path):
    async with serving(create_app(make_settings(tmp_path / "missing"))) as client:
        health = await client.get("/healthz")
        ready = await client.get("/readyz")
        config = await client.get("/config.json")

    assert health.status_code == 200
    assert health.json()["service"] == "dashboard"
    assert ready.status_code == 503
    assert ready.json()["checks"]["build"].startswith("failed")
    assert config.status_code == 200


async def test_with_a_build_it_is_ready(client):
    response = await client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"build": "ok"}}


async def test_the_not_built_page_names_the_directory_only_in_development(tmp_path: Path):
    missing = tmp_path / "missing"
    production = make_settings(missing, environment="production")
    async with serving(create_app(make_settings(missing))) as client:
        development_page = (await client.get("/")).text
    async with serving(create_app(production)) as client:
        production_page = (await client.get("/")).text

    assert str(missing) in development_page
    assert str(missing) not in production_page


# -- headers -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/callback", SCRIPT_PATH, "/config.json", "/nope.js"])
async def test_every_response_carries_the_security_headers_and_the_app_s_policy(client, path):
    response = await client.get(path)

    assert response.headers["content-security-policy"] == DEFAULT_POLICY
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "strict-transport-security" not in response.headers


async def test_the_policy_lets_the_app_reach_services_behind_a_path_and_names_each_origin_once(
    build: Path,
):
    settings = make_settings(
        build,
        issuer_url="https://auth.grid.example",
        manager_url="https://grid.example/manager",
        prosumer_url="https://grid.example/prosumer/",
        market_url="https://grid.example",
        simulation_url="https://grid.example",
        weather_url="https://weather.grid.example",
    )
    async with serving(create_app(settings)) as client:
        policy = (await client.get("/")).headers["content-security-policy"]

    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["connect-src"] == (
        "'self' https://auth.grid.example https://grid.example/manager/ "
        "https://grid.example/prosumer/ https://grid.example https://weather.grid.example"
    )
    assert directives["form-action"] == "https://auth.grid.example"
    assert directives["script-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"


async def test_the_server_publishes_no_api_documentation(client):
    assert (await client.get("/openapi.json")).status_code == 404
    assert_index(await client.get("/docs"))


# -- gridmarket serve dashboard ----------------------------------------------------------------


def test_serve_knows_the_dashboard_apart_from_the_api_services(
    build: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("DASHBOARD_DIST_DIR", str(build))
    monkeypatch.setenv("DASHBOARD_PORT", "8123")

    app = load_app("dashboard")

    assert "dashboard" in APPS and "dashboard" not in SERVICES
    assert isinstance(app.state.settings, DashboardSettings)
    assert app.state.settings.listen_port == 8123
    assert app.state.settings.dist_dir == build
