"""Policy studies: each policy over its knob, the matched-cost table and the frontier plot,
plus resumable sweeps over suites, alpha, corruptions and seeds (local processes or Dask).

Every accuracy and cost carries a stratified bootstrap confidence interval over questions
(strata = the benchmark a question comes from; rliable-style percentile intervals). All
policies run on the same samples (common random numbers), so differences between policies
are paired per question and their intervals are much tighter than the accuracies'.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .io import atomic_path, check_image_path, provenance, write_json_atomic
from metamdp.policies import Policy

from .policies import POLICY_NAMES, describe, make, parse_policies, sweep
from .runner import (M_ANSWERED, M_CORRECT, M_LBAR, M_PRUNED, M_STARTED, per_episode_costs,
                     run_policy)
from .synthetic import DEFAULT_PRESET, SUITES, Corruption, World, WorldError, build_world

MATCH_COST = 1.4  # the paper's Table 2 operating point (majority vote's generation cost)
MATCH_TOLERANCE = 0.05  # "equal or lower cost", with the paper's 1.43-vs-1.40 slack
N_BOOT = 1000
_KERNEL_LOCK = threading.Lock()  # Numba's default threading layer is not re-entrant


class StudyError(ValueError):
    """Bad study parameters."""


@dataclass
class Cell:
    """Per-question results of one policy at one knob value (episodes averaged)."""

    policy: Policy
    variant: str
    correct: np.ndarray
    compute: np.ndarray
    latency: np.ndarray
    samples: np.ndarray
    pruned: np.ndarray
    answered: np.ndarray

    def gen_cost(self, alpha: float) -> np.ndarray:
        return alpha * self.compute + (1 - alpha) * self.latency


def run_cell(world: World, policy: Policy, seed: int, episodes: int,
             corruption: Corruption | None = None, variant: str = "") -> Cell:
    """Run one (policy, knob) on every question; average the episodes of each question."""
    with _KERNEL_LOCK:  # a user's policy runs on the Python driver, which calls kernels too
        m = run_policy(world, policy, seed=seed, episodes_per_question=episodes,
                       corruption=corruption)
    correct, compute, latency, _ = per_episode_costs(m, 0.0)
    lbar = m[:, M_LBAR]
    Q = world.n_questions

    def per_q(x):
        return x.reshape(Q, episodes).mean(axis=1)

    return Cell(policy=policy, variant=variant, correct=per_q(correct), compute=per_q(compute),
                latency=per_q(latency), samples=per_q(m[:, M_STARTED]),
                pruned=per_q(m[:, M_PRUNED] / lbar), answered=per_q(m[:, M_ANSWERED]))


def _kernel_cached():
    """True if Numba's on-disk cache holds the episode kernel for the current source, False if
    it must compile, None if that cannot be told (Numba's cache layout is not public API)."""
    from .kernels import run_batch

    try:
        return bool(run_batch._cache._cache_file._load_index())
    except Exception:  # pragma: no cover - depends on Numba internals
        return None


def warm_up_kernels(announce: bool = True) -> float:
    """Compile the episode kernel (or load it from the cache) before a study's progress bar
    starts, and say so when it compiles: a cold first run otherwise sits silently at 0% with an
    absurd time estimate. Returns the seconds it took.

    One tiny run per built-in policy compiles every kernel a study needs.
    """
    cached = _kernel_cached()
    msg = ("compiling kernels (first run only: about 1.5 minutes on 2 idle cores, longer on a "
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
        with _KERNEL_LOCK:
            for name in POLICY_NAMES:
                run_policy(world, make(name), seed=0, questions=[0])
    finally:
        if timer is not None:
            timer.cancel()
    dt = time.perf_counter() - t0
    if announce and cached is False:
        print(f"compiled in {dt:.0f} s", file=sys.stderr, flush=True)
    return dt


def bootstrap_indices(strata: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """``(n_boot, Q)`` question indices resampled with replacement within each stratum."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), 7919])))
    out = np.empty((n_boot, strata.size), dtype=np.int64)
    pos = 0
    for s in np.unique(strata):
        members = np.flatnonzero(strata == s)
        out[:, pos:pos + members.size] = members[rng.integers(0, members.size,
                                                              size=(n_boot, members.size))]
        pos += members.size
    return out


def _weights(world: World) -> np.ndarray:
    return np.full(world.n_questions, 1.0 / world.n_questions)


def ci(x: np.ndarray, boot: np.ndarray) -> list | None:
    """95% percentile interval of the mean of ``x`` under the resampling ``boot``; None when
    every resample gives the same mean (e.g. every question correct): a zero-width interval
    would claim a certainty the data do not have."""
    means = x[boot].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    if hi - lo <= 1e-12 * max(1.0, abs(hi)):
        return None
    return [float(lo), float(hi)]


def pooled_strata(strata: np.ndarray, names) -> tuple:
    """Strata for the bootstrap: those of a single question are pooled with the smallest other
    stratum (collapsed strata). A stratum of one question is resampled as itself every time,
    so its uncertainty would vanish from the interval. Returns ``(strata, note or None)``."""
    strata = np.asarray(strata).copy()
    labels, counts = np.unique(strata, return_counts=True)
    single = labels[counts < 2]
    if single.size == 0:
        return strata, None
    if labels.size == 1:
        return strata, "one question only: no bootstrap interval"
    rest = labels[counts >= 2]
    target = (rest[np.argmin(counts[counts >= 2])] if rest.size else single[0])
    for lab in single:
        strata[strata == lab] = target
    named = ", ".join(str(names[int(x)]) for x in single)
    into = str(names[int(target)])
    return strata, (f"strata of one question ({named}) pooled with {into} for the bootstrap"
                    if rest.size else f"strata of one question ({named}) pooled for the bootstrap")


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


REFINE_POLICIES = ("ziprc", "pandora")  # continuous knob (beta): the grid adapts
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
              world_preset: str | None = None) -> dict:
    """Run every policy over its knob and build the rows, the matched-cost table and provenance.

    ``user_policies``: :class:`metamdp.policies.Policy` objects run beside the built-in ones
    on the Python episode driver (same episodes; see :func:`user_policy_grid`).
    ``episodes`` per question defaults to :func:`auto_episodes` (at least
    :data:`MIN_EPISODES_PER_CELL` episodes per cell). With ``refine`` (default), ZIP-RC's and
    Pandora's beta grids adapt until their frontiers are resolved around ``match_cost``
    (:func:`refine_beta`). ``world`` replaces the suite built from ``suite``/``questions``/
    ``world_overrides`` (e.g. a fitted world).

    Returns
    -------
    dict
        ``{"rows": [...], "matched": [...], "reference": {...}, "provenance": {...}}``; a
        row has ``policy``, ``variant``, ``knob_name``, ``knob``, ``accuracy``,
        ``accuracy_ci``, ``gen_cost``, ``gen_cost_ci``, ``compute``, ``latency``,
        ``samples``, ``pruned_tokens``, ``answered``; a matched entry also has ``frontier``
        (the policy interpolated along its frontier at the matched cost).
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
    warm_up_kernels()  # after validating the parameters: a typo should not wait for Numba
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
    return summarize_cells(world, cells, alpha, seed=seed, n_boot=n_boot, match_cost=match_cost,
                           params={"suite": suite, "alpha": alpha,
                                   "policies": names + [p.name for p in user_policies],
                                   "user_policies": [p.describe() for p in user_policies],
                                   "questions": world.n_questions, "episodes": episodes,
                                   "episodes_auto": auto,
                                   "episodes_per_cell": episodes * world.n_questions,
                                   "refined_cells": refined, "match_cost": match_cost,
                                   "reward_states": reward_states,
                                   "corruption": asdict(corruption),
                                   "ziprc_params": ziprc_params or {},
                                   "world_overrides": world_overrides or {},
                                   "world_preset": world_preset,
                                   "world": world.params()})


def summarize_cells(world: World, cells: list, alpha: float, seed: int = 0,
                    n_boot: int = N_BOOT, params: dict | None = None,
                    match_cost: float | None = None) -> dict:
    """Rows with bootstrap intervals, and the matched-cost table, from per-question cells."""
    strata, note = pooled_strata(world.source, world.source_names)
    boot = bootstrap_indices(strata, n_boot, seed)
    rows = []
    for c in cells:
        g = c.gen_cost(alpha)
        rows.append({"policy": c.policy.name, "variant": c.variant, "knob_name": c.policy.knob_name,
                     "knob": c.policy.knob, "accuracy": float(c.correct.mean()),
                     "accuracy_ci": ci(c.correct, boot), "gen_cost": float(g.mean()),
                     "gen_cost_ci": ci(g, boot), "compute": float(c.compute.mean()),
                     "latency": float(c.latency.mean()), "samples": float(c.samples.mean()),
                     "pruned_tokens": float(c.pruned.mean()), "answered": float(c.answered.mean()),
                     "params": c.policy.params})
    matched, reference = matched_table(cells, rows, alpha, boot, match_cost)
    per_source = {}
    for s, name in enumerate(world.source_names):
        sel = world.source == s
        per_source[name] = {"questions": int(sel.sum())}
    return {"rows": rows, "matched": matched, "reference": reference, "sources": per_source,
            "ci_note": note,
            "provenance": provenance("ziprc study", seed=seed, params=params or {})}


def frontier_point(members: list, cost: float):
    """Where a policy's accuracy-vs-cost frontier crosses ``cost``, as a mixture of two knobs.

    ``members`` are one policy's ``(cell, row)`` pairs. The frontier keeps the points that
    are more accurate than every cheaper point; between the two frontier points that bracket
    ``cost`` the answer is the randomised policy that plays the cheaper knob with probability
    ``w`` and the dearer one otherwise: its expected cost is exactly ``cost`` and its
    per-question correctness is ``w c_lo + (1 - w) c_hi``, so paired differences and bootstrap
    intervals stay exact. (Interpolating between grid points, rather than taking the best
    point under a budget, is what keeps a coarse knob grid from deciding the comparison.)

    Returns
    -------
    dict or None
        ``status`` ``interpolated`` (bracketed), ``frontier_end`` (every point is cheaper:
        the most accurate one is used) or None when no knob value is that cheap. Keys:
        ``correct`` (per question), ``gen_cost``, ``knob`` (interpolated, geometric for beta
        and token budgets), ``weight_lo``, ``bracket`` (the two knob values with their cost
        and accuracy), ``status``.
    """
    pts = sorted(members, key=lambda cr: (cr[1]["gen_cost"], -cr[1]["accuracy"]))
    if not pts or pts[0][1]["gen_cost"] > cost + 1e-12:
        return None
    front = []
    for c, r in pts:
        if not front or r["accuracy"] > front[-1][1]["accuracy"]:
            front.append((c, r))
    lo = max((cr for cr in front if cr[1]["gen_cost"] <= cost + 1e-12), key=lambda cr: cr[1]["gen_cost"])
    above = [cr for cr in front if cr[1]["gen_cost"] > cost + 1e-12]

    def desc(cr):
        return {"knob": cr[1]["knob"], "gen_cost": cr[1]["gen_cost"], "accuracy": cr[1]["accuracy"]}

    if not above:
        return {"correct": lo[0].correct.copy(), "gen_cost": lo[1]["gen_cost"], "knob": lo[1]["knob"],
                "weight_lo": 1.0, "bracket": [desc(lo)], "status": "frontier_end"}
    hi = min(above, key=lambda cr: cr[1]["gen_cost"])
    c_lo, c_hi = lo[1]["gen_cost"], hi[1]["gen_cost"]
    w = 1.0 if c_hi <= c_lo else (c_hi - cost) / (c_hi - c_lo)
    k_lo, k_hi = lo[1]["knob"], hi[1]["knob"]
    if lo[1]["knob_name"] in ("beta", "budget_tokens") and k_lo > 0 and k_hi > 0:
        knob = float(np.exp(w * np.log(k_lo) + (1 - w) * np.log(k_hi)))
    else:
        knob = float(w * k_lo + (1 - w) * k_hi)
    return {"correct": w * lo[0].correct + (1 - w) * hi[0].correct, "gen_cost": float(cost),
            "knob": knob, "weight_lo": float(w), "bracket": [desc(lo), desc(hi)],
            "status": "interpolated"}


def matched_table(cells: list, rows: list, alpha: float, boot: np.ndarray,
                  match_cost: float = None):
    """Each policy at majority voting's cost, two ways.

    1. ``frontier``: the policy's accuracy interpolated along its own frontier at
       ``match_cost`` (default :data:`MATCH_COST`, the paper's 1.40), with the knob that gets
       there (:func:`frontier_point`); ``delta_vs_mv`` there is paired against majority
       voting interpolated at the same cost. This is the comparison to read.
    2. The top-level fields (kept for compatibility): the most accurate grid point at
       generation cost <= the reference's + 5%, the reference being the majority-vote grid
       point whose cost is nearest ``match_cost``.

    ``delta_vs_mv`` is paired per question (same samples).
    """
    match_cost = MATCH_COST if match_cost is None else float(match_cost)
    mv = [(c, r) for c, r in zip(cells, rows) if r["policy"] == "mv"]
    if not mv:
        raise StudyError("the matched-cost table needs majority voting (policy mv)")
    ref_cell, ref_row = min(mv, key=lambda cr: abs(cr[1]["gen_cost"] - match_cost))
    budget = ref_row["gen_cost"] * (1 + MATCH_TOLERANCE)
    mv_front = frontier_point(mv, match_cost)
    groups = {}
    for c, r in zip(cells, rows):
        groups.setdefault((r["policy"], r["variant"]), []).append((c, r))
    table = []
    for (name, variant), members in groups.items():
        ok = [(c, r) for c, r in members if r["gen_cost"] <= budget]
        within = bool(ok)
        if name == "mv":
            c, r = ref_cell, ref_row  # the reference itself
        elif ok:
            c, r = max(ok, key=lambda cr: (cr[1]["accuracy"], -cr[1]["gen_cost"]))
        else:
            c, r = min(members, key=lambda cr: cr[1]["gen_cost"])
        diff = c.correct - ref_cell.correct
        entry = {"policy": name, "variant": variant, "knob_name": r["knob_name"],
                 "knob": r["knob"], "accuracy": r["accuracy"], "accuracy_ci": r["accuracy_ci"],
                 "gen_cost": r["gen_cost"], "gen_cost_ci": r["gen_cost_ci"],
                 "compute": r["compute"], "latency": r["latency"], "samples": r["samples"],
                 "delta_vs_mv": float(diff.mean()), "delta_vs_mv_ci": ci(diff, boot),
                 "within_budget": within}
        fp = frontier_point(members, match_cost)
        if fp is None:
            entry["frontier"] = {"status": "unreachable", "gen_cost": match_cost,
                                 "cheapest_cost": min(r["gen_cost"] for _, r in members)}
        else:
            f = {"status": fp["status"], "gen_cost": fp["gen_cost"], "knob_name": r["knob_name"],
                 "knob": fp["knob"], "bracket": fp["bracket"], "weight_lo": fp["weight_lo"],
                 "accuracy": float(fp["correct"].mean()), "accuracy_ci": ci(fp["correct"], boot)}
            if mv_front is not None:
                d = fp["correct"] - mv_front["correct"]
                f["delta_vs_mv"] = float(d.mean())
                f["delta_vs_mv_ci"] = ci(d, boot)
            entry["frontier"] = f
        table.append(entry)
    order = {n: i for i, n in enumerate(POLICY_NAMES)}
    table.sort(key=lambda t: (order.get(t["policy"], 99), t["variant"]))
    reference = {"policy": "mv", "knob": ref_row["knob"], "gen_cost": ref_row["gen_cost"],
                 "accuracy": ref_row["accuracy"], "budget": budget, "match_cost": match_cost,
                 "frontier_accuracy": (float(mv_front["correct"].mean()) if mv_front else None),
                 "frontier_knob": (mv_front["knob"] if mv_front else None)}
    return table, reference


# --------------------------------------------------------------------------- presentation


def format_table(result: dict) -> str:
    """The matched-cost table as aligned text: each policy along its frontier at the matched
    cost (interpolated knob), then its best grid point within the budget."""
    ref = result["reference"]
    p = result["provenance"]["params"]
    mc = ref.get("match_cost", MATCH_COST)
    eps = p.get("episodes")
    ep_note = (f"episodes/question {eps}"
               + (f" (auto: {p.get('episodes_per_cell')} episodes per cell, >= {MIN_EPISODES_PER_CELL})"
                  if p.get("episodes_auto") else f" ({p.get('episodes_per_cell', '?')} per cell)"))
    preset = p.get("world_preset") or DEFAULT_PRESET
    fitted_note = ("" if preset == "original" else
                   f"world {preset}: fitted to the paper's majority-vote row and Table 1 only; "
                   "every other policy's number is a prediction (docs/simulators.md section 9)")
    if p.get("world_overrides"):
        fitted_note += f"; overrides {p['world_overrides']}"
    lines = [f"suite {p.get('suite')}  alpha {p.get('alpha')}  questions {p.get('questions')}  "
             f"{ep_note}  seed {result['provenance']['seed']}"]
    if fitted_note and "world" in p:
        lines.append(fitted_note)
    lines += [
             f"matched cost {mc:.2f}: each policy interpolated along its own frontier (a mixture of "
             f"its two bracketing knob values); MV there: "
             f"{_pct1(ref.get('frontier_accuracy'))}% (N={_num(ref.get('frontier_knob'))}). "
             f"Right: best grid point at cost <= {ref['budget']:.2f} (MV N={ref['knob']} at "
             f"{ref['gen_cost']:.2f}). 95% stratified bootstrap CIs",
             f"{'policy':<22}{'knob@' + format(mc, '.2f'):>12}{'accuracy %':>20}{'vs MV (pts)':>21}"
             f" |{'grid knob':>10}{'accuracy %':>20}{'vs MV (pts)':>21}{'gen cost':>9}"
             f"{'compute':>8}{'latency':>8}{'samples':>8}"]
    no_ci = False
    for t in result["matched"]:
        name = t["policy"] + (f" ({t['variant']})" if t["variant"] else "")
        f = t.get("frontier") or {"status": "unreachable"}
        if f["status"] == "unreachable":
            fk, fa, fd = "n/a", f"(cheapest {f.get('cheapest_cost', float('nan')):.2f})", ""
        else:
            fk = _fmt_knob(f["knob_name"], f["knob"]) + ("+" if f["status"] == "frontier_end" else "")
            fa = _acc_ci(f["accuracy"], f["accuracy_ci"])
            fd = _delta_ci(f["delta_vs_mv"], f["delta_vs_mv_ci"]) if "delta_vs_mv" in f else ""
        flag = "" if t["within_budget"] else " *"
        ref_row = t["policy"] == "mv"  # its difference to itself is no statistic
        if ref_row and fd:
            fd = "(reference)"
        delta = "(reference)" if ref_row else _delta_ci(t["delta_vs_mv"], t["delta_vs_mv_ci"])
        line = (f"{name:<22}{fk:>12}{fa:>20}{fd:>21} |"
                f"{_fmt_knob(t['knob_name'], t['knob']) + flag:>10}"
                f"{_acc_ci(t['accuracy'], t['accuracy_ci']):>20}{delta:>21}"
                f"{t['gen_cost']:>9.2f}{t['compute']:>8.2f}{t['latency']:>8.2f}{t['samples']:>8.2f}")
        no_ci |= "[n/a]" in line
        lines.append(line)
    lines.append("knob@cost: interpolated knob (geometric for beta); '+': every grid point is cheaper, "
                 "the frontier's end is shown; n/a: no knob value is that cheap")
    if any(not t["within_budget"] for t in result["matched"]):
        lines.append("* no knob value reaches the budget; its cheapest point is shown")
    if no_ci:
        lines.append("[n/a]: no interval: every bootstrap resample gives the same value (e.g. "
                     "every question correct, or the same outcome as MV on every question)")
    if result.get("ci_note"):
        lines.append(f"note: {result['ci_note']}")
    return "\n".join(lines)


def _pct1(x) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}"


def _num(x) -> str:
    return "n/a" if x is None else f"{x:.3g}"


def _acc_ci(a, c) -> str:
    """``98.2 [97.5,98.8]`` in percent, or ``98.0 [n/a]`` where there is no interval."""
    return f"{100 * a:.1f} [n/a]" if c is None else f"{100 * a:.1f} [{100 * c[0]:.1f},{100 * c[1]:.1f}]"


def _delta_ci(d, c) -> str:
    return f"{100 * d:+.1f} [n/a]" if c is None else f"{100 * d:+.1f} [{100 * c[0]:+.1f},{100 * c[1]:+.1f}]"


def _fmt_knob(name, value) -> str:
    if name is None:
        return "-"
    short = {"beta": "b", "n": "N", "threshold": "thr", "budget_tokens": "tok", "window": "w"}
    if isinstance(value, (int, float)):
        if name == "budget_tokens":
            return f"tok={value:.0f}"
        v = f"{value:g}" if float(value).is_integer() else f"{value:.3g}"
        return f"{short.get(name, name)}={v}"
    return str(value)


def plot_frontier(result: dict, path) -> None:
    """Accuracy vs generation cost: each policy's Pareto frontier with CIs, the labelled
    matched-cost budget, the matched points and the run's details (Agg backend; the format
    follows the suffix: .png, .pdf or .svg). Drawn by :mod:`simulators.plotstyle`, as every
    figure of ``paper_figures/`` is."""
    from .plotstyle import frontier_figure

    frontier_figure(result, path)


# --------------------------------------------------------------------------- sweeps

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

    def key(self) -> str:
        # the knob grids and the package version are part of the identity of a result file,
        # so a resumed sweep never mixes results of different code
        from metamdp import __version__

        blob = json.dumps([asdict(self), describe(), __version__], sort_keys=True, default=str)
        digest = hashlib.sha256(blob.encode()).hexdigest()[:12]
        return f"{self.suite}-a{self.alpha:g}-{self.corruption}-s{self.seed}-{digest}"


def run_task(task: SweepTask) -> dict:
    """Execute one sweep task (top-level so processes and Dask workers can import it)."""
    res = run_study(task.suite, task.alpha, list(task.policies), task.questions, task.seed,
                    task.episodes, parse_corruption(task.corruption), progress=False,
                    ziprc_params=dict(task.ziprc_params))
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

    from .runner import set_threads

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
    """Accuracy of ``policy``'s upper frontier (best accuracy at or below each cost),
    linearly interpolated at ``cost``; None if the policy never gets that cheap."""
    pts = sorted((r["gen_cost"], r["accuracy"]) for r in rows
                 if r["policy"] == policy and r["variant"] == variant)
    if not pts or pts[0][0] > cost:
        return None
    xs, ys, best = [], [], -1.0
    for c, a in pts:
        best = max(best, a)
        xs.append(c)
        ys.append(best)
    return float(np.interp(cost, xs, ys))


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

PAPER_MV = {"aime24": 53.1, "amc23": 87.9, "math500": 93.0, "gsm8k": 91.2, "mixed": 91.0}


def calibration_table(suites=SUITES, seed: int = 0, episodes_total: int = 20000,
                      alpha: float = 0.1, preset: str | None = None) -> list:
    """Per suite: pass@1, pass@8, mean length (tokens), and majority voting's accuracy at
    generation cost 1.4 (linear interpolation along N = 1..8) against the paper's Table 2.

    Each question gets ``max(1, episodes_total // n_questions)`` episodes.
    """
    out = []
    for suite in suites:
        world = build_world(suite, preset=preset)
        eps = max(1, episodes_total // world.n_questions)
        costs, accs = [], []
        with _KERNEL_LOCK:
            for n in range(1, 9):
                m = run_policy(world, make("mv", n=n), seed=seed,
                               episodes_per_question=eps)
                correct, _, _, g = per_episode_costs(m, alpha)
                costs.append(float(g.mean()))
                accs.append(float(correct.mean()))
            p8 = run_policy(world, make("pass_at_n", n=8), seed=seed,
                            episodes_per_question=eps)
        mv_at = float(np.interp(MATCH_COST, costs, accs))
        out.append({"suite": suite, "questions": world.n_questions, "episodes_per_question": eps,
                    "pass_at_1": accs[0], "pass_at_8": float(p8[:, M_CORRECT].mean()),
                    "mean_tokens": float(world.mean_ticks.mean() * world.delta),
                    "mv_at_1.4": mv_at, "paper_mv": PAPER_MV[suite] / 100.0,
                    "mv_curve": [[c, a] for c, a in zip(costs, accs)]})
    return out
