"""Kernel of the fully parallel baselines (``metamdp.policies.parallel``): ``mv``, ``bon``,
``wbon``, ``pass_at_n``, ``wbon_rm``, ``length_prune``, ``half_finished``, ``short_m_at_k``.

All ``n`` samples start at once and run until they finish or the policy's stopping tick,
so an episode has a closed form in the samples' lengths: no tick loop. One kernel serves
the family; its :class:`ParallelParams` say which stopping tick and answer rule.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
from numba import njit

from metamdp.policies import SELECTIONS, dprime_from_auroc
from metamdp.policies.kernels import reward_model_weight

from ..synthetic import P_RM1, P_RM2, hash_normal, stream_id
from .common import account, select_answer, shared_class, start_roots
from .samples import ST_DONE, new_state

#: stopping ticks: none (run to completion), the token budget, once ``need`` have finished
STOP_NONE, STOP_BUDGET, STOP_FINISHED = 0, 1, 2

ParallelParams = namedtuple("ParallelParams", (
    "n", "cap", "sel", "stop_rule", "budget_ticks", "m", "rm", "dprime", "rm_cost"))


def _pack(policy, stop_rule=STOP_NONE, budget_ticks=0, m=0, rm=False, dprime=0.0, rm_cost=0.0):
    # fixed Python types per field: one Numba signature for the whole family
    return ParallelParams(int(policy.n), int(policy.cap), SELECTIONS.index(policy.selection),
                          stop_rule, int(budget_ticks), int(m), bool(rm), float(dprime),
                          float(rm_cost))


def pack_parallel(policy, delta: int) -> ParallelParams:
    """``mv``, ``bon``, ``wbon``, ``pass_at_n``: all ``n`` to completion, its answer rule."""
    return _pack(policy)


def pack_length_prune(policy, delta: int) -> ParallelParams:
    # the reference checks its own ticks against the budget rounded up to a tick
    return _pack(policy, STOP_BUDGET, math.ceil(float(policy.budget_tokens) / delta))


def pack_half_finished(policy, delta: int) -> ParallelParams:
    return _pack(policy, STOP_FINISHED)


def pack_short_m_at_k(policy, delta: int) -> ParallelParams:
    return _pack(policy, STOP_FINISHED, m=policy.m)


def pack_wbon_rm(policy, delta: int) -> ParallelParams:
    # the reward model's AUROC as the separation d' of its Gaussian scores
    return _pack(policy, rm=True, dprime=dprime_from_auroc(policy.strength), rm_cost=policy.rm_cost)


@njit(cache=True, inline="always")
def _stop_tick(p, S, n, t_max):
    """The tick at which every sample still running stops: none (``t_max``), the token
    budget, or once ``need`` have finished (``ceil(n/2)``, or ``min(m, n)`` with ``m > 0``)."""
    if p.stop_rule == STOP_BUDGET:
        return p.budget_ticks
    if p.stop_rule == STOP_FINISHED:
        need = (n + 1) // 2 if p.m <= 0 else min(p.m, n)
        return np.sort(S.ntot[:n])[need - 1]
    return t_max


@njit(cache=True, inline="always")
def _run_all(p, corr, seed, q, W, t_max, S):
    """Start ``n`` samples and run each until it finishes or the stopping tick
    (:func:`_stop_tick`). Returns (n, ticks generated, serial ticks)."""
    n = p.n
    # no prediction is read: the samples' signal histories are not needed
    start_roots(0, n, seed, q, W, t_max, S, corr, shared_class(W, q, seed, p.cap), False)
    stop_at = _stop_tick(p, S, n, t_max)
    ntot, age, status = S.ntot, S.age, S.status
    gen = 0
    longest = 0
    for i in range(n):
        ran = ntot[i] if ntot[i] < stop_at else stop_at
        gen += ran
        if ran > longest:
            longest = ran
        age[i] = ran
        if ntot[i] <= stop_at:
            status[i] = ST_DONE
    return n, gen, longest


@njit(cache=True)
def parallel_episode(p, corr, seed, q, W, t_max, out):
    S = new_state(p.cap, t_max, False)
    n, gen, serial = _run_all(p, corr, seed, q, W, t_max, S)
    extra = 0.0
    wts = np.zeros(0)
    if p.rm:
        ntot, status, correct = S.ntot, S.status, S.correct
        wts = np.zeros(n)
        for i in range(n):
            if status[i] == ST_DONE:
                noise = hash_normal(seed, stream_id(i, P_RM1), stream_id(i, P_RM2), 0)
                wts[i] = reward_model_weight(p.dprime, correct[i], noise)
                extra += p.rm_cost * ntot[i]
    chosen = select_answer(p.sel, n, S, W.values, wts, np.zeros(W.distractor_cdf.shape[1] + 1))
    account(S, n, chosen, gen, serial, extra, W.mean_ticks[q], out)
