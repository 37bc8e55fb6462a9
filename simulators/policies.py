"""The built-in policies as the simulators run them: one table, name -> (reference class,
Numba kernel, packer).

A policy's definition (name, defaults, knob, sweep values, validation) is its reference
class in :mod:`metamdp.policies`; its kernel and packer live side by side in
``simulators/kernels/`` (the packer turns a reference object into the kernel's parameter
record). :func:`register` adds a row: :func:`simulators.runner.run_policy` runs an object
whose exact type is a registered class on its kernel, and anything else (a user's policy, a
subclass) on the Python episode driver.

Names (stable on the command line and in JSON) and the knob each sweeps are the classes':
see :func:`describe`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from metamdp.policies import (BUILTIN, AdaptiveConsistency, BestOfN, DeepConf, EarlyStoppingSC,
                              HalfFinished, LengthPrune, MajorityVote, Pandora, PassAtN, Policy,
                              PolicyConfigError, RewardModelVote, RewardPrune, ShortMAtK,
                              SpecRejection, WeightedBestOfN, ZipRC, ZipRCRecourse, knob_names)
from metamdp.policies import make as make_builtin

from .kernels import bind
from .kernels.parallel import (pack_half_finished, pack_length_prune, pack_parallel,
                               pack_short_m_at_k, pack_wbon_rm, parallel_episode)
from .kernels.pruning import (deepconf_episode, pack_deepconf, pack_reward_prune,
                              pack_spec_rejection, reward_prune_episode, spec_rejection_episode)
from .kernels.sequential import (ac_episode, esc_episode, pack_ac, pack_esc, pack_pandora,
                                 pandora_episode)
from .kernels.ziprc import pack_ziprc, pack_ziprc_recourse, ziprc_episode


@dataclass(frozen=True)
class Entry:
    """One built-in policy: its reference class, its kernel and the packer
    ``(policy, delta) -> parameter record`` (``delta``: tokens per tick)."""

    cls: type
    kernel: Callable
    packer: Callable

    def pack(self, policy, delta: int):
        """The kernel's parameter record of ``policy``. Its knobs are first checked by
        rebuilding it with its constructor, so that the kernel never runs knobs the class
        would reject (e.g. set on the object after construction); the object itself is
        packed, as the Python driver would run it."""
        policy.revalidated()
        return self.packer(policy, int(delta))


#: name -> :class:`Entry`, in the order of tables and plots
TABLE: dict = {}


def register(cls: type, kernel, packer) -> Entry:
    """Add (or replace) the row of ``cls.name``: objects of exactly ``cls`` run on ``kernel``
    with the parameters ``packer`` packs. A kernel's parameter record type must be its own."""
    if not (isinstance(cls, type) and issubclass(cls, Policy)) or not isinstance(cls.name, str):
        raise PolicyConfigError(f"register: {cls!r} is not a Policy subclass with a name")
    if any(e.cls is cls for n, e in TABLE.items() if n != cls.name):
        raise PolicyConfigError(f"register: class {cls.__name__} is already registered")
    entry = Entry(cls, kernel, packer)
    TABLE[cls.name] = entry
    return entry


def unregister(name: str) -> None:
    """Remove a row (for tests that add a policy of their own)."""
    TABLE.pop(name, None)


for _cls, _kernel, _packer in (
        (ZipRC, ziprc_episode, pack_ziprc),
        (MajorityVote, parallel_episode, pack_parallel),
        (BestOfN, parallel_episode, pack_parallel),
        (WeightedBestOfN, parallel_episode, pack_parallel),
        (RewardModelVote, parallel_episode, pack_wbon_rm),
        (PassAtN, parallel_episode, pack_parallel),
        (LengthPrune, parallel_episode, pack_length_prune),
        (HalfFinished, parallel_episode, pack_half_finished),
        (RewardPrune, reward_prune_episode, pack_reward_prune),
        (AdaptiveConsistency, ac_episode, pack_ac),
        (EarlyStoppingSC, esc_episode, pack_esc),
        (DeepConf, deepconf_episode, pack_deepconf),
        (ShortMAtK, parallel_episode, pack_short_m_at_k),
        (SpecRejection, spec_rejection_episode, pack_spec_rejection),
        (Pandora, pandora_episode, pack_pandora),
        (ZipRCRecourse, ziprc_episode, pack_ziprc_recourse)):
    register(_cls, _kernel, _packer)
assert set(TABLE) == set(BUILTIN), "every built-in of metamdp.policies has a row, and only they"

POLICY_NAMES = tuple(TABLE)
#: what runs when no policy is named (see ``Policy.by_default``)
DEFAULT_POLICIES = tuple(n for n, e in TABLE.items() if e.cls.by_default)


def entry_for(policy):
    """The table row that runs ``policy`` on a kernel (``None``: the Python driver runs it)."""
    e = TABLE.get(getattr(policy, "name", None))
    return e if e is not None and type(policy) is e.cls else None


def pack(policy, delta: int):
    """``(kernel, parameter record)`` of a registered policy object."""
    e = entry_for(policy)
    if e is None:
        raise PolicyConfigError(f"policy {getattr(policy, 'name', policy)!r} has no kernel "
                                f"(kernels: {', '.join(TABLE)})")
    record = e.pack(policy, delta)
    bind(type(record), e.kernel)
    return e.kernel, record


def make(name: str, **knobs) -> Policy:
    """The registered policy ``name`` with ``knobs`` over its constructor's defaults (a
    default ``n`` above a given ``cap`` shrinks to it: :func:`metamdp.policies.make`)."""
    if name not in TABLE:
        raise PolicyConfigError(f"unknown policy {name!r}; choose from {', '.join(TABLE)}")
    cls = TABLE[name].cls
    if BUILTIN.get(name) is cls:
        return make_builtin(name, **knobs)
    unknown = set(knobs) - set(knob_names(cls))
    if unknown:
        raise PolicyConfigError(f"policy {name}: unknown knob(s) {', '.join(sorted(unknown))}")
    return cls(**knobs)


def sweep(name: str, knobs=None, alpha: float | None = None, **params) -> list:
    """The policy at every knob value of its class's sweep (``cls.knobs``) or of ``knobs``.

    ``alpha`` is the study's compute weight: passed to the policies that plan with it (a
    constructor keyword), ignored by the others. Knob values the other parameters rule out
    (an ``n`` above the cap, a DeepConf ``n`` below its warm-up, an ESC window above ``n``)
    are left out.
    """
    cls = TABLE[name].cls if name in TABLE else None
    if cls is None:
        raise PolicyConfigError(f"unknown policy {name!r}; choose from {', '.join(TABLE)}")
    if alpha is not None and "alpha" in knob_names(cls):
        params["alpha"] = alpha
    base = make(name, **params)
    out = []
    for v in (cls.knobs if knobs is None else knobs):
        try:
            out.append(base.with_knob(v))
        except PolicyConfigError:
            continue   # a knob value these parameters rule out
    return out


def parse_policies(text) -> list:
    """Comma-separated policy names (or a list) to validated names (default:
    :data:`DEFAULT_POLICIES`)."""
    if text is None:
        return [n for n, e in TABLE.items() if e.cls.by_default]
    names = text if isinstance(text, (list, tuple)) else [t.strip() for t in str(text).split(",")]
    names = [n for n in names if n]
    for n in names:
        if n not in TABLE:
            raise PolicyConfigError(f"unknown policy {n!r}; choose from {', '.join(TABLE)}")
    if not names:
        raise PolicyConfigError("no policy given")
    return names


def describe() -> dict:
    """Per registered policy: its knob, sweep values and defaults (help texts, provenance)."""
    return {n: {"knob": e.cls.knob_name, "sweep": list(e.cls.knobs),
                "defaults": make(n).constructor_knobs()} for n, e in TABLE.items()}
