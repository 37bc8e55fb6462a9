"""Kernels of the fully parallel baselines (``metamdp.policies.parallel``).

All ``n`` samples start at once and run until they finish or the policy's stopping tick,
so an episode has a closed form in the samples' lengths: no tick loop.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from metamdp.policies.kernels import reward_model_weight

from ..runner import S_BUDGET, S_CAP, S_M, S_N, S_RMCOST, S_SEL, S_STRENGTH, ST_DONE
from ..synthetic import P_RM1, P_RM2, hash_normal, stream_id
from .common import account, new_state, select_answer, shared_class, start_roots


@njit(cache=True, inline="always")
def _stop_tick(prm, S, n, t_max, stop_rule, m):
    """The tick at which every sample still running stops: ``stop_rule`` 0 none (``t_max``),
    1 the token budget, 2 once ``need`` have finished (``ceil(n/2)``, or ``min(m, n)`` with
    ``m > 0``)."""
    if stop_rule == 1:
        return int(prm[S_BUDGET])
    if stop_rule == 2:
        need = (n + 1) // 2 if m <= 0 else min(m, n)
        return np.sort(S[1][:n])[need - 1]
    return t_max


@njit(cache=True, inline="always")
def _run_all(prm, corr_prm, seed, q, W, t_max, S, stop_rule, m):
    """Start ``n`` samples and run each until it finishes or the stopping tick
    (:func:`_stop_tick`). Returns (n, ticks generated, serial ticks)."""
    cap = int(prm[S_CAP])
    n = int(prm[S_N])
    # no prediction is read: the samples' signal histories are not needed
    start_roots(0, n, seed, q, W, t_max, S, corr_prm, shared_class(W, q, seed, cap), False)
    stop_at = _stop_tick(prm, S, n, t_max, stop_rule, m)
    ntot, age, status = S[1], S[2], S[6]
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
def mv_episode(prm, corr_prm, seed, q, W, t_max, out):
    S = new_state(int(prm[S_CAP]), t_max, False)
    n, gen, serial = _run_all(prm, corr_prm, seed, q, W, t_max, S, 0, 0)
    chosen = select_answer(int(prm[S_SEL]), n, S, W[0], np.zeros(0), np.zeros(W[6].shape[1] + 1))
    account(S, n, chosen, gen, serial, 0.0, W[7][q], out)


@njit(cache=True)
def bon_episode(prm, corr_prm, seed, q, W, t_max, out):
    S = new_state(int(prm[S_CAP]), t_max, False)
    n, gen, serial = _run_all(prm, corr_prm, seed, q, W, t_max, S, 0, 0)
    chosen = select_answer(0, n, S, W[0], np.zeros(0), np.zeros(W[6].shape[1] + 1))
    account(S, n, chosen, gen, serial, 0.0, W[7][q], out)


@njit(cache=True)
def wbon_episode(prm, corr_prm, seed, q, W, t_max, out):
    S = new_state(int(prm[S_CAP]), t_max, False)
    n, gen, serial = _run_all(prm, corr_prm, seed, q, W, t_max, S, 0, 0)
    chosen = select_answer(1, n, S, W[0], np.zeros(0), np.zeros(W[6].shape[1] + 1))
    account(S, n, chosen, gen, serial, 0.0, W[7][q], out)


@njit(cache=True)
def pass_at_n_episode(prm, corr_prm, seed, q, W, t_max, out):
    S = new_state(int(prm[S_CAP]), t_max, False)
    n, gen, serial = _run_all(prm, corr_prm, seed, q, W, t_max, S, 0, 0)
    chosen = select_answer(3, n, S, W[0], np.zeros(0), np.zeros(W[6].shape[1] + 1))
    account(S, n, chosen, gen, serial, 0.0, W[7][q], out)


@njit(cache=True)
def wbon_rm_episode(prm, corr_prm, seed, q, W, t_max, out):
    S = new_state(int(prm[S_CAP]), t_max, False)
    n, gen, serial = _run_all(prm, corr_prm, seed, q, W, t_max, S, 0, 0)
    ntot, status, correct = S[1], S[6], S[7]
    dprime = prm[S_STRENGTH]
    wts = np.zeros(n)
    extra = 0.0
    for i in range(n):
        if status[i] == ST_DONE:
            noise = hash_normal(seed, stream_id(i, P_RM1), stream_id(i, P_RM2), 0)
            wts[i] = reward_model_weight(dprime, correct[i], noise)
            extra += prm[S_RMCOST] * ntot[i]
    chosen = select_answer(1, n, S, W[0], wts, np.zeros(W[6].shape[1] + 1))
    account(S, n, chosen, gen, serial, extra, W[7][q], out)


@njit(cache=True)
def length_prune_episode(prm, corr_prm, seed, q, W, t_max, out):
    S = new_state(int(prm[S_CAP]), t_max, False)
    n, gen, serial = _run_all(prm, corr_prm, seed, q, W, t_max, S, 1, 0)
    chosen = select_answer(int(prm[S_SEL]), n, S, W[0], np.zeros(0), np.zeros(W[6].shape[1] + 1))
    account(S, n, chosen, gen, serial, 0.0, W[7][q], out)


@njit(cache=True)
def half_finished_episode(prm, corr_prm, seed, q, W, t_max, out):
    S = new_state(int(prm[S_CAP]), t_max, False)
    n, gen, serial = _run_all(prm, corr_prm, seed, q, W, t_max, S, 2, 0)
    chosen = select_answer(int(prm[S_SEL]), n, S, W[0], np.zeros(0), np.zeros(W[6].shape[1] + 1))
    account(S, n, chosen, gen, serial, 0.0, W[7][q], out)


@njit(cache=True)
def short_m_at_k_episode(prm, corr_prm, seed, q, W, t_max, out):
    S = new_state(int(prm[S_CAP]), t_max, False)
    n, gen, serial = _run_all(prm, corr_prm, seed, q, W, t_max, S, 2, int(prm[S_M]))
    chosen = select_answer(2, n, S, W[0], np.zeros(0), np.zeros(W[6].shape[1] + 1))
    account(S, n, chosen, gen, serial, 0.0, W[7][q], out)
