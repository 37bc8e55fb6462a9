"""Kernel of ZIP-RC sampling (``metamdp.policies.ZipRC``)."""

from __future__ import annotations

import numpy as np
from numba import njit

from metamdp.planner import floor_cdf
from metamdp.policies.kernels import joint_remaining, midpoint_prune_points, ziprc_plan_dist

from ..policies import SLOTS

from ..runner import (S_ALPHA, S_BETA, S_BRANCH, S_CAP, S_INITK, S_INTERVAL, S_NORM, S_SEARCH,
                      S_SEL, ST_DONE, ST_OPEN)
from .common import (account, new_state, predict, predict_many, prediction_scratch, select_answer,
                     shared_class, start_branch, start_root, step_all, track_history)


S_PLANNER = SLOTS["planner"]


@njit(cache=True)
def ziprc_episode(prm, corr_prm, seed, q, W, t_max, out):
    cap = int(prm[S_CAP])
    alpha = prm[S_ALPHA]
    beta = prm[S_BETA]
    search = int(prm[S_SEARCH])
    norm = int(prm[S_NORM])
    branching = prm[S_BRANCH] > 0
    init_k = int(prm[S_INITK])
    interval = int(prm[S_INTERVAL])
    values, rep, upper = W[0], W[10], W[11]
    order_code = int(prm[S_PLANNER])  # 1: the authors' planner (re-add order, ties)
    if order_code == 1:
        upper = midpoint_prune_points(rep, upper)  # and their prune charge
    B = values.size
    Lp = rep.size
    track = track_history(corr_prm)
    S = new_state(cap, t_max, track)
    shared = shared_class(W, q, seed, cap)
    P = prediction_scratch(W, q, t_max)
    ntot, age, status, rcls = S[1], S[2], S[6], S[9]
    stacked = np.empty((cap + 1, B, Lp))
    root = np.empty((B, Lp))
    predict(-1, seed, q, W, S, track, corr_prm, P, root)
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
            predict_many(unf, n, seed, q, W, S, track, corr_prm, P, stacked)
            stacked[n, :, :] = root
            max_new = cap - created
            if init_k > 0 and created == 0:
                mask, m, src = 0, init_k if init_k < max_new else max_new, -1
            else:
                d_fixed = joint_remaining(stacked[n], rep)
                if norm == 1:
                    d = 1.0
                elif norm == 2:
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
                mask, m, src = ziprc_plan_dist(values, rep, upper, stacked[:n + 1], np.int64(n), max_new,
                                               branching, floor_cdf(B, floor_idx), alpha, beta, d,
                                               search, order_code)
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
                    start_root(i, seed, q, W, t_max, S, corr_prm, shared, track)
                else:
                    start_branch(i, unf[src], seed, q, W, t_max, S, corr_prm, shared, track, P[0], cw)
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
    chosen = select_answer(int(prm[S_SEL]), created, S, values, np.zeros(0),
                           np.zeros(W[6].shape[1] + 1))
    account(S, created, chosen, gen, serial, 0.0, W[7][q], out)
