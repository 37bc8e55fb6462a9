"""Oracles the tests check the project's code against: closed forms and brute-force
enumerations, independent of the code under test (exponential or slow: small cases only;
kept out of the production modules)."""

import itertools
import math

import numpy as np

from simulators.synthetic import survival_tables_reference


def expected_max_brute_force(x, pmfs, mult=None, floor: float | None = None) -> float:
    """E[max] by enumerating every joint outcome (exponential: small cases only)."""
    x = np.asarray(x, dtype=np.float64)
    pmfs = np.atleast_2d(np.asarray(pmfs, dtype=np.float64))
    mult = np.ones(pmfs.shape[0], dtype=np.int64) if mult is None else np.asarray(mult)
    rows = [pmfs[i] for i in range(pmfs.shape[0]) for _ in range(int(mult[i]))]
    if not rows:
        return 0.0 if floor is None else float(floor)
    total = 0.0
    for combo in itertools.product(range(x.size), repeat=len(rows)):
        pr = 1.0
        for r, c in zip(rows, combo):
            pr *= r[c]
        if pr == 0.0:
            continue
        best = max(x[c] for c in combo)
        if floor is not None:
            best = max(best, floor)
        total += pr * best
    return total


def slot_state(pool, slot: int) -> list:
    """A copy of the valid part of one slot's cache of a :class:`llm_backend.decode.KVPool`."""
    P = int(pool.lengths[slot])
    return [t[slot, :, :P].clone() for t in pool.K + pool.V]


def beta_stop_probability(a: int, b: int) -> float:
    """Adaptive-Consistency's Beta criterion in closed form.

    ``P(p > 1/2)`` for ``p ~ Beta(a + 1, b + 1)`` (uniform prior, ``a`` votes for the leading
    answer and ``b`` for the runner-up) ``= 1 - I_{1/2}(a + 1, b + 1)``
    ``= sum_{j=0}^{a} C(a + b + 1, j) / 2^{a + b + 1}`` for integers.
    """
    n = a + b + 1
    return float(sum(math.comb(n, j) for j in range(a + 1)) / 2.0 ** n)


def pandora_reservation(values, pmf, cost: float) -> float:
    """Weitzman's reservation value ``z`` with ``E[(X - z)+] = cost`` for a discrete ``X``.

    Returns ``-inf`` when ``cost >= E[X - min X]`` is not met by any ``z`` above the minimum
    (sampling is never worth it) -- in practice: returns the root of the decreasing,
    piecewise-linear function, which may lie below ``min(values)``.
    """
    v = np.asarray(values, dtype=np.float64)
    p = np.asarray(pmf, dtype=np.float64)
    order = np.argsort(v)
    v, p = v[order], p[order]
    if cost <= 0:
        return float(v[p > 0].max())
    # g(z) = sum_k p_k (v_k - z)+ is decreasing; find z with g(z) = cost
    for i in range(v.size - 1, -1, -1):
        z = v[i]
        g = float(np.sum(p * np.maximum(v - z, 0.0)))
        if g >= cost:
            # root in [v_i, v_{i+1}]: g is linear there with slope -P(X > v_i)
            tail = float(p[i + 1:].sum())
            return float(z + (g - cost) / tail) if tail > 0 else float(z)
    tail = 1.0
    g0 = float(np.sum(p * (v - v[0])))
    return float(v[0] - (cost - g0) / tail)


def exact_joint_reference(world, q: int, t: int, X: float) -> np.ndarray:
    """A synthetic world's exact posterior joint by brute-force Bayes over (class, total
    length), from the NumPy survival tables."""
    surv = survival_tables_reference(world.log_median[q:q + 1], world.sigma[q:q + 1], world.t_max)[0]
    B = world.values.size
    n = np.arange(1, world.t_max + 1)
    pmf = surv[:, :-1] - surv[:, 1:]  # P(N = n | k), n = 1..t_max
    mu = world.signal_mean[q]
    loglik = mu * X - 0.5 * t * mu ** 2
    post = world.class_prior[q][:, None] * pmf * (n[None, :] > t) * np.exp(loglik - loglik.max())[:, None]
    post /= post.sum()
    remaining = n - t
    edges = np.asarray(world.length_edges)
    bins = np.searchsorted(edges[1:-1], np.maximum(remaining, 1) * world.delta, side="right")
    out = np.zeros((B, edges.size - 1))
    for k in range(B):
        np.add.at(out[k], bins[n > t], post[k, n > t])
    return out
