"""``ziprc theorem``: exact checks of the dominance theorem and of where it breaks."""

from __future__ import annotations

import argparse
import os

import numpy as np

from metamdp.exact import DEFAULT_MAX_STATES

# exact's command-line flags that reproduce a variant (the others need the theorem check)
REPLAY_FLAGS = {"exact": {}, "two_prefix": {"search": "two-prefix"},
                "top_k_value": {"search": "top-k"}, "state_normalizer": {"normalizer": "state"},
                "authors_planner": {"planner": "authors"}}


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
                        "miscalibrated dependent_samples authors_planner recourse (default: all)")
    p.add_argument("--max-depth", type=int, default=4, help="longest sample, in ticks (default 4)")
    p.add_argument("--max-samples", type=int, default=4,
                   help="most samples already in progress at the start (default 4)")
    p.add_argument("--no-optimal", action="store_true", help="skip the optimal policy")
    p.add_argument("--degenerate", action="store_true",
                   help="the unconstrained generator (single paths, all-zero worlds, immediate "
                        "stops allowed); default: non-degenerate worlds where re-planning can matter")
    p.add_argument("--max-states", type=int, default=DEFAULT_MAX_STATES, metavar="N",
                   help=f"fail when one instance needs more meta-states (default {DEFAULT_MAX_STATES:,})")
    p.add_argument("--save-violations", metavar="DIR",
                   help="write each violating instance as a world JSON that replays with "
                        "'ziprc exact --world FILE' alone (cap, alpha, beta and planner inside)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", metavar="OUT", help="write the report as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from simulators.io import provenance, write_json_atomic
    from simulators.theorem_check import (HOLDING, VARIANT_HELP, VARIANTS, evaluate, instance_seed,
                                          random_instance)

    variants = args.variants or list(VARIANTS)
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variant {unknown[0]!r}; choose from {', '.join(VARIANTS)}")
    if args.instances < 1:
        raise ValueError(f"--instances must be >= 1, got {args.instances}")
    if args.max_states < 1:
        raise ValueError(f"--max-states must be >= 1, got {args.max_states}")
    results = {v: [] for v in variants}
    optimal_cache: dict = {}
    inst_of: dict = {}   # seed -> instance (to save the worlds where recourse is below ZIP-RC)
    saved = 0
    for i in tqdm(range(args.instances), desc="theorem", unit="world", mininterval=0.5,
                  disable=args.no_progress):
        inst = random_instance(instance_seed(args.seed, i), max_depth=args.max_depth,
                               max_samples=args.max_samples, degenerate=args.degenerate)
        inst_of[inst.seed] = inst
        w_cache: dict = {}
        for v in variants:
            r = evaluate(inst, v, with_optimal=not args.no_optimal, optimal_cache=optimal_cache,
                         w_cache=w_cache, max_states=args.max_states)
            results[v].append(r)
            if r.violated and args.save_violations:
                os.makedirs(args.save_violations, exist_ok=True)
                write_json_atomic(os.path.join(args.save_violations, f"{v}_{inst.seed}.json"),
                                  violation_record(inst, v, r))
                saved += 1
        optimal_cache.clear()  # seeds do not repeat: keep memory flat
    report = []
    print(f"\n{args.instances} random worlds ({'unconstrained' if args.degenerate else 'non-degenerate'}"
          f" generator), seed {args.seed}; violation = V_ZIPRC(s) < W(s) - 1e-9 at some state s "
          f"ZIP-RC reaches (exact enumeration)\n")
    print(f"{'variant':<18} {'violations':>10} {'worst margin':>13} {'informative':>11} "
          f"{'states':>8} {'mean V*-V':>10} {'max V*-V':>9}")
    for v in variants:
        rs = results[v]
        margins = np.array([r.margin for r in rs])
        start_margins = np.array([r.start_margin for r in rs])
        gaps = np.array([r.gap_to_optimal for r in rs if r.gap_to_optimal is not None])
        viol = [r for r in rs if r.violated]
        n_inf = sum(r.informative for r in rs)
        states = int(sum(r.states_checked for r in rs))
        row = {"variant": v, "description": VARIANT_HELP[v], "instances": len(rs),
               "violations": len(viol),
               "violations_at_start": int(np.sum(start_margins < -1e-9)),
               "worst_margin": float(margins.min()),
               "mean_margin": float(start_margins.mean()),
               "informative": n_inf, "informative_share": n_inf / len(rs),
               "states_checked": states,
               "gap_to_optimal": (None if gaps.size == 0 else
                                  {"mean": float(gaps.mean()), "max": float(gaps.max()),
                                   "min": float(gaps.min())}),
               "violating_seeds": [r.seed for r in viol][:50]}
        report.append(row)
        g = row["gap_to_optimal"]
        print(f"{v:<18} {len(viol):>10} {margins.min():>13.3g} {100 * n_inf / len(rs):>10.1f}% "
              f"{states:>8} {(g['mean'] if g else float('nan')):>10.3g} "
              f"{(g['max'] if g else float('nan')):>9.3g}")
    print("\nvariants:")
    for v in variants:
        print(f"  {v:<18} {VARIANT_HELP[v]}")
    print("  informative: re-planning changed ZIP-RC's action at some reachable state compared "
          "with executing its first plan literally; states: meta-states where V_ZIPRC >= W was checked")
    if "dependent_samples" in variants:
        print("  (dependent samples: checked at the start state only, and V* is not computed: "
              "both need the belief over the shared latent)")
    comparison = None
    if "exact" in variants and "recourse" in variants:
        comparison = recourse_comparison(results["exact"], results["recourse"])
        print_recourse_comparison(comparison)
        if args.save_violations and comparison["recourse_worse"]:
            os.makedirs(args.save_violations, exist_ok=True)
            worse = {r.seed for r in results["exact"]} & set(comparison["worse_seeds"])
            for z, r in zip(results["exact"], results["recourse"]):
                if z.seed in worse:
                    rec = violation_record(inst_of[z.seed], "recourse", r)
                    rec.update(v_ziprc_exact=z.v_ziprc, note_worse=(
                        "the recourse planner (v_ziprc) is below ZIP-RC (v_ziprc_exact) here"))
                    write_json_atomic(os.path.join(args.save_violations,
                                                   f"recourse_worse_{z.seed}.json"), rec)
                    saved += 1
    if saved:
        print(f"\nsaved {saved} instance(s) to {args.save_violations}")
    if args.json:
        params = {"instances": args.instances, "variants": variants, "max_depth": args.max_depth,
                  "max_samples": args.max_samples, "optimal": not args.no_optimal,
                  "degenerate": args.degenerate, "max_states": args.max_states}
        out = {"provenance": provenance("ziprc theorem", args.seed, params), "variants": report}
        if comparison is not None:
            out["recourse_vs_ziprc"] = comparison
        write_json_atomic(args.json, out)
        print(f"wrote {args.json}")
    # the theorem's own settings must never be violated: that would be a bug
    return 1 if any(r["violations"] for r in report if r["variant"] in HOLDING) else 0


def recourse_comparison(ziprc, recourse) -> dict:
    """ZIP-RC (``exact``) and the recourse planner on the same worlds: gaps to ``V*`` and
    how often each is above the other (by more than 1e-9)."""
    z = np.array([r.v_ziprc for r in ziprc])
    c = np.array([r.v_ziprc for r in recourse])
    out = {"instances": int(z.size),
           "recourse_worse": int(np.sum(c < z - 1e-9)), "recourse_better": int(np.sum(c > z + 1e-9)),
           "worse_seeds": [r.seed for r, a, b in zip(ziprc, z, c) if b < a - 1e-9],
           "largest_drop": float(np.max(z - c, initial=0.0)),
           "mean_difference": float(np.mean(c - z))}
    if all(r.v_optimal is not None for r in ziprc):
        opt = np.array([r.v_optimal for r in ziprc])
        for name, v in (("ziprc_gap", z), ("recourse_gap", c)):
            g = opt - v
            out[name] = {"mean": float(g.mean()), "max": float(g.max()), "min": float(g.min()),
                         "median": float(np.median(g)), "p90": float(np.quantile(g, 0.9))}
    return out


def print_recourse_comparison(cmp: dict) -> None:
    n = cmp["instances"]
    print(f"\nrecourse vs ZIP-RC on the same {n} worlds: recourse better in "
          f"{cmp['recourse_better']}, worse in {cmp['recourse_worse']} (largest drop "
          f"{cmp['largest_drop']:.3g}), mean V_recourse - V_ZIPRC {cmp['mean_difference']:.3g}")
    if "ziprc_gap" in cmp:
        for name, key in (("ZIP-RC", "ziprc_gap"), ("recourse", "recourse_gap")):
            g = cmp[key]
            print(f"  V* - V_{name:<9} mean {g['mean']:.4f}  median {g['median']:.4f}  "
                  f"p90 {g['p90']:.4f}  max {g['max']:.4f}")


def violation_record(inst, variant: str, result) -> dict:
    """A violating instance as a flat world file: the world's own keys, plus its objective and
    the planner flags of ``ziprc exact`` (defaults there, which flags override), plus the
    full instance for ``simulators.theorem_check.instance_from_dict``."""
    from simulators.theorem_check import instance_to_dict, world_at_state

    if variant == "dependent_samples":
        d = dict(inst.tree_world.to_dict())
    elif result.start_margin < -1e-9 or result.worst_state is None:
        d = dict(inst.world.to_dict())
    else:
        # the theorem broke at a state reached mid-run: start the saved world there
        d = dict(world_at_state(inst.world, result.worst_state).to_dict())
        d["note_start"] = ("samples placed at the state where V_ZIPRC < W, reached from the "
                           "generated world's start (see the instance field)")
    d.update(cap=inst.cap, alpha=inst.alpha, beta=inst.beta, variant=variant,
             best_strategy_value=result.best_strategy_value, v_ziprc=result.v_ziprc,
             worst_state_margin=result.margin, seed=inst.seed)
    flags = REPLAY_FLAGS.get(variant)
    if flags is not None:
        d.update(flags)
    else:
        d["note"] = (f"'ziprc exact' replays the world and its objective; the {variant} planner "
                     "itself is only in 'ziprc theorem' (see the instance field)")
    d["instance"] = instance_to_dict(inst)
    return d
