"""Policies of the online sampler: the reference definitions of :mod:`metamdp.policies`
with the LLM backend's defaults.

The sampler (:class:`llm_backend.sampler.OnlineSampler`) runs any
:class:`metamdp.policies.Policy` directly: at each decision epoch (every ``delta`` tokens)
it shows the policy a :class:`~metamdp.policies.View` and applies the
:class:`~metamdp.policies.Action`; when it stops, the policy's answer-selection rule picks
the answer among the finished samples. This module only sets the defaults used here
(:data:`KNOBS`: exhaustive search with branching for ZIP-RC, a 64-token budget for length
pruning, DeepConf on ZIP-RC's expected value with a 2-tick window, ...) and builds
policies by name (:func:`make_policy`).

The "value" of a finished sample is its predicted ``E[value]`` just before its end token
(:attr:`Sample.value`); samples cut by the length cap (``truncated``) have no answer and
value 0. Dropped samples stay paused (their caches untouched) until the policy stops; the
sampler then prunes every unfinished sample.
"""

from __future__ import annotations

from metamdp.policies import (FLOORS, SELECTIONS, Action, AdaptiveConsistency, BestOfN,  # noqa: F401
                              DeepConf, EarlyStoppingSC, HalfFinished, LengthPrune, MajorityVote,
                              Pandora, PassAtN, Policy, PolicyConfigError, RewardPrune, ShortMAtK,
                              SpecRejection, View, WeightedBestOfN, ZipRC, expected_value,
                              floor_index, make, select)
from metamdp.policies import POLICY_NAMES as _ALL_NAMES

OnlinePolicy = Policy   # the base class's name before it moved to metamdp.policies


#: how ZIP-RC's planner sees finished samples: ``distribution`` (each one's predicted reward
#: distribution just before its end token; no rounding), or a floor at the best finished
#: value rounded ``down`` / to the ``nearest`` grid value
ONLINE_FLOORS = ("distribution",) + tuple(FLOORS)


class ZipRCPolicy(ZipRC):
    """ZIP-RC with the online sampler's defaults (exhaustive search, branching); accepts a
    ready :class:`metamdp.PlannerConfig` as its first argument. ``planner="authors"`` is the
    authors' planner (it fixes search, normaliser and branching: see ``ZipRC``).

    ``floor="distribution"`` (the default here): every finished sample enters the planner
    as its predicted reward distribution (the reward marginal of its joint just before the
    end token), through the planner's product of finished reward CDFs
    (:func:`metamdp.planner.plan_kernel_dist`), instead of a floor at a rounded value.
    """

    def __init__(self, config=None, *, beta: float = 0.01, alpha: float = 0.1, cap: int = 8,
                 search: str = "exhaustive", normalizer: str = "fixed", branching: bool = True,
                 floor: str = "distribution", selection: str = "value", planner: str = "ours"):
        if floor not in ONLINE_FLOORS:
            raise PolicyConfigError(f"policy ziprc: floor must be one of {', '.join(ONLINE_FLOORS)}, got {floor!r}")
        super().__init__(beta=beta, alpha=alpha, cap=cap, search=search, normalizer=normalizer,
                         branching=branching, floor="down" if floor == "distribution" else floor,
                         selection=selection, config=config, planner=planner)
        self.floor = floor

    def finished_cdf(self, view, B: int):
        """Product over finished samples of their predicted reward CDFs, ``(B,)`` (ones: none)."""
        import numpy as np

        fin = np.ones(B)
        for s in view.finished:
            if s.status == "finished" and getattr(s, "joint", None) is not None:
                pmf = np.asarray(s.joint, dtype=np.float64).reshape(B, -1).sum(1)
                fin *= np.minimum(np.cumsum(pmf / pmf.sum()), 1.0)
        return fin

    def finished_factor(self, view, B: int):
        """``ZipRC.__call__``'s finished-sample factor: with ``floor="distribution"`` the
        finished samples' predicted distributions (:meth:`finished_cdf`) in place of a floor
        (either planner: ours or the authors', whose prune charge and order apply as set)."""
        if self.floor != "distribution":
            return super().finished_factor(view, B)
        return self.finished_cdf(view, B)


class MajorityVotePolicy(MajorityVote):
    """``n`` samples to completion (``mv``; another ``selection`` and ``name`` make it
    ``bon``, ``wbon`` or ``pass_at_n``); its cap is ``n``."""

    def __init__(self, n: int, selection: str = "plurality", name: str | None = None):
        super().__init__(n=n, selection=selection, cap=max(1, int(n)))
        if name is not None:
            self.name = name


# the classes' names before they moved to metamdp.policies
LengthPrunePolicy, HalfFinishedPolicy, ShortMAtKPolicy = LengthPrune, HalfFinished, ShortMAtK
RewardPruningPolicy, SpecRejectionPolicy, DeepConfPolicy = RewardPrune, SpecRejection, DeepConf
AdaptiveConsistencyPolicy, ESCPolicy, PandoraPolicy = AdaptiveConsistency, EarlyStoppingSC, Pandora

#: per policy: its knobs with the online sampler's defaults (``n`` defaults to the cap)
KNOBS = {
    "ziprc": {"beta": 0.01, "alpha": 0.1, "cap": 8, "search": "exhaustive", "normalizer": "fixed",
              "branching": True, "floor": "distribution", "selection": "value", "planner": "ours"},
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
assert set(ONLINE_POLICY_NAMES) <= set(_ALL_NAMES)  # the built-in names (wbon_rm excluded)


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


def make_policy(name: str, cap: int = 8, **knobs) -> Policy:
    """Build the online policy ``name`` with ``knobs`` over its defaults (:data:`KNOBS`;
    ``n`` defaults to ``cap``; ``None`` values are ignored). Raises
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
    n = cap if k["n"] is None else k["n"]
    k["n"] = n
    if name == "deepconf":
        k["signal"] = "ziprc"   # the sampler has no token-confidence trace
    return make(name, cap=int(cap), **k)
