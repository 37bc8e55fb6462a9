"""Utility versus accuracy (issue 20, part 5): what ZIP-RC's planner expected at t = 0
(``plan_utility``, ``plan_value``), the realised best value (``best_state``) and accuracy.

The kernel's numbers are checked against the planner's NumPy reference (the definition,
strategy by strategy); on a world whose final value is correctness the realised best value
*is* the accuracy, on the fitted default world it is not, and the gap is what the planner
cannot see."""

from dataclasses import replace

import numpy as np
import pytest

from metamdp.planner import (
    PlanningState,
    normalizer_value,
    plan_reference,
    strategy_value_reference,
)
from metamdp.policies import ZipRC
from simulators.kernels.samples import METRICS
from simulators.policies import make
from simulators.runner import run_policy
from simulators.study import run_study
from simulators.synthetic import build_world

COL = {k: METRICS.index(k) for k in ("correct", "best_state", "planned", "plan_utility", "plan_value")}


class _Roots(ZipRC):
    """ZIP-RC (on the Python driver: a subclass) that keeps each question's root joint."""

    name = "ziprc_roots"

    def __init__(self, **kw):
        super().__init__(**kw)
        self.roots = []

    def __call__(self, view):
        if view.epoch == 0:
            self.roots.append((view.root_joint.copy(), view.rewards, view.lengths))
        return super().__call__(view)


def test_first_plan_is_the_planners_objective_at_t0():
    world = build_world("mixed", n_questions=6)
    fast = run_policy(world, make("ziprc", beta=0.03), seed=3)
    roots = _Roots(beta=0.03)
    run_policy(world, roots, seed=3)
    assert len(roots.roots) == world.n_questions
    for e, (root, rewards, lengths) in enumerate(roots.roots):
        config = roots.planner_config(rewards, lengths)
        state = PlanningState(joints=np.zeros((0,) + root.shape), root_joint=root)
        d = normalizer_value(config, state)
        dec = plan_reference(state, config, d)
        value = strategy_value_reference(state, replace(config, beta=0.0), dec.strategy, d)
        assert not dec.stop   # the comparison is not about stopping at once
        assert fast[e, COL["planned"]] == 1
        assert fast[e, COL["plan_utility"]] == pytest.approx(dec.q, abs=1e-9)
        assert fast[e, COL["plan_value"]] == pytest.approx(value, abs=1e-9)
        assert fast[e, COL["plan_value"]] > fast[e, COL["plan_utility"]]   # a cost was charged


def test_policies_that_do_not_plan_record_no_plan_but_their_best_value():
    world = build_world("gsm8k", n_questions=5)
    m = run_policy(world, make("bon", n=3), seed=0)
    assert not m[:, [COL["planned"], COL["plan_utility"], COL["plan_value"]]].any()
    # best of N by value: the chosen answer's value is the best value
    assert (m[:, COL["best_state"]] >= 1).any()
    k = run_policy(world, make("ziprc", init_k=2), seed=0)    # t = 0 not planned
    assert not k[:, COL["planned"]].any() and (k[:, COL["best_state"]] >= 1).any()


def test_calibrated_world_best_value_is_accuracy_default_world_is_not():
    # two reward states, no shared value error: the final value is correctness, so the best
    # value found is the accuracy of answering with it, episode by episode
    cal = build_world("mixed", reward_states=2, n_questions=40, value_share=0.0)
    m = run_policy(cal, make("ziprc", beta=0.01), seed=1, episodes_per_question=5)
    assert np.array_equal(cal.values[m[:, COL["best_state"]].astype(int)], m[:, COL["correct"]])
    # the fitted default world: the best value reported overstates correctness
    res = run_study("mixed", alpha=0.1, policies="ziprc", questions=300, episodes=1,
                    progress=False, refine=False, n_boot=300)
    rows = [r for r in res["rows"] if r["policy"] == "ziprc"]
    assert rows and all({"plan_utility", "plan_value", "best_value", "value_gap"} <= set(r) for r in rows)
    assert not any("plan_utility" in r for r in res["rows"] if r["policy"] == "mv")
    cheap = min(rows, key=lambda r: r["knob"])   # the most accurate end of ZIP-RC's frontier
    assert cheap["value_gap_ci"][0] > 0.01
    assert cheap["plan_utility"] < cheap["plan_value"]
