"""Fit the synthetic world to the paper, then predict the rest of its Table 2.

What is *fitted* (and to what), what is *assumed* and what is *predicted* are kept apart in
every output (``docs/simulators.md`` section 9):

* fitted, per suite: the mean pass rate (the Beta's mean at its assumed concentration), so
  that majority voting interpolated along its frontier at generation cost 1.40 equals the
  paper's majority-vote row (:data:`simulators.paper_numbers.TABLE2` ``mv``);
* fitted, shared: the value head's profile tilts (``high_tilt``, ``low_tilt``) so that its
  pooled end-of-generation classification at threshold 1/2 has the true-positive and
  true-negative rates of Table 1's Qwen3-1.7B row (:func:`table1_rates`);
* fitted, shared: the external reward model's AUROC, to its own row (``wbon_rm``);
* assumed (documented values, never tuned on Table 2): pass-rate concentration, unsolvable
  fraction, ``value_share``, ``length_spread``, and everything else in
  :class:`simulators.synthetic.SuiteSpec`;
* predicted: ZIP-RC (beta 0.01's cost 1.43), weighted BoN with self-evaluation, reward
  pruning and length pruning, each interpolated along its own frontier at the paper's cost
  for that row (:func:`predict_table2`).

Fitting on more rows is a separate experiment (:func:`sensitivity`): one knob at a time, how
the predicted cells move, i.e. what property of the world would have to change to hit them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, replace

import numpy as np
from scipy import optimize

from .paper_numbers import TABLE1, TABLE2, TABLE2_LFM2_350M
from .policies import sweep
from .results import bootstrap_indices, ci, frontier_point, pooled_strata
from .study import auto_episodes, refine_beta, run_cell
from .synthetic import (ORIGINAL_SPECS, SUITES, SuiteSpec,  # noqa: F401 (SuiteSpec: for the CLI)
                        World, build_world, preset_specs)

BENCHMARKS = ("gsm8k", "math500", "amc23", "aime24")

# What the fit may use of each of the paper's Table 2 rows (simulators.paper_numbers.TABLE2,
# keyed by the policy of this testbed that implements the row); the rest is only predicted.
ROLES = {"ziprc": "predicted", "mv": "fitted", "length_prune": "predicted",
         "wbon_rm": "fitted (RM quality)", "wbon": "predicted", "reward_prune": "predicted"}
PREDICTED_ROWS = ("ziprc", "wbon", "reward_prune", "length_prune")
# targets for predicted cells (points): the small suites' own sampling error is large
TARGET_POINTS = {"gsm8k": 3.0, "math500": 3.0, "mixed": 3.0, "amc23": 6.0, "aime24": 6.0}
# the paper's model (simulators.paper_numbers.TABLE1) whose Table 1 row a preset is fitted to
TABLE1_MODEL = {"qwen3-1.7b": "Qwen3-1.7B", "lfm2-350m": "LFM2-350M-Math"}
FITTED_RM_AUROC = 0.75  # `ziprc study --fit` (qwen3-1.7b): the external RM's AUROC on its own row


class FitError(ValueError):
    """Bad fitting input."""


# --------------------------------------------------------------------------- Table 1


def table1_rates(f1: float, accuracy: float, recall_incorrect: float) -> dict:
    """True-positive rate, true-negative rate and base rate implied by Table 1's three numbers.

    With base rate ``p`` of correct answers, ``TPR = s`` and ``TNR = r`` (= recall on
    incorrect): ``accuracy = p s + (1 - p) r`` and ``F1 = 2 p s / (p s + p + (1 - p)(1 - r))``.
    Two equations in ``(p, s)``: solved exactly. (For Qwen3-1.7B the base rate comes out near
    0.69, well below the mixed suite's ~0.9: Table 1 was measured on a harder population, so
    only the rates, not the base rate, are used as targets.)
    """
    r = float(recall_incorrect)

    def resid(p):
        s = (accuracy - (1 - p) * r) / p
        return 2 * p * s / (p * s + p + (1 - p) * (1 - r)) - f1

    p = optimize.brentq(resid, 0.05, 0.999)
    s = (accuracy - (1 - p) * r) / p
    return {"tpr": float(s), "tnr": r, "base_rate": float(p)}


def head_metrics(world: World, threshold: float = 0.5) -> dict:
    """Exact pooled end-of-generation classification by the final value at ``threshold``
    (every question weighted equally, its samples by their probabilities), and the value's
    ranking power *within* a question.

    Returns ``tpr`` (correct answers passed), ``tnr`` (wrong answers flagged), ``accuracy``,
    ``f1``, ``base_rate``, ``auroc_pooled`` and ``auroc_within`` (P(a correct sample's value
    > a wrong sibling's) + ties / 2, averaged over questions with weight ``p(1 - p)``: the
    pairs value-based selection has to rank).
    """
    pi, c, v = world.class_prior, world.correct_prob, world.values
    pc = pi * c  # P(k, correct | q)
    pw = pi * (1 - c)
    hi = v >= threshold - 1e-12
    tp, fn = pc[:, hi].sum(), pc[:, ~hi].sum()
    tn, fp = pw[:, ~hi].sum(), pw[:, hi].sum()
    tpr = tp / (tp + fn)
    tnr = tn / (tn + fp)
    acc = (tp + tn) / (tp + fn + tn + fp)
    f1 = 2 * tp / (2 * tp + fp + fn)

    def auroc(a, b):  # a: correct pmf, b: wrong pmf over ordered states
        cb = np.cumsum(b, axis=-1) - b
        return (a * (cb + 0.5 * b)).sum(axis=-1)

    pq = pc.sum(axis=1)
    wq = pw.sum(axis=1)
    ok = (pq > 1e-9) & (wq > 1e-9)
    within = auroc(pc[ok] / pq[ok, None], pw[ok] / wq[ok, None])
    weight = (pq * wq)[ok]
    pooled = auroc(pc.sum(axis=0) / pc.sum(), pw.sum(axis=0) / pw.sum())
    return {"tpr": float(tpr), "tnr": float(tnr), "accuracy": float(acc), "f1": float(f1),
            "base_rate": float(pq.mean()), "auroc_pooled": float(pooled),
            "auroc_within": float((within * weight).sum() / weight.sum()) if weight.sum() > 0 else None}


# --------------------------------------------------------------------------- diagnostics


def diagnostics(world: World) -> dict:
    """The properties of a world that decide how much value-based selection can gain.

    Exact, from the world's arrays: pass@1 and pass@8, the share of questions no sample
    solves (p < 1%), the share a pair of samples disagrees on (``E[2 p (1 - p)]``: where
    selection can help at all), the head's within-question ranking power, how concentrated
    wrong answers are (``P(two wrong answers agree)``), the share of questions whose *start*
    prediction is below reward pruning's 0.4 (every sample is pruned at once), and the
    spread of question mean lengths (what a single token budget cuts).
    """
    p = world.pass_rate
    w = np.diff(np.concatenate([np.zeros((world.n_questions, 1)), world.distractor_cdf], axis=1), axis=1)
    ev0 = (world.class_prior * world.values[None, :]).sum(axis=1)
    tokens = world.mean_ticks * world.delta
    h = head_metrics(world)
    return {"pass_at_1": float(p.mean()), "pass_at_8": float((1 - (1 - p) ** 8).mean()),
            "unsolvable_share": float((p < 0.01).mean()),
            "disagreement_pairs": float((2 * p * (1 - p)).mean()),
            "auroc_within": h["auroc_within"], "auroc_pooled": h["auroc_pooled"],
            "tpr": h["tpr"], "tnr": h["tnr"],
            "wrong_agree": float((w ** 2).sum(axis=1).mean()),
            "start_value_below_0.4": float((ev0 < 0.4).mean()),
            "pass_rate_where_start_below_0.4": (float(p[ev0 < 0.4].mean()) if (ev0 < 0.4).any() else None),
            "mean_tokens": float(tokens.mean()),
            "log_length_sd_between_questions": float(np.log(tokens).std())}


def start_tv(world: World, rollouts: int = 64, seed: int = 0) -> float:
    """Table 1's start-of-generation TV for this world's *exact* head: the mean over questions
    of the total variation between the predicted joint at t = 0 (value state x length bin)
    and the empirical joint of ``rollouts`` fresh samples. An exact head scores only the
    finite-sample floor; Table 1's 0.46 (Qwen3-1.7B) minus this floor is what a real head's
    start-of-generation error adds (not modelled: the world's head is exact)."""
    from .synthetic import survival_tables_reference

    rng = np.random.default_rng(seed)
    surv = survival_tables_reference(world.log_median, world.sigma, world.t_max)
    pmf = surv[:, :, :-1] - surv[:, :, 1:]  # P(N = n | k), n = 1..t_max
    edges = np.asarray(world.length_edges)
    n = np.arange(1, world.t_max + 1)
    bins = np.searchsorted(edges[1:-1], n * world.delta, side="right")
    L = edges.size - 1
    tvs = []
    for q in range(world.n_questions):
        joint = np.zeros((world.values.size, L))
        for k in range(world.values.size):
            joint[k] = world.class_prior[q, k] * np.bincount(bins, weights=pmf[q, k], minlength=L)
        joint /= joint.sum()
        draws = rng.multinomial(rollouts, joint.ravel()) / rollouts
        tvs.append(0.5 * np.abs(draws - joint.ravel()).sum())
    return float(np.mean(tvs))


# --------------------------------------------------------------------------- frontiers


def _boot(world: World, n_boot: int, seed: int):
    """The study's bootstrap (strata of one question pooled, as in
    :func:`simulators.report.summarize_cells`)."""
    return bootstrap_indices(pooled_strata(world.source, world.source_names)[0], n_boot, seed)


def frontier_accuracy(world: World, name: str, cost: float, alpha: float = 0.1, seed: int = 0,
                      episodes: int | None = None, knobs=None, params: dict | None = None,
                      boot=None, refine: bool = True):
    """``name``'s accuracy interpolated along its frontier at ``cost`` (None if unreachable).

    Returns ``(accuracy, ci or None, frontier dict, cells)``.
    """
    episodes = auto_episodes(world.n_questions) if episodes is None else int(episodes)
    params = dict(params or {})
    pols = sweep(name, knobs, alpha=alpha, **params)
    cells = [run_cell(world, p, seed, episodes) for p in pols]
    if refine and name in ("ziprc", "pandora"):
        refine_beta(world, cells, name, "", (cost,), alpha, seed, episodes, None)
    rows = [{"policy": name, "variant": "", "knob_name": c.policy.knob_name, "knob": c.policy.knob,
             "gen_cost": float(c.gen_cost(alpha).mean()), "accuracy": float(c.correct.mean())}
            for c in cells]
    fp = frontier_point([(c.correct, r) for c, r in zip(cells, rows)], cost)
    if fp is None:
        return None, None, {"status": "unreachable",
                            "cheapest_cost": min(r["gen_cost"] for r in rows)}, cells
    acc = float(fp["correct"].mean())
    info = {k: fp[k] for k in ("status", "knob", "bracket", "weight_lo")}
    info["correct"] = fp["correct"]
    return acc, (ci(fp["correct"], boot) if boot is not None else None), info, cells


# --------------------------------------------------------------------------- the fit

# Assumed, not fitted (docs/simulators.md section 9 gives the reasons): the pass-rate
# distribution's concentration (a + b of the Beta; < 2 is U-shaped, as per-question pass
# rates of reasoning models are), questions no sample solves, how much of the final value is
# about the question (value_share), and question-level length spread.
ASSUMED = {
    "qwen3-1.7b": {
        "concentration": {"gsm8k": 1.0, "math500": 1.0, "amc23": 1.0, "aime24": 1.0},
        "unsolvable": {"gsm8k": 0.02, "math500": 0.02, "amc23": 0.0, "aime24": 0.0},
        "value_share": 0.5,
        "length_spread": 0.5,
    },
}
ASSUMED["lfm2-350m"] = ASSUMED["qwen3-1.7b"]


def _with_mean(spec, mean: float, concentration: float):
    mean = float(np.clip(mean, 1e-4, 1 - 1e-4))
    return replace(spec, pass_a=mean * concentration, pass_b=(1 - mean) * concentration)


def specs_from(base: dict, assumed: dict) -> dict:
    """Suite specs with the assumed knobs applied (means kept)."""
    out = {}
    for name in BENCHMARKS:
        s = base[name]
        m = s.pass_a / (s.pass_a + s.pass_b)
        s = _with_mean(s, m, assumed["concentration"][name])
        out[name] = replace(s, unsolvable=assumed["unsolvable"][name],
                            value_share=assumed["value_share"], length_spread=assumed["length_spread"])
    return out


def world_from_specs(specs: dict, suite: str, n_questions: int | None = None) -> World:
    """A world built from explicit benchmark specs (a fitted preset)."""
    return build_world(suite, n_questions=n_questions, specs=specs)


def fit_world(preset: str = "qwen3-1.7b", seed: int = 0, episodes_total: int = 4000,
              mv_targets: dict | None = None, table1: dict | None = None,
              fit_rm: bool = True, progress: bool = True, log=print) -> dict:
    """Fit the world's free parameters to the majority-vote row and Table 1 only.

    1. Value-head tilts to Table 1's TPR / TNR (exact, ``scipy.optimize.least_squares``) on
       the mixed suite.
    2. Per benchmark, the mean pass rate so that majority voting along its frontier at cost
       1.40 equals the paper (``brentq`` on a Monte Carlo estimate with common random numbers:
       the same episode seeds at every evaluation, so the function is deterministic).
       Steps 1-2 alternate twice (the head's pooled rates depend on the pass rates).
    3. The external reward model's AUROC to its own row (grid 0.55..0.95, least squares over
       the four benchmarks).

    Returns a JSON-ready dict: ``specs`` (every benchmark's SuiteSpec), ``fitted`` (each
    fitted parameter with its target and achieved value), ``assumed``.
    """
    if preset not in ASSUMED:
        raise FitError(f"unknown preset {preset!r}; choose from {', '.join(ASSUMED)}")
    assumed = ASSUMED[preset]
    mv_targets = mv_targets or {s: TABLE2["mv"]["acc"][s] / 100 for s in BENCHMARKS}
    t1 = table1 or TABLE1[TABLE1_MODEL[preset]]
    rates = table1_rates(t1["end_f1"], t1["end_accuracy"], t1["end_recall_incorrect"])
    # LFM2-350M: only its mixed MV number is published, so it starts from the Qwen3 fit's
    # benchmarks and moves every mean pass rate by one shared logit shift
    start = preset_specs("qwen3-1.7b") if preset == "lfm2-350m" else ORIGINAL_SPECS
    specs = specs_from(start, assumed)
    fitted = {"table1_rates": rates}
    for rnd in range(2):
        # 1. head tilts (shared by the benchmarks)
        def resid(x):
            sp = {n: replace(specs[n], high_tilt=x[0], low_tilt=x[1]) for n in BENCHMARKS}
            h = head_metrics(world_from_specs(sp, "mixed"))
            return [h["tpr"] - rates["tpr"], h["tnr"] - rates["tnr"]]

        sol = optimize.least_squares(resid, [specs["gsm8k"].high_tilt, specs["gsm8k"].low_tilt],
                                     bounds=([-6, -6], [8, 8]), xtol=1e-8)
        specs = {n: replace(specs[n], high_tilt=float(sol.x[0]), low_tilt=float(sol.x[1]))
                 for n in BENCHMARKS}
        h = head_metrics(world_from_specs(specs, "mixed"))
        fitted["head"] = {"high_tilt": float(sol.x[0]), "low_tilt": float(sol.x[1]),
                          "target_tpr": rates["tpr"], "tpr": h["tpr"],
                          "target_tnr": rates["tnr"], "tnr": h["tnr"]}
        if progress:
            log(f"[fit round {rnd + 1}] head tilts {sol.x[0]:+.3f} {sol.x[1]:+.3f}: "
                f"TPR {h['tpr']:.3f} (target {rates['tpr']:.3f}), TNR {h['tnr']:.3f} (target {rates['tnr']:.3f})")
        if preset == "lfm2-350m":
            specs = _fit_lfm2_shift(specs, fitted, seed, episodes_total, progress, log, rnd)
            continue
        # 2. per-benchmark mean pass rate to the MV row
        fitted["mv"] = {}
        for name in BENCHMARKS:
            conc = assumed["concentration"][name]

            def mv_gap(mean, name=name, conc=conc):
                sp = dict(specs)
                sp[name] = _with_mean(specs[name], mean, conc)
                w = world_from_specs(sp, name)
                eps = max(1, episodes_total // w.n_questions)
                acc, _, _, _ = frontier_accuracy(w, "mv", TABLE2["mv"]["cost"], seed=seed,
                                                 episodes=eps, knobs=(1, 2, 3, 4, 5, 6, 8))
                return acc - mv_targets[name]

            lo, hi = 0.05, 0.999
            glo, ghi = mv_gap(lo), mv_gap(hi)
            if glo > 0 or ghi < 0:
                raise FitError(f"{name}: majority voting cannot reach {mv_targets[name]:.3f} "
                               f"with concentration {conc} (range {glo + mv_targets[name]:.3f}.."
                               f"{ghi + mv_targets[name]:.3f})")
            mean = optimize.brentq(mv_gap, lo, hi, xtol=2e-4)
            specs[name] = _with_mean(specs[name], mean, conc)
            fitted["mv"][name] = {"pass_mean": float(mean), "target": mv_targets[name],
                                  "achieved": float(mv_gap(mean) + mv_targets[name])}
            if progress:
                log(f"[fit round {rnd + 1}] {name}: pass-rate mean {mean:.4f} -> MV@1.40 "
                    f"{100 * fitted['mv'][name]['achieved']:.1f} (paper {100 * mv_targets[name]:.1f})")
    out = {"preset": preset, "specs": {n: asdict(specs[n]) for n in BENCHMARKS},
           "fitted": fitted, "assumed": assumed, "seed": seed, "episodes_total": episodes_total}
    if fit_rm and preset != "lfm2-350m":
        out["fitted"]["rm"] = fit_rm_auroc(specs, seed=seed, episodes_total=episodes_total,
                                           progress=progress, log=log)
    return out


def _shift_means(specs: dict, shift: float) -> dict:
    out = {}
    for n, sp in specs.items():
        c = sp.pass_a + sp.pass_b
        m = sp.pass_a / c
        out[n] = _with_mean(sp, 1.0 / (1.0 + math.exp(-(math.log(m / (1 - m)) + shift))), c)
    return out


def _fit_lfm2_shift(specs, fitted, seed, episodes_total, progress, log, rnd):
    """One logit shift of every benchmark's mean pass rate: mixed MV at 1.70 = 68.8."""
    target = TABLE2_LFM2_350M["mv"]["acc"] / 100

    def gap(shift):
        w = world_from_specs(_shift_means(specs, shift), "mixed")
        acc, _, _, _ = frontier_accuracy(w, "mv", TABLE2_LFM2_350M["mv"]["cost"], seed=seed,
                                         episodes=max(1, episodes_total // w.n_questions),
                                         knobs=(1, 2, 3, 4, 5, 6, 8))
        return acc - target

    shift = optimize.brentq(gap, -8.0, 2.0, xtol=1e-3)
    fitted["mv"] = {"mixed": {"logit_shift": float(shift), "target": target, "cost": TABLE2_LFM2_350M["mv"]["cost"],
                              "achieved": float(gap(shift) + target)}}
    if progress:
        log(f"[fit round {rnd + 1}] mixed: logit shift {shift:+.3f} -> MV@1.70 "
            f"{100 * fitted['mv']['mixed']['achieved']:.1f} (paper {100 * target:.1f})")
    return _shift_means(specs, shift)


def predict_lfm2(specs: dict, seed: int = 0, n_boot: int = 1000, progress: bool = True,
                 log=print, questions: int | None = None, episodes: int | None = None) -> list:
    """LFM2-350M on the mixed suite: MV at 1.70 (fitted) and ZIP-RC at 1.49 (predicted)."""
    w = world_from_specs(specs, "mixed", n_questions=questions)
    boot = _boot(w, n_boot, seed)
    out = []
    for key, role in (("mv", "fitted"), ("ziprc", "predicted")):
        row = TABLE2_LFM2_350M[key]
        acc, c, info, _ = frontier_accuracy(w, key, row["cost"], seed=seed, boot=boot,
                                            episodes=episodes)
        ent = {"suite": "mixed", "row": key, "role": role, "label": f"LFM2-350M {key}", "cost": row["cost"], "paper": row["acc"],
               "here": None if acc is None else 100 * acc,
               "ci": None if c is None else [100 * c[0], 100 * c[1]], "status": info["status"],
               "knob": info.get("knob"), "target_points": TARGET_POINTS["mixed"]}
        if acc is not None:
            ent["diff"] = 100 * acc - row["acc"]
            ent["miss_points"] = max(0.0, abs(ent["diff"]) - TARGET_POINTS["mixed"])
        out.append(ent)
        if progress:
            log(f"lfm2-350m mixed {key}: paper {row['acc']} here "
                f"{'n/a' if acc is None else f'{100 * acc:.1f}'} ({info['status']})")
    return out


def fit_rm_auroc(specs: dict, seed: int = 0, episodes_total: int = 4000, grid=None,
                 progress: bool = True, log=print) -> dict:
    """The external reward model's AUROC that best reproduces its own Table 2 row (grid)."""
    grid = grid or (0.55, 0.65, 0.75, 0.85, 0.95)
    row = TABLE2["wbon_rm"]
    sse = []
    for a in grid:
        err = 0.0
        for name in BENCHMARKS:
            w = world_from_specs(specs, name)
            eps = max(1, episodes_total // w.n_questions)
            acc, _, _, _ = frontier_accuracy(w, "wbon_rm", row["cost"], seed=seed, episodes=eps,
                                             params={"strength": a})
            acc = 0.0 if acc is None else acc
            err += (100 * acc - row["acc"][name]) ** 2
        sse.append(err)
        if progress:
            log(f"[fit rm] AUROC {a:.2f}: squared error {err:.1f}")
    best = grid[int(np.argmin(sse))]
    return {"auroc": float(best), "grid": list(grid), "sse": [float(x) for x in sse]}




# --------------------------------------------------------------------------- predictions


def predict_table2(specs: dict, suites=SUITES, alpha: float = 0.1, seed: int = 0,
                   episodes: int | None = None, rm_auroc: float = 0.85, n_boot: int = 1000,
                   questions: int | None = None, progress: bool = True, log=print) -> list:
    """Every Table 2 cell: the paper's number next to this world's, with a 95% CI.

    Each row's policy is interpolated along its own frontier at *that row's* cost in the
    paper (1.43 for ZIP-RC, 1.40 for MV, ...). Rows carry ``role`` (fitted / predicted),
    ``target_points`` and ``miss_points`` (how far outside the target, 0 inside).
    """
    out = []
    for suite in suites:
        w = world_from_specs(specs, suite, n_questions=questions)
        eps = auto_episodes(w.n_questions) if episodes is None else int(episodes)
        boot = _boot(w, n_boot, seed)
        for key, row in TABLE2.items():
            params = {"strength": rm_auroc} if key == "wbon_rm" else {}
            acc, c, info, _ = frontier_accuracy(w, key, row["cost"], alpha=alpha, seed=seed,
                                                episodes=eps, params=params, boot=boot)
            paper = row["acc"].get(suite) if alpha == 0.1 else None
            ent = {"suite": suite, "row": key, "label": row["label"], "role": ROLES[key],
                   "cost": row["cost"], "paper": paper,
                   "here": None if acc is None else 100 * acc,
                   "ci": None if c is None else [100 * c[0], 100 * c[1]],
                   "status": info["status"], "knob": info.get("knob"),
                   "achieved_cost": (info["bracket"][0]["gen_cost"] if info["status"] == "frontier_end"
                                     else (row["cost"] if acc is not None else None)),
                   "episodes_per_question": eps, "questions": w.n_questions,
                   "target_points": TARGET_POINTS[suite]}
            if paper is not None and acc is not None:
                diff = 100 * acc - paper
                ent["diff"] = diff
                ent["miss_points"] = max(0.0, abs(diff) - TARGET_POINTS[suite])
            out.append(ent)
            if progress:
                log(f"{suite:<8} {key:<13} paper {paper if paper is not None else 'n/a':>5}  "
                    f"here {('n/a' if acc is None else f'{100 * acc:.1f}'):>5}  ({info['status']})")
    return out


def predict_table2_shared(specs: dict, alpha: float = 0.1, seed: int = 0, rm_auroc: float = 0.85,
                          n_boot: int = 1000, rows=None, progress: bool = True, log=print) -> list:
    """Table 2 under the *shared-knob* protocol: each row's knob is set once, on the mixed
    suite, where its frontier crosses the row's cost; every benchmark then runs that same
    knob (the same two-knob mixture). The paper reports one cost per row and a mixed column
    that is the size-weighted mean of the benchmark columns, which this protocol reproduces;
    per-benchmark costs then differ (reported as ``suite_cost``)."""
    out = []
    mixed = world_from_specs(specs, "mixed")
    worlds = {b: world_from_specs(specs, b) for b in BENCHMARKS}
    for key in rows or tuple(TABLE2):
        row = TABLE2[key]
        params = {"strength": rm_auroc} if key == "wbon_rm" else {}
        acc, _, info, cells = frontier_accuracy(mixed, key, row["cost"], alpha=alpha, seed=seed,
                                                params=params)
        if acc is None:
            continue
        knobs = [b["knob"] for b in info["bracket"]]
        wts = [info["weight_lo"], 1.0 - info["weight_lo"]][:len(knobs)]
        for suite in SUITES:
            w = mixed if suite == "mixed" else worlds[suite]
            eps = auto_episodes(w.n_questions)
            base = next(c.policy for c in cells)
            parts = [run_cell(w, base.with_knob(k), seed, eps) for k in knobs]
            correct = sum(wt * c.correct for wt, c in zip(wts, parts))
            cost = sum(wt * float(c.gen_cost(alpha).mean()) for wt, c in zip(wts, parts))
            boot = _boot(w, n_boot, seed)
            c95 = ci(correct, boot)  # None when every resample agrees
            paper = row["acc"].get(suite) if alpha == 0.1 else None
            ent = {"suite": suite, "row": key, "label": row["label"], "role": ROLES[key],
                   "protocol": "shared-knob", "cost": row["cost"], "suite_cost": cost,
                   "knob": info["knob"], "paper": paper, "here": 100 * float(correct.mean()),
                   "ci": None if c95 is None else [100 * c95[0], 100 * c95[1]],
                   "status": info["status"],
                   "target_points": TARGET_POINTS[suite]}
            if paper is not None:
                ent["diff"] = ent["here"] - paper
                ent["miss_points"] = max(0.0, abs(ent["diff"]) - TARGET_POINTS[suite])
            out.append(ent)
            if progress:
                log(f"[shared knob {info['knob']:.4g}] {suite:<8} {key:<13} paper "
                    f"{paper if paper is not None else 'n/a':>5}  here {ent['here']:.1f} (cost {cost:.2f})")
    return out


def format_comparison(cells: list) -> str:
    """Markdown table: one line per row, suites as columns, ``paper / here [CI]``."""
    suites = [s for s in SUITES if any(c["suite"] == s for c in cells)]
    lines = ["| row (cost) | role | " + " | ".join(suites) + " |",
             "|---|---|" + "---|" * len(suites)]
    keys = list(dict.fromkeys(c["row"] for c in cells))
    for key in keys:
        first = next(c for c in cells if c["row"] == key)
        row = {"label": first.get("label", key), "cost": first["cost"], "role": first["role"]}
        parts = []
        for s in suites:
            c = next((c for c in cells if c["suite"] == s and c["row"] == key), None)
            if c is None or c["here"] is None:
                parts.append("n/a")
                continue
            here = f"{c['here']:.1f} [{c['ci'][0]:.1f}, {c['ci'][1]:.1f}]" if c["ci"] else f"{c['here']:.1f}"
            pap = "" if c["paper"] is None else f"{c['paper']:.1f} / "
            mark = ""
            if c.get("miss_points", 0) > 0 and c["role"] == "predicted":
                mark = " **x**"
            parts.append(pap + here + mark)
        lines.append(f"| {row['label']} ({row['cost']:.2f}) | {row['role']} | " + " | ".join(parts) + " |")
    return "\n".join(lines)


def format_misses(cells: list) -> str:
    """One line per predicted cell outside its target: by how much."""
    miss = [c for c in cells if c.get("role") == "predicted" and c.get("miss_points", 0) > 0]
    ok = [c for c in cells if c.get("role") == "predicted" and "miss_points" in c
          and c["miss_points"] == 0]
    lines = [f"predicted cells within target: {len(ok)} of {len(ok) + len(miss)}"]
    for c in miss:
        lines.append(f"  miss: {c['suite']} {c['row']}: here {c['here']:.1f} vs paper {c['paper']:.1f} "
                     f"({c['diff']:+.1f} points; target +-{c['target_points']:.0f}, outside by "
                     f"{c['miss_points']:.1f})")
    return "\n".join(lines)


def sensitivity(specs: dict, knob: str, values, suite: str = "mixed", rows=PREDICTED_ROWS,
                seed: int = 0, questions: int | None = 400, episodes: int | None = None,
                refit_mv: bool = True, log=print) -> list:
    """Second experiment (uses the predicted rows, so it is *not* part of the fit): set one
    shared knob to each value, refit the mean pass rates to the MV row, and report how the
    predicted cells move. Tells what property of the world would have to change."""
    out = []
    for v in values:
        if knob == "concentration":
            sp = {n: _with_mean(specs[n], specs[n].pass_a / (specs[n].pass_a + specs[n].pass_b), v)
                  for n in BENCHMARKS}
        else:
            sp = {n: replace(specs[n], **{knob: v}) for n in BENCHMARKS}
        if refit_mv:
            names = BENCHMARKS if suite == "mixed" else (suite,)
            for name in names:
                conc = sp[name].pass_a + sp[name].pass_b

                def gap(mean, name=name, conc=conc):
                    s2 = dict(sp)
                    s2[name] = _with_mean(sp[name], mean, conc)
                    w = world_from_specs(s2, name)
                    acc, _, _, _ = frontier_accuracy(w, "mv", 1.40, seed=seed,
                                                     episodes=max(1, 3000 // w.n_questions))
                    return acc - TABLE2["mv"]["acc"][name] / 100

                try:
                    sp[name] = _with_mean(sp[name], optimize.brentq(gap, 0.05, 0.999, xtol=5e-4),
                                          conc)
                except ValueError:
                    pass
        w = world_from_specs(sp, suite, n_questions=questions)
        ent = {"knob": knob, "value": v, "suite": suite}
        for key in ("mv",) + tuple(rows):
            acc, _, info, _ = frontier_accuracy(w, key, TABLE2[key]["cost"], seed=seed,
                                                episodes=episodes)
            ent[key] = None if acc is None else 100 * acc
        out.append(ent)
        log(f"[sensitivity] {knob}={v}: " + "  ".join(
            f"{k} {ent[k]:.1f}" if ent[k] is not None else f"{k} n/a" for k in ("mv",) + tuple(rows)))
    return out
