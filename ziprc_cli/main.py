"""Entry point of the ``ziprc`` command.

Each subcommand lives in its own module with ``register(subparsers)``; the module sets
``func`` on its parser. Errors a user can fix (bad worlds, traces, parameters) print one line
``error: ...`` and exit with status 2 instead of a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

COMMAND_MODULES = (
    "ziprc_cli.exact_cmd",
    "ziprc_cli.theorem_cmd",
    "ziprc_cli.study_cmd",
    "ziprc_cli.replay_cmd",
    "ziprc_cli.llm_cmd",
    "ziprc_cli.bench_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ziprc",
        description="ZIP-RC testbed: exact checks of the dominance theorem, policy studies, "
                    "and sampling with a model that predicts its own reward and length.")
    parser.add_argument("--version", action="version", version=f"ziprc {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        if importlib.util.find_spec(name) is None:
            continue
        importlib.import_module(name).register(sub)
    return parser


def _version() -> str:
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version("ziprc-testbed")
    except PackageNotFoundError:  # run from a source tree that was never installed
        from metamdp import __version__

        return __version__


def _chosen_parser(parser: argparse.ArgumentParser, args) -> argparse.ArgumentParser:
    """The innermost (sub)parser the command line selected, e.g. the one of ``ziprc llm demo``."""
    p = parser
    while True:
        action = next((a for a in p._actions if isinstance(a, argparse._SubParsersAction)), None)
        name = getattr(args, action.dest, None) if action is not None else None
        if name not in getattr(action, "choices", {}):
            return p
        p = action.choices[name]


def parse_args(argv=None, parser: argparse.ArgumentParser | None = None) -> argparse.Namespace:
    """Parse ``argv``; an unknown option is reported with the usage of the subcommand it was
    given to (argparse alone reports it against the top-level usage)."""
    parser = parser or build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        _chosen_parser(parser, args).error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError) as e:
        # our error classes derive from ValueError and carry a message naming the culprit
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
