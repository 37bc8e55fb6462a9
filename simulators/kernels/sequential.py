"""Kernels of the sequential baselines (``metamdp.policies.sequential``): one sample, or
one window of samples, runs to completion before the policy decides again, so each step
has a closed form in its samples' lengths."""

from __future__ import annotations

import numpy as np
from numba import njit

from metamdp.policies.kernels import beta_stop_prob, reservation_value

from ..runner import S_BETA, S_CAP, S_N, S_THR, S_WINDOW, ST_DONE
from .common import (account, new_state, predict, prediction_scratch, select_answer, shared_class,
                     start_root, track_history)


@njit(cache=True)
def _run_one(i, seed, q, W, t_max, S, corr_prm, shared, track):
    """Start sample ``i`` and run it to its end; returns its length."""
    start_root(i, seed, q, W, t_max, S, corr_prm, shared, track)
    S[6][i] = ST_DONE
    S[2][i] = S[1][i]
    return S[1][i]


@njit(cache=True)
def ac_episode(prm, corr_prm, seed, q, W, t_max, out):
    cap = int(prm[S_CAP])
    n = int(prm[S_N])
    track = False  # no prediction of a sample is read: no signal history needed
    S = new_state(cap, t_max, track)
    shared = shared_class(W, q, seed, cap)
    answer = S[8]
    scores = np.zeros(W[6].shape[1] + 1)
    gen = 0
    serial = 0
    created = 0
    for i in range(n):
        ln = _run_one(i, seed, q, W, t_max, S, corr_prm, shared, track)
        created += 1
        gen += ln
        serial += ln
        for a in range(scores.size):
            scores[a] = 0.0
        for j in range(created):
            scores[answer[j]] += 1.0
        a1 = 0.0
        a2 = 0.0
        for a in range(scores.size):
            if scores[a] > a1:
                a2 = a1
                a1 = scores[a]
            elif scores[a] > a2:
                a2 = scores[a]
        if beta_stop_prob(int(a1), int(a2)) >= prm[S_THR]:
            break
    chosen = select_answer(2, created, S, W[0], np.zeros(0), scores)
    account(S, created, chosen, gen, serial, 0.0, W[7][q], out)


@njit(cache=True)
def pandora_episode(prm, corr_prm, seed, q, W, t_max, out):
    cap = int(prm[S_CAP])
    n = int(prm[S_N])
    track = False  # no prediction of a sample is read: no signal history needed
    S = new_state(cap, t_max, track)
    shared = shared_class(W, q, seed, cap)
    values, rcls = W[0], S[9]
    root = np.empty((values.size, W[10].size))
    predict(-1, seed, q, W, S, track, corr_prm, prediction_scratch(W, q, t_max), root)
    z = reservation_value(values, root, prm[S_BETA])
    gen = 0
    serial = 0
    created = 0
    best_v = 0.0
    have = False
    for i in range(n):
        if z <= best_v if have else z <= 0.0:
            break
        ln = _run_one(i, seed, q, W, t_max, S, corr_prm, shared, track)
        created += 1
        gen += ln
        serial += ln
        v = values[rcls[i]]
        if not have or v > best_v:
            best_v = v
        have = True
    chosen = select_answer(0, created, S, values, np.zeros(0), np.zeros(1))
    account(S, created, chosen, gen, serial, 0.0, W[7][q], out)


@njit(cache=True)
def esc_episode(prm, corr_prm, seed, q, W, t_max, out):
    cap = int(prm[S_CAP])
    n = int(prm[S_N])
    w = int(prm[S_WINDOW])
    track = False  # no prediction of a sample is read: no signal history needed
    S = new_state(cap, t_max, track)
    shared = shared_class(W, q, seed, cap)
    answer = S[8]
    gen = 0
    serial = 0
    created = 0
    while created < n:
        size = w if created + w <= n else n - created
        longest = 0
        unanimous = True
        for j in range(size):
            i = created + j
            ln = _run_one(i, seed, q, W, t_max, S, corr_prm, shared, track)
            gen += ln
            if ln > longest:
                longest = ln
            if answer[i] != answer[created]:
                unanimous = False
        created += size
        serial += longest
        if unanimous:
            break
    chosen = select_answer(2, created, S, W[0], np.zeros(0), np.zeros(W[6].shape[1] + 1))
    account(S, created, chosen, gen, serial, 0.0, W[7][q], out)
