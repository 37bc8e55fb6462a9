"""Policy studies: each policy over its knob, the matched-cost table and the frontier plot,
plus resumable sweeps over suites, alpha, corruptions and seeds (local processes or Dask).

Every accuracy and cost carries a stratified bootstrap confidence interval over questions
(strata = the benchmark a question comes from; rliable-style percentile intervals). All
policies run on the same samples (common random numbers), so differences between policies
are paired per question and their intervals are much tighter than the accuracies'.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .io import provenance, write_json_atomic
from .policies import POLICY_NAMES, Policy, parse_policies, sweep
from .runner import (M_ANSWERED, M_CORRECT, M_LBAR, M_PRUNED, M_STARTED, per_episode_costs,
                     run_policy)
from .synthetic import SUITES, Corruption, World, WorldError, build_world

MATCH_COST = 1.4  # the paper's Table 2 operating point (majority vote's generation cost)
MATCH_TOLERANCE = 0.05  # "equal or lower cost", with the paper's 1.43-vs-1.40 slack
N_BOOT = 1000
_KERNEL_LOCK = threading.Lock()  # Numba's default threading layer is not re-entrant


class StudyError(ValueError):
    """Bad study parameters."""


@dataclass
class Cell:
    """Per-question results of one policy at one knob value (episodes averaged)."""

    policy: Policy
    variant: str
    correct: np.ndarray
    compute: np.ndarray
    latency: np.ndarray
    samples: np.ndarray
    pruned: np.ndarray
    answered: np.ndarray

    def gen_cost(self, alpha: float) -> np.ndarray:
        return alpha * self.compute + (1 - alpha) * self.latency


def run_cell(world: World, policy: Policy, seed: int, episodes: int,
             corruption: Corruption | None = None, variant: str = "") -> Cell:
    """Run one (policy, knob) on every question; average the episodes of each question."""
    with _KERNEL_LOCK:  # a user's policy runs on the Python driver, which calls kernels too
        m = run_policy(world, policy, seed=seed, episodes_per_question=episodes,
                       corruption=corruption)
    correct, compute, latency, _ = per_episode_costs(m, 0.0)
    lbar = m[:, M_LBAR]
    Q = world.n_questions

    def per_q(x):
        return x.reshape(Q, episodes).mean(axis=1)

    return Cell(policy=policy, variant=variant, correct=per_q(correct), compute=per_q(compute),
                latency=per_q(latency), samples=per_q(m[:, M_STARTED]),
                pruned=per_q(m[:, M_PRUNED] / lbar), answered=per_q(m[:, M_ANSWERED]))


def bootstrap_indices(strata: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """``(n_boot, Q)`` question indices resampled with replacement within each stratum."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), 7919])))
    out = np.empty((n_boot, strata.size), dtype=np.int64)
    pos = 0
    for s in np.unique(strata):
        members = np.flatnonzero(strata == s)
        out[:, pos:pos + members.size] = members[rng.integers(0, members.size,
                                                              size=(n_boot, members.size))]
        pos += members.size
    return out


def _weights(world: World) -> np.ndarray:
    return np.full(world.n_questions, 1.0 / world.n_questions)


def ci(x: np.ndarray, boot: np.ndarray) -> list:
    """95% percentile interval of the mean of ``x`` under the resampling ``boot``."""
    means = x[boot].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return [float(lo), float(hi)]


def user_policy_grid(policies) -> list:
    """A user's policies as study cells: each over its ``knobs`` when it declares a
    ``knob_name`` (built with :meth:`metamdp.policies.Policy.with_knob`), else once."""
    out = []
    for pol in policies or ():
        if getattr(pol, "knob_name", None) and getattr(pol, "knobs", ()):
            out += [pol.with_knob(v) for v in pol.knobs]
        else:
            out.append(pol)
    return out


def policy_grid(names, alpha: float = 0.1, cap: int = 8, ziprc_params: dict | None = None) -> list:
    """(policy, variant) pairs of a study: every knob value of every named policy."""
    out = []
    for name in names:
        if name == "ziprc":
            out += [(p, "") for p in sweep("ziprc", alpha=alpha, cap=cap, **(ziprc_params or {}))]
        elif name == "deepconf":
            out += [(p, "trace") for p in sweep("deepconf", alpha=alpha, cap=cap, signal="trace")]
            out += [(p, "ziprc") for p in sweep("deepconf", alpha=alpha, cap=cap, signal="ziprc")]
        else:
            out += [(p, "") for p in sweep(name, alpha=alpha, cap=cap)]
    return out


def run_study(suite: str = "mixed", alpha: float = 0.1, policies=None, questions: int | None = None,
              seed: int = 0, episodes: int = 1, corruption: Corruption | None = None,
              reward_states: int = 7, progress: bool = True, n_boot: int = N_BOOT,
              ziprc_params: dict | None = None, world_overrides: dict | None = None,
              user_policies=()) -> dict:
    """Run every policy over its knob and build the rows, the matched-cost table and provenance.

    ``user_policies``: :class:`metamdp.policies.Policy` objects run beside the built-in ones
    on the Python episode driver (same episodes; see :func:`user_policy_grid`).

    Returns
    -------
    dict
        ``{"rows": [...], "matched": [...], "reference": {...}, "provenance": {...}}``; a
        row has ``policy``, ``variant``, ``knob_name``, ``knob``, ``accuracy``,
        ``accuracy_ci``, ``gen_cost``, ``gen_cost_ci``, ``compute``, ``latency``,
        ``samples``, ``pruned_tokens``, ``answered``.
    """
    if not 0.0 <= alpha <= 1.0:
        raise StudyError(f"alpha must be in [0, 1], got {alpha!r}")
    if int(episodes) < 1:
        raise StudyError(f"episodes must be >= 1, got {episodes!r}")
    names = parse_policies(policies)
    if "mv" not in names:
        names = ["mv"] + names  # the matched-cost reference
    world = build_world(suite, reward_states=reward_states, n_questions=questions,
                        **(world_overrides or {}))
    corruption = corruption or Corruption()
    try:
        grid = policy_grid(names, alpha=alpha, ziprc_params=ziprc_params)
        grid += [(p, "") for p in user_policy_grid(user_policies)]
    except ValueError as e:
        raise StudyError(str(e)) from None
    cells = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(grid), desc=f"study {suite} alpha={alpha}", unit="cell", leave=False)
    for policy, variant in grid:
        if bar is not None:
            bar.set_postfix_str(policy.label())
        cells.append(run_cell(world, policy, seed, episodes, corruption, variant))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return summarize_cells(world, cells, alpha, seed=seed, n_boot=n_boot,
                           params={"suite": suite, "alpha": alpha,
                                   "policies": names + [p.name for p in user_policies],
                                   "user_policies": [p.describe() for p in user_policies],
                                   "questions": world.n_questions, "episodes": episodes,
                                   "reward_states": reward_states,
                                   "corruption": asdict(corruption),
                                   "ziprc_params": ziprc_params or {},
                                   "world_overrides": world_overrides or {},
                                   "world": world.params()})


def summarize_cells(world: World, cells: list, alpha: float, seed: int = 0,
                    n_boot: int = N_BOOT, params: dict | None = None) -> dict:
    """Rows with bootstrap intervals, and the matched-cost table, from per-question cells."""
    boot = bootstrap_indices(world.source, n_boot, seed)
    rows = []
    for c in cells:
        g = c.gen_cost(alpha)
        rows.append({"policy": c.policy.name, "variant": c.variant, "knob_name": c.policy.knob_name,
                     "knob": c.policy.knob, "accuracy": float(c.correct.mean()),
                     "accuracy_ci": ci(c.correct, boot), "gen_cost": float(g.mean()),
                     "gen_cost_ci": ci(g, boot), "compute": float(c.compute.mean()),
                     "latency": float(c.latency.mean()), "samples": float(c.samples.mean()),
                     "pruned_tokens": float(c.pruned.mean()), "answered": float(c.answered.mean()),
                     "params": c.policy.params})
    matched, reference = matched_table(cells, rows, alpha, boot)
    per_source = {}
    for s, name in enumerate(world.source_names):
        sel = world.source == s
        per_source[name] = {"questions": int(sel.sum())}
    return {"rows": rows, "matched": matched, "reference": reference, "sources": per_source,
            "provenance": provenance("ziprc study", seed=seed, params=params or {})}


def matched_table(cells: list, rows: list, alpha: float, boot: np.ndarray):
    """For each policy, its most accurate knob at generation cost <= MV's (near 1.4) + 5%.

    The reference is the majority-vote knob whose generation cost is nearest
    :data:`MATCH_COST`. ``delta_vs_mv`` is paired per question (same samples).
    """
    mv = [(c, r) for c, r in zip(cells, rows) if r["policy"] == "mv"]
    if not mv:
        raise StudyError("the matched-cost table needs majority voting (policy mv)")
    ref_cell, ref_row = min(mv, key=lambda cr: abs(cr[1]["gen_cost"] - MATCH_COST))
    budget = ref_row["gen_cost"] * (1 + MATCH_TOLERANCE)
    groups = {}
    for c, r in zip(cells, rows):
        groups.setdefault((r["policy"], r["variant"]), []).append((c, r))
    table = []
    for (name, variant), members in groups.items():
        ok = [(c, r) for c, r in members if r["gen_cost"] <= budget]
        within = bool(ok)
        if name == "mv":
            c, r = ref_cell, ref_row  # the reference itself
        elif ok:
            c, r = max(ok, key=lambda cr: (cr[1]["accuracy"], -cr[1]["gen_cost"]))
        else:
            c, r = min(members, key=lambda cr: cr[1]["gen_cost"])
        diff = c.correct - ref_cell.correct
        table.append({"policy": name, "variant": variant, "knob_name": r["knob_name"],
                      "knob": r["knob"], "accuracy": r["accuracy"], "accuracy_ci": r["accuracy_ci"],
                      "gen_cost": r["gen_cost"], "gen_cost_ci": r["gen_cost_ci"],
                      "compute": r["compute"], "latency": r["latency"], "samples": r["samples"],
                      "delta_vs_mv": float(diff.mean()), "delta_vs_mv_ci": ci(diff, boot),
                      "within_budget": within})
    order = {n: i for i, n in enumerate(POLICY_NAMES)}
    table.sort(key=lambda t: (order.get(t["policy"], 99), t["variant"]))
    reference = {"policy": "mv", "knob": ref_row["knob"], "gen_cost": ref_row["gen_cost"],
                 "accuracy": ref_row["accuracy"], "budget": budget}
    return table, reference


# --------------------------------------------------------------------------- presentation


def format_table(result: dict) -> str:
    """The matched-cost table as aligned text."""
    ref = result["reference"]
    p = result["provenance"]["params"]
    lines = [f"suite {p.get('suite')}  alpha {p.get('alpha')}  questions {p.get('questions')}  "
             f"episodes/question {p.get('episodes')}  seed {result['provenance']['seed']}",
             f"matched cost: majority vote N={ref['knob']} at generation cost "
             f"{ref['gen_cost']:.2f} (budget <= {ref['budget']:.2f}); 95% stratified bootstrap CIs",
             f"{'policy':<28}{'knob':>10}{'accuracy %':>22}{'vs MV (pts)':>22}{'gen cost':>10}"
             f"{'compute':>9}{'latency':>9}{'samples':>9}"]
    for t in result["matched"]:
        name = t["policy"] + (f" ({t['variant']})" if t["variant"] else "")
        flag = "" if t["within_budget"] else " *"
        acc = f"{100 * t['accuracy']:.1f} [{100 * t['accuracy_ci'][0]:.1f},{100 * t['accuracy_ci'][1]:.1f}]"
        d = (f"{100 * t['delta_vs_mv']:+.1f} [{100 * t['delta_vs_mv_ci'][0]:+.1f},"
             f"{100 * t['delta_vs_mv_ci'][1]:+.1f}]")
        lines.append(f"{name + flag:<28}{_fmt_knob(t['knob_name'], t['knob']):>10}{acc:>22}{d:>22}"
                     f"{t['gen_cost']:>10.2f}{t['compute']:>9.2f}{t['latency']:>9.2f}{t['samples']:>9.2f}")
    if any(not t["within_budget"] for t in result["matched"]):
        lines.append("* no knob value reaches the budget; its cheapest point is shown")
    return "\n".join(lines)


def _fmt_knob(name, value) -> str:
    if name is None:
        return "-"
    short = {"beta": "b", "n": "N", "threshold": "thr", "budget_tokens": "tok", "window": "w"}
    return f"{short.get(name, name)}={value:g}" if isinstance(value, (int, float)) else str(value)


def plot_frontier(result: dict, path) -> None:
    """Accuracy vs generation cost, one line per policy (Agg backend), with CI bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5))
    ax.set_prop_cycle(color=plt.get_cmap("tab20").colors)  # enough colours for every policy
    groups = {}
    for r in result["rows"]:
        groups.setdefault((r["policy"], r["variant"]), []).append(r)
    for (name, variant), rs in groups.items():
        rs = sorted(rs, key=lambda r: r["gen_cost"])
        x = [r["gen_cost"] for r in rs]
        y = [100 * r["accuracy"] for r in rs]
        yerr = [[100 * (r["accuracy"] - r["accuracy_ci"][0]) for r in rs],
                [100 * (r["accuracy_ci"][1] - r["accuracy"]) for r in rs]]
        label = name + (f" ({variant})" if variant else "")
        style = dict(lw=2.5, color="k") if name == "ziprc" else dict(lw=1.0)
        ax.errorbar(x, y, yerr=yerr, marker="o", ms=3, capsize=2, label=label, **style)
    ref = result["reference"]
    ax.axvline(ref["gen_cost"], color="grey", ls=":", lw=1)
    p = result["provenance"]["params"]
    ax.set_xlabel(f"generation cost (alpha = {p.get('alpha')})")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"{p.get('suite')} suite: accuracy vs generation cost (95% CIs)")
    ax.set_xscale("log")
    ax.legend(fontsize=7, ncol=2, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)


# --------------------------------------------------------------------------- sweeps

CORRUPTION_PRESETS = {
    "exact": Corruption(),
    "temperature2": Corruption(temperature=2.0),
    "temperature0.5": Corruption(temperature=0.5),
    "noise1": Corruption(noise=1.0),
    "optimism1": Corruption(optimism=1.0),
    "optimism3": Corruption(optimism=3.0),
    "lag8": Corruption(lag_ticks=8),
    "window8": Corruption(window_ticks=8),
    "coarse2": Corruption(coarse_factor=2),
    "coarse4": Corruption(coarse_factor=4),
    "correlated0.5": Corruption(correlation=0.5),
    "valuenoise0.5": Corruption(value_noise=0.5),
}


def parse_corruption(text: str) -> Corruption:
    """A preset name (see :data:`CORRUPTION_PRESETS`) or ``key=value,key=value``."""
    if text in CORRUPTION_PRESETS:
        return CORRUPTION_PRESETS[text]
    kw = {}
    for part in text.split(","):
        if "=" not in part:
            raise StudyError(f"corruption {text!r}: use a preset ({', '.join(CORRUPTION_PRESETS)}) "
                             "or key=value pairs such as temperature=2,lag_ticks=8")
        k, v = part.split("=", 1)
        k = k.strip()
        if k not in Corruption.__dataclass_fields__:
            raise StudyError(f"unknown corruption knob {k!r}; knobs: {', '.join(Corruption.__dataclass_fields__)}")
        kw[k] = (float(v) if k in ("temperature", "noise", "optimism", "correlation", "value_noise")
                 else int(v))
    try:
        return Corruption(**kw)
    except WorldError as e:
        raise StudyError(str(e)) from None


@dataclass(frozen=True)
class SweepTask:
    """One study of a sweep; its result file name is a hash of its parameters."""

    suite: str
    alpha: float
    corruption: str
    seed: int
    policies: tuple
    questions: int | None
    episodes: int
    ziprc_params: tuple = ()

    def key(self) -> str:
        # the knob grids and the package version are part of the identity of a result file,
        # so a resumed sweep never mixes results of different code
        from metamdp import __version__
        from .policies import REGISTRY

        blob = json.dumps([asdict(self), REGISTRY, __version__], sort_keys=True, default=str)
        digest = hashlib.sha256(blob.encode()).hexdigest()[:12]
        return f"{self.suite}-a{self.alpha:g}-{self.corruption}-s{self.seed}-{digest}"


def run_task(task: SweepTask) -> dict:
    """Execute one sweep task (top-level so processes and Dask workers can import it)."""
    res = run_study(task.suite, task.alpha, list(task.policies), task.questions, task.seed,
                    task.episodes, parse_corruption(task.corruption), progress=False,
                    ziprc_params=dict(task.ziprc_params))
    res["task"] = asdict(task)
    return res


def _run_and_write(task: SweepTask, out_dir: str) -> str:
    path = Path(out_dir) / f"{task.key()}.json"
    if path.exists():
        return str(path)
    write_json_atomic(path, run_task(task))
    return str(path)


def _one_thread():
    """Process-pool initializer: one Numba thread per process (the pool is the parallelism)."""
    from .runner import set_threads

    set_threads(1)


def run_sweep(tasks: list, out_dir, scheduler: str | None = None, workers: int = 2,
              progress: bool = True) -> list:
    """Run every task, writing one JSON per task atomically; skip tasks already written.

    Local processes by default (``workers`` of them); with ``scheduler`` (an address such as
    ``tcp://host:8786``, or a ``dask.distributed.Client``/``LocalCluster``), on Dask.
    An interrupted sweep resumes: finished tasks' files exist and are not recomputed.

    Returns
    -------
    list of str
        Result file paths, in task order.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    todo = [t for t in tasks if not (out_dir / f"{t.key()}.json").exists()]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(tasks), initial=len(tasks) - len(todo), desc="sweep", unit="task")
    if todo:
        if scheduler is not None:
            from dask.distributed import Client, as_completed

            client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
            try:
                futures = [client.submit(_run_and_write, t, str(out_dir), pure=False) for t in todo]
                for f in as_completed(futures):
                    f.result()
                    if bar is not None:
                        bar.update(1)
            finally:
                if not isinstance(scheduler, Client):
                    client.close()
        elif workers <= 1:
            for t in todo:
                _run_and_write(t, str(out_dir))
                if bar is not None:
                    bar.update(1)
        else:
            from concurrent.futures import ProcessPoolExecutor, as_completed as done
            import multiprocessing

            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                                     initializer=_one_thread) as pool:
                futures = [pool.submit(_run_and_write, t, str(out_dir)) for t in todo]
                for f in done(futures):
                    f.result()
                    if bar is not None:
                        bar.update(1)
    if bar is not None:
        bar.close()
    return [str(out_dir / f"{t.key()}.json") for t in tasks]


def sweep_tasks(suites, alphas, corruptions, seeds, policies, questions, episodes,
                ziprc_params: dict | None = None) -> list:
    """The cross product of a sweep, validated."""
    for s in suites:
        if s not in SUITES:
            raise StudyError(f"unknown suite {s!r}; choose from {', '.join(SUITES)}")
    for c in corruptions:
        parse_corruption(c)
    names = tuple(parse_policies(policies))
    zp = tuple(sorted((ziprc_params or {}).items()))
    return [SweepTask(s, float(a), c, int(seed), names, questions, int(episodes), zp)
            for s in suites for a in alphas for c in corruptions for seed in seeds]


def frontier_at(rows: list, policy: str, cost: float, variant: str = ""):
    """Accuracy of ``policy``'s upper frontier (best accuracy at or below each cost),
    linearly interpolated at ``cost``; None if the policy never gets that cheap."""
    pts = sorted((r["gen_cost"], r["accuracy"]) for r in rows
                 if r["policy"] == policy and r["variant"] == variant)
    if not pts or pts[0][0] > cost:
        return None
    xs, ys, best = [], [], -1.0
    for c, a in pts:
        best = max(best, a)
        xs.append(c)
        ys.append(best)
    return float(np.interp(cost, xs, ys))


def sweep_summary(paths) -> list:
    """One line per task: ZIP-RC vs MV at matched cost (for gain-vs-corruption tables), and
    ZIP-RC's frontier interpolated at MV's cost (less sensitive to the beta grid)."""
    out = []
    for p in paths:
        with open(p) as f:
            res = json.load(f)
        t = res["task"]
        z = next((m for m in res["matched"] if m["policy"] == "ziprc"), None)
        zf = frontier_at(res["rows"], "ziprc", res["reference"]["gen_cost"])
        out.append({"suite": t["suite"], "alpha": t["alpha"], "corruption": t["corruption"],
                    "seed": t["seed"], "mv_accuracy": res["reference"]["accuracy"],
                    "mv_gen_cost": res["reference"]["gen_cost"],
                    "ziprc_accuracy": z["accuracy"] if z else None,
                    "ziprc_gen_cost": z["gen_cost"] if z else None,
                    "ziprc_delta": z["delta_vs_mv"] if z else None,
                    "ziprc_delta_ci": z["delta_vs_mv_ci"] if z else None,
                    "ziprc_frontier_at_mv_cost": zf,
                    "ziprc_frontier_at_1.2": frontier_at(res["rows"], "ziprc", 1.2),
                    "mv_frontier_at_1.2": frontier_at(res["rows"], "mv", 1.2),
                    "file": os.path.basename(p)})
    return out


# --------------------------------------------------------------------------- calibration

PAPER_MV = {"aime24": 53.1, "amc23": 87.9, "math500": 93.0, "gsm8k": 91.2, "mixed": 91.0}


def calibration_table(suites=SUITES, seed: int = 0, episodes_total: int = 20000,
                      alpha: float = 0.1) -> list:
    """Per suite: pass@1, pass@8, mean length (tokens), and majority voting's accuracy at
    generation cost 1.4 (linear interpolation along N = 1..8) against the paper's Table 2.

    Each question gets ``max(1, episodes_total // n_questions)`` episodes.
    """
    out = []
    for suite in suites:
        world = build_world(suite)
        eps = max(1, episodes_total // world.n_questions)
        costs, accs = [], []
        with _KERNEL_LOCK:
            for n in range(1, 9):
                m = run_policy(world, Policy.make("mv", n=n, alpha=alpha), seed=seed,
                               episodes_per_question=eps)
                correct, _, _, g = per_episode_costs(m, alpha)
                costs.append(float(g.mean()))
                accs.append(float(correct.mean()))
            p8 = run_policy(world, Policy.make("pass_at_n", n=8), seed=seed,
                            episodes_per_question=eps)
        mv_at = float(np.interp(MATCH_COST, costs, accs))
        out.append({"suite": suite, "questions": world.n_questions, "episodes_per_question": eps,
                    "pass_at_1": accs[0], "pass_at_8": float(p8[:, M_CORRECT].mean()),
                    "mean_tokens": float(world.mean_ticks.mean() * world.delta),
                    "mv_at_1.4": mv_at, "paper_mv": PAPER_MV[suite] / 100.0,
                    "mv_curve": [[c, a] for c, a in zip(costs, accs)]})
    return out
