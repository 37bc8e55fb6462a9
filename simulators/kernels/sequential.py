"""Kernels of the sequential baselines (``metamdp.policies.sequential``): one sample, or
one window of samples, runs to completion before the policy decides again, so each step
has a closed form in its samples' lengths."""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit

from metamdp.policies.kernels import beta_stop_prob, reservation_value

from .common import (SEL_PLURALITY, SEL_VALUE, account, predict, prediction_scratch, select_answer,
                     shared_class, start_root)
from .samples import ST_DONE, new_state

ACParams = namedtuple("ACParams", ("n", "cap", "threshold"))
ESCParams = namedtuple("ESCParams", ("n", "cap", "window"))
PandoraParams = namedtuple("PandoraParams", ("n", "cap", "beta"))


def pack_ac(policy, delta: int) -> ACParams:
    return ACParams(int(policy.n), int(policy.cap), float(policy.threshold))


def pack_esc(policy, delta: int) -> ESCParams:
    return ESCParams(int(policy.n), int(policy.cap), int(policy.window))


def pack_pandora(policy, delta: int) -> PandoraParams:
    return PandoraParams(int(policy.n), int(policy.cap), float(policy.beta))


@njit(cache=True)
def _run_one(i, seed, q, W, t_max, S, corr, shared, track):
    """Start sample ``i`` and run it to its end; returns its length."""
    start_root(i, seed, q, W, t_max, S, corr, shared, track)
    S.status[i] = ST_DONE
    S.age[i] = S.ntot[i]
    return S.ntot[i]


@njit(cache=True)
def ac_episode(p, corr, seed, q, W, t_max, out):
    cap = p.cap
    n = p.n
    track = False  # no prediction of a sample is read: no signal history needed
    S = new_state(cap, t_max, track)
    shared = shared_class(W, q, seed, cap)
    answer = S.answer
    scores = np.zeros(W.distractor_cdf.shape[1] + 1)
    gen = 0
    serial = 0
    created = 0
    for i in range(n):
        ln = _run_one(i, seed, q, W, t_max, S, corr, shared, track)
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
        if beta_stop_prob(int(a1), int(a2)) >= p.threshold:
            break
    chosen = select_answer(SEL_PLURALITY, created, S, W.values, np.zeros(0), scores)
    account(S, created, chosen, gen, serial, 0.0, W.mean_ticks[q], out)


@njit(cache=True)
def pandora_episode(p, corr, seed, q, W, t_max, out):
    cap = p.cap
    n = p.n
    track = False  # no prediction of a sample is read: no signal history needed
    S = new_state(cap, t_max, track)
    shared = shared_class(W, q, seed, cap)
    values, rcls = W.values, S.rcls
    root = np.empty((values.size, W.rep.size))
    predict(-1, seed, q, W, S, track, corr, prediction_scratch(W, q, t_max), root)
    z = reservation_value(values, root, p.beta)
    gen = 0
    serial = 0
    created = 0
    best_v = 0.0
    have = False
    for i in range(n):
        if z <= best_v if have else z <= 0.0:
            break
        ln = _run_one(i, seed, q, W, t_max, S, corr, shared, track)
        created += 1
        gen += ln
        serial += ln
        v = values[rcls[i]]
        if not have or v > best_v:
            best_v = v
        have = True
    chosen = select_answer(SEL_VALUE, created, S, values, np.zeros(0), np.zeros(1))
    account(S, created, chosen, gen, serial, 0.0, W.mean_ticks[q], out)


@njit(cache=True)
def esc_episode(p, corr, seed, q, W, t_max, out):
    cap = p.cap
    n = p.n
    w = p.window
    track = False  # no prediction of a sample is read: no signal history needed
    S = new_state(cap, t_max, track)
    shared = shared_class(W, q, seed, cap)
    answer = S.answer
    gen = 0
    serial = 0
    created = 0
    while created < n:
        size = w if created + w <= n else n - created
        longest = 0
        unanimous = True
        for j in range(size):
            i = created + j
            ln = _run_one(i, seed, q, W, t_max, S, corr, shared, track)
            gen += ln
            if ln > longest:
                longest = ln
            if answer[i] != answer[created]:
                unanimous = False
        created += size
        serial += longest
        if unanimous:
            break
    chosen = select_answer(SEL_PLURALITY, created, S, W.values, np.zeros(0), np.zeros(W.distractor_cdf.shape[1] + 1))
    account(S, created, chosen, gen, serial, 0.0, W.mean_ticks[q], out)
