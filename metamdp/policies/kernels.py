"""Arithmetic shared by the reference policies and the simulators' Numba kernels.

Every quantity a policy compares against a threshold or ranks by (a joint's expected value
or remaining length, Adaptive-Consistency's stopping probability, Pandora's reservation
value, DeepConf's cut-off) is computed here, by one jitted function that both the Python
policies (:mod:`metamdp.policies`) and the fast episode kernels (``simulators.kernels``)
call. Floating-point sums are order dependent, so two implementations of "the same"
formula can disagree in the last bit and flip a decision at a tie; one implementation
cannot. The episode kernels call the planner through :func:`ziprc_plan_dist`, the reference
:class:`~metamdp.policies.ZipRC` through :class:`metamdp.planner.TrustedPlanner`: both run
the same :func:`metamdp.planner.plan_kernel_dist`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from numba import njit

from .._numba_cache import cache_dir, drop_stale

# ziprc_plan_dist's compiled code contains the planner's kernels: recompile when they changed
_HERE = Path(__file__).resolve().parent
drop_stale([cache_dir(_HERE / "kernels.py")], [_HERE / "kernels.py", _HERE.parent / "planner.py",
                                    _HERE.parent / "order_stats.py", _HERE.parent / "joints.py"])

from ..planner import TIE_TOL, _build_tables, _q_direct, plan_kernel_dist  # noqa: E402


@njit(cache=True)
def joint_value(p, values):
    """``E[value]`` of a reward-major joint ``p`` (B, L): a sum in row-major order."""
    B, L = p.shape
    e = 0.0
    for k in range(B):
        for l in range(L):
            e += p[k, l] * values[k]
    return e


@njit(cache=True)
def joint_remaining(p, rep):
    """``E[remaining length]`` (ticks, representative lengths ``rep``) of a joint ``p``."""
    B, L = p.shape
    e = 0.0
    for k in range(B):
        for l in range(L):
            e += p[k, l] * rep[l]
    return e


@njit(cache=True)
def beta_stop_prob(a, b):
    """Adaptive-Consistency: ``P(p > 1/2)``, ``p ~ Beta(a + 1, b + 1)``
    ``= sum_{j<=a} C(n, j) / 2^n``, ``n = a + b + 1`` (regularised incomplete beta)."""
    n = a + b + 1
    tot = 0.0
    c = 1.0
    for j in range(a + 1):
        if j > 0:
            c = c * (n - j + 1) / j
        tot += c
    return tot / 2.0 ** n


@njit(cache=True)
def reservation_value(values, root, cost):
    """Weitzman's reservation value ``z`` with ``E[(V - z)+] = cost`` for ``V`` the reward
    marginal of the joint ``root``; below ``min(values)`` when sampling is barely worth it."""
    B, L = root.shape
    pm = np.zeros(B)
    for k in range(B):
        for l in range(L):
            pm[k] += root[k, l]
    for i in range(B - 1, -1, -1):
        g = 0.0
        tail = 0.0
        for k in range(i + 1, B):
            g += pm[k] * (values[k] - values[i])
            tail += pm[k]
        if g >= cost:
            return values[i] + ((g - cost) / tail if tail > 0 else 0.0)
    g0 = 0.0
    for k in range(B):
        g0 += pm[k] * (values[k] - values[0])
    return values[0] - (cost - g0)


@njit(cache=True)
def percentile(x, q):
    """The ``q``-th percentile (0..100) of ``x`` with linear interpolation (NumPy's default
    rule, written out so that Python and Numba callers get the same bits)."""
    a = np.sort(x)
    n = a.size
    pos = (n - 1) * q / 100.0
    lo = int(math.floor(pos))
    if lo >= n - 1:
        return a[n - 1]
    frac = pos - lo
    if frac == 0.0:
        return a[lo]
    return a[lo] + (a[lo + 1] - a[lo]) * frac


@njit(cache=True)
def window_mean(cum, a, win):
    """Mean of the last ``min(a, win)`` per-tick confidences from their running sums
    ``cum[1..a]`` (DeepConf's sliding window)."""
    lo = a - win if a > win else 0
    return (cum[a] - (cum[lo] if lo > 0 else 0.0)) / (a - lo)


@njit(cache=True)
def trace_confidence(strength, correct, noise):
    """A simulated token-confidence signal: ``sigmoid(strength (correct - 1/2) + noise)``."""
    g = strength * ((1.0 if correct else 0.0) - 0.5) + noise
    return 1.0 / (1.0 + math.exp(-g))


@njit(cache=True)
def reward_model_weight(dprime, correct, noise):
    """A simulated external reward model's vote weight: ``sigmoid(score)``,
    ``score = noise + d' (correct - 1/2)``."""
    s = noise + (dprime * (1.0 if correct else 0.0) - 0.5 * dprime)
    return 1.0 / (1.0 + math.exp(-s))


@njit(cache=True)
def ziprc_plan_dist(values, rep, upper, stacked, n, max_new, branching, fin, alpha, beta, d,
                    search_code, order_code):
    """One ZIP-RC decision of the episode kernels: :func:`metamdp.planner.plan_kernel_dist`
    with cost scale ``beta / d``, the finished samples as a reward-CDF factor ``fin`` (a
    floor or predicted distributions) and the re-add and tie order ``order_code`` (0 ours,
    1 the authors'); ``upper`` holds the prune charge per horizon
    (``PlannerConfig.prune_points``).

    Returns ``(mask, m, src)``: kept unfinished samples as a bit mask over the first ``n``
    rows of ``stacked``, new samples, and the row they branch from (-1: the root).
    """
    best = plan_kernel_dist(values, rep, upper, stacked, n, max_new, branching, fin, alpha,
                            beta / d, search_code, order_code, TIE_TOL)
    return int(best[2]), int(best[3]), int(best[4])


@njit(cache=True)
def strategy_expected_best(values, rep, upper, stacked, n, fin, best):
    """The expected-best-value term alone (``E[max value]``, no cost charge) of the strategy
    ``best`` (:func:`metamdp.planner.plan_kernel_dist`'s ``[q, size, mask, m, src,
    horizon_index]``) on the state ``stacked``, ``n``, ``fin``: the closed form with a zero
    cost scale. For stopping it is the value of the finished samples alone."""
    RC, LC, EL, XL = _build_tables(values, rep, upper, stacked)
    return _q_direct(values, RC, LC, EL, XL, np.int64(best[2]), n, np.int64(best[4]),
                     np.int64(best[3]), np.int64(best[5]), fin, 0.0, 0.0)


@njit(cache=True)
def ziprc_plan_terms(values, rep, upper, stacked, n, max_new, branching, fin, alpha, beta, d,
                     search_code, order_code):
    """:func:`ziprc_plan_dist` with what the planner expects of the strategy it chooses:
    ``(mask, m, src, q, value)``, ``q`` its objective (expected best value minus the cost
    charge) and ``value`` the expected-best-value term alone (:func:`strategy_expected_best`).
    Called at the first decision only (the episode's "utility expected at the start"), so the
    decisions after it pay nothing for it."""
    best = plan_kernel_dist(values, rep, upper, stacked, n, max_new, branching, fin, alpha,
                            beta / d, search_code, order_code, TIE_TOL)
    value = strategy_expected_best(values, rep, upper, stacked, n, fin, best)
    return int(best[2]), int(best[3]), int(best[4]), best[0], value


@njit(cache=True)
def midpoint_prune_points(rep, upper):
    """The authors' prune charge: horizon ``j`` costs the midpoint of bin ``j + 1``."""
    out = upper.copy()
    for j in range(rep.size - 1):
        out[j] = rep[j + 1]
    return out
