"""Joint distributions over (final reward, remaining length), stored reward-major.

A joint ``p`` has shape ``(B, L)``: ``p[b, l]`` is the probability that the sample ends
with reward ``values[b]`` after ``representative[l]`` more ticks. Flattened, index
``b * L + l`` matches the official checkpoints' reserved-logit layout.
"""

from __future__ import annotations

import numpy as np

from .grids import LengthGrid, RewardGrid

SUM_TOLERANCE = 1e-9


class JointError(ValueError):
    """A joint distribution is malformed."""


def validate_joint(p, reward_states: int | None = None, length_bins: int | None = None,
                   name: str = "joint", tol: float = SUM_TOLERANCE) -> np.ndarray:
    """Return ``p`` as a float64 ``(B, L)`` array or raise :class:`JointError`.

    Checks shape, finiteness, non-negativity and that the total is 1 within ``tol``.
    A flat vector is accepted when both sizes are given (reward-major order).
    """
    a = np.asarray(p, dtype=np.float64)
    if a.ndim == 1 and reward_states is not None and length_bins is not None:
        if a.size != reward_states * length_bins:
            raise JointError(f"{name}: flat joint has {a.size} entries, expected "
                             f"{reward_states} x {length_bins} = {reward_states * length_bins}")
        a = a.reshape(reward_states, length_bins)
    if a.ndim != 2:
        raise JointError(f"{name}: expected a 2-D (reward, length) array, got shape {a.shape}")
    if reward_states is not None and a.shape[0] != reward_states:
        raise JointError(f"{name}: has {a.shape[0]} reward states, expected {reward_states}")
    if length_bins is not None and a.shape[1] != length_bins:
        raise JointError(f"{name}: has {a.shape[1]} length bins, expected {length_bins}")
    if not np.all(np.isfinite(a)):
        raise JointError(f"{name}: contains NaN or infinite entries")
    if np.any(a < 0):
        raise JointError(f"{name}: contains negative entries (min {a.min():.3g})")
    total = a.sum()
    if abs(total - 1.0) > tol:
        raise JointError(f"{name}: sums to {total:.12g}, not 1 (tolerance {tol:g})")
    return a


def reward_marginal(p: np.ndarray) -> np.ndarray:
    return np.asarray(p).sum(axis=1)


def length_marginal(p: np.ndarray) -> np.ndarray:
    return np.asarray(p).sum(axis=0)


def expected_value(p: np.ndarray, rewards: RewardGrid | np.ndarray) -> float:
    v = rewards.values if isinstance(rewards, RewardGrid) else np.asarray(rewards)
    return float(reward_marginal(p) @ v)


def expected_remaining(p: np.ndarray, lengths: LengthGrid | np.ndarray) -> float:
    """Expected remaining length in ticks (bin representatives)."""
    r = lengths.representative if isinstance(lengths, LengthGrid) else np.asarray(lengths)
    return float(length_marginal(p) @ r)


def truncate(p: np.ndarray, horizon_index: int) -> np.ndarray:
    """Truncated joint at horizon index ``j`` (spec section 3).

    A sample whose length bin is ``<= j`` keeps ``(Z, L)``; every other sample is pruned at
    the horizon: reward 0 (index 0), length = the horizon. The horizon lives at bin ``j``'s
    upper edge, so the pruned mass is returned separately as the last column of a
    ``(B, j + 2)`` array whose last column is "pruned at the horizon" (reward 0 only).
    ``horizon_index >= L - 1`` means "never prune": the joint is returned unchanged.
    """
    a = np.asarray(p, dtype=np.float64)
    B, L = a.shape
    if horizon_index >= L - 1:
        return a.copy()
    if horizon_index < 0:
        raise JointError(f"horizon index must be >= 0, got {horizon_index}")
    out = np.zeros((B, horizon_index + 2))
    out[:, : horizon_index + 1] = a[:, : horizon_index + 1]
    out[0, horizon_index + 1] = a[:, horizon_index + 1:].sum()
    return out


def truncated_lengths(lengths: LengthGrid, horizon_index: int) -> np.ndarray:
    """Length support (ticks) matching the columns of :func:`truncate`."""
    L = lengths.size
    if horizon_index >= L - 1:
        return lengths.representative.copy()
    return np.concatenate([lengths.representative[: horizon_index + 1],
                           [lengths.upper[horizon_index]]])


def rebin_lengths(p: np.ndarray, source: LengthGrid, target: LengthGrid) -> np.ndarray:
    """Move each length bin's mass to the target bin holding its representative length."""
    a = np.asarray(p, dtype=np.float64)
    idx = target.ticks_to_bin(source.representative)
    out = np.zeros((a.shape[0], target.size))
    for l_src, l_dst in enumerate(idx):
        out[:, l_dst] += a[:, l_src]
    return out
