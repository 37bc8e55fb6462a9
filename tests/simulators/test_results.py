"""The results layer (simulators.results): generation cost, the stratified and paired
bootstrap, the matched-cost rule and the row schema, on hand-made inputs with exact answers."""

import numpy as np
import pytest

from simulators.results import (N_BOOT, accuracy_at_cost, best_at_cost, bootstrap_indices, ci,
                                frontier_point, generation_cost, interval, make_row,
                                normalised_costs, paired_ci, per_episode_costs, plan_fields,
                                summarize)
from simulators.kernels.samples import METRICS, N_METRICS


def _metrics(rows):
    m = np.zeros((len(rows), N_METRICS))
    for i, r in enumerate(rows):
        for k, v in r.items():
            m[i, METRICS.index(k)] = v
    return m


def test_generation_cost_on_a_hand_made_metrics_array():
    # episode 0: 30 ticks generated (6 of them an external reward model's), 12 serial, Lbar 10;
    # episode 1: 8 generated, 8 serial, Lbar 4 (one sample, run alone)
    m = _metrics([{"correct": 1, "answered": 1, "gen_ticks": 24, "extra_ticks": 6, "serial_ticks": 12,
                   "lbar_ticks": 10, "started": 3, "pruned_ticks": 5},
                  {"correct": 0, "answered": 1, "gen_ticks": 8, "serial_ticks": 8, "lbar_ticks": 4,
                   "started": 1}])
    correct, compute, latency, gen = per_episode_costs(m, 0.25)
    assert correct.tolist() == [1, 0]
    assert compute.tolist() == [3.0, 2.0] and latency.tolist() == [1.2, 2.0]
    assert gen.tolist() == pytest.approx([0.25 * 3.0 + 0.75 * 1.2, 2.0])
    s = summarize(m, 0.25)
    assert s["accuracy"] == 0.5 and s["pruned"] == pytest.approx(0.25) and s["samples"] == 2.0
    assert s["gen_cost"] == pytest.approx((1.65 + 2.0) / 2)
    # alpha 1: compute only; alpha 0: latency only
    assert generation_cost(3.0, 1.2, 1.0) == 3.0 and generation_cost(3.0, 1.2, 0.0) == 1.2
    c, lat, g = normalised_costs([20, 6], [10, 3], [10, 3], 0.5, extra=[0, 3])
    assert c.tolist() == [2.0, 3.0] and lat.tolist() == [1.0, 1.0] and g.tolist() == [1.5, 2.0]


def test_stratified_bootstrap_keeps_each_stratum_and_its_size():
    strata = np.array([2, 0, 1, 0, 2, 0, 1])      # interleaved on purpose
    boot = bootstrap_indices(strata, 300, seed=4)
    assert boot.shape == (300, 7)
    for b in boot:
        assert sorted(strata[b].tolist()) == sorted(strata.tolist())   # sizes kept in every resample
    # every member of a stratum is drawn somewhere (300 resamples of 2-3 members)
    assert set(boot.ravel().tolist()) == set(range(7))
    np.testing.assert_array_equal(boot, bootstrap_indices(strata, 300, seed=4))   # seeded
    assert bootstrap_indices(strata, N_BOOT).shape == (N_BOOT, 7)


def test_intervals_percentiles_and_degenerate_cases():
    assert interval(np.arange(1001.0)) == [25.0, 975.0]      # numpy's linear percentiles
    assert interval(np.full(50, 0.7)) is None               # zero width: no interval
    assert interval([]) is None
    boot = bootstrap_indices(np.zeros(40, dtype=int), 500, seed=0)
    x = (np.arange(40) % 3 == 0).astype(float)
    lo, hi = ci(x, boot)
    assert lo < x.mean() < hi
    assert ci(np.ones(40), boot) is None                    # every question right
    assert ci([], boot[:, :0]) is None


def test_paired_interval_is_that_of_the_per_question_difference():
    rng = np.random.default_rng(3)
    boot = bootstrap_indices(np.repeat([0, 1], 30), 400, seed=1)
    a = (rng.random(60) < 0.7).astype(float)
    b = a.copy()
    b[:6] = 1 - b[:6]                                        # the arms differ on 6 questions only
    assert paired_ci(a, b, boot) == ci(a - b, boot)
    # identical arms: the difference is 0 on every resample, which is no interval, not [0, 0]
    assert paired_ci(a, a, boot) is None
    # pairing: far tighter than the two accuracies' own intervals
    lo, hi = paired_ci(a, b, boot)
    alo, ahi = ci(a, boot)
    assert hi - lo < ahi - alo


def _members(points):
    """(correct, row) pairs of a toy policy: (knob, cost, per-question correctness)."""
    return [(np.asarray(c, dtype=float), {"knob_name": "n", "knob": k, "gen_cost": cost,
                                          "accuracy": float(np.mean(c))}) for k, cost, c in points]


def test_matched_cost_on_a_toy_frontier():
    # N=1 at cost 1 (50%), N=2 at cost 1.5 (50%, dominated: not more accurate than N=1),
    # N=3 at cost 2 (100%)
    members = _members([(1, 1.0, [1, 0, 1, 0]), (2, 1.5, [1, 0, 0, 1]), (3, 2.0, [1, 1, 1, 1])])
    fp = frontier_point(members, 1.5)
    assert fp["status"] == "interpolated" and fp["weight_lo"] == 0.5
    assert [b["knob"] for b in fp["bracket"]] == [1, 3]        # the dominated N=2 is skipped
    assert fp["correct"].tolist() == [1.0, 0.5, 1.0, 0.5] and fp["knob"] == 2.0
    assert accuracy_at_cost([r for _, r in members], 1.5) == 0.75   # not N=2's 0.5
    assert accuracy_at_cost([r for _, r in members], 1.25) == 0.625
    end = frontier_point(members, 5.0)
    assert end["status"] == "frontier_end" and end["knob"] == 3 and end["correct"].tolist() == [1] * 4
    assert frontier_point(members, 0.5) is None and accuracy_at_cost([r for _, r in members], 0.5) is None
    assert frontier_point(members, 1.0)["correct"].tolist() == [1, 0, 1, 0]


def test_one_row_schema():
    boot = bootstrap_indices(np.zeros(4, dtype=int), 200, seed=0)
    row = make_row("mv", [1, 0, 1, 1], [2.0, 2.0, 4.0, 4.0], [1.0, 1.0, 2.0, 2.0], 0.5, boot,
                   knob_name="n", knob=2, samples=[2] * 4, pruned=[0, 0, 0.5, 0.5], answered=[1] * 4,
                   label="majority N=2")
    assert list(row)[:13] == ["policy", "variant", "knob_name", "knob", "accuracy", "accuracy_ci",
                              "gen_cost", "gen_cost_ci", "compute", "latency", "samples", "pruned",
                              "answered"]
    assert row["accuracy"] == 0.75 and row["gen_cost"] == 2.25 and row["pruned"] == 0.25
    assert row["label"] == "majority N=2" and row["variant"] == ""
    lo, hi = row["gen_cost_ci"]
    assert 1.5 <= lo < hi <= 3.0


def _arm(correct, cost, knob=1):
    row = {"gen_cost": cost, "accuracy": float(np.mean(correct)), "knob_name": "N", "knob": knob}
    return (np.asarray(correct, dtype=np.float64), row)


def test_best_at_cost_ties_and_unreachable_arms():
    q = 200
    boot = bootstrap_indices(np.zeros(q, dtype=int), 500, 0)
    top = np.ones(q)
    one_less = top.copy()
    one_less[7] = 0                       # 1 question of 200 worse: its interval contains 0
    far = top.copy()
    far[:40] = 0                          # 40 of 200 worse: clearly not tied
    arms = {"a": frontier_point([_arm(far, 1.0), _arm(top, 1.2)], 1.4),   # frontier ends at 1.2
            "b": frontier_point([_arm(one_less, 1.4)], 1.4),
            "c": frontier_point([_arm(far, 1.3)], 1.4),
            "d": frontier_point([_arm(top, 2.0)], 1.4)}                   # never that cheap
    out = best_at_cost(arms, boot, 1.4)
    assert out["best"] == "a" and out["arms"]["a"]["status"] == "frontier_end"
    assert out["tied"] == ["a", "b"] and out["unreachable"] == ["d"]
    assert out["arms"]["c"]["delta_vs_best"] == pytest.approx(0.2)
    assert out["arms"]["c"]["delta_vs_best_ci"][0] > 0
    assert out["arms"]["b"]["delta_vs_best_ci"][0] <= 0 < out["arms"]["b"]["delta_vs_best_ci"][1]
    # identical per-question results: tied although no interval can be made
    same = best_at_cost({"x": arms["a"], "y": frontier_point([_arm(top, 1.1)], 1.4)}, boot, 1.4)
    assert same["best"] == "x" and same["tied"] == ["x", "y"]
    assert best_at_cost({"d": None}, boot, 1.4)["best"] is None


def test_plan_fields_utility_versus_accuracy():
    boot = bootstrap_indices(np.zeros(4, dtype=int), 200, 0)
    f = plan_fields([0.5, 0.7, 0.6, 0.4], [0.9, 0.8, 0.9, 1.0], [1.0, 1.0, 5 / 6, 1.0],
                    [1, 0, 1, 1], boot)
    assert f["plan_utility"] == pytest.approx(0.55) and f["plan_value"] == pytest.approx(0.9)
    assert f["best_value"] == pytest.approx((3 + 5 / 6) / 4)
    assert f["value_gap"] == pytest.approx(f["best_value"] - 0.75)
    assert f["plan_error"] == pytest.approx(f["best_value"] - 0.9)
    assert f["planned_questions"] == 4
    # a question whose first decision was not planned (init_k) is left out of the planned means
    g = plan_fields([np.nan, 0.7], [np.nan, 0.8], [1.0, 1.0], [1, 1], boot[:, :2] % 2)
    assert g["planned_questions"] == 1 and g["plan_value"] == pytest.approx(0.8)
    assert g["plan_value_ci"] is None
