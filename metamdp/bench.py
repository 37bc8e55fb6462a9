"""Timing of one ZIP-RC decision: the Numba planner against its vectorised NumPy reference,
alternated in the same loop so that both see the same machine load.

Used by ``ziprc bench`` (section ``planner``) and by the ``planner_speed`` figure.
"""

from __future__ import annotations

import time

import numpy as np

from .grids import LengthGrid, RewardGrid
from .planner import PlannerConfig, PlanningState, plan
from .planner_numpy import plan_numpy

SAMPLE_COUNTS = (2, 4, 8, 12)
SEARCHES = ("exhaustive", "two-prefix")


def planner_timing(repeats: int = 200, seed: int = 0, counts=SAMPLE_COUNTS,
                   searches=SEARCHES) -> dict:
    """Median time of one decision on the official 7 x 8 layout, Numba and NumPy alternated.

    The cap is ``max(8, n)``: with 8 or more unfinished samples no new sample may start (the
    paper's setting, cap 8), with fewer the search also covers new and branched samples.

    Returns
    -------
    dict
        ``decision_us`` and ``reference_us`` (median microseconds, keyed by search, then
        sample count as a string), ``numba_speedup`` (their ratio), ``layout``, ``repeats``.
    """
    if int(repeats) < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats!r}")
    rng = np.random.default_rng(seed)
    rewards, lengths = RewardGrid.seven_state(), LengthGrid.official()
    B, L = rewards.size, lengths.size
    decision_us: dict = {s: {} for s in searches}
    reference_us: dict = {s: {} for s in searches}
    speedup: dict = {s: {} for s in searches}
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
            # the NumPy reference is slow at 12 samples: fewer repeats there
            reps_ref = max(min(5, repeats), repeats // (20 if n >= 12 else 4))
            t_numba, t_ref = [], []
            for r in range(repeats):
                t0 = time.perf_counter()
                plan(state, cfg)
                t_numba.append(time.perf_counter() - t0)
                if r < reps_ref:
                    t0 = time.perf_counter()
                    plan_numpy(state, cfg)
                    t_ref.append(time.perf_counter() - t0)
            decision_us[search][str(n)] = float(np.median(t_numba) * 1e6)
            reference_us[search][str(n)] = float(np.median(t_ref) * 1e6)
            speedup[search][str(n)] = float(np.median(t_ref) / np.median(t_numba))
    return {"decision_us": decision_us, "reference_us": reference_us, "numba_speedup": speedup,
            "layout": {"reward_states": B, "length_bins": L, "cap": "max(8, n)"},
            "repeats": repeats}
