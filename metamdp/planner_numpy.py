"""Vectorised NumPy reference of the planner (no Numba).

Same tables, same searches and the same closed form as :mod:`metamdp.planner`, written with
array operations over all kept sets at once. The tests compare the Numba planner against it
and ``ziprc bench`` reports the speed ratio of the two, measured in one run.

Tie rule: the best value wins; among candidates within ``TIE_TOL`` of it, the one advancing
the most samples; then the first in the kernels' visiting order. (The Numba kernels apply
the same preference incrementally, so the two agree except on chains of near-ties within
``1e-12``, where any choice is optimal to that tolerance.)
"""

from __future__ import annotations

import numpy as np

from .planner import (TIE_TOL, Decision, PlannerConfig, PlanningState, _as_state_arrays,
                      _candidate_masks, _orders, _strategy_from_best, finished_cdf,
                      normalizer_value)


def tables_numpy(values, rep, upper, stacked):
    """NumPy twin of ``planner._build_tables``: ``RC (S,L,B)``, ``LC (S,L,L+1)``, ``EL (S,L)``,
    ``XL (L,L+1)``."""
    S, B, L = stacked.shape
    lm = stacked.sum(axis=1)  # (S, L) length marginals
    tail = np.concatenate([np.cumsum(lm[:, ::-1], axis=1)[:, ::-1][:, 1:], np.zeros((S, 1))], axis=1)
    kept = np.cumsum(stacked, axis=2).transpose(0, 2, 1).copy()  # (S, L, B): mass with bin <= j
    kept[:, :, 0] += tail
    RC = np.minimum(np.cumsum(kept, axis=2), 1.0)
    cl = np.minimum(np.cumsum(lm, axis=1), 1.0)  # (S, L)
    k = np.arange(L + 1)
    j = np.arange(L)
    inside = k[None, :] <= j[:, None]  # (L, L+1)
    cl_pad = np.concatenate([cl, np.ones((S, 1))], axis=1)  # (S, L+1)
    LC = np.where(inside[None, :, :], cl_pad[:, None, :], 1.0)
    EL = np.cumsum(lm * rep[None, :], axis=1)
    up_fin = np.where(np.isfinite(upper), upper, 0.0)
    EL[:, :-1] += tail[:, :-1] * up_fin[None, :-1]
    XL = np.empty((L, L + 1))
    for jj in range(L):
        XL[jj, : jj + 1] = rep[: jj + 1]
        XL[jj, jj + 1:] = upper[jj] if jj < L - 1 else rep[L - 1]
    return RC, LC, EL, XL


def _q_batch(values, xl, PR, PL, SL, nk, rcs, lcs, els, m, fin, npts, alpha, cost_scale):
    """Closed-form Q for a batch of kept sets (rows) plus ``m`` copies of one source;
    ``fin`` is the finished samples' reward-CDF factor."""
    G = PR * rcs[None, :] ** m if m > 0 else PR.copy()
    G = G * fin[None, :]
    ez = (np.diff(G, axis=1, prepend=0.0) * values[None, :]).sum(axis=1)
    GL = PL[:, :npts] * (lcs[None, :npts] ** m if m > 0 else 1.0)
    emax = (np.diff(GL, axis=1, prepend=0.0) * xl[None, :npts]).sum(axis=1)
    q = ez - cost_scale * (alpha * (SL + m * els) + (1.0 - alpha) * emax)
    if m == 0:
        q = np.where(nk == 0, _stop_numpy(values, fin), q)
    return q


def _stop_numpy(values, fin):
    return float(np.diff(fin, prepend=0.0) @ values)


def _products(RC, LC, EL, masks_bits, j, n):
    """Products of the kept samples' CDFs for each mask (rows of ``masks_bits``)."""
    sel = masks_bits.astype(bool)  # (M, n)
    PR = np.prod(np.where(sel[:, :, None], RC[None, :n, j, :], 1.0), axis=1)
    PL = np.prod(np.where(sel[:, :, None], LC[None, :n, j, :], 1.0), axis=1)
    SL = (sel * EL[None, :n, j]).sum(axis=1)
    return PR, PL, SL


def _subset_products(RC, LC, EL, j, n):
    """Products for all 2^n subsets by doubling (subset ``mask`` at row ``mask``)."""
    B = RC.shape[2]
    P = LC.shape[2]
    PR = np.ones((1, B))
    PL = np.ones((1, P))
    SL = np.zeros(1)
    for i in range(n):
        PR = np.concatenate([PR, PR * RC[i, j][None, :]])
        PL = np.concatenate([PL, PL * LC[i, j][None, :]])
        SL = np.concatenate([SL, SL + EL[i, j]])
    return PR, PL, SL


def plan_numpy(state: PlanningState, config: PlannerConfig, normalizer: float | None = None
               ) -> Decision:
    """The planner in vectorised NumPy (exhaustive, two-prefix and top-k searches)."""
    stacked, n = _as_state_arrays(config, state)
    d = normalizer_value(config, state) if normalizer is None else float(normalizer)
    values = config.rewards.values
    rep, upper = config.lengths.representative, config.prune_points
    RC, LC, EL, XL = tables_numpy(values, rep, upper, stacked)
    L = config.lengths.size
    max_new = max(0, config.cap - state.n_created)
    cs = config.beta / d
    fi = finished_cdf(state, values.size)
    sources = [n] + (list(range(n)) if config.branching else [])
    if config.search == "exhaustive":
        masks = np.arange(1 << n, dtype=np.int64)
    else:
        by_length, by_value = _orders(config, stacked, n)
        masks = np.array(_candidate_masks(config.search, by_length, by_value), dtype=np.int64)
    bits = (masks[:, None] >> np.arange(n)[None, :]) & 1
    nk = bits.sum(axis=1)
    # candidate rows: q, size, mask, m, src, j, sub (sub = position within one (mask, j) visit)
    pos = np.arange(masks.size)
    rows = []
    for j in range(L):
        if config.search == "exhaustive":
            PR, PL, SL = _subset_products(RC, LC, EL, j, n)
        else:
            PR, PL, SL = _products(RC, LC, EL, bits, j, n)
        npts = j + 2
        q0 = _q_batch(values, XL[j], PR, PL, SL, nk, RC[n, j], LC[n, j], EL[n, j], 0, fi, npts,
                      config.alpha, cs)
        valid = nk > 0
        rows.append(np.column_stack([q0[valid], nk[valid], masks[valid], np.zeros(valid.sum()),
                                     np.full(valid.sum(), -1.0), np.full(valid.sum(), j),
                                     np.zeros(valid.sum()), pos[valid]]))
        sub = 0
        for s in (sources if max_new > 0 else []):
            for m in range(1, max_new + 1):
                sub += 1
                q = _q_batch(values, XL[j], PR, PL, SL, nk, RC[s, j], LC[s, j], EL[s, j], m, fi,
                             npts, config.alpha, cs)
                rows.append(np.column_stack([q, nk + m, masks, np.full(masks.size, m),
                                             np.full(masks.size, -1.0 if s == n else s),
                                             np.full(masks.size, j), np.full(masks.size, sub), pos]))
    stop = np.array([[_stop_numpy(values, fi), 0, 0, 0, -1, L - 1, -1, -1]], dtype=np.float64)
    cand = np.concatenate([stop] + rows)
    # the kernels' visiting order: exhaustive is horizon-major, restricted searches mask-major
    # (horizons ascending, or "never" first in the authors' ordering)
    hz_rank = cand[:, 5]
    if config.ordering == "authors":
        hz_rank = np.where(cand[:, 5] == L - 1, -1.0, cand[:, 5])
    if config.search == "exhaustive":
        order = np.lexsort((cand[:, 6], cand[:, 7], cand[:, 5]))
    else:
        order = np.lexsort((cand[:, 6], hz_rank, cand[:, 7]))
    order = np.concatenate([[0], order[order != 0]])  # stop is the incumbent
    cand = cand[order, :6]
    best_q = cand[:, 0].max()
    near = np.flatnonzero(cand[:, 0] >= best_q - TIE_TOL)
    pick = near[np.argmax(cand[near, 1])]  # largest size, first in order among equals
    best = cand[pick].copy()
    if config.search == "two-prefix" and not (best[2] == 0 and best[3] == 0):
        _, by_value = _orders(config, stacked, n)
        if config.ordering == "authors":
            by_value = np.arange(n)
        best = _readd_numpy(values, RC, LC, EL, XL, best, by_value, n, fi, config.alpha, cs)
    return Decision(strategy=_strategy_from_best(best, n, L), q=float(best[0]), normalizer=d)


def _readd_numpy(values, RC, LC, EL, XL, best, order, n, fi, alpha, cs):
    mask, m, src, j = int(best[2]), int(best[3]), int(best[4]), int(best[5])
    s = n if src < 0 else src

    def q_of(mk):
        bits = ((np.array([mk]) [:, None] >> np.arange(n)[None, :]) & 1)
        PR, PL, SL = _products(RC, LC, EL, bits, j, n)
        return float(_q_batch(values, XL[j], PR, PL, SL, bits.sum(axis=1), RC[s, j], LC[s, j],
                              EL[s, j], m, fi, j + 2, alpha, cs)[0])

    q = q_of(mask)
    for i in order:
        i = int(i)
        if (mask >> i) & 1:
            continue
        q2 = q_of(mask | (1 << i))
        if q2 >= q - TIE_TOL:
            mask |= 1 << i
            q = q2
    out = best.copy()
    out[0], out[1], out[2] = q, bin(mask).count("1") + m, mask
    return out
