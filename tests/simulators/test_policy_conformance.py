"""Conformance: every built-in policy's Numba kernel (``simulators.kernels``) takes the same
decisions as its reference definition (``metamdp.policies``) run by the Python episode
driver, on the same episodes: identical correctness, generated and serial ticks, samples
started, pruned ticks, samples finished and extra compute, under hand-picked knob values
and, drawn by Hypothesis, over each policy's valid parameter ranges, with prediction
corruptions. The packer (kernel side) accepts exactly the parameters the reference class
accepts. A toy policy added through the registry runs on both engines. Also: the reference
classes are the ones replay and the LLM sampler run, and a user's policy gets clear errors."""

from collections import namedtuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from metamdp.policies import (BUILTIN, POLICY_NAMES, SELECTIONS, Action, Policy, PolicyConfigError,
                              PolicyRunError, make)
from simulators import policies as registry
from simulators.kernels.common import (SEL_PLURALITY, account, any_open, select_answer, shared_class,
                                       start_roots, step_all)
from simulators.kernels.samples import new_state
from simulators.kernels.samples import METRICS
from simulators.runner import run_policy
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
    ("ziprc_recourse", {"beta": 0.03, "alpha": 1.0}),
    ("ziprc_recourse", {"beta": 0.1, "search": "exhaustive", "cap": 5, "branching": True,
                        "normalizer": "state", "selection": "weighted"}),
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
    from simulators.plotstyle import POLICY_STYLE

    assert {name for name, _ in CASES} == set(POLICY_NAMES) == set(BUILTIN) == set(registry.TABLE)
    assert set(registry.TABLE) <= set(POLICY_STYLE)   # every policy has its plot style


@pytest.mark.parametrize("k,case", list(enumerate(CASES)), ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_kernel_matches_reference(world, hard, k, case):
    name, params = case
    spec = make(name, **params)
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
        ref = registry.make(name)
        assert type(ref) is BUILTIN[name] is registry.TABLE[name].cls
        assert isinstance(ref, Policy)
    assert isinstance(make_policy("ac"), BUILTIN["ac"])
    assert isinstance(make_policy("ziprc"), BUILTIN["ziprc"])
    rec = make_policy("ziprc_recourse", cap=4)
    assert isinstance(rec, BUILTIN["ziprc_recourse"]) and rec.name == "ziprc_recourse"
    assert (rec.search, rec.branching, rec.floor) == ("exhaustive", True, "distribution")


class _ThreeVotes(Policy):
    name = "three_votes"

    def __call__(self, view):
        if view.n_created == 0:
            return Action(keep=[], new=3)
        return Action(keep=[s.sid for s in view.unfinished])


def test_user_policy_reproduces_majority_vote(world):
    corruption = Corruption(correlation=0.5)
    mine = run_policy(world, _ThreeVotes(), seed=4, episodes_per_question=3, corruption=corruption)
    mv3 = run_policy(world, make("mv", n=3), seed=4, episodes_per_question=3,
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
    root = Path(__file__).resolve().parents[2] / "metamdp"
    for f in root.rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            assert not {n.split(".")[0] for n in names} & ours, (f.name, names)


# --------------------------------------------------------------------------- drawn cases

def _n_cap(draw, n_min=1):
    cap = draw(st.integers(n_min, 8))
    return {"cap": cap, "n": draw(st.integers(n_min, cap))}


@st.composite
def valid_knobs(draw, name):
    """Knobs of ``name`` inside the ranges its class accepts."""
    unit = st.floats(0.0, 1.0)
    if name in ("ziprc", "ziprc_recourse"):
        cap = draw(st.integers(1, 6))
        return {"cap": cap, "beta": draw(st.floats(0.0, 0.6)), "alpha": draw(unit),
                "search": draw(st.sampled_from(("exhaustive", "two-prefix", "top-k"))),
                "normalizer": draw(st.sampled_from(("fixed", "raw", "state"))),
                "branching": draw(st.booleans()), "init_k": draw(st.integers(0, cap)),
                "interval": draw(st.integers(1, 3)),
                "selection": draw(st.sampled_from(("value", "weighted", "plurality"))),
                "planner": draw(st.sampled_from(("ours", "authors") if name == "ziprc"
                                                else ("ours",)))}
    k = _n_cap(draw, 2 if name == "half_finished" else 1)
    if name == "mv":
        k["selection"] = draw(st.sampled_from(SELECTIONS))
    elif name == "wbon_rm":
        k.update(strength=draw(st.floats(0.5, 0.99)), rm_cost=draw(st.floats(0.0, 2.0)))
    elif name == "length_prune":
        k.update(budget_tokens=draw(st.floats(64.0, 16384.0)),
                 selection=draw(st.sampled_from(SELECTIONS)))
    elif name in ("half_finished",):
        k["selection"] = draw(st.sampled_from(SELECTIONS))
    elif name == "reward_prune":
        k.update(threshold=draw(unit), selection=draw(st.sampled_from(SELECTIONS)))
    elif name == "ac":
        k["threshold"] = draw(st.floats(0.5, 0.999))
    elif name == "esc":
        k["window"] = draw(st.integers(1, k["n"]))
    elif name == "deepconf":
        k.update(warmup=draw(st.integers(1, k["n"])), percentile=draw(st.floats(0.0, 100.0)),
                 threshold=draw(st.floats(0.05, 1.0)), window=draw(st.integers(1, 8)),
                 signal=draw(st.sampled_from(("trace", "ziprc"))), strength=draw(st.floats(0.0, 4.0)))
    elif name == "short_m_at_k":
        k["m"] = draw(st.integers(1, k["n"] + 2))
    elif name == "spec_rejection":
        k.update(keep_frac=draw(st.floats(0.05, 1.0)), first_checkpoint=draw(st.integers(1, 8)))
    elif name == "pandora":
        k["beta"] = draw(st.floats(0.0, 0.6))
    return k


@st.composite
def drawn_case(draw):
    name = draw(st.sampled_from(POLICY_NAMES))
    corruption = draw(st.sampled_from(CORRUPTIONS))
    return name, draw(valid_knobs(name)), corruption, draw(st.integers(0, 2**16))


def test_kernel_matches_reference_on_drawn_parameters(world):
    """Every drawn (policy, knobs, corruption, seed): kernel == reference, episode by episode.
    Compilation dominates (one per kernel, shared with the cases above), so the examples are
    cheap; at least half must be informative (a sample started)."""
    informative = []

    @settings(max_examples=45)
    @given(case=drawn_case())
    def check(case):
        name, knobs, corruption, seed = case
        pol = make(name, **knobs)
        fast = run_policy(world, pol, seed=seed, corruption=corruption, questions=[0, 3])
        ref = run_policy(world, pol, seed=seed, corruption=corruption, questions=[0, 3],
                         engine="python")
        assert fast.tolist() == ref.tolist(), (name, knobs, corruption)
        informative.append(fast[:, METRICS.index("started")].max() >= 1)

    check()
    assert len(informative) >= 40 and sum(informative) >= len(informative) // 2


@st.composite
def raw_knobs(draw):
    """Knobs drawn over a superset of the valid ranges (valid and invalid values)."""
    name = draw(st.sampled_from(POLICY_NAMES))
    base = make(name).constructor_knobs()
    out = {}
    for key, default in base.items():
        if not draw(st.booleans()):
            continue
        if isinstance(default, bool):
            out[key] = draw(st.booleans())
        elif isinstance(default, int):
            out[key] = draw(st.integers(-1, 12))
        elif isinstance(default, float):
            out[key] = draw(st.floats(-0.5, 1.5) | st.floats(-1e4, 2e4))
        else:   # a category: a valid choice or not
            out[key] = draw(st.sampled_from((default, "nope", *SELECTIONS, "exhaustive", "state",
                                             "ziprc", "trace", "authors", "nearest")))
    if "n" in base:
        out.setdefault("n", base["n"])   # make() shrinks a default n to the cap; an object cannot
    return name, out


@settings(max_examples=300)
@given(case=raw_knobs())
def test_kernel_accepts_exactly_what_the_reference_accepts(case):
    """The packer (the kernel side) never packs knobs the class rejects, and packs all it
    accepts: an object whose attributes were set after construction is rebuilt first."""
    name, knobs = case
    try:
        make(name, **knobs)
        ref_ok = True
    except PolicyConfigError:
        ref_ok = False
    forged = make(name)
    vars(forged).update(knobs)
    try:
        registry.pack(forged, 64)
        kernel_ok = True
    except PolicyConfigError:
        kernel_ok = False
    assert ref_ok == kernel_ok, (name, knobs)


# --------------------------------------------------------------------------- a toy policy

class Sprint(Policy):
    """Toy: ``n`` samples at once, everything stops after ``ticks`` ticks; plurality."""

    name = "sprint"
    knob_name = "ticks"
    knobs = (4, 16, 64)

    def __init__(self, n: int = 4, ticks: int = 16, cap: int = 8):
        if not 1 <= int(n) <= int(cap) or int(ticks) < 1:
            raise PolicyConfigError("policy sprint: need 1 <= n <= cap and ticks >= 1")
        self.n, self.ticks, self.cap = int(n), int(ticks), int(cap)

    def __call__(self, view):
        if view.n_created == 0:
            return Action(keep=[], new=self.n)
        if view.epoch >= self.ticks:
            return Action(keep=[])
        return Action(keep=[s.sid for s in view.unfinished])


SprintParams = namedtuple("SprintParams", ("n", "cap", "ticks"))


def pack_sprint(policy, delta):
    return SprintParams(policy.n, policy.cap, policy.ticks)


@njit(cache=True)
def sprint_episode(p, corr, seed, q, W, t_max, out):
    S = new_state(p.cap, t_max, False)
    start_roots(0, p.n, seed, q, W, t_max, S, corr, shared_class(W, q, seed, p.cap), False)
    everyone = np.zeros(0, dtype=np.bool_)
    ended = np.zeros(p.cap, dtype=np.bool_)
    gen = serial = epoch = 0
    while True:
        g = step_all(everyone, p.n, seed, q, W, S, False, ended)
        gen += g
        if g > 0:
            serial += 1
        epoch += 1
        if epoch >= p.ticks or not any_open(S, p.n):
            break
    chosen = select_answer(SEL_PLURALITY, p.n, S, W.values, np.zeros(0),
                           np.zeros(W.distractor_cdf.shape[1] + 1))
    account(S, p.n, chosen, gen, serial, 0.0, W.mean_ticks[q], out)


@pytest.fixture
def sprint():
    registry.register(Sprint, sprint_episode, pack_sprint)
    yield Sprint
    registry.unregister("sprint")


def test_a_policy_added_through_the_registry_runs_on_both_engines(world, sprint):
    assert "sprint" in registry.parse_policies("mv,sprint")
    pols = registry.sweep("sprint", n=3)
    assert [p.ticks for p in pols] == [4, 16, 64]
    stopped = 0
    for k, pol in enumerate(pols):
        assert registry.entry_for(pol).kernel is sprint_episode
        fast = run_policy(world, pol, seed=k, episodes_per_question=2, corruption=CORRUPTIONS[1])
        ref = run_policy(world, pol, seed=k, episodes_per_question=2, corruption=CORRUPTIONS[1],
                         engine="python")
        assert fast.tolist() == ref.tolist()
        stopped += int((fast[:, METRICS.index("pruned_ticks")] > 0).sum())
    assert stopped > 0   # the deadline cut some samples: the comparison is not vacuous


def test_unknown_names_and_unbound_kernels_are_errors(world):
    with pytest.raises(PolicyConfigError, match="unknown policy"):
        registry.parse_policies("mv,sprint")
    with pytest.raises(PolicyConfigError, match="has no kernel"):
        registry.pack(Sprint(), 64)
    with pytest.raises(PolicyConfigError, match="has no kernel"):
        run_policy(world, Sprint(), engine="numba")

    class Sub(BUILTIN["mv"]):   # a subclass runs on the Python driver, never on mv's kernel
        pass

    assert registry.entry_for(Sub()) is None
    np.testing.assert_array_equal(run_policy(world, Sub(n=3), seed=1), run_policy(world, make("mv", n=3), seed=1))


# --------------------------------------------------------------------------- cache guard

def test_stale_cache_guard_covers_every_jitted_file_the_kernels_use():
    """Numba keys a cache on the caller's file only: every file with jitted code that the
    kernels import (and so may inline) must be among the guard's sources."""
    import sys
    from pathlib import Path

    import simulators.kernels as kernels

    used = {Path(m.__file__).resolve() for name, m in list(sys.modules.items())
            if name.split(".")[0] in ("simulators", "metamdp") and getattr(m, "__file__", None)}
    jitted = {f for f in used if "@njit" in f.read_text(encoding="utf-8")}
    assert jitted and jitted <= {Path(f).resolve() for f in kernels.GUARDED_SOURCES}


def test_drop_stale_removes_caches_when_a_source_changes(tmp_path):
    from metamdp._numba_cache import drop_stale

    src, cache = tmp_path / "callee.py", tmp_path / "__pycache__"
    src.write_text("x = 1\n")
    drop_stale([cache], [src])
    (cache / "caller.f-1.py311.nbi").write_text("")
    drop_stale([cache], [src])
    assert (cache / "caller.f-1.py311.nbi").exists()     # unchanged sources: kept
    src.write_text("x = 2\n")
    drop_stale([cache], [src])
    assert not (cache / "caller.f-1.py311.nbi").exists()  # a callee changed: dropped


def test_the_guard_finds_the_caches_where_numba_writes_them(tmp_path, monkeypatch):
    """With NUMBA_CACHE_DIR set, Numba caches a file's functions in a folder of its own
    there, not in __pycache__: the guard must drop those."""
    from numba import njit
    from numba.core import config

    from metamdp._numba_cache import cache_dir

    src = tmp_path / "mod.py"
    src.write_text("")
    assert cache_dir(src) == src.parent / "__pycache__" or config.CACHE_DIR
    monkeypatch.setattr(config, "CACHE_DIR", str(tmp_path / "cache"))
    f = njit(cache=True)(lambda x: x + 1)
    f(1)   # Numba writes this file's cache where cache_dir says
    assert any(cache_dir(__file__).glob("*.nbi"))


def test_a_kernel_from_outside_the_package_runs_uncached(sprint):
    """A cached batch loop links the kernel it ran; for a kernel in a user's (or a test's)
    file, which the package's cache guard does not watch, that would hide later edits to it."""
    import simulators.kernels as kernels

    _, mine = registry.pack(registry.make("sprint"), 16)
    assert type(mine) is SprintParams and SprintParams in kernels.OUTSIDE
    assert kernels.batch_loop(mine) is kernels.run_batch_uncached
    _, built_in = registry.pack(registry.make("mv"), 16)
    assert type(built_in) not in kernels.OUTSIDE and kernels.batch_loop(built_in) is kernels.run_batch


def test_policies_run_by_default_and_when_named():
    """A policy with ``by_default = False`` (ziprc_recourse: its search costs ~5x ZIP-RC's)
    runs only when named; every other built-in runs when none is."""
    from metamdp.policies import BUILTIN

    assert registry.parse_policies(None) == list(registry.DEFAULT_POLICIES)
    assert set(registry.DEFAULT_POLICIES) == {n for n, c in BUILTIN.items() if c.by_default}
    assert "ziprc_recourse" not in registry.DEFAULT_POLICIES and "ziprc" in registry.DEFAULT_POLICIES
    assert registry.parse_policies("ziprc_recourse,mv") == ["ziprc_recourse", "mv"]
