"""Write a fresh .env for docker-compose.yml, with random secrets.

    python3 scripts/compose_env.py --output .env
    python3 scripts/compose_env.py --output .env --public-host grid.example.org
    python3 scripts/compose_env.py              # prints it instead

Needs only Python's standard library. Write it once and keep it: the secret
key seals the issuer's signing keys in MongoDB and the MongoDB password is set
when its volume is first created, so a new file for an existing deployment
means new signing keys (every token issued before stops working) and a
password MongoDB does not know. ``--output`` therefore refuses to replace a
file, and creates it readable by its owner only. ``.env.example`` documents
each variable.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import sys
from pathlib import Path

SECRETS = {
    "GRIDMARKET_SECRET_KEY": "every service's secret key; seals the issuer's signing keys",
    "MONGODB_PASSWORD": "MongoDB's root user 'gridmarket', set when its volume is created",
    "AUTH_CLIENT_SECRET": "the auth service's client secret (it requests no tokens)",
    "MANAGER_CLIENT_SECRET": "the manager service's client secret (grid.push)",
    "PROSUMER_CLIENT_SECRET": "the prosumer service's client secret (grid.push)",
    "MARKET_CLIENT_SECRET": "the market service's client secret (grid.poll)",
    "SIMULATION_CLIENT_SECRET": "the simulation service's client secret (it requests no tokens)",
    "WEATHER_CLIENT_SECRET": "the weather service's client secret (it requests no tokens)",
    "GRIDMARKET_ADMIN_CLIENT_SECRET": "the admin client's secret (seeding, operators)",
}
"""The variables docker-compose.yml requires, and what each is."""
SECRET_BYTES = 32
"""256 random bits each, URL-safe base64: safe in JSON and in a MongoDB URI."""
HOST_PATTERN = re.compile(r"^[A-Za-z0-9.-]{1,253}$")


def render(public_host: str | None = None) -> str:
    """The .env file's text: a new random value for every secret."""
    lines = [
        "# docker-compose.yml's secrets, made by scripts/compose_env.py. Keep this file private,",
        "# and keep it: see .env.example before replacing it.",
        "",
    ]
    for name, meaning in SECRETS.items():
        lines += [f"# {meaning}", f"{name}={secrets.token_urlsafe(SECRET_BYTES)}"]
    lines += [
        "",
        "# Where browsers reach the suite (published ports 8000-8006 on this host).",
        f"GRIDMARKET_PUBLIC_HOST={public_host}"
        if public_host
        else "# GRIDMARKET_PUBLIC_HOST=localhost",
        "# OpenWeatherMap instead of the synthetic weather model.",
        "# OPENWEATHER_API_KEY=",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Write a fresh .env for docker-compose.yml, with random secrets."
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="the file to create (refused if it exists); standard output when omitted",
    )
    parser.add_argument(
        "--public-host",
        help="the host name browsers use to reach the suite (default: localhost)",
    )
    args = parser.parse_args(argv)
    if args.public_host is not None and not HOST_PATTERN.fullmatch(args.public_host):
        parser.error("--public-host must be a plain host name or address, without port or scheme")
    text = render(args.public_host)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        descriptor = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        parser.error(f"{args.output} exists: keep it (see .env.example), or remove it first")
    with os.fdopen(descriptor, "w") as output:
        output.write(text)
    print(f"wrote {args.output}; keep it, and keep it private")
    return 0


if __name__ == "__main__":
    sys.exit(main())
