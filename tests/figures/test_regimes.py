"""The regime map (``ziprc figures --only regimes``) on the smoke grid: written with its
provenance, each cell's colour is the most accurate compared policy at the matched cost, its
ties are those whose paired interval contains 0, and the JSON holds what the PNG shows."""

import json

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from paper_figures.regimes import grids  # noqa: E402
from paper_figures.run import build  # noqa: E402
from paper_figures.stages import FAST, REGIME_POLICIES  # noqa: E402
from simulators.plotstyle import POLICY_STYLE  # noqa: E402
from simulators.results import MATCH_COST  # noqa: E402


@pytest.fixture(scope="module")
def regimes(tmp_path_factory):
    out = tmp_path_factory.mktemp("regimes")
    build(["regimes"], out, fast=True, progress=False)
    return out, json.loads((out / "regimes.json").read_text())


def test_regime_map_is_written_with_provenance(regimes):
    out, d = regimes
    assert (out / "regimes.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert d["provenance"]["seed"] == 0 and d["provenance"]["version"]
    assert d["provenance"]["params"]["fast"] is True
    assert str(out) not in (out / "regimes.json").read_text()
    data = d["data"]
    assert data["policies"] == list(REGIME_POLICIES)
    assert set(REGIME_POLICIES) <= set(POLICY_STYLE)   # every compared policy has its colour
    assert data["cost"] == MATCH_COST and "frontier_point" in data["definition"]
    xs, ys = data["x"][1], data["y"][1]
    assert [data["x"][0], data["y"][0]] == [FAST["regimes"]["x"][0], FAST["regimes"]["y"][0]]
    assert set(data["panels"]) == {"0.1", "1"}
    assert all(len(cells) == len(xs) * len(ys) for cells in data["panels"].values())


def test_each_cell_is_the_best_policy_at_matched_cost_with_its_ties(regimes):
    _, d = regimes
    data = d["data"]
    informative = 0
    for alpha, cells in data["panels"].items():
        for c in cells:
            arms = c["arms"]
            assert set(arms) | set(c["unreachable"]) == set(REGIME_POLICIES)
            best = max(arms, key=lambda k: arms[k]["accuracy"])
            assert arms[c["best"]]["accuracy"] == arms[best]["accuracy"]
            assert c["tied"][0] == c["best"]
            for k, a in arms.items():
                ci = a["delta_vs_best_ci"]
                contains0 = ci[0] <= 0 if ci is not None else abs(a["delta_vs_best"]) < 1e-12
                assert (k in c["tied"]) == (k == c["best"] or contains0), (alpha, c["x"], c["y"], k)
                assert a["status"] in ("interpolated", "frontier_end")
            informative += len(c["tied"]) < len(arms)
        win, _, _ = grids(data, alpha)
        np.testing.assert_array_equal(np.asarray(d["series"][f"alpha{alpha}/best"]["z"]), win)
    assert informative >= 1   # some cell separates the policies


def test_regime_json_holds_what_the_png_plots(regimes):
    _, d = regimes
    assert set(d["series"]) == set(d["plotted"])
    for gid, s in d["series"].items():
        np.testing.assert_allclose(np.asarray(d["plotted"][gid]["z"], float),
                                   np.asarray(s["z"], float), err_msg=gid)
