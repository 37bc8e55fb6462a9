"""``ziprc llm demo --json OUT``: the headline numbers, a smoke run said as such, the 7-state
value head by default."""

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("pyarrow")

torch.set_num_threads(1)


@pytest.mark.slow
def test_micro_demo_headline_json(tmp_path, capsys):
    from llm_backend.config import make_config
    from llm_backend.pipeline import run_demo

    c = make_config(fast=True, pretrain_steps=4, pretrain_batch=8, train_prompts=6, train_steps=3,
                    alpha0_steps=2, lite_steps=3, train_batch=4, eval_questions=2, eval_k=2, policy_questions=2,
                    sample_questions=2, max_new_tokens=40, cap=3, denoise=True)
    out, js = tmp_path / "run", tmp_path / "demo.json"
    run_demo(out, c, progress=False, smoke=True, json_path=js)
    printed = capsys.readouterr().out
    assert "SMOKE RUN" in printed and "within-question AUROC" in printed
    h = json.loads(js.read_text())
    assert h["smoke_run"] is True and h["reward_states"] == 7
    assert "within_question_auroc" in h
    pa = h["policy_accuracy"]
    assert set(pa) >= {"before", "after"} and pa["questions"] == 2
    assert pa["difference"] == pytest.approx(pa["after"] - pa["before"])
    mc = h["matched_cost"]
    assert set(mc) >= {"ziprc_minus_mv", "ci", "cost", "questions"} and mc["questions"] == 2
    assert mc["ci"] is None or mc["ci"][0] <= mc["ziprc_minus_mv"] + 1e-12
    assert h["provenance"]["params"]["denoise"] is True
    assert json.loads((out / "ziprc" / "ziprc.json").read_text())["reward_states"] == 7
