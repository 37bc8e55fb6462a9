"""Any prompt set on any checkpoint: ``ziprc llm sample --model DIR --prompts FILE.jsonl`` on a
tiny Qwen3 in the official layout (no ziprc.json), its traces replayable; the prompt file,
answer extractor and checker; ``--reward-states`` required without ziprc.json; ``--chat``."""

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from llm_backend.prompts import AnswerExtractor, PromptFileError, encode_prompt, load_prompts  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def qwen3(tmp_path_factory):
    from .tiny import save_tiny_qwen3

    d = tmp_path_factory.mktemp("qwen3_official")
    ntok, rows = save_tiny_qwen3(d)
    return d, ntok, rows


@pytest.fixture
def prompts(tmp_path):
    p = tmp_path / "p.jsonl"
    lines = [{"id": "a", "prompt": "Q1,2,3=", "answer": "4"}, {"id": 7, "prompt": "Q5,1,2=", "answer": 1},
             {"id": "c", "prompt": "Q9,3,3=", "answer": "12", "difficulty": 3}]
    p.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return p


def test_extractor_and_checker():
    ex = AnswerExtractor()
    assert ex("so 3 + 4 = 7, then 1,234.5 apples.") == "1,234.5"
    assert ex("no digits") is None
    assert ex("x = -12") == "-12"
    assert AnswerExtractor.same("1,234.50", "1234.5") and AnswerExtractor.same("3.0", "3")
    assert AnswerExtractor.same("3/4", "0.75") and not AnswerExtractor.same("3", "4")
    assert not AnswerExtractor.same(None, "4") and AnswerExtractor.same("yes.", "yes")
    boxed = AnswerExtractor(r"\\boxed\{([^}]*)\}")
    assert boxed(r"first \boxed{2} then \boxed{17}") == "17"
    with pytest.raises(PromptFileError, match="answer-regex"):
        AnswerExtractor("(unclosed")


def test_prompt_file_errors(tmp_path, prompts):
    ps = load_prompts(prompts)
    assert [p.qid for p in ps] == ["a", "7", "c"] and ps[1].answer == "1" and ps[2].difficulty == 3.0
    bad = tmp_path / "bad.jsonl"
    for text, msg in [('{"id": 1, "prompt": "x"}', "line 1: missing answer"),
                      ('{"id": 1, "prompt": "x", "answer": 1}\n{"id": 1, "prompt": "y", "answer": 2}',
                       "line 2: duplicate id '1'"),
                      ("not json", "line 1: not valid JSON"),
                      ('{"id": 1, "prompt": "", "answer": 1}', "prompt must be a non-empty string"),
                      ("", "no prompts")]:
        bad.write_text(text)
        with pytest.raises(PromptFileError, match=msg):
            load_prompts(bad)
    with pytest.raises(PromptFileError, match="no such file"):
        load_prompts(tmp_path / "missing.jsonl")


def test_reward_states_required_without_ziprc_json(qwen3, prompts, tmp_path, capsys):
    from llm_backend.checkpoint import CheckpointError, load_ziprc
    from ziprc_cli.main import main

    d, _, _ = qwen3
    with pytest.raises(CheckpointError, match="no ziprc.json.*--reward-states"):
        load_ziprc(d)
    assert main(["llm", "sample", "--model", str(d), "--prompts", str(prompts), "--out", str(tmp_path / "o"),
                 "--quiet"]) == 2
    assert "--reward-states" in capsys.readouterr().err
    assert main(["llm", "predict", "--model", str(d), "--prompt", "Q1,2,3="]) == 2


def test_chat_template_and_dtype(qwen3):
    from llm_backend.checkpoint import load_ziprc, predict

    d, ntok, _ = qwen3
    model, tok, rs, rewards, lengths = load_ziprc(d, reward_states=2, dtype="bfloat16")
    assert next(model.parameters()).dtype == torch.bfloat16
    ids = encode_prompt(tok, "1,2,3", chat=True)
    assert tok.decode(ids) == "Q1,2,3="
    assert encode_prompt(tok, "Q1,2,3=") == [tok.bos_token_id] + tok("Q1,2,3=", add_special_tokens=False)["input_ids"]
    r = predict(model, tok, rs, rewards, lengths, "1,2,3", max_new_tokens=3, chat=True)
    assert len(r["joints"]) == len(r["tokens"]) >= 1
    assert np.allclose(np.array(r["joints"]).sum((1, 2)), 1.0, atol=1e-5)


def test_cli_sample_prompts_traces_replay(qwen3, prompts, tmp_path):
    from simulators.traces import read_metadata, validate_traces
    from ziprc_cli.main import main

    d, ntok, rows = qwen3
    out = tmp_path / "run"
    rc = main(["llm", "sample", "--model", str(d), "--prompts", str(prompts), "--reward-states", "2",
               "--out", str(out), "--cap", "3", "--betas", "0.1", "--max-new-tokens", "10", "--delta", "4",
               "--quiet", "--seed", "1", "--concurrent", "2",
               "--policy-module", str(Path(__file__).parents[2] / "examples" / "my_policy.py") + ":ThreeVotes"])
    assert rc == 0
    s = json.loads((out / "sampling.json").read_text())
    assert s["questions"] == 3 and len(s["matched"]) == 2
    assert [r["label"] for r in s["rows"]] == ["majority N=1", "majority N=2", "majority N=3", "ZIP-RC beta=0.1",
                                                "three_votes"]
    # the user's policy ran: three samples started on every question, and its traces are written
    assert s["rows"][-1]["policy"] == "three_votes" and s["rows"][-1]["samples"] == 3.0
    assert validate_traces(out / "traces_three_votes.parquet")["questions"] == 3
    assert s["provenance"]["params"]["slice"]["distribution_token_id"] == ntok
    for name in ("traces_majority.parquet", "traces_ziprc_beta0.1.parquet"):
        v = validate_traces(out / name)
        assert v["questions"] == 3
    assert read_metadata(out / "traces_majority.parquet") is not None
    assert v["rows"] >= 3
    import pyarrow.parquet as pq

    t = pq.read_table(out / "traces_majority.parquet").to_pylist()
    truth = {"a": "4", "7": "1", "c": "12"}
    assert len(t) == 9 and {r["question_id"] for r in t} == set(truth)
    for r in t:   # the stored label is the checker applied to the stored answer
        assert r["correct"] == (r["finished"] and AnswerExtractor.same(r["answer"], truth[r["question_id"]]))
    assert [r["difficulty"] for r in t if r["question_id"] == "c"] == [3.0] * 3
    # the majority traces replay with the simulators' policies
    rc = main(["replay", "--traces", str(out / "traces_majority.parquet"), "--cap", "3",
               "--policies", "mv,ziprc", "--no-progress", "--json", str(tmp_path / "replay.json")])
    assert rc == 0
    rep = json.loads((tmp_path / "replay.json").read_text())
    assert rep
    # the majority traces carry their token ids: re-scored teacher-forced by the same
    # checkpoint, they give back the joints the online sampler read, and their answers
    from llm_backend.score import score_rollouts

    rescored = tmp_path / "rescored.parquet"
    score_rollouts(d, out / "traces_majority.parquet", rescored, reward_states=2, delta=4, progress=False)
    r2 = pq.read_table(rescored).to_pylist()
    assert len(r2) == len(t) == 9
    for a, b in zip(t, r2):
        assert (a["question_id"], a["sample_id"], a["total_tokens"], a["answer"], a["correct"]) == \
               (b["question_id"], b["sample_id"], b["total_tokens"], b["answer"], b["correct"])
        assert a["tick_tokens"] == b["tick_tokens"]
        assert np.max(np.abs(np.asarray(a["joints"]) - np.asarray(b["joints"]))) <= 1e-5


def test_cli_sample_prompts_runs_the_named_policies(qwen3, prompts, tmp_path, capsys):
    """``--policies`` with ``--prompts``: the named policies and only those (majority voting
    always: it is the cost unit). A selection-only policy (bon) is scored on majority voting's
    own samples, so its cost is majority voting's with all ``cap``; an online baseline
    (length_prune) runs through the sampler and writes its traces; no ZIP-RC row or traces
    when ZIP-RC is not named. An unknown name fails before the model is loaded."""
    import pyarrow.parquet as pq

    from metamdp.policies import select
    from simulators.traces import validate_traces
    from ziprc_cli.main import main

    d, _, _ = qwen3
    out = tmp_path / "run"
    base = ["llm", "sample", "--model", str(d), "--prompts", str(prompts), "--reward-states", "2", "--out", str(out),
            "--cap", "3", "--max-new-tokens", "10", "--delta", "4", "--quiet", "--seed", "1", "--concurrent", "2"]
    assert main([*base, "--policies", "mv,bon,length_prune"]) == 0
    s = json.loads((out / "sampling.json").read_text())
    labels = [r["label"] for r in s["rows"]]
    assert labels[:4] == ["majority N=1", "majority N=2", "majority N=3", "bon N=3"]
    assert len(labels) == 5 and labels[4].startswith("length_prune ") and not any("ZIP-RC" in x for x in labels)
    assert s["provenance"]["params"]["policies"] == ["mv", "bon", "length_prune"]
    bon, mv3 = s["rows"][3], s["rows"][2]
    assert bon["per_question_cost"] == mv3["per_question_cost"]
    from types import SimpleNamespace

    t = pq.read_table(out / "traces_majority.parquet").to_pylist()
    truth = {"a": "4", "7": "1", "c": "12"}
    qids = [r["question_id"] for r in t if r["sample_id"] == 0]   # the questions in their order
    want = []
    for q in qids:
        done = [SimpleNamespace(sid=r["sample_id"], answer=r["answer"], value=r["value"], correct=r["correct"],
                                status="finished") for r in t if r["question_id"] == q and r["finished"]]
        ch = select("value", done)
        want.append(ch is not None and AnswerExtractor.same(ch.answer, truth[q]))
    assert bon["per_question"] == want
    assert validate_traces(out / "traces_length_prune.parquet")["questions"] == 3
    assert not list(out.glob("traces_ziprc*"))
    assert main([*base, "--policies", "mv,nonesuch"]) == 2
    assert "unknown policy 'nonesuch'" in capsys.readouterr().err


def test_row_labels_name_the_main_knobs():
    from llm_backend.policies import make_policy
    from llm_backend.rows import row_label

    assert row_label(make_policy("deepconf", cap=4)) == "deepconf n=4,warmup=2"
    assert row_label(make_policy("ziprc_recourse", cap=4)) == "ziprc_recourse"   # no knob: no trailing space
