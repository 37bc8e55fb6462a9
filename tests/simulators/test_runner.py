"""Episode runner: reproducibility, cost accounting against exact oracles, replay of recorded
traces reproducing the Numba runner tick for tick, Adaptive-Consistency against its package."""

import math

import numpy as np
import pytest

from metamdp.policies import PolicyConfigError
from metamdp.policies.kernels import beta_stop_prob
from simulators.kernels.samples import (M_CORRECT, M_FINISHED, M_GEN, M_PRUNED, M_SERIAL, M_STARTED,
                                        prediction_grid, record_sample)
from simulators.policies import POLICY_NAMES, make
from simulators.replay import REPLAYABLE, ReplayError, ReplayQuestion, record_world, replay_episode
from simulators.runner import episode_seeds, run_policy
from simulators.synthetic import Corruption, build_world
from simulators.traces import read_traces

from ..oracles import beta_stop_probability, pandora_reservation

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def world():
    return build_world("mixed", n_questions=10)


def _samples(world, q, seed, n):
    s = episode_seeds(seed, world.n_questions)[q]
    out = []
    for i in range(n):
        _, k, length, correct, answer = record_sample(
            i, s, q, world.values, world.class_prior, world.correct_prob, world.log_median,
            world.sigma, world.signal_mean, world.distractor_cdf, world.r_lo, world.r_hi,
            int(world.t_max))
        out.append((k, length, correct, answer))
    return out


def test_reproducible_from_seed(world):
    p = make("ziprc", beta=0.02)
    a = run_policy(world, p, seed=5, episodes_per_question=2)
    b = run_policy(world, p, seed=5, episodes_per_question=2)
    c = run_policy(world, p, seed=6, episodes_per_question=2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_threads_give_the_rows_of_one_thread(world):
    """Episodes split over threads (uneven slices) give the rows of the serial loop."""
    from simulators.kernels import run_threads
    from simulators.kernels.samples import N_METRICS, pack_corruption, world_arrays
    from simulators.policies import pack

    _, record = pack(make("ziprc", beta=0.02), world.delta)
    seeds = episode_seeds(4, 3 * world.n_questions)
    qidx = np.repeat(np.arange(world.n_questions), 3)
    args = (record, pack_corruption(Corruption()), seeds, qidx,
            world_arrays(world, *prediction_grid(world, Corruption())), int(world.t_max))
    rows = {}
    for threads in (1, 3):
        rows[threads] = np.zeros((seeds.size, N_METRICS))
        run_threads(*args, rows[threads], threads)
    np.testing.assert_array_equal(rows[1], rows[3])
    np.testing.assert_array_equal(rows[1], run_policy(world, make("ziprc", beta=0.02), seed=4,
                                                      episodes_per_question=3, parallel=False))


def test_majority_vote_costs_and_answer_match_an_oracle(world):
    """MV's metrics from the closed form equal a direct computation on the same samples."""
    n = 5
    m = run_policy(world, make("mv", n=n), seed=3)
    for q in range(world.n_questions):
        ss = _samples(world, q, 3, n)
        lengths = [s[1] for s in ss]
        assert m[q, M_GEN] == sum(lengths) and m[q, M_SERIAL] == max(lengths)
        assert m[q, M_STARTED] == n and m[q, M_PRUNED] == 0 and m[q, M_FINISHED] == n
        counts = {}
        for s in ss:
            counts[s[3]] = counts.get(s[3], 0) + 1
        top = max(counts.values())
        winner = next(s[3] for s in ss if counts[s[3]] == top)  # first-seen among ties
        assert m[q, M_CORRECT] == (1.0 if winner == 0 else 0.0)


def test_pass_at_n_is_an_upper_bound(world):
    p8 = run_policy(world, make("pass_at_n", n=8), seed=1, episodes_per_question=3)
    for name in ("mv", "bon", "wbon", "wbon_rm"):
        m = run_policy(world, make(name, n=8), seed=1, episodes_per_question=3)
        assert np.all(m[:, M_CORRECT] <= p8[:, M_CORRECT])


@pytest.fixture(scope="module")
def recorded(tmp_path_factory, world):
    path = tmp_path_factory.mktemp("rec") / "rec.parquet"
    record_world(world, path, n_samples=8, seed=11)
    qs = [ReplayQuestion.from_traces(qt) for qt in read_traces(path, batch_size=7)]
    return qs


REPLAY_CASES = [
    ("ziprc", {"beta": 0.01}), ("ziprc", {"beta": 0.1, "search": "exhaustive"}),
    ("ziprc", {"beta": 0.05, "normalizer": "state", "selection": "weighted"}),
    ("ziprc", {"beta": 0.02, "normalizer": "raw", "search": "top-k", "interval": 3}),
    ("ziprc", {"beta": 0.01, "init_k": 3, "selection": "plurality"}),
    ("mv", {"n": 5}), ("bon", {"n": 3}), ("wbon", {"n": 4}), ("pass_at_n", {"n": 2}),
    ("length_prune", {"budget_tokens": 2048}), ("half_finished", {"n": 7}),
    ("reward_prune", {"n": 6}), ("ac", {"threshold": 0.9}), ("esc", {"window": 3}),
    ("deepconf", {"n": 6, "signal": "ziprc"}), ("short_m_at_k", {"n": 6}),
    ("spec_rejection", {"n": 8}), ("pandora", {"beta": 0.02}),
    ("ziprc_recourse", {"beta": 0.03, "alpha": 1.0}),
]


@pytest.mark.parametrize("name,params", REPLAY_CASES)
def test_replay_reproduces_the_runner_exactly(world, recorded, name, params):
    pol = make(name, **params)
    m = run_policy(world, pol, seed=11)
    rep, upper, _ = prediction_grid(world, Corruption())
    for q, rq in enumerate(recorded):
        r = replay_episode(rq, pol, world.values, rep, upper)
        got = [r["correct"], r["gen_ticks"], r["serial_ticks"], r["started"], r["pruned_ticks"],
               r["finished"]]
        want = [bool(m[q, M_CORRECT]), m[q, M_GEN], m[q, M_SERIAL], m[q, M_STARTED],
                m[q, M_PRUNED], m[q, M_FINISHED]]
        assert got == want, (name, q)


def test_replay_refuses_what_it_cannot_do_exactly(world, recorded):
    rep, upper, _ = prediction_grid(world, Corruption())
    with pytest.raises(ReplayError, match="branching"):
        replay_episode(recorded[0], make("ziprc", branching=True), world.values, rep, upper)
    with pytest.raises(ReplayError, match="branching"):
        replay_episode(recorded[0], make("ziprc_recourse", branching=True), world.values, rep,
                       upper)
    with pytest.raises(ReplayError, match="reward model"):
        replay_episode(recorded[0], make("wbon_rm"), world.values, rep, upper)
    assert set(REPLAYABLE) == set(POLICY_NAMES) - {"wbon_rm"}


def test_every_policy_runs_with_every_corruption(world):
    corruptions = [Corruption(temperature=2.0), Corruption(noise=0.5), Corruption(optimism=1.0),
                   Corruption(lag_ticks=4), Corruption(window_ticks=8), Corruption(coarse_factor=2),
                   Corruption(correlation=0.7)]
    for c in corruptions:
        for name in ("ziprc", "reward_prune", "spec_rejection", "mv"):
            m = run_policy(world, make(name), seed=2, corruption=c)
            assert np.all(m[:, M_STARTED] >= 1) and np.all(m[:, M_GEN] > 0)
    # a neutral corruption is the exact world
    exact = run_policy(world, make("ziprc"), seed=2)
    same = run_policy(world, make("ziprc"), seed=2,
                      corruption=Corruption(temperature=1.0, noise=0.0, window_ticks=1))
    np.testing.assert_array_equal(exact, same)
    branching = run_policy(world, make("ziprc", branching=True, beta=0.01), seed=2)
    assert np.all(branching[:, M_STARTED] <= 8)


def test_correlated_samples_hurt_voting():
    """With every sample sharing its episode's class, 8 votes are worth far less (in the
    original world, where the class decides correctness; value_share weakens that link)."""
    w = build_world("aime24", n_questions=30, preset="original")
    ind = run_policy(w, make("pass_at_n", n=8), seed=4, episodes_per_question=20)
    cor = run_policy(w, make("pass_at_n", n=8), seed=4, episodes_per_question=20,
                     corruption=Corruption(correlation=1.0))
    n = ind.shape[0]
    diff = ind[:, M_CORRECT].mean() - cor[:, M_CORRECT].mean()
    assert diff > 5 * math.sqrt(0.25 / n)


def test_value_noise_makes_best_of_n_blind():
    """With every reported value redrawn from the prior, best-of-8 by value picks a sample
    regardless of its outcome: its accuracy falls to pass@1's (paired, same samples)."""
    w = build_world("aime24", n_questions=30)
    exact = run_policy(w, make("bon", n=8), seed=4, episodes_per_question=20)
    blind = run_policy(w, make("bon", n=8), seed=4, episodes_per_question=20,
                       corruption=Corruption(value_noise=1.0))
    one = run_policy(w, make("mv", n=1), seed=4, episodes_per_question=20)
    n = exact.shape[0]
    se = math.sqrt(0.25 / n)
    assert exact[:, M_CORRECT].mean() - blind[:, M_CORRECT].mean() > 5 * se
    assert abs(blind[:, M_CORRECT].mean() - one[:, M_CORRECT].mean()) < 5 * math.sqrt(2) * se


def test_adaptive_consistency_agrees_with_the_package():
    adaptive_consistency = pytest.importorskip("adaptive_consistency")
    crit = adaptive_consistency.BetaStoppingCriteria(conf_thresh=0.95)
    rng = np.random.default_rng(0)
    n_checked = 0
    for _ in range(300):
        k = int(rng.integers(1, 5))
        probs = rng.dirichlet(np.ones(k))
        stream = rng.choice(k, size=int(rng.integers(1, 16)), p=probs).tolist()
        for t in range(1, len(stream) + 1):
            answers = stream[:t]
            ref = crit.should_stop(answers)
            counts = sorted(np.bincount(answers).tolist(), reverse=True) + [0]
            a, b = counts[0], counts[1]
            ours = beta_stop_probability(a, b)
            assert abs(ours - ref["prob"]) < 1e-7
            assert abs(beta_stop_prob(a, b) - ours) < 1e-12
            if abs(ref["prob"] - 0.95) > 1e-7:  # the package integrates numerically
                assert (ours >= 0.95) == ref["stop"]
            n_checked += 1
    assert n_checked > 500


def test_adaptive_consistency_policy_stops_where_the_package_says(world):
    adaptive_consistency = pytest.importorskip("adaptive_consistency")
    crit = adaptive_consistency.BetaStoppingCriteria(conf_thresh=0.8)
    m = run_policy(world, make("ac", threshold=0.8), seed=9)
    for q in range(world.n_questions):
        ss = _samples(world, q, 9, 8)
        stop = 8
        for t in range(1, 9):
            if crit.should_stop([s[3] for s in ss[:t]])["stop"]:
                stop = t
                break
        assert m[q, M_STARTED] == stop
        assert m[q, M_SERIAL] == sum(s[1] for s in ss[:stop])  # one at a time


def test_pandora_reservation_value():
    values = np.arange(7) / 6
    rng = np.random.default_rng(1)
    for _ in range(50):
        pmf = rng.dirichlet(np.ones(7))
        c = float(rng.uniform(0.001, 0.3))
        z = pandora_reservation(values, pmf, c)
        assert abs(np.sum(pmf * np.maximum(values - z, 0)) - c) < 1e-12


def test_policy_validation():
    with pytest.raises(PolicyConfigError, match="unknown policy"):
        make("nope")
    with pytest.raises(PolicyConfigError, match="n must be"):
        make("mv", n=9)
    with pytest.raises(PolicyConfigError, match="unknown knob"):
        make("mv", bogus=1)
    with pytest.raises(PolicyConfigError, match="search"):
        make("ziprc", search="greedy")


def test_rules_where_the_two_validators_disagreed(world):
    """One rule each, the reference class's (CHANGELOG): the ESC window is bounded by n (not
    the cap); the cap has no 1..16 bound (ZIP-RC's is the planner's 53-bit keep mask);
    exhaustive search up to the planner's limit; SpecRejection's first checkpoint reaches
    the kernel."""
    from metamdp.planner import MAX_EXHAUSTIVE_SAMPLES, MAX_PLANNED_SAMPLES

    with pytest.raises(PolicyConfigError, match="window"):
        make("esc", n=3, window=4)
    assert make("esc", n=3, window=3).window == 3
    big = make("mv", n=20, cap=20)
    assert run_policy(world, big, seed=0)[:, M_STARTED].max() == 20
    assert make("ziprc", cap=MAX_PLANNED_SAMPLES).cap == MAX_PLANNED_SAMPLES
    with pytest.raises(PolicyConfigError, match="cap"):
        make("ziprc", cap=MAX_PLANNED_SAMPLES + 1)
    assert make("ziprc", search="exhaustive", cap=MAX_EXHAUSTIVE_SAMPLES).cap == MAX_EXHAUSTIVE_SAMPLES
    with pytest.raises(PolicyConfigError, match="exhaustive"):
        make("ziprc", search="exhaustive", cap=MAX_EXHAUSTIVE_SAMPLES + 1)
    early, late = (run_policy(world, make("spec_rejection", first_checkpoint=c), seed=3)
                   for c in (1, 64))
    assert (early != late).any()   # the kernel reads the knob, and agrees with the class:
    assert early.tolist() == run_policy(world, make("spec_rejection", first_checkpoint=1), seed=3,
                                        engine="python").tolist()
