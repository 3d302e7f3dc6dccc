"""The ``gridmarket`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from services import seed, serve, simulate, up


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gridmarket", description="A simulator of a local electricity market."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    simulate.add_parser(commands)
    serve.add_parser(commands)
    up.add_parser(commands)
    seed.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.run(args, parser))


if __name__ == "__main__":
    sys.exit(main())
