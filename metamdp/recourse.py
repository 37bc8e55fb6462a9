"""Strategies with recourse: ZIP-RC's planner over two-stage strategies (``ziprc_recourse``).

A two-stage strategy ``(K, m, h; tau, m2, h2)`` runs the predefined strategy ``(K, m, h)``
of :mod:`metamdp.planner` (stage 1) until every sample it runs has finished or was pruned at
``h``; then, only if the best finished reward ``M1`` (the finished samples included) is
below ``tau``, it starts ``m2`` fresh samples from the root and runs them to the horizon
``h2`` (stage 2). ``tau`` is a reward-grid value above the lowest (``tau_index`` ``t`` in
``1..B-1``: stage 2 runs when ``M1 < v_t``); ``m + m2`` stays within the cap.

Closed form (docs/theory.md, "Strategies with recourse"): with ``P1`` the pmf of ``M1``
under the truncated joints, ``Q1`` the planner's closed form of stage 1, and for stage 2
(``M2`` the best of its ``m2`` truncated samples, independent of stage 1)
``g(a) = E[max(v_a, M2)] - v_a`` and ``C2 = E[M2] - Q2`` (``Q2``: the planner's closed form
of ``(∅, m2, h2)`` from the root, so ``C2`` is its compute-and-latency charge)::

    V(K, m, h; t, m2, h2) = Q1 + sum_{a < t} P1(a) (g(a) - C2)

Because ``g`` does not increase with ``a``, the best ``t`` for given ``(m2, h2)`` keeps
exactly the ``a`` with ``g(a) > C2`` (a reservation value, as in Pandora's rule), whatever
stage 1 is: the kernels precompute ``w(a) = max(g(a) - C2, 0)`` per ``(m2, h2)`` and value a
stage-1 candidate as ``Q1 + max_{m2, h2} sum_a P1(a) w(a)`` (0: no second stage).
:mod:`metamdp.recourse_numpy` enumerates every ``(t, m2, h2)`` instead, from the reward CDF
of the two-stage outcome, and the tests hold the two equal.

The recourse planner takes the first action of the best two-stage strategy (its stage 1)
and re-plans every epoch, like ZIP-RC. Only ``ordering="ours"`` is supported.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numba import njit

from ._numba_cache import cache_dir, drop_stale

# the compiled code here contains the planner's kernels: recompile when either changed
_HERE = Path(__file__).resolve().parent
drop_stale([cache_dir(_HERE / "recourse.py")], [_HERE / "recourse.py", _HERE / "planner.py"],
           stamp_name="recourse_sources.sha256")

from .planner import (_SEARCH_CODE, TIE_TOL, Decision, PlannerConfig, PlannerError,
                      PlanningState, Strategy, _as_state_arrays, _build_tables, _check_strategy,
                      _multiply_in, _orders_kernel, _popcount, _q_direct, _q_from_products,
                      _q_kept_only, _stop_value, enumerate_strategies, finished_cdf,
                      normalizer_value)  # noqa: E402

# the kernel's answer: [q, size, mask, m, src, j, t, m2, j2] (t = 0: no second stage)
N_BEST = 9


# --------------------------------------------------------------------------- kernels


@njit(cache=True)
def _stage2_signed(values, RC, LC, EL, XL, root_s, max_new, alpha, cost_scale):
    """``g(a) - C2`` per ``[m2, j2, a]`` for ``m2`` fresh root samples run to horizon ``j2``:
    ``g(a) = E[max(v_a, M2)] - v_a`` (the planner's E[max] with a floor at ``a``) and
    ``C2 = E[M2] - Q2`` (the planner's closed form ``Q2`` of ``(∅, m2, j2)``)."""
    B = values.size
    L = XL.shape[0]
    S = np.zeros((max_new + 1, L, B))
    ones_r = np.ones(B)
    ones_l = np.ones(L + 1)
    F2 = np.empty(B)
    G = np.empty(B)
    for m2 in range(1, max_new + 1):
        for j2 in range(L):
            q2 = _q_from_products(values, XL[j2], ones_r, ones_l, 0.0, 0, RC[root_s, j2],
                                  LC[root_s, j2], EL[root_s, j2], m2, j2 + 2, alpha, cost_scale)
            for b in range(B):
                F2[b] = RC[root_s, j2, b] ** m2
            c2 = _stop_value(values, F2) - q2  # E[M2] - Q2: stage 2's charge
            for a in range(B):
                for b in range(B):
                    G[b] = F2[b] if b >= a else 0.0  # a floor at a: floor_cdf(B, a) * F2
                S[m2, j2, a] = _stop_value(values, G) - values[a] - c2
    return S


@njit(cache=True)
def _stage2_table(values, RC, LC, EL, XL, root_s, max_new, alpha, cost_scale):
    """``w[m2, j2, a] = max(g(a) - C2, 0)`` and ``T[m2, j2]``: the best ``tau`` index (``g``
    does not increase, so the positive terms are a prefix ``a < T``)."""
    S = _stage2_signed(values, RC, LC, EL, XL, root_s, max_new, alpha, cost_scale)
    w = np.maximum(S, 0.0)
    T = np.zeros(S.shape[:2], dtype=np.int64)
    # wmax[k, a]: the largest w[m2, j2, a] over m2 <= k and every j2 (a bound on the gain)
    wmax = np.zeros((S.shape[0], S.shape[2]))
    for m2 in range(S.shape[0]):
        if m2 > 0:
            wmax[m2] = wmax[m2 - 1]
        for j2 in range(S.shape[1]):
            for a in range(S.shape[2]):
                if S[m2, j2, a] > 0.0:
                    T[m2, j2] = a + 1
                if w[m2, j2, a] > wmax[m2, a]:
                    wmax[m2, a] = w[m2, j2, a]
    return w, T, wmax


@njit(cache=True, inline="always")
def _gain_bound(G, wmax, mmax):
    """An upper bound of :func:`_best_gain`: ``sum_a P1(a) max_{m2 <= mmax, j2} w``."""
    s = 0.0
    prev = 0.0
    for a in range(G.size):
        s += (G[a] - prev) * wmax[mmax, a]
        prev = G[a]
    return s


@njit(cache=True, inline="always")
def _best_gain(G, w, mmax, L, out):
    """Best ``sum_a P1(a) w[m2, j2, a]`` over ``m2 <= mmax`` and ``j2`` for the stage-1 reward
    CDF ``G``; ``out`` = [gain, m2, j2] (gain 0, m2 0: no second stage)."""
    out[0] = 0.0
    out[1] = 0.0
    out[2] = 0.0
    B = G.size
    for m2 in range(1, mmax + 1):
        for j2 in range(L):
            s = 0.0
            prev = 0.0
            for a in range(B):
                s += (G[a] - prev) * w[m2, j2, a]
                prev = G[a]
            if s > out[0]:
                out[0] = s
                out[1] = m2
                out[2] = j2


@njit(cache=True, inline="always")
def _offer9(best, q, size, mask, m, src, j, gain, T, tol):
    """The planner's tie rule (``_offer``) on the nine-field answer."""
    if q > best[0] + tol or (q >= best[0] - tol and size > best[1]):
        best[0] = q
        best[1] = size
        best[2] = mask
        best[3] = m
        best[4] = src
        best[5] = j
        m2 = int(gain[1])
        best[6] = T[m2, int(gain[2])] if m2 > 0 else 0
        best[7] = m2
        best[8] = gain[2] if m2 > 0 else 0


@njit(cache=True)
def _products(RC, LC, EL, mask, n, j, fin):
    """Reward- and length-CDF products and expected-length sum of one kept set at ``j``."""
    B = RC.shape[2]
    P = LC.shape[2]
    PR = fin.copy()
    PL = np.ones(P)
    SL = 0.0
    for i in range(n):
        if (mask >> i) & 1:
            for b in range(B):
                PR[b] *= RC[i, j, b]
            for k in range(P):
                PL[k] *= LC[i, j, k]
            SL += EL[i, j]
    return PR, PL, SL


@njit(cache=True)
def _offer_mask(values, RC, LC, EL, XL, PR, PL, SL, nk, mask, n, j, max_new, branching,
                alpha, cost_scale, tol, best, w, T, wmax, with_m0, with_new, GR, GL, gain):
    """Offer a kept set at horizon ``j``: ``m = 0`` (if ``with_m0``) and, if ``with_new``,
    every ``(source, m >= 1)``, each with its best second stage (searched only when the
    bound :func:`_gain_bound` leaves the candidate a chance to win an offer). Stage 1's Q is
    the planner's ``_q_kept_only`` on the CDF products with the ``m`` new samples multiplied
    in one at a time (``GR``, ``GL``, ``gain``: scratch)."""
    B = values.size
    L = XL.shape[0]
    npts = j + 2
    c_sum = cost_scale * alpha
    c_max = cost_scale * (1.0 - alpha)
    if with_m0 and nk > 0:
        q = _q_kept_only(values, PR, PL, SL, XL[j], npts, c_sum, c_max)
        if q + _gain_bound(PR, wmax, max_new) >= best[0] - tol:
            _best_gain(PR, w, max_new, L, gain)
            _offer9(best, q + gain[0], nk, mask, 0, -1, j, gain, T, tol)
    if not with_new or max_new <= 0:
        return
    n_src = n + 1 if branching else 1
    for si in range(n_src):
        s = n if si == 0 else si - 1  # root first, then branches from each prefix
        for b in range(B):
            GR[b] = PR[b]
        for k in range(npts):
            GL[k] = PL[k]
        for m in range(1, max_new + 1):
            for b in range(B):
                GR[b] *= RC[s, j, b]
            for k in range(npts):
                GL[k] *= LC[s, j, k]
            q = _q_kept_only(values, GR, GL, SL + m * EL[s, j], XL[j], npts, c_sum, c_max)
            if q + _gain_bound(GR, wmax, max_new - m) >= best[0] - tol:
                _best_gain(GR, w, max_new - m, L, gain)
                _offer9(best, q + gain[0], nk + m, mask, m, -1 if s == n else s, j, gain, T,
                        tol)


@njit(cache=True)
def _two_stage_q(values, RC, LC, EL, XL, mask, n, src, m, j, fin, alpha, cost_scale, w,
                 max_new):
    """Value of one stage 1 with its best second stage: ``[q, gain, m2, j2]``."""
    q = _q_direct(values, RC, LC, EL, XL, mask, n, src, m, j, fin, alpha, cost_scale)
    PR, PL, SL = _products(RC, LC, EL, mask, n, j, fin)
    s = n if src < 0 else src
    B = values.size
    G = np.empty(B)
    for b in range(B):
        G[b] = PR[b] * RC[s, j, b] ** m if m > 0 else PR[b]
    gain = np.zeros(3)
    _best_gain(G, w, max_new - m, XL.shape[0], gain)
    return q + gain[0], gain


@njit(cache=True)
def recourse_plan_kernel(values, rep, upper, stacked, n, max_new, branching, fin, alpha,
                         cost_scale, search_code, tol):
    """One decision of the recourse planner, entirely in Numba.

    Arguments as :func:`metamdp.planner.plan_kernel_dist` (ours order only). Returns
    ``[q, size, mask, m, src, j, t, m2, j2]``: the first seven describe stage 1 as the
    planner's answer does; ``t`` the threshold index (0: no second stage), ``m2`` and
    ``j2`` the second stage. Visiting order: exhaustive is horizon-major (every kept set
    without new samples, then every kept set with them); restricted searches kept-set-major
    over the two-prefix (``search_code`` 1) or top-k (2) unions, then the re-add pass (1).
    """
    RC, LC, EL, XL = _build_tables(values, rep, upper, stacked)
    L = XL.shape[0]
    w, T, wmax = _stage2_table(values, RC, LC, EL, XL, n, max_new, alpha, cost_scale)
    GR = np.empty(values.size)
    GL = np.empty(L + 1)
    gain = np.zeros(3)
    best = np.zeros(N_BEST)
    best[0] = _stop_value(values, fin)
    best[4] = -1.0
    best[5] = L - 1
    if search_code == 0:
        nm = 1 << n
        for j in range(L):
            for mask in range(1, nm):
                PR, PL, SL = _products(RC, LC, EL, mask, n, j, fin)
                _offer_mask(values, RC, LC, EL, XL, PR, PL, SL, _popcount(mask), mask, n, j,
                            max_new, branching, alpha, cost_scale, tol, best, w, T, wmax, True,
                            False, GR, GL, gain)
            if max_new > 0:
                for mask in range(nm):
                    PR, PL, SL = _products(RC, LC, EL, mask, n, j, fin)
                    _offer_mask(values, RC, LC, EL, XL, PR, PL, SL, _popcount(mask), mask, n,
                                j, max_new, branching, alpha, cost_scale, tol, best, w, T,
                                wmax, False, True, GR, GL, gain)
        return best
    by_length, by_value = _orders_kernel(values, rep, stacked, n)
    a_max = n if search_code == 1 else 0
    # the planner's prefix unions, products updated incrementally (_search_prefix_unions)
    B = values.size
    baseR = np.empty((L, B))
    for j in range(L):
        for b in range(B):
            baseR[j, b] = fin[b]
    baseL = np.ones((L, L + 1))
    baseS = np.zeros(L)
    curR = np.empty((L, B))
    curL = np.empty((L, L + 1))
    curS = np.empty(L)
    base = 0
    for a in range(a_max + 1):
        if a > 0:
            i = by_length[a - 1]
            base |= 1 << i
            _multiply_in(baseR, baseL, baseS, RC, LC, EL, i)
        curR[:, :] = baseR
        curL[:, :] = baseL
        curS[:] = baseS
        mask = base
        for v in range(n + 1):
            if v > 0:
                i = by_value[v - 1]
                if (mask >> i) & 1:
                    continue
                mask |= 1 << i
                _multiply_in(curR, curL, curS, RC, LC, EL, i)
            nk = _popcount(mask)
            for jj in range(2):
                for j in range(L):
                    _offer_mask(values, RC, LC, EL, XL, curR[j], curL[j], curS[j], nk, mask, n,
                                j, max_new, branching, alpha, cost_scale, tol, best, w, T, wmax,
                                jj == 0, jj == 1, GR, GL, gain)
    if search_code == 1 and not (best[2] == 0 and best[3] == 0):
        mask = int(best[2])
        m = int(best[3])
        src = int(best[4])
        j = int(best[5])
        q, gain = _two_stage_q(values, RC, LC, EL, XL, mask, n, src, m, j, fin, alpha,
                               cost_scale, w, max_new)
        for oi in range(n):
            i = by_value[oi]
            if (mask >> i) & 1:
                continue
            q2, gain2 = _two_stage_q(values, RC, LC, EL, XL, mask | (1 << i), n, src, m, j,
                                     fin, alpha, cost_scale, w, max_new)
            if q2 >= q - tol:
                mask = mask | (1 << i)
                q = q2
                gain = gain2
        size = _popcount(mask) + m
        best[0] = -np.inf  # replace unconditionally with the re-added plan
        _offer9(best, q, size, mask, m, src, j, gain, T, tol)
    return best


@njit(cache=True)
def recourse_plan_dist(values, rep, upper, stacked, n, max_new, branching, fin, alpha, beta,
                       d, search_code):
    """One recourse decision of the episode kernels: ``(mask, m, src)`` of stage 1 (as
    :func:`metamdp.policies.kernels.ziprc_plan_dist`), cost scale ``beta / d``."""
    best = recourse_plan_kernel(values, rep, upper, stacked, n, max_new, branching, fin, alpha,
                                beta / d, search_code, TIE_TOL)
    return int(best[2]), int(best[3]), int(best[4])


# --------------------------------------------------------------------------- python layer


@dataclass(frozen=True)
class TwoStageStrategy:
    """``first`` (a :class:`metamdp.planner.Strategy`, stage 1); then, if the best finished
    reward is below ``rewards[tau_index]``, ``new2`` fresh root samples run to
    ``horizon2_index``. ``tau_index = 0`` (or ``new2 = 0``): no second stage."""

    first: Strategy
    tau_index: int = 0
    new2: int = 0
    horizon2_index: int = 0

    @property
    def has_second_stage(self) -> bool:
        return self.tau_index > 0 and self.new2 > 0

    @property
    def is_stop(self) -> bool:
        return self.first.is_stop


@dataclass(frozen=True)
class RecourseDecision(Decision):
    """A :class:`metamdp.planner.Decision` whose ``strategy`` is stage 1 of ``plan``."""

    plan: TwoStageStrategy | None = None


def _check_recourse_config(config: PlannerConfig) -> None:
    if config.ordering != "ours":
        raise PlannerError("the recourse planner supports ordering='ours' only")


class RecourseTrustedPlanner:
    """:class:`metamdp.planner.TrustedPlanner`'s interface (``best``) for the recourse
    planner: no checks; ``best`` returns the nine-field answer of
    :func:`recourse_plan_kernel`."""

    __slots__ = ("_values", "_rep", "_upper", "_alpha", "_beta", "_branching", "_search")

    def __init__(self, config: PlannerConfig):
        _check_recourse_config(config)
        self._values, self._rep, self._upper = config._kernel_grids
        self._alpha, self._beta = float(config.alpha), float(config.beta)
        self._branching = bool(config.branching)
        self._search = _SEARCH_CODE[config.search]

    def best(self, stacked, n, max_new, fin, d) -> np.ndarray:
        return recourse_plan_kernel(self._values, self._rep, self._upper, stacked, n, max_new,
                                    self._branching, fin, self._alpha, self._beta / d,
                                    self._search, TIE_TOL)


def _two_stage_from_best(best, n: int, L: int) -> TwoStageStrategy:
    mask, m, src = int(best[2]), int(best[3]), int(best[4])
    keep = tuple(i for i in range(n) if (mask >> i) & 1)
    if not keep and m == 0:
        return TwoStageStrategy(Strategy(keep=(), new=0, horizon_index=L - 1))
    first = Strategy(keep=keep, new=m, horizon_index=int(best[5]),
                     branch_from=None if src < 0 else src)
    t, m2 = int(best[6]), int(best[7])
    if t == 0 or m2 == 0:
        return TwoStageStrategy(first)
    return TwoStageStrategy(first, tau_index=t, new2=m2, horizon2_index=int(best[8]))


def plan_recourse(state: PlanningState, config: PlannerConfig,
                  normalizer: float | None = None) -> RecourseDecision:
    """The recourse planner's decision: the best two-stage strategy under ``config.search``
    (its ``strategy`` is stage 1, its ``q`` the two-stage value)."""
    _check_recourse_config(config)
    stacked, n = _as_state_arrays(config, state)
    fin = finished_cdf(state, config.rewards.size)
    d = normalizer_value(config, state) if normalizer is None else float(normalizer)
    if not d > 0:
        raise PlannerError(f"normaliser D must be > 0, got {d!r}")
    values, rep, upper = config._kernel_grids
    best = recourse_plan_kernel(values, rep, upper, stacked, n,
                                max(0, config.cap - state.n_created), config.branching, fin,
                                config.alpha, config.beta / d, _SEARCH_CODE[config.search],
                                TIE_TOL)
    ts = _two_stage_from_best(best, n, config.lengths.size)
    return RecourseDecision(strategy=ts.first, q=float(best[0]), normalizer=d, plan=ts)


def check_two_stage(strategy: TwoStageStrategy, n: int, config: PlannerConfig,
                    state: PlanningState) -> None:
    """Raise :class:`PlannerError` unless ``strategy`` belongs to the class at ``state``."""
    _check_strategy(strategy.first, n, config, state)
    B, L = config.rewards.size, config.lengths.size
    if strategy.tau_index == 0 and strategy.new2 == 0:
        return
    if strategy.first.is_stop:
        raise PlannerError("a second stage needs a first stage that runs something")
    if not 1 <= strategy.tau_index <= B - 1:
        raise PlannerError(f"tau_index must be in 1..{B - 1}, got {strategy.tau_index}")
    if strategy.new2 < 1 or state.n_created + strategy.first.new + strategy.new2 > config.cap:
        raise PlannerError(f"second stage starts {strategy.new2} samples; cap {config.cap} allows "
                           f"{config.cap - state.n_created - strategy.first.new}")
    if not 0 <= strategy.horizon2_index < L:
        raise PlannerError(f"second-stage horizon index {strategy.horizon2_index} is off the grid")


def two_stage_value(state: PlanningState, config: PlannerConfig, strategy: TwoStageStrategy,
                    normalizer: float | None = None) -> float:
    """Closed-form value of one two-stage strategy (Numba tables; the module docstring's
    formula with the given ``t``, not the best one)."""
    stacked, n = _as_state_arrays(config, state)
    check_two_stage(strategy, n, config, state)
    fin = finished_cdf(state, config.rewards.size)
    d = normalizer_value(config, state) if normalizer is None else float(normalizer)
    values, rep, upper = config._kernel_grids
    RC, LC, EL, XL = _build_tables(values, rep, upper, stacked)
    f = strategy.first
    mask = sum(1 << i for i in f.keep)
    src = -1 if f.branch_from is None else int(f.branch_from)
    cs = config.beta / d
    q1 = float(_q_direct(values, RC, LC, EL, XL, mask, n, src, int(f.new), int(f.horizon_index),
                         fin, config.alpha, cs))
    if not strategy.has_second_stage:
        return q1
    m2, j2, t = int(strategy.new2), int(strategy.horizon2_index), int(strategy.tau_index)
    S = _stage2_signed(values, RC, LC, EL, XL, n, m2, config.alpha, cs)
    PR, _, _ = _products(RC, LC, EL, mask, n, f.horizon_index, fin)
    s = n if src < 0 else src
    G = PR * RC[s, f.horizon_index] ** int(f.new)
    P1 = np.diff(G, prepend=0.0)
    return q1 + float(P1[:t] @ S[m2, j2, :t])


def enumerate_two_stage(n_unfinished: int, config: PlannerConfig, n_created: int):
    """Every strategy of the two-stage class at a state: each one-stage strategy of
    :func:`metamdp.planner.enumerate_strategies` alone, and each non-stop one with every
    second stage ``(t, m2, h2)`` the cap allows."""
    B, L = config.rewards.size, config.lengths.size
    for s in enumerate_strategies(n_unfinished, config, n_created):
        yield TwoStageStrategy(s)
        if s.is_stop:
            continue
        for m2 in range(1, config.cap - n_created - s.new + 1):
            for j2 in range(L):
                for t in range(1, B):
                    yield TwoStageStrategy(s, tau_index=t, new2=m2, horizon2_index=j2)

