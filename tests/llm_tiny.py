"""The tiny model the online-sampler tests share (imported only after torch is available)."""

import torch

from llm_backend.model import GridSpec, build_model

GRID = GridSpec(length_edges=(0, 4, 8, 12, 16, 20, 24, 28, 40), delta=4)


def tiny_model():
    """A tiny random model whose end token is likely, so samples finish at varied lengths."""
    model, tok, rs = build_model("tiny", GRID, seed=0)
    with torch.no_grad():
        model.lm_head.weight[tok.eos_token_id] += 0.8 * model.lm_head.weight[tok.eos_token_id].sign()
    return model.eval(), tok, rs
