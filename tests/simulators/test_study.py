"""Studies, sweeps (local processes, Dask LocalCluster, resume), the CLI commands and the
episode benchmark's report shape."""

import json
import os

import numpy as np
import pytest

from simulators.results import bootstrap_indices, ci
from simulators.study import StudyError, run_study
from simulators.sweeps import parse_corruption, run_sweep, sweep_summary, sweep_tasks
from ziprc_cli.main import main

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def small():
    return run_study("mixed", 0.1, "ziprc,mv,bon,ac,deepconf", questions=16, seed=3, episodes=1,
                     progress=False, n_boot=200)


def test_study_rows_and_matched_table(small):
    rows = small["rows"]
    keys = {"policy", "knob", "accuracy", "accuracy_ci", "gen_cost", "compute", "latency", "samples"}
    assert all(keys <= set(r) for r in rows)
    assert {r["policy"] for r in rows} == {"ziprc", "mv", "bon", "ac", "deepconf"}
    for r in rows:
        if r["accuracy_ci"] is None:  # every bootstrap resample gave the same mean (here: all
            assert r["accuracy"] in (0.0, 1.0)  # questions right or all wrong on 16 easy ones)
        else:
            lo, hi = r["accuracy_ci"]
            assert lo <= r["accuracy"] + 1e-12 and r["accuracy"] <= hi + 1e-12 and lo < hi
        assert r["gen_cost"] == pytest.approx(0.1 * r["compute"] + 0.9 * r["latency"])
    ref = small["reference"]
    mv_costs = [r["gen_cost"] for r in rows if r["policy"] == "mv"]
    assert ref["gen_cost"] == min(mv_costs, key=lambda c: abs(c - 1.4))
    mv_row = next(t for t in small["matched"] if t["policy"] == "mv")
    assert mv_row["delta_vs_mv"] == 0.0
    for t in small["matched"]:
        if t["within_budget"]:
            assert t["gen_cost"] <= ref["budget"] + 1e-12
    prov = small["provenance"]
    assert prov["seed"] == 3 and prov["params"]["questions"] == 16 and "version" in prov


def test_study_is_reproducible(small):
    again = run_study("mixed", 0.1, "ziprc,mv,bon,ac,deepconf", questions=16, seed=3, episodes=1,
                      progress=False, n_boot=200)
    assert [r["accuracy"] for r in again["rows"]] == [r["accuracy"] for r in small["rows"]]
    assert [r["accuracy_ci"] for r in again["rows"]] == [r["accuracy_ci"] for r in small["rows"]]


def test_stratified_bootstrap_keeps_strata_sizes():
    strata = np.array([0] * 5 + [1] * 3 + [2])
    boot = bootstrap_indices(strata, 100, 0)
    assert np.all(np.isin(boot[:, :5], np.arange(5)))
    assert np.all(np.isin(boot[:, 5:8], np.arange(5, 8)))
    assert np.all(boot[:, 8] == 8)
    x = np.arange(9.0)
    lo, hi = ci(x, boot)
    assert lo <= x.mean() <= hi


def test_corruption_parsing():
    assert parse_corruption("exact").is_exact
    assert parse_corruption("temperature=2,lag_ticks=8").lag_ticks == 8
    with pytest.raises(StudyError, match="unknown corruption knob"):
        parse_corruption("heat=2")
    with pytest.raises(StudyError, match="preset"):
        parse_corruption("hot")


def test_sweep_local_resume_and_dask(tmp_path):
    tasks = sweep_tasks(["gsm8k"], [0.1], ["exact", "lag8"], [0], "mv,ziprc", 6, 1)
    out = tmp_path / "sweep"
    paths = run_sweep(tasks, out, workers=1, progress=False)
    assert all(os.path.exists(p) for p in paths)
    first = {p: os.stat(p).st_mtime_ns for p in paths}
    # interrupted sweep: one result missing; rerunning recomputes only that one
    os.unlink(paths[1])
    paths2 = run_sweep(tasks, out, workers=1, progress=False)
    assert os.stat(paths2[0]).st_mtime_ns == first[paths[0]]
    assert os.path.exists(paths2[1])
    summary = sweep_summary(paths2)
    assert [s["corruption"] for s in summary] == ["exact", "lag8"]
    # the same tasks on a Dask LocalCluster give the same numbers
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(processes=False, n_workers=1, threads_per_worker=2,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        dpaths = run_sweep(tasks, tmp_path / "dask", scheduler=client, progress=False)
        # the command line with a scheduler address
        rc = main(["study", "--suite", "gsm8k", "--questions", "6", "--episodes", "1",
                   "--policies", "mv,ziprc", "--corruptions", "exact,lag8", "--scheduler", cluster.scheduler_address,
                   "--out-dir", str(tmp_path / "cli"), "--json", str(tmp_path / "cli.json"),
                   "--no-progress"])
        assert rc == 0
    for a, b in zip(paths2, dpaths):
        ra, rb = json.load(open(a)), json.load(open(b))
        assert [r["accuracy"] for r in ra["rows"]] == [r["accuracy"] for r in rb["rows"]]
    cli = json.load(open(tmp_path / "cli.json"))
    assert [t["corruption"] for t in cli["tasks"]] == ["exact", "lag8"]
    assert sorted(os.listdir(tmp_path / "cli")) == sorted(os.path.basename(p) for p in paths2)


def test_cli_study_json_plot_and_errors(tmp_path, capsys):
    js, png = tmp_path / "s.json", tmp_path / "s.png"
    rc = main(["study", "--suite", "amc23", "--questions", "6", "--episodes", "4",
               "--policies", "mv,ziprc,pandora",
               "--seed", "1", "--json", str(js), "--plot", str(png), "--no-progress"])
    assert rc == 0
    data = json.loads(js.read_text())
    assert data["provenance"]["params"]["suite"] == "amc23" and data["provenance"]["seed"] == 1
    assert png.stat().st_size > 1000
    assert "matched cost" in capsys.readouterr().out
    assert main(["study", "--suite", "nope", "--no-progress"]) == 2
    assert "unknown suite" in capsys.readouterr().err
    assert main(["study", "--policies", "mv,foo", "--no-progress"]) == 2
    assert "unknown policy" in capsys.readouterr().err
    assert main(["study", "--corruptions", "exact", "--no-progress"]) == 2  # sweep needs --out-dir


def test_cli_replay_round_trip(tmp_path, capsys):
    path = tmp_path / "t.parquet"
    assert main(["replay", "--record", "--traces", str(path), "--suite", "gsm8k",
                 "--questions", "5", "--samples", "4"]) == 0
    js = tmp_path / "r.json"
    assert main(["replay", "--traces", str(path), "--policies", "mv,ziprc,reward_prune",
                 "--cap", "4", "--json", str(js), "--no-progress"]) == 0
    data = json.loads(js.read_text())
    assert {r["policy"] for r in data["rows"]} == {"mv", "ziprc", "reward_prune"}
    assert main(["replay", "--traces", str(tmp_path / "missing.parquet")]) == 2
    assert "no such trace file" in capsys.readouterr().err
    assert main(["replay", "--traces", str(path), "--policies", "wbon_rm"]) == 2


def test_bench_report_shape():
    from simulators.bench import run_episode_bench

    r = run_episode_bench(questions=12, mv_episodes=2, repeats=1, scaling_sizes=(8, 16))
    assert set(r["episodes_per_s"]) == {"ziprc_two_prefix", "ziprc_exhaustive", "mv"}
    assert all(v > 0 for v in r["episodes_per_s"].values())
    assert [s["questions"] for s in r["scaling"]] == [8, 16]


def test_compile_families_of_the_jitted_code():
    from metamdp.order_stats import expected_max_kernel
    from metamdp.policies.kernels import joint_value, ziprc_plan_dist
    from simulators.bench import compile_family
    from simulators.kernels import run_batch
    from simulators.kernels.pruning import deepconf_episode
    from simulators.kernels.samples import new_state

    assert [compile_family(f.py_func) for f in (ziprc_plan_dist, expected_max_kernel, joint_value,
                                                new_state, deepconf_episode, run_batch)] == [
        "planner", "planner", "samples", "samples", "episodes_pruning", "batch_loop"]
    assert compile_family(np.sort) == "other"


@pytest.mark.slow
def test_compile_bench_of_one_policy_in_a_fresh_cache():
    from simulators.bench import COMPILE_FAMILIES, run_compile_bench

    r = run_compile_bench(["esc"])["compile"]
    assert set(r) == {"families_s", "compilations", "total_s", "warm_up_s", "warm_up_processes",
                      "params"}
    assert {"samples", "episodes_sequential", "batch_loop"} <= set(r["families_s"]) <= set(COMPILE_FAMILIES)
    assert r["compilations"]["batch_loop"] == 1 and r["params"]["policies"] == ["esc"]


def test_warm_up_splits_record_types_by_compile_weight():
    """Policies sharing a record type compile together; ZIP-RC's kernel (the planner) gets
    a process of its own."""
    from simulators.kernels.parallel import ParallelParams
    from simulators.kernels.sequential import ACParams, ESCParams
    from simulators.kernels.ziprc import ZipRCParams
    from simulators.study import _split

    groups = [(ParallelParams, ["mv", "bon"]), (ZipRCParams, ["ziprc"]), (ACParams, ["ac"]),
              (ESCParams, ["esc"])]
    assert _split(groups, 2) == [["ziprc"], ["mv", "bon", "ac", "esc"]]
    assert _split(groups, 1) == [["ziprc", "mv", "bon", "ac", "esc"]]
    assert len(_split(groups, 16)) == 4


def test_warm_up_child_fills_the_cache(tmp_path, monkeypatch):
    """A child process started by the warm-up compiles its policies into the cache it shares."""
    from simulators.study import _compile_in_children

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    (child,) = _compile_in_children([["esc"]])
    assert child.wait(timeout=300) == 0
    assert any(tmp_path.rglob("*run_batch*.nbc"))


# --------------------------------------------------------------------------- matched cost


def _fake_cell(name, knob, correct, cost):
    from simulators.policies import make
    from simulators.results import Cell

    correct = np.asarray(correct, dtype=float)
    q = correct.size
    pol = make(name, **{make(name).knob_name: knob})
    # alpha = 0 below: generation cost = latency
    return Cell(policy=pol, variant="", correct=correct, compute=np.full(q, cost),
                latency=np.full(q, cost), samples=np.ones(q), pruned=np.zeros(q),
                answered=np.ones(q))


def _rows(cells):
    return [{"policy": c.policy.name, "variant": "", "knob_name": c.policy.knob_name,
             "knob": c.policy.knob, "gen_cost": float(c.gen_cost(0.0).mean()),
             "accuracy": float(c.correct.mean())} for c in cells]


def test_frontier_point_is_an_exact_mixture_of_two_knobs():
    from simulators.results import frontier_point

    rng = np.random.default_rng(0)
    a = (rng.random(50) < 0.6).astype(float)
    b = (rng.random(50) < 0.9).astype(float)
    bad = (rng.random(50) < 0.3).astype(float)
    cells = [_fake_cell("ziprc", 0.3, a, 1.0), _fake_cell("ziprc", 0.2, bad, 1.2),
             _fake_cell("ziprc", 0.01, b, 2.0)]
    members = [(c.correct, r) for c, r in zip(cells, _rows(cells))]
    fp = frontier_point(members, 1.4)
    # the dominated point (cost 1.2, less accurate than the cheaper one) is skipped
    assert fp["status"] == "interpolated"
    assert [x["knob"] for x in fp["bracket"]] == [0.3, 0.01]
    w = fp["weight_lo"]
    assert w * 1.0 + (1 - w) * 2.0 == pytest.approx(1.4)
    np.testing.assert_allclose(fp["correct"], w * a + (1 - w) * b)
    assert fp["knob"] == pytest.approx(np.exp(w * np.log(0.3) + (1 - w) * np.log(0.01)))
    assert frontier_point(members, 0.5) is None  # nothing that cheap
    end = frontier_point(members, 3.0)
    assert end["status"] == "frontier_end" and end["knob"] == 0.01
    # exactly on a grid point: that point
    on = frontier_point(members, 2.0)
    np.testing.assert_allclose(on["correct"], b)


def test_refined_beta_grid_resolves_the_frontier_at_the_matched_cost():
    from simulators.study import REFINE_ACC_TOL, REFINE_COST_TOL, refine_beta

    q = 400
    u = np.random.default_rng(1).random(q)

    def fake_run(pol):
        # cost falls steeply with beta around 1.4; accuracy rises with cost
        cost = 0.9 + 1.2 / (1.0 + pol.knob / 0.05)
        return _fake_cell("ziprc", pol.knob, (u < 0.5 + 0.2 * cost).astype(float), cost)

    cells = [fake_run(_fake_cell("ziprc", b, [1.0], 1.0).policy) for b in (0.001, 0.1, 0.8)]
    new = refine_beta(None, cells, "ziprc", "", (1.4,), 0.0, 0, 1, None, run=fake_run)
    assert new
    pts = sorted((float(c.gen_cost(0.0).mean()), float(c.correct.mean())) for c in cells)
    lo = max(p for p in pts if p[0] <= 1.4)
    hi = min(p for p in pts if p[0] >= 1.4)
    assert hi[0] - lo[0] < REFINE_COST_TOL or hi[1] - lo[1] < REFINE_ACC_TOL
    # a cost that no beta changes (saturated) stops the grid from extending
    flat = [_fake_cell("ziprc", b, [1.0], 0.95) for b in (0.001, 0.01)]
    assert refine_beta(None, flat, "ziprc", "", (1.4,), 0.0, 0, 1, None,
                       run=lambda pol: _fake_cell("ziprc", pol.knob, [1.0], 0.95)) == []


def test_auto_episodes_give_every_cell_a_thousand_episodes():
    from simulators.study import auto_episodes

    assert auto_episodes(30) == 34 and auto_episodes(40) == 25 and auto_episodes(1889) == 1
    res = run_study("aime24", 0.1, "mv", questions=12, seed=0, progress=False, n_boot=50)
    p = res["provenance"]["params"]
    assert p["episodes"] == 84 and p["episodes_auto"] and p["episodes_per_cell"] >= 1000
    mv = next(t for t in res["matched"] if t["policy"] == "mv")
    assert mv["frontier"]["delta_vs_mv"] == 0.0
    assert mv["frontier"]["gen_cost"] == pytest.approx(1.4)


# --------------------------------------------------------------------------- world fit


def test_fitted_preset_reproduces_the_majority_vote_row():
    """The default world is the fit: on the fit's own episodes (seed 0, 4,000 per benchmark,
    common random numbers, so the estimate is deterministic) majority voting along its
    frontier at cost 1.40 equals the paper's row within the root finder's tolerance."""
    from simulators.synthetic import build_world
    from simulators.paper_numbers import TABLE2
    from simulators.worldfit import frontier_accuracy

    for s in ("gsm8k", "math500", "amc23", "aime24"):
        w = build_world(s)
        acc, _, info, _ = frontier_accuracy(w, "mv", 1.40, episodes=max(1, 4000 // w.n_questions),
                                            knobs=(1, 2, 3, 4, 5, 6, 8))
        assert abs(100 * acc - TABLE2["mv"]["acc"][s]) < 0.5, (s, acc)


def test_head_metrics_match_sampled_values():
    """head_metrics is exact; the sampler's final value states and correctness agree with it
    (binomial 5 sigma)."""
    from simulators.kernels.samples import record_sample
    from simulators.runner import episode_seeds
    from simulators.synthetic import build_world
    from simulators.worldfit import head_metrics

    w = build_world("aime24", n_questions=4)
    h = head_metrics(w)
    n = 1500
    tp = fn = tn = fp = 0
    for q in range(w.n_questions):
        seeds = episode_seeds(11 + q, n)
        for e in range(n):
            _, k, _, correct, _ = record_sample(
                0, seeds[e], q, w.values, w.class_prior, w.correct_prob, w.log_median, w.sigma,
                w.signal_mean, w.distractor_cdf, w.r_lo, w.r_hi, int(w.t_max))
            hi = w.values[k] >= 0.5
            tp += correct and hi
            fn += correct and not hi
            tn += (not correct) and (not hi)
            fp += (not correct) and hi
    tpr, tnr = tp / (tp + fn), tn / (tn + fp)
    assert abs(tpr - h["tpr"]) < 5 * np.sqrt(h["tpr"] * (1 - h["tpr"]) / (tp + fn))
    assert abs(tnr - h["tnr"]) < 5 * np.sqrt(h["tnr"] * (1 - h["tnr"]) / (tn + fp))


def test_cli_table2_keeps_fitted_and_predicted_apart(tmp_path, capsys):
    js = tmp_path / "t2.json"
    rc = main(["study", "--table2", "--world-preset", "lfm2-350m", "--questions", "40",
               "--episodes", "2", "--json", str(js), "--no-progress"])
    assert rc == 0
    data = json.loads(js.read_text())
    roles = {c["row"]: c["role"] for c in data["table2"]}
    assert roles == {"mv": "fitted", "ziprc": "predicted"}
    assert data["provenance"]["params"]["preset"] == "lfm2-350m"
    out = capsys.readouterr().out
    assert "predicted cells within target" in out
    assert main(["study", "--sensitivity", "value_share", "--no-progress"]) == 2
    assert main(["study", "--table2", "--world-preset", "nope", "--no-progress"]) == 2


def test_presets_carry_the_documented_assumptions():
    """The fitted presets' assumed knobs are the ones worldfit.ASSUMED documents (a preset
    edited by hand without refitting would drift from the fit)."""
    from simulators.synthetic import preset_specs
    from simulators.worldfit import ASSUMED, BENCHMARKS

    for preset in ("qwen3-1.7b", "lfm2-350m"):
        a = ASSUMED[preset]
        for name, spec in preset_specs(preset).items():
            assert name in BENCHMARKS
            assert spec.pass_a + spec.pass_b == pytest.approx(a["concentration"][name])
            assert spec.unsolvable == a["unsolvable"][name]
            assert spec.value_share == a["value_share"]
            assert spec.length_spread == a["length_spread"]


def test_frontier_comparison_is_paired_per_question_at_each_cost():
    from simulators.report import ReportError, format_frontier_comparison, frontier_comparison
    from simulators.results import frontier_point, paired_ci

    rng = np.random.default_rng(2)
    q = 60
    a0, a1 = (rng.random(q) < 0.5).astype(float), (rng.random(q) < 0.8).astype(float)
    b0, b1 = (rng.random(q) < 0.6).astype(float), (rng.random(q) < 0.7).astype(float)
    cells = [_fake_cell("ziprc_recourse", 0.3, a0, 0.9), _fake_cell("ziprc_recourse", 0.01, a1, 1.9),
             _fake_cell("pandora", 0.3, b0, 1.1), _fake_cell("pandora", 0.01, b1, 1.5)]
    rows = _rows(cells)
    boot = bootstrap_indices(np.zeros(q, dtype=int), 300, 0)
    fc = frontier_comparison(cells, rows, boot, "ziprc_recourse", [0.8, 1.3, 1.7])
    assert set(fc["cost_range"]) == {"ziprc_recourse", "pandora"}
    np.testing.assert_allclose(fc["cost_range"]["ziprc_recourse"], [0.9, 1.9])
    np.testing.assert_allclose(fc["cost_range"]["pandora"], [1.1, 1.5])
    below, mid, past = fc["against"]["pandora"]
    assert below["base_status"] == "unreachable" and "delta" not in below
    assert past["status"] == "frontier_end" and past["base_status"] == "interpolated"
    mine = [(c.correct, r) for c, r in zip(cells[:2], rows[:2])]
    theirs = [(c.correct, r) for c, r in zip(cells[2:], rows[2:])]
    x, y = frontier_point(mine, 1.3)["correct"], frontier_point(theirs, 1.3)["correct"]
    assert mid["delta"] == pytest.approx((x - y).mean())
    assert mid["delta_ci"] == paired_ci(x, y, boot)
    assert "pandora" in format_frontier_comparison(fc)
    with pytest.raises(ReportError, match="not in the study"):
        frontier_comparison(cells, rows, boot, "ziprc", [1.0])


def test_frontier_base_must_be_a_policy_of_the_study(capsys):
    assert main(["study", "--policies", "mv,pandora", "--frontier-base", "ziprc",
                 "--questions", "4", "--no-progress"]) == 2
    assert "--frontier-base 'ziprc' is not among" in capsys.readouterr().err
    assert main(["study", "--policies", "mv", "--frontier-base", "mv", "--frontier-costs", "0,1",
                 "--questions", "4", "--no-progress"]) == 2
