"""Planner speed: time of one ZIP-RC decision vs the number of unfinished samples, exhaustive
and two-prefix search, Numba against the vectorised NumPy reference measured in the same loop
(:func:`metamdp.bench.planner_timing`; official 7 reward states x 8 length bins)."""

from __future__ import annotations

from simulators.plotstyle import run_details

from .common import pyplot, write_figure

NAME = "planner_speed"
STYLE = {("exhaustive", "numba"): ("#D55E00", "o", "-"), ("two-prefix", "numba"): ("#0072B2", "s", "-"),
         ("exhaustive", "numpy"): ("#D55E00", "o", "--"), ("two-prefix", "numpy"): ("#0072B2", "s", "--")}


def collect(stages) -> dict:
    return {"timing": stages.planner(), "seed": stages.seed}


def make(data: dict, out_dir, params: dict | None = None) -> list:
    plt = pyplot()
    t = data["timing"]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4.2))
    series = {}
    for search in t["decision_us"]:
        n = sorted(int(k) for k in t["decision_us"][search])
        for impl, key in (("numba", "decision_us"), ("numpy", "reference_us")):
            y = [t[key][search][str(k)] for k in n]
            color, marker, ls = STYLE[(search, impl)]
            label = f"{search}, {'Numba' if impl == 'numba' else 'NumPy reference'}"
            (line,) = ax.plot(n, y, color=color, marker=marker, ls=ls, label=label)
            gid = f"{search}/{impl}"
            line.set_gid(gid)
            series[gid] = {"x": n, "y": y, "label": label}
        sp = [t["numba_speedup"][search][str(k)] for k in n]
        color, marker, _ = STYLE[(search, "numba")]
        (line,) = ax2.plot(n, sp, color=color, marker=marker, label=search)
        line.set_gid(f"{search}/speedup")
        series[f"{search}/speedup"] = {"x": n, "y": sp, "label": f"{search}: NumPy time / Numba time"}
    ax.set_yscale("log")
    ax.set_xlabel("unfinished samples")
    ax.set_ylabel("time of one decision (microseconds, median)")
    ax.set_title("One ZIP-RC decision (7 x 8 joint; cap max(8, n):\nbelow 8, new and branched samples are searched too)")
    ax.grid(alpha=0.25, which="both")
    ax.legend(fontsize=8)
    ax2.set_yscale("log")
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ax2.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax2.yaxis.set_minor_formatter(NullFormatter())
    ax2.set_xlabel("unfinished samples")
    ax2.set_ylabel("speed-up of Numba over NumPy (x)")
    ax2.set_title("Numba speed-up, same loop")
    ax2.grid(alpha=0.25, which="both")
    ax2.legend(fontsize=8)
    bottom = run_details(fig, f"median of {t['repeats']} decisions per point (NumPy: fewer), random joints, "
                     f"alpha 0.1, beta 0.01, seed {data.get('seed', 0)}; one process on a shared 2-core CPU; "
                     f"`ziprc figures --only {NAME}` (same code as `ziprc bench --sections planner`)")
    fig.tight_layout(rect=(0, bottom, 1, 1))
    return write_figure(fig, out_dir, NAME, series, data, params or {}, seed=data.get("seed", 0))


def build(stages, out_dir) -> list:
    return make(collect(stages), out_dir, stages.describe())


if __name__ == "__main__":
    from .run import main_one

    raise SystemExit(main_one(NAME))
