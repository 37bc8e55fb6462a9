"""Table 2: accuracy at matched generation cost (alpha = 0.1), the paper's numbers beside ours,
cell by cell, with 95% CIs; from the synthetic suites and from the model trained here.

Ours (synthetic): each policy's most accurate knob at generation cost <= majority voting's
(the MV knob nearest 1.4) + 5% (:func:`simulators.report.matched_table`); "vs MV" is paired
per question. Ours (model): every online policy at its default knob, against majority voting
along its frontier at the same cost (:func:`llm_backend.rows.matched_rows`).
"""

from __future__ import annotations

from simulators.paper_numbers import TABLE2, TABLE2_LFM2_350M, TABLE2_SUITES
from simulators.plotstyle import policy_label

from .common import num_ci, pct, pct_ci, pts_ci, write_table

NAME = "table2_matched_cost"
SUITE_TITLES = {"aime24": "AIME24", "amc23": "AMC23", "math500": "MATH-500", "gsm8k": "GSM8K",
                "mixed": "Mixed"}


def collect(stages) -> dict:
    sweep = stages.sweep()
    synth = {}
    for suite in TABLE2_SUITES:
        res = sweep[(suite, 0.1)]
        p = res["provenance"]["params"]
        synth[suite] = {"matched": res["matched"], "reference": res["reference"],
                        "questions": p["questions"], "episodes": p["episodes"]}
    s = stages.llm_json("sampling.json")
    model = {"rows": [{k: v for k, v in r.items() if k != "per_question"} for r in s["rows"]],
             "matched": s["matched"], "questions": s["questions"], "alpha": s["alpha"], "cap": s["cap"]}
    return {"synthetic": synth, "model": model, "seed": stages.seed}


def _fmt_knob(t) -> str:
    v = t["knob"]
    short = {"beta": "beta", "n": "N", "threshold": "thr", "budget_tokens": "tokens"}
    return f"{short.get(t['knob_name'], t['knob_name'])}={v:g}" if isinstance(v, (int, float)) else str(v)


def _frontier_section(synth: dict, rows: list) -> list:
    """Accuracy at generation cost exactly 1.4, each policy interpolated along its own frontier
    (``matched[...]["frontier"]``, written by studies since frontier interpolation landed in
    :func:`simulators.report.matched_table`); nothing when the results predate it."""
    if not any(t.get("frontier") for s in synth.values() for t in s["matched"]):
        return []
    L = ["", "## Interpolated along each policy's frontier, at generation cost 1.4", "",
         "Each policy's accuracy at cost 1.4 on its Pareto frontier (a mixture of its two "
         "bracketing knob values; `end`: every knob is cheaper, the frontier's end is shown), "
         "minus majority voting interpolated the same way, paired [95% CI].", "",
         "| method | suite | paper acc. | ours acc. at 1.4 [95% CI] | ours vs MV at 1.4 (pts) [CI] |",
         "|---|---|---|---|---|"]
    for policy, paper in TABLE2.items():
        pname, paccs = paper["label"], paper["acc"]
        for suite in TABLE2_SUITES:
            m = next((t for t in synth[suite]["matched"] if t["policy"] == policy and not t["variant"]), None)
            f = (m or {}).get("frontier")
            if not f or f.get("accuracy") is None:
                L.append(f"| {pname} | {SUITE_TITLES[suite]} | {paccs[suite]:.1f} | n/a | n/a |")
                continue
            end = " (end)" if f.get("status") == "frontier_end" else ""
            d = "0 (reference)" if policy == "mv" else pts_ci(f.get("delta_vs_mv"), f.get("delta_vs_mv_ci"))
            L.append(f"| {pname} | {SUITE_TITLES[suite]} | {paccs[suite]:.1f} | "
                     f"{pct_ci(f['accuracy'], f.get('accuracy_ci'))}{end} | {d} |")
            rows.append({"policy": policy, "method": pname, "suite": suite, "source": "synthetic-frontier",
                         "paper_accuracy": paccs[suite] / 100, "accuracy": f["accuracy"],
                         "accuracy_ci": f.get("accuracy_ci"), "gen_cost": f.get("gen_cost"),
                         "status": f.get("status"), "delta_vs_mv": f.get("delta_vs_mv"),
                         "delta_vs_mv_ci": f.get("delta_vs_mv_ci")})
    return L


def make(data: dict, out_dir, params: dict | None = None) -> list:
    rows = []
    L = ["# Table 2: accuracy at matched generation cost (alpha = 0.1)", "",
         "Paper: Qwen3-1.7B, beta = 0.01, cap 8 (one generation cost per method). Ours: synthetic "
         "suites with exact predictions, each policy's most accurate knob at cost <= majority "
         "vote's (its knob nearest cost 1.4) + 5%; accuracy % [95% stratified bootstrap CI]; "
         "`vs MV` is the paired difference in points [CI]. `*`: no knob reaches the budget "
         "(cheapest point shown).", ""]
    synth = data["synthetic"]
    hdr = "| method | suite | paper acc. | paper cost | ours acc. [95% CI] | ours cost | ours knob | ours vs MV (pts) [CI] |"
    L += [hdr, "|" + "---|" * 8]
    for policy, paper in TABLE2.items():
        pname, pcost, paccs = paper["label"], paper["cost"], paper["acc"]
        for suite in TABLE2_SUITES:
            m = next((t for t in synth[suite]["matched"] if t["policy"] == policy and not t["variant"]), None)
            row = {"policy": policy, "method": pname, "suite": suite, "paper_accuracy": paccs[suite] / 100,
                   "paper_gen_cost": pcost, "source": "synthetic"}
            if m is not None:
                row.update(accuracy=m["accuracy"], accuracy_ci=m["accuracy_ci"], gen_cost=m["gen_cost"],
                           knob=_fmt_knob(m), delta_vs_mv=m["delta_vs_mv"],
                           delta_vs_mv_ci=m["delta_vs_mv_ci"], within_budget=m["within_budget"])
            rows.append(row)
            if m is None:
                L.append(f"| {pname} | {SUITE_TITLES[suite]} | {paccs[suite]:.1f} | {pcost:.2f} | n/a | | | |")
                continue
            d = pts_ci(m["delta_vs_mv"], m["delta_vs_mv_ci"]) if policy != "mv" else "0 (reference)"
            flag = "" if m["within_budget"] else " *"
            L.append(f"| {pname} | {SUITE_TITLES[suite]} | {paccs[suite]:.1f} | {pcost:.2f} | "
                     f"{pct_ci(m['accuracy'], m['accuracy_ci'])}{flag} | {m['gen_cost']:.2f} | {_fmt_knob(m)} | {d} |")
    L += _frontier_section(synth, rows)
    L += ["", "Questions x episodes per suite (ours): " + ", ".join(
        f"{SUITE_TITLES[s]} {synth[s]['questions']} x {synth[s]['episodes']}" for s in TABLE2_SUITES)
        + f"; seed {data.get('seed', 0)}.", ""]
    # the other baselines on Mixed, ours only
    L += ["## Every other baseline, Mixed (synthetic), ours only", "",
          "| method | ours acc. [95% CI] | ours cost | ours knob | ours vs MV (pts) [CI] |", "|---|---|---|---|---|"]
    for t in synth["mixed"]["matched"]:
        if t["policy"] in TABLE2 and not t["variant"]:
            continue
        name = policy_label(t["policy"], t["variant"])
        flag = "" if t["within_budget"] else " *"
        d = pts_ci(t["delta_vs_mv"], t["delta_vs_mv_ci"])
        L.append(f"| {name} | {pct_ci(t['accuracy'], t['accuracy_ci'])}{flag} | {t['gen_cost']:.2f} | "
                 f"{_fmt_knob(t)} | {d} |")
        rows.append({"policy": t["policy"], "variant": t["variant"], "suite": "mixed", "source": "synthetic",
                     "accuracy": t["accuracy"], "accuracy_ci": t["accuracy_ci"], "gen_cost": t["gen_cost"],
                     "knob": _fmt_knob(t), "delta_vs_mv": t["delta_vs_mv"],
                     "delta_vs_mv_ci": t["delta_vs_mv_ci"], "within_budget": t["within_budget"]})
    model = data["model"]
    L += ["", f"## The model trained here (online sampling, {model['questions']} mixed questions, "
          f"alpha {model['alpha']:g}, cap {model['cap']})", "",
          "Paper column: LFM2-350M-Math on Mixed (the paper's smallest model): ZIP-RC "
          f"{TABLE2_LFM2_350M['ziprc']['acc']} at cost {TABLE2_LFM2_350M['ziprc']['cost']}, majority vote "
          f"{TABLE2_LFM2_350M['mv']['acc']} at {TABLE2_LFM2_350M['mv']['cost']}. Ours: each policy at its default "
          "knob; `vs MV` = minus majority vote along its frontier at the same cost (paired bootstrap CI; "
          "`ext.` = outside majority vote's frontier, compared with its nearest end).", "",
          "| method | ours acc. [95% CI] | ours cost [95% CI] | MV at same cost | vs MV (pts) [CI] |",
          "|---|---|---|---|---|"]
    matched = {m["label"]: m for m in model["matched"]}
    for r in model["rows"]:
        m = matched.get(r["label"])
        cost = num_ci(r["gen_cost"], r["gen_cost_ci"])
        if m is None:
            vs, mv_at = "reference", ""
        else:
            vs = pts_ci(m["delta_vs_mv"], m["delta_vs_mv_ci"]) + (" ext." if m["extrapolated"] else "")
            mv_at = pct(m["mv_accuracy"])
        L.append(f"| {r['label']} | {pct_ci(r['accuracy'], r['accuracy_ci'])} | {cost} | {mv_at} | {vs} |")
        rows.append({"policy": r["policy"], "method": r["label"], "suite": "model", "source": "model",
                     "accuracy": r["accuracy"], "accuracy_ci": r["accuracy_ci"], "gen_cost": r["gen_cost"],
                     "gen_cost_ci": r["gen_cost_ci"],
                     "mv_at_same_cost": None if m is None else m["mv_accuracy"],
                     "delta_vs_mv": None if m is None else m["delta_vs_mv"],
                     "delta_vs_mv_ci": None if m is None else m["delta_vs_mv_ci"]})
    L += ["", f"Made by `ziprc figures --only {NAME}`."]
    return write_table(out_dir, NAME, "\n".join(L), rows, data, params or {}, seed=data.get("seed", 0))


def build(stages, out_dir) -> list:
    return make(collect(stages), out_dir, stages.describe())


if __name__ == "__main__":
    from .run import main_one

    raise SystemExit(main_one(NAME))
