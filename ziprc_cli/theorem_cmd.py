"""``ziprc theorem``: exact checks of the dominance theorem and of where it breaks."""

from __future__ import annotations

import argparse
import os

import numpy as np


def register(sub) -> None:
    p = sub.add_parser(
        "theorem", help="check V* >= V_ZIPRC >= best strategy exactly on random worlds",
        description="Evaluate random chain worlds exactly and report, per planner variant, how "
                    "often ZIP-RC falls below the best predefined strategy (the paper's Theorem "
                    "5.1 says never, under its assumptions), by how much, and the gap to the "
                    "optimal meta-policy.")
    p.add_argument("--instances", type=int, default=500, help="random worlds (default 500)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--variants", nargs="+", metavar="VARIANT", default=None,
                   help="subset of: exact two_prefix top_k_value state_normalizer binned_lengths "
                        "miscalibrated dependent_samples (default: all)")
    p.add_argument("--max-depth", type=int, default=4, help="longest sample, in ticks (default 4)")
    p.add_argument("--max-samples", type=int, default=4,
                   help="most samples already in progress at the start (default 4)")
    p.add_argument("--no-optimal", action="store_true", help="skip the optimal policy")
    p.add_argument("--save-violations", metavar="DIR",
                   help="write each violating instance as JSON (replayable with ziprc exact)")
    p.add_argument("--json", metavar="OUT", help="write the report as JSON")
    p.set_defaults(func=run)


def instance_seed(seed: int, i: int) -> int:
    """Independent, reproducible per-instance seeds."""
    return int(np.random.SeedSequence([seed, i]).generate_state(1)[0])


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from simulators.io import provenance, write_json_atomic
    from simulators.theorem_check import (VARIANT_HELP, VARIANTS, evaluate, instance_to_dict,
                                          random_instance)

    variants = args.variants or list(VARIANTS)
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variant {unknown[0]!r}; choose from {', '.join(VARIANTS)}")
    if args.instances < 1:
        raise ValueError(f"--instances must be >= 1, got {args.instances}")
    results = {v: [] for v in variants}
    optimal_cache: dict = {}
    saved = 0
    for i in tqdm(range(args.instances), desc="theorem", unit="world", mininterval=0.5):
        inst = random_instance(instance_seed(args.seed, i), max_depth=args.max_depth,
                               max_samples=args.max_samples)
        for v in variants:
            r = evaluate(inst, v, with_optimal=not args.no_optimal, optimal_cache=optimal_cache)
            results[v].append(r)
            if r.violated and args.save_violations:
                os.makedirs(args.save_violations, exist_ok=True)
                d = instance_to_dict(inst)
                d.update(variant=v, best_strategy_value=r.best_strategy_value, v_ziprc=r.v_ziprc)
                write_json_atomic(os.path.join(args.save_violations, f"{v}_{inst.seed}.json"), d)
                saved += 1
    report = []
    print(f"\n{args.instances} random worlds, seed {args.seed}; violation = V_ZIPRC < best "
          f"strategy - 1e-9 (exact enumeration)\n")
    print(f"{'variant':<18} {'violations':>10} {'worst margin':>13} {'mean margin':>12} "
          f"{'mean V*-V':>10} {'max V*-V':>9}")
    for v in variants:
        rs = results[v]
        margins = np.array([r.margin for r in rs])
        gaps = np.array([r.gap_to_optimal for r in rs if r.gap_to_optimal is not None])
        viol = [r for r in rs if r.violated]
        row = {"variant": v, "description": VARIANT_HELP[v], "instances": len(rs),
               "violations": len(viol), "worst_margin": float(margins.min()),
               "mean_margin": float(margins.mean()),
               "gap_to_optimal": (None if gaps.size == 0 else
                                  {"mean": float(gaps.mean()), "max": float(gaps.max()),
                                   "min": float(gaps.min())}),
               "violating_seeds": [r.seed for r in viol][:50]}
        report.append(row)
        g = row["gap_to_optimal"]
        print(f"{v:<18} {len(viol):>10} {margins.min():>13.3g} {margins.mean():>12.3g} "
              f"{(g['mean'] if g else float('nan')):>10.3g} {(g['max'] if g else float('nan')):>9.3g}")
    print("\nvariants:")
    for v in variants:
        print(f"  {v:<18} {VARIANT_HELP[v]}")
    if "dependent_samples" in variants:
        print("  (V* is not computed for dependent samples: the optimal policy there needs the "
              "belief over the shared latent)")
    if saved:
        print(f"\nsaved {saved} violating instance(s) to {args.save_violations}")
    if args.json:
        params = {"instances": args.instances, "variants": variants, "max_depth": args.max_depth,
                  "max_samples": args.max_samples, "optimal": not args.no_optimal}
        write_json_atomic(args.json, {"provenance": provenance("ziprc theorem", args.seed, params),
                                      "variants": report})
        print(f"wrote {args.json}")
    exact = next((r for r in report if r["variant"] == "exact"), None)
    # the theorem's own setting must never be violated: that would be a bug
    return 1 if exact and exact["violations"] else 0
