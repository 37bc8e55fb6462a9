"""The tiny model the online-sampler tests share (imported only after torch is available)."""

import torch

from llm_backend.config import GridSpec
from llm_backend.model import build_model
from metamdp.policies import Action

GRID = GridSpec(length_edges=(0, 4, 8, 12, 16, 20, 24, 28, 40), delta=4)


def tiny_model():
    """A tiny random model whose end token is likely, so samples finish at varied lengths."""
    model, tok, rs = build_model("tiny", GRID, seed=0)
    with torch.no_grad():
        model.lm_head.weight[tok.eos_token_id] += 0.8 * model.lm_head.weight[tok.eos_token_id].sign()
    return model.eval(), tok, rs


CHAT_TEMPLATE = ("{% for m in messages %}Q{{ m['content'] }}{% endfor %}"
                 "{% if add_generation_prompt %}={% endif %}")


def save_tiny_qwen3(d, eos_boost: float = 1.5, chat_template: str | None = CHAT_TEMPLATE, head_dim: int = 8):
    """A tiny random Qwen3 in the official layout (a head with more rows than the tokenizer has
    tokens, no ziprc.json) saved to ``d``; its end token is made likely so samples finish.
    ``head_dim``: 8, or 32 for vLLM's CPU attention (which supports head sizes 32, 64, ...).
    Returns ``(text tokens, head rows)``."""
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from llm_backend.tok import build_tokenizer

    tok = build_tokenizer()
    if chat_template:
        tok.chat_template = chat_template
    rows = len(tok) + 7 * 8 + 12
    cfg = Qwen3Config(vocab_size=rows, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, head_dim=int(head_dim),
                      max_position_embeddings=256, tie_word_embeddings=False,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    m = Qwen3ForCausalLM(cfg)
    with torch.no_grad():
        m.lm_head.weight[tok.eos_token_id] += eos_boost * m.lm_head.weight[tok.eos_token_id].sign()
    m.save_pretrained(d)
    tok.save_pretrained(d)
    return len(tok), rows


class LateBranch:
    """Run one sample to ``at`` ticks, then pause it and run a branch of it to the end (the
    generation budget bounds the branch's whole length)."""

    name = "late_branch"

    def __init__(self, at: int):
        self.at = at

    def __call__(self, view):
        if view.epoch == 0:
            return Action(keep=[], new=1)
        live = [s.sid for s in view.unfinished]
        if view.epoch < self.at:
            return Action(keep=live)
        if view.epoch == self.at and 0 in live:
            return Action(keep=[], new=1, branch_from=0)
        return Action(keep=[i for i in live if i != 0])
