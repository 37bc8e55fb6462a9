"""Episode steps shared by the policy kernels and the Python episode driver.

An episode's samples are a :class:`~simulators.kernels.samples.Samples` ``S``; ``W`` is the
world's :class:`~simulators.kernels.samples.WorldArrays`, ``corr`` its
:class:`~simulators.kernels.samples.CorruptionParams`. The wrappers here are the only
callers of the sample mechanics (``_new_sample``, ``_advance``, ``_predict`` of
:mod:`simulators.kernels.samples`), so a change of their signatures is made in one place.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from metamdp.policies import SELECTIONS

from ..synthetic import P_SHARED_CLASS, class_posterior, draw_class, hash_uniform, stream_id, survival_table
from .samples import (M_ANSWERED, M_BEST_STATE, M_CORRECT, M_EXTRA, M_FINISHED, M_GEN, M_LBAR,
                      M_PLAN_UTILITY, M_PLAN_VALUE, M_PLANNED, M_PRUNED, M_SERIAL, M_STARTED,
                      ST_DONE, ST_OPEN, _advance, _new_sample, _predict)

# answer rules by name (codes: positions in metamdp.policies.SELECTIONS)
SEL_PLURALITY, SEL_VALUE, SEL_WEIGHTED, SEL_ORACLE = (
    SELECTIONS.index(k) for k in ("plurality", "value", "weighted", "oracle"))


@njit(cache=True)
def track_history(corr):
    """Whether predictions need each sample's signal history (stale or averaged joints)."""
    return corr.lag_ticks > 0 or corr.window_ticks > 1


@njit(cache=True)
def shared_class(W, q, seed, cap):
    """The episode's shared class (used by the ``correlation`` corruption)."""
    return draw_class(W.prior[q], hash_uniform(seed, stream_id(cap + 2, P_SHARED_CLASS), 0))


@njit(cache=True)
def start_roots(i0, i1, seed, q, W, t_max, S, corr, shared_cls, track_hist):
    """Start samples ``i0 .. i1 - 1`` from the prompt.

    (Batched because taking arrays out of the tuples costs a reference count each: once
    per call, not once per sample.)
    """
    values, prior, log_median, sigma = W.values, W.prior, W.log_median, W.sigma
    correct_prob, distractor_cdf = W.correct_prob, W.distractor_cdf
    cls, ntot, age, start, X, hist, status, correct, answer, rcls = S
    share, vnoise = corr.correlation, corr.value_noise
    for i in range(i0, i1):
        # np.int64(...): run-time, not literal, arguments, so that Numba compiles _new_sample
        # once rather than once per constant a caller passes (see study.warm_up_kernels)
        _new_sample(np.int64(i), seed, q, prior[q], np.int64(0), 0.0, np.int64(-1), share,
                    shared_cls, log_median, sigma, values, correct_prob, distractor_cdf, t_max,
                    cls, ntot, age, start, X, hist, status, correct, answer, track_hist, rcls,
                    vnoise, prior)


@njit(cache=True)
def start_root(i, seed, q, W, t_max, S, corr, shared_cls, track_hist):
    """Start sample ``i`` from the prompt."""
    start_roots(i, i + 1, seed, q, W, t_max, S, corr, shared_cls, track_hist)


@njit(cache=True)
def start_branch(i, src, seed, q, W, t_max, S, corr, shared_cls, track_hist, surv, cw):
    """Start sample ``i`` as a copy of sample ``src``'s prefix."""
    values, prior, log_median, sigma, signal_mean = W.values, W.prior, W.log_median, W.sigma, W.signal_mean
    correct_prob, distractor_cdf = W.correct_prob, W.distractor_cdf
    cls, ntot, age, start, X, hist, status, correct, answer, rcls = S
    class_posterior(prior[q], signal_mean[q], surv, age[src], X[src], cw)
    _new_sample(np.int64(i), seed, q, cw, age[src], X[src], np.int64(src), corr.correlation, shared_cls, log_median,
                sigma, values, correct_prob, distractor_cdf, t_max, cls, ntot, age, start, X, hist,
                status, correct, answer, track_hist, rcls, corr.value_noise, prior)


@njit(cache=True)
def step(i, seed, q, W, S, track_hist):
    """Advance sample ``i`` one tick; True if it finished."""
    cls, ntot, age, start, X, hist, status, correct, answer, rcls = S
    return _advance(i, seed, q, W.signal_mean, cls, ntot, age, X, hist, status, track_hist)


@njit(cache=True)
def step_all(mask, created, seed, q, W, S, track_hist, finished):
    """Advance every open sample ``i < created`` with ``mask[i]`` (all open ones when
    ``mask`` is empty) one tick; ``finished[i]`` tells which ended. Returns the ticks run."""
    cls, ntot, age, start, X, hist, status, correct, answer, rcls = S
    signal_mean = W.signal_mean
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
    B = W.values.size
    L = W.r_lo.size
    surv = np.empty((B, t_max + 1))
    survival_table(W.log_median[q], W.sigma[q], t_max, surv)
    return (surv, np.empty(B), np.empty((B, L)), np.empty((B, L)))


@njit(cache=True)
def predict(i, seed, q, W, S, track_hist, corr, P, out):
    """The joint (B, Lp) the policy sees for sample ``i`` now (``i = -1``: the root)."""
    values, prior, signal_mean, r_lo, r_hi, bin_map = W.values, W.prior, W.signal_mean, W.r_lo, W.r_hi, W.bin_map
    hist = S.hist
    surv, w_scratch, full, acc = P
    if i < 0:
        # run-time constants (one compilation of _predict, not one per literal argument)
        _predict(np.int64(-1), seed, q, np.int64(0), 0.0, hist, track_hist and not track_hist,
                 prior, signal_mean, surv, r_lo, r_hi,
                 corr, bin_map, values, w_scratch, full, acc, out)
    else:
        _predict(np.int64(i), seed, q, S.age[i], S.X[i], hist, track_hist, prior, signal_mean, surv, r_lo,
                 r_hi, corr, bin_map, values, w_scratch, full, acc, out)


@njit(cache=True)
def predict_many(ids, n, seed, q, W, S, track_hist, corr, P, out):
    """``out[j]`` = the joint of sample ``ids[j]``, ``j < n`` (one call for many samples:
    taking arrays out of the tuples costs a reference count each)."""
    values, prior, signal_mean, r_lo, r_hi, bin_map = W.values, W.prior, W.signal_mean, W.r_lo, W.r_hi, W.bin_map
    age, X, hist = S.age, S.X, S.hist
    surv, w_scratch, full, acc = P
    for j in range(n):
        i = ids[j]
        _predict(i, seed, q, age[i], X[i], hist, track_hist, prior, signal_mean, surv, r_lo,
                 r_hi, corr, bin_map, values, w_scratch, full, acc, out[j])


@njit(cache=True)
def select_answer(sel, n, S, values, weights, scores):
    """Index of the finished sample whose answer is given (-1 if none). ``sel``: a code of
    :data:`metamdp.policies.SELECTIONS` (``SEL_*``): highest value, weighted vote
    (``weights``, or the values when empty), plurality, oracle (a correct one, else the
    first). Ties go to the answer (or sample) seen first, as in :func:`metamdp.policies.select`."""
    status, correct, answer, rcls = S.status, S.correct, S.answer, S.rcls
    best = -1
    if sel == SEL_VALUE:
        bv = -1.0
        for i in range(n):
            if status[i] == ST_DONE and values[rcls[i]] > bv:
                bv = values[rcls[i]]
                best = i
        return best
    if sel == SEL_ORACLE:
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
            if sel == SEL_WEIGHTED:
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
    status = S.status
    for i in range(created):
        if status[i] == ST_OPEN:
            return True
    return False


@njit(cache=True)
def account(S, created, chosen, gen, serial, extra, lbar, out):
    """Write the episode's metrics (``simulators.kernels.samples.METRICS``) into ``out``."""
    age, start, status, correct = S.age, S.start, S.status, S.correct
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
    best = 0
    for i in range(created):
        if status[i] == ST_DONE and S.rcls[i] > best:
            best = S.rcls[i]
    out[M_BEST_STATE] = best


@njit(cache=True)
def record_plan(utility, value, out):
    """Write what a ZIP-RC-family planner expected at its first decision (after
    :func:`account`): ``utility`` its objective for the chosen strategy, ``value`` the
    expected-best-value term of it alone."""
    out[M_PLANNED] = 1.0
    out[M_PLAN_UTILITY] = utility
    out[M_PLAN_VALUE] = value
