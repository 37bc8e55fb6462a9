"""``ziprc bench``: speed measured as medians and ratios within one run.

Sections: ``planner`` (one ZIP-RC decision through ``plan()``, through the hot callers'
trusted path and the kernel alone, and the vectorised NumPy reference),
``episodes`` (the simulators' episode runner, when installed), ``compile`` (cold compile
seconds of the simulators' kernels, in a temporary cache), ``zero_overhead``
(decoding with predictions vs plain decoding) and ``score`` (``ziprc llm score``'s tokens/s,
batched vs one rollout at a time), the last two when the ``[llm]`` extra is installed, and,
only when asked for, ``engines`` (plain vLLM, vLLM with the slice, vLLM and the HF loop
with the ZIP-RC controller: :mod:`llm_backend.engines_bench`; needs vLLM) and
``engines_sampled`` (a model of the demo's task trained briefly here, then majority voting and
ZIP-RC sampled on both engines: accuracy and cost agree within their CIs; needs vLLM).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util

from metamdp.bench import SAMPLE_COUNTS, SEARCHES

OPTIONAL_SECTIONS = {
    "episodes": ("simulators.bench", "run_episode_bench"),
    "compile": ("simulators.bench", "run_compile_bench"),
    "zero_overhead": ("llm_backend.bench", "run_zero_overhead_bench"),
    "score": ("llm_backend.bench", "run_score_bench"),
    "engines": ("llm_backend.engines_bench", "run_engines_bench"),
    "engines_sampled": ("llm_backend.engines_bench", "run_engines_sampled_bench"),
}
ON_REQUEST = ("engines", "engines_sampled")    # minutes long: not in the default run


def register(sub) -> None:
    p = sub.add_parser("bench", help="benchmarks: planner, episode runner, zero overhead",
                       description="Time the planner (plan(), the trusted path, the kernel "
                                   "alone and the NumPy reference, same run), the "
                                   "episode runner and ZIP-RC decoding vs plain decoding. "
                                   "Reports medians and ratios measured in one run.")
    p.add_argument("--sections", nargs="+", default=None,
                   choices=["planner", *OPTIONAL_SECTIONS],
                   help="which sections to run (default: all that are installed but "
                        + ", ".join(ON_REQUEST) + ", which run when named)")
    p.add_argument("--repeats", type=int, default=200, help="planner decisions per point (default 200)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random planner states (default 0)")
    p.add_argument("--json", metavar="OUT", help="write the measurements as JSON")
    p.set_defaults(func=run)


def planner_bench(repeats: int = 200, seed: int = 0, counts=SAMPLE_COUNTS) -> dict:
    """Median time of one decision: plan(), trusted path, kernel, NumPy reference (see
    :func:`metamdp.bench.planner_timing`)."""
    from metamdp.bench import planner_timing

    return planner_timing(repeats, seed, counts, SEARCHES)


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
    return str(v)


def _print_section(res: dict, indent: str = "  ") -> None:
    """Readable form of a section's JSON: scalars inline, dicts as key=value, lists as rows."""
    for k, v in res.items():
        if isinstance(v, dict) and all(not isinstance(x, (dict, list)) for x in v.values()):
            print(f"{indent}{k}: " + ", ".join(f"{a}={_fmt(b)}" for a, b in v.items()))
        elif isinstance(v, dict):
            print(f"{indent}{k}:")
            _print_section(v, indent + "  ")
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            print(f"{indent}{k}:")
            for row in v:
                print(f"{indent}  " + ", ".join(f"{a}={_fmt(b)}" for a, b in row.items()))
        else:
            print(f"{indent}{k}: {_fmt(v)}")


def run(args: argparse.Namespace) -> int:
    from simulators.io import provenance, write_json_atomic

    sections = args.sections or ["planner", *(s for s in OPTIONAL_SECTIONS if s not in ON_REQUEST)]
    out: dict = {}
    if "planner" in sections:
        print("planner: one decision on the 7 x 8 layout (median of "
              f"{args.repeats}; plan(), trusted path, kernel and NumPy reference alternated "
              "in the same loop)")
        res = planner_bench(args.repeats, args.seed)
        out.update(res)
        print(f"  {'search':<11} {'samples':>7} {'plan us':>8} {'trusted':>8} {'kernel':>8} "
              f"{'plan/k':>7} {'trust/k':>7} {'numpy us':>9} {'speedup':>8}")
        for s in SEARCHES:
            for n in res["decision_us"][s]:
                print(f"  {s:<11} {n:>7} {res['decision_us'][s][n]:>8.1f} "
                      f"{res['trusted_us'][s][n]:>8.1f} {res['kernel_us'][s][n]:>8.1f} "
                      f"{res['decision_over_kernel'][s][n]:>6.2f}x "
                      f"{res['trusted_over_kernel'][s][n]:>6.2f}x "
                      f"{res['reference_us'][s][n]:>9.1f} {res['numba_speedup'][s][n]:>7.1f}x")
    for name, (module, func) in OPTIONAL_SECTIONS.items():
        if name not in sections:
            continue
        try:
            available = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            available = False
        if not available:
            if args.sections:
                raise ValueError(f"section {name!r} needs {module}, which is not installed")
            continue
        try:
            fn = getattr(importlib.import_module(module), func)
        except ImportError as e:  # e.g. the [llm] extra is missing
            if args.sections:
                raise ValueError(f"section {name!r} is unavailable: {e}") from None
            print(f"{name}: skipped ({e})")
            continue
        print(f"{name}:")
        res = fn()
        out.update(res)
        fmt = getattr(importlib.import_module(module), f"format_{name}", None)
        if fmt is not None:
            print(fmt(res))
        else:
            _print_section(res[name] if set(res) == {name} else res)
    if args.json:
        write_json_atomic(args.json, {"provenance": provenance("ziprc bench", args.seed,
                                                               {"repeats": args.repeats,
                                                                "sections": sections}), **out})
        print(f"wrote {args.json}")
    return 0
