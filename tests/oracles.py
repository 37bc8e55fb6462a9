"""Brute-force oracles the tests compare the project's code against (exponential or slow:
small cases only; kept out of the production modules)."""

import itertools

import numpy as np


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
