"""The project's own decode loop: a pool of per-sequence KV caches advanced in one batch.

Every sequence owns a *slot* of a preallocated cache buffer (one ``(slots, kv_heads,
max_len, head_dim)`` tensor per layer and for keys and values). A step advances any subset
of slots by one token in a single batched forward pass: inside the attention of each layer
the new key/value of each sequence is written in place into its slot at its own length, and
the attention reads the window ``[0, longest + 1)`` of the slots (a view when the slots are
contiguous, one gather otherwise), positions beyond a sequence's own length masked out.
Nothing is concatenated or rebuilt per step. So

* pausing a sequence is simply not stepping it: its cache stays bit-identical;
* pruning frees its slot;
* branching copies a slot (the prefix's cache) into a free slot;
* a new sample loads the prompt's cache, computed once per question by :meth:`prefill`.

The joint is read from the logits of the same forward pass (``ReservedSlice.joints``), and
the slice (with every head row the tokenizer has no token for) is masked before sampling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .slice import ReservedSlice


class PoolError(ValueError):
    """A pool operation is impossible (no free slot, sequence too long, bad slot)."""


@dataclass
class Prefix:
    """A prompt's cache: per-layer keys/values ``(kv_heads, P, head_dim)`` and the
    next-token logits after it (``(V,)``)."""

    keys: list
    values: list
    length: int
    logits: torch.Tensor


def _cache_cls():
    from transformers import DynamicCache

    return DynamicCache


_POOL_CACHE = None


def _pool_cache_classes():
    """The in-place cache: a ``transformers`` ``Cache`` whose layers write the new key/value of
    each sequence straight into the pool's buffers (at the sequence's own length) and hand the
    attention a window of those buffers; nothing is concatenated or rebuilt per step."""
    global _POOL_CACHE
    if _POOL_CACHE is not None:
        return _POOL_CACHE
    from transformers.cache_utils import Cache, DynamicLayer

    class PoolLayer(DynamicLayer):
        def __init__(self, K, V, rows, lens, window, contiguous):
            super().__init__()
            self.K, self.V, self.rows, self.lens = K, V, rows, lens
            self.window, self.contiguous = int(window), contiguous
            self.is_initialized = True
            self.device = K.device

        def lazy_initialization(self, key_states, value_states):   # the buffers exist already
            pass

        def update(self, key_states, value_states, *args, **kwargs):
            # one new token per sequence, written at its own position (no copy of the prefix)
            self.K[self.rows, :, self.lens] = key_states[:, :, -1].to(self.K.dtype)
            self.V[self.rows, :, self.lens] = value_states[:, :, -1].to(self.V.dtype)
            w = self.window + 1
            if self.contiguous is not None:
                # contiguous slots: a view, nothing copied
                return self.K[self.contiguous, :, :w], self.V[self.contiguous, :, :w]
            # scattered slots: one gather of the valid window (attention needs one tensor)
            return self.K[self.rows, :, :w], self.V[self.rows, :, :w]

        def get_seq_length(self) -> int:
            return self.window

        def get_mask_sizes(self, *args, **kwargs):
            return self.window + 1, 0

    class PoolCache(Cache):
        def __init__(self, layers):
            super().__init__(layers=layers)

    _POOL_CACHE = (PoolLayer, PoolCache)
    return _POOL_CACHE


def _cache_kw(model) -> str:
    """Name of the cache argument of ``model.forward`` (``cache`` in transformers >= 5.x,
    ``past_key_values`` before)."""
    import inspect

    params = inspect.signature(model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def _out_cache(out):
    c = out.get("cache") if hasattr(out, "get") else None
    return c if c is not None else out.past_key_values


class KVPool:
    """Preallocated KV caches for ``capacity`` sequences of up to ``max_len`` tokens."""

    def __init__(self, model, capacity: int, max_len: int, device=None):
        cfg = model.config
        self.model = model
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        self.n_layers = int(cfg.num_hidden_layers)
        self.kv_heads = int(getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads)
        self.head_dim = int(getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads)
        self.capacity = int(capacity)
        self.max_len = int(max_len)
        dtype = next(model.parameters()).dtype
        shape = (self.capacity, self.kv_heads, self.max_len, self.head_dim)
        self.K = [torch.zeros(shape, dtype=dtype, device=self.device) for _ in range(self.n_layers)]
        self.V = [torch.zeros(shape, dtype=dtype, device=self.device) for _ in range(self.n_layers)]
        self.lengths = np.zeros(self.capacity, dtype=np.int64)
        self._free = list(range(self.capacity - 1, -1, -1))
        self.forward_calls = 0
        self._kw = _cache_kw(model)

    # ------------------------------------------------------------------ slots

    @property
    def n_free(self) -> int:
        return len(self._free)

    def alloc(self) -> int:
        if not self._free:
            raise PoolError(f"no free slot (capacity {self.capacity})")
        s = self._free.pop()
        self.lengths[s] = 0
        return s

    def free(self, slot: int) -> None:
        """Prune: the slot's cache is released (its memory is reused by the next alloc)."""
        if slot in self._free or not 0 <= slot < self.capacity:
            raise PoolError(f"slot {slot} is not in use")
        self.lengths[slot] = 0
        self._free.append(slot)

    @torch.inference_mode()
    def prefill(self, ids) -> Prefix:
        """Encode a prompt once; its cache is then loaded into any number of slots."""
        x = torch.as_tensor(list(ids), dtype=torch.long, device=self.device)[None]
        if x.shape[1] >= self.max_len:
            raise PoolError(f"prompt of {x.shape[1]} tokens does not fit max_len {self.max_len}")
        out = self.model(input_ids=x, use_cache=True)
        self.forward_calls += 1
        cache = _out_cache(out)
        keys = [cache.layers[i].keys[0].clone() for i in range(self.n_layers)]
        vals = [cache.layers[i].values[0].clone() for i in range(self.n_layers)]
        return Prefix(keys=keys, values=vals, length=int(x.shape[1]), logits=out.logits[0, -1].clone())

    def load(self, slot: int, prefix: Prefix) -> None:
        P = prefix.length
        for i in range(self.n_layers):
            self.K[i][slot, :, :P] = prefix.keys[i]
            self.V[i][slot, :, :P] = prefix.values[i]
        self.lengths[slot] = P

    def copy(self, src: int, dst: int) -> None:
        """Branch: the cache of ``src`` (its whole prefix) is copied into ``dst``."""
        P = int(self.lengths[src])
        for i in range(self.n_layers):
            self.K[i][dst, :, :P] = self.K[i][src, :, :P]
            self.V[i][dst, :, :P] = self.V[i][src, :, :P]
        self.lengths[dst] = P

    # ------------------------------------------------------------------ the step

    @torch.inference_mode()
    def step(self, slots, tokens) -> torch.Tensor:
        """Feed one token to each of ``slots`` in one forward pass; return logits ``(A, V)``."""
        slots = [int(s) for s in slots]
        A = len(slots)
        if A == 0:
            raise PoolError("step needs at least one slot")
        lens = self.lengths[slots]
        P = int(lens.max())
        if P + 1 > self.max_len:
            raise PoolError(f"a sequence reached max_len {self.max_len}")
        contiguous = slots == list(range(slots[0], slots[0] + A))
        sl = slice(slots[0], slots[0] + A) if contiguous else None
        rows = torch.as_tensor(slots, device=self.device)
        lens_t = torch.as_tensor(lens, device=self.device)
        # sequence a's new token goes to position lens[a] of its slot, so it attends to the
        # window positions 0..lens[a]; later positions (stale, of longer neighbours) are masked
        am = (torch.arange(P + 1, device=self.device)[None, :] <= lens_t[:, None]).long()
        PoolLayer, PoolCache = _pool_cache_classes()
        cache = PoolCache([PoolLayer(self.K[i], self.V[i], rows, lens_t, P, sl) for i in range(self.n_layers)])
        tok = torch.as_tensor(tokens, dtype=torch.long, device=self.device).reshape(A, 1)
        out = self.model(input_ids=tok, attention_mask=am, position_ids=lens_t[:, None],
                         use_cache=True, **{self._kw: cache})
        self.forward_calls += 1
        self.lengths[slots] += 1
        return out.logits[:, -1]


class Sampler:
    """Temperature sampling from masked logits with a seeded generator (temperature 0:
    greedy, the most likely unmasked token)."""

    def __init__(self, reserved: ReservedSlice | None, head_rows: int, text_vocab: int | None,
                 temperature: float = 1.0, seed: int = 0, device="cpu", mask: bool = True):
        if not temperature >= 0:
            raise ValueError(f"temperature must be >= 0 (0 = greedy), got {temperature!r}")
        self.temperature = float(temperature)
        self.gen = torch.Generator(device=device)
        self.gen.manual_seed(int(seed))
        self.mask = (reserved.mask(head_rows, device, extra_from=text_vocab)
                     if (mask and reserved is not None) else None)

    def _open_prefix(self) -> int | None:
        """``k`` when the mask is exactly the rows ``k..end`` (the usual case: the slice and
        every row without a token sit after the text tokens); masking is then a slice."""
        if self.mask is None:
            return None
        idx = torch.nonzero(~self.mask).flatten()
        k = int(idx[-1]) + 1 if idx.numel() else 0
        return k if bool(self.mask[k:].all()) and not bool(self.mask[:k].any()) else None

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        if not hasattr(self, "_k"):
            self._k = self._open_prefix()
        x = logits.float()
        if self._k is not None:
            x = x[:, :self._k]          # the masked rows form a suffix: drop them
        elif self.mask is not None:
            x = x.masked_fill(self.mask, -float("inf"))
        if self.temperature == 0:
            return torch.argmax(x, dim=-1)
        if self.temperature != 1.0:
            x = x / self.temperature
        p = torch.softmax(x, dim=-1)
        return torch.multinomial(p, 1, generator=self.gen)[:, 0]


@dataclass
class Generation:
    prompt_ids: list
    response_ids: list
    joints: np.ndarray | None      # (n_tokens, R, L): joint before each generated token
    finished: bool


def generate(model, tok, reserved: ReservedSlice, prompts, max_new_tokens: int,
             seed: int = 0, temperature: float = 1.0, batch_size: int = 64,
             record_joints: bool = True, progress=None) -> list[Generation]:
    """Sample one response per entry of ``prompts`` (lists of ids), batched through a pool.

    Identical prompts are encoded once. The joint before each generated token is recorded.
    """
    device = next(model.parameters()).device
    rows = model.get_output_embeddings().weight.shape[0]
    sampler = Sampler(reserved, rows, len(tok), temperature, seed, device)
    eos = tok.eos_token_id
    results: list[Generation | None] = [None] * len(prompts)
    max_prompt = max(len(p) for p in prompts)
    pool = KVPool(model, min(batch_size, len(prompts)), max_prompt + max_new_tokens + 1, device)
    order = list(range(len(prompts)))
    for b0 in range(0, len(order), pool.capacity):
        chunk = order[b0:b0 + pool.capacity]
        prefixes = {}
        slots, logits, resp, joints = [], [], [], []
        for j in chunk:
            key = tuple(prompts[j])
            if key not in prefixes:
                prefixes[key] = pool.prefill(key)
            s = pool.alloc()
            pool.load(s, prefixes[key])
            slots.append(s)
            logits.append(prefixes[key].logits)
            resp.append([])
            joints.append([])
        cur = torch.stack(logits)
        active = list(range(len(chunk)))
        for _ in range(max_new_tokens):
            if record_joints:
                jt = reserved.joints(cur).cpu().numpy()
                for a, k in enumerate(active):
                    joints[k].append(jt[a])
            nxt = sampler(cur).tolist()
            still, feed = [], []
            for a, k in enumerate(active):
                resp[k].append(nxt[a])
                if nxt[a] != eos:
                    still.append(k)
                    feed.append(nxt[a])
            if progress is not None:
                progress.update(len(active) - len(still))
            active = still
            if not active:
                break
            cur = pool.step([slots[k] for k in active], feed)
        for k, j in enumerate(chunk):
            done = bool(resp[k]) and resp[k][-1] == eos
            results[j] = Generation(prompt_ids=list(prompts[j]), response_ids=resp[k],
                                    joints=np.asarray(joints[k], dtype=np.float32) if record_joints else None,
                                    finished=done)
            pool.free(slots[k])
        if progress is not None:
            progress.update(len(active))
    return results
