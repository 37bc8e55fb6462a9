"""Policy studies: each policy over its knob on one world, with the same episodes for every
policy (common random numbers), the beta grid refined around the matched cost, and the
kernels warmed up (compiled or loaded from Numba's cache) before the progress bar starts.

The rows, intervals and the matched-cost table are made by :mod:`simulators.report`;
sweeps of studies are in :mod:`simulators.sweeps`.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

import numba
import numpy as np

from .policies import POLICY_NAMES, make, pack, parse_policies, sweep
from .report import summarize_cells
from .results import MATCH_COST, N_BOOT, Cell, per_episode_costs
from .kernels.samples import (M_ANSWERED, M_BEST_STATE, M_LBAR, M_PLAN_UTILITY, M_PLAN_VALUE,
                              M_PLANNED, M_PRUNED, M_STARTED)
from .runner import run_policy
from .synthetic import Corruption, World, build_world

KERNEL_LOCK = threading.Lock()  # Numba's default threading layer is not re-entrant


class StudyError(ValueError):
    """Bad study parameters."""


def run_cell(world: World, policy, seed: int, episodes: int,
             corruption: Corruption | None = None, variant: str = "") -> Cell:
    """Run one (policy, knob) on every question; average the episodes of each question."""
    with KERNEL_LOCK:  # a user's policy runs on the Python driver, which calls kernels too
        m = run_policy(world, policy, seed=seed, episodes_per_question=episodes,
                       corruption=corruption)
    correct, compute, latency, _ = per_episode_costs(m, 0.0)
    lbar = m[:, M_LBAR]
    Q = world.n_questions

    def per_q(x):
        return x.reshape(Q, episodes).mean(axis=1)

    plan = {}
    if m[:, M_PLANNED].any():   # a ZIP-RC-family policy: utility vs accuracy (NaN: not planned)
        planned = m[:, M_PLANNED] > 0
        plan = {"plan_utility": per_q(np.where(planned, m[:, M_PLAN_UTILITY], np.nan)),
                "plan_value": per_q(np.where(planned, m[:, M_PLAN_VALUE], np.nan)),
                "best_value": per_q(world.values[m[:, M_BEST_STATE].astype(np.int64)])}
    return Cell(policy=policy, variant=variant, correct=per_q(correct), compute=per_q(compute),
                latency=per_q(latency), samples=per_q(m[:, M_STARTED]),
                pruned=per_q(m[:, M_PRUNED] / lbar), answered=per_q(m[:, M_ANSWERED]), **plan)


def _cached_records():
    """The parameter-record classes whose batch loop Numba's on-disk cache holds for the
    current source (None if that cannot be told: Numba's cache layout is not public API)."""
    from .kernels import run_batch

    try:
        return {key[0][0].instance_class for key in run_batch._cache._cache_file._load_index()}
    except Exception:  # pragma: no cover - depends on Numba internals
        return None


def _kernel_cached():
    """True if Numba's on-disk cache holds an episode kernel for the current source, False if
    it must compile, None if that cannot be told."""
    records = _cached_records()
    return None if records is None else bool(records)


# relative compile time of a record type's kernel: ZIP-RC's links the planner, and takes
# about as long as the seven others together (`ziprc bench --sections compile`)
COMPILE_WEIGHT = {"ZipRCParams": 7}


def _split(groups: list, parts: int) -> list:
    """``groups`` (lists of policy names, one per record type) in ``parts`` bins of about
    equal compile time (largest first, each to the lightest bin)."""
    bins = [[] for _ in range(max(1, min(parts, len(groups))))]
    load = [0] * len(bins)
    for rec, names in sorted(groups, key=lambda g: -COMPILE_WEIGHT.get(g[0].__name__, 1)):
        i = load.index(min(load))
        bins[i] += names
        load[i] += COMPILE_WEIGHT.get(rec.__name__, 1)
    return bins


def _compile_in_children(bins: list) -> list:
    """Start one process per bin that compiles its policies' kernels into the on-disk cache
    (Numba's cache is safe to fill from several processes); returns the processes."""
    root = str(Path(__file__).resolve().parent.parent)
    code = ("import sys; sys.path.insert(0, sys.argv[1]); "
            "from simulators.study import warm_up_kernels; "
            "warm_up_kernels(False, sys.argv[2].split(','), processes=1)")
    return [subprocess.Popen([sys.executable, "-c", code, root, ",".join(names)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for names in bins]


def warm_up_kernels(announce: bool = True, names=POLICY_NAMES, processes: int | None = None) -> float:
    """Compile the kernels of the built-in policies ``names`` (or load them from the cache)
    before a study's progress bar starts, and say so when it compiles: a cold first run
    otherwise sits silently at 0% with an absurd time estimate. Returns the seconds it took.

    One tiny run per policy compiles its kernel; the others are not compiled (a run that uses
    a few policies does not wait for all fifteen). Kernels not in the cache are compiled in
    ``processes`` processes at once (default: Numba's thread count, i.e. the cores or the
    study's ``--workers``), each filling the on-disk cache with its share; this process then
    loads theirs.
    """
    cached = _kernel_cached()
    msg = ("compiling kernels (first run only: about 40 s on 2 cores, longer on a "
           "busy machine; cached afterwards) ...")
    timer = None
    if announce and cached is False:
        print(msg, file=sys.stderr, flush=True)
    elif announce and cached is None:  # cannot tell: say it if the warm-up is slow
        timer = threading.Timer(2.0, lambda: print(msg, file=sys.stderr, flush=True))
        timer.start()
    t0 = time.perf_counter()
    try:
        world = build_world("mixed", n_questions=4)
        names = list(dict.fromkeys(names))
        groups: dict = {}   # record type -> its policies (one kernel compile per record type)
        for name in names:
            groups.setdefault(type(pack(make(name), world.delta)[1]), []).append(name)
        have = _cached_records() or set()
        todo = [(rec, g) for rec, g in groups.items() if rec not in have]
        processes = numba.get_num_threads() if processes is None else int(processes)
        bins = _split(todo, processes) if todo else [[]]
        children = _compile_in_children(bins[1:])
        try:
            with KERNEL_LOCK:
                for name in bins[0]:
                    run_policy(world, make(name), seed=0, questions=[0])
        finally:
            for child in children:
                child.wait()
        with KERNEL_LOCK:  # loads what the children compiled (compiles what one failed to)
            for name in names:
                run_policy(world, make(name), seed=0, questions=[0])
    finally:
        if timer is not None:
            timer.cancel()
    dt = time.perf_counter() - t0
    if announce and cached is False:
        print(f"compiled in {dt:.0f} s", file=sys.stderr, flush=True)
    return dt


def user_policy_grid(policies) -> list:
    """A user's policies as study cells: each over its ``knobs`` when it declares a
    ``knob_name`` (built with :meth:`metamdp.policies.Policy.with_knob`), else once."""
    out = []
    for pol in policies or ():
        if getattr(pol, "knob_name", None) and getattr(pol, "knobs", ()):
            out += [pol.with_knob(v) for v in pol.knobs]
        else:
            out.append(pol)
    return out


def policy_grid(names, alpha: float = 0.1, cap: int = 8, ziprc_params: dict | None = None) -> list:
    """(policy, variant) pairs of a study: every knob value of every named policy."""
    out = []
    for name in names:
        if name == "ziprc":
            out += [(p, "") for p in sweep("ziprc", alpha=alpha, cap=cap, **(ziprc_params or {}))]
        elif name == "deepconf":
            out += [(p, "trace") for p in sweep("deepconf", alpha=alpha, cap=cap, signal="trace")]
            out += [(p, "ziprc") for p in sweep("deepconf", alpha=alpha, cap=cap, signal="ziprc")]
        else:
            out += [(p, "") for p in sweep(name, alpha=alpha, cap=cap)]
    return out


MIN_EPISODES_PER_CELL = 1000  # default: every cell rests on at least this many episodes


def auto_episodes(n_questions: int, target: int = MIN_EPISODES_PER_CELL) -> int:
    """Episodes per question so that one cell has at least ``target`` episodes.

    Small suites need many episodes per question: with one episode, AIME24's 30 questions
    give majority voting a standard error of about 9 points.
    """
    return max(1, -(-int(target) // max(1, int(n_questions))))


REFINE_POLICIES = ("ziprc", "pandora", "ziprc_recourse")  # continuous knob (beta): the grid adapts
REFINE_COST_TOL = 0.06   # a bracket narrower than this in cost ...
REFINE_ACC_TOL = 0.01    # ... or than one point of accuracy is resolved
REFINE_MAX_CELLS = 8
REFINE_SATURATED = 0.02  # cost change below which extending the beta grid stops


def refine_beta(world: World, cells: list, name: str, variant: str, targets, alpha: float,
                seed: int, episodes: int, corruption, run=None) -> list:
    """Add beta values to ``name``'s grid until its frontier is resolved around each target cost.

    Generation cost falls as beta grows. For each target, the two adjacent betas whose costs
    straddle it are bisected (geometric mean) until their costs differ by less than
    :data:`REFINE_COST_TOL` or their accuracies by less than :data:`REFINE_ACC_TOL` (or the
    betas by less than 15%: a cliff the grid cannot resolve); when every cost lies on one
    side, the grid extends (beta x 3 or / 3). At most :data:`REFINE_MAX_CELLS` new cells.

    Returns the new cells (also appended to ``cells``).
    """
    run = run or (lambda pol: run_cell(world, pol, seed, episodes, corruption, variant))
    new = []
    for _ in range(REFINE_MAX_CELLS):
        mine = sorted((c for c in cells if c.policy.name == name and c.variant == variant),
                      key=lambda c: c.policy.knob)
        if not mine:
            return new
        pts = [(float(c.policy.knob), float(c.gen_cost(alpha).mean()), float(c.correct.mean()))
               for c in mine]
        proposal = None
        for target in targets:
            # extend the grid only while the cost still responds to beta (ZIP-RC's cost
            # saturates: below some beta it never spends more)
            if all(cst > target for _, cst, _ in pts):
                flat = len(pts) > 1 and abs(pts[-1][1] - pts[-2][1]) < REFINE_SATURATED
                if pts[-1][0] < 10.0 and not flat:
                    proposal = max(pts[-1][0] * 3.0, 1e-4)
            elif all(cst < target for _, cst, _ in pts):
                flat = len(pts) > 1 and abs(pts[0][1] - pts[1][1]) < REFINE_SATURATED
                if pts[0][0] > 1e-5 and not flat:
                    proposal = pts[0][0] / 3.0
            else:
                for (b0, c0, a0), (b1, c1, a1) in zip(pts, pts[1:]):
                    if (c0 - target) * (c1 - target) <= 0:
                        resolved = (abs(c0 - c1) < REFINE_COST_TOL or abs(a0 - a1) < REFINE_ACC_TOL
                                    or b1 < 1.15 * b0 or b0 <= 0)
                        if not resolved:
                            proposal = float(np.sqrt(b0 * b1))
                        break
            if proposal is not None:
                break
        if proposal is None:
            return new
        proposal = float(f"{proposal:.4g}")
        if any(abs(proposal - b) <= 1e-12 for b, _, _ in pts):
            return new
        cell = run(mine[0].policy.with_knob(proposal))
        cells.append(cell)
        new.append(cell)
    return new


def run_study(suite: str = "mixed", alpha: float = 0.1, policies=None, questions: int | None = None,
              seed: int = 0, episodes: int | None = None, corruption: Corruption | None = None,
              reward_states: int = 7, progress: bool = True, n_boot: int = N_BOOT,
              ziprc_params: dict | None = None, world_overrides: dict | None = None,
              user_policies=(), world: World | None = None, refine: bool = True,
              match_cost: float | None = None, refine_targets=None,
              frontier_base: str | None = None, frontier_costs=None,
              world_preset: str | None = None) -> dict:
    """Run every policy over its knob and build the rows, the matched-cost table and provenance.

    ``user_policies``: :class:`metamdp.policies.Policy` objects run beside the built-in ones
    on the Python episode driver (same episodes; see :func:`user_policy_grid`).
    ``episodes`` per question defaults to :func:`auto_episodes` (at least
    :data:`MIN_EPISODES_PER_CELL` episodes per cell). With ``refine`` (default), ZIP-RC's and
    Pandora's beta grids adapt until their frontiers are resolved around ``match_cost``
    (:func:`refine_beta`), or around each of ``refine_targets``. ``frontier_base`` and
    ``frontier_costs``: also compare that policy's frontier with every other's
    (:func:`simulators.report.frontier_comparison`). ``world`` replaces the suite built from ``suite``/``questions``/
    ``world_overrides`` (e.g. a fitted world).

    Returns
    -------
    dict
        ``{"rows": [...], "matched": [...], "reference": {...}, "provenance": {...}}``; a
        row has ``policy``, ``variant``, ``knob_name``, ``knob``, ``accuracy``,
        ``accuracy_ci``, ``gen_cost``, ``gen_cost_ci``, ``compute``, ``latency``,
        ``samples``, ``pruned``, ``answered``, ``params`` (``docs/api.md``, "Result rows");
        a matched entry also has ``frontier`` (the policy interpolated along its frontier at
        the matched cost).
    """
    if not 0.0 <= alpha <= 1.0:
        raise StudyError(f"alpha must be in [0, 1], got {alpha!r}")
    if episodes is not None and int(episodes) < 1:
        raise StudyError(f"episodes must be >= 1, got {episodes!r}")
    names = parse_policies(policies)
    if "mv" not in names:
        names = ["mv"] + names  # the matched-cost reference
    if world is None:
        world = build_world(suite, reward_states=reward_states, n_questions=questions,
                            preset=world_preset, **(world_overrides or {}))
    auto = episodes is None
    episodes = auto_episodes(world.n_questions) if auto else int(episodes)
    corruption = corruption or Corruption()
    match_cost = MATCH_COST if match_cost is None else float(match_cost)
    targets = tuple(refine_targets) if refine_targets else (match_cost,)
    try:
        grid = policy_grid(names, alpha=alpha, ziprc_params=ziprc_params)
        grid += [(p, "") for p in user_policy_grid(user_policies)]
    except ValueError as e:
        raise StudyError(str(e)) from None
    # after validating the parameters: a typo should not wait for Numba
    warm_up_kernels(names=[p.name for p, _ in grid if p.name in POLICY_NAMES])
    cells = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(grid), desc=f"study {suite} alpha={alpha}", unit="cell", leave=False)
    for policy, variant in grid:
        if bar is not None:
            bar.set_postfix_str(policy.label())
        cells.append(run_cell(world, policy, seed, episodes, corruption, variant))
        if bar is not None:
            bar.update(1)
    refined = 0
    if refine:
        for name in REFINE_POLICIES:
            if name in names:
                refined += len(refine_beta(world, cells, name, "", targets, alpha, seed, episodes,
                                           corruption))
    if bar is not None:
        bar.close()
    return summarize_cells(cells, alpha, world.source, world.source_names, seed=seed,
                           n_boot=n_boot, match_cost=match_cost, frontier_base=frontier_base,
                           frontier_costs=frontier_costs,
                           params={"suite": suite, "alpha": alpha,
                                   "policies": names + [p.name for p in user_policies],
                                   "user_policies": [p.describe() for p in user_policies],
                                   "questions": world.n_questions, "episodes": episodes,
                                   "episodes_auto": auto, "episodes_target": MIN_EPISODES_PER_CELL,
                                   "episodes_per_cell": episodes * world.n_questions,
                                   "refined_cells": refined, "match_cost": match_cost,
                                   "refine_targets": list(targets),
                                   "frontier_base": frontier_base,
                                   "frontier_costs": (None if frontier_costs is None
                                                      else [float(x) for x in frontier_costs]),
                                   "reward_states": reward_states,
                                   "corruption": asdict(corruption),
                                   "ziprc_params": ziprc_params or {},
                                   "world_overrides": world_overrides or {},
                                   "world_preset": world_preset,
                                   "world": world.params()})

