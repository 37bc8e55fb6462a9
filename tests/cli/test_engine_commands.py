"""The public command-line outputs of issue 2 (field names are an interface)."""

import json
from pathlib import Path

import pytest

from ziprc_cli.main import main

EXAMPLE = Path(__file__).parents[2] / "examples" / "two_paths.json"


def test_exact_json_fields(tmp_path, capsys):
    out = tmp_path / "exact.json"
    assert main(["exact", "--world", str(EXAMPLE), "--cap", "3", "--alpha", "0.5", "--beta", "0.3",
                 "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "best predefined strategy" in text and "ZIP-RC" in text
    d = json.loads(out.read_text())
    for key in ("best_strategy_value", "best_strategy", "v_ziprc", "v_optimal", "strategies", "provenance"):
        assert key in d
    assert set(d["best_strategy"]) >= {"keep", "new", "horizon"}
    for s in d["strategies"]:
        assert set(s) >= {"keep", "new", "horizon", "q", "executed"}
        assert s["q"] == pytest.approx(s["executed"], abs=1e-10)
    assert d["best_strategy_value"] == pytest.approx(max(s["executed"] for s in d["strategies"]))
    assert d["v_optimal"] >= d["v_ziprc"] - 1e-9 >= d["best_strategy_value"] - 2e-9
    assert d["provenance"]["params"]["cap"] == 3 and d["provenance"]["version"]


def test_exact_keep_indices_refer_to_the_world_sample_list(tmp_path):
    world = json.loads(EXAMPLE.read_text())
    world["samples"] = [{"node": 4}, {"node": 2}]  # listed out of node order on purpose
    path = tmp_path / "w.json"
    path.write_text(json.dumps(world))
    out = tmp_path / "o.json"
    assert main(["exact", "--world", str(path), "--cap", "2", "--alpha", "1", "--beta", "0.01",
                 "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    # sample 0 (node 4) is one tick from a sure 0.5; sample 1 (node 2) can never beat 0.5,
    # so only sample 0 is kept, and for one tick. Internally the engine sorts samples by
    # node (node 2 first): the JSON must still use the world's own list order.
    assert d["best_strategy"]["keep"] == [0] and d["best_strategy"]["horizon"] == 1
    keeps = {tuple(s["keep"]) for s in d["strategies"]}
    assert {(), (0,), (1,), (0, 1)} <= keeps


def test_theorem_json_and_exit_code(tmp_path, capsys):
    out = tmp_path / "t.json"
    assert main(["theorem", "--instances", "40", "--seed", "3", "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    rows = {r["variant"]: r for r in d["variants"]}
    assert set(rows) == {"exact", "two_prefix", "top_k_value", "state_normalizer", "binned_lengths",
                         "miscalibrated", "dependent_samples", "authors_planner", "recourse"}
    assert rows["exact"]["violations"] == 0 and rows["exact"]["worst_margin"] >= -1e-9
    assert rows["recourse"]["violations"] == 0 and rows["recourse"]["worst_margin"] >= -1e-9
    cmp = d["recourse_vs_ziprc"]
    assert cmp["instances"] == 40 and cmp["ziprc_gap"]["mean"] >= -1e-9
    assert cmp["recourse_gap"]["min"] >= -1e-9 and cmp["recourse_worse"] + cmp["recourse_better"] <= 40
    assert rows["exact"]["gap_to_optimal"]["min"] >= -1e-9
    assert rows["dependent_samples"]["gap_to_optimal"] is None
    assert d["provenance"]["seed"] == 3
    assert "violations" in capsys.readouterr().out
    assert main(["theorem", "--instances", "5", "--variants", "nope"]) == 2


def test_bench_planner_json(tmp_path):
    out = tmp_path / "b.json"
    assert main(["bench", "--sections", "planner", "--repeats", "5", "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    for search in ("exhaustive", "two-prefix"):
        assert set(d["decision_us"][search]) == {"2", "4", "8", "12"}
        assert all(v > 0 for v in d["numba_speedup"][search].values())
        # the three Numba timings and their ratios, per search and size (no timing claims:
        # machines are noisy)
        for key in ("trusted_us", "kernel_us", "decision_over_kernel", "trusted_over_kernel"):
            assert set(d[key][search]) == {"2", "4", "8", "12"}
            assert all(v > 0 for v in d[key][search].values())


def test_bench_compile_section_json_and_report(tmp_path, monkeypatch, capsys):
    """The compile section lands under "compile" in the JSON and is printed by family (its
    measurement is replaced by fixed numbers: a cold compile takes a minute)."""
    import simulators.bench as sim_bench

    measured = {"compile": {"families_s": {"planner": 9.5, "samples": 4.25},
                            "compilations": {"planner": 12, "samples": 30}, "total_s": 20.0,
                            "warm_up_s": 12.5, "warm_up_processes": 2,
                            "params": {"policies": ["ziprc"], "cache": "fresh"}}}
    monkeypatch.setattr(sim_bench, "run_compile_bench", lambda: measured)
    out = tmp_path / "b.json"
    assert main(["bench", "--sections", "compile", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["compile"] == measured["compile"]
    text = capsys.readouterr().out
    assert "families_s: planner=9.5, samples=4.25" in text and "warm_up_s: 12.5" in text


def test_saved_violation_replays_with_exact_alone(tmp_path, capsys):
    """A world saved by --save-violations is a flat world file carrying its objective: 'ziprc
    exact --world FILE' needs no other flag, and flags still override the file."""
    d = tmp_path / "viol"
    assert main(["theorem", "--instances", "30", "--seed", "0", "--variants", "top_k_value",
                 "state_normalizer", "--no-optimal", "--no-progress", "--save-violations", str(d)]) == 0
    files = sorted(d.glob("*.json"))
    assert files
    capsys.readouterr()
    for f in files[:3]:
        saved = json.loads(f.read_text())
        assert {"values", "root", "nodes", "cap", "alpha", "beta"} <= set(saved)
        out = tmp_path / "o.json"
        assert main(["exact", "--world", str(f), "--no-optimal", "--json", str(out)]) == 0
        res = json.loads(out.read_text())
        assert res["provenance"]["params"]["cap"] == saved["cap"]
        # the replay reproduces the violation: ZIP-RC below W at the saved start
        assert res["v_ziprc"] < res["best_strategy_value"] - 1e-9
        assert "assumption of the theorem is broken" in capsys.readouterr().out
    assert main(["exact", "--world", str(files[0]), "--cap", str(saved["cap"] + 1), "--no-optimal",
                 "--json", str(tmp_path / "o2.json")]) == 0
    assert json.loads((tmp_path / "o2.json").read_text())["provenance"]["params"]["cap"] == saved["cap"] + 1


def test_exact_requires_an_objective_and_guards_large_caps(capsys):
    assert main(["exact", "--world", str(EXAMPLE), "--alpha", "0.5", "--beta", "0.3"]) == 2
    assert "--cap is required" in capsys.readouterr().err
    assert main(["exact", "--world", str(EXAMPLE), "--cap", "50", "--alpha", "0.5", "--beta", "0.3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--max-states" in err and err.count("\n") == 1


def test_exact_with_the_authors_planner(tmp_path, capsys):
    out = tmp_path / "a.json"
    assert main(["exact", "--world", str(EXAMPLE), "--cap", "3", "--alpha", "0.5", "--beta", "0.3",
                 "--planner", "authors", "--json", str(out)]) == 0
    assert "authors' planner" in capsys.readouterr().out
    d = json.loads(out.read_text())
    assert d["provenance"]["params"]["planner"] == "authors"
    assert d["v_optimal"] >= d["v_ziprc"] - 1e-9


def test_theorem_reports_informative_share_and_states(tmp_path):
    out = tmp_path / "t.json"
    assert main(["theorem", "--instances", "30", "--seed", "1", "--variants", "exact", "--no-progress",
                 "--json", str(out)]) == 0
    row = json.loads(out.read_text())["variants"][0]
    assert row["violations"] == 0 and row["states_checked"] > row["instances"]
    assert 0.3 <= row["informative_share"] <= 1 and row["informative"] == round(row["informative_share"] * 30)
