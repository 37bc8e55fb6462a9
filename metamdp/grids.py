"""Reward and length grids.

Two length resolutions exist (spec section 1):

* tick-exact: bin ``l`` (0-based index ``l``) means "finishes after exactly ``l + 1`` more
  ticks"; every formula of the engine is exact on this grid;
* binned: the official ZIP-RC layout, 8 bins over token edges
  ``[0, 256, ..., 32768]`` with the last bin open-ended; a bin is represented by its
  midpoint and a prune horizon can only fall on a bin's upper edge.

All lengths inside the engine are measured in *ticks* (one decision interval of ``delta``
tokens); the grids convert.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

OFFICIAL_LENGTH_EDGES = (0, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768)
DEFAULT_DELTA = 64


class GridError(ValueError):
    """A reward or length grid is malformed."""


@dataclass(frozen=True)
class RewardGrid:
    """Sorted reward values ``v_1 < ... < v_B`` in [0, 1].

    The value 0 is always on the grid because a pruned or unanswered sample scores 0; if
    the caller's values lack it, it is prepended and :attr:`added_zero` is set.
    """

    values: np.ndarray
    added_zero: bool = False

    def __post_init__(self):
        # any sequence of numbers works (``RewardGrid([0.0, 1.0])``); it becomes a read-only
        # float64 array, validated here so that a bad grid fails now, not inside plan()
        try:
            v = np.array(self.values, dtype=np.float64).ravel()
        except (TypeError, ValueError):
            raise GridError(f"reward values must be numbers, got {self.values!r}") from None
        if v.size == 0:
            raise GridError("reward grid is empty")
        if not np.all(np.isfinite(v)):
            raise GridError(f"reward grid has a non-finite value: {v.tolist()}")
        if np.any(v < 0) or np.any(v > 1):
            raise GridError(f"reward values must lie in [0, 1], got {v.tolist()}")
        if np.any(np.diff(v) <= 0):
            raise GridError(f"reward values must be strictly increasing, got {v.tolist()}")
        added = bool(self.added_zero)
        if v[0] != 0.0:
            v = np.concatenate([[0.0], v])
            added = True
        v.setflags(write=False)
        object.__setattr__(self, "values", v)
        object.__setattr__(self, "added_zero", added)

    @classmethod
    def from_values(cls, values) -> "RewardGrid":
        """The grid of ``values`` (0 prepended if missing); same as ``RewardGrid(values)``."""
        return cls(values=values)

    @classmethod
    def binary(cls) -> "RewardGrid":
        """The correctness head: ``{0, 1}``."""
        return cls.from_values([0.0, 1.0])

    @classmethod
    def seven_state(cls) -> "RewardGrid":
        """The value head: ``{0, 1/6, ..., 1}``."""
        return cls.from_values(np.arange(7) / 6.0)

    @classmethod
    def official(cls, reward_states: int) -> "RewardGrid":
        if reward_states == 2:
            return cls.binary()
        if reward_states == 7:
            return cls.seven_state()
        if reward_states < 2:
            raise GridError(f"reward_states must be >= 2, got {reward_states}")
        return cls.from_values(np.linspace(0.0, 1.0, reward_states))

    @property
    def size(self) -> int:
        return int(self.values.size)

    def index_of(self, value: float, atol: float = 1e-9) -> int:
        """Index of ``value`` on the grid; raises if it is not a grid value."""
        idx = int(np.argmin(np.abs(self.values - value)))
        if abs(self.values[idx] - value) > atol:
            raise GridError(f"value {value!r} is not on the reward grid {self.values.tolist()}")
        return idx

    def nearest_index(self, value: float) -> int:
        """Index of the nearest grid value (how a scalar label becomes a hard one-hot)."""
        return int(np.argmin(np.abs(self.values - value)))


@dataclass(frozen=True)
class LengthGrid:
    """Remaining-length bins, in ticks.

    Attributes
    ----------
    representative : (L,) float
        Length used for a sample that finishes in this bin (ticks).
    upper : (L,) float
        Upper edge of each bin (ticks); the last one may be ``inf`` (open-ended bin).
        Pruning at horizon index ``j`` cuts every sample still running at ``upper[j]``.
    delta : int
        Tokens per tick.
    tick_exact : bool
        True when bin ``l`` means exactly ``l + 1`` ticks (all formulas exact).
    token_edges : tuple or None
        Token edges of a binned layout (None for tick-exact).
    """

    representative: np.ndarray
    upper: np.ndarray
    delta: int = DEFAULT_DELTA
    tick_exact: bool = False
    token_edges: tuple | None = field(default=None)

    def __post_init__(self):
        # sequences become read-only float64 arrays; a malformed grid fails here, not in plan()
        try:
            rep = np.array(self.representative, dtype=np.float64)
            up = np.array(self.upper, dtype=np.float64)
        except (TypeError, ValueError):
            raise GridError("length grid: representative and upper must be numbers") from None
        if rep.ndim != 1 or rep.size == 0 or up.shape != rep.shape:
            raise GridError(f"length grid: representative and upper must be 1-D of the same "
                            f"non-zero size, got shapes {rep.shape} and {up.shape}")
        if not np.all(np.isfinite(rep)) or np.any(rep <= 0) or np.any(np.diff(rep) <= 0):
            raise GridError(f"length grid: representative lengths must be finite, > 0 and "
                            f"strictly increasing, got {rep.tolist()}")
        if np.any(np.isnan(up)) or np.any(np.diff(up) <= 0) or np.any(up < rep):
            raise GridError(f"length grid: upper edges must be strictly increasing and >= the "
                            f"representative lengths, got {up.tolist()}")
        if isinstance(self.delta, bool) or int(self.delta) != self.delta or self.delta < 1:
            raise GridError(f"delta must be a positive integer, got {self.delta!r}")
        if self.tick_exact and not (np.array_equal(rep, np.arange(1, rep.size + 1))
                                    and np.array_equal(up, rep)):
            raise GridError("a tick-exact length grid has representative = upper = 1, 2, ..., L "
                            "(use LengthGrid.ticks)")
        edges = None
        if self.token_edges is not None:
            edges = tuple(float(x) for x in self.token_edges)
            if len(edges) != rep.size + 1:
                raise GridError(f"length grid: {len(edges)} token edges for {rep.size} bins "
                                f"(need {rep.size + 1})")
        rep.setflags(write=False)
        up.setflags(write=False)
        object.__setattr__(self, "representative", rep)
        object.__setattr__(self, "upper", up)
        object.__setattr__(self, "delta", int(self.delta))
        object.__setattr__(self, "tick_exact", bool(self.tick_exact))
        object.__setattr__(self, "token_edges", edges)

    @classmethod
    def ticks(cls, max_ticks: int, delta: int = DEFAULT_DELTA) -> "LengthGrid":
        """Tick-exact grid with bins ``1..max_ticks`` ticks."""
        if int(max_ticks) != max_ticks or max_ticks < 1:
            raise GridError(f"max_ticks must be a positive integer, got {max_ticks!r}")
        if int(delta) != delta or delta < 1:
            raise GridError(f"delta must be a positive integer, got {delta!r}")
        rep = np.arange(1, int(max_ticks) + 1, dtype=np.float64)
        rep.setflags(write=False)
        up = rep.copy()
        up.setflags(write=False)
        return cls(representative=rep, upper=up, delta=int(delta), tick_exact=True)

    @classmethod
    def binned(cls, token_edges=OFFICIAL_LENGTH_EDGES, delta: int = DEFAULT_DELTA,
               open_last: bool = True) -> "LengthGrid":
        """Binned grid from token edges (the official layout by default).

        Bin ``k`` covers ``[edges[k], edges[k+1])`` tokens (the official label rule) and is
        represented by its midpoint; with ``open_last`` the last bin also holds everything
        beyond the last edge (the official checkpoints clamp longer lengths into it).
        """
        e = np.asarray(token_edges, dtype=np.float64)
        if e.ndim != 1 or e.size < 2:
            raise GridError(f"token edges need at least two values, got {list(token_edges)}")
        if not np.all(np.isfinite(e)) or e[0] < 0 or np.any(np.diff(e) <= 0):
            raise GridError(f"token edges must be finite, >= 0 and strictly increasing, got {list(token_edges)}")
        if int(delta) != delta or delta < 1:
            raise GridError(f"delta must be a positive integer, got {delta!r}")
        rep = ((e[:-1] + e[1:]) / 2.0) / delta
        up = e[1:] / delta
        if open_last:
            up = up.copy()
            up[-1] = np.inf
        rep.setflags(write=False)
        up.setflags(write=False)
        return cls(representative=rep, upper=up, delta=int(delta), tick_exact=False,
                   token_edges=tuple(float(x) for x in e))

    @classmethod
    def official(cls, delta: int = DEFAULT_DELTA) -> "LengthGrid":
        return cls.binned(OFFICIAL_LENGTH_EDGES, delta=delta)

    @property
    def size(self) -> int:
        return int(self.representative.size)

    @property
    def horizon_ticks(self) -> np.ndarray:
        """Prune time (ticks) of each horizon index; the last one means 'never' (inf)."""
        h = self.upper.astype(np.float64).copy()
        h[-1] = np.inf
        return h

    def horizon_label(self, j: int):
        """Human/JSON form of horizon index ``j``: ticks, or None for 'never'."""
        if j >= self.size - 1:
            return None
        v = float(self.upper[j])
        return int(v) if v.is_integer() else v

    def tokens_to_ticks(self, tokens) -> np.ndarray:
        """Number of ticks needed to generate ``tokens`` tokens (ceil)."""
        t = np.asarray(tokens, dtype=np.float64)
        if np.any(t < 0) or not np.all(np.isfinite(t)):
            raise GridError("token counts must be finite and >= 0")
        return np.ceil(t / self.delta).astype(np.int64)

    def tokens_to_bin(self, tokens) -> np.ndarray:
        """Length bin of a remaining length given in tokens (clamped into the last bin)."""
        t = np.asarray(tokens, dtype=np.float64)
        if np.any(t < 0) or not np.all(np.isfinite(t)):
            raise GridError("token counts must be finite and >= 0")
        if self.tick_exact:
            ticks = np.maximum(np.ceil(t / self.delta), 1)
            return (np.minimum(ticks, self.size) - 1).astype(np.int64)
        edges = np.asarray(self.token_edges[1:-1])
        # Official rule: bin k covers [e_k, e_{k+1}); lengths past the last edge clamp.
        return np.searchsorted(edges, t, side="right").astype(np.int64)

    def ticks_to_bin(self, ticks) -> np.ndarray:
        """Length bin of a remaining length given in ticks."""
        return self.tokens_to_bin(np.asarray(ticks, dtype=np.float64) * self.delta)


def tokens_to_bin_official(tokens) -> np.ndarray:
    """Official label rule: bin of ``tokens`` remaining tokens on the 8-bin layout."""
    return LengthGrid.official().tokens_to_bin(tokens)
