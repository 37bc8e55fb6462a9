"""Theorem margins: the distribution of ``V_ZIPRC - W`` (ZIP-RC's exact value minus the best
predefined strategy's) over random chain worlds, per planner variant. The paper's Theorem 5.1
says ``>= 0`` in its setting (variant ``exact``); each other variant breaks one assumption.
Exact enumeration, no Monte Carlo (:func:`simulators.theorem_check.check_instances`)."""

from __future__ import annotations

import numpy as np

from simulators.plotstyle import run_details
from simulators.theorem_check import VARIANT_HELP, VIOLATION_TOL

from .common import pyplot, write_figure

NAME = "theorem_margins"


def collect(stages) -> dict:
    th = stages.theorem()
    return {"variants": {v: {"margin": d["margin"], "seed": d["seed"]} for v, d in th["variants"].items()},
            "params": th["params"], "seed": stages.seed}


def make(data: dict, out_dir, params: dict | None = None) -> list:
    plt = pyplot()
    variants = list(data["variants"])
    fig, ax = plt.subplots(figsize=(10, 5))
    series = {}
    rng = np.random.default_rng(0)  # horizontal jitter only
    summary = {}
    for i, v in enumerate(variants):
        m = np.asarray(data["variants"][v]["margin"], dtype=float)
        viol = m < -VIOLATION_TOL
        x = i + rng.uniform(-0.28, 0.28, size=m.size)
        ok = ax.scatter(x[~viol], m[~viol], s=9, color="#0072B2", alpha=0.45, lw=0)
        ok.set_gid(f"{v}/held")
        bad = ax.scatter(x[viol], m[viol], s=16, color="#D55E00", alpha=0.9, lw=0, marker="v")
        bad.set_gid(f"{v}/violated")
        series[f"{v}/held"] = {"x": x[~viol].tolist(), "y": m[~viol].tolist(), "label": f"{v}: V_ZIPRC >= W"}
        series[f"{v}/violated"] = {"x": x[viol].tolist(), "y": m[viol].tolist(), "label": f"{v}: V_ZIPRC < W"}
        summary[v] = {"instances": int(m.size), "violations": int(viol.sum()), "worst": float(m.min()),
                      "mean": float(m.mean()), "help": VARIANT_HELP[v]}
        ax.annotate(f"{int(viol.sum())}/{m.size}\nviolated", xy=(i, 1.0), xycoords=("data", "axes fraction"),
                    xytext=(0, -4), textcoords="offset points", ha="center", va="top", fontsize=7.5,
                    color="#D55E00" if viol.any() else "#333333")
    ax.axhline(0, color="k", lw=0.8)
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.set_xticks(range(len(variants)))
    ax.set_xticklabels([v.replace("_", "\n") for v in variants], fontsize=8)
    ax.set_ylabel("V_ZIPRC - W  (exact; symlog scale)")
    lo = min(min(s["y"]) for s in series.values() if s["y"])
    hi = max(max(s["y"]) for s in series.values() if s["y"])
    ax.set_ylim(min(lo * 1.5, -2e-3), hi * 40 + 1e-1)
    ax.set_title("Dominance theorem: ZIP-RC's value minus the best predefined strategy's, per planner variant")
    ax.grid(alpha=0.25, axis="y")
    ax.scatter([], [], s=9, color="#0072B2", label="world where V_ZIPRC >= W")
    ax.scatter([], [], s=16, color="#D55E00", marker="v", label="violation (V_ZIPRC < W - 1e-9)")
    ax.legend(fontsize=8, loc="lower left")
    p = data["params"]
    bottom = run_details(fig, f"{p['instances']} random chain worlds (max depth {p['max_depth']}, up to {p['max_samples']} "
                     f"samples in progress), seed {p['seed']}, exact enumeration; variants: "
                     + "; ".join(f"{v} = {VARIANT_HELP[v]}" for v in variants[:3]) + "; ... (see docs/theory.md). "
                     f"`ziprc figures --only {NAME}` (same worlds as `ziprc theorem --seed {p['seed']}`)")
    fig.tight_layout(rect=(0, bottom, 1, 1))
    data = dict(data, summary=summary)
    return write_figure(fig, out_dir, NAME, series, data, params or {}, seed=data.get("seed", 0))


def build(stages, out_dir) -> list:
    return make(collect(stages), out_dir, stages.describe())


if __name__ == "__main__":
    from .run import main_one

    raise SystemExit(main_one(NAME))
