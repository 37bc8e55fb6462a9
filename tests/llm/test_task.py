import numpy as np
import pytest

torch = pytest.importorskip("torch")

from llm_backend.task import MAX_STEPS, MULTIPLIERS, check, evaluate, extract_answer, make_problems, noisy_solution  # noqa: E402
from llm_backend.tok import build_tokenizer, encode  # noqa: E402


def test_clean_solutions_are_correct_and_checker_is_exact():
    rng = np.random.default_rng(0)
    for p in make_problems(200, seed=1):
        text, ok = noisy_solution(p, rng, noise=0.0)
        assert ok and check(p, text)
        wrong = text[:-1] + str((int(text[-1]) + 1) % 10)
        assert not check(p, wrong)
        assert not check(p, text[:text.rfind("A")])  # no answer
        assert not check(p, text + "7")  # answer with an extra digit


def test_evaluate_by_hand():
    # x <- (3x + c) mod 10 for c = 2, 1 from x = 7: 7 -> 3 -> 0
    assert evaluate(7, 2, 3) == 0
    assert extract_answer("2:7*3=1+2=3;1:3*3=9+1=0;A0") == "0"


def test_noise_makes_hard_questions_fail_more_and_fail_longer():
    rng = np.random.default_rng(0)
    probs = make_problems(3000, seed=2)
    acc = {s: [] for s in range(1, MAX_STEPS + 1)}
    lens_ok, lens_bad = [], []
    for p in probs:
        text, ok = noisy_solution(p, rng)
        assert ok == check(p, text)
        acc[p.steps].append(ok)
        if p.steps == 6:
            (lens_ok if ok else lens_bad).append(len(text))
    assert np.mean(acc[1]) > 0.9 and np.mean(acc[MAX_STEPS]) < 0.45
    assert np.mean(lens_bad) > np.mean(lens_ok)


def test_tokenizer_roundtrip_and_save(tmp_path):
    from transformers import AutoTokenizer

    tok = build_tokenizer()
    s = "Q7,5,3=5:7*3=1+5=6;?A6"
    ids = encode(tok, s)
    assert len(ids) == len(s) and tok.decode(ids) == s
    tok.save_pretrained(tmp_path)
    tok2 = AutoTokenizer.from_pretrained(tmp_path)
    assert encode(tok2, s) == ids and len(tok2) == len(tok)


def test_slips_are_never_healed_and_noticed_slips_are_marked():
    # the multipliers are units mod 10: every step is a bijection, so one wrong value stays wrong
    for k in MULTIPLIERS:
        for c in range(1, MAX_STEPS + 1):
            assert sorted((k * x + c) % 10 for x in range(10)) == list(range(10))
    rng = np.random.default_rng(3)
    probs = [p for p in make_problems(400, seed=4) if p.steps >= 5]
    assert {p.mult for p in probs} == set(MULTIPLIERS)
    wrong = 0
    for p in probs:
        text, ok = noisy_solution(p, rng, noise=1.0, recheck=1.0)
        if not ok:   # every slip is noticed: a wrong text shows a mark after a digit, and a rewritten line
            wrong += 1
            assert "?" in text
            i = text.index("?")
            assert text[i - 1].isdigit()
        quiet, ok2 = noisy_solution(p, rng, noise=1.0, recheck=0.0)
        assert "?" not in quiet and ok2 == check(p, quiet)
    assert wrong > 50
