"""Timing of one ZIP-RC decision: through :func:`plan` (validation included), through the
hot callers' trusted path, the Numba kernel alone, and the vectorised NumPy reference, all
alternated in the same loop so that they see the same machine load.

Used by ``ziprc bench`` (section ``planner``) and by the ``planner_speed`` figure.
"""

from __future__ import annotations

import time

import numpy as np

from .grids import LengthGrid, RewardGrid
from .planner import (_SEARCH_CODE, TIE_TOL, PlannerConfig, PlanningState, finished_cdf,
                      normalizer_value, plan, plan_kernel_dist, stack_joints)
from .planner_numpy import plan_numpy

SAMPLE_COUNTS = (2, 4, 8, 12)
SEARCHES = ("exhaustive", "two-prefix")


def planner_timing(repeats: int = 200, seed: int = 0, counts=SAMPLE_COUNTS,
                   searches=SEARCHES) -> dict:
    """Median time of one decision on the official 7 x 8 layout, Numba and NumPy alternated.

    The cap is ``max(8, n)``: with 8 or more unfinished samples no new sample may start (the
    paper's setting, cap 8), with fewer the search also covers new and branched samples.

    Three Numba timings on the same states: ``decision_us`` through :func:`plan` (a
    :class:`PlanningState` validated and stacked every call), ``trusted_us`` as a hot caller
    pays it (its per-sample joints stacked, then ``PlannerConfig.trusted``, with the finished
    factor and the normaliser it keeps per question) and ``kernel_us`` (the kernel alone on
    the stacked arrays).

    Returns
    -------
    dict
        ``decision_us``, ``trusted_us``, ``kernel_us`` and ``reference_us`` (median
        microseconds, keyed by search, then sample count as a string), ``numba_speedup``
        (reference over decision), ``decision_over_kernel`` and ``trusted_over_kernel``,
        ``layout``, ``repeats``.
    """
    if int(repeats) < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats!r}")
    rng = np.random.default_rng(seed)
    rewards, lengths = RewardGrid.seven_state(), LengthGrid.official()
    B, L = rewards.size, lengths.size
    keys = ("decision_us", "trusted_us", "kernel_us", "reference_us", "numba_speedup",
            "decision_over_kernel", "trusted_over_kernel")
    res: dict = {k: {s: {} for s in searches} for k in keys}
    for n in counts:
        joints = rng.dirichlet(np.full(B * L, 0.3), size=n).reshape(n, B, L)
        root = rng.dirichlet(np.ones(B * L)).reshape(B, L)
        state = PlanningState(joints=joints, root_joint=root, floor_index=int(rng.integers(B)),
                              n_created=n, elapsed=rng.integers(0, 100, size=n).astype(float))
        for search in searches:
            cfg = PlannerConfig(rewards, lengths, alpha=0.1, beta=0.01, cap=max(8, n), search=search)
            a = plan(state, cfg)  # compile / warm up
            b = plan_numpy(state, cfg)
            if abs(a.q - b.q) > 1e-9:
                raise RuntimeError(f"Numba and NumPy planners disagree at n={n}, {search}")
            # what a hot caller holds: one joint per sample, the finished factor and D
            per_sample, fin, d = list(joints), finished_cdf(state, B), normalizer_value(cfg, state)
            trusted, max_new = cfg.trusted, cfg.cap - state.n_created
            stacked = stack_joints(joints, root)
            values, rep, upper = cfg._kernel_grids
            kernel_args = (values, rep, upper, stacked, n, max_new, cfg.branching, fin, cfg.alpha,
                           cfg.beta / d, _SEARCH_CODE[search], cfg.order_code, TIE_TOL)
            if not (trusted.best(stack_joints(per_sample, root), n, max_new, fin, d)
                    == plan_kernel_dist(*kernel_args)).all():
                raise RuntimeError(f"trusted path and kernel disagree at n={n}, {search}")
            # the NumPy reference is slow at 12 samples: fewer repeats there
            reps_ref = max(min(5, repeats), repeats // (20 if n >= 12 else 4))
            t_plan, t_trusted, t_kernel, t_ref = [], [], [], []
            for r in range(repeats):
                t0 = time.perf_counter()
                plan(state, cfg)
                t1 = time.perf_counter()
                trusted.best(stack_joints(per_sample, root), n, max_new, fin, d)
                t2 = time.perf_counter()
                plan_kernel_dist(*kernel_args)
                t3 = time.perf_counter()
                t_plan.append(t1 - t0)
                t_trusted.append(t2 - t1)
                t_kernel.append(t3 - t2)
                if r < reps_ref:
                    t0 = time.perf_counter()
                    plan_numpy(state, cfg)
                    t_ref.append(time.perf_counter() - t0)
            med = {k: float(np.median(t) * 1e6) for k, t in
                   (("decision_us", t_plan), ("trusted_us", t_trusted), ("kernel_us", t_kernel),
                    ("reference_us", t_ref))}
            med["numba_speedup"] = med["reference_us"] / med["decision_us"]
            med["decision_over_kernel"] = med["decision_us"] / med["kernel_us"]
            med["trusted_over_kernel"] = med["trusted_us"] / med["kernel_us"]
            for k, v in med.items():
                res[k][search][str(n)] = v
    return {**res, "layout": {"reward_states": B, "length_bins": L, "cap": "max(8, n)"},
            "repeats": repeats}
