"""Kernels of the baselines that read in-flight predictions or signals and drop samples
(``metamdp.policies.pruning``): a tick loop, the policy's decision after every tick."""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
from numba import njit

from metamdp.policies import SELECTIONS
from metamdp.policies.kernels import joint_value, percentile, trace_confidence, window_mean

from ..synthetic import P_CONF1, P_CONF2, hash_normal, stream_id
from .common import (SEL_VALUE, SEL_WEIGHTED, account, any_open, predict, predict_many,
                     prediction_scratch, select_answer, shared_class, start_roots, step, step_all,
                     track_history)
from .samples import ST_DONE, ST_OPEN, ST_PRUNED, new_state

RewardPruneParams = namedtuple("RewardPruneParams", ("n", "cap", "threshold", "sel"))
SpecRejectionParams = namedtuple("SpecRejectionParams", ("n", "cap", "keep_frac", "first_checkpoint"))
DeepConfParams = namedtuple("DeepConfParams", ("n", "cap", "warmup", "window", "percentile",
                                               "threshold", "use_pred", "strength"))


def pack_reward_prune(policy, delta: int) -> RewardPruneParams:
    return RewardPruneParams(int(policy.n), int(policy.cap), float(policy.threshold),
                             SELECTIONS.index(policy.selection))


def pack_spec_rejection(policy, delta: int) -> SpecRejectionParams:
    return SpecRejectionParams(int(policy.n), int(policy.cap), float(policy.keep_frac),
                               int(policy.first_checkpoint))


def pack_deepconf(policy, delta: int) -> DeepConfParams:
    # use_pred: the confidence is ZIP-RC's predicted E[value], not a simulated trace
    return DeepConfParams(int(policy.n), int(policy.cap), int(policy.warmup), int(policy.window),
                          float(policy.percentile), float(policy.threshold),
                          policy.signal == "ziprc", float(policy.strength))


@njit(cache=True)
def reward_prune_episode(p, corr, seed, q, W, t_max, out):
    cap = p.cap
    n = p.n
    thr = p.threshold
    track = track_history(corr)
    S = new_state(cap, t_max, track)
    shared = shared_class(W, q, seed, cap)
    P = prediction_scratch(W, q, t_max)
    values, status = W.values, S.status
    pj = np.empty((cap, values.size, W.rep.size))
    ids = np.empty(cap, dtype=np.int64)
    start_roots(0, n, seed, q, W, t_max, S, corr, shared, track)
    everyone = np.zeros(0, dtype=np.bool_)
    ended = np.zeros(cap, dtype=np.bool_)
    gen = 0
    serial = 0
    while True:
        g = step_all(everyone, n, seed, q, W, S, track, ended)
        gen += g
        if g > 0:
            serial += 1
        k = 0
        for i in range(n):
            if status[i] == ST_OPEN:
                ids[k] = i
                k += 1
        predict_many(ids, k, seed, q, W, S, track, corr, P, pj)
        for j in range(k):
            if joint_value(pj[j], values) < thr:
                status[ids[j]] = ST_PRUNED
        if not any_open(S, n):
            break
    chosen = select_answer(p.sel, n, S, values, np.zeros(0), np.zeros(W.distractor_cdf.shape[1] + 1))
    account(S, n, chosen, gen, serial, 0.0, W.mean_ticks[q], out)


@njit(cache=True)
def spec_rejection_episode(p, corr, seed, q, W, t_max, out):
    cap = p.cap
    n = p.n
    track = track_history(corr)
    S = new_state(cap, t_max, track)
    shared = shared_class(W, q, seed, cap)
    P = prediction_scratch(W, q, t_max)
    values, status = W.values, S.status
    pjs = np.empty((cap, values.size, W.rep.size))
    ids = np.empty(cap, dtype=np.int64)
    wts = np.zeros(cap)
    start_roots(0, n, seed, q, W, t_max, S, corr, shared, track)
    everyone = np.zeros(0, dtype=np.bool_)
    ended = np.zeros(cap, dtype=np.bool_)
    gen = 0
    serial = 0
    checkpoint = p.first_checkpoint
    while True:
        g = step_all(everyone, n, seed, q, W, S, track, ended)
        gen += g
        if g > 0:
            serial += 1
        n_open = 0
        for i in range(n):
            if status[i] == ST_OPEN:
                n_open += 1
        if serial >= checkpoint and n_open > 0:
            while checkpoint <= serial:
                checkpoint *= 2
            k = 0
            for i in range(n):
                if status[i] == ST_OPEN:
                    ids[k] = i
                    k += 1
            predict_many(ids, k, seed, q, W, S, track, corr, P, pjs)
            for j in range(k):
                wts[ids[j]] = joint_value(pjs[j], values)
            keep = int(math.ceil(p.keep_frac * n_open))
            if keep < 1:
                keep = 1
            # drop the worst open sample until `keep` remain (ties: the higher id goes first)
            for _ in range(n_open - keep):
                worst = -1
                for i in range(n):
                    if status[i] == ST_OPEN and (worst < 0 or wts[i] <= wts[worst]):
                        worst = i
                status[worst] = ST_PRUNED
        if not any_open(S, n):
            break
    chosen = select_answer(SEL_VALUE, n, S, values, np.zeros(0), np.zeros(1))
    account(S, n, chosen, gen, serial, 0.0, W.mean_ticks[q], out)


@njit(cache=True)
def _consensus(S, created, minconf, scores, thr):
    status, answer = S.status, S.answer
    for a in range(scores.size):
        scores[a] = 0.0
    tot = 0.0
    for i in range(created):
        if status[i] == ST_DONE:
            scores[answer[i]] += minconf[i]
            tot += minconf[i]
    if not tot > 0:
        return False
    top = 0.0
    for a in range(scores.size):
        if scores[a] > top:
            top = scores[a]
    return top / tot >= thr


@njit(cache=True)
def deepconf_episode(p, corr, seed, q, W, t_max, out):
    cap = p.cap
    n = p.n
    warm = p.warmup
    if warm > n:
        warm = n
    win = p.window
    strength = p.strength
    use_pred = p.use_pred
    thr = p.threshold
    track = track_history(corr)
    S = new_state(cap, t_max, track)
    shared = shared_class(W, q, seed, cap)
    values, age, start, status, correct, rcls = W.values, S.age, S.start, S.status, S.correct, S.rcls
    P = prediction_scratch(W, q, t_max) if use_pred else (np.empty((1, 1)), np.empty(1),
                                                          np.empty((1, 1)), np.empty((1, 1)))
    pj = np.empty((values.size, W.rep.size))
    scores = np.zeros(W.distractor_cdf.shape[1] + 1)
    cum = np.zeros((cap, t_max + 2))   # running sums of each sample's per-tick confidence
    minconf = np.full(cap, np.inf)     # its lowest window confidence
    cutoff = -np.inf
    start_roots(0, warm, seed, q, W, t_max, S, corr, shared, track)
    created = warm
    gen = 0
    serial = 0
    while True:
        stepped = False
        for i in range(created):
            if status[i] != ST_OPEN:
                continue
            stepped = True
            gen += 1
            done = step(i, seed, q, W, S, track)
            if use_pred and done:
                c = values[rcls[i]]
            elif use_pred:
                predict(i, seed, q, W, S, track, corr, P, pj)
                c = joint_value(pj, values)
            else:
                c = trace_confidence(strength, correct[i],
                                     hash_normal(seed, stream_id(i, P_CONF1), stream_id(i, P_CONF2), age[i]))
            a = age[i] - start[i]
            cum[i, a] = cum[i, a - 1] + c
            wmean = window_mean(cum[i], a, win)
            if (a >= win or done) and wmean < minconf[i]:
                minconf[i] = wmean
            if not done and i >= warm and a >= win and wmean < cutoff:
                status[i] = ST_PRUNED
        if stepped:
            serial += 1
        open_ = any_open(S, created)
        if created < n:
            if open_:
                continue
            # warm-up over: the cut-off from their scores, then the rest unless they agree
            k = 0
            vals = np.empty(created)
            for i in range(created):
                if minconf[i] < np.inf:
                    vals[k] = minconf[i]
                    k += 1
            cutoff = percentile(vals[:k], p.percentile) if k > 0 else -np.inf
            if _consensus(S, created, minconf, scores, thr):
                break
            start_roots(created, n, seed, q, W, t_max, S, corr, shared, track)
            created = n
            continue
        if _consensus(S, created, minconf, scores, thr) or not open_:
            break
    wts = np.zeros(created)
    for i in range(created):
        wts[i] = minconf[i] if minconf[i] < np.inf else 0.0
    chosen = select_answer(SEL_WEIGHTED, created, S, values, wts, scores)
    account(S, created, chosen, gen, serial, 0.0, W.mean_ticks[q], out)
