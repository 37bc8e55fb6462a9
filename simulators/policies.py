"""Built-in policies as the simulators configure them: ZIP-RC and every baseline of
``baselines.md``.

A :class:`PolicySpec` is a name, a knob value and keyword parameters (defaults from
:data:`REGISTRY`, with the knob each policy sweeps in a study). Its definition is the
reference class of :mod:`metamdp.policies` (:meth:`PolicySpec.reference` builds it, for the
Python driver and replay); :meth:`PolicySpec.to_array` packs it into the flat float64
vector its Numba kernel reads (slot layout :data:`SLOTS`). ``Policy`` is the old name of
:class:`PolicySpec`.

Names (stable on the command line and in JSON):
``ziprc`` (beta), ``mv`` (N), ``bon`` (N), ``wbon`` (N), ``wbon_rm`` (N), ``pass_at_n`` (N),
``length_prune`` (token budget), ``half_finished`` (N), ``reward_prune`` (N),
``ac`` (stopping confidence), ``esc`` (window), ``deepconf`` (N), ``short_m_at_k`` (k),
``spec_rejection`` (N), ``pandora`` (beta).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from metamdp.planner import NORMALIZERS, PLANNERS, SEARCHES
from metamdp.policies import BUILTIN, dprime_from_auroc


class PolicyError(ValueError):
    """Unknown policy, unknown parameter or a parameter out of range."""


SLOTS = {
    "n": 0, "alpha": 1, "beta": 2, "selection": 3, "search": 4, "normalizer": 5,
    "branching": 6, "init_k": 7, "interval": 8, "threshold": 9, "budget_tokens": 10,
    "m": 11, "signal": 12, "warmup": 13, "percentile": 14, "strength": 15,
    "rm_cost": 16, "window": 17, "keep_frac": 18, "cap": 19, "planner": 20,
}
N_SLOTS = 21
# what planner="authors" fixes (metamdp.PlannerConfig.authors); the kernel adds the prune
# charge and the re-add order from the planner slot
AUTHORS_FIXED = {"search": "two-prefix", "normalizer": "state", "branching": False}
SELECTIONS = ("value", "weighted", "plurality")
SIGNALS = ("trace", "ziprc")

CODES = {"ziprc": 0, "mv": 1, "bon": 2, "wbon": 3, "wbon_rm": 4, "pass_at_n": 5,
         "length_prune": 6, "half_finished": 7, "reward_prune": 8, "ac": 9, "esc": 10,
         "deepconf": 11, "short_m_at_k": 12, "spec_rejection": 13, "pandora": 14}
POLICY_NAMES = tuple(CODES)

_COMMON = {"alpha": 0.1, "cap": 8}

# per policy: the knob's parameter name, its default sweep, and default parameters
REGISTRY = {
    "ziprc": ("beta", (0.001, 0.003, 0.01, 0.03, 0.1, 0.2, 0.3, 0.45, 0.6, 0.8),
              {"beta": 0.01, "selection": "value", "search": "two-prefix", "normalizer": "fixed",
               "branching": False, "init_k": 0, "interval": 1, "planner": "ours"}),
    "mv": ("n", (1, 2, 3, 4, 5, 6, 8), {"n": 4, "selection": "plurality"}),
    "bon": ("n", (1, 2, 3, 4, 6, 8), {"n": 4, "selection": "value"}),
    "wbon": ("n", (1, 2, 3, 4, 6, 8), {"n": 4, "selection": "weighted"}),
    "wbon_rm": ("n", (1, 2, 3, 4, 6, 8), {"n": 4, "strength": 0.85, "rm_cost": 1.0}),
    "pass_at_n": ("n", (1, 2, 4, 8), {"n": 8}),
    "length_prune": ("budget_tokens", (1024, 2048, 4096, 8192, 16384),
                     {"budget_tokens": 4096, "n": 8, "selection": "plurality"}),
    "half_finished": ("n", (2, 3, 4, 6, 8), {"n": 8, "selection": "plurality"}),
    "reward_prune": ("n", (1, 2, 3, 4, 6, 8), {"n": 8, "threshold": 0.4, "selection": "plurality"}),
    "ac": ("threshold", (0.6, 0.75, 0.85, 0.95, 0.99), {"threshold": 0.95, "n": 8}),
    "esc": ("window", (1, 2, 3, 4), {"window": 2, "n": 8}),
    "deepconf": ("n", (3, 4, 6, 8), {"n": 8, "warmup": 2, "percentile": 10.0, "threshold": 0.95,
                                     "signal": "trace", "strength": 1.0, "window": 8}),
    "short_m_at_k": ("n", (2, 3, 4, 6, 8), {"n": 8, "m": 3}),
    "spec_rejection": ("n", (2, 3, 4, 6, 8), {"n": 8, "keep_frac": 0.5}),
    "pandora": ("beta", (0.003, 0.01, 0.03, 0.1, 0.2, 0.3, 0.4, 0.5), {"beta": 0.01}),
}

DEFAULT_STUDY_POLICIES = POLICY_NAMES


@dataclass(frozen=True)
class PolicySpec:
    """A built-in policy with all its parameters (defaults filled from :data:`REGISTRY`)."""

    name: str
    params: dict = field(default_factory=dict)

    @classmethod
    def make(cls, name: str, **params) -> "PolicySpec":
        if name not in REGISTRY:
            raise PolicyError(f"unknown policy {name!r}; choose from {', '.join(POLICY_NAMES)}")
        full = dict(_COMMON)
        full.update(REGISTRY[name][2])
        unknown = set(params) - set(SLOTS)
        if unknown:
            raise PolicyError(f"policy {name}: unknown parameter(s) {', '.join(sorted(unknown))}")
        full.update({k: v for k, v in params.items() if v is not None})
        if name == "ziprc" and full.get("planner") == "authors":
            for k, v in AUTHORS_FIXED.items():
                if params.get(k) is not None and params[k] != v:
                    raise PolicyError(f"policy ziprc: planner=authors fixes {k}={v}; got {k}={params[k]}")
                full[k] = v
        if "n" in full and "n" not in params and full["n"] > full["cap"]:
            full["n"] = full["cap"]  # a default larger than the cap shrinks to it
        p = cls(name=name, params=full)
        p._check()
        return p

    @property
    def knob_name(self) -> str:
        return REGISTRY[self.name][0]

    @property
    def knob(self):
        return self.params[self.knob_name]

    def with_knob(self, value) -> "PolicySpec":
        return PolicySpec.make(self.name, **{**self.params, self.knob_name: value})

    def reference(self):
        """The reference definition (:mod:`metamdp.policies`) with these parameters."""
        import inspect

        cls = BUILTIN[self.name]
        accepted = inspect.signature(cls).parameters
        kw = {k: v for k, v in self.params.items() if k in accepted}
        n_default = accepted["n"].default if "n" in accepted else None
        if "n" not in kw and "cap" in kw and isinstance(n_default, int) and n_default > kw["cap"]:
            kw["n"] = kw["cap"]   # as in make(): a default larger than the cap shrinks to it (pandora)
        return cls(**kw)

    def label(self) -> str:
        extra = f",{self.params['signal']}" if self.name == "deepconf" else ""
        return f"{self.name}({self.knob_name}={self.knob}{extra})"

    def _check(self):
        p = self.params
        name = self.name
        if not 0.0 <= float(p["alpha"]) <= 1.0:
            raise PolicyError(f"policy {name}: alpha must be in [0, 1], got {p['alpha']!r}")
        cap = int(p["cap"])
        if cap != p["cap"] or not 1 <= cap <= 16:
            raise PolicyError(f"policy {name}: cap must be an integer in 1..16, got {p['cap']!r}")
        n = p.get("n", cap)
        if int(n) != n or not 1 <= int(n) <= cap:
            raise PolicyError(f"policy {name}: n must be an integer in 1..cap ({cap}), got {n!r}")
        if float(p.get("beta", 0.0)) < 0 or not math.isfinite(float(p.get("beta", 0.0))):
            raise PolicyError(f"policy {name}: beta must be finite and >= 0, got {p.get('beta')!r}")
        for key, allowed in (("selection", SELECTIONS), ("search", SEARCHES),
                             ("normalizer", NORMALIZERS), ("signal", SIGNALS),
                             ("planner", PLANNERS)):
            if key in p and p[key] not in allowed:
                raise PolicyError(f"policy {name}: {key} must be one of {', '.join(allowed)}, got {p[key]!r}")
        if p.get("interval", 1) < 1 or int(p.get("interval", 1)) != p.get("interval", 1):
            raise PolicyError(f"policy {name}: interval must be an integer >= 1 tick")
        if not 0 <= int(p.get("init_k", 0)) <= cap:
            raise PolicyError(f"policy {name}: init_k must be in 0..cap")
        if name == "ac" and not 0.5 <= float(p["threshold"]) < 1.0:
            raise PolicyError(f"policy ac: threshold must be in [0.5, 1), got {p['threshold']!r}")
        if name == "esc" and not 1 <= int(p["window"]) <= cap:
            raise PolicyError(f"policy esc: window must be in 1..cap, got {p['window']!r}")
        if name == "deepconf" and not 1 <= int(p["warmup"]) <= int(p["n"]):
            raise PolicyError(f"policy deepconf: warmup must be in 1..n, got {p['warmup']!r}")
        if name == "deepconf" and not 0.0 <= float(p["percentile"]) <= 100.0:
            raise PolicyError("policy deepconf: percentile must be in [0, 100]")
        if name == "wbon_rm" and not 0.5 <= float(p["strength"]) < 1.0:
            raise PolicyError(f"policy wbon_rm: strength (the reward model's AUROC) must be in [0.5, 1), got {p['strength']!r}")
        if name == "length_prune" and not float(p["budget_tokens"]) > 0:
            raise PolicyError("policy length_prune: budget_tokens must be > 0")
        if name == "spec_rejection" and not 0.0 < float(p["keep_frac"]) <= 1.0:
            raise PolicyError("policy spec_rejection: keep_frac must be in (0, 1]")
        if name == "short_m_at_k" and int(p["m"]) < 1:
            raise PolicyError("policy short_m_at_k: m must be >= 1")
        if name == "ziprc" and p["search"] == "exhaustive" and cap > 12:
            raise PolicyError("policy ziprc: exhaustive search is limited to cap <= 12")

    def to_array(self, delta: int) -> np.ndarray:
        """The flat parameter vector of the runner (codes for categorical options)."""
        p = self.params
        a = np.zeros(N_SLOTS)
        a[SLOTS["cap"]] = p["cap"]
        a[SLOTS["n"]] = p.get("n", p["cap"])
        a[SLOTS["alpha"]] = p["alpha"]
        a[SLOTS["beta"]] = p.get("beta", 0.0)
        a[SLOTS["selection"]] = SELECTIONS.index(p.get("selection", "plurality"))
        a[SLOTS["search"]] = SEARCHES.index(p.get("search", "two-prefix"))
        a[SLOTS["normalizer"]] = NORMALIZERS.index(p.get("normalizer", "fixed"))
        a[SLOTS["branching"]] = 1.0 if p.get("branching", False) else 0.0
        a[SLOTS["init_k"]] = p.get("init_k", 0)
        a[SLOTS["interval"]] = p.get("interval", 1)
        a[SLOTS["threshold"]] = p.get("threshold", 0.0)
        a[SLOTS["budget_tokens"]] = math.ceil(float(p.get("budget_tokens", 0.0)) / delta)
        a[SLOTS["m"]] = p.get("m", 1)
        a[SLOTS["signal"]] = SIGNALS.index(p.get("signal", "trace"))
        a[SLOTS["warmup"]] = p.get("warmup", 1)
        a[SLOTS["percentile"]] = p.get("percentile", 10.0)
        strength = float(p.get("strength", 1.0))
        if self.name == "wbon_rm":
            # AUROC of a unit-variance Gaussian score shifted by d' for correct samples
            strength = dprime_from_auroc(strength)
        a[SLOTS["strength"]] = strength
        a[SLOTS["rm_cost"]] = p.get("rm_cost", 0.0)
        a[SLOTS["window"]] = p.get("window", 1)
        a[SLOTS["keep_frac"]] = p.get("keep_frac", 1.0)
        a[SLOTS["planner"]] = PLANNERS.index(p.get("planner", "ours"))
        return a

    def to_json(self) -> dict:
        return {"policy": self.name, "knob_name": self.knob_name, "knob": self.knob,
                "params": dict(self.params)}


Policy = PolicySpec  # the name used before the reference classes moved to metamdp.policies


def sweep(name: str, knobs=None, **params) -> list:
    """The policy at every knob value of its default sweep (or of ``knobs``)."""
    base = PolicySpec.make(name, **params)
    values = REGISTRY[name][1] if knobs is None else knobs
    out = []
    for v in values:
        if base.knob_name == "n" and v > base.params["cap"]:
            continue
        if name == "deepconf" and v < base.params["warmup"]:
            continue
        if name == "esc" and v > base.params["cap"]:   # a window of more votes than samples
            continue
        out.append(base.with_knob(v))
    return out


def parse_policies(text) -> list:
    """Comma-separated policy names (or a list) to validated names."""
    if text is None:
        return list(DEFAULT_STUDY_POLICIES)
    names = text if isinstance(text, (list, tuple)) else [t.strip() for t in str(text).split(",")]
    names = [n for n in names if n]
    for n in names:
        if n not in REGISTRY:
            raise PolicyError(f"unknown policy {n!r}; choose from {', '.join(POLICY_NAMES)}")
    if not names:
        raise PolicyError("no policy given")
    return names


# --------------------------------------------------------------------------- closed forms


def beta_stop_probability(a: int, b: int) -> float:
    """Adaptive-Consistency's Beta criterion in closed form.

    ``P(p > 1/2)`` for ``p ~ Beta(a + 1, b + 1)`` (uniform prior, ``a`` votes for the leading
    answer and ``b`` for the runner-up) ``= 1 - I_{1/2}(a + 1, b + 1)``
    ``= sum_{j=0}^{a} C(a + b + 1, j) / 2^{a + b + 1}`` for integers.
    """
    n = a + b + 1
    return float(sum(math.comb(n, j) for j in range(a + 1)) / 2.0 ** n)


def pandora_reservation(values, pmf, cost: float) -> float:
    """Weitzman's reservation value ``z`` with ``E[(X - z)+] = cost`` for a discrete ``X``.

    Returns ``-inf`` when ``cost >= E[X - min X]`` is not met by any ``z`` above the minimum
    (sampling is never worth it) -- in practice: returns the root of the decreasing,
    piecewise-linear function, which may lie below ``min(values)``.
    """
    v = np.asarray(values, dtype=np.float64)
    p = np.asarray(pmf, dtype=np.float64)
    order = np.argsort(v)
    v, p = v[order], p[order]
    if cost <= 0:
        return float(v[p > 0].max())
    # g(z) = sum_k p_k (v_k - z)+ is decreasing; find z with g(z) = cost
    for i in range(v.size - 1, -1, -1):
        z = v[i]
        g = float(np.sum(p * np.maximum(v - z, 0.0)))
        if g >= cost:
            # root in [v_i, v_{i+1}]: g is linear there with slope -P(X > v_i)
            tail = float(p[i + 1:].sum())
            return float(z + (g - cost) / tail) if tail > 0 else float(z)
    tail = 1.0
    g0 = float(np.sum(p * (v - v[0])))
    return float(v[0] - (cost - g0) / tail)
