"""The sampling utility and ZIP-RC's greedy planner (spec section 3).

A predefined strategy ``mu = (K, m, h)`` keeps a subset ``K`` of the unfinished samples,
starts ``m`` new samples (from the root, or branched from one existing prefix), and prunes
everything still running at the shared horizon ``h``. Its closed-form value is

    Q = E[max(f, max_i Z~_i)] - beta/D * (alpha * sum_i E[L~_i] + (1-alpha) * E[max_i L~_i])

under the truncated joints. ZIP-RC takes the first action of the best strategy found by a
search (exhaustive, two-prefix, top-k by value) and re-plans at the next epoch.

The hot path is a set of Numba kernels over per-(sample, horizon) tables (``plan_kernel``).
Two references check it: :func:`metamdp.planner_numpy.plan_numpy`, the same algorithm in
vectorised NumPy (tests and ``ziprc bench``), and :func:`plan_reference`, which applies the
definition strategy by strategy through :mod:`metamdp.joints` and :mod:`metamdp.order_stats`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from .grids import GridError, LengthGrid, RewardGrid
from .joints import expected_remaining, truncate, truncated_lengths, validate_joint
from .order_stats import expected_max_reference

SEARCHES = ("exhaustive", "two-prefix", "top-k")
NORMALIZERS = ("fixed", "raw", "state")
PRUNE_CHARGES = ("edge", "midpoint")
# the planner presets; each also names its re-add and tie order (PlannerConfig.ordering)
PLANNERS = ("ours", "authors")
_SEARCH_CODE = {"exhaustive": 0, "two-prefix": 1, "top-k": 2}
TIE_TOL = 1e-12
MAX_EXHAUSTIVE_SAMPLES = 20  # 2^20 subsets per horizon is the practical ceiling
# the plan's keep mask travels as a float64 (exact below 2^53): at most 53 unfinished samples
MAX_PLANNED_SAMPLES = 53


class PlannerError(ValueError):
    """Impossible planner parameters or a malformed planning state."""


# --------------------------------------------------------------------------- tables


@njit(cache=True)
def _build_tables(values, rep, upper, joints):
    """Per-(source, horizon) truncated CDF tables.

    ``joints`` is ``(S, B, L)``: the unfinished samples followed by the root. Returns
    ``RC (S, L, B)`` reward CDFs, ``LC (S, L, L+1)`` length CDFs on the points ``XL[j]``,
    ``EL (S, L)`` expected truncated lengths, ``XL (L, L+1)`` length points per horizon.
    Horizon ``j`` prunes at ``upper[j]``; ``j = L-1`` never prunes. ``LC[s, j, k]`` for
    ``k <= j`` is the same number at every horizon ``j`` (one running sum), and exactly 1
    for ``k > j``; ``XL[j, k] = rep[k]`` for ``k <= j``. The exhaustive search relies on both.
    """
    S, B, L = joints.shape
    XL = np.empty((L, L + 1))
    for j in range(L):
        for k in range(j + 1):
            XL[j, k] = rep[k]
        last = upper[j] if j < L - 1 else rep[L - 1]
        for k in range(j + 1, L + 1):
            XL[j, k] = last
    RC = np.empty((S, L, B))
    LC = np.empty((S, L, L + 1))
    EL = np.empty((S, L))
    lm = np.empty(L)
    kept = np.empty(B)
    for s in range(S):
        for l in range(L):
            acc = 0.0
            for b in range(B):
                acc += joints[s, b, l]
            lm[l] = acc
        for b in range(B):
            kept[b] = 0.0
        for j in range(L):
            # reward pmf with the pruned tail moved to reward index 0
            tail = 0.0
            for l in range(j + 1, L):
                tail += lm[l]
            c = 0.0
            for b in range(B):
                kept[b] += joints[s, b, j]  # running sum over l <= j: same order as a fresh sum
                c += kept[b]
                if b == 0:
                    c += tail
                RC[s, j, b] = c if c < 1.0 else 1.0
            c = 0.0
            e = 0.0
            for k in range(j + 1):
                c += lm[k]
                e += lm[k] * rep[k]
                LC[s, j, k] = c if c < 1.0 else 1.0
            for k in range(j + 1, L + 1):
                LC[s, j, k] = 1.0
            if j < L - 1:
                e += tail * upper[j]
            EL[s, j] = e
    return RC, LC, EL, XL


@njit(cache=True)
def _q_from_products(values, xl, PR, PL, SL, nk, rcs, lcs, els, m, npts, alpha, cost_scale):
    """Closed-form Q from the kept set's CDF products plus ``m`` copies of one source.

    ``PR`` already holds the finished samples' reward-CDF factor (see :func:`_stop_value`)."""
    if nk == 0 and m == 0:
        return _stop_value(values, PR)
    B = values.size
    ez = 0.0
    prev = 0.0
    for b in range(B):
        g = PR[b]
        if m > 0:
            g *= rcs[b] ** m
        ez += values[b] * (g - prev)
        prev = g
    emax = 0.0
    prev = 0.0
    for k in range(npts):
        g = PL[k]
        if m > 0:
            g *= lcs[k] ** m
        emax += xl[k] * (g - prev)
        prev = g
    return ez - cost_scale * (alpha * (SL + m * els) + (1.0 - alpha) * emax)


@njit(cache=True)
def _popcount(x):
    c = 0
    while x:
        x &= x - 1
        c += 1
    return c


@njit(cache=True, inline="always")
def _stop_value(values, fin):
    """E[max] of the finished samples alone: the value of stopping now.

    ``fin`` is the product of the finished samples' reward CDFs (all ones when none has
    finished: the max over nothing is the grid's 0). A known finished value (a floor) is the
    point-mass special case, a step from 0 to 1 at its grid index."""
    ez = 0.0
    gp = 0.0
    for b in range(values.size):
        ez += values[b] * (fin[b] - gp)
        gp = fin[b]
    return ez


@njit(cache=True, inline="always")
def _q_kept_only(values, PR, PL, S, xl, npts, c_sum, c_max):
    """Closed-form Q of a non-empty kept set with no new samples, from its CDF products
    (``PR`` includes the finished samples' factor)."""
    ez = 0.0
    gp = 0.0
    for b in range(values.size):
        g = PR[b]
        ez += values[b] * (g - gp)
        gp = g
    emax = 0.0
    gp = 0.0
    for k in range(npts):
        g = PL[k]
        emax += xl[k] * (g - gp)
        gp = g
    return ez - (c_sum * S + c_max * emax)


@njit(cache=True, inline="always")
def _offer(best, q, size, mask, m, src, j, tol):
    """Replace the incumbent ``best`` = [q, size, mask, m, src, j] if the candidate is better
    by more than ``tol``, or as good within ``tol`` and advancing more samples."""
    if q > best[0] + tol or (q >= best[0] - tol and size > best[1]):
        best[0] = q
        best[1] = size
        best[2] = mask
        best[3] = m
        best[4] = src
        best[5] = j


@njit(cache=True)
def _q_direct(values, RC, LC, EL, XL, mask, n, src, m, j, fin, alpha, cost_scale):
    """Q of one strategy, computing the kept set's products from scratch."""
    B = values.size
    L = XL.shape[0]
    PR = fin.copy()
    PL = np.ones(L + 1)
    SL = 0.0
    nk = 0
    npts = j + 2
    for i in range(n):
        if (mask >> i) & 1:
            nk += 1
            for b in range(B):
                PR[b] *= RC[i, j, b]
            for k in range(npts):
                PL[k] *= LC[i, j, k]
            SL += EL[i, j]
    s = n if src < 0 else src
    return _q_from_products(values, XL[j], PR, PL, SL, nk, RC[s, j], LC[s, j], EL[s, j], m,
                            npts, alpha, cost_scale)


@njit(cache=True)
def _best_over_new(values, RC, LC, EL, XL, PR, PL, SL, nk, mask, n, j, max_new, branching,
                   alpha, cost_scale, tol, best, GR, GL):
    """Try every (source, m >= 1) for one kept set and horizon; update ``best``.

    ``PR``/``PL``/``SL``: the kept set's products and expected-length sum at horizon ``j``;
    ``best`` = [q, size, mask, m, src, j] (float64 array, updated in place); ``GR`` ``(B,)``
    and ``GL`` ``(L + 1,)`` are the caller's workspaces (no allocation per call). Powers of
    a source's CDFs are built by repeated multiplication (no ``pow`` in the loop).
    """
    npts = j + 2
    c_sum = cost_scale * alpha
    c_max = cost_scale * (1.0 - alpha)
    B = values.size
    n_src = n + 1 if branching else 1
    for si in range(n_src):
        s = n if si == 0 else si - 1  # root first, then branches from each prefix
        for b in range(B):
            GR[b] = PR[b]
        for k in range(npts):
            GL[k] = PL[k]
        els = EL[s, j]
        for m in range(1, max_new + 1):
            ez = 0.0
            gp = 0.0
            for b in range(B):
                GR[b] *= RC[s, j, b]
                ez += values[b] * (GR[b] - gp)
                gp = GR[b]
            emax = 0.0
            gp = 0.0
            for k in range(npts):
                GL[k] *= LC[s, j, k]
                emax += XL[j, k] * (GL[k] - gp)
                gp = GL[k]
            q = ez - (c_sum * (SL + m * els) + c_max * emax)
            _offer(best, q, nk + m, mask, m, -1 if s == n else s, j, tol)


@njit(cache=True, inline="always")
def _expect_rows(points, P, k0, npts, nm, out):
    """``out[r] = sum_k points[k] (P[k, r] - P[k-1, r])`` for the first ``nm`` subsets ``r``:
    E[max] from the CDF products ``P`` (one row per grid point), in _q_kept_only's order.
    Rows below ``k0`` are zero and skipped: their terms are exact zeros, so the sum is
    bit-identical. (Rows are indexed in place: a row view would cost a reference count.)"""
    for k in range(k0, npts):
        xk = points[k]
        if k == k0:
            for r in range(nm):
                out[r] = 0.0 + xk * (P[k, r] - 0.0)
        else:
            for r in range(nm):
                out[r] += xk * (P[k, r] - P[k - 1, r])


@njit(cache=True)
def _search_exhaustive(values, RC, LC, EL, XL, n, max_new, branching, fin, alpha,
                       cost_scale, tol):
    """All kept subsets by a subset DP over CDF products (O(1) products per subset).

    Products live in bit-reversed subset order, transposed (``[b, r]``): the subsets whose
    highest reversed bit is ``t`` are one contiguous block built from the block below, so
    every loop runs over contiguous subsets (vectorised) with the same multiplication order
    as the scalar DP (highest sample first), hence bit-identical Q. Offers are then made in
    plain mask order, so ties resolve as before.

    The length CDFs do not depend on the horizon below it (``LC[i, j, k]`` is the same for
    every ``j >= k``, and 1 past ``j``: see :func:`_build_tables`), so their products are
    built once, and the length E[max] of horizon ``j`` is a running sum over ``k <= j`` (the
    same additions in the same order as summing afresh) plus the pruned point's term. Reward
    rows below the finished floor (``fin[b] == 0``) are exact zeros and skipped. New samples
    are computed over lanes (source x kept set, a chunk of masks at a time) with
    :func:`_best_over_new`'s arithmetic, then offered in its order."""
    B = values.size
    L = XL.shape[0]
    nm = 1 << n
    PR = np.empty((B, nm))
    PL = np.empty((L, nm))
    SL = np.empty(nm)
    EZ = np.empty(nm)
    EK = np.empty(nm)  # the length E[max]'s running sum over the points k <= j
    Q = np.empty(nm)
    NK = np.empty(nm, dtype=np.int64)
    REV = np.empty(nm, dtype=np.int64)
    NK[0] = 0
    REV[0] = 0
    for i in range(n):
        h = 1 << i
        for x in range(h):
            NK[h + x] = NK[x] + 1
            REV[h + x] = REV[x] | (1 << (n - 1 - i))
    best = np.array([_stop_value(values, fin), 0.0, 0.0, 0.0, -1.0, float(L - 1)])
    c_sum = cost_scale * alpha
    c_max = cost_scale * (1.0 - alpha)
    # reward rows below the finished samples' floor are exact zeros in every product
    b0 = 0
    while b0 < B and fin[b0] == 0.0:
        b0 += 1
    if max_new > 0:
        # New samples: lanes (source, kept set) over a chunk of masks, source-major; per
        # lane the products, the source's factors, the expected-length sum and its step.
        n_src = n + 1 if branching else 1
        C = min(nm, max(1, 512 // n_src))
        W = n_src * C
        GN = np.zeros((B, W))
        FN = np.empty((B, W))
        LN = np.empty((L, W))
        FL = np.empty((L, W))
        SN = np.empty(W)
        EN = np.empty(W)
        EZN = np.empty(W)
        EMN = np.empty(W)
        QN = np.empty((max_new, W))
    # Block [h, 2h) is built from [0, h). The subset index is unsigned: Numba then emits no
    # negative-index wraparound, LLVM sees that the two ranges are disjoint and vectorizes
    # (with signed indices these loops run scalar).
    for k in range(L):
        PL[k, 0] = 1.0
    h = np.uint64(1)
    for t in range(n):
        i = n - 1 - t  # reversed bit t is sample i
        for k in range(L):
            f = LC[i, L - 1, k]
            for x in range(h):
                PL[k, h + x] = PL[k, x] * f
        h += h
    for j in range(L):
        for b in range(B):
            PR[b, 0] = fin[b]
        SL[0] = 0.0
        h = np.uint64(1)
        for t in range(n):
            i = n - 1 - t
            for b in range(b0, B):
                f = RC[i, j, b]
                for x in range(h):
                    PR[b, h + x] = PR[b, x] * f
            e = EL[i, j]
            for x in range(h):
                SL[h + x] = SL[x] + e
            h += h
        # closed-form Q of every kept set (m = 0), same operation order as _q_kept_only
        _expect_rows(values, PR, b0, B, nm, EZ)
        xl = XL[j]
        xj = XL[j, j]  # the point of length bin j (the same at every horizon >= j)
        xp = XL[j, j + 1]  # where horizon j's pruned samples end
        # m = 0: the hot path once the cap is reached. An offer changes the incumbent only
        # if q >= best - tol (see _offer; a NaN never does): count those (a vectorised
        # count, not a max), and test that bound before each offer.
        lo = best[0] - tol
        hits = 0
        for r in range(nm):
            if j == 0:
                ek = 0.0 + xj * (PL[0, r] - 0.0)
            else:
                ek = EK[r] + xj * (PL[j, r] - PL[j - 1, r])
            EK[r] = ek
            q = EZ[r] - (c_sum * SL[r] + c_max * (ek + xp * (1.0 - PL[j, r])))
            Q[r] = q
            hits += (q >= lo) & (r > 0)
        if hits > 0:
            for mask in range(1, nm):
                q = Q[REV[mask]]
                if q >= lo:
                    _offer(best, q, NK[mask], mask, 0, -1, j, tol)
                    lo = best[0] - tol
        if max_new > 0:
            # every (kept set, source, m >= 1) of this horizon, vectorised over lanes, then
            # offered in _best_over_new's order (mask, then source, then m) with the same
            # arithmetic: the products times the source's CDFs m times, then the E[max] sums
            for c0 in range(0, nm, C):
                cn = min(C, nm - c0)
                w = n_src * cn
                for si in range(n_src):
                    s = n if si == 0 else si - 1  # root first, then branches from each prefix
                    for x in range(cn):
                        r = REV[c0 + x]
                        u = si * cn + x
                        for b in range(b0, B):
                            GN[b, u] = PR[b, r]
                            FN[b, u] = RC[s, j, b]
                        for k in range(j + 1):
                            LN[k, u] = PL[k, r]
                            FL[k, u] = LC[s, j, k]
                        SN[u] = SL[r]
                        EN[u] = EL[s, j]
                for m in range(1, max_new + 1):
                    for b in range(b0, B):
                        for u in range(w):
                            GN[b, u] *= FN[b, u]
                    _expect_rows(values, GN, b0, B, w, EZN)
                    for k in range(j + 1):
                        for u in range(w):
                            LN[k, u] *= FL[k, u]
                    _expect_rows(xl, LN, 0, j + 1, w, EMN)
                    for u in range(w):
                        em = EMN[u] + xp * (1.0 - LN[j, u])  # the pruned point, CDF 1
                        QN[m - 1, u] = EZN[u] - (c_sum * (SN[u] + m * EN[u]) + c_max * em)
                for x in range(cn):
                    mask = c0 + x
                    for si in range(n_src):
                        src = -1 if si == 0 else si - 1
                        u = si * cn + x
                        for m in range(1, max_new + 1):
                            q = QN[m - 1, u]
                            if q >= lo:
                                _offer(best, q, NK[mask] + m, mask, m, src, j, tol)
                                lo = best[0] - tol
    return best


@njit(cache=True, inline="always")
def _multiply_in(PR, PL, SL, RC, LC, EL, i):
    """Add sample ``i`` to a kept set's per-horizon CDF products and expected-length sums."""
    for j in range(PR.shape[0]):
        for b in range(PR.shape[1]):
            PR[j, b] *= RC[i, j, b]
        for k in range(j + 2):
            PL[j, k] *= LC[i, j, k]
        SL[j] += EL[i, j]


@njit(cache=True, inline="always")
def _horizon_at(jj, L, never_first):
    """The ``jj``-th horizon visited: ascending, or "never" (``L - 1``) first."""
    if not never_first:
        return jj
    return L - 1 if jj == 0 else jj - 1


@njit(cache=True)
def _search_prefix_unions(values, RC, LC, EL, XL, by_length, by_value, n, a_max, max_new,
                          branching, fin, alpha, cost_scale, tol, never_first):
    """Kept sets = (first ``a`` by ascending length) U (first ``v`` by descending value),
    ``a <= a_max``, any ``v`` (``a_max = 0``: top-k by value). Visits ``a``-major, then
    ``v``, skipping a ``v`` that adds nothing; products are updated incrementally.
    Horizons are visited in ascending order, or with ``never_first`` "never prune" first
    (the authors' order, which decides exact ties between horizons)."""
    B = values.size
    L = XL.shape[0]
    P = L + 1
    best = np.array([_stop_value(values, fin), 0.0, 0.0, 0.0, -1.0, float(L - 1)])
    c_sum = cost_scale * alpha
    c_max = cost_scale * (1.0 - alpha)
    baseR = np.empty((L, B))
    for j in range(L):
        for b in range(B):
            baseR[j, b] = fin[b]
    baseL = np.ones((L, P))
    baseS = np.zeros(L)
    curR = np.empty((L, B))
    curL = np.empty((L, P))
    curS = np.empty(L)
    GR = np.empty(B)  # workspaces of the new-sample offers
    GL = np.empty(P)
    base_mask = 0
    for a in range(a_max + 1):
        if a > 0:
            i = by_length[a - 1]
            base_mask |= 1 << i
            _multiply_in(baseR, baseL, baseS, RC, LC, EL, i)
        curR[:, :] = baseR
        curL[:, :] = baseL
        curS[:] = baseS
        mask = base_mask
        for v in range(n + 1):
            if v > 0:
                i = by_value[v - 1]
                if (mask >> i) & 1:
                    continue
                mask |= 1 << i
                _multiply_in(curR, curL, curS, RC, LC, EL, i)
            nk = _popcount(mask)
            if nk > 0:
                for jj in range(L):
                    j = _horizon_at(jj, L, never_first)
                    q = _q_kept_only(values, curR[j], curL[j], curS[j], XL[j], j + 2, c_sum,
                                     c_max)
                    _offer(best, q, nk, mask, 0, -1, j, tol)
            if max_new > 0:
                for jj in range(L):
                    j = _horizon_at(jj, L, never_first)
                    _best_over_new(values, RC, LC, EL, XL, curR[j], curL[j], curS[j], nk, mask,
                                   n, j, max_new, branching, alpha, cost_scale, tol, best, GR, GL)
    return best


@njit(cache=True)
def _readd(values, RC, LC, EL, XL, best, order, n, fin, alpha, cost_scale, tol):
    """Re-add any dropped sample whose inclusion does not lower the value (two-prefix),
    trying them in ``order`` (ours: descending expected value; the authors': sample order)."""
    mask = int(best[2])
    m = int(best[3])
    src = int(best[4])
    j = int(best[5])
    if mask == 0 and m == 0:
        return best  # stopping: nothing to re-add to
    q = _q_direct(values, RC, LC, EL, XL, mask, n, src, m, j, fin, alpha, cost_scale)
    for oi in range(n):
        i = order[oi]
        if (mask >> i) & 1:
            continue
        q2 = _q_direct(values, RC, LC, EL, XL, mask | (1 << i), n, src, m, j, fin, alpha,
                       cost_scale)
        if q2 >= q - tol:
            mask = mask | (1 << i)
            q = q2
    out = best.copy()
    out[0] = q
    out[1] = _popcount(mask) + m
    out[2] = mask
    return out


@njit(cache=True)
def _orders_kernel(values, rep, stacked, n):
    """Sample indices by ascending expected remaining length and by descending expected value."""
    ev = np.zeros(n)
    er = np.zeros(n)
    B = values.size
    L = rep.size
    for i in range(n):
        for b in range(B):
            for l in range(L):
                ev[i] += stacked[i, b, l] * values[b]
                er[i] += stacked[i, b, l] * rep[l]
    by_length = np.argsort(er, kind="mergesort")
    by_value = np.argsort(-ev, kind="mergesort")
    return by_length, by_value


@njit(cache=True)
def plan_kernel_dist(values, rep, upper, stacked, n, max_new, branching, fin, alpha,
                     cost_scale, search_code, order_code, tol):
    """One ZIP-RC decision, entirely in Numba (callable from other jitted code).

    ``stacked`` is ``(n + 1, B, L)``: the unfinished samples' joints, then the root joint.
    ``upper[j]`` is the length charged to a sample pruned at horizon ``j`` (the bin's upper
    edge for ours, the next bin's midpoint for the authors': ``PlannerConfig.prune_points``).
    ``fin`` ``(B,)`` is the product of the finished samples' reward CDFs (ones when none;
    a known best value ``v_k`` is a step at ``k``: see :func:`floor_cdf`).
    ``search_code``: 0 exhaustive, 1 two-prefix, 2 top-k by value. ``order_code``: 0 ours
    (re-add by descending expected value, horizons ascending), 1 the authors' (re-add in
    sample order, "never prune" visited first). Returns ``[q, size, mask, m, src,
    horizon_index]`` (``src`` -1 = root).
    """
    RC, LC, EL, XL = _build_tables(values, rep, upper, stacked)
    if search_code == 0:
        return _search_exhaustive(values, RC, LC, EL, XL, n, max_new, branching, fin,
                                  alpha, cost_scale, tol)
    by_length, by_value = _orders_kernel(values, rep, stacked, n)
    a_max = n if search_code == 1 else 0
    best = _search_prefix_unions(values, RC, LC, EL, XL, by_length, by_value, n, a_max,
                                 max_new, branching, fin, alpha, cost_scale, tol,
                                 order_code == 1)
    if search_code == 1:
        if order_code == 1:
            order = np.arange(n)
        else:
            order = by_value
        best = _readd(values, RC, LC, EL, XL, best, order, n, fin, alpha, cost_scale, tol)
    return best


@njit(cache=True, inline="always")
def floor_cdf(B, floor_idx):
    """The reward-CDF factor of a known best finished value at grid index ``floor_idx``."""
    fin = np.ones(B)
    for b in range(floor_idx):
        fin[b] = 0.0
    return fin


@njit(cache=True)
def plan_kernel(values, rep, upper, stacked, n, max_new, branching, floor_idx, alpha,
                cost_scale, search_code, tol):
    """:func:`plan_kernel_dist` with the best finished value known exactly (a floor at
    ``floor_idx``) and our re-add and tie order: the form the episode runner uses."""
    return plan_kernel_dist(values, rep, upper, stacked, n, max_new, branching,
                            floor_cdf(values.size, floor_idx), alpha, cost_scale, search_code,
                            0, tol)


# --------------------------------------------------------------------------- python layer


def _grids_equal(a, b) -> bool:
    return (np.array_equal(a.rewards.values, b.rewards.values)
            and np.array_equal(a.lengths.representative, b.lengths.representative)
            and np.array_equal(a.lengths.upper, b.lengths.upper))


@dataclass(frozen=True)
class Strategy:
    """A predefined strategy ``(K, m, h)``.

    ``keep`` indexes the unfinished samples of the planning state; ``horizon_index`` is a
    length-bin index (``L - 1`` = never prune); ``branch_from`` is the index of the
    unfinished sample whose prefix the new samples copy, or None for the root.
    """

    keep: tuple = ()
    new: int = 0
    horizon_index: int = 0
    branch_from: int | None = None

    @property
    def is_stop(self) -> bool:
        return not self.keep and self.new == 0

    def to_json(self, lengths: LengthGrid) -> dict:
        return {"keep": list(self.keep), "new": int(self.new),
                "horizon": lengths.horizon_label(self.horizon_index),
                "branch_from": self.branch_from}


class TrustedPlanner:
    """One decision from arrays that are already valid: the path after validation.

    :func:`plan` validates a :class:`PlanningState` and then calls this; the project's hot
    callers (:class:`metamdp.policies.ZipRC` at every epoch, hence the Python driver,
    replay and the online sampler) call it directly with the arrays they hold, so that
    grids, kernel constants and the search codes are resolved once per configuration
    (``PlannerConfig.trusted``), not once per decision. Nothing is checked here: a wrong
    shape or an unnormalised joint gives a wrong decision, not an error.
    """

    __slots__ = ("_values", "_rep", "_upper", "_alpha", "_beta", "_branching", "_search",
                 "_order")

    def __init__(self, config: "PlannerConfig"):
        self._values, self._rep, self._upper = config._kernel_grids
        self._alpha, self._beta = float(config.alpha), float(config.beta)
        self._branching = bool(config.branching)
        self._search, self._order = _SEARCH_CODE[config.search], config.order_code

    def best(self, stacked: np.ndarray, n: int, max_new: int, fin: np.ndarray,
             d: float) -> np.ndarray:
        """The kernel's ``[q, size, mask, m, src, horizon_index]`` (see
        :func:`plan_kernel_dist`) for ``stacked`` ``(n + 1, B, L)`` float64 C-contiguous (the
        unfinished samples' joints, then the root: :func:`stack_joints`), ``max_new`` samples
        still allowed to start, the finished samples' reward-CDF factor ``fin`` ``(B,)`` and
        the normaliser ``d > 0``."""
        return plan_kernel_dist(self._values, self._rep, self._upper, stacked, n, max_new,
                                self._branching, fin, self._alpha, self._beta / d,
                                self._search, self._order, TIE_TOL)


def stack_joints(joints, root: np.ndarray) -> np.ndarray:
    """The kernels' layout ``(n + 1, B, L)``: the ``n`` unfinished samples' joints (an
    ``(n, B, L)`` array or a sequence of ``(B, L)`` arrays), then the root joint."""
    n = len(joints)
    stacked = np.empty((n + 1, *root.shape))
    if isinstance(joints, np.ndarray):
        stacked[:n] = joints
    else:
        for j, p in enumerate(joints):
            stacked[j] = p
    stacked[n] = root
    return stacked


@dataclass(frozen=True)
class PlannerConfig:
    """Everything that defines ZIP-RC's objective and search.

    ``cap`` bounds the samples ever created for one question; ``normalizer`` is how ``D``
    is chosen (``fixed``: expected length of a fresh sample under the root prediction,
    ``raw``: 1, ``state``: recomputed from the current state, as in the authors' code).
    ``prune_charge``: the length charged to a sample pruned at horizon ``j``: ``edge`` (the
    upper edge of bin ``j``, when the prune happens: exact on tick grids) or ``midpoint``
    (the midpoint of bin ``j + 1``: the authors' research simulator). ``ordering``: ``ours``
    re-adds dropped samples by descending expected value and visits horizons ascending;
    ``authors`` re-adds in sample order and visits "never prune" first (this decides exact
    ties). :meth:`authors` builds the authors' whole preset; docs/theory.md lists every
    difference. ``trusted`` is this configuration's :class:`TrustedPlanner` (built once).
    """

    rewards: RewardGrid
    lengths: LengthGrid
    alpha: float = 0.1
    beta: float = 0.01
    cap: int = 8
    search: str = "exhaustive"
    normalizer: str = "fixed"
    branching: bool = True
    prune_charge: str = "edge"
    ordering: str = "ours"

    @classmethod
    def authors(cls, rewards: RewardGrid, alpha: float, beta: float, cap: int,
                lengths: LengthGrid | None = None) -> "PlannerConfig":
        """The planner of the authors' research simulator (``zip_offline_prune_7.py``):
        two-prefix search, ``D`` recomputed from the state, a planned prune at bin ``B``
        charged the midpoint of bin ``B``, dropped samples re-added in sample order, no
        branching, on the official binned layout (``lengths`` overrides it, e.g. a chain
        world's tick grid). Finished samples' predicted reward distributions enter E[max]
        through :attr:`PlanningState.finished`."""
        return cls(rewards, LengthGrid.official() if lengths is None else lengths,
                   alpha=alpha, beta=beta, cap=cap, search="two-prefix", normalizer="state",
                   branching=False, prune_charge="midpoint", ordering="authors")

    @classmethod
    def preset(cls, name: str, rewards: RewardGrid, lengths: LengthGrid, alpha: float,
               beta: float, cap: int, **ours) -> "PlannerConfig":
        """``ours`` (keyword arguments as given) or ``authors`` (the preset; only ``lengths``
        of the keywords applies). The one place the command line's ``--planner`` resolves."""
        if name == "authors":
            return cls.authors(rewards, alpha, beta, cap, lengths=lengths)
        if name != "ours":
            raise PlannerError(f"unknown planner {name!r}; choose one of {', '.join(PLANNERS)}")
        return cls(rewards, lengths, alpha=alpha, beta=beta, cap=cap, **ours)

    @property
    def planner_name(self) -> str:
        """``authors`` when this is exactly the authors' preset, else ``ours``."""
        a = PlannerConfig.authors(self.rewards, self.alpha, self.beta, self.cap, self.lengths)
        return "authors" if self == a else "ours"

    @property
    def prune_points(self) -> np.ndarray:
        """Length (ticks) charged to a sample pruned at each horizon index (last: never)."""
        return self._kernel_grids[2]

    @property
    def order_code(self) -> int:
        return 1 if self.ordering == "authors" else 0

    def __post_init__(self):
        # convert what is unambiguous (a sequence of rewards, numeric strings of numbers),
        # reject the rest with one line naming the field
        if not isinstance(self.rewards, RewardGrid):
            try:
                object.__setattr__(self, "rewards", RewardGrid(self.rewards))
            except GridError as e:
                raise PlannerError(f"rewards: {e}") from None
        if not isinstance(self.lengths, LengthGrid):
            raise PlannerError(f"lengths must be a LengthGrid (e.g. LengthGrid.official() or "
                               f"LengthGrid.ticks(T)), got {type(self.lengths).__name__}")
        for name in ("alpha", "beta"):
            x = getattr(self, name)
            if isinstance(x, bool):
                raise PlannerError(f"{name} must be a number, got {x!r}")
            try:
                object.__setattr__(self, name, float(x))
            except (TypeError, ValueError):
                raise PlannerError(f"{name} must be a number, got {x!r}") from None
        if isinstance(self.cap, bool) or not isinstance(self.cap, (int, np.integer, float)):
            raise PlannerError(f"cap must be a non-negative integer, got {self.cap!r}")
        object.__setattr__(self, "branching", bool(self.branching))
        if not (0.0 <= self.alpha <= 1.0) or not np.isfinite(self.alpha):
            raise PlannerError(f"alpha must be in [0, 1], got {self.alpha!r}")
        if not (self.beta >= 0.0) or not np.isfinite(self.beta):
            raise PlannerError(f"beta must be finite and >= 0, got {self.beta!r}")
        if int(self.cap) != self.cap or self.cap < 0:
            raise PlannerError(f"cap must be a non-negative integer, got {self.cap!r}")
        object.__setattr__(self, "cap", int(self.cap))
        if self.search not in SEARCHES:
            raise PlannerError(f"unknown search {self.search!r}; choose one of {', '.join(SEARCHES)}")
        if self.normalizer not in NORMALIZERS:
            raise PlannerError(f"unknown normalizer {self.normalizer!r}; choose one of {', '.join(NORMALIZERS)}")
        if self.prune_charge not in PRUNE_CHARGES:
            raise PlannerError(f"unknown prune_charge {self.prune_charge!r}; choose one of "
                               f"{', '.join(PRUNE_CHARGES)}")
        if self.ordering not in PLANNERS:
            raise PlannerError(f"unknown ordering {self.ordering!r}; choose one of {', '.join(PLANNERS)}")
        rep = np.ascontiguousarray(self.lengths.representative, dtype=np.float64)
        upper = np.array(self.lengths.upper, dtype=np.float64)
        if self.prune_charge == "midpoint" and rep.size > 1:
            # the authors collapse the mass of bins >= B into bin B at its midpoint
            upper[:-1] = rep[1:]
        upper.setflags(write=False)
        # contiguous copies for the kernels, made once (plan() is on the hot path)
        object.__setattr__(self, "_kernel_grids", (
            np.ascontiguousarray(self.rewards.values, dtype=np.float64), rep, upper))
        object.__setattr__(self, "trusted", TrustedPlanner(self))

    def __eq__(self, other):
        if not isinstance(other, PlannerConfig):
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in
                   ("alpha", "beta", "cap", "search", "normalizer", "branching", "prune_charge",
                    "ordering")) and _grids_equal(self, other)


@dataclass
class PlanningState:
    """What the planner sees at one decision epoch.

    ``joints`` ``(n, B, L)``: predictions of the unfinished (running or paused) samples;
    ``root_joint`` ``(B, L)``: prediction for a fresh sample; ``floor_index``: reward-grid
    index of the best finished value known exactly (0 when none); ``finished``: optional
    ``(k, B)`` reward distributions, one per finished sample whose reward is only predicted
    (e.g. the prediction read just before it ended): each enters E[max] as a CDF factor, and
    a point mass at ``v`` is the same as a floor at ``v``. Both may be given; the planner uses
    the max of all. ``n_created``: samples created so far (finished, unfinished and pruned:
    all count toward the cap); ``elapsed``: ticks already generated by each unfinished sample
    and ``finished_lengths``: total ticks of each finished sample (both used only by the
    ``state`` normaliser).
    """

    joints: np.ndarray
    root_joint: np.ndarray
    floor_index: int = 0
    n_created: int = 0
    elapsed: np.ndarray | None = None
    finished_lengths: np.ndarray | None = None
    finished: np.ndarray | None = None

    def __post_init__(self):
        # sequences become float64 arrays (no copy for float64 arrays: plan() is hot); shapes
        # are checked against the grids in plan(), consistency among the fields here
        try:
            self.root_joint = np.asarray(self.root_joint, dtype=np.float64)
            self.joints = np.asarray(self.joints, dtype=np.float64)
        except (TypeError, ValueError):
            raise PlannerError("joints and root_joint must be arrays of numbers") from None
        if self.root_joint.ndim != 2:
            raise PlannerError(f"root_joint must be 2-D (B, L), got shape {self.root_joint.shape}")
        if self.joints.size == 0:  # no unfinished sample: [] is fine
            self.joints = np.zeros((0, *self.root_joint.shape))
        if self.joints.ndim != 3 or self.joints.shape[1:] != self.root_joint.shape:
            raise PlannerError(f"joints must have shape (n, {', '.join(map(str, self.root_joint.shape))}) "
                               f"like root_joint, got {self.joints.shape}")
        for name in ("floor_index", "n_created"):
            x = getattr(self, name)
            try:
                ok = not isinstance(x, bool) and int(x) == x and x >= 0
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise PlannerError(f"{name} must be a non-negative integer, got {x!r}")
            setattr(self, name, int(x))
        n = self.joints.shape[0]
        if self.n_created < n:
            raise PlannerError(f"n_created ({self.n_created}) is smaller than the {n} unfinished samples")
        if self.elapsed is not None:
            self.elapsed = np.asarray(self.elapsed, dtype=np.float64)
            if self.elapsed.shape != (n,):
                raise PlannerError(f"elapsed needs one entry per unfinished sample ({n}), "
                                   f"got shape {self.elapsed.shape}")
        if self.finished_lengths is not None:
            self.finished_lengths = np.asarray(self.finished_lengths, dtype=np.float64).ravel()

    @property
    def n_unfinished(self) -> int:
        return int(self.joints.shape[0])


def finished_cdf(state: PlanningState, B: int) -> np.ndarray:
    """Product of the finished samples' reward CDFs (floor and distributions), ``(B,)``.

    ``E[max(finished, kept)] = sum_b v_b (F(b) - F(b-1))`` with ``F`` this factor times the
    kept samples' CDFs: independent variables multiply their CDFs."""
    if not 0 <= state.floor_index < B:
        raise PlannerError(f"floor_index {state.floor_index} is off the reward grid of {B} states")
    fin = np.ones(B)
    fin[: int(state.floor_index)] = 0.0
    if state.finished is not None:
        f = np.asarray(state.finished, dtype=np.float64)
        if f.ndim == 1 and f.size == 0:
            return fin
        if f.ndim != 2 or f.shape[1] != B:
            raise PlannerError(f"finished must hold one reward distribution of {B} states per "
                               f"finished sample, got shape {f.shape}")
        if not np.all(np.isfinite(f)) or np.any(f < 0):
            raise PlannerError("finished reward distributions must be finite and >= 0")
        bad = np.flatnonzero(np.abs(f.sum(axis=1) - 1.0) > 1e-9)
        if bad.size:
            raise PlannerError(f"finished sample {int(bad[0])}: reward distribution sums to "
                               f"{f[bad[0]].sum():.12g}, not 1")
        fin *= np.prod(np.minimum(np.cumsum(f, axis=1), 1.0), axis=0)
    return fin


@dataclass(frozen=True)
class Decision:
    strategy: Strategy
    q: float
    normalizer: float

    @property
    def advance(self) -> tuple:
        return self.strategy.keep

    @property
    def stop(self) -> bool:
        return self.strategy.is_stop


def fixed_normalizer(root_joint: np.ndarray, lengths: LengthGrid) -> float:
    """Expected total length (ticks) of a fresh sample under the root prediction."""
    return expected_remaining(root_joint, lengths)


def normalizer_value(config: PlannerConfig, state: PlanningState) -> float:
    """``D`` for this state under ``config.normalizer``."""
    if config.normalizer == "raw":
        return 1.0
    root_len = fixed_normalizer(state.root_joint, config.lengths)
    if config.normalizer == "fixed":
        d = root_len
    else:
        # The authors' research code: mean over samples of (tokens so far + expected remaining).
        totals = []
        elapsed = (np.zeros(state.n_unfinished) if state.elapsed is None
                   else np.asarray(state.elapsed, dtype=np.float64))
        for i in range(state.n_unfinished):
            totals.append(elapsed[i] + expected_remaining(state.joints[i], config.lengths))
        if state.finished_lengths is not None:
            totals.extend(float(x) for x in state.finished_lengths)
        d = float(np.mean(totals)) if totals else root_len
    if not d > 0:
        raise PlannerError(f"normaliser D must be > 0, got {d!r}")
    return d


def _as_state_arrays(config: PlannerConfig, state: PlanningState):
    B, L = config.rewards.size, config.lengths.size
    joints = np.asarray(state.joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (B, L):
        raise PlannerError(f"joints must have shape (n, {B}, {L}), got {joints.shape}")
    root = np.asarray(state.root_joint, dtype=np.float64)
    if root.shape != (B, L):
        raise PlannerError(f"root joint must have shape ({B}, {L}), got {root.shape}")
    n = joints.shape[0]
    if state.n_created < n:
        raise PlannerError(f"n_created ({state.n_created}) is smaller than the {n} unfinished samples")
    if config.search == "exhaustive" and n > MAX_EXHAUSTIVE_SAMPLES:
        raise PlannerError(f"exhaustive search over {n} unfinished samples is infeasible "
                           f"(limit {MAX_EXHAUSTIVE_SAMPLES}); use two-prefix or top-k")
    return stack_joints(joints, root), n


def _orders(config: PlannerConfig, stacked: np.ndarray, n: int):
    ev = stacked[:n].sum(axis=2) @ config.rewards.values
    er = stacked[:n].sum(axis=1) @ config.lengths.representative
    return np.argsort(er, kind="stable"), np.argsort(-ev, kind="stable")


def _candidate_masks(search: str, by_length: np.ndarray, by_value: np.ndarray) -> list:
    """Kept sets of a restricted search in the kernels' visiting order (first occurrences)."""
    n = by_length.size
    a_max = n if search == "two-prefix" else 0
    seen, out = set(), []
    base = 0
    for a in range(a_max + 1):
        if a > 0:
            base |= 1 << int(by_length[a - 1])
        mask = base
        for v in range(n + 1):
            if v > 0:
                i = int(by_value[v - 1])
                if (mask >> i) & 1:
                    continue
                mask |= 1 << i
            if mask not in seen:
                seen.add(mask)
                out.append(mask)
    return out


def plan(state: PlanningState, config: PlannerConfig, normalizer: float | None = None) -> Decision:
    """ZIP-RC's decision at one epoch: the best strategy under ``config.search``.

    ``normalizer`` overrides ``D`` (callers that fix ``D`` per question pass it once).
    """
    stacked, n = _as_state_arrays(config, state)
    fin = finished_cdf(state, config.rewards.size)
    d = normalizer_value(config, state) if normalizer is None else float(normalizer)
    if not d > 0:
        raise PlannerError(f"normaliser D must be > 0, got {d!r}")
    best = config.trusted.best(stacked, n, max(0, config.cap - state.n_created), fin, d)
    return Decision(strategy=_strategy_from_best(best, n, config.lengths.size), q=float(best[0]),
                    normalizer=d)


def _strategy_from_best(best, n: int, L: int) -> Strategy:
    mask = int(best[2])
    m = int(best[3])
    src = int(best[4])
    keep = tuple(i for i in range(n) if (mask >> i) & 1)
    if not keep and m == 0:
        return Strategy(keep=(), new=0, horizon_index=L - 1, branch_from=None)
    return Strategy(keep=keep, new=m, horizon_index=int(best[5]),
                    branch_from=None if src < 0 else src)


def strategy_value(state: PlanningState, config: PlannerConfig, strategy: Strategy,
                   normalizer: float | None = None) -> float:
    """Closed-form ``Q(mu; S)`` of one strategy (Numba tables)."""
    stacked, n = _as_state_arrays(config, state)
    _check_strategy(strategy, n, config, state)
    fin = finished_cdf(state, config.rewards.size)
    d = normalizer_value(config, state) if normalizer is None else float(normalizer)
    values, rep, upper = config._kernel_grids
    RC, LC, EL, XL = _build_tables(values, rep, upper, stacked)
    mask = sum(1 << i for i in strategy.keep)
    src = -1 if strategy.branch_from is None else int(strategy.branch_from)
    return float(_q_direct(values, RC, LC, EL, XL, mask, n, src, int(strategy.new),
                           int(strategy.horizon_index), fin, config.alpha, config.beta / d))


def _check_strategy(strategy: Strategy, n: int, config: PlannerConfig, state: PlanningState):
    if any(not 0 <= i < n for i in strategy.keep) or len(set(strategy.keep)) != len(strategy.keep):
        raise PlannerError(f"strategy keeps {strategy.keep}, but there are {n} unfinished samples")
    if strategy.new < 0 or state.n_created + strategy.new > config.cap:
        raise PlannerError(f"strategy starts {strategy.new} new samples; cap {config.cap} allows "
                           f"{config.cap - state.n_created}")
    if strategy.branch_from is not None and not 0 <= strategy.branch_from < n:
        raise PlannerError(f"strategy branches from sample {strategy.branch_from}, which is not unfinished")
    if not 0 <= strategy.horizon_index < config.lengths.size:
        raise PlannerError(f"horizon index {strategy.horizon_index} is off the length grid")


def enumerate_strategies(n_unfinished: int, config: PlannerConfig, n_created: int):
    """Every strategy of the class at a state (the stop strategy once)."""
    L = config.lengths.size
    max_new = max(0, config.cap - n_created)
    sources = [None] + (list(range(n_unfinished)) if config.branching else [])
    yield Strategy(keep=(), new=0, horizon_index=L - 1)
    for mask in range(1 << n_unfinished):
        keep = tuple(i for i in range(n_unfinished) if (mask >> i) & 1)
        for j in range(L):
            if keep:
                yield Strategy(keep=keep, new=0, horizon_index=j)
            for src in sources:
                for m in range(1, max_new + 1):
                    yield Strategy(keep=keep, new=m, horizon_index=j, branch_from=src)


# --------------------------------------------------------------------------- NumPy reference


def strategy_value_reference(state: PlanningState, config: PlannerConfig, strategy: Strategy,
                             normalizer: float) -> float:
    """Q of one strategy straight from the definition (truncate, then order statistics)."""
    values = config.rewards.values
    # finished samples: extra independent reward variables (the floor stays a floor)
    fin = (np.zeros((0, values.size)) if state.finished is None
           else np.asarray(state.finished, dtype=np.float64).reshape(-1, values.size))
    if strategy.is_stop:
        return expected_max_reference(values, fin, None, int(state.floor_index)) if len(fin) \
            else float(values[state.floor_index])
    j = strategy.horizon_index
    xl = truncated_lengths(config.lengths, j)
    if j < config.lengths.size - 1:
        xl[-1] = config.prune_points[j]
    order = np.argsort(xl, kind="stable")
    joints = [np.asarray(state.joints[i]) for i in strategy.keep]
    src = state.root_joint if strategy.branch_from is None else state.joints[strategy.branch_from]
    tr = [truncate(p, j) for p in joints] + [truncate(src, j)] * int(strategy.new)
    reward_pmfs = np.array([t.sum(axis=1) for t in tr] + list(fin))
    length_pmfs = np.array([t.sum(axis=0)[order] for t in tr])
    ez = expected_max_reference(values, reward_pmfs, None, int(state.floor_index))
    emax_len = expected_max_reference(xl[order], length_pmfs)
    esum = float(sum(t.sum(axis=0) @ xl for t in tr))
    return ez - config.beta / normalizer * (config.alpha * esum + (1 - config.alpha) * emax_len)


def plan_reference(state: PlanningState, config: PlannerConfig,
                   normalizer: float | None = None) -> Decision:
    """The definition, strategy by strategy (slow): same search and tie rule as :func:`plan`."""
    stacked, n = _as_state_arrays(config, state)
    d = normalizer_value(config, state) if normalizer is None else float(normalizer)
    if config.search == "exhaustive":
        masks = list(range(1 << n))
    else:
        by_length, by_value = _orders(config, stacked, n)
        masks = _candidate_masks(config.search, by_length, by_value)
    L = config.lengths.size
    max_new = max(0, config.cap - state.n_created)
    sources = [None] + (list(range(n)) if config.branching else [])
    stop = Strategy(keep=(), new=0, horizon_index=L - 1)
    best, best_size = stop, 0
    best_q = strategy_value_reference(state, config, stop, d)
    # Same visiting order as the kernels: exhaustive loops horizon-major, others mask-major
    # (horizons ascending, or "never" first in the authors' ordering).
    hz = ([L - 1] + list(range(L - 1)) if config.ordering == "authors" else list(range(L)))
    pairs = ([(m, j) for j in range(L) for m in masks] if config.search == "exhaustive"
             else [(m, j) for m in masks for j in hz])
    for mask, j in pairs:
        keep = tuple(i for i in range(n) if (mask >> i) & 1)
        cands = []
        if keep:
            cands.append(Strategy(keep=keep, new=0, horizon_index=j))
        if max_new > 0:
            for src in sources:
                for m in range(1, max_new + 1):
                    cands.append(Strategy(keep=keep, new=m, horizon_index=j, branch_from=src))
        for s in cands:
            q = strategy_value_reference(state, config, s, d)
            size = len(s.keep) + s.new
            if q > best_q + TIE_TOL or (q >= best_q - TIE_TOL and size > best_size):
                best, best_q, best_size = s, q, size
    if config.search == "two-prefix" and not best.is_stop:
        _, by_value = _orders(config, stacked, n)
        if config.ordering == "authors":
            by_value = np.arange(n)  # the authors re-add in sample order
        keep = set(best.keep)
        for i in by_value:
            i = int(i)
            if i in keep:
                continue
            trial = Strategy(keep=tuple(sorted(keep | {i})), new=best.new,
                             horizon_index=best.horizon_index, branch_from=best.branch_from)
            q2 = strategy_value_reference(state, config, trial, d)
            if q2 >= best_q - TIE_TOL:
                keep.add(i)
                best, best_q = trial, q2
    return Decision(strategy=best, q=float(best_q), normalizer=d)


def validate_state_joints(state: PlanningState, config: PlannerConfig) -> None:
    """Validate every joint of a planning state (names the offending sample)."""
    B, L = config.rewards.size, config.lengths.size
    for i, p in enumerate(np.asarray(state.joints)):
        validate_joint(p, B, L, name=f"sample {i}")
    validate_joint(state.root_joint, B, L, name="root joint")


# --------------------------------------------------------------------------- initial-K


@njit(cache=True)
def _initial_k_kernel(values, RC, LC, EL, XL, root_s, max_new, fin, alpha, cost_scale, tol):
    """Best (m, horizon) for m i.i.d. fresh samples: the i.i.d. power form ``F^m``."""
    B = values.size
    L = XL.shape[0]
    best = np.array([_stop_value(values, fin), 0.0, 0.0, 0.0, -1.0, float(L - 1)])
    for j in range(L):
        npts = j + 2
        for m in range(1, max_new + 1):
            ez = 0.0
            gp = 0.0
            for b in range(B):
                g = fin[b] * RC[root_s, j, b] ** m
                ez += values[b] * (g - gp)
                gp = g
            emax = 0.0
            gp = 0.0
            for k in range(npts):
                g = LC[root_s, j, k] ** m
                emax += XL[j, k] * (g - gp)
                gp = g
            q = ez - cost_scale * (alpha * m * EL[root_s, j] + (1.0 - alpha) * emax)
            _offer(best, q, m, 0, m, -1, j, tol)
    return best


def initial_k(root_joint: np.ndarray, config: PlannerConfig, n_created: int = 0,
              floor_index: int = 0, normalizer: float | None = None) -> Decision:
    """Initial-K search: how many fresh samples to start when every sample shares the root
    joint (``t = 0``), as a one-dimensional search over ``(m, h)`` with ``F^m``.

    Equals the exhaustive search on a state with no unfinished samples.
    """
    root = np.asarray(root_joint, dtype=np.float64)
    B, L = config.rewards.size, config.lengths.size
    if root.shape != (B, L):
        raise PlannerError(f"root joint must have shape ({B}, {L}), got {root.shape}")
    d = fixed_normalizer(root, config.lengths) if normalizer is None else float(normalizer)
    if config.normalizer == "raw" and normalizer is None:
        d = 1.0
    if not d > 0:
        raise PlannerError(f"normaliser D must be > 0, got {d!r}")
    values, rep, upper = config._kernel_grids
    RC, LC, EL, XL = _build_tables(values, rep, upper, root[None, :, :].copy())
    if not 0 <= floor_index < B:
        raise PlannerError(f"floor_index {floor_index} is off the reward grid of {B} states")
    best = _initial_k_kernel(values, RC, LC, EL, XL, 0, max(0, config.cap - n_created),
                             floor_cdf(B, int(floor_index)), float(config.alpha),
                             config.beta / d, TIE_TOL)
    return Decision(strategy=_strategy_from_best(best, 0, L), q=float(best[0]), normalizer=d)
