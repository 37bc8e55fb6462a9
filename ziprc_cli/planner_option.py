"""The ``--planner`` option, shared by every command that runs ZIP-RC's planner.

``ours`` is the engine's planner (the defaults of each command's other flags apply);
``authors`` is the planner of the authors' research simulator
(:meth:`metamdp.planner.PlannerConfig.authors`: two-prefix search, state normaliser, a
planned prune charged the midpoint of the next bin, dropped samples re-added in sample
order, no branching). docs/theory.md lists every difference.
"""

from __future__ import annotations

from metamdp.planner import PLANNERS

PLANNER_HELP = ("ZIP-RC's planner: 'ours' (default; the other planner flags apply) or 'authors' "
                "(the authors' research simulator: two-prefix search, D from the state, prune "
                "charged the next bin's midpoint, re-add in sample order, no branching; see "
                "docs/theory.md)")


def add_planner_option(parser, default: str = "ours") -> None:
    """Add ``--planner {ours,authors}`` to ``parser``."""
    parser.add_argument("--planner", choices=PLANNERS, default=default, help=PLANNER_HELP)
