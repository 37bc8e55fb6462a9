"""Finished samples: a known value (a floor) or a predicted reward distribution, folded into
E[max] as a CDF factor; a point mass equals a floor; closed form = executed with floors."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from metamdp import LengthGrid, PlannerConfig, PlannerError, PlanningState, RewardGrid, plan
from metamdp.exact import executed_strategy_value, planning_state
from ..oracles import expected_max_brute_force
from metamdp.planner import enumerate_strategies, finished_cdf, strategy_value, strategy_value_reference
from metamdp.planner_numpy import plan_numpy
from simulators.chain_world import WorldShape, random_world
from simulators.theorem_check import exact_problem

REW, LEN = RewardGrid.seven_state(), LengthGrid.official()


def _state(seed, n=3, n_fin=2, floor=0, finished=None, n_created=None):
    g = np.random.default_rng(seed)
    B, L = REW.size, LEN.size
    joints = g.dirichlet(np.full(B * L, 0.4), size=n).reshape(n, B, L)
    root = g.dirichlet(np.full(B * L, 0.4)).reshape(B, L)
    return PlanningState(joints=joints, root_joint=root, floor_index=floor, finished=finished,
                         n_created=n + n_fin if n_created is None else n_created)


@given(st.integers(0, 2**31 - 1), st.integers(0, 6), st.sampled_from(["exhaustive", "two-prefix"]),
       st.booleans())
def test_point_mass_equals_floor(seed, k, search, authors):
    """A finished sample known to score v_k: as a floor or as a point-mass distribution."""
    onehot = np.zeros((1, REW.size))
    onehot[0, k] = 1.0
    cfg = (PlannerConfig.authors(REW, 0.3, 0.05, cap=6) if authors else
           PlannerConfig(REW, LEN, alpha=0.3, beta=0.05, cap=6, search=search))
    a = plan(_state(seed, floor=k), cfg, normalizer=10.0)
    b = plan(_state(seed, finished=onehot), cfg, normalizer=10.0)
    assert a.q == pytest.approx(b.q, abs=1e-12)
    assert a.strategy == b.strategy


@given(st.integers(0, 2**31 - 1), st.integers(1, 3))
def test_finished_distributions_enter_emax_as_independent_variables(seed, n_fin):
    """Stopping is worth E[max of the finished samples' rewards]: brute-force enumeration."""
    g = np.random.default_rng(seed)
    fin = g.dirichlet(np.full(REW.size, 0.6), size=n_fin)
    floor = int(g.integers(REW.size))
    state = _state(seed, n=0, n_fin=n_fin, floor=floor, finished=fin)
    cfg = PlannerConfig(REW, LEN, alpha=0.5, beta=1e6, cap=n_fin)  # nothing else is affordable
    d = plan(state, cfg, normalizer=1.0)
    want = expected_max_brute_force(REW.values, fin, floor=float(REW.values[floor]))
    assert d.stop and d.q == pytest.approx(want, abs=1e-12)
    assert d.q == pytest.approx(plan_numpy(state, cfg, normalizer=1.0).q, abs=1e-12)
    # and with samples to keep, the Numba kernel matches the definition strategy by strategy
    state2 = _state(seed, n=2, n_fin=n_fin, floor=floor, finished=fin)
    cfg2 = PlannerConfig(REW, LEN, alpha=0.5, beta=0.02, cap=n_fin + 3)
    for s in list(enumerate_strategies(2, cfg2, state2.n_created))[::7]:
        assert strategy_value(state2, cfg2, s, 7.0) == pytest.approx(
            strategy_value_reference(state2, cfg2, s, 7.0), abs=1e-12)


@given(st.integers(0, 2**31 - 1), st.integers(1, 3), st.floats(0, 1), st.floats(0, 1.2),
       st.booleans())
def test_closed_form_equals_executed_value_with_finished_samples(seed, extra, alpha, beta, branching):
    """Worlds whose start lists finished samples (a floor): every strategy's closed form equals
    its literal execution."""
    shape = WorldShape(max_depth=3, width=3, min_width=2, min_distinct_values=2,
                       max_samples_in_progress=2, max_finished=2, values=(0.0, 0.5, 1.0))
    world = random_world(seed, shape)
    problem = exact_problem(world, len(world.samples) + extra, alpha, beta, branching=branching)
    ps = planning_state(problem, problem.start)
    for s in enumerate_strategies(len(problem.start.unfinished), problem.config,
                                  problem.start.n_created):
        q = strategy_value(ps, problem.config, s, normalizer=problem.d_objective)
        assert q == pytest.approx(executed_strategy_value(problem, s), abs=1e-10), s


def test_some_generated_worlds_do_start_with_a_floor():
    """The property above is not vacuous: the shape does produce finished samples with a
    positive value."""
    shape = WorldShape(max_depth=3, width=3, min_width=2, min_distinct_values=2,
                       max_samples_in_progress=2, max_finished=2, values=(0.0, 0.5, 1.0))
    floors = []
    for seed in range(40):
        w = random_world(seed, shape)
        p = exact_problem(w, len(w.samples) + 1, 0.5, 0.1)
        floors.append(planning_state(p, p.start).floor_index)
    assert sum(f > 0 for f in floors) >= 10


def test_bad_finished_distributions():
    cfg = PlannerConfig(REW, LEN, cap=8)
    with pytest.raises(PlannerError, match="one reward distribution of 7 states"):
        plan(_state(0, finished=np.ones((1, 3)) / 3), cfg)
    with pytest.raises(PlannerError, match="sums to"):
        plan(_state(0, finished=np.full((1, 7), 0.2)), cfg)
    with pytest.raises(PlannerError, match="floor_index"):
        finished_cdf(_state(0, floor=9), REW.size)
