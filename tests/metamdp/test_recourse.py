"""The recourse planner (two-stage strategies): Numba vs the NumPy reference from the
definition, the class's maximum, and the closed form against literal execution."""

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metamdp import LengthGrid, PlannerConfig, PlannerError, PlanningState, RewardGrid, Strategy, plan
from metamdp.recourse import (TwoStageStrategy, enumerate_two_stage, plan_recourse,
                              two_stage_value)
from metamdp.recourse_numpy import plan_recourse_numpy, two_stage_value_reference

from .test_planner import planning_cases


def _ours(cfg):
    return replace(cfg, ordering="ours")


@given(planning_cases(max_n=3))
def test_numba_matches_the_reference_from_the_definition(case):
    state, cfg = case
    cfg = _ours(cfg)
    d = plan_recourse(state, cfg)
    dn = plan_recourse_numpy(state, cfg)
    assert d.q == pytest.approx(dn.q, abs=1e-9)
    # the chosen strategy really has the value reported, by both closed forms
    assert two_stage_value(state, cfg, d.plan, d.normalizer) == pytest.approx(d.q, abs=1e-9)
    assert two_stage_value_reference(state, cfg, d.plan, d.normalizer) == pytest.approx(d.q, abs=1e-9)
    assert d.strategy == d.plan.first


@settings(max_examples=50)  # values every strategy of the class one by one
@given(planning_cases(max_n=3))
def test_exhaustive_is_the_max_over_the_larger_class_and_dominates_ziprc(case):
    state, cfg = case
    ex = replace(cfg, search="exhaustive", ordering="ours")
    d = plan_recourse(state, ex)
    values = [two_stage_value(state, ex, s, d.normalizer)
              for s in enumerate_two_stage(state.n_unfinished, ex, state.n_created)]
    assert d.q == pytest.approx(max(values), abs=1e-12)
    # the class contains ZIP-RC's; with no sample left to start it is ZIP-RC's
    z = plan(state, ex, d.normalizer)
    assert d.q >= z.q - 1e-12
    if state.n_created >= ex.cap:
        assert d.q == pytest.approx(z.q, abs=1e-12)
        assert not d.plan.has_second_stage


def test_recourse_values_starting_more_only_if_the_first_fails():
    """A fresh sample succeeds in one tick with probability 1/2, at a compute charge of 0.1
    (alpha = 1, D = 1). One up front: 0.5 - 0.1; two up front: 0.75 - 0.2; one, then a
    second only after a failure: 0.75 - 0.1 - 0.5 * 0.1 = 0.6, the best."""
    rewards, lengths = RewardGrid.binary(), LengthGrid.ticks(2)
    root = np.zeros((2, 2))
    root[0, 0] = root[1, 0] = 0.5
    cfg = PlannerConfig(rewards, lengths, alpha=1.0, beta=0.1, cap=2)
    state = PlanningState(joints=np.zeros((0, 2, 2)), root_joint=root)
    assert plan(state, cfg, normalizer=1.0).q == pytest.approx(0.55)
    d = plan_recourse(state, cfg, normalizer=1.0)
    assert d.q == pytest.approx(0.6)
    assert d.plan == TwoStageStrategy(Strategy(keep=(), new=1, horizon_index=0), tau_index=1,
                                      new2=1, horizon2_index=0)
    assert plan_recourse_numpy(state, cfg, normalizer=1.0).q == pytest.approx(0.6)


def test_bad_second_stages():
    rewards, lengths = RewardGrid.binary(), LengthGrid.ticks(2)
    root = np.full((2, 2), 0.25)
    cfg = PlannerConfig(rewards, lengths, cap=2)
    state = PlanningState(joints=np.zeros((0, 2, 2)), root_joint=root)
    first = Strategy(keep=(), new=1, horizon_index=0)
    with pytest.raises(PlannerError, match="cap 2 allows 1"):
        two_stage_value(state, cfg, TwoStageStrategy(first, 1, 2, 0))
    with pytest.raises(PlannerError, match="tau_index"):
        two_stage_value(state, cfg, TwoStageStrategy(first, 2, 1, 0))
    with pytest.raises(PlannerError, match="first stage"):
        two_stage_value(state, cfg, TwoStageStrategy(Strategy(horizon_index=1), 1, 1, 0))
    with pytest.raises(PlannerError, match="ordering"):
        plan_recourse(state, replace(cfg, ordering="authors"))


# --------------------------------------------------------------------------- exact oracles


def _run_stage(problem, proc, running, best, horizon):
    """Run ``running`` nodes in parallel for at most ``horizon`` ticks from a best finished
    value index ``best``: (expected cost, distribution of the best index at the end)."""
    from metamdp.exact import _advance_outcomes

    dist = {(tuple(sorted(running)), best): 1.0}
    cost, end, t = 0.0, {}, 0
    while dist:
        t += 1
        nxt = {}
        for (run, b0), p in dist.items():
            cost += p * problem.epoch_cost(len(run))
            for moved, q in _advance_outcomes(proc, run):
                b, still = b0, []
                for m in moved:
                    if proc.is_terminal(m):
                        b = max(b, int(proc.value_index[m]))
                    else:
                        still.append(m)
                if not still or t >= horizon:
                    end[b] = end.get(b, 0.0) + p * q
                else:
                    key = (tuple(sorted(still)), b)
                    nxt[key] = nxt.get(key, 0.0) + p * q
        dist = nxt
    return cost, end


def executed_two_stage_value(problem, ts):
    """A two-stage strategy run literally, outcome by outcome (shares no code with the
    closed form): stage 1, then stage 2 from each end state whose best value is below tau."""
    from metamdp.exact import _movers, floor_index

    proc = problem.process
    values = problem.config.rewards.values
    ticks = problem.config.lengths.horizon_ticks
    state = problem.start
    b0 = floor_index(proc, state)
    if ts.first.is_stop:
        return float(values[b0])
    movers, new_nodes = _movers(problem, state, ts.first)
    running = [state.unfinished[i] for i in movers] + list(new_nodes)
    cost, end = _run_stage(problem, proc, running, b0, ticks[ts.first.horizon_index])
    total = -cost
    for b, p in end.items():
        if ts.has_second_stage and b < ts.tau_index:
            c2, end2 = _run_stage(problem, proc, [proc.root] * ts.new2, b,
                                  ticks[ts.horizon2_index])
            total += p * (-c2 + sum(q * values[b2] for b2, q in end2.items()))
        else:
            total += p * values[b]
    return total


@pytest.mark.parametrize("seed", range(12))
def test_closed_form_equals_executed_value_of_every_two_stage_strategy(seed):
    from metamdp.exact import planning_state
    from simulators.chain_world import WorldShape, random_world
    from simulators.theorem_check import exact_problem

    g = np.random.default_rng(seed)
    world = random_world(seed, WorldShape(max_depth=3, width=2, max_samples_in_progress=2,
                                          values=(0.0, 0.5, 1.0) if seed % 2 else (0.0, 1.0),
                                          max_finished=seed % 3 == 0))
    problem = exact_problem(world, len(world.samples) + 2, float(g.uniform()),
                            float(g.uniform(0, 1.5)), branching=bool(seed % 4))
    ps = planning_state(problem, problem.start)
    checked = 0
    for ts in enumerate_two_stage(len(problem.start.unfinished), problem.config,
                                  problem.start.n_created):
        q = two_stage_value(ps, problem.config, ts, normalizer=problem.d_objective)
        assert q == pytest.approx(executed_two_stage_value(problem, ts), abs=1e-10), ts
        checked += ts.has_second_stage
    assert checked > 0


MIN_INFORMATIVE_SHARE = 0.3


def test_recourse_planner_dominates_the_two_stage_class_at_every_reachable_state():
    """The theorem for the larger class: V* >= V_recourse >= W_two-stage at every state the
    recourse planner reaches, on ``ziprc theorem``'s generator; informative in enough of
    them; and where re-planning never changed an action, V_recourse = W exactly (a check of
    the informative flag)."""
    from simulators.theorem_check import evaluate, random_instance

    informative, plain = [], 0
    for seed in range(60):
        r = evaluate(random_instance(seed, max_depth=4, max_samples=3), "recourse")
        assert not r.violated, (seed, r.margin)
        assert r.v_optimal >= r.v_ziprc - 1e-9
        informative.append(r.informative)
        if not r.informative:
            plain += 1
            assert r.v_ziprc == pytest.approx(r.best_strategy_value, abs=1e-12)
    assert plain > 0
    assert sum(informative) / len(informative) >= MIN_INFORMATIVE_SHARE


def test_recourse_dominance_on_worlds_built_part_by_part():
    from hypothesis import assume, target

    from metamdp.exact import policy_value
    from simulators.theorem_check import (best_two_stage, check_all_states, exact_problem,
                                          recourse_policy, replanning_matters_two_stage)

    from .world_strategies import theorem_instances

    seen = []

    @given(theorem_instances(nondegenerate=True))
    def prop(case):
        world, cap, alpha, beta = case
        problem = exact_problem(world, cap, alpha, beta)
        assume(not best_two_stage(problem)[1].is_stop)
        decide = recourse_policy(problem)
        values, decisions = {}, {}
        policy_value(problem, decide, state_values=values, decisions=decisions)
        worst, _, _ = check_all_states(problem, values, {}, best_two_stage)
        seen.append(replanning_matters_two_stage(problem, decide, decisions))
        target(-worst, label="-(V_recourse(s) - W(s))")
        assert worst >= -1e-9

    prop()
    assert len(seen) >= 50, f"only {len(seen)} examples passed the assumptions"
    assert sum(seen) / len(seen) >= MIN_INFORMATIVE_SHARE


def test_greedy_over_the_larger_class_can_end_below_ziprc():
    """The stored world (one path: success at tick 1 w.p. 0.22, else at tick 2 w.p. 0.56;
    cap 2): the best two-stage plan (one sample, a second only after a failure) beats the
    best one-shot plan (two at once), but ZIP-RC re-plans its two-at-once into "stop when
    one succeeds", which no two-stage plan holds, and ends at V*; the recourse planner,
    having started one sample, cannot. Dominance of each over its own class still holds."""
    import json
    from pathlib import Path

    from simulators.theorem_check import evaluate, instance_from_dict

    data = json.loads((Path(__file__).parents[1] / "regressions" / "recourse_below_ziprc.json")
                      .read_text())
    inst, want = instance_from_dict(data["instance"]), data["expected"]
    z, r = evaluate(inst, "exact"), evaluate(inst, "recourse")
    assert r.best_strategy_value > z.best_strategy_value + 1e-3       # W_two-stage > W
    assert r.v_ziprc < z.v_ziprc - 0.02                                 # V_recourse < V_ZIPRC
    assert not z.violated and not r.violated
    assert z.v_ziprc == pytest.approx(z.v_optimal, abs=1e-12)
    for key, got in (("w_ziprc", z.best_strategy_value), ("v_ziprc", z.v_ziprc),
                     ("w_recourse", r.best_strategy_value), ("v_recourse", r.v_ziprc)):
        assert got == pytest.approx(want[key], abs=1e-9), key
