"""Oracles for the exact evaluator that do not share its code paths: a strategy executed
literally through ``policy_value`` vs ``executed_strategy_value``; monotonicity of W and V*
in the cap; a seeded Monte Carlo of ZIP-RC against ``policy_value``; the state guard."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given

from metamdp.exact import (StateLimitError, _movers, canonical, executed_strategy_value,
                           literal_policy, optimal_value, policy_value, ziprc_policy)
from metamdp.planner import enumerate_strategies
from simulators.theorem_check import best_strategy, exact_problem, instance_from_dict, random_instance

from .world_strategies import theorem_instances

REGRESSIONS = Path(__file__).parents[1] / "regressions"


@given(theorem_instances(nondegenerate=True, max_depth=3, max_samples=2))
def test_literal_strategy_through_policy_value_equals_executed_value(case):
    """The same strategy evaluated two ways: as a policy with a clock through the recursion
    over meta-states, and by ``executed_strategy_value``'s tick-by-tick configurations."""
    world, cap, alpha, beta = case
    problem = exact_problem(world, cap, alpha, beta)
    for s in enumerate_strategies(len(problem.start.unfinished), problem.config,
                                  problem.start.n_created):
        v, _ = policy_value(problem, literal_policy(problem, s), with_time=True)
        assert v == pytest.approx(executed_strategy_value(problem, s), abs=1e-10), s


@pytest.mark.parametrize("seed", range(12))
def test_w_and_optimal_value_never_fall_when_the_cap_rises(seed):
    """More samples allowed can only enlarge the strategy class and the action set."""
    inst = random_instance(seed, max_depth=3, max_samples=2)
    prev = None
    for cap in range(inst.cap, inst.cap + 3):
        p = exact_problem(inst.world, cap, inst.alpha, inst.beta)
        cur = (best_strategy(p)[0], optimal_value(p)[0])
        if prev is not None:
            assert cur[0] >= prev[0] - 1e-12 and cur[1] >= prev[1] - 1e-12
        prev = cur


def test_ziprc_value_can_fall_when_the_cap_rises():
    """The theorem bounds V_ZIPRC below by W, not monotonically in the cap: with one more
    sample allowed, the greedy planner starts a sample it would not have, and ends lower
    (while W and V* rise). The stored world is the documented example (docs/theory.md)."""
    data = json.loads((REGRESSIONS / "ziprc_cap_monotonicity.json").read_text())
    inst = instance_from_dict(data["instance"])
    lo, hi = data["caps"]
    got = {}
    for cap in (lo, hi):
        p = exact_problem(inst.world, cap, inst.alpha, inst.beta)
        got[cap] = (best_strategy(p)[0], policy_value(p, ziprc_policy(p))[0], optimal_value(p)[0])
        want = data["expected"][str(cap)]
        assert got[cap] == pytest.approx((want["w"], want["v_ziprc"], want["v_optimal"]), abs=1e-9)
    assert got[hi][1] < got[lo][1] - 1e-3  # V_ZIPRC falls
    assert got[hi][0] >= got[lo][0] and got[hi][2] >= got[lo][2]  # W and V* do not
    assert got[hi][1] >= got[hi][0] - 1e-9  # and the theorem still holds


def _simulate(problem, decisions, decide, rng):
    """One episode of a meta-policy, drawing every advanced sample's next node at random."""
    proc = problem.process
    values = problem.config.rewards.values
    state, total = problem.start, 0.0
    while True:
        d = decisions.get(state)
        if d is None:
            d = decisions[state] = decide(state)
        if d.strategy.is_stop:
            best = max((proc.value_index[n] for n in state.finished), default=0)
            return total + float(values[best])
        movers, new_nodes = _movers(problem, state, d.strategy)
        total -= problem.epoch_cost(len(movers) + len(new_nodes))
        unf = [n for i, n in enumerate(state.unfinished) if i not in set(movers)]
        fin = list(state.finished)
        for node in [state.unfinished[i] for i in movers] + new_nodes:
            succ = proc.successors[node]
            nxt = succ[rng.choice(len(succ), p=[p for _, p in succ])][0]
            (fin if proc.is_terminal(nxt) else unf).append(nxt)
        state = canonical(unf, fin)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_monte_carlo_agrees_with_exact_policy_value(seed):
    """Seeded simulation of ZIP-RC; the tolerance is 5 standard errors of the sample mean
    (a correct evaluator fails this with probability < 1e-6 for a fresh seed)."""
    inst = random_instance(seed + 100, max_depth=4, max_samples=2)
    problem = exact_problem(inst.world, inst.cap, inst.alpha, inst.beta)
    decide = ziprc_policy(problem)
    exact, _ = policy_value(problem, decide)
    rng = np.random.default_rng(seed)
    n = 4000
    decisions: dict = {}
    returns = np.array([_simulate(problem, decisions, decide, rng) for _ in range(n)])
    se = returns.std(ddof=1) / math.sqrt(n)
    assert se > 0  # the world is random enough for the check to mean something
    assert abs(returns.mean() - exact) <= 5 * se + 1e-12


def test_state_guard_fails_fast():
    inst = random_instance(3, max_depth=4, max_samples=2)
    p = exact_problem(inst.world, 40, inst.alpha, inst.beta)
    s = next(s for s in enumerate_strategies(len(p.start.unfinished), p.config, p.start.n_created)
             if s.new == 40 - p.start.n_created)
    with pytest.raises(StateLimitError, match="lower the cap"):
        executed_strategy_value(p, s, max_states=10_000)
    with pytest.raises(StateLimitError, match="raise --max-states"):
        optimal_value(p, max_states=1_000)
