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
