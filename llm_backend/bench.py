"""Zero-overhead benchmark: decoding with predictions read and the slice masked vs plain.

Both arms run the same decode loop (:class:`llm_backend.decode.KVPool`) on the same model and
batch, from the same prompt cache, for the same number of tokens; they alternate within one
run and the ratio of the medians is reported. The "ZIP-RC" arm reads the joint of every
sequence at every token (softmax over the slice, copied to host memory, as the online sampler
does) and samples from logits with the slice masked; the plain arm samples from the raw
logits.

The headline ``planner_fraction`` is measured inside real sampling runs: the online sampler
runs ZIP-RC (cap 8, exhaustive search) on a few questions with this model, and the fraction is
the planner's total time over the decoding time of those runs (every decision state that
occurs, with samples still to start and branches possible). ``planner_fraction_all_created``
is the best case: the median time of one decision at 8 unfinished samples with nothing left
to start, over the decoding time between two decisions (``delta`` steps of a batch of 8,
plain arm); ``planner_fraction_cap16`` lets 8 more samples start or branch. Both time the
path the sampler's policy takes (``PlannerConfig.trusted`` on stacked joints, the
normaliser known per question), not the validating ``plan()``.

On CUDA every timer is bracketed by ``torch.cuda.synchronize()`` (kernels run asynchronously;
without it, queued work spills from one arm into the other), and the peak memory allocated is
reported; on CPU the process's peak resident memory is.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from metamdp.grids import RewardGrid
from metamdp.planner import PlannerConfig, fixed_normalizer, stack_joints

from .config import GridSpec
from .decode import KVPool, Sampler
from .model import build_model
from .train import length_grid


def sync(device) -> None:
    """Wait for the device's queued kernels (no-op on CPU): call before reading a timer."""
    if str(device).startswith("cuda"):
        torch.cuda.synchronize(device)


def peak_memory(device) -> dict:
    """Peak memory: allocated by torch on CUDA, the process's resident set on CPU."""
    if str(device).startswith("cuda"):
        return {"peak_memory_bytes": int(torch.cuda.max_memory_allocated(device)), "peak_memory_kind": "cuda allocated"}
    import resource

    return {"peak_memory_bytes": int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024,
            "peak_memory_kind": "process peak RSS"}


def _decode(pool, prefix, sampler, reserved, batch, steps, read, stats=None):
    slots = []
    for _ in range(batch):
        s = pool.alloc()
        pool.load(s, prefix)
        slots.append(s)
    cur = prefix.logits[None].expand(batch, -1)
    sync(pool.device)
    t0 = time.perf_counter()
    rows = 0
    for _ in range(steps):
        if read:
            # the ZIP-RC arm: every sequence's joint, to host memory, at every token
            rows += reserved.joints(cur).cpu().numpy().shape[0]
        nxt = sampler(cur)
        cur = pool.step(slots, nxt)
    sync(pool.device)
    dt = time.perf_counter() - t0
    if stats is not None:
        stats["joint_rows"] = stats.get("joint_rows", 0) + rows
        stats["tokens"] = stats.get("tokens", 0) + batch * steps
    for s in slots:
        pool.free(s)
    return batch * steps / dt


def run_zero_overhead_bench(size: str = "base", batch: int = 8, steps: int = 32, repeats: int = 21,
                            device: str = "cpu", seed: int = 0, model=None, tok=None, reserved=None,
                            grid: GridSpec | None = None, planner_delta: int | None = None,
                            sampling_questions: int = 4, sampling_max_new_tokens: int = 64,
                            concurrent: int = 1) -> dict:
    """Return ``{"zero_overhead": {"throughput_ratio", "planner_fraction", ...}}``.

    ``sampling_questions`` questions are sampled with ZIP-RC (``concurrent`` of them decoded
    together) to measure the headline planner fraction; 0 skips it (the headline is then the
    all-created case, and says so in ``planner_fraction_source``).
    """
    if model is None:
        grid = grid or GridSpec()
        model, tok, reserved = build_model(size, grid, seed=seed)
    grid = grid or GridSpec()
    model = model.to(device).eval()
    if str(device).startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(device)
    rows = model.get_output_embeddings().weight.shape[0]
    pool = KVPool(model, batch, 16 + steps + 2, device)
    prefix = pool.prefill([tok.bos_token_id] + tok("Q7,5,3=", add_special_tokens=False)["input_ids"])
    plain = Sampler(reserved, rows, len(tok), 1.0, seed, device, mask=False)
    masked = Sampler(reserved, rows, len(tok), 1.0, seed, device, mask=True)
    _decode(pool, prefix, plain, reserved, batch, 8, False)  # warm-up
    _decode(pool, prefix, masked, reserved, batch, 8, True)
    tp_plain, tp_z = [], []
    st_plain, st_z = {}, {}
    for r in range(repeats):
        # back-to-back pairs, the order alternating, so that drift and shared-CPU noise cancel
        if r % 2 == 0:
            tp_plain.append(_decode(pool, prefix, plain, reserved, batch, steps, False, st_plain))
            tp_z.append(_decode(pool, prefix, masked, reserved, batch, steps, True, st_z))
        else:
            tp_z.append(_decode(pool, prefix, masked, reserved, batch, steps, True, st_z))
            tp_plain.append(_decode(pool, prefix, plain, reserved, batch, steps, False, st_plain))
    pair_ratios = np.asarray(tp_z) / np.asarray(tp_plain)
    ratio = float(np.median(pair_ratios))
    # planner cost at 8 unfinished samples: cap 8 (the paper's setting; nothing new can start)
    # and, as a stress case, cap 16 (up to 8 new samples from the root or by branching)
    rewards = RewardGrid.official(reserved.reward_states)
    lengths = length_grid(grid)
    delta = int(planner_delta or grid.delta)
    rng = np.random.default_rng(seed)
    B, L = rewards.size, lengths.size
    plan_times = {}
    for cap in (8, 16):
        cfg = PlannerConfig(rewards=rewards, lengths=lengths, alpha=0.1, beta=0.01, cap=cap)
        times = []
        no_finished = np.ones(B)
        for r in range(max(7, 2 * repeats)):
            joints = list(rng.dirichlet(np.ones(B * L), size=8).reshape(8, B, L))
            root = rng.dirichlet(np.ones(B * L)).reshape(B, L)
            d = fixed_normalizer(root, lengths)  # once per question in the sampler
            if r == 0:  # compile or load the cached kernel
                cfg.trusted.best(stack_joints(joints, root), 8, cap - 8, no_finished, d)
            t0 = time.perf_counter()
            cfg.trusted.best(stack_joints(joints, root), 8, cap - 8, no_finished, d)
            times.append(time.perf_counter() - t0)
        plan_times[cap] = float(np.median(times))
    step_time = 8 / float(np.median(tp_plain)) if batch == 8 else None
    if step_time is None:
        pool8 = KVPool(model, 8, 16 + steps + 2, device)
        tp8 = _decode(pool8, prefix, plain, reserved, 8, steps, False)
        step_time = 8 / tp8
    decision_gap = delta * step_time
    in_runs = (_planner_in_sampling(model, tok, reserved, grid, device, seed, sampling_questions,
                                    sampling_max_new_tokens, concurrent) if sampling_questions > 0 else None)
    all_created = plan_times[8] / decision_gap
    return {"zero_overhead": {
        "throughput_ratio": ratio,
        "planner_fraction": in_runs["planner_fraction"] if in_runs else all_created,
        "planner_fraction_source": "ZIP-RC sampling runs" if in_runs else "all-created case (no sampling run)",
        "planner_fraction_all_created": all_created,
        "sampling": in_runs,
        "joint_rows_read_per_token": {"ziprc": st_z.get("joint_rows", 0) / max(1, st_z.get("tokens", 0)),
                                      "plain": st_plain.get("joint_rows", 0) / max(1, st_plain.get("tokens", 0))},
        "kv_pool_bytes": int(sum(t.numel() * t.element_size() for t in pool.K + pool.V)),
        "dtype": str(next(model.parameters()).dtype).replace("torch.", ""),
        **peak_memory(device),
        "throughput_ratio_of_medians": float(np.median(tp_z) / np.median(tp_plain)),
        "pair_ratio_quartiles": [float(np.quantile(pair_ratios, 0.25)), float(np.quantile(pair_ratios, 0.75))],
        "planner_fraction_cap16": plan_times[16] / decision_gap,
        "tokens_per_s_plain": float(np.median(tp_plain)), "tokens_per_s_ziprc": float(np.median(tp_z)),
        "pairs": {"tokens_per_s_plain": [float(x) for x in tp_plain],
                  "tokens_per_s_ziprc": [float(x) for x in tp_z]},
        "planner_seconds_per_decision": plan_times[8], "planner_seconds_per_decision_cap16": plan_times[16],
        "decode_seconds_between_decisions": decision_gap,
        "batch": batch, "steps": steps, "repeats": repeats, "delta": delta, "device": str(device),
        "planner_search": "exhaustive", "threads": torch.get_num_threads(),
        "model_params": int(sum(p.numel() for p in {id(p): p for p in model.parameters()}.values()))}}


def _planner_in_sampling(model, tok, reserved, grid, device, seed, questions, max_new_tokens, concurrent):
    """The planner's share of real ZIP-RC sampling runs: total planner time over total
    decoding time (both bracketed by device synchronisation in the sampler)."""
    from .policies import make_policy
    from .sampler import OnlineSampler
    from .task import make_problems

    osamp = OnlineSampler(model, tok, reserved, grid, cap=8, max_new_tokens=max_new_tokens, seed=seed + 1)
    pol = make_policy("ziprc", cap=8, beta=0.01, alpha=0.1)
    probs = make_problems(int(questions), seed=seed + 2)
    res = osamp.run_many(probs, pol, concurrent=concurrent)
    t_plan = float(sum(r.policy_seconds for r in res))
    t_dec = float(sum(r.decode_seconds for r in res))
    tokens = int(sum(r.compute_tokens for r in res))
    return {"planner_fraction": t_plan / max(1e-12, t_dec), "planner_seconds": t_plan, "decode_seconds": t_dec,
            "decisions": int(sum(r.epochs for r in res)), "questions": len(res), "tokens": tokens,
            "tokens_per_s": tokens / max(1e-12, t_dec), "samples_started": float(np.mean([r.n_started for r in res])),
            "concurrent_questions": int(concurrent), "max_new_tokens": int(max_new_tokens)}


def run_score_bench(size: str = "base", rollouts: int = 32, repeats: int = 5, device: str = "cpu",
                    seed: int = 0, budgets=(512, 2048, 8192), chunk_tokens: int = 128, delta: int = 16,
                    lengths=(64, 512), model=None, tok=None, reserved=None) -> dict:
    """``ziprc llm score``'s throughput: tokens fed per second one rollout at a time, batched
    by each of ``budgets`` tokens, and fed in ``chunk_tokens`` chunks through the KV cache,
    same rollouts, alternated in one loop (medians and ratios). Rollouts: the task's prompts
    and random outputs of ``lengths`` tokens (uniform, capped by the model's positions) on
    ``model`` (default: a random model of the demo's ``size``)."""
    from .rollouts import prompt_ids
    from .score import SliceReader, default_batch_tokens, score_joints
    from .task import make_problems

    label = size if model is None else f"{type(model).__name__} (given)"
    if model is None:
        model, tok, reserved = build_model(size, GridSpec(), seed=seed)
    model = model.to(device).eval()
    if str(device).startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(device)
    rng = np.random.default_rng(seed)
    prompts = [np.asarray(prompt_ids(tok, p), dtype=np.int64) for p in make_problems(rollouts, seed=seed)]
    room = int(model.config.max_position_embeddings) - max(p.size for p in prompts)
    lo, hi = min(lengths[0], room), min(lengths[1], room)
    outputs = [rng.integers(3, len(tok), size=int(n)) for n in rng.integers(lo, hi + 1, size=rollouts)]
    reader = SliceReader(model, reserved)
    default = default_batch_tokens(device)
    budgets = sorted({*budgets, default})
    modes = {"one_at_a_time": lambda: [score_joints(reader, [p], [o], delta, default)
                                       for p, o in zip(prompts, outputs)],
             f"chunked_{chunk_tokens}": lambda: score_joints(reader, prompts, outputs, delta, chunk_tokens)}
    for b in budgets:
        modes[f"batched_{b}"] = lambda b=b: score_joints(reader, prompts, outputs, delta, b)
    fed: dict = {}
    score_joints(reader, prompts, outputs, delta, default, fed)      # warm-up, and the tokens fed
    tokens = fed["tokens_fed"]
    rates = {m: [] for m in modes}
    names = list(modes)
    for r in range(repeats):
        for m in (names if r % 2 == 0 else names[::-1]):
            sync(device)
            t0 = time.perf_counter()
            modes[m]()
            sync(device)
            rates[m].append(tokens / (time.perf_counter() - t0))
    med = {m: float(np.median(v)) for m, v in rates.items()}
    one = med["one_at_a_time"]
    return {"score": {
        "tokens_per_s": med, "over_one_at_a_time": {m: v / one for m, v in med.items()},
        "default_batch_tokens": default, "batched_over_one_at_a_time": med[f"batched_{default}"] / one,
        "rollouts_per_s_default": rollouts * med[f"batched_{default}"] / tokens,
        "rollouts": rollouts, "tokens": int(tokens), "chunk_tokens": chunk_tokens,
        "output_lengths": [int(lo), int(hi)], "delta": delta, "repeats": repeats,
        "model": label, "device": str(device),
        "dtype": str(next(model.parameters()).dtype).replace("torch.", ""),
        "threads": torch.get_num_threads(), **peak_memory(device)}}
