"""Figure 3: accuracy vs generation cost, every policy's Pareto frontier, one panel per suite,
at alpha = 0.1 (latency-bound) and alpha = 1.0 (compute-bound), plus the model trained here.

ZIP-RC is swept over beta and every baseline over its knob (its class's ``knobs``, through ``simulators.policies.sweep``);
stars mark majority voting at the matched cost (nearest 1.4) and ZIP-RC's most accurate point
within the budget (dotted line). pass@N is an oracle (grey, dashed). The model's panel is the
replay of its majority-vote recordings (``frontier.json``: every policy over its knob, ZIP-RC
without branching), matched at majority voting's cost with N = 8.
"""

from __future__ import annotations

from simulators.plotstyle import accuracy_limits, draw_frontiers, run_details, setup_cost_axis

from .common import pyplot, write_figure

NAME = "fig3_frontiers"
SUITE_TITLES = {"gsm8k": "GSM8K", "math500": "MATH-500", "amc23": "AMC23", "aime24": "AIME24",
                "mixed": "Mixed"}


def collect(stages) -> dict:
    sweep = stages.sweep()
    panels = []
    for alpha in (0.1, 1.0):
        for suite in SUITE_TITLES:
            res = sweep[(suite, alpha)]
            p = res["provenance"]["params"]
            panels.append({"kind": "suite", "suite": suite, "alpha": alpha, "rows": res["rows"],
                           "reference": res["reference"], "matched": res["matched"],
                           "questions": p["questions"], "episodes": p["episodes"]})
        if alpha == 0.1:
            # every policy over its knob, replayed from the model's majority-vote recordings
            # (llm_backend.pipeline.stage_frontier): the study's own rows and table
            f = stages.llm_json("frontier.json")
            p = f["provenance"]["params"]
            panels.append({"kind": "model", "suite": "model trained here", "alpha": p["alpha"],
                           "rows": f["rows"], "reference": f["reference"], "matched": f["matched"],
                           "questions": p["questions"], "episodes": 1, "cap": p["cap"]})
    return {"panels": panels, "seed": stages.seed}


def make(data: dict, out_dir, params: dict | None = None) -> list:
    plt = pyplot()
    panels = data["panels"]
    fig, axes = plt.subplots(4, 3, figsize=(13, 16.5))
    axes = axes.ravel()
    # layout: rows 1-2 alpha 0.1 (five suites + the model), rows 3-4 alpha 1.0 (five suites)
    series = {}
    for ax, panel in zip(axes, panels):
        gid = f"{panel['suite']}@{panel['alpha']:g}".replace(" ", "_")
        s = draw_frontiers(ax, panel["rows"], panel["reference"], panel["matched"], gid=gid)
        series.update(s)
        setup_cost_axis(ax, panel["alpha"])
        ax.set_ylim(*accuracy_limits(s))
        if panel["kind"] == "model":
            ax.set_title(f"Model trained here, alpha {panel['alpha']:g}\n"
                         f"({panel['questions']} questions, cap {panel.get('cap', 8)}, replayed from MV's recordings)")
        else:
            ep = f" x {panel['episodes']} episodes" if panel["episodes"] > 1 else ""
            ax.set_title(f"{SUITE_TITLES[panel['suite']]} (synthetic), alpha {panel['alpha']:g}\n"
                         f"({panel['questions']} questions{ep})")
    for ax in axes[len(panels):]:
        ax.axis("off")
    legend_ax = axes[-1]
    handles, labels, seen = [], [], set()
    for ax in axes[:len(panels)]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in seen:
                seen.add(lab)
                handles.append(h)
                labels.append(lab)
    from matplotlib.lines import Line2D

    handles += [Line2D([], [], ls="none", marker="*", ms=12, mfc="white", mec="k"),
                Line2D([], [], ls=":", color="#4D4D4D")]
    labels += ["matched-cost point (MV, ZIP-RC)", "budget: MV's cost near 1.4 (model: MV N=8's), +5%"]
    legend_ax.legend(handles, labels, loc="center", fontsize=8.5, frameon=False,
                     title="policy (knob swept)\nlines: Pareto frontier; faint: dominated knobs")
    fig.suptitle("Accuracy vs generation cost: Pareto frontiers of ZIP-RC (over beta) and every "
                 "baseline (over its knob)", fontsize=12)
    synth = [p for p in panels if p["kind"] == "suite"]
    details = (f"Synthetic suites: exact predictions, seed {data.get('seed', 0)}, 95% stratified bootstrap "
               f"CIs over questions (bars: ZIP-RC, MV), cap 8. Model: every policy replayed from its majority-vote "
               f"recordings at alpha 0.1 only, ZIP-RC without branching ('vote' = value-weighted vote, "
               f"'best' = best predicted value). "
               f"{len(synth)} synthetic studies. Made by `ziprc figures --only {NAME}`.")
    bottom = run_details(fig, details)
    fig.tight_layout(rect=(0, bottom, 1, 0.975))
    return write_figure(fig, out_dir, NAME, series, data, params or {}, seed=data.get("seed", 0))


def build(stages, out_dir) -> list:
    return make(collect(stages), out_dir, stages.describe())


if __name__ == "__main__":
    from .run import main_one

    raise SystemExit(main_one(NAME))
