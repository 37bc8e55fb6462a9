"""Synthetic suites: exact posterior joints against brute-force Bayes, samplers against their
distributions (Monte Carlo with tolerances from the sample size)."""

import numpy as np
import pytest
from scipy import special

from simulators.kernels.samples import record_sample
from simulators.runner import episode_seeds
from simulators.synthetic import (SUITES, Corruption, WorldError, build_world, exact_joint, ndtri,
                                  survival_table, survival_tables_reference)

from ..oracles import exact_joint_reference


@pytest.fixture(scope="module")
def world():
    return build_world("mixed", n_questions=12)


def test_suites_build_and_reject_bad_input():
    for s in SUITES:
        w = build_world(s, n_questions=8)
        assert w.n_questions == 8
        assert np.allclose(w.class_prior.sum(axis=1), 1.0)
        assert np.all((w.correct_prob >= 0) & (w.correct_prob <= 1 + 1e-12))
        # the prior's correctness equals the pass rate: sum_k pi_k P(correct | k) = p_q
        assert np.allclose((w.class_prior * w.correct_prob).sum(axis=1), w.pass_rate)
    full = build_world("mixed")
    assert full.n_questions == 1319 + 500 + 40 + 30
    with pytest.raises(WorldError, match="unknown suite"):
        build_world("nope")
    with pytest.raises(WorldError, match="reward_states"):
        build_world("gsm8k", reward_states=3)
    with pytest.raises(WorldError, match="temperature"):
        Corruption(temperature=0)


def test_hard_questions_and_failures_are_longer():
    # without the question-level length factor, length grows strictly with difficulty
    w = build_world("math500", n_questions=50, length_spread=0.0)
    order = np.argsort(w.difficulty, kind="stable")
    assert np.all(np.diff(w.mean_ticks[order]) >= 0)
    assert w.mean_ticks[order][-1] > w.mean_ticks[order][0]
    # value-0 samples have longer medians than value-1 samples
    assert np.all(w.log_median[:, 0] > w.log_median[:, -1])


def test_survival_table_matches_scipy(world):
    out = np.empty((world.values.size, world.t_max + 1))
    ref = survival_tables_reference(world.log_median, world.sigma, world.t_max)
    for q in (0, 5, 11):
        survival_table(world.log_median[q], world.sigma[q], world.t_max, out)
        np.testing.assert_allclose(out, ref[q], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("q,t,X", [(0, 0, 0.0), (3, 5, 1.3), (7, 40, -2.0), (11, 120, 4.0), (9, 300, 0.5)])
def test_exact_joint_equals_brute_force_bayes(world, q, t, X):
    B, L = world.values.size, world.r_lo.size
    surv = np.empty((B, world.t_max + 1))
    survival_table(world.log_median[q], world.sigma[q], world.t_max, surv)
    out = np.empty((B, L))
    exact_joint(world.class_prior[q], world.signal_mean[q], surv, world.r_lo, world.r_hi, t, X,
                np.empty(B), out)
    ref = exact_joint_reference(world, q, t, X)
    np.testing.assert_allclose(out, ref, atol=1e-10)
    assert abs(out.sum() - 1) < 1e-12


def test_ndtri_matches_scipy():
    p = np.concatenate([np.linspace(1e-9, 1 - 1e-9, 2001), [1e-300, 1e-12, 0.02425, 1 - 0.02425]])
    got = np.array([ndtri(x) for x in p])
    np.testing.assert_allclose(got, special.ndtri(p), rtol=1e-9, atol=1e-9)


def test_predictions_are_calibrated_monte_carlo():
    """Among samples still running at tick t, the average predicted reward marginal equals the
    empirical distribution of their final value (the joint is the exact posterior)."""
    w = build_world("gsm8k", n_questions=5)
    q = 2
    n = 3000
    seeds = episode_seeds(123, n)
    t = 6
    preds, finals, rem_pred, rem_true = [], [], [], []
    edges = np.asarray(w.length_edges)
    for e in range(n):
        joints, k, length, correct, answer = record_sample(
            0, seeds[e], q, w.values, w.class_prior, w.correct_prob, w.log_median, w.sigma,
            w.signal_mean, w.distractor_cdf, w.r_lo, w.r_hi, int(w.t_max))
        if length > t:
            preds.append(joints[t].sum(axis=1))
            finals.append(k)
            rem_pred.append(joints[t].sum(axis=0))
            rem_true.append(np.searchsorted(edges[1:-1], (length - t) * w.delta, side="right"))
    preds = np.array(preds)
    m = preds.shape[0]
    assert m > 1000
    emp = np.bincount(finals, minlength=w.values.size) / m
    mean_pred = preds.mean(axis=0)
    # binomial standard error of each empirical frequency; 5 sigma
    se = np.sqrt(mean_pred * (1 - mean_pred) / m) + 1e-9
    assert np.all(np.abs(emp - mean_pred) < 5 * se + 1e-3), (emp, mean_pred)
    emp_l = np.bincount(rem_true, minlength=edges.size - 1) / m
    mp_l = np.array(rem_pred).mean(axis=0)
    se_l = np.sqrt(mp_l * (1 - mp_l) / m) + 1e-9
    assert np.all(np.abs(emp_l - mp_l) < 5 * se_l + 1e-3), (emp_l, mp_l)


# --------------------------------------------------------------------------- world knobs


KNOBS = dict(unsolvable=0.1, value_share=0.6, length_spread=0.5, high_tilt=1.0, low_tilt=0.5)


def test_knobs_keep_the_prior_and_the_pass_rate():
    w = build_world("mixed", n_questions=60, **KNOBS)
    assert build_world("gsm8k", n_questions=5, preset="original").specs[0].value_share == 0.0
    assert build_world("gsm8k", n_questions=5).specs[0].value_share > 0  # the fitted default
    with pytest.raises(WorldError, match="unknown world preset"):
        build_world("gsm8k", preset="gpt5")
    assert np.allclose(w.class_prior.sum(axis=1), 1.0)
    assert np.allclose((w.class_prior * w.correct_prob).sum(axis=1), w.pass_rate)
    # unsolvable: that share of each benchmark's questions has pass rate exactly 0
    for s in ("gsm8k", "aime24"):
        ws = build_world(s, n_questions=50, unsolvable=0.1)
        assert (ws.pass_rate == 0).sum() == 5
        assert np.all(ws.correct_prob[ws.pass_rate == 0] == 0)
    with pytest.raises(WorldError, match="value_share"):
        build_world("gsm8k", n_questions=4, value_share=1.5)
    with pytest.raises(WorldError, match="unsolvable"):
        build_world("gsm8k", n_questions=4, unsolvable=1.0)


def test_value_share_removes_within_question_ranking_only():
    from simulators.worldfit import head_metrics

    base = head_metrics(build_world("aime24", n_questions=30, preset="original"))
    half = head_metrics(build_world("aime24", n_questions=30, preset="original", value_share=0.5))
    full = head_metrics(build_world("aime24", n_questions=30, preset="original", value_share=1.0))
    assert base["auroc_within"] > half["auroc_within"] > full["auroc_within"]
    assert full["auroc_within"] == pytest.approx(0.5, abs=1e-12)
    # across questions the value still tracks difficulty
    assert full["auroc_pooled"] > 0.6


def test_length_spread_is_a_question_factor_independent_of_difficulty():
    n = 400
    w0 = build_world("math500", n_questions=n, length_spread=0.0)
    w1 = build_world("math500", n_questions=n, length_spread=0.5)
    resid = w1.log_median[:, -1] - w0.log_median[:, -1]
    # the added log-length factor has the asked spread and no relation with difficulty
    assert resid.std() == pytest.approx(0.5, rel=0.05)
    assert abs(np.corrcoef(resid, w1.difficulty)[0, 1]) < 4 / np.sqrt(n)


def test_tilts_sharpen_the_value_profiles():
    from simulators.worldfit import head_metrics, table1_rates

    a = head_metrics(build_world("mixed", n_questions=40, preset="original"))
    b = head_metrics(build_world("mixed", n_questions=40, preset="original", high_tilt=1.0,
                                 low_tilt=1.0))
    assert b["tpr"] > a["tpr"] and b["tnr"] > a["tnr"]
    r = table1_rates(0.91, 0.88, 0.82)
    # the rates reproduce Table 1's three numbers
    p, s, t = r["base_rate"], r["tpr"], r["tnr"]
    assert p * s + (1 - p) * t == pytest.approx(0.88)
    assert 2 * p * s / (p * s + p + (1 - p) * (1 - t)) == pytest.approx(0.91)


@pytest.mark.parametrize("q,t,X", [(2, 0, 0.0), (5, 9, 1.1), (11, 60, -1.5)])
def test_exact_joint_stays_exact_with_every_knob(q, t, X):
    """The knobs change per-question arrays only; the posterior is still exact Bayes."""
    w = build_world("mixed", n_questions=12, **KNOBS)
    B, L = w.values.size, w.r_lo.size
    surv = np.empty((B, w.t_max + 1))
    survival_table(w.log_median[q], w.sigma[q], w.t_max, surv)
    out = np.empty((B, L))
    exact_joint(w.class_prior[q], w.signal_mean[q], surv, w.r_lo, w.r_hi, t, X, np.empty(B), out)
    np.testing.assert_allclose(out, exact_joint_reference(w, q, t, X), atol=1e-10)


def test_correctness_given_value_matches_the_world_monte_carlo():
    """With value_share, P(correct | final value state) drawn by the sampler equals the
    world's correct_prob (binomial 5-sigma per state)."""
    w = build_world("aime24", n_questions=6, value_share=0.6)
    q = 3
    n = 6000
    seeds = episode_seeds(7, n)
    ks, cs = [], []
    for e in range(n):
        _, k, _, correct, _ = record_sample(
            0, seeds[e], q, w.values, w.class_prior, w.correct_prob, w.log_median, w.sigma,
            w.signal_mean, w.distractor_cdf, w.r_lo, w.r_hi, int(w.t_max))
        ks.append(k)
        cs.append(correct)
    ks, cs = np.array(ks), np.array(cs, dtype=float)
    for k in range(w.values.size):
        m = (ks == k).sum()
        if m < 100:
            continue
        p = w.correct_prob[q, k]
        assert abs(cs[ks == k].mean() - p) < 5 * np.sqrt(p * (1 - p) / m) + 1e-9, (k, p)


def test_start_tv_of_an_exact_head_is_the_sampling_floor():
    from simulators.worldfit import start_tv

    w = build_world("amc23", n_questions=10)
    floor64 = start_tv(w, rollouts=64)
    assert 0.05 < floor64 < 0.46  # Table 1's 0.46 is well above what 64 rollouts alone give
    # the floor shrinks like 1/sqrt(rollouts): the predicted joint is the sampled one
    assert start_tv(w, rollouts=64 * 400) < floor64 / 10
