"""ZIP-RC with recourse as a policy: the best two-stage strategy, first action, every epoch."""

from __future__ import annotations

from ..planner import PlannerConfig
from ..recourse import RecourseTrustedPlanner
from .base import PolicyConfigError
from .ziprc import ZipRC


class ZipRCRecourse(ZipRC):
    """``ziprc_recourse``: ZIP-RC whose planner also values recourse (:mod:`metamdp.recourse`).

    Every plan is the best *two-stage* strategy: stage 1 is a strategy of ZIP-RC's class
    (keep ``K``, start ``m``, prune at ``h``); then, only if the best finished reward is below
    a grid value ``tau``, ``m2`` fresh samples run to ``h2``. It advances stage 1's first
    action and re-plans like :class:`ZipRC`, whose knobs it takes (``planner="authors"`` is
    not available: the recourse search has our order only).
    """

    name = "ziprc_recourse"
    records_first_plan = False
    # its search is about 5x ZIP-RC's: the default study would take 50 s instead of 14 s
    by_default = False

    def __init__(self, beta: float = 0.01, alpha: float = 0.1, cap: int = 8,
                 search: str = "two-prefix", normalizer: str = "fixed", branching: bool = False,
                 init_k: int = 0, interval: int = 1, floor: str = "down", selection: str = "value",
                 config: PlannerConfig | None = None, planner: str = "ours"):
        if planner != "ours" or (config is not None and config.ordering != "ours"):
            raise PolicyConfigError("policy ziprc_recourse: only planner='ours' (our order) is "
                                    "available")
        super().__init__(beta=beta, alpha=alpha, cap=cap, search=search, normalizer=normalizer,
                         branching=branching, init_k=init_k, interval=interval, floor=floor,
                         selection=selection, config=config, planner=planner)

    def trusted_planner(self, config: PlannerConfig):
        return RecourseTrustedPlanner(config)
