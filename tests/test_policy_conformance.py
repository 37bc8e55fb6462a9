"""Conformance: every built-in policy's Numba kernel (``simulators.kernels``) takes the same
decisions as its reference definition (``metamdp.policies``) run by the Python episode
driver, on the same episodes: identical correctness, generated and serial ticks, samples
started, pruned ticks, samples finished and extra compute, under several knob values and
prediction corruptions. Also: the reference classes are the ones replay and the LLM
sampler run, and a user's policy gets clear errors."""

import numpy as np
import pytest

from metamdp.policies import (BUILTIN, POLICY_NAMES, Action, Policy, PolicyRunError, make)
from simulators.policies import PolicySpec
from simulators.runner import METRICS, run_policy
from simulators.synthetic import Corruption, build_world

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CASES = [
    ("ziprc", {"beta": 0.01}), ("ziprc", {"beta": 0.1, "search": "exhaustive"}),
    ("ziprc", {"beta": 0.05, "normalizer": "state", "selection": "weighted"}),
    ("ziprc", {"beta": 0.02, "normalizer": "raw", "search": "top-k", "interval": 3}),
    ("ziprc", {"beta": 0.01, "init_k": 3, "selection": "plurality"}),
    ("ziprc", {"beta": 0.03, "branching": True}),
    ("mv", {"n": 1}), ("mv", {"n": 5}), ("bon", {"n": 3}), ("wbon", {"n": 4}),
    ("wbon_rm", {"n": 6, "strength": 0.7}), ("pass_at_n", {"n": 2}),
    ("length_prune", {"budget_tokens": 1024}), ("length_prune", {"budget_tokens": 8192, "n": 4}),
    ("half_finished", {"n": 3}), ("half_finished", {"n": 8}),
    ("short_m_at_k", {"n": 5, "m": 2}), ("short_m_at_k", {"n": 8}),
    ("reward_prune", {"n": 3}), ("reward_prune", {"n": 8, "threshold": 0.6}),
    ("ac", {"threshold": 0.6}), ("ac", {"threshold": 0.99, "n": 5}),
    ("esc", {"window": 1}), ("esc", {"window": 3}),
    ("deepconf", {"n": 4}), ("deepconf", {"n": 8, "signal": "ziprc", "window": 2, "percentile": 50.0}),
    ("deepconf", {"n": 6, "warmup": 3, "strength": 3.0, "threshold": 0.6}),
    ("spec_rejection", {"n": 8}), ("spec_rejection", {"n": 5, "keep_frac": 0.3}),
    ("pandora", {"beta": 0.003}), ("pandora", {"beta": 0.3}),
]

CORRUPTIONS = [
    Corruption(),
    Corruption(temperature=2.0, noise=0.5),
    Corruption(lag_ticks=4, window_ticks=3),
    Corruption(coarse_factor=2, correlation=0.5, value_noise=0.3),
    Corruption(optimism=1.5),
]


@pytest.fixture(scope="module")
def world():
    # hard, long questions (aime24) next to easy ones: every stopping rule gets exercised
    return build_world("mixed", n_questions=4)


@pytest.fixture(scope="module")
def hard():
    return build_world("aime24", n_questions=3)


def test_cases_cover_every_policy():
    assert {name for name, _ in CASES} == set(POLICY_NAMES) == set(BUILTIN)


@pytest.mark.parametrize("k,case", list(enumerate(CASES)), ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_kernel_matches_reference(world, hard, k, case):
    name, params = case
    spec = PolicySpec.make(name, **params)
    started = 0.0
    # every case on exact predictions and on two of the corruptions (rotating)
    for w, corruption in ((world, CORRUPTIONS[0]), (world, CORRUPTIONS[1 + k % 4]),
                          (hard, CORRUPTIONS[1 + (k + 1) % 4])):
        fast = run_policy(w, spec, seed=k, episodes_per_question=2, corruption=corruption)
        ref = run_policy(w, spec, seed=k, episodes_per_question=2, corruption=corruption,
                         engine="python")
        for e in range(fast.shape[0]):
            assert fast[e].tolist() == ref[e].tolist(), (
                name, params, corruption, e, dict(zip(METRICS, fast[e])), dict(zip(METRICS, ref[e])))
        started = max(started, fast[:, METRICS.index("started")].max())
    assert started >= 1   # the comparison is not vacuous


def test_reference_objects_are_the_definitions():
    """Replay and the LLM sampler run the same classes (no copies)."""
    from llm_backend.policies import make_policy  # noqa: F401  (imports torch-free modules only)

    for name in POLICY_NAMES:
        ref = PolicySpec.make(name).reference()
        assert type(ref) is BUILTIN[name]
        assert isinstance(ref, Policy)
    assert isinstance(make_policy("ac"), BUILTIN["ac"])
    assert isinstance(make_policy("ziprc"), BUILTIN["ziprc"])


class _ThreeVotes(Policy):
    name = "three_votes"

    def __call__(self, view):
        if view.n_created == 0:
            return Action(keep=[], new=3)
        return Action(keep=[s.sid for s in view.unfinished])


def test_user_policy_reproduces_majority_vote(world):
    corruption = Corruption(correlation=0.5)
    mine = run_policy(world, _ThreeVotes(), seed=4, episodes_per_question=3, corruption=corruption)
    mv3 = run_policy(world, PolicySpec.make("mv", n=3), seed=4, episodes_per_question=3,
                     corruption=corruption)
    np.testing.assert_array_equal(mine, mv3)


class _Raises(Policy):
    name = "raiser"

    def __call__(self, view):
        if view.epoch == 2:
            raise ZeroDivisionError("boom")
        return Action(keep=[s.sid for s in view.unfinished], new=1 if view.epoch == 0 else 0)


class _Invalid(Policy):
    name = "invalid"

    def __call__(self, view):
        if view.epoch == 0:
            return Action(new=2)
        return Action(keep=[7])


class _NotAnAction(Policy):
    name = "wrong_type"

    def __call__(self, view):
        return {"keep": [], "new": 1}


def test_user_policy_errors_name_policy_question_and_epoch(world):
    with pytest.raises(PolicyRunError, match=r"'raiser' raised ZeroDivisionError: boom at question mixed-0 .*epoch 2"):
        run_policy(world, _Raises(), seed=0)
    with pytest.raises(PolicyRunError, match=r"'invalid' returned an invalid action at question mixed-0 .*"
                                             r"epoch 1: keep contains sample 7"):
        run_policy(world, _Invalid(), seed=0)
    with pytest.raises(PolicyRunError, match="'wrong_type' .*epoch 0: expected an Action, got dict"):
        run_policy(world, _NotAnAction(), seed=0)


def test_make_validates_knobs():
    from metamdp.policies import PolicyConfigError

    with pytest.raises(PolicyConfigError, match="unknown knob"):
        make("mv", threshold=0.5)
    with pytest.raises(PolicyConfigError, match="n must be"):
        make("bon", n=9)
    assert make("pandora", beta=0.2).with_knob(0.3).beta == 0.3


def test_metamdp_imports_no_other_package():
    import ast
    from pathlib import Path

    ours = {"simulators", "llm_backend", "paper_figures", "ziprc_cli"}
    root = Path(__file__).resolve().parent.parent / "metamdp"
    for f in root.rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            assert not {n.split(".")[0] for n in names} & ours, (f.name, names)
