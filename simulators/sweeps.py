"""Sweeps of studies: corruption presets, resumable sweeps over suites, alphas, corruptions
and seeds (local processes or Dask), their one-line summaries, and the calibration of the
synthetic suites against the paper's majority-vote row.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from metamdp import __version__

from .io import write_json_atomic
from .paper_numbers import TABLE2
from .policies import describe, make, parse_policies
from .results import MATCH_COST, accuracy_at_cost, per_episode_costs
from .kernels.samples import M_CORRECT
from .runner import run_policy, set_threads
from .study import KERNEL_LOCK, StudyError, run_study, warm_up_kernels
from .synthetic import SUITES, Corruption, WorldError, build_world

CORRUPTION_PRESETS = {
    "exact": Corruption(),
    "temperature2": Corruption(temperature=2.0),
    "temperature0.5": Corruption(temperature=0.5),
    "noise1": Corruption(noise=1.0),
    "optimism1": Corruption(optimism=1.0),
    "optimism3": Corruption(optimism=3.0),
    "lag8": Corruption(lag_ticks=8),
    "window8": Corruption(window_ticks=8),
    "coarse2": Corruption(coarse_factor=2),
    "coarse4": Corruption(coarse_factor=4),
    "correlated0.5": Corruption(correlation=0.5),
    "valuenoise0.5": Corruption(value_noise=0.5),
}


def parse_corruption(text: str) -> Corruption:
    """A preset name (see :data:`CORRUPTION_PRESETS`) or ``key=value,key=value``."""
    if text in CORRUPTION_PRESETS:
        return CORRUPTION_PRESETS[text]
    kw = {}
    for part in text.split(","):
        if "=" not in part:
            raise StudyError(f"corruption {text!r}: use a preset ({', '.join(CORRUPTION_PRESETS)}) "
                             "or key=value pairs such as temperature=2,lag_ticks=8")
        k, v = part.split("=", 1)
        k = k.strip()
        if k not in Corruption.__dataclass_fields__:
            raise StudyError(f"unknown corruption knob {k!r}; knobs: {', '.join(Corruption.__dataclass_fields__)}")
        kw[k] = (float(v) if k in ("temperature", "noise", "optimism", "correlation", "value_noise")
                 else int(v))
    try:
        return Corruption(**kw)
    except WorldError as e:
        raise StudyError(str(e)) from None


@dataclass(frozen=True)
class SweepTask:
    """One study of a sweep; its result file name is a hash of its parameters."""

    suite: str
    alpha: float
    corruption: str
    seed: int
    policies: tuple
    questions: int | None
    episodes: int | None
    ziprc_params: tuple = ()
    world_overrides: tuple = ()   # (SuiteSpec field, value) pairs for every benchmark

    def key(self) -> str:
        # the knob grids and the package version are part of the identity of a result file,
        # so a resumed sweep never mixes results of different code
        blob = json.dumps([asdict(self), describe(), __version__], sort_keys=True, default=str)
        digest = hashlib.sha256(blob.encode()).hexdigest()[:12]
        return f"{self.suite}-a{self.alpha:g}-{self.corruption}-s{self.seed}-{digest}"


def run_task(task: SweepTask) -> dict:
    """Execute one sweep task (top-level so processes and Dask workers can import it)."""
    res = run_study(task.suite, task.alpha, list(task.policies), task.questions, task.seed,
                    task.episodes, parse_corruption(task.corruption), progress=False,
                    ziprc_params=dict(task.ziprc_params),
                    world_overrides=dict(task.world_overrides))
    res["task"] = asdict(task)
    return res


def _run_and_write(task: SweepTask, out_dir: str) -> str:
    path = Path(out_dir) / f"{task.key()}.json"
    if path.exists():
        return str(path)
    write_json_atomic(path, run_task(task))
    return str(path)


def _one_thread():
    """Process-pool initializer: one Numba thread per process (the pool is the parallelism),
    and Ctrl-C left to the parent, which stops the workers (no traceback from each)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    set_threads(1)


def _remove_partial(out_dir: Path, tasks) -> None:
    """Delete the temporary files of tasks stopped mid-write (finished files stay)."""
    for t in tasks:
        for tmp in out_dir.glob(f".{t.key()}.json.*.tmp"):
            tmp.unlink(missing_ok=True)


def _run_local_pool(todo: list, out_dir: Path, workers: int, bar) -> None:
    """``todo`` on ``workers`` spawned processes. On Ctrl-C: cancel what is queued, terminate
    the running workers (their tasks restart on resume) and re-raise within a second or so."""
    import multiprocessing
    import signal
    from concurrent.futures import ProcessPoolExecutor, as_completed

    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_one_thread)
    # workers are spawned during submit(): they inherit an ignored SIGINT from this window, so
    # a Ctrl-C while they import cannot print their tracebacks either
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        futures = [pool.submit(_run_and_write, t, str(out_dir)) for t in todo]
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        for f in as_completed(futures):
            f.result()
            if bar is not None:
                bar.update(1)
    except KeyboardInterrupt:
        procs = list((pool._processes or {}).values())  # private, but the only handle on them
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.join(timeout=5)
        _remove_partial(out_dir, todo)
        raise
    pool.shutdown(wait=True)


def run_sweep(tasks: list, out_dir, scheduler: str | None = None, workers: int = 2,
              progress: bool = True) -> list:
    """Run every task, writing one JSON per task atomically; skip tasks already written.

    Local processes by default (``workers`` of them); with ``scheduler`` (an address such as
    ``tcp://host:8786``, or a ``dask.distributed.Client``/``LocalCluster``), on Dask.
    An interrupted sweep resumes: finished tasks' files exist and are not recomputed. Ctrl-C
    cancels the queued tasks and stops local workers (Dask tasks already running on a cluster
    finish there; their files are kept) and raises ``KeyboardInterrupt``.

    Returns
    -------
    list of str
        Result file paths, in task order.
    """
    if int(workers) < 1:
        raise StudyError(f"workers must be >= 1, got {workers!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    todo = [t for t in tasks if not (out_dir / f"{t.key()}.json").exists()]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(tasks), initial=len(tasks) - len(todo), desc="sweep", unit="task")
    try:
        if todo and scheduler is not None:
            from dask.distributed import Client, as_completed

            client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
            futures = []
            try:
                futures = [client.submit(_run_and_write, t, str(out_dir), pure=False) for t in todo]
                for f in as_completed(futures):
                    f.result()
                    if bar is not None:
                        bar.update(1)
            except KeyboardInterrupt:
                client.cancel(futures)  # queued tasks never start
                raise
            finally:
                if not isinstance(scheduler, Client):
                    client.close()
        elif todo and (workers <= 1 or len(todo) == 1):
            for t in todo:
                _run_and_write(t, str(out_dir))
                if bar is not None:
                    bar.update(1)
        elif todo:
            # compile once here, not in every worker at the same time: they load the cache
            warm_up_kernels()
            _run_local_pool(todo, out_dir, int(workers), bar)
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
            bar = None
        done = sum((out_dir / f"{t.key()}.json").exists() for t in tasks)
        print(f"interrupted: {done} of {len(tasks)} task(s) done in {out_dir}; the same command "
              "resumes from there", file=sys.stderr, flush=True)
        raise
    finally:
        if bar is not None:
            bar.close()
    return [str(out_dir / f"{t.key()}.json") for t in tasks]


def sweep_tasks(suites, alphas, corruptions, seeds, policies, questions, episodes,
                ziprc_params: dict | None = None) -> list:
    """The cross product of a sweep, validated."""
    for s in suites:
        if s not in SUITES:
            raise StudyError(f"unknown suite {s!r}; choose from {', '.join(SUITES)}")
    for c in corruptions:
        parse_corruption(c)
    names = tuple(parse_policies(policies))
    zp = tuple(sorted((ziprc_params or {}).items()))
    eps = None if episodes is None else int(episodes)  # None: auto_episodes per suite
    return [SweepTask(s, float(a), c, int(seed), names, questions, eps, zp)
            for s in suites for a in alphas for c in corruptions for seed in seeds]


def frontier_at(rows: list, policy: str, cost: float, variant: str = ""):
    """Accuracy of ``policy`` along its frontier at ``cost`` (the matched-cost rule,
    :func:`simulators.results.frontier_point`); None if the policy never gets that cheap."""
    return accuracy_at_cost([r for r in rows if r["policy"] == policy and r["variant"] == variant],
                            cost)


def sweep_summary(paths) -> list:
    """One line per task: ZIP-RC vs MV at matched cost (for gain-vs-corruption tables), and
    ZIP-RC's frontier interpolated at MV's cost (less sensitive to the beta grid)."""
    out = []
    for p in paths:
        with open(p) as f:
            res = json.load(f)
        t = res["task"]
        z = next((m for m in res["matched"] if m["policy"] == "ziprc"), None)
        zf = frontier_at(res["rows"], "ziprc", res["reference"]["gen_cost"])
        out.append({"suite": t["suite"], "alpha": t["alpha"], "corruption": t["corruption"],
                    "seed": t["seed"], "mv_accuracy": res["reference"]["accuracy"],
                    "mv_gen_cost": res["reference"]["gen_cost"],
                    "ziprc_accuracy": z["accuracy"] if z else None,
                    "ziprc_gen_cost": z["gen_cost"] if z else None,
                    "ziprc_delta": z["delta_vs_mv"] if z else None,
                    "ziprc_delta_ci": z["delta_vs_mv_ci"] if z else None,
                    "ziprc_frontier_at_mv_cost": zf,
                    "ziprc_frontier_at_1.2": frontier_at(res["rows"], "ziprc", 1.2),
                    "mv_frontier_at_1.2": frontier_at(res["rows"], "mv", 1.2),
                    "file": os.path.basename(p)})
    return out



# --------------------------------------------------------------------------- calibration




def calibration_table(suites=SUITES, seed: int = 0, episodes_total: int = 20000,
                      alpha: float = 0.1, preset: str | None = None) -> list:
    """Per suite: pass@1, pass@8, mean length (tokens), and majority voting's accuracy at
    generation cost 1.4 (along its frontier over N = 1..8, the matched-cost rule of
    :func:`simulators.results.frontier_point`) against the paper's Table 2.

    Each question gets ``max(1, episodes_total // n_questions)`` episodes.
    """
    out = []
    for suite in suites:
        world = build_world(suite, preset=preset)
        eps = max(1, episodes_total // world.n_questions)
        costs, accs = [], []
        with KERNEL_LOCK:
            for n in range(1, 9):
                m = run_policy(world, make("mv", n=n), seed=seed,
                               episodes_per_question=eps)
                correct, _, _, g = per_episode_costs(m, alpha)
                costs.append(float(g.mean()))
                accs.append(float(correct.mean()))
            p8 = run_policy(world, make("pass_at_n", n=8), seed=seed,
                            episodes_per_question=eps)
        mv_at = accuracy_at_cost([{"gen_cost": c, "accuracy": a} for c, a in zip(costs, accs)],
                                 MATCH_COST)
        out.append({"suite": suite, "questions": world.n_questions, "episodes_per_question": eps,
                    "pass_at_1": accs[0], "pass_at_8": float(p8[:, M_CORRECT].mean()),
                    "mean_tokens": float(world.mean_ticks.mean() * world.delta),
                    "mv_at_1.4": mv_at, "paper_mv": TABLE2["mv"]["acc"][suite] / 100.0,
                    "mv_curve": [[c, a] for c, a in zip(costs, accs)]})
    return out

