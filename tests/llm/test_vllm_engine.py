"""The online sampler served by vLLM (``--engine vllm``): greedy equivalence with the HF loop
(tokens, ticks, statuses, joints) under majority voting, ZIP-RC and a scripted policy that
pauses, resumes, branches and prunes; the slice never sampled; the CLI on a checkpoint in
the official layout; clear errors. The tests that serve a model need vLLM (the
``vllm-cpu`` extra, which CI installs) and are skipped, saying so, only where it does not
import."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from metamdp.policies import Action  # noqa: E402

os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")   # GiB per engine (an integer): these models are small

from llm_backend.vllm_engine import EngineError, import_vllm  # noqa: E402

torch.set_num_threads(1)

try:
    import_vllm()
    _NO_VLLM = None
except EngineError as e:
    _NO_VLLM = str(e)
needs_vllm = pytest.mark.skipif(_NO_VLLM is not None, reason=f"vLLM does not import here: {_NO_VLLM}")

ROOT = Path(__file__).parents[2]
MAX_NEW = 24
JOINT_ATOL = 1e-6     # float32 softmax of the same logits, computed by two engines


class PauseBranchPrune:
    """Start two samples; pause the second for a tick; then pause the first while a branch
    of it runs and the second resumes; run everything; stop (prune) at epoch 6."""

    name = "pause_branch_prune"

    def __call__(self, view):
        live = [s.sid for s in view.unfinished]
        if view.epoch == 0:
            return Action(keep=[], new=2)
        if view.epoch == 1:
            return Action(keep=[i for i in live if i == 0] or live)
        if view.epoch == 2 and 0 in live:
            return Action(keep=[i for i in live if i != 0], new=1, branch_from=0)
        if view.epoch >= 6:
            return Action(keep=[])
        return Action(keep=live)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A randomly initialised model of the demo's task, ``base``-shaped (head size 32), saved
    as a checkpoint; the same weights in the HF loop and served by vLLM (greedy)."""
    if _NO_VLLM is not None:
        pytest.skip(f"vLLM does not import here: {_NO_VLLM}")
    from llm_backend.config import GridSpec
    from llm_backend.model import build_model, save_checkpoint
    from llm_backend.rollouts import prompt_ids
    from llm_backend.task import make_problems
    from llm_backend.vllm_engine import VllmEngine

    grid = GridSpec(length_edges=(0, 4, 8, 12, 16, 20, 24, 32), delta=4)
    model, tok, rs = build_model("base", grid, seed=1)
    with torch.no_grad():   # the end token likelier, so that greedy samples end at varied lengths
        model.lm_head.weight[tok.eos_token_id] += 0.35 * model.lm_head.weight[tok.eos_token_id].sign()
    d = tmp_path_factory.mktemp("base_random")
    save_checkpoint(d, model, tok, rs, grid)
    problems = make_problems(6, seed=5)
    max_prompt = max(len(prompt_ids(tok, p)) for p in problems)
    rows = model.get_output_embeddings().weight.shape[0]
    engine = VllmEngine(d, rs, len(tok), rows, max_model_len=max_prompt + MAX_NEW + 2, seed=0)
    yield model.eval(), tok, rs, grid, problems, max_prompt, engine
    engine.close()


def _run(sampler, problems, policy, concurrent):
    """Run and return the results with each trace row carrying its sample's tokens."""
    row = sampler.trace_row
    sampler.trace_row = lambda s, qid, problem: dict(row(s, qid, problem), tokens=list(s.tokens))
    try:
        return sampler.run_many(problems, policy, concurrent=concurrent)
    finally:
        del sampler.trace_row


@needs_vllm
@pytest.mark.parametrize("policy", ["mv", "ziprc", "scripted", "late_branch"])
def test_greedy_equivalence_with_hf_loop(served, policy):
    from llm_backend.policies import MajorityVotePolicy, make_policy
    from llm_backend.sampler import OnlineSampler
    from llm_backend.vllm_engine import VllmOnlineSampler

    from .tiny import LateBranch

    model, tok, rs, grid, problems, max_prompt, engine = served
    kw = dict(cap=4, max_new_tokens=MAX_NEW, max_prompt=max_prompt, seed=0, temperature=0.0)
    pol = {"mv": lambda: MajorityVotePolicy(4), "ziprc": lambda: make_policy("ziprc", cap=4, beta=0.02),
           "scripted": PauseBranchPrune, "late_branch": lambda: LateBranch(at=4)}[policy]
    a = _run(OnlineSampler(model, tok, rs, grid, **kw), problems, pol(), concurrent=2)
    b = _run(VllmOnlineSampler(engine, tok, rs, grid, **kw), problems, pol(), concurrent=2)
    statuses, lengths = set(), set()
    for ra, rb in zip(a, b):
        for k in ("qid", "answer", "correct", "compute_tokens", "serial_tokens", "n_started", "pruned_tokens",
                  "epochs"):
            assert getattr(ra, k) == getattr(rb, k), (k, ra.qid)
        assert len(ra.samples) == len(rb.samples)
        for x, y in zip(ra.samples, rb.samples):
            for k in ("tokens", "tick_tokens", "status", "answer", "total_tokens", "branch_from", "prefix_tokens"):
                assert x[k] == y[k], (k, ra.qid, x["sample_id"])
            assert not any(t >= len(tok) for t in y["tokens"])
            np.testing.assert_allclose(y["joints"], x["joints"], rtol=0, atol=JOINT_ATOL)
            assert y["value"] == pytest.approx(x["value"], abs=JOINT_ATOL)
            assert x["prefix_tokens"] + x["total_tokens"] <= MAX_NEW   # the budget bounds the whole sequence
            statuses.add(x["status"])
            lengths.add(x["total_tokens"])
        assert rb.engine_cost["prefill_tokens"] > 0 and rb.engine_cost["discarded_tokens"] >= 0
    assert len(lengths) > 1                 # the prompts do not all decode alike
    if policy == "scripted":
        assert "pruned" in statuses
        assert any(r["branch_from"] == 0 for res in b for r in res.samples)
    if policy == "late_branch":   # a branch at 16 of 24 tokens, truncated at the budget
        late = [r for res in b for r in res.samples if r["branch_from"] == 0]
        assert any(r["status"] == "truncated" and r["prefix_tokens"] == 16 for r in late)
    assert not engine.live                  # every request ended or was aborted


@needs_vllm
def test_sampled_run_never_emits_the_slice_and_writes_valid_traces(served, tmp_path):
    from llm_backend.policies import make_policy
    from llm_backend.vllm_engine import VllmOnlineSampler
    from simulators.traces import validate_traces, write_traces

    model, tok, rs, grid, problems, max_prompt, engine = served
    s = VllmOnlineSampler(engine, tok, rs, grid, cap=4, max_new_tokens=MAX_NEW, max_prompt=max_prompt,
                          seed=3, temperature=1.0)
    res = _run(s, problems, make_policy("ziprc", cap=4, beta=0.02), concurrent=3)
    rows = [r for q in res for r in q.samples]
    # without the mask a random head samples its 56 rows beyond the text tokens often
    assert sum(len(r["tokens"]) for r in rows) > 50
    assert all(t < len(tok) for r in rows for t in r["tokens"])
    for r in rows:
        assert np.allclose(np.array(r["joints"]).sum(1), 1.0, atol=1e-6)
        del r["tokens"]
    write_traces(tmp_path / "t.parquet", rows, {"seed": 3, "params": {"policy": "ziprc", "engine": "vllm"}})
    assert validate_traces(tmp_path / "t.parquet")["questions"] == len(problems)
    assert not engine.live


def test_missing_vllm_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(EngineError, match=r"needs vLLM.*pip install"):
        import_vllm()


@needs_vllm
def test_unsupported_head_size_is_a_clear_error(tmp_path):
    from llm_backend.vllm_engine import check_fits

    from .tiny import save_tiny_qwen3

    save_tiny_qwen3(tmp_path / "h8")             # head size 8
    with pytest.raises(EngineError, match="head size 8 .*not supported by vLLM's CPU attention"):
        check_fits(tmp_path / "h8")
    save_tiny_qwen3(tmp_path / "h32", head_dim=32)
    check_fits(tmp_path / "h32")


@needs_vllm
@pytest.mark.slow
def test_cli_sample_engine_vllm_official_layout(tmp_path):
    """``ziprc llm sample --engine vllm`` on a tiny random Qwen3 in the official layout (spare
    head rows, no ziprc.json), with a user's policy module: the same outputs as the HF engine
    writes, traces that ``ziprc replay --validate-only`` accepts."""
    from .tiny import save_tiny_qwen3

    d = tmp_path / "qwen3"
    ntok, rows = save_tiny_qwen3(d, head_dim=32)
    p = tmp_path / "p.jsonl"
    p.write_text("\n".join(json.dumps(x) for x in [{"id": "a", "prompt": "Q1,2,3=", "answer": "4"},
                                                  {"id": "b", "prompt": "Q5,1,2=", "answer": "1"}]) + "\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "ziprc_cli", "llm", "sample", "--engine", "vllm", "--model", str(d),
           "--prompts", str(p), "--reward-states", "2", "--policies", "mv,ziprc", "--out", str(out),
           "--cap", "3", "--betas", "0.1", "--max-new-tokens", "10", "--delta", "4", "--quiet", "--seed", "1",
           "--concurrent", "2", "--policy-module", str(ROOT / "examples" / "my_policy.py") + ":ThreeVotes"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    s = json.loads((out / "sampling.json").read_text())
    assert [x["label"] for x in s["rows"]] == ["majority N=1", "majority N=2", "majority N=3", "ZIP-RC beta=0.1",
                                               "three_votes"]
    assert s["engine"] == "vllm" and s["provenance"]["params"]["engine"] == "vllm"
    assert set(s["engine_cost"]) == {"majority", "ZIP-RC beta=0.1", "three_votes"}
    assert s["provenance"]["params"]["slice"]["distribution_token_id"] == ntok
    for name in ("traces_majority.parquet", "traces_ziprc_beta0.1.parquet", "traces_three_votes.parquet"):
        v = subprocess.run([sys.executable, "-m", "ziprc_cli", "replay", "--traces", str(out / name),
                            "--validate-only"], capture_output=True, text=True, env=env, timeout=300)
        assert v.returncode == 0, v.stderr[-2000:]


def test_engine_vllm_needs_prompts(capsys):
    from ziprc_cli.main import main

    assert main(["llm", "sample", "--engine", "vllm", "--out", "unused"]) == 2
    assert "--engine vllm needs --prompts" in capsys.readouterr().err


@needs_vllm
def test_engines_bench_rows(tmp_path):
    """``ziprc bench --sections engines``: one row per engine and mode, each with what the
    JSON promises, the ZIP-RC rows with the controller's share (a tiny run: no speed is
    asserted here). In a child process, as the command runs it: vLLM engines started and
    dropped in a process break the parallel state of another engine still open there (the
    module's)."""
    code = ("import json, sys; from llm_backend.engines_bench import format_engines, run_engines_bench; "
            "r = run_engines_bench(sizes=('base',), concurrents=(8,), max_new_tokens=8, repeats=1); "
            "r['table'] = format_engines(r); json.dump(r, open(sys.argv[1], 'w'))")
    p = subprocess.run([sys.executable, "-c", code, str(tmp_path / "r.json")], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    r = json.loads((tmp_path / "r.json").read_text())
    rows = r["engines"]
    assert [(x["engine"], x["mode"]) for x in rows] == [("vllm", "plain"), ("vllm", "slice"), ("vllm", "ziprc"),
                                                        ("hf", "ziprc")]
    for x in rows:
        assert x["model"] == "base" and x["concurrent"] == 8 and x["tokens"] > 0 and x["tokens_per_s"] > 0
    for x in rows[2:]:
        assert 0 <= x["controller_share"] <= 1 and 0 <= x["planner_share"] <= x["controller_share"] + 1e-9
    assert rows[0]["ratio_to_plain"] == 1.0
    assert "vllm  ziprc" in r["table"]


@needs_vllm
@pytest.mark.slow
def test_engines_sampled_section_on_a_briefly_trained_model(tmp_path):
    """``ziprc bench --sections engines_sampled`` at a tiny scale (no agreement is asserted on
    six questions of a barely trained model): the model is trained and both engines sample
    the same prompt file; each engine's ``sampling.json`` and traces are written and valid; the
    comparison's rows are the ones its table states (means inside their CIs, the paired
    difference = vLLM's mean - HF's). In a child process, as the command runs it."""
    from simulators.traces import validate_traces

    code = ("import json, sys; from llm_backend.engines_bench import *; "
            "r = run_engines_sampled_bench(pretrain_steps=10, train_prompts=8, train_steps=4, questions=6, cap=4, "
            "max_new_tokens=32, concurrent=3, out=sys.argv[2]); "
            "r['table'] = format_engines_sampled(r); json.dump(r, open(sys.argv[1], 'w'))")
    p = subprocess.run([sys.executable, "-c", code, str(tmp_path / "r.json"), str(tmp_path / "run")],
                       capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    r = json.loads((tmp_path / "r.json").read_text())
    rows = r["engines_sampled"]
    assert [(x["row"], x["metric"]) for x in rows] == [
        ("majority N=4", "accuracy"), ("majority N=4", "gen_cost"),
        ("ZIP-RC beta=0.01", "accuracy"), ("ZIP-RC beta=0.01", "gen_cost")]
    for x in rows:
        assert x["difference"] == pytest.approx(x["vllm"] - x["hf"], abs=1e-12)
        for e in ("hf", "vllm"):
            if x[f"{e}_ci"] is not None:
                assert x[f"{e}_ci"][0] <= x[e] <= x[f"{e}_ci"][1]
    assert r["engines_sampled_agree"] == all(x["overlap"] for x in rows)
    assert r["engines_sampled_params"]["head"] == "2-state" and "every pair of CIs overlaps" in r["table"]
    qids = [json.loads(line)["id"] for line in (tmp_path / "run" / "prompts.jsonl").read_text().splitlines()]
    assert len(qids) == 6
    for e in ("hf", "vllm"):
        s = json.loads((tmp_path / "run" / f"sample_{e}" / "sampling.json").read_text())
        assert s["engine"] == e and s["questions"] == 6
        assert validate_traces(tmp_path / "run" / f"sample_{e}" / "traces_majority.parquet")["questions"] == 6
    assert r["engines_sampled_prefill_tokens"]["vllm"]["majority"] > 0


@needs_vllm
@pytest.mark.slow
def test_sampled_lengths_agree_with_hf_loop(served):
    """At temperature 1 the two engines draw different samples (their random streams differ)
    from the same distribution: the mean length and the share of samples that end on their
    own agree within 4.5 standard errors over 8 x 6 majority-vote samples per engine. Fails
    if either engine samples at another temperature or masks other rows."""
    from llm_backend.policies import MajorityVotePolicy
    from llm_backend.sampler import OnlineSampler
    from llm_backend.vllm_engine import VllmOnlineSampler

    model, tok, rs, grid, problems, max_prompt, engine = served
    kw = dict(cap=8, max_new_tokens=MAX_NEW, max_prompt=max_prompt, seed=11, temperature=1.0)
    out = {}
    for name, s in (("hf", OnlineSampler(model, tok, rs, grid, **kw)),
                    ("vllm", VllmOnlineSampler(engine, tok, rs, grid, **kw))):
        res = s.run_many(problems * 2, MajorityVotePolicy(8), concurrent=4)
        out[name] = [r for q in res for r in q.samples]
    assert len(out["hf"]) == len(out["vllm"]) == 96
    for stat in (lambda r: r["total_tokens"], lambda r: float(r["finished"])):
        a = np.array([stat(r) for r in out["hf"]], dtype=float)
        b = np.array([stat(r) for r in out["vllm"]], dtype=float)
        se = np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
        assert abs(a.mean() - b.mean()) <= 4.5 * max(se, 1e-9), (a.mean(), b.mean(), se)
    # and the draws are not the same draws
    assert [r["total_tokens"] for r in out["hf"]] != [r["total_tokens"] for r in out["vllm"]]
