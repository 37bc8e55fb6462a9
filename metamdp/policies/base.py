"""The policy interface of the meta-MDP: what a policy sees (:class:`View`), what it does
(:class:`Action`), and the base class every policy derives from (:class:`Policy`).

A *driver* runs a policy on one question: at every decision epoch it shows the policy a
:class:`View` and applies the :class:`Action` it returns, advancing the chosen samples by
one tick; an empty action stops, and the policy's answer-selection rule
(:meth:`Policy.choose`) picks the answer among the finished samples. Three drivers exist:
the synthetic worlds' Python episode driver (``simulators.driver``), the replay of recorded
traces (``simulators.replay``) and the LLM's online sampler (``llm_backend.sampler``).

Samples are identified by ``sid``, their creation index within the question (0, 1, ...):
the samples an action starts get the next free ids in order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np

from ..grids import LengthGrid, RewardGrid

SELECTIONS = ("plurality", "value", "weighted", "oracle")
FLOORS = ("down", "nearest")
#: statuses of a sample that is no longer unfinished
ENDED = ("finished", "truncated", "pruned")


#: the built-in policies by name: every class of this package with its own ``name``, in the
#: order they are defined (filled by :meth:`Policy.__init_subclass__`, so that a new
#: built-in is one class and nothing else here)
BUILTIN: dict = {}


class PolicyConfigError(ValueError):
    """Unknown policy name, unknown knob, or a knob out of range."""


class PolicyRunError(ValueError):
    """A policy raised, or returned an invalid action, while a driver ran it."""


@dataclass
class Action:
    """What to do at one epoch.

    ``keep``: ids of unfinished samples to advance one tick (the others are paused, not
    lost); ``new``: samples to start (they advance this tick too); ``branch_from``: the id of
    an unfinished sample whose prefix the new samples copy (``None``: start from the prompt).
    ``Action(keep=[])`` stops: the question is answered from the finished samples.
    """

    keep: list = field(default_factory=list)
    new: int = 0
    branch_from: int | None = None

    @property
    def stop(self) -> bool:
        return not self.keep and self.new == 0


@dataclass
class SampleView:
    """One sample as a policy sees it (drivers may pass their own objects with these
    attributes).

    Every sample: ``sid``; ``status`` (``running``/``paused`` while unfinished, then
    ``finished``, ``truncated`` (ended without an answer) or ``pruned``);
    ``elapsed_ticks`` (ticks along its path, a branch's inherited prefix included);
    ``own_ticks`` (ticks it generated itself). Unfinished samples: ``joint``, the current
    prediction (B, L). Finished samples: ``value`` (its reported final value), ``answer``
    (hashable, ``None`` when it has none) and ``correct``.

    Simulated signals, present only where a world provides them (``None`` otherwise):
    ``trace_noise``, the standard-normal noise of a simulated token-confidence trace at the
    sample's latest tick (DeepConf's ``trace`` signal), and ``rm_noise``, that of a
    simulated external reward model's score (``wbon_rm``). With them, ``correct`` of an
    unfinished sample is the outcome it is bound for (simulated signals only).
    """

    sid: int
    status: str = "running"
    joint: np.ndarray | None = None
    elapsed_ticks: int = 0
    own_ticks: int = 0
    value: float = 0.0
    answer: object = None
    correct: bool | None = None
    trace_noise: float | None = None
    rm_noise: float | None = None

    @property
    def unfinished(self) -> bool:
        return self.status in ("running", "paused")


@dataclass
class View:
    """What a policy sees at a decision epoch.

    ``unfinished``: running or paused samples, in ``sid`` order, each with its current
    ``joint``; ``finished``: every other sample (finished, truncated or pruned), in ``sid``
    order; ``root_joint``: the prediction for a fresh sample; ``n_created``: samples started
    so far; ``epoch``: ticks run so far for this question; ``rewards``/``lengths``: the grids
    of the joints (``lengths.delta`` tokens per tick); ``cap``: the most samples this
    question may have (``None``: no limit from the driver; starts beyond it are dropped).
    """

    unfinished: list
    finished: list
    root_joint: np.ndarray
    n_created: int
    epoch: int
    rewards: RewardGrid
    lengths: LengthGrid
    cap: int | None = None


def expected_value(joint: np.ndarray, rewards: RewardGrid) -> float:
    """``E[value]`` of a reward-major joint (the arithmetic the simulators' kernels use)."""
    from .kernels import joint_value

    return float(joint_value(np.ascontiguousarray(joint, dtype=np.float64),
                             np.ascontiguousarray(rewards.values, dtype=np.float64)))


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

    ``done``: finished samples in ``sid`` order. ``plurality``: most frequent answer;
    ``value``: highest value; ``weighted``: answer with the largest sum of weights (the
    values, or ``weights[sid]``); ``oracle``: a correct sample if any (pass@N). Ties go to
    the answer (or sample) that appears first.
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


def dprime_from_auroc(auroc: float) -> float:
    """Separation ``d'`` of two unit-variance Gaussians whose AUROC is ``auroc``."""
    return math.sqrt(2.0) * NormalDist().inv_cdf(float(auroc))


def effective_n(n: int, view: View) -> int:
    """A policy's sample budget ``n`` within the driver's cap."""
    return n if view.cap is None else min(n, int(view.cap))


class Policy:
    """Base class of every policy: subclass it and implement :meth:`__call__`.

    Class attributes: ``name`` (how results are labelled), ``selection`` (the answer rule
    of :meth:`choose`: ``plurality``, ``value``, ``weighted`` or ``oracle``), ``cap`` (the
    most samples it may start per question; ``None``: the driver's default), and for a knob
    swept in studies ``knob_name`` (a constructor keyword) with ``knobs`` (its values).

    A policy object serves many questions: drivers call :meth:`reset` before each one
    (clear per-question state there) and :meth:`prepare` with the grids.
    """

    name: str = "policy"
    selection: str = "plurality"
    cap: int | None = None
    knob_name: str | None = None
    knobs: tuple = ()
    #: run when no list of policies is given (``ziprc study``, ``replay``, the figures, the
    #: LLM demo); a policy too slow for every first run says False and runs when named
    by_default: bool = True
    #: what a planning policy expected at its first decision of the question, ``(utility,
    #: expected best value)`` (its objective for the strategy it chose, and that objective's
    #: expected-best-value term alone); ``None`` for a policy that does not plan. Drivers
    #: record it next to the realised outcome (``simulators.kernels.samples.METRICS``).
    first_plan: tuple | None = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__module__.startswith(__package__ + ".") and "name" in vars(cls):
            if cls.name in BUILTIN:
                raise TypeError(f"two built-in policies are named {cls.name!r}")
            BUILTIN[cls.name] = cls

    def reset(self) -> None:
        """Forget the previous question's state."""

    def prepare(self, rewards: RewardGrid, lengths: LengthGrid) -> None:
        """Set up anything that depends on the grids (before each question, untimed)."""

    def __call__(self, view: View) -> Action:  # pragma: no cover - abstract
        raise NotImplementedError(f"policy {self.name}: implement __call__(view) -> Action")

    def weights(self):
        """Per-sample weights (``{sid: w}``) of a ``weighted`` vote; ``None``: the values."""
        return None

    def choose(self, finished: list):
        """The finished sample whose answer this policy gives (``None``: no answer)."""
        return select(self.selection, [s for s in finished if s.status == "finished"], self.weights())

    def extra_ticks(self, finished: list) -> float:
        """Compute (in ticks) charged beyond the generated tokens, e.g. a reward model's."""
        return 0.0

    # ------------------------------------------------------------ for tables and JSON

    @property
    def knob(self):
        return getattr(self, self.knob_name) if self.knob_name else None

    def constructor_knobs(self) -> dict:
        """This object's values of its constructor's keywords (:meth:`describe_knobs`
        restricted to what the constructor accepts)."""
        import inspect

        accepted: set = set()
        open_ended = False
        for cls in type(self).__mro__:   # a constructor passing **knobs on accepts its base's
            if "__init__" not in vars(cls) or cls is object:
                continue
            params = inspect.signature(cls.__init__).parameters
            accepted |= {k for k, p in params.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
            open_ended = any(p.kind is p.VAR_KEYWORD for p in params.values())
            if not open_ended:
                break
        if open_ended:
            return self.describe_knobs()
        return {k: v for k, v in self.describe_knobs().items() if k in accepted}

    def with_knob(self, value) -> "Policy":
        """A copy with the knob set to ``value`` (the constructor must accept the knob)."""
        if not self.knob_name:
            raise PolicyConfigError(f"policy {self.name} has no knob")
        return type(self)(**{**self.constructor_knobs(), self.knob_name: value})

    def revalidated(self) -> "Policy":
        """A fresh copy built by the constructor from this object's knobs: the constructor's
        :class:`PolicyConfigError` if an attribute was set out of range after construction
        (the simulators' kernels pack only what the constructor accepts)."""
        return type(self)(**self.constructor_knobs())

    def describe_knobs(self) -> dict:
        """Constructor keywords that rebuild this policy (public scalar attributes)."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_") and
                isinstance(v, (int, float, str, bool)) and k not in ("name",)}

    @property
    def params(self) -> dict:
        return self.describe_knobs()

    def label(self) -> str:
        return f"{self.name}({self.knob_name}={self.knob})" if self.knob_name else self.name

    def describe(self) -> dict:
        return {"policy": self.name, "selection": self.selection, **self.describe_knobs()}


def validate_action(action, view: View, policy_name: str, where: str) -> Action:
    """``action`` checked against ``view``; a :class:`PolicyRunError` naming the policy and
    ``where`` (the question and the epoch) if it is not a valid action."""

    def bad(msg):
        raise PolicyRunError(f"policy {policy_name!r} returned an invalid action at {where}: {msg}")

    if not isinstance(action, Action):
        bad(f"expected an Action, got {type(action).__name__}")
    try:
        keep = [int(k) for k in action.keep]
    except (TypeError, ValueError):
        bad(f"keep must be a list of sample ids, got {action.keep!r}")
    if any(int(k) != k for k in action.keep):
        bad(f"keep must hold integer sample ids, got {action.keep!r}")
    unfinished = {s.sid for s in view.unfinished}
    for k in keep:
        if k not in unfinished:
            bad(f"keep contains sample {k}, which is not an unfinished sample "
                f"(unfinished: {sorted(unfinished)})")
    if len(set(keep)) != len(keep):
        bad(f"keep lists a sample twice: {keep}")
    new = action.new
    if isinstance(new, bool) or not isinstance(new, (int, np.integer)) or new < 0:
        bad(f"new must be an integer >= 0, got {new!r}")
    bf = action.branch_from
    if bf is not None and int(bf) not in unfinished:
        bad(f"branch_from={bf!r} is not an unfinished sample")
    return Action(keep=keep, new=int(new), branch_from=None if bf is None else int(bf))


def call_policy(policy, view: View, where: str) -> Action:
    """Run ``policy(view)``, turning an exception or an invalid action into a
    :class:`PolicyRunError` that names the policy and ``where``."""
    name = getattr(policy, "name", type(policy).__name__)
    try:
        action = policy(view)
    except PolicyRunError:
        raise
    except Exception as e:  # a user's policy: report it with its context, one line
        raise PolicyRunError(f"policy {name!r} raised {type(e).__name__}: {e} at {where}") from e
    return validate_action(action, view, name, where)
