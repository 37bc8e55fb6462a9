"""Policies of the online sampler: ZIP-RC and the baselines of ``baselines.md``.

Every policy is a callable ``View -> Action`` run at each decision epoch (every ``delta``
tokens) by :class:`llm_backend.sampler.OnlineSampler`, plus an answer-selection rule
(:attr:`OnlinePolicy.selection`) applied to the finished samples when it stops. A policy
is built for one question at a time: the sampler calls :meth:`OnlinePolicy.reset` before a
question, so one object can serve a whole run.

Names are the simulators' (``simulators.policies.POLICY_NAMES``) and :func:`make_policy`
builds any of them from keyword knobs:

=================  ==========================================================  ==========
name               rule                                                        selection
=================  ==========================================================  ==========
``ziprc``          the engine's planner (``metamdp.planner.plan``) each epoch  value
``mv``             ``n`` samples to completion                                 plurality
``bon``            ``n`` samples to completion                                 value
``wbon``           ``n`` samples to completion                                 weighted
``pass_at_n``      ``n`` samples to completion (oracle upper bound)            oracle
``length_prune``   ``n`` samples, each cut at ``budget_tokens`` own tokens     plurality
``half_finished``  ``n`` samples, all stopped once ``ceil(n/2)`` finished      plurality
``reward_prune``   ``n`` samples, a sample dropped once E[value] < threshold   plurality
``ac``             one at a time; Adaptive-Consistency's Beta criterion        plurality
``esc``            windows of ``window`` in parallel; stop on unanimity        plurality
``deepconf``       DeepConf online, confidence = ZIP-RC's E[value]             weighted*
``short_m_at_k``   ``n`` (= k) in parallel; stop once ``m`` finished           plurality
``spec_rejection`` ``n`` samples; at ticks 4, 8, 16, ... keep the top fraction value
``pandora``        one at a time; stop once best value >= reservation value    value
=================  ==========================================================  ==========

(*) DeepConf weighs each finished sample by its lowest window confidence.

The "value" of a finished sample is its predicted ``E[value]`` just before its end token
(:attr:`Sample.value`); samples cut by the length cap (``truncated``) have no answer and
value 0. Dropped samples stay paused (their caches untouched) until the policy stops; the
sampler then prunes every unfinished sample.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from metamdp.grids import LengthGrid, RewardGrid
from metamdp.planner import NORMALIZERS, SEARCHES, PlannerConfig, PlanningState, plan
from simulators.policies import POLICY_NAMES, beta_stop_probability, pandora_reservation


class PolicyConfigError(ValueError):
    """Unknown policy name, unknown knob, or a knob out of range."""


@dataclass
class Action:
    keep: list          # sample ids to advance
    new: int = 0
    branch_from: int | None = None   # sample id, None = from the prompt

    @property
    def stop(self) -> bool:
        return not self.keep and self.new == 0


@dataclass
class View:
    """What a policy sees at a decision epoch.

    ``unfinished``: running or paused samples (each with its current, possibly smoothed,
    ``joint``); ``finished``: every other sample (finished, truncated or pruned); ``epoch``:
    the number of ticks of ``delta`` tokens run so far for this question.
    """

    unfinished: list            # Sample objects
    finished: list
    root_joint: np.ndarray
    n_created: int
    epoch: int
    rewards: RewardGrid
    lengths: LengthGrid


SELECTIONS = ("plurality", "value", "weighted", "oracle")
FLOORS = ("down", "nearest")


def expected_value(joint: np.ndarray, rewards: RewardGrid) -> float:
    """``E[value]`` of a reward-major joint."""
    return float(np.asarray(joint).sum(1) @ rewards.values)


def floor_index(value: float, rewards: RewardGrid, rule: str = "down") -> int:
    """The reward state the planner uses as the floor for a finished sample of ``value``.

    ``down``: the largest grid value ``<= value`` (1e-9 tolerance), so that the planner never
    treats a finished sample as better than predicted; ``nearest``: the nearest grid value.
    """
    if rule == "nearest":
        return rewards.nearest_index(value)
    if rule != "down":
        raise PolicyConfigError(f"floor rule must be one of {', '.join(FLOORS)}, got {rule!r}")
    i = int(np.searchsorted(rewards.values, value + 1e-9, side="right")) - 1
    return max(i, 0)


def select(selection: str, done: list, weights: dict | None = None):
    """The finished sample whose answer is given (``None`` if none has an answer).

    ``done``: samples with ``status == "finished"``. ``plurality``: most frequent answer;
    ``value``: highest value; ``weighted``: answer with the largest sum of weights (the
    values, or ``weights[sid]``); ``oracle``: a correct sample if any (pass@N). Ties go to
    the answer (or sample) that appears first, as in the simulators.
    """
    done = [s for s in done if s.answer is not None]
    if not done:
        return None
    if selection == "value":
        return max(done, key=lambda s: s.value)   # first of equal maxima
    if selection == "oracle":
        return next((s for s in done if s.correct), done[0])
    if selection not in ("plurality", "weighted"):
        raise PolicyConfigError(f"selection must be one of {', '.join(SELECTIONS)}, got {selection!r}")
    score: dict = {}
    for s in done:
        w = 1.0
        if selection == "weighted":
            w = float(weights[s.sid]) if weights is not None else float(s.value)
        score[s.answer] = score.get(s.answer, 0.0) + w + 1e-12  # present beats absent
    top = max(score.values())
    return next(s for s in done if score[s.answer] == top)


class OnlinePolicy:
    """Base class: a name, an answer-selection rule, per-question state reset."""

    name = "policy"
    selection = "plurality"

    def reset(self) -> None:
        """Forget the previous question's state (called by the sampler before each run)."""

    def prepare(self, rewards: RewardGrid, lengths: LengthGrid) -> None:
        """Set up anything that depends on the grids (called by the sampler before each run,
        outside the timed decisions)."""

    def weights(self):
        """Per-sample weights of a ``weighted`` vote (``None``: the predicted values)."""
        return None

    def choose(self, finished: list):
        """The finished sample whose answer this policy gives."""
        return select(self.selection, [s for s in finished if s.status == "finished"], self.weights())

    def __call__(self, view: View) -> Action:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> dict:
        return {"policy": self.name, "selection": self.selection,
                **{k: v for k, v in vars(self).items() if not k.startswith("_") and
                   isinstance(v, (int, float, str, bool))}}


def _ended(view: View) -> int:
    """Samples that ended by themselves (finished with an end token)."""
    return sum(1 for s in view.finished if s.status == "finished")


# --------------------------------------------------------------------------- ZIP-RC


class ZipRCPolicy(OnlinePolicy):
    """ZIP-RC sampling: the engine's planner at every epoch.

    Either a ready :class:`PlannerConfig` or the knobs (``beta``, ``alpha``, ``cap``,
    ``search``, ``normalizer``, ``branching``), in which case the config is built at the
    first decision from the sampler's grids. ``floor``: how the best finished sample's
    predicted value becomes the planner's floor state (:func:`floor_index`).
    """

    name = "ziprc"
    selection = "value"

    def __init__(self, config: PlannerConfig | None = None, *, beta: float = 0.01, alpha: float = 0.1,
                 cap: int = 8, search: str = "exhaustive", normalizer: str = "fixed",
                 branching: bool = True, floor: str = "down", selection: str = "value"):
        if floor not in FLOORS:
            raise PolicyConfigError(f"policy ziprc: floor must be one of {', '.join(FLOORS)}, got {floor!r}")
        if selection not in SELECTIONS:
            raise PolicyConfigError(f"policy ziprc: selection must be one of {', '.join(SELECTIONS)}")
        if search not in SEARCHES:
            raise PolicyConfigError(f"policy ziprc: search must be one of {', '.join(SEARCHES)}, got {search!r}")
        if normalizer not in NORMALIZERS:
            raise PolicyConfigError(f"policy ziprc: normalizer must be one of {', '.join(NORMALIZERS)}")
        if not (beta >= 0 and math.isfinite(beta)) or not 0 <= alpha <= 1:
            raise PolicyConfigError(f"policy ziprc: need beta >= 0 and alpha in [0, 1], got {beta!r}, {alpha!r}")
        self.floor, self.selection = floor, selection
        self._knobs = dict(beta=float(beta), alpha=float(alpha), cap=int(cap), search=search,
                           normalizer=normalizer, branching=bool(branching))
        self.config = None
        if config is not None:
            self._set_config(config)
        self.beta = self._knobs["beta"] if config is None else float(config.beta)

    def _set_config(self, config: PlannerConfig):
        self.config = config
        # load (or compile) the planner's kernels now, so that decisions are timed warm
        B, L = config.rewards.size, config.lengths.size
        flat = np.full((1, B, L), 1.0 / (B * L))
        plan(PlanningState(joints=flat, root_joint=flat[0], n_created=1), config)

    def prepare(self, rewards: RewardGrid, lengths: LengthGrid) -> None:
        """Build the planner config from the sampler's grids (once) and warm the planner."""
        if self.config is None:
            self._set_config(PlannerConfig(rewards=rewards, lengths=lengths, **self._knobs))

    def __call__(self, view: View) -> Action:
        self.prepare(view.rewards, view.lengths)
        B, L = view.rewards.size, view.lengths.size
        joints = (np.stack([s.joint for s in view.unfinished]) if view.unfinished
                  else np.zeros((0, B, L)))
        fin = [s.value for s in view.finished if s.status == "finished"]
        floor = floor_index(max(fin), view.rewards, self.floor) if fin else 0
        state = PlanningState(joints=joints, root_joint=view.root_joint, floor_index=floor,
                              n_created=view.n_created,
                              elapsed=np.array([s.elapsed_ticks for s in view.unfinished], dtype=float),
                              finished_lengths=np.array([s.elapsed_ticks for s in view.finished], dtype=float))
        d = plan(state, self.config)
        st = d.strategy
        keep = [view.unfinished[i].sid for i in st.keep]
        bf = None if st.branch_from is None else view.unfinished[st.branch_from].sid
        return Action(keep=keep, new=int(st.new), branch_from=bf)


# --------------------------------------------------------------------------- fully parallel


class MajorityVotePolicy(OnlinePolicy):
    """Start ``n`` samples at once and run them all to completion (``mv``; with another
    ``selection`` also ``bon``, ``wbon``, ``pass_at_n``)."""

    name = "mv"

    def __init__(self, n: int, selection: str = "plurality", name: str | None = None):
        if selection not in SELECTIONS:
            raise PolicyConfigError(f"selection must be one of {', '.join(SELECTIONS)}, got {selection!r}")
        self.n, self.selection = int(n), selection
        if name is not None:
            self.name = name

    def __call__(self, view: View) -> Action:
        new = self.n if view.epoch == 0 else 0
        return Action(keep=[s.sid for s in view.unfinished], new=new)


class LengthPrunePolicy(OnlinePolicy):
    """MV + length pruning: ``n`` samples; a sample stops once it has ``budget_tokens`` of
    its own tokens (checked every ``delta`` tokens, so the cut is the budget rounded up to
    a tick); plurality over the samples that finished within the budget."""

    name = "length_prune"

    def __init__(self, n: int, budget_tokens: int):
        self.n, self.budget_tokens = int(n), int(budget_tokens)

    def __call__(self, view: View) -> Action:
        if view.epoch == 0:
            return Action(keep=[], new=self.n)
        return Action(keep=[s.sid for s in view.unfinished if s.own_tokens < self.budget_tokens])


class HalfFinishedPolicy(OnlinePolicy):
    """MV, all samples stopped once ``ceil(n / 2)`` of the ``n`` have finished."""

    name = "half_finished"

    def __init__(self, n: int):
        self.n = int(n)

    def __call__(self, view: View) -> Action:
        if view.epoch == 0:
            return Action(keep=[], new=self.n)
        if _ended(view) >= (self.n + 1) // 2:
            return Action(keep=[])
        return Action(keep=[s.sid for s in view.unfinished])


class ShortMAtKPolicy(OnlinePolicy):
    """short-m@k: ``n`` (= k) samples in parallel; stop at the first epoch at which at least
    ``m`` have finished; plurality over the finished ones (several can end in one tick)."""

    name = "short_m_at_k"

    def __init__(self, n: int, m: int = 3):
        self.n, self.m = int(n), int(m)

    def __call__(self, view: View) -> Action:
        if view.epoch == 0:
            return Action(keep=[], new=self.n)
        if _ended(view) >= min(self.m, self.n):
            return Action(keep=[])
        return Action(keep=[s.sid for s in view.unfinished])


class RewardPruningPolicy(OnlinePolicy):
    """ZIP-RC reward pruning (ablation): start ``n``; drop a sample for good once its
    E[value] falls below ``threshold``."""

    name = "reward_prune"

    def __init__(self, n: int, threshold: float = 0.4, selection: str = "plurality"):
        self.n, self.threshold, self.selection = int(n), float(threshold), selection
        self.reset()

    def reset(self):
        self._dropped = set()

    def __call__(self, view: View) -> Action:
        if view.epoch == 0:
            return Action(keep=[], new=self.n)
        for s in view.unfinished:
            if expected_value(s.joint, view.rewards) < self.threshold:
                self._dropped.add(s.sid)
        return Action(keep=[s.sid for s in view.unfinished if s.sid not in self._dropped])


class SpecRejectionPolicy(OnlinePolicy):
    """Speculative rejection: ``n`` samples; after ticks ``first_checkpoint``, twice that,
    ... keep the ``ceil(keep_frac * open)`` open samples with the highest E[value] (at least
    one; ties keep the lower sample id) and drop the rest; answer by value."""

    name = "spec_rejection"
    selection = "value"

    def __init__(self, n: int, keep_frac: float = 0.5, first_checkpoint: int = 4):
        self.n, self.keep_frac, self.first_checkpoint = int(n), float(keep_frac), int(first_checkpoint)
        self.reset()

    def reset(self):
        self._dropped = set()
        self._next = self.first_checkpoint

    def __call__(self, view: View) -> Action:
        if view.epoch == 0:
            return Action(keep=[], new=self.n)
        open_ = [s for s in view.unfinished if s.sid not in self._dropped]
        if view.epoch >= self._next and open_:
            while self._next <= view.epoch:
                self._next *= 2
            keep = max(1, math.ceil(self.keep_frac * len(open_)))
            ranked = sorted(open_, key=lambda s: (-expected_value(s.joint, view.rewards), s.sid))
            for s in ranked[keep:]:
                self._dropped.add(s.sid)
            open_ = ranked[:keep]
        return Action(keep=sorted(s.sid for s in open_))


# --------------------------------------------------------------------------- sequential


class AdaptiveConsistencyPolicy(OnlinePolicy):
    """Adaptive-Consistency: one sample at a time (up to ``n``); after each one ends, stop
    when ``P(p > 1/2)`` under ``Beta(a + 1, b + 1)`` reaches ``threshold``, ``a`` and ``b``
    the votes of the leading answer and the runner-up -- the simulators' rule
    (:func:`simulators.policies.beta_stop_probability`). Truncated samples cast no vote."""

    name = "ac"

    def __init__(self, n: int, threshold: float = 0.95):
        self.n, self.threshold = int(n), float(threshold)

    @staticmethod
    def top_two(answers) -> tuple:
        counts = sorted(Counter(a for a in answers if a is not None).values(), reverse=True) + [0, 0]
        return counts[0], counts[1]

    def __call__(self, view: View) -> Action:
        if view.unfinished:
            return Action(keep=[s.sid for s in view.unfinished])
        if view.n_created > 0:
            a, b = self.top_two(s.answer for s in view.finished if s.status == "finished")
            if beta_stop_probability(a, b) >= self.threshold:
                return Action(keep=[])
        return Action(keep=[], new=1 if view.n_created < self.n else 0)


class ESCPolicy(OnlinePolicy):
    """Early-stopping self-consistency: windows of ``window`` samples in parallel (the last
    one smaller if ``n`` is not a multiple); stop after the first window whose answers are
    all equal (truncated samples break unanimity)."""

    name = "esc"

    def __init__(self, n: int, window: int = 2):
        self.n, self.window = int(n), int(window)

    def __call__(self, view: View) -> Action:
        if view.unfinished:
            return Action(keep=[s.sid for s in view.unfinished])
        created = view.n_created
        if created > 0:
            last = sorted(view.finished, key=lambda s: s.sid)[-self._last_size(created):]
            answers = {s.answer if s.status == "finished" else None for s in last}
            if len(answers) == 1 and None not in answers:
                return Action(keep=[])
        return Action(keep=[], new=min(self.window, self.n - created))

    def _last_size(self, created: int) -> int:
        r = created % self.window
        return r if r else self.window


class PandoraPolicy(OnlinePolicy):
    """Pandora's rule (Weitzman): one sample at a time (up to ``n``); the reservation value
    ``z`` solves ``E[(X - z)+] = beta`` for ``X`` the reward marginal of the root prediction
    (the cost of a sample is ``beta * E[L] / D`` with ``D = E[L]``, i.e. ``beta``). Start a
    sample while the best finished value is below ``z`` (none finished: while ``z > 0``)."""

    name = "pandora"
    selection = "value"

    def __init__(self, n: int, beta: float = 0.01):
        self.n, self.beta = int(n), float(beta)

    def reservation(self, view: View) -> float:
        return pandora_reservation(view.rewards.values, np.asarray(view.root_joint).sum(1), self.beta)

    def __call__(self, view: View) -> Action:
        if view.unfinished:
            return Action(keep=[s.sid for s in view.unfinished])
        z = self.reservation(view)
        if view.n_created == 0:
            return Action(keep=[], new=1 if z > 0.0 else 0)
        best = max(s.value if s.status == "finished" else 0.0 for s in view.finished)
        if z <= best or view.n_created >= self.n:
            return Action(keep=[])
        return Action(keep=[], new=1)


class DeepConfPolicy(OnlinePolicy):
    """DeepConf online driven by ZIP-RC's expected value (the simulators' ``deepconf`` with
    ``signal = ziprc``). The confidence of a sample at a tick is its E[value] (the final
    value once it ends); its window confidence is the mean over its last ``window`` ticks;
    its score is its lowest window confidence. ``warmup`` samples run to completion; the
    cut-off is the ``percentile`` of their scores; the other ``n - warmup`` then start
    together and a sample is dropped once its window confidence falls below the cut-off.
    After warm-up the policy stops at consensus: the score-weighted share of the leading
    answer among finished samples reaches ``threshold``. The vote is score-weighted."""

    name = "deepconf"
    selection = "weighted"

    def __init__(self, n: int, warmup: int = 2, percentile: float = 10.0, threshold: float = 0.95,
                 window: int = 2):
        self.n, self.warmup, self.percentile = int(n), int(warmup), float(percentile)
        self.threshold, self.window = float(threshold), int(window)
        self.reset()

    def reset(self):
        self._conf: dict = {}       # sid -> list of per-tick confidences
        self._seen: dict = {}       # sid -> ticks already recorded
        self._closed = set()        # sids whose final value is recorded
        self._min: dict = {}        # sid -> lowest window confidence
        self._cutoff = -math.inf
        self._dropped = set()

    def _record(self, s, c: float, done: bool):
        hist = self._conf.setdefault(s.sid, [])
        hist.append(c)
        w = hist[-self.window:]
        if len(hist) >= self.window or done:
            self._min[s.sid] = min(self._min.get(s.sid, math.inf), float(np.mean(w)))
        return float(np.mean(w))

    def weights(self):
        return {sid: (v if math.isfinite(v) else 0.0) for sid, v in self._min.items()}

    def choose(self, finished: list):
        done = [s for s in finished if s.status == "finished"]
        w = self.weights()
        return select("weighted", done, {s.sid: w.get(s.sid, 0.0) for s in done})

    def __call__(self, view: View) -> Action:
        if view.epoch == 0:
            return Action(keep=[], new=min(self.warmup, self.n))
        for s in view.finished:
            if s.sid not in self._closed and s.status == "finished":
                self._record(s, float(s.value), done=True)
                self._closed.add(s.sid)
        for s in view.unfinished:
            if self._seen.get(s.sid, 0) < s.elapsed_ticks:
                self._seen[s.sid] = s.elapsed_ticks
                wmean = self._record(s, expected_value(s.joint, view.rewards), done=False)
                hist = self._conf[s.sid]
                if s.sid >= self.warmup and len(hist) >= self.window and wmean < self._cutoff:
                    self._dropped.add(s.sid)
        open_ = [s.sid for s in view.unfinished if s.sid not in self._dropped]
        created = view.n_created
        if not open_ and created == min(self.warmup, self.n) and created < self.n:
            vals = [self._min.get(s.sid, math.inf) for s in view.finished]
            vals = [v for v in vals if math.isfinite(v)]
            self._cutoff = float(np.percentile(vals, self.percentile)) if vals else -math.inf
            return Action(keep=[], new=self.n - created)
        if created >= self.n:
            score: dict = {}
            tot = 0.0
            for s in view.finished:
                if s.status == "finished" and s.answer is not None:
                    m = self._min.get(s.sid, 0.0)
                    score[s.answer] = score.get(s.answer, 0.0) + m
                    tot += m
            if tot > 0 and max(score.values()) / tot >= self.threshold:
                return Action(keep=[])
        return Action(keep=open_)


# --------------------------------------------------------------------------- factory

#: per policy: its knobs with defaults (``n`` defaults to the cap)
KNOBS = {
    "ziprc": {"beta": 0.01, "alpha": 0.1, "cap": 8, "search": "exhaustive", "normalizer": "fixed",
              "branching": True, "floor": "down", "selection": "value"},
    "mv": {"n": None},
    "bon": {"n": None},
    "wbon": {"n": None},
    "pass_at_n": {"n": None},
    "length_prune": {"n": None, "budget_tokens": 64},
    "half_finished": {"n": None},
    "reward_prune": {"n": None, "threshold": 0.4, "selection": "plurality"},
    "ac": {"n": None, "threshold": 0.95},
    "esc": {"n": None, "window": 2},
    "deepconf": {"n": None, "warmup": 2, "percentile": 10.0, "threshold": 0.95, "window": 2},
    "short_m_at_k": {"n": None, "m": 3},
    "spec_rejection": {"n": None, "keep_frac": 0.5, "first_checkpoint": 4},
    "pandora": {"n": None, "beta": 0.01},
}
ONLINE_POLICY_NAMES = tuple(KNOBS)
assert set(ONLINE_POLICY_NAMES) <= set(POLICY_NAMES)  # the simulators' names (wbon_rm excluded)


def parse_policy_names(text) -> list:
    """Comma-separated names (or a list) to validated names, order kept, duplicates removed."""
    names = text if isinstance(text, (list, tuple)) else str(text).split(",")
    out = []
    for n in (x.strip() for x in names):
        if not n:
            continue
        if n not in KNOBS:
            raise PolicyConfigError(f"unknown policy {n!r}; choose from {', '.join(ONLINE_POLICY_NAMES)}")
        if n not in out:
            out.append(n)
    if not out:
        raise PolicyConfigError("no policy given")
    return out


def make_policy(name: str, cap: int = 8, **knobs) -> OnlinePolicy:
    """Build the online policy ``name`` (a simulators name) with ``knobs`` over its defaults
    (:data:`KNOBS`; ``n`` defaults to ``cap``; ``None`` values are ignored). Raises
    :class:`PolicyConfigError` for an unknown name, an unknown knob or a value out of range."""
    if name not in KNOBS:
        raise PolicyConfigError(f"unknown policy {name!r}; choose from {', '.join(ONLINE_POLICY_NAMES)}")
    knobs = {k: v for k, v in knobs.items() if v is not None}
    unknown = set(knobs) - set(KNOBS[name])
    if unknown:
        raise PolicyConfigError(f"policy {name}: unknown knob(s) {', '.join(sorted(unknown))}; "
                                f"its knobs are {', '.join(KNOBS[name]) or 'none'}")
    if int(cap) != cap or cap < 1:
        raise PolicyConfigError(f"cap must be an integer >= 1, got {cap!r}")
    k = dict(KNOBS[name])
    k.update(knobs)
    if name == "ziprc":
        k["cap"] = int(knobs.get("cap", cap))
        return ZipRCPolicy(**k)
    n = cap if k["n"] is None else k.pop("n")
    k.pop("n", None)
    if int(n) != n or not 1 <= int(n) <= cap:
        raise PolicyConfigError(f"policy {name}: n must be an integer in 1..cap ({cap}), got {n!r}")
    n = int(n)

    def need(cond, what):
        if not cond:
            raise PolicyConfigError(f"policy {name}: {what}")

    if name in ("mv", "bon", "wbon", "pass_at_n"):
        sel = {"mv": "plurality", "bon": "value", "wbon": "weighted", "pass_at_n": "oracle"}[name]
        return MajorityVotePolicy(n, selection=sel, name=name)
    if name == "length_prune":
        need(k["budget_tokens"] > 0, f"budget_tokens must be > 0, got {k['budget_tokens']!r}")
        return LengthPrunePolicy(n, k["budget_tokens"])
    if name == "half_finished":
        return HalfFinishedPolicy(n)
    if name == "reward_prune":
        need(0.0 <= k["threshold"] <= 1.0, f"threshold must be in [0, 1], got {k['threshold']!r}")
        need(k["selection"] in SELECTIONS, f"selection must be one of {', '.join(SELECTIONS)}")
        return RewardPruningPolicy(n, k["threshold"], k["selection"])
    if name == "ac":
        need(0.5 <= k["threshold"] < 1.0, f"threshold must be in [0.5, 1), got {k['threshold']!r}")
        return AdaptiveConsistencyPolicy(n, k["threshold"])
    if name == "esc":
        need(int(k["window"]) == k["window"] and 1 <= k["window"] <= n,
             f"window must be an integer in 1..n ({n}), got {k['window']!r}")
        return ESCPolicy(n, int(k["window"]))
    if name == "deepconf":
        need(1 <= k["warmup"] <= n, f"warmup must be in 1..n ({n}), got {k['warmup']!r}")
        need(0.0 <= k["percentile"] <= 100.0, "percentile must be in [0, 100]")
        need(0.0 < k["threshold"] <= 1.0, "threshold must be in (0, 1]")
        need(int(k["window"]) == k["window"] and k["window"] >= 1, "window must be an integer >= 1 tick")
        return DeepConfPolicy(n, int(k["warmup"]), k["percentile"], k["threshold"], int(k["window"]))
    if name == "short_m_at_k":
        need(int(k["m"]) == k["m"] and k["m"] >= 1, f"m must be an integer >= 1, got {k['m']!r}")
        return ShortMAtKPolicy(n, int(k["m"]))
    if name == "spec_rejection":
        need(0.0 < k["keep_frac"] <= 1.0, f"keep_frac must be in (0, 1], got {k['keep_frac']!r}")
        need(int(k["first_checkpoint"]) >= 1, "first_checkpoint must be >= 1 tick")
        return SpecRejectionPolicy(n, k["keep_frac"], int(k["first_checkpoint"]))
    if name == "pandora":
        need(k["beta"] >= 0 and math.isfinite(k["beta"]), f"beta must be finite and >= 0, got {k['beta']!r}")
        return PandoraPolicy(n, k["beta"])
    raise AssertionError(name)  # pragma: no cover - KNOBS and this function list the same names
