"""Loading a ZIP-RC checkpoint from a local directory, and per-token prediction.

A directory written by this project carries ``ziprc.json``. Any other Hugging Face causal LM
directory (for example an official ZIP-RC Qwen3 checkpoint) is read with the official layout:
``distribution_token_id`` defaults to the first head row the tokenizer has no token for
(151669 for Qwen3) and 8 length bins over ``[0, 256, ..., 32768]`` tokens, each overridable;
the number of reward states must then be given (2 for a correctness head, 7 for the
denoised value head): read with the wrong number, the softmax runs over the wrong rows and
the joint is silently wrong. Nothing is downloaded: the directory must hold the weights and
tokenizer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from metamdp.grids import OFFICIAL_LENGTH_EDGES, LengthGrid, RewardGrid

from .model import read_ziprc_json
from .slice import ReservedSlice, ZipRCLogitsProcessor, as_hf_processor


class CheckpointError(ValueError):
    """A checkpoint directory is missing or inconsistent with the requested slice."""


def load_ziprc(directory, distribution_token_id: int | None = None, reward_states: int | None = None,
               length_bins: int | None = None, device: str = "cpu", dtype: str | None = None,
               weights: bool = True):
    """Return ``(model, tokenizer, reserved, rewards, lengths)`` from a local directory.

    ``dtype``: ``"float32"`` or ``"bfloat16"`` (None: float32). The joint is always computed
    in float32 from the logits (:meth:`ReservedSlice.joints`). ``weights=False``: the model
    is not loaded (``None``; another engine serves it) and the head's rows are read from
    its config.
    """
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    d = Path(directory)
    if not d.is_dir() or not (d / "config.json").exists():
        raise CheckpointError(f"{d} is not a local model directory (no config.json)")
    meta = read_ziprc_json(d) or {}
    if not meta and reward_states is None:
        raise CheckpointError(f"{d} has no ziprc.json: give the number of reward states of its head "
                              "(--reward-states 2 for a correctness head, 7 for the value head)")
    dtypes = {None: torch.float32, "float32": torch.float32, "bfloat16": torch.bfloat16}
    if dtype not in dtypes:
        raise CheckpointError(f"dtype must be float32 or bfloat16, got {dtype!r}")
    tok = AutoTokenizer.from_pretrained(d, local_files_only=True)
    if weights:
        model = AutoModelForCausalLM.from_pretrained(d, local_files_only=True, dtype=dtypes[dtype]).to(device).eval()
        rows = model.get_output_embeddings().weight.shape[0]
    else:
        model, rows = None, int(AutoConfig.from_pretrained(d, local_files_only=True).vocab_size)
    start = distribution_token_id if distribution_token_id is not None else meta.get("distribution_token_id", len(tok))
    r = reward_states if reward_states is not None else meta.get("reward_states", 2)
    if "length_edges" in meta and length_bins in (None, len(meta["length_edges"]) - 1):
        edges, delta = tuple(meta["length_edges"]), int(meta.get("delta", 64))
    else:
        nb = length_bins if length_bins is not None else 8
        if nb != len(OFFICIAL_LENGTH_EDGES) - 1:
            raise CheckpointError(f"only the official 8 length bins are known without ziprc.json, got {nb}")
        edges, delta = OFFICIAL_LENGTH_EDGES, 64
    reserved = ReservedSlice(int(start), int(r), len(edges) - 1)
    reserved.check(rows, tok)
    return model, tok, reserved, RewardGrid.official(int(r)), LengthGrid.binned(edges, delta=delta)


@torch.no_grad()
def predict(model, tok, reserved: ReservedSlice, rewards: RewardGrid, lengths: LengthGrid,
            prompt: str, max_new_tokens: int = 64, sample: bool = False, seed: int = 0,
            add_bos: bool = True, chat: bool = False) -> dict:
    """Generate with ``model.generate`` and the ZIP-RC logits processor.

    ``joints[t]`` is the joint (``R x L``, reward-major) read when token ``t`` was chosen, i.e.
    the prediction for the prefix made of the prompt and ``tokens[:t]``; ``expected_value[t]``
    and ``expected_remaining[t]`` (tokens, bin midpoints) are its summaries. With ``chat`` the
    prompt goes through the tokenizer's chat template as a user turn.
    """
    from .prompts import encode_prompt

    device = next(model.parameters()).device
    ids = encode_prompt(tok, prompt, chat=chat, add_bos=add_bos)
    x = torch.tensor([ids], device=device)
    rows = model.get_output_embeddings().weight.shape[0]
    proc = ZipRCLogitsProcessor(reserved, rows, extra_from=len(tok))
    torch.manual_seed(seed)
    kw = dict(do_sample=True, temperature=1.0, top_k=0, top_p=1.0) if sample else dict(do_sample=False)
    out = model.generate(input_ids=x, attention_mask=torch.ones_like(x), max_new_tokens=int(max_new_tokens),
                         logits_processor=as_hf_processor(proc), pad_token_id=tok.pad_token_id or 0,
                         eos_token_id=tok.eos_token_id, **kw)
    gen = out[0, x.shape[1]:].tolist()
    joints = torch.cat(proc.joints, 0)[:len(gen)].numpy().astype(np.float64) if proc.joints else np.zeros((0,))
    rep = lengths.representative * lengths.delta
    ev = [float(j.sum(1) @ rewards.values) for j in joints]
    er = [float(j.sum(0) @ rep) for j in joints]
    return {"prompt": prompt, "tokens": tok.convert_ids_to_tokens(gen), "token_ids": gen,
            "joints": [j.tolist() for j in joints], "expected_value": ev, "expected_remaining": er,
            "reward_values": rewards.values.tolist(), "length_edges": list(lengths.token_edges),
            "slice": reserved.to_json()}
