"""``ziprc exact``: exact values of every predefined strategy, ZIP-RC and the optimal policy
on one chain world."""

from __future__ import annotations

import argparse
from dataclasses import replace

from metamdp.exact import (StateLimitError, executed_strategy_value,
                           optimal_value, planning_state, policy_value, ziprc_policy)
from metamdp.planner import NORMALIZERS, PlannerConfig, enumerate_strategies, strategy_value

from .planner_option import add_planner_option

SEARCH_CHOICES = ("exhaustive", "two-prefix", "top-k")
# flags a world file may carry as defaults (a violation saved by 'ziprc theorem')
FILE_DEFAULTS = ("cap", "alpha", "beta", "search", "normalizer", "planner")


def register(sub) -> None:
    p = sub.add_parser(
        "exact", help="exact values of strategies, ZIP-RC and the optimal policy on one world",
        description="Evaluate a chain world exactly (enumeration, no Monte Carlo): every "
                    "predefined strategy at the starting state (closed form and executed), "
                    "ZIP-RC with the chosen search and normaliser, and the optimal meta-policy.")
    p.add_argument("--world", required=True,
                   help="chain world JSON (see docs/theory.md); its keys cap, alpha, beta, search, "
                        "normalizer, planner (as 'ziprc theorem --save-violations' writes them) "
                        "are defaults that the flags below override")
    p.add_argument("--cap", type=int, default=None,
                   help="most samples ever created (includes those listed in the world)")
    p.add_argument("--alpha", type=float, default=None, help="compute weight in [0, 1] (1 - alpha weighs latency)")
    p.add_argument("--beta", type=float, default=None, help="cost weight >= 0")
    p.add_argument("--search", choices=SEARCH_CHOICES, default=None, help="ZIP-RC's search (default exhaustive)")
    p.add_argument("--normalizer", choices=NORMALIZERS, default=None, help="ZIP-RC's normaliser D (default fixed)")
    p.add_argument("--no-branching", action="store_true", help="new samples only from the root")
    add_planner_option(p, default=None)
    p.add_argument("--max-states", type=int, default=200_000, metavar="N",
                   help="fail fast when exact evaluation needs more meta-states or outcomes than "
                        "this (default 200,000; large caps explode)")
    p.add_argument("--no-optimal", action="store_true", help="skip the optimal policy (large worlds)")
    p.add_argument("--json", metavar="OUT", help="write the results as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from simulators.chain_world import ChainWorld
    from simulators.io import provenance, write_json_atomic
    from simulators.theorem_check import exact_problem

    world, extras = ChainWorld.load_with_params(args.world)
    _apply_file_defaults(args, extras)
    if args.planner == "authors":
        args.no_branching = True  # their planner never branches: compare within that class
    n_start = len(world.samples)
    if args.cap < n_start:
        raise ValueError(f"--cap {args.cap} is below the {n_start} samples the world lists")
    if args.max_states < 1:
        raise ValueError(f"--max-states must be >= 1, got {args.max_states}")
    truth = exact_problem(world, args.cap, args.alpha, args.beta, search="exhaustive",
                          normalizer="fixed" if args.normalizer != "raw" else "raw",
                          branching=not args.no_branching)
    # the objective: fixed D (or 1 for raw); ZIP-RC may plan with another normaliser
    cfg = truth.config
    order = world.start_positions()  # engine position -> index in the world's sample list
    ps = planning_state(truth, truth.start)
    strategies = []
    _guard_strategies(truth, cfg, args.max_states)
    for s in enumerate_strategies(len(truth.start.unfinished), cfg, truth.start.n_created):
        q = strategy_value(ps, cfg, s, normalizer=truth.d_objective)
        ex = executed_strategy_value(truth, s, max_states=args.max_states)
        strategies.append((s, q, ex))
    best_s, _, best_ex = max(strategies, key=lambda t: t[2])
    if args.planner == "authors":
        # the authors' rules on this world's own tick grid (a chain world is a few ticks long:
        # the official token bins would put everything in the first bin)
        zcfg = PlannerConfig.authors(cfg.rewards, cfg.alpha, cfg.beta, cfg.cap, lengths=cfg.lengths)
    else:
        zcfg = replace(cfg, search=args.search, normalizer=args.normalizer)
    zproblem = replace(truth, config=zcfg)
    v_ziprc, states = policy_value(zproblem, ziprc_policy(zproblem), max_states=args.max_states)
    v_opt = None
    note = None
    if not args.no_optimal:
        try:
            v_opt, _ = optimal_value(truth, max_states=args.max_states)
        except StateLimitError as e:
            note = str(e)

    def public(s):
        d = s.to_json(cfg.lengths)
        d["keep"] = sorted(order[i] for i in s.keep)
        if d["branch_from"] is not None:
            d["branch_from"] = order[d["branch_from"]]
        return d

    proc = world.process
    print(f"world: {proc.n_nodes} nodes, samples finish within {proc.max_ticks} ticks, "
          f"{n_start} sample(s) in progress, cap {args.cap}")
    print(f"objective: alpha={args.alpha:g} beta={args.beta:g} D={truth.d_objective:.6g} "
          f"({'raw ticks' if args.normalizer == 'raw' else 'expected length of a fresh sample'})")
    print(f"strategies at the start: {len(strategies)}; largest |closed form - executed| = "
          f"{max(abs(q - ex) for _, q, ex in strategies):.3g}")
    bs = public(best_s)
    hz = "never" if bs["horizon"] is None else f"{bs['horizon']} tick(s)"
    src = "root" if bs["branch_from"] is None else f"sample {bs['branch_from']}"
    print(f"best predefined strategy: keep {bs['keep']}, {bs['new']} new from {src}, prune at {hz}"
          f"  value {best_ex:.9f}")
    label = ("authors' planner" if args.planner == "authors"
             else f"{args.search}, {args.normalizer} D")
    print(f"ZIP-RC ({label}): {v_ziprc:.9f}  "
          f"(margin {v_ziprc - best_ex:+.3g}; {states} meta-states)")
    if v_opt is not None:
        print(f"optimal meta-policy: {v_opt:.9f}  (gap to ZIP-RC {v_opt - v_ziprc:.3g})")
    elif note:
        print(f"optimal meta-policy: skipped ({note})")
    if v_ziprc < best_ex - 1e-9:
        print("note: ZIP-RC is below the best predefined strategy here: an assumption of the "
              "theorem is broken by the chosen planner (search, normaliser or the authors' rules)")
    if args.json:
        params = {"world": str(args.world), "cap": args.cap, "alpha": args.alpha, "beta": args.beta,
                  "search": args.search, "normalizer": args.normalizer,
                  "branching": not args.no_branching, "planner": args.planner,
                  "max_states": args.max_states}
        out = {"provenance": provenance("ziprc exact", None, params),
               "d_objective": truth.d_objective,
               "best_strategy_value": best_ex, "best_strategy": bs,
               "v_ziprc": v_ziprc, "v_optimal": v_opt,
               "strategies": [dict(public(s), q=q, executed=ex) for s, q, ex in strategies]}
        write_json_atomic(args.json, out)
        print(f"wrote {args.json}")
    return 0


def _apply_file_defaults(args, extras: dict) -> None:
    """Fill flags not given on the command line from the world file, then the built-in
    defaults; name what is missing."""
    for key in FILE_DEFAULTS:
        if getattr(args, key) is None and key in extras:
            setattr(args, key, extras[key])
    missing = [k for k in ("cap", "alpha", "beta") if getattr(args, k) is None]
    if missing:
        raise ValueError(f"--{missing[0]} is required (the world file has no {missing[0]!r})")
    for key, cast in (("cap", int), ("alpha", float), ("beta", float)):
        try:
            setattr(args, key, cast(getattr(args, key)))
        except (TypeError, ValueError):
            raise ValueError(f"{key} must be a number, got {getattr(args, key)!r}") from None
    args.search = args.search or "exhaustive"
    args.normalizer = args.normalizer or "fixed"
    args.planner = args.planner or "ours"
    for key, choices in (("search", SEARCH_CHOICES), ("normalizer", NORMALIZERS),
                         ("planner", ("ours", "authors"))):
        if getattr(args, key) not in choices:
            raise ValueError(f"{key} {getattr(args, key)!r} (from the world file) is not one of "
                             f"{', '.join(choices)}")


def _guard_strategies(truth, cfg, max_states: int) -> None:
    """Every strategy is executed exactly: refuse before starting when there are too many."""
    n = len(truth.start.unfinished)
    max_new = max(0, cfg.cap - truth.start.n_created)
    n_src = 1 + (n if cfg.branching else 0)
    count = (1 << n) * cfg.lengths.size * (1 + n_src * max_new)
    if count > max_states:
        raise StateLimitError(f"the world has about {count:,} strategies to execute exactly "
                              f"(limit --max-states {max_states:,}); lower the cap or use a "
                              "smaller world")
