"""The results layer: one generation cost, one bootstrap, one matched-cost rule, one row.

Every study, replay, LLM stage and figure computes its numbers here (``docs/api.md``,
"Result rows"):

* :func:`generation_cost`: ``alpha * compute + (1 - alpha) * latency``, both normalised by
  the question's mean sample length ``Lbar`` (pruned tokens and an external reward model's
  tokens count in compute); :func:`per_episode_costs` applies it to a metrics array.
* :func:`bootstrap_indices`: questions resampled with replacement within their stratum
  (the benchmark a question comes from; one stratum when there is none), :data:`N_BOOT`
  resamples; the same indices serve every row of a table, so a difference of two rows is
  paired per question (:func:`paired_ci`). :func:`interval`: the 95% percentile interval,
  None when it has zero width.
* :func:`frontier_point`: a policy at a given cost, as the mixture of the two knob values of
  its frontier that bracket the cost.
* :func:`make_row`: the one row schema.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .paper_numbers import TABLE2
from .kernels.samples import (M_ANSWERED, M_CORRECT, M_EXTRA, M_GEN, M_LBAR, M_PRUNED,
                              M_SERIAL, M_STARTED)

MATCH_COST = TABLE2["mv"]["cost"]  # the paper's Table 2 operating point (majority vote's cost)
MATCH_TOLERANCE = 0.05  # "equal or lower cost", with the paper's 1.43-vs-1.40 slack
N_BOOT = 1000
CI_PERCENTILES = (2.5, 97.5)
_BOOT_STREAM = 7919  # keeps the bootstrap's random stream apart from the episodes' (same seed)


# --------------------------------------------------------------------------- generation cost


def generation_cost(compute, latency, alpha: float):
    """``alpha * compute + (1 - alpha) * latency``; ``compute`` and ``latency`` are already
    normalised by ``Lbar`` (see :func:`normalised_costs`). Works on scalars and arrays."""
    return alpha * compute + (1 - alpha) * latency


def normalised_costs(tokens, serial, lbar, alpha: float, extra=0.0):
    """``(compute, latency, generation cost)`` from raw counts: ``tokens`` generated (pruned
    ones included), ``serial`` tokens (or ticks), the question's mean sample length ``lbar``
    in the same unit, and ``extra`` tokens of an external reward model (compute only)."""
    lbar = np.asarray(lbar, dtype=np.float64)
    compute = (np.asarray(tokens, dtype=np.float64) + extra) / lbar
    latency = np.asarray(serial, dtype=np.float64) / lbar
    return compute, latency, generation_cost(compute, latency, alpha)


def per_episode_costs(metrics: np.ndarray, alpha: float):
    """``(correct, compute, latency, gen_cost)`` arrays per episode of a runner metrics array."""
    compute, latency, gen = normalised_costs(metrics[:, M_GEN], metrics[:, M_SERIAL],
                                             metrics[:, M_LBAR], alpha, extra=metrics[:, M_EXTRA])
    return metrics[:, M_CORRECT], compute, latency, gen


def summarize(metrics: np.ndarray, alpha: float) -> dict:
    """Macro-averaged accuracy and normalised costs of a metrics array (per episode rows), with
    the row schema's names (no intervals: episodes are not questions)."""
    correct, compute, latency, gen = per_episode_costs(metrics, alpha)
    return {"accuracy": float(correct.mean()), "compute": float(compute.mean()),
            "latency": float(latency.mean()), "gen_cost": float(gen.mean()),
            "samples": float(metrics[:, M_STARTED].mean()),
            "pruned": float((metrics[:, M_PRUNED] / metrics[:, M_LBAR]).mean()),
            "answered": float(metrics[:, M_ANSWERED].mean())}


@dataclass
class Cell:
    """Per-question results of one policy at one knob value (episodes averaged); costs are
    normalised by ``Lbar``, ``pruned`` too."""

    policy: object
    variant: str
    correct: np.ndarray
    compute: np.ndarray
    latency: np.ndarray
    samples: np.ndarray
    pruned: np.ndarray
    answered: np.ndarray
    # a ZIP-RC-family policy (one that records its first plan): per question, the utility
    # and the expected best value its planner expected at t = 0, and the realised best value
    plan_utility: np.ndarray | None = None
    plan_value: np.ndarray | None = None
    best_value: np.ndarray | None = None

    def gen_cost(self, alpha: float) -> np.ndarray:
        return generation_cost(self.compute, self.latency, alpha)


# --------------------------------------------------------------------------- bootstrap


def bootstrap_indices(strata, n_boot: int = N_BOOT, seed: int = 0) -> np.ndarray:
    """``(n_boot, Q)`` question indices resampled with replacement within each stratum.

    Each stratum keeps its size in every resample (rliable's stratified bootstrap), so a
    suite's mix of benchmarks is not itself resampled. One array serves every row of a table:
    the differences of two rows are then paired per question.
    """
    strata = np.asarray(strata)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), _BOOT_STREAM])))
    out = np.empty((int(n_boot), strata.size), dtype=np.int64)
    pos = 0
    for s in np.unique(strata):
        members = np.flatnonzero(strata == s)
        out[:, pos:pos + members.size] = members[rng.integers(0, members.size,
                                                              size=(int(n_boot), members.size))]
        pos += members.size
    return out


def pooled_strata(strata, names) -> tuple:
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


def interval(stats) -> list | None:
    """95% percentile interval of bootstrap statistics; None when every resample gives the
    same value (e.g. every question correct): a zero-width interval would claim a certainty
    the data do not have."""
    stats = np.asarray(stats, dtype=np.float64)
    if stats.size == 0:
        return None
    lo, hi = np.percentile(stats, CI_PERCENTILES)
    if hi - lo <= 1e-12 * max(1.0, abs(hi)):
        return None
    return [float(lo), float(hi)]


def ci(x, boot: np.ndarray) -> list | None:
    """95% interval of the mean of the per-question values ``x`` under the resampling ``boot``
    (:func:`bootstrap_indices`)."""
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return None
    return interval(x[boot].mean(axis=1))


def paired_ci(a, b, boot: np.ndarray) -> list | None:
    """95% interval of ``mean(a - b)``, both arms resampled with the same questions."""
    return ci(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64), boot)


# --------------------------------------------------------------------------- matched cost


def frontier_point(members: list, cost: float):
    """Where a policy's accuracy-vs-cost frontier crosses ``cost``, as a mixture of two knobs.

    ``members`` are one policy's ``(correct, row)`` pairs: per-question correctness and a row
    with ``gen_cost``, ``accuracy``, ``knob_name`` and ``knob``. The frontier keeps the points
    that are more accurate than every cheaper point; between the two frontier points that
    bracket ``cost`` the answer is the randomised policy that plays the cheaper knob with
    probability ``w`` and the dearer one otherwise: its expected cost is exactly ``cost`` and
    its per-question correctness is ``w c_lo + (1 - w) c_hi``, so paired differences and
    bootstrap intervals stay exact. (Interpolating between grid points, rather than taking the
    best point under a budget, is what keeps a coarse knob grid from deciding the comparison;
    a dominated point is never interpolated through: the mixture beats it.)

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
        return {"correct": np.array(lo[0], dtype=np.float64), "gen_cost": lo[1]["gen_cost"],
                "knob": lo[1]["knob"], "weight_lo": 1.0, "bracket": [desc(lo)],
                "status": "frontier_end"}
    hi = min(above, key=lambda cr: cr[1]["gen_cost"])
    c_lo, c_hi = lo[1]["gen_cost"], hi[1]["gen_cost"]
    w = 1.0 if c_hi <= c_lo else (c_hi - cost) / (c_hi - c_lo)
    k_lo, k_hi = lo[1]["knob"], hi[1]["knob"]
    if k_lo is None or k_hi is None:
        knob = None
    elif lo[1]["knob_name"] in ("beta", "budget_tokens") and k_lo > 0 and k_hi > 0:
        knob = float(np.exp(w * np.log(k_lo) + (1 - w) * np.log(k_hi)))
    else:
        knob = float(w * k_lo + (1 - w) * k_hi)
    correct = w * np.asarray(lo[0], dtype=np.float64) + (1 - w) * np.asarray(hi[0], dtype=np.float64)
    return {"correct": correct, "gen_cost": float(cost), "knob": knob, "weight_lo": float(w),
            "bracket": [desc(lo), desc(hi)], "status": "interpolated"}


def accuracy_at_cost(rows, cost: float):
    """Mean accuracy of :func:`frontier_point` at ``cost`` from rows alone (``gen_cost``,
    ``accuracy``; no per-question results needed for the mean); None if no row is that
    cheap."""
    members = [(np.array([r["accuracy"]], dtype=np.float64),
                {"gen_cost": r["gen_cost"], "accuracy": r["accuracy"],
                 "knob_name": r.get("knob_name"), "knob": r.get("knob")}) for r in rows]
    fp = frontier_point(members, cost)
    return None if fp is None else float(fp["correct"][0])


def best_at_cost(arms: dict, boot: np.ndarray, cost: float) -> dict:
    """Which of several policies is most accurate at one cost, and which are tied with it.

    ``arms``: label -> that policy's :func:`frontier_point` at ``cost`` (None: it never gets
    that cheap). The matched-cost rule decides each arm's accuracy: interpolated along its
    frontier, or, when its frontier ends below ``cost``, its most accurate point (it spends
    less: "equal or lower cost"); an arm that cannot get that cheap is ``unreachable`` and
    out of the comparison. ``best`` is the most accurate arm; ``tied`` lists it and every arm
    whose paired 95% interval of ``best - arm`` (same questions, :func:`paired_ci`) contains
    0 (an arm with the very same per-question results counts as tied), ``best`` first.
    Returns ``{"cost", "best", "tied", "unreachable", "arms": {label: {"accuracy",
    "status", "gen_cost", "knob", "delta_vs_best", "delta_vs_best_ci"}}}``; ``best`` is None
    when no arm is reachable.
    """
    reach = {k: fp for k, fp in arms.items() if fp is not None}
    out = {"cost": float(cost), "best": None, "tied": [],
           "unreachable": [k for k, fp in arms.items() if fp is None], "arms": {}}
    if not reach:
        return out
    acc = {k: float(np.mean(fp["correct"])) for k, fp in reach.items()}
    best = max(reach, key=lambda k: acc[k])   # first in ``arms`` order on an exact tie
    for k, fp in reach.items():
        d = acc[best] - acc[k]
        d_ci = paired_ci(reach[best]["correct"], fp["correct"], boot)
        tied = k == best or (d_ci[0] <= 0.0 if d_ci is not None else abs(d) <= 1e-12)
        out["arms"][k] = {"accuracy": acc[k], "status": fp["status"], "gen_cost": fp["gen_cost"],
                          "knob": fp["knob"], "delta_vs_best": d, "delta_vs_best_ci": d_ci}
        if tied and k != best:
            out["tied"].append(k)
    out["best"] = best
    out["tied"].insert(0, best)
    return out


# --------------------------------------------------------------------------- rows


def arm_label(row: dict) -> str:
    """A row's arm in tables and comparisons: ``policy``, or ``policy (variant)``."""
    return row["policy"] + (f" ({row['variant']})" if row.get("variant") else "")


def make_row(policy: str, correct, compute, latency, alpha: float, boot: np.ndarray, *,
             variant: str = "", knob_name: str | None = None, knob=None, samples=None,
             pruned=None, answered=None, **extra) -> dict:
    """One result row (schema: ``docs/api.md``, "Result rows") from per-question arrays.

    ``compute``, ``latency`` and ``pruned`` are normalised by each question's ``Lbar``;
    ``boot`` is the table's :func:`bootstrap_indices`. Extra keyword arguments (``label``,
    ``params``, ``questions``, ...) are appended as they are.
    """
    correct = np.asarray(correct, dtype=np.float64)
    compute = np.asarray(compute, dtype=np.float64)
    latency = np.asarray(latency, dtype=np.float64)
    g = generation_cost(compute, latency, alpha)

    def mean(x):
        return None if x is None else float(np.mean(np.asarray(x, dtype=np.float64)))

    row = {"policy": policy, "variant": variant, "knob_name": knob_name, "knob": knob,
           "accuracy": float(correct.mean()), "accuracy_ci": ci(correct, boot),
           "gen_cost": float(g.mean()), "gen_cost_ci": ci(g, boot),
           "compute": float(compute.mean()), "latency": float(latency.mean()),
           "samples": mean(samples), "pruned": mean(pruned) if pruned is not None else 0.0,
           "answered": mean(answered)}
    row.update(extra)
    return row


def plan_fields(plan_utility, plan_value, best_value, correct, boot: np.ndarray) -> dict:
    """Utility versus accuracy of a ZIP-RC-family row (``docs/api.md``, "Result rows"): the
    planner's objective at t = 0 for the strategy it chose (``plan_utility``: expected best
    value minus the cost charge) and its expected-best-value term (``plan_value``), averaged
    over questions, next to the realised mean best value (``best_value``) and accuracy;
    ``value_gap`` = best value - accuracy (what the planner maximises minus what the table
    reports) and ``plan_error`` = best value - planned value, with paired intervals. Questions
    on which the first decision was not planned (``init_k``) are left out of the planned
    means (``planned_questions``)."""
    u = np.asarray(plan_utility, dtype=np.float64)
    v = np.asarray(plan_value, dtype=np.float64)
    b = np.asarray(best_value, dtype=np.float64)
    c = np.asarray(correct, dtype=np.float64)
    ok = np.isfinite(u)
    out = {"planned_questions": int(ok.sum()), "best_value": float(b.mean()),
           "best_value_ci": ci(b, boot), "value_gap": float((b - c).mean()),
           "value_gap_ci": paired_ci(b, c, boot)}
    if ok.all():
        out.update(plan_utility=float(u.mean()), plan_utility_ci=ci(u, boot),
                   plan_value=float(v.mean()), plan_value_ci=ci(v, boot),
                   plan_error=float((b - v).mean()), plan_error_ci=paired_ci(b, v, boot))
    else:   # intervals need every question; means over the planned ones
        out.update(plan_utility=float(u[ok].mean()) if ok.any() else None, plan_utility_ci=None,
                   plan_value=float(v[ok].mean()) if ok.any() else None, plan_value_ci=None,
                   plan_error=float((b[ok] - v[ok]).mean()) if ok.any() else None,
                   plan_error_ci=None)
    return out


def cell_row(cell: Cell, alpha: float, boot: np.ndarray) -> dict:
    """The row of a :class:`Cell` (with :func:`plan_fields` when the policy planned)."""
    p = cell.policy
    extra = {}
    if cell.plan_utility is not None and np.isfinite(cell.plan_utility).any():
        extra = plan_fields(cell.plan_utility, cell.plan_value, cell.best_value, cell.correct, boot)
    return make_row(p.name, cell.correct, cell.compute, cell.latency, alpha, boot,
                    variant=cell.variant, knob_name=p.knob_name, knob=p.knob, samples=cell.samples,
                    pruned=cell.pruned, answered=cell.answered, params=p.params, **extra)
