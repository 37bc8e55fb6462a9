"""Exact replay of policies over recorded traces (``docs/traces.md``), and a recorder that
writes the synthetic world's samples as traces.

Replay semantics: starting a sample takes the question's next unused recorded sample (in
file order); advancing it one tick moves ``delta`` tokens along its recording; its prediction
after ``k`` ticks is the latest recorded joint at or before ``k * delta`` tokens; it ends
after ``ceil(total_tokens / delta)`` ticks, with its recorded answer, correctness and value
if ``finished``, else cut (no answer, value 0). Pausing, resuming and pruning are exact;
branching from a prefix is not replayable (the recording has no continuations of prefixes)
and is refused.

This module is also the plain-Python reference of the Numba runner's policies: replaying a
recording made by :func:`record_world` reproduces :func:`simulators.runner.run_policy` tick for
tick (tests check it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from metamdp.grids import LengthGrid
from metamdp.planner import TIE_TOL, plan_kernel

from .policies import POLICY_NAMES, SELECTIONS, Policy, sweep
from .runner import episode_seeds, record_sample
from .study import Cell, summarize_cells
from .synthetic import World
from .traces import QuestionTraces, read_metadata, read_traces, write_traces

REPLAYABLE = tuple(n for n in POLICY_NAMES if n != "wbon_rm")


class ReplayError(ValueError):
    """A policy or option that cannot be replayed exactly, or unusable traces."""


@dataclass
class ReplayQuestion:
    """One question's recordings, as arrays."""

    question_id: str
    joints: list          # (T_i, B, L) arrays
    tick_tokens: list     # (T_i,) int arrays
    length: np.ndarray    # ticks until the sample ends
    finished: np.ndarray  # bool
    answer: np.ndarray    # int ids (-1: no answer)
    correct: np.ndarray   # bool
    value: np.ndarray     # float
    delta: int
    source: str = ""

    @classmethod
    def from_traces(cls, qt: QuestionTraces) -> "ReplayQuestion":
        ids = {}
        answers = []
        for s in qt.samples:
            if s.answer is None or not s.finished:
                answers.append(-1)
            else:
                answers.append(ids.setdefault(s.answer, len(ids)))
        delta = qt.samples[0].delta
        src = ""
        extra = qt.samples[0].extra or {}
        if "source" in extra and extra["source"] is not None:
            src = str(extra["source"])
        return cls(question_id=qt.question_id, joints=[s.joints for s in qt.samples],
                   tick_tokens=[s.tick_tokens for s in qt.samples],
                   length=np.array([max(1, math.ceil(s.total_tokens / delta)) for s in qt.samples],
                                   dtype=np.int64),
                   finished=np.array([s.finished for s in qt.samples], dtype=bool),
                   answer=np.array(answers, dtype=np.int64),
                   correct=np.array([s.correct for s in qt.samples], dtype=bool),
                   value=np.array([s.value if s.finished else 0.0 for s in qt.samples]),
                   delta=int(delta), source=src)

    @property
    def n_samples(self) -> int:
        return len(self.joints)

    def joint_at(self, i: int, ticks: int) -> np.ndarray:
        """The latest recorded prediction of sample ``i`` at or before ``ticks`` ticks."""
        k = int(np.searchsorted(self.tick_tokens[i], ticks * self.delta, side="right")) - 1
        return self.joints[i][max(k, 0)]


# --------------------------------------------------------------------------- episode


class _Episode:
    """Mutable state of one replayed episode (mirrors the Numba runner's arrays)."""

    def __init__(self, rq: ReplayQuestion, values: np.ndarray):
        self.rq = rq
        self.values = values
        n = rq.n_samples
        self.age = np.zeros(n, dtype=np.int64)
        self.status = np.zeros(n, dtype=np.int64)  # 0 unborn, 1 open, 2 done, 3 pruned/cut
        self.created = 0
        self.gen = 0
        self.serial = 0

    def start(self) -> int:
        i = self.created
        self.status[i] = 1
        self.created += 1
        return i

    def advance(self, i: int) -> bool:
        self.age[i] += 1
        self.gen += 1
        if self.age[i] >= self.rq.length[i]:
            self.status[i] = 2 if self.rq.finished[i] else 3
            return self.status[i] == 2
        return False

    def value_index(self, i: int) -> int:
        return int(np.argmin(np.abs(self.values - self.rq.value[i])))

    def select(self, sel: int, weights=None) -> int:
        """Same rule and tie-breaking as the runner's ``_select``."""
        rq = self.rq
        done = [i for i in range(self.created) if self.status[i] == 2 and rq.answer[i] >= 0]
        if not done:
            return -1
        if sel == 0:
            best, bv = -1, -1.0
            for i in done:
                if rq.value[i] > bv:
                    bv, best = rq.value[i], i
            return best
        scores = {}
        for i in done:
            w = 1.0 if sel == 2 else (weights[i] if weights is not None else rq.value[i])
            scores[rq.answer[i]] = scores.get(rq.answer[i], 0.0) + w + 1e-12
        best, bs = -1, 0.0
        for i in done:
            if scores[rq.answer[i]] > bs:
                bs, best = scores[rq.answer[i]], i
        return best


def _expected_value(p, values):
    return float(p.sum(axis=1) @ values)


def _expected_remaining(p, rep):
    return float(p.sum(axis=0) @ rep)


def _beta_stop_prob(a: int, b: int) -> float:
    n = a + b + 1
    return sum(math.comb(n, j) for j in range(a + 1)) / 2.0 ** n


def replay_episode(rq: ReplayQuestion, policy: Policy, values: np.ndarray, rep: np.ndarray,
                   upper: np.ndarray) -> dict:
    """Run ``policy`` once over one question's recordings; returns raw metrics."""
    name = policy.name
    p = policy.params
    if name not in REPLAYABLE:
        raise ReplayError(f"policy {name} cannot be replayed (it needs an external reward model)")
    if name == "ziprc" and p.get("branching"):
        raise ReplayError("ZIP-RC with branching cannot be replayed: recordings have no "
                          "continuations of prefixes")
    if name == "deepconf" and p.get("signal") != "ziprc":
        raise ReplayError("deepconf replays only with signal=ziprc (traces carry no token confidences)")
    ep = _Episode(rq, values)
    cap = min(int(p["cap"]), rq.n_samples)
    n_target = min(int(p.get("n", cap)), rq.n_samples)
    sel = SELECTIONS.index(p.get("selection", "plurality"))
    chosen = -1
    root = rq.joints[0][0]
    if name == "ziprc":
        chosen = _replay_ziprc(ep, p, cap, sel, values, rep, upper, root)
    elif name in ("mv", "bon", "wbon", "pass_at_n", "length_prune", "half_finished", "short_m_at_k"):
        n = n_target
        for _ in range(n):
            ep.start()
        stop_at = None
        if name == "length_prune":
            stop_at = math.ceil(float(p["budget_tokens"]) / rq.delta)
        elif name in ("half_finished", "short_m_at_k"):
            need = (n + 1) // 2 if name == "half_finished" else min(int(p["m"]), n)
            stop_at = int(np.sort(rq.length[:n])[need - 1])
        longest = 0
        for i in range(n):
            ran = int(rq.length[i]) if stop_at is None else min(int(rq.length[i]), stop_at)
            ep.age[i] = ran
            ep.gen += ran
            longest = max(longest, ran)
            if stop_at is None or rq.length[i] <= stop_at:
                ep.status[i] = 2 if rq.finished[i] else 3
        ep.serial = longest
        if name == "pass_at_n":
            ok = [i for i in range(n) if ep.status[i] == 2 and rq.correct[i]]
            done = [i for i in range(n) if ep.status[i] == 2]
            chosen = ok[-1] if ok else (done[0] if done else -1)
        else:
            chosen = ep.select({"bon": 0, "wbon": 1}.get(name, 2 if name == "short_m_at_k" else sel))
    elif name in ("ac", "pandora"):
        z = 0.0
        if name == "pandora":
            from .policies import pandora_reservation

            z = pandora_reservation(values, root.sum(axis=1), float(p["beta"]))
        best_v, have = 0.0, False
        for i in range(n_target):
            if name == "pandora" and (z <= best_v if have else z <= 0.0):
                break
            ep.start()
            ep.age[i] = rq.length[i]
            ep.status[i] = 2 if rq.finished[i] else 3
            ep.gen += int(rq.length[i])
            ep.serial += int(rq.length[i])
            v = rq.value[i]
            if not have or v > best_v:
                best_v = v
            have = True
            if name == "ac":
                counts = {}
                for j in range(ep.created):
                    counts[rq.answer[j]] = counts.get(rq.answer[j], 0) + 1
                top = sorted(counts.values(), reverse=True) + [0]
                if _beta_stop_prob(top[0], top[1]) >= float(p["threshold"]):
                    break
        chosen = ep.select(0 if name == "pandora" else 2)
    elif name == "esc":
        w = int(p["window"])
        while ep.created < n_target:
            size = min(w, n_target - ep.created)
            idx = [ep.start() for _ in range(size)]
            for i in idx:
                ep.age[i] = rq.length[i]
                ep.status[i] = 2 if rq.finished[i] else 3
                ep.gen += int(rq.length[i])
            ep.serial += int(max(rq.length[i] for i in idx))
            if len({int(rq.answer[i]) for i in idx}) == 1:
                break
        chosen = ep.select(2)
    else:
        chosen = _replay_tick_loop(ep, name, p, n_target, sel, values, root)
    pruned = sum(int(ep.age[i]) for i in range(ep.created) if ep.status[i] != 2)
    return {"correct": bool(chosen >= 0 and rq.correct[chosen]), "answered": chosen >= 0,
            "gen_ticks": ep.gen, "serial_ticks": ep.serial, "started": ep.created,
            "pruned_ticks": pruned, "finished": int(np.sum(ep.status[:ep.created] == 2))}


def _replay_ziprc(ep, p, cap, sel, values, rep, upper, root):
    rq = ep.rq
    alpha = float(p["alpha"])
    beta = float(p["beta"])
    search = ("exhaustive", "two-prefix", "top-k").index(p["search"])
    norm = ("fixed", "raw", "state").index(p["normalizer"])
    init_k = int(p.get("init_k", 0))
    interval = int(p.get("interval", 1))
    d_fixed = _expected_remaining(root, rep)
    adv = np.zeros(rq.n_samples, dtype=bool)
    floor_idx = 0
    since_plan = interval
    epoch = 0
    t_limit = cap * (int(rq.length.max()) + 2)
    while True:
        any_adv = any(adv[i] and ep.status[i] == 1 for i in range(ep.created))
        if since_plan >= interval or not any_adv:
            unf = [i for i in range(ep.created) if ep.status[i] == 1]
            n = len(unf)
            stacked = np.empty((n + 1,) + root.shape)
            for j, i in enumerate(unf):
                stacked[j] = rq.joint_at(i, int(ep.age[i]))
            stacked[n] = root
            max_new = cap - ep.created
            if init_k > 0 and ep.created == 0:
                mask, m = 0, min(init_k, cap)
            else:
                if norm == 1:
                    d = 1.0
                elif norm == 2:
                    tot = [ep.age[i] + _expected_remaining(stacked[j], rep) for j, i in enumerate(unf)]
                    tot += [rq.length[i] for i in range(ep.created) if ep.status[i] == 2]
                    d = float(sum(tot)) / len(tot) if tot else d_fixed
                else:
                    d = d_fixed
                best = plan_kernel(values, rep, upper, stacked, n, max_new, False, floor_idx,
                                   alpha, beta / d, search, TIE_TOL)
                mask, m = int(best[2]), int(best[3])
            if mask == 0 and m == 0:
                break
            adv[:] = False
            for j, i in enumerate(unf):
                if (mask >> j) & 1:
                    adv[i] = True
            for _ in range(m):
                adv[ep.start()] = True
            since_plan = 0
        stepped = False
        for i in range(ep.created):
            if adv[i] and ep.status[i] == 1:
                stepped = True
                if ep.advance(i):
                    k = ep.value_index(i)
                    if values[k] > values[floor_idx]:
                        floor_idx = k
        if stepped:
            ep.serial += 1
        since_plan += 1
        epoch += 1
        if epoch > t_limit:
            break
    return ep.select(sel)


def _replay_tick_loop(ep, name, p, n, sel, values, root):
    """reward_prune, spec_rejection and deepconf (ZIP-RC signal), as in the runner."""
    rq = ep.rq
    thr = float(p.get("threshold", 0.0))
    if name == "deepconf":
        warm = min(int(p["warmup"]), n)
        win = int(p["window"])
        conf = {}
        minconf = np.full(rq.n_samples, np.inf)
        cutoff = -np.inf
        phase_end = warm
    else:
        warm = n
        phase_end = n
    for _ in range(warm):
        ep.start()
    checkpoint = 4
    wts = np.zeros(rq.n_samples)
    while True:
        stepped = False
        for i in range(ep.created):
            if ep.status[i] != 1:
                continue
            stepped = True
            ep.advance(i)
            done = ep.status[i] != 1
            if name == "deepconf":
                c = rq.value[i] if done else _expected_value(rq.joint_at(i, int(ep.age[i])), values)
                a_i = int(ep.age[i])
                cs = conf.setdefault(i, [0.0])
                cs.append(cs[-1] + c)
                lo = a_i - win if a_i > win else 0
                wmean = (cs[a_i] - cs[lo]) / (a_i - lo)
                if (a_i >= win or done) and wmean < minconf[i]:
                    minconf[i] = wmean
                if not done and i >= warm and a_i >= win and wmean < cutoff:
                    ep.status[i] = 3
        if stepped:
            ep.serial += 1
        if name == "reward_prune":
            for i in range(ep.created):
                if ep.status[i] == 1 and _expected_value(rq.joint_at(i, int(ep.age[i])), values) < thr:
                    ep.status[i] = 3
        elif name == "spec_rejection" and ep.serial == checkpoint:
            checkpoint *= 2
            open_ = [i for i in range(ep.created) if ep.status[i] == 1]
            for i in open_:
                wts[i] = _expected_value(rq.joint_at(i, int(ep.age[i])), values)
            keep = max(1, int(math.ceil(float(p["keep_frac"]) * len(open_))))
            for _ in range(len(open_) - keep):
                worst = -1
                for i in range(ep.created):
                    if ep.status[i] == 1 and (worst < 0 or wts[i] <= wts[worst]):
                        worst = i
                ep.status[worst] = 3
        elif name == "deepconf":
            any_open = any(ep.status[i] == 1 for i in range(ep.created))
            if not any_open and ep.created == phase_end and ep.created < n:
                cutoff = float(np.percentile(minconf[:ep.created], float(p["percentile"])))
                for _ in range(ep.created, n):
                    ep.start()
                phase_end = n
            if ep.created == n:
                scores = {}
                tot = 0.0
                for i in range(ep.created):
                    if ep.status[i] == 2:
                        scores[rq.answer[i]] = scores.get(rq.answer[i], 0.0) + minconf[i]
                        tot += minconf[i]
                if tot > 0 and max(scores.values()) / tot >= thr:
                    break
        if not any(ep.status[i] == 1 for i in range(ep.created)):
            if name == "deepconf" and ep.created < n:
                continue
            break
    if name == "deepconf":
        w = np.where(np.isfinite(minconf), minconf, 0.0)
        return ep.select(1, w)
    if name == "spec_rejection":
        return ep.select(0)
    return ep.select(sel)


# --------------------------------------------------------------------------- files


def load_questions(path, batch_size: int = 1024):
    """Stream a trace file as :class:`ReplayQuestion` objects, plus its metadata."""
    meta = read_metadata(path)
    return meta, (ReplayQuestion.from_traces(qt) for qt in read_traces(path, batch_size=batch_size))


def replay_study(path, policies=None, alpha: float = 0.1, cap: int = 8, seed: int = 0,
                 n_boot: int = 1000, progress: bool = True, batch_size: int = 1024) -> dict:
    """Every replayable policy over its knob on a trace file: the study's rows and table.

    The file is streamed question by question; per-question results are kept (small).
    ``Lbar`` of a question is the mean recorded length of its samples.
    """
    from .policies import parse_policies

    names = parse_policies(policies) if policies else list(REPLAYABLE)
    bad = [n for n in names if n not in REPLAYABLE]
    if bad:
        raise ReplayError(f"cannot replay {', '.join(bad)} (needs an external reward model)")
    if "mv" not in names:
        names = ["mv"] + names
    meta = read_metadata(path)
    values = np.asarray(meta["reward_values"], dtype=np.float64)
    grid = LengthGrid.binned(tuple(meta["length_edges"]), delta=int(meta["delta"]))
    rep = np.ascontiguousarray(grid.representative)
    upper = np.ascontiguousarray(grid.upper)
    grid_pol = []
    for name in names:
        if name == "deepconf":
            grid_pol += [(p, "ziprc") for p in sweep("deepconf", alpha=alpha, cap=cap, signal="ziprc")]
        else:
            grid_pol += [(p, "") for p in sweep(name, alpha=alpha, cap=cap)]
    per = {k: [] for k in range(len(grid_pol))}
    lbar, sources, qids = [], [], []
    it = read_traces(path, batch_size=batch_size)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="replay", unit="question", leave=False)
    for qt in it:
        rq = ReplayQuestion.from_traces(qt)
        qids.append(rq.question_id)
        sources.append(rq.source)
        lbar.append(float(rq.length.mean()))
        for k, (pol, _) in enumerate(grid_pol):
            per[k].append(replay_episode(rq, pol, values, rep, upper))
    if not qids:
        raise ReplayError(f"{path}: no questions")
    lb = np.array(lbar)
    names_src = sorted(set(sources))
    strata = np.array([names_src.index(s) for s in sources])
    cells = []
    for k, (pol, variant) in enumerate(grid_pol):
        rs = per[k]
        cells.append(Cell(policy=pol, variant=variant,
                          correct=np.array([r["correct"] for r in rs], dtype=float),
                          compute=np.array([r["gen_ticks"] for r in rs]) / lb,
                          latency=np.array([r["serial_ticks"] for r in rs]) / lb,
                          samples=np.array([r["started"] for r in rs], dtype=float),
                          pruned=np.array([r["pruned_ticks"] for r in rs]) / lb,
                          answered=np.array([r["answered"] for r in rs], dtype=float)))

    class _W:  # the few World fields summarize_cells reads
        source = strata
        source_names = tuple(names_src)

    return summarize_cells(_W, cells, alpha, seed=seed, n_boot=n_boot,
                           params={"traces": str(path), "alpha": alpha, "cap": cap,
                                   "policies": names, "questions": len(qids), "episodes": 1,
                                   "suite": f"traces:{meta.get('params', {}).get('suite', '?')}",
                                   "trace_metadata": meta})


def record_world(world: World, path, n_samples: int = 8, seed: int = 0) -> None:
    """Record ``n_samples`` complete samples per question of ``world`` (exact joints, every tick).

    Sample ``i`` of question ``q`` is the runner's sample ``i`` for episode 0 of ``q`` under
    ``seed``, so replaying the file reproduces ``run_policy(world, ..., seed=seed)``.
    """
    seeds = episode_seeds(seed, world.n_questions)
    rows = []
    edges = list(world.length_edges)
    values = world.values.tolist()
    for q in range(world.n_questions):
        for i in range(n_samples):
            joints, k, n, correct, answer = record_sample(
                i, seeds[q], q, world.values, world.class_prior, world.correct_prob,
                world.log_median, world.sigma, world.signal_mean, world.distractor_cdf,
                world.r_lo, world.r_hi, int(world.t_max))
            rows.append({"question_id": f"{world.name}-{q}", "sample_id": i,
                         "difficulty": float(world.difficulty[q]), "delta": world.delta,
                         "reward_values": values, "length_edges": edges,
                         "tick_tokens": (np.arange(n) * world.delta).tolist(),
                         "joints": joints.reshape(n, -1), "total_tokens": int(n) * world.delta,
                         "finished": True, "answer": str(int(answer)), "correct": bool(correct),
                         "value": float(world.values[k]),
                         "source": world.source_names[int(world.source[q])]})
    write_traces(path, rows, {"seed": seed, "params": {"suite": world.name, "n_samples": n_samples,
                                                       "generator": "simulators.replay.record_world",
                                                       "world": world.params()}})
