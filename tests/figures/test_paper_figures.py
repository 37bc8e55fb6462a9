"""``ziprc figures --fast``: every figure and table is written, each figure's JSON holds what
its PNG shows, tables agree with their JSON, and a second run resumes from the cache."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("torch")
pytest.importorskip("transformers")

from paper_figures import FIGURES, NAMES  # noqa: E402
from ziprc_cli.main import main  # noqa: E402

TABLES = {n for n in NAMES if n.startswith("table")}


@pytest.fixture(scope="module")
def fast_run(tmp_path_factory):
    # ZIPRC_FIGURES_DIR reuses a directory of an earlier fast run (its cache makes this quick)
    out = os.environ.get("ZIPRC_FIGURES_DIR")
    out = Path(out) if out else tmp_path_factory.mktemp("figures")
    assert main(["figures", "--fast", "--out", str(out), "--no-progress"]) == 0
    return out


def _load(out, name):
    return json.loads((out / f"{name}.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_every_name_is_written_with_provenance(fast_run, name):
    if name in TABLES:
        assert (fast_run / f"{name}.md").stat().st_size > 200
    else:
        png = (fast_run / f"{name}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
        assert (fast_run / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"
    d = _load(fast_run, name)
    assert d["name"] == name
    prov = d["provenance"]
    assert prov["seed"] == 0 and prov["version"] and prov["params"]["fast"] is True
    # no absolute path of this machine in an output file
    assert str(fast_run) not in (fast_run / f"{name}.json").read_text()


@pytest.mark.parametrize("name", [n for n in NAMES if n not in TABLES])
def test_json_holds_what_the_png_plots(fast_run, name):
    """``series`` (what the script meant to draw) equals ``plotted`` (read back from the
    matplotlib artists that were rendered into the PNG), artist by artist."""
    d = _load(fast_run, name)
    series, plotted = d["series"], d["plotted"]
    assert series, name
    assert set(series) == set(plotted), set(series) ^ set(plotted)
    for gid, s in series.items():
        p = plotted[gid]
        for key in ("x", "y", "z"):
            if key in s and key in p:
                np.testing.assert_allclose(np.asarray(p[key], float), np.asarray(s[key], float),
                                           rtol=1e-12, atol=1e-12, err_msg=f"{name}: {gid}.{key}")
        assert any(k in p for k in ("x", "z")), gid


def test_frontiers_are_pareto_fronts(fast_run):
    d = _load(fast_run, "fig3_frontiers")
    fronts = {k: v for k, v in d["series"].items() if k.endswith("/front")}
    assert len(fronts) >= 11 * 5  # every policy on every panel
    for gid, s in fronts.items():
        x, y = np.asarray(s["x"]), np.asarray(s["y"])
        assert np.all(np.diff(x) >= 0) and np.all(np.diff(y) > 0), gid
        dom = d["series"].get(gid.replace("/front", "/dominated"))
        if dom:  # every dominated knob value has a front point at most as costly and as accurate
            for cx, cy in zip(dom["x"], dom["y"]):
                assert np.any((x <= cx + 1e-12) & (y >= cy - 1e-12)), (gid, cx, cy)
    # the matched-cost points and the budget line are drawn on every synthetic panel
    assert sum(k.endswith("/budget") for k in d["series"]) == 11
    assert sum(k.endswith("/mv/matched") for k in d["series"]) == 11


def test_tables_agree_with_their_json(fast_run):
    t2 = _load(fast_run, "table2_matched_cost")
    md = (fast_run / "table2_matched_cost.md").read_text()
    synth = [r for r in t2["rows"] if r["source"].startswith("synthetic") and "accuracy" in r]
    assert {r["suite"] for r in synth} >= {"aime24", "amc23", "math500", "gsm8k", "mixed"}
    for r in synth:
        if r["accuracy_ci"]:  # None where the bootstrap cannot make an interval
            lo, hi = r["accuracy_ci"]
            assert f"{100 * r['accuracy']:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]" in md
        else:
            assert f"| {100 * r['accuracy']:.1f}" in md
        if "paper_accuracy" in r:
            assert f"| {100 * r['paper_accuracy']:.1f} |" in md
    t1 = _load(fast_run, "table1_prediction_quality")
    md1 = (fast_run / "table1_prediction_quality.md").read_text()
    ours = [r for r in t1["rows"] if r["source"] == "ours"]
    assert {r["model"] for r in ours} == {"ziprc", "ziprc_lite"}
    for r in ours:
        lo, hi = r["start_tv_ci"]
        assert lo <= r["start_tv"] <= hi
        assert f"{r['start_tv']:.2f} [{lo:.2f}, {hi:.2f}]" in md1
    assert "| paper: Qwen3-1.7B | 0.46 | 0.91 | 0.88 | 0.82 |" in md1


def test_second_run_resumes_from_the_cache(fast_run, capsys):
    assert main(["figures", "--fast", "--out", str(fast_run), "--only", "fig4_kl,theorem_margins"]) == 0
    out = capsys.readouterr().out
    assert "computing" not in out and "cached" in out
    assert "(1/2) theorem_margins" in out  # built in the registry's order


def test_unknown_name_is_a_user_error(tmp_path, capsys):
    assert main(["figures", "--only", "fig9", "--out", str(tmp_path)]) == 2
    assert "unknown figure 'fig9'" in capsys.readouterr().err


def test_registry_modules_exist():
    import importlib

    for name, (module, _) in FIGURES.items():
        mod = importlib.import_module(f"paper_figures.{module}")
        assert mod.NAME == name and callable(mod.build) and callable(mod.make)
