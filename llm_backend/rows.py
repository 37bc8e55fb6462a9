"""The online sampler's results as result rows (``docs/api.md``, "Result rows"), and the
matched-cost comparison with majority voting. Torch-free: every number comes from
:mod:`simulators.results` (generation cost, bootstrap, matched-cost rule, row schema).

A row here is one method over the sample questions (no knob sweep): its ``label`` names the
method (``majority N=3``, ``ZIP-RC beta=0.01 (vote)``, ...), and it keeps the per-question
correctness and generation cost (``per_question``, ``per_question_cost``) for the paired
comparison.
"""

from __future__ import annotations

import numpy as np

from simulators.results import (N_BOOT, bootstrap_indices, frontier_point, make_row,
                                normalised_costs, paired_ci)


class Bootstraps:
    """One resampling of the first ``n`` questions per ``n``, shared by every row on them (so
    a difference of two rows is paired). Sample questions form one stratum."""

    def __init__(self, seed: int = 0, n_boot: int = N_BOOT):
        self.seed, self.n_boot, self._by_n = int(seed), int(n_boot), {}

    def __call__(self, n: int) -> np.ndarray:
        if n not in self._by_n:
            self._by_n[n] = bootstrap_indices(np.zeros(int(n), dtype=np.int64), self.n_boot, self.seed)
        return self._by_n[n]


def question_lbar(mv_results) -> dict:
    """``Lbar`` per question: the mean length (tokens) of its independent majority-vote samples
    (at least 1 token, so that an empty sample cannot divide by zero)."""
    return {r.qid: max(1.0, float(np.mean([s["total_tokens"] for s in r.samples]))) for r in mv_results}


def result_row(label: str, policy: str, correct, tokens, serial, qids, lbar: dict, alpha: float,
               boots: Bootstraps, *, variant: str = "", knob_name: str | None = None, knob=None,
               samples=None, pruned_tokens=None) -> dict:
    """One method's row from per-question outcomes: ``correct``, ``tokens`` generated (pruned
    included), ``serial`` tokens and ``pruned_tokens``, normalised by ``lbar[qid]``."""
    lb = np.array([lbar[q] for q in qids], dtype=np.float64)
    compute, latency, gen = normalised_costs(tokens, serial, lb, alpha)
    pruned = None if pruned_tokens is None else np.asarray(pruned_tokens, dtype=np.float64) / lb
    correct = np.asarray(correct, dtype=np.float64)
    return make_row(policy, correct, compute, latency, alpha, boots(len(correct)), variant=variant,
                    knob_name=knob_name, knob=knob, samples=samples, pruned=pruned, label=label,
                    questions=int(len(correct)), per_question=[bool(c) for c in correct],
                    per_question_cost=[float(g) for g in gen])


def majority_rows(mv_results, truth: dict, lbar: dict, alpha: float, cap: int, boots: Bootstraps,
                  vote, same=None) -> list:
    """Majority voting with ``N = 1..cap``: the vote of each question's first ``N`` independent
    samples. ``vote(samples, n, answer, same)`` returns ``(correct, tokens, serial)``
    (:func:`llm_backend.sampler.majority_from_samples`)."""
    rows = []
    for n in range(1, cap + 1):
        out = [vote(r.samples, n, truth[r.qid], same) for r in mv_results]
        rows.append(result_row(f"majority N={n}", "mv", [o[0] for o in out], [o[1] for o in out],
                               [o[2] for o in out], [r.qid for r in mv_results], lbar, alpha, boots,
                               knob_name="n", knob=n, samples=[n] * len(mv_results)))
    return rows


#: policies that run ``n = cap`` samples to completion and differ from majority voting only in
#: how the answer is selected: evaluated on the very samples of the ``mv`` run
SAME_SAMPLES_AS_MV = {"bon": "value", "wbon": "weighted", "pass_at_n": "oracle"}


def sampled_baselines(names) -> list:
    """The policies among ``names`` that are sampled on their own, under their default knobs:
    neither majority voting and ZIP-RC (run by the callers, ZIP-RC once per beta) nor the
    selection-only ones (scored on majority voting's samples)."""
    return [n for n in names if n not in ("mv", "ziprc") and n not in SAME_SAMPLES_AS_MV]


def finished_views(result) -> list:
    """The finished samples of one question's result as views (``sid``, ``answer``, ``value``,
    ``correct``, ``status``) that :func:`metamdp.policies.select` reads."""
    from types import SimpleNamespace

    return [SimpleNamespace(sid=x["sample_id"], answer=x["answer"], value=x["value"], correct=x["correct"],
                            status=x["status"]) for x in result.samples if x["status"] == "finished"]


def selection_rows(mv_results, truth: dict, names, cap: int, lbar: dict, alpha: float, boots: Bootstraps,
                   same=None) -> list:
    """The rows of the selection-only policies among ``names`` (:data:`SAME_SAMPLES_AS_MV`):
    each picks one answer from the ``cap`` finished majority-vote samples of each question, so
    its cost is majority voting's. ``same(answer, reference)`` decides correctness (default:
    equality)."""
    from metamdp.policies import select

    same = same or (lambda a, b: a == b)
    rows = []
    for name in (n for n in names if n in SAME_SAMPLES_AS_MV):
        acc = []
        for r in mv_results:
            ch = select(SAME_SAMPLES_AS_MV[name], finished_views(r))
            acc.append(ch is not None and same(ch.answer, truth[r.qid]))
        rows.append(run_row(f"{name} N={cap}", name, mv_results, lbar, alpha, boots, correct=acc,
                            knob_name="n", knob=cap))
    return rows


#: the knobs a row label names, by policy (others: ``n``)
LABEL_KNOBS = {"length_prune": ("n", "budget_tokens"), "reward_prune": ("n", "threshold"), "ac": ("threshold",),
               "esc": ("window",), "deepconf": ("n", "warmup"), "short_m_at_k": ("n", "m"),
               "spec_rejection": ("n", "keep_frac"), "pandora": ("beta",), "half_finished": ("n",)}


def row_label(pol) -> str:
    """A row label: the policy's name and its main knobs."""
    d = pol.describe()
    knobs = ",".join(f"{k}={d[k]:g}" for k in LABEL_KNOBS.get(pol.name, ("n",)) if k in d)
    return f"{pol.name} {knobs}" if knobs else pol.name


def run_row(label: str, policy: str, results, lbar: dict, alpha: float, boots: Bootstraps, *,
            correct=None, variant: str = "", knob_name: str | None = None, knob=None) -> dict:
    """The row of one online run (a list of the sampler's per-question results); ``correct``
    overrides the results' own (e.g. another answer rule on the same samples)."""
    return result_row(label, policy, [r.correct for r in results] if correct is None else correct,
                      [r.compute_tokens for r in results], [r.serial_tokens for r in results],
                      [r.qid for r in results], lbar, alpha, boots, variant=variant,
                      knob_name=knob_name, knob=knob, samples=[r.n_started for r in results],
                      pruned_tokens=[r.pruned_tokens for r in results])


def matched_rows(rows: list, boots: Bootstraps) -> list:
    """Each row other than majority voting's against majority voting at the same cost.

    Majority voting at a cost is the matched-cost rule of
    :func:`simulators.results.frontier_point`: the mixture of the two ``N`` of its frontier
    that bracket the cost, per question, so the difference is paired and its CI exact. A row
    cheaper than every ``N`` is compared with ``N = 1`` and one dearer than the frontier's end
    with its most accurate ``N`` (``extrapolated``). A row run on the first ``n`` questions only
    (the online baselines, ``baseline_questions``) is compared with majority voting on those
    same ``n`` questions.
    """
    mv_all = [r for r in rows if r["policy"] == "mv"]
    out = []
    for r in rows:
        if r["policy"] == "mv":
            continue
        n = len(r["per_question"])
        if any(len(m["per_question"]) < n for m in mv_all):
            raise ValueError(f"row {r['label']!r} has {n} questions, more than majority voting's")
        members = [(np.asarray(m["per_question"][:n], dtype=np.float64),
                    {"gen_cost": float(np.mean(m["per_question_cost"][:n])),
                     "accuracy": float(np.mean(m["per_question"][:n])),
                     "knob_name": m["knob_name"], "knob": m["knob"]}) for m in mv_all]
        cheapest = min(row["gen_cost"] for _, row in members)
        cost = r["gen_cost"]
        mv = frontier_point(members, max(cost, cheapest))
        mine = np.asarray(r["per_question"], dtype=np.float64)
        out.append({"label": r["label"], "policy": r["policy"], "variant": r["variant"],
                    "gen_cost": cost, "accuracy": r["accuracy"], "questions": n,
                    "mv_accuracy": float(mv["correct"].mean()), "mv_knob": mv["knob"],
                    "delta_vs_mv": float((mine - mv["correct"]).mean()),
                    "delta_vs_mv_ci": paired_ci(mine, mv["correct"], boots(n)),
                    "extrapolated": bool(cost < cheapest or mv["status"] == "frontier_end")})
    return out


def _ci(c, fmt: str) -> str:
    return "[n/a]" if c is None else f"[{c[0]:{fmt}},{c[1]:{fmt}}]"


def format_rows(rows) -> str:
    """The sampling table: accuracy with its bootstrap CI, generation cost with its CI,
    normalised compute and latency, samples started, pruned tokens (per ``Lbar``)."""
    L = [f"{'method':<34}{'accuracy':>9}{'95% CI':>13}{'cost':>7}{'95% CI':>13}{'compute':>8}"
         f"{'latency':>8}{'started':>8}{'pruned':>7}"]
    for r in rows:
        L.append(f"{r['label']:<34}{r['accuracy']:>9.3f}{_ci(r['accuracy_ci'], '.2f'):>13}"
                 f"{r['gen_cost']:>7.2f}{_ci(r['gen_cost_ci'], '.2f'):>13}{r['compute']:>8.2f}"
                 f"{r['latency']:>8.2f}{r['samples']:>8.1f}{r['pruned']:>7.2f}")
    return "\n".join(L)


def format_matched(m: dict) -> str:
    """One line: a method vs majority voting at its cost, paired difference [95% CI]."""
    c = m["delta_vs_mv_ci"]
    ci = "[n/a]" if c is None else f"[{c[0]:+.3f}, {c[1]:+.3f}]"
    return (f"{m['label']}: {m['accuracy']:.3f} vs majority {m['mv_accuracy']:.3f} at cost "
            f"{m['gen_cost']:.2f}: difference {m['delta_vs_mv']:+.3f} {ci}"
            f"{' (extrapolated)' if m['extrapolated'] else ''}")
