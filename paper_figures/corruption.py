"""Corruption: ZIP-RC's gain over majority voting at matched cost as each prediction
corruption grows (temperature, fresh noise, optimism, staleness, coarse length bins,
dependent samples, a less informative final value), on the synthetic Mixed suite at
alpha 0.1 and 1.0. Lines: ZIP-RC's Pareto frontier interpolated at majority voting's
matched cost, minus majority voting (:func:`simulators.sweeps.frontier_at`); open markers:
the gain at the matched-cost point with its paired 95% CI
(:func:`simulators.report.matched_table`), which at alpha 1.0 jumps with the beta grid (the
most accurate beta within the budget can be a much cheaper one)."""

from __future__ import annotations

import numpy as np

from simulators.plotstyle import run_details

from .common import pyplot, write_figure

NAME = "corruption"
KNOB_TITLES = {"temperature": "temperature T (joint^(1/T))", "noise": "log-normal noise, fresh per tick",
               "optimism": "optimism b (reward tilt exp(b v))", "lag_ticks": "stale by (ticks of 64 tokens)",
               "coarse_factor": "length bins merged (8 -> 8/f)", "correlation": "dependent samples (shared class prob.)",
               "value_noise": "final value redrawn with prob."}
NEUTRAL = {"temperature": 1.0, "noise": 0.0, "optimism": 0.0, "lag_ticks": 0, "coarse_factor": 1,
           "correlation": 0.0, "value_noise": 0.0}
ALPHA_STYLE = {0.1: ("#D55E00", "o"), 1.0: ("#0072B2", "s")}


def _gain(res: dict) -> dict:
    from simulators.sweeps import frontier_at

    z = next((m for m in res["matched"] if m["policy"] == "ziprc"), None)
    ref = res["reference"]
    zf = frontier_at(res["rows"], "ziprc", ref["gen_cost"])
    return {"gain": None if z is None else z["delta_vs_mv"], "gain_ci": None if z is None else z["delta_vs_mv_ci"],
            "within_budget": None if z is None else z["within_budget"],
            "frontier_gain": None if zf is None else zf - ref["accuracy"],
            "mv_accuracy": ref["accuracy"], "mv_gen_cost": ref["gen_cost"]}


def collect(stages) -> dict:
    c = stages.corruption()
    out = {}
    for alpha, by_spec in c["results"].items():
        a = float(alpha)
        exact = _gain(by_spec["exact"])
        for knob, levels in c["levels"].items():
            pts = [dict(level=NEUTRAL[knob], **exact)]
            for lv in levels:
                spec = f"{knob}={lv:g}"
                pts.append(dict(level=lv, **_gain(by_spec[spec])))
            out.setdefault(knob, {})[f"{a:g}"] = pts
    first = next(iter(next(iter(c["results"].values())).values()))
    return {"knobs": out, "suite": c["suite"], "questions": first["provenance"]["params"]["questions"],
            "seed": stages.seed}


def make(data: dict, out_dir, params: dict | None = None) -> list:
    plt = pyplot()
    knobs = list(data["knobs"])
    ncol = min(4, len(knobs))
    nrow = int(np.ceil(len(knobs) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.3 * ncol, 3.1 * nrow + 0.6), squeeze=False)
    series = {}
    for ax, knob in zip(axes.ravel(), knobs):
        for alpha, pts in data["knobs"][knob].items():
            color, marker = ALPHA_STYLE.get(float(alpha), ("#777777", "."))
            x = np.array([p["level"] for p in pts], dtype=float)
            ok = [i for i, p in enumerate(pts) if p["gain"] is not None]
            y = np.array([100 * pts[i]["gain"] for i in ok])
            # no interval (None) where the bootstrap cannot make one: drawn without a bar
            lo = np.array([100 * (pts[i]["gain_ci"] or [pts[i]["gain"]] * 2)[0] for i in ok])
            hi = np.array([100 * (pts[i]["gain_ci"] or [pts[i]["gain"]] * 2)[1] for i in ok])
            ax.errorbar(x[ok], y, yerr=[y - lo, hi - y], fmt="none", ecolor=color, elinewidth=0.8,
                        capsize=2, alpha=0.5)
            (ln,) = ax.plot(x[ok], y, ls="none", color=color, marker=marker, ms=4, mfc="white",
                            label=f"alpha {alpha}: at the matched-cost point [95% CI]")
            ln.set_gid(f"{knob}/alpha{alpha}/matched")
            series[f"{knob}/alpha{alpha}/matched"] = {"x": x[ok].tolist(), "y": y.tolist(),
                                                      "ci_low": lo.tolist(), "ci_high": hi.tolist(),
                                                      "label": f"alpha {alpha}"}
            okf = [i for i, p in enumerate(pts) if p["frontier_gain"] is not None]
            yf = np.array([100 * pts[i]["frontier_gain"] for i in okf])
            (lf,) = ax.plot(x[okf], yf, color=color, marker=marker, ms=5, lw=1.8,
                            label=f"alpha {alpha}: frontier at MV's cost")
            lf.set_gid(f"{knob}/alpha{alpha}/frontier")
            series[f"{knob}/alpha{alpha}/frontier"] = {"x": x[okf].tolist(), "y": yf.tolist(),
                                                       "label": f"alpha {alpha} frontier"}
        # keep the frontiers readable: matched points far below them are marked at the edge
        vals = [v for k, sr in series.items() if k.startswith(f"{knob}/") and k.endswith("/frontier")
                for v in sr["y"]] or [0.0]
        lo_lim = min(min(vals) - 8, -5)
        hi_lim = max(max(vals), max((max(sr["ci_high"], default=0) for k, sr in series.items()
                                     if k.startswith(f"{knob}/") and k.endswith("/matched")), default=0)) + 3
        for k, sr in series.items():
            if k.startswith(f"{knob}/") and k.endswith("/matched"):
                for xv, yv in zip(sr["x"], sr["y"]):
                    if yv < lo_lim:
                        ax.annotate(f"{yv:+.0f}", xy=(xv, lo_lim), xytext=(0, 3), textcoords="offset points",
                                    ha="center", fontsize=6.5, color="#555555")
        ax.set_ylim(lo_lim, hi_lim)
        ax.axhline(0, color="k", lw=0.7)
        ax.set_title(KNOB_TITLES.get(knob, knob), fontsize=8.5)
        ax.set_xlabel(knob)
        ax.grid(alpha=0.25)
    for ax in axes[:, 0]:
        ax.set_ylabel("ZIP-RC minus MV (points)")
    for ax in axes.ravel()[len(knobs):]:
        ax.axis("off")
    h, lab = axes[0, 0].get_legend_handles_labels()
    fig.legend(h, lab, loc="upper center", ncol=4, fontsize=8, frameon=False)
    bottom = run_details(fig, f"synthetic {data['suite']} suite, {data['questions']} questions, seed "
                              f"{data.get('seed', 0)}; leftmost point of each panel = exact predictions; "
                              "matched cost: ZIP-RC's most accurate beta at cost <= majority vote's (N nearest 1.4) "
                              "+ 5%, paired 95% bootstrap CI; majority voting is unaffected except by dependent "
                              f"samples; matched points below a panel's range are printed at its lower edge; `ziprc figures --only {NAME}`")
    fig.tight_layout(rect=(0, bottom, 1, 0.93))
    return write_figure(fig, out_dir, NAME, series, data, params or {}, seed=data.get("seed", 0))


def build(stages, out_dir) -> list:
    return make(collect(stages), out_dir, stages.describe())


if __name__ == "__main__":
    from .run import main_one

    raise SystemExit(main_one(NAME))
