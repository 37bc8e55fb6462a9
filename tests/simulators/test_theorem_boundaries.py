"""Where the dominance theorem stops holding (spec section 6): each broken assumption has a
world, found by search and kept here, where ZIP-RC falls below the best predefined strategy.
The violation is re-checked exactly; the exact setting never violates."""

import json
from pathlib import Path

import pytest

from simulators.theorem_check import HOLDING, VARIANTS, evaluate, instance_from_dict, random_instance

REGRESSIONS = Path(__file__).parents[1] / "regressions"
BROKEN = [v for v in VARIANTS if v not in HOLDING]


@pytest.mark.parametrize("variant", BROKEN)
def test_regression_world_violates_exactly(variant):
    data = json.loads((REGRESSIONS / f"{variant}.json").read_text())
    inst = instance_from_dict(data["instance"])
    r = evaluate(inst, variant, with_optimal=False)
    assert r.violated, f"{variant}: V_ZIPRC {r.v_ziprc} not below W {r.best_strategy_value}"
    assert r.best_strategy_value == pytest.approx(data["expected"]["best_strategy_value"], abs=1e-9)
    assert r.v_ziprc == pytest.approx(data["expected"]["v_ziprc"], abs=1e-9)
    # the same world under the theorem's assumptions is fine (dependent samples: another world)
    if variant != "dependent_samples":
        ok = evaluate(inst, "exact", with_optimal=True)
        assert not ok.violated and ok.v_optimal >= ok.v_ziprc - 1e-9


def test_search_finds_a_state_normalizer_violation():
    """A fresh search (not the stored example) finds the state-normaliser failure."""
    for seed in range(400):
        r = evaluate(random_instance(seed), "state_normalizer", with_optimal=False)
        if r.violated:
            exact = evaluate(random_instance(seed), "exact", with_optimal=False)
            assert not exact.violated
            assert r.best_strategy_value == pytest.approx(exact.best_strategy_value)
            return
    pytest.fail("no state-normaliser violation in 400 random worlds")


def test_top_k_fails_because_it_is_not_closed_under_continuation():
    """The stored top-k world: a sample at the root and one a tick ahead, both certain to
    succeed; top-1 by value keeps the slower one, so ZIP-RC must advance both."""
    data = json.loads((REGRESSIONS / "top_k_value.json").read_text())
    inst = instance_from_dict(data["instance"])
    assert len(inst.world.nodes) == 3
    r = evaluate(inst, "top_k_value", with_optimal=False)
    assert r.v_ziprc < 0 < r.best_strategy_value


def test_a_violation_only_the_every_state_check_sees():
    """The state normaliser: above W at the start, far below W(s) at a state ZIP-RC reaches."""
    data = json.loads((REGRESSIONS / "state_normalizer_midrun.json").read_text())
    inst = instance_from_dict(data["instance"])
    r = evaluate(inst, "state_normalizer", with_optimal=False)
    assert r.start_margin == pytest.approx(data["expected"]["start_margin"], abs=1e-9) and r.start_margin > 0
    assert r.margin == pytest.approx(data["expected"]["worst_margin"], abs=1e-9) and r.violated
    assert r.states_checked > 1
    assert not evaluate(inst, "exact", with_optimal=False).violated
