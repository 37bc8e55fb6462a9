import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from llm_backend.decode import KVPool, PoolError, Sampler, generate  # noqa: E402
from llm_backend.config import GridSpec  # noqa: E402
from llm_backend.model import build_model  # noqa: E402

from ..oracles import slot_state  # noqa: E402

torch.set_num_threads(1)  # <= 2; one thread is far faster when the cores are shared


@pytest.fixture(scope="module")
def tiny():
    model, tok, rs = build_model("tiny", GridSpec(), seed=0)
    return model.eval(), tok, rs


def _full(model, ids):
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits[0, -1]


def test_batched_step_matches_full_forward(tiny):
    model, tok, rs = tiny
    pool = KVPool(model, 3, 40)
    prompts = [[1, 5, 6, 7], [1, 8], [1, 9, 9, 9, 9, 4]]
    slots = []
    for p in prompts:
        s = pool.alloc()
        pool.load(s, pool.prefill(p))
        slots.append(s)
    seqs = [list(p) for p in prompts]
    for t in range(4):
        toks = [3 + t, 4, 5 + t]
        out = pool.step([slots[2], slots[0], slots[1]], [toks[2], toks[0], toks[1]])
        for k, i in enumerate([2, 0, 1]):
            seqs[i].append(toks[i])
            assert torch.allclose(out[k], _full(model, seqs[i]), atol=1e-5)


def test_pausing_keeps_cache_bit_identical_and_gives_same_logits(tiny):
    model, tok, rs = tiny
    prompt = [1, 5, 6, 7, 8]
    feed = [4, 9, 10, 11, 12, 13]

    def run(pause):
        pool = KVPool(model, 2, 40)
        pre = pool.prefill(prompt)
        a, b = pool.alloc(), pool.alloc()
        pool.load(a, pre)
        pool.load(b, pool.prefill([1, 3]))
        logits = []
        for i, t in enumerate(feed):
            if pause and i == 2:
                before = slot_state(pool, a)
                for u in range(5):          # b advances alone while a is paused
                    pool.step([b], [6 + u])
                after = slot_state(pool, a)
                assert all(torch.equal(x, y) for x, y in zip(before, after))
            logits.append(pool.step([a], [t])[0].clone())
        return logits

    for x, y in zip(run(False), run(True)):
        assert torch.equal(x, y)


def test_branch_copy_gives_identical_next_logits(tiny):
    model, tok, rs = tiny
    pool = KVPool(model, 3, 40)
    a = pool.alloc()
    pool.load(a, pool.prefill([1, 5, 6, 7]))
    pool.step([a], [8])
    pool.step([a], [9])
    c = pool.alloc()
    pool.copy(a, c)
    assert all(torch.equal(x, y) for x, y in zip(slot_state(pool, a), slot_state(pool, c)))
    out = pool.step([a, c], [10, 10])
    assert torch.equal(out[0], out[1])
    ref = _full(model, [1, 5, 6, 7, 8, 9, 10])
    assert torch.allclose(out[0], ref, atol=1e-5)


def test_prune_frees_and_new_sample_reuses_prompt_cache(tiny):
    model, tok, rs = tiny
    pool = KVPool(model, 2, 20)
    pre = pool.prefill([1, 5, 6])
    calls = pool.forward_calls
    a, b = pool.alloc(), pool.alloc()
    pool.load(a, pre)
    pool.load(b, pre)
    assert pool.forward_calls == calls  # loading the prompt cache needs no forward pass
    with pytest.raises(PoolError):
        pool.alloc()
    pool.free(a)
    assert pool.n_free == 1
    with pytest.raises(PoolError):
        pool.free(a)
    c = pool.alloc()
    pool.load(c, pre)
    out = pool.step([c, b], [7, 7])
    assert torch.equal(out[0], out[1])


def test_sampler_masks_slice_and_unused_rows(tiny):
    model, tok, rs = tiny
    rows = model.get_output_embeddings().weight.shape[0]
    s = Sampler(rs, rows, len(tok), seed=0)
    logits = torch.zeros(500, rows)
    logits[:, len(tok):] = 50.0  # slice and unused rows dominate
    assert (s(logits) < len(tok)).all()


def test_generate_records_one_joint_per_token(tiny):
    model, tok, rs = tiny
    g = generate(model, tok, rs, [[1, 5, 6], [1, 7]], max_new_tokens=7, seed=0)
    for x in g:
        assert 1 <= len(x.response_ids) <= 7
        assert x.joints.shape == (len(x.response_ids), rs.reward_states, rs.length_bins)
        assert np.allclose(x.joints.sum((1, 2)), 1, atol=1e-5)
        assert all(t < len(tok) for t in x.response_ids)
