"""``ziprc figures``: every figure and table of the paper (and this project's own) from one
command, with the expensive stages cached under ``OUT/cache`` so that a rerun resumes."""

from __future__ import annotations


def register(subparsers) -> None:
    from paper_figures import NAMES

    p = subparsers.add_parser(
        "figures", help="regenerate every figure and table (PNG/PDF + JSON, Markdown + JSON)",
        description="Build the paper's figures and tables and this project's own: each figure "
                    "as OUT/NAME.png, .pdf and .json (the data it plots and its provenance), each "
                    "table as OUT/NAME.md and .json. Shared stages (study sweeps, the trained "
                    "model, rollouts, timings) are cached under OUT/cache: a second or "
                    "interrupted run resumes. Names: " + ", ".join(NAMES) + ".")
    p.add_argument("--out", default="runs/figures", help="output directory (default runs/figures)")
    p.add_argument("--only", default=None, metavar="NAMES",
                   help="comma-separated subset of the names above (default: all)")
    p.add_argument("--fast", action="store_true",
                   help="smoke configuration: small sweeps and a small model (a few minutes on 2 "
                        "cores); what the tests run")
    p.add_argument("--no-progress", action="store_true", help="no progress lines or bars")
    p.set_defaults(func=run)


def run(args) -> int:
    from paper_figures.run import build, parse_names

    names = parse_names(args.only)
    build(names, args.out, fast=args.fast, progress=not args.no_progress)
    return 0
