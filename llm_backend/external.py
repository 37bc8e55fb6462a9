"""ZIP-RC sampling vs majority voting on any prompt set with any local checkpoint.

``ziprc llm sample --model DIR --prompts FILE.jsonl`` runs, for every question of the file,
majority voting with ``cap`` independent samples (its first ``N`` samples give the MV curve
for ``N = 1..cap``, and its traces are what ``ziprc replay`` reads) and the online ZIP-RC
policy at each ``beta``, on the same checkpoint through the same decode loop. Written into
``--out``:

* ``traces_majority.parquet``: the ``cap`` independent full samples of every question, in the
  simulators' trace format (replayable by every policy of ``ziprc replay``);
* ``traces_ziprc_beta<b>.parquet``: the online ZIP-RC runs (same format plus the sampler's
  extra columns ``branch_from``, ``prefix_tokens``, ``status``);
* ``sampling.json``: the rows (accuracy and generation cost with CIs) and the matched-cost
  table (each ZIP-RC row vs majority voting interpolated at its cost, paired bootstrap CI).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from .rows import (Bootstraps, majority_rows, matched_rows, question_lbar, row_label, run_row,
                   sampled_baselines, selection_rows)


def compare_at_matched_cost(osamp, problems, cap: int = 8, betas=(0.01, 0.1), alpha: float = 0.1,
                            floor: str = "distribution", same=None, concurrent: int = 1, progress: bool = False,
                            planner: str = "ours", user_policies=(), seed: int = 0,
                            policies=("mv", "ziprc")) -> dict:
    """Majority voting (``cap`` independent samples per question; its first ``N`` give the MV
    curve; always run: it defines each question's ``Lbar``), online ZIP-RC at each ``beta``
    when ``policies`` names ``ziprc``, the other online policies ``policies`` names (the
    selection-only ones on majority voting's samples, :data:`~llm_backend.rows.SAME_SAMPLES_AS_MV`),
    all through one :class:`OnlineSampler`, and the matched-cost table. ``same(answer,
    reference)`` decides a vote's correctness (default: string equality). ``user_policies``:
    users' :class:`metamdp.policies.Policy` objects (``--policy-module``), each run through the
    same sampler and given a row under its label. Returns ``rows``, ``matched``,
    ``planner_timing``, the trace rows (``mv_rows``, ``ziprc_rows`` by beta, ``user_rows`` by
    policy name: the built-in others' and the users') and the per-question results. ``seed``:
    the bootstrap's."""
    from tqdm import tqdm

    from .policies import make_policy, parse_policy_names
    from .sampler import MajorityVotePolicy, majority_from_samples

    policies = parse_policy_names(policies)
    betas = tuple(betas) if "ziprc" in policies else ()
    others = [make_policy(p, cap=cap) for p in sampled_baselines(policies)]
    runs = [(pol, row_label(pol)) for pol in others] + [(pol, pol.label()) for pol in user_policies]
    same = same or (lambda a, b: a == b)
    bar = tqdm(total=1 + len(betas) + len(runs), desc="sampling", disable=not progress, mininterval=1.0)
    mv = osamp.run_many(problems, MajorityVotePolicy(cap), concurrent=concurrent)
    bar.update(1)
    mv_rows = [row for r in mv for row in r.samples]
    lbar = question_lbar(mv)
    truth = {p.qid: p.answer for p in problems}
    boots = Bootstraps(seed=seed)
    rows = majority_rows(mv, truth, lbar, alpha, cap, boots, majority_from_samples, same)
    rows += selection_rows(mv, truth, policies, cap, lbar, alpha, boots, same)
    timing, zrows, zres = {}, {}, {}
    for beta in betas:
        pol = make_policy("ziprc", cap=cap, beta=beta, alpha=alpha, floor=floor, planner=planner)
        res = osamp.run_many(problems, pol, concurrent=concurrent)
        bar.update(1)
        zres[beta] = res
        zrows[beta] = [row for r in res for row in r.samples]
        timing[f"{beta:g}"] = {
            "planner_seconds": float(sum(r.policy_seconds for r in res)),
            "decode_seconds": float(sum(r.decode_seconds for r in res)),
            "decisions": int(sum(r.epochs for r in res))}
        timing[f"{beta:g}"]["planner_fraction"] = (timing[f"{beta:g}"]["planner_seconds"]
                                                    / max(1e-12, timing[f"{beta:g}"]["decode_seconds"]))
        rows.append(run_row(f"ZIP-RC beta={beta:g}", "ziprc", res, lbar, alpha, boots,
                            knob_name="beta", knob=float(beta)))
    engine_cost = {"majority": _engine_cost(mv)}
    engine_cost.update({f"ZIP-RC beta={b:g}": _engine_cost(r) for b, r in zres.items()})
    urows = {}
    for pol, label in runs:
        res = osamp.run_many(problems, pol, concurrent=concurrent)
        bar.update(1)
        urows[pol.name] = [row for r in res for row in r.samples]
        rows.append(run_row(label, pol.name, res, lbar, alpha, boots))
        engine_cost[label] = _engine_cost(res)
    bar.close()
    return {"rows": rows, "matched": matched_rows(rows, boots), "planner_timing": timing, "mv_rows": mv_rows,
            "ziprc_rows": zrows, "user_rows": urows, "runs": [pol for pol, _ in runs], "mv_results": mv,
            "ziprc_results": zres,
            "engine_cost": engine_cost}


def _engine_cost(results) -> dict:
    """What the engine computed besides the generated tokens, summed over questions."""
    out: dict = {}
    for r in results:
        for k, v in r.engine_cost.items():
            out[k] = out.get(k, 0) + int(v)
    return out


def sample_prompts(model_dir, prompts_path, out, *, answer_regex: str | None = None, chat: bool = False,
                   reward_states: int | None = None, distribution_token_id: int | None = None,
                   length_bins: int | None = None, dtype: str | None = None, device: str = "cpu",
                   cap: int = 8, betas=(0.01, 0.1), alpha: float = 0.1, max_new_tokens: int = 512,
                   delta: int | None = None, seed: int = 0, floor: str = "distribution", limit: int | None = None,
                   concurrent: int = 1, progress: bool = True, planner: str = "ours",
                   policy_modules=(), engine: str = "hf", policies=("mv", "ziprc")) -> dict:
    """``engine``: ``hf`` (the project's decode loop) or ``vllm`` (the checkpoint served by
    vLLM, :mod:`llm_backend.vllm_engine`); the controller, policies and outputs are the same.
    ``policies``: the online policies to run (:data:`llm_backend.policies.ONLINE_POLICY_NAMES`;
    majority voting always runs, it defines the cost unit)."""
    from metamdp.policies import POLICY_NAMES, load_policies
    from simulators.io import provenance, write_json_atomic
    from simulators.traces import write_traces

    from .checkpoint import load_ziprc
    from .config import GridSpec
    from .policies import parse_policy_names
    from .prompts import AnswerExtractor, PromptTask, load_prompts
    from .sampler import OnlineSampler

    if cap < 1:
        raise ValueError(f"--cap must be >= 1, got {cap}")
    if max_new_tokens < 1:
        raise ValueError(f"--max-new-tokens must be >= 1, got {max_new_tokens}")
    if concurrent < 1:
        raise ValueError(f"--concurrent must be >= 1, got {concurrent}")
    if delta is not None and delta < 1:
        raise ValueError(f"--delta must be >= 1, got {delta}")
    from .vllm_engine import ENGINES

    if engine not in ENGINES:
        raise ValueError(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    policies = parse_policy_names(policies)   # fail before loading the model
    user_policies = load_policies(tuple(policy_modules), reserved=POLICY_NAMES)
    problems = load_prompts(prompts_path)
    if limit is not None:
        problems = problems[:int(limit)]
    extractor = AnswerExtractor(answer_regex)
    model, tok, reserved, rewards, lengths = load_ziprc(model_dir, distribution_token_id, reward_states,
                                                        length_bins, device, dtype=dtype,
                                                        weights=engine == "hf")
    task = PromptTask(tok, extractor, chat=chat)
    grid = GridSpec(length_edges=tuple(float(e) for e in lengths.token_edges),
                    delta=int(lengths.delta), reward_states=reserved.reward_states)
    if delta is not None:
        grid = replace(grid, delta=int(delta))
    max_prompt = max(len(task.prompt_ids(p)) for p in problems)
    kw = dict(cap=cap, max_new_tokens=max_new_tokens, max_prompt=max_prompt, seed=seed + 13, task=task)
    if engine == "vllm":
        from transformers import AutoConfig

        from .vllm_engine import VllmEngine, VllmOnlineSampler

        rows = int(AutoConfig.from_pretrained(model_dir, local_files_only=True).vocab_size)
        served = VllmEngine(model_dir, reserved, len(tok), rows, max_model_len=max_prompt + 2 * max_new_tokens + 2,
                            dtype=dtype, seed=seed)
        osamp = VllmOnlineSampler(served, tok, reserved, grid, **kw)
    else:
        osamp = OnlineSampler(model, tok, reserved, grid, **kw)
    params = {"model": str(model_dir), "prompts": str(prompts_path), "answer_regex": extractor.pattern,
              "chat": chat, "reward_states": reserved.reward_states, "slice": reserved.to_json(),
              "dtype": dtype or "float32", "device": device, "cap": cap, "betas": list(betas), "alpha": alpha,
              "max_new_tokens": max_new_tokens, "delta": grid.delta, "floor": floor,
              "length_edges": list(grid.length_edges), "concurrent": concurrent, "planner": planner,
              "policy_modules": list(policy_modules), "engine": engine, "policies": list(policies)}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    try:
        cmp = compare_at_matched_cost(osamp, problems, cap=cap, betas=betas, alpha=alpha, floor=floor,
                                      same=AnswerExtractor.same, concurrent=concurrent, progress=progress,
                                      planner=planner, user_policies=user_policies, seed=seed,
                                      policies=policies)
    finally:
        if engine == "vllm":
            served.close()
    write_traces(out / "traces_majority.parquet", cmp["mv_rows"],
                 {"seed": seed, "params": dict(params, policy="majority", n=cap)})
    for beta, trows in cmp["ziprc_rows"].items():
        write_traces(out / f"traces_ziprc_beta{beta:g}.parquet", trows,
                     {"seed": seed, "params": dict(params, policy="ziprc", beta=beta)})
    for pol in cmp["runs"]:
        write_traces(out / f"traces_{pol.name}.parquet", cmp["user_rows"][pol.name],
                     {"seed": seed, "params": dict(params, policy=pol.name, knobs=pol.describe())})
    rows, timing = cmp["rows"], cmp["planner_timing"]
    result = {"rows": rows, "matched": cmp["matched"], "planner_timing": timing, "questions": len(problems),
              "engine": engine, "engine_cost": cmp["engine_cost"],
              "alpha": alpha, "cap": cap, "seconds": time.perf_counter() - t0,
              "note": "majority N<cap uses the first N of the cap independent samples of each question; "
                      "cost = alpha*compute + (1-alpha)*latency, normalised by the mean length of one sample "
                      "of the question; pruned tokens count"}
    write_json_atomic(out / "sampling.json", dict(result, provenance=provenance("ziprc llm sample", seed, params)))
    return result
