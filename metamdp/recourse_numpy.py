"""NumPy reference of the recourse planner (:mod:`metamdp.recourse`), from the definition.

Each two-stage strategy is valued from the reward CDF of its outcome, with no reservation
shortcut: stage 1's best reward ``M1`` has CDF ``F1`` (the truncated joints of the kept and
new samples and the finished samples' factor), stage 2's ``M2`` has ``F2``, and with the
threshold ``tau = v_t`` the final best reward ``R`` (``M1`` if ``M1 >= tau``, else
``max(M1, M2)``) has

    P(R <= v_b) = F1(b) F2(b)                       for b < t
                = F1(b) - F1(t-1) (1 - F2(b))       for b >= t,

so ``V = E[R] - C1 - F1(t-1) C2`` with the charges ``C = E[max reward] - Q`` of each stage's
closed form (:func:`metamdp.planner.strategy_value_reference`). The search enumerates
every ``(t, m2, h2)`` for every stage 1, in the kernels' visiting order and tie rule.
"""

from __future__ import annotations

import numpy as np

from .joints import truncate
from .planner import (TIE_TOL, PlannerConfig, PlanningState, Strategy, _as_state_arrays,
                      _candidate_masks, _orders, finished_cdf, normalizer_value,
                      strategy_value_reference)
from .recourse import RecourseDecision, TwoStageStrategy, _check_recourse_config


def _reward_cdf(joint, j):
    return np.minimum(np.cumsum(truncate(joint, j).sum(axis=1)), 1.0)


def _e(values, cdf):
    return float(np.diff(cdf, prepend=0.0) @ values)


def stage_cdf(state: PlanningState, strategy: Strategy) -> np.ndarray:
    """CDF of the best reward once a one-stage strategy has run (finished samples included)."""
    B = np.asarray(state.root_joint).shape[0]
    F = finished_cdf(state, B)
    j = strategy.horizon_index
    for i in strategy.keep:
        F = F * _reward_cdf(state.joints[i], j)
    src = state.root_joint if strategy.branch_from is None else state.joints[strategy.branch_from]
    if strategy.new:
        F = F * _reward_cdf(src, j) ** int(strategy.new)
    return F


def _stage1(state, config, first, d):
    """``(Q1, F1, C1)`` of stage 1 from the definition."""
    q1 = strategy_value_reference(state, config, first, d)
    F1 = stage_cdf(state, first)
    return q1, F1, _e(config.rewards.values, F1) - q1


def _stage2(state, config, m2, j2, d):
    """``(F2, C2)`` of ``m2`` fresh root samples run to horizon ``j2``."""
    fresh = PlanningState(joints=np.zeros((0,) + np.asarray(state.root_joint).shape),
                          root_joint=state.root_joint)
    q2 = strategy_value_reference(fresh, config, Strategy(keep=(), new=m2, horizon_index=j2), d)
    F2 = _reward_cdf(state.root_joint, j2) ** m2
    return F2, _e(config.rewards.values, F2) - q2


def _combine(values, F1, c1, F2, c2, t):
    """``V = E[R] - C1 - F1(t-1) C2`` from the CDF of the two-stage outcome ``R``."""
    below = F1[t - 1]  # P(M1 < v_t)
    G = np.where(np.arange(values.size) < t, F1 * F2, F1 - below * (1.0 - F2))
    return _e(values, G) - c1 - below * c2


def two_stage_value_reference(state: PlanningState, config: PlannerConfig,
                              strategy: TwoStageStrategy, normalizer: float) -> float:
    """Value of one two-stage strategy from the definition (slow)."""
    q1, F1, c1 = _stage1(state, config, strategy.first, normalizer)
    if not strategy.has_second_stage:
        return q1
    F2, c2 = _stage2(state, config, int(strategy.new2), int(strategy.horizon2_index), normalizer)
    return _combine(config.rewards.values, F1, c1, F2, c2, int(strategy.tau_index))


def _best_second(state, config, first, d, max_new, B, L, stage2):
    """Best second stage for ``first`` by enumeration (none if nothing beats none);
    ``stage2`` caches :func:`_stage2` per ``(m2, j2)``."""
    q1, F1, c1 = _stage1(state, config, first, d)
    best, best_q = TwoStageStrategy(first), q1
    if first.is_stop:
        return best, best_q
    for m2 in range(1, max_new - first.new + 1):
        for j2 in range(L):
            if (m2, j2) not in stage2:
                stage2[m2, j2] = _stage2(state, config, m2, j2, d)
            F2, c2 = stage2[m2, j2]
            for t in range(1, B):
                q = _combine(config.rewards.values, F1, c1, F2, c2, t)
                if q > best_q:
                    best, best_q = TwoStageStrategy(first, tau_index=t, new2=m2,
                                                    horizon2_index=j2), q
    return best, best_q


def plan_recourse_numpy(state: PlanningState, config: PlannerConfig,
                        normalizer: float | None = None) -> RecourseDecision:
    """The recourse planner from the definition: same searches, visiting order and tie
    rule as :func:`metamdp.recourse.plan_recourse`."""
    _check_recourse_config(config)
    stacked, n = _as_state_arrays(config, state)
    d = normalizer_value(config, state) if normalizer is None else float(normalizer)
    B, L = config.rewards.size, config.lengths.size
    max_new = max(0, config.cap - state.n_created)
    sources = [None] + (list(range(n)) if config.branching else [])

    def keep_of(mask):
        return tuple(i for i in range(n) if (mask >> i) & 1)

    def firsts(mask, j, with_m0, with_new):
        keep = keep_of(mask)
        if with_m0 and keep:
            yield Strategy(keep=keep, new=0, horizon_index=j)
        if with_new:
            for src in sources:
                for m in range(1, max_new + 1):
                    yield Strategy(keep=keep, new=m, horizon_index=j, branch_from=src)

    if config.search == "exhaustive":
        order = []
        for j in range(L):
            order += [(mask, j, True, False) for mask in range(1, 1 << n)]
            order += [(mask, j, False, True) for mask in range(1 << n)]
    else:
        by_length, by_value = _orders(config, stacked, n)
        order = []
        for mask in _candidate_masks(config.search, by_length, by_value):
            order += [(mask, j, True, False) for j in range(L)]
            order += [(mask, j, False, True) for j in range(L)]
    stage2: dict = {}
    best, best_q = _best_second(state, config, Strategy(keep=(), new=0, horizon_index=L - 1), d,
                                max_new, B, L, stage2)
    best_size = 0
    for mask, j, m0, new in order:
        for first in firsts(mask, j, m0, new):
            ts, q = _best_second(state, config, first, d, max_new, B, L, stage2)
            size = len(first.keep) + first.new
            if q > best_q + TIE_TOL or (q >= best_q - TIE_TOL and size > best_size):
                best, best_q, best_size = ts, q, size
    if config.search == "two-prefix" and not best.is_stop:
        f = best.first
        keep = set(f.keep)
        for i in by_value:
            i = int(i)
            if i in keep:
                continue
            trial = Strategy(keep=tuple(sorted(keep | {i})), new=f.new,
                             horizon_index=f.horizon_index, branch_from=f.branch_from)
            ts, q2 = _best_second(state, config, trial, d, max_new, B, L, stage2)
            if q2 >= best_q - TIE_TOL:
                keep.add(i)
                best, best_q = ts, q2
    return RecourseDecision(strategy=best.first, q=float(best_q), normalizer=d, plan=best)
