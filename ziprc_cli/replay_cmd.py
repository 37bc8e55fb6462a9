"""``ziprc replay``: policies over recorded traces (Parquet, see docs/traces.md), exactly,
with the same matched-cost table as ``ziprc study``; ``--record`` writes a synthetic suite's
samples as a trace file (useful as an example and for checks)."""

from __future__ import annotations

import time

from .planner_option import add_planner_option


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "replay", help="run pause/resume/prune policies over recorded traces (Parquet)",
        description="Replay ZIP-RC (without branching) and the baselines over recorded rollouts "
                    "with per-tick joint predictions; prints the matched-cost table.")
    p.add_argument("--traces", required=True, help="trace file (.parquet); with --record, the file to write")
    p.add_argument("--alpha", type=float, default=0.1, help="compute weight of the generation cost (default 0.1)")
    p.add_argument("--policies", default=None, help="comma-separated policy names (default: every replayable policy run by default)")
    p.add_argument("--policy-module", action="append", default=None, metavar="PATH.py:ClassName",
                   help="also replay your own metamdp.policies.Policy subclass (repeatable or comma-separated)")
    p.add_argument("--cap", type=int, default=8, help="samples per question at most (default 8)")
    add_planner_option(p)
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (and of --record)")
    p.add_argument("--batch-size", type=int, default=1024, help="rows per record batch read (default 1024)")
    p.add_argument("--json", dest="json_out", default=None, help="write rows + provenance to this JSON file")
    p.add_argument("--plot", default=None,
                   help="write the frontier plot to this file (.png, .pdf, .svg or .jpg)")
    p.add_argument("--validate-only", action="store_true", help="only validate the file")
    p.add_argument("--record", action="store_true",
                   help="write a synthetic suite's samples to --traces instead of replaying")
    # aime24 by default: on the easy suites nearly every policy scores ~100% and the demo
    # would not tell policies apart (MV 53% there in the paper; here they span about 50-73%)
    p.add_argument("--suite", default="aime24",
                   help="with --record: the synthetic suite (default aime24, where policies differ)")
    p.add_argument("--questions", type=int, default=None,
                   help="with --record: number of questions (default: all of the suite's)")
    p.add_argument("--samples", type=int, default=8, help="with --record: samples per question (default 8)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    from simulators.replay import record_world, replay_study
    from simulators.synthetic import build_world, check_questions
    from simulators.traces import validate_traces

    from simulators.io import check_image_path

    if args.plot:
        check_image_path(args.plot)  # before the run, not after it
    t0 = time.time()
    if args.record:
        check_questions(args.suite, args.questions)
        world = build_world(args.suite, n_questions=args.questions)
        record_world(world, args.traces, n_samples=args.samples, seed=args.seed)
        s = validate_traces(args.traces)
        print(f"wrote {args.traces}: {s['rows']} samples, {s['questions']} questions, {s['ticks']} ticks")
        return 0
    from .study_cmd import load_user_policies

    user = load_user_policies(args.policy_module)
    summary = validate_traces(args.traces, batch_size=args.batch_size)
    print(f"{args.traces}: {summary['rows']} samples, {summary['questions']} questions, "
          f"{summary['ticks']} recorded ticks: valid")
    if args.validate_only:
        return 0
    result = replay_study(args.traces, policies=args.policies, alpha=args.alpha, cap=args.cap,
                          seed=args.seed, progress=not args.no_progress, batch_size=args.batch_size,
                          user_policies=user,
                          ziprc_params={"planner": args.planner} if args.planner != "ours" else None)
    from .study_cmd import report

    report(result, t0, args.json_out, args.plot)
    return 0
