"""GPU check of the LLM backend: the CUDA path of the same code, in a few minutes.

Run on a machine with a GPU (nothing is downloaded: the model is built and trained here)::

    python -m llm_backend.gpu_check --device cuda

It builds a model of about 190M parameters (``--size gpu``), pretrains it briefly on the
scratchpad task, collects rollouts, runs ZIP-RC training steps (full, with KL), measures the
prediction quality, then casts the model to bfloat16 (``--dtype``) and, with at least 64
sequences decoding concurrently:

* tokens/s of plain decoding and of ZIP-RC decoding (joints read, slice masked), same run;
* whether decoding is bound by compute or by kernel launches (step time at 4x the batch);
* the planner's share of real ZIP-RC sampling runs (``concurrent`` questions x cap 8 samples
  in flight);
* peak GPU memory;
* ``ziprc llm score``'s teacher-forced scoring of long rollouts (up to the model's positions):
  tokens/s batched vs one rollout at a time, and its peak memory;
* ZIP-RC vs majority voting at matched cost (paired difference with a bootstrap 95% CI).

Every timer is bracketed by ``torch.cuda.synchronize()``. It prints every number as it goes
and a JSON line at the end, and writes ``gpu_check.json`` into ``--out`` (default
``runs/gpu_check``). ``--device cpu --tiny`` runs the same steps with a tiny model (the CI
smoke test).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

#: the CUDA model: wide enough that a step at 64+ sequences is real work (see ``launch_bound``)
GPU_SIZE = dict(hidden=1024, layers=16, heads=16, kv_heads=8, intermediate=2816, max_positions=512)


def _plan(tiny: bool) -> dict:
    if tiny:
        return dict(size="tiny", pretrain_steps=4, pretrain_batch=8, lr=2e-3, train_steps=3, train_batch=16,
                    prompts=4, eval_q=2, eval_k=2, sample_q=4, concurrent=2, max_new=40, bench_batch=8,
                    bench_steps=4, bench_repeats=2, sampling_q=2,
                    score_rollouts=8, score_repeats=2)
    return dict(size="gpu", pretrain_steps=300, pretrain_batch=128, lr=1e-3, train_steps=150, train_batch=64,
                prompts=512, eval_q=32, eval_k=16, sample_q=64, concurrent=8, max_new=192, bench_batch=64,
                bench_steps=64, bench_repeats=7, sampling_q=16,
                score_rollouts=256, score_repeats=3)


def _step_time(model, tok, reserved, batch, steps, device):
    """Seconds per plain decoding step of ``batch`` sequences (synchronised)."""
    from .bench import _decode
    from .decode import KVPool, Sampler

    rows = model.get_output_embeddings().weight.shape[0]
    pool = KVPool(model, batch, 16 + steps + 2, device)
    prefix = pool.prefill([tok.bos_token_id] + tok("Q7,5,3=", add_special_tokens=False)["input_ids"])
    plain = Sampler(reserved, rows, len(tok), 1.0, 0, device, mask=False)
    _decode(pool, prefix, plain, reserved, batch, 4, False)
    tps = _decode(pool, prefix, plain, reserved, batch, steps, False)
    return batch / tps


def _engines(dev: str):
    """``ziprc bench --sections engines`` with vLLM's CUDA build (``pip install vllm``), when
    it is installed: the rows, or why it was skipped."""
    from .vllm_engine import EngineError, import_vllm

    try:
        import_vllm()
    except EngineError as e:
        print(f"engines: skipped ({e})")
        return f"skipped: {e}"
    from .engines_bench import format_engines, run_engines_bench

    r = run_engines_bench(threads=None, device=dev)
    print("engines (tokens/s):")
    print(format_engines(r))
    return r["engines"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu (with --tiny)")
    ap.add_argument("--tiny", action="store_true", help="tiny model and few steps (CPU smoke test)")
    ap.add_argument("--dtype", choices=["bfloat16", "float32"], default="bfloat16",
                    help="dtype of decoding (training runs in float32; default bfloat16)")
    ap.add_argument("--out", default="runs/gpu_check", help="output folder (default runs/gpu_check)")
    ap.add_argument("--seed", type=int, default=0, help="seed of every stage")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (CPU runs)")
    args = ap.parse_args(argv)

    import warnings

    import numpy as np
    import torch
    import transformers

    warnings.filterwarnings("ignore")
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("CUDA is not available; use --device cpu --tiny for the CPU smoke test")
        return 2
    if args.device == "cpu":
        torch.set_num_threads(args.threads)
    else:
        torch.backends.cuda.matmul.allow_tf32 = True   # float32 training on tensor cores
        torch.backends.cudnn.allow_tf32 = True

    from metamdp.grids import RewardGrid

    from .bench import peak_memory, run_score_bench, run_zero_overhead_bench
    from .config import GridSpec
    from .evaluate import prediction_metrics
    from .external import compare_at_matched_cost
    from .model import ModelSize, build_model, n_params, pretrain
    from .rollouts import rollouts, summary
    from .rows import format_matched
    from .sampler import OnlineSampler
    from .task import make_problems
    from .train import length_grid, train_ziprc

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    dev = args.device
    P = _plan(args.tiny)
    res = {"device": dev, "size": P["size"], "dtype": args.dtype, "plan": P}
    if dev.startswith("cuda"):
        res["gpu"] = torch.cuda.get_device_name(0)
        torch.cuda.reset_peak_memory_stats(dev)
    grid = GridSpec()
    t0 = time.perf_counter()
    size = P["size"] if args.tiny else ModelSize(**GPU_SIZE)
    model, tok, rs = build_model(size, grid, seed=args.seed)
    model.to(dev)
    res["params"] = n_params(model)
    print(f"model {P['size']}: {res['params']:,} parameters on {dev}")
    t = time.perf_counter()
    log = pretrain(model, tok, rs, steps=P["pretrain_steps"], batch_size=P["pretrain_batch"], lr=P["lr"],
                   device=dev, progress=False, seed=args.seed)
    res["pretrain_seconds"] = time.perf_counter() - t
    res["pretrain_loss"] = float(np.mean([r["loss"] for r in log[-10:]]))
    print(f"pretrain: {P['pretrain_steps']} steps in {res['pretrain_seconds']:.1f}s, loss {res['pretrain_loss']:.3f}")
    t = time.perf_counter()
    recs = rollouts(model, tok, rs, make_problems(P["prompts"], seed=1), 2, P["max_new"], seed=2, batch_size=256,
                    progress=False)
    s = summary(recs)
    res["rollouts_seconds"] = time.perf_counter() - t
    res["rollout_accuracy"] = s["accuracy"]
    print(f"rollouts: {len(recs)} in {res['rollouts_seconds']:.1f}s, accuracy {s['accuracy']:.3f}, "
          f"mean length {s['mean_tokens']:.1f}")
    t = time.perf_counter()
    tlog = train_ziprc(model, tok, rs, grid, recs, steps=P["train_steps"], batch_size=P["train_batch"],
                       alpha_kl=10.0, progress=False, log_path=out / "train_log.jsonl")
    res["train_seconds"] = time.perf_counter() - t
    res["train_ce_first_last"] = [tlog[0]["ce"], float(np.mean([r["ce"] for r in tlog[-10:]]))]
    res["train_kl_last"] = float(np.mean([r["kl"] for r in tlog[-10:]]))
    print(f"ZIP-RC training: {P['train_steps']} steps in {res['train_seconds']:.1f}s, CE "
          f"{res['train_ce_first_last'][0]:.3f} -> {res['train_ce_first_last'][1]:.3f}, KL {res['train_kl_last']:.4f}")
    model.eval()
    if args.dtype == "bfloat16":
        model.to(torch.bfloat16)
    ev = rollouts(model, tok, rs, make_problems(max(2, P["eval_q"]), seed=3), P["eval_k"], P["max_new"], seed=4,
                  batch_size=256, keep_joints=True, progress=False)
    m = prediction_metrics(ev, RewardGrid.official(rs.reward_states).values, length_grid(grid))
    for k in ("start_tv", "start_tv_noise_floor", "end_f1", "end_accuracy", "end_recall_incorrect", "end_auroc",
              "within_question_auroc", "ece_end"):
        res[k] = m[k]
    print("prediction: " + ", ".join(f"{k} {res[k]:.3f}" for k in ("start_tv", "end_f1", "end_accuracy",
                                                                  "end_recall_incorrect", "ece_end")))
    # ZIP-RC vs majority voting at matched cost, concurrent questions x 8 samples in flight
    t = time.perf_counter()
    osamp = OnlineSampler(model, tok, rs, grid, cap=8, max_new_tokens=P["max_new"], seed=5)
    cmp = compare_at_matched_cost(osamp, make_problems(P["sample_q"], seed=6), cap=8, betas=(0.01,), alpha=0.1,
                                  concurrent=P["concurrent"])
    res["sampler_seconds"] = time.perf_counter() - t
    (z,) = cmp["matched"]
    res["matched_cost"] = {"ziprc_minus_mv": z["delta_vs_mv"], "ci": z["delta_vs_mv_ci"], "cost": z["gen_cost"],
                           "questions": P["sample_q"], "ziprc_accuracy": z["accuracy"],
                           "majority_at_same_cost": z["mv_accuracy"], "extrapolated": z["extrapolated"],
                           "concurrent_samples": 8 * P["concurrent"]}
    res["sampling_planner_fraction"] = cmp["planner_timing"]["0.01"]["planner_fraction"]
    print(f"ZIP-RC vs majority at matched cost on {P['sample_q']} questions ({8 * P['concurrent']} samples in "
          f"flight, {res['sampler_seconds']:.1f}s): {format_matched(z)}")
    # throughput with and without ZIP-RC, planner fraction inside sampling runs, memory
    b = run_zero_overhead_bench(model=model, tok=tok, reserved=rs, grid=grid, device=dev, batch=P["bench_batch"],
                                steps=P["bench_steps"], repeats=P["bench_repeats"], sampling_questions=P["sampling_q"],
                                sampling_max_new_tokens=P["max_new"], concurrent=P["concurrent"])["zero_overhead"]
    res["zero_overhead"] = b
    res["tokens_per_s"] = {"plain": b["tokens_per_s_plain"], "ziprc": b["tokens_per_s_ziprc"],
                           "concurrent_sequences": P["bench_batch"]}
    res["planner_fraction"] = b["planner_fraction"]
    t1 = _step_time(model, tok, rs, P["bench_batch"], P["bench_steps"] // 2, dev)
    t4 = _step_time(model, tok, rs, 4 * P["bench_batch"], P["bench_steps"] // 2, dev)
    # ~1: the step costs the same at 4x the batch (bound by launches/weights); ~4: by compute
    res["launch_bound"] = {"step_seconds": t1, "step_seconds_4x_batch": t4, "ratio_4x": t4 / t1,
                           "batch": P["bench_batch"]}
    res.update(peak_memory(dev))
    print(f"decoding {P['bench_batch']} sequences in {args.dtype}: {b['tokens_per_s_plain']:.0f} tokens/s plain, "
          f"{b['tokens_per_s_ziprc']:.0f} with ZIP-RC (ratio {b['throughput_ratio']:.3f}); planner fraction "
          f"{b['planner_fraction']:.4f} in sampling runs ({b['planner_fraction_all_created']:.4f} all created); "
          f"step time x{t4 / t1:.2f} at 4x the batch; peak memory {res['peak_memory_bytes'] / 2**30:.2f} GiB "
          f"({res['peak_memory_kind']})")
    # scoring recorded rollouts (ziprc llm score) in the decoding dtype: long rollouts, batched
    sc = run_score_bench(model=model, tok=tok, reserved=rs, device=dev, rollouts=P["score_rollouts"],
                         repeats=P["score_repeats"], lengths=(256, 512), budgets=(4096, 16384), seed=args.seed)["score"]
    res["score"] = sc
    print(f"scoring {sc['rollouts']} rollouts of {sc['output_lengths'][0]}-{sc['output_lengths'][1]} tokens in "
          f"{sc['dtype']}: {sc['tokens_per_s']['batched_' + str(sc['default_batch_tokens'])]:,.0f} tokens/s batched, "
          f"x{sc['batched_over_one_at_a_time']:.2f} one at a time; peak memory "
          f"{sc['peak_memory_bytes'] / 2**30:.2f} GiB ({sc['peak_memory_kind']})")
    if dev.startswith("cuda"):
        res["engines"] = _engines(dev)
    res["total_seconds"] = time.perf_counter() - t0
    print(f"total {res['total_seconds']:.1f}s")
    from simulators.io import json_default, provenance, write_json_atomic

    write_json_atomic(out / "gpu_check.json", dict(res, provenance=provenance(
        "python -m llm_backend.gpu_check", args.seed, {"device": dev, "tiny": args.tiny, "dtype": args.dtype})))
    print(json.dumps(res, default=json_default))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
