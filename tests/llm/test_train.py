import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from metamdp.grids import LengthGrid  # noqa: E402

from llm_backend.config import GridSpec  # noqa: E402
from llm_backend.model import ModelSize, build_model, load_checkpoint, save_checkpoint  # noqa: E402
from llm_backend.rollouts import rollouts  # noqa: E402
from llm_backend.task import make_problems  # noqa: E402
from llm_backend.train import (build_batch, denoise_values, forward_kl, train_with_denoising,  # noqa: E402
                               train_ziprc)

torch.set_num_threads(1)  # <= 2; one thread is far faster when the cores are shared
GRID = GridSpec()


@pytest.fixture(scope="module")
def setup():
    model, tok, rs = build_model("tiny", GRID, seed=0)
    recs = rollouts(model.eval(), tok, rs, make_problems(6, seed=0, max_steps=3), 2, 24, seed=0,
                    progress=False)
    for i, r in enumerate(recs):  # labels do not matter for these checks; make both classes
        r["correct"] = bool(i % 2)
    return model, tok, rs, recs


def test_build_batch_targets_follow_remaining_length(setup):
    model, tok, rs, recs = setup
    lengths = LengthGrid.binned(GRID.length_edges, delta=GRID.delta)
    r = dict(recs[0], prompt_ids=[1, 5, 6], response_ids=list(range(3, 13)) + [tok.eos_token_id], n_tokens=11)
    x, am, rows, cols, tg = build_batch([r], np.array([1]), rs, lengths, tok.pad_token_id)
    assert x.shape == (1, 13) and cols.tolist() == list(range(2, 13))
    remaining = 11 - np.arange(11)
    expect = 1 * rs.length_bins + lengths.tokens_to_bin(remaining)
    assert tg.tolist() == expect.tolist()


def test_forward_kl_matches_reference():
    torch.manual_seed(0)
    s, t = torch.randn(5, 30), torch.randn(5, 30)
    mask = torch.zeros(30, dtype=torch.bool)
    mask[20:26] = True
    k = 7
    got = forward_kl(s, t, mask, top_k=k)
    for i in range(5):
        tl = t[i].clone()
        tl[mask] = -np.inf
        tp = torch.softmax(tl.double(), -1)
        top = torch.topk(tp, k).indices
        q = tp[top] / tp[top].sum()
        sl = s[i].clone().double()
        sl[mask] = -np.inf
        lp = torch.log_softmax(sl, -1)[top]
        ref = float((q * (q.log() - lp)).sum())
        assert abs(float(got[i]) - ref) < 1e-5
    assert (got >= -1e-7).all()


def test_kl_is_exactly_zero_at_step_zero(setup):
    model, tok, rs, recs = setup
    m = copy.deepcopy(model)
    log = train_ziprc(m, tok, rs, GRID, recs, steps=3, batch_size=4, alpha_kl=10.0, top_k=32,
                      progress=False)
    assert log[0]["kl"] == 0.0
    assert log[-1]["kl"] > 0.0  # the policy moved


def test_lite_moves_only_slice_rows_tied(setup):
    model, tok, rs, recs = setup
    m = copy.deepcopy(model)
    assert m.get_output_embeddings().weight is m.get_input_embeddings().weight
    before = {k: v.clone() for k, v in m.state_dict().items()}
    log = train_ziprc(m, tok, rs, GRID, recs, steps=5, batch_size=4, lite=True, progress=False)
    after = m.state_dict()
    head_keys = {"lm_head.weight", "model.embed_tokens.weight"}
    for k, v in after.items():
        if k in head_keys:
            w0, w1 = before[k], v
            assert torch.equal(w0[:rs.start], w1[:rs.start])
            assert torch.equal(w0[rs.stop:], w1[rs.stop:])
            assert not torch.equal(w0[rs.start:rs.stop], w1[rs.start:rs.stop])
        else:
            assert torch.equal(before[k], v), k
    assert log[-1]["ce"] < log[0]["ce"]
    assert all(p.requires_grad for p in m.parameters())


def test_lite_untied_moves_only_lm_head_slice():
    size = ModelSize(hidden=16, layers=1, heads=2, kv_heads=1, intermediate=32, tie_embeddings=False)
    m, tok, rs = build_model(size, GRID, seed=1)
    recs = rollouts(m.eval(), tok, rs, make_problems(4, seed=1, max_steps=2), 1, 16, progress=False)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    train_ziprc(m, tok, rs, GRID, recs, steps=3, batch_size=4, lite=True, progress=False)
    for k, v in m.state_dict().items():
        if k == "lm_head.weight":
            assert torch.equal(before[k][:rs.start], v[:rs.start]) and torch.equal(before[k][rs.stop:], v[rs.stop:])
            assert not torch.equal(before[k], v)
        else:
            assert torch.equal(before[k], v), k


def test_full_training_lowers_slice_ce_and_logs(setup, tmp_path):
    model, tok, rs, recs = setup
    m = copy.deepcopy(model)
    log = train_ziprc(m, tok, rs, GRID, recs, steps=25, batch_size=len(recs), alpha_kl=1.0, lr=3e-3,
                      progress=False, log_path=tmp_path / "log.jsonl")
    assert np.mean([r["ce"] for r in log[-3:]]) < log[0]["ce"]
    lines = (tmp_path / "log.jsonl").read_text().splitlines()
    assert len(lines) == 25 and '"kl"' in lines[0]


def test_denoising_pipeline_produces_seven_state_head(setup):
    model, tok, rs, recs = setup
    m = copy.deepcopy(model)
    final, r7, log, values = train_with_denoising(m, tok, GRID, recs, steps=2, batch_size=4, progress=False)
    assert r7.reward_states == 7 and len(values) == len(recs)
    assert np.all((values >= 0) & (values <= 1))
    v2 = denoise_values(final, tok, r7, GRID, recs[:2], last_k=4)
    assert v2.shape == (2,)


def test_checkpoint_roundtrip(setup, tmp_path):
    model, tok, rs, recs = setup
    save_checkpoint(tmp_path / "ck", model, tok, rs, GRID)
    m2, tok2, rs2, grid2, meta = load_checkpoint(tmp_path / "ck")
    assert rs2 == rs and tuple(grid2.length_edges) == tuple(GRID.length_edges)
    x = torch.tensor([[1, 5, 6, 7]])
    with torch.no_grad():
        assert torch.equal(model(input_ids=x).logits, m2(input_ids=x).logits)
