"""Regimes: where each policy wins. Over a grid of two world knobs of the synthetic Mixed
suite (every other knob at the fitted preset's value), at alpha 0.1 and 1.0: the colour of a
cell is the policy most accurate at the matched cost, hatched where others are tied with it
(their names are printed); contours: ZIP-RC minus majority voting at that cost, in points.

"Best at matched cost" (:func:`simulators.results.best_at_cost`, through each study's
``best_at_cost``): at the paper's cost (:data:`simulators.results.MATCH_COST`, 1.40) every
compared policy is read off its own frontier by the project's one matched-cost rule
(:func:`simulators.results.frontier_point`): interpolated between its two bracketing knob
values, or, when its frontier ends at a lower cost (ZIP-RC's does at alpha 0.1), its most
accurate point, since it spends less ("equal or lower cost"); a policy that never gets that
cheap is left out of the cell and listed as unreachable. The best is the most accurate; a
policy is tied with it when the paired 95% bootstrap interval of their difference contains 0.
The compared policies are :data:`paper_figures.stages.REGIME_POLICIES`.
"""

from __future__ import annotations

import numpy as np

from simulators.plotstyle import POLICY_STYLE, policy_label, run_details

from .common import pyplot, write_figure

NAME = "regimes"
AXIS_LABELS = {
    "value_share": "shared value error: value_share (share of samples whose final value\n"
                   "is drawn from the question's prior, whatever their correctness)",
    "distractor_spread": "spread of wrong answers: distractor_spread r\n"
                         "(weights r^j over 16 wrong answers; 0: all agree, 1: uniform)",
    "info": "in-flight evidence: info (signal separation per mean length)",
}
SHORT = {"ziprc": "ZIP-RC", "mv": "MV", "pandora": "Pandora", "wbon": "wBoN"}
DEFINITION = ("colour: the compared policy with the highest accuracy at generation cost {cost:.2f}, "
              "each read off its own frontier by the matched-cost rule (simulators.results."
              "frontier_point: the mixture of its two bracketing knob values, or its most accurate "
              "point when its frontier ends below the cost; a policy that never gets that cheap "
              "is unreachable and left out); tied: paired 95% bootstrap interval of (best - "
              "policy) contains 0; contours: ZIP-RC minus majority voting at that cost, points "
              "(ZIP-RC at its frontier's end when that is cheaper)")


def _short(label: str) -> str:
    return SHORT.get(label, label)


def collect(stages) -> dict:
    r = stages.regimes()
    (xk, xs), (yk, ys) = r["x"], r["y"]
    panels = {}
    cost = None
    for alpha, grid in r["results"].items():
        cells = []
        for i, col in enumerate(grid):
            for j, res in enumerate(col):
                b = res["best_at_cost"]
                cost = b["cost"]
                z = next(m for m in res["matched"] if m["policy"] == "ziprc")["frontier"]
                plan = [{k: row.get(k) for k in ("knob", "gen_cost", "accuracy", "plan_utility",
                                                 "plan_value", "best_value", "value_gap")}
                        for row in res["rows"] if "plan_utility" in row]
                cells.append({"x": xs[i], "y": ys[j], "best": b["best"], "tied": b["tied"],
                              "unreachable": b["unreachable"], "arms": b["arms"],
                              "ziprc_minus_mv": z.get("delta_vs_mv"),
                              "ziprc_minus_mv_ci": z.get("delta_vs_mv_ci"),
                              "ziprc_status": z["status"],
                              "mv_accuracy": res["reference"]["frontier_accuracy"],
                              "ziprc_plan": plan})
        panels[alpha] = cells
    return {"x": [xk, xs], "y": [yk, ys], "policies": r["policies"], "suite": r["suite"],
            "questions": r["questions"], "cost": cost, "panels": panels,
            "definition": DEFINITION.format(cost=cost if cost is not None else float("nan")),
            "stage_seconds": r.get("seconds"), "seed": stages.seed}


def grids(data: dict, alpha: str):
    """``(winner index (ny, nx), ZIP-RC minus MV in points (ny, nx), tied counts)`` of a panel;
    the winner index is into ``data["policies"]`` (NaN: no policy reaches the cost)."""
    xs, ys = data["x"][1], data["y"][1]
    win = np.full((len(ys), len(xs)), np.nan)
    gain = np.full((len(ys), len(xs)), np.nan)
    ties = np.zeros((len(ys), len(xs)), dtype=int)
    for c in data["panels"][alpha]:
        i, j = xs.index(c["x"]), ys.index(c["y"])
        if c["best"] is not None:
            win[j, i] = data["policies"].index(c["best"])
        if c["ziprc_minus_mv"] is not None:
            gain[j, i] = 100 * c["ziprc_minus_mv"]
        ties[j, i] = len(c["tied"])
    return win, gain, ties


def make(data: dict, out_dir, params: dict | None = None) -> list:
    from matplotlib import patheffects
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch, Rectangle

    plt = pyplot()
    pols = data["policies"]
    colors = [POLICY_STYLE.get(p, (p, "#777777", "."))[1] for p in pols]
    cmap = ListedColormap(colors)
    (xk, xs), (yk, ys) = data["x"], data["y"]
    dx = (xs[-1] - xs[0]) / max(1, len(xs) - 1)
    dy = (ys[-1] - ys[0]) / max(1, len(ys) - 1)
    extent = (xs[0] - dx / 2, xs[-1] + dx / 2, ys[0] - dy / 2, ys[-1] + dy / 2)
    alphas = list(data["panels"])
    fig, axes = plt.subplots(1, len(alphas), figsize=(5.6 * len(alphas), 5.4), squeeze=False)
    series = {}
    for ax, alpha in zip(axes[0], alphas):
        win, gain, ties = grids(data, alpha)
        im = ax.imshow(win, origin="lower", extent=extent, cmap=cmap, vmin=-0.5,
                       vmax=len(pols) - 0.5, aspect="auto", interpolation="nearest", alpha=0.85)
        im.set_gid(f"alpha{alpha}/best")
        series[f"alpha{alpha}/best"] = {"z": win.tolist(), "policies": pols,
                                       "label": f"alpha {alpha}: best policy (index into policies)"}
        by_xy = {(c["x"], c["y"]): c for c in data["panels"][alpha]}
        for i, xv in enumerate(xs):
            for j, yv in enumerate(ys):
                c = by_xy[(xv, yv)]
                if len(c["tied"]) > 1:
                    ax.add_patch(Rectangle((xv - dx / 2, yv - dy / 2), dx, dy, fill=False, lw=0,
                                           hatch="///", edgecolor="white", alpha=0.6))
                text = " = ".join(_short(t) for t in c["tied"]) if c["tied"] else "none"
                if c["unreachable"]:
                    text += "\n(" + ", ".join(_short(u) for u in c["unreachable"]) + ": n/a)"
                ink = "white" if c["best"] in ("pandora", "mv", "ziprc") else "black"
                ax.text(xv, yv + 0.22 * dy, text.replace(" = ", "\n= ", 2), ha="center",
                        va="center", fontsize=6.5, color=ink)
                if not np.isnan(gain[j, i]):
                    ax.text(xv, yv - 0.3 * dy, f"{gain[j, i]:+.1f}", ha="center", va="center",
                            fontsize=6.5, color=ink, style="italic")
        if len(xs) > 1 and len(ys) > 1 and np.isfinite(gain).all() and np.ptp(gain) > 0:
            # dark lines with a light halo: readable on every policy's colour
            halo = [patheffects.withStroke(linewidth=2.6, foreground="white")]
            levels = np.arange(np.floor(gain.min()), np.ceil(gain.max()) + 1e-9, 1.0)
            if levels.size >= 2:
                cs = ax.contour(xs, ys, gain, levels=levels, colors="#222222", linewidths=0.9)
                cs.set(path_effects=halo)
                for t in ax.clabel(cs, fmt="%+.0f", fontsize=7):
                    t.set_path_effects(halo)
            if gain.min() < 0 < gain.max():
                zero = ax.contour(xs, ys, gain, levels=[0.0], colors="#222222", linewidths=2.4)
                zero.set(path_effects=[patheffects.withStroke(linewidth=4.5, foreground="white")])
        ax.set_xticks(xs)
        ax.set_yticks(ys)
        ax.set_xlabel(AXIS_LABELS.get(xk, xk), fontsize=8)
        ax.set_title(f"alpha = {alpha}: best at cost {data['cost']:.2f}; "
                     "contours: ZIP-RC - MV (points; thick: 0)", fontsize=9)
    axes[0, 0].set_ylabel(AXIS_LABELS.get(yk, yk), fontsize=8)
    handles = [Patch(facecolor=c, alpha=0.85, label=policy_label(p)) for p, c in zip(pols, colors)]
    handles.append(Patch(facecolor="#BBBBBB", hatch="///", edgecolor="white",
                         label="tied with the best (paired 95% CI contains 0)"))
    fig.legend(handles=handles, loc="upper center", ncol=len(handles), fontsize=8, frameon=False)
    bottom = run_details(fig, f"synthetic {data['suite']} suite (fitted preset, other knobs unchanged), "
                              f"{data['questions']} questions, one episode each, seed {data.get('seed', 0)}. "
                              f"In each cell: the best policy and those tied with it; italic: ZIP-RC "
                              f"minus MV (points). {data['definition']}. `ziprc figures --only {NAME}`")
    fig.tight_layout(rect=(0, bottom, 1, 0.94))
    return write_figure(fig, out_dir, NAME, series, data, params or {}, seed=data.get("seed", 0))


def build(stages, out_dir) -> list:
    return make(collect(stages), out_dir, stages.describe())


if __name__ == "__main__":
    from .run import main_one

    raise SystemExit(main_one(NAME))
