"""Figure 5: ZIP-RC-Lite (only the reserved head rows trained, body frozen) vs full ZIP-RC vs
the ground truth on the same prompts: the predicted probability of a correct answer at the
prompt against the empirical one, the TV of each predicted initial joint to the empirical
joint, and the length marginals of a hard prompt. The paper reports Lite's predictions more
uniform across prompts and with overestimated variance."""

from __future__ import annotations

import numpy as np

from simulators.plotstyle import run_details

from .common import pyplot, write_figure

NAME = "fig5_lite"
STYLE = {"full": ("full ZIP-RC", "#0072B2", "o"), "lite": ("ZIP-RC-Lite", "#D55E00", "^"),
         "truth": ("ground truth", "#000000", "s")}


def collect(stages) -> dict:
    ini = stages.initial()
    return {k: ini[k] for k in ("problems", "k", "empirical", "predicted", "predicted_lite", "reward_values",
                                "length_edges")} | {"seed": stages.seed, "alpha_kl": stages.llm_config().alpha_kl}


def make(data: dict, out_dir, params: dict | None = None) -> list:
    plt = pyplot()
    emp = np.asarray(data["empirical"])
    preds = {"full": np.asarray(data["predicted"]), "lite": np.asarray(data["predicted_lite"])}
    v = np.asarray(data["reward_values"])
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.3))
    series = {}
    emp_acc = emp.sum(2) @ v
    ax = axes[0]
    ax.plot([0, 1], [0, 1], color="#888888", ls=":", lw=1)
    for key in ("full", "lite"):
        label, color, marker = STYLE[key]
        y = preds[key].sum(2) @ v
        sc = ax.scatter(emp_acc, y, color=color, marker=marker, s=28, label=f"{label} (spread across prompts "
                                                                           f"{np.std(y):.2f})")
        sc.set_gid(f"{key}/value")
        series[f"{key}/value"] = {"x": emp_acc.tolist(), "y": y.tolist(), "label": label}
    ax.set_xlabel(f"empirical accuracy ({data['k']} rollouts)")
    ax.set_ylabel("predicted E[value] at the prompt")
    ax.set_title("(a) predicted vs empirical, per prompt")
    ax.set_xlim(-0.03, 1.03)
    ax.set_ylim(-0.03, 1.03)
    ax.legend(fontsize=7.5, loc="upper left")
    ax.grid(alpha=0.25)
    ax = axes[1]
    tvs = {}
    for i, key in enumerate(("full", "lite")):
        label, color, marker = STYLE[key]
        tv = 0.5 * np.abs(preds[key] - emp).reshape(len(emp), -1).sum(1)
        tvs[key] = tv
        x = np.full(tv.size, float(i)) + np.linspace(-0.15, 0.15, tv.size)
        sc = ax.scatter(x, tv, color=color, marker=marker, s=22)
        sc.set_gid(f"{key}/tv")
        series[f"{key}/tv"] = {"x": x.tolist(), "y": tv.tolist(), "label": label}
        ax.hlines(tv.mean(), i - 0.3, i + 0.3, color=color, lw=2)
    ax.set_xticks([0, 1])
    ax.set_xticklabels([STYLE["full"][0], STYLE["lite"][0]])
    ax.set_ylabel("TV(predicted initial joint, empirical joint)")
    ax.set_title("(b) start-of-generation TV per prompt (bar: mean)")
    ax.grid(alpha=0.25, axis="y")
    ax = axes[2]
    hard = [i for i, p in enumerate(data["problems"]) if p["group"] == "hard"] or [0]
    i = hard[int(np.argmax(tvs["lite"][hard]))]
    L = emp.shape[2]
    edges = data["length_edges"]
    xl = np.arange(L)
    w = 0.27
    for off, key in ((-w, "truth"), (0.0, "full"), (w, "lite")):
        label, color, _ = STYLE[key]
        y = (emp[i] if key == "truth" else preds[key][i]).sum(0)
        bars = ax.bar(xl + off, y, width=w, color=color, label=label, alpha=0.85)
        for b in bars:
            b.set_gid(f"{key}/length_marginal")
        series[f"{key}/length_marginal"] = {"x": (xl + off).tolist(), "y": y.tolist(), "label": label}
    ax.set_xticks(xl)
    ax.set_xticklabels([f"{edges[j]}-" for j in range(L)], rotation=45, fontsize=7)
    ax.set_xlabel("total length bin (tokens, lower edge)")
    ax.set_ylabel("probability")
    ax.set_title(f"(c) length marginal, hard prompt {data['problems'][i]['prompt']}")
    ax.legend(fontsize=7.5)
    bottom = run_details(fig, f"model trained here: full ZIP-RC (alpha_KL {data.get('alpha_kl', 10):g}) and ZIP-RC-Lite on the same "
                              f"{len(emp)} prompts ({sum(p['group'] == 'easy' for p in data['problems'])} easy, "
                              f"{len(hard)} hard); ground truth from {data['k']} rollouts per prompt of the full "
                              f"model (Lite's text policy is the pretrained one; the full model's KL to it is "
                              f"small); seed {data.get('seed', 0)}; `ziprc figures --only {NAME}`")
    fig.tight_layout(rect=(0, bottom, 1, 1))
    data = dict(data, tv_full=tvs["full"].tolist(), tv_lite=tvs["lite"].tolist())
    return write_figure(fig, out_dir, NAME, series, data, params or {}, seed=data.get("seed", 0))


def build(stages, out_dir) -> list:
    return make(collect(stages), out_dir, stages.describe())


if __name__ == "__main__":
    from .run import main_one

    raise SystemExit(main_one(NAME))
