"""Exact evaluation and the dominance theorem (spec section 4), against exact oracles."""

import itertools
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from metamdp.exact import (executed_strategy_value, exact_joints, optimal_value,
                           optimal_value_discrete_dp, planning_state, policy_value, ziprc_policy)
from metamdp.planner import enumerate_strategies, strategy_value
from simulators.chain_world import WorldShape, random_world
from simulators.theorem_check import best_strategy, exact_problem, random_instance

from .world_strategies import theorem_instances

seeds = st.integers(0, 2**31 - 1)


def _paths(proc, node):
    """Every path from ``node`` to a terminal: (probability, ticks, value index)."""
    if proc.is_terminal(node):
        yield 1.0, 0, int(proc.value_index[node])
        return
    for m, p in proc.successors[node]:
        for q, t, v in _paths(proc, m):
            yield p * q, t + 1, v


@given(seeds)
def test_exact_joints_equal_path_enumeration(seed):
    world = random_world(seed, WorldShape(max_depth=4, width=3))
    proc = world.process
    joints = exact_joints(proc)
    for n in range(proc.n_nodes):
        if proc.is_terminal(n):
            continue
        want = np.zeros_like(joints[n])
        for p, t, v in _paths(proc, n):
            want[v, t - 1] += p
        np.testing.assert_allclose(joints[n], want, atol=1e-12)
        assert joints[n].sum() == pytest.approx(1.0)


@given(seeds, st.integers(1, 3), st.floats(0, 1), st.floats(0, 1.5), st.booleans())
def test_closed_form_equals_executed_value_of_every_strategy(seed, extra, alpha, beta, branching):
    world = random_world(seed, WorldShape(max_depth=3, width=2, max_samples_in_progress=2))
    problem = exact_problem(world, len(world.samples) + extra, alpha, beta, branching=branching)
    ps = planning_state(problem, problem.start)
    for s in enumerate_strategies(len(problem.start.unfinished), problem.config,
                                  problem.start.n_created):
        q = strategy_value(ps, problem.config, s, normalizer=problem.d_objective)
        assert q == pytest.approx(executed_strategy_value(problem, s), abs=1e-10), s


@given(theorem_instances())
def test_dominance_theorem_exact_setting(case):
    """V* >= V_ZIPRC >= W with exhaustive search, fixed D and exact predictions (worlds built
    part by part, so a counterexample would shrink to a small world)."""
    world, cap, alpha, beta = case
    problem = exact_problem(world, cap, alpha, beta)
    w, _ = best_strategy(problem)
    v, _ = policy_value(problem, ziprc_policy(problem))
    v_star, _ = optimal_value(problem)
    assert v >= w - 1e-9
    assert v_star >= v - 1e-9


@given(seeds)
def test_dominance_theorem_on_generator_worlds(seed):
    """The same property on the generator that ``ziprc theorem`` uses."""
    inst = random_instance(seed, max_depth=4, max_samples=3)
    problem = exact_problem(inst.world, inst.cap, inst.alpha, inst.beta)
    w, _ = best_strategy(problem)
    v, _ = policy_value(problem, ziprc_policy(problem))
    assert v >= w - 1e-9
    assert optimal_value(problem)[0] >= v - 1e-9


@given(seeds)
def test_optimal_value_agrees_with_quantecon_discrete_dp(seed):
    inst = random_instance(seed, max_depth=3, max_samples=2)
    problem = exact_problem(inst.world, min(inst.cap, 3), inst.alpha, inst.beta)
    v_star, _ = optimal_value(problem)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        v_dp = optimal_value_discrete_dp(problem)
    assert v_dp == pytest.approx(v_star, abs=1e-10)


def test_ziprc_without_costs_finishes_every_sample():
    """beta = 0: ZIP-RC runs all cap samples to the end: the value is E[max of cap samples]."""
    world = random_world(7, WorldShape(max_depth=3, width=2, max_samples_in_progress=0))
    problem = exact_problem(world, 3, 0.5, 0.0)
    v, _ = policy_value(problem, ziprc_policy(problem))
    proc = world.process
    root = exact_joints(proc)[proc.root].sum(axis=1)
    values = proc.rewards.values
    cdf = np.cumsum(root)
    want = sum(values[k] * (cdf[k] ** 3 - (cdf[k - 1] ** 3 if k else 0.0)) for k in range(values.size))
    assert v == pytest.approx(want, abs=1e-12)
