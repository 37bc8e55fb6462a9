"""Figure 1: the reserved-logit grid of the model trained here, the live expected value and
expected remaining length along one correct and one incorrect generation of the same prompt,
and the joint read from the reserved logits at a few positions of each.

The joint is the softmax over a contiguous slice of head rows that have no token (reward-major:
row ``distribution_token_id + r * L + l``), read from the same forward pass as the next token
(:mod:`llm_backend.slice`)."""

from __future__ import annotations

import numpy as np

from simulators.plotstyle import run_details

from .common import pyplot, write_figure

NAME = "fig1_reserved_logits"
COLORS = {"correct": "#009E73", "incorrect": "#D55E00"}


def collect(stages) -> dict:
    ini = stages.initial()
    return {"head": ini["head"], "examples": ini["examples"], "prompt": ini["example_prompt"],
            "answer": ini["example_answer"], "reward_values": ini.get("model_reward_values", ini["reward_values"]),
            "length_edges": ini["length_edges"], "seed": stages.seed,
            "alpha_kl": stages.llm_config().alpha_kl}


def _edge_labels(edges, bins: int) -> list:
    """Bin ``i`` is ``[e_i, e_(i+1))``; lengths beyond the edges clamp into the last bin."""
    e = list(edges)
    return [f"{e[i]}-{e[i + 1] - 1}" for i in range(bins - 1)] + [f"{e[bins - 1]}+"]


def make(data: dict, out_dir, params: dict | None = None) -> list:
    plt = pyplot()
    head = data["head"]
    R, L = head["reward_states"], head["length_bins"]
    ex = data["examples"]
    labels = [k for k in ("correct", "incorrect") if k in ex]
    fig = plt.figure(figsize=(12, 8.2))
    gs = fig.add_gridspec(3, 4, height_ratios=[1.1, 1, 1])
    series = {}
    # (a) the head: which rows are text, which are the slice
    ax = fig.add_subplot(gs[0, :2])
    rows = np.zeros(head["head_rows"])
    rows[:head["text_vocab"]] = 1
    d0 = head["distribution_token_id"]
    rows[d0:d0 + R * L] = 2
    im = ax.imshow(rows[None, :], aspect="auto", cmap=plt.matplotlib.colors.ListedColormap(
        ["#DDDDDD", "#56B4E9", "#D55E00"]), vmin=0, vmax=2)
    im.set_gid("head_rows")
    series["head_rows"] = {"z": rows[None, :].tolist()}
    ax.set_yticks([])
    ax.set_xlabel("row of the output head (logit index)")
    ax.set_title(f"(a) output head: {head['text_vocab']} text tokens (blue), reserved slice of {R} x {L} = "
                 f"{R * L} rows from {d0} (red), unused (grey)", fontsize=9)
    # (b) the slice as the reward x length grid
    axg = fig.add_subplot(gs[0, 2:])
    grid_ids = d0 + np.arange(R * L).reshape(R, L)
    axg.imshow(np.zeros((R, L)), cmap="Greys", vmin=0, vmax=1)
    for r in range(R):
        for c in range(L):
            axg.text(c, r, str(grid_ids[r, c]), ha="center", va="center", fontsize=8)
    axg.set_xticks(range(L))
    axg.set_xticklabels(_edge_labels(data["length_edges"], L), rotation=35, fontsize=7)
    axg.set_yticks(range(R))
    axg.set_yticklabels([f"reward {v:g}" for v in data["reward_values"]], fontsize=8)
    axg.set_xlabel("remaining-length bin (tokens)")
    axg.set_title("(b) slice rows as the joint's grid (reward-major)", fontsize=9)
    # (c) live E[value] and (d) live E[remaining]
    axv = fig.add_subplot(gs[1, :2])
    axr = fig.add_subplot(gs[1, 2:])
    for k in labels:
        e = ex[k]
        t = np.arange(len(e["expected_value"]))
        (lv,) = axv.plot(t, e["expected_value"], color=COLORS[k], lw=1.8,
                         label=f"{k} generation ({e['n_tokens']} tokens)")
        lv.set_gid(f"{k}/expected_value")
        series[f"{k}/expected_value"] = {"x": t.tolist(), "y": e["expected_value"], "label": k}
        (lr,) = axr.plot(t, e["expected_remaining"], color=COLORS[k], lw=1.8, label=f"{k}: predicted")
        lr.set_gid(f"{k}/expected_remaining")
        series[f"{k}/expected_remaining"] = {"x": t.tolist(), "y": e["expected_remaining"], "label": k}
        true_rem = (e["n_tokens"] - t).astype(float)
        (lt,) = axr.plot(t, true_rem, color=COLORS[k], lw=1, ls=":", label=f"{k}: true remaining")
        lt.set_gid(f"{k}/true_remaining")
        series[f"{k}/true_remaining"] = {"x": t.tolist(), "y": true_rem.tolist(), "label": k}
    axv.set_ylim(-0.03, 1.03)
    axv.set_xlabel("tokens generated")
    axv.set_ylabel("predicted E[value] = P(correct)")
    axv.set_title(f"(c) live expected value, prompt {data['prompt']} (answer {data['answer']})", fontsize=9)
    axv.legend(fontsize=7.5)
    axv.grid(alpha=0.25)
    axr.set_xlabel("tokens generated")
    axr.set_ylabel("remaining tokens")
    axr.set_title("(d) live expected remaining length (bin representatives)", fontsize=9)
    axr.legend(fontsize=7.5)
    axr.grid(alpha=0.25)
    # (e) joints at a few positions
    for i, k in enumerate(labels):
        e = ex[k]
        j = np.asarray(e["joints"])
        n = j.shape[0]
        pos = sorted({0, n // 2, n - 1})[:2] if n > 1 else [0]
        for col, tpos in enumerate(pos):
            a = fig.add_subplot(gs[2, 2 * i + col])
            z = j[tpos]
            im = a.imshow(z, cmap="viridis", vmin=0, vmax=max(1e-9, z.max()), aspect="auto", origin="lower")
            im.set_gid(f"{k}/joint@{tpos}")
            series[f"{k}/joint@{tpos}"] = {"z": z.tolist()}
            a.set_yticks(range(R))
            a.set_yticklabels([f"{v:g}" for v in data["reward_values"]], fontsize=7)
            a.set_xticks(range(L))
            a.set_xticklabels(_edge_labels(data["length_edges"], L), rotation=45, fontsize=6)
            a.set_title(f"(e) {k}, after {tpos} tokens", fontsize=8.5, color=COLORS[k])
            if col == 0:
                a.set_ylabel("reward")
            a.set_xlabel("remaining tokens", fontsize=7)
            fig.colorbar(im, ax=a, fraction=0.046, pad=0.02).ax.tick_params(labelsize=6)
    bottom = run_details(fig, f"model trained here (full ZIP-RC, alpha_KL {data.get('alpha_kl', 10):g}), temperature 1, seed {data.get('seed', 0)}; "
                              "joints read from the reserved logits of the same forward pass that samples "
                              f"the token; `ziprc figures --only {NAME}`")
    fig.tight_layout(rect=(0, bottom, 1, 1))
    return write_figure(fig, out_dir, NAME, series, data, params or {}, seed=data.get("seed", 0))


def build(stages, out_dir) -> list:
    return make(collect(stages), out_dir, stages.describe())


if __name__ == "__main__":
    from .run import main_one

    raise SystemExit(main_one(NAME))
