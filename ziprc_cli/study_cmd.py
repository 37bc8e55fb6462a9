"""``ziprc study``: policies over their knobs on a synthetic suite, the matched-cost table
(Table 2 analogue) and the accuracy-vs-generation-cost frontier; with several suites, alphas,
corruptions or seeds, a resumable sweep on local processes or a Dask cluster."""

from __future__ import annotations

import time

from .planner_option import add_planner_option


def register(subparsers) -> None:
    import inspect

    from metamdp.policies import ZipRC
    from simulators.policies import TABLE

    zd = {k: v.default for k, v in inspect.signature(ZipRC).parameters.items()}  # ZIP-RC's defaults
    policies = ", ".join(f"{n} ({e.cls.knob_name})" for n, e in TABLE.items())
    p = subparsers.add_parser(
        "study", help="policy study on a synthetic suite (matched-cost table, frontier)",
        description="Run ZIP-RC and the baselines over their knobs on a synthetic benchmark "
                    "suite with exact (or corrupted) predictions; print the matched-cost table "
                    "with stratified bootstrap 95% CIs and optionally plot the frontier.")
    p.add_argument("--suite", default="mixed", help="gsm8k, math500, amc23, aime24 or mixed (default)")
    p.add_argument("--alpha", type=float, default=0.1, help="compute weight of the generation cost (default 0.1)")
    p.add_argument("--policies", default=None,
                   help=f"comma-separated policy names, each swept over its knob: {policies} (default: "
                        "all but " + ", ".join(n for n, e in TABLE.items() if not e.cls.by_default)
                        + ", which run when named)")
    p.add_argument("--policy-module", action="append", default=None, metavar="PATH.py:ClassName",
                   help="also run your own metamdp.policies.Policy subclass (repeatable or "
                        "comma-separated); it runs on the Python episode driver, on the same episodes")
    p.add_argument("--questions", type=int, default=None, help="number of questions (default: the full suite)")
    p.add_argument("--episodes", type=int, default=None,
                   help="episodes per question (default: enough for >= 1000 episodes per cell, "
                        "e.g. 34 on aime24, 1 on mixed)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--corruption", default="exact",
                   help="prediction corruption: a preset (exact, temperature2, noise1, optimism1, lag8, "
                        "window8, coarse2, correlated0.5, ...) or key=value pairs, e.g. temperature=2,lag_ticks=8")
    p.add_argument("--world", default=None,
                   help="override suite parameters, e.g. gamma=0,info=1,distractor_spread=0.2 "
                        "(see simulators.synthetic.SuiteSpec)")
    p.add_argument("--reward-states", type=int, default=7, choices=(2, 7), help="reward grid (default 7)")
    p.add_argument("--search", default=None, help=f"ZIP-RC search: exhaustive, two-prefix, top-k (default {zd['search']})")
    p.add_argument("--normalizer", default=None, help=f"ZIP-RC normaliser: fixed, raw, state (default {zd['normalizer']})")
    p.add_argument("--branching", action="store_true", help="let ZIP-RC branch from prefixes")
    p.add_argument("--init-k", type=int, default=None, help="ZIP-RC: start exactly K samples at t = 0 (default: planned)")
    p.add_argument("--interval", type=int, default=None, help=f"ZIP-RC: re-plan every this many ticks (default {zd['interval']})")
    p.add_argument("--selection", default=None, help=f"ZIP-RC answer: value, weighted, plurality (default {zd['selection']})")
    add_planner_option(p)
    p.add_argument("--frontier-base", default=None, metavar="POLICY",
                   help="also compare this policy's frontier with every other policy's at "
                        "--frontier-costs (paired per question, 95%% bootstrap CIs), and refine "
                        "the beta grids around those costs")
    p.add_argument("--frontier-costs", default="0.8,1.0,1.2,1.4,1.6,1.8,2.0", metavar="C1,C2,...",
                   help="costs of --frontier-base's comparison (default 0.8,1.0,...,2.0)")
    p.add_argument("--json", dest="json_out", default=None, help="write rows + provenance to this JSON file")
    p.add_argument("--plot", default=None,
                   help="write the frontier plot to this file (.png, .pdf, .svg or .jpg)")
    p.add_argument("--workers", type=int, default=None, help="threads for the episode kernels / processes for sweeps")
    p.add_argument("--scheduler", default=None, help="Dask scheduler address for a sweep (tcp://host:port)")
    p.add_argument("--suites", default=None, help="sweep: comma-separated suites")
    p.add_argument("--alphas", default=None, help="sweep: comma-separated alphas")
    p.add_argument("--corruptions", default=None, help="sweep: comma-separated corruption presets")
    p.add_argument("--seeds", default=None, help="sweep: comma-separated seeds")
    p.add_argument("--out-dir", default=None, help="sweep: directory of per-task result files (resumable)")
    p.add_argument("--calibration", action="store_true",
                   help="print the suites' calibration (pass@1, pass@8, mean length, MV at cost 1.4)")
    p.add_argument("--world-preset", default=None,
                   help="world preset: qwen3-1.7b (default, fitted to the paper), lfm2-350m, original")
    p.add_argument("--fit", action="store_true",
                   help="fit the world preset's free parameters to the paper's majority-vote row and "
                        "Table 1 only (plus the external RM to its own row); prints and writes --json")
    p.add_argument("--table2", action="store_true",
                   help="every Table 2 cell, paper vs this world (fitted rows and predictions kept "
                        "apart), five suites at --alpha; with --world-preset lfm2-350m its mixed row")
    p.add_argument("--protocol", default="per-suite", choices=("per-suite", "shared-knob"),
                   help="--table2: interpolate each row at its cost on every suite (per-suite, "
                        "default), or set each row's knob once on the mixed suite and run it on "
                        "every benchmark (shared-knob, the paper's one-cost-per-row layout)")
    p.add_argument("--sensitivity", default=None, metavar="KNOB:V1,V2,...",
                   help="second experiment (uses predicted rows, not part of the fit): one world knob "
                        "at several values, MV refitted, predicted rows on --suite")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def _ziprc_params(args) -> dict:
    zp = {}
    if args.search:
        zp["search"] = args.search
    if args.normalizer:
        zp["normalizer"] = args.normalizer
    if args.branching:
        zp["branching"] = True
    if args.init_k is not None:
        zp["init_k"] = args.init_k
    if args.interval is not None:
        zp["interval"] = args.interval
    if args.selection:
        zp["selection"] = args.selection
    if args.planner != "ours":
        zp["planner"] = args.planner
    return zp


def _split(text, cast):
    from simulators.study import StudyError

    try:
        return [cast(x.strip()) for x in text.split(",") if x.strip()]
    except ValueError:
        raise StudyError(f"cannot parse the list {text!r}") from None


def _world_overrides(text) -> dict:
    from simulators.study import StudyError
    from simulators.synthetic import SuiteSpec

    if not text:
        return {}
    out = {}
    for part in text.split(","):
        if "=" not in part:
            raise StudyError(f"--world {text!r}: use key=value pairs such as gamma=0,info=1")
        k, v = (x.strip() for x in part.split("=", 1))
        if k not in SuiteSpec.__dataclass_fields__ or k in ("name", "n_questions"):
            raise StudyError(f"--world: unknown suite parameter {k!r}")
        try:
            out[k] = int(v) if k == "n_distractors" else float(v)
        except ValueError:
            raise StudyError(f"--world: {k}={v!r} is not a number") from None
    return out


def load_user_policies(specs) -> list:
    """``--policy-module`` values as policy objects (their names may not be built-in ones)."""
    from metamdp.policies import POLICY_NAMES, load_policies

    return load_policies(specs, reserved=POLICY_NAMES)


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}"


def run(args) -> int:
    from simulators.io import check_image_path, provenance, write_json_atomic
    from simulators.runner import set_threads
    from simulators.study import StudyError, run_study
    from simulators.sweeps import parse_corruption, run_sweep, sweep_summary, sweep_tasks
    from simulators.synthetic import SUITES, check_questions

    if args.questions is not None and args.questions < 1:
        raise StudyError(f"--questions must be >= 1, got {args.questions}")
    for suite in (_split(args.suites, str) if args.suites else [args.suite]):
        if suite in SUITES:  # unknown names get their own error below
            check_questions(suite, args.questions)
    if args.workers is not None and args.workers < 1:
        raise StudyError(f"--workers must be >= 1, got {args.workers}")
    if args.plot:
        check_image_path(args.plot)  # before the run, not after it
    set_threads(args.workers)
    if args.calibration:
        return run_calibration(args)
    if args.fit or args.table2 or args.sensitivity:
        return run_fit(args)
    zp = _ziprc_params(args)
    is_sweep = any(x is not None for x in (args.suites, args.alphas, args.corruptions, args.seeds,
                                           args.out_dir, args.scheduler))
    user = load_user_policies(args.policy_module)
    if is_sweep:
        if user:
            raise StudyError("--policy-module is not supported in sweeps; run one study per task")
        if args.out_dir is None:
            raise StudyError("a sweep (--suites/--alphas/--corruptions/--seeds/--scheduler) needs --out-dir")
        tasks = sweep_tasks(_split(args.suites, str) if args.suites else [args.suite],
                            _split(args.alphas, float) if args.alphas else [args.alpha],
                            _split(args.corruptions, str) if args.corruptions else [args.corruption],
                            _split(args.seeds, int) if args.seeds else [args.seed],
                            args.policies, args.questions, args.episodes, zp)
        t0 = time.time()
        paths = run_sweep(tasks, args.out_dir, scheduler=args.scheduler, workers=args.workers or 2,
                          progress=not args.no_progress)
        summary = sweep_summary(paths)
        print(f"{'suite':<9}{'alpha':>6}  {'corruption':<16}{'seed':>5}{'MV acc':>8}{'MV cost':>8}"
              f"{'ZIP-RC acc':>11}{'cost':>6}{'gain (pts) [95% CI]':>24}{'frontier@MV cost':>18}"
              f"{'ZIP-RC@1.2':>11}{'MV@1.2':>8}")
        for s in summary:
            if s["ziprc_accuracy"] is None:
                gain = "n/a"
            elif s["ziprc_delta_ci"] is None:  # no bootstrap interval (see the task's table)
                gain = f"{100 * s['ziprc_delta']:+.1f} [n/a]"
            else:
                gain = (f"{100 * s['ziprc_delta']:+.1f} [{100 * s['ziprc_delta_ci'][0]:+.1f},"
                        f"{100 * s['ziprc_delta_ci'][1]:+.1f}]")
            za = "n/a" if s["ziprc_accuracy"] is None else f"{100 * s['ziprc_accuracy']:.1f}"
            zc = "n/a" if s["ziprc_gen_cost"] is None else f"{s['ziprc_gen_cost']:.2f}"
            zf = ("n/a" if s["ziprc_frontier_at_mv_cost"] is None
                  else f"{100 * s['ziprc_frontier_at_mv_cost']:.1f}")
            print(f"{s['suite']:<9}{s['alpha']:>6g}  {s['corruption']:<16}{s['seed']:>5}"
                  f"{100 * s['mv_accuracy']:>8.1f}{s['mv_gen_cost']:>8.2f}{za:>11}{zc:>6}{gain:>24}"
                  f"{zf:>18}{_pct(s['ziprc_frontier_at_1.2']):>11}{_pct(s['mv_frontier_at_1.2']):>8}")
        print(f"{len(paths)} task(s) in {args.out_dir} ({time.time() - t0:.1f}s)")
        if args.json_out:
            write_json_atomic(args.json_out, {"tasks": summary, "provenance": provenance(
                "ziprc study (sweep)", seed=args.seeds or args.seed,
                params={k: v for k, v in vars(args).items() if k != "func"})})
        return 0
    t0 = time.time()
    costs = None
    if args.frontier_base is not None:
        from simulators.policies import parse_policies

        if args.frontier_base not in parse_policies(args.policies):
            raise StudyError(f"--frontier-base {args.frontier_base!r} is not among the study's "
                             "policies (--policies)")
        costs = _split(args.frontier_costs, float)
        if not costs or any(not c > 0 for c in costs):
            raise StudyError(f"--frontier-costs must be positive numbers, got {args.frontier_costs!r}")
    result = run_study(args.suite, args.alpha, args.policies, args.questions, args.seed,
                       args.episodes, parse_corruption(args.corruption),
                       reward_states=args.reward_states, progress=not args.no_progress,
                       ziprc_params=zp, world_overrides=_world_overrides(args.world),
                       user_policies=user, world_preset=args.world_preset,
                       frontier_base=args.frontier_base, frontier_costs=costs,
                       refine_targets=costs)
    report(result, t0, args.json_out, args.plot)
    return 0


def run_fit(args) -> int:
    """``--fit``, ``--table2`` and ``--sensitivity`` (simulators.worldfit)."""
    from dataclasses import asdict

    from simulators import worldfit as wf
    from simulators.io import provenance, write_json_atomic
    from simulators.study import StudyError
    from simulators.synthetic import DEFAULT_PRESET, preset_specs

    preset = args.world_preset or DEFAULT_PRESET
    log = (lambda *a: None) if args.no_progress else print
    t0 = time.time()
    out = {}
    if args.fit:
        try:
            out["fit"] = wf.fit_world(preset, seed=args.seed, log=log)
        except wf.FitError as e:
            raise StudyError(str(e)) from None
        f = out["fit"]["fitted"]
        print(f"fitted ({preset}): value-profile tilts {f['head']['high_tilt']:+.3f} / "
              f"{f['head']['low_tilt']:+.3f} -> TPR {f['head']['tpr']:.3f}, TNR {f['head']['tnr']:.3f} "
              f"(Table 1: {f['table1_rates']['tpr']:.3f}, {f['table1_rates']['tnr']:.3f})")
        for name, m in f["mv"].items():
            print(f"fitted ({preset}): {name} MV {100 * m['achieved']:.1f} (paper {100 * m['target']:.1f})")
        if "rm" in f:
            print(f"fitted ({preset}): external RM AUROC {f['rm']['auroc']:.2f}")
        print(f"assumed: {out['fit']['assumed']}")
        print("(to make this fit a preset, copy its specs into simulators/synthetic.py PRESET_CHANGES)")
        specs = {n: wf.SuiteSpec(**v) for n, v in out["fit"]["specs"].items()}
    else:
        specs = preset_specs(preset)
    if args.table2:
        if preset == "lfm2-350m":
            out["table2"] = wf.predict_lfm2(specs, seed=args.seed, log=log,
                                            questions=args.questions, episodes=args.episodes)
        else:
            auroc = (out["fit"]["fitted"]["rm"]["auroc"] if "fit" in out else wf.FITTED_RM_AUROC)
            if args.protocol == "shared-knob":
                out["table2"] = wf.predict_table2_shared(specs, alpha=args.alpha, seed=args.seed,
                                                         rm_auroc=auroc, log=log)
            else:
                out["table2"] = wf.predict_table2(specs, alpha=args.alpha, seed=args.seed,
                                                  episodes=args.episodes, rm_auroc=auroc,
                                                  questions=args.questions, log=log)
        print(wf.format_comparison(out["table2"]))
        print(wf.format_misses(out["table2"]))
    if args.sensitivity:
        if ":" not in args.sensitivity:
            raise StudyError(f"--sensitivity {args.sensitivity!r}: use KNOB:V1,V2 (e.g. value_share:0,0.5)")
        knob, vals = args.sensitivity.split(":", 1)
        if knob not in wf.SuiteSpec.__dataclass_fields__ and knob != "concentration":
            raise StudyError(f"--sensitivity: unknown world knob {knob!r}")
        out["sensitivity"] = wf.sensitivity(specs, knob, _split(vals, float), suite=args.suite,
                                            seed=args.seed, questions=args.questions, log=print)
    print(f"({time.time() - t0:.1f}s)")
    if args.json_out:
        out["provenance"] = provenance("ziprc study --fit/--table2/--sensitivity", seed=args.seed,
                                       params={"preset": preset, "alpha": args.alpha,
                                               "protocol": args.protocol,
                                               "episodes": args.episodes, "questions": args.questions,
                                               "specs": {n: asdict(s) for n, s in specs.items()}})
        write_json_atomic(args.json_out, out)
        print(f"wrote {args.json_out}")
    return 0


def run_calibration(args) -> int:
    from simulators.io import provenance, write_json_atomic
    from simulators.sweeps import calibration_table

    rows = calibration_table(seed=args.seed, preset=args.world_preset)
    print(f"{'suite':<9}{'questions':>10}{'pass@1':>8}{'pass@8':>8}{'mean tokens':>13}"
          f"{'MV@1.4':>8}{'paper MV':>10}")
    for r in rows:
        print(f"{r['suite']:<9}{r['questions']:>10}{100 * r['pass_at_1']:>8.1f}{100 * r['pass_at_8']:>8.1f}"
              f"{r['mean_tokens']:>13.0f}{100 * r['mv_at_1.4']:>8.1f}{100 * r['paper_mv']:>10.1f}")
    if args.json_out:
        write_json_atomic(args.json_out, {"calibration": rows, "provenance": provenance(
            "ziprc study --calibration", seed=args.seed, params={"episodes_total": 20000})})
    return 0


def report(result: dict, t0: float, json_out: str | None, plot: str | None) -> None:
    """Print the matched-cost table and write the JSON and the frontier plot if asked."""
    from simulators.io import write_json_atomic
    from simulators.report import format_table, plot_frontier

    print(format_table(result))
    if "frontier_comparison" in result:
        from simulators.report import format_frontier_comparison

        print(format_frontier_comparison(result["frontier_comparison"]))
    print(f"({time.time() - t0:.1f}s)")
    if json_out:
        write_json_atomic(json_out, result)
        print(f"wrote {json_out}")
    if plot:
        plot_frontier(result, plot)
        print(f"wrote {plot}")
