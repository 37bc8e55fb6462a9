"""Optimality gap: ``V* - V_ZIPRC``, the value the optimal meta-policy gains over ZIP-RC's
greedy planner, on the same random chain worlds as ``theorem_margins`` (exact; ``V*`` is not
defined for dependent samples, whose optimal policy needs a belief over the shared latent)."""

from __future__ import annotations

import numpy as np

from simulators.plotstyle import run_details

from .common import pyplot, write_figure

NAME = "optimality_gap"


def collect(stages) -> dict:
    th = stages.theorem()
    out = {}
    for v, d in th["variants"].items():
        if all(x is None for x in d["v_optimal"]):
            continue
        gap = [o - z for o, z in zip(d["v_optimal"], d["v_ziprc"]) if o is not None]
        out[v] = {"gap": gap}
    return {"variants": out, "params": th["params"], "seed": stages.seed}


def make(data: dict, out_dir, params: dict | None = None) -> list:
    plt = pyplot()
    variants = list(data["variants"])
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.6), gridspec_kw={"width_ratios": [1.4, 1]})
    series, summary = {}, {}
    for i, v in enumerate(variants):
        g = np.sort(np.asarray(data["variants"][v]["gap"], dtype=float))
        frac = np.arange(1, g.size + 1) / g.size
        (line,) = ax.step(g, frac, where="post", label=v, lw=2.2 if v == "exact" else 1.2)
        line.set_gid(f"{v}/cdf")
        series[f"{v}/cdf"] = {"x": g.tolist(), "y": frac.tolist(), "label": v}
        summary[v] = {"mean": float(g.mean()), "median": float(np.median(g)), "max": float(g.max()),
                      "share_optimal": float(np.mean(g <= 1e-9)), "instances": int(g.size)}
    means = [summary[v]["mean"] for v in variants]
    bars = ax2.bar(range(len(variants)), means, color="#0072B2")
    for b in bars:
        b.set_gid("mean_gap")
    series["mean_gap"] = {"x": list(range(len(variants))), "y": means, "label": "mean V* - V_ZIPRC"}
    ax2.set_xticks(range(len(variants)))
    ax2.set_xticklabels([v.replace("_", "\n") for v in variants], fontsize=8)
    ax2.set_ylabel("mean V* - V_ZIPRC")
    ax2.set_title("Mean gap per variant")
    for i, v in enumerate(variants):
        ax2.annotate(f"{100 * summary[v]['share_optimal']:.0f}%\noptimal", xy=(i, means[i]),
                     xytext=(0, 2), textcoords="offset points", ha="center", fontsize=6.5)
    ax.set_xscale("symlog", linthresh=1e-3)
    ax.set_xlabel("V* - V_ZIPRC  (exact; symlog scale)")
    ax.set_ylabel("fraction of worlds with gap <= x")
    ax.set_title("How far greedy ZIP-RC is from the optimal meta-policy")
    ax.grid(alpha=0.25)
    ax.legend(fontsize=8, loc="lower right")
    p = data["params"]
    bottom = run_details(fig, f"{p['instances']} random chain worlds (max depth {p['max_depth']}), seed {p['seed']}, exact "
                     f"enumeration of the optimal policy and of ZIP-RC; `ziprc figures --only {NAME}`")
    fig.tight_layout(rect=(0, bottom, 1, 1))
    data = dict(data, summary=summary)
    return write_figure(fig, out_dir, NAME, series, data, params or {}, seed=data.get("seed", 0))


def build(stages, out_dir) -> list:
    return make(collect(stages), out_dir, stages.describe())


if __name__ == "__main__":
    from .run import main_one

    raise SystemExit(main_one(NAME))
