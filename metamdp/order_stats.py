"""Order statistics of independent discrete variables on a common sorted grid.

For independent ``X_1..X_k`` on ``x_1 <= ... <= x_n`` with CDFs ``F_i``,
``E[max X_i] = sum_k x_k (prod_i F_i(x_k) - prod_i F_i(x_{k-1}))``. A floor ``f`` (the best
finished value) is a point mass folded into the product; ``m`` i.i.d. copies of one variable
enter as ``F^m``.

Every kernel is an ``@njit(cache=True)`` function over plain arrays, with a NumPy
reference (suffix ``_reference``) beside it that the tests compare against.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def expected_max_kernel(x, pmfs, mult, floor_index):
    """E[max(floor, X_1^(m_1 copies), ...)] for pmfs ``(k, n)`` on sorted points ``x``.

    ``floor_index`` is the grid index of the floor value, or -1 for no floor. The maximum
    over an empty set with no floor is 0.
    """
    k, n = pmfs.shape
    any_var = False
    for i in range(k):
        if mult[i] > 0:
            any_var = True
    if not any_var and floor_index < 0:
        return 0.0
    cum = np.zeros(k)
    total = 0.0
    prev = 0.0
    for p in range(n):
        g = 1.0
        for i in range(k):
            if mult[i] > 0:
                cum[i] += pmfs[i, p]
                c = cum[i] if cum[i] < 1.0 else 1.0
                g *= c ** mult[i]
        if p < floor_index:
            g = 0.0
        total += x[p] * (g - prev)
        prev = g
    return total


def expected_max_reference(x, pmfs, mult=None, floor_index=-1) -> float:
    """NumPy reference of :func:`expected_max_kernel`."""
    x = np.asarray(x, dtype=np.float64)
    pmfs = np.atleast_2d(np.asarray(pmfs, dtype=np.float64))
    mult = np.ones(pmfs.shape[0], dtype=np.int64) if mult is None else np.asarray(mult)
    active = mult > 0
    if not active.any() and floor_index < 0:
        return 0.0
    cdf = np.minimum(np.cumsum(pmfs[active], axis=1), 1.0)
    g = np.prod(cdf ** mult[active][:, None], axis=0) if active.any() else np.ones(x.size)
    if floor_index >= 0:
        g[:floor_index] = 0.0
    return float(x @ np.diff(np.concatenate([[0.0], g])))


def expected_max(x, pmfs, mult=None, floor_index: int = -1) -> float:
    """Expected maximum (validated wrapper around the Numba kernel)."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    pmfs = np.ascontiguousarray(np.atleast_2d(pmfs), dtype=np.float64)
    if pmfs.shape[1] != x.size:
        raise ValueError(f"pmfs have {pmfs.shape[1]} points, grid has {x.size}")
    if np.any(np.diff(x) < 0):
        raise ValueError("grid points must be sorted ascending")
    mult = (np.ones(pmfs.shape[0], dtype=np.int64) if mult is None
            else np.ascontiguousarray(mult, dtype=np.int64))
    if mult.shape != (pmfs.shape[0],) or np.any(mult < 0):
        raise ValueError("mult must hold one non-negative count per variable")
    if not -1 <= floor_index < x.size:
        raise ValueError(f"floor_index {floor_index} is off the grid of {x.size} points")
    return float(expected_max_kernel(x, pmfs, mult, int(floor_index)))


@njit(cache=True)
def expected_max_iid_kernel(x, pmf, m, floor_index):
    """E[max(floor, m i.i.d. copies)] by the power form ``F^m``."""
    n = x.size
    if m == 0 and floor_index < 0:
        return 0.0
    total = 0.0
    prev = 0.0
    c = 0.0
    for p in range(n):
        c += pmf[p]
        if c > 1.0:
            c = 1.0
        g = c ** m
        if p < floor_index:
            g = 0.0
        total += x[p] * (g - prev)
        prev = g
    return total


def expected_max_iid(x, pmf, m: int, floor_index: int = -1) -> float:
    x = np.ascontiguousarray(x, dtype=np.float64)
    pmf = np.ascontiguousarray(pmf, dtype=np.float64)
    if m < 0:
        raise ValueError(f"m must be >= 0, got {m}")
    return float(expected_max_iid_kernel(x, pmf, int(m), int(floor_index)))


def expected_max_iid_reference(x, pmf, m: int, floor_index: int = -1) -> float:
    return expected_max_reference(x, np.atleast_2d(pmf), np.array([m]), floor_index)


@njit(cache=True)
def expected_sum_kernel(x, pmfs, mult):
    total = 0.0
    for i in range(pmfs.shape[0]):
        e = 0.0
        for p in range(x.size):
            e += x[p] * pmfs[i, p]
        total += mult[i] * e
    return total


def expected_sum(x, pmfs, mult=None) -> float:
    pmfs = np.ascontiguousarray(np.atleast_2d(pmfs), dtype=np.float64)
    mult = (np.ones(pmfs.shape[0], dtype=np.int64) if mult is None
            else np.ascontiguousarray(mult, dtype=np.int64))
    return float(expected_sum_kernel(np.ascontiguousarray(x, dtype=np.float64), pmfs, mult))


def expected_sum_reference(x, pmfs, mult=None) -> float:
    pmfs = np.atleast_2d(np.asarray(pmfs, dtype=np.float64))
    mult = np.ones(pmfs.shape[0]) if mult is None else np.asarray(mult, dtype=np.float64)
    return float(mult @ (pmfs @ np.asarray(x, dtype=np.float64)))
