"""``ziprc llm score``: rollouts in the authors' Parquet layout, scored by a checkpoint in the
official layout, equal the model's own next-token-pass joints, and replay."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from llm_backend.checkpoint import load_ziprc, predict  # noqa: E402
from llm_backend.prompts import AnswerExtractor, encode_prompt  # noqa: E402
from llm_backend.score import RolloutError, plan_batches, score_rollouts, tick_positions  # noqa: E402
from llm_backend.slice import SliceError  # noqa: E402
from simulators.traces import read_traces, validate_traces  # noqa: E402

from .tiny import save_tiny_qwen3  # noqa: E402

torch.set_num_threads(1)

STATES = 7
DELTA = 3
PROMPTS = ["Q12+3=", "Q4*5+1=", "Q7,5,3="]
THINK_CLOSED, THINK_OPEN = 4, 5     # rows (k * 3 + q) whose response has a <think> block
#: the official rollout file's columns and Arrow types (what pandas.to_parquet writes)
OFFICIAL = pa.schema([("prompt_idx", pa.int64()), ("prompt", pa.string()), ("answer", pa.string()),
                      ("prompt_token_ids", pa.list_(pa.int64())), ("output_token_ids", pa.list_(pa.int64())),
                      ("input_ids", pa.list_(pa.int64())), ("label_positions", pa.list_(pa.int64())),
                      ("response", pa.string()), ("length", pa.int64()), ("finished", pa.bool_()),
                      ("correct", pa.bool_()), ("value", pa.float64())])


@pytest.fixture(scope="module")
def official(tmp_path_factory):
    """A tiny random Qwen3 in the official layout and rollouts of it in the official columns:
    3 questions x 4 samples, rows of the questions interleaved, some cut by the token budget
    (unfinished), one with a closed ``<think>`` block, one whose ``<think>`` never closes.
    Also returns each row's joints as ``model.generate`` read them (``predict``)."""
    d = tmp_path_factory.mktemp("qwen3_official")
    save_tiny_qwen3(d, eos_boost=0.0)
    model, tok, rs, rewards, lengths = load_ziprc(d, reward_states=STATES)
    rows, joints = [], []
    for k in range(4):
        for q, prompt in enumerate(PROMPTS):
            r = predict(model, tok, rs, rewards, lengths, prompt, max_new_tokens=20, sample=True, seed=7 * k + q)
            pids, out = encode_prompt(tok, prompt), r["token_ids"]
            finished = out[-1] == tok.eos_token_id
            text = tok.decode(out, skip_special_tokens=True)
            response = f"{text} so \\boxed{{{q + k}}}"
            if k * 3 + q == THINK_CLOSED:
                response = f"<think>maybe \\boxed{{99}}</think> It is \\boxed{{{q + k}}}."
            if k * 3 + q == THINK_OPEN:
                response = "<think>still working \\boxed{5}"
            rows.append({"prompt_idx": q, "prompt": prompt, "answer": str(q + 1), "prompt_token_ids": pids,
                         "output_token_ids": out, "input_ids": pids + out,
                         "label_positions": list(range(len(pids), len(pids) + len(out))),
                         "response": response, "length": len(out), "finished": finished,
                         "correct": bool(finished and (q + k) % 2 == 0), "value": None if k == 1 else 0.25 * k})
            joints.append(np.asarray(r["joints"]))
    path = d / "rollouts.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=OFFICIAL), path)
    assert any(not r["finished"] for r in rows) and any(r["finished"] for r in rows)
    return d, path, rows, joints


def _score(official, out, **kw):
    d, path = official[0], kw.pop("rollouts", official[1])
    kw.setdefault("reward_states", STATES)
    return score_rollouts(d, path, out, delta=kw.pop("delta", DELTA), progress=False, **kw)


def test_joints_equal_the_models_own_pass(official, tmp_path):
    """Every written joint equals the one ``model.generate`` read when it chose that token
    (float32, <= 1e-5), batched, padded, and with long rollouts fed in chunks."""
    d, path, rows, joints = official
    out = tmp_path / "traces.parquet"
    # 16 tokens per forward: most rollouts are longer, so they are fed through the KV cache
    s = _score(official, out, batch_tokens=16, shard_rows=5)
    assert s["chunked_rollouts"] >= 3 and s["batched_rollouts"] >= 3
    assert s["rows"] == 12 and s["questions"] == 3 and s["head_check"] <= 1e-5
    assert validate_traces(out)["rows"] == 12
    seen, order = 0, []
    for qt in read_traces(out):
        for smp in qt.samples:
            i = smp.extra["source_row"]
            order.append((qt.question_id, i))
            r = rows[i]
            ticks, _ = tick_positions(len(r["prompt_token_ids"]), len(r["output_token_ids"]), DELTA)
            assert np.array_equal(smp.tick_tokens, ticks)
            ref = joints[i][ticks]
            assert smp.joints.shape == ref.shape == (ticks.size, STATES, 8)
            assert np.max(np.abs(smp.joints - ref)) <= 1e-5
            assert smp.total_tokens == r["length"] and smp.finished == r["finished"]
            assert smp.correct == r["correct"]
            assert smp.value == (r["value"] if r["value"] is not None else float(r["correct"]))
            assert smp.extra["reference_answer"] == r["answer"]
            seen += 1
    assert seen == 12
    # rows of a question together, questions in order of first appearance, samples in file order
    assert [q for q, _ in order] == ["0"] * 4 + ["1"] * 4 + ["2"] * 4
    assert [i for _, i in order] == [0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11]


def test_answers_follow_the_final_section(official, tmp_path):
    d, path, rows, joints = official
    out = tmp_path / "traces.parquet"
    _score(official, out)
    answers = {smp.extra["source_row"]: smp.answer for qt in read_traces(out) for smp in qt.samples}
    assert rows[THINK_CLOSED]["finished"] and rows[THINK_OPEN]["finished"]
    for i, r in enumerate(rows):
        if not r["finished"]:
            assert answers[i] is None
        elif i == THINK_CLOSED:         # the boxed answer after </think>, not the one inside
            assert answers[i] == "2"
        elif i == THINK_OPEN:           # <think> never closes: no answer
            assert answers[i] is None
        else:
            assert answers[i] == str(i % 3 + i // 3)
    assert AnswerExtractor("boxed")(r"\boxed{\frac{1}{2}} then \boxed{x^{2}}") == "x^{2}"
    assert AnswerExtractor()("<think>1 2 3</think> it is 12.") == "12"


def test_packed_layout_gives_the_same_traces(official, tmp_path):
    """``input_ids`` + ``label_positions`` alone (the columns the official scorer reads)."""
    d, path, rows, joints = official
    packed = tmp_path / "packed.parquet"
    t = pq.read_table(path).drop(["prompt_token_ids", "output_token_ids"])
    pq.write_table(t, packed)
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    _score(official, a)
    _score(official, b, rollouts=packed)
    ta, tb = pq.read_table(a), pq.read_table(b)
    assert ta.drop(["joints"]).equals(tb.drop(["joints"]))
    assert np.array_equal(np.asarray(ta.column("joints").combine_chunks().flatten().flatten()),
                          np.asarray(tb.column("joints").combine_chunks().flatten().flatten()))


def test_interrupted_run_resumes(official, tmp_path):
    out = tmp_path / "traces.parquet"
    with pytest.raises(KeyboardInterrupt):
        _score(official, out, shard_rows=5, stop_after_shards=1)
    parts = tmp_path / "traces.parquet.parts"
    assert not out.exists() and sorted(p.name for p in parts.iterdir()) == ["part-00000.parquet", "run.json"]
    with pytest.raises(RolloutError, match="interrupted run with other parameters"):
        _score(official, out, shard_rows=5, delta=DELTA + 1)
    s = _score(official, out, shard_rows=5)
    assert s["resumed_shards"] == 1 and s["written_shards"] == 2 and not parts.exists()
    whole = tmp_path / "whole.parquet"
    _score(official, whole, shard_rows=5)
    assert pq.read_table(out).drop(["joints"]).equals(pq.read_table(whole).drop(["joints"]))


def _edit(path, tmp_path, column, row, value, drop=False):
    t = pq.read_table(path)
    if drop:
        t = t.drop([column])
    else:
        vals = t.column(column).to_pylist()
        vals[row] = value
        t = t.set_column(t.schema.get_field_index(column), column, pa.array(vals, t.schema.field(column).type))
    bad = tmp_path / "bad.parquet"
    pq.write_table(t, bad)
    return bad


@pytest.mark.parametrize("column,row,value,drop,message", [
    ("correct", 0, None, True, "missing column correct"),
    ("prompt_idx", 0, None, True, "missing column prompt_idx"),
    ("output_token_ids", 5, [3, 4, 10_000], False, "row 5, column output_token_ids: token id 10000 at index 2"),
    ("output_token_ids", 7, [], False, "row 7, column output_token_ids: empty output"),
    ("prompt_token_ids", 2, [-1, 3], False, "row 2, column prompt_token_ids: token id -1"),
    ("value", 4, 1.5, False, "row 4, column value: 1.5 is outside"),
    ("length", 3, 1000, False, "row 3, column length: is 1000"),
    ("finished", 6, None, False, "row 6, column finished: is null"),
])
def test_malformed_rollouts_fail_before_scoring(official, tmp_path, column, row, value, drop, message):
    bad = _edit(official[1], tmp_path, column, row, value, drop)
    out = tmp_path / "traces.parquet"
    with pytest.raises(RolloutError, match=message.replace("(", r"\(")):
        _score(official, out, rollouts=bad)
    assert not out.exists() and not (tmp_path / "traces.parquet.parts").exists()


def test_cli_errors_are_one_line(official, tmp_path, capsys):
    from ziprc_cli.main import main

    d, path = official[0], official[1]
    bad = _edit(path, tmp_path, "output_token_ids", 1, [], False)
    out = tmp_path / "t.parquet"
    args = ["llm", "score", "--model", str(d), "--rollouts", str(bad), "--out", str(out), "--reward-states", "7",
            "--quiet"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "row 1, column output_token_ids: empty output" in err
    # a slice past the end of lm_head
    rows = load_ziprc(d, reward_states=STATES)[0].get_output_embeddings().weight.shape[0]
    with pytest.raises(SliceError, match="does not fit"):
        score_rollouts(d, path, out, reward_states=STATES, distribution_token_id=rows - 8, progress=False)
    assert not out.exists()


def test_cli_scores_then_replays(official, tmp_path, capsys):
    """The README's path for the authors' outputs: score, validate, replay every policy."""
    from ziprc_cli.main import main

    d, path = official[0], official[1]
    out = tmp_path / "t.parquet"
    assert main(["llm", "score", "--model", str(d), "--rollouts", str(path), "--out", str(out),
                 "--reward-states", "7", "--delta", str(DELTA), "--quiet"]) == 0
    assert "scored 12 rollouts of 3 questions" in capsys.readouterr().out
    assert main(["replay", "--validate-only", "--traces", str(out)]) == 0
    assert "valid" in capsys.readouterr().out
    js = tmp_path / "replay.json"
    assert main(["replay", "--traces", str(out), "--cap", "4", "--json", str(js)]) == 0
    import json

    rep = json.loads(js.read_text())
    assert {"ziprc", "mv", "pandora"} <= {r["policy"] for r in rep["rows"]}
    assert rep["sources"][""]["questions"] == 3


def test_plan_batches_bounds_padding():
    needed = [5, 40, 7, 6, 39, 100, 8]
    batches = plan_batches(needed, 48)
    assert sorted(i for b in batches for i in b) == list(range(7))
    for b in batches:
        longest = max(needed[i] for i in b)
        assert len(b) == 1 or len(b) * longest <= 48
    assert [5] in batches          # longer than the budget: alone (fed in chunks)


def test_bfloat16_weights_score_close_to_float32(official, tmp_path):
    a, b = tmp_path / "f32.parquet", tmp_path / "bf16.parquet"
    _score(official, a)
    _score(official, b, dtype="bfloat16")
    ja = np.concatenate([np.asarray(x).ravel() for x in pq.read_table(a).column("joints").to_pylist()])
    jb = np.concatenate([np.asarray(x).ravel() for x in pq.read_table(b).column("joints").to_pylist()])
    assert ja.shape == jb.shape and 0 < np.max(np.abs(ja - jb)) < 0.05
    assert pq.read_table(b).schema.metadata[b"ziprc"].decode().count('"dtype": "bfloat16"') >= 1
