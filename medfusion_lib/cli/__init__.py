"""The ``medfusion`` command. Each command group lives in its own module with a ``register`` function."""
from __future__ import annotations

import argparse
import importlib
import sys

from medfusion_lib.errors import UserError



def command_modules() -> list[str]:
    """Every module in this package that defines ``register(subparsers)``: adding a file adds a command."""
    import pkgutil

    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


class _Parser(argparse.ArgumentParser):
    """argparse that reports misuse on one line with exit status 2 (its default status, kept)."""

    def error(self, message: str):  # noqa: D401 - argparse API
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="medfusion", description="MedFusion course tools (educational, not for clinical use).")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for name in command_modules():
        importlib.import_module(f"medfusion_lib.cli.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except UserError as exc:
        print(f"medfusion: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("medfusion: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
