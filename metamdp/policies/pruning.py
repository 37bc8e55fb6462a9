"""Baselines that read in-flight signals and drop samples: ZIP-RC reward pruning,
speculative rejection and DeepConf online."""

from __future__ import annotations

import math

import numpy as np

from .base import Action, Policy, PolicyConfigError, effective_n, select
from .kernels import joint_value, percentile, trace_confidence
from .parallel import _check_n, _check_selection

SIGNALS = ("trace", "ziprc")


def _values(view) -> np.ndarray:
    return np.ascontiguousarray(view.rewards.values, dtype=np.float64)


def _ev(s, values) -> float:
    return joint_value(np.ascontiguousarray(s.joint, dtype=np.float64), values)


class RewardPrune(Policy):
    """``reward_prune`` (ZIP-RC's ablation): start ``n``; drop a sample for good once its
    predicted E[value] falls below ``threshold`` (checked after every tick)."""

    name = "reward_prune"
    knob_name = "n"
    knobs = (1, 2, 3, 4, 6, 8)

    def __init__(self, n: int = 8, threshold: float = 0.4, selection: str = "plurality", cap: int = 8):
        self.n, self.cap = _check_n(self.name, n, cap)
        if not 0.0 <= float(threshold) <= 1.0:
            raise PolicyConfigError(f"policy reward_prune: threshold must be in [0, 1], got {threshold!r}")
        self.threshold = float(threshold)
        self.selection = _check_selection(self.name, selection)
        self.reset()

    def reset(self):
        self._dropped = set()

    def __call__(self, view):
        if view.n_created == 0:
            return Action(keep=[], new=effective_n(self.n, view))
        values = _values(view)
        for s in view.unfinished:
            if s.sid not in self._dropped and _ev(s, values) < self.threshold:
                self._dropped.add(s.sid)
        return Action(keep=[s.sid for s in view.unfinished if s.sid not in self._dropped])


class SpecRejection(Policy):
    """``spec_rejection``: ``n`` samples; after ticks ``first_checkpoint``, twice that, ...
    keep the ``ceil(keep_frac * open)`` open samples with the highest predicted E[value]
    (at least one; ties keep the lower id) and drop the rest; answer by value."""

    name = "spec_rejection"
    selection = "value"
    knob_name = "n"
    knobs = (2, 3, 4, 6, 8)

    def __init__(self, n: int = 8, keep_frac: float = 0.5, first_checkpoint: int = 4, cap: int = 8):
        self.n, self.cap = _check_n(self.name, n, cap)
        if not 0.0 < float(keep_frac) <= 1.0:
            raise PolicyConfigError(f"policy spec_rejection: keep_frac must be in (0, 1], got {keep_frac!r}")
        if int(first_checkpoint) != first_checkpoint or first_checkpoint < 1:
            raise PolicyConfigError("policy spec_rejection: first_checkpoint must be an integer >= 1 tick")
        self.keep_frac, self.first_checkpoint = float(keep_frac), int(first_checkpoint)
        self.reset()

    def reset(self):
        self._dropped = set()
        self._next = self.first_checkpoint

    def __call__(self, view):
        if view.n_created == 0:
            return Action(keep=[], new=effective_n(self.n, view))
        open_ = [s for s in view.unfinished if s.sid not in self._dropped]
        if view.epoch >= self._next and open_:
            while self._next <= view.epoch:
                self._next *= 2
            keep = max(1, int(math.ceil(self.keep_frac * len(open_))))
            values = _values(view)
            ranked = sorted(open_, key=lambda s: (-_ev(s, values), s.sid))
            for s in ranked[keep:]:
                self._dropped.add(s.sid)
            open_ = ranked[:keep]
        return Action(keep=sorted(s.sid for s in open_))


class DeepConf(Policy):
    """``deepconf``: DeepConf online (Fu et al. 2025).

    The confidence of a sample at a tick is, with ``signal = "ziprc"``, its predicted
    E[value] (its final value on the tick it ends); with ``signal = "trace"``, a simulated
    token-confidence trace ``sigmoid(strength (correct - 1/2) + noise)`` (the world's
    ``trace_noise``). Its window confidence is the mean over its last ``window`` ticks; its
    score the lowest window confidence. ``warmup`` samples run to completion; the cut-off is
    the ``percentile`` of their scores. Then, unless their score-weighted vote already
    reaches ``threshold`` (stop), the other ``n - warmup`` start together and a sample is
    dropped once its window confidence falls below the cut-off; the policy stops at
    consensus (the score-weighted share of the leading answer among finished samples
    reaches ``threshold``) or when nothing is left to run. The vote is score-weighted.
    """

    name = "deepconf"
    selection = "weighted"
    knob_name = "n"
    knobs = (3, 4, 6, 8)

    def __init__(self, n: int = 8, warmup: int = 2, percentile: float = 10.0,
                 threshold: float = 0.95, window: int = 8, signal: str = "trace",
                 strength: float = 1.0, cap: int = 8):
        self.n, self.cap = _check_n(self.name, n, cap)
        if int(warmup) != warmup or not 1 <= warmup <= self.n:
            raise PolicyConfigError(f"policy deepconf: warmup must be in 1..n ({self.n}), got {warmup!r}")
        if not 0.0 <= float(percentile) <= 100.0:
            raise PolicyConfigError("policy deepconf: percentile must be in [0, 100]")
        if not 0.0 < float(threshold) <= 1.0:
            raise PolicyConfigError("policy deepconf: threshold must be in (0, 1]")
        if int(window) != window or window < 1:
            raise PolicyConfigError("policy deepconf: window must be an integer >= 1 tick")
        if signal not in SIGNALS:
            raise PolicyConfigError(f"policy deepconf: signal must be one of {', '.join(SIGNALS)}, got {signal!r}")
        self.warmup, self.percentile, self.threshold = int(warmup), float(percentile), float(threshold)
        self.window, self.signal, self.strength = int(window), signal, float(strength)
        self.reset()

    def label(self) -> str:
        return f"deepconf(n={self.n},{self.signal})"

    def reset(self):
        self._cum: dict = {}      # sid -> running sums [0, c1, c1 + c2, ...] of confidences
        self._min: dict = {}      # sid -> lowest window confidence
        self._cutoff = -math.inf
        self._dropped = set()

    def _confidence(self, s, done: bool, values) -> float:
        if self.signal == "ziprc":
            return float(s.value) if done else _ev(s, values)
        noise = getattr(s, "trace_noise", None)
        if noise is None:
            raise PolicyConfigError("policy deepconf with signal=trace needs a token-confidence "
                                    "trace (trace_noise), which this world does not provide; "
                                    "use signal=ziprc")
        return trace_confidence(self.strength, bool(s.correct), float(noise))

    def _record(self, s, done: bool, values):
        cum = self._cum.setdefault(s.sid, [0.0])
        cum.append(cum[-1] + self._confidence(s, done, values))
        a = len(cum) - 1
        lo = a - self.window if a > self.window else 0
        wmean = (cum[a] - (cum[lo] if lo > 0 else 0.0)) / (a - lo)
        if (a >= self.window or done) and wmean < self._min.get(s.sid, math.inf):
            self._min[s.sid] = wmean
        if not done and s.sid >= self._warm and a >= self.window and wmean < self._cutoff:
            self._dropped.add(s.sid)

    def _consensus(self, view) -> bool:
        score: dict = {}
        tot = 0.0
        for s in view.finished:
            if s.status == "finished" and s.answer is not None:
                m = self._min.get(s.sid, 0.0)
                score[s.answer] = score.get(s.answer, 0.0) + m
                tot += m
        return tot > 0 and max(score.values()) / tot >= self.threshold

    def weights(self):
        return {sid: (v if math.isfinite(v) else 0.0) for sid, v in self._min.items()}

    def choose(self, finished):
        done = [s for s in finished if s.status == "finished"]
        w = self.weights()
        return select("weighted", done, {s.sid: w.get(s.sid, 0.0) for s in done})

    def __call__(self, view):
        n = effective_n(self.n, view)
        self._warm = min(self.warmup, n)
        if view.n_created == 0:
            return Action(keep=[], new=self._warm)
        values = _values(view)
        # the confidence of every sample that advanced on the last tick
        for s in sorted([*view.unfinished, *view.finished], key=lambda s: s.sid):
            if s.own_ticks > len(self._cum.get(s.sid, (0.0,))) - 1:
                done = not (s.status in ("running", "paused"))
                if done and s.status != "finished":
                    continue   # cut without an answer: no final confidence
                self._record(s, done, values)
        open_ = [s.sid for s in view.unfinished if s.sid not in self._dropped]
        created = view.n_created
        if created < n:
            if open_:
                return Action(keep=open_)
            # warm-up over: the cut-off from their scores, then the rest unless they agree
            scores = [self._min[s.sid] for s in view.finished if math.isfinite(self._min.get(s.sid, math.inf))]
            self._cutoff = float(percentile(np.array(scores), self.percentile)) if scores else -math.inf
            if self._consensus(view):
                return Action(keep=[])
            return Action(keep=[], new=n - created)
        if self._consensus(view) or not open_:
            return Action(keep=[])
        return Action(keep=open_)
