"""Table 1: prediction quality, the paper's models beside the model trained here (full ZIP-RC
and ZIP-RC-Lite): total variation between the predicted and the empirical joint at the start
of generation, and F1 / accuracy / recall on incorrect answers at the end (threshold 0.5),
with 95% CIs over questions (:func:`llm_backend.evaluate.bootstrap_table1`)."""

from __future__ import annotations

from simulators.paper_numbers import TABLE1, TABLE1_LITE_START_TV

from .common import num_ci, write_table

NAME = "table1_prediction_quality"
COLS = (("start_tv", "start TV (lower is better)"), ("end_f1", "end F1"), ("end_accuracy", "end accuracy"),
        ("end_recall_incorrect", "end recall on incorrect"))


def collect(stages) -> dict:
    from llm_backend.evaluate import bootstrap_table1

    out = {}
    for name in ("ziprc", "ziprc_lite"):
        ev = stages.llm_json(f"eval_{name}.json")
        m = ev["metrics"]
        out[name] = {"metrics": {k: v for k, v in m.items()
                                 if k not in ("per_question", "per_rollout", "reliability_end",
                                              "reliability_start")},
                     "ci": bootstrap_table1(m, seed=stages.seed)}
    return {"ours": out, "seed": stages.seed, "alpha_kl": stages.llm_config().alpha_kl,
            "reward_states": int(stages.llm_json("ziprc/ziprc.json")["reward_states"])}


def make(data: dict, out_dir, params: dict | None = None) -> list:
    rows = []
    L = ["# Table 1: prediction quality", "",
         "Start TV: total variation between the joint predicted at the prompt and the empirical "
         "joint of K rollouts (correctness x length bin); end: the joint just before the end token, "
         "a sample predicted correct iff E[value] >= 0.5, F1 with 'correct' as the positive class. "
         "Ours: 95% bootstrap CIs over questions. The TV noise floor is what a perfect predictor "
         "would score with K rollouts per prompt; the pooled baseline predicts the same joint for "
         "every prompt.", "",
         "| model | " + " | ".join(c for _, c in COLS) + " | K rollouts / prompt | prompts |",
         "|---|" + "---|" * (len(COLS) + 2)]
    for model, vals in TABLE1.items():
        L.append(f"| paper: {model} | " + " | ".join(f"{vals[k]:.2f}" for k, _ in COLS) + " | 64 | |")
        rows.append({"source": "paper", "model": model, **vals})
    L.append(f"| paper: ZIP-RC-Lite (Qwen3-1.7B) | about {TABLE1_LITE_START_TV:.2f} | | | | 64 | |")
    rows.append({"source": "paper", "model": "ZIP-RC-Lite", "start_tv": TABLE1_LITE_START_TV})
    names = {"ziprc": f"ours: full ZIP-RC (alpha_KL {data.get('alpha_kl', 10):g})", "ziprc_lite": "ours: ZIP-RC-Lite"}
    for name, d in data["ours"].items():
        m, ci = d["metrics"], d["ci"]
        cells = [num_ci(m[k], ci[k]) for k, _ in COLS]
        L.append(f"| {names[name]} | " + " | ".join(cells) +
                 f" | {m['rollouts_per_question']} | {m['n_questions']} |")
        rows.append({"source": "ours", "model": name, **{k: m[k] for k, _ in COLS},
                     **{f"{k}_ci": ci[k] for k, _ in COLS},
                     "start_tv_noise_floor": m["start_tv_noise_floor"],
                     "start_tv_pooled_baseline": m["start_tv_pooled_baseline"], "end_auroc": m["end_auroc"],
                     "ece_end": m["ece_end"], "ece_start": m["ece_start"],
                     "length_coverage_80": m["length_coverage_80"],
                     "rollouts_per_question": m["rollouts_per_question"], "n_questions": m["n_questions"]})
    L += ["", "| ours | start TV noise floor | start TV pooled baseline | end AUROC | ECE end | ECE start | "
          "remaining-length 80% coverage |", "|---|---|---|---|---|---|---|"]
    for name, d in data["ours"].items():
        m = d["metrics"]
        L.append(f"| {names[name]} | {m['start_tv_noise_floor']:.2f} | {m['start_tv_pooled_baseline']:.2f} | "
                 f"{m['end_auroc']:.2f} | {m['ece_end']:.3f} | {m['ece_start']:.3f} | {m['length_coverage_80']:.2f} |")
    L += ["", "The paper's TV uses 64 rollouts per prompt and 8 length bins over 0-32k tokens; ours uses "
          f"K rollouts of a {data.get('reward_states', 2)}-state head (a value head's joint read as a "
          "(correct, length) joint, a state of value v counting v right) over 8 bins of 0-192 tokens, "
          "so the noise floors differ: compare each TV with its own floor.", "", f"Made by `ziprc figures --only {NAME}`."]
    return write_table(out_dir, NAME, "\n".join(L), rows, data, params or {}, seed=data.get("seed", 0))


def build(stages, out_dir) -> list:
    return make(collect(stages), out_dir, stages.describe())


if __name__ == "__main__":
    from .run import main_one

    raise SystemExit(main_one(NAME))
