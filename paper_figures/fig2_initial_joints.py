"""Figure 2: the joint the model trained here predicts at the prompt (before any token) beside
the ground-truth joint from K rollouts of the same prompt, for easy and hard questions
(reward x length bin; the paper used 10 AMC23 and 10 AIME24 questions and 256 rollouts)."""

from __future__ import annotations

import numpy as np

from simulators.plotstyle import run_details

from .common import pyplot, write_figure

NAME = "fig2_initial_joints"


def collect(stages) -> dict:
    ini = stages.initial()
    return {k: ini[k] for k in ("problems", "k", "empirical", "predicted", "reward_values", "length_edges")} | {
        "seed": stages.seed}


def make(data: dict, out_dir, params: dict | None = None) -> list:
    plt = pyplot()
    probs = data["problems"]
    emp = np.asarray(data["empirical"])
    pred = np.asarray(data["predicted"])
    n, R, L = pred.shape
    groups = [("easy", [i for i, p in enumerate(probs) if p["group"] == "easy"]),
              ("hard", [i for i, p in enumerate(probs) if p["group"] == "hard"])]
    per = max(len(ix) for _, ix in groups)
    # each question: a 2 x L strip (top predicted, bottom ground truth) of the joint; R rows each
    fig, axes = plt.subplots(2 * len(groups), per, figsize=(1.3 * per + 1.6, 7.4), squeeze=False)
    series = {}
    vmax = float(max(emp.max(), pred.max()))
    for g, (name, ix) in enumerate(groups):
        for c in range(per):
            for r, (src, arr) in enumerate((("predicted", pred), ("truth", emp))):
                ax = axes[2 * g + r, c]
                ax.set_xticks([])
                ax.set_yticks([])
                if c >= len(ix):
                    ax.axis("off")
                    continue
                i = ix[c]
                im = ax.imshow(arr[i], cmap="viridis", vmin=0, vmax=vmax, aspect="auto", origin="lower")
                gid = f"{probs[i]['qid']}/{src}"
                im.set_gid(gid)
                series[gid] = {"z": arr[i].tolist()}
                if r == 0:
                    tv = 0.5 * np.abs(pred[i] - emp[i]).sum()
                    ax.set_title(f"{probs[i]['prompt']}\n{probs[i]['steps']} steps, TV {tv:.2f}", fontsize=6.5)
                if c == 0:
                    which = "predicted" if r == 0 else f"truth (K={data['k']})"
                    ax.set_ylabel(f"{name}\n{which}", fontsize=7.5)
    fig.subplots_adjust(left=0.07, right=0.9, top=0.86, bottom=0.09, hspace=0.75, wspace=0.12)
    cax = fig.add_axes([0.92, 0.15, 0.012, 0.65])
    fig.colorbar(im, cax=cax, label="probability")
    edges = data["length_edges"]
    fig.suptitle(f"Initial joints (rows: reward {', '.join(f'{v:g}' for v in data['reward_values'])} bottom to top; "
                 f"columns: total-length bins from {edges[0]} to {edges[-1]}+ tokens): predicted at the prompt "
                 f"vs {data['k']} rollouts each", fontsize=9)
    tv = [0.5 * np.abs(pred[i] - emp[i]).sum() for i in range(n)]
    run_details(fig, f"model trained here (full ZIP-RC), {len(groups[0][1])} easy and {len(groups[1][1])} hard "
                     f"prompts of the iterated-map task, ground truth from {data['k']} rollouts per prompt at "
                     f"temperature 1, seed {data.get('seed', 0)}; mean TV {np.mean(tv):.3f}; "
                     f"`ziprc figures --only {NAME}`")
    data = dict(data, tv=tv)
    return write_figure(fig, out_dir, NAME, series, data, params or {}, seed=data.get("seed", 0))


def build(stages, out_dir) -> list:
    return make(collect(stages), out_dir, stages.describe())


if __name__ == "__main__":
    from .run import main_one

    raise SystemExit(main_one(NAME))
