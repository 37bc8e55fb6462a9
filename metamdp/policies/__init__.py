"""Policies of the meta-MDP: the interface (:class:`Policy`, :class:`View`, :class:`Action`)
and the reference definitions of ZIP-RC and the fourteen baselines of ``baselines.md``.

These classes *are* the definitions: the synthetic worlds' Python driver, the replay of
recorded traces and the LLM's online sampler run them directly; the simulators' fast Numba
kernels re-implement them and a conformance test requires identical decisions and metrics.

=================  ======================  ================================================
name               class                   rule
=================  ======================  ================================================
``ziprc``          :class:`ZipRC`          the planner's best strategy, first action
``mv``             :class:`MajorityVote`   ``n`` samples to completion, plurality
``bon``            :class:`BestOfN`        ``n`` to completion, highest value
``wbon``           :class:`WeightedBestOfN` ``n`` to completion, value-weighted vote
``wbon_rm``        :class:`RewardModelVote` vote weighted by a simulated reward model
``pass_at_n``      :class:`PassAtN`        oracle: correct if any of ``n`` is
``length_prune``   :class:`LengthPrune`    ``n``, each cut at a token budget
``half_finished``  :class:`HalfFinished`   ``n``, all stopped once half finished
``reward_prune``   :class:`RewardPrune`    ``n``, drop a sample once E[value] < threshold
``ac``             :class:`AdaptiveConsistency` one at a time, Beta stopping criterion
``esc``            :class:`EarlyStoppingSC` windows in parallel, stop on unanimity
``deepconf``       :class:`DeepConf`       warm-up, confidence cut-off, consensus stop
``short_m_at_k``   :class:`ShortMAtK`      ``k`` in parallel, stop once ``m`` finished
``spec_rejection`` :class:`SpecRejection`  keep the top fraction at checkpoints
``pandora``        :class:`Pandora`        Weitzman's reservation value
``ziprc_recourse`` :class:`ZipRCRecourse`  the best two-stage strategy, first action
=================  ======================  ================================================
"""

from .base import (BUILTIN, ENDED, FLOORS, SELECTIONS, Action, Policy, PolicyConfigError, PolicyRunError,
                   SampleView, View, call_policy, dprime_from_auroc, expected_value, floor_index,
                   select, validate_action)
from .loading import PolicyModuleError, load_policies, load_policy
from .ziprc import ZipRC  # first: BUILTIN (and so every list of names) starts with ZIP-RC
from .parallel import (BestOfN, HalfFinished, LengthPrune, MajorityVote, PassAtN, RewardModelVote,
                       ShortMAtK, WeightedBestOfN)
from .pruning import SIGNALS, DeepConf, RewardPrune, SpecRejection
from .sequential import AdaptiveConsistency, EarlyStoppingSC, Pandora
from .recourse import ZipRCRecourse  # last: the paper's policies keep their order

# BUILTIN (name -> class) holds every class above with its own name (Policy.__init_subclass__)
POLICY_NAMES = tuple(BUILTIN)


def knob_names(cls) -> tuple:
    """The constructor keywords of a policy class (its knobs), in signature order."""
    import inspect

    return tuple(p for p in inspect.signature(cls).parameters if p != "config")


def make(name: str, **knobs) -> Policy:
    """The built-in policy ``name`` with ``knobs`` over its constructor's defaults.

    A default ``n`` larger than a given ``cap`` shrinks to the cap (``make("mv", cap=2)`` is
    majority voting over 2 samples); an explicit ``n`` above the cap is an error.
    """
    import inspect

    if name not in BUILTIN:
        raise PolicyConfigError(f"unknown policy {name!r}; choose from {', '.join(POLICY_NAMES)}")
    cls = BUILTIN[name]
    allowed = knob_names(cls)
    unknown = set(knobs) - set(allowed)
    if unknown:
        raise PolicyConfigError(f"policy {name}: unknown knob(s) {', '.join(sorted(unknown))}; "
                                f"its knobs are {', '.join(allowed)}")
    n_default = inspect.signature(cls).parameters["n"].default if "n" in allowed else None
    if "n" not in knobs and "cap" in knobs and isinstance(n_default, int) and n_default > knobs["cap"]:
        knobs = {**knobs, "n": knobs["cap"]}
    return cls(**knobs)


__all__ = [
    "ENDED", "FLOORS", "SELECTIONS", "SIGNALS", "Action", "Policy", "PolicyConfigError",
    "PolicyRunError", "PolicyModuleError", "SampleView", "View", "call_policy",
    "dprime_from_auroc", "expected_value", "floor_index", "select", "validate_action",
    "load_policy", "load_policies", "BUILTIN", "POLICY_NAMES", "make", "knob_names",
    "ZipRC", "MajorityVote", "BestOfN", "WeightedBestOfN", "RewardModelVote", "PassAtN",
    "LengthPrune", "HalfFinished", "RewardPrune", "AdaptiveConsistency", "EarlyStoppingSC",
    "DeepConf", "ShortMAtK", "SpecRejection", "Pandora", "ZipRCRecourse",
]
