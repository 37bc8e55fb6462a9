"""Policies of the online sampler: the reference definitions of :mod:`metamdp.policies`
with the LLM backend's defaults.

The sampler (:class:`llm_backend.sampler.OnlineSampler`) runs any
:class:`metamdp.policies.Policy` directly: at each decision epoch (every ``delta`` tokens)
it shows the policy a :class:`~metamdp.policies.View` and applies the
:class:`~metamdp.policies.Action`; when it stops, the policy's answer-selection rule picks
the answer among the finished samples. This module only holds the online sampler's
*overrides* of the classes' defaults (:data:`OVERRIDES`: exhaustive search with branching
and finished samples as distributions for ZIP-RC and ZIP-RC with recourse, a 64-token budget for length pruning,
DeepConf on ZIP-RC's expected value with a 2-tick window; ``n`` is the cap) and builds
policies by name (:func:`make_policy`); every other default is the class's.

The "value" of a finished sample is its predicted ``E[value]`` just before its end token
(:attr:`Sample.value`); samples cut by the length cap (``truncated``) have no answer and
value 0. Dropped samples stay paused (their caches untouched) until the policy stops; the
sampler then prunes every unfinished sample.
"""

from __future__ import annotations

import numpy as np

from metamdp.policies import (BUILTIN, FLOORS, MajorityVote, Policy, PolicyConfigError, ZipRC,
                              ZipRCRecourse, knob_names, make)

#: how ZIP-RC's planner sees finished samples: ``distribution`` (each one's predicted reward
#: distribution just before its end token; no rounding), or a floor at the best finished
#: value rounded ``down`` / to the ``nearest`` grid value
ONLINE_FLOORS = ("distribution",) + tuple(FLOORS)

#: the online sampler's overrides of the reference classes' defaults (and ``n = cap``)
OVERRIDES = {
    # the sampler can branch (it copies KV caches), and finished samples carry their
    # predicted reward distributions: plan over the full strategy space with them
    "ziprc": {"search": "exhaustive", "branching": True, "floor": "distribution"},
    "ziprc_recourse": {"search": "exhaustive", "branching": True, "floor": "distribution"},
    "length_prune": {"budget_tokens": 64},   # the demo's answers are short
    "deepconf": {"window": 2, "signal": "ziprc"},   # no token-confidence trace here
}
# every built-in except the one that needs an external reward model
ONLINE_POLICY_NAMES = tuple(n for n in BUILTIN if n != "wbon_rm")
#: the demo's table when no policy is named (``Policy.by_default``)
ONLINE_DEFAULT_POLICIES = tuple(n for n in ONLINE_POLICY_NAMES if BUILTIN[n].by_default)


class ZipRCPolicy(ZipRC):
    """ZIP-RC with the online sampler's overrides (:data:`OVERRIDES`); accepts a ready
    :class:`metamdp.PlannerConfig` as its first argument, other knobs as :class:`ZipRC`'s.

    ``floor="distribution"`` (the default here): every finished sample enters the planner
    as its predicted reward distribution (the reward marginal of its joint just before the
    end token), through the planner's product of finished reward CDFs
    (:func:`metamdp.planner.plan_kernel_dist`), instead of a floor at a rounded value.
    """

    def __init__(self, config=None, **knobs):
        knobs = {**OVERRIDES[self.name], **knobs}
        floor = knobs.pop("floor")
        if floor not in ONLINE_FLOORS:
            raise PolicyConfigError(f"policy {self.name}: floor must be one of {', '.join(ONLINE_FLOORS)}, got {floor!r}")
        super().__init__(config=config, floor="down" if floor == "distribution" else floor, **knobs)
        self.floor = floor

    def finished_cdf(self, view, B: int):
        """Product over finished samples of their predicted reward CDFs, ``(B,)`` (ones: none)."""
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


class ZipRCRecoursePolicy(ZipRCPolicy, ZipRCRecourse):
    """ZIP-RC with recourse (:class:`metamdp.policies.ZipRCRecourse`) with the online
    sampler's overrides, as :class:`ZipRCPolicy` (finished samples as distributions)."""


class MajorityVotePolicy(MajorityVote):
    """``n`` samples to completion (``mv``; another ``selection`` and ``name`` make it
    ``bon``, ``wbon`` or ``pass_at_n``); its cap is ``n``."""

    def __init__(self, n: int, selection: str = "plurality", name: str | None = None):
        super().__init__(n=n, selection=selection, cap=max(1, int(n)))
        if name is not None:
            self.name = name


def parse_policy_names(text) -> list:
    """Comma-separated names (or a list) to validated names, order kept, duplicates removed."""
    names = text if isinstance(text, (list, tuple)) else str(text).split(",")
    out = []
    for n in (x.strip() for x in names):
        if not n:
            continue
        if n not in ONLINE_POLICY_NAMES:
            raise PolicyConfigError(f"unknown policy {n!r}; choose from {', '.join(ONLINE_POLICY_NAMES)}")
        if n not in out:
            out.append(n)
    if not out:
        raise PolicyConfigError("no policy given")
    return out


def make_policy(name: str, cap: int = 8, **knobs) -> Policy:
    """Build the online policy ``name``: its class's defaults, then :data:`OVERRIDES`, then
    ``knobs`` (``None`` values are ignored; ``n`` defaults to ``cap``). Raises
    :class:`PolicyConfigError` for an unknown name, an unknown knob or a value out of range."""
    if name not in ONLINE_POLICY_NAMES:
        raise PolicyConfigError(f"unknown policy {name!r}; choose from {', '.join(ONLINE_POLICY_NAMES)}")
    knobs = {k: v for k, v in knobs.items() if v is not None}
    allowed = set(knob_names(BUILTIN[name]))
    unknown = set(knobs) - allowed
    if unknown:
        raise PolicyConfigError(f"policy {name}: unknown knob(s) {', '.join(sorted(unknown))}; "
                                f"its knobs are {', '.join(sorted(allowed))}")
    if isinstance(cap, bool) or int(cap) != cap or cap < 1:
        raise PolicyConfigError(f"cap must be an integer >= 1, got {cap!r}")
    k = {"cap": int(cap), **({"n": int(cap)} if "n" in allowed else {}), **OVERRIDES.get(name, {}),
         **knobs}
    if name == "ziprc":
        return ZipRCPolicy(**k)
    if name == "ziprc_recourse":
        return ZipRCRecoursePolicy(**k)
    return make(name, **k)
