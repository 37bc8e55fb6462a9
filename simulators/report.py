"""The study's report: rows with bootstrap intervals, the matched-cost table, and the table as
text and as a frontier plot.

Every number comes from :mod:`simulators.results` (generation cost, the stratified bootstrap,
the frontier mixture at a cost, the row schema). All policies run on the same samples
(common random numbers), so differences between policies are paired per question and their
intervals are much tighter than the accuracies'.
"""

from __future__ import annotations

import numpy as np

from .io import provenance
from .plotstyle import frontier_figure
from .policies import POLICY_NAMES
from .results import (MATCH_COST, MATCH_TOLERANCE, N_BOOT, arm_label, best_at_cost, bootstrap_indices,
                      cell_row, ci, frontier_point, paired_ci, pooled_strata)
from .synthetic import DEFAULT_PRESET


class ReportError(ValueError):
    """Cells from which no matched-cost table can be made."""


def summarize_cells(cells: list, alpha: float, strata, strata_names, seed: int = 0,
                    n_boot: int = N_BOOT, params: dict | None = None,
                    match_cost: float | None = None, frontier_base: str | None = None,
                    frontier_costs=None) -> dict:
    """Rows with bootstrap intervals, and the matched-cost table, from per-question cells.

    ``strata[q]`` indexes ``strata_names``: the benchmark question ``q`` comes from (the
    bootstrap resamples within it). With ``frontier_base`` (a policy name) and
    ``frontier_costs``, also :func:`frontier_comparison` (key ``frontier_comparison``)."""
    strata = np.asarray(strata)
    pooled, note = pooled_strata(strata, strata_names)
    boot = bootstrap_indices(pooled, n_boot, seed)
    rows = [cell_row(c, alpha, boot) for c in cells]
    matched, reference = matched_table(cells, rows, alpha, boot, match_cost)
    per_source = {name: {"questions": int((strata == s).sum())} for s, name in enumerate(strata_names)}
    out = {"rows": rows, "matched": matched, "reference": reference,
           "best_at_cost": best_policy(cells, rows, boot, reference["match_cost"]),
           "sources": per_source, "ci_note": note,
           "provenance": provenance("ziprc study", seed=seed, params=params or {})}
    if frontier_base is not None:
        out["frontier_comparison"] = frontier_comparison(cells, rows, boot, frontier_base,
                                                         frontier_costs)
    return out


def arm_groups(cells: list, rows: list, oracle: bool = True) -> dict:
    """The study's grid points grouped into frontiers: ``"policy"`` or ``"policy (variant)"``
    -> ``[(per-question correct, row), ...]`` (what :func:`frontier_point` takes). ``oracle``:
    keep the policies whose selection knows correctness (``pass_at_n``)."""
    groups: dict = {}
    for c, r in zip(cells, rows):
        if not oracle and c.policy.selection == "oracle":
            continue
        groups.setdefault(arm_label(r), []).append((c.correct, r))
    return groups


def frontier_comparison(cells: list, rows: list, boot: np.ndarray, base: str, costs) -> dict:
    """``base``'s frontier against every other policy's at each cost of ``costs``, paired per
    question (:func:`frontier_point` on both; ``delta`` = base - other, with its 95% paired
    interval), and the cost range each policy's grid reaches (``cost_range``: cheapest and
    dearest knob value). A frontier past its dearest point keeps its best accuracy
    (``frontier_end``); below its cheapest it is ``unreachable`` (no delta)."""
    groups = arm_groups(cells, rows)
    if base not in groups:
        raise ReportError(f"frontier comparison: policy {base!r} is not in the study")
    costs = [float(x) for x in costs]
    out = {"base": base, "costs": costs,
           "cost_range": {k: [min(r["gen_cost"] for _, r in m), max(r["gen_cost"] for _, r in m)]
                          for k, m in groups.items()},
           "against": {}}
    base_pts = [frontier_point(groups[base], x) for x in costs]
    for k, members in groups.items():
        if k == base:
            continue
        line = []
        for x, fb in zip(costs, base_pts):
            fo = frontier_point(members, x)
            e = {"cost": x, "base_status": fb["status"] if fb else "unreachable",
                 "status": fo["status"] if fo else "unreachable"}
            if fb is not None:
                e["base_accuracy"] = float(fb["correct"].mean())
            if fo is not None:
                e["accuracy"] = float(fo["correct"].mean())
            if fb is not None and fo is not None:
                e["delta"] = float((fb["correct"] - fo["correct"]).mean())
                e["delta_ci"] = paired_ci(fb["correct"], fo["correct"], boot)
            line.append(e)
        out["against"][k] = line
    return out


def format_frontier_comparison(fc: dict) -> str:
    """:func:`frontier_comparison` as text: base - other in points [95% paired CI]."""
    lines = [f"frontier of {fc['base']} minus each policy's frontier, points [95% paired CI] "
             "('+': past that policy's dearest point; '-': below a cheapest point)",
             f"{'policy':<22}{'cost range':>13}" + "".join(f"{x:>18.2f}" for x in fc["costs"])]
    lo, hi = fc["cost_range"][fc["base"]]
    lines.append(f"{fc['base']:<22}{f'{lo:.2f}-{hi:.2f}':>13}")
    for k, line in fc["against"].items():
        lo, hi = fc["cost_range"][k]
        cells = []
        for e in line:
            if "delta" not in e:
                cells.append("-")
                continue
            mark = "+" if e["status"] == "frontier_end" else ""
            ci_ = e["delta_ci"]
            cells.append(f"{100 * e['delta']:+.1f}{mark}" + (
                "" if ci_ is None else f"[{100 * ci_[0]:+.1f},{100 * ci_[1]:+.1f}]"))
        lines.append(f"{k:<22}{f'{lo:.2f}-{hi:.2f}':>13}" + "".join(f"{c:>18}" for c in cells))
    return "\n".join(lines)


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
        raise ReportError("the matched-cost table needs majority voting (policy mv)")
    ref_cell, ref_row = min(mv, key=lambda cr: abs(cr[1]["gen_cost"] - match_cost))
    budget = ref_row["gen_cost"] * (1 + MATCH_TOLERANCE)
    mv_front = frontier_point([(c.correct, r) for c, r in mv], match_cost)
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
        entry = {"policy": name, "variant": variant, "knob_name": r["knob_name"],
                 "knob": r["knob"], "accuracy": r["accuracy"], "accuracy_ci": r["accuracy_ci"],
                 "gen_cost": r["gen_cost"], "gen_cost_ci": r["gen_cost_ci"],
                 "compute": r["compute"], "latency": r["latency"], "samples": r["samples"],
                 "delta_vs_mv": float((c.correct - ref_cell.correct).mean()),
                 "delta_vs_mv_ci": paired_ci(c.correct, ref_cell.correct, boot),
                 "within_budget": within}
        fp = frontier_point([(c.correct, r) for c, r in members], match_cost)
        if fp is None:
            entry["frontier"] = {"status": "unreachable", "gen_cost": match_cost,
                                 "cheapest_cost": min(r["gen_cost"] for _, r in members)}
        else:
            f = {"status": fp["status"], "gen_cost": fp["gen_cost"], "knob_name": r["knob_name"],
                 "knob": fp["knob"], "bracket": fp["bracket"], "weight_lo": fp["weight_lo"],
                 "accuracy": float(fp["correct"].mean()), "accuracy_ci": ci(fp["correct"], boot)}
            if mv_front is not None:
                f["delta_vs_mv"] = float((fp["correct"] - mv_front["correct"]).mean())
                f["delta_vs_mv_ci"] = paired_ci(fp["correct"], mv_front["correct"], boot)
            entry["frontier"] = f
        table.append(entry)
    order = {n: i for i, n in enumerate(POLICY_NAMES)}
    table.sort(key=lambda t: (order.get(t["policy"], 99), t["variant"]))
    reference = {"policy": "mv", "knob": ref_row["knob"], "gen_cost": ref_row["gen_cost"],
                 "accuracy": ref_row["accuracy"], "budget": budget, "match_cost": match_cost,
                 "frontier_accuracy": (float(mv_front["correct"].mean()) if mv_front else None),
                 "frontier_knob": (mv_front["knob"] if mv_front else None)}
    return table, reference


def best_policy(cells: list, rows: list, boot: np.ndarray, cost: float) -> dict:
    """The study's most accurate policy at ``cost`` and those tied with it
    (:func:`simulators.results.best_at_cost`), among its policies that choose an answer
    without the oracle (``pass_at_n`` knows correctness and is left out). Arms are labelled
    ``policy`` or ``policy (variant)``."""
    groups = arm_groups(cells, rows, oracle=False)
    return best_at_cost({k: frontier_point(m, cost) for k, m in groups.items()}, boot, cost)


# --------------------------------------------------------------------------- presentation


def format_table(result: dict) -> str:
    """The matched-cost table as aligned text: each policy along its frontier at the matched
    cost (interpolated knob), then its best grid point within the budget."""
    ref = result["reference"]
    p = result["provenance"]["params"]
    mc = ref.get("match_cost", MATCH_COST)
    eps = p.get("episodes")
    ep_note = (f"episodes/question {eps}"
               + (f" (auto: {p.get('episodes_per_cell')} episodes per cell, >= {p.get('episodes_target', '?')})"
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
        name = arm_label(t)
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
    frontier_figure(result, path)
