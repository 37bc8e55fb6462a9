"""Fully parallel baselines: start ``n`` samples at once, stop by a length rule, vote.

``mv``, ``bon``, ``wbon``, ``pass_at_n`` and ``wbon_rm`` run all ``n`` to completion and
differ in the answer rule; ``length_prune`` cuts each sample at a token budget,
``half_finished`` stops everything once half have finished, ``short_m_at_k`` once ``m``
have.
"""

from __future__ import annotations

import math

from .base import (SELECTIONS, Action, Policy, PolicyConfigError, dprime_from_auroc, effective_n,
                   select)
from .kernels import reward_model_weight


def _check_n(name, n, cap):
    if int(cap) != cap or cap < 1:
        raise PolicyConfigError(f"policy {name}: cap must be an integer >= 1, got {cap!r}")
    if isinstance(n, bool) or int(n) != n or not 1 <= int(n) <= int(cap):
        raise PolicyConfigError(f"policy {name}: n must be an integer in 1..cap ({cap}), got {n!r}")
    return int(n), int(cap)


def _check_selection(name, selection):
    if selection not in SELECTIONS:
        raise PolicyConfigError(f"policy {name}: selection must be one of {', '.join(SELECTIONS)}, "
                                f"got {selection!r}")
    return selection


def _n_finished(view) -> int:
    """Samples that ended by themselves with an answer slot (status ``finished``)."""
    return sum(1 for s in view.finished if s.status == "finished")


class MajorityVote(Policy):
    """``mv``: start ``n`` samples at once, run them all to completion, plurality vote."""

    name = "mv"
    selection = "plurality"
    knob_name = "n"
    knobs = (1, 2, 3, 4, 5, 6, 8)

    def __init__(self, n: int = 4, selection: str = "plurality", cap: int = 8):
        self.n, self.cap = _check_n(self.name, n, cap)
        self.selection = _check_selection(self.name, selection)

    def __call__(self, view):
        if view.n_created == 0:
            return Action(keep=[], new=effective_n(self.n, view))
        return Action(keep=[s.sid for s in view.unfinished])


class BestOfN(MajorityVote):
    """``bon``: ``n`` samples to completion, the answer with the highest final value."""

    name = "bon"
    selection = "value"
    knobs = (1, 2, 3, 4, 6, 8)

    def __init__(self, n: int = 4, cap: int = 8):
        super().__init__(n, "value", cap)

    def describe_knobs(self) -> dict:
        return {"n": self.n, "cap": self.cap}


class WeightedBestOfN(BestOfN):
    """``wbon``: ``n`` samples to completion, value-weighted vote."""

    name = "wbon"
    selection = "weighted"

    def __init__(self, n: int = 4, cap: int = 8):
        MajorityVote.__init__(self, n, "weighted", cap)


class PassAtN(BestOfN):
    """``pass_at_n``: ``n`` samples to completion, correct if any is (oracle upper bound)."""

    name = "pass_at_n"
    selection = "oracle"
    knobs = (1, 2, 4, 8)

    def __init__(self, n: int = 8, cap: int = 8):
        MajorityVote.__init__(self, n, "oracle", cap)


class RewardModelVote(Policy):
    """``wbon_rm``: ``n`` samples to completion, vote weighted by an external reward model.

    The model is simulated: a finished sample's score is ``d' (correct - 1/2) + noise``
    (``noise``: the world's ``rm_noise``, standard normal), ``d' = sqrt(2) Phi^-1(strength)``
    so that ``strength`` is the model's AUROC; the weight is ``sigmoid(score)``. Scoring a
    sample costs ``rm_cost`` times its length in compute (:meth:`extra_ticks`).
    """

    name = "wbon_rm"
    selection = "weighted"
    knob_name = "n"
    knobs = (1, 2, 3, 4, 6, 8)

    def __init__(self, n: int = 4, strength: float = 0.85, rm_cost: float = 1.0, cap: int = 8):
        self.n, self.cap = _check_n(self.name, n, cap)
        if not 0.5 <= float(strength) < 1.0:
            raise PolicyConfigError(f"policy wbon_rm: strength (the reward model's AUROC) must be "
                                    f"in [0.5, 1), got {strength!r}")
        if not float(rm_cost) >= 0:
            raise PolicyConfigError(f"policy wbon_rm: rm_cost must be >= 0, got {rm_cost!r}")
        self.strength, self.rm_cost = float(strength), float(rm_cost)

    def __call__(self, view):
        if view.n_created == 0:
            return Action(keep=[], new=effective_n(self.n, view))
        return Action(keep=[s.sid for s in view.unfinished])

    def choose(self, finished):
        done = [s for s in finished if s.status == "finished"]
        dprime = dprime_from_auroc(self.strength)
        w = {}
        for s in done:
            noise = getattr(s, "rm_noise", None)
            if noise is None:
                raise PolicyConfigError("policy wbon_rm needs a simulated reward-model score "
                                        "(rm_noise), which this world does not provide")
            w[s.sid] = reward_model_weight(dprime, bool(s.correct), float(noise))
        return select("weighted", done, w)

    def extra_ticks(self, finished) -> float:
        e = 0.0
        for s in finished:
            if s.status == "finished":
                e += self.rm_cost * s.elapsed_ticks
        return e


class LengthPrune(Policy):
    """``length_prune``: ``n`` samples; each stops once it has generated ``budget_tokens``
    of its own tokens (checked every tick, so the cut is the budget rounded up to a tick);
    vote over those that finished within the budget."""

    name = "length_prune"
    knob_name = "budget_tokens"
    knobs = (1024, 2048, 4096, 8192, 16384)

    def __init__(self, n: int = 8, budget_tokens: float = 4096, selection: str = "plurality",
                 cap: int = 8):
        self.n, self.cap = _check_n(self.name, n, cap)
        if not float(budget_tokens) > 0:
            raise PolicyConfigError(f"policy length_prune: budget_tokens must be > 0, got {budget_tokens!r}")
        self.budget_tokens = budget_tokens
        self.selection = _check_selection(self.name, selection)

    def __call__(self, view):
        if view.n_created == 0:
            return Action(keep=[], new=effective_n(self.n, view))
        budget = math.ceil(float(self.budget_tokens) / view.lengths.delta)
        return Action(keep=[s.sid for s in view.unfinished if s.own_ticks < budget])


class HalfFinished(Policy):
    """``half_finished``: ``n`` samples; all stop once ``ceil(n / 2)`` have finished."""

    name = "half_finished"
    knob_name = "n"
    knobs = (2, 3, 4, 6, 8)

    def __init__(self, n: int = 8, selection: str = "plurality", cap: int = 8):
        self.n, self.cap = _check_n(self.name, n, cap)
        self.selection = _check_selection(self.name, selection)

    def __call__(self, view):
        n = effective_n(self.n, view)
        if view.n_created == 0:
            return Action(keep=[], new=n)
        if _n_finished(view) >= (n + 1) // 2:
            return Action(keep=[])
        return Action(keep=[s.sid for s in view.unfinished])


class ShortMAtK(Policy):
    """``short_m_at_k``: ``n`` (= k) samples; stop at the first epoch at which at least ``m``
    have finished (several may finish in one tick); plurality over the finished ones."""

    name = "short_m_at_k"
    knob_name = "n"
    knobs = (2, 3, 4, 6, 8)

    def __init__(self, n: int = 8, m: int = 3, cap: int = 8):
        self.n, self.cap = _check_n(self.name, n, cap)
        if isinstance(m, bool) or int(m) != m or m < 1:
            raise PolicyConfigError(f"policy short_m_at_k: m must be an integer >= 1, got {m!r}")
        self.m = int(m)

    def __call__(self, view):
        n = effective_n(self.n, view)
        if view.n_created == 0:
            return Action(keep=[], new=n)
        if _n_finished(view) >= min(self.m, n):
            return Action(keep=[])
        return Action(keep=[s.sid for s in view.unfinished])
