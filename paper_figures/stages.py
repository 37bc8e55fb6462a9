"""The expensive data every figure and table is drawn from, computed once and cached.

Each stage is a method of :class:`Stages` that returns plain data (dicts of lists) and keeps
it under ``OUT/cache/``, keyed by a hash of the stage's parameters and the package version:
a second run, or one that was interrupted, recomputes nothing that was finished. The study
sweeps resume task by task (:func:`simulators.sweeps.run_sweep`), the LLM pipeline stage by
stage (a checkpoint directory is complete once its ``ziprc.json`` exists).

All computation lives in ``simulators/``, ``llm_backend/`` and ``metamdp/``; this module only
chooses parameters (``FULL`` or ``FAST``), calls them and caches what they return.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict
from pathlib import Path

from simulators.io import provenance, write_json_atomic

SUITES = ("gsm8k", "math500", "amc23", "aime24", "mixed")
ALPHAS = (0.1, 1.0)
#: the policies the regime map compares (``regimes``): the one list; a policy added here
#: (e.g. ``ziprc_recourse``) is run, coloured and ranked with the others
REGIME_POLICIES = ("ziprc", "mv", "pandora", "wbon")

# The full run: every suite whole (AMC23 and AIME24 have 40 and 30 questions, so each gets 25
# episodes per question to make their CIs useful; the others one or two).
FULL = {
    "sweep": {"questions": {"gsm8k": None, "math500": None, "amc23": None, "aime24": None, "mixed": None},
              "episodes": {"gsm8k": 1, "math500": 2, "amc23": 25, "aime24": 25, "mixed": 1},
              "workers": 2},
    "corruption": {"suite": "mixed", "questions": 1000, "alphas": ALPHAS,
                   "levels": {"temperature": (2.0, 3.0), "noise": (0.5, 1.0),
                              "optimism": (1.0, 3.0), "lag_ticks": (4, 8, 16),
                              "coarse_factor": (2, 4), "correlation": (0.5,),
                              "value_noise": (0.5, 1.0)}},
    # the two world knobs of the regime map (chosen by measuring which move ZIP-RC minus MV:
    # docs/theory.md, "Where each policy wins"), on the fitted preset's other knobs
    "regimes": {"suite": "mixed", "questions": 1000, "alphas": ALPHAS,
                "x": ("value_share", (0.0, 0.25, 0.5, 0.75, 1.0)),
                "y": ("distractor_spread", (0.0, 0.25, 0.5, 0.75, 1.0))},
    # the model and sampling of `ziprc llm demo` (its defaults, with the 7-state value head)
    "llm": {"fast": False, "betas": (0.01, 0.1), "denoise": True},
    "llm_threads": 2,
    "initial": {"per_group": 10, "k": 64, "easy": (1, 2), "hard": (8, 9), "example_steps": 5,
                "example_k": 16},
    "theorem": {"instances": 500, "max_depth": 4, "max_samples": 4},
    "planner": {"repeats": 200, "counts": (2, 4, 6, 8, 10, 12)},
    "zero_overhead": {"size": "base", "steps": 32, "repeats": 21},
}

# The smoke run the tests use: the same stages, small. Under 5 minutes on 2 cores.
FAST = {
    "sweep": {"questions": {"gsm8k": 120, "math500": 120, "amc23": None, "aime24": None, "mixed": 200},
              "episodes": {"gsm8k": 1, "math500": 1, "amc23": 1, "aime24": 1, "mixed": 1},
              "workers": 1},
    "corruption": {"suite": "mixed", "questions": 200, "alphas": ALPHAS,
                   "levels": {"temperature": (2.0,), "noise": (1.0,), "lag_ticks": (8,),
                              "value_noise": (0.5,)}},
    "regimes": {"suite": "mixed", "questions": 150, "alphas": ALPHAS,
                "x": ("value_share", (0.0, 1.0)), "y": ("distractor_spread", (0.0, 1.0))},
    "llm": {"fast": True, "pretrain_steps": 80, "pretrain_batch": 16, "train_prompts": 48,
            "train_steps": 30, "train_batch": 16, "alpha0_steps": 15, "lite_steps": 30, "eval_questions": 10, "eval_k": 8,
            "sample_questions": 8, "betas": (0.01, 0.1),
            "policies": ("ziprc", "mv", "bon", "wbon", "pass_at_n", "reward_prune", "half_finished")},
    "llm_threads": 1,
    "initial": {"per_group": 10, "k": 8, "easy": (1, 2), "hard": (8, 9), "example_steps": 5,
                "example_k": 8},
    "theorem": {"instances": 25, "max_depth": 3, "max_samples": 3},
    "planner": {"repeats": 10, "counts": (2, 4, 8)},
    "zero_overhead": {"size": "small", "steps": 8, "repeats": 3},
}

SEED = 0


def _digest(obj) -> str:
    from metamdp import __version__

    blob = json.dumps([obj, __version__], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


class Stages:
    """Cached data stages of one output directory.

    Parameters
    ----------
    out : path
        The figures' directory; the cache is ``out/cache``.
    fast : bool
        The smoke configuration (:data:`FAST`) instead of :data:`FULL`.
    progress : bool
        Print one line per stage and show progress bars.
    """

    def __init__(self, out, fast: bool = False, progress: bool = True, seed: int = SEED):
        self.out = Path(out)
        self.cache = self.out / "cache"
        self.fast = bool(fast)
        self.cfg = FAST if fast else FULL
        self.progress = progress
        self.seed = int(seed)
        self.command = "ziprc figures" + (" --fast" if fast else "")
        self._memo: dict = {}

    # ------------------------------------------------------------------ helpers

    def log(self, msg: str) -> None:
        if self.progress:
            print(f"[figures] {msg}", flush=True)

    def _cached(self, name: str, params: dict, compute):
        """``compute()`` once per (name, params); its JSON lives in ``cache/name-<hash>.json``."""
        key = f"{name}-{_digest(params)}"
        if key in self._memo:
            return self._memo[key]
        path = self.cache / f"{key}.json"
        if path.exists():
            self.log(f"{name}: cached ({path.name})")
            data = json.loads(path.read_text())
        else:
            self.log(f"{name}: computing ...")
            t0 = time.perf_counter()
            data = compute()
            data["seconds"] = round(time.perf_counter() - t0, 1)
            data["provenance"] = provenance(f"ziprc figures (stage {name})", self.seed, params)
            write_json_atomic(path, data)
            self.log(f"{name}: done in {data['seconds']:.0f}s")
        self._memo[key] = data
        return data

    # ------------------------------------------------------------------ simulators

    def sweep_dir(self) -> Path:
        """Where the study results live: named by a digest of every suite's world parameters,
        so that a change to the synthetic world never reuses results of the old one (a sweep
        task's own file name covers the policies' knob grids and the package version)."""
        if "sweep_dir" not in self._memo:
            from simulators.synthetic import build_world

            worlds = {s: build_world(s).params() for s in SUITES}
            self._memo["sweep_dir"] = self.cache / f"sweeps-{_digest(worlds)}"
        return self._memo["sweep_dir"]

    def task_path(self, task) -> Path:
        """This cache's file for a study task: named by the task's parameters (and, through
        :meth:`sweep_dir`, the world's), so results survive changes to the study's own file
        naming; ``ziprc figures`` with a fresh ``--out`` recomputes everything."""
        return self.sweep_dir() / (f"{task.suite}-a{task.alpha:g}-{task.corruption}-s{task.seed}-"
                                   f"{_digest(asdict(task))}.study.json")

    def _run_tasks(self, tasks) -> list:
        """Run the tasks whose results are missing (a resumable sweep), return every path."""
        import os

        from simulators.sweeps import run_sweep

        todo = [t for t in tasks if not self.task_path(t).exists()]
        if todo:
            done = run_sweep(todo, self.sweep_dir(), workers=self.cfg["sweep"]["workers"],
                             progress=self.progress)
            for t, p in zip(todo, done):
                os.replace(p, self.task_path(t))
        return [self.task_path(t) for t in tasks]

    def sweep(self) -> dict:
        """Every policy over its knob on every suite at alpha 0.1 and 1.0.

        Returns ``{(suite, alpha): study result}`` (see :func:`simulators.study.run_study`).
        """
        if "sweep" in self._memo:
            return self._memo["sweep"]
        from simulators.policies import DEFAULT_POLICIES
        from simulators.sweeps import SweepTask

        c = self.cfg["sweep"]
        tasks = [SweepTask(s, float(a), "exact", self.seed, DEFAULT_POLICIES, c["questions"][s],
                           int(c["episodes"][s]), ()) for s in SUITES for a in ALPHAS]
        self.log(f"study sweeps: {len(tasks)} studies (5 suites x alpha 0.1, 1.0; every policy)")
        t0 = time.perf_counter()
        paths = self._run_tasks(tasks)
        self.log(f"study sweeps: done in {time.perf_counter() - t0:.0f}s")
        res = {}
        for t, p in zip(tasks, paths):
            res[(t.suite, t.alpha)] = json.loads(Path(p).read_text())
        self._memo["sweep"] = res
        return res

    def corruption(self) -> dict:
        """ZIP-RC and majority voting on one suite as each prediction corruption grows.

        Returns ``{"levels": {knob: [values]}, "results": {alpha: {corruption string: study}}}``
        (the uncorrupted study appears as ``"exact"``).
        """
        if "corruption" in self._memo:
            return self._memo["corruption"]
        from simulators.sweeps import SweepTask

        c = self.cfg["corruption"]
        specs = ["exact"] + [f"{k}={v:g}" for k, vs in c["levels"].items() for v in vs]
        tasks = [SweepTask(c["suite"], float(a), spec, self.seed, ("mv", "ziprc"), c["questions"], 1, ())
                 for a in c["alphas"] for spec in specs]
        self.log(f"corruption sweep: {len(tasks)} studies ({c['suite']}, mv + ziprc)")
        t0 = time.perf_counter()
        paths = self._run_tasks(tasks)
        self.log(f"corruption sweep: done in {time.perf_counter() - t0:.0f}s")
        results: dict = {}
        for t, p in zip(tasks, paths):
            results.setdefault(t.alpha, {})[t.corruption] = json.loads(Path(p).read_text())
        out = {"levels": {k: list(v) for k, v in c["levels"].items()}, "results": results,
               "suite": c["suite"]}
        self._memo["corruption"] = out
        return out

    def regimes(self) -> dict:
        """:data:`REGIME_POLICIES` on one suite over a grid of two world knobs (every other knob
        at the fitted preset's value), at each alpha: one study per cell.

        Returns ``{"x": [knob, values], "y": [knob, values], "policies", "suite",
        "questions", "results": {alpha: [[study at (x_i, y_j) for j] for i]}}``.
        """
        if "regimes" in self._memo:
            return self._memo["regimes"]
        from simulators.sweeps import SweepTask

        c = self.cfg["regimes"]
        (xk, xs), (yk, ys) = c["x"], c["y"]
        tasks = {(a, i, j): SweepTask(c["suite"], float(a), "exact", self.seed, REGIME_POLICIES,
                                      c["questions"], 1, (), ((xk, float(xv)), (yk, float(yv))))
                 for a in c["alphas"] for i, xv in enumerate(xs) for j, yv in enumerate(ys)}
        self.log(f"regime map: {len(tasks)} studies ({c['suite']}, {', '.join(REGIME_POLICIES)}; "
                 f"{xk} x {yk})")
        t0 = time.perf_counter()
        paths = dict(zip(tasks, self._run_tasks(list(tasks.values()))))
        seconds = round(time.perf_counter() - t0, 1)
        self.log(f"regime map: done in {seconds:.0f}s")
        results = {f"{a:g}": [[json.loads(Path(paths[(a, i, j)]).read_text()) for j in range(len(ys))]
                              for i in range(len(xs))] for a in c["alphas"]}
        out = {"x": [xk, list(xs)], "y": [yk, list(ys)], "policies": list(REGIME_POLICIES),
               "suite": c["suite"], "questions": c["questions"], "results": results,
               "seconds": seconds}
        self._memo["regimes"] = out
        return out

    def theorem(self) -> dict:
        """Exact ``W``, ``V_ZIPRC`` and ``V*`` of random chain worlds under every planner variant."""
        from simulators.theorem_check import VARIANTS, check_instances

        c = self.cfg["theorem"]
        params = dict(c, seed=self.seed, variants=list(VARIANTS))
        return self._cached("theorem", params, lambda: {"variants": check_instances(
            c["instances"], self.seed, VARIANTS, c["max_depth"], c["max_samples"], True,
            progress=self.progress), "params": params})

    def planner(self) -> dict:
        """Decision time vs number of samples: Numba (exhaustive, two-prefix) vs NumPy."""
        from metamdp.bench import planner_timing

        c = self.cfg["planner"]
        params = dict(c, seed=self.seed)
        return self._cached("planner", params, lambda: planner_timing(c["repeats"], self.seed,
                                                                       tuple(c["counts"])))

    # ------------------------------------------------------------------ the model trained here

    def llm_config(self):
        from llm_backend.config import make_config

        c = dict(self.cfg["llm"])
        fast = c.pop("fast")
        return make_config(fast=fast, seed=self.seed, **c)

    def llm_dir(self) -> Path:
        # keyed by every field of the pipeline's Config, defaults included: a changed default
        # (e.g. more pretraining steps) makes a different model, which a stale cache would hide
        from llm_backend.config import config_json

        key = _digest(config_json(self.llm_config()))
        return self.cache / f"llm-{'fast' if self.fast else 'full'}-{key}"

    def _setup_torch(self):
        import torch
        import transformers

        torch.set_num_threads(int(self.cfg["llm_threads"]))
        # one "Loading weights" bar per checkpoint load would bury the stage log, as in `ziprc llm`
        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()

    def llm(self) -> Path:
        """The ``ziprc llm demo`` pipeline into ``cache/llm-*``: every stage that is missing.

        Returns the run directory (layout: :mod:`llm_backend.pipeline`).
        """
        if "llm" in self._memo:
            return self._memo["llm"]
        from llm_backend import pipeline as pl

        self._setup_torch()
        c = self.llm_config()
        d = self.llm_dir()
        d.mkdir(parents=True, exist_ok=True)
        p = self.progress

        def step(name, done: Path, fn):
            if done.exists():
                self.log(f"llm {name}: cached")
                return
            self.log(f"llm {name}: computing ...")
            t0 = time.perf_counter()
            fn()
            self.log(f"llm {name}: done in {time.perf_counter() - t0:.0f}s")

        step("pretrain", d / "pretrained" / "ziprc.json", lambda: pl.stage_pretrain(d, c, p))
        step("rollouts", d / "rollouts_summary.json", lambda: pl.stage_rollouts(d, c, p))
        step(f"train ziprc (alpha_KL={c.alpha_kl:g})", d / "ziprc" / "ziprc.json",
             lambda: pl.stage_train(d, c, "ziprc", progress=p))
        step("train ziprc (alpha_KL=0)", d / "ziprc_alpha0" / "ziprc.json",
             lambda: pl.stage_train(d, c, "ziprc_alpha0", alpha_kl=0.0, steps=c.alpha0_steps, progress=p))
        step("train ziprc_lite", d / "ziprc_lite" / "ziprc.json",
             lambda: pl.stage_train(d, c, "ziprc_lite", lite=True, progress=p))
        step("evaluate", d / "eval_ziprc_lite.json",
             lambda: pl.stage_evaluate(d, c, ("ziprc", "ziprc_lite"), p))
        step("online sampling", d / "sampling.json", lambda: pl.stage_sample(d, c, "ziprc", p))
        step("frontier replay", d / "frontier.json", lambda: pl.stage_frontier(d, c, p))
        self._memo["llm"] = d
        return d

    def llm_json(self, name: str) -> dict:
        return json.loads((self.llm() / name).read_text())

    def llm_train_log(self, name: str) -> list:
        path = self.llm() / f"train_log_{name}.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def initial(self) -> dict:
        """Predicted (full ZIP-RC and Lite) vs empirical initial joints of easy and hard prompts,
        plus the live predictions along one correct and one incorrect generation (Figure 1)."""
        d = self.llm()
        c = self.cfg["initial"]
        params = dict(c, seed=self.seed, model_dir=d.name)

        def compute():
            import numpy as np

            from llm_backend.evaluate import correctness_joint, empirical_joint, initial_joints, live_predictions
            from llm_backend.model import load_checkpoint as load
            from llm_backend.rollouts import rollouts
            from llm_backend.task import make_problems
            from llm_backend.train import length_grid
            from metamdp.grids import RewardGrid

            self._setup_torch()
            cfg = self.llm_config()
            model, tok, reserved, grid, _ = load(d / "ziprc")
            lite, _, lite_reserved, _, _ = load(d / "ziprc_lite")
            lengths = length_grid(grid)
            rewards = RewardGrid.official(reserved.reward_states)
            easy = make_problems(c["per_group"], seed=self.seed * 100 + 21, min_steps=c["easy"][0],
                                 max_steps=c["easy"][1], prefix="easy")
            hard = make_problems(c["per_group"], seed=self.seed * 100 + 22, min_steps=c["hard"][0],
                                 max_steps=c["hard"][1], prefix="hard")
            problems = easy + hard
            recs = rollouts(model, tok, reserved, problems, c["k"], cfg.max_new_tokens,
                            seed=self.seed + 31, progress=self.progress, desc="ground-truth rollouts")
            # every joint as a (correct, length) joint: the value head (7 states) and Lite (2)
            # are then drawn and compared on the same grid as the empirical joint
            binary = RewardGrid.from_values([0.0, 1.0])
            emp = []
            for p in problems:
                emp.append(empirical_joint([r for r in recs if r["qid"] == p.qid], binary, lengths))
            pred = np.array([correctness_joint(j, rewards.values)
                             for j in initial_joints(model, tok, reserved, problems)])
            pred_lite = np.array([correctness_joint(j, RewardGrid.official(lite_reserved.reward_states).values)
                                  for j in initial_joints(lite, tok, lite_reserved, problems)])
            # Figure 1: live predictions along generations of one middle-difficulty prompt
            ex = make_problems(1, seed=self.seed * 100 + 23, min_steps=c["example_steps"],
                               max_steps=c["example_steps"], prefix="example")[0]
            gens = rollouts(model, tok, reserved, [ex], c["example_k"], cfg.max_new_tokens,
                            seed=self.seed + 37, keep_joints=True, progress=False)
            examples = {}
            for label, want in (("correct", True), ("incorrect", False)):
                g = next((r for r in gens if r["correct"] == want and r["finished"]), None)
                if g is None:
                    g = next((r for r in gens if r["correct"] == want), None)
                if g is None:
                    continue
                live = live_predictions(g["joints"], rewards.values, lengths)
                examples[label] = {"text": tok.decode(g["response_ids"][:-1] if g["finished"]
                                                      else g["response_ids"]),
                                   "n_tokens": g["n_tokens"], "finished": g["finished"],
                                   "joints": np.asarray(g["joints"]).tolist(), **live}
            return {"problems": [{"qid": p.qid, "prompt": p.prompt, "steps": p.steps,
                                  "group": "easy" if p in easy else "hard"} for p in problems],
                    "k": c["k"], "empirical": np.array(emp).tolist(), "predicted": pred.tolist(),
                    "predicted_lite": pred_lite.tolist(), "reward_values": binary.values.tolist(),
                    "model_reward_values": rewards.values.tolist(),
                    "length_edges": list(grid.length_edges), "example_prompt": ex.prompt,
                    "example_answer": ex.answer, "examples": examples,
                    "head": {"distribution_token_id": reserved.start,
                             "reward_states": reserved.reward_states,
                             "length_bins": reserved.length_bins, "text_vocab": len(tok),
                             "head_rows": int(model.get_output_embeddings().weight.shape[0])}}

        return self._cached("initial", params, compute)

    def zero_overhead(self) -> dict:
        """Decoding throughput with and without reading the predictions; planner share of time."""
        from llm_backend.bench import run_zero_overhead_bench

        c = self.cfg["zero_overhead"]
        params = dict(c, seed=self.seed, threads=self.cfg["llm_threads"])

        def compute():
            self._setup_torch()
            return run_zero_overhead_bench(size=c["size"], steps=c["steps"], repeats=c["repeats"],
                                           seed=self.seed)

        return self._cached("zero_overhead", params, compute)

    def describe(self) -> dict:
        """The configuration, for the provenance of every figure."""
        return {"command": self.command, "fast": self.fast, "seed": self.seed,
                "config": json.loads(json.dumps(self.cfg, default=str)),
                "llm_config": json.loads(json.dumps(asdict(self.llm_config()), default=str))}
