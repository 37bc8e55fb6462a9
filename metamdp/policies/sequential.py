"""Sequential baselines: one sample (or one window of samples) at a time, a stopping rule
between them: Adaptive-Consistency, early-stopping self-consistency, Pandora's rule."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from .base import Action, Policy, PolicyConfigError, effective_n
from .kernels import beta_stop_prob, reservation_value
from .parallel import _check_n


class AdaptiveConsistency(Policy):
    """``ac``: one sample at a time (up to ``n``); after each one ends, stop when
    ``P(p > 1/2)`` under ``Beta(a + 1, b + 1)`` reaches ``threshold``, ``a`` and ``b`` the
    votes of the leading answer and the runner-up (Aggarwal et al. 2023's Beta criterion,
    in closed form). Samples without an answer cast no vote."""

    name = "ac"
    knob_name = "threshold"
    knobs = (0.6, 0.75, 0.85, 0.95, 0.99)

    def __init__(self, n: int = 8, threshold: float = 0.95, cap: int = 8):
        self.n, self.cap = _check_n(self.name, n, cap)
        if not 0.5 <= float(threshold) < 1.0:
            raise PolicyConfigError(f"policy ac: threshold must be in [0.5, 1), got {threshold!r}")
        self.threshold = float(threshold)

    @staticmethod
    def top_two(answers) -> tuple:
        counts = sorted(Counter(a for a in answers if a is not None).values(), reverse=True) + [0, 0]
        return counts[0], counts[1]

    def __call__(self, view):
        if view.unfinished:
            return Action(keep=[s.sid for s in view.unfinished])
        if view.n_created > 0:
            a, b = self.top_two(s.answer for s in view.finished if s.status == "finished")
            if beta_stop_prob(a, b) >= self.threshold:
                return Action(keep=[])
        return Action(keep=[], new=1 if view.n_created < effective_n(self.n, view) else 0)


class EarlyStoppingSC(Policy):
    """``esc``: windows of ``window`` samples in parallel (the last one smaller if ``n`` is
    not a multiple); stop after the first window whose answers are all equal (a sample
    without an answer breaks unanimity)."""

    name = "esc"
    knob_name = "window"
    knobs = (1, 2, 3, 4)

    def __init__(self, n: int = 8, window: int = 2, cap: int = 8):
        self.n, self.cap = _check_n(self.name, n, cap)
        if isinstance(window, bool) or int(window) != window or not 1 <= window <= self.n:
            raise PolicyConfigError(f"policy esc: window must be an integer in 1..n ({self.n}), got {window!r}")
        self.window = int(window)

    def __call__(self, view):
        if view.unfinished:
            return Action(keep=[s.sid for s in view.unfinished])
        created = view.n_created
        if created > 0:
            r = created % self.window
            last = sorted(view.finished, key=lambda s: s.sid)[-(r if r else self.window):]
            answers = {s.answer if s.status == "finished" else None for s in last}
            if len(answers) == 1 and None not in answers:
                return Action(keep=[])
        return Action(keep=[], new=max(0, min(self.window, effective_n(self.n, view) - created)))


class Pandora(Policy):
    """``pandora``: Weitzman's rule. One sample at a time (up to ``n``); the reservation
    value ``z`` solves ``E[(V - z)+] = beta`` for ``V`` the reward marginal of the root
    prediction (a sample costs ``beta * E[L] / D`` with ``D = E[L]``, i.e. ``beta``). Start
    a sample while the best finished value is below ``z`` (none finished: while ``z > 0``)."""

    name = "pandora"
    selection = "value"
    knob_name = "beta"
    knobs = (0.003, 0.01, 0.03, 0.1, 0.2, 0.3, 0.4, 0.5)

    def __init__(self, n: int = 8, beta: float = 0.01, cap: int = 8):
        self.n, self.cap = _check_n(self.name, n, cap)
        if not (float(beta) >= 0 and math.isfinite(float(beta))):
            raise PolicyConfigError(f"policy pandora: beta must be finite and >= 0, got {beta!r}")
        self.beta = float(beta)

    def reservation(self, view) -> float:
        return float(reservation_value(np.ascontiguousarray(view.rewards.values, dtype=np.float64),
                                       np.ascontiguousarray(view.root_joint, dtype=np.float64),
                                       self.beta))

    def __call__(self, view):
        if view.unfinished:
            return Action(keep=[s.sid for s in view.unfinished])
        z = self.reservation(view)
        if view.n_created == 0:
            return Action(keep=[], new=1 if z > 0.0 else 0)
        best = max(s.value if s.status == "finished" else 0.0 for s in view.finished)
        if z <= best or view.n_created >= effective_n(self.n, view):
            return Action(keep=[])
        return Action(keep=[], new=1)
