"""The demo's frontier stage: every policy over its knob, replayed from the majority-vote
recordings, checked against majority voting computed directly from the same samples."""

import json
from collections import defaultdict

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("pyarrow")
pytest.importorskip("matplotlib")

from llm_backend.config import make_config  # noqa: E402
from llm_backend.pipeline import format_frontier, stage_frontier  # noqa: E402
from llm_backend.sampler import majority_from_samples  # noqa: E402

DELTA = 8
VALUES = [i / 6 for i in range(7)]          # the demo's 7-state value grid
EDGES = [0, 8, 16, 32, 48, 64, 96, 128, 192]
N_Q, N_S = 12, 8
ALPHA = 0.1


def _traces(path, seed=0):
    """Recordings shaped like ``traces_majority.parquet``: 8 independent samples per question,
    a joint every tick, answers from a few candidates (ties and unanswered samples included),
    lengths in whole ticks so that the replay's tick costs equal the sampler's token costs."""
    from simulators.traces import write_traces

    rng = np.random.default_rng(seed)
    rows, truth = [], {}
    for q in range(N_Q):
        qid = f"sample{q}"
        truth[qid] = str(q % 3)
        for s in range(N_S):
            ticks = int(rng.integers(2, 9))
            answer = None if rng.random() < 0.1 else str(int(rng.integers(0, 3)))
            joints = rng.random((ticks, len(VALUES) * (len(EDGES) - 1)))
            joints /= joints.sum(1, keepdims=True)
            rows.append({"question_id": qid, "sample_id": s, "delta": DELTA, "reward_values": VALUES,
                         "length_edges": EDGES, "tick_tokens": (np.arange(ticks) * DELTA).tolist(),
                         "joints": joints.tolist(), "total_tokens": ticks * DELTA, "finished": True,
                         "answer": answer, "correct": answer == truth[qid],
                         "value": float(rng.choice(VALUES))})
    write_traces(path, rows, {"seed": 0, "params": {"alpha": ALPHA, "cap": N_S, "search": "exhaustive",
                                                    "floor": "distribution", "planner": "ours",
                                                    "betas": [0.01, 0.1], "policy": "majority"}})
    return rows, truth


def _config():
    return make_config(fast=True, alpha=ALPHA, cap=N_S, betas=(0.01,))


def test_frontier_rows_match_majority_over_the_first_k_samples(tmp_path):
    rows, truth = _traces(tmp_path / "traces_majority.parquet")
    f = stage_frontier(tmp_path, _config(), progress=False)
    data = json.loads((tmp_path / "frontier.json").read_text())
    assert (tmp_path / "frontier.png").stat().st_size > 0
    by_q = defaultdict(list)
    for r in rows:
        by_q[r["question_id"]].append(r)
    mv = {r["knob"]: r for r in data["rows"] if r["policy"] == "mv"}
    assert sorted(mv) == [1, 2, 3, 4, 5, 6, 8]
    for k, row in mv.items():
        # the oracle: the online demo's majority over the first k recorded samples, its cost
        # normalised by the question's mean sample length (whole ticks: tokens = ticks * delta)
        acc, cost = [], []
        for qid, rs in by_q.items():
            ok, comp, serial = majority_from_samples(rs, k, truth[qid])
            lbar = np.mean([r["total_tokens"] for r in rs])
            acc.append(ok)
            cost.append(ALPHA * comp / lbar + (1 - ALPHA) * serial / lbar)
        assert row["accuracy"] == pytest.approx(np.mean(acc), abs=1e-12), k
        assert row["gen_cost"] == pytest.approx(np.mean(cost), rel=1e-12), k
    # ZIP-RC as the online sampler runs it (finished samples as distributions), no branching,
    # with both answer rules, over the study's beta grid plus the demo's betas
    z = [r for r in data["rows"] if r["policy"] == "ziprc"]
    assert {r["variant"] for r in z} == {"vote", "best"}
    assert {r["params"]["floor"] for r in z} == {"distribution"}
    assert not any(r["params"]["branching"] for r in z)
    assert {r["params"]["selection"] for r in z} == {"weighted", "value"}
    # the legend says what was replayed: not "ZIP-RC sampling", which branches
    assert {r["label"] for r in z} == {"ZIP-RC replayed, no branching (weighted vote)",
                                       "ZIP-RC replayed, no branching (best value)"}
    assert len({r["knob"] for r in z}) == 10 and 0.01 in {r["knob"] for r in z}
    # every other replayable baseline is there, over its knob
    assert {"bon", "wbon", "ac", "esc", "deepconf", "pandora"} <= {r["policy"] for r in data["rows"]}
    # the matched cost is MV N=8's own cost, and MV there is its reference
    ref = data["reference"]
    assert ref["knob"] == 8 and ref["match_cost"] == pytest.approx(mv[8]["gen_cost"], rel=1e-12)
    assert f["reference"]["knob"] == 8 and f["knob_points"] == len(data["rows"])
    assert f["policies"] == len({(r["policy"], r["variant"]) for r in data["rows"]})
    for m in f["ziprc_vs_mv"]:
        assert m["gen_cost"] <= ref["match_cost"] + 1e-9
        assert m["ci"] is None or m["ci"][0] <= m["ziprc_minus_mv"] <= m["ci"][1]
    # provenance: what made it, with which seed, from which file (relative: no path of this machine)
    p = data["provenance"]
    assert p["command"] == "ziprc llm frontier" and p["seed"] == 0 and "version" in p
    assert p["params"]["traces"] == "traces_majority.parquet" and p["params"]["questions"] == N_Q
    assert p["params"]["config"]["cap"] == N_S and p["params"]["ziprc"]["floor"] == "distribution"
    assert str(tmp_path) not in (tmp_path / "frontier.json").read_text()
    text = format_frontier(f)
    assert text.startswith("frontiers replayed from the majority-vote recordings") and "MV N=8" in text


BRANCHER = '''
from metamdp.policies import Action, Policy


class Brancher(Policy):
    name = "brancher"

    def __call__(self, view):
        if view.n_created == 0:
            return Action(keep=[], new=1)
        if view.unfinished and view.n_created < 2:
            return Action(keep=[view.unfinished[0].sid], new=1, branch_from=view.unfinished[0].sid)
        return Action(keep=[s.sid for s in view.unfinished])
'''


def test_a_users_policy_that_cannot_be_replayed_is_skipped_with_its_reason(tmp_path, capsys):
    from ziprc_cli.main import main

    _traces(tmp_path / "traces_majority.parquet")
    (tmp_path / "brancher.py").write_text(BRANCHER)
    assert main(["llm", "frontier", "--out", str(tmp_path), "--quiet",
                 "--policy-module", f"{tmp_path / 'brancher.py'}:Brancher"]) == 0
    out = capsys.readouterr().out
    assert "not replayed: brancher:" in out and "branch" in out.split("not replayed: brancher:")[1]
    data = json.loads((tmp_path / "frontier.json").read_text())
    assert "brancher" not in {r["policy"] for r in data["rows"]}
    assert data["provenance"]["params"]["skipped"][0]["policy"] == "brancher"
    # the recorded run's settings were used
    assert data["provenance"]["params"]["config"]["floor"] == "distribution"


def test_frontier_without_recordings_is_a_user_error(tmp_path, capsys):
    from ziprc_cli.main import main

    assert main(["llm", "frontier", "--out", str(tmp_path / "none")]) == 2
    assert "ziprc llm sample" in capsys.readouterr().err


def test_a_cap_below_8_replays_every_policy_within_it(tmp_path):
    # a demo with --cap 3: knob values beyond the cap (ESC windows, Pandora's default n) must
    # shrink or drop out, not stop the replay
    from dataclasses import replace

    _traces(tmp_path / "traces_majority.parquet")
    f = stage_frontier(tmp_path, replace(_config(), cap=3), progress=False)
    data = json.loads((tmp_path / "frontier.json").read_text())
    knobs = defaultdict(set)
    for r in data["rows"]:
        knobs[r["policy"]].add(r["knob"])
    assert knobs["mv"] == {1, 2, 3} and knobs["esc"] == {1, 2, 3} and "pandora" in knobs
    assert max(r["samples"] for r in data["rows"]) <= 3 and f["reference"]["knob"] == 3
