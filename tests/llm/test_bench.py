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
