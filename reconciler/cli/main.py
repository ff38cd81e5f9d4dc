"""Entry point of the ``reconciler`` command.

Each subcommand lives in a module of this package exposing ``register(subparsers)``,
which adds its parser and sets ``run`` (``args -> exit code``) as its default.

Exit codes are the same everywhere: 0 success or in sync, 1 error or failed
rollout, 2 changes pending, 64 usage error.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from reconciler import __version__
from reconciler.errors import UsageError
from reconciler.report.logs import configure_logging

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_PENDING = 2
EXIT_USAGE = 64

# One module per subcommand, in the order ``--help`` lists them.
COMMAND_MODULES = (
    "render",
    "lint",
    "plan",
    "apply",
    "status",
    "appspec",
    "history",
    "scale",
    "set-image",
    "rollback",
    "init",
    "run",
    "emulator",
    "demo",
)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error exits 64 as our exit codes say."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="reconciler",
        description="Keep Amazon ECS equal to what a git branch says.",
    )
    parser.add_argument("--version", action="version", version=f"reconciler {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log detail (-vv for debug)"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for name in COMMAND_MODULES:
        # A subcommand's module is named for it, with "_" for "-" (set-image).
        module = importlib.import_module(f"reconciler.cli.{name.replace('-', '_')}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # JSON lines when stderr is not a terminal, so log collectors get fields, not prose.
    configure_logging(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
        stream=sys.stderr,
    )
    try:
        code: int = args.run(args)
    except UsageError as exc:
        print(f"reconciler {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    return code
