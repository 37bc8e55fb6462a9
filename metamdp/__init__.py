"""The ZIP-RC meta-MDP engine: grids, joints, order statistics, the sampling utility,
strategy search, ZIP-RC's greedy planner, exact evaluation, and the policies
(:mod:`metamdp.policies`: the ``Policy``/``View``/``Action`` interface and the reference
definitions of ZIP-RC and the baselines).

This package imports no other package of the project.
"""

from .grids import OFFICIAL_LENGTH_EDGES, GridError, LengthGrid, RewardGrid
from .joints import JointError, expected_remaining, expected_value, truncate, validate_joint
from .planner import (NORMALIZERS, SEARCHES, Decision, PlannerConfig, PlannerError, PlanningState,
                      Strategy, plan, plan_reference, strategy_value)

__version__ = "0.1.0"

__all__ = [
    "OFFICIAL_LENGTH_EDGES", "GridError", "LengthGrid", "RewardGrid", "JointError",
    "expected_remaining", "expected_value", "truncate", "validate_joint", "NORMALIZERS",
    "SEARCHES", "Decision", "PlannerConfig", "PlannerError", "PlanningState", "Strategy",
    "plan", "plan_reference", "strategy_value", "__version__",
]
