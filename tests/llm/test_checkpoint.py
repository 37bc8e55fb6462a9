import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from llm_backend.checkpoint import CheckpointError, load_ziprc, predict  # noqa: E402
from llm_backend.slice import SliceError  # noqa: E402
from llm_backend.tok import build_tokenizer  # noqa: E402

torch.set_num_threads(1)  # <= 2; one thread is far faster when the cores are shared


@pytest.fixture(scope="module")
def qwen3_dir(tmp_path_factory):
    """A tiny random Qwen3 whose head has more rows than its tokenizer has tokens (as Qwen3's:
    151936 rows for 151669 tokens), saved without any ziprc.json, like an official checkpoint."""
    from transformers import Qwen3Config, Qwen3ForCausalLM

    tok = build_tokenizer()
    rows = len(tok) + 7 * 8 + 12
    cfg = Qwen3Config(vocab_size=rows, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, head_dim=8,
                      max_position_embeddings=128, tie_word_embeddings=True,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    m = Qwen3ForCausalLM(cfg)
    d = tmp_path_factory.mktemp("qwen3")
    m.save_pretrained(d)
    tok.save_pretrained(d)
    return d, len(tok), rows


@pytest.mark.parametrize("states", [2, 7])
def test_official_layout_defaults_to_first_unused_row(qwen3_dir, states):
    d, ntok, rows = qwen3_dir
    model, tok, rs, rewards, lengths = load_ziprc(d, reward_states=states)
    assert type(model).__name__ == "Qwen3ForCausalLM"
    assert rs.start == ntok and rs.length_bins == 8 and rs.reward_states == states
    assert rewards.size == states and lengths.token_edges[-1] == 32768.0
    assert model.get_output_embeddings().weight.shape[0] == rows > ntok


def test_predict_reads_slice_of_same_forward(qwen3_dir):
    d, ntok, rows = qwen3_dir
    model, tok, rs, rewards, lengths = load_ziprc(d, distribution_token_id=ntok, reward_states=7, length_bins=8)
    r = predict(model, tok, rs, rewards, lengths, "Q7,5,3=", max_new_tokens=5)
    n = len(r["tokens"])
    assert 1 <= n <= 5 and len(r["joints"]) == n == len(r["expected_value"]) == len(r["expected_remaining"])
    assert all(i < ntok for i in r["token_ids"])
    # joint 0 equals the softmax over the slice of a plain forward pass on the prompt
    ids = [tok.bos_token_id] + tok("Q7,5,3=", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0, -1]
    ref = torch.softmax(logits[ntok:ntok + 56], -1).reshape(7, 8).numpy()
    assert np.allclose(np.array(r["joints"][0]), ref, atol=1e-6)
    assert np.isclose(r["expected_value"][0], float(ref.sum(1) @ rewards.values), atol=1e-6)


def test_slice_that_does_not_fit_or_overlaps_is_rejected(qwen3_dir, tmp_path):
    d, ntok, rows = qwen3_dir
    with pytest.raises(SliceError, match="does not fit"):
        load_ziprc(d, distribution_token_id=rows - 10, reward_states=2)
    with pytest.raises(SliceError, match="overlaps"):
        load_ziprc(d, distribution_token_id=ntok - 3, reward_states=2)
    with pytest.raises(CheckpointError):
        load_ziprc(tmp_path / "nothing")


def test_cli_predict_json(qwen3_dir, tmp_path):
    from ziprc_cli.main import main

    d, ntok, rows = qwen3_dir
    out = tmp_path / "p.json"
    rc = main(["llm", "predict", "--model", str(d), "--prompt", "Q1,1,2=", "--reward-states", "2",
               "--max-new-tokens", "4", "--json", str(out)])
    assert rc == 0
    data = json.loads(out.read_text())
    for k in ("tokens", "joints", "expected_value", "expected_remaining", "provenance"):
        assert k in data
    assert np.array(data["joints"]).shape[1:] == (2, 8)
    assert main(["llm", "predict", "--model", str(tmp_path / "missing"), "--prompt", "x"]) == 2
