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
    "ziprc_cli.figures_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ziprc",
        description="ZIP-RC testbed: exact checks of the dominance theorem, policy studies, "
                    "and sampling with a model that predicts its own reward and length.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        if importlib.util.find_spec(name) is None:
            continue
        importlib.import_module(name).register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
