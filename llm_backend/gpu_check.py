"""GPU check of the LLM backend: the CUDA path of the same code, in a few minutes.

Run on a machine with a GPU::

    python -m llm_backend.gpu_check --device cuda

It builds a somewhat larger model (``large``: about 4.7M parameters), pretrains it briefly,
collects rollouts, runs ZIP-RC training steps (full, with KL), the online sampler on a few
questions, and the zero-overhead benchmark, printing every number as it goes and a JSON line
at the end. ``--device cpu --tiny`` runs the same steps with a tiny model (a smoke test).
Writes into ``--out`` (default ``runs/gpu_check``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tiny", action="store_true", help="tiny model and few steps (CPU smoke test)")
    ap.add_argument("--out", default="runs/gpu_check")
    ap.add_argument("--seed", type=int, default=0)
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

    from metamdp.grids import RewardGrid
    from metamdp.planner import PlannerConfig

    from .bench import run_zero_overhead_bench
    from .evaluate import prediction_metrics
    from .model import GridSpec, build_model, n_params, pretrain
    from .rollouts import rollouts, summary
    from .sampler import MajorityVotePolicy, OnlineSampler, ZipRCPolicy
    from .task import make_problems
    from .train import length_grid, train_ziprc

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    dev = args.device
    size = "tiny" if args.tiny else "large"
    steps_pt, steps_tr = (4, 3) if args.tiny else (600, 200)
    n_prompts, k_eval, n_q = (4, 2, 2) if args.tiny else (512, 16, 32)
    pt_batch, max_new = (8, 40) if args.tiny else (128, 192)
    res = {"device": dev, "size": size}
    if dev.startswith("cuda"):
        res["gpu"] = torch.cuda.get_device_name(0)
    grid = GridSpec()
    t0 = time.perf_counter()
    model, tok, rs = build_model(size, grid, seed=args.seed)
    model.to(dev)
    res["params"] = n_params(model)
    print(f"model {size}: {res['params']:,} parameters on {dev}")
    t = time.perf_counter()
    log = pretrain(model, tok, rs, steps=steps_pt, batch_size=pt_batch, lr=2e-3, device=dev, progress=False,
                   seed=args.seed)
    res["pretrain_seconds"] = time.perf_counter() - t
    res["pretrain_loss"] = float(np.mean([r["loss"] for r in log[-10:]]))
    print(f"pretrain: {steps_pt} steps in {res['pretrain_seconds']:.1f}s, loss {res['pretrain_loss']:.3f}")
    t = time.perf_counter()
    recs = rollouts(model, tok, rs, make_problems(n_prompts, seed=1), 2, max_new, seed=2, batch_size=256,
                    progress=False)
    s = summary(recs)
    res["rollouts_seconds"] = time.perf_counter() - t
    res["rollout_accuracy"] = s["accuracy"]
    print(f"rollouts: {len(recs)} in {res['rollouts_seconds']:.1f}s, accuracy {s['accuracy']:.3f}, "
          f"mean length {s['mean_tokens']:.1f}")
    t = time.perf_counter()
    tlog = train_ziprc(model, tok, rs, grid, recs, steps=steps_tr, batch_size=64, alpha_kl=10.0,
                       progress=False, log_path=out / "train_log.jsonl")
    res["train_seconds"] = time.perf_counter() - t
    res["train_ce_first_last"] = [tlog[0]["ce"], float(np.mean([r["ce"] for r in tlog[-10:]]))]
    res["train_kl_last"] = float(np.mean([r["kl"] for r in tlog[-10:]]))
    print(f"ZIP-RC training: {steps_tr} steps in {res['train_seconds']:.1f}s, CE {res['train_ce_first_last'][0]:.3f}"
          f" -> {res['train_ce_first_last'][1]:.3f}, KL {res['train_kl_last']:.4f}")
    ev = rollouts(model, tok, rs, make_problems(max(2, n_q), seed=3), k_eval, max_new, seed=4, batch_size=256,
                  keep_joints=True, progress=False)
    m = prediction_metrics(ev, RewardGrid.official(rs.reward_states).values, length_grid(grid))
    for k in ("start_tv", "start_tv_noise_floor", "end_f1", "end_accuracy", "end_recall_incorrect", "ece_end"):
        res[k] = m[k]
    print("prediction: " + ", ".join(f"{k} {res[k]:.3f}" for k in ("start_tv", "end_f1", "end_accuracy",
                                                                  "end_recall_incorrect", "ece_end")))
    t = time.perf_counter()
    osamp = OnlineSampler(model, tok, rs, grid, cap=8, max_new_tokens=max_new, seed=5)
    cfg = PlannerConfig(rewards=RewardGrid.official(rs.reward_states), lengths=length_grid(grid),
                        alpha=0.1, beta=0.01, cap=8)
    qs = make_problems(n_q, seed=6)
    z = [osamp.run(p, ZipRCPolicy(cfg)) for p in qs]
    mv = [osamp.run(p, MajorityVotePolicy(8)) for p in qs]
    res["sampler_seconds"] = time.perf_counter() - t
    res["ziprc_accuracy"] = float(np.mean([r.correct_best for r in z]))
    res["ziprc_tokens"] = float(np.mean([r.compute_tokens for r in z]))
    res["majority8_accuracy"] = float(np.mean([r.correct_vote for r in mv]))
    res["majority8_tokens"] = float(np.mean([r.compute_tokens for r in mv]))
    print(f"online sampler on {n_q} questions in {res['sampler_seconds']:.1f}s: ZIP-RC {res['ziprc_accuracy']:.3f} "
          f"({res['ziprc_tokens']:.0f} tokens), majority@8 {res['majority8_accuracy']:.3f} ({res['majority8_tokens']:.0f} tokens)")
    b = run_zero_overhead_bench(model=model, tok=tok, reserved=rs, grid=grid, device=dev, batch=8,
                                steps=4 if args.tiny else 64, repeats=2 if args.tiny else 7)["zero_overhead"]
    res["zero_overhead"] = b
    print(f"zero overhead: throughput ratio {b['throughput_ratio']:.3f}, planner fraction {b['planner_fraction']:.4f}")
    res["total_seconds"] = time.perf_counter() - t0
    print(f"total {res['total_seconds']:.1f}s")
    (out / "gpu_check.json").write_text(json.dumps(res, indent=2, default=float) + "\n")
    print(json.dumps(res, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
