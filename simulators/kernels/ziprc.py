"""Kernel of ZIP-RC sampling (``metamdp.policies.ZipRC``) and of ZIP-RC with recourse
(``metamdp.policies.ZipRCRecourse``: the same episode, the recourse planner deciding)."""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit

from metamdp.planner import _SEARCH_CODE, NORMALIZERS, floor_cdf
from metamdp.policies import SELECTIONS
from metamdp.policies.kernels import (joint_remaining, midpoint_prune_points, ziprc_plan_dist,
                                     ziprc_plan_terms)
from metamdp.recourse import recourse_plan_dist

from .common import (account, predict, predict_many, prediction_scratch, record_plan, select_answer,
                     shared_class, start_branch, start_root, step_all, track_history)
from .samples import ST_DONE, ST_OPEN, new_state

ZipRCParams = namedtuple("ZipRCParams", ("cap", "alpha", "beta", "search", "normalizer", "branching",
                                         "init_k", "interval", "sel", "midpoint", "order_code",
                                         "recourse"))
# normalisers by name (codes: positions in metamdp.planner.NORMALIZERS)
NORM_FIXED, NORM_RAW, NORM_STATE = (NORMALIZERS.index(k) for k in ("fixed", "raw", "state"))


def pack_ziprc(policy, delta: int, recourse: bool = False) -> ZipRCParams:
    """The knobs :func:`ziprc_episode` reads; ``midpoint`` (the prune charge) and
    ``order_code`` (re-add and tie order) as the reference holds them (``planner`` or a
    :class:`metamdp.PlannerConfig` set both); ``recourse``: plan with the recourse planner."""
    return ZipRCParams(int(policy.cap), float(policy.alpha), float(policy.beta),
                       _SEARCH_CODE[policy.search], NORMALIZERS.index(policy.normalizer),
                       bool(policy.branching), int(policy.init_k), int(policy.interval),
                       SELECTIONS.index(policy.selection), bool(policy.midpoint),
                       int(policy.order_code), bool(recourse))


def pack_ziprc_recourse(policy, delta: int) -> ZipRCParams:
    """:func:`pack_ziprc` of a :class:`metamdp.policies.ZipRCRecourse`."""
    return pack_ziprc(policy, delta, recourse=True)


@njit(cache=True)
def ziprc_episode(p, corr, seed, q, W, t_max, out):
    cap = p.cap
    alpha = p.alpha
    beta = p.beta
    search = p.search
    norm = p.normalizer
    branching = p.branching
    init_k = p.init_k
    interval = p.interval
    values, rep, upper = W.values, W.rep, W.upper
    order_code = p.order_code
    if p.midpoint:
        upper = midpoint_prune_points(rep, upper)  # the authors' prune charge
    B = values.size
    Lp = rep.size
    track = track_history(corr)
    S = new_state(cap, t_max, track)
    shared = shared_class(W, q, seed, cap)
    P = prediction_scratch(W, q, t_max)
    age, status, rcls = S.age, S.status, S.rcls
    stacked = np.empty((cap + 1, B, Lp))
    root = np.empty((B, Lp))
    predict(-1, seed, q, W, S, track, corr, P, root)
    unf = np.empty(cap, dtype=np.int64)
    adv = np.zeros(cap, dtype=np.bool_)
    ended = np.zeros(cap, dtype=np.bool_)
    cw = np.empty(B)
    floor_idx = 0
    since = 0
    created = 0
    gen = 0
    serial = 0
    epoch = 0
    planned = False    # what the planner expected at t = 0 (METRICS plan_utility, plan_value)
    plan_q = 0.0
    plan_v = 0.0
    while True:
        still = False
        for i in range(created):
            if adv[i] and status[i] == ST_OPEN:
                still = True
        if since < interval and still:
            since += 1
        else:
            n = 0
            for i in range(created):
                if status[i] == ST_OPEN:
                    unf[n] = i
                    n += 1
            predict_many(unf, n, seed, q, W, S, track, corr, P, stacked)
            stacked[n, :, :] = root
            max_new = cap - created
            if init_k > 0 and created == 0:
                mask, m, src = 0, init_k if init_k < max_new else max_new, -1
            else:
                d_fixed = joint_remaining(stacked[n], rep)
                if norm == NORM_RAW:
                    d = 1.0
                elif norm == NORM_STATE:
                    tot = 0.0
                    cnt = 0
                    for j in range(n):
                        tot += age[unf[j]] + joint_remaining(stacked[j], rep)
                        cnt += 1
                    for i in range(created):
                        if status[i] == ST_DONE:
                            tot += age[i]
                            cnt += 1
                    d = tot / cnt if cnt > 0 else d_fixed
                else:
                    d = d_fixed
                # np.int64(n): n is typed as the literal 0 first, which would compile the
                # whole planner a second time
                if p.recourse:
                    mask, m, src = recourse_plan_dist(values, rep, upper, stacked[:n + 1],
                                                      np.int64(n), max_new, branching,
                                                      floor_cdf(B, floor_idx), alpha, beta, d,
                                                      search)
                elif epoch == 0:
                    planned = True
                    mask, m, src, plan_q, plan_v = ziprc_plan_terms(
                        values, rep, upper, stacked[:n + 1], np.int64(n), max_new, branching,
                        floor_cdf(B, floor_idx), alpha, beta, d, search, order_code)
                else:
                    mask, m, src = ziprc_plan_dist(values, rep, upper, stacked[:n + 1], np.int64(n),
                                                   max_new, branching, floor_cdf(B, floor_idx), alpha,
                                                   beta, d, search, order_code)
            if mask == 0 and m == 0:
                break
            for i in range(cap):
                adv[i] = False
            for j in range(n):
                if (mask >> j) & 1:
                    adv[unf[j]] = True
            for _ in range(m):
                i = created
                if src < 0:
                    start_root(i, seed, q, W, t_max, S, corr, shared, track)
                else:
                    start_branch(i, unf[src], seed, q, W, t_max, S, corr, shared, track, P[0], cw)
                adv[i] = True
                created += 1
            since = 1
        g = step_all(adv, created, seed, q, W, S, track, ended)
        gen += g
        for i in range(created):
            if ended[i] and values[rcls[i]] > values[floor_idx]:
                floor_idx = rcls[i]
        if g > 0:
            serial += 1
        epoch += 1
        if epoch > cap * (t_max + 1):  # cannot happen: every epoch advances a sample
            break
    chosen = select_answer(p.sel, created, S, values, np.zeros(0),
                           np.zeros(W.distractor_cdf.shape[1] + 1))
    account(S, created, chosen, gen, serial, 0.0, W.mean_ticks[q], out)
    if planned:
        record_plan(plan_q, plan_v, out)
