"""The whole pipeline as stages that read and write one directory.

Layout of ``DIR``::

    config.json                 the stage parameters (written by every stage)
    pretrained/                 the pretrained policy (Hugging Face checkpoint + ziprc.json)
    pretrain_log.jsonl          loss per pretraining step
    rollouts.jsonl              on-policy rollouts with exact labels (training data)
    ziprc/  ziprc_lite/  ziprc_alpha0/   trained ZIP-RC models
    train_log_<name>.jsonl      loss, CE and KL per training step
    eval_<name>.json            Table 1 analogue and calibration of each model
    reliability_<names>.png     reliability diagram of the models evaluated together
    traces_<policy>.parquet     online-sampler runs in the simulators' trace format
    sampling.json               every online policy vs majority voting at matched cost
    frontier.json  frontier.png every policy over its knob, replayed from traces_majority.parquet
    summary.json                the demo's table

Each JSON output carries a ``provenance`` block (command, seed, version, parameters).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from simulators.io import provenance, write_json_atomic
from simulators.results import arm_label

from .config import Config, config_json
from .model import build_model, load_checkpoint, n_params, pretrain, save_checkpoint
from .rows import (Bootstraps, format_matched, format_rows, majority_rows, matched_rows, question_lbar,
                   row_label, run_row, sampled_baselines, selection_rows)
from .task import make_problems


def _write_config(out: Path, c: Config):
    write_json_atomic(out / "config.json", {"config": config_json(c),
                                             "provenance": provenance("ziprc llm", c.seed, config_json(c))})


def _problems(c: Config, which: str, n: int):
    seeds = {"train": 1, "eval": 2, "sample": 3, "policy": 4}
    return make_problems(n, seed=c.seed * 100 + seeds[which], prefix=f"{which}")


# --------------------------------------------------------------------------- stages


def stage_pretrain(out, c: Config, progress=True) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _write_config(out, c)
    model, tok, reserved = build_model(c.size, c.grid, seed=c.seed)
    model.to(c.device)
    t0 = time.perf_counter()
    log = pretrain(model, tok, reserved, steps=c.pretrain_steps, batch_size=c.pretrain_batch,
                   lr=c.pretrain_lr, seed=c.seed, device=c.device, log_path=out / "pretrain_log.jsonl",
                   progress=progress)
    save_checkpoint(out / "pretrained", model.cpu(), tok, reserved, c.grid, {"stage": "pretrained"})
    return {"params": n_params(model), "final_loss": float(np.mean([r["loss"] for r in log[-20:]])),
            "seconds": time.perf_counter() - t0}


def stage_rollouts(out, c: Config, progress=True) -> dict:
    from .rollouts import rollouts, save_rollouts, summary

    out = Path(out)
    model, tok, reserved, grid, _ = load_checkpoint(out / "pretrained", c.device)
    t0 = time.perf_counter()
    recs = rollouts(model, tok, reserved, _problems(c, "train", c.train_prompts), c.rollouts_per_prompt,
                    c.max_new_tokens, seed=c.seed + 7, progress=progress)
    save_rollouts(out / "rollouts.jsonl", recs)
    s = summary(recs)
    s["seconds"] = time.perf_counter() - t0
    write_json_atomic(out / "rollouts_summary.json", {"summary": s, "provenance": provenance(
        "ziprc llm rollouts", c.seed, config_json(c))})
    return s


def stage_train(out, c: Config, name: str = "ziprc", alpha_kl: float | None = None, lite: bool = False,
                steps: int | None = None, progress=True) -> dict:
    from .rollouts import load_rollouts
    from .train import train_with_denoising, train_ziprc

    out = Path(out)
    model, tok, reserved, grid, _ = load_checkpoint(out / "pretrained", c.device)
    recs = load_rollouts(out / "rollouts.jsonl")
    a = c.alpha_kl if alpha_kl is None else alpha_kl
    steps = steps or (c.lite_steps if lite else c.train_steps)
    t0 = time.perf_counter()
    log_path = out / f"train_log_{name}.jsonl"
    if c.denoise and not lite:
        model, reserved, log, values = train_with_denoising(
            model, tok, grid, recs, steps=steps, batch_size=c.train_batch, alpha_kl=a, seed=c.seed,
            log_path=log_path, progress=progress)
        grid = replace(grid, reward_states=7)
    else:
        log = train_ziprc(model, tok, reserved, grid, recs, steps=steps, batch_size=c.train_batch,
                          alpha_kl=a, top_k=c.top_k, lite=lite, seed=c.seed, log_path=log_path,
                          progress=progress, desc=f"train {name}")
    save_checkpoint(out / name, model.cpu(), tok, reserved, grid,
                    {"stage": name, "alpha_kl": a, "lite": lite, "denoise": bool(c.denoise and not lite)})
    kl = [r["kl"] for r in log]
    return {"name": name, "alpha_kl": a, "lite": lite, "steps": steps,
            "final_ce": float(np.mean([r["ce"] for r in log[-10:]])),
            "kl_first": kl[0], "kl_last": float(np.mean(kl[-10:])), "kl_max": float(max(kl)),
            "seconds": time.perf_counter() - t0}


def stage_evaluate(out, c: Config, names=("ziprc",), progress=True) -> dict:
    from .evaluate import evaluate_model, reliability_plot

    out = Path(out)
    results = {}
    for name in names:
        model, tok, reserved, grid, meta = load_checkpoint(out / name, c.device)
        t0 = time.perf_counter()
        m, _ = evaluate_model(model, tok, reserved, grid, _problems(c, "eval", c.eval_questions), c.eval_k,
                              c.max_new_tokens, seed=c.seed + 11, progress=progress)
        m["seconds"] = time.perf_counter() - t0
        write_json_atomic(out / f"eval_{name}.json", {"model": name, "metrics": m, "provenance": provenance(
            "ziprc llm evaluate", c.seed, dict(config_json(c), model=name))})
        results[name] = m
    reliability_plot(results, out / f"reliability_{'_'.join(names)}.png")
    return results


def stage_policy_accuracy(out, c: Config, name: str = "ziprc", progress=True) -> dict:
    """Does ZIP-RC training change what the policy generates? ``c.eval_k`` rollouts of the
    pretrained and of the trained model ``name`` on the same ``c.policy_questions`` questions
    (a set of their own), with the same sampler seed, paired by question with a bootstrap CI
    (:func:`evaluate.paired_accuracy_change`)."""
    from .evaluate import paired_accuracy_change
    from .rollouts import rollouts

    out = Path(out)
    problems = _problems(c, "policy", c.policy_questions)
    recs = {}
    for which in ("pretrained", name):
        model, tok, reserved, grid, _ = load_checkpoint(out / which, c.device)
        recs[which] = rollouts(model, tok, reserved, problems, c.eval_k, c.max_new_tokens, seed=c.seed + 17,
                               progress=progress, desc=f"{which} rollouts")
    r = paired_accuracy_change(recs["pretrained"], recs[name], seed=c.seed)
    r["model"] = name
    write_json_atomic(out / "policy_accuracy.json", dict(r, provenance=provenance(
        "ziprc llm demo (policy accuracy)", c.seed, config_json(c))))
    return r


def _finite(x):
    return None if x is None or not np.isfinite(x) else float(x)


def headline(summary: dict, c: Config, smoke: bool) -> dict:
    """The numbers the demo is judged by, each with what it is measured on."""
    ev = summary["evaluate"]["ziprc"]
    sm = summary["sample"]
    label = f"ZIP-RC beta={c.betas[0]:g} (vote)"    # declared before the run: first beta, value-weighted vote
    m = next((x for x in sm["matched"] if x["label"] == label), None)
    pa = summary.get("policy_accuracy")
    return {
        "smoke_run": bool(smoke),
        # null (not NaN) when no evaluation question had both right and wrong samples
        "within_question_auroc": _finite(ev.get("within_question_auroc")),
        "within_question_auroc_questions": ev.get("within_question_auroc_questions"),
        "end_auroc": ev.get("end_auroc"),
        "start_tv": ev.get("start_tv"), "start_tv_noise_floor": ev.get("start_tv_noise_floor"),
        "start_tv_note": ev.get("note"),
        "reward_states": 7 if c.denoise else 2,
        "policy_accuracy": ({"before": pa["before"], "after": pa["after"], "difference": pa["difference"],
                             "ci": pa["ci"], "questions": pa["questions"],
                             "rollouts_per_question": pa["rollouts_per_question"]} if pa else None),
        "matched_cost": ({"method": label, "ziprc_minus_mv": m["delta_vs_mv"], "ci": m["delta_vs_mv_ci"],
                          "cost": m["gen_cost"], "questions": sm["questions"], "ziprc_accuracy": m["accuracy"],
                          "majority_at_same_cost": m["mv_accuracy"], "extrapolated": m["extrapolated"]}
                         if m else None),
        "targets": {"within_question_auroc": ">= 0.80", "start_tv": "within 0.05 of the noise floor",
                    "policy_accuracy": "drop < 0.01", "matched_cost": "ci above 0 on >= 200 questions"},
    }


def _ci_text(c) -> str:
    """``[lo, hi]``, or ``[n/a]`` where the bootstrap gives no interval (every resample equal)."""
    return "[n/a]" if c is None else f"[{c[0]:+.3f}, {c[1]:+.3f}]"


def format_headline(h: dict) -> str:
    L = []
    if h["smoke_run"]:
        L.append("SMOKE RUN (--fast): a few minutes of training on a few questions; the numbers below only "
                 "show that every stage runs, not what the model can do")
    wq = h["within_question_auroc"]
    L.append(f"within-question AUROC of the end E[value]: {'n/a' if wq is None else f'{wq:.3f}'} "
             f"({h['within_question_auroc_questions']} questions with right and wrong samples; target >= 0.80)")
    L.append(f"start TV {h['start_tv']:.3f} vs noise floor {h['start_tv_noise_floor']:.3f} (target: within 0.05)")
    if h.get("start_tv_note"):
        L.append(f"  ({h['start_tv_note']})")
    pa = h["policy_accuracy"]
    if pa:
        L.append(f"policy accuracy before/after ZIP-RC training: {pa['before']:.3f} -> {pa['after']:.3f}, paired "
                 f"{pa['difference']:+.3f} {_ci_text(pa['ci'])} on {pa['questions']} questions")
    mc = h["matched_cost"]
    if mc:
        L.append(f"{mc['method']} vs majority voting at matched cost {mc['cost']:.2f}: {mc['ziprc_minus_mv']:+.3f} "
                 f"{_ci_text(mc['ci'])} on {mc['questions']} questions"
                 f"{' (extrapolated)' if mc['extrapolated'] else ''}")
    return "\n".join(L)


def stage_sample(out, c: Config, name: str = "ziprc", progress=True) -> dict:
    """Every policy of ``c.policies`` on the mixed sample set (ZIP-RC once per beta), with
    majority voting at N = 1..cap as the reference curve (always run: it defines ``Lbar``)."""
    from tqdm import tqdm

    from simulators.traces import write_traces

    from .policies import make_policy, parse_policy_names
    from .sampler import MajorityVotePolicy, OnlineSampler, majority_from_samples

    out = Path(out)
    policies = parse_policy_names(c.policies)
    model, tok, reserved, grid, _ = load_checkpoint(out / name, c.device)
    problems = _problems(c, "sample", c.sample_questions)
    osamp = OnlineSampler(model, tok, reserved, grid, cap=c.cap, max_new_tokens=c.max_new_tokens,
                          seed=c.seed + 13, smooth_tokens=c.smooth_tokens)
    from metamdp.policies import POLICY_NAMES, load_policies

    runs = [(make_policy(p, cap=c.cap), None) for p in sampled_baselines(policies)]
    # users' policies (``--policy-module``), run like the built-in ones, labelled by name
    runs += [(pol, pol.label()) for pol in load_policies(c.policy_modules, reserved=POLICY_NAMES)]
    betas = c.betas if "ziprc" in policies else ()
    t0 = time.perf_counter()
    n_base = len(problems) if c.baseline_questions <= 0 else min(len(problems), c.baseline_questions)
    bar = tqdm(total=len(problems) * (1 + len(betas)) + n_base * len(runs), desc="sampling",
               disable=not progress, mininterval=1.0)
    mv = _run_all(osamp, problems, MajorityVotePolicy(c.cap), c, bar)
    mv_rows = [row for r in mv for row in r.samples]
    meta = {"seed": c.seed, "params": dict(config_json(c), policy="majority", n=c.cap, model=name)}
    write_traces(out / "traces_majority.parquet", mv_rows, meta)
    lbar = question_lbar(mv)
    truth = {p.qid: p.answer for p in problems}
    boots = Bootstraps(seed=c.seed)
    rows_out = majority_rows(mv, truth, lbar, c.alpha, c.cap, boots, majority_from_samples)
    wall = {"mv": 0.0}
    for r in mv:
        wall["mv"] += r.policy_seconds + r.decode_seconds
    rows_out += selection_rows(mv, truth, policies, c.cap, lbar, c.alpha, boots)
    timing = {}
    for beta in betas:
        zpol = make_policy("ziprc", cap=c.cap, beta=beta, alpha=c.alpha, search=c.search, floor=c.floor,
                           planner=c.planner)
        res = _run_all(osamp, problems, zpol, c, bar)
        rows = [row for r in res for row in r.samples]
        timing[f"{beta:g}"] = {
            "planner_seconds": float(sum(r.policy_seconds for r in res)),
            "decode_seconds": float(sum(r.decode_seconds for r in res)),
            "decisions": int(sum(r.epochs for r in res)),
            "planner_fraction": float(sum(r.policy_seconds for r in res) / max(1e-12, sum(r.decode_seconds for r in res)))}
        write_traces(out / f"traces_ziprc_beta{beta:g}.parquet", rows,
                     {"seed": c.seed, "params": dict(config_json(c), policy="ziprc", beta=beta, model=name)})
        for sel in ("best", "vote"):
            acc = [getattr(r, f"correct_{sel}") for r in res]
            rows_out.append(run_row(f"ZIP-RC beta={beta:g} ({sel})", "ziprc", res, lbar, c.alpha, boots,
                                    correct=acc, variant=sel, knob_name="beta", knob=float(beta)))
        wall[f"ziprc beta={beta:g}"] = float(sum(r.policy_seconds + r.decode_seconds for r in res))
    n_base = len(problems) if c.baseline_questions <= 0 else min(len(problems), c.baseline_questions)
    for pol, label in runs:
        pname = pol.name
        res = _run_all(osamp, problems[:n_base], pol, c, bar)
        rows = [row for r in res for row in r.samples]
        write_traces(out / f"traces_{pname}.parquet", rows,
                     {"seed": c.seed, "params": dict(config_json(c), policy=pname, model=name,
                                                     knobs=pol.describe())})
        rows_out.append(run_row(label or row_label(pol), pname, res, lbar, c.alpha, boots))
        wall[pname] = float(sum(r.policy_seconds + r.decode_seconds for r in res))
    bar.close()
    matched = matched_rows(rows_out, boots)
    result = {"rows": rows_out, "matched": matched, "planner_timing": timing,
              "policy_seconds": {k: round(v, 2) for k, v in wall.items()},
              "policies": policies, "smooth_tokens": c.smooth_tokens, "floor": c.floor,
              "questions": len(problems), "baseline_questions": n_base, "alpha": c.alpha,
              "cap": c.cap, "seconds": time.perf_counter() - t0,
              "note": "majority N<8 uses the first N of the 8 independent samples of each question; "
                      "cost = alpha*compute + (1-alpha)*latency, normalised by the mean length of one "
                      "sample of the question; pruned tokens count"}
    write_json_atomic(out / "sampling.json", dict(result, provenance=provenance(
        "ziprc llm sample", c.seed, dict(config_json(c), model=name))))
    return result


class FrontierError(ValueError):
    """The frontier replay cannot run (no recordings) or failed for a built-in policy."""


def _replay_ziprc(c: Config) -> list:
    """ZIP-RC as the online sampler runs it (``c.floor``, ``c.search``, ``c.planner``) but
    without branching (recordings have no continuations of prefixes), over the study's beta
    grid plus the demo's betas; twice, as the demo reports it: answer by the best value
    (``best``) and by the value-weighted vote (``vote``), each a row variant."""
    from .policies import ZipRCPolicy

    class ZipRCBest(ZipRCPolicy):
        variant = "best"

    class ZipRCVote(ZipRCPolicy):
        variant = "vote"

    betas = tuple(sorted(set(ZipRCPolicy.knobs) | {float(b) for b in c.betas}))
    out = []
    for cls, selection in ((ZipRCVote, "weighted"), (ZipRCBest, "value")):
        pol = cls(beta=betas[0], alpha=c.alpha, cap=c.cap, search=c.search, branching=False,
                  floor=c.floor, selection=selection, planner=c.planner)
        pol.knobs = betas          # swept by the replay (user_policy_grid)
        out.append(pol)
    return out


def stage_frontier(out, c: Config, progress=True) -> dict:
    """Every replayable policy over its knob (ZIP-RC over beta, without branching), replayed
    exactly from the majority-vote recordings ``traces_majority.parquet``
    (:func:`simulators.replay.replay_study`): the frontiers, and the matched-cost table at
    majority voting's own cost with ``N = cap`` (1.40, the paper's operating point, names no
    particular majority vote on these lengths). Writes ``frontier.json`` (rows, table,
    provenance, as ``ziprc replay --json``) and ``frontier.png``; returns :func:`frontier_summary`.

    Users' policies (``c.policy_modules``) are replayed too; one that cannot be replayed
    (e.g. it branches) is left out with its reason in ``skipped``, not fatal.
    """
    from metamdp.policies import POLICY_NAMES, PolicyRunError, load_policies
    from simulators.plotstyle import frontier_figure, policy_label
    from simulators.replay import REPLAYABLE, ReplayError, replay_study

    out = Path(out)
    path = out / "traces_majority.parquet"
    if not path.exists():
        raise FrontierError(f"{path} not found: the frontier replays the majority-vote recordings "
                            f"of `ziprc llm sample --out {out}`")
    t0 = time.perf_counter()
    user = list(load_policies(c.policy_modules, reserved=POLICY_NAMES)) if c.policy_modules else []
    skipped = []
    names = [n for n in REPLAYABLE if n != "ziprc"]   # ZIP-RC: the online sampler's own, below
    while True:
        try:
            result = replay_study(path, policies=names, alpha=c.alpha, cap=c.cap, seed=c.seed,
                                  progress=progress, user_policies=_replay_ziprc(c) + user,
                                  match_cost="mv_max")
            break
        except (ReplayError, PolicyRunError) as e:
            # a user's policy that cannot be replayed is left out (its reason kept); any other
            # failure is a bug of ours and is raised, naming what failed
            bad = [u for u in user if f"policy {u.name!r}" in str(e) or f"policy {u.name} " in str(e)]
            if not bad:
                raise FrontierError(f"frontier replay of {path.name} failed: {e}") from e
            skipped.append({"policy": bad[0].name, "reason": str(e)})
            user.remove(bad[0])
    p = dict(result["provenance"]["params"])
    p.update(traces=path.name,   # relative to the run directory: no path of this machine
             suite="model trained here (replay)", skipped=skipped,
             predictions="the model's own recorded predictions",
             ziprc={"floor": c.floor, "search": c.search, "planner": c.planner, "branching": False,
                    "variants": {"vote": "value-weighted vote", "best": "best value"}},
             config=config_json(c))
    result["provenance"] = provenance("ziprc llm frontier", c.seed, p)
    for r in result["rows"]:
        if r["policy"] == "ziprc":   # replayed: what online ZIP-RC does, less branching
            r["label"] = "ZIP-RC replayed, no branching" + policy_label("", r.get("variant", ""))
    write_json_atomic(out / "frontier.json", result)
    frontier_figure(result, out / "frontier.png",
                    title=f"model trained here: frontiers replayed from {p['questions']} questions' recordings")
    return frontier_summary(result, time.perf_counter() - t0)


def frontier_summary(result: dict, seconds: float | None = None) -> dict:
    """The demo's digest of a frontier replay: ZIP-RC vs MV at the matched cost (along each
    frontier, interpolated, paired per question) and each policy's best grid point within
    the budget (MV's cost + 5%), as the replay's matched-cost table reports them."""
    ref = result["reference"]
    p = result["provenance"]["params"]

    ziprc = []
    for t in result["matched"]:
        f = t.get("frontier") or {}
        if t["policy"] != "ziprc" or f.get("status", "unreachable") == "unreachable":
            continue
        ziprc.append({"method": arm_label(t), "status": f["status"], "knob_name": f["knob_name"], "knob": f["knob"],
                      "gen_cost": f["gen_cost"], "accuracy": f["accuracy"],
                      "mv_accuracy": ref.get("frontier_accuracy"),
                      "ziprc_minus_mv": f.get("delta_vs_mv"), "ci": f.get("delta_vs_mv_ci")})
    best = {arm_label(t): {"knob_name": t["knob_name"], "knob": t["knob"], "accuracy": t["accuracy"],
                       "gen_cost": t["gen_cost"], "within_budget": t["within_budget"],
                       "minus_mv": t["delta_vs_mv"], "ci": t["delta_vs_mv_ci"]}
            for t in result["matched"]}
    return {"questions": p["questions"], "alpha": p["alpha"], "cap": p["cap"],
            "policies": len({(r["policy"], r["variant"]) for r in result["rows"]}),
            "knob_points": len(result["rows"]), "match_cost": ref["match_cost"],
            "reference": {"policy": "mv", "knob": ref["knob"], "gen_cost": ref["gen_cost"],
                          "accuracy": ref["accuracy"], "budget": ref["budget"]},
            "ziprc_vs_mv": sorted(ziprc, key=lambda z: not z["method"].endswith("(vote)")),  # the demo's rule first
            "best_within_budget": best, "skipped": p.get("skipped", []),
            "files": ["frontier.json", "frontier.png"],
            "seconds": None if seconds is None else round(seconds, 1)}


def format_frontier(f: dict) -> str:
    """A few lines of the demo's table: ZIP-RC vs MV at MV's cost, each policy's best."""
    import textwrap

    if "error" in f:
        return f"frontiers replayed from the majority-vote recordings: FAILED: {f['error']}"
    ref = f["reference"]
    L = [f"frontiers replayed from the majority-vote recordings (every policy over its knob; ZIP-RC "
         f"without branching): {f['policies']} policies, {f['knob_points']} knob points, "
         f"{f['questions']} questions (frontier.json, frontier.png)"]
    for z in f["ziprc_vs_mv"]:
        d, ci = z["ziprc_minus_mv"], z["ci"]
        dtxt = "n/a" if d is None else f"{100 * d:+.1f}" + (" [n/a]" if ci is None else
                                                           f" [{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]")
        where = "interpolated" if z["status"] == "interpolated" else "its most accurate point, all cheaper"
        mv = "n/a" if z["mv_accuracy"] is None else f"{100 * z['mv_accuracy']:.1f}%"
        L.append(f"  {z['method']} at MV N={ref['knob']}'s cost {f['match_cost']:.2f}: {100 * z['accuracy']:.1f}% vs "
                 f"MV {mv}: {dtxt} pts, paired, 95% CI (beta {z['knob']:.3g}, {where})")
    if not f["ziprc_vs_mv"]:
        L.append(f"  ZIP-RC: no beta is as cheap as MV N={ref['knob']} ({f['match_cost']:.2f})")
    best = ", ".join(f"{k} {100 * v['accuracy']:.1f}{'' if v['within_budget'] else '*'}"
                     for k, v in f["best_within_budget"].items())
    L += textwrap.wrap(f"best accuracy (%) at cost <= {ref['budget']:.2f} (MV N={ref['knob']}'s +5%): {best}"
                       + (" (*: no knob that cheap, its cheapest shown)" if "*" in best else ""),
                       width=110, initial_indent="  ", subsequent_indent="    ")
    for sk in f.get("skipped", []):
        L.append(f"  not replayed: {sk['policy']}: {sk['reason']}")
    return "\n".join(L)


def _run_all(osamp, problems, policy, c: Config, bar):
    """Every question with ``policy``, ``c.concurrent`` of them decoded together."""
    res = osamp.run_many(problems, policy, concurrent=min(c.concurrent, max(1, len(problems))))
    bar.update(len(problems))
    return res


# --------------------------------------------------------------------------- demo


def run_demo(out, c: Config, progress=True, smoke: bool = False, json_path=None) -> dict:
    """Every stage from nothing; returns (and writes) the summary and prints a table.

    ``smoke``: the ``--fast`` configuration, said as such in the output. ``json_path``: also
    write the headline numbers (:func:`headline`) there."""
    out = Path(out)
    torch.manual_seed(c.seed)
    times, summary = {}, {}
    t_all = time.perf_counter()

    def timed(key, fn, *a, **k):
        t = time.perf_counter()
        r = fn(*a, **k)
        times[key] = round(time.perf_counter() - t, 1)
        return r

    summary["pretrain"] = timed("pretrain", stage_pretrain, out, c, progress)
    summary["rollouts"] = timed("rollouts", stage_rollouts, out, c, progress)
    summary["train"] = {
        "ziprc": timed("train_ziprc", stage_train, out, c, "ziprc", progress=progress),
        "ziprc_alpha0": timed("train_alpha0", stage_train, out, c, "ziprc_alpha0", alpha_kl=0.0,
                              steps=c.alpha0_steps, progress=progress),
        "ziprc_lite": timed("train_lite", stage_train, out, c, "ziprc_lite", lite=True, progress=progress),
    }
    ev = timed("evaluate", stage_evaluate, out, c, ("ziprc", "ziprc_lite"), progress)
    summary["evaluate"] = {k: {kk: vv for kk, vv in v.items() if kk not in ("per_question", "per_rollout")}
                           for k, v in ev.items()}
    summary["policy_accuracy"] = timed("policy_accuracy", stage_policy_accuracy, out, c, "ziprc", progress)
    summary["sample"] = timed("sample", stage_sample, out, c, "ziprc", progress)
    from metamdp.policies import PolicyRunError
    from simulators.replay import ReplayError
    from simulators.report import ReportError

    try:
        summary["frontier"] = timed("frontier", stage_frontier, out, c, progress)
    except (FrontierError, ReplayError, PolicyRunError, ReportError) as e:
        # the sampling results above stand on their own: say what failed, keep the demo's table
        summary["frontier"] = {"error": str(e)}
    times["total"] = round(time.perf_counter() - t_all, 1)
    summary["seconds"] = times
    summary["headline"] = headline(summary, c, smoke)
    write_json_atomic(out / "summary.json", dict(summary, provenance=provenance(
        "ziprc llm demo", c.seed, config_json(c))))
    print(format_table(summary))
    print()
    print(format_headline(summary["headline"]))
    if json_path:
        write_json_atomic(json_path, dict(summary["headline"], seconds=times, provenance=provenance(
            "ziprc llm demo", c.seed, config_json(c))))
    return summary


def format_table(s: dict) -> str:
    L = []
    pr = s["pretrain"]
    ro = s["rollouts"]
    L.append(f"model: {pr['params']:,} parameters; pretrain loss {pr['final_loss']:.3f}")
    L.append(f"rollouts: {ro['n']} at temperature 1, accuracy {ro['accuracy']:.3f}, "
             f"mean length {ro['mean_tokens']:.1f} tokens")
    acc_by = "  ".join(f"{k}:{v['accuracy']:.2f}" for k, v in ro["by_steps"].items())
    L.append(f"  accuracy by steps  {acc_by}")
    L.append("")
    L.append(f"{'training':<14}{'alpha_KL':>9}{'CE(end)':>9}{'KL first':>10}{'KL end':>9}{'KL max':>9}")
    for k, v in s["train"].items():
        L.append(f"{k:<14}{v['alpha_kl']:>9g}{v['final_ce']:>9.3f}{v['kl_first']:>10.4f}{v['kl_last']:>9.4f}{v['kl_max']:>9.4f}")
    L.append("")
    L.append(f"{'prediction':<12}{'startTV':>8}{'(floor)':>8}{'(pooled)':>9}{'F1':>6}{'acc':>6}{'recInc':>7}"
             f"{'AUROC':>7}{'ECEend':>7}{'ECEstart':>9}{'cov80':>6}")
    for k, m in s["evaluate"].items():
        L.append(f"{k:<12}{m['start_tv']:>8.3f}{m['start_tv_noise_floor']:>8.3f}{m['start_tv_pooled_baseline']:>9.3f}"
                 f"{m['end_f1']:>6.2f}{m['end_accuracy']:>6.2f}{m['end_recall_incorrect']:>7.2f}"
                 f"{m['end_auroc']:>7.2f}{m['ece_end']:>7.3f}{m['ece_start']:>9.3f}{m['length_coverage_80']:>6.2f}")
    L.append("")
    sm = s["sample"]
    nb = sm.get("baseline_questions", sm["questions"])
    L.append(f"sampling on {sm['questions']} mixed questions"
             f"{f' (the other online baselines on the first {nb})' if nb < sm['questions'] else ''} "
             f"(alpha={sm['alpha']}, cap {sm['cap']}, "
             f"smoothing {sm.get('smooth_tokens', 0)} tokens, floor {sm.get('floor', 'nearest')}):")
    L.append(format_rows(sm["rows"]))
    for b, tm in sm.get("planner_timing", {}).items():
        L.append(f"  planner time / decode time in the ZIP-RC beta={b} runs: {tm['planner_fraction']:.4f} "
                 f"({tm['decisions']} decisions)")
    for m in sm["matched"]:
        L.append("  " + format_matched(m))
    if s.get("frontier"):
        L.append("")
        L.append(format_frontier(s["frontier"]))
    L.append("")
    L.append("seconds: " + ", ".join(f"{k} {v}" for k, v in s["seconds"].items()))
    return "\n".join(L)
