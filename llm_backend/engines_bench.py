"""Throughput of the online sampler's engines, side by side in one run
(``ziprc bench --sections engines``).

For each model size and each number of concurrent samples ``C`` (``C / cap`` questions of the
demo's task, ``cap`` samples each), four arms are timed, their order rotating between
repeats, and the median tokens/s reported:

* ``vllm / plain``: ``C`` requests of ``max_new_tokens`` tokens on an engine that neither
  reads nor masks the slice (what vLLM does without ZIP-RC);
* ``vllm / slice``: the same requests with the slice read at every token (the joints
  routed to their samples) and masked;
* ``vllm / ziprc``: the full controller (:class:`VllmOnlineSampler`, ZIP-RC at ``beta``),
  whose samples it prunes, pauses and branches;
* ``hf / ziprc``: the same controller on the project's own decode loop.

The end token is masked in every arm (one more masked row), so that every sample runs
``max_new_tokens`` tokens unless the controller prunes it: the arms do the same work per
sequence, and tokens/s compares like with like. Tokens are generated tokens (the
controller's ``compute_tokens``), divided by wall time. ``controller_share`` is the part of
the wall time spent outside the engine's forward steps (the planner, the bookkeeping, reading
the joints); ``planner_share`` the planner's alone. The models are randomly initialised at
the demo's ``base`` and ``large`` shapes: the work per token is the trained models', the
samples' lengths and the controller's choices are not.
"""

from __future__ import annotations

import tempfile
import time

import numpy as np

from .config import GridSpec
from .model import build_model, save_checkpoint
from .rollouts import prompt_ids
from .task import make_problems

MODES = ("plain", "slice", "ziprc")


def _generate(engine, prompts, max_new_tokens, eos, seed, read: bool) -> int:
    """Run ``prompts`` to the end on ``engine``; with ``read`` through the streams (every
    joint computed and routed). Returns the tokens generated."""
    from .vllm_engine import _Question, _Stream

    streams = []
    for i, ids in enumerate(prompts):
        st = _Stream(question=_Question(ids=ids, index=i), sid=0)
        engine.submit(st, ids, engine.params(max_new_tokens, 1.0, seed + i, eos))
        streams.append(st)
    if read:
        while engine.live:
            engine.step()
        return sum(len(st.buf) for st in streams)
    n = 0
    while engine.live:
        for o in engine.core.step():
            n += len(o.outputs[0].token_ids)
            if o.finished:
                engine.live.pop(o.request_id, None)
    return n


def run_engines_bench(sizes=("base", "large"), concurrents=(8, 32, 64), max_new_tokens: int = 64,
                      repeats: int = 3, cap: int = 8, beta: float = 0.01, seed: int = 0,
                      hf: bool = True, threads: int | None = 1, device: str = "cpu") -> dict:
    """Return ``{"engines": [row, ...], "engines_params": {...}}``; a row has ``engine``,
    ``mode``, ``model``, ``concurrent``, ``tokens_per_s`` (median), ``ratio_to_plain``,
    ``tokens``, ``seconds`` and, for ``ziprc``, ``controller_share`` and ``planner_share``."""
    import torch

    from .policies import make_policy
    from .sampler import OnlineSampler
    from .vllm_engine import VllmEngine, VllmOnlineSampler, import_vllm

    if threads:   # both engines on the same CPU threads (vLLM's are torch's: see vllm_engine)
        torch.set_num_threads(int(threads))
    import_vllm()
    grid = GridSpec()
    rows = []
    for size in sizes:
        model, tok, rs = build_model(size, grid, seed=seed)
        model = model.eval()
        with tempfile.TemporaryDirectory() as d:
            save_checkpoint(d, model, tok, rs, grid)
            problems_all = make_problems(max(concurrents) // cap, seed=seed + 1)
            max_prompt = max(len(prompt_ids(tok, p)) for p in problems_all)
            head = model.get_output_embeddings().weight.shape[0]
            mlen = max_prompt + 2 * max_new_tokens + 2
            eos = (tok.eos_token_id,)
            engines = {"plain": VllmEngine(d, rs, len(tok), head, mlen, seed=seed, mask=False, mask_rows=eos),
                       "zip": VllmEngine(d, rs, len(tok), head, mlen, seed=seed, mask_rows=eos)}
            try:
                kw = dict(cap=cap, max_new_tokens=max_new_tokens, max_prompt=max_prompt, seed=seed)
                arms = {("vllm", "ziprc"): VllmOnlineSampler(engines["zip"], tok, rs, grid, **kw)}
                if hf:
                    arms[("hf", "ziprc")] = OnlineSampler(model.to(device), tok, rs, grid, **kw)
                    arms[("hf", "ziprc")].sampler.mask[tok.eos_token_id] = True
                for C in concurrents:
                    problems = problems_all[:C // cap]
                    prompts = [prompt_ids(tok, p) for p in problems for _ in range(cap)]
                    order = [("vllm", "plain"), ("vllm", "slice"), *arms]
                    meas = {k: [] for k in order}
                    if C == concurrents[0]:   # warm-up: first steps of each shape are slow
                        _generate(engines["plain"], prompts, 8, tok.eos_token_id, seed, False)
                        _generate(engines["zip"], prompts, 8, tok.eos_token_id, seed, True)
                        for a in arms.values():
                            a.run_many(problems[:1], make_policy("ziprc", cap=cap, beta=beta))
                    for r in range(repeats):
                        for k in order[r % len(order):] + order[:r % len(order)]:
                            meas[k].append(_measure(k, engines, arms, problems, prompts, cap, beta,
                                                    max_new_tokens, tok.eos_token_id, seed + r, C // cap))
                    plain = float(np.median([m["tokens_per_s"] for m in meas[("vllm", "plain")]]))
                    for (eng, mode), ms in meas.items():
                        tps = float(np.median([m["tokens_per_s"] for m in ms]))
                        row = {"engine": eng, "mode": mode, "model": size, "concurrent": int(C),
                               "tokens_per_s": tps, "ratio_to_plain": tps / plain,
                               "tokens": int(np.median([m["tokens"] for m in ms])),
                               "seconds": float(np.median([m["seconds"] for m in ms]))}
                        for k in ("controller_share", "planner_share", "prefill_tokens", "discarded_tokens"):
                            if k in ms[0]:
                                row[k] = float(np.median([m[k] for m in ms]))
                        rows.append(row)
            finally:
                for e in engines.values():
                    e.close()
    return {"engines": rows, "engines_params": {
        "sizes": list(sizes), "concurrents": [int(c) for c in concurrents], "max_new_tokens": int(max_new_tokens),
        "repeats": int(repeats), "cap": int(cap), "beta": float(beta), "seed": int(seed),
        "torch_threads": torch.get_num_threads(), "weights": "random (the demo's shapes)", "device": device}}


def _measure(key, engines, arms, problems, prompts, cap, beta, max_new_tokens, eos, seed, concurrent) -> dict:
    from .policies import make_policy

    eng, mode = key
    if mode in ("plain", "slice"):
        e = engines["plain" if mode == "plain" else "zip"]
        t0 = time.perf_counter()
        n = _generate(e, prompts, max_new_tokens, eos, seed, read=mode == "slice")
        dt = time.perf_counter() - t0
        return {"tokens": n, "seconds": dt, "tokens_per_s": n / dt}
    s = arms[key]
    core0 = engines["zip"].core_seconds if eng == "vllm" else 0.0
    t0 = time.perf_counter()
    res = s.run_many(problems, make_policy("ziprc", cap=cap, beta=beta), concurrent=concurrent)
    dt = time.perf_counter() - t0
    n = int(sum(r.compute_tokens for r in res))
    plan = float(sum(r.policy_seconds for r in res))
    if eng == "vllm":
        outside = dt - (engines["zip"].core_seconds - core0)
    else:   # the HF loop's forward passes are its decode time less its reading of the joints
        outside = dt - float(sum(r.decode_seconds for r in res))
    cost = {k: sum(r.engine_cost.get(k, 0) for r in res) for k in ("prefill_tokens", "discarded_tokens")}
    return {"tokens": n, "seconds": dt, "tokens_per_s": n / dt, "controller_share": max(0.0, outside) / dt,
            "planner_share": plan / dt, **cost}


def format_engines(res: dict) -> str:
    """The table ``ziprc bench --sections engines`` prints."""
    lines = [f"  {'model':<6} {'C':>3} {'engine':<5} {'mode':<6} {'tokens/s':>9} {'x plain':>8} "
             f"{'ctrl %':>7} {'plan %':>7} {'tokens':>7}"]
    for r in res["engines"]:
        ctrl = f"{100 * r['controller_share']:.1f}" if "controller_share" in r else "-"
        plan = f"{100 * r['planner_share']:.1f}" if "planner_share" in r else "-"
        lines.append(f"  {r['model']:<6} {r['concurrent']:>3} {r['engine']:<5} {r['mode']:<6} "
                     f"{r['tokens_per_s']:>9.0f} {r['ratio_to_plain']:>8.2f} {ctrl:>7} {plan:>7} {r['tokens']:>7}")
    return "\n".join(lines)
