"""One look for every plot of the project: policy colours and names, Pareto frontiers, run
details, atomic saving.

``ziprc study --plot``, ``ziprc replay --plot`` and every figure of ``paper_figures/`` draw
through this module, so a policy has the same colour, marker and name everywhere.

Colours: the Okabe-Ito palette for the paper's own methods (ZIP-RC, majority voting and the
Table 2 baselines) and Paul Tol's "muted" palette for the other baselines; both are designed
to stay distinguishable with the common colour-vision deficiencies. Fifteen policies cannot
all differ by colour alone, so every policy also has its own marker. The oracle pass@N is
grey and dashed: it is an upper bound, not a competitor. Names follow the paper's Table 2
where the paper has the method.
"""

from __future__ import annotations

import numpy as np

from .policies import TABLE

# policy -> (label, colour, marker); the paper's Table 2 methods first
POLICY_STYLE = {
    "ziprc": ("ZIP-RC sampling", "#D55E00", "o"),
    "mv": ("Majority vote", "#0072B2", "s"),
    "length_prune": ("MV + length pruning", "#E69F00", "v"),
    "wbon_rm": ("Weighted BoN (external RM)", "#CC79A7", "D"),
    "wbon": ("Weighted BoN (self-eval)", "#009E73", "^"),
    "reward_prune": ("ZIP-RC reward pruning", "#56B4E9", "P"),
    "pass_at_n": ("pass@N (oracle)", "#8C8C8C", "x"),
    # baselines the paper does not report
    "bon": ("Best-of-N (value)", "#332288", "<"),
    "half_finished": ("Stop at half finished", "#999933", ">"),
    "ac": ("Adaptive-Consistency", "#882255", "h"),
    "esc": ("Early-stopping SC", "#DDCC77", "*"),
    "deepconf": ("DeepConf", "#44AA99", "X"),
    "short_m_at_k": ("short-m@k", "#CC6677", "d"),
    "spec_rejection": ("Speculative rejection", "#88CCEE", "p"),
    "pandora": ("Pandora's rule", "#000000", "H"),
    "ziprc_recourse": ("ZIP-RC with recourse", "#A6361B", "8"),
}
PAPER_METHODS = ("ziprc", "mv", "length_prune", "wbon_rm", "wbon", "reward_prune")
# upper bounds, not competitors: the policies whose answer rule is the oracle
ORACLES = tuple(n for n, e in TABLE.items() if e.cls.selection == "oracle")
VARIANT_LABEL = {"trace": "trace conf.", "ziprc": "ZIP-RC conf.", "vote": "weighted vote",
                 "best": "best value"}
BUDGET_COLOR = "#4D4D4D"


def policy_label(policy: str, variant: str = "") -> str:
    """The name a reader of the paper knows (``policy`` itself for an unknown name)."""
    label = POLICY_STYLE.get(policy, (policy, None, None))[0]
    if variant:
        label += f" ({VARIANT_LABEL.get(variant, variant)})"
    return label


def policy_style(policy: str, variant: str = "") -> dict:
    """Matplotlib keyword arguments of a policy's line: colour, marker, line style, width."""
    _, color, marker = POLICY_STYLE.get(policy, (policy, "#777777", "."))
    style = {"color": color, "marker": marker, "ls": "-", "lw": 1.3, "ms": 5, "zorder": 3}
    if policy == "ziprc":
        style.update(lw=2.6, ms=6, zorder=6)
    elif policy == "mv":
        style.update(lw=2.0, zorder=5)
    elif policy in ORACLES:
        style.update(ls="--", lw=1.2, zorder=2)
    elif policy not in PAPER_METHODS:
        style.update(lw=1.0, ms=4)
    if variant == "ziprc":  # DeepConf on ZIP-RC's predictions: same colour, dash-dot
        style.update(ls="-.")
    elif variant == "best":  # a second answer rule on the same runs: same colour, dotted
        style.update(ls=":", lw=1.6)
    return style


def policy_order(keys) -> list:
    """``(policy, variant)`` keys in a stable order: the paper's methods, then the others."""
    rank = {p: i for i, p in enumerate(POLICY_STYLE)}
    return sorted(keys, key=lambda k: (rank.get(k[0], 99), k[1]))


def pareto_front(cost, accuracy) -> np.ndarray:
    """Indices of the upper-left Pareto front, sorted by cost: no other point is at least as
    cheap and at least as accurate (and strictly better in one)."""
    cost = np.asarray(cost, dtype=float)
    accuracy = np.asarray(accuracy, dtype=float)
    order = np.lexsort((-accuracy, cost))  # by cost, the most accurate first among equal costs
    keep, best = [], -np.inf
    for i in order:
        if accuracy[i] > best:
            keep.append(int(i))
            best = accuracy[i]
    return np.array(keep, dtype=int)


def frontier_series(rows: list) -> dict:
    """Per ``(policy, variant)``: its Pareto-front points and its dominated points.

    ``rows`` are study rows (``policy``, ``variant``, ``knob``, ``gen_cost``, ``accuracy``,
    ``accuracy_ci``, optionally ``label``); accuracies are returned in percent.
    """
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["policy"], r.get("variant", "")), []).append(r)
    out = {}
    for key in policy_order(groups):
        rs = groups[key]
        x = np.array([r["gen_cost"] for r in rs])
        y = np.array([100 * r["accuracy"] for r in rs])
        front = pareto_front(x, y)
        rest = np.setdiff1d(np.arange(len(rs)), front)
        ci = np.array([[100 * c for c in r["accuracy_ci"]] if r.get("accuracy_ci") else [np.nan, np.nan]
                       for r in rs])
        # a row may name itself (e.g. ZIP-RC replayed without branching is not ZIP-RC sampling)
        label = rs[0].get("label") or policy_label(*key)
        out[key] = {"label": label, "x": x[front].tolist(), "y": y[front].tolist(),
                    "ci_low": ci[front, 0].tolist(), "ci_high": ci[front, 1].tolist(),
                    "knob": [rs[i].get("knob") for i in front],
                    "dominated_x": x[rest].tolist(), "dominated_y": y[rest].tolist()}
    return out


def draw_frontiers(ax, rows: list, reference: dict | None = None, matched: list | None = None,
                   gid: str = "", ci=("ziprc", "mv"), annotate_budget: bool = True) -> dict:
    """Draw every policy's Pareto frontier of accuracy vs generation cost on ``ax``.

    Frontier points are joined (the best accuracy reachable at or below each cost, as
    :func:`simulators.sweeps.frontier_at` reads it); dominated knob values are faint dots.
    Confidence intervals are drawn for the policies named in ``ci`` (all of them would hide
    the frontiers; the JSON of a figure keeps every policy's). ``reference`` (a study's
    matched-cost reference) adds the labelled budget line and marks
    majority voting's matched point; ``matched`` (a study's matched table) marks ZIP-RC's.
    Every artist carries a ``gid`` (``gid/policy[/variant]/front|dominated|matched``) so
    that what was drawn can be read back from the figure.

    Returns
    -------
    dict
        The plotted series, keyed by gid: ``{"x": [...], "y": [...], "label": ...}``.
    """
    series = {}
    for (policy, variant), s in frontier_series(rows).items():
        st = policy_style(policy, variant)
        base = f"{gid}/{policy}" + (f"/{variant}" if variant else "")
        if ci and policy in ci and s["x"]:
            yerr = np.array([np.array(s["y"]) - np.array(s["ci_low"]),
                             np.array(s["ci_high"]) - np.array(s["y"])])
            ax.errorbar(s["x"], s["y"], yerr=np.nan_to_num(np.clip(yerr, 0, None)), fmt="none",
                        ecolor=st["color"], elinewidth=0.8, capsize=1.5, alpha=0.6, zorder=st["zorder"] - 1)
        (line,) = ax.plot(s["x"], s["y"], label=s["label"], **st)
        line.set_gid(f"{base}/front")
        series[f"{base}/front"] = {"x": s["x"], "y": s["y"], "label": s["label"], "knob": s["knob"],
                                   "ci_low": s["ci_low"], "ci_high": s["ci_high"]}
        if s["dominated_x"]:
            (dots,) = ax.plot(s["dominated_x"], s["dominated_y"], ls="none", marker=st["marker"],
                              color=st["color"], ms=3, alpha=0.35, zorder=1)
            dots.set_gid(f"{base}/dominated")
            series[f"{base}/dominated"] = {"x": s["dominated_x"], "y": s["dominated_y"],
                                           "label": s["label"] + " (dominated knob values)"}
    if reference is not None:
        budget = reference.get("budget", reference["gen_cost"])
        vl = ax.axvline(budget, color=BUDGET_COLOR, ls=":", lw=1.2, zorder=0)
        vl.set_gid(f"{gid}/budget")
        series[f"{gid}/budget"] = {"x": [budget, budget], "y": [0, 1], "label": "matched-cost budget"}
        if annotate_budget:
            knob = reference.get("knob")
            note = f"budget {budget:.2f}" + (f"\n(MV N={knob:g})" if isinstance(knob, (int, float)) else "")
            ax.annotate(note, xy=(budget, 0.02),
                        xycoords=("data", "axes fraction"), xytext=(3, 0), textcoords="offset points",
                        fontsize=7, color=BUDGET_COLOR, va="bottom")
    if reference is not None and reference.get("accuracy") is not None:
        (ref,) = ax.plot([reference["gen_cost"]], [100 * reference["accuracy"]], ls="none", marker="*",
                         ms=13, mfc="white", mec=POLICY_STYLE["mv"][1], mew=1.6, zorder=8)
        ref.set_gid(f"{gid}/mv/matched")
        series[f"{gid}/mv/matched"] = {"x": [reference["gen_cost"]], "y": [100 * reference["accuracy"]],
                                       "label": "majority vote at matched cost"}
    for m in matched or []:
        if m["policy"] == "ziprc" and not m.get("variant") and m.get("within_budget", True):
            (zp,) = ax.plot([m["gen_cost"]], [100 * m["accuracy"]], ls="none", marker="*", ms=13,
                            mfc="white", mec=POLICY_STYLE["ziprc"][1], mew=1.6, zorder=9)
            zp.set_gid(f"{gid}/ziprc/matched")
            series[f"{gid}/ziprc/matched"] = {"x": [m["gen_cost"]], "y": [100 * m["accuracy"]],
                                              "label": "ZIP-RC at matched cost"}
    return series


def setup_cost_axis(ax, alpha: float, xlim=None) -> None:
    """Log generation-cost axis with plain tick labels, accuracy in percent."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    ax.set_xscale("log")
    ticks = [0.25, 0.5, 1, 1.5, 2, 4, 8]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    if xlim is not None:
        ax.set_xlim(*xlim)
    ax.set_xlabel(f"generation cost (x one sample; alpha = {alpha:g})")
    ax.set_ylabel("accuracy (%)")
    ax.grid(alpha=0.25, which="major")


def accuracy_limits(series: dict, reference: dict | None = None) -> tuple:
    """A y-range that shows where the policies compete: from a little below majority voting's
    weakest point (or the lowest frontier point at or above the budget) to 100."""
    ys = [y for k, s in series.items() if k.endswith("/front") for y in s["y"]]
    if not ys:
        return (0, 100)
    lo = min(ys)
    mv = [y for k, s in series.items() if k.endswith("/mv/front") for y in s["y"]]
    if mv:
        lo = max(lo, min(mv) - 12)
    hi = max(ys)
    return (max(0.0, lo - 2), min(100.5, hi + 1.5) if hi <= 100 else hi + 1.5)


def run_details(fig, text: str) -> float:
    """The run's parameters in small grey type along the bottom edge of the figure, wrapped to
    its width. Returns the fraction of the figure's height the text takes (leave it free)."""
    import textwrap

    w, h = fig.get_size_inches()
    lines = textwrap.wrap(text, width=max(40, int(w * 18)))
    t = fig.text(0.005, 0.004, "\n".join(lines), fontsize=6.5, color="#555555", ha="left", va="bottom")
    t.set_gid("run_details")
    return min(0.3, (len(lines) * 6.5 * 1.25 + 4) / 72.0 / h)


def study_details(result: dict) -> str:
    """One line naming what a study result was run with."""
    p = result.get("provenance", {})
    q = p.get("params", {})
    corr = q.get("corruption") or {}
    # a replay of a model's recordings names its predictions (they are the model's, not exact)
    corr_txt = q.get("predictions") or "exact predictions"
    if isinstance(corr, dict):
        changed = {k: v for k, v in corr.items() if v not in (None, 0, 0.0, 1, 1.0, False)}
        if changed:
            corr_txt = "corruption " + ",".join(f"{k}={v}" for k, v in changed.items())
    return (f"{q.get('suite', '?')}: {q.get('questions', '?')} questions x {q.get('episodes', 1)} "
            f"episode(s), alpha {q.get('alpha', '?')}, seed {p.get('seed', '?')}, {corr_txt}; "
            f"95% stratified bootstrap CIs (bars: ZIP-RC, MV); ziprc {p.get('version', '?')} ({p.get('command', '')})")


def legend_below(fig, axes, ncol: int = 4, fontsize: float = 7.5) -> None:
    """One legend for all panels, under them, with each policy once."""
    handles, labels, seen = [], [], set()
    for ax in np.atleast_1d(axes).ravel():
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in seen and not lab.startswith("_"):
                seen.add(lab)
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=fontsize, frameon=False,
               bbox_to_anchor=(0.5, 0.035))


def save_figure(fig, path, dpi: int = 110) -> None:
    """Write ``fig`` atomically, with the umask's file mode, in the image format its suffix
    names (:func:`simulators.io.check_image_path`: .png, .pdf, .svg, .jpg)."""
    from .io import atomic_path, check_image_path

    fmt = check_image_path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=fmt)


def frontier_figure(result: dict, path, title: str | None = None) -> dict:
    """The frontier plot of one study or replay result (``ziprc study/replay --plot``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p = result.get("provenance", {}).get("params", {})
    alpha = float(p.get("alpha", 0.1))
    fig, ax = plt.subplots(figsize=(8, 6.2))
    series = draw_frontiers(ax, result["rows"], result.get("reference"), result.get("matched"))
    setup_cost_axis(ax, alpha)
    ax.set_ylim(*accuracy_limits(series))
    ax.set_title(title or f"{p.get('suite')}: accuracy vs generation cost (Pareto frontiers)")
    legend_below(fig, ax, ncol=3)
    bottom = run_details(fig, study_details(result))
    fig.tight_layout(rect=(0, 0.18 + bottom, 1, 1))
    save_figure(fig, path)
    plt.close(fig)
    return series
