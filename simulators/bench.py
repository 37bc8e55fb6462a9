"""Throughput of the episode runner and cold compile times (what ``ziprc bench`` reports for
the simulators).

Episodes: one core (Numba limited to one thread), 8 samples per question, the mixed suite
with exact predictions. Episodes per second for ZIP-RC (two-prefix and exhaustive search,
beta = 0.01, alpha = 0.1) and majority voting (N = 8), the median of ``repeats`` timed runs
after a warm-up (compilation excluded); then how time and memory grow with the number of
questions.

Compile: the study's kernel warm-up from an empty Numba cache, in child processes whose
``NUMBA_CACHE_DIR`` is a fresh temporary folder (the user's cache is never touched): once
in one process with each compilation's seconds attributed to its family, once as a first
``ziprc study`` runs it (several processes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path

import numpy as np

from .policies import POLICY_NAMES, make
from .runner import run_policy
from .synthetic import build_world


def _time_policy(world, policy, episodes_per_question, repeats, seed=0):
    run_policy(world.subset(np.arange(min(8, world.n_questions))), policy, seed=seed)  # warm-up
    times = []
    for r in range(repeats):
        t0 = time.perf_counter()
        run_policy(world, policy, seed=seed + r, episodes_per_question=episodes_per_question)
        times.append(time.perf_counter() - t0)
    n = world.n_questions * episodes_per_question
    return n / float(np.median(times)), float(np.median(times))


def run_episode_bench(questions: int = 1889, mv_episodes: int = 40, repeats: int = 3,
                      scaling_sizes=(236, 472, 944, 1889), seed: int = 0) -> dict:
    """Episodes per second on one core, and time/memory versus number of questions.

    Parameters
    ----------
    questions : int
        Questions of the mixed suite for the throughput runs (default: all 1889).
    mv_episodes : int
        Episodes per question for majority voting (it is too fast to time on one pass).
    repeats : int
        Timed runs per measurement; the median is reported.
    scaling_sizes : sequence of int
        Question counts for the scaling measurement (ZIP-RC two-prefix).

    Returns
    -------
    dict
        ``{"episodes_per_s": {"ziprc_two_prefix", "ziprc_exhaustive", "mv"}, "scaling": [...],
        "params": {...}}``; a scaling entry has ``questions``, ``seconds``,
        ``episodes_per_s`` and ``peak_bytes`` (peak Python/NumPy allocation traced by :mod:`tracemalloc` during a
        second, untimed run; the kernels' scratch arrays are per episode and not traced).
    """
    import numba

    old = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        world = build_world("mixed", n_questions=questions)
        two = make("ziprc", beta=0.01, alpha=0.1, search="two-prefix", cap=8)
        exh = make("ziprc", beta=0.01, alpha=0.1, search="exhaustive", cap=8)
        mv = make("mv", n=8, cap=8)
        eps = {"ziprc_two_prefix": _time_policy(world, two, 1, repeats, seed)[0],
               "ziprc_exhaustive": _time_policy(world, exh, 1, repeats, seed)[0],
               "mv": _time_policy(world, mv, mv_episodes, repeats, seed)[0]}
        scaling = []
        for n in scaling_sizes:
            w = build_world("mixed", n_questions=int(n))
            t0 = time.perf_counter()
            run_policy(w, two, seed=seed)
            dt = time.perf_counter() - t0
            # memory in a separate run: tracing allocations slows the timed one down
            tracemalloc.start()
            run_policy(w, two, seed=seed)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            scaling.append({"questions": int(n), "seconds": dt, "episodes_per_s": n / dt,
                            "peak_bytes": int(peak)})
    finally:
        numba.set_num_threads(old)
    return {"episodes_per_s": eps, "scaling": scaling,
            "params": {"suite": "mixed", "questions": questions, "samples": 8, "threads": 1,
                       "beta": 0.01, "alpha": 0.1, "mv_episodes_per_question": mv_episodes,
                       "repeats": repeats, "statistic": "median"}}


# --------------------------------------------------------------------------- compile times

_EPISODE_FILES = ("ziprc", "parallel", "pruning", "sequential")
#: families of jitted code, in the order they are reported
COMPILE_FAMILIES = ("planner", "samples", *(f"episodes_{f}" for f in _EPISODE_FILES), "batch_loop",
                    "numba_library", "other")


def compile_family(func) -> str:
    """The family of a jitted Python function: the planner (with the policies' calls into
    it), the sample mechanics and the arithmetic shared by the kernels, an episode-kernel
    file, the batch loop, Numba's own implementations (sorts, array constructors)."""
    mod, name = func.__module__, func.__name__
    if mod in ("metamdp.planner", "metamdp.order_stats") or name.startswith("ziprc_plan"):
        return "planner"
    if mod in ("simulators.synthetic", "simulators.kernels.samples", "simulators.kernels.common",
               "metamdp.policies.kernels"):
        return "samples"
    if mod.startswith("simulators.kernels.") and mod.rsplit(".", 1)[1] in _EPISODE_FILES:
        return "episodes_" + mod.rsplit(".", 1)[1]
    if mod == "simulators.kernels":
        return "batch_loop"
    return "numba_library" if mod.startswith("numba.") else "other"


def compile_profile(policies) -> dict:
    """Warm up ``policies`` in this process and time every compilation (run it with an empty
    cache). A compilation's own seconds exclude those of the functions it compiles on the
    way; they include re-optimising the code it links from them."""
    from numba.core import event

    from .study import warm_up_kernels

    stack = []
    own, count = Counter(), Counter()

    class Listener(event.Listener):
        def on_start(self, ev):
            stack.append([compile_family(ev.data["dispatcher"].py_func), time.perf_counter(), 0.0])

        def on_end(self, ev):
            fam, t0, inner = stack.pop()
            dt = time.perf_counter() - t0
            own[fam] += dt - inner
            count[fam] += 1
            if stack:
                stack[-1][2] += dt

    listener = Listener()
    event.register("numba:compile", listener)
    try:
        total = warm_up_kernels(announce=False, names=policies, processes=1)
    finally:
        event.unregister("numba:compile", listener)
    return {"families_s": {f: round(own[f], 2) for f in COMPILE_FAMILIES if count[f]},
            "compilations": {f: count[f] for f in COMPILE_FAMILIES if count[f]},
            "total_s": round(total, 2)}


def _warm_up_processes(policies) -> dict:
    import numba

    from .study import warm_up_kernels

    return {"warm_up_s": round(warm_up_kernels(announce=False, names=policies), 2),
            "warm_up_processes": numba.get_num_threads()}


def _in_fresh_cache(func: str, policies) -> dict:
    """``func(policies)`` of this module in a child process with an empty Numba cache."""
    root = str(Path(__file__).resolve().parent.parent)
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); import simulators.bench as b; "
            f"print(json.dumps(b.{func}(sys.argv[2].split(','))))")
    with tempfile.TemporaryDirectory(prefix="ziprc-numba-cache-") as cache:
        res = subprocess.run([sys.executable, "-c", code, root, ",".join(policies)],
                             env={**os.environ, "NUMBA_CACHE_DIR": cache},
                             capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"compile benchmark failed:\n{res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def run_compile_bench(policies=POLICY_NAMES) -> dict:
    """Cold compile seconds of the kernels ``policies`` use (default: every built-in, what a
    first ``ziprc study`` compiles), each run from an empty temporary cache.

    Returns
    -------
    dict
        ``{"compile": {"families_s", "compilations", "total_s", "warm_up_s",
        "warm_up_processes", "params"}}``: per family (:data:`COMPILE_FAMILIES`) the seconds
        of its own compilations and how many there were, and ``total_s`` the warm-up's wall
        time, all in one process; ``warm_up_s`` the warm-up's wall time as a first run does
        it, in ``warm_up_processes`` processes.
    """
    policies = list(policies)
    res = _in_fresh_cache("compile_profile", policies)
    res.update(_in_fresh_cache("_warm_up_processes", policies))
    res["params"] = {"policies": policies, "cache": "fresh temporary NUMBA_CACHE_DIR"}
    return {"compile": res}


def main(argv=None) -> int:
    """``python -m simulators.bench``: the episode-runner benchmark as JSON on stdout."""
    import argparse
    import json

    p = argparse.ArgumentParser(
        prog="python -m simulators.bench",
        description="Episode-runner throughput on one core (mixed suite, 8 samples): episodes/s "
                    "of ZIP-RC and majority voting, and time/memory versus questions; prints "
                    "JSON. `ziprc bench --sections episodes` reports the same.")
    p.add_argument("--questions", type=int, default=1889, help="questions of the mixed suite (default 1889)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per point; the median is kept (default 3)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = p.parse_args(argv)
    if args.questions < 1 or args.repeats < 1:
        p.error("--questions and --repeats must be >= 1")
    print(json.dumps(run_episode_bench(questions=args.questions, repeats=args.repeats,
                                       seed=args.seed), indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
