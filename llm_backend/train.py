"""ZIP-RC training on the model's own rollouts (the official recipe, scaled down).

Loss per supervised position (every response position: the prefix with ``t`` response
tokens, ``t = 0 .. n-1``, read at the logits that predict token ``t + 1``):

* cross-entropy over the slice, target ``reward_state * L + length_bin(n - t)``;
* ``alpha_kl`` times forward ``KL(reference || model)``: the frozen reference's logits with
  the slice (and unused rows) masked, cut to its top ``top_k`` tokens and renormalised,
  against the model's log-probabilities over the full vocabulary minus the masked rows.
  When ``top_k`` covers every unmasked token the teacher is not truncated, so the KL of a
  model against its own frozen copy is exactly 0.

``lite=True`` is ZIP-RC-Lite: only the slice rows of the head learn. They are trained as a
separate parameter on top of hidden states computed without gradients, then written back, so
no other parameter moves (with tied embeddings, the slice rows of the shared matrix are the
only rows that change; they are the input embeddings of ids the tokenizer never emits).

Value denoising (:func:`denoise_values`): an intermediate correctness head's mean predicted
P(correct) over the last ``K`` positions of a rollout becomes its scalar ``value``; the final
head is then trained on the 7-state value grid with the KL term.
"""

from __future__ import annotations

import copy
import json
import time

import numpy as np
import torch
import torch.nn.functional as F

from metamdp.grids import LengthGrid, RewardGrid

from .config import GridSpec
from .model import lr_at
from .slice import ReservedSlice


def length_grid(grid: GridSpec) -> LengthGrid:
    return LengthGrid.binned(token_edges=grid.length_edges, delta=grid.delta)


def reward_targets(recs: list[dict], rewards: RewardGrid, key: str = "correct") -> np.ndarray:
    """Reward state of each rollout: nearest grid state of its label (hard one-hot)."""
    return np.array([rewards.nearest_index(float(r[key])) for r in recs], dtype=np.int64)


def build_batch(recs: list[dict], states: np.ndarray, reserved: ReservedSlice, lengths: LengthGrid,
                pad_id: int, device="cpu"):
    """Inputs and the supervised positions/targets of a batch of rollouts.

    Returns ``x, am, rows, cols, targets``: logits ``[rows, cols]`` are the supervised
    positions; ``targets`` index the slice.
    """
    seqs = [list(r["prompt_ids"]) + list(r["response_ids"]) for r in recs]
    T = max(len(s) for s in seqs) - 1
    x = torch.full((len(seqs), T), pad_id, dtype=torch.long)
    am = torch.zeros((len(seqs), T), dtype=torch.long)
    rows, cols, tg = [], [], []
    for i, (s, r) in enumerate(zip(seqs, recs)):
        s = s[:-1][:T]
        x[i, :len(s)] = torch.tensor(s)
        am[i, :len(s)] = 1
        P, n = len(r["prompt_ids"]), int(r["n_tokens"])
        t = np.arange(n)
        bins = lengths.tokens_to_bin(n - t)
        rows.extend([i] * n)
        cols.extend((P - 1 + t).tolist())
        tg.extend((int(states[i]) * reserved.length_bins + bins).tolist())
    as_t = lambda v: torch.as_tensor(v, dtype=torch.long, device=device)  # noqa: E731
    return x.to(device), am.to(device), as_t(rows), as_t(cols), as_t(tg)


def forward_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, mask: torch.Tensor,
               top_k: int = 32) -> torch.Tensor:
    """Per-position forward ``KL(teacher_topk || student)`` with ``mask`` rows removed."""
    n_open = int((~mask).sum())
    s = F.log_softmax(student_logits.float().masked_fill(mask, -float("inf")), dim=-1)
    t = F.log_softmax(teacher_logits.float().masked_fill(mask, -float("inf")), dim=-1)
    k = min(int(top_k), n_open)
    tv, ti = torch.topk(t, k, dim=-1)
    if k < n_open:
        tv = tv - torch.logsumexp(tv, dim=-1, keepdim=True)
    sv = torch.gather(s, -1, ti)
    return (tv.exp() * (tv - sv)).sum(-1)


def train_ziprc(model, tok, reserved: ReservedSlice, grid: GridSpec, recs: list[dict], *,
                label_key: str = "correct", steps: int = 300, batch_size: int = 32,
                lr: float | None = None, alpha_kl: float = 10.0, top_k: int = 32,
                lite: bool = False, seed: int = 0, log_path=None, progress: bool = True,
                desc: str = "train") -> list[dict]:
    """Train ``model`` in place on ``recs``; returns the per-step log (also written to
    ``log_path`` as JSON lines with ``step, loss, ce, kl, lr``)."""
    from tqdm import tqdm

    device = next(model.parameters()).device
    rewards = RewardGrid.official(reserved.reward_states)
    lengths = length_grid(grid)
    states = reward_targets(recs, rewards, label_key)
    head = model.get_output_embeddings().weight
    rows_n = head.shape[0]
    mask = reserved.mask(rows_n, device, extra_from=len(tok))
    start, stop = reserved.start, reserved.stop
    if lr is None:
        lr = 1e-2 if lite else 1e-3
    ref = None
    if lite:
        for p in model.parameters():
            p.requires_grad_(False)
        slice_w = torch.nn.Parameter(head.detach()[start:stop].clone())
        params = [slice_w]
    else:
        ref = copy.deepcopy(model).eval()
        for p in ref.parameters():
            p.requires_grad_(False)
        for p in model.parameters():
            p.requires_grad_(True)
        params = list({id(p): p for p in model.parameters()}.values())
    opt = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.95), weight_decay=0.0)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 31]))
    log = []
    fh = open(log_path, "w") if log_path else None
    t0 = time.perf_counter()
    model.train()
    bar = tqdm(range(steps), desc=desc, disable=not progress, mininterval=1.0)
    for step in bar:
        idx = rng.choice(len(recs), size=min(batch_size, len(recs)), replace=False)
        batch = [recs[i] for i in idx]
        x, am, r_, c_, tg = build_batch(batch, states[idx], reserved, lengths, tok.pad_token_id, device)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps, lr)
        if lite:
            with torch.no_grad():
                hidden = model.model(input_ids=x, attention_mask=am).last_hidden_state[r_, c_]
            slogits = hidden @ slice_w.t()
            ce = F.cross_entropy(slogits.float(), tg)
            kl = torch.zeros(())
            loss = ce
        else:
            logits = model(input_ids=x, attention_mask=am).logits[r_, c_]
            ce = F.cross_entropy(logits[:, start:stop].float(), tg)
            with torch.no_grad():
                tlogits = ref(input_ids=x, attention_mask=am).logits[r_, c_]
            kl = forward_kl(logits, tlogits, mask, top_k).mean()
            loss = ce + alpha_kl * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        rec = {"step": step, "loss": loss.item(), "ce": ce.item(), "kl": kl.item(),
               "lr": lr_at(step, steps, lr), "seconds": time.perf_counter() - t0}
        log.append(rec)
        if fh:
            fh.write(json.dumps(rec) + "\n")
            fh.flush()
        if step % 10 == 0:
            bar.set_postfix(ce=f"{rec['ce']:.3f}", kl=f"{rec['kl']:.4f}")
    if fh:
        fh.close()
    if lite:
        with torch.no_grad():
            head[start:stop] = slice_w.detach()
        for p in model.parameters():
            p.requires_grad_(True)
    model.eval()
    return log


@torch.no_grad()
def teacher_forced_joints(model, tok, reserved: ReservedSlice, grid: GridSpec, recs: list[dict],
                          batch_size: int = 64) -> list[np.ndarray]:
    """The joint at every supervised position of each rollout (``(n_tokens, R, L)``)."""
    device = next(model.parameters()).device
    lengths = length_grid(grid)
    out = []
    zeros = np.zeros(len(recs), dtype=np.int64)
    model.eval()
    for b in range(0, len(recs), batch_size):
        batch = recs[b:b + batch_size]
        x, am, r_, c_, _ = build_batch(batch, zeros[b:b + batch_size], reserved, lengths,
                                       tok.pad_token_id, device)
        j = reserved.joints(model(input_ids=x, attention_mask=am).logits[r_, c_]).cpu().numpy()
        k = 0
        for r in batch:
            n = int(r["n_tokens"])
            out.append(j[k:k + n])
            k += n
    return out


def denoise_values(model, tok, reserved: ReservedSlice, grid: GridSpec, recs: list[dict],
                   last_k: int = 8) -> np.ndarray:
    """Denoised scalar value per rollout: mean predicted E[value] over its last ``last_k``
    supervised positions under the intermediate (correctness) head."""
    rewards = RewardGrid.official(reserved.reward_states).values
    js = teacher_forced_joints(model, tok, reserved, grid, recs)
    return np.array([float((j[-last_k:].sum(-1) @ rewards).mean()) for j in js])


def train_with_denoising(model, tok, grid: GridSpec, recs: list[dict], *, steps: int, batch_size: int,
                         alpha_kl: float = 10.0, last_k: int = 8, seed: int = 0, log_path=None,
                         progress: bool = True):
    """The official two-stage pipeline: an intermediate correctness head (no KL), denoised
    values, then the final 7-state value head with KL, trained from the same base model.

    Returns ``(final_model, final_reserved, log, values)``.
    """
    base = copy.deepcopy(model)
    d = ReservedSlice(len(tok), 2, grid.length_bins)
    train_ziprc(model, tok, d, grid, recs, steps=steps, batch_size=batch_size, alpha_kl=0.0,
                seed=seed, progress=progress, desc="stage1 (correctness)")
    values = denoise_values(model, tok, d, grid, recs, last_k)
    recs_v = [dict(r, value=float(v)) for r, v in zip(recs, values)]
    d7 = ReservedSlice(len(tok), 7, grid.length_bins)
    d7.check(base.get_output_embeddings().weight.shape[0], tok)
    log = train_ziprc(base, tok, d7, grid, recs_v, label_key="value", steps=steps,
                      batch_size=batch_size, alpha_kl=alpha_kl, seed=seed + 1, log_path=log_path,
                      progress=progress, desc="stage2 (value)")
    return base, d7, log, values
