"""A small ``LlamaForCausalLM`` with a reserved slice, pretrained here on noisy scratchpads.

The checkpoint directory is a normal Hugging Face checkpoint (``save_pretrained``) plus
``ziprc.json`` describing the slice and the grids (see :func:`save_checkpoint`).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .config import GridSpec
from .slice import ReservedSlice
from .task import Problem, make_problems, noisy_solution
from .tok import build_tokenizer, encode

ZIPRC_JSON = "ziprc.json"
MAX_SLICE_REWARD_STATES = 7


@dataclass
class ModelSize:
    hidden: int = 128
    layers: int = 4
    heads: int = 4
    kv_heads: int = 2
    intermediate: int = 384
    max_positions: int = 512
    tie_embeddings: bool = True


SIZES = {
    "tiny": ModelSize(hidden=32, layers=2, heads=4, kv_heads=2, intermediate=64),
    "small": ModelSize(hidden=96, layers=3, heads=4, kv_heads=2, intermediate=256),
    "base": ModelSize(hidden=128, layers=4, heads=4, kv_heads=2, intermediate=384),
    "large": ModelSize(hidden=256, layers=6, heads=8, kv_heads=4, intermediate=768),
}


def head_rows_for(text_vocab: int, length_bins: int) -> int:
    need = text_vocab + MAX_SLICE_REWARD_STATES * length_bins
    return int(math.ceil(need / 16) * 16)


def build_model(size: ModelSize | str = "base", grid: GridSpec | None = None, seed: int = 0):
    """Return ``(model, tokenizer, reserved)`` for a fresh randomly initialised model."""
    from transformers import LlamaConfig, LlamaForCausalLM

    size = SIZES[size] if isinstance(size, str) else size
    grid = grid or GridSpec()
    tok = build_tokenizer()
    rows = head_rows_for(len(tok), grid.length_bins)
    cfg = LlamaConfig(vocab_size=rows, hidden_size=size.hidden, intermediate_size=size.intermediate,
                      num_hidden_layers=size.layers, num_attention_heads=size.heads,
                      num_key_value_heads=size.kv_heads, max_position_embeddings=size.max_positions,
                      tie_word_embeddings=size.tie_embeddings, pad_token_id=tok.pad_token_id,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      rope_theta=10000.0)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(cfg)
    reserved = ReservedSlice(len(tok), grid.reward_states, grid.length_bins)
    reserved.check(rows, tok)
    return model, tok, reserved


def n_params(model) -> int:
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def save_checkpoint(directory, model, tok, reserved: ReservedSlice, grid: GridSpec,
                    extra: dict | None = None) -> None:
    """``save_pretrained`` for model and tokenizer, plus ``ziprc.json``."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(d)
    tok.save_pretrained(d)
    meta = {"distribution_token_id": reserved.start, "reward_states": reserved.reward_states,
            "length_bins": reserved.length_bins, "length_edges": list(grid.length_edges),
            "delta": int(grid.delta), "text_vocab": len(tok)}
    meta.update(extra or {})
    (d / ZIPRC_JSON).write_text(json.dumps(meta, indent=2) + "\n")


def read_ziprc_json(directory) -> dict | None:
    p = Path(directory) / ZIPRC_JSON
    return json.loads(p.read_text()) if p.exists() else None


def load_checkpoint(directory, device="cpu"):
    """Load a checkpoint written by :func:`save_checkpoint`: ``(model, tok, reserved, grid, meta)``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    d = Path(directory)
    meta = read_ziprc_json(d)
    if meta is None:
        raise FileNotFoundError(f"{d} has no {ZIPRC_JSON}; is it a checkpoint of this project?")
    model = AutoModelForCausalLM.from_pretrained(d).to(device).eval()
    tok = AutoTokenizer.from_pretrained(d)
    reserved = ReservedSlice(meta["distribution_token_id"], meta["reward_states"], meta["length_bins"])
    reserved.check(model.get_output_embeddings().weight.shape[0], tok)
    grid = GridSpec(length_edges=tuple(meta["length_edges"]), delta=int(meta["delta"]),
                    reward_states=int(meta["reward_states"]))
    return model, tok, reserved, grid, meta


# --------------------------------------------------------------------------- pretraining


def pretrain_batch(problems: list[Problem], tok, rng: np.random.Generator, noise: float):
    """Token ids, attention mask and LM labels (response tokens only) for one batch."""
    seqs, starts = [], []
    for p in problems:
        text, _ = noisy_solution(p, rng, noise=noise)
        ids = [tok.bos_token_id] + encode(tok, p.prompt)
        starts.append(len(ids))
        ids = ids + encode(tok, text) + [tok.eos_token_id]
        seqs.append(ids)
    T = max(len(s) for s in seqs)
    x = torch.full((len(seqs), T), tok.pad_token_id, dtype=torch.long)
    am = torch.zeros((len(seqs), T), dtype=torch.long)
    y = torch.full((len(seqs), T), -100, dtype=torch.long)
    for i, (s, st) in enumerate(zip(seqs, starts)):
        x[i, :len(s)] = torch.tensor(s)
        am[i, :len(s)] = 1
        y[i, st:len(s)] = torch.tensor(s[st:])
    return x, am, y


def lr_at(step: int, total: int, lr: float, warmup_frac: float = 0.05) -> float:
    """Linear warmup over ``warmup_frac`` of the steps, then cosine to 10% of ``lr``."""
    w = max(1, int(round(warmup_frac * total)))
    if step < w:
        return lr * (step + 1) / w
    t = (step - w) / max(1, total - w)
    return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))


def pretrain(model, tok, reserved: ReservedSlice, steps: int = 1500, batch_size: int = 64,
             lr: float = 3e-3, noise: float = 1.0, max_steps_q: int = 9, seed: int = 0,
             device="cpu", log_path=None, progress: bool = True) -> list[dict]:
    """Next-token training on noisy scratchpads (loss on response tokens; the slice and the
    unused rows are masked out of the softmax, as they are at sampling time)."""
    from tqdm import tqdm

    model.to(device).train()
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 21]))
    rows = model.get_output_embeddings().weight.shape[0]
    mask = reserved.mask(rows, device, extra_from=len(tok))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.01)
    log = []
    fh = open(log_path, "w") if log_path else None
    bar = tqdm(range(steps), desc="pretrain", disable=not progress, mininterval=1.0)
    t0 = time.perf_counter()
    for step in bar:
        problems = make_problems(batch_size, seed=int(rng.integers(2**31)), max_steps=max_steps_q)
        x, am, y = pretrain_batch(problems, tok, rng, noise)
        x, am, y = x.to(device), am.to(device), y.to(device)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps, lr)
        logits = model(input_ids=x, attention_mask=am).logits[:, :-1]
        logits = logits.masked_fill(mask, -float("inf"))
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, rows), y[:, 1:].reshape(-1),
                                                 ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        rec = {"step": step, "loss": loss.item(), "seconds": time.perf_counter() - t0}
        log.append(rec)
        if fh:
            fh.write(json.dumps(rec) + "\n")
            fh.flush()
        if step % 20 == 0:
            bar.set_postfix(loss=f"{rec['loss']:.3f}")
    if fh:
        fh.close()
    model.eval()
    return log
