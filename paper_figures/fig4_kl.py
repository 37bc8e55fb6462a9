"""Figure 4: KL from the original policy during ZIP-RC training, with the KL term
(the pipeline's alpha_KL, 100 on this small model, where the public default 10 cost the policy
2 points of accuracy; docs/llm.md) and without it (alpha_KL = 0), from the training logs of
the model trained here (``train_log_<name>.jsonl``: forward KL(reference || model) at the
supervised positions, per step). ZIP-RC-Lite changes no text logit, so its KL is 0."""

from __future__ import annotations

import numpy as np

from simulators.plotstyle import run_details

from .common import pyplot, write_figure

NAME = "fig4_kl"
RUNS = (("ziprc", "with KL term (alpha_KL = {alpha_kl:g})", "#0072B2", "-"),
        ("ziprc_alpha0", "without KL term (alpha_KL = 0)", "#D55E00", "-"),
        ("ziprc_lite", "ZIP-RC-Lite (head rows only)", "#009E73", "--"))


def collect(stages) -> dict:
    logs = {}
    for name, *_ in RUNS:
        log = stages.llm_train_log(name)
        logs[name] = {"step": [r["step"] for r in log], "kl": [r["kl"] for r in log],
                      "ce": [r["ce"] for r in log]}
    cfg = stages.llm_config()
    return {"logs": logs, "seed": stages.seed, "model": cfg.size, "train_steps": cfg.train_steps,
            "alpha_kl": cfg.alpha_kl,
            "alpha0_steps": cfg.alpha0_steps, "lite_steps": cfg.lite_steps}


def make(data: dict, out_dir, params: dict | None = None) -> list:
    plt = pyplot()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4.2))
    series = {}
    floor = 1e-5  # log axis: a KL of exactly 0 is drawn at this floor (and said so)
    for name, label, color, ls in RUNS:
        label = label.format(alpha_kl=data.get("alpha_kl", 10.0))
        lg = data["logs"].get(name)
        if not lg:
            continue
        x = np.asarray(lg["step"], dtype=float) + 1
        y = np.maximum(np.asarray(lg["kl"], dtype=float), floor)
        (line,) = ax.plot(x, y, color=color, ls=ls, lw=1.6, label=label)
        line.set_gid(f"{name}/kl")
        series[f"{name}/kl"] = {"x": x.tolist(), "y": y.tolist(), "label": label}
        ce = np.asarray(lg["ce"], dtype=float)
        (line2,) = ax2.plot(x, ce, color=color, ls=ls, lw=1.4, label=label)
        line2.set_gid(f"{name}/ce")
        series[f"{name}/ce"] = {"x": x.tolist(), "y": ce.tolist(), "label": label}
    ax.set_yscale("log")
    ax.set_xscale("log")
    ax.axhline(0.005, color="#888888", ls=":", lw=1)
    ax.annotate("paper: about 0.005 with the KL term", xy=(1, 0.005), xycoords=("axes fraction", "data"),
                xytext=(-4, 3), textcoords="offset points", ha="right", fontsize=7, color="#555555")
    ax.set_xlabel("training step")
    ax.set_ylabel("KL(original policy || trained policy), nats per token")
    ax.set_title("Policy drift during ZIP-RC training")
    ax.grid(alpha=0.25, which="both")
    ax.legend(fontsize=8, loc="lower right")
    ax2.set_xscale("log")
    ax2.set_xlabel("training step")
    ax2.set_ylabel("cross-entropy of the reserved-slice joint (nats)")
    ax2.set_title("Prediction loss (same runs)")
    ax2.grid(alpha=0.25, which="both")
    bottom = run_details(fig, f"model trained here ({data.get('model')}), seed {data.get('seed', 0)}; steps: "
                              f"{data.get('train_steps')} (alpha_KL {data.get('alpha_kl', 10):g}), {data.get('alpha0_steps')} (alpha_KL 0), "
                              f"{data.get('lite_steps')} (Lite); KL of exactly 0 drawn at {floor:g}; "
                              f"`ziprc figures --only {NAME}`")
    fig.tight_layout(rect=(0, bottom, 1, 1))
    return write_figure(fig, out_dir, NAME, series, data, params or {}, seed=data.get("seed", 0))


def build(stages, out_dir) -> list:
    return make(collect(stages), out_dir, stages.describe())


if __name__ == "__main__":
    from .run import main_one

    raise SystemExit(main_one(NAME))
