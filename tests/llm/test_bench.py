"""The zero-overhead benchmark: the ZIP-RC arm really reads every joint, and the headline
planner fraction comes from real ZIP-RC sampling runs."""

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from llm_backend.bench import run_zero_overhead_bench  # noqa: E402
from llm_backend.slice import ReservedSlice  # noqa: E402

torch.set_num_threads(1)


def test_ziprc_arm_reads_every_joint_and_plain_arm_none(monkeypatch):
    calls = {"rows": 0}
    orig = ReservedSlice.joints

    def spy(self, logits):
        calls["rows"] += int(logits.reshape(-1, logits.shape[-1]).shape[0])
        return orig(self, logits)

    monkeypatch.setattr(ReservedSlice, "joints", spy)
    batch, steps, repeats = 4, 3, 2
    r = run_zero_overhead_bench(size="tiny", batch=batch, steps=steps, repeats=repeats,
                                sampling_questions=0)["zero_overhead"]
    # the ZIP-RC arm: one joint per sequence per token (8 warm-up steps + the timed runs);
    # the plain arm reads none. Fails if the ZIP-RC arm skips reading the joints.
    assert calls["rows"] == batch * (8 + repeats * steps)
    assert r["joint_rows_read_per_token"] == {"ziprc": 1.0, "plain": 0.0}
    assert r["planner_fraction_source"].startswith("all-created")
    assert r["kv_pool_bytes"] > 0 and r["peak_memory_bytes"] > 0


def test_headline_planner_fraction_from_sampling_runs():
    r = run_zero_overhead_bench(size="tiny", batch=4, steps=3, repeats=2, sampling_questions=2,
                                sampling_max_new_tokens=24, concurrent=2)["zero_overhead"]
    s = r["sampling"]
    assert r["planner_fraction_source"] == "ZIP-RC sampling runs"
    assert s["decisions"] >= 2 and s["questions"] == 2 and s["tokens"] > 0
    assert r["planner_fraction"] == pytest.approx(s["planner_seconds"] / s["decode_seconds"])
    assert r["planner_fraction_all_created"] > 0


def test_score_bench_reports_every_mode_against_one_at_a_time():
    from llm_backend.bench import run_score_bench

    r = run_score_bench(size="tiny", rollouts=4, repeats=1, budgets=(64,), chunk_tokens=16, lengths=(20, 40))["score"]
    assert set(r["tokens_per_s"]) == {"one_at_a_time", "chunked_16", "batched_64", f"batched_{r['default_batch_tokens']}"}
    assert r["over_one_at_a_time"]["one_at_a_time"] == 1.0
    assert all(v > 0 for v in r["tokens_per_s"].values()) and r["tokens"] > 0
    assert r["batched_over_one_at_a_time"] == r["over_one_at_a_time"][f"batched_{r['default_batch_tokens']}"]


# ---------------------------------------------------------------- engines_sampled's comparison

def _rows(acc_by_q, cost_by_q, label="majority N=2", policy="mv", knob=2, seed=0):
    """Rows as ``sampling.json`` has them (``llm_backend.rows.result_row``'s schema)."""
    import numpy as np

    from llm_backend.rows import Bootstraps
    from simulators.results import make_row

    c = np.asarray(acc_by_q, dtype=float)
    g = np.asarray(cost_by_q, dtype=float)
    boot = Bootstraps(seed)(len(c))
    return make_row(policy, c, g, g, 1.0, boot, knob_name="n", knob=knob, label=label, questions=len(c),
                    per_question=[bool(x) for x in c], per_question_cost=[float(x) for x in g])


def _engine(acc, cost, acc_z, cost_z):
    return [_rows(acc, [x - 0.5 for x in cost], "majority N=1", knob=1), _rows(acc, cost),
            _rows(acc_z, cost_z, "ZIP-RC beta=0.01", "ziprc", 0.01)]


def test_intervals_overlap_is_closed():
    from llm_backend.engines_bench import intervals_overlap

    assert intervals_overlap([0, 1], [1, 2]) and intervals_overlap([0, 3], [1, 2])
    assert not intervals_overlap([0, 1], [1.01, 2]) and not intervals_overlap([2, 3], [0, 1.9])


def test_engine_comparison_pairs_rows_and_flags_disagreement():
    """Same outcomes: every CI overlaps and every paired difference is 0. vLLM right on every
    question where HF is wrong: the accuracy CIs do not overlap and the paired difference is
    the shift. Picks majority voting at the largest N; a point (no interval: every question
    alike) overlaps only the intervals that contain it."""
    from llm_backend.engines_bench import compare_engine_rows, format_engines_sampled

    rng = __import__("numpy").random.default_rng(1)
    acc = [bool(x) for x in rng.random(60) < 0.3]
    cost = list(1.5 + rng.random(60))
    hf = _engine(acc, cost, acc, [x - 0.2 for x in cost])
    same = compare_engine_rows({"hf": hf, "vllm": hf})
    assert [(r["row"], r["metric"]) for r in same] == [
        ("majority N=2", "accuracy"), ("majority N=2", "gen_cost"),
        ("ZIP-RC beta=0.01", "accuracy"), ("ZIP-RC beta=0.01", "gen_cost")]
    assert all(r["overlap"] and r["difference"] == 0 for r in same)
    assert same[1]["hf"] == pytest.approx(sum(cost) / 60)

    flipped = [not a for a in acc]
    vl = _engine(flipped, cost, [True] * 60, cost)
    diff = compare_engine_rows({"hf": hf, "vllm": vl})
    mv_acc, _, z_acc, z_cost = diff
    assert not mv_acc["overlap"] and mv_acc["difference"] == pytest.approx(sum(flipped) / 60 - sum(acc) / 60)
    assert mv_acc["difference_ci"][0] > 0
    assert z_acc["vllm_ci"] is None and not z_acc["overlap"]     # the point 1.0 lies above HF's CI
    assert z_cost["difference"] == pytest.approx(0.2) and z_cost["difference_ci"] is None
    table = format_engines_sampled({"engines_sampled": diff, "engines_sampled_agree": False,
                                    "engines_sampled_seconds": {"train": 1.0, "sample_hf": 2.0, "sample_vllm": 3.0}})
    assert "every pair of CIs overlaps: NO" in table and " NO " in table.splitlines()[1]

    with pytest.raises(ValueError, match="different question counts"):
        compare_engine_rows({"hf": hf, "vllm": _engine(acc[:30], cost[:30], acc[:30], cost[:30])})
    with pytest.raises(ValueError, match="one 'ziprc' row"):
        compare_engine_rows({"hf": hf[:2], "vllm": vl})


def test_engines_sampled_is_on_request():
    from ziprc_cli.bench_cmd import ON_REQUEST, OPTIONAL_SECTIONS

    assert OPTIONAL_SECTIONS["engines_sampled"] == ("llm_backend.engines_bench", "run_engines_sampled_bench")
    assert "engines_sampled" in ON_REQUEST
