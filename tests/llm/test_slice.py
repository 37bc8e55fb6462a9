import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from llm_backend.slice import ReservedSlice, SliceError, ZipRCLogitsProcessor, as_hf_processor  # noqa: E402
from llm_backend.tok import build_tokenizer  # noqa: E402

torch.set_num_threads(1)  # <= 2; one thread is far faster when the cores are shared


def test_reward_major_index_and_roundtrip():
    rs = ReservedSlice(100, 7, 8)
    assert rs.num_bins == 56 and rs.stop == 156
    assert rs.index(3, 5) == 3 * 8 + 5
    for r in range(7):
        for b in range(8):
            assert rs.cell(rs.token_id(r, b)) == (r, b)
    with pytest.raises(SliceError):
        rs.index(7, 0)
    with pytest.raises(SliceError):
        rs.cell(99)


def test_joints_are_softmax_over_slice_reward_major():
    rs = ReservedSlice(5, 2, 3)
    logits = torch.randn(4, 16)
    j = rs.joints(logits)
    assert j.shape == (4, 2, 3)
    ref = torch.softmax(logits[:, 5:11], -1).reshape(4, 2, 3)
    assert torch.allclose(j, ref)
    # perturbing a row outside the slice leaves the joint unchanged
    l2 = logits.clone()
    l2[:, 0] += 10
    l2[:, 11:] -= 3
    assert torch.equal(rs.joints(l2), j)


def test_check_fits_and_overlap():
    tok = build_tokenizer()
    n = len(tok)
    ReservedSlice(n, 2, 8).check(n + 16, tok)
    with pytest.raises(SliceError, match="does not fit"):
        ReservedSlice(n, 2, 8).check(n + 15, tok)
    with pytest.raises(SliceError, match="overlaps"):
        ReservedSlice(n - 1, 2, 8).check(n + 40, tok)


def test_processor_masks_exactly_the_slice():
    rs = ReservedSlice(6, 2, 4)
    proc = ZipRCLogitsProcessor(rs, 20)
    scores = torch.randn(3, 20)
    out = proc(torch.zeros(3, 1, dtype=torch.long), scores.clone())
    inf = torch.isinf(out)
    assert inf[:, 6:14].all() and not inf[:, :6].any() and not inf[:, 14:].any()
    assert torch.equal(out[:, :6], scores[:, :6]) and torch.equal(out[:, 14:], scores[:, 14:])
    assert torch.allclose(proc.joints[0], rs.joints(scores))


def test_processor_with_generate_never_emits_slice():
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = build_tokenizer()
    rs = ReservedSlice(len(tok), 2, 4)
    cfg = LlamaConfig(vocab_size=48, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64)
    torch.manual_seed(0)
    m = LlamaForCausalLM(cfg).eval()
    with torch.no_grad():  # make the slice (and the unused rows) overwhelmingly likely
        m.lm_head.weight[len(tok):] = m.lm_head.weight[len(tok):] * 0 + 5.0
    proc = ZipRCLogitsProcessor(rs, 48, extra_from=len(tok))
    x = torch.tensor([[1, 5, 6]])
    out = m.generate(input_ids=x, attention_mask=torch.ones_like(x), max_new_tokens=6, do_sample=True,
                     top_k=0, logits_processor=as_hf_processor(proc), pad_token_id=0, eos_token_id=None)
    gen = out[0, 3:]
    assert len(proc.joints) == gen.numel() == 6
    assert (gen < len(tok)).all()
    for j in proc.joints:
        assert torch.allclose(j.sum((-1, -2)), torch.ones(1))
