import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("pyarrow")

from llm_backend.config import make_config  # noqa: E402
from llm_backend.pipeline import run_demo  # noqa: E402

torch.set_num_threads(1)  # <= 2; one thread is far faster when the cores are shared


def _micro(**kw):
    return make_config(fast=True, pretrain_steps=4, pretrain_batch=8, train_prompts=6, train_steps=3,
                       alpha0_steps=2, lite_steps=3, train_batch=4, eval_questions=2, eval_k=2, policy_questions=2,
                       sample_questions=2, max_new_tokens=40, cap=3, **kw)


@pytest.mark.slow
def test_micro_demo_writes_every_artifact(tmp_path, capsys):
    from simulators.traces import validate_traces

    out = tmp_path / "run"
    s = run_demo(out, _micro(), progress=False)
    for name in ("config.json", "pretrain_log.jsonl", "rollouts.jsonl", "summary.json", "sampling.json",
                 "eval_ziprc.json", "eval_ziprc_lite.json", "reliability_ziprc_ziprc_lite.png", "traces_majority.parquet",
                 "frontier.json", "frontier.png",
                 "train_log_ziprc.jsonl", "train_log_ziprc_alpha0.jsonl", "train_log_ziprc_lite.jsonl"):
        assert (out / name).exists(), name
    for d in ("pretrained", "ziprc", "ziprc_lite", "ziprc_alpha0"):
        assert (out / d / "config.json").exists() and (out / d / "ziprc.json").exists()
    validate_traces(out / "traces_majority.parquet")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["provenance"]["seed"] == 0 and "params" in summary["provenance"]
    printed = capsys.readouterr().out
    assert "model:" in printed
    # the frontier stage ran on the few recorded questions (cap 3): every policy over its knob
    fr = summary["frontier"]
    assert "error" not in fr and fr["questions"] == 2 and fr["reference"]["knob"] == 3
    assert fr["knob_points"] > fr["policies"] > 10 and "frontier" in summary["seconds"]
    assert "frontiers replayed from the majority-vote recordings" in printed
    rows = s["sample"]["rows"]
    assert [r["label"] for r in rows[:3]] == ["majority N=1", "majority N=2", "majority N=3"]
    assert [r["knob"] for r in rows[:3]] == [1, 2, 3] and {r["policy"] for r in rows[:3]} == {"mv"}
    assert all(0 <= r["accuracy"] <= 1 for r in rows)
    # the KL of the alpha_KL = 10 run starts at exactly 0
    first = json.loads((out / "train_log_ziprc.jsonl").read_text().splitlines()[0])
    assert first["kl"] == 0.0
    # no absolute path of this machine leaks into outputs
    assert str(tmp_path) not in (out / "summary.json").read_text()


def test_cli_stage_without_inputs_is_a_user_error(tmp_path, capsys):
    from ziprc_cli.main import main

    assert main(["llm", "rollouts", "--out", str(tmp_path / "none")]) == 2
    assert "ziprc llm pretrain" in capsys.readouterr().err


def test_zero_overhead_bench_reports_keys():
    from llm_backend.bench import run_zero_overhead_bench

    r = run_zero_overhead_bench(size="tiny", batch=8, steps=4, repeats=2)["zero_overhead"]
    assert r["throughput_ratio"] > 0 and r["planner_fraction"] > 0
    assert r["tokens_per_s_plain"] > 0 and r["batch"] == 8


def test_gpu_check_runs_on_cpu_tiny(tmp_path, capsys):
    from llm_backend.gpu_check import main

    assert main(["--device", "cpu", "--tiny", "--threads", "1", "--out", str(tmp_path / "g")]) == 0
    data = json.loads((tmp_path / "g" / "gpu_check.json").read_text())
    assert "zero_overhead" in data and data["size"] == "tiny" and data["dtype"] == "bfloat16"
    mc = data["matched_cost"]
    assert set(mc) >= {"ziprc_minus_mv", "ci", "cost", "questions"}
    # no interval (None) only where every bootstrap resample gives the same difference
    assert mc["ci"] is None or mc["ci"][0] <= mc["ziprc_minus_mv"] <= mc["ci"][1]
    assert data["tokens_per_s"]["plain"] > 0 and data["tokens_per_s"]["ziprc"] > 0
    assert data["zero_overhead"]["planner_fraction_source"] == "ZIP-RC sampling runs"
    assert data["peak_memory_bytes"] > 0 and data["launch_bound"]["ratio_4x"] > 0
    assert data["zero_overhead"]["dtype"] == "bfloat16"
    sc = data["score"]
    assert sc["dtype"] == "bfloat16" and sc["rollouts"] == 8 and sc["tokens"] > 0
    assert sc["batched_over_one_at_a_time"] > 0 and sc["peak_memory_bytes"] > 0


def test_cli_help_reads_the_pipelines_defaults_without_torch():
    """The stage commands' help reads "(default N; --fast M)" from ``llm_backend.config``,
    which is torch-free, so building the parser imports no torch."""
    import subprocess
    import sys

    code = ("import sys; from ziprc_cli.main import build_parser; build_parser(); "
            "assert 'torch' not in sys.modules, 'building the CLI parser imported torch'")
    subprocess.run([sys.executable, "-c", code], check=True)

    from llm_backend.config import FAST, Config
    from ziprc_cli.main import build_parser

    llm = next(a for a in build_parser()._subparsers._group_actions[0].choices["llm"]._actions
               if a.dest == "llm_command")
    seen = {}
    for stage in llm.choices.values():
        for action in stage._actions:
            if action.help and hasattr(Config, action.dest) and "(default " in action.help:
                seen[action.dest] = action.help
    assert seen["pretrain_steps"].endswith(f"(default {Config.pretrain_steps}; --fast {FAST['pretrain_steps']})")
    assert seen["alpha_kl"].endswith(f"(default {Config.alpha_kl:g})")
    assert len(seen) >= 8, sorted(seen)
