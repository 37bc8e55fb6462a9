"""Prediction quality of a ZIP-RC model (the paper's Table 1 analogue) and calibration.

* start of generation: total variation between the predicted joint at the prompt and the
  empirical joint of ``K`` rollouts of that prompt (correctness x length bin of the total
  length); averaged over prompts. With finite ``K`` even a perfect predictor has a positive
  expected TV; :func:`tv_noise_floor` estimates it by resampling from the prediction itself.
* end of generation: the joint read just before the end token; the sample is predicted
  correct when ``E[value] >= 0.5``; F1 (positive class: correct), accuracy, and recall on
  incorrect answers (the fraction of wrong answers flagged as wrong).
  ``within_question_auroc``: the AUROC of the end ``E[value]`` over pairs of right and wrong
  samples of the same question (pooled over questions having both), which measures whether
  the model notices its own errors rather than only which questions are hard.
* calibration of ``E[value]``: reliability diagram and ECE (10 equal-width bins), at the end
  and at the start of generation.
* remaining length: at every position, whether the true remaining-length bin lies in the
  central 80% interval of the predicted length marginal (bins where the CDF crosses 0.1 and
  0.9), and the mean absolute error of the expected remaining length (bin midpoints).
"""

from __future__ import annotations

import numpy as np

from metamdp.grids import LengthGrid, RewardGrid
from simulators.results import N_BOOT, bootstrap_indices, interval, paired_ci

from .config import GridSpec
from .rollouts import rollouts
from .train import length_grid


def ece(conf: np.ndarray, outcome: np.ndarray, bins: int = 10):
    """Expected calibration error and the reliability table ``(mean conf, freq, count)``."""
    conf = np.asarray(conf, dtype=np.float64)
    outcome = np.asarray(outcome, dtype=np.float64)
    idx = np.minimum((conf * bins).astype(int), bins - 1)
    table, e = [], 0.0
    for b in range(bins):
        sel = idx == b
        n = int(sel.sum())
        if n == 0:
            table.append((float("nan"), float("nan"), 0))
            continue
        mc, fr = float(conf[sel].mean()), float(outcome[sel].mean())
        e += n / conf.size * abs(mc - fr)
        table.append((mc, fr, n))
    return float(e), table


def auroc(score: np.ndarray, label: np.ndarray) -> float:
    from scipy.stats import rankdata

    label = np.asarray(label, dtype=bool)
    n1, n0 = int(label.sum()), int((~label).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = rankdata(score)
    return float((r[label].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def within_question_auroc(score, label, group) -> tuple[float, int]:
    """AUROC restricted to pairs of samples of the *same* question.

    Over every question that has both right and wrong samples, every (right, wrong) pair
    counts once (ties half), pooled across questions: the probability that a right sample of a
    question scores above a wrong sample of the same question. Unlike the pooled AUROC, a
    predictor that only knows which questions are hard scores 0.5. Returns
    ``(auroc, questions used)``; ``nan`` when no question has both kinds.
    """
    score = np.asarray(score, dtype=np.float64)
    label = np.asarray(label, dtype=bool)
    group = np.asarray(group)
    wins, pairs, used = 0.0, 0, 0
    for g in np.unique(group):
        sel = group == g
        pos, neg = score[sel & label], score[sel & ~label]
        if pos.size == 0 or neg.size == 0:
            continue
        d = pos[:, None] - neg[None, :]
        wins += float((d > 0).sum() + 0.5 * (d == 0).sum())
        pairs += d.size
        used += 1
    return (wins / pairs if pairs else float("nan")), used


def paired_accuracy_change(before: list[dict], after: list[dict], n_boot: int = N_BOOT, seed: int = 0) -> dict:
    """The policy's accuracy before and after ZIP-RC training on the same questions, and the
    difference paired by question (mean over questions of after - before accuracy) with a
    bootstrap 95% CI over questions (:func:`simulators.results.paired_ci`; None when every
    resample gives the same difference). ``before``/``after``: rollout records with ``qid``
    and ``correct``; only questions present in both count."""
    def by_q(recs):
        d: dict = {}
        for r in recs:
            d.setdefault(r["qid"], []).append(float(r["correct"]))
        return d

    b, a = by_q(before), by_q(after)
    qs = [q for q in b if q in a]
    if not qs:
        raise ValueError("no question has rollouts both before and after training")
    xb = np.array([np.mean(b[q]) for q in qs])
    xa = np.array([np.mean(a[q]) for q in qs])
    boot = bootstrap_indices(np.zeros(len(qs), dtype=np.int64), n_boot, seed)
    return {"before": float(xb.mean()), "after": float(xa.mean()), "difference": float((xa - xb).mean()),
            "ci": paired_ci(xa, xb, boot), "questions": len(qs),
            "rollouts_per_question": [int(np.median([len(b[q]) for q in qs])), int(np.median([len(a[q]) for q in qs]))]}


def empirical_joint(recs: list[dict], rewards: RewardGrid, lengths: LengthGrid) -> np.ndarray:
    q = np.zeros((rewards.size, lengths.size))
    for r in recs:
        q[rewards.nearest_index(float(r["correct"])), int(lengths.tokens_to_bin(r["n_tokens"]))] += 1
    return q / max(1, len(recs))


def correctness_joint(p: np.ndarray, reward_values) -> np.ndarray:
    """A predicted ``(R, L)`` joint as a (correct, length bin) joint, ``(2, L)``.

    A reward state of value ``v`` is read as the prediction "right with probability ``v``"
    (what a denoised value estimates), so it contributes ``v`` of its mass to row 1 and
    ``1 - v`` to row 0. For a 2-state head with values ``(0, 1)`` this is the identity, so the
    start TV of a value head and of a correctness head are measured against the same
    empirical (correctness x length) joint and are comparable.
    """
    v = np.asarray(reward_values, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    return np.stack([(1.0 - v) @ p, v @ p])


def tv_noise_floor(p: np.ndarray, k: int, rng: np.random.Generator, reps: int = 200) -> float:
    """Expected TV between ``p`` and the empirical joint of ``k`` draws from ``p``."""
    flat = p.ravel() / p.sum()
    draws = rng.multinomial(k, flat, size=reps) / k
    return float(0.5 * np.abs(draws - flat[None]).sum(1).mean())


def prediction_metrics(recs: list[dict], reward_values, lengths: LengthGrid, seed: int = 0) -> dict:
    """All metrics from rollouts that carry their per-token joints (``keep_joints=True``)."""
    rewards = RewardGrid.from_values(reward_values)
    v = rewards.values
    binary = RewardGrid.from_values([0.0, 1.0])    # the start TV compares (correct, length) joints
    by_q: dict = {}
    for r in recs:
        by_q.setdefault(r["qid"], []).append(r)
    rng = np.random.default_rng(seed)
    tvs, floors, tv_pooled, tv_rmarg, tv_lmarg = [], [], [], [], []
    pooled = empirical_joint(recs, binary, lengths)
    per_q = []
    for qid, rs in by_q.items():
        p = correctness_joint(rs[0]["joints"][0], v)
        q = empirical_joint(rs, binary, lengths)
        tv = 0.5 * np.abs(p - q).sum()
        tvs.append(tv)
        floors.append(tv_noise_floor(p, len(rs), rng))
        tv_pooled.append(0.5 * np.abs(pooled - q).sum())
        tv_rmarg.append(0.5 * np.abs(p.sum(1) - q.sum(1)).sum())
        tv_lmarg.append(0.5 * np.abs(p.sum(0) - q.sum(0)).sum())
        per_q.append({"qid": qid, "steps": rs[0]["steps"], "tv": float(tv),
                      "pred_value": float(p[1].sum()), "emp_accuracy": float(np.mean([r["correct"] for r in rs])),
                      "pred_joint": p.tolist(), "emp_joint": q.tolist()})
    correct = np.array([r["correct"] for r in recs], dtype=bool)
    end_v = np.array([float(np.asarray(r["joints"][-1]).sum(1) @ v) for r in recs])
    start_v = np.array([float(np.asarray(r["joints"][0]).sum(1) @ v) for r in recs])
    pred = end_v >= 0.5
    tp = int((pred & correct).sum())
    fp = int((pred & ~correct).sum())
    fn = int((~pred & correct).sum())
    tn = int((~pred & ~correct).sum())
    f1 = 2 * tp / max(1, 2 * tp + fp + fn)
    ece_end, table_end = ece(end_v, correct)
    wq_auroc, wq_used = within_question_auroc(end_v, correct, [r["qid"] for r in recs])
    ece_start, table_start = ece(start_v, correct)
    # remaining length
    rep_tokens = lengths.representative * lengths.delta
    cover, width, abs_err = [], [], []
    for r in recs:
        j = np.asarray(r["joints"], dtype=np.float64)
        n = int(r["n_tokens"])
        t = np.arange(j.shape[0])
        true_bin = lengths.tokens_to_bin(n - t)
        lm = j.sum(1)
        cdf = np.cumsum(lm, axis=1)
        lo = (cdf < 0.1).sum(1)
        hi = np.minimum((cdf < 0.9).sum(1), lengths.size - 1)
        cover.append(((true_bin >= lo) & (true_bin <= hi)).astype(float))
        width.append((hi - lo + 1).astype(float))
        abs_err.append(np.abs(lm @ rep_tokens - (n - t)))
    cover = np.concatenate(cover)
    return {
        "n_questions": len(by_q), "rollouts_per_question": int(np.median([len(x) for x in by_q.values()])),
        "n_rollouts": len(recs), "accuracy_of_rollouts": float(correct.mean()),
        "start_tv": float(np.mean(tvs)), "start_tv_noise_floor": float(np.mean(floors)),
        "start_tv_pooled_baseline": float(np.mean(tv_pooled)),
        "start_tv_reward_marginal": float(np.mean(tv_rmarg)),
        "start_tv_length_marginal": float(np.mean(tv_lmarg)),
        "end_f1": float(f1), "end_accuracy": float((tp + tn) / len(recs)),
        "end_recall_incorrect": float(tn / max(1, tn + fp)), "end_auroc": auroc(end_v, correct),
        "start_auroc": auroc(start_v, correct),
        "within_question_auroc": wq_auroc, "within_question_auroc_questions": wq_used,
        "ece_end": ece_end, "ece_start": ece_start,
        "reliability_end": table_end, "reliability_start": table_start,
        "length_coverage_80": float(cover.mean()), "length_interval_width_bins": float(np.concatenate(width).mean()),
        "remaining_mae_tokens": float(np.concatenate(abs_err).mean()),
        "per_question": per_q,
        # per rollout, for confidence intervals over questions (bootstrap_table1)
        "per_rollout": {"qid": [r["qid"] for r in recs], "correct": correct.tolist(),
                        "end_value": end_v.tolist()},
    }


def end_metrics(correct: np.ndarray, end_value: np.ndarray, threshold: float = 0.5) -> dict:
    """F1 (positive class: correct), accuracy and recall on incorrect of ``end_value >= threshold``."""
    correct = np.asarray(correct, dtype=bool)
    pred = np.asarray(end_value) >= threshold
    tp = int((pred & correct).sum())
    fp = int((pred & ~correct).sum())
    fn = int((~pred & correct).sum())
    tn = int((~pred & ~correct).sum())
    return {"end_f1": 2 * tp / max(1, 2 * tp + fp + fn), "end_accuracy": (tp + tn) / max(1, correct.size),
            "end_recall_incorrect": tn / max(1, tn + fp)}


def bootstrap_table1(metrics: dict, n_boot: int = N_BOOT, seed: int = 0) -> dict:
    """95% percentile intervals of the Table 1 columns, resampling questions with replacement
    (:func:`simulators.results.bootstrap_indices`, :func:`simulators.results.interval`; None
    where every resample agrees).

    Reads the ``per_question`` TVs and the ``per_rollout`` arrays of
    :func:`prediction_metrics`; a question's rollouts move together (they share a prompt).
    """
    pq = metrics["per_question"]
    pr = metrics["per_rollout"]
    qids = [q["qid"] for q in pq]
    tv = np.array([q["tv"] for q in pq])
    index = {q: i for i, q in enumerate(qids)}
    owner = np.array([index[q] for q in pr["qid"]])
    members = [np.flatnonzero(owner == i) for i in range(len(qids))]
    correct = np.asarray(pr["correct"], dtype=bool)
    endv = np.asarray(pr["end_value"], dtype=float)
    draws = {"start_tv": [], "end_f1": [], "end_accuracy": [], "end_recall_incorrect": []}
    for pick in bootstrap_indices(np.zeros(len(qids), dtype=np.int64), n_boot, seed):
        rows = np.concatenate([members[i] for i in pick])
        draws["start_tv"].append(tv[pick].mean())
        for k, v in end_metrics(correct[rows], endv[rows]).items():
            draws[k].append(v)
    return {k: interval(v) for k, v in draws.items()}


def live_predictions(joints, reward_values, lengths: LengthGrid) -> dict:
    """E[value] and E[remaining tokens] (bin representatives) of each joint of a generation."""
    j = np.asarray(joints, dtype=np.float64)
    v = np.asarray(reward_values, dtype=np.float64)
    rep = lengths.representative * lengths.delta
    return {"expected_value": (j.sum(2) @ v).tolist(), "expected_remaining": (j.sum(1) @ rep).tolist()}


def initial_joints(model, tok, reserved, problems, device="cpu") -> np.ndarray:
    """The joint each prompt's own forward pass predicts before any response token, ``(n, R, L)``."""
    import torch

    from .rollouts import prompt_ids

    out = []
    model.eval()
    with torch.no_grad():
        for p in problems:
            ids = torch.tensor([prompt_ids(tok, p)], dtype=torch.long, device=device)
            logits = model(input_ids=ids).logits[0, -1]
            out.append(reserved.joints(logits).cpu().numpy().astype(np.float64))
    return np.array(out)


def evaluate_model(model, tok, reserved, grid: GridSpec, problems, k: int, max_new_tokens: int,
                   seed: int = 0, batch_size: int = 64, progress: bool = True):
    """Rollouts with joints, then :func:`prediction_metrics`. Returns ``(metrics, recs)``."""
    recs = rollouts(model, tok, reserved, problems, k, max_new_tokens, seed=seed, batch_size=batch_size,
                    keep_joints=True, progress=progress, desc="eval rollouts")
    rv = RewardGrid.official(reserved.reward_states).values
    m = prediction_metrics(recs, rv, length_grid(grid), seed=seed)
    if reserved.reward_states != 2:
        m["note"] = ("value head: its start joint is read as a (correct, length) joint, a state of value v "
                     "counting v right and 1-v wrong, before the TV")
    return m, recs


def reliability_plot(metrics_by_name: dict, path) -> None:
    """Reliability diagram (end and start of generation) of one or more models."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    for ax, key, title in ((axes[0], "reliability_end", "end of generation"),
                           (axes[1], "reliability_start", "start of generation")):
        ax.plot([0, 1], [0, 1], "k:", lw=1)
        for name, m in metrics_by_name.items():
            t = np.array([(a, b) for a, b, n in m[key] if n > 0])
            if t.size:
                ece_key = "ece_end" if key == "reliability_end" else "ece_start"
                ax.plot(t[:, 0], t[:, 1], "o-", label=f"{name} (ECE {m[ece_key]:.3f})")
        ax.set_xlabel("predicted E[value]")
        ax.set_ylabel("empirical accuracy")
        ax.set_title(title)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
