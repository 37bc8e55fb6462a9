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
from pathlib import Path

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


# --------------------------------------------------------------------------- sampled decoding

#: the rows of ``sampling.json`` compared between engines: majority voting with all ``cap``
#: samples, and ZIP-RC
SAMPLED_ROWS = ("mv", "ziprc")


def intervals_overlap(a, b) -> bool:
    """Whether the closed intervals ``a = [lo, hi]`` and ``b`` share a point."""
    return bool(max(a[0], b[0]) <= min(a[1], b[1]))


def _span(row: dict, metric: str) -> list:
    """A row's CI of ``metric``; the point ``[mean, mean]`` where the results give no interval
    (every resample equal, e.g. no question right: :func:`simulators.results.interval`)."""
    ci = row[f"{metric}_ci"]
    return [row[metric], row[metric]] if ci is None else ci


def compare_engine_rows(by_engine: dict, seed: int = 0) -> list:
    """Per compared row (majority N=cap, ZIP-RC) and metric (accuracy, generation cost): each
    engine's mean and CI, whether the CIs overlap, and the paired difference ``vllm - hf`` on
    the same questions with its bootstrap CI. ``by_engine``: ``{"hf": rows, "vllm": rows}``,
    the ``rows`` of each engine's ``sampling.json`` (same questions, same order)."""
    from simulators.results import paired_ci

    from .rows import Bootstraps

    def pick(rows, policy):
        cands = [r for r in rows if r["policy"] == policy]
        if policy == "mv":   # all cap samples: the largest N
            cands = sorted(cands, key=lambda r: r["knob"])[-1:]
        if len(cands) != 1:
            raise ValueError(f"expected one {policy!r} row in each engine's results, found {len(cands)}")
        return cands[0]

    out, boots = [], Bootstraps(seed=seed)
    for policy in SAMPLED_ROWS:
        hf, vl = pick(by_engine["hf"], policy), pick(by_engine["vllm"], policy)
        if hf["questions"] != vl["questions"]:
            raise ValueError(f"the engines ran different question counts ({hf['questions']} vs {vl['questions']})")
        boot = boots(int(hf["questions"]))
        for metric, per_q in (("accuracy", "per_question"), ("gen_cost", "per_question_cost")):
            a = np.asarray(vl[per_q], dtype=np.float64)
            b = np.asarray(hf[per_q], dtype=np.float64)
            out.append({"row": hf["label"], "metric": metric,
                        "hf": hf[metric], "hf_ci": hf[f"{metric}_ci"],
                        "vllm": vl[metric], "vllm_ci": vl[f"{metric}_ci"],
                        "overlap": intervals_overlap(_span(hf, metric), _span(vl, metric)),
                        "difference": float(a.mean() - b.mean()), "difference_ci": paired_ci(a, b, boot)})
    return out


def write_task_prompts(path, problems) -> None:
    """The demo task's questions as a prompt file of ``ziprc llm sample``."""
    import json

    with open(path, "w", encoding="utf-8") as f:
        for p in problems:
            f.write(json.dumps({"id": p.qid, "prompt": p.prompt, "answer": p.answer}) + "\n")


def run_engines_sampled_bench(size: str = "base", pretrain_steps: int = 150, train_prompts: int = 160,
                              train_steps: int = 80, questions: int = 80, cap: int = 8, beta: float = 0.01,
                              max_new_tokens: int = 192, concurrent: int = 10, seed: int = 0,
                              threads: int | None = 1, out=None, progress: bool = False) -> dict:
    """Sampled decoding on both engines (``ziprc bench --sections engines_sampled``): a model of
    the demo's task at a shape vLLM's CPU kernels load (``base``), trained briefly here with a
    2-state head, then ``ziprc llm sample`` (majority voting with ``cap`` samples and ZIP-RC at
    ``beta``) on ``questions`` new questions, once per engine with the same seed. The two
    engines draw different random streams, so agreement is statistical: each row's accuracy and
    cost CIs should overlap, and the paired difference's CI include 0. ``out``: keep the model
    and both engines' outputs there (default: a temporary directory). Returns
    ``{"engines_sampled": [...], "engines_sampled_agree": bool, "engines_sampled_params": {...}}``."""
    import torch

    from .config import Config
    from .external import sample_prompts
    from .pipeline import stage_pretrain, stage_rollouts, stage_train
    from .vllm_engine import import_vllm

    import_vllm()   # fail before training when the engine is missing
    if threads:
        torch.set_num_threads(int(threads))
    c = Config(size=size, seed=seed, pretrain_steps=pretrain_steps, train_prompts=train_prompts,
               train_steps=train_steps, denoise=False, max_new_tokens=max_new_tokens)
    params = {"size": size, "pretrain_steps": pretrain_steps, "train_prompts": train_prompts,
              "train_steps": train_steps, "head": "2-state", "questions": questions, "cap": cap, "beta": beta,
              "max_new_tokens": max_new_tokens, "concurrent": concurrent, "seed": seed,
              "torch_threads": torch.get_num_threads()}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(out) if out is not None else Path(tmp)
        d.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        stage_pretrain(d, c, progress=progress)
        stage_rollouts(d, c, progress=progress)
        stage_train(d, c, progress=progress)
        train_seconds = time.perf_counter() - t0
        # new questions: the pipeline's own sets are seeded from c.seed * 100 + 1..4
        write_task_prompts(d / "prompts.jsonl", make_problems(questions, seed=4242 + seed, prefix="s"))
        by_engine, seconds, prefill = {}, {}, {}
        for engine in ("hf", "vllm"):
            res = sample_prompts(d / "ziprc", d / "prompts.jsonl", d / f"sample_{engine}", cap=cap, betas=(beta,),
                                 max_new_tokens=max_new_tokens, concurrent=concurrent, seed=seed,
                                 progress=progress, engine=engine)
            by_engine[engine], seconds[engine] = res["rows"], res["seconds"]
            prefill[engine] = {k: v.get("prefill_tokens", 0) for k, v in res["engine_cost"].items()}
    rows = compare_engine_rows(by_engine, seed=seed)
    return {"engines_sampled": rows,
            "engines_sampled_agree": all(r["overlap"] for r in rows),
            "engines_sampled_seconds": {"train": train_seconds, **{f"sample_{e}": s for e, s in seconds.items()}},
            "engines_sampled_prefill_tokens": prefill,
            "engines_sampled_params": params}


def format_engines_sampled(res: dict) -> str:
    """The table ``ziprc bench --sections engines_sampled`` prints."""
    def iv(ci, sign=""):
        return "-" if ci is None else f"[{ci[0]:{sign}.3f}, {ci[1]:{sign}.3f}]"

    lines = [f"  {'row':<16} {'metric':<9} {'hf':>25} {'vllm':>25} {'overlap':>7} {'vllm - hf (paired)':>26}"]
    for r in res["engines_sampled"]:
        lines.append(f"  {r['row']:<16} {r['metric']:<9} {r['hf']:>7.3f} {iv(r['hf_ci']):>17} "
                     f"{r['vllm']:>7.3f} {iv(r['vllm_ci']):>17} {'yes' if r['overlap'] else 'NO':>7} "
                     f"{r['difference']:>+8.3f} {iv(r['difference_ci'], '+'):>17}")
    s = res["engines_sampled_seconds"]
    lines.append(f"  every pair of CIs overlaps: {'yes' if res['engines_sampled_agree'] else 'NO'}; "
                 f"training {s['train']:.0f} s, sampling hf {s['sample_hf']:.0f} s, vllm {s['sample_vllm']:.0f} s")
    return "\n".join(lines)
