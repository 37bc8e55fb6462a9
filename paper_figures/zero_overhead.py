"""Zero overhead: decoding throughput when every step also reads the ZIP-RC joint from the
reserved logits (and samples with the slice masked) vs plain decoding, in back-to-back pairs
on the same model, batch and prompt cache; and the planner's share of time, one decision
against the decoding time between two decisions (:func:`llm_backend.bench.run_zero_overhead_bench`),
next to the share measured inside the online-sampling runs of the model trained here."""

from __future__ import annotations

import numpy as np

from simulators.plotstyle import run_details

from .common import pyplot, write_figure

NAME = "zero_overhead"


def collect(stages) -> dict:
    z = stages.zero_overhead()["zero_overhead"]
    s = stages.llm_json("sampling.json")
    return {"bench": z, "sampling_planner_timing": s.get("planner_timing", {}), "seed": stages.seed,
            "bench_params": stages.cfg["zero_overhead"]}


def make(data: dict, out_dir, params: dict | None = None) -> list:
    plt = pyplot()
    z = data["bench"]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.4), gridspec_kw={"width_ratios": [1, 1.2]})
    series = {}
    plain = np.asarray(z["pairs"]["tokens_per_s_plain"])
    zr = np.asarray(z["pairs"]["tokens_per_s_ziprc"])
    for i in range(plain.size):
        ax.plot([0, 1], [plain[i], zr[i]], color="#BBBBBB", lw=0.8, zorder=1)
    (a,) = ax.plot(np.zeros(plain.size), plain, ls="none", marker="o", color="#0072B2", label="plain decoding")
    a.set_gid("plain")
    (b,) = ax.plot(np.ones(zr.size), zr, ls="none", marker="o", color="#D55E00",
                   label="reading the joint + masked sampling")
    b.set_gid("ziprc")
    series["plain"] = {"x": [0.0] * plain.size, "y": plain.tolist(), "label": "plain decoding"}
    series["ziprc"] = {"x": [1.0] * zr.size, "y": zr.tolist(), "label": "ZIP-RC decoding"}
    ax.set_xticks([0, 1])
    ax.set_xticklabels(["plain", "ZIP-RC\n(joint read every token)"])
    ax.set_xlim(-0.5, 1.5)
    ax.set_ylabel("decoding throughput (tokens/s)")
    q = z["pair_ratio_quartiles"]
    ax.set_title(f"(a) throughput ratio {z['throughput_ratio']:.3f} (median of pairs; IQR {q[0]:.3f}-{q[1]:.3f})",
                 fontsize=9)
    ax.grid(alpha=0.25, axis="y")
    # (b) time per decision cycle
    labels = ["decoding between\ntwo decisions", "planner, cap 8\n(8 running)", "planner, cap 16\n(8 may start)"]
    vals = [z["decode_seconds_between_decisions"], z["planner_seconds_per_decision"],
            z["planner_seconds_per_decision_cap16"]]
    ms = [1e3 * v for v in vals]
    bars = ax2.bar(range(3), ms, color=["#0072B2", "#D55E00", "#E69F00"])
    for bb in bars:
        bb.set_gid("cycle_ms")
    series["cycle_ms"] = {"x": [0.0, 1.0, 2.0], "y": ms, "label": "milliseconds per decision cycle"}
    for i, v in enumerate(ms):
        frac = "" if i == 0 else f"\n{100 * vals[i] / vals[0]:.1f}% of decoding"
        ax2.annotate(f"{v:.2f} ms{frac}", xy=(i, v), xytext=(0, 2), textcoords="offset points",
                     ha="center", fontsize=7.5)
    ax2.set_xticks(range(3))
    ax2.set_xticklabels(labels, fontsize=8)
    ax2.set_yscale("log")
    ax2.set_ylim(min(ms) / 3, max(ms) * 6)
    ax2.set_ylabel("milliseconds (median)")
    online = data.get("sampling_planner_timing") or {}
    onl = ", ".join(f"beta {b}: {100 * t['planner_fraction']:.1f}%" for b, t in online.items())
    ax2.set_title("(b) planner time vs decoding time per decision", fontsize=9)
    bottom = run_details(fig, f"{z['model_params']:,}-parameter Llama ({data['bench_params']['size']}), batch "
                              f"{z['batch']}, {z['steps']} tokens per arm, {z['repeats']} alternating pairs, "
                              f"{z['threads']} torch thread(s), device {z['device']}, decisions every {z['delta']} "
                              f"tokens, exhaustive search; planner share inside the online-sampling runs of the "
                              f"model trained here: {onl or 'n/a'}; shared 2-core CPU; "
                              f"`ziprc figures --only {NAME}`")
    fig.tight_layout(rect=(0, bottom, 1, 1))
    return write_figure(fig, out_dir, NAME, series, data, params or {}, seed=data.get("seed", 0))


def build(stages, out_dir) -> list:
    return make(collect(stages), out_dir, stages.describe())


if __name__ == "__main__":
    from .run import main_one

    raise SystemExit(main_one(NAME))
