"""Episode state and sample mechanics shared by the policy kernels.

An episode's samples live in a tuple of arrays ``S = (cls, ntot, age, start, X, hist,
status, correct, answer, rcls)`` indexed by sample id; ``W`` is the world tuple built by
:func:`simulators.runner.run_policy` (see :func:`world_tuple`). The wrappers here are the
only callers of the runner's sample helpers (``_new_sample``, ``_advance``, ``_predict``),
so a change of their signatures is made in one place.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from metamdp.policies.kernels import joint_value  # noqa: F401  (re-exported for the kernels)

from ..runner import (C_CORR, C_LAG, C_VNOISE, C_WIN, M_ANSWERED, M_CORRECT, M_EXTRA, M_FINISHED,
                      M_GEN, M_LBAR, M_PRUNED, M_SERIAL, M_STARTED, ST_DONE, ST_OPEN, _advance,
                      _new_sample, _predict)
from ..synthetic import (P_SHARED_CLASS, class_posterior, draw_class, hash_uniform, stream_id,
                         survival_table)

# W = (values, prior, log_median, sigma, signal_mean, correct_prob, distractor_cdf, mean_ticks,
#      r_lo, r_hi, rep, upper, bin_map)


def world_tuple(world, rep, upper, bin_map) -> tuple:
    """The arrays of ``world`` the kernels read, in the order of ``W``."""
    return (world.values, world.class_prior, world.log_median, world.sigma, world.signal_mean,
            world.correct_prob, world.distractor_cdf, world.mean_ticks, world.r_lo, world.r_hi,
            rep, upper, bin_map)


@njit(cache=True)
def track_history(corr_prm):
    """Whether predictions need each sample's signal history (stale or averaged joints)."""
    return corr_prm[C_LAG] > 0 or corr_prm[C_WIN] > 1


@njit(cache=True)
def new_state(cap, t_max, track_hist):
    cls = np.zeros(cap, dtype=np.int64)
    ntot = np.zeros(cap, dtype=np.int64)
    age = np.zeros(cap, dtype=np.int64)
    start = np.zeros(cap, dtype=np.int64)
    X = np.zeros(cap)
    hist = np.zeros((cap, t_max + 1)) if track_hist else np.zeros((cap, 1))
    status = np.zeros(cap, dtype=np.int64)
    correct = np.zeros(cap, dtype=np.bool_)
    answer = np.zeros(cap, dtype=np.int64)
    rcls = np.zeros(cap, dtype=np.int64)
    return (cls, ntot, age, start, X, hist, status, correct, answer, rcls)


@njit(cache=True)
def shared_class(W, q, seed, cap):
    """The episode's shared class (used by the ``correlation`` corruption)."""
    return draw_class(W[1][q], hash_uniform(seed, stream_id(cap + 2, P_SHARED_CLASS), 0))


@njit(cache=True)
def start_roots(i0, i1, seed, q, W, t_max, S, corr_prm, shared_cls, track_hist):
    """Start samples ``i0 .. i1 - 1`` from the prompt.

    (Batched because taking arrays out of the tuples costs a reference count each: once
    per call, not once per sample.)
    """
    values, prior, log_median, sigma, _, correct_prob, distractor_cdf = W[0], W[1], W[2], W[3], W[4], W[5], W[6]
    cls, ntot, age, start, X, hist, status, correct, answer, rcls = S
    corr, vnoise = corr_prm[C_CORR], corr_prm[C_VNOISE]
    for i in range(i0, i1):
        # np.int64(...): run-time, not literal, arguments, so that Numba compiles _new_sample
        # once rather than once per constant a caller passes (see study.warm_up_kernels)
        _new_sample(np.int64(i), seed, q, prior[q], np.int64(0), 0.0, np.int64(-1), corr,
                    shared_cls, log_median, sigma, values, correct_prob, distractor_cdf, t_max,
                    cls, ntot, age, start, X, hist, status, correct, answer, track_hist, rcls,
                    vnoise, prior)


@njit(cache=True)
def start_root(i, seed, q, W, t_max, S, corr_prm, shared_cls, track_hist):
    """Start sample ``i`` from the prompt."""
    start_roots(i, i + 1, seed, q, W, t_max, S, corr_prm, shared_cls, track_hist)


@njit(cache=True)
def start_branch(i, src, seed, q, W, t_max, S, corr_prm, shared_cls, track_hist, surv, cw):
    """Start sample ``i`` as a copy of sample ``src``'s prefix."""
    values, prior, log_median, sigma, signal_mean, correct_prob, distractor_cdf = W[0], W[1], W[2], W[3], W[4], W[5], W[6]
    cls, ntot, age, start, X, hist, status, correct, answer, rcls = S
    class_posterior(prior[q], signal_mean[q], surv, age[src], X[src], cw)
    _new_sample(np.int64(i), seed, q, cw, age[src], X[src], np.int64(src), corr_prm[C_CORR], shared_cls, log_median,
                sigma, values, correct_prob, distractor_cdf, t_max, cls, ntot, age, start, X, hist,
                status, correct, answer, track_hist, rcls, corr_prm[C_VNOISE], prior)


@njit(cache=True)
def step(i, seed, q, W, S, track_hist):
    """Advance sample ``i`` one tick; True if it finished."""
    cls, ntot, age, start, X, hist, status, correct, answer, rcls = S
    return _advance(i, seed, q, W[4], cls, ntot, age, X, hist, status, track_hist)


@njit(cache=True)
def step_all(mask, created, seed, q, W, S, track_hist, finished):
    """Advance every open sample ``i < created`` with ``mask[i]`` (all open ones when
    ``mask`` is empty) one tick; ``finished[i]`` tells which ended. Returns the ticks run."""
    cls, ntot, age, start, X, hist, status, correct, answer, rcls = S
    signal_mean = W[4]
    g = 0
    for i in range(created):
        finished[i] = False
        if status[i] == ST_OPEN and (mask.size == 0 or mask[i]):
            finished[i] = _advance(i, seed, q, signal_mean, cls, ntot, age, X, hist, status,
                                   track_hist)
            g += 1
    return g


@njit(cache=True)
def prediction_scratch(W, q, t_max):
    """(survival table, class weights, two (B, L) buffers) for predictions of question ``q``."""
    B = W[0].size
    L = W[8].size
    surv = np.empty((B, t_max + 1))
    survival_table(W[2][q], W[3][q], t_max, surv)
    return (surv, np.empty(B), np.empty((B, L)), np.empty((B, L)))


@njit(cache=True)
def predict(i, seed, q, W, S, track_hist, corr_prm, P, out):
    """The joint (B, Lp) the policy sees for sample ``i`` now (``i = -1``: the root)."""
    values, prior, signal_mean, r_lo, r_hi, bin_map = W[0], W[1], W[4], W[8], W[9], W[12]
    hist = S[5]
    surv, w_scratch, full, acc = P
    if i < 0:
        # run-time constants (one compilation of _predict, not one per literal argument)
        _predict(np.int64(-1), seed, q, np.int64(0), 0.0, hist, track_hist and not track_hist,
                 prior, signal_mean, surv, r_lo, r_hi,
                 corr_prm, bin_map, values, w_scratch, full, acc, out)
    else:
        _predict(np.int64(i), seed, q, S[2][i], S[4][i], hist, track_hist, prior, signal_mean, surv, r_lo,
                 r_hi, corr_prm, bin_map, values, w_scratch, full, acc, out)


@njit(cache=True)
def predict_many(ids, n, seed, q, W, S, track_hist, corr_prm, P, out):
    """``out[j]`` = the joint of sample ``ids[j]``, ``j < n`` (one call for many samples:
    taking arrays out of the tuples costs a reference count each)."""
    values, prior, signal_mean, r_lo, r_hi, bin_map = W[0], W[1], W[4], W[8], W[9], W[12]
    age, X, hist = S[2], S[4], S[5]
    surv, w_scratch, full, acc = P
    for j in range(n):
        i = ids[j]
        _predict(i, seed, q, age[i], X[i], hist, track_hist, prior, signal_mean, surv, r_lo,
                 r_hi, corr_prm, bin_map, values, w_scratch, full, acc, out[j])


@njit(cache=True)
def select_answer(sel, n, S, values, weights, scores):
    """Index of the finished sample whose answer is given (-1 if none): ``sel`` 0 highest
    value, 1 weighted vote (``weights``, or the values when empty), 2 plurality, 3 oracle
    (a correct one, else the first). Ties go to the answer (or sample) seen first, as in
    :func:`metamdp.policies.select`."""
    status, correct, answer, rcls = S[6], S[7], S[8], S[9]
    best = -1
    if sel == 0:
        bv = -1.0
        for i in range(n):
            if status[i] == ST_DONE and values[rcls[i]] > bv:
                bv = values[rcls[i]]
                best = i
        return best
    if sel == 3:
        for i in range(n):
            if status[i] == ST_DONE and correct[i]:
                return i
        for i in range(n):
            if status[i] == ST_DONE:
                return i
        return -1
    for a in range(scores.size):
        scores[a] = 0.0
    for i in range(n):
        if status[i] == ST_DONE:
            w = 1.0
            if sel == 1:
                w = weights[i] if weights.size > 0 else values[rcls[i]]
            scores[answer[i]] += w + 1e-12  # every answer present beats absent ones
    bs = 0.0
    for i in range(n):
        if status[i] == ST_DONE and scores[answer[i]] > bs:
            bs = scores[answer[i]]
            best = i
    return best


@njit(cache=True)
def any_open(S, created):
    status = S[6]
    for i in range(created):
        if status[i] == ST_OPEN:
            return True
    return False


@njit(cache=True)
def account(S, created, chosen, gen, serial, extra, lbar, out):
    """Write the episode's metrics (``simulators.runner.METRICS``) into ``out``."""
    age, start, status, correct = S[2], S[3], S[6], S[7]
    pruned = 0
    fin = 0
    for i in range(created):
        if status[i] == ST_DONE:
            fin += 1
        else:
            pruned += age[i] - start[i]
    for k in range(out.size):
        out[k] = 0.0
    out[M_CORRECT] = 1.0 if (chosen >= 0 and correct[chosen]) else 0.0
    out[M_ANSWERED] = 1.0 if chosen >= 0 else 0.0
    out[M_GEN] = gen
    out[M_SERIAL] = serial
    out[M_STARTED] = created
    out[M_PRUNED] = pruned
    out[M_FINISHED] = fin
    out[M_LBAR] = lbar
    out[M_EXTRA] = extra
