"""The docker-compose deployment, checked without a Docker engine.

``docker-compose.yml`` is read with PyYAML and its variables substituted from
a .env that ``scripts/compose_env.py`` writes; each service's environment is
then handed to that service's settings class in production mode, so a typo, a
variable nobody reads or a missing secret fails here. When a Compose client is
installed (Debian's ``docker-compose``, or ``docker compose``) it checks the
file too. The Dockerfile is checked for the build the compose file relies on.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import AliasChoices

from services.cli import build_parser
from services.common.settings import DEVELOPMENT_SERVICE_SCOPES, ServiceSettings
from services.seed import ADMIN_SECRET_ENV, SEEDED_SERVICES
from services.serve import APPS, DASHBOARD, DEFAULT_PORTS, SERVICES
from services.up import Suite, child_environment

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
ENV_SCRIPT = ROOT / "scripts" / "compose_env.py"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

PUBLIC_HOST = "localhost"
INTERNAL_ISSUER = "http://auth:8001"
SETTINGS = {cls.service_name: cls for cls in ServiceSettings.__subclasses__()}
TOKEN_CLIENTS = ("prosumer", "manager", "market")
"""The services that get tokens of their own (``ServiceTokenClient``)."""

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}, and $$.
VARIABLE = re.compile(r"\$\$|\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


# -- reading the files --------------------------------------------------------------------------


def generated_env() -> dict[str, str]:
    """A .env as ``scripts/compose_env.py`` prints it (fresh random secrets)."""
    printed = subprocess.run(
        [sys.executable, str(ENV_SCRIPT)], capture_output=True, text=True, check=True
    ).stdout
    return parse_env(printed)


def parse_env(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {name.strip(): value.strip() for name, value in pairs if not name.startswith("#")}


def interpolate(value: Any, variables: dict[str, str]) -> Any:
    """``value`` with Compose's variable substitution applied to every string in it."""
    if isinstance(value, dict):
        return {key: interpolate(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, variables) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name", "op", "arg")
        present = variables.get(name)
        if op and op.startswith(":") and present == "":
            present = None
        if present is not None:
            return present
        if op and op.endswith("?"):
            raise KeyError(f"{name}: {arg}")
        return arg if op else ""

    return VARIABLE.sub(substitute, value)


@cache
def raw_compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return document


@cache
def default_env() -> dict[str, str]:
    return generated_env()


def compose(variables: dict[str, str] | None = None) -> dict[str, Any]:
    """docker-compose.yml, anchors merged, with ``variables`` (a generated .env) substituted."""
    return dict(interpolate(raw_compose(), default_env() if variables is None else variables))


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "environment is written as a mapping (anchors merge it)"
    return {name: "" if value is None else str(value) for name, value in env.items()}


def env_names(settings_class: type[ServiceSettings]) -> set[str]:
    """Every environment variable ``settings_class`` reads (upper case)."""
    prefix = str(settings_class.model_config.get("env_prefix", ""))
    names = set()
    for field_name, field in settings_class.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names |= {choice.upper() for choice in alias.choices if isinstance(choice, str)}
        else:
            names.add(f"{prefix}{field_name}".upper())
    return names


def settings_from(
    env: dict[str, str], settings_class: type[ServiceSettings], monkeypatch: pytest.MonkeyPatch
) -> ServiceSettings:
    """``settings_class`` built from ``env`` alone, as the container's process would build it."""
    for name in list(os.environ):
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return settings_class()


def published(service: dict[str, Any]) -> dict[int, int]:
    """Published port -> container port, from ``"8001:8001"`` entries."""
    pairs = (str(entry).rsplit(":", 2)[-2:] for entry in service.get("ports", []))
    return {int(host): int(container) for host, container in pairs}


def browser_url(service: str) -> str:
    return f"http://{PUBLIC_HOST}:{DEFAULT_PORTS[service]}"


# -- the services -------------------------------------------------------------------------------


def test_every_app_is_a_service_of_the_one_image_serving_it():
    services = compose()["services"]
    for app in APPS:
        assert services[app]["command"] == ["serve", app]
        assert services[app]["build"] == "."
        assert services[app]["image"] == services[APPS[0]]["image"]


def test_every_service_publishes_its_default_port():
    services = compose()["services"]
    for app in APPS:
        port = DEFAULT_PORTS[app]
        assert published(services[app]) == {port: port}
    assert "ports" not in services["mongo"], "MongoDB is reached by the services only"


def test_every_service_checks_its_own_health_on_its_port():
    services = compose()["services"]
    for app in APPS:
        test = " ".join(services[app]["healthcheck"]["test"])
        assert f"http://127.0.0.1:{DEFAULT_PORTS[app]}/healthz" in test
    assert "ping" in " ".join(services["mongo"]["healthcheck"]["test"])


@pytest.mark.parametrize("app", APPS)
def test_every_variable_a_service_gets_is_one_its_settings_read(app):
    unread = set(environment(compose()["services"][app])) - env_names(SETTINGS[app])
    assert not unread, f"{app} gets variables its settings never read: {sorted(unread)}"


@pytest.mark.parametrize("app", APPS)
def test_every_service_s_settings_validate_in_production(app, monkeypatch):
    settings = settings_from(environment(compose()["services"][app]), SETTINGS[app], monkeypatch)
    assert settings.environment == "production"
    assert settings.host == "0.0.0.0"
    assert settings.listen_port == DEFAULT_PORTS[app]
    assert settings.issuer_url == browser_url("auth")


@pytest.mark.parametrize("app", SERVICES)
def test_a_service_without_its_client_secret_is_refused(app, monkeypatch):
    env = environment(compose()["services"][app])
    del env[f"{app.upper()}_CLIENT_SECRET"]
    with pytest.raises(ValueError, match="client_secret must be set in production"):
        settings_from(env, SETTINGS[app], monkeypatch)


@pytest.mark.parametrize("app", SERVICES)
def test_a_service_without_the_secret_key_is_refused(app, monkeypatch):
    env = environment(compose()["services"][app])
    del env[f"{app.upper()}_SECRET_KEY"]
    with pytest.raises(ValueError, match="secret_key must be set in production"):
        settings_from(env, SETTINGS[app], monkeypatch)


@pytest.mark.parametrize("app", SERVICES)
def test_the_services_reach_the_issuer_inside_and_keep_their_data_in_mongo(app, monkeypatch):
    settings = settings_from(environment(compose()["services"][app]), SETTINGS[app], monkeypatch)
    assert settings.issuer_internal_url == INTERNAL_ISSUER
    assert settings.mongodb_uri is not None
    uri = urlsplit(settings.mongodb_uri.get_secret_value())
    assert (uri.hostname, uri.port) == ("mongo", 27017)


def test_the_peers_up_sets_are_reached_by_service_name(tmp_path, monkeypatch):
    suite = Suite(host="127.0.0.1", ports=dict(DEFAULT_PORTS))
    args = argparse.Namespace(data_dir=tmp_path, speed=1.0, tick=1.0)
    peers = {
        name
        for name in child_environment(suite, args)
        if name.endswith(("_URL", "_URLS")) and name.split("_")[0].lower() in SERVICES
    }
    assert peers == {
        "PROSUMER_WEATHER_URL",
        "SIMULATION_WEATHER_URL",
        "PROSUMER_SIMULATION_URLS",
        "MANAGER_SIMULATION_URLS",
    }
    services = compose()["services"]
    for name in peers:
        app, field = name.lower().split("_", 1)
        peer = field.split("_")[0]
        settings = settings_from(environment(services[app]), SETTINGS[app], monkeypatch)
        url = f"http://{peer}:{DEFAULT_PORTS[peer]}"
        assert getattr(settings, field) == ([url] if field.endswith("urls") else url), name


def test_every_internal_url_names_a_service_on_its_port():
    services = compose()["services"]
    for name, service in services.items():
        for value in [*environment(service).values(), *map(str, service.get("command", []))]:
            for url in re.findall(r"https?://[^\s\",']+", value):
                parts = urlsplit(url)
                if parts.hostname in services and parts.hostname != "mongo":
                    assert parts.port == DEFAULT_PORTS[parts.hostname], f"{name}: {url}"


def test_the_issuer_knows_each_token_client_by_the_secret_that_service_holds(monkeypatch):
    variables = generated_env()
    services = compose(variables)["services"]
    auth = settings_from(environment(services["auth"]), SETTINGS["auth"], monkeypatch)
    clients = auth.service_client_configs()
    assert set(clients) == set(DEVELOPMENT_SERVICE_SCOPES)
    for client_id, client in clients.items():
        assert client.scopes == DEVELOPMENT_SERVICE_SCOPES[client_id]
    for app in TOKEN_CLIENTS:
        holder = settings_from(environment(services[app]), SETTINGS[app], monkeypatch)
        assert holder.client_id == app
        assert clients[app].secret == holder.client_secret
    assert clients["admin"].secret.get_secret_value() == variables[ADMIN_SECRET_ENV]


def test_the_browser_is_sent_back_to_the_dashboard_and_may_call_from_it(monkeypatch):
    services = compose()["services"]
    auth = settings_from(environment(services["auth"]), SETTINGS["auth"], monkeypatch)
    dashboard = browser_url(DASHBOARD)
    assert auth.redirect_uris == [f"{dashboard}/callback"]
    assert auth.post_logout_redirect_uris == [f"{dashboard}/"]
    for app in SERVICES:
        settings = settings_from(environment(services[app]), SETTINGS[app], monkeypatch)
        assert settings.cors_origins == [dashboard]


def test_the_dashboard_hands_the_browser_the_published_urls(monkeypatch):
    env = environment(compose()["services"][DASHBOARD])
    settings = settings_from(env, SETTINGS[DASHBOARD], monkeypatch)
    assert settings.service_urls() == {app: browser_url(app) for app in SERVICES}
    assert "MONGODB_URI" not in env, "the dashboard holds no data, nor the database password"


def test_the_public_host_moves_every_browser_facing_url(monkeypatch):
    variables = {**generated_env(), "GRIDMARKET_PUBLIC_HOST": "grid.example.org"}
    services = compose(variables)["services"]
    dashboard = settings_from(environment(services[DASHBOARD]), SETTINGS[DASHBOARD], monkeypatch)
    assert set(dashboard.service_urls().values()) == {
        f"http://grid.example.org:{DEFAULT_PORTS[app]}" for app in SERVICES
    }
    auth = settings_from(environment(services["auth"]), SETTINGS["auth"], monkeypatch)
    assert auth.redirect_uris == ["http://grid.example.org:8000/callback"]
    assert auth.issuer_internal_url == INTERNAL_ISSUER


def test_mongodb_keeps_its_data_in_a_named_volume_and_knows_the_services_password():
    variables = generated_env()
    document = compose(variables)
    mongo = document["services"]["mongo"]
    assert mongo["image"] == "mongo:7"
    assert "mongo-data:/data/db" in mongo["volumes"] and "mongo-data" in document["volumes"]
    assert mongo["environment"]["MONGO_INITDB_ROOT_PASSWORD"] == variables["MONGODB_PASSWORD"]
    uri = urlsplit(environment(document["services"]["auth"])["MONGODB_URI"])
    assert (uri.username, uri.password) == (
        mongo["environment"]["MONGO_INITDB_ROOT_USERNAME"],
        variables["MONGODB_PASSWORD"],
    )


def test_the_services_start_once_storage_and_the_issuer_are_healthy():
    services = compose()["services"]
    assert services["auth"]["depends_on"] == {"mongo": {"condition": "service_healthy"}}
    for app in SERVICES:
        if app != "auth":
            needs = services[app]["depends_on"]
            assert needs["mongo"] == needs["auth"] == {"condition": "service_healthy"}


# -- seeding ------------------------------------------------------------------------------------


def test_the_seed_is_a_one_shot_of_the_demo_profile_after_the_services():
    seed = compose()["services"]["seed"]
    assert seed["profiles"] == ["demo"] and seed["restart"] == "no"
    assert set(seed["depends_on"]) >= set(SEEDED_SERVICES)
    assert set(environment(seed)) == {ADMIN_SECRET_ENV}


def test_the_seed_command_reaches_every_service_by_name():
    command = compose()["services"]["seed"]["command"]
    args = build_parser().parse_args(command)
    for service in SEEDED_SERVICES:
        assert getattr(args, service) == f"http://{service}:{DEFAULT_PORTS[service]}"
    assert args.cell == ""  # the market polls the cell where the seed reaches it


# -- the variables ------------------------------------------------------------------------------


def required_variables() -> set[str]:
    text = COMPOSE_FILE.read_text()
    return {match["name"] for match in VARIABLE.finditer(text) if match["op"] in (":?", "?")}


def test_env_example_documents_exactly_what_compose_requires_and_the_script_writes():
    example = ENV_EXAMPLE.read_text()
    listed = set(parse_env(example))
    generated = generated_env()
    secrets = {name for name, value in generated.items() if value}
    assert required_variables() == secrets == listed
    assert all(value == "" for value in parse_env(example).values()), "no secrets in the example"
    for optional in ("GRIDMARKET_PUBLIC_HOST", "OPENWEATHER_API_KEY"):
        assert f"# {optional}=" in example


def test_the_generated_secrets_are_fresh_long_and_url_safe():
    first, second = generated_env(), generated_env()
    for name in required_variables():
        assert re.fullmatch(r"[A-Za-z0-9_-]{40,}", first[name]), name
        assert first[name] != second[name]
    assert len({first[name] for name in required_variables()}) == len(required_variables())


def test_the_script_writes_a_private_env_once_and_never_replaces_it(tmp_path):
    env_file = tmp_path / ".env"
    command = [sys.executable, str(ENV_SCRIPT), "--output", str(env_file)]
    subprocess.run(command, capture_output=True, check=True)
    written = env_file.read_text()
    assert set(parse_env(written)) >= required_variables()
    assert env_file.stat().st_mode & 0o777 == 0o600
    again = subprocess.run(command, capture_output=True, text=True)
    assert again.returncode == 2 and "exists" in again.stderr
    assert env_file.read_text() == written


def test_a_missing_variable_stops_compose():
    with pytest.raises(KeyError, match="set it in .env"):
        compose({})


# -- a Compose client, when one is installed ----------------------------------------------------


def compose_client() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return None


def run_compose_config(env_file: Path, home: Path) -> subprocess.CompletedProcess[str]:
    client = compose_client()
    if client is None:
        pytest.skip("no Compose client (apt-get install docker-compose)")
    return subprocess.run(
        [
            *client,
            "--file",
            str(COMPOSE_FILE),
            "--env-file",
            str(env_file),
            "--profile",
            "demo",
            "config",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        # Nothing from this shell (a GRIDMARKET_SECRET_KEY exported here) may fill a variable.
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(home)},
        timeout=60,
    )


def test_compose_accepts_the_file_with_a_generated_env(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(
        subprocess.run(
            [sys.executable, str(ENV_SCRIPT)], capture_output=True, text=True, check=True
        ).stdout
    )
    checked = run_compose_config(env_file, tmp_path)
    assert checked.returncode == 0, checked.stderr


def test_compose_refuses_the_example_as_it_is(tmp_path):
    checked = run_compose_config(ENV_EXAMPLE, tmp_path)
    assert checked.returncode != 0
    assert "set it in .env" in checked.stderr


# -- the image ----------------------------------------------------------------------------------


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's stages, each a list of (INSTRUCTION, arguments), continuations joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    stages: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, arguments = line.partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        stages[-1].append((instruction.upper(), arguments.strip()))
    return stages


def arguments(stage: list[tuple[str, str]], instruction: str) -> list[str]:
    return [args for name, args in stage if name == instruction]


def test_the_first_stage_builds_the_dashboard_with_locked_dependencies_first():
    build = dockerfile_stages()[0]
    base, _, name = arguments(build, "FROM")[0].partition(" AS ")
    assert base == "node:20-bookworm-slim" and name
    steps = [f"{instruction} {args}" for instruction, args in build]
    lock = steps.index("COPY frontend/package.json frontend/package-lock.json ./")
    install = steps.index("RUN npm ci --no-audit --no-fund")
    sources = steps.index("COPY frontend/ ./")
    built = steps.index("RUN npm run build")
    assert lock < install < sources < built


def test_the_second_stage_serves_that_build_as_a_user_without_privileges():
    build, run = dockerfile_stages()
    name = arguments(build, "FROM")[0].partition(" AS ")[2]
    workdir = arguments(build, "WORKDIR")[-1]
    assert arguments(run, "FROM") == ["python:3.11-slim-bookworm"]
    copied = [args.split() for args in arguments(run, "COPY") if args.startswith("--from=")]
    assert copied == [[f"--from={name}", f"{workdir}/dist", copied[0][2]]]
    env = " ".join(arguments(run, "ENV"))
    assert f"DASHBOARD_DIST_DIR={copied[0][2]}" in env
    assert any("pip install --no-cache-dir" in args for args in arguments(run, "RUN"))
    assert arguments(run, "USER") and arguments(run, "USER")[-1] not in ("root", "0")
    assert arguments(run, "ENTRYPOINT") == ['["gridmarket"]']
    low, high = map(int, arguments(run, "EXPOSE")[0].split("-"))
    assert all(low <= port <= high for port in DEFAULT_PORTS.values())


def test_the_build_context_holds_what_the_image_copies_and_no_secrets():
    ignored = {line.strip() for line in DOCKERIGNORE.read_text().splitlines()}
    for pattern in (".env", ".git", "**/node_modules", "frontend/dist", ".venv", "data"):
        assert pattern in ignored
    for needed in ("pyproject.toml", "README.md", "services", "frontend"):
        assert needed not in ignored and (ROOT / needed).exists()
