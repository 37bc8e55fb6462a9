"""The numbers the LLM backend publishes, against cases computed by hand: start TV, end F1 /
accuracy / recall on incorrect, AUROC (pooled and within question), ECE, and the matched-cost
interpolation against majority voting."""

import numpy as np
import pytest

from llm_backend.evaluate import auroc, correctness_joint, ece, prediction_metrics, within_question_auroc
from metamdp.grids import LengthGrid

LENGTHS = LengthGrid.binned((0, 4, 8), delta=4)   # bin 0: 0-3 tokens, bin 1: 4+ tokens


def _end(v):
    """A 2x2 joint whose E[value] (reward values 0, 1) is ``v``."""
    return [[(1 - v) / 2, (1 - v) / 2], [v / 2, v / 2]]


def _rec(qid, correct, n, start, end_v):
    mid = [[0.25, 0.25], [0.25, 0.25]]
    joints = [start] + [mid] * (n - 2) + [_end(end_v)] if n >= 2 else [start]
    return {"qid": qid, "steps": 1, "correct": correct, "n_tokens": n,
            "joints": np.asarray(joints, dtype=np.float64)}


START_A = [[0.1, 0.2], [0.3, 0.4]]
START_B = [[0.0, 0.0], [0.5, 0.5]]
RECS = [
    _rec("A", True, 2, START_A, 0.9),    # right, bin 0
    _rec("A", False, 6, START_A, 0.6),   # wrong, bin 1
    _rec("B", True, 5, START_B, 0.4),    # right, bin 1
    _rec("B", True, 3, START_B, 0.95),   # right, bin 0
]


def test_prediction_metrics_hand_computed():
    m = prediction_metrics(RECS, [0.0, 1.0], LENGTHS, seed=0)
    # A: empirical joint [[0, .5], [.5, 0]] -> TV = (.1 + .3 + .2 + .4) / 2 = .5;
    # B: empirical joint [[0, 0], [.5, .5]] equals the prediction -> TV 0
    assert m["start_tv"] == pytest.approx(0.25)
    assert [q["tv"] for q in m["per_question"]] == pytest.approx([0.5, 0.0])
    # threshold 0.5 on end values (.9, .6, .4, .95) vs correct (T, F, T, T): tp 2, fp 1, fn 1, tn 0
    assert m["end_f1"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    assert m["end_accuracy"] == pytest.approx(0.5)
    assert m["end_recall_incorrect"] == pytest.approx(0.0)
    # pooled AUROC: the wrong .6 beats .4 only -> 2 of 3 pairs
    assert m["end_auroc"] == pytest.approx(2 / 3)
    # within question: only A has both kinds, and its right sample scores higher
    assert m["within_question_auroc"] == pytest.approx(1.0)
    assert m["within_question_auroc_questions"] == 1
    # ECE: bin 9 holds .9 and .95 (mean .925, freq 1), bin 6 .6 (freq 0), bin 4 .4 (freq 1)
    assert m["ece_end"] == pytest.approx((2 * 0.075 + 0.6 + 0.6) / 4)
    assert m["accuracy_of_rollouts"] == pytest.approx(0.75)


def test_start_auroc_and_tv_marginals():
    m = prediction_metrics(RECS, [0.0, 1.0], LENGTHS, seed=0)
    # start values: A .7 (both rollouts), B 1.0 (both); right {.7, 1, 1} vs wrong {.7}: 0.5 + 1 + 1 of 3
    assert m["start_auroc"] == pytest.approx(2.5 / 3)
    # reward marginal of A: predicted (.3, .7) vs empirical (.5, .5) -> .2; B: 0
    assert m["start_tv_reward_marginal"] == pytest.approx(0.1)
    # length marginal of A: predicted (.4, .6) vs empirical (.5, .5) -> .1; B: (.5, .5) both -> 0
    assert m["start_tv_length_marginal"] == pytest.approx(0.05)


def test_value_head_start_tv_reads_values_as_correctness():
    # a 3-state value head (values 0, .5, 1): state .5 splits half right, half wrong
    p = np.array([[0.2, 0.0], [0.4, 0.2], [0.0, 0.2]])
    assert correctness_joint(p, [0.0, 0.5, 1.0]) == pytest.approx(np.array([[0.4, 0.1], [0.2, 0.3]]))
    assert correctness_joint(np.array(START_A), [0.0, 1.0]) == pytest.approx(np.array(START_A))
    recs = [dict(r, joints=np.concatenate([np.asarray(r["joints"])[:, :1], np.zeros((len(r["joints"]), 1, 2)),
                                          np.asarray(r["joints"])[:, 1:]], axis=1)) for r in RECS]
    # the same joints with an empty middle state: the same start TV as the 2-state head
    m = prediction_metrics(recs, [0.0, 0.5, 1.0], LENGTHS, seed=0)
    assert m["start_tv"] == pytest.approx(0.25)
    # question B predicted all at value .5 (both lengths): projected [[.25, .25], [.25, .25]]
    # against its empirical [[0, 0], [.5, .5]] -> TV .5
    recs[2]["joints"][0] = recs[3]["joints"][0] = np.array([[0, 0], [0.5, 0.5], [0, 0]])
    m = prediction_metrics(recs, [0.0, 0.5, 1.0], LENGTHS, seed=0)
    assert [q["tv"] for q in m["per_question"]] == pytest.approx([0.5, 0.5])


def test_auroc_ties_and_degenerate():
    assert auroc(np.array([0.5, 0.5]), np.array([1, 0])) == pytest.approx(0.5)
    assert auroc(np.array([0.2, 0.9, 0.4]), np.array([0, 1, 1])) == pytest.approx(1.0)
    assert auroc(np.array([0.9, 0.2, 0.4]), np.array([0, 1, 1])) == pytest.approx(0.0)
    assert np.isnan(auroc(np.array([0.1, 0.2]), np.array([1, 1])))


def test_within_question_auroc_ignores_between_question_signal():
    # question 1 is easy (high scores), question 2 hard (low scores); inside each question the
    # score ranks right below wrong, so the within-question AUROC is 0 while the pooled is high
    score = np.array([0.9, 0.95, 0.1, 0.15, 0.12])
    label = np.array([1, 0, 1, 0, 0], dtype=bool)
    group = np.array(["e", "e", "h", "h", "h"])
    a, used = within_question_auroc(score, label, group)
    assert used == 2 and a == pytest.approx(0.0)
    assert auroc(score, label) == pytest.approx(2 / 6)
    # ties count half; a question with only right samples is skipped
    a, used = within_question_auroc(np.array([0.5, 0.5, 0.3]), np.array([1, 0, 1], bool), np.array([0, 0, 1]))
    assert (a, used) == (0.5, 1)
    a, used = within_question_auroc(np.array([0.5, 0.3]), np.array([1, 1], bool), np.array([0, 1]))
    assert np.isnan(a) and used == 0


def test_ece_table():
    e, table = ece(np.array([0.05, 0.15, 0.15, 0.95]), np.array([0, 1, 0, 1]), bins=10)
    # bin 0: conf .05 freq 0 -> .05; bin 1: conf .15 freq .5 -> .35 (weight 2); bin 9: .05
    assert e == pytest.approx((0.05 + 2 * 0.35 + 0.05) / 4)
    assert table[1] == (pytest.approx(0.15), pytest.approx(0.5), 2)
    assert table[5][2] == 0 and np.isnan(table[5][0])
    # a confidence of exactly 1 falls in the last bin
    e, table = ece(np.array([1.0]), np.array([1]), bins=10)
    assert e == 0.0 and table[9][2] == 1


def _row(label, policy, correct, cost, knob=None):
    """A sampling row whose generation cost per question is ``cost`` (alpha 0, Lbar 1)."""
    from llm_backend.rows import Bootstraps, result_row

    qids = list(range(len(correct)))
    return result_row(label, policy, correct, cost, cost, qids, dict.fromkeys(qids, 1.0), 0.0, Bootstraps(0),
                      knob_name="n" if policy == "mv" else None, knob=knob)


def _mv_rows():
    return [_row("majority N=1", "mv", [1, 0, 0, 0], [1.0] * 4, 1),
            _row("majority N=2", "mv", [1, 1, 0, 0], [2.0] * 4, 2)]


def _matched(rows):
    from llm_backend.rows import Bootstraps, matched_rows

    return matched_rows(rows, Bootstraps(0))


def test_matched_cost_interpolation_hand_computed():
    rows = _mv_rows() + [_row("X", "x", [1, 1, 1, 0], [1.5] * 4), _row("Y", "y", [0, 1, 0, 0], [3.0] * 4)]
    m = {r["label"]: r for r in _matched(rows)}
    assert set(m) == {"X", "Y"}
    # X at cost 1.5: MV per question, the half-half mixture of N=1 and N=2: (1, .5, 0, 0);
    # difference (0, .5, 1, 0)
    assert m["X"]["mv_accuracy"] == pytest.approx(0.375) and m["X"]["mv_knob"] == pytest.approx(1.5)
    assert m["X"]["delta_vs_mv"] == pytest.approx(0.375)
    lo, hi = m["X"]["delta_vs_mv_ci"]
    assert 0.0 <= lo <= 0.375 <= hi <= 1.0
    assert not m["X"]["extrapolated"]
    # Y beyond MV's largest cost: compared with MV's most accurate N, flagged as extrapolated
    assert m["Y"]["extrapolated"]
    assert m["Y"]["mv_accuracy"] == pytest.approx(0.5)
    assert m["Y"]["delta_vs_mv"] == pytest.approx(-0.25)


def test_matched_cost_skips_a_dominated_majority_vote():
    """MV N=2 costs more than N=1 and is less accurate: at its cost MV is the mixture of N=1 and
    N=3 (what a randomised MV achieves there), not N=2 itself."""
    rows = [_row("majority N=1", "mv", [1, 1, 0, 0], [1.0] * 4, 1),
            _row("majority N=2", "mv", [1, 0, 0, 0], [2.0] * 4, 2),
            _row("majority N=3", "mv", [1, 1, 1, 1], [3.0] * 4, 3),
            _row("X", "x", [1, 1, 1, 0], [2.0] * 4), _row("C", "c", [1, 0, 0, 0], [0.5] * 4)]
    m = {r["label"]: r for r in _matched(rows)}
    assert m["X"]["mv_accuracy"] == pytest.approx(0.75) and m["X"]["mv_knob"] == pytest.approx(2.0)
    assert m["X"]["delta_vs_mv"] == pytest.approx(0.0) and not m["X"]["extrapolated"]
    # cheaper than every N: compared with N=1, flagged
    assert m["C"]["extrapolated"] and m["C"]["mv_accuracy"] == pytest.approx(0.5)


def test_matched_cost_constant_difference_has_no_interval():
    rows = _mv_rows() + [_row("Z", "z", [1, 1, 0, 0], [2.0] * 4)]
    (z,) = _matched(rows)
    # the same outcome as MV on every question: every resample agrees, so no interval
    assert z["delta_vs_mv"] == 0.0 and z["delta_vs_mv_ci"] is None


def test_matched_cost_of_a_row_on_fewer_questions_uses_those_questions():
    # MV on 4 questions, with per-question costs; the row ran on the first 2 questions only
    rows = [_row("majority N=1", "mv", [1, 0, 0, 0], [1.0, 1.0, 3.0, 3.0], 1),
            _row("majority N=2", "mv", [1, 1, 0, 0], [2.0, 2.0, 6.0, 6.0], 2),
            _row("S", "s", [0, 1], [1.5, 1.5])]
    (m,) = _matched(rows)
    # on questions 1-2 MV costs 1 (N=1) and 2 (N=2): at 1.5, MV per question (1, .5) -> .75;
    # on all four questions MV N=1 would cost 2 and the row would look cheaper than MV N=1
    assert m["questions"] == 2
    assert m["mv_accuracy"] == pytest.approx(0.75)
    assert m["delta_vs_mv"] == pytest.approx(-0.25)
    assert not m["extrapolated"]
    with pytest.raises(ValueError, match="more than majority"):
        _matched(rows[:2] + [_row("T", "t", [1] * 5, [1.0] * 5)])


def test_paired_accuracy_change_hand_computed():
    from llm_backend.evaluate import paired_accuracy_change

    before = [{"qid": q, "correct": c} for q, c in [("a", 1), ("a", 0), ("b", 0), ("b", 0), ("c", 1)]]
    after = [{"qid": q, "correct": c} for q, c in [("a", 1), ("a", 1), ("b", 0), ("b", 1), ("d", 1)]]
    r = paired_accuracy_change(before, after)
    # questions a and b only: before (.5, 0), after (1, .5); difference .5 on both
    assert r["questions"] == 2
    assert r["before"] == pytest.approx(0.25) and r["after"] == pytest.approx(0.75)
    # the same difference on every question: every resample agrees, so no interval
    assert r["difference"] == pytest.approx(0.5) and r["ci"] is None
    with pytest.raises(ValueError, match="no question"):
        paired_accuracy_change(before[:1], after[-1:])
