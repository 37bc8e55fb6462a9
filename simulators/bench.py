"""Throughput of the episode runner (what ``ziprc bench`` reports for the simulators).

One core (Numba limited to one thread), 8 samples per question, the mixed suite with exact
predictions. Episodes per second for ZIP-RC (two-prefix and exhaustive search, beta = 0.01,
alpha = 0.1) and majority voting (N = 8), the median of ``repeats`` timed runs after a
warm-up (compilation excluded); then how time and memory grow with the number of questions.
"""

from __future__ import annotations

import time
import tracemalloc

import numpy as np

from .policies import make
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
