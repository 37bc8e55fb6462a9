"""The planner: Numba kernels vs the vectorised NumPy reference vs the definition."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from metamdp import LengthGrid, PlannerConfig, PlannerError, PlanningState, RewardGrid, Strategy, plan
from metamdp.planner import (enumerate_strategies, normalizer_value, plan_reference, strategy_value,
                             strategy_value_reference)
from metamdp.planner_numpy import plan_numpy

LAYOUTS = {
    "official7x8": (RewardGrid.seven_state(), LengthGrid.official()),
    "binary_ticks": (RewardGrid.binary(), LengthGrid.ticks(5)),
}


@st.composite
def planning_cases(draw, max_n=5, min_n=0):
    layout = draw(st.sampled_from(sorted(LAYOUTS)))
    rewards, lengths = LAYOUTS[layout]
    B, L = rewards.size, lengths.size
    n = draw(st.integers(min_n, max_n))
    g = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    joints = g.dirichlet(np.full(B * L, 0.4), size=n).reshape(n, B, L)
    root = g.dirichlet(np.full(B * L, 0.4)).reshape(B, L)
    extra_finished = draw(st.integers(0, 2))
    # finished samples: a known floor, or predicted reward distributions, or both
    kind = draw(st.sampled_from(["floor", "dist", "both"])) if extra_finished else "floor"
    cfg = PlannerConfig(rewards, lengths, alpha=draw(st.floats(0, 1)),
                        beta=draw(st.floats(0, 3)), cap=n + extra_finished + draw(st.integers(0, 3)),
                        search=draw(st.sampled_from(["exhaustive", "two-prefix", "top-k"])),
                        normalizer=draw(st.sampled_from(["fixed", "raw", "state"])),
                        branching=draw(st.booleans()),
                        prune_charge=draw(st.sampled_from(["edge", "midpoint"])),
                        ordering=draw(st.sampled_from(["ours", "authors"])))
    state = PlanningState(joints=joints, root_joint=root, n_created=n + extra_finished,
                          floor_index=int(g.integers(B)) if kind != "dist" and extra_finished else 0,
                          elapsed=g.integers(0, 10, size=n).astype(float),
                          finished_lengths=g.integers(1, 10, size=extra_finished).astype(float),
                          finished=(g.dirichlet(np.full(B, 0.5), size=extra_finished)
                                    if kind != "floor" else None))
    return state, cfg


@given(planning_cases())
def test_numba_matches_numpy_reference_and_definition(case):
    state, cfg = case
    d = plan(state, cfg)
    dn = plan_numpy(state, cfg)
    dr = plan_reference(state, cfg)
    assert d.q == pytest.approx(dn.q, abs=1e-9)
    assert d.q == pytest.approx(dr.q, abs=1e-9)
    # the chosen strategy really has the value reported (closed form from the definition)
    assert strategy_value_reference(state, cfg, d.strategy, d.normalizer) == pytest.approx(d.q, abs=1e-9)
    assert strategy_value(state, cfg, d.strategy) == pytest.approx(d.q, abs=1e-9)


@given(planning_cases(min_n=6, max_n=9), st.floats(1e-3, 3))
def test_exhaustive_kernel_matches_numpy_reference_at_six_to_nine_samples(case, beta):
    """The exhaustive kernel at the sizes where its subset loops run vectorised (blocks of
    32 subsets and more; the cases above stop at 5 samples): the NumPy reference's decision
    and value, with and without new samples, floors and finished distributions. ``beta`` is
    kept off the tiny values at which chains of near-ties within TIE_TOL could make the
    kernels' incremental tie rule and the reference's global one pick different optima."""
    from dataclasses import replace

    state, cfg = case
    cfg = replace(cfg, search="exhaustive", beta=beta)
    d, dn = plan(state, cfg), plan_numpy(state, cfg)
    assert d.strategy == dn.strategy
    assert d.q == pytest.approx(dn.q, abs=1e-9)
    assert strategy_value_reference(state, cfg, d.strategy, d.normalizer) == pytest.approx(d.q, abs=1e-9)


@given(planning_cases(max_n=4))
def test_exhaustive_is_the_max_over_the_class_and_dominates_restricted_searches(case):
    state, cfg = case
    from dataclasses import replace

    ex = replace(cfg, search="exhaustive", ordering="ours")
    d = plan(state, ex)
    values = [strategy_value(state, ex, s, d.normalizer)
              for s in enumerate_strategies(state.n_unfinished, ex, state.n_created)]
    assert d.q == pytest.approx(max(values), abs=1e-12)
    for search in ("two-prefix", "top-k"):
        assert plan(state, replace(cfg, search=search), d.normalizer).q <= d.q + 1e-12


def test_stop_when_costs_dominate_and_continue_when_free(rng):
    rewards, lengths = LAYOUTS["binary_ticks"]
    joints = np.zeros((2, 2, 5))
    joints[:, 1, 2] = 1.0  # certain success in 3 ticks
    root = joints[0]
    free = PlannerConfig(rewards, lengths, alpha=0.5, beta=0.0, cap=2)
    st_ = PlanningState(joints=joints, root_joint=root, n_created=2)
    d = plan(st_, free)
    assert not d.stop and d.q == pytest.approx(1.0)
    # ties prefer the larger kept set
    assert d.strategy.keep == (0, 1)
    costly = PlannerConfig(rewards, lengths, alpha=0.5, beta=10.0, cap=2)
    assert plan(st_, costly).stop


def test_two_prefix_readds_samples_that_do_not_lower_value():
    rewards, lengths = LAYOUTS["binary_ticks"]
    joints = np.zeros((3, 2, 5))
    joints[:, 1, 0] = 1.0  # all certain, finish next tick
    cfg = PlannerConfig(rewards, lengths, alpha=0.0, beta=0.1, cap=3, search="two-prefix")
    d = plan(PlanningState(joints=joints, root_joint=joints[0], n_created=3), cfg)
    # with alpha = 0 extra parallel samples cost nothing: all are kept
    assert d.strategy.keep == (0, 1, 2)


def test_normalizer_options():
    rewards, lengths = LAYOUTS["binary_ticks"]
    root = np.zeros((2, 5))
    root[1, 3] = 1.0  # 4 ticks
    j = np.zeros((1, 2, 5))
    j[0, 0, 0] = 1.0  # 1 tick left
    st_ = PlanningState(joints=j, root_joint=root, n_created=2, elapsed=np.array([2.0]),
                        finished_lengths=np.array([6.0]))
    mk = lambda kind: PlannerConfig(rewards, lengths, normalizer=kind)  # noqa: E731
    assert normalizer_value(mk("fixed"), st_) == pytest.approx(4.0)
    assert normalizer_value(mk("raw"), st_) == 1.0
    assert normalizer_value(mk("state"), st_) == pytest.approx(((2 + 1) + 6) / 2)


@pytest.mark.parametrize("kwargs,match", [
    ({"alpha": 1.5}, "alpha"), ({"beta": -1}, "beta"), ({"beta": float("nan")}, "beta"),
    ({"cap": -1}, "cap"), ({"search": "greedy"}, "unknown search"),
    ({"normalizer": "mean"}, "unknown normalizer")])
def test_bad_parameters(kwargs, match):
    rewards, lengths = LAYOUTS["binary_ticks"]
    with pytest.raises(PlannerError, match=match):
        PlannerConfig(rewards, lengths, **kwargs)


def test_bad_states_and_strategies():
    rewards, lengths = LAYOUTS["binary_ticks"]
    cfg = PlannerConfig(rewards, lengths, cap=2)
    root = np.full((2, 5), 0.1)
    with pytest.raises(PlannerError, match="shape"):
        plan(PlanningState(joints=np.zeros((1, 2, 4)), root_joint=root, n_created=1), cfg)
    with pytest.raises(PlannerError, match="n_created"):
        plan(PlanningState(joints=np.full((2, 2, 5), 0.1), root_joint=root, n_created=1), cfg)
    ok = PlanningState(joints=np.full((1, 2, 5), 0.1), root_joint=root, n_created=1)
    with pytest.raises(PlannerError, match="cap"):
        strategy_value(ok, cfg, Strategy(keep=(0,), new=5, horizon_index=0))
    with pytest.raises(PlannerError, match="keeps"):
        strategy_value(ok, cfg, Strategy(keep=(3,), new=0, horizon_index=0))


@given(planning_cases(max_n=0))
def test_initial_k_equals_exhaustive_search_at_the_start(case):
    from dataclasses import replace

    from metamdp.planner import initial_k

    state, cfg = case
    state = replace(state, finished=None)  # initial-K takes a floor only
    cfg = replace(cfg, search="exhaustive")
    d_norm = normalizer_value(replace(cfg, normalizer="fixed"), state)
    a = initial_k(state.root_joint, cfg, state.n_created, state.floor_index, normalizer=d_norm)
    b = plan(state, cfg, normalizer=d_norm)
    assert a.q == pytest.approx(b.q, abs=1e-12)
    assert a.strategy.new == b.strategy.new


def test_ziprc_reuses_per_question_only_what_did_not_change():
    """ZipRC keeps the finished factor and the fixed normaliser between epochs: a sample
    that finishes, or a new question's root (no reset), must give what a fresh policy gives."""
    from metamdp.policies import Action, ZipRC
    from metamdp.policies.base import SampleView, View

    rewards, lengths = LAYOUTS["official7x8"]
    B, L = rewards.size, lengths.size
    g = np.random.default_rng(5)
    joints = [g.dirichlet(np.full(B * L, 0.3)).reshape(B, L) for _ in range(4)]
    roots = [g.dirichlet(np.ones(B * L)).reshape(B, L), np.zeros((B, L))]
    roots[1][:, 1] = 1.0 / B  # a short fresh sample: a much smaller fixed normaliser
    for normalizer in ("fixed", "state"):
        kw = dict(search="exhaustive", branching=True, cap=6, beta=0.05, normalizer=normalizer)
        pol = ZipRC(**kw)
        samples = [SampleView(sid=i, joint=joints[i], elapsed_ticks=i) for i in range(4)]
        seen = set()
        for step, (n_done, root) in enumerate([(0, roots[0]), (0, roots[0]), (1, roots[0]),
                                               (2, roots[0]), (2, roots[1])]):
            for s in samples[:n_done]:
                s.status, s.value = "finished", float(rewards.values[s.sid + 3])
            view = View(unfinished=samples[n_done:], finished=samples[:n_done], root_joint=root,
                        n_created=4, epoch=step, rewards=rewards, lengths=lengths)
            pol._since = pol.interval  # plan at every call
            got, want = pol(view), ZipRC(**kw)(view)
            assert isinstance(got, Action) and got == want
            seen.add((tuple(got.keep), got.new, got.branch_from))
        assert len(seen) > 1  # the views differ enough to change the decision
