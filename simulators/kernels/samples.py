"""The synthetic episode's layouts and sample mechanics, shared by every policy kernel, the
Python episode driver and trace recording.

Layouts (named tuples of arrays, read by field name in jitted code):

- :class:`WorldArrays`: the arrays of a :class:`simulators.synthetic.World` the kernels read,
  with the length grid the policy sees (``rep``, ``upper``, ``bin_map``);
- :class:`Samples`: an episode's samples, indexed by sample id;
- :class:`CorruptionParams`: a :class:`simulators.synthetic.Corruption`, its fields in the
  dataclass's order (derived from it, never typed twice);
- :data:`METRICS`: the columns of an episode's metrics row; ``ST_*``: sample statuses.

The mechanics: :func:`_new_sample`, :func:`_advance`, :func:`_predict` (a sample's birth,
one tick, the joint the policy sees) and :func:`record_sample` (one sample to completion,
with its exact joints, for trace recordings). Every sample's future is fixed by the episode
seed and the sample's index (counter-based hashing, :mod:`simulators.synthetic`).
"""

from __future__ import annotations

import math
from collections import namedtuple
from dataclasses import fields

import numpy as np
from numba import njit

from metamdp.grids import LengthGrid

from ..synthetic import (P_CLASS, P_NOISE, P_SHARE, P_SIG1, P_SIG2, P_VALUE, P_VALUE2, Corruption,
                         draw_answer, draw_class, draw_length, exact_joint, hash_normal, hash_uniform,
                         stream_id, survival_table)

METRICS = ("correct", "answered", "gen_ticks", "serial_ticks", "started", "pruned_ticks",
           "finished", "lbar_ticks", "extra_ticks", "best_state", "planned", "plan_utility",
           "plan_value")
(M_CORRECT, M_ANSWERED, M_GEN, M_SERIAL, M_STARTED, M_PRUNED, M_FINISHED, M_LBAR, M_EXTRA,
 M_BEST_STATE, M_PLANNED, M_PLAN_UTILITY, M_PLAN_VALUE) = range(13)
# best_state: the value-grid index of the best value a finished sample reported (0 when none
# finished; the grid is increasing, so its value is the realised best value). planned: 1 when
# a ZIP-RC-family planner made the first decision (t = 0), and then plan_utility, plan_value:
# what it expected for the strategy it chose, its objective (expected best value minus the
# cost charge) and the expected-best-value term alone; all three 0 otherwise
N_METRICS = len(METRICS)

ST_UNBORN, ST_OPEN, ST_DONE, ST_PRUNED = 0, 1, 2, 3

WorldArrays = namedtuple("WorldArrays", (
    "values", "prior", "log_median", "sigma", "signal_mean", "correct_prob", "distractor_cdf",
    "mean_ticks", "r_lo", "r_hi", "rep", "upper", "bin_map"))
Samples = namedtuple("Samples", ("cls", "ntot", "age", "start", "X", "hist", "status", "correct",
                                 "answer", "rcls"))
# every field a float64: one Numba type for every corruption
CorruptionParams = namedtuple("CorruptionParams", tuple(f.name for f in fields(Corruption)))


def world_arrays(world, rep, upper, bin_map) -> WorldArrays:
    """The arrays of ``world`` the kernels read, with the policy's length grid."""
    return WorldArrays(world.values, world.class_prior, world.log_median, world.sigma,
                       world.signal_mean, world.correct_prob, world.distractor_cdf,
                       world.mean_ticks, world.r_lo, world.r_hi, rep, upper, bin_map)


def pack_corruption(corruption: Corruption) -> CorruptionParams:
    """A :class:`Corruption` as the kernels read it."""
    return CorruptionParams(*(float(getattr(corruption, f)) for f in CorruptionParams._fields))


def prediction_grid(world, corruption: Corruption):
    """(rep, upper, bin_map) of the length grid the policy sees (coarser bins merge)."""
    grid, bin_map = prediction_lengths(world, corruption)
    return (np.ascontiguousarray(grid.representative, dtype=np.float64),
            np.ascontiguousarray(grid.upper, dtype=np.float64), bin_map)


def prediction_lengths(world, corruption: Corruption):
    """(the :class:`LengthGrid` of the joints a policy sees, world bin -> its bin)."""
    edges = np.asarray(world.length_edges)
    f = int(corruption.coarse_factor)
    L = edges.size - 1
    if L % f:
        raise ValueError(f"coarse_factor {f} does not divide the {L} length bins")
    coarse = edges[::f] if f > 1 else edges
    if coarse[-1] != edges[-1]:
        coarse = np.append(coarse, edges[-1])
    grid = LengthGrid.binned(tuple(coarse), delta=world.delta)
    bin_map = (np.arange(L) // f).astype(np.int64)
    return grid, bin_map



@njit(cache=True)
def new_state(cap, t_max, track_hist):
    """Empty :class:`Samples` for ``cap`` samples (``hist``: signal sums per tick, tracked
    only when predictions need them)."""
    hist = np.zeros((cap, t_max + 1)) if track_hist else np.zeros((cap, 1))
    return Samples(np.zeros(cap, dtype=np.int64), np.zeros(cap, dtype=np.int64),
                   np.zeros(cap, dtype=np.int64), np.zeros(cap, dtype=np.int64), np.zeros(cap),
                   hist, np.zeros(cap, dtype=np.int64), np.zeros(cap, dtype=np.bool_),
                   np.zeros(cap, dtype=np.int64), np.zeros(cap, dtype=np.int64))


@njit(cache=True)
def _new_sample(i, seed, q, weights, t0, x0, src, corr, shared_cls, log_median, sigma, values,
                correct_prob, distractor_cdf, t_max, cls, ntot, age, start, X, hist, status, correct, answer,
                track_hist, rcls, vnoise, prior):
    """Create sample ``i``: class from ``weights`` (or the shared class), length > ``t0``.

    ``rcls[i]`` is the value state the sample *reports* when it finishes: its class, or with
    probability ``vnoise`` a fresh draw from the question's prior (an uninformative value).
    """
    u = hash_uniform(seed, stream_id(i, P_CLASS), 0)
    k = draw_class(weights, u)
    if src < 0 and corr > 0.0 and hash_uniform(seed, stream_id(i, P_SHARE), 0) < corr:
        k = shared_cls
    cls[i] = k
    ntot[i] = draw_length(log_median[q, k], sigma[q], t0, t_max, seed, i)
    age[i] = t0
    start[i] = t0
    X[i] = x0
    if track_hist:
        if src >= 0:
            for a in range(t0 + 1):
                hist[i, a] = hist[src, a]
        else:
            hist[i, 0] = 0.0
    status[i] = ST_OPEN
    c, ans = draw_answer(correct_prob[q], k, distractor_cdf[q], seed, i)
    correct[i] = c
    answer[i] = ans
    rcls[i] = k
    if vnoise > 0.0 and hash_uniform(seed, stream_id(i, P_VALUE), 0) < vnoise:
        rcls[i] = draw_class(prior[q], hash_uniform(seed, stream_id(i, P_VALUE2), 0))


@njit(cache=True)
def _advance(i, seed, q, signal_mean, cls, ntot, age, X, hist, status, track_hist):
    """One tick of sample ``i``; returns True if it finished."""
    age[i] += 1
    z = hash_normal(seed, stream_id(i, P_SIG1), stream_id(i, P_SIG2), age[i])
    X[i] += signal_mean[q, cls[i]] + z
    if track_hist:
        hist[i, age[i]] = X[i]
    if age[i] >= ntot[i]:
        status[i] = ST_DONE
        return True
    return False


@njit(cache=True)
def _predict(i, seed, q, t, x_now, hist, track_hist, prior, signal_mean, surv, r_lo, r_hi,
             corr, bin_map, values, w_scratch, full, acc, out):
    """Predicted joint ``out`` (B, Lp) of a prefix at tick ``t`` with signal sum ``x_now``.

    ``hist`` row ``i`` (when tracked) holds the prefix's signal sums for staleness and the
    moving average; ``i = -1`` is the root.
    """
    B, L = full.shape
    Lp = out.shape[1]
    lag = int(corr.lag_ticks)
    win = int(corr.window_ticks)
    if lag == 0 and win <= 1:
        exact_joint(prior[q], signal_mean[q], surv, r_lo, r_hi, t, x_now, w_scratch, acc)
    else:
        for k in range(B):
            for l in range(L):
                acc[k, l] = 0.0
        hi = t - lag
        if hi < 0:
            hi = 0
        lo = hi - win + 1
        if lo < 0:
            lo = 0
        for a in range(lo, hi + 1):
            xa = hist[i, a] if (i >= 0 and track_hist) else 0.0
            exact_joint(prior[q], signal_mean[q], surv, r_lo, r_hi, a, xa, w_scratch, full)
            for k in range(B):
                for l in range(L):
                    acc[k, l] += full[k, l]
        for k in range(B):
            for l in range(L):
                acc[k, l] /= (hi - lo + 1)
    for k in range(B):
        for l in range(Lp):
            out[k, l] = 0.0
    for k in range(B):
        for l in range(L):
            out[k, bin_map[l]] += acc[k, l]
    temp = corr.temperature
    noise = corr.noise
    opt = corr.optimism
    if temp != 1.0 or noise != 0.0 or opt != 0.0:
        tot = 0.0
        for k in range(B):
            for l in range(Lp):
                v = out[k, l]
                if v > 0.0:
                    lv = math.log(v) / temp + opt * values[k]
                    if noise > 0.0:
                        s = stream_id(i + 1, P_NOISE)
                        lv += noise * hash_normal(seed, s, s + 1, (t * B + k) * Lp + l)
                    v = math.exp(lv)
                out[k, l] = v
                tot += v
        for k in range(B):
            for l in range(Lp):
                out[k, l] /= tot


@njit(cache=True)
def record_sample(i, seed, q, values, prior, correct_prob, log_median, sigma, signal_mean,
                  distractor_cdf, r_lo, r_hi, t_max):
    """Sample ``i`` of an episode run to completion, with the exact joint at every tick.

    Identical to the runner's sample ``i`` for the same episode seed (same hashed streams),
    so replaying the recording reproduces the runner exactly. Returns
    ``(joints (N, B, L), class, length N, correct, answer id)``.
    """
    B = values.size
    L = r_lo.size
    cap = i + 1
    cls = np.zeros(cap, dtype=np.int64)
    ntot = np.zeros(cap, dtype=np.int64)
    age = np.zeros(cap, dtype=np.int64)
    start = np.zeros(cap, dtype=np.int64)
    X = np.zeros(cap)
    status = np.zeros(cap, dtype=np.int64)
    correct = np.zeros(cap, dtype=np.bool_)
    answer = np.zeros(cap, dtype=np.int64)
    rcls = np.zeros(cap, dtype=np.int64)
    vnoise = 0.0
    hist = np.zeros((cap, 1))
    surv = np.empty((B, t_max + 1))
    survival_table(log_median[q], sigma[q], t_max, surv)
    _new_sample(i, seed, q, prior[q], 0, 0.0, -1, 0.0, 0, log_median, sigma, values,
                correct_prob, distractor_cdf, t_max, cls, ntot, age, start, X, hist, status,
                correct, answer, False, rcls, vnoise, prior)
    n = ntot[i]
    joints = np.empty((n, B, L))
    w = np.empty(B)
    for a in range(n):
        exact_joint(prior[q], signal_mean[q], surv, r_lo, r_hi, a, X[i], w, joints[a])
        _advance(i, seed, q, signal_mean, cls, ntot, age, X, hist, status, False)
    return joints, cls[i], n, correct[i], answer[i]
